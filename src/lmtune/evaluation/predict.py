"""Batched inference over a run: sorted by length so batches pad little, results in input order."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm


@torch.inference_mode()
def predict_proba(model, tokenizer, texts: list[str], *, max_length: int, batch_size: int = 64,
                  progress: bool = True, desc: str = "predict", precision: str = "fp32") -> np.ndarray:
    """Class probabilities, one row per text, in the order given."""
    from transformers import DataCollatorWithPadding

    model.eval()
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    collate = DataCollatorWithPadding(tokenizer)
    out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar:
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = collate([{k: enc[k][i] for k in enc.keys()} for i in idx])
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(**{k: v.to(model.device) for k, v in batch.items()}).logits
            out[idx] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            bar.update(len(idx))
    return out
