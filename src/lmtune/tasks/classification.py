"""Single-label sequence classification."""
from __future__ import annotations

import numpy as np
import torch

from .base import EncodedDataset, Task
from .cache import cached, tokenizer_fingerprint
from . import register_task


@register_task("classification")
class Classification(Task):
    """Sequence classification: one label per text (accuracy, macro-F1, per-class report)."""

    metrics = {"macro_f1": True, "accuracy": True, "loss": False}
    auto_model = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        from transformers import AutoModelForSequenceClassification

        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, revision=revision, num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)), label2id={lb: i for i, lb in enumerate(self.labels)},
            problem_type="single_label_classification", output_loading_info=True,
            ignore_mismatched_sizes=True,  # a run dir or checkpoint with another label set gets a new head
            **config_overrides,
        )
        fresh = sorted(set(info.get("missing_keys", [])) | {k for k, *_ in info.get("mismatched_keys", [])})
        return model, fresh

    def head_modules(self, model) -> list[str]:
        layer = output_layer(model, len(self.labels))
        return [next(name.split(".")[0] for name, module in model.named_modules() if module is layer)]

    def encode(self, examples) -> EncodedDataset:
        texts, labels = [ex.text for ex in examples], [ex.label for ex in examples]
        key = ("classification", tokenizer_fingerprint(self.tokenizer), self.max_length, self.labels, texts, labels)
        return EncodedDataset(cached(key, lambda: self._features(texts, labels)))

    def _features(self, texts: list[str], labels: list) -> list[dict]:
        label2id = {lb: i for i, lb in enumerate(self.labels)}
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        features = []
        for i, label in enumerate(labels):
            item = {key: enc[key][i] for key in enc.keys()}
            if label is not None:
                item["labels"] = label2id[label]
            features.append(item)
        return features

    def collator(self):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(self.tokenizer)

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, f1_score

        logits, labels = eval_pred.predictions, eval_pred.label_ids
        preds = np.asarray(logits).argmax(-1)
        return {"accuracy": float(accuracy_score(labels, preds)),
                "macro_f1": float(f1_score(labels, preds, average="macro", labels=range(len(self.labels)), zero_division=0))}


def output_layer(model, num_labels: int) -> torch.nn.Linear:
    """The last Linear that maps features to the labels (BERT's `classifier`, RoBERTa's `out_proj`, ...)."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not layers:
        raise ValueError("no output layer with one unit per label found in the model")
    return layers[-1]


PROTOTYPE_MARGIN = 1.0
MAX_ROW_NORM = 1.0


@torch.no_grad()
def init_head_from_prototypes(model, dataset: EncodedDataset, collate, batch_size: int = 32) -> None:
    """Set the output layer to a nearest-class-mean classifier over the features it receives.

    With a handful of labels per class a random head wastes the first epochs (and often the
    run) on finding directions the backbone already separates; starting from the class means
    ("weight imprinting") gives a sensible classifier at step 0 that fine-tuning refines.
    logit_c(x) = a * [(x - m) . (mu_c - m) - |mu_c - m|^2 / 2], m = mean of the class means
    (a nearest-class-mean rule, written as a linear layer).
    """
    layer = output_layer(model, model.config.num_labels)
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda mod, inp, out: captured.append(inp[0].detach().float()))
    was_training = model.training
    model.eval()
    labels = []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            labels.append(batch.pop("labels"))
            batch = {k: v.to(model.device) for k, v in batch.items()}
            model(**batch)
    finally:
        hook.remove()
        model.train(was_training)
    feats = torch.cat([c.reshape(c.shape[0], -1, c.shape[-1])[:, 0] for c in captured]).cpu()
    y = torch.cat(labels)
    present = torch.unique(y)
    means = torch.stack([feats[y == c].mean(0) for c in range(layer.out_features)
                         ]) if len(present) == layer.out_features else None
    if means is None:
        return  # a class without examples: leave the random head alone
    centre = means.mean(0)
    directions = means - centre
    bias = -((directions * centre).sum(1) + directions.pow(2).sum(1) / 2)
    raw = feats @ directions.T + bias
    # scale so the labeled examples start with logits spread by PROTOTYPE_MARGIN on average: sure
    # enough to be a classifier, unsure enough to leave a gradient for the backbone
    scale = PROTOTYPE_MARGIN / (raw.max(1).values - raw.min(1).values).mean().clamp_min(1e-6)
    # ...but never rows longer than MAX_ROW_NORM: on features whose classes barely differ, a huge
    # head would turn the first small change of the backbone into exploding logits
    scale = min(float(scale), MAX_ROW_NORM / float(directions.norm(dim=1).max().clamp_min(1e-12)))
    layer.weight.copy_((scale * directions).to(layer.weight.dtype))
    if layer.bias is not None:
        layer.bias.copy_((scale * bias).to(layer.bias.dtype))
