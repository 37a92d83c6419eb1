"""`lmtune distill`: teacher vs student accuracy and speed on this CPU, per setting and seed.

Each setting trains a teacher the way label_efficiency.py trains that method (same split, 4
labels per class, the rest of the pool unlabeled), then distils it into the student with
`lmtune distill` defaults (plus any --set). The student's int8 row is timed against its fp32
row in the same process order. Rows go to benchmarks/results/distill.jsonl as they finish; a
killed run resumes (teachers are kept under --work and reused by later students).

    python benchmarks/distill.py --settings bbc-layers3 --seeds 42
    python benchmarks/distill.py --settings rt-mpnet-minilm --seeds 42
    python benchmarks/distill.py --settings bbc-layers3 --seeds 42 --set method.temperature=1   # a variant
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "distill.jsonl"

# setting -> (dataset, teacher backbone, teacher method as label_efficiency.py names it, student, pool cap)
SETTINGS = {
    "bbc-layers3": ("bbc_news", "default", "self-training", "layers:3", None),
    "rt-mpnet-minilm": ("rotten_tomatoes", "mpnet", "self-training+desc", "default", 3000),
    "rt-mpnet-layers6": ("rotten_tomatoes", "mpnet", "self-training+desc", "layers:6", 3000),
}
LABELS_PER_CLASS = 4
TEST_SIZE = 1000
TIMED_TEXTS = 256


def teacher_run(setting: str, seed: int, work: Path, log) -> tuple[Path, dict]:
    """The setting's teacher, trained once (a complete run under `work` is reused)."""
    from label_efficiency import data_config, method_overrides
    from lmtune.artifacts import METRICS_FILE, RUN_FILE, read_json
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    dataset, backbone, method, _, cap = SETTINGS[setting]
    path = work / f"{dataset}-{backbone}-{method}-seed{seed}"
    if (path / RUN_FILE).is_file() and read_json(path / RUN_FILE).get("status") == "complete":
        return path, {"teacher_wall_s": read_json(path / METRICS_FILE).get("wall_seconds")}
    overrides = data_config(dataset, LABELS_PER_CLASS, TEST_SIZE, cap) + [f"seed={seed}", f"model.name={backbone}"]
    cfg = quickstart_config(LABELS_PER_CLASS, str(path), overrides + method_overrides(method, dataset))
    wall, cpu = time.perf_counter(), time.process_time()
    train(cfg, overwrite=True, progress=False, log=log)
    return path, {"teacher_wall_s": round(time.perf_counter() - wall, 1),
                  "teacher_cpu_s": round(time.process_time() - cpu, 1)}


def run_row(setting: str, seed: int, args, log) -> dict:
    from lmtune.artifacts import RUN_FILE, read_json
    from lmtune.recipes.distill import distill
    from lmtune.recipes.inference_speed import measure

    teacher, teacher_times = teacher_run(setting, seed, args.work, log)
    student = SETTINGS[setting][3]
    out = args.work / f"{teacher.name}-student-{student.replace(':', '')}{''.join('-' + s for s in args.set)}"
    wall, cpu = time.perf_counter(), time.process_time()
    result = distill(teacher, student, output_dir=out, overrides=args.set, overwrite=True, progress=False, log=log)
    distill_wall, distill_cpu = round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1)
    c = result.comparison
    texts = [ex.text for ex in result.data.test[:TIMED_TEXTS]]
    precision = {q: measure(result.run_dir, texts, quantize=q) for q in ("none", "int8")}  # student fp32 vs int8
    check = read_json(result.run_dir / RUN_FILE).get("int8_check") or {}
    return {"setting": setting, "seed": seed, "dataset": SETTINGS[setting][0], "teacher_model": SETTINGS[setting][1],
            "teacher_method": SETTINGS[setting][2], "student": student, "overrides": args.set,
            "teacher_accuracy": c["teacher"]["accuracy"], "student_accuracy": c["student"]["accuracy"],
            "agreement": c["agreement"], "teacher_docs_s": c["teacher"]["docs_per_s"],
            "student_docs_s": c["student"]["docs_per_s"], "speedup": c["speedup"],
            "teacher_inference": c["teacher"]["inference"], "student_inference": c["student"]["inference"],
            "teacher_mb": c["teacher"]["size_mb"], "student_mb": c["student"]["size_mb"],
            "teacher_peak_mb": c["teacher"]["peak_memory_mb"], "student_peak_mb": c["student"]["peak_memory_mb"],
            "student_fp32_docs_s": precision["none"]["docs_per_s"], "student_int8_docs_s": precision["int8"]["docs_per_s"],
            "student_int8_check": {k: check.get(k) for k in ("checked_texts", "fp32_accuracy", "int8_accuracy",
                                                             "label_agreement", "use_int8")},
            "pool": result.metrics.get("distillation", {}).get("pool") or read_json(result.run_dir / RUN_FILE).get(
                "distillation", {}).get("pool"),
            "steps": result.metrics.get("global_step"), "distill_wall_s": distill_wall, "distill_cpu_s": distill_cpu,
            **teacher_times}


def summarise(rows: list[dict]) -> None:
    from _rows import mean_sd

    print(f"\n{'setting':<18} {'overrides':<28} {'n':>2} {'teacher %':>10} {'student %':>14} {'agree %':>8} "
          f"{'speedup':>8} {'int8/fp32':>9} {'MB t/s':>12}")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["setting"], " ".join(r["overrides"])), []).append(r)
    for (setting, overrides), rs in groups.items():
        print(f"{setting:<18} {overrides or '(defaults)':<28} {len(rs):>2} "
              f"{mean_sd([r['teacher_accuracy'] for r in rs], 100):>10} {mean_sd([r['student_accuracy'] for r in rs], 100):>14} "
              f"{mean_sd([r['agreement'] for r in rs], 100):>8} {mean_sd([r['speedup'] for r in rs], 1, 2):>8} "
              f"{mean_sd([r['student_int8_docs_s'] / r['student_fp32_docs_s'] for r in rs], 1, 2):>9} "
              f"{rs[0]['teacher_mb']:>5.0f}/{rs[0]['student_mb']:<5.0f}")


def main() -> None:
    from _machine import quiet_and_describe
    from _rows import append_row, load_rows

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], help="overrides of the student's config (a variant)")
    parser.add_argument("--work", type=Path, default=Path("runs/benchmark-distill"), help="teachers and students")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--log", action="store_true", help="print the runs' log lines")
    args = parser.parse_args()
    print(quiet_and_describe(f"labels/class: {LABELS_PER_CLASS}  test: {TEST_SIZE}"), flush=True)
    log = (lambda m: print(f"  {m}", file=sys.stderr, flush=True)) if args.log else (lambda m: None)
    rows = load_rows(args.results)
    for setting in args.settings:
        for seed in args.seeds:
            if any(r["setting"] == setting and r["seed"] == seed and r["overrides"] == args.set for r in rows):
                continue
            append_row(args.results, run_row(setting, seed, args, log), rows)
    summarise(rows)
    print(json.dumps({"rows": len(rows)}))


if __name__ == "__main__":
    main()
