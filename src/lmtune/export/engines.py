"""Which inference engine runs a classifier fastest on this machine without changing its answers.

The candidates: PyTorch in the precision the machine suits (fp32, or bf16 autocast where the
CPU has it), PyTorch with int8 dynamic quantization, ONNX Runtime fp32 and ONNX Runtime int8
(dynamic quantization of the graph); ONNX only where onnxruntime is installed, int8 only on a
CPU. Each is timed on the same held-out texts and compared with PyTorch fp32 there: the fastest
that gives the same label on at least MIN_AGREEMENT of them and loses at most MAX_LOSS accuracy
is chosen. The choice is kept per machine (CPU name and flags, threads, library versions) in
the run dir's `engines/`, beside the ONNX graph it chose, so it is measured once per run and
machine; the held-out texts are kept there too, so another machine can measure its own.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..artifacts import atomic_write, read_json
from ..device import PrecisionChoice, choose_precision
from ..evaluation.inference import agreement, int8_copy

ENGINES_DIR = "engines"
CHOICES_FILE = "choices.json"
TEXTS_FILE = "texts.json"
ONNX_FILES = {"onnx-fp32": "model.onnx", "onnx-int8": "model_int8.onnx"}
CHECK_TEXTS = 256  # timed and compared per engine: one flipped label is 0.4%
MIN_AGREEMENT = 0.995
MAX_LOSS = 0.005  # accuracy, a fraction


@dataclass
class Engine:
    name: str
    model: object  # called like a transformers model: model(**batch).logits
    precision: str  # autocast precision of predict_proba


def machine_key(precision: PrecisionChoice) -> str:
    """What a measurement holds for: the CPU, its flags, the threads and the libraries."""
    import importlib.metadata as md

    import torch

    try:
        ort = md.version("onnxruntime")
    except md.PackageNotFoundError:
        ort = "none"
    flags = ",".join(k for k, v in sorted(precision.cpu_flags.items()) if v)
    return (f"{precision.cpu_name} [{flags}] {precision.device} threads={torch.get_num_threads()} "
            f"torch={torch.__version__} onnxruntime={ort}")


def candidates(precision: PrecisionChoice) -> list[str]:
    import importlib.util

    found = [f"torch-{precision.precision}"]
    if precision.device != "cpu":
        return found
    found.append("torch-int8")
    if importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None:
        found += ["onnx-fp32", "onnx-int8"]
    return found


def build(name: str, model, folder: Path) -> Engine:
    """The engine `name` for `model`; ONNX graphs are written to (or read from) `folder`."""
    if name.startswith("torch-"):
        kind = name.split("-", 1)[1]
        return Engine(name, int8_copy(model) if kind == "int8" else model, "fp32" if kind == "int8" else kind)
    from .onnx import Onnx, OnnxClassifier

    quantized = folder / ONNX_FILES["onnx-int8"]
    if name == "onnx-int8" and quantized.is_file():  # the int8 graph kept alone: no fp32 graph made again
        return Engine(name, OnnxClassifier(quantized, model.config), "fp32")
    graph = folder / ONNX_FILES["onnx-fp32"]
    if not graph.is_file():
        staging = folder / ".onnx-staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        Onnx().write(model, staging)  # checked against PyTorch there
        (staging / "model.onnx").replace(graph)
        shutil.rmtree(staging, ignore_errors=True)
    if name == "onnx-int8":
        if not quantized.is_file():
            import logging

            from onnxruntime.quantization import QuantType, quantize_dynamic

            partial = folder / ".model_int8.onnx.partial"
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)  # its advice to pre-process is for static quantization
            try:
                quantize_dynamic(str(graph), str(partial), weight_type=QuantType.QInt8)
            finally:
                root.setLevel(level)
            partial.replace(quantized)
        graph = quantized
    return Engine(name, OnnxClassifier(graph, model.config), "fp32")


def choose(model, proba: Callable, texts: list[str], labels: list[int] | None, folder: Path, log,
           precision: PrecisionChoice | None = None) -> dict:
    """Measure every candidate on `texts` (`proba(model, texts, precision)` predicts them as the
    task does), keep the fastest that agrees with PyTorch fp32, record it for this machine in
    `folder` and return the record."""
    precision = precision or choose_precision("auto")
    folder.mkdir(parents=True, exist_ok=True)
    texts, labels = texts[:CHECK_TEXTS], (labels[:CHECK_TEXTS] if labels is not None else None)
    rows, reference = {}, None
    for name in ["torch-fp32"] + [c for c in candidates(precision) if c != "torch-fp32"]:
        try:
            engine = build(name, model, folder)
        except Exception as exc:  # an engine that cannot take this model is measured as absent, with why
            rows[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]}
            continue
        proba(engine.model, texts[:4], engine.precision)  # warm-up (first-call allocation, lazy init)
        started = time.perf_counter()
        probs = proba(engine.model, texts, engine.precision)
        rate = len(texts) / max(time.perf_counter() - started, 1e-9)
        reference = probs if reference is None else reference
        row = {"docs_per_s": round(rate, 2), **agreement(reference, probs)}
        if labels is not None:
            row["accuracy"] = round(float((probs.argmax(1) == np.asarray(labels)).mean()), 4)
        rows[name] = row
    base = rows["torch-fp32"]
    for row in rows.values():
        if "error" not in row:
            loss = base.get("accuracy", 0) - row.get("accuracy", 0) if labels is not None else 0.0
            row["safe"] = row["label_agreement"] >= MIN_AGREEMENT and loss <= MAX_LOSS
    chosen = max((n for n, r in rows.items() if r.get("safe")), key=lambda n: rows[n]["docs_per_s"])
    record = {"engine": chosen, "measured": time.strftime("%Y-%m-%dT%H:%M:%S"), "texts": len(texts),
              "min_agreement": MIN_AGREEMENT, "max_loss": MAX_LOSS, "engines": rows}
    for name, file in ONNX_FILES.items():  # keep only the graph that serves (a 110M model's is 440 MB)
        if name != chosen:
            (folder / file).unlink(missing_ok=True)
    choices = _choices(folder)
    choices[machine_key(precision)] = record
    atomic_write(folder / CHOICES_FILE, json.dumps(choices, indent=2))
    log("inference engines on this machine: " + ", ".join(
        f"{n} {r['docs_per_s']:.1f} docs/s" + ("" if r.get("safe") else " (changes answers)")
        for n, r in rows.items() if "error" not in r) + f" -> {chosen}")
    return record


def recorded(folder: Path, precision: PrecisionChoice | None = None) -> dict | None:
    """This machine's recorded choice in `folder`, or None."""
    return _choices(folder).get(machine_key(precision or choose_precision("auto")))


def save_check_texts(folder: Path, texts: list[str], labels: list[int] | None) -> None:
    """Keep up to CHECK_TEXTS held-out texts (and labels) for measuring the engines later, on
    whichever machine the run is used."""
    atomic_write(folder / TEXTS_FILE, json.dumps({"texts": texts[:CHECK_TEXTS],
                                                  "labels": None if labels is None else labels[:CHECK_TEXTS]},
                                                 ensure_ascii=False))


def check_texts(folder: Path) -> tuple[list[str], list[int] | None] | None:
    """The held-out texts (and labels) a run's engines were measured on, or None."""
    try:
        saved = read_json(folder / TEXTS_FILE)
    except (OSError, ValueError):
        return None
    return saved["texts"], saved.get("labels")


def _choices(folder: Path) -> dict:
    try:
        return read_json(folder / CHOICES_FILE)
    except (OSError, ValueError):
        return {}
