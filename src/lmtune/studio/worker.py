"""The studio's training worker: `python -m lmtune.studio.worker DIR TRAINING_ID [--resume]`.

A process of its own, so the server keeps answering (and the previous model keeps its guesses
on the pages) while this one trains. It snapshots the labels and the unlabeled pool into
DIR/trainings/<id>/, trains there with lmtune's finetune recipe (method auto unless the
studio's overrides say otherwise), then scores the pool and writes the report. Progress goes
to the store, where the server's pages read it. It dies with the server: a training nobody can
watch or cancel is reported as interrupted when the studio starts again, and restarts from its
last checkpoint.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path

from .store import Store

SETTINGS = "settings"
CURRENT = "current_training"  # meta key: the training whose model the pages show


def training_dir(directory: Path, training_id: int) -> Path:
    return Path(directory) / "trainings" / str(int(training_id))


def watch_parent(parent: int) -> None:
    """Exit when the server that started this worker is gone (kill -9 included)."""
    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(3)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


class Progress:
    """Phase, message, steps, loss and ETA, written to the store at most twice a second."""

    def __init__(self, store: Store, training_id: int):
        self.store, self.id, self.state, self.written = store, training_id, {}, 0.0

    def __call__(self, force: bool = False, **fields) -> None:
        self.state.update(fields)
        now = time.time()
        if force or now - self.written > 0.5:
            self.store.update_training(self.id, progress=self.state)
            self.written = now

    def log(self, message: str) -> None:
        self(force=True, message=message)


def callback(progress: Progress):
    from transformers import TrainerCallback

    class StoreProgress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started, self.first = time.time(), state.global_step
            progress(force=True, phase="training", step=state.global_step, max_steps=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            done = state.global_step - self.first
            eta = (time.time() - self.started) / done * (state.max_steps - state.global_step) if done else None
            progress(step=state.global_step, max_steps=state.max_steps, eta_s=None if eta is None else round(eta))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                history = progress.state.get("losses", [])[-199:]
                progress(loss=round(float(logs["loss"]), 4), losses=[*history, [state.global_step, float(logs["loss"])]])

    return StoreProgress()


def snapshot(store: Store, folder: Path) -> dict:
    """The labels and the unlabeled pool as files the recipe reads (written once per training)."""
    from ..artifacts import write_json_lines
    from ..data.tables import write_rows

    labeled = store.labeled()
    write_rows(folder / "labeled.csv", [{"text": t.text, "label": t.label} for t in labeled], columns=["text", "label"])
    pool = store.unlabeled()
    if pool:
        write_json_lines(folder / "unlabeled.jsonl", [{"text": t.text} for t in pool])
    return {"labeled": len(labeled), "unlabeled": len(pool)}


def config(store: Store, folder: Path, settings: dict):
    from ..recipes.validation import load_config

    classes = store.classes()
    method = {"name": "auto"}
    if classes and all(c["description"] for c in classes):
        method["label_descriptions"] = {c["name"]: c["description"] for c in classes}
    base = {"task": "classification",
            "data": {"train": str(folder / "labeled.csv"), "dev_size": 0, "test_size": 0,
                     **({"unlabeled": str(folder / "unlabeled.jsonl")} if (folder / "unlabeled.jsonl").exists() else {})},
            "model": {"name": settings["model"], "max_length": settings.get("max_length", 256)},
            "method": method, "output_dir": str(folder / "run"), "seed": settings["seed"]}
    return load_config(None, settings.get("overrides", []), base=base)


def train(directory: Path, training_id: int, resume: bool) -> None:
    from ..artifacts import RUN_FILE, read_json, write_json
    from ..recipes.finetune import train as finetune
    from . import analysis

    store = Store(directory)
    settings = store.get_meta(SETTINGS)
    folder = training_dir(directory, training_id)
    folder.mkdir(parents=True, exist_ok=True)
    progress = Progress(store, training_id)
    store.update_training(training_id, status="running", pid=os.getpid())
    if not (resume and (folder / "labeled.csv").exists()):
        progress(force=True, phase="preparing", **snapshot(store, folder))
    cfg = config(store, folder, settings)
    run_file = folder / "run" / RUN_FILE
    if resume and run_file.exists() and read_json(run_file).get("status") == "complete":
        progress.log("the model was saved before the interruption: scoring it")
    else:
        progress(force=True, phase="planning")
        finetune(cfg, resume=resume, overwrite=not resume, callbacks=[callback(progress)], progress=False,
                 log=progress.log)
    progress(force=True, phase="scoring the pool")
    analysis.score_pool(store, folder / "run", settings, progress.log)
    progress(force=True, phase="report")
    write_json(folder / "report.json", analysis.report(store, folder / "run", folder, settings, progress.log))
    store.set_meta(CURRENT, training_id)
    progress(force=True, phase="done", message="finished")
    store.update_training(training_id, status="done", finished=time.time(), pid=None)


def main(argv: list[str] | None = None) -> int:
    from ..errors import LmtuneError

    args = list(sys.argv[1:] if argv is None else argv)
    resume = "--resume" in args
    directory, training_id = Path(args[0]), int(args[1])
    watch_parent(os.getppid())
    store = Store(directory)
    try:
        train(directory, training_id, resume)
    except KeyboardInterrupt:  # SIGTERM from the cancel button: the server records it
        return 1
    except LmtuneError as exc:
        store.update_training(training_id, status="failed", finished=time.time(), pid=None, message=str(exc))
        return 2
    except Exception as exc:  # noqa: BLE001 - the page must say why, the log has the traceback
        traceback.print_exc()
        store.update_training(training_id, status="failed", finished=time.time(), pid=None,
                              message=f"{type(exc).__name__}: {exc} (traceback in {training_dir(directory, training_id)}"
                                      f"/worker.log)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
