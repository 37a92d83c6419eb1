"""Run directory: layout, atomic writes, records, finding a resumable checkpoint (loading.py loads runs).

A run dir is a Hugging Face model directory (AutoModelFor...from_pretrained(run_dir) works)
plus lmtune's records beside the weights.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import ConfigError, ModelError

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


def follow_umask(path: Path) -> None:
    """Give `path` and everything under it the permissions the user's umask asks for:
    mkdtemp makes 0700 directories and safetensors writes 0600 files, which another service
    user (a server, a colleague) could not read."""
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not item.is_symlink():
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~_UMASK)


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_json_lines(path: str | Path, rows: list[dict]) -> Path:
    return atomic_write(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


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


def require_classification(run_dir: str | Path, what: str, tasks: tuple[str, ...] = ("classification",)) -> None:
    """Stop early, with a clear message, where a command handles only these tasks' runs."""
    path = Path(run_dir) / RUN_FILE
    task = read_json(path).get("task", "classification") if path.is_file() else "classification"
    if task not in tasks:
        raise ModelError(f"{what} handles {' and '.join(tasks)} runs; {run_dir} is a {task} run",
                         fix="use `lmtune predict` / `lmtune eval` for it (this command does not handle that task yet).")


def check_replaceable(path: Path, what: str = "run") -> None:
    """`--overwrite` replaces only what lmtune wrote: a directory holding its run record (a run
    or an export) or its resolved config. Anything else is refused, named, before any work."""
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    if not path.is_dir():
        raise ConfigError(f"{path} is a file, not a {what} directory", fix="choose another output directory.")
    if not ((path / RUN_FILE).is_file() or (path / CONFIG_FILE).is_file()):
        shown = ", ".join(sorted(p.name for p in path.iterdir())[:5])
        raise ConfigError(f"{path} is not an lmtune {what} directory (it holds {shown}, and no {RUN_FILE}); "
                          "--overwrite replaces only directories lmtune wrote",
                          fix="choose another output directory, or move that one away yourself.")


def remove_replaceable(path: Path, what: str = "run") -> None:
    check_replaceable(path, what)
    if Path(path).is_dir():
        shutil.rmtree(path)


def check_output_file(path: str | Path, *, overwrite: bool, inputs: tuple = ()) -> None:
    """An output file may be a new path, or with `overwrite` an existing regular file that is not
    one of `inputs`; a link, a FIFO, a device or a directory is never replaced ("-" is stdout)."""
    path = Path(path)
    if str(path) == "-":
        return
    for given in inputs:
        if given is not None and Path(given).exists() and path.exists() and path.resolve() == Path(given).resolve():
            raise ConfigError(f"the output {path} is the input file: writing it would destroy the input",
                              fix="write the predictions to another file.")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        kind = "a symbolic link" if path.is_symlink() else "a directory" if path.is_dir() else "not a regular file"
        raise ConfigError(f"the output {path} is {kind}; lmtune writes regular files only",
                          fix="give a new file name (or - for standard output).")
    if path.exists() and not overwrite:
        raise ConfigError(f"the output {path} already exists", fix="add --overwrite to replace it, or give another name.")
