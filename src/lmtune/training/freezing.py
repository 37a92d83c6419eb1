"""Freezing strategies without PEFT: train only what the label budget can move.

`training.freeze`: none | embeddings | head-only | top-N (the last N transformer layers, plus
everything after them: pooler and head). Frozen weights get no gradient and no optimizer
state (the Trainer optimizes only parameters that require grad), so they stay bit-identical.
"""
from __future__ import annotations

import re

import torch

from ..config import FREEZE_PATTERN
from ..errors import ConfigError
from ..models import backbone_of


def transformer_layers(backbone: torch.nn.Module) -> torch.nn.ModuleList:
    """The stack of transformer blocks: the longest ModuleList in the backbone (BERT's
    encoder.layer, GPT-2's h, Llama's layers, ...)."""
    lists = [m for m in backbone.modules() if isinstance(m, torch.nn.ModuleList)]
    if not lists:
        raise ConfigError(f"{type(backbone).__name__} has no stack of layers to freeze by position",
                          fix="use training.freeze: embeddings or head-only.")
    return max(lists, key=len)


def layer_depths(model) -> dict[int, int]:
    """id(parameter) -> depth: 0 for what comes before the layer stack (embeddings), i + 1 for
    layer i, L + 1 for what comes after it (final norm, pooler) and for the head."""
    backbone = backbone_of(model)
    layers = transformer_layers(backbone)
    depths = {id(p): len(layers) + 1 for p in model.parameters()}
    before = True
    for module in backbone.children():
        if any(m is layers for m in module.modules()):
            before = False
        elif before:
            depths.update({id(p): 0 for p in module.parameters()})
    for i, layer in enumerate(layers):
        depths.update({id(p): i + 1 for p in layer.parameters()})
    return depths


def parameter_counts(model) -> dict:
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters())}


def apply_freezing(model, spec: str) -> dict:
    """Freeze per `spec`; returns {"trainable": n, "total": n} parameter counts."""
    if not re.fullmatch(FREEZE_PATTERN, spec):
        raise ConfigError(f"unknown training.freeze {spec!r}", fix="use none, embeddings, head-only or top-N.")
    backbone = model.base_model
    if spec == "embeddings":
        backbone.get_input_embeddings().requires_grad_(False)
        for name, module in backbone.named_children():
            if "embed" in name:  # position and token-type embeddings and their norm as well
                module.requires_grad_(False)
    elif spec == "head-only":
        backbone.requires_grad_(False)
    elif spec.startswith("top-"):
        layers = transformer_layers(backbone)
        keep = int(spec[4:])
        if keep > len(layers):
            raise ConfigError(f"training.freeze {spec} asks for more layers than the model's {len(layers)}",
                              fix=f"use top-1 .. top-{len(layers)}, or none.")
        backbone.requires_grad_(False)
        layers[len(layers) - keep:].requires_grad_(True)
        seen_layers = False  # what comes after the stack (final norm, pooler) trains with it
        for module in backbone.children():
            if any(m is layers for m in module.modules()):
                seen_layers = True
            elif seen_layers:
                module.requires_grad_(True)
    return parameter_counts(model)
