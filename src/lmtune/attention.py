"""Fused attention for architectures transformers still runs eagerly (MPNet).

transformers computes MPNet's attention as matmul -> + relative position bias -> + mask ->
softmax -> matmul, one full [batch, heads, length, length] tensor per step.
`torch.nn.functional.scaled_dot_product_attention` takes the bias and the mask as one additive
mask and runs PyTorch's fused kernel instead: the same function of the same weights, faster
(BENCHMARKS.md, "Backbones"). The swap changes the attention modules' class, not their weights
or names, so saved models and peft target modules are untouched; a call that asks for the
attention probabilities (`output_attentions`) takes the eager path. LMTUNE_FUSED_ATTENTION=0
keeps transformers' own attention everywhere.
"""
from __future__ import annotations

import os
from functools import lru_cache

import torch


@lru_cache(maxsize=None)
def _fused_mpnet_attention():
    from transformers.models.mpnet.modeling_mpnet import MPNetSelfAttention

    class FusedMPNetSelfAttention(MPNetSelfAttention):
        def forward(self, hidden_states, attention_mask=None, position_bias=None, output_attentions=False, **kwargs):
            if output_attentions:
                return super().forward(hidden_states, attention_mask, position_bias, output_attentions, **kwargs)
            shape = (*hidden_states.shape[:-1], -1, self.attention_head_size)
            q, k, v = (proj(hidden_states).view(shape).transpose(1, 2) for proj in (self.q, self.k, self.v))
            mask = position_bias
            if attention_mask is not None:
                mask = attention_mask if mask is None else mask + attention_mask
            if mask is not None:
                mask = mask.to(q.dtype)  # autocast: the scores' dtype
            c = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout.p if self.training else 0.0)
            c = c.transpose(1, 2).reshape(*hidden_states.shape[:-1], self.all_head_size)
            return (self.o(c),)

    return MPNetSelfAttention, FusedMPNetSelfAttention


_SWAPS = {"mpnet": _fused_mpnet_attention}


def fuse_attention(model) -> int:
    """Swap the eager attention modules of `model` (any task model or body, quantized too: the
    swap is by the attention module's class) for fused ones, in place; returns how many were
    swapped (0 for architectures with nothing to swap). Called where models are built
    (tasks) and loaded (loading.load_run, load_encoder), not by each export format."""
    if os.environ.get("LMTUNE_FUSED_ATTENTION", "1").lower() in ("0", "off", "false"):
        return 0  # the escape hatch: transformers' own attention
    if not hasattr(model, "modules"):  # an ONNX Runtime session: nothing of torch's to swap
        return 0
    make = _SWAPS.get(getattr(getattr(model, "config", None), "model_type", None))
    if make is None:
        return 0
    eager, fused = make()
    swapped = 0
    for module in model.modules():
        if type(module) is eager:
            module.__class__ = fused
            swapped += 1
    return swapped
