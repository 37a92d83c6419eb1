"""How fast a finished run predicts on this machine, and how much memory it takes to do it.

Each run is measured in a fresh process (spawned, not forked): its peak resident memory is then
its own, not that of whatever the caller had loaded, and runs measured one after the other do
not share caches. The run predicts the way `lmtune predict` would (its inference plan).
"""
from __future__ import annotations

import multiprocessing
import resource
import time
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".onnx_data", ".pt")


def size_on_disk_mb(run_dir: str | Path) -> float:
    """The model's weight files in a run dir (not its records, checkpoints or caches), in MB."""
    path = Path(run_dir)
    return round(sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))
                 / 2**20, 3)


def measure(run_dir: str | Path, texts: list[str], *, batch_size: int = 64, quantize: str = "auto",
            threads: int | None = None) -> dict:
    """docs/s, the inference plan (`quantize` as in `lmtune predict`), peak memory (MB resident:
    the whole process, and above what it held before loading the model) and the class
    probabilities of `texts`."""
    from ..export import engines

    context = multiprocessing.get_context("spawn")
    folder = Path(run_dir) / engines.ENGINES_DIR
    if quantize == "auto" and engines.recorded(folder) is None and engines.check_texts(folder) is not None:
        # the engines are measured (once per machine) in a process of their own: their copies would count as peak
        with context.Pool(1) as pool:
            pool.apply(_plan_here, (str(run_dir), batch_size, threads))
    with context.Pool(1) as pool:
        return pool.apply(_measure_here, (str(run_dir), list(texts), batch_size, quantize, threads))


def _plan_here(run_dir: str, batch_size: int, threads: int | None) -> None:
    import torch

    from ..loading import inference_plan, load_run

    if threads:
        torch.set_num_threads(threads)
    inference_plan(load_run(run_dir), batch_size=batch_size)


def peak_memory_mb() -> float:
    """This process's peak resident memory. Linux: VmHWM, which starts afresh in a new program;
    ru_maxrss would carry over the peak of the process that spawned this one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux, bytes on macOS


def _measure_here(run_dir: str, texts: list[str], batch_size: int, quantize: str, threads: int | None) -> dict:
    import torch

    from ..loading import inference_plan, load_run, task_of

    if threads:
        torch.set_num_threads(threads)
    before = peak_memory_mb()
    run = load_run(run_dir)
    plan = inference_plan(run, quantize, batch_size=batch_size)
    task = task_of(run)
    task.proba(plan.model, texts[:8], batch_size=batch_size, progress=False, precision=plan.precision)  # warm-up
    started = time.perf_counter()
    probs = task.proba(plan.model, texts, batch_size=batch_size, progress=False, precision=plan.precision)
    seconds = time.perf_counter() - started
    peak = peak_memory_mb()
    return {"texts": len(texts), "docs_per_s": round(len(texts) / max(seconds, 1e-9), 2), "inference": plan.description,
            "peak_memory_mb": round(peak, 1), "model_memory_mb": round(peak - before, 1),
            "threads": torch.get_num_threads(), "size_mb": size_on_disk_mb(run_dir), "probs": probs}


def time_pair(teacher: str | Path, student: str | Path, texts: list[str], *, batch_size: int = 64) -> dict:
    """Teacher and student each timed alone in a fresh process on `texts` (measure()), the share
    of texts they label alike, and the student's docs/s over the teacher's."""
    rows = {name: measure(path, texts, batch_size=batch_size) for name, path in (("teacher", teacher),
                                                                                  ("student", student))}
    predicted = {name: row.pop("probs").argmax(1) for name, row in rows.items()}
    return {"agreement": round(float((predicted["teacher"] == predicted["student"]).mean()), 4),
            "agreement_texts": len(texts), **rows,
            "speedup": round(rows["student"]["docs_per_s"] / max(rows["teacher"]["docs_per_s"], 1e-9), 2)}
