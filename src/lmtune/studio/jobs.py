"""The server's side of training: start the worker process, cancel it, and on start-up report
a training that a killed server left behind as interrupted (its worker is stopped if it is
still alive), so it can be restarted from its last checkpoint."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .store import ACTIVE, Store
from .worker import training_dir

PROCESSES: dict[int, subprocess.Popen] = {}  # this server's workers, polled so none lingers as a zombie
MIN_PER_CLASS = 2  # the cross-validated report and auto's held-out folds need two of every class


def ready_to_train(store: Store) -> str | None:
    """None, or why training cannot start yet."""
    counts = store.counts()
    if len(counts) < 2:
        return "add at least two labels (classes) first"
    short = [f"{name} ({n})" for name, n in counts.items() if n < MIN_PER_CLASS]
    if short:
        return f"label at least {MIN_PER_CLASS} texts of every class first; too few: {', '.join(short)}"
    return None


def launch(directory: Path, training_id: int, resume: bool = False) -> int:
    """Start the worker in a session of its own (cancel stops it and anything it started)."""
    folder = training_dir(directory, training_id)
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "worker.log", "ab")
    command = [sys.executable, "-m", "lmtune.studio.worker", str(directory), str(training_id)]
    if resume:
        command.append("--resume")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, env=env)
    log.close()
    PROCESSES[process.pid] = process
    return process.pid


def start(store: Store, directory: Path) -> tuple[int | None, str]:
    problem = ready_to_train(store)
    if problem:
        return None, problem
    training_id = store.start_training(sum(store.counts().values()))
    if training_id is None:
        return None, "a training is already running: wait for it or cancel it"
    try:
        store.update_training(training_id, pid=launch(directory, training_id))
    except OSError as exc:  # no process could be started: the slot must not stay taken
        store.update_training(training_id, status="failed", finished=time.time(), message=f"could not start: {exc}")
        return None, f"could not start the training worker: {exc}"
    return training_id, f"training {training_id} started"


def restart(store: Store, directory: Path, training_id: int) -> tuple[bool, str]:
    if not store.restart_training(training_id):
        return False, "only an interrupted, cancelled or failed training can be restarted, one at a time"
    store.update_training(training_id, pid=launch(directory, training_id, resume=True))
    return True, f"training {training_id} restarted from its last checkpoint"


def _is_worker(pid: int, directory: Path) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _alive(pid) and not Path("/proc").is_dir()  # no /proc (macOS): trust the recorded pid
    return b"lmtune.studio.worker" in command and str(directory).encode() in command


def _alive(pid: int) -> bool:
    if pid in PROCESSES:
        if PROCESSES[pid].poll() is None:
            return True
        del PROCESSES[pid]
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _stop(pid: int | None, directory: Path) -> None:
    if pid and _is_worker(pid, directory):
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            return
        for _ in range(50):  # the recipe records the interruption on SIGTERM
            if not _alive(pid):
                return
            time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


def cancel(store: Store, directory: Path) -> str:
    training = store.active_training()
    if training is None:
        return "no training is running"
    _stop(training["pid"], directory)
    store.update_training(training["id"], status="cancelled", finished=time.time(), pid=None,
                          message="cancelled from the page")
    return f"training {training['id']} cancelled"


def reap(store: Store, directory: Path) -> None:
    """A training whose worker died without saying so (killed, out of memory) is interrupted."""
    for training in store.trainings():
        if training["status"] in ACTIVE and training["pid"] and not _alive(training["pid"]):
            _interrupted(store, training, "its worker process died")


def recover(store: Store, directory: Path) -> None:
    """At server start: nothing can still be training for this studio."""
    for training in store.trainings():
        if training["status"] in ACTIVE:
            _stop(training["pid"], directory)
            _interrupted(store, training, "the studio stopped during this training")


def _interrupted(store: Store, training: dict, why: str) -> None:
    progress = training["progress"]
    where = f" at step {progress['step']} of {progress['max_steps']}" if progress.get("step") else ""
    store.update_training(training["id"], status="interrupted", finished=time.time(), pid=None,
                          message=f"{why}{where}; restart it to continue from its last checkpoint")
