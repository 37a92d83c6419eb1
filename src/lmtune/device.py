"""Pick the fastest safe numeric precision for the machine at hand; never assume.

bf16 autocast is a win on CPUs with AMX or AVX512-BF16 and a catastrophe (hundreds of times
slower) on AVX2-only CPUs (BENCHMARKS.md, "Speed"), so `auto` reads the CPU's capability flags.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # fp32 | bf16 | fp16
    device: str     # cpu | cuda
    reason: str
    cpu_name: str
    cpu_flags: dict

    def trainer_kwargs(self) -> dict:
        return {"bf16": self.precision == "bf16", "fp16": self.precision == "fp16"}


def cpu_capabilities() -> dict:
    import torch

    return dict(torch.cpu.get_capabilities()) if hasattr(torch.cpu, "get_capabilities") else {}


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def check_precision(requested: str) -> None:
    """A precision name from the user (API or CLI; configs are checked by their schema)."""
    if requested not in PRECISIONS:
        raise ConfigError(f"unknown precision {requested!r}", fix="use auto, fp32 or bf16 (fp16: GPUs only).")


def choose_precision(requested: str = "auto", caps: dict | None = None, cuda: dict | None = None) -> PrecisionChoice:
    """`caps`: torch.cpu.get_capabilities() (simulated in tests); `cuda`: {'bf16': bool} or None for no GPU."""
    import torch

    check_precision(requested)

    caps = cpu_capabilities() if caps is None else caps
    if cuda is None and torch.cuda.is_available():
        cuda = {"bf16": torch.cuda.is_bf16_supported(), "name": torch.cuda.get_device_name()}
    flags = {k: bool(caps.get(k)) for k in ("amx_bf16", "avx512_bf16", "avx512_f", "avx2")}
    name = str(caps.get("cpu_name", "unknown CPU"))
    cpu_bf16 = flags["amx_bf16"] or flags["avx512_bf16"]

    def choice(precision: str, reason: str) -> PrecisionChoice:
        return PrecisionChoice(precision, "cuda" if cuda else "cpu", reason, name, flags)

    if cuda:
        gpu_bf16 = bool(cuda.get("bf16"))
        if requested == "auto":
            return choice("bf16" if gpu_bf16 else "fp16",
                          "GPU supports bf16" if gpu_bf16 else "GPU without bf16: fp16 with loss scaling")
        if requested == "bf16" and not gpu_bf16:
            warnings.warn("precision=bf16 forced on a GPU without bf16 support; expect errors or slow emulation")
        return choice(requested, "forced by config")
    if requested == "auto":
        if cpu_bf16:
            kind = "AMX" if flags["amx_bf16"] else "AVX512-BF16"
            return choice("bf16", f"{name} has {kind}: bf16 autocast, fp32 master weights")
        return choice("fp32", f"{name} has no AMX/AVX512-BF16: bf16 would be far slower than fp32")
    if requested == "fp16":
        raise ConfigError("precision=fp16 needs a GPU; none is visible", fix="use precision: auto, fp32 or bf16 on a CPU.")
    if requested == "bf16" and not cpu_bf16:
        warnings.warn(f"precision=bf16 forced on {name}, which lacks AMX/AVX512-BF16: expect training to be "
                      "tens to hundreds of times SLOWER than fp32. Use precision: auto.", stacklevel=2)
    return choice(requested, "forced by config")
