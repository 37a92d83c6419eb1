"""The shape every recipe has: `setup` (config -> data, model, trainer), `fit`, `save`, `score`.

`run` is the one driver: it claims the run directory, times the steps, lets only the main
process save and score (under torchrun every process trains), and writes the final records.
"""
from __future__ import annotations

import time

from ..config import RunConfig
from ..training.common import begin_run, finish_records, fit, is_main_process
from .validation import check_components


class Recipe:
    kind: str | None = None  # what the run dir records as its task; None: the config's task

    def __init__(self, cfg: RunConfig, *, resume: bool = False, overwrite: bool = False, callbacks=(),
                 progress: bool = True, log=print):
        check_components(cfg)  # a RunConfig built in Python skipped load_config's checks
        self.cfg, self.resume, self.callbacks, self.progress = cfg, resume, callbacks, progress
        self.started = time.time()
        self.run_dir, self.log = begin_run(cfg, self.kind or cfg.task, resume, overwrite, log)
        self.run_info: dict = {}
        self.trainer = None

    def setup(self) -> None:
        """Build data, model, method and trainer from the config; start the run's records."""
        raise NotImplementedError

    def fit(self) -> None:
        self.speed = fit(self.trainer, self.run_dir, self.resume, self.progress, self.log)
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
        self.fit()
        if not is_main_process():  # rank 0 saves and scores the model all ranks trained
            return self.result({})
        self.save()
        metrics = self.score()
        metrics["wall_seconds"] = round(time.time() - self.started, 1)
        finish_records(self.run_dir, self.run_info, metrics, self.cfg.training.keep_checkpoints)
        return self.result(metrics)
