"""Adversarial training: each attack raises the loss it trains on, leaves the embeddings and the
model's hooks as they were, costs the forward passes it declares, and composes with peft."""
from __future__ import annotations

import pytest
import torch

import lmtune
from conftest import VOCAB
from lmtune import artifacts as art
from lmtune.config import AttackSpec
from lmtune.errors import ConfigError
from lmtune.methods import with_attack
from lmtune.methods.supervised import Supervised
from lmtune.recipes.validation import validate_config

QUIET = dict(progress=False, log=lambda m: None)


def model_and_batch():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=2))
    model.eval()  # no dropout: the clean and perturbed passes differ only by the perturbation
    ids = torch.randint(5, len(VOCAB), (4, 10))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0  # padding
    return model, {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0, 1])}


@pytest.mark.parametrize("spec, passes", [({"name": "fgm"}, 2), ({"name": "pgd", "steps": 3}, 4),
                                           ({"name": "freelb", "steps": 2}, 3)])
def test_attack_raises_the_loss_restores_embeddings_and_costs_what_it_says(spec, passes):
    model, batch = model_and_batch()
    method = with_attack(Supervised(Supervised.Config(), None), AttackSpec(**spec))
    embeddings = model.get_input_embeddings()
    before = embeddings.weight.detach().clone()
    calls = []
    counter = model.register_forward_hook(lambda *a: calls.append(1))
    loss, logs, _ = method.loss(model, batch, None, step=0)
    counter.remove()
    assert torch.equal(embeddings.weight, before) and not embeddings._forward_hooks
    assert len(calls) == passes == method.attack.passes()
    assert logs["adversarial_loss"] > logs["clean_loss"]  # the perturbation found a worse point
    assert loss.item() == pytest.approx(logs["clean_loss"] + logs["adversarial_loss"], abs=1e-3)
    loss.backward()  # gradients reach the weights through both terms
    assert embeddings.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0


def test_perturbation_respects_epsilon_and_padding():
    from lmtune.methods.adversarial import _ascend, _token_norm

    grad = torch.randn(3, 5, 8)
    mask = torch.ones(3, 5, 1)
    mask[1, 3:] = 0
    delta = _ascend(torch.zeros_like(grad), grad, step=0.5, epsilon=0.2, mask=mask)
    assert torch.allclose(_token_norm(delta, mask).flatten(), torch.full((3,), 0.2), atol=1e-6)
    assert delta[1, 3:].abs().sum() == 0


def test_adversarial_training_with_lora_and_in_the_run_records(toy_config):
    toy_config["adversarial"] = {"name": "fgm", "epsilon": 0.05}
    toy_config["peft"] = {"method": "lora", "r": 4}  # frozen embeddings: the perturbation still gets a gradient
    toy_config["training"].update(epochs=2)
    result = lmtune.train(validate_config(toy_config), **QUIET)
    info = art.read_json(result.run_dir / art.RUN_FILE)
    assert info["adversarial"] == {"name": "fgm", "epsilon": 0.05, "forward_passes_per_step": 2}


def test_unknown_attack_and_bad_option_fail_early(toy_config):
    toy_config["adversarial"] = {"name": "fgn"}
    with pytest.raises(ConfigError, match="'fgm'"):
        validate_config(toy_config)
    toy_config["adversarial"] = {"name": "pgd", "step": 3}
    with pytest.raises(ConfigError, match="adversarial.step"):
        validate_config(toy_config)
