"""`lmtune studio DIR`: set the studio's directory up (settings, labels, a first pool) and serve it."""
from __future__ import annotations

import socket
from pathlib import Path

from ..errors import ConfigError
from .importing import import_file
from .security import hosts_for, new_token
from .store import Store
from .worker import SETTINGS

DEFAULTS = {"model": "default", "max_length": 256, "overrides": [], "strategy": "entropy", "seed": 42}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def prepare(directory: str | Path, *, data: str | Path | None = None, labels: list[str] | None = None,
            descriptions: str | Path | None = None, model: str | None = None, max_length: int | None = None,
            overrides: list[str] | None = None, strategy: str | None = None, seed: int | None = None,
            text_column: str = "text", label_column: str = "label", log=print) -> Store:
    """The store of DIR with these settings (options not given keep the ones DIR has), labels and data."""
    from ..curation.acquisition import ACQUISITIONS

    directory = Path(directory)
    store = Store(directory)
    settings = {**DEFAULTS, **(store.get_meta(SETTINGS) or {})}
    given = {"model": model, "max_length": max_length, "overrides": overrides or None, "strategy": strategy, "seed": seed}
    settings.update({k: v for k, v in given.items() if v is not None})
    ACQUISITIONS.get(settings["strategy"])  # an unknown name fails now, with the known ones listed
    _check_overrides(settings["overrides"])
    store.set_meta(SETTINGS, settings)
    if descriptions is not None:
        described = _read_descriptions(Path(descriptions))
        store.add_classes(list(described), described)
    if labels:
        store.add_classes([name.strip() for name in labels if name.strip()])
    if data is not None:
        log(import_file(store, Path(data), text_column=text_column, label_column=label_column)["message"])
    return store


def _check_overrides(overrides: list[str]) -> None:
    from ..config import load_config

    base = {"task": "classification", "data": {"train": "labels.csv"}}
    load_config(None, overrides, base)  # a wrong key or value fails now, not in the first training


def _read_descriptions(path: Path) -> dict[str, str]:
    import yaml

    if not path.is_file():
        raise ConfigError(f"descriptions file not found: {path}", fix="give a YAML file of `label: one sentence` lines.")
    described = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(described, dict) or not described or not all(isinstance(v, str) for v in described.values()):
        raise ConfigError("expected a mapping of label: one-sentence description", where=str(path),
                          fix="write one `label: a sentence a reader would use` line per label.")
    return {str(k): v.strip() for k, v in described.items()}


def hold_folder(directory: Path):
    """One studio per folder: a second would take the first one's training for a dead one."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / "studio.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigError(f"another lmtune studio is serving {directory}",
                          fix="open the address that one printed, or stop it first.") from None
    return handle


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def serve(directory: str | Path, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          expose: bool = False, max_upload_mb: float = 50, log=print) -> None:
    import uvicorn

    from .app import create_app

    if host not in LOOPBACK and not expose:
        raise ConfigError(f"refusing to bind the studio to {host}: anyone who can reach it and learns the token "
                          "can read your data", fix="add --expose if that is what you want, or keep 127.0.0.1.")
    if host not in LOOPBACK:
        log(f"warning: the studio listens on {host}, beyond this machine; its token is its only lock")
    lock = hold_folder(Path(directory))  # noqa: F841 - held until the process ends
    port = port or free_port(host)
    token = token or new_token()
    app = create_app(directory, token, hosts_for(host, port), max_upload_mb=max_upload_mb)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    log(f"lmtune studio on {Path(directory).resolve()}: open http://{shown}:{port}/?token={token}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
