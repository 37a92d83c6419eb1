"""`lmtune distill`: teacher vs student accuracy and speed on this CPU, per setting and seed.

Each setting trains a teacher the way label_efficiency.py trains that method (same split, 4
labels per class, the rest of the pool unlabeled), then distils it into the student with
`lmtune distill` defaults (plus any --set). The student's int8 row is timed against its fp32
row. Every model is timed alone in a fresh process as `lmtune predict` would run it (the
inference engine measured fastest on this machine). Rows go to benchmarks/results/distill.jsonl
as they finish; a killed run resumes (teachers are kept under --work and reused by later
students); --retime times the finished rows' models again with the current code.

    python benchmarks/distill.py --settings bbc-layers3 --seeds 42
    python benchmarks/distill.py --settings rt-mpnet-minilm --seeds 42
    python benchmarks/distill.py --settings bbc-layers3 --seeds 42 --set method.temperature=1   # a variant
    python benchmarks/distill.py --retime
    python benchmarks/distill.py --settings rt-mpnet-minilm --seeds 42 --dev --set method.temperature=1   # tuning

`--dev` is for tuning a student: the dataset's test split is taken out first (written once under
--work), teacher and student are trained on the rest and scored on a dev split of it (another
split seed), and the rows are recorded with "split": "dev" and summarised apart, so no choice is
made on the test sentences.
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


def teacher_run(setting: str, seed: int, work: Path, log, dev: bool = False) -> tuple[Path, dict]:
    """The setting's teacher, trained once (a complete run under `work` is reused); `dev`: on the
    dataset without its test split, scored on a dev split of the rest."""
    from label_efficiency import data_config, method_overrides, without_test_split
    from lmtune.artifacts import METRICS_FILE, RUN_FILE, read_json
    from lmtune.quickstart import quickstart_config
    from lmtune.recipes.finetune import train

    dataset, backbone, method, _, cap = SETTINGS[setting]
    path = work / f"{dataset}-{backbone}-{method}-seed{seed}{'-dev' if dev else ''}"
    if (path / RUN_FILE).is_file() and read_json(path / RUN_FILE).get("status") == "complete":
        return path, {"teacher_wall_s": read_json(path / METRICS_FILE).get("wall_seconds")}
    dev_file = None
    if dev:
        dev_file = work / f"{dataset}-without-test.jsonl"
        if not dev_file.is_file():
            work.mkdir(parents=True, exist_ok=True)
            without_test_split(dataset, TEST_SIZE, dev_file)
    overrides = data_config(dataset, LABELS_PER_CLASS, TEST_SIZE, cap, dev_file) + [f"seed={seed}",
                                                                                  f"model.name={backbone}"]
    cfg = quickstart_config(LABELS_PER_CLASS, str(path), overrides + method_overrides(method, dataset))
    wall, cpu = time.perf_counter(), time.process_time()
    train(cfg, overwrite=True, progress=False, log=log)
    return path, {"teacher_wall_s": round(time.perf_counter() - wall, 1),
                  "teacher_cpu_s": round(time.process_time() - cpu, 1)}


def timings(teacher: Path, student: Path, seed: int) -> dict:
    """Both models timed on this machine as `lmtune predict` runs them (each in a fresh process),
    the student also in fp32 and int8, and how often they agree; the engines are measured first
    on the held-out texts each run keeps (saved here for runs trained before they were kept)."""
    from lmtune.artifacts import CONFIG_FILE, RUN_FILE, read_json
    from lmtune.data import prepare_data
    from lmtune.export.engines import ENGINES_DIR, check_texts, save_check_texts
    from lmtune.recipes.inference_speed import measure, time_pair
    from lmtune.recipes.validation import load_config

    cfg = load_config(student / CONFIG_FILE)
    data = prepare_data(cfg.data, seed, "classification", cfg.task_options)
    labels = read_json(student / RUN_FILE)["labels"]
    for run in (teacher, student):
        if check_texts(run / ENGINES_DIR) is None:
            save_check_texts(run / ENGINES_DIR, [ex.text for ex in data.test], [labels.index(ex.label) for ex in data.test])
    texts = [ex.text for ex in data.test[:TIMED_TEXTS]]
    pair = time_pair(teacher, student, texts)  # the comparison `lmtune distill` prints
    precision = {q: measure(student, texts, quantize=q) for q in ("none", "int8")}
    return {"agreement": pair["agreement"], "timed_texts": len(texts),
            **{f"{name}_{key}": pair[name][key] for name in ("teacher", "student")
               for key in ("docs_per_s", "inference", "size_mb", "peak_memory_mb", "model_memory_mb")},
            "speedup": pair["speedup"],
            "student_fp32_docs_s": precision["none"]["docs_per_s"], "student_int8_docs_s": precision["int8"]["docs_per_s"]}


def run_row(setting: str, seed: int, args, log) -> dict:
    from lmtune.artifacts import METRICS_FILE, RUN_FILE, read_json
    from lmtune.recipes.distill import distill

    teacher, teacher_times = teacher_run(setting, seed, args.work, log, args.dev)
    student = SETTINGS[setting][3]
    out = student_dir(teacher, student, args.set)
    wall, cpu = time.perf_counter(), time.process_time()
    result = distill(teacher, student, output_dir=out, overrides=args.set, overwrite=True, compare=False,
                     progress=False, log=log)
    distill_wall, distill_cpu = round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1)
    check = read_json(result.run_dir / RUN_FILE).get("int8_check") or {}
    return {"setting": setting, "seed": seed, "split": split_of(args), "dataset": SETTINGS[setting][0],
            "teacher_model": SETTINGS[setting][1],
            "teacher_method": SETTINGS[setting][2], "student": student, "overrides": args.set,
            "teacher_dir": str(teacher), "student_dir": str(out),
            "teacher_accuracy": read_json(teacher / METRICS_FILE)["test"]["accuracy"],
            "student_accuracy": result.metrics["test"]["accuracy"],
            "student_int8_check": {k: check.get(k) for k in ("checked_texts", "fp32_accuracy", "int8_accuracy",
                                                             "label_agreement", "use_int8")},
            "pool": read_json(result.run_dir / RUN_FILE)["distillation"]["pool"],
            "steps": result.metrics.get("global_step"), "distill_wall_s": distill_wall, "distill_cpu_s": distill_cpu,
            **teacher_times, **timings(teacher, out, seed)}


def split_of(args) -> str:
    """What a row's accuracy columns score: the test split, or (--dev) a dev split."""
    return "dev" if args.dev else "test"


def student_dir(teacher: Path, student: str, overrides: list[str]) -> Path:
    return teacher.parent / f"{teacher.name}-student-{student.replace(':', '')}{''.join('-' + s for s in overrides)}"


def retime(rows: list[dict], args) -> None:
    """Time the models of finished rows again with this version's inference (a new row each,
    `retimed`: the accuracy columns copied, the timing columns measured now)."""
    from _rows import append_row

    for row in [r for r in rows if not r.get("retimed")]:
        teacher = Path(row.get("teacher_dir") or args.work / f"{row['dataset']}-{row['teacher_model']}-"
                                                             f"{row['teacher_method']}-seed{row['seed']}")
        student = Path(row.get("student_dir") or student_dir(teacher, row["student"], row["overrides"]))
        if not (teacher.is_dir() and student.is_dir()):
            print(f"# {row['setting']} seed {row['seed']}: runs not found under {args.work}; not retimed", flush=True)
            continue
        kept = {k: row[k] for k in ("setting", "seed", "dataset", "teacher_model", "teacher_method", "student", "overrides",
                                    "teacher_accuracy", "student_accuracy", "student_int8_check", "pool", "steps")}
        kept["split"] = row.get("split", "test")
        append_row(args.results, {**kept, "teacher_dir": str(teacher), "student_dir": str(student), "retimed": True,
                                  **timings(teacher, student, row["seed"])}, rows)


def summarise(rows: list[dict]) -> None:
    """Mean ± sd per setting and variant; a row's latest timing (a retimed row) replaces its first."""
    from _rows import mean_sd

    latest = {}
    for r in rows:
        latest[(r.get("split", "test"), r["setting"], r["seed"], tuple(r["overrides"]))] = r
    rows = list(latest.values())

    print(f"\n{'split':<5} {'setting':<18} {'overrides':<28} {'n':>2} {'teacher %':>10} {'student %':>14} {'agree %':>8} "
          f"{'speedup':>8} {'int8/fp32':>9} {'MB t/s':>12}")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("split", "test"), r["setting"], " ".join(r["overrides"])), []).append(r)
    for (split, setting, overrides), rs in groups.items():
        timed = [r for r in rs if "speedup" in r]  # a row whose timing step was stopped has accuracy only
        sizes = f"{timed[0]['teacher_size_mb']:>5.0f}/{timed[0]['student_size_mb']:<5.0f}" if timed else f"{'–':>12}"
        print(f"{split:<5} {setting:<18} {overrides or '(defaults)':<28} {len(rs):>2} "
              f"{mean_sd([r['teacher_accuracy'] for r in rs], 100):>10} {mean_sd([r['student_accuracy'] for r in rs], 100):>14} "
              f"{mean_sd([r['agreement'] for r in timed], 100):>8} {mean_sd([r['speedup'] for r in timed], 1, 2):>8} "
              f"{mean_sd([r['student_int8_docs_s'] / r['student_fp32_docs_s'] for r in timed], 1, 2):>9} {sizes}")


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
    parser.add_argument("--dev", action="store_true", help="tuning: teacher and student without the test split, "
                                                           "scored on a dev split of the rest")
    parser.add_argument("--retime", action="store_true", help="time the finished rows' models again (this version's "
                                                              "inference), nothing trained")
    args = parser.parse_args()
    print(quiet_and_describe(f"labels/class: {LABELS_PER_CLASS}  test: {TEST_SIZE}"), flush=True)
    log = (lambda m: print(f"  {m}", file=sys.stderr, flush=True)) if args.log else (lambda m: None)
    rows = load_rows(args.results)
    if args.retime:
        retime(rows, args)
        summarise(rows)
        return
    for setting in args.settings:
        for seed in args.seeds:
            if any(r["setting"] == setting and r["seed"] == seed and r["overrides"] == args.set
                   and r.get("split", "test") == split_of(args) for r in rows):
                continue
            append_row(args.results, run_row(setting, seed, args, log), rows)
    summarise(rows)
    print(json.dumps({"rows": len(rows)}))


if __name__ == "__main__":
    main()
