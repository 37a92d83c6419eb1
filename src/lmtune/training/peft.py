"""Parameter-efficient fine-tuning through the peft library.

The config's `peft:` section goes to peft as it is (`get_peft_config`), so every method peft
registers works without code here. lmtune adds only what it knows better than the user:
the task type, the head kept fully trainable and saved with the adapters (a LoRA classifier
reloaded without its trained head predicts garbage), AdaLoRA's step count, and a check that
every named target module exists (peft ignores a misspelled name as long as another matches).
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from ..config import PeftSpec
from ..errors import ConfigError, ModelError, closest

ADAPTER_CONFIG = "adapter_config.json"
MERGEABLE = {"LORA", "ADALORA", "IA3", "LOHA", "LOKR", "OFT", "BOFT", "VERA", "HRA"}  # folded into the weights


def peft_type_of(spec: PeftSpec) -> str:
    from peft import PeftType

    peft_type = spec.method.strip().upper().replace("-", "_")
    if peft_type not in PeftType.__members__:
        known = [t.value.lower().replace("_", "-") for t in PeftType]
        hint = closest(spec.method, known)
        raise ConfigError(f"unknown peft.method {spec.method!r}",
                          fix=f"did you mean {hint!r}?" if hint else f"use one of {', '.join(known)}.")
    return peft_type


def peft_config(spec: PeftSpec, task_type: str | None, *, total_steps: int, head: list[str] = (),
                where: str | Path | None = None):
    """The peft config object for `spec`; unknown options are named with the closest field."""
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    peft_type = peft_type_of(spec)
    config_cls = PEFT_TYPE_TO_CONFIG_MAPPING[peft_type]
    options = {**spec.options(), "peft_type": peft_type}
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(options) - fields)
    if unknown:
        hint = closest(unknown[0], sorted(fields))
        raise ConfigError(f"peft.{unknown[0]} is not an option of {config_cls.__name__}",
                          where=str(where) if where else None,
                          fix=f"did you mean peft.{hint}?" if hint else "see the peft documentation for its fields.")
    if task_type:
        options.setdefault("task_type", task_type)
    if peft_type == "ADALORA":  # its rank budget schedule needs the length of the run
        options.setdefault("total_step", total_steps)
    if head and "modules_to_save" in fields:
        options["modules_to_save"] = sorted(set(options.get("modules_to_save") or []) | set(head))
    try:
        return config_cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"peft rejected the peft section: {exc}", where=str(where) if where else None,
                          fix="correct that option (peft's own message above).") from None


# Architectures peft has no default target modules for: their attention's query and value
# projections, as peft's own default for BERT ("query", "value").
DEFAULT_TARGETS = {"mpnet": ["q", "v"]}


def apply_peft(model, spec: PeftSpec, task_type: str | None, *, total_steps: int, head: list[str] = ()):
    """Wrap `model` with the adapters of `spec`; the `head` modules train fully and are saved."""
    from peft import get_peft_model

    config = peft_config(spec, task_type, total_steps=total_steps, head=head)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if hasattr(config, "target_modules") and config.target_modules is None and model_type in DEFAULT_TARGETS:
        config.target_modules = set(DEFAULT_TARGETS[model_type])
    check_target_modules(model, config.__dict__.get("target_modules"))
    try:
        with _quiet_transformers():
            return get_peft_model(model, config)
    except ValueError as exc:
        raise ConfigError(f"peft cannot apply {spec.method} to {type(model).__name__}: {exc}",
                          fix="check peft.target_modules (or leave it out for peft's default for this architecture).") from None


def check_target_modules(model, targets) -> None:
    """Every listed target must name a module of the model (a regex string is left to peft)."""
    if not targets or isinstance(targets, str):
        return
    names = [name for name, _ in model.named_modules() if name]
    leaves = sorted({name.rsplit(".", 1)[-1] for name in names})
    for target in targets:
        if not any(name == target or name.endswith("." + target) for name in names):
            hint = closest(target, leaves)
            raise ConfigError(f"peft.target_modules: {target!r} names no module of {type(model).__name__}",
                              fix=f"did you mean {hint!r}?" if hint else f"module names include {', '.join(leaves[:12])}.")


def is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


def mergeable(model) -> bool:
    return is_peft(model) and all(str(c.peft_type.value) in MERGEABLE for c in model.peft_config.values())


def merged(model, *, copy_first: bool = True):
    """A plain transformers model with the adapters folded into its weights (same outputs, no
    adapter overhead); models without mergeable adapters come back as they are."""
    if not mergeable(model):
        return model
    return (copy.deepcopy(model) if copy_first else model).merge_and_unload()


def adaptive_budget_callback():
    """AdaLoRA reallocates its rank budget after every optimizer step, before gradients are zeroed."""
    from transformers import TrainerCallback

    class AdaLoraBudget(TrainerCallback):
        def on_optimizer_step(self, args, state, control, model=None, **kwargs):
            from accelerate.utils import extract_model_from_parallel

            target = extract_model_from_parallel(model)  # the model inside a DDP wrapper
            target.base_model.update_and_allocate(state.global_step)

    return AdaLoraBudget()


def needs_budget_callback(model) -> bool:
    return is_peft(model) and any(str(c.peft_type.value) == "ADALORA" for c in model.peft_config.values())


def save_adapter_config(model, out: Path) -> None:
    """Beside the adapter files: the base model's config (labels, sizes) so the run reloads alone."""
    model.get_base_model().config.save_pretrained(out)


def load_adapter_run(path: Path, info: dict, auto_model: str, *, merge: bool = True):
    """Base backbone (recorded in the run) + the run's adapters and head; merged when possible."""
    import transformers
    from peft import PeftModel

    from ..models import resolve_backbone

    record = info.get("peft") or {}
    base = record.get("base_path")
    if not base or not Path(base).is_dir():
        try:
            base = resolve_backbone(record.get("base", info.get("backbone", "default")))
        except ModelError as exc:
            raise ModelError(f"{path} holds adapters; their base model is not available: {exc.message}",
                             fix=exc.fix) from None
    config = transformers.AutoConfig.from_pretrained(path)
    with _quiet_transformers():  # the head is "newly initialised" here, then replaced by the saved one
        model = getattr(transformers, auto_model).from_pretrained(base, config=config, revision=record.get("revision"))
        model = PeftModel.from_pretrained(model, path)
    return merged(model, copy_first=False) if merge else model


class _quiet_transformers:
    """transformers' load report and the deprecation notice peft 0.21 triggers in transformers 5."""

    def __enter__(self):
        import warnings

        from transformers.utils import logging

        self.level = logging.get_verbosity()
        logging.set_verbosity_error()
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

    def __exit__(self, *exc):
        from transformers.utils import logging

        self.warnings.__exit__(*exc)
        logging.set_verbosity(self.level)
