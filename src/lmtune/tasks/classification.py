"""Single-label sequence classification."""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch

from . import register_task
from .base import EncodedDataset, Task, output_layer
from .cache import cached, tokenizer_fingerprint


@register_task("classification")
class Classification(Task):
    """One label per text: accuracy, macro-F1, a per-class report and the confusion matrix."""

    metrics = {"macro_f1": True, "accuracy": True, "loss": False}
    auto_model = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    measures_engines = True

    def __init__(self, labels, tokenizer, max_length, options=None):
        super().__init__(labels, tokenizer, max_length, options)
        if isinstance(self.options.class_prior, dict):  # before training, not after: the labels are known now
            from .class_prior import check_shares

            check_shares(self.options.class_prior, labels)
        self.windows = self.options.long_text == "chunks"
        if self.windows:
            room = max_length - tokenizer.num_special_tokens_to_add()
            if self.options.stride >= room:
                from ..errors import ConfigError

                raise ConfigError(f"task_options.stride {self.options.stride} leaves no new tokens in a window of "
                                  f"model.max_length {max_length} ({room} tokens besides the special ones)",
                                  fix=f"use a stride below {room} (a quarter of it is usual), or a longer max_length.")

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        return self._load_with_label_head(source, revision, problem_type="single_label_classification",
                                          **config_overrides)

    def init_head(self, model, train_dataset, head_init: str, fresh: list[str]) -> str | None:
        if head_init == "random":
            return None
        passed = pass_through_hidden_layers(model, fresh)
        start = init_head_from_probe if head_init == "probe" else init_head_from_prototypes
        if not start(model, train_dataset, self.collator()):
            return None
        what = ("a logistic regression on the labeled examples' features" if head_init == "probe"
                else "the class means of the labeled examples")
        return f"classifier head initialised as {what}" + (f" ({', '.join(passed)} started as the identity)"
                                                           if passed else "")

    def adjust_after_training(self, model, data, seed: int, log, **predict_options) -> dict:
        """Calibrate on dev (tasks/temperature.py), then predict with class_prior's shares
        (tasks/class_prior.py; Bayes' rule wants calibrated probabilities); labeled: as trained."""
        from . import class_prior
        from .temperature import calibrate

        records = {}
        if self.options.calibration == "temperature":
            records["calibration"] = calibrate(model, self, data.dev, log, **predict_options)
        prior = self.options.class_prior
        classes = [self.labels.index(ex.label) for ex in data.train]
        if isinstance(prior, dict):
            records["class_prior"] = class_prior.adapt_to_shares(model, self.labels, classes, prior, log,
                                                                 trained=self.trained_shares)
        elif prior == "pool" and data.unlabeled:
            records["class_prior"] = class_prior.adapt_to_pool(model, self, classes, [ex.text for ex in data.unlabeled],
                                                               seed, log, trained=self.trained_shares,
                                                               **predict_options)
        self.adjusted = records
        return records

    # the class shares the loss saw, where class weights or a balanced sampler changed them from
    # the labeled examples' (set by the recipe); class_prior shifts from these
    trained_shares: "np.ndarray | None" = None
    warned_cut = False  # the training set's texts cut at max_length were reported
    adjusted: dict = {}  # what adjust_after_training did, for score_held_out

    def proba(self, model, texts: list[str], **options):
        """Class probabilities per text (options: batch_size, progress, desc, precision); with
        long_text: chunks, from the aggregated logits of each text's windows."""
        from ..evaluation.predict import predict_proba, predict_windows

        if self.windows:
            o = self.options
            return predict_windows(model, self.tokenizer, texts, max_length=self.max_length, stride=o.stride,
                                   aggregate=o.aggregate, max_windows=o.max_windows, **options)
        return predict_proba(model, self.tokenizer, texts, max_length=self.max_length, **options)

    def evaluate(self, model, examples, *, batch_size, progress, desc, precision="fp32") -> dict:
        from ..evaluation.report import score_predictions

        probs = self.proba(model, [ex.text for ex in examples], batch_size=batch_size, progress=progress, desc=desc,
                           precision=precision)
        return score_predictions(probs, examples, self.labels)

    def score_held_out(self, model, data, cfg, precision, progress, log, run_dir):
        """Dev and test metrics (with ECE, and before calibration where a temperature was fitted), the
        confusion matrix and reliability diagram PNGs; on a CPU in fp32, also whether int8
        inference may be used by default (checked against the fp32 predictions on the test, else
        dev, texts)."""
        from ..evaluation.calibration import calibration_summary, save_reliability_png
        from ..evaluation.inference import check_int8
        from ..evaluation.report import save_confusion_png, score_predictions

        metrics, extra = {}, {}
        for split, examples in (("dev", data.dev), ("test", data.test)):
            if not examples:
                continue
            texts = [ex.text for ex in examples]
            started = time.perf_counter()
            probs = self.proba(model, texts, batch_size=cfg.training.eval_batch_size, progress=progress,
                               desc=f"evaluate {split}", precision=precision.precision)
            seconds = time.perf_counter() - started
            metrics[split] = score_predictions(probs, examples, self.labels)
            before = self.uncalibrated(probs)
            if before is not None:
                metrics[split]["uncalibrated"] = calibration_summary(before, [self.labels.index(ex.label)
                                                                              for ex in examples])
            if split == data.held_out_split:
                shown_probs, shown_before = probs, before
            if split == data.held_out_split and precision.device == "cpu" and precision.precision == "fp32":
                int8 = check_int8(model, self.tokenizer, texts, [self.labels.index(ex.label) for ex in examples], probs,
                                  seconds, max_length=self.max_length, batch_size=cfg.training.eval_batch_size,
                                  proba=lambda m, shown: self.proba(m, shown, batch_size=cfg.training.eval_batch_size,
                                                                   progress=False))
                extra["int8_check"] = int8
                log(f"int8 inference: {int8['speedup']}x the fp32 speed, accuracy {int8['int8_accuracy']:.4f} vs "
                    f"{int8['fp32_accuracy']:.4f} on {int8['checked_texts']} {split} texts, the same label on "
                    f"{int8['label_agreement']:.1%} ({int8['flipped_labels']} flipped) -> "
                    + ("used by default by predict/eval" if int8["use_int8"] else "fp32 kept as the default"))
        shown = data.held_out_split
        if shown:
            held_out = data.test if shown == "test" else data.dev
            classes = [self.labels.index(ex.label) for ex in held_out]
            save_confusion_png(metrics[shown]["confusion_matrix"], self.labels, run_dir / "confusion_matrix.png",
                               f"{shown} confusion matrix")
            save_reliability_png(shown_probs, classes,
                                 run_dir / "reliability_diagram.png", f"{shown} reliability", before=shown_before)
        return metrics, extra

    def uncalibrated(self, probs):
        """What the model would have predicted without its fitted temperature (None where none was
        fitted, or where class shares were shifted after it: that model is not recoverable)."""
        from ..evaluation.calibration import rescale

        temperature = self.adjusted.get("calibration", {}).get("temperature", 1.0)
        if temperature == 1.0 or self.adjusted.get("class_prior", {}).get("applied"):
            return None
        return rescale(probs, 1.0 / temperature)

    def predict(self, model, inputs, *, batch_size, progress, precision="fp32") -> list[dict]:
        """Label, its score and every class probability per text."""
        probs = self.proba(model, list(inputs), batch_size=batch_size, progress=progress, precision=precision)
        return prediction_records(self.labels, probs)

    def encode(self, examples) -> EncodedDataset:
        """One feature per example; with long_text: chunks, one per window of each labeled
        example (unlabeled ones keep one row each, their first window: a method's targets are per
        pool text)."""
        texts, labels = [ex.text for ex in examples], [ex.label for ex in examples]
        o = self.options
        windows = (o.stride, o.max_windows) if self.windows else None
        key = ("classification", tokenizer_fingerprint(self.tokenizer), self.max_length, self.labels, texts, labels,
               windows)
        features = cached(key, lambda: self._features(texts, labels))
        cut = sum(len(f["input_ids"]) >= self.max_length for f in features if "labels" in f)
        if cut and not self.windows and not self.warned_cut:
            self.warned_cut = True
            self.warnings.append(f"{cut} of {sum('labels' in f for f in features)} labeled texts fill model.max_length "
                                 f"({self.max_length} tokens) and are probably cut there; task_options.long_text: "
                                 "chunks reads all of each in windows")
        return EncodedDataset(features)

    def _features(self, texts: list[str], labels: list) -> list[dict]:
        from ..evaluation.predict import window_features

        label2id = {lb: i for i, lb in enumerate(self.labels)}
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        labeled = [i for i, label in enumerate(labels) if label is not None]
        windows: dict[int, list[dict]] = {}
        if self.windows and labeled:
            o = self.options
            found, owners = window_features(self.tokenizer, [texts[i] for i in labeled], self.max_length, o.stride,
                                            o.max_windows)
            for feature, owner in zip(found, owners):
                windows.setdefault(labeled[owner], []).append(feature)
        features = []
        for i, label in enumerate(labels):
            for item in windows.get(i) or [{key: enc[key][i] for key in enc.keys()}]:
                if label is not None:
                    item = {**item, "labels": label2id[label]}
                features.append(item)
        return features

    def soft_targets(self, model, pool):
        probs = self.proba(model, [ex.text for ex in pool], progress=False)
        return list(torch.from_numpy(probs)), probs.max(1), probs.argmax(1)

    def collator(self):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(self.tokenizer)

    def compute_metrics(self, eval_pred) -> dict[str, float]:
        from ..evaluation.report import classification_metrics

        scores = classification_metrics(eval_pred.label_ids, np.asarray(eval_pred.predictions).argmax(-1), self.labels)
        return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}


ABSTAIN = "abstain"


def abstain(records: list[dict], min_confidence: float | None) -> list[dict]:
    """The abstain band: a prediction whose score is below `min_confidence` becomes the label
    "abstain" (its best class kept as `predicted`, its probabilities as they were)."""
    if min_confidence is None:
        return records
    return [{**r, "label": ABSTAIN, "predicted": r["label"], "abstained": True}
            if "score" in r and r["score"] < min_confidence else r for r in records]


def check_min_confidence(min_confidence: float | None, task: str, labels: list[str]) -> None:
    """--min-confidence applies to a classification run whose labels do not include "abstain"."""
    from ..errors import ConfigError

    if min_confidence is None:
        return
    if not 0 < min_confidence <= 1:
        raise ConfigError(f"--min-confidence {min_confidence:g} is not a probability",
                          fix="give a number between 0 and 1, e.g. --min-confidence 0.7.")
    if task != "classification":
        raise ConfigError(f"--min-confidence applies to classification runs; this run's task is {task}",
                          fix="drop --min-confidence.")
    if ABSTAIN in labels:
        raise ConfigError(f"the run has a label named {ABSTAIN!r}, so an abstention could not be told from it",
                          fix="drop --min-confidence, or rename that label and train again.")


def prediction_records(labels: list[str], probs) -> list[dict]:
    """Label, its score and every class probability, one record per row of `probs`."""
    records = []
    for row in probs:
        best = int(row.argmax())
        records.append({"label": labels[best], "score": round(float(row[best]), 6),
                        "probabilities": {lb: round(float(p), 6) for lb, p in zip(labels, row)}})
    return records


PROTOTYPE_MARGIN = 1.0
MAX_ROW_NORM = 1.0
# Class means settle long before this many examples per class; a fully labeled set (a ceiling run)
# would otherwise spend a whole inference pass of the training data on the head's start.
PROTOTYPE_EXAMPLES = 256


@torch.no_grad()
def pass_through_hidden_layers(model, fresh: list[str]) -> list[str]:
    """Start a new square hidden layer of the head (RoBERTa's and MPNet's `classifier.dense`, fed
    the first token's state) as the identity, so the class means below are taken over the
    backbone's own features, not over a random projection of them. Returns the layers' names."""
    fresh = set(fresh)
    out = output_layer(model, model.config.num_labels)
    passed = []
    for name, module in model.named_modules():
        if (isinstance(module, torch.nn.Linear) and module is not out and module.in_features == module.out_features
                and f"{name}.weight" in fresh):
            module.weight.copy_(torch.eye(module.in_features, dtype=module.weight.dtype))
            if module.bias is not None:
                module.bias.zero_()
            passed.append(name)
    return passed


def prototype_rows(labels: list[int], per_class: int) -> list[int]:
    """The first `per_class` rows of each class, in dataset order (every row where there are fewer)."""
    seen: dict[int, int] = {}
    rows = []
    for i, label in enumerate(labels):
        if seen.get(label, 0) < per_class:
            seen[label] = seen.get(label, 0) + 1
            rows.append(i)
    return rows


@contextlib.contextmanager
def head_features(layer: torch.nn.Linear):
    """While open, collects what the output layer `layer` receives in each forward pass: the first
    token's features, one row per text (gradients kept)."""
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(
        lambda mod, inp, out: captured.append(inp[0].reshape(inp[0].shape[0], -1, inp[0].shape[-1])[:, 0]))
    try:
        yield captured
    finally:
        hook.remove()


@torch.no_grad()
def head_inputs(model, layer: torch.nn.Linear, dataset: EncodedDataset, rows: list[int], collate,
                batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """What the output layer receives for the dataset's `rows` (the first token's features), and
    their labels."""
    was_training = model.training
    model.eval()
    labels = []
    try:
        with head_features(layer) as captured:
            for start in range(0, len(rows), batch_size):
                batch = collate([dataset[i] for i in rows[start:start + batch_size]])
                labels.append(batch.pop("labels"))
                batch = {k: v.to(model.device) for k, v in batch.items()}
                model(**batch)
    finally:
        model.train(was_training)
    return torch.cat([c.float() for c in captured]).cpu(), torch.cat(labels).cpu()


def scaled_head(directions: torch.Tensor, bias: torch.Tensor, feats: torch.Tensor) -> float:
    """The factor for a prototype head's rows: the labeled examples' logits spread by
    PROTOTYPE_MARGIN on average, but no row longer than MAX_ROW_NORM."""
    raw = feats @ directions.T + bias
    spread = (raw.max(1).values - raw.min(1).values) if raw.shape[1] > 1 else raw.abs().squeeze(1) * 2
    scale = PROTOTYPE_MARGIN / spread.mean().clamp_min(1e-6)
    return min(float(scale), MAX_ROW_NORM / float(directions.norm(dim=1).max().clamp_min(1e-12)))


def labeled_head_inputs(model, dataset: EncodedDataset, collate, batch_size: int = 32):
    """(output layer, what it receives for up to PROTOTYPE_EXAMPLES rows of each class, their
    classes), or None where a class has no example (a head cannot be fitted to it)."""
    layer = output_layer(model, model.config.num_labels)
    rows = prototype_rows([int(f["labels"]) for f in dataset.features], PROTOTYPE_EXAMPLES)
    feats, y = head_inputs(model, layer, dataset, rows, collate, batch_size)
    return (layer, feats, y) if len(torch.unique(y)) == layer.out_features else None


@torch.no_grad()
def init_head_from_prototypes(model, dataset: EncodedDataset, collate, batch_size: int = 32) -> bool:
    """Set the output layer to a nearest-class-mean classifier over the features it receives
    (False, the head left alone, where a class has no example).

    With a handful of labels per class a random head wastes the first epochs (and often the
    run) on finding directions the backbone already separates; starting from the class means
    ("weight imprinting") gives a sensible classifier at step 0 that fine-tuning refines.
    logit_c(x) = a * [(x - m) . (mu_c - m) - |mu_c - m|^2 / 2], m = mean of the class means
    (a nearest-class-mean rule, written as a linear layer).
    """
    inputs = labeled_head_inputs(model, dataset, collate, batch_size)
    if inputs is None:
        return False
    layer, feats, y = inputs
    means = torch.stack([feats[y == c].mean(0) for c in range(layer.out_features)])
    centre = means.mean(0)
    directions = means - centre
    bias = -((directions * centre).sum(1) + directions.pow(2).sum(1) / 2)
    # logits spread by PROTOTYPE_MARGIN: sure enough to be a classifier, unsure enough to leave a
    # gradient for the backbone; rows no longer than MAX_ROW_NORM: on features whose classes barely
    # differ, a huge head would turn the first small change of the backbone into exploding logits
    scale = scaled_head(directions, bias, feats)
    _set_head(layer, scale * directions, scale * bias)
    return True


@torch.no_grad()
def init_head_from_probe(model, dataset: EncodedDataset, collate, batch_size: int = 32) -> bool:
    """Set the output layer to a logistic regression (scikit-learn's defaults, L2 with C = 1)
    fitted on the features it receives: the frozen-feature probe, written as the head, so the
    model at step 0 answers as the probe does (after a contrastive stage and with only the head
    training, SetFit's classifier). False, the head left alone, where a class has no example."""
    from sklearn.linear_model import LogisticRegression

    inputs = labeled_head_inputs(model, dataset, collate, batch_size)
    if inputs is None:
        return False
    layer, feats, y = inputs
    probe = LogisticRegression(max_iter=3000).fit(feats.numpy(), y.numpy())
    weight, bias = torch.from_numpy(probe.coef_).float(), torch.from_numpy(probe.intercept_).float()
    if layer.out_features == 2:  # one row for class 1 against class 0: the same softmax as +-half of it
        weight, bias = torch.cat([-weight, weight]) / 2, torch.cat([-bias, bias]) / 2
    _set_head(layer, weight, bias)
    return True


def _set_head(layer: torch.nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    layer.weight.copy_(weight.to(layer.weight.dtype))
    if layer.bias is not None:
        layer.bias.copy_(bias.to(layer.bias.dtype))
