"""How a model is readied for inference: precision, int8 quantization, torch.compile.

int8 (dynamic quantization of the Linear layers) is the fast path on CPUs without bf16. It is
used by default only where training checked it on the run's own held-out texts: faster than
fp32 and losing at most INT8_MAX_LOSS accuracy points.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..device import PrecisionChoice, check_precision, choose_precision
from ..errors import ConfigError
from .predict import predict_proba

INT8_MAX_LOSS = 0.005   # accuracy (a fraction): int8 may cost at most 0.5 points
# ... and must give the same label as fp32 on this share of the texts: flips that cancel out leave
# the accuracy equal while individual answers change
INT8_MIN_AGREEMENT = 0.99
INT8_CHECK_TEXTS = 500  # 0.2-point resolution; ~20 s for 256-token texts on 2 cores


def quantize_int8(model):
    """The model (changed in place, on CPU) with its Linear layers in int8: weights quantized
    once, activations per batch."""
    import torch

    with warnings.catch_warnings():  # torch.ao points at torchao, not needed for this one call
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.cpu().eval(), {torch.nn.Linear}, dtype=torch.qint8,
                                                      inplace=True)


def int8_copy(model):
    """An int8 copy; the model itself stays as it is."""
    return quantize_int8(copy.deepcopy(model))


def check_int8(model, tokenizer, texts: list[str], labels: list[int], fp32_probs: np.ndarray, fp32_seconds: float,
               *, max_length: int, batch_size: int = 64, proba=None) -> dict:
    """Compare an int8 copy with the fp32 predictions already made on `texts` (in fp32_seconds);
    `proba(model, texts)` predicts as those were made (default: predict_proba, cut at max_length)."""
    n = min(len(texts), INT8_CHECK_TEXTS)
    started = time.perf_counter()
    proba = proba or (lambda m, shown: predict_proba(m, tokenizer, shown, max_length=max_length, batch_size=batch_size,
                                                     progress=False))
    probs = proba(int8_copy(model), texts[:n])
    int8_rate = n / max(time.perf_counter() - started, 1e-9)
    fp32_rate = len(texts) / max(fp32_seconds, 1e-9)
    truth, fp32, int8 = np.asarray(labels[:n]), fp32_probs[:n].argmax(-1), probs.argmax(-1)
    fp32_accuracy, int8_accuracy = (float((fp32 == truth).mean()), float((int8 == truth).mean())) if n else (None, None)
    loss = fp32_accuracy - int8_accuracy if n else 1.0
    same = agreement(fp32_probs[:n], probs)
    return {"checked_texts": n, "fp32_accuracy": round(fp32_accuracy, 4) if n else None,
            "int8_accuracy": round(int8_accuracy, 4) if n else None,
            "accuracy_loss": round(loss, 4), "max_loss": INT8_MAX_LOSS, **same, "min_agreement": INT8_MIN_AGREEMENT,
            "fp32_texts_per_s": round(fp32_rate, 1), "int8_texts_per_s": round(int8_rate, 1),
            "speedup": round(int8_rate / fp32_rate, 2),
            "use_int8": bool(n) and loss <= INT8_MAX_LOSS and same["label_agreement"] >= INT8_MIN_AGREEMENT
            and int8_rate > fp32_rate}


def agreement(reference: np.ndarray, other: np.ndarray, label_sets: bool = False) -> dict:
    """How far `other`'s class probabilities are from `reference`'s on the same texts: the share
    with the same label (label_sets: the same set of labels at 0.5), the texts whose label
    flipped, the largest change of any probability."""
    if not len(reference):
        return {"label_agreement": None, "flipped_labels": 0, "max_probability_change": None}
    if label_sets:
        flipped = int(((reference >= 0.5) != (other >= 0.5)).any(-1).sum())
    else:
        flipped = int((reference.argmax(-1) != other.argmax(-1)).sum())
    return {"label_agreement": round(1 - flipped / len(reference), 4), "flipped_labels": flipped,
            "max_probability_change": round(float(np.abs(reference - other).max()), 4)}


def _summary(check: dict) -> str:
    if "int8_accuracy" not in check:  # a record this version did not write
        return "see int8_check in lmtune_run.json"
    return (f"{check.get('speedup')}x fp32 speed, accuracy {check['int8_accuracy']:.4f} vs "
            f"{check['fp32_accuracy']:.4f} on {check.get('checked_texts')} texts")


def _is_torch(model) -> bool:
    import torch

    return isinstance(model, torch.nn.Module)


@dataclass
class InferencePlan:
    model: object
    precision: str  # autocast precision for predict_proba
    description: str


def plan_inference(model, run_info: dict, quantize: str = "auto", compile: bool = False,
                   precision: PrecisionChoice | str | None = None) -> InferencePlan:
    """quantize: auto (int8 where the run's check allowed it and the CPU has no bf16), int8, none.
    `precision`: auto / fp32 / bf16 (as choose_precision reads them), or a choice already made
    (tests simulate CPUs with it); default auto: the machine's choice."""
    if quantize not in ("auto", "int8", "none"):
        raise ConfigError(f"unknown quantize setting {quantize!r}", fix="use auto, int8 or none.")
    if isinstance(precision, str):  # before an export returns early: a wrong name fails for every model
        check_precision(precision)
    exported = (run_info.get("export") or {}).get("format")
    if quantize == "int8" and (exported == "onnx" or not _is_torch(model)):
        raise ConfigError("--quantize int8 quantizes a PyTorch model; this run is an ONNX export, run as written",
                          fix="drop --quantize (or use none), or export the original run with --format int8.")
    if exported in ("int8", "onnx") or not _is_torch(model):  # already in its final form
        return InferencePlan(model, "fp32", f"{exported} export as written" if exported else "as loaded")
    if not isinstance(precision, PrecisionChoice):
        precision = choose_precision(precision or "auto")
    check = run_info.get("int8_check") or {}
    use_int8 = quantize == "int8" or (quantize == "auto" and precision.device == "cpu"
                                       and precision.precision == "fp32" and check.get("use_int8", False))
    if use_int8:
        model, used, why = int8_copy(model), "fp32", "int8 dynamic quantization"
        if quantize == "auto":
            why += f" (held-out check: {_summary(check)})"
    else:
        used, why = precision.precision, f"{precision.precision} ({precision.reason})"
        if quantize == "auto" and check and not check.get("use_int8"):
            why += f"; int8 not used (held-out check: {_summary(check)})"
    if compile:
        import torch

        model, why = torch.compile(model, dynamic=True), why + ", torch.compile"
    return InferencePlan(model, used, why)
