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
