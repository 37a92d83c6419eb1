"""Config: YAML + dotted overrides, unknown keys with the closest match and the YAML line, type errors."""
from __future__ import annotations

import pytest

from lmtune.errors import ConfigError
from lmtune.recipes.validation import load_config


def write(tmp_path, text):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


def test_yaml_and_overrides(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\ntraining:\n  epochs: 3\n")
    cfg = load_config(path, ["training.epochs=5", "model.max_length=64", "data.labels_per_class=4",
                             "training.early_stopping_patience=null"])
    assert cfg.training.epochs == 5 and cfg.model.max_length == 64 and cfg.data.labels_per_class == 4
    assert cfg.training.early_stopping_patience is None
    assert cfg.training.learning_rate == 5e-5  # untouched default


def test_unknown_key_suggests_closest_and_names_the_line(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\ntraining:\n  epochs: 3\n  lerning_rate: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "training.lerning_rate" in message and "training.learning_rate" in message
    assert f"{path}:5" in message


def test_unknown_override_key(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\n")
    with pytest.raises(ConfigError, match="did you mean 'model.max_length'"):
        load_config(path, ["model.max_lenght=12"])


def test_invalid_value_type(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\ntraining:\n  epochs: many\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "training.epochs" in str(err.value) and "'many'" in str(err.value) and f"{path}:4" in str(err.value)


def test_needs_exactly_one_data_source(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of data.builtin"):
        load_config(write(tmp_path, "data:\n  text_column: t\n"))


def test_unknown_method_and_task_names_closest(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\n")
    with pytest.raises(ConfigError, match="use 'supervised'"):
        load_config(path, ["method.name=supervise"])
    with pytest.raises(ConfigError, match="use 'classification'"):
        load_config(path, ["task=clasification"])


def test_method_options_are_validated_by_the_method(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\nmethod:\n  name: supervised\n  alpha: 0.1\n")
    with pytest.raises(ConfigError, match="unknown config key 'method.alpha'"):
        load_config(path)


def test_bad_yaml_is_located(tmp_path):
    with pytest.raises(ConfigError, match=r"cfg.yaml:\d+"):
        load_config(write(tmp_path, "data:\n  builtin: [bbc\n"))


def test_a_key_given_twice_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, "data:\n  builtin: bbc_news\ntraining:\n  epochs: 3\n  batch_size: 8\n  epochs: 30\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.where == f"{path}:6" and "'epochs' appears twice" in err.value.message
    assert "first at line 4" in err.value.message
    load_config(write(tmp_path, "data:\n  builtin: bbc_news\ntraining:\n  epochs: 3\nmodel:\n  max_length: 64\n"))


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, "data:\n  builtin: imdb\n"), ["seed=3"])
    again = load_config(write(tmp_path, cfg.to_yaml()))
    assert again == cfg


def test_overrides_do_not_leak_into_a_shared_base():
    from lmtune.quickstart import PRESET, quickstart_config

    before = repr(PRESET)
    assert quickstart_config(4, "runs/x", ["model.head_init=random"]).model.head_init == "random"
    assert repr(PRESET) == before
    assert quickstart_config(4, "runs/x").model.head_init == "prototype"


@pytest.mark.parametrize("example", sorted(__import__("pathlib").Path(__file__).parent.parent.glob("examples/*.yaml")),
                         ids=lambda p: p.name)
def test_example_configs_are_valid(example):
    load_config(example)


def test_every_quickstart_method_preset_is_a_valid_config():
    from lmtune.quickstart import METHOD_PRESETS, best_method, quickstart_config

    for method in METHOD_PRESETS:
        assert quickstart_config(4, "runs/x", method=method).method.name == method
    assert best_method() in METHOD_PRESETS
