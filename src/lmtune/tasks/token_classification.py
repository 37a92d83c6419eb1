"""Token classification (NER, part-of-speech tagging): one tag per word.

Words are split into sub-word tokens; the first sub-token of a word carries its tag and the rest
are left out of the loss (`label_subtokens: all` tags them too). A sentence longer than
model.max_length becomes several windows that overlap by `stride` sub-tokens, not a cut one;
each word is predicted from the window where it sits farthest from an edge.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.examples import TokenExample
from ..data.formats.tagged_words import WORD
from ..data.tags import detect_scheme
from ..errors import ConfigError
from . import register_task
from .base import EncodedDataset, Task
from .cache import cached, tokenizer_fingerprint

IGNORE = -100


@register_task("token-classification")
class TokenClassification(Task):
    """One tag per word: seqeval entity precision/recall/F1 per type (BIO/BIOES), token accuracy."""

    metrics = {"f1": True, "token_accuracy": True, "precision": True, "recall": True, "loss": False}
    auto_model = "AutoModelForTokenClassification"
    peft_task_type = "TOKEN_CLS"

    @property
    def scheme(self) -> str:
        return self.options.tag_scheme if self.options.tag_scheme != "auto" else detect_scheme(set(self.labels))

    # ---------------------------------------------------------------- model

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        return self._load_with_label_head(source, revision, **config_overrides)

    def _windows(self, examples) -> tuple[list[dict], list[tuple[int, list]]]:
        """Features (input ids, mask, labels when tagged) and, per window, (example index, word ids)."""
        if not getattr(self.tokenizer, "is_fast", False):
            raise ConfigError("token classification needs a fast (Rust) tokenizer to map sub-tokens to words",
                              fix="use a backbone whose tokenizer.json exists, or convert its tokenizer with "
                                  "AutoTokenizer.from_pretrained(..., use_fast=True).save_pretrained(...).")
        tag_id = {t: i for i, t in enumerate(self.labels)}
        enc = self.tokenizer([list(ex.tokens) for ex in examples], is_split_into_words=True, truncation=True,
                             max_length=self.max_length, stride=min(self.options.stride, self.max_length // 2),
                             return_overflowing_tokens=True)
        features, windows = [], []
        for w, example_index in enumerate(enc["overflow_to_sample_mapping"]):
            word_ids = enc.word_ids(w)
            item = {k: enc[k][w] for k in enc.keys() if k != "overflow_to_sample_mapping"}
            tags = examples[example_index].tags
            if tags is not None:
                keep = first_subtokens(word_ids) if self.options.label_subtokens == "first" else \
                    [word is not None for word in word_ids]
                item["labels"] = [tag_id.get(tags[word], IGNORE) if k else IGNORE  # unseen tag: no loss
                                  for word, k in zip(word_ids, keep)]
            features.append(item)
            windows.append((example_index, word_ids))
        return features, windows

    def encode(self, examples) -> EncodedDataset:
        key = ("token-classification", tokenizer_fingerprint(self.tokenizer), self.max_length, self.labels,
               self.options.model_dump(), [(ex.tokens, ex.tags) for ex in examples])
        return EncodedDataset(cached(key, lambda: self._windows(examples)[0]))

    def collator(self):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(self.tokenizer, label_pad_token_id=IGNORE)

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        """Per window, on the sub-tokens that carry a tag (the Trainer's dev pass)."""
        preds = np.asarray(eval_pred.predictions).argmax(-1)
        true_seqs, pred_seqs = [], []
        for p_row, t_row in zip(preds, np.asarray(eval_pred.label_ids)):
            keep = t_row != IGNORE
            true_seqs.append([self.labels[i] for i in t_row[keep]])
            pred_seqs.append([self.labels[i] for i in p_row[keep]])
        scores = sequence_scores(true_seqs, pred_seqs, self.scheme)
        return {k: v for k, v in scores.items() if isinstance(v, float)}

    # ---------------------------------------------------------------- word-level prediction

    @torch.inference_mode()
    def _window_probs(self, model, examples, *, batch_size: int = 64, progress: bool = False, desc: str = "predict",
                      precision: str = "fp32"):
        """Yields (window index, (example index, word ids), tag probabilities per position) for
        every window of the examples."""
        from transformers import DataCollatorWithPadding

        from ..evaluation.predict import length_batches, model_device

        features, windows = self._windows([replace(ex, tags=None) for ex in examples])
        collate, device = DataCollatorWithPadding(self.tokenizer), model_device(model)
        model.eval()
        with tqdm(total=len(features), desc=desc, unit="window", disable=not progress) as bar:
            for idx in length_batches([len(f["input_ids"]) for f in features], batch_size):
                batch = collate([features[i] for i in idx])
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                    logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
                probs = torch.softmax(logits.float(), -1).cpu()
                for row, w in enumerate(idx):
                    yield w, windows[w], probs[row, :len(windows[w][1])]
                bar.update(len(idx))

    def predict_tags(self, model, token_lists: list[tuple[str, ...]], *, batch_size: int = 64, progress: bool = False,
                     desc: str = "predict", precision: str = "fp32") -> list[list[str]]:
        """One tag per word of each token list."""
        examples = [TokenExample(tuple(tokens)) for tokens in token_lists]
        best: list[dict[int, tuple[int, int]]] = [{} for _ in examples]  # word -> (margin, tag id)
        for _, (example_index, word_ids), probs in self._window_probs(
                model, examples, batch_size=batch_size, progress=progress, desc=desc, precision=precision):
            tags = probs.argmax(-1).tolist()
            content = [p for p, wid in enumerate(word_ids) if wid is not None]
            lo, hi = content[0], content[-1]
            for position in np.flatnonzero(first_subtokens(word_ids)):
                word, margin = word_ids[position], min(position - lo, hi - position)
                if margin >= best[example_index].get(word, (-1, 0))[0]:
                    best[example_index][word] = (margin, tags[position])
        fallback = self.labels.index("O") if "O" in self.labels else 0  # a word with no sub-token at all
        return [[self.labels[best[i].get(w, (0, fallback))[1]] for w in range(len(ex.tokens))]
                for i, ex in enumerate(examples)]

    def soft_targets(self, model, pool, batch_size: int = 64):
        """Per window of the pool: tag probabilities at each word's first sub-token (zeros
        elsewhere), and the window's confidence (the mean top probability over its words)."""
        targets, confidence = {}, {}  # by window: batches come shortest first
        for w, (_, word_ids), probs in self._window_probs(model, pool, batch_size=batch_size):
            first = torch.tensor(first_subtokens(word_ids))
            targets[w] = probs * first.unsqueeze(-1)
            confidence[w] = float(probs.max(-1).values[first].mean()) if first.any() else 0.0
        order = sorted(targets)
        return [targets[w] for w in order], np.array([confidence[w] for w in order]), None

    def evaluate(self, model, examples, *, batch_size, progress, desc, precision="fp32") -> dict:
        predicted = self.predict_tags(model, [ex.tokens for ex in examples], batch_size=batch_size, progress=progress,
                                      desc=desc, precision=precision)
        return {"n": len(examples), "words": sum(len(ex.tokens) for ex in examples),
                **sequence_scores([list(ex.tags) for ex in examples], predicted, self.scheme)}

    def predict(self, model, inputs, *, batch_size, progress, precision="fp32") -> list[dict]:
        """A raw text -> its entities with character offsets (and every word's tag); a list of
        tokens -> their tags."""
        words, offsets = [], []
        for item in inputs:
            if isinstance(item, str):
                found = list(WORD.finditer(item))
                words.append(tuple(m.group() for m in found))
                offsets.append([(m.start(), m.end()) for m in found])
            else:
                words.append(tuple(item))
                offsets.append(None)
        todo = [i for i, w in enumerate(words) if w]
        tags = dict(zip(todo, self.predict_tags(model, [words[i] for i in todo], batch_size=batch_size,
                                                progress=progress, precision=precision)))
        records = []
        for i, item in enumerate(inputs):
            sentence_tags = tags.get(i, [])
            if offsets[i] is None:
                records.append({"tokens": list(words[i]), "tags": sentence_tags})
                continue
            entities = [{"type": kind, "start": offsets[i][a][0], "end": offsets[i][b][1],
                         "text": item[offsets[i][a][0]:offsets[i][b][1]]}
                        for kind, a, b in spans(sentence_tags, self.scheme)]
            records.append({"text": item, "entities": entities,
                            "tokens": [{"token": w, "start": s, "end": e, "tag": t}
                                       for w, (s, e), t in zip(words[i], offsets[i], sentence_tags)]})
        return records


def first_subtokens(word_ids: list[int | None]) -> list[bool]:
    """The positions that carry a word's tag: each word's first sub-token in the window (a word
    cut by the window's start counts from the window's first token)."""
    return [word is not None and (p == 0 or word_ids[p - 1] != word) for p, word in enumerate(word_ids)]


def spans(tags: list[str], scheme: str) -> list[tuple[str, int, int]]:
    """(type, first word, last word) of each entity; with plain tags, each word not tagged O."""
    if scheme == "plain":
        return [(t, i, i) for i, t in enumerate(tags) if t != "O"]
    from seqeval.metrics.sequence_labeling import get_entities

    return get_entities(list(tags))


def sequence_scores(true: list[list[str]], pred: list[list[str]], scheme: str) -> dict:
    """Token accuracy, and entity-level (seqeval) precision/recall/F1 with a per-type report for
    BIO/BIOES tags; for plain tags, macro precision/recall/F1 over the tags."""
    flat_true = [t for row in true for t in row]
    flat_pred = [p for row in pred for p in row]
    out: dict = {"token_accuracy": float(np.mean([a == b for a, b in zip(flat_true, flat_pred)])) if flat_true else 0.0}
    if scheme == "plain":
        from sklearn.metrics import precision_recall_fscore_support

        tags = sorted(set(flat_true))
        p, r, f, s = precision_recall_fscore_support(flat_true, flat_pred, labels=tags, zero_division=0)
        out.update(precision=float(np.mean(p)), recall=float(np.mean(r)), f1=float(np.mean(f)))
        out["per_type"] = {t: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                               "support": int(s[i])} for i, t in enumerate(tags)}
        return out
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    out.update(precision=float(precision_score(true, pred, zero_division=0)),
               recall=float(recall_score(true, pred, zero_division=0)),
               f1=float(f1_score(true, pred, zero_division=0)))
    report = classification_report(true, pred, output_dict=True, zero_division=0)
    out["per_type"] = {k: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
                           "support": int(v["support"])} for k, v in report.items() if not k.endswith(" avg")}
    return out
