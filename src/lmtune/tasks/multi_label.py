"""Multi-label sequence classification: any number of labels per text (sigmoid + BCE)."""
from __future__ import annotations

import numpy as np
import torch

from . import register_task
from .base import EncodedDataset, Task, output_layer
from .cache import cached, tokenizer_fingerprint

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
# a label's threshold is tuned only where the dev set holds this many of its examples: one or two
# positives would set it to whatever catches them
MIN_TUNING_POSITIVES = 3


def label_matrix(examples, labels: list[str]) -> np.ndarray:
    """0/1 rows, one column per label."""
    index = {lb: i for i, lb in enumerate(labels)}
    out = np.zeros((len(examples), len(labels)), dtype=np.float32)
    for row, ex in enumerate(examples):
        for name in ex.label or ():
            out[row, index[name]] = 1.0
    return out


def multilabel_metrics(truth: np.ndarray, predicted: np.ndarray, labels: list[str]) -> dict:
    """micro/macro/samples F1, subset accuracy, per-label precision/recall/F1/support."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth, predicted = truth.astype(int), predicted.astype(int)
    p, r, f, s = precision_recall_fscore_support(truth, predicted, zero_division=0)
    return {"n": int(len(truth)),
            "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
            "samples_f1": float(f1_score(truth, predicted, average="samples", zero_division=0)),
            "subset_accuracy": float((truth == predicted).all(1).mean()) if len(truth) else 0.0,
            "per_label": {lb: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                               "support": int(s[i])} for i, lb in enumerate(labels)}}


def tune_thresholds(probs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per label, the grid threshold with the best F1 on these rows (0.5 where there are fewer
    than MIN_TUNING_POSITIVES positives, or nothing beats it)."""
    from sklearn.metrics import f1_score

    out = np.full(probs.shape[1], 0.5)
    for c in range(probs.shape[1]):
        if truth[:, c].sum() < MIN_TUNING_POSITIVES:
            continue
        scores = [f1_score(truth[:, c], probs[:, c] >= t, zero_division=0) for t in THRESHOLD_GRID]
        best = int(np.argmax(scores))
        if scores[best] > f1_score(truth[:, c], probs[:, c] >= 0.5, zero_division=0):
            out[c] = THRESHOLD_GRID[best]
    return out


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@register_task("multi-label")
class MultiLabel(Task):
    """Several labels per text: micro/macro/samples F1, subset accuracy, a per-label report."""

    metrics = {"micro_f1": True, "macro_f1": True, "samples_f1": True, "subset_accuracy": True, "loss": False}
    auto_model = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    independent_labels = True

    def soft_targets(self, model, pool):
        """Each pool text's label probabilities, and its confidence: the mean over labels of how
        sure the model is either way (max(p, 1 - p)); no single class per text."""
        probs = self.proba(model, [ex.text for ex in pool])
        return list(torch.from_numpy(probs.astype(np.float32))), np.maximum(probs, 1 - probs).mean(1), None

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        return self._load_with_label_head(source, revision, problem_type="multi_label_classification",
                                          **config_overrides)

    def init_head(self, model, train_dataset, head_init: str, fresh: list[str]) -> str | None:
        """prototype: each label's row points from the mean of the examples without it to the mean
        of those with it, its bias putting the midpoint at probability 0.5."""
        from .classification import pass_through_hidden_layers

        if head_init != "prototype":
            return None
        passed = pass_through_hidden_layers(model, fresh)
        if not init_head_from_label_means(model, train_dataset, self.collator()):
            return None
        return ("multi-label head initialised from the means of the examples with and without each label"
                + (f" ({', '.join(passed)} started as the identity)" if passed else ""))

    def encode(self, examples) -> EncodedDataset:
        texts, sets = [ex.text for ex in examples], [ex.label for ex in examples]
        key = ("multi-label", tokenizer_fingerprint(self.tokenizer), self.max_length, self.labels, texts, sets)
        return EncodedDataset(cached(key, lambda: self._features(examples)))

    def _features(self, examples) -> list[dict]:
        enc = self.tokenizer([ex.text for ex in examples], truncation=True, max_length=self.max_length)
        targets = label_matrix(examples, self.labels)
        features = []
        for i, ex in enumerate(examples):
            item = {key: enc[key][i] for key in enc.keys()}
            if ex.label is not None:
                item["labels"] = targets[i].tolist()  # floats: BCE's targets
            features.append(item)
        return features

    def collator(self):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(self.tokenizer)

    def proba(self, model, texts: list[str], *, batch_size: int = 64, progress: bool = False, desc: str = "predict",
              precision: str = "fp32") -> np.ndarray:
        """Each label's probability per text (independent sigmoids)."""
        from ..evaluation.predict import predict_logits

        logits = predict_logits(model, self.tokenizer, texts, max_length=self.max_length, batch_size=batch_size,
                                progress=progress, desc=desc, precision=precision)
        return 1 / (1 + np.exp(-logits))

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        predicted = np.asarray(eval_pred.predictions) > 0  # logit > 0: probability > 0.5
        scores = multilabel_metrics(np.asarray(eval_pred.label_ids) > 0.5, predicted, self.labels)
        return {k: scores[k] for k in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy")}

    def evaluate(self, model, examples, *, batch_size, progress, desc, precision="fp32") -> dict:
        probs = self.proba(model, [ex.text for ex in examples], batch_size=batch_size, progress=progress, desc=desc,
                           precision=precision)
        return multilabel_metrics(label_matrix(examples, self.labels), probs >= 0.5, self.labels)

    thresholds: np.ndarray | None = None  # tuned after training (folded into the model), for score_held_out

    def adjust_after_training(self, model, data, seed: int, log, **predict_options) -> dict:
        """thresholds: tuned: each label's threshold set on dev for its F1, then folded into the
        output layer's bias (logit(t) subtracted), so 0.5 is every label's threshold in every path."""
        if self.options.thresholds == "fixed":
            return {}
        if not data.dev:
            log("multi-label thresholds: no dev set to tune them on, so 0.5 for every label (set data.dev_size)")
            return {"thresholds": {"method": "fixed", "reason": "no dev set"}}
        truth = label_matrix(data.dev, self.labels)
        probs = self.proba(model, [ex.text for ex in data.dev], desc="tune thresholds on dev", **predict_options)
        found = tune_thresholds(probs, truth)
        before = multilabel_metrics(truth, probs >= 0.5, self.labels)
        after = multilabel_metrics(truth, probs >= found[None], self.labels)
        layer = output_layer(model, len(self.labels))
        if layer.bias is None:
            log("multi-label thresholds: the output layer has no bias to carry them, so 0.5 for every label")
            return {"thresholds": {"method": "fixed", "reason": "no bias in the output layer"}}
        with torch.no_grad():
            layer.bias -= torch.as_tensor(logit(found), dtype=layer.bias.dtype, device=layer.bias.device)
        self.thresholds = found
        shown = ", ".join(f"{lb} {t:.2f}" for lb, t in zip(self.labels, found))
        log(f"multi-label thresholds tuned on {len(data.dev)} dev texts: {shown}; dev macro-F1 "
            f"{before['macro_f1']:.4f} -> {after['macro_f1']:.4f} (scores are shifted so 0.5 is each label's threshold)")
        return {"thresholds": {"method": "tuned", "dev_texts": len(data.dev),
                               "values": {lb: float(t) for lb, t in zip(self.labels, found)},
                               "dev_macro_f1": {"at_0.5": round(before["macro_f1"], 4), "tuned": round(after["macro_f1"], 4)},
                               "dev_micro_f1": {"at_0.5": round(before["micro_f1"], 4), "tuned": round(after["micro_f1"], 4)}}}

    def score_held_out(self, model, data, cfg, precision, progress, log, run_dir):
        """Dev and test metrics; where thresholds were tuned, the held-out split also at 0.5."""
        metrics = {}
        for split, examples in (("dev", data.dev), ("test", data.test)):
            if not examples:
                continue
            probs = self.proba(model, [ex.text for ex in examples], batch_size=cfg.training.eval_batch_size,
                               progress=progress, desc=f"evaluate {split}", precision=precision.precision)
            truth = label_matrix(examples, self.labels)
            metrics[split] = multilabel_metrics(truth, probs >= 0.5, self.labels)
            if self.thresholds is not None:  # undo the shift: the model's own probabilities, cut at 0.5
                raw = 1 / (1 + np.exp(-(logit(probs) + logit(self.thresholds)[None])))
                untuned = multilabel_metrics(truth, raw >= 0.5, self.labels)
                metrics[split]["at_0.5"] = {k: untuned[k] for k in ("micro_f1", "macro_f1", "samples_f1",
                                                                    "subset_accuracy")}
        return metrics, {}

    def predict(self, model, inputs, *, batch_size, progress, precision="fp32") -> list[dict]:
        """The labels at or above 0.5 (every label's tuned threshold) and each label's score."""
        probs = self.proba(model, list(inputs), batch_size=batch_size, progress=progress, precision=precision)
        return [{"labels": [lb for lb, p in zip(self.labels, row) if p >= 0.5],
                 "scores": {lb: round(float(p), 6) for lb, p in zip(self.labels, row)}} for row in probs]


@torch.no_grad()
def init_head_from_label_means(model, dataset: EncodedDataset, collate) -> bool:
    """Set the output layer to one nearest-mean rule per label (False: a label is on every
    example or on none, so it has no direction, and the random head stays)."""
    from .classification import PROTOTYPE_EXAMPLES, head_inputs, scaled_head

    layer = output_layer(model, model.config.num_labels)
    rows = list(range(min(len(dataset), PROTOTYPE_EXAMPLES * layer.out_features)))
    feats, y = head_inputs(model, layer, dataset, rows, collate)
    y = y > 0.5
    if (y.sum(0) == 0).any() or (y.sum(0) == len(y)).any():
        return False
    positive = torch.stack([feats[y[:, c]].mean(0) for c in range(y.shape[1])])
    negative = torch.stack([feats[~y[:, c]].mean(0) for c in range(y.shape[1])])
    directions = positive - negative
    bias = -(directions * (positive + negative) / 2).sum(1)
    scale = scaled_head(directions, bias, feats)
    layer.weight.copy_((scale * directions).to(layer.weight.dtype))
    if layer.bias is not None:
        layer.bias.copy_((scale * bias).to(layer.bias.dtype))
    return True
