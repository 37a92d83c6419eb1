"""Classification metrics on small scored files."""
from __future__ import annotations

from lmtune.evaluation.report import classification_metrics, metrics_table


def test_macro_f1_averages_only_the_classes_present():
    labels = ["a", "b", "c", "d", "e"]
    metrics = classification_metrics([0, 0, 1, 1, 1], [0, 0, 1, 1, 1], labels)  # 5 rows, all right, 2 classes
    assert metrics["accuracy"] == 1.0
    assert metrics["macro_f1"] == 1.0  # not 0.4: c, d, e are in neither labels nor predictions
    assert metrics["macro_classes"] == ["a", "b"]
    assert metrics["per_class"]["c"]["support"] == 0


def test_a_predicted_class_absent_from_the_labels_still_counts():
    metrics = classification_metrics([0, 0, 1, 1], [0, 2, 1, 1], ["a", "b", "c"])
    assert metrics["macro_classes"] == ["a", "b", "c"]
    assert 0 < metrics["macro_f1"] < 1  # c: predicted once, never right -> F1 0 counts


def test_the_table_says_what_the_macro_average_covers():
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(metrics_table(classification_metrics([0, 1], [0, 1], ["a", "b", "c"]), "test"))
    text = console.export_text()
    assert "macro averages over the 2 classes present" in text and "(a, b)" in text
