"""Precision selection from simulated capability flags (never from the test machine)."""
from __future__ import annotations

import pytest

from lmtune.device import choose_precision
from lmtune.errors import ConfigError

AMX = {"cpu_name": "Intel Xeon", "amx_bf16": True, "avx512_bf16": True, "avx512_f": True, "avx2": True}
AVX2 = {"cpu_name": "AMD EPYC", "amx_bf16": False, "avx512_bf16": False, "avx2": True}


def test_auto_uses_bf16_only_where_the_cpu_has_it():
    assert choose_precision("auto", AMX, cuda=False).precision == "bf16"
    choice = choose_precision("auto", AVX2, cuda=False)
    assert choice.precision == "fp32" and "AMD EPYC" in choice.reason
    assert choice.trainer_kwargs() == {"bf16": False, "fp16": False}


def test_forced_bf16_on_avx2_warns_loudly():
    with pytest.warns(UserWarning, match="SLOWER than fp32"):
        assert choose_precision("bf16", AVX2, cuda=False).precision == "bf16"


def test_fp16_needs_a_gpu():
    with pytest.raises(ConfigError, match="needs a GPU"):
        choose_precision("fp16", AVX2, cuda=False)


def test_gpu_choice():
    assert choose_precision("auto", AVX2, cuda={"bf16": True}).precision == "bf16"
    assert choose_precision("auto", AVX2, cuda={"bf16": False}).precision == "fp16"


def test_an_unknown_precision_name_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="unknown precision 'fp8'") as err:
        choose_precision("fp8", AVX2, cuda=False)
    assert "auto, fp32 or bf16" in err.value.fix
