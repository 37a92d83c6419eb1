"""Freezing strategies: frozen weights stay bit-identical through training, the rest move, and
the run records trainable vs total parameters."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

import lmtune
from lmtune import artifacts as art
from lmtune.errors import ConfigError
from lmtune.recipes.validation import validate_config


def trained_weights(toy_config, tiny_backbone, freeze: str):
    toy_config["training"]["freeze"] = freeze
    result = lmtune.train(validate_config(toy_config), progress=False, log=lambda m: None)
    before = load_file(tiny_backbone / "model.safetensors")
    after = load_file(result.run_dir / "model.safetensors")
    changed = {k for k in before if f"bert.{k}" in after and not torch.equal(before[k], after[f"bert.{k}"])}
    return result, set(before), changed


@pytest.mark.parametrize("freeze, moving", [
    ("head-only", set()),
    ("top-1", {"encoder.layer.1.", "pooler."}),
    ("embeddings", {"encoder.layer.0.", "encoder.layer.1.", "pooler."}),
])
def test_frozen_weights_stay_bit_identical(toy_config, tiny_backbone, freeze, moving):
    result, names, changed = trained_weights(toy_config, tiny_backbone, freeze)
    should_move = {k for k in names if k.startswith(tuple(moving))}
    assert changed == should_move, (freeze, sorted(changed ^ should_move)[:5])
    params = art.read_json(result.run_dir / art.RUN_FILE)["parameters"]
    head = 32 * 2 + 2  # the classifier: hidden 32 -> 2 labels, always trained
    expected = head + sum(t.numel() for k, t in load_file(tiny_backbone / "model.safetensors").items()
                          if k in should_move)
    assert params["trainable"] == expected and params["total"] > expected


def test_freeze_none_trains_everything_and_bad_specs_fail_early(toy_config):
    toy_config["training"]["freeze"] = "top-0"
    with pytest.raises(ConfigError, match="freeze"):
        validate_config(toy_config)
    toy_config["training"]["freeze"] = "top-3"  # the tiny model has 2 layers
    with pytest.raises(ConfigError, match="top-1 .. top-2"):
        lmtune.train(validate_config(toy_config), progress=False, log=lambda m: None)


def test_head_only_after_a_contrastive_stage_is_setfits_recipe(toy_config, tiny_backbone, tmp_path):
    """Under head-only the contrastive stage tunes the backbone, and then only the head trains:
    runs of 1 and 4 epochs end with the same backbone (the stage's) and different heads."""
    toy_config["training"]["contrastive_steps"] = 5
    runs = {}
    for epochs in (1, 4):
        toy_config["training"]["epochs"] = epochs
        toy_config["output_dir"] = str(tmp_path / f"setfit-{epochs}")
        result, names, changed = trained_weights(toy_config, tiny_backbone, "head-only")
        assert {k for k in changed if k.startswith("encoder.layer.")}, "the stage moved no layer"
        assert art.read_json(result.run_dir / art.RUN_FILE)["parameters"]["trainable"] == 32 * 2 + 2
        runs[epochs] = load_file(result.run_dir / "model.safetensors")
    short, long = runs[1], runs[4]
    assert all(torch.equal(short[k], long[k]) for k in short if k.startswith("bert."))
    assert not torch.equal(short["classifier.weight"], long["classifier.weight"])
