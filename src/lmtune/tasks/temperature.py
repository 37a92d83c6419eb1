"""Temperature scaling of a trained classifier (task_options.calibration: temperature).

The temperature is fitted on the dev set where ones fitted on four fifths of it lower the NLL
of the fifth left out by more than one standard error (5-fold cross-validation: a small dev set
can invite a temperature that helps only itself, sharpening a weak model most of all), and
folded into the output layer (its weight and bias divided by T), so the saved model itself is
calibrated: eval, predict, export, ONNX and serve all read the same probabilities with no extra
file to carry, and no label changes.
"""
from __future__ import annotations

import numpy as np
import torch

from ..evaluation.calibration import (
    GUARD_FOLDS,
    GUARD_Z,
    calibration_summary,
    fit_temperature,
    held_out_nll,
    rescale,
    significant_gain,
)

# Fewer dev texts than this fit a temperature to noise; the model is left as trained.
MIN_CALIBRATION_TEXTS = 30


@torch.no_grad()
def scale_output_layer(layer: torch.nn.Linear, temperature: float) -> None:
    layer.weight /= temperature
    if layer.bias is not None:
        layer.bias /= temperature


def calibrate(model, task, dev: list, log, **predict_options) -> dict:
    """Fit the temperature on `dev` (labeled examples) and fold it into `model`'s output layer;
    returns the run file's record (ECE and NLL on dev before and after)."""
    from .base import output_layer

    if len(dev) < MIN_CALIBRATION_TEXTS:
        why = ("no dev set" if not dev else f"only {len(dev)} dev texts (fewer than {MIN_CALIBRATION_TEXTS})")
        log(f"calibration: {why}, so the probabilities are the model's as trained (set data.dev_size to calibrate)")
        return {"method": "none", "reason": why, "temperature": 1.0}
    classes = np.array([task.labels.index(ex.label) for ex in dev])
    probs = task.proba(model, [ex.text for ex in dev], desc="calibrate on dev", **predict_options)
    per_text, rescaled = held_out_nll(probs, classes)
    kept, scaled = float(per_text.mean()), float(rescaled.mean())
    checked = {"dev_texts": len(dev), "held_out_nll": {"as_trained": round(kept, 4), "calibrated": round(scaled, 4)}}
    if not significant_gain(per_text, rescaled):
        log(f"calibration: temperatures fitted on {GUARD_FOLDS - 1}/{GUARD_FOLDS} of the {len(dev)} dev texts did "
            f"not clearly lower the NLL of the part left out ({kept:.4f} -> {scaled:.4f}, less than {GUARD_Z:g} "
            "standard error), so the model keeps its probabilities as trained")
        return {"method": "none", "reason": "a fitted temperature did not clearly help held-out dev texts",
                "temperature": 1.0, **checked}
    temperature = fit_temperature(probs, classes)
    before, after = calibration_summary(probs, classes), calibration_summary(rescale(probs, temperature), classes)
    scale_output_layer(output_layer(model, len(task.labels)), temperature)
    log(f"calibration: temperature {temperature:.3f} fitted on {len(dev)} dev texts; dev ECE {before['ece']:.4f} -> "
        f"{after['ece']:.4f}, NLL {before['nll']:.4f} -> {after['nll']:.4f} (labels unchanged; NLL of held-out folds "
        f"{kept:.4f} -> {scaled:.4f})")
    return {"method": "temperature", "temperature": round(temperature, 4), **checked, "dev_before": before,
            "dev_after": after}
