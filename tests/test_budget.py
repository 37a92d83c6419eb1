"""`lmtune data budget`: the nested learning curve, its power-law fit (monotone, exact on a power
law), the report and PNG on a tiny model, and the refusal of a class too small to hold out."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import sentiment_rows, write_csv
from lmtune.curation.budget import label_budget
from lmtune.errors import DataError
from lmtune.evaluation.learning_curve import budgets_for, fit_curve, measure_curve, power_law, predict


def test_budgets_double_up_to_what_the_rarest_class_leaves():
    assert budgets_for(4) == [1, 2, 3]
    assert budgets_for(5) == [1, 2, 4]
    assert budgets_for(17) == [1, 2, 4, 8, 16]
    assert budgets_for(1) == []


def test_a_power_law_is_fitted_exactly_and_extrapolated():
    budgets = [1, 2, 4, 8]
    accuracy = [1 - 0.4 * k ** -0.5 for k in budgets]
    fit = power_law(budgets, accuracy)
    assert fit[1] == pytest.approx(0.5) and predict(fit, 64) == pytest.approx(1 - 0.4 / 8)


def test_predictions_stay_between_chance_and_certainty():
    """A probe below chance at first (noise on a few rows) is read as chance, never extrapolated below it."""
    falling = np.array([[0.5, 0.45, 0.4]])
    curve = fit_curve([1, 2, 4], falling, [8, 16], chance=0.5)
    assert all(0.5 <= curve.predicted[k] <= 1 for k in curve.targets)
    rising = np.array([[0.55, 0.6, 0.65]])  # what guessing leaves shrinks by a power law
    fit = power_law([1, 2, 4], rising[0], chance=0.5)
    assert fit[1] > 0 and 0.65 < predict(fit, 16, chance=0.5) < 1


def test_the_predicted_curve_never_falls_with_more_labels():
    noisy = np.array([[0.6, 0.58, 0.57], [0.55, 0.54, 0.5]])  # a curve that falls: the fit keeps it flat
    curve = fit_curve([1, 2, 4], noisy, [8, 16, 32, 64])
    values = [curve.predicted[k] for k in curve.targets]
    assert values == sorted(values) and all(curve.low[k] <= curve.high[k] for k in curve.targets)


def test_each_budget_is_scored_on_rows_it_did_not_train_on():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 10)
    features = rng.normal(size=(20, 4)) + 4 * y[:, None]  # separable
    accuracy = measure_curve(features, y, [1, 2, 4], seeds=3)
    assert accuracy.shape == (3, 3) and (accuracy == 1.0).all()


def test_budget_report_and_plot_on_a_tiny_model(tmp_path, tiny_backbone):
    src = write_csv(tmp_path / "labeled.csv", sentiment_rows(9, seed=2))
    report = label_budget(src, tmp_path / "out", model=str(tiny_backbone), targets=(16, 32), seeds=3, progress=False)
    assert list(report["measured"]) == ["1", "2", "4", "8"] and report["per_class"] == {"neg": 9, "pos": 9}
    assert report["predicted"]["32"]["accuracy"] >= report["predicted"]["16"]["accuracy"]
    assert "label about 14 more texts" in report["advice"][0] and "lmtune data select" in report["advice"][0]
    png = tmp_path / "out" / "budget.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "out" / "budget.json").exists()


def test_a_class_with_one_row_is_refused_with_the_fix(tmp_path, tiny_backbone):
    rows = sentiment_rows(4, seed=1)
    rows = [r for r in rows if r["label"] == "pos"] + [next(r for r in rows if r["label"] == "neg")]
    src = write_csv(tmp_path / "labeled.csv", rows)
    with pytest.raises(DataError, match="class 'neg' has 1 labeled row") as err:
        label_budget(src, tmp_path / "out", model=str(tiny_backbone), progress=False)
    assert "at least 2 rows of every class" in str(err.value)


def test_data_budget_command_prints_the_advice_and_writes_the_report(tmp_path, tiny_backbone, capsys):
    from test_cli import cli

    src = write_csv(tmp_path / "labeled.csv", sentiment_rows(5, seed=4))
    assert cli("data", "budget", str(src), "--model", str(tiny_backbone), "--target", "16", "--seeds", "3") == 0
    out = capsys.readouterr().out
    assert "4 per class:" in out and "at 16 per class expect" in out and "label about 22 more texts" in out
    assert (tmp_path / "labeled.csv.budget" / "budget.png").exists()
