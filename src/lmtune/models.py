"""Backbones: the packaged default, a local directory, or a hub name (loaded where internet exists)."""
from __future__ import annotations

import functools
from pathlib import Path

from .errors import ModelError
from .packaged import BACKBONES, is_installed, model_dir, packaged_by_hub_id

DEFAULT_BACKBONE = "default"


def packaged_default() -> Path:
    return packaged_dir(DEFAULT_BACKBONE)


def packaged_dir(name: str) -> Path:
    """The model folder of a packaged backbone (`default`, `mpnet`; `lmtune ls` lists them)."""
    return model_dir(BACKBONES[name])


def resolve_backbone(name: str, revision: str | None = None) -> str:
    """A string `from_pretrained` accepts: a packaged backbone's folder, a local directory, or a
    hub id passed through untouched. A packaged backbone's hub id (no revision asked) resolves to
    the installed package, so it works offline with the same weights."""
    if name in BACKBONES:
        return str(packaged_dir(name))
    packaged = packaged_by_hub_id(name)
    if packaged is not None and revision is None and is_installed(packaged):
        return str(packaged_dir(packaged.name))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is a directory but holds no config.json",
                             fix="point model.name at a saved model or run directory.")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model directory not found: {name}",
                         fix=f"check the path, or use a packaged backbone ({', '.join(BACKBONES)}).")
    check_hub_reachable(name, revision)
    return name  # hub id such as 'bert-base-uncased' or 'org/model'


def check_hub_reachable(name: str, revision: str | None = None) -> None:
    """Fail at once, naming the way out, where a hub id is neither cached nor reachable: the hub
    client would retry for half a minute before its own error. Only the name lookup is probed
    (no request), and not where a proxy resolves names for us or the hub is set offline."""
    from huggingface_hub import constants, try_to_load_from_cache

    # offline first (the hub client's own reading of HF_HUB_OFFLINE): then no lookup is needed
    if constants.HF_HUB_OFFLINE or _hub_host_resolves():
        return

    if isinstance(try_to_load_from_cache(name, "config.json", revision=revision), str):
        return  # cached: transformers may still load it
    raise ModelError(f"cannot load {name!r}: the Hugging Face hub is unreachable from here (its name does not "
                     "resolve) and the model is not in the local cache",
                     fix=f"connect to the internet, use a local directory, or a packaged backbone "
                         f"({', '.join(BACKBONES)}; `lmtune ls`).")


@functools.lru_cache(maxsize=1)
def _hub_host_resolves() -> bool:
    import os
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


# Where architectures keep the dropout on attention weights (BERT family; Llama, DistilBERT; GPT-2).
ATTENTION_DROPOUT_KEYS = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")


def config_overrides(source: str, revision: str | None, attention_dropout: float | None) -> dict:
    """Keyword overrides of the backbone's config for `from_pretrained`: only keys it really has."""
    if attention_dropout is None:
        return {}
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, revision=revision)
    return {key: attention_dropout for key in ATTENTION_DROPOUT_KEYS if hasattr(config, key)}


def load_tokenizer(name: str, revision: str | None = None):
    from transformers import AutoTokenizer

    source = resolve_backbone(name, revision)
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise load_error(name, source, exc) from None


def load_error(name: str, source: str, exc: Exception) -> ModelError:
    if Path(source).is_dir():
        return ModelError(f"cannot load {source}: {exc}", fix="check the directory holds a complete saved model.")
    return ModelError(f"cannot load {name!r} from the Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                      fix="check the name and your network (offline: set HF_HUB_OFFLINE=1 to fail at once), "
                          "or use a local directory or 'default'.")


def backbone_file(resolved: str, name: str, revision: str | None = None) -> Path:
    """A file of a backbone directory, or of a hub id (downloaded, or from the hub's cache)."""
    if Path(resolved).is_dir():
        return Path(resolved) / name
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(resolved, name, revision=revision))
    except EntryNotFoundError as exc:  # not an OSError itself
        raise OSError(str(exc)) from None


def backbone_of(model):
    """The transformer body (BertModel, MPNetModel, GPT2Model, ...) of a task model, through a peft wrapper."""
    task_model = model.get_base_model() if hasattr(model, "peft_config") else model
    return task_model.base_model
