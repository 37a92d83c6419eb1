"""`lmtune export`: a finished run as a smaller or portable model, checked against the original.

An export directory is itself a run directory (tokenizer, config, lmtune records) whose
`lmtune_run.json` says which format it holds, so `lmtune eval/predict` and `load_run` take it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from .. import artifacts as art
from ..artifacts import require_classification
from ..config import validate_config
from ..data import prepare_data
from ..errors import ConfigError, ModelError
from ..evaluation.inference import INT8_MIN_AGREEMENT, agreement
from ..evaluation.model_card import write_model_card
from ..export import EXPORTS, ExportFormat
from ..loading import load_run, task_of
from ..training.peft import is_peft

CHECK_TEXTS = 1000  # held-out texts both models are scored and timed on
EXPORTED_TASKS = ("classification", "multi-label")


def export(run_dir: str | Path, out: str | Path, fmt: str, *, overwrite: bool = False,
           check_texts: int = CHECK_TEXTS, log=lambda message: None) -> dict:
    """Write RUN_DIR's model in `fmt` to `out`, then score and time it next to the original on
    the run's own held-out texts; the comparison is saved as OUT/export.json and returned."""
    exporter = EXPORTS.get(fmt)()
    require_classification(run_dir, "lmtune export", EXPORTED_TASKS)
    run = load_run(run_dir)
    if run.info.get("export"):
        raise ModelError(f"{run_dir} is already an export ({run.info['export']['format']})",
                         fix=f"export the original run: {run.info['export']['source']}")
    adapters = run.info.get("peft")
    if exporter.needs_adapters and not adapters:
        raise ConfigError(f"{run_dir} was trained without peft adapters: there is nothing to merge",
                          fix="export it with --format bf16, int8 or onnx.")
    if is_peft(run.model):  # load_run merges every adapter that can be merged
        raise ModelError(f"{run_dir} holds {adapters['method']} adapters, which cannot be folded into the weights",
                         fix="serve or predict with the run directory itself (lmtune serve/predict load adapters).")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} already exists", fix="add --overwrite or choose another -o directory.")
    if out.resolve() == Path(run.path).resolve():
        raise ConfigError(f"{out} is the run being exported", fix="choose another -o directory.")
    art.check_replaceable(out, "export")  # before any work: --overwrite replaces only what lmtune wrote
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        exporter.write(run.model, staging)
        run.tokenizer.save_pretrained(staging)
        shutil.copy2(run.path / art.CONFIG_FILE, staging / art.CONFIG_FILE)
        info = {k: v for k, v in run.info.items() if k != "int8_check"}  # the check was of the original
        art.write_json(staging / art.RUN_FILE, {**info, "export": {"format": fmt, "source": str(run.path)}})
        report = compare(run, load_run(staging), exporter, check_texts, log)
        report.update(format=fmt, source=str(run.path), created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        art.write_json(staging / "export.json", report)
        if (run.path / art.DATA_FILE).is_file():
            shutil.copy2(run.path / art.DATA_FILE, staging / art.DATA_FILE)
        write_model_card(staging)
        art.follow_umask(staging)
        art.remove_replaceable(out, "export")
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def compare(original, exported, exporter: ExportFormat, check_texts: int, log) -> dict:
    """Accuracy and texts/s of both models on the same held-out texts, and their sizes."""
    examples = held_out(original, check_texts, log)
    texts = [ex.text for ex in examples]
    report = {"size_mb": {"original": round(_size(original.path, ("model.safetensors", "adapter_model.safetensors")), 2),
                          "export": round(_size(exported.path, exporter.weight_files), 2)},
              "checked_texts": len(texts)}
    if not texts:
        return report
    task = task_of(original)  # scores texts as predict does (windows of long texts, sigmoids for label sets)
    sets = original.task == "multi-label"
    probs = {}
    for name, run in (("original", original), ("export", exported)):
        started = time.perf_counter()
        probs[name] = task.proba(run.model, texts, progress=False)
        seconds = time.perf_counter() - started
        scores = task.evaluate(run.model, examples, batch_size=64, progress=False, desc="check")
        # accuracy; for label sets, subset accuracy (the whole set right)
        report.setdefault("accuracy", {})[name] = round(scores["subset_accuracy" if sets else "accuracy"], 4)
        report.setdefault("texts_per_s", {})[name] = round(len(texts) / seconds, 1)
        log(f"{name}: accuracy {report['accuracy'][name]:.4f}, {report['texts_per_s'][name]} texts/s")
    report.update(agreement(probs["original"], probs["export"], label_sets=sets))
    log(f"the export gives the original's label on {report['label_agreement']:.1%} of the texts "
        f"({report['flipped_labels']} flipped); largest probability change {report['max_probability_change']:.3f}")
    if report["label_agreement"] < INT8_MIN_AGREEMENT:
        log(f"warning: the export changes more than {1 - INT8_MIN_AGREEMENT:.0%} of the labels even where the accuracy "
            "looks the same; check it on your own data before serving it (a bf16 export keeps them closer)")
    return report


def held_out(run, limit: int, log) -> list:
    """The run's test split (else dev), rebuilt from its saved config and seed."""
    try:
        cfg = validate_config(run.config)
        data = prepare_data(cfg.data, cfg.seed, cfg.task, cfg.task_options)
    except Exception as exc:  # data moved since training: the export is still written
        log(f"held-out data of the run not available ({exc}); export written without an accuracy check")
        return []
    return getattr(data, data.held_out_split or "test")[:limit]


def _size(path: Path, names: tuple[str, ...]) -> float:
    return sum((path / n).stat().st_size for n in names if (path / n).is_file()) / 1e6
