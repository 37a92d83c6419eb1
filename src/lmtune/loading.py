"""Task models in and out of a run directory: save one atomically, load a finished run (or an
export of one) back, load an encoder for embedding texts. Sits above tasks, peft and export,
since a run's record says which of them reads its files."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import CONFIG_FILE, RUN_FILE, follow_umask, read_json
from .attention import fuse_attention
from .errors import ModelError
from .export import EXPORTS
from .models import load_error, load_tokenizer, resolve_backbone
from .tasks import get_task
from .training.peft import is_peft, load_adapter_run, save_adapter_config


def save_model(model, tokenizer, run_dir: Path) -> None:
    """save_pretrained into a staging dir, then move each file into place. A peft model saves its
    adapters and head (a few MB) plus the base config; the backbone is recorded in the run file."""
    staging = Path(tempfile.mkdtemp(dir=run_dir, prefix=".model-staging-"))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        if is_peft(model):
            save_adapter_config(model, staging)
        tokenizer.save_pretrained(staging)
        follow_umask(staging)
        for item in staging.iterdir():
            os.replace(item, run_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass
class Run:
    """A finished run loaded back: model, tokenizer and what it was trained on."""
    path: Path
    model: Any
    tokenizer: Any
    labels: list[str]
    task: str
    info: dict
    config: dict

    @property
    def max_length(self) -> int:
        return int(self.config.get("model", {}).get("max_length", 512))


def load_run(run_dir: str | Path, device: str | None = None) -> Run:
    import transformers
    import yaml

    path = Path(run_dir)
    info_file = path / RUN_FILE
    if not info_file.is_file():
        raise ModelError(f"{path} is not an lmtune run directory (no {RUN_FILE})",
                         fix="point at the directory `lmtune train` printed at the end.")
    info = read_json(info_file)
    if info.get("kind") == "pretrain":
        raise ModelError(f"{path} is a continued-pretraining run: a backbone, not a task model",
                         fix=f"fine-tune it first: lmtune train CONFIG --set model.name={path}")
    if info.get("status") != "complete":
        raise ModelError(f"the run in {path} did not finish (status: {info.get('status')})",
                         fix=f"resume it with `lmtune train {path / CONFIG_FILE} --resume`.")
    if info.get("export"):  # written by `lmtune export`: the format knows its own files
        model = EXPORTS.get(info["export"]["format"])().load(path)
    elif info.get("peft"):
        model = load_adapter_run(path, info, get_task(info["task"]).auto_model)
    else:
        model = getattr(transformers, get_task(info["task"]).auto_model).from_pretrained(path)
    fuse_attention(model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model.eval()
    if device and hasattr(model, "to"):
        model.to(device)
    config = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8")) if (path / CONFIG_FILE).is_file() else {}
    return Run(path, model, tokenizer, list(info["labels"]), info["task"], info, config)


def task_of(run: Run):
    """The run's task, built with its labels, tokenizer and options."""
    return get_task(run.task)(run.labels, run.tokenizer, run.max_length, run.config.get("task_options") or {})


def load_encoder(name: str, max_length: int = 256):
    """(transformer body, tokenizer, max length) of a finished run or a backbone, for embedding texts."""
    path = Path(name).expanduser()
    if (path / RUN_FILE).is_file() and read_json(path / RUN_FILE).get("kind") != "pretrain":
        run = load_run(path)
        return run.model.base_model, run.tokenizer, run.max_length
    from transformers import AutoModel

    source = resolve_backbone(name)
    try:
        encoder = AutoModel.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise load_error(name, source, exc) from None
    fuse_attention(encoder)
    return encoder, load_tokenizer(name), max_length


def inference_plan(run: Run, quantize: str = "auto", compile: bool = False, precision: str | None = "auto",
                   batch_size: int = 64, log=lambda message: None):
    """How `run` predicts here. With quantize and precision auto, a classification run trained by
    this version runs on the engine measured fastest on this machine among those that keep its
    answers (export/engines.py: PyTorch fp32/bf16/int8, ONNX Runtime fp32/int8), measured the
    first time on the held-out texts it kept, then cached in the run dir. Otherwise, and for
    other runs: evaluation.inference.plan_inference."""
    from .evaluation.inference import InferencePlan, plan_inference
    from .export import engines

    folder = run.path / engines.ENGINES_DIR
    if quantize != "auto" or precision not in (None, "auto") or run.info.get("export") or run.task != "classification":
        return plan_inference(run.model, run.info, quantize, compile, precision)
    record = engines.recorded(folder)
    if record is None:
        saved = engines.check_texts(folder)
        if saved is None:  # a run from before engines were measured: the int8 rule of plan_inference
            return plan_inference(run.model, run.info, quantize, compile, precision)
        task = task_of(run)

        def proba(model, texts, autocast):
            return task.proba(model, texts, batch_size=batch_size, progress=False, precision=autocast)

        log(f"measuring the inference engines on {len(saved[0])} of the run's held-out texts, once for this "
            f"machine (cached in {folder})")
        record = engines.choose(run.model, proba, saved[0], saved[1], folder, log)
    engine = engines.build(record["engine"], run.model, folder)
    row = record["engines"][record["engine"]]
    why = (f"{engine.name}: the fastest of {', '.join(n for n, r in record['engines'].items() if 'error' not in r)} "
           f"measured on this machine ({row['docs_per_s']} docs/s; the same label as PyTorch fp32 on "
           f"{row['label_agreement']:.1%} of {record['texts']} held-out texts)")
    model = engine.model
    if compile and engine.name.startswith("torch"):
        import torch

        model, why = torch.compile(model, dynamic=True), why + ", torch.compile"
    elif compile:
        why += "; --compile applies to PyTorch engines, not this one"
    return InferencePlan(model, engine.precision, why)
