"""Language-modeling objectives: masked LM for encoders, causal LM for decoders.

Shared by continued pretraining (`lmtune pretrain`) and, later, the semi-supervised auxiliary
loss. Masking itself is transformers' DataCollatorForLanguageModeling (rate, 80/10/10, whole
words, special tokens never masked); this module adds packing, head building with a tied
decoder, and (pseudo-)perplexity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..attention import fuse_attention
from ..errors import ConfigError
from .base import EncodedDataset
from .cache import cached, tokenizer_fingerprint


def detect_objective(config) -> str:
    """'clm' for decoder-only models, 'mlm' for encoders that have a masked-LM head class."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_FOR_MASKED_LM_MAPPING_NAMES

    archs = " ".join(getattr(config, "architectures", None) or [])
    if "CausalLM" in archs or "LMHeadModel" in archs or getattr(config, "is_decoder", False):
        return "clm"
    if config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "mlm"
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "clm"
    raise ConfigError(f"model type {config.model_type!r} has neither a masked-LM nor a causal-LM head in transformers",
                      fix="pick a BERT-like encoder or a GPT-like decoder backbone.")


@dataclass
class EncodeStats:
    texts: int
    blocks: int
    tokens: int
    truncated_texts: int = 0   # per-document mode: texts cut at max_length
    dropped_tokens: int = 0    # packing mode: the last partial block


def special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after one sequence ([CLS] / [SEP] for BERT,
    none for GPT-2), read off the tokenizer's own output."""
    probe = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for i in range(len(full) - len(probe) + 1):
        if full[i:i + len(probe)] == probe:
            return full[:i], full[i + len(probe):]
    return [], []


class LanguageModeling:
    def __init__(self, tokenizer, objective: str, block_size: int, mask_rate: float = 0.15,
                 whole_word_mask: bool = False, packing: bool = True):
        if objective not in ("mlm", "clm"):
            raise ValueError(objective)
        if objective == "mlm" and tokenizer.mask_token is None:
            raise ConfigError("the tokenizer has no mask token, so masked-LM pretraining is impossible",
                              fix="set pretrain.objective: clm for a decoder model.")
        if tokenizer.pad_token is None:  # decoders often have none; padding is masked out of the loss anyway
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.objective = objective
        self.block_size = min(block_size, getattr(tokenizer, "model_max_length", block_size) or block_size)
        self.mask_rate = mask_rate
        self.whole_word_mask = whole_word_mask
        self.packing = packing
        self.stats: EncodeStats | None = None

    # ------------------------------------------------------------ model

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        """The backbone with an LM head; a missing head is built with its decoder tied to the input
        embeddings. Returns (model, names of weights that were newly initialised)."""
        import transformers

        cls = transformers.AutoModelForMaskedLM if self.objective == "mlm" else transformers.AutoModelForCausalLM
        model, info = cls.from_pretrained(source, revision=revision, output_loading_info=True, **config_overrides)
        fuse_attention(model)
        missing = set(info.get("missing_keys", []))
        out, inp = model.get_output_embeddings(), model.get_input_embeddings()
        if out is not None and any(k.endswith("decoder.weight") or k.endswith("lm_head.weight") for k in missing):
            model.config.tie_word_embeddings = True
            out.weight = inp.weight
        tied = out is not None and out.weight is inp.weight
        fresh = sorted(k for k in missing if not (tied and (k.endswith("decoder.weight") or k.endswith("lm_head.weight"))))
        return model, fresh, tied

    # ------------------------------------------------------------ data

    def encode(self, texts: list[str]) -> EncodedDataset:
        key = ("language-modeling", tokenizer_fingerprint(self.tokenizer), self.objective, self.block_size,
               self.whole_word_mask, self.packing, texts)
        features, self.stats = cached(key, lambda: self._features(texts))
        return EncodedDataset(features)

    def _features(self, texts: list[str]) -> tuple[list[dict], EncodeStats]:
        tok = self.tokenizer
        want_offsets = self.whole_word_mask and self.objective == "mlm"
        prefix, suffix = special_affixes(tok)
        room = self.block_size - len(prefix) - len(suffix)
        if room < 8:
            raise ConfigError(f"model.max_length={self.block_size} leaves no room for text", fix="raise model.max_length.")
        enc = tok(texts, add_special_tokens=False, return_offsets_mapping=want_offsets)
        sep = tok.sep_token_id if self.objective == "mlm" else tok.eos_token_id

        def block(ids: list[int], offsets: list) -> dict:
            item = {"input_ids": prefix + ids + suffix, "attention_mask": [1] * (len(prefix) + len(ids) + len(suffix)),
                    # template tokens and document boundaries are never masked or predicted
                    "special_tokens_mask": [1] * len(prefix) + [int(t == sep) for t in ids] + [1] * len(suffix)}
            if want_offsets:
                item["offset_mapping"] = [(0, 0)] * len(prefix) + offsets + [(0, 0)] * len(suffix)
            return item

        if not self.packing:  # one block per text, cut at max_length (counted)
            pieces = enc["input_ids"]
            features = [block(ids[:room], enc["offset_mapping"][i][:room] if want_offsets else [])
                        for i, ids in enumerate(pieces)]
            return features, EncodeStats(len(texts), len(features), sum(len(f["input_ids"]) for f in features),
                                         sum(len(ids) > room for ids in pieces))
        ids, offsets = [], []
        for i, piece in enumerate(enc["input_ids"]):
            ids += piece
            offsets += enc["offset_mapping"][i] if want_offsets else []
            if sep is not None:  # a boundary token between documents
                ids.append(sep)
                offsets += [(0, 0)] if want_offsets else []
        features = [block(ids[start:start + room], offsets[start:start + room] if want_offsets else [])
                    for start in range(0, len(ids) - room + 1, room)]
        dropped = len(ids) - len(features) * room
        if not features:
            raise ConfigError(f"the corpus holds {len(ids)} tokens, less than one block of {room}",
                              fix="add text, lower model.max_length, or set pretrain.packing: false.")
        return features, EncodeStats(len(texts), len(features), len(features) * room, 0, dropped)

    def collator(self):
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(self.tokenizer, mlm=self.objective == "mlm",
                                               whole_word_mask=self.whole_word_mask and self.objective == "mlm",
                                               mlm_probability=self.mask_rate if self.objective == "mlm" else None)
        # no collator seed: masks come from the global RNG, which set_seed fixes and the Trainer
        # restores from a checkpoint, so a resumed run masks exactly as an uninterrupted one

    # ------------------------------------------------------------ evaluation

    @torch.no_grad()
    def perplexity(self, model, dataset: EncodedDataset, max_tokens: int, batch_size: int = 32) -> dict:
        """Causal LM: exp(mean next-token NLL). Masked LM: pseudo-perplexity (Salazar et al. 2020):
        each scored token is masked alone and predicted from both sides. Deterministic: the first
        `max_tokens` scorable tokens of the held-out blocks."""
        was_training = model.training
        model.eval()
        try:
            nll, n = (self._masked_nll if self.objective == "mlm" else self._causal_nll)(model, dataset, max_tokens, batch_size)
        finally:
            model.train(was_training)
        return {"perplexity": math.exp(nll / max(n, 1)), "scored_tokens": n}

    def _causal_nll(self, model, dataset, max_tokens, batch_size):
        total, n = 0.0, 0
        for item in dataset.features:
            if n >= max_tokens:
                break
            ids = torch.tensor([item["input_ids"][: max_tokens - n + 1]], device=model.device)
            if ids.shape[1] < 2:
                break
            logits = model(input_ids=ids).logits[0, :-1].float()
            total += torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
            n += ids.shape[1] - 1
        return total, n

    def _masked_nll(self, model, dataset, max_tokens, batch_size):
        mask_id = self.tokenizer.mask_token_id
        positions = []  # (feature index, token position)
        for fi, item in enumerate(dataset.features):
            special = item.get("special_tokens_mask") or self.tokenizer.get_special_tokens_mask(
                item["input_ids"], already_has_special_tokens=True)
            positions += [(fi, p) for p, s in enumerate(special) if not s]
            if len(positions) >= max_tokens:
                break
        positions = positions[:max_tokens]
        total = 0.0
        for start in range(0, len(positions), batch_size):
            group = positions[start:start + batch_size]
            width = max(len(dataset.features[fi]["input_ids"]) for fi, _ in group)
            ids = torch.full((len(group), width), self.tokenizer.pad_token_id, dtype=torch.long)
            attn = torch.zeros((len(group), width), dtype=torch.long)
            targets = []
            for row, (fi, p) in enumerate(group):
                seq = dataset.features[fi]["input_ids"]
                ids[row, : len(seq)] = torch.tensor(seq)
                attn[row, : len(seq)] = 1
                targets.append(seq[p])
                ids[row, p] = mask_id
            rows = torch.arange(len(group))
            cols = torch.tensor([p for _, p in group])
            # the vocabulary projection is most of the cost: run it on the one masked position per row
            hook = model.get_output_embeddings().register_forward_pre_hook(
                lambda module, args: (args[0][rows, cols].unsqueeze(1), *args[1:]) if args[0].dim() == 3 else None)
            try:
                logits = model(input_ids=ids.to(model.device), attention_mask=attn.to(model.device)).logits.float()
            finally:
                hook.remove()
            picked = logits[:, 0] if logits.shape[1] == 1 else logits[rows, cols]
            logp = torch.log_softmax(picked, dim=-1)
            total -= logp[rows, torch.tensor(targets)].sum().item()
        return total, len(positions)
