"""Layer pruning: a task model with only some of its transformer layers, the start of a smaller
student (`lmtune distill --student layers:N`). Works on any encoder whose layers sit in one
ModuleList of `num_hidden_layers` blocks (BERT, MPNet, RoBERTa, ...)."""
from __future__ import annotations

import torch

from .errors import ConfigError


def layer_stack(model) -> torch.nn.ModuleList:
    """The ModuleList holding the model's transformer layers (its length is num_hidden_layers)."""
    total = model.config.num_hidden_layers
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == total]
    if not stacks:
        raise ConfigError(f"cannot find the {total} transformer layers of this {type(model).__name__}",
                          fix="use a packaged or local student model instead of layers:N.")
    return stacks[0]


def choose_layers(total: int, spec: str) -> list[int]:
    """The layers to keep, from `N` (N of `total`, evenly spaced, the last always kept: the head
    reads its output) or a comma list of 0-based indices, e.g. `0,2,5`."""
    spec = spec.strip()
    try:
        if "," in spec:
            chosen = sorted({int(part) for part in spec.split(",") if part.strip()})
        else:
            n = int(spec)
            chosen = [round((i + 1) * total / n) - 1 for i in range(n)] if n > 0 else []
    except ValueError:
        chosen = None
    if not chosen or chosen[0] < 0 or chosen[-1] >= total or len(chosen) >= total:
        raise ConfigError(f"layers:{spec} is not a choice of fewer than the teacher's {total} layers",
                          fix=f"write layers:N with N from 1 to {total - 1}, or layers:i,j,... with 0-based "
                              f"indices below {total}.")
    return chosen


def keep_layers(model, keep: list[int]):
    """`model` changed in place to hold only the layers `keep` (in that order); its config says so."""
    stack = layer_stack(model)
    kept = torch.nn.ModuleList([stack[i] for i in keep])
    for new_index, layer in enumerate(kept):  # attention modules that number themselves (caches) follow
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    parent = next(m for m in model.modules() if any(child is stack for child in m.children()))
    name = next(n for n, child in parent.named_children() if child is stack)
    setattr(parent, name, kept)
    types = getattr(model.config, "layer_types", None)  # per-layer settings some configs carry
    if isinstance(types, list) and len(types) == len(stack):
        model.config.layer_types = [types[i] for i in keep]
    model.config.num_hidden_layers = len(keep)
    return model
