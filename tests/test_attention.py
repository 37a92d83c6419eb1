"""Fused attention for MPNet: the same outputs and gradients as transformers' eager attention."""
from __future__ import annotations

import copy

import pytest
import torch
from transformers import BertConfig, BertModel, MPNetConfig, MPNetForSequenceClassification

from lmtune.attention import fuse_attention


def tiny_mpnet():
    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                         max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                         num_labels=3)
    return MPNetForSequenceClassification(config)


def batch():
    torch.manual_seed(1)
    ids = torch.randint(3, 60, (4, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padding: masked keys must not count
    mask[3, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 2, 1])}


def test_fused_mpnet_matches_eager_outputs_and_gradients():
    eager = tiny_mpnet()
    fused = copy.deepcopy(eager)
    assert fuse_attention(fused) == 2
    bert = BertModel(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8))
    assert fuse_attention(bert) == 0  # BERT already runs PyTorch's fused kernel: nothing to swap
    assert type(fused.mpnet.encoder.layer[0].attention.attn).__name__ == "FusedMPNetSelfAttention"
    out_e, out_f = eager(**batch()), fused(**batch())
    assert torch.allclose(out_e.logits, out_f.logits, atol=1e-5)
    out_e.loss.backward()
    out_f.loss.backward()
    for (name, p), q in zip(eager.named_parameters(), fused.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
    assert list(eager.state_dict()) == list(fused.state_dict())  # same weights, same names: saves alike


def test_asking_for_attention_probabilities_takes_the_eager_path():
    fused = tiny_mpnet()
    fuse_attention(fused)
    out = fused(**{k: v for k, v in batch().items() if k != "labels"}, output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (4, 4, 12, 12)
    assert torch.allclose(out.attentions[0].sum(-1), torch.ones(4, 4, 12), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_fused_mpnet_under_autocast(dtype):
    eager = tiny_mpnet().eval()
    fused = copy.deepcopy(eager)
    fuse_attention(fused)
    inputs = {k: v for k, v in batch().items() if k != "labels"}
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype):
        a, b = eager(**inputs).logits.float(), fused(**inputs).logits.float()
    assert torch.allclose(a, b, atol=5e-2)
