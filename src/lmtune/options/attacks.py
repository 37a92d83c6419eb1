"""`adversarial:` options of each attack."""
from __future__ import annotations

from pydantic import Field

from ..config import StrictModel
from . import ATTACK_OPTIONS, Options


class AttackOptions(StrictModel):
    epsilon: float = Field(0.1, gt=0, description="perturbation size per token, relative to the embedding norm")


class StepsOptions(AttackOptions):
    steps: int = Field(3, ge=1, le=20)
    step_size: float | None = Field(None, gt=0, description="ascent step (relative); default 2 x epsilon / steps")


ATTACK_OPTIONS.register("fgm")(Options(
    AttackOptions, "Fast gradient method: one step of size epsilon along the normalised clean gradient "
                   "(2 forward passes)."))
ATTACK_OPTIONS.register("pgd")(Options(
    StepsOptions, "Projected gradient descent: `steps` ascent steps kept inside the epsilon ball "
                  "(steps + 1 forward passes)."))
ATTACK_OPTIONS.register("freelb")(Options(
    StepsOptions, "FreeLB: random start, `steps` ascent steps, their losses averaged (steps + 1 forward passes)."))
