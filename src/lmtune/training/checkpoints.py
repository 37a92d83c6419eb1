"""Checkpoints on a clock: where no dev set picks a best epoch, a checkpoint only serves to resume
a killed run, and one per epoch would spend seconds writing weights and optimizer state many
times a minute."""
from __future__ import annotations

import time

from transformers import TrainerCallback


class TimedCheckpoints(TrainerCallback):
    """A checkpoint once `seconds` of training have passed since the last one (or the start)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.last = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self.last >= self.seconds and state.global_step < state.max_steps:
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        self.last = time.monotonic()
