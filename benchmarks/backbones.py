"""The packaged backbones side by side: training samples/s and inference docs/s of MiniLM
(`default`) and all-mpnet-base-v2 (`mpnet`) in one run on one machine, in each precision the
CPU can take (fp32, bf16 autocast where the CPU has AVX512-BF16/AMX, int8 dynamic quantization
for inference); mpnet's rows also with transformers' own attention (`eager attn`) beside
lmtune's fused one.

Same data for every row: BBC News (long texts, max length 256), 4 labels per class for
training (15 epochs, lmtune's defaults otherwise), the same held-out docs for accuracy and
inference; each row in a fresh process (throughput.py's row runner), so its peak RSS is its own.

    python benchmarks/backbones.py                      # both backbones, ~25 min on 2 cores
    python benchmarks/backbones.py --models mpnet --test-docs 200
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import throughput  # noqa: E402  (the row runner and the lmtune train/infer rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["default", "mpnet"])
    parser.add_argument("--test-docs", type=int, default=300)
    args = parser.parse_args()

    from _machine import quiet_and_describe
    from lmtune.device import choose_precision

    print(quiet_and_describe(f"test docs: {args.test_docs}"), flush=True)
    auto = choose_precision("auto")
    print(f"# precision auto -> {auto.precision} ({auto.reason})", flush=True)
    precisions = ["fp32"] + (["bf16"] if auto.precision == "bf16" else [])
    common = {"labels_per_class": 4, "test_docs": args.test_docs}
    print(f"\n{'backbone':<9} {'row':<22} {'samples/s':>9} {'docs/s':>7} {'accuracy':>8} {'peak_MB':>7} {'wall_s':>7}  plan")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            run_dir = f"{tmp}/{model}"
            # the last trained run (auto's precision, fused attention) is what inference scores
            train_rows = [(f"train {p}{suffix}", p, env) for p in precisions for suffix, env in variants(model)]
            for name, precision, env in sorted(train_rows, key=lambda row: (row[1] == auto.precision, not row[2])):
                r = throughput.run_row("lmtune_train", tmp=tmp, run_dir=run_dir, env=env, **common,
                                       overrides=[f"model.name={model}", f"training.precision={precision}"])
                _print(model, name, r, "samples_per_s")
            for name, quantize, precision in [("predict fp32", "none", "fp32"), ("predict bf16", "none", "bf16"),
                                              ("predict int8", "int8", "fp32")]:
                if precision not in precisions:
                    continue
                for suffix, env in variants(model):
                    r = throughput.run_row("lmtune_infer", tmp=tmp, model_dir=run_dir, quantize=quantize,
                                           precision=precision, env=env, **common)
                    _print(model, name + suffix, r, "docs_per_s")


def variants(model: str) -> list[tuple[str, dict]]:
    """Each row as lmtune runs it; for mpnet also with transformers' own (eager) attention."""
    return [("", {})] + ([(" eager attn", {"LMTUNE_FUSED_ATTENTION": "0"})] if model == "mpnet" else [])


def _print(model: str, row: str, r: dict, rate: str) -> None:
    if "error" in r:
        print(f"{model:<9} {row:<22} failed: {r['error']}", flush=True)
        return
    samples = f"{r['samples_per_s']:>9.2f}" if rate == "samples_per_s" else f"{'':>9}"
    docs = f"{r['docs_per_s']:>7.1f}" if rate == "docs_per_s" else f"{'':>7}"
    print(f"{model:<9} {row:<22} {samples} {docs} {r['accuracy']:>8.4f} {r['peak_rss_mb']:>7.0f} {r['wall_s']:>7.1f}  "
          f"{r.get('plan', '')}", flush=True)


if __name__ == "__main__":
    main()
