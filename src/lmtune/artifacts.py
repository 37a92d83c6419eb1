"""Run directory: layout, atomic writes, finding a resumable checkpoint, loading a finished run.

A run dir is a Hugging Face model directory (AutoModelFor...from_pretrained(run_dir) works)
plus lmtune's records beside the weights.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError

RUN_FILE = "lmtune_run.json"        # status, task, labels; written last
CONFIG_FILE = "lmtune_config.yaml"  # the resolved config
VERSIONS_FILE = "versions.json"
DATA_FILE = "data.json"             # counts and fingerprints of every data file
METRICS_FILE = "metrics.json"
REJECTS_FILE = "rejects.jsonl"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: str | Path, content: str | bytes) -> Path:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_json_lines(path: str | Path, rows: list[dict]) -> Path:
    return atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_model_atomic(model, tokenizer, run_dir: Path) -> None:
    """save_pretrained into a staging dir, then move each file into place. A peft model saves its
    adapters and head (a few MB) plus the base config; the backbone is recorded in the run file."""
    from .training.peft import is_peft, save_adapter_config

    staging = Path(tempfile.mkdtemp(dir=run_dir, prefix=".model-staging-"))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        if is_peft(model):
            save_adapter_config(model, staging)
        tokenizer.save_pretrained(staging)
        for item in staging.iterdir():
            os.replace(item, run_dir / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("lmtune", "torch", "transformers", "accelerate", "tokenizers", "safetensors", "scikit-learn",
                    "numpy", "pydantic"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def last_complete_checkpoint(run_dir: Path) -> Path | None:
    """Newest checkpoint whose trainer state (written last by the Trainer) parses; a checkpoint
    cut short by a kill is passed over instead of breaking the resume."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return None
    candidates = []
    for ckpt in folder.glob("checkpoint-*"):
        try:
            step = int(ckpt.name.rsplit("-", 1)[1])
            state = read_json(ckpt / "trainer_state.json")
        except (ValueError, OSError, json.JSONDecodeError):
            continue
        weights = any((ckpt / name).is_file() for name in ("model.safetensors", "adapter_model.safetensors"))
        if weights and state.get("global_step") == step and (ckpt / "optimizer.pt").is_file():
            candidates.append((step, ckpt))
    return max(candidates)[1] if candidates else None


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


def require_classification(run_dir: str | Path, what: str) -> None:
    """Stop early, with a clear message, where a command handles classification runs only."""
    from .errors import ModelError

    path = Path(run_dir) / RUN_FILE
    task = read_json(path).get("task", "classification") if path.is_file() else "classification"
    if task != "classification":
        raise ModelError(f"{what} handles classification runs; {run_dir} is a {task} run",
                         fix="use `lmtune predict` / `lmtune eval` for it (export and serving of other tasks are not built yet).")


def load_run(run_dir: str | Path, device: str | None = None) -> Run:
    import transformers
    import yaml

    from .tasks import get_task

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
        from .export import EXPORTS

        model = EXPORTS.get(info["export"]["format"])().load(path)
    elif info.get("peft"):
        from .training.peft import load_adapter_run

        model = load_adapter_run(path, info, get_task(info["task"]).auto_model)
    else:
        model = getattr(transformers, get_task(info["task"]).auto_model).from_pretrained(path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model.eval()
    if device and hasattr(model, "to"):
        model.to(device)
    config = yaml.safe_load((path / CONFIG_FILE).read_text(encoding="utf-8")) if (path / CONFIG_FILE).is_file() else {}
    return Run(path, model, tokenizer, list(info["labels"]), info["task"], info, config)
