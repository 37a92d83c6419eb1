"""`model.pooling: mean`: a sequence classifier whose head reads the mean of the tokens, saved as
the backbone's own architecture (AutoModelForSequenceClassification loads it anywhere).

Sentence-transformers backbones (the packaged MiniLM and mpnet among them) were trained so that
the mean of their token states is the text's meaning; transformers' heads read the first token,
which those backbones never trained. With a few labels the head starts, and mostly stays, where
its features put it, so the first token costs accuracy (BENCHMARKS.md, "model.pooling").

The mean is taken by one more encoder layer, written in the layer's own weights: queries and keys
zero, so every token attends equally to every real token (padding stays masked out); values the
identity and the attention output SCALE x the identity, so the first token's state becomes
LayerNorm(own state + SCALE x mean) = LayerNorm(mean), its own state a 1/SCALE share; the
feed-forward block's output zero, so the second LayerNorm leaves it as it is. The head above it
is unchanged. Queries and keys get no gradient at zero (each one's gradient is the other), so
the layer keeps averaging while its values, output and feed-forward block train.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from ..errors import ConfigError

MARK = "lmtune_pooling"  # in the model's config: "mean" once the layer is appended (saved with the run)
SCALE = 1000.0


def has_mean_pooling(model) -> bool:
    return getattr(model.config, MARK, None) == "mean"


def declared_pooling(source: str | Path | None, revision: str | None = None) -> str | None:
    """How a sentence-transformers backbone (a directory or a hub id) pools ("mean", "cls", ...),
    from its modules.json and Pooling config; None for a backbone without them."""
    from ..models import backbone_file

    if not source:
        return None
    try:
        modules = json.loads(backbone_file(str(source), "modules.json", revision).read_text(encoding="utf-8"))
        pooling = next(m for m in modules if str(m.get("type", "")).endswith("Pooling"))
        config = backbone_file(str(source), "/".join(p for p in (pooling.get("path"), "config.json") if p), revision)
        options = json.loads(config.read_text(encoding="utf-8"))
    except Exception:  # no such files, or a hub repo out of reach (offline, gated): the architecture's own head
        return None
    modes = [mode for mode in ("mean_tokens", "cls_token", "max_tokens", "mean_sqrt_len_tokens")
             if options.get(f"pooling_mode_{mode}")]
    return {"mean_tokens": "mean", "cls_token": "cls"}.get(modes[0], modes[0]) if len(modes) == 1 else None


def mean_pooling_problem(model) -> str | None:
    """Why a mean-pooling layer cannot be written for `model`, or None when it can."""
    from ..pruning import layer_stack

    config = model.config
    kind = type(model).__name__
    if getattr(config, "is_decoder", False):
        return f"{kind} is a decoder: each token attends only to the tokens before it"
    if getattr(config, "position_embedding_type", "absolute") not in (None, "absolute"):
        return f"{kind} adds relative positions to its attention scores, so equal attention cannot be written"
    try:
        last = layer_stack(model)[-1]
    except ConfigError:
        return f"cannot find the transformer layers of {kind}"
    names = {name for name, _ in last.named_modules()}
    needed = {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
              "attention.output.LayerNorm", "output.dense", "output.LayerNorm"}
    if not needed <= names:
        return (f"{kind}'s layers are not BERT's (query/key/value, post-LayerNorm, absolute positions)"
                + (": MPNet adds a relative position bias to every layer's attention" if "attention.attn.q" in names
                   else ""))
    return None


@torch.no_grad()
def add_mean_pooling(model) -> bool:
    """Append the averaging layer to `model` in place (its config marked, num_hidden_layers one
    more); False where it has one already (a run of lmtune as the backbone, a pruned teacher)."""
    if has_mean_pooling(model):
        return False
    problem = mean_pooling_problem(model)
    if problem:
        raise ConfigError(f"model.pooling: mean cannot be written for this backbone: {problem}",
                          fix="use model.pooling: first (the architecture's own head) with this backbone.")
    from ..pruning import layer_stack

    stack = layer_stack(model)
    layer = copy.deepcopy(stack[-1])
    attention = layer.attention
    hidden = model.config.hidden_size
    for linear in (attention.self.query, attention.self.key):
        linear.weight.zero_()
        linear.bias.zero_()
    _set(attention.self.value, torch.eye(hidden))
    _set(attention.output.dense, SCALE * torch.eye(hidden))
    _set(layer.output.dense, torch.zeros_like(layer.output.dense.weight))
    for norm in (attention.output.LayerNorm, layer.output.LayerNorm):
        norm.weight.fill_(1.0)
        norm.bias.zero_()
    for module in layer.modules():  # attention modules that number themselves (caches) follow
        if hasattr(module, "layer_idx"):
            module.layer_idx = len(stack)
    stack.append(layer)
    types = getattr(model.config, "layer_types", None)
    if isinstance(types, list) and types:
        model.config.layer_types = types + [types[-1]]
    model.config.num_hidden_layers = len(stack)
    setattr(model.config, MARK, "mean")
    return True


def _set(linear: torch.nn.Linear, weight: torch.Tensor) -> None:
    linear.weight.copy_(weight.to(linear.weight.dtype))
    if linear.bias is not None:
        linear.bias.zero_()
