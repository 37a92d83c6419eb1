"""Registries fail loudly: duplicates at import time, unknown names with the closest match."""
from __future__ import annotations

import pytest

from lmtune.errors import ConfigError
from lmtune.registry import Registry


def test_duplicate_and_malformed_names_raise():
    reg: Registry = Registry("widget")

    @reg.register("alpha")
    class Alpha:
        """The first."""

    with pytest.raises(ValueError, match="registered twice"):
        reg.register("alpha")(type("Other", (), {}))
    with pytest.raises(ValueError, match="lower-case"):
        reg.register("Bad Name")
    assert reg.get("alpha") is Alpha and Alpha.registry_name == "alpha"
    assert reg.describe() == [("alpha", "The first.")]


def test_unknown_name_lists_known_and_closest():
    reg: Registry = Registry("widget")
    reg.register("fixmatch")(type("F", (), {}))
    reg.register("self-training")(type("S", (), {}))
    with pytest.raises(ConfigError) as err:
        reg.get("fixmach")
    assert "known: fixmatch, self-training" in str(err.value) and "use 'fixmatch'" in str(err.value)


def test_plugin_escape_hatch_imports_module_colon_class():
    reg: Registry = Registry("widget")
    assert reg.get("collections:OrderedDict").__name__ == "OrderedDict"


class PluginMethod:
    """A method from outside lmtune, named package.module:Class in a config."""

    from lmtune.config import StrictModel as _Base

    class Config(_Base):
        strength: float = 1.0

    tasks = ("classification",)

    @classmethod
    def check_options(cls, config, task):
        return ("strength", "too strong", "lower it.") if config.strength > 2 else None


def test_a_plugin_method_brings_its_own_options_and_checks():
    from lmtune.recipes.validation import load_config

    base = {"data": {"builtin": "bbc_news"}, "method": {"name": "test_registry:PluginMethod"}}
    assert load_config(None, ["method.strength=1.5"], base=base).method.name == "test_registry:PluginMethod"
    with pytest.raises(ConfigError, match="too strong"):
        load_config(None, ["method.strength=3"], base=base)
    with pytest.raises(ConfigError, match="does not apply to task 'token-classification'"):
        load_config(None, ["task=token-classification"], base=base)
