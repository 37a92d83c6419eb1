"""The packaged backbones side by side on this CPU, in one process and one run: training steps
(forward, backward, AdamW) and inference of MiniLM (`default`) and all-mpnet-base-v2 (`mpnet`),
in each precision the CPU can take: fp32, bf16 autocast (AVX512-BF16 / AMX CPUs only), int8
dynamic quantization (inference). mpnet's rows also run with transformers' own (eager)
attention beside lmtune's fused one (LMTUNE_FUSED_ATTENTION=0), row by row in turn.

Data: real BBC News articles cut at max length 256 (the quickstart's setting), batch 8 for
training (lmtune's few-shot default), the same 64 articles for inference through lmtune's
`predict_proba` (length-sorted, token-budget batches). A warm-up step or pass precedes each
timed row. Step-level, not end to end: data loading, evaluation and saving are not in it.

    python benchmarks/backbones.py                 # ~5 min alone on 2 cores
    python benchmarks/backbones.py --steps 10 --docs 128
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

MAX_LENGTH = 256


def build(name: str, eager: bool, labels: list[str]):
    from lmtune.models import config_overrides, load_tokenizer, resolve_backbone
    from lmtune.tasks import get_task

    os.environ["LMTUNE_FUSED_ATTENTION"] = "0" if eager else "1"
    task = get_task("classification")(labels, load_tokenizer(name), MAX_LENGTH)
    source = resolve_backbone(name)
    model, _ = task.build_model(source, **config_overrides(source, None, 0.0))  # lmtune's default: no attention dropout
    os.environ.pop("LMTUNE_FUSED_ATTENTION")
    return model, task.tokenizer


def train_rate(model, tokenizer, texts: list[str], steps: int, precision: str) -> float:
    import torch

    batch = tokenizer(texts[:8], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt")
    batch["labels"] = torch.arange(8) % model.config.num_labels
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    model.train()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return 8 * steps / (time.perf_counter() - started)


def infer_rate(model, tokenizer, texts: list[str], precision: str) -> float:
    from lmtune.evaluation.predict import predict_proba

    model.eval()
    predict_proba(model, tokenizer, texts[:8], max_length=MAX_LENGTH, progress=False, precision=precision)
    started = time.perf_counter()
    predict_proba(model, tokenizer, texts, max_length=MAX_LENGTH, progress=False, precision=precision)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["default", "mpnet"])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per row")
    parser.add_argument("--docs", type=int, default=64, help="articles scored per inference row")
    args = parser.parse_args()

    from _machine import quiet_and_describe
    from lmtune.data.builtin import load_builtin
    from lmtune.device import choose_precision
    from lmtune.evaluation.inference import int8_copy

    print(quiet_and_describe(f"batch 8, max length {MAX_LENGTH}, {args.steps} steps, {args.docs} docs"), flush=True)
    auto = choose_precision("auto")
    print(f"# precision auto -> {auto.precision} ({auto.reason})", flush=True)
    precisions = ["fp32"] + (["bf16"] if auto.precision == "bf16" else [])
    bbc = load_builtin("bbc_news").examples
    texts = [e.text for e in bbc[:: len(bbc) // args.docs][: args.docs]]
    labels = sorted({e.label for e in bbc})
    print(f"\n{'backbone':<8} {'attention':<9} {'precision':<9} {'train samples/s':>15} {'predict docs/s':>14}", flush=True)
    for name in args.models:
        # mpnet's fused and eager rows alternate, so both see the same background load
        models = {("eager" if eager else "fused" if name == "mpnet" else "sdpa"): build(name, eager, labels)
                  for eager in ([False, True] if name == "mpnet" else [False])}
        for precision in precisions + ["int8"]:
            for attention, (model, tokenizer) in models.items():
                if precision == "int8":
                    train, infer = None, infer_rate(int8_copy(model), tokenizer, texts, "fp32")
                else:
                    train = train_rate(model, tokenizer, texts, args.steps, precision)
                    infer = infer_rate(model, tokenizer, texts, precision)
                shown = f"{train:>15.2f}" if train is not None else f"{'':>15}"
                print(f"{name:<8} {attention:<9} {precision:<9} {shown} {infer:>14.1f}", flush=True)

if __name__ == "__main__":
    main()
