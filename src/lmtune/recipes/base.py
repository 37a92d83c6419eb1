"""The shape every recipe has: `setup` (config -> data, model, trainer), `fit`, `save`, `score`.

`run` is the one driver: it claims the run directory, times the steps, lets only the main
process save and score (under torchrun every process trains), and writes the final records.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time

from ..artifacts import RUN_FILE, last_complete_checkpoint, write_json
from ..config import RunConfig
from ..training.common import (
    begin_run,
    check_resumable,
    finish_records,
    fit,
    is_main_process,
    release_process_group,
    start_records,
)
from .validation import check_components


@contextlib.contextmanager
def stop_on_sigterm():
    """SIGTERM (a scheduler, systemd, docker stop) ends training the way Ctrl-C does, so the run
    is recorded as interrupted instead of dying mid-step. Main thread only; the old handler is
    put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Recipe:
    kind: str | None = None  # what the run dir records as its task; None: the config's task

    def __init__(self, cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(),
                 progress: bool = True, log=print, resume_anyway: bool = False):
        check_components(cfg)  # a RunConfig built in Python skipped load_config's checks
        resume = resume or resume_anyway
        self.cfg, self.resume, self.callbacks, self.progress = cfg, resume, callbacks, progress
        self.resume_anyway = resume_anyway
        self.started = time.time()
        self.run_dir, self.log = begin_run(cfg, self.kind or cfg.task, resume, overwrite, log)
        self.run_info: dict = {}
        self.trainer = None

    def setup(self) -> None:
        """Build data, model, method and trainer from the config; start the run's records."""
        raise NotImplementedError

    def start_records(self, data_summary: dict, precision, **info) -> dict:
        """The run's records before training; a resumed run must match the ones it started with."""
        if self.resume:
            check_resumable(self.run_dir, self.cfg, data_summary, self.resume_anyway, self.log)
        return start_records(self.cfg, self.run_dir, data_summary, precision, **info)

    def interrupted(self) -> None:
        """Ctrl-C or SIGTERM during training: record it and say how to go on."""
        if not is_main_process():
            return
        step = self.trainer.state.global_step if self.trainer is not None else 0
        checkpoint = last_complete_checkpoint(self.run_dir)
        write_json(self.run_dir / RUN_FILE, {**self.run_info, "status": "interrupted", "interrupted_at_step": step})
        self.log(f"interrupted at step {step}; " + (
            f"`--resume` (same config and output_dir) continues from {checkpoint.name}" if checkpoint else
            "no checkpoint was complete yet, so `--resume` starts from the beginning"))

    def fit(self) -> None:
        self.speed = fit(self.trainer, self.run_dir, self.resume, self.log)
        self.train_seconds = round(time.time() - self.started, 1)

    def save(self) -> None:
        raise NotImplementedError

    def score(self) -> dict:
        """Metrics of the saved model; may add to self.run_info."""
        raise NotImplementedError

    def result(self, metrics: dict):
        raise NotImplementedError

    def run(self):
        self.setup()
        with stop_on_sigterm():
            try:
                self.fit()
            except KeyboardInterrupt:
                self.interrupted()
                raise
        if not is_main_process():  # rank 0 saves and scores the model all ranks trained
            release_process_group()
            return self.result({})
        self.save()
        metrics = self.score()
        metrics["wall_seconds"] = round(time.time() - self.started, 1)
        finish_records(self.run_dir, self.run_info, metrics, self.cfg.training.keep_checkpoints)
        release_process_group()
        return self.result(metrics)
