"""What training prints: readable lines per log and evaluation step, no raw dicts."""
from __future__ import annotations

from lmtune.training.progress import readable


def test_readable_log_lines():
    assert readable({"loss": "0.69314", "grad_norm": 2.3071, "learning_rate": 8e-05, "epoch": 1.5}) == \
        "loss 0.6931, grad norm 2.3071, lr 8.0e-05"
    assert readable({"eval_loss": 0.41, "eval_macro_f1": 0.8123, "eval_runtime": 3.2, "pseudo_labels": 120}) == \
        "loss 0.4100, macro_f1 0.8123, pseudo_labels 120"
    assert readable({"loss": float("nan"), "grad_norm": float("inf")}) == "loss nan, grad norm inf"


def test_training_logs_readable_lines_and_no_dicts(toy_config, capsys):
    import lmtune
    from lmtune.recipes.validation import validate_config

    logged = []
    lmtune.train(validate_config(toy_config), progress=False, log=logged.append)
    steps = [m for m in logged if m.startswith("step ")]
    assert steps and all("loss" in m for m in steps), logged
    assert steps[0].startswith("step 5/40, epoch") and any(m.startswith("dev at step 10: ") for m in logged)
    assert any(m.startswith("trained 40 steps in ") for m in logged)
    out = capsys.readouterr()
    assert "{'loss'" not in out.out + out.err and "'eval_loss'" not in out.out + out.err
