"""Python API behind the CLI: evaluate and predict with a finished run."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from . import artifacts as art
from .data import read_examples
from .data.augment import augment_texts, build_augmenter
from .errors import DataError
from .evaluation.calibration import save_reliability_png
from .evaluation.model_card import write_model_card
from .evaluation.report import abstain_summary, save_confusion_png, score_predictions
from .loading import Run, inference_plan, load_run, task_of
from .tasks.classification import abstain, check_min_confidence


def _run(run: str | Path | Run) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def _columns(run: Run, text_column: str | None, label_column: str | None) -> tuple[str, str]:
    data_cfg = run.config.get("data", {})
    return text_column or data_cfg.get("text_column", "text"), label_column or data_cfg.get("label_column", "label")


def evaluate(run: str | Path | Run, data: str | Path, *, text_column: str | None = None,
             label_column: str | None = None, on_bad_rows: str = "error", batch_size: int = 64,
             progress: bool = True, save: bool = True, quantize: str = "auto", compile: bool = False,
             precision: str = "auto", perturb: list[str] | tuple[str, ...] = (), perturb_rate: float = 0.1, seed: int = 0,
             min_confidence: float | None = None, log=lambda message: None) -> dict:
    """Metrics of a run on a labeled file; saved under RUN_DIR/eval/<file stem>/ unless save=False.
    quantize: auto (int8 where the run's check allowed it), int8, none; compile: torch.compile;
    precision: auto (bf16 where the CPU or GPU has it, else fp32), fp32, bf16 (what runs unquantized).
    perturb: augmenter names (typo, synonym, deletion, ...): the file is also scored on a perturbed
    copy per name (`perturb_rate` of the words changed, seeded) -> metrics["perturbed"][name].
    min_confidence: the abstain band (classification) -> metrics["abstain"]: how many texts it
    leaves unanswered and the accuracy on the rest."""
    run = _run(run)
    check_min_confidence(min_confidence, run.task, run.labels)
    task = task_of(run)
    if not task.data.stratified:  # token-classification, generation: the task reads and scores its own files
        return _evaluate_task(run, task, data, on_bad_rows=on_bad_rows, batch_size=batch_size, progress=progress,
                              save=save)
    text_column, label_column = _columns(run, text_column, label_column)
    result = read_examples(data, text_column=text_column, label_column=label_column, on_bad_rows=on_bad_rows)
    for ex in result.examples:
        if ex.label not in run.labels:
            raise DataError(f"label {ex.label!r} is not one the model knows ({', '.join(run.labels)})", where=ex.source,
                            fix="correct the label or evaluate a run trained with it.")
    plan = inference_plan(run, quantize, compile, precision, batch_size=batch_size, log=log)
    log(f"inference: {plan.description}")
    augmenters = [build_augmenter(name, rate=perturb_rate) for name in perturb]  # unknown names fail first

    def score(texts: list[str], desc: str) -> dict:
        examples = [replace(ex, text=text) for ex, text in zip(result.examples, texts)]
        return task.evaluate(plan.model, examples, batch_size=batch_size, progress=progress, desc=desc,
                             precision=plan.precision)

    texts = [ex.text for ex in result.examples]
    probs = task.proba(plan.model, texts, batch_size=batch_size, progress=progress, desc="evaluate",
                       precision=plan.precision)
    metrics = score_predictions(probs, result.examples, run.labels)
    if min_confidence is not None:
        metrics["abstain"] = abstain_summary(probs, result.examples, run.labels, min_confidence)
    for name, augmenter in zip(perturb, augmenters):
        scores = score(augment_texts(texts, augmenter, seed), f"evaluate ({name})")
        metrics.setdefault("perturbed", {})[name] = {
            "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "rate": perturb_rate, "seed": seed,
            "accuracy_change": round(scores["accuracy"] - metrics["accuracy"], 4)}
    metrics["file"] = str(data)
    metrics["rejected"] = len(result.rejects)
    metrics["inference"] = plan.description
    if save:
        out = run.path / "eval" / Path(data).stem
        art.write_json(out / "metrics.json", metrics)
        save_confusion_png(metrics["confusion_matrix"], run.labels, out / "confusion_matrix.png", f"{Path(data).name}")
        save_reliability_png(probs, [run.labels.index(ex.label) for ex in result.examples],
                             out / "reliability_diagram.png", f"{Path(data).name} reliability")
        if result.rejects:
            art.write_json_lines(out / art.REJECTS_FILE, [r.__dict__ for r in result.rejects])
        write_model_card(run.path)
        metrics["saved_to"] = str(out)
    return metrics


def _evaluate_task(run: Run, task, data, *, on_bad_rows: str, batch_size: int, progress: bool, save: bool) -> dict:
    from .config import DataConfig

    data_cfg = DataConfig.model_validate({**run.config.get("data", {}), "on_bad_rows": on_bad_rows, "format": "auto"})
    outcome = task.data.read(str(data), data_cfg, task.options)
    if not outcome.examples:
        raise DataError("no usable examples", where=str(data), fix="check the file's format.")
    metrics = task.evaluate(run.model, outcome.examples, batch_size=batch_size, progress=progress, desc="evaluate")
    metrics.update(file=str(data), rejected=len(outcome.rejects), warnings=len(outcome.warnings))
    if save:
        out = run.path / "eval" / Path(data).stem
        art.write_json(out / "metrics.json", metrics)
        if outcome.rejects:
            art.write_json_lines(out / art.REJECTS_FILE, [r.__dict__ for r in outcome.rejects])
        write_model_card(run.path)
        metrics["saved_to"] = str(out)
    return metrics


def predict(run: str | Path | Run, texts: list | None = None, *, input: str | Path | None = None,
            output: str | Path | None = None, text_column: str | None = None, on_bad_rows: str = "error",
            batch_size: int = 64, progress: bool = True, quantize: str = "auto", compile: bool = False,
            precision: str = "auto", overwrite: bool = False, min_confidence: float | None = None,
            abstained_output: str | Path | None = None, log=lambda message: None) -> list[dict]:
    """One record per input (from `texts`, or read from `input` the way the run's task reads
    inputs), in input order; written as JSONL to `output` when given ("-": standard output; an
    existing file only with `overwrite`). A skipped bad row gets a record with its error at its
    own place, never vanishes. quantize / compile / precision: as in `evaluate`.
    classification: label + probabilities; token-classification: entities with character offsets
    for raw text, tags for a list of tokens; generation: the generated response.
    min_confidence (classification): below it the label is "abstain" (the best class kept as
    `predicted`); `abstained_output`: those texts as JSONL, a pool for `lmtune data select`."""
    for path in (output, abstained_output):
        if path is not None:
            art.check_output_file(path, overwrite=overwrite, inputs=(input,))  # before any work
    if abstained_output is not None and min_confidence is None:
        raise ValueError("abstained_output needs min_confidence")
    run = _run(run)
    check_min_confidence(min_confidence, run.task, run.labels)
    task = task_of(run)
    sources: list[str | None]
    rejects = []
    if texts is None:
        if input is None:
            raise ValueError("give texts or input")
        data_cfg = dict(run.config.get("data", {}))
        if text_column:
            data_cfg["text_column"] = text_column
        outcome = task.data.read_inputs(input, on_bad_rows, data_cfg, task.options)
        texts, rejects = outcome.examples, outcome.rejects
        sources = list(outcome.sources) if outcome.sources else [None] * len(texts)
    else:
        sources = [None] * len(texts)
    plan = inference_plan(run, quantize, compile, precision, batch_size=batch_size, log=log)
    log(f"inference: {plan.description}")
    records = abstain(task.predict(plan.model, list(texts), batch_size=batch_size, progress=progress,
                                   precision=plan.precision), min_confidence)
    if abstained_output is not None:
        held = [{"text": text, **({"source": source} if source else {}), "predicted": r["predicted"], "score": r["score"]}
                for text, source, r in zip(texts, sources, records) if r.get("abstained")]
        art.write_json_lines(abstained_output, held)
        log(f"{len(held)} of {len(records)} texts below confidence {min_confidence:g}: written to {abstained_output} "
            f"(label them next: lmtune data select {abstained_output} --model {run.path})")
    records = [{"source": source, **record} if source else record for source, record in zip(sources, records)]
    if rejects:  # each error record where its row was
        records += [{"source": r.where(), "error": r.reason} for r in rejects]
        records.sort(key=lambda r: _line_of(r["source"]))
    if output is not None and str(output) == "-":
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records))
        sys.stdout.flush()
    elif output is not None:
        art.write_json_lines(output, records)
    return records


def _line_of(source: str) -> int:
    """'texts.csv:12' -> 12 (the line a record's row starts on)."""
    tail = source.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


# Run-dir contents that are not the model: resume state, logs, scratch files of atomic writes, this
# machine's engine measurements (with the held-out texts they ran on) and a distillation's teacher logits
PUSH_IGNORE = ["checkpoints/*", "tensorboard/*", ".*", "**/.*", "rejects.jsonl", "eval/*/rejects.jsonl", "engines/*",
               "teacher-logits/*"]


def push(run: str | Path, repo: str, *, private: bool = True, token: str | None = None, endpoint: str | None = None,
         log=lambda message: None) -> str:
    """Upload a finished run dir (model, tokenizer, records, model card) to the Hugging Face Hub
    repository `repo` (created if missing, private by default); returns the commit URL."""
    from huggingface_hub import HfApi

    from .errors import ModelError
    from .evaluation.model_card import write_model_card

    path = _run(run).path  # a finished run, or a clear error
    write_model_card(path)  # the card uploaded says what the records say now
    api = HfApi(token=token, endpoint=endpoint)
    try:
        api.create_repo(repo, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(path), repo_id=repo, ignore_patterns=PUSH_IGNORE,
                                   commit_message=f"lmtune run {path.name}")
    except Exception as exc:  # the hub client raises many types (network, auth, offline mode); name it and stop
        hint = ("log in first (`hf auth login`, or set HF_TOKEN)" if "401" in str(exc) or "403" in str(exc) else
                "check the network and the hub address (HF_ENDPOINT); unset HF_HUB_OFFLINE")
        raise ModelError(f"could not push {path} to {repo}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                         fix=hint + "; the run dir is unchanged, so push again once it is reachable.") from exc
    url = getattr(commit, "commit_url", None) or str(commit)
    log(f"pushed {path} to {repo}: {url}")
    return url
