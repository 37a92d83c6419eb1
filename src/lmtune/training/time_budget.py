"""`training.time_budget`: a run that ends, scored, within a wall-clock limit.

Training stops once the run has used all but SCORING_SHARE of the budget (the rest is for
saving and scoring the model), counted from the start of the run. Before training, the
finetune recipe times one step on real batches (seconds_per_step) and plans no more steps than
fit (steps_within), so the learning-rate schedule ends when the budget does instead of being
cut short; the callback is the backstop.
"""
from __future__ import annotations

import contextlib
import math
import time

from transformers import TrainerCallback

SCORING_SHARE = 0.15  # of the budget, kept for saving, scoring the held-out splits and the records


def training_deadline(started: float, budget: float) -> float:
    """time.time() by which training must end."""
    return started + budget * (1 - SCORING_SHARE)


class TimeBudget(TrainerCallback):
    def __init__(self, deadline: float, budget: float, log):
        self.deadline, self.budget, self.log = deadline, budget, log

    def on_step_end(self, args, state, control, **kwargs):
        if time.time() >= self.deadline and not control.should_training_stop:
            control.should_training_stop = True
            self.log(f"time budget: training stops at step {state.global_step} of {state.max_steps}, keeping "
                     f"{SCORING_SHARE:.0%} of the {self.budget / 60:.1f} min budget to save and score the model")


# an optimizer step costs more than the forward and backward passes timed (the update, the
# unlabeled stream, logging): measured steps are multiplied by this
STEP_OVERHEAD = 1.2


def _autocast(precision: str):
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()


# passes timed after the warm-up one; the fastest counts: a stall from another process slows one
# pass, not the machine (a plan sized on a stalled pass refused mpnet at twice its speed)
TIMED_PASSES = 2


def _fastest(one_pass) -> float:
    """Seconds of the fastest of TIMED_PASSES calls of `one_pass`, after one untimed warm-up."""
    one_pass()
    timings = []
    for _ in range(TIMED_PASSES):
        started = time.perf_counter()
        one_pass()
        timings.append(time.perf_counter() - started)
    return min(timings)


def _inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "labels"}


def seconds_per_step(model, batches: list[dict], precision: str) -> float:
    """Seconds one optimizer step on these batches (a labeled one, an unlabeled one) takes on
    this machine: forward and backward, the fastest of TIMED_PASSES after a warm-up, gradients
    cleared."""
    autocast = _autocast(precision)
    was_training = model.training
    model.train()

    def step():
        with autocast:
            loss = sum(model(**_inputs(b)).logits.float().logsumexp(-1).mean() for b in batches)
        loss.backward()

    seconds = _fastest(step)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return seconds * STEP_OVERHEAD


def seconds_per_forward(model, batch: dict, precision: str) -> float:
    """Seconds one forward pass over `batch` takes without gradients (embedding, scoring): the
    fastest of TIMED_PASSES after a warm-up."""
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad(), _autocast(precision):
        seconds = _fastest(lambda: model(**_inputs(batch)))
    model.train(was_training)
    return seconds


def steps_within(seconds_left: float, step_seconds: float) -> int:
    """Whole steps that fit in `seconds_left` (at least 1)."""
    return max(1, math.floor(seconds_left / step_seconds))
