"""`lmtune data ...`: the data tools, each a thin wrapper around a function in lmtune.data."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

console = Console(soft_wrap=True)

data_app = typer.Typer(help="Build the labeled set: inspect, clean, split, augment, label-issues, select, merge.",
                       no_args_is_help=True)
TextColumn = typer.Option("text", "--text-column")
LabelColumn = typer.Option("label", "--label-column")


def _saved(report: dict, what: str) -> None:
    console.print_json(data={k: v for k, v in report.items() if not k.startswith("_") and k != "top"})
    console.print(f"{what}: [bold]{report.get('output')}[/bold]")


@data_app.command("inspect")
def data_inspect(file: Path = typer.Argument(..., help="CSV/TSV/JSONL/Parquet with text (and label) columns"),
                 dev: Optional[Path] = typer.Option(None, help="dev file: checked for leakage against FILE"),
                 test: Optional[Path] = typer.Option(None, help="test file: checked for leakage against FILE"),
                 model: str = typer.Option("default", help="tokenizer for token lengths: backbone or run dir"),
                 max_length: int = typer.Option(256), out: Optional[Path] = typer.Option(
                     None, "-o", "--output", help="report folder (default: FILE.inspect/)"),
                 text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """Rows, class balance, token lengths, duplicates, leakage and odd rows; JSON report and PNG plots."""
    from .artifacts import write_json
    from .curation.inspect import inspect_data, save_plots
    from .models import load_tokenizer

    out = out or file.with_name(file.name + ".inspect")
    others = {name: path for name, path in (("dev", dev), ("test", test)) if path}
    report = inspect_data(file, others=others, text_column=text_column, label_column=label_column,
                          tokenizer=load_tokenizer(model), max_length=max_length)
    plots = save_plots(report, out)
    report.pop("_lengths")
    write_json(out / "report.json", report)
    console.print(inspect_table(report))
    console.print(f"report: [bold]{out / 'report.json'}[/bold]; plots: {', '.join(p.name for p in plots)}")


def inspect_table(report: dict):
    from rich.table import Table

    table = Table(title=f"{report['file']}: {report['rows']} rows", show_header=False)
    classes = ", ".join(f"{k} {v}" for k, v in report["classes"].items())
    tokens = report["tokens"]
    dup, near = report["exact_duplicates"], report["near_duplicates"]
    for name, value in [
        ("classes", f"{classes} (largest/smallest {report['imbalance']})" if classes else "no labels"),
        ("unlabeled rows", report["unlabeled_rows"]), ("unreadable rows", len(report["rejected_rows"])),
        ("tokens p5/p50/p95/p99/max", f"{tokens['p5']} / {tokens['p50']} / {tokens['p95']} / {tokens['p99']} / "
                                      f"{tokens['max']}; {tokens['over_max_length']} over {tokens['max_length']}"),
        ("exact duplicates", f"{dup['extra_rows']} extra rows in {dup['groups']} groups; "
                             f"{dup['label_conflicts']} with conflicting labels"),
        ("near duplicates", f"{near['pairs']} pairs ({near['method']})"),
        ("leakage", f"{report['leakage']['pairs']} rows shared with other splits ({report['leakage']['exact']} exact)"
         if "leakage" in report else "give --dev/--test to check"),
        ("odd rows", len(report["odd_rows"]))]:
        table.add_row(name, str(value))
    return table


@data_app.command("clean")
def data_clean(file: Path = typer.Argument(...), out: Path = typer.Option(..., "-o", "--output"),
               html: bool = typer.Option(True, "--html/--keep-html", help="strip HTML tags and entities"),
               dedupe: bool = typer.Option(True, "--dedupe/--keep-duplicates", help="drop exact duplicates"),
               near_dedupe: bool = typer.Option(False, "--near-dedupe", help="drop near duplicates too (MinHash)"),
               pii: bool = typer.Option(False, "--mask-pii", help="mask emails, URLs, phone and card numbers"),
               text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """Normalise unicode and whitespace, strip HTML, drop duplicates, mask personal data; dropped rows listed."""
    from .curation.clean import clean_file

    report = clean_file(file, out, text_column=text_column, label_column=label_column, strip_tags=html, dedupe=dedupe,
                        near_dedupe=near_dedupe, pii=pii)
    _saved(report, "cleaned rows")


@data_app.command("split")
def data_split(file: Path = typer.Argument(...), out: Path = typer.Option(..., "-o", "--output", help="folder"),
               dev: float = typer.Option(0.1, help="fraction (< 1) or row count"),
               test: float = typer.Option(0.1, help="fraction (< 1) or row count"), seed: int = typer.Option(42),
               group_column: Optional[str] = typer.Option(None, help="rows sharing this value stay in one split"),
               text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """Stratified, seeded train/dev/test split (or by group); every column kept."""
    from .data.split import split_file

    report = split_file(file, out, dev=dev, test=test, seed=seed, group_column=group_column, text_column=text_column,
                        label_column=label_column)
    for name, split in report["splits"].items():
        console.print(f"{name}: {split['rows']} rows -> {split['file']}")


@data_app.command("augment")
def data_augment(file: Path = typer.Argument(...), out: Path = typer.Option(..., "-o", "--output"),
                 method: str = typer.Option(..., "--method", help="an augmenter (lmtune ls)"),
                 n: int = typer.Option(2, "--n", help="augmented copies per row"), seed: int = typer.Option(42),
                 option: List[str] = typer.Option([], "--option", help="augmenter option key=value, e.g. rate=0.2, "
                                                  "forward=Helsinki-NLP/opus-mt-en-de (repeatable)"),
                 text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """Rows plus N augmented copies each, labels carried over, copies marked with their source row."""
    import yaml

    from .data.augment import augment_file

    options = {k: yaml.safe_load(v) for k, _, v in (o.partition("=") for o in option)}
    report = augment_file(file, out, method, n=n, seed=seed, text_column=text_column, label_column=label_column,
                          options=options)
    _saved(report, "rows with augmented copies")


@data_app.command("label-issues")
def data_label_issues(file: Path = typer.Argument(...), out: Path = typer.Option(..., "-o", "--output"),
                      model: str = typer.Option("default", help="encoder: a run dir or backbone"),
                      folds: int = typer.Option(5), seed: int = typer.Option(42),
                      text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """Rank rows by how likely their label is wrong (cross-validated, confident learning), with a suggested label."""
    from .curation.label_issues import find_label_issues

    report = find_label_issues(file, out, model=model, folds=folds, seed=seed, text_column=text_column,
                               label_column=label_column)
    _saved(report, "rows ranked by suspicion")


@data_app.command("budget")
def data_budget(file: Path = typer.Argument(..., help="the labeled rows so far (text and label columns)"),
                model: str = typer.Option("default", help="encoder: a run dir or backbone"),
                target: List[int] = typer.Option([8, 16, 32], "--target", help="labels per class to predict (repeat)"),
                seeds: int = typer.Option(20, help="reshuffles of the labeled rows the curve is measured over"),
                seed: int = typer.Option(42),
                out: Optional[Path] = typer.Option(None, "-o", "--output", help="report folder (default: FILE.budget/)"),
                text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """How many labels to add: a learning curve of the labels so far, extrapolated; JSON report and PNG."""
    from .curation.budget import label_budget

    out = out or file.with_name(file.name + ".budget")
    report = label_budget(file, out, model=model, targets=tuple(target), seeds=seeds, seed=seed,
                          text_column=text_column, label_column=label_column)
    for k, row in report["measured"].items():
        console.print(f"{k:>4} per class: {100 * row['mean']:.1f}% ± {100 * row['std']:.1f} (measured, {seeds} seeds)")
    for line in report["advice"] or ["every target is at or below the labels you have"]:
        console.print(line)
    console.print(f"({report['what']}) report: [bold]{out / 'budget.json'}[/bold]; plot: {report['plot']}")


@data_app.command("select")
def data_select(pool: Path = typer.Argument(..., help="unlabeled rows (a label column, if any, is ignored)"),
                model: Path = typer.Option(..., "--model", help="a finished run trained on the labeled set"),
                out: Path = typer.Option(..., "-o", "--output", help="CSV for the annotator"),
                budget: int = typer.Option(..., "--budget", help="rows to label"),
                strategy: str = typer.Option("entropy", help="entropy | margin | least-confidence | kcenter | random"),
                labeled: Optional[Path] = typer.Option(None, help="labeled set: its rows are never picked again"),
                seed: int = typer.Option(42), text_column: str = TextColumn) -> None:
    """Pick the N pool rows to label next; writes them with an empty label column."""
    from .curation.active_learning import select_file

    report = select_file(pool, model, out, budget=budget, strategy=strategy, labeled_path=labeled, seed=seed,
                         text_column=text_column)
    _saved(report, "rows to annotate")


@data_app.command("merge")
def data_merge(annotated: Path = typer.Argument(..., help="the file from `data select`, labels filled in"),
               labeled: Path = typer.Option(..., "--into", help="the labeled set"),
               out: Path = typer.Option(..., "-o", "--output"),
               allow_new_labels: bool = typer.Option(False, help="accept labels the labeled set does not have"),
               text_column: str = TextColumn, label_column: str = LabelColumn) -> None:
    """Fold annotated rows into the labeled set, refusing empty or unknown labels with their row."""
    from .curation.active_learning import merge_files

    _saved(merge_files(annotated, labeled, out, text_column=text_column, label_column=label_column,
                       allow_new_labels=allow_new_labels), "merged labeled set")
