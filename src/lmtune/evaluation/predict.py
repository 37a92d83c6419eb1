"""Batched inference: texts sorted by length and cut into batches by a token budget, so short
texts go many to a batch and long ones few, with little padding; results in input order."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

# Tokens (texts x padded length) per batch. On CPU, 16 x 256 tokens ran 1.3x faster than
# 64 x 256 (attention scores of a big batch fall out of cache); short texts still batch by 64.
MAX_BATCH_TOKENS = 4096


def length_batches(lengths: list[int], max_texts: int, max_tokens: int = MAX_BATCH_TOKENS) -> list[np.ndarray]:
    """Indices of the texts, shortest first, grouped so that texts x longest <= max_tokens
    (at least one text per batch) and at most max_texts per batch."""
    order = np.argsort(lengths, kind="stable")
    batches, current = [], []
    for i in order:
        if current and (len(current) >= max_texts or (len(current) + 1) * lengths[i] > max_tokens):
            batches.append(np.array(current))
            current = []
        current.append(i)
    if current:
        batches.append(np.array(current))
    return batches


def _batches(tokenizer, texts: list[str], max_length: int, batch_size: int, max_batch_tokens: int, progress: bool,
             desc: str):
    """(indices, padded batch) over the texts, by length; a progress bar counts texts."""
    yield from _feature_batches(tokenizer, _tokenized(tokenizer, texts, max_length), batch_size, max_batch_tokens,
                                progress, desc)


def _tokenized(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]


def _feature_batches(tokenizer, features: list[dict], batch_size: int, max_batch_tokens: int, progress: bool,
                     desc: str):
    """_batches over texts already tokenized (dicts with input_ids, ...; other keys dropped)."""
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    keep = [k for k in features[0] if k in ("input_ids", "attention_mask", "token_type_ids")] if features else []
    with tqdm(total=len(features), desc=desc, unit="text", disable=not progress) as bar:
        for idx in length_batches([len(f["input_ids"]) for f in features], batch_size, max_batch_tokens):
            yield idx, collate([{k: features[i][k] for k in keep} for i in idx])
            bar.update(len(idx))


def model_device(model) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device  # an int8 copy has no `.device`


@torch.inference_mode()
def _logits(model, batches, rows: int, precision: str) -> np.ndarray:
    """The model's logits over (indices, batch) pairs, one row per index."""
    model.eval()
    device = model_device(model)
    out = np.zeros((rows, model.config.num_labels), dtype=np.float32)
    for idx, batch in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        out[idx] = logits.float().cpu().numpy()
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return (shifted / shifted.sum(-1, keepdims=True)).astype(np.float32)


def predict_logits(model, tokenizer, texts: list[str], *, max_length: int, batch_size: int = 64,
                   max_batch_tokens: int = MAX_BATCH_TOKENS, progress: bool = True, desc: str = "predict",
                   precision: str = "fp32") -> np.ndarray:
    """The model's logits, one row per text (cut to max_length), in the order given."""
    batches = _batches(tokenizer, texts, max_length, batch_size, max_batch_tokens, progress, desc)
    return _logits(model, batches, len(texts), precision)


def predict_proba(model, tokenizer, texts: list[str], *, max_length: int, batch_size: int = 64,
                  max_batch_tokens: int = MAX_BATCH_TOKENS, progress: bool = True, desc: str = "predict",
                  precision: str = "fp32") -> np.ndarray:
    """Class probabilities, one row per text (cut to max_length), in the order given."""
    return softmax(predict_logits(model, tokenizer, texts, max_length=max_length, batch_size=batch_size,
                                  max_batch_tokens=max_batch_tokens, progress=progress, desc=desc, precision=precision))


def window_features(tokenizer, texts: list[str], max_length: int, stride: int,
                    max_windows: int | None = None) -> tuple[list[dict], np.ndarray]:
    """Each text cut into windows of max_length tokens, consecutive ones sharing `stride` (every
    window with the model's special tokens); at most `max_windows` per text (its first ones).
    Returns the windows' features and, per window, the index of its text."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True)
    owners = list(enc["overflow_to_sample_mapping"])
    keys = [k for k in enc.keys() if k in ("input_ids", "attention_mask", "token_type_ids")]
    features, kept, seen = [], [], {}
    for i, owner in enumerate(owners):
        seen[owner] = seen.get(owner, 0) + 1
        if max_windows is None or seen[owner] <= max_windows:
            features.append({k: enc[k][i] for k in keys})
            kept.append(owner)
    return features, np.asarray(kept, dtype=int)


def aggregate_windows(logits: np.ndarray, owners: np.ndarray, texts: int, how: str = "mean") -> np.ndarray:
    """One row of logits per text from its windows' rows: their mean, or each class's max."""
    if how == "max":
        out = np.full((texts, logits.shape[1]), -np.inf, dtype=np.float64)
        np.maximum.at(out, owners, logits)
        return out
    out = np.zeros((texts, logits.shape[1]), dtype=np.float64)
    np.add.at(out, owners, logits)
    return out / np.bincount(owners, minlength=texts).clip(min=1)[:, None]


def predict_windows(model, tokenizer, texts: list[str], *, max_length: int, stride: int, aggregate: str = "mean",
                    max_windows: int | None = None, batch_size: int = 64, max_batch_tokens: int = MAX_BATCH_TOKENS,
                    progress: bool = True, desc: str = "predict", precision: str = "fp32") -> np.ndarray:
    """Class probabilities, one row per text, from the aggregated logits of all its windows
    (task_options.long_text: chunks)."""
    features, owners = window_features(tokenizer, texts, max_length, stride, max_windows)
    batches = _feature_batches(tokenizer, features, batch_size, max_batch_tokens, progress, f"{desc} (windows)")
    return softmax(aggregate_windows(_logits(model, batches, len(features), precision), owners, len(texts), aggregate))


def embed_texts(encoder, tokenizer, texts: list[str], *, max_length: int, batch_size: int = 64,
                progress: bool = True, desc: str = "embed") -> np.ndarray:
    """Mean-pooled last hidden states of a transformer body (AutoModel, or a task model's
    `.base_model`), L2-normalised: one row per text, in the order given."""
    return embed_features(encoder, tokenizer, _tokenized(tokenizer, texts, max_length), batch_size=batch_size,
                          progress=progress, desc=desc)


@torch.inference_mode()
def embed_features(encoder, tokenizer, features: list[dict], *, batch_size: int = 64, progress: bool = True,
                   desc: str = "embed") -> np.ndarray:
    """embed_texts over texts already tokenized (an encoded dataset's features)."""
    was_training = encoder.training
    encoder.eval()
    device = model_device(encoder)
    out = np.zeros((len(features), 0), dtype=np.float32)
    try:
        for idx, batch in _feature_batches(tokenizer, features, batch_size, MAX_BATCH_TOKENS, progress, desc):
            batch = {k: v.to(device) for k, v in batch.items()}
            hidden = encoder(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp_min(1), dim=-1)
            if out.shape[1] == 0:
                out = np.zeros((len(features), pooled.shape[-1]), dtype=np.float32)
            out[idx] = pooled.cpu().numpy()
    finally:
        encoder.train(was_training)
    return out
