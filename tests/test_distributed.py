"""Two CPU processes (torchrun, gloo) train the same model as one process with the same global
batch, and only rank 0 writes the run dir and reports."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import yaml

import lmtune
from lmtune import artifacts as art


def test_torchrun_two_processes_match_one(toy_config, tmp_path):
    cfg = {**toy_config, "data": {**toy_config["data"], "dev": None, "dev_size": 0},
           "training": {**toy_config["training"], "group_by_length": False}}  # same batches in both runs
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text(yaml.safe_dump(cfg), encoding="utf-8")

    single = lmtune.train(lmtune.load_config(config_file, [f"output_dir={tmp_path / 'one'}", "training.batch_size=8"]),
                          progress=False, log=lambda m: None)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "lmtune", "train", str(config_file), "--set", f"output_dir={tmp_path / 'two'}",
                           "--set", "training.batch_size=4"],  # per process: global batch 8 as above
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("run dir:") == 1  # rank 0 reports, rank 1 stays quiet
    assert proc.stdout.count("precision: fp32") == 1

    info = art.read_json(tmp_path / "two" / art.RUN_FILE)
    assert info["status"] == "complete" and info["processes"] == 2
    two_metrics = art.read_json(tmp_path / "two" / art.METRICS_FILE)
    assert two_metrics["global_step"] == single.metrics["global_step"]  # 80 rows / global batch 8 x 4 epochs
    assert single.metrics["test"]["accuracy"] >= 0.8  # the comparison below is between models that learned

    texts = [ex.text for ex in single.data.test]
    probs = [np.array([[r["probabilities"][lb] for lb in ("neg", "pos")]
                       for r in lmtune.predict(tmp_path / run, texts, progress=False, quantize="none")])
             for run in ("one", "two")]
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-4)
