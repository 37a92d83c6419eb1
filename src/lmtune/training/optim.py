"""Optimizer parameter groups: layer-wise learning-rate decay (LLRD).

Lower layers hold general features a few labels should barely move; with decay d, layer i of L
trains at lr x d^(L - i), the embeddings at lr x d^(L + 1), the head and pooler at lr.
"""
from __future__ import annotations

from .freezing import layer_depths


def layerwise_groups(model, learning_rate: float, decay: float, weight_decay: float, decay_names: set[str]
                     ) -> list[dict]:
    """One group per (depth, weight decay or not) over the trainable parameters."""
    depths = layer_depths(model)
    top = max(depths.values())
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth, decayed = depths[id(param)], name in decay_names
        group = groups.setdefault((depth, decayed), {
            "params": [], "lr": learning_rate * decay ** (top - depth),
            "weight_decay": weight_decay if decayed else 0.0, "depth": depth})
        group["params"].append(param)
    return [groups[key] for key in sorted(groups)]
