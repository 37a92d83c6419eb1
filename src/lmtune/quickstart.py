"""`lmtune quickstart`: the packaged MiniLM fine-tuned on packaged BBC News with 4 labels per class."""
from __future__ import annotations

from .config import load_config

# Few-shot defaults, chosen on this task and written down in BENCHMARKS.md.
PRESET = {
    "data": {"builtin": "bbc_news", "test_size": 1000, "dev_size": 0, "labels_per_class": 4},
    "model": {"name": "default", "max_length": 256, "head_init": "prototype"},
    # no dev set: every label goes to training; fixed epochs instead of early stopping
    "training": {"epochs": 15, "batch_size": 8, "learning_rate": 1e-4, "warmup": 0.1},
    "output_dir": "runs/quickstart",
}


def quickstart_config(labels_per_class: int = 4, output_dir: str = "runs/quickstart", overrides=()):
    base = {**PRESET, "output_dir": output_dir,
            "data": {**PRESET["data"], "labels_per_class": labels_per_class}}
    return load_config(None, list(overrides), base=base)
