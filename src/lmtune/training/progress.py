"""What a training run prints: progress bars (on a terminal) and one readable line per log and
evaluation step, instead of the Trainer's raw dicts of numbers."""
from __future__ import annotations

from typing import Callable

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

# the Trainer's log keys, shortened; anything else (a method's own scalars) keeps its name
NAMES = {"learning_rate": "lr", "grad_norm": "grad norm"}
SKIPPED = {"epoch", "total_flos", "train_runtime", "train_samples_per_second", "train_steps_per_second",
           "eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


def readable(logs: dict) -> str:
    """`loss 0.4213, lr 8.0e-05, grad norm 2.31` from a Trainer log dict (values may be strings)."""
    parts = []
    for key, value in logs.items():
        if key in SKIPPED:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            parts.append(f"{NAMES.get(key, key)} {value}")
            continue
        # is_integer, not int(): a NaN or inf loss must print, not stop training
        shown = f"{number:.1e}" if key == "learning_rate" else f"{number:g}" if number.is_integer() else f"{number:.4f}"
        parts.append(f"{NAMES.get(key, key.removeprefix('eval_'))} {shown}")
    return ", ".join(parts)


class LogLines(TrainerCallback):
    """One line per logging step (`step 40/120, epoch 3.3: loss ...`) and per dev evaluation."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        if any(k.startswith("eval_") for k in logs):
            return  # on_evaluate says it
        if "train_runtime" in logs:
            self.log(f"trained {state.global_step} steps in {float(logs['train_runtime']):.0f} s "
                     f"({float(logs.get('train_samples_per_second', 0)):.1f} samples/s)")
            return
        where = f"step {state.global_step}/{state.max_steps}" + (f", epoch {state.epoch:.2f}" if state.epoch else "")
        self.log(f"{where}: {readable(logs)}")

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics and state.is_world_process_zero:
            self.log(f"dev at step {state.global_step}: {readable(metrics)}")


class BarsOnly(ProgressCallback):
    """The Trainer's progress bars without the dicts it writes under them (LogLines says those)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


def replace_printing(trainer, log: Callable[[str], None]) -> None:
    """Swap the Trainer's printers for LogLines (and bars without dicts where bars are on)."""
    trainer.remove_callback(PrinterCallback)
    if any(isinstance(c, ProgressCallback) for c in trainer.callback_handler.callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(BarsOnly())
    trainer.add_callback(LogLines(log))
