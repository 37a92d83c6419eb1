"""The model card of a run dir (README.md, the Hugging Face layout: YAML metadata, then prose).

Built from the run's own records only (run file, config, data summary, metrics, eval/*), so it
is rewritten whole whenever they change (training ends, `lmtune eval` scores a file, an export)
and never says what the records do not.
"""
from __future__ import annotations

import json
from pathlib import Path

CARD_FILE = "README.md"
PIPELINE_TAGS = {"classification": "text-classification", "token-classification": "token-classification",
                 "generation": "text-generation", "pretrain": "fill-mask"}
HEADLINE = ("accuracy", "macro_f1", "f1", "ece", "loss", "perplexity", "exact_match")


def _read(path: Path, parse=json.loads):
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _numbers(metrics: dict) -> dict:
    return {k: metrics[k] for k in HEADLINE if isinstance(metrics.get(k), (int, float))}


def _metrics_rows(name: str, metrics: dict) -> list[str]:
    shown = _numbers(metrics)
    return [f"| {name} | {metrics.get('n', '')} | " + ", ".join(f"{k} {v:.4f}" for k, v in shown.items()) + " |"]


def _yaml_front_matter(task: str, backbone: str, labels: list, results: list[tuple[str, dict]]) -> list[str]:
    import yaml

    meta = {"library_name": "transformers", "pipeline_tag": PIPELINE_TAGS.get(task, task),
            "tags": ["lmtune", task], "base_model": backbone}
    if results:
        meta["model-index"] = [{"name": "lmtune run", "results": [
            {"task": {"type": PIPELINE_TAGS.get(task, task)}, "dataset": {"name": name, "type": "custom"},
             "metrics": [{"type": k, "value": round(float(v), 4)} for k, v in _numbers(metrics).items()]}
            for name, metrics in results]}]
    return ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---"]


def model_card(run_dir: Path) -> str:
    """The card's text, from the records in `run_dir`."""
    import yaml

    info = _read(run_dir / "lmtune_run.json") or {}
    config = _read(run_dir / "lmtune_config.yaml", yaml.safe_load) or {}
    data = _read(run_dir / "data.json") or {}
    metrics = _read(run_dir / "metrics.json") or {}
    task, backbone = info.get("kind") or info.get("task", "unknown"), info.get("backbone", "unknown")
    labels = list(info.get("labels") or [])
    data_cfg = config.get("data", {})
    source = data_cfg.get("builtin") or data_cfg.get("train") or "unknown"
    held_out = [(data_cfg.get(split) or f"{split} split of {source}", metrics[split]) for split in ("test", "dev")
                if isinstance(metrics.get(split), dict)]
    evals = []
    for path in sorted((run_dir / "eval").glob("*/metrics.json")):
        scored = _read(path) or {}
        evals.append((scored.get("file", path.parent.name), scored))
    results = held_out[:1] + evals
    method = info.get("method") or config.get("method", {}).get("name", "")
    lines = _yaml_front_matter(task, backbone, labels, results)
    lines += ["", f"# {run_dir.name}", "",
              f"A {task} model fine-tuned from `{backbone}` with [lmtune](https://pypi.org/project/lmtune/)"
              + (f" ({method})" if method else "") + ".", "", "## Model details", ""]
    lines += [f"- task: {task}", f"- backbone: `{backbone}`"]
    if labels:
        lines.append(f"- labels ({len(labels)}): " + ", ".join(f"`{lb}`" for lb in labels))
    if info.get("peft"):
        lines.append(f"- parameter-efficient: {info['peft'].get('type', 'peft')} adapters (the backbone is not in this folder)")
    if cal := info.get("calibration"):
        lines.append(f"- calibration: {cal['method']}" + (f", temperature {cal['temperature']:g} fitted on "
                                                         f"{cal['dev_texts']} dev texts" if cal["method"] == "temperature" else
                                                         f" ({cal.get('reason', '')})"))
    if (prior := info.get("class_prior")) and prior.get("applied"):
        lines.append(f"- predicts with class shares {prior['target']} ({prior['source']})")
    if info.get("export"):
        lines.append(f"- exported as {info['export'].get('format')} from `{info['export'].get('source')}`: its "
                     "agreement with the original on held-out texts is in export.json")
    lines += ["", "## Training data", ""]
    lines.append(f"- source: `{source}`")
    sizes = {k: data.get(k) for k in ("train", "dev", "test", "unlabeled", "rejected") if data.get(k) is not None}
    if sizes:
        lines.append("- sizes: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    if data.get("train_per_class"):
        lines.append("- labeled examples per class: " + ", ".join(f"{k} {v}" for k, v in data["train_per_class"].items()))
    for name, print_ in sorted((data.get("fingerprints") or {}).items()):
        lines.append(f"- fingerprint of `{name}`: `{print_}`")
    lines += ["", "## Evaluation", ""]
    if results:
        lines += ["| data | texts | metrics |", "|---|---:|---|"]
        for name, scored in held_out + evals:
            lines += _metrics_rows(name, scored)
        lines += ["", "The first row is the run's own held-out split; further rows are files scored with `lmtune eval`."]
    else:
        lines.append("No held-out data was scored: the numbers a reader would need are missing.")
    lines += ["", "## Intended use", "",
              f"Predicting the {task} labels above on text like the training data (`{source}`). "
              "Check it on your own labeled sample (`lmtune eval RUN --data FILE`) before relying on it.", "",
              "## Limitations", ""]
    train_n = data.get("train")
    if isinstance(train_n, int) and train_n < 500:
        lines.append(f"- trained on {train_n} labeled examples: accuracy on other text may be far lower than above.")
    windows = (config.get("task_options") or {}).get("long_text") == "chunks"
    lines += [f"- inputs longer than {config.get('model', {}).get('max_length', 'max_length')} tokens are "
              + ("read in overlapping windows whose logits are averaged." if windows else "cut to that length."),
              "- it has seen only the labels listed; texts of other kinds still get one of them (use "
              "`--min-confidence` to abstain)." if task == "classification" else "- outputs reflect the training data.",
              "", "## How to use", "", "```bash", f"lmtune predict {run_dir.name} --text \"...\"", "```", "",
              "or, with transformers alone: `AutoModelForSequenceClassification.from_pretrained(path)`"
              if task == "classification" and not info.get("peft") and not info.get("export") else
              "(lmtune reads the run file to load it).", ""]
    return "\n".join(lines)


def write_model_card(run_dir: str | Path) -> Path:
    from ..artifacts import atomic_write

    run_dir = Path(run_dir)
    return atomic_write(run_dir / CARD_FILE, model_card(run_dir))
