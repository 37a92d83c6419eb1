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
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measure_here, (str(run_dir), list(texts), batch_size, quantize, threads))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _measure_here(run_dir: str, texts: list[str], batch_size: int, quantize: str, threads: int | None) -> dict:
    import torch

    from ..evaluation.inference import plan_inference
    from ..loading import load_run, task_of

    if threads:
        torch.set_num_threads(threads)
    before = _peak_mb()
    run = load_run(run_dir)
    plan = plan_inference(run.model, run.info, quantize)
    task = task_of(run)
    task.proba(plan.model, texts[:8], batch_size=batch_size, progress=False, precision=plan.precision)  # warm-up
    started = time.perf_counter()
    probs = task.proba(plan.model, texts, batch_size=batch_size, progress=False, precision=plan.precision)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    return {"texts": len(texts), "docs_per_s": round(len(texts) / max(seconds, 1e-9), 2), "inference": plan.description,
            "peak_memory_mb": round(peak, 1), "model_memory_mb": round(peak - before, 1),
            "threads": torch.get_num_threads(), "size_mb": size_on_disk_mb(run_dir), "probs": probs}
