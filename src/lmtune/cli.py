"""Command line: thin wrappers that build a config and call the Python API."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .errors import LmtuneError

app = typer.Typer(help="lmtune: fine-tune a pretrained language model on few labels plus raw domain text.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(soft_wrap=True)  # long paths stay on one line (copy-pasteable)
err_console = Console(stderr=True)

QuantizeOption = typer.Option("auto", "--quantize", help="auto: int8 where training checked it loses <= 0.5 accuracy "
                              "points and is faster, and the CPU lacks bf16 | int8 | none")
PrecisionOption = typer.Option("auto", "--precision", help="unquantized inference in: auto (bf16 where the CPU/GPU "
                               "has it, else fp32) | fp32 | bf16")
MinConfidenceOption = typer.Option(None, "--min-confidence", help="classification: below this probability of the "
                                  "best class the answer is 'abstain' (the best class kept as 'predicted')")
CompileOption = typer.Option(False, "--compile", help="torch.compile the model: faster on long jobs, ~15 s to start")
SetOption = typer.Option([], "--set", help="override a config key, e.g. --set training.epochs=3 (repeatable)")
ResumeOption = typer.Option(False, "--resume", help="continue a killed run from its last complete checkpoint")
ResumeAnywayOption = typer.Option(False, "--resume-anyway",
                                  help="--resume even where the config or data changed since the run started")
OverwriteOption = typer.Option(False, "--overwrite", help="replace an existing run directory")
ProgressOption = typer.Option(None, "--progress/--no-progress",
                              help="progress bars (default: only when standard error is a terminal; log lines always)")


def _bars(progress: Optional[bool]) -> bool:
    """Bars on a terminal; a log file or CI gets the plain lines alone (no carriage-return noise)."""
    return sys.stderr.isatty() if progress is None else progress


# commands that check or list and load no model: importing transformers (and torch) costs seconds
NO_MODEL_COMMANDS = {"validate", "ls", "runs"}


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        console.print(f"lmtune {metadata.version('lmtune')}")
        raise typer.Exit()


@app.callback()
def _options(ctx: typer.Context,
             debug: bool = typer.Option(False, "--debug", help="show full tracebacks on errors"),
             version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print lmtune's version and exit")) -> None:
    # --debug is declared here for parsing and help; main() acts on it
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if ctx.invoked_subcommand not in NO_MODEL_COMMANDS:
        _quiet_libraries()


def _quiet_libraries() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # weight-loading bars; training bars stay


def _log(message: str) -> None:
    console.print(f"[dim]·[/dim] {message}", highlight=False)


@app.command()
def train(config: Path = typer.Argument(..., help="YAML config (see examples/)"),
          set_: List[str] = SetOption,
          resume: bool = ResumeOption, resume_anyway: bool = ResumeAnywayOption,
          overwrite: bool = OverwriteOption, progress: Optional[bool] = ProgressOption) -> None:
    """Fine-tune a model for the config's task (classification, token-classification) from a config file."""
    from .evaluation.report import metrics_table
    from .recipes.finetune import train as run_train
    from .recipes.validation import load_config

    cfg = load_config(config, set_)
    result = run_train(cfg, resume=resume, resume_anyway=resume_anyway, overwrite=overwrite, progress=_bars(progress),
                       log=_log)
    if not result.metrics:  # a torchrun rank other than 0: rank 0 reports
        return
    for split in ("dev", "test"):
        if split in result.metrics:
            console.print(metrics_table(result.metrics[split], split))
    console.print(f"run dir: [bold]{result.run_dir}[/bold]   wall time {result.seconds:.0f}s")


@app.command()
def pretrain(config: Path = typer.Argument(..., help="YAML config with data (unlabeled text), model and pretrain sections"),
             set_: List[str] = SetOption,
             resume: bool = ResumeOption, resume_anyway: bool = ResumeAnywayOption,
             overwrite: bool = OverwriteOption, progress: Optional[bool] = ProgressOption) -> None:
    """Continue pretraining a backbone on domain text (masked LM or causal LM)."""
    from .recipes.pretrain import pretrain as run_pretrain
    from .recipes.validation import load_config

    result = run_pretrain(load_config(config, set_), resume=resume, resume_anyway=resume_anyway, overwrite=overwrite,
                          progress=_bars(progress), log=_log)
    m = result.metrics
    if not m:  # a torchrun rank other than 0: rank 0 reports
        return
    if m.get("perplexity_after") is not None:
        before = f"{m['perplexity_before']:.2f}" if m.get("perplexity_before") else "n/a"
        console.print(f"held-out {'pseudo-' if m['objective'] == 'mlm' else ''}perplexity: {before} -> "
                      f"{m['perplexity_after']:.2f} ({m['scored_tokens']} tokens)")
    console.print(f"backbone written to [bold]{result.run_dir}[/bold]; fine-tune it with "
                  f"`lmtune train CONFIG --set model.name={result.run_dir}`   wall time {result.seconds:.0f}s")


@app.command()
def distill(teacher: Path = typer.Argument(..., help="a finished classification run: the teacher"),
            student: str = typer.Option("default", "--student", help="default | mpnet | a model dir or hub name | "
                                        "layers:N (N of the teacher's layers, evenly spaced) | layers:i,j,... (0-based)"),
            unlabeled: Optional[Path] = typer.Option(None, "--unlabeled", help="more text for the teacher to label "
                                                     "(.txt one per line, or CSV/JSONL text column); replaces the "
                                                     "teacher config's data.unlabeled"),
            output: Optional[Path] = typer.Option(None, "-o", "--output", help="the student's run dir (default: "
                                                  "runs/<teacher>-distilled-<student>)"),
            set_: List[str] = SetOption, resume: bool = ResumeOption, resume_anyway: bool = ResumeAnywayOption,
            overwrite: bool = OverwriteOption, progress: Optional[bool] = ProgressOption) -> None:
    """Train a smaller or faster student on a finished run's soft labels over unlabeled text, then compare
    the two: accuracy, agreement, docs/s, size and memory on this machine."""
    from rich.table import Table

    from .evaluation.report import metrics_table
    from .recipes.distill import distill as run_distill

    result = run_distill(teacher, student, unlabeled=unlabeled, output_dir=output, overrides=set_, resume=resume,
                         resume_anyway=resume_anyway, overwrite=overwrite, progress=_bars(progress), log=_log)
    if not result.metrics:  # a torchrun rank other than 0: rank 0 reports
        return
    for split in ("dev", "test"):
        if split in result.metrics:
            console.print(metrics_table(result.metrics[split], f"student, {split}"))
    c = result.comparison
    if c:
        table = Table(title=f"teacher vs student on this machine ({c['split']} texts; they agree on "
                            f"{c['agreement']:.1%} of {c['agreement_texts']})")
        for column in ("model", "accuracy", "macro-F1", "docs/s", "inference", "size MB", "peak MB"):
            table.add_column(column, justify="left" if column in ("model", "inference") else "right")
        for name in ("teacher", "student"):
            row = c[name]
            table.add_row(name, _number(row.get("accuracy")), _number(row.get("macro_f1")), f"{row['docs_per_s']:.1f}",
                          row["inference"].split(" (")[0], f"{row['size_mb']:.1f}", f"{row['peak_memory_mb']:.0f}")
        console.print(table)
    console.print(f"run dir: [bold]{result.run_dir}[/bold]   wall time {result.seconds:.0f}s")


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


@app.command("eval")
def eval_(run_dir: Path = typer.Argument(..., help="a finished run directory"),
          data: Path = typer.Option(..., "--data",
                                    help="labeled CSV/TSV/JSONL/Parquet file (token-classification: CoNLL or JSONL)"),
          text_column: Optional[str] = typer.Option(None, help="default: the run's data.text_column"),
          label_column: Optional[str] = typer.Option(None, help="default: the run's data.label_column"),
          on_bad_rows: str = typer.Option("error", help="error | skip (skipped rows go to a rejects file)"),
          batch_size: int = typer.Option(64), quantize: str = QuantizeOption, compile: bool = CompileOption,
          precision: str = PrecisionOption,
          perturb: List[str] = typer.Option([], "--perturb", help="also score a perturbed copy of the file: typo | "
                                            "synonym | deletion | swap | insertion (repeatable, or comma-separated)"),
          perturb_rate: float = typer.Option(0.1, help="fraction of the words each perturbation changes"),
          seed: int = typer.Option(0, help="seed of the perturbations"),
          min_confidence: Optional[float] = MinConfidenceOption) -> None:
    """Score a finished run on a labeled file (and, with --perturb, on perturbed copies of it)."""
    from .api import evaluate
    from .evaluation.report import metrics_table, robustness_table

    names = [name.strip() for item in perturb for name in item.split(",") if name.strip()]
    metrics = evaluate(run_dir, data, text_column=text_column, label_column=label_column,
                       on_bad_rows=on_bad_rows, batch_size=batch_size, quantize=quantize, compile=compile,
                       precision=precision, perturb=names, perturb_rate=perturb_rate, seed=seed,
                       min_confidence=min_confidence, log=_log)
    console.print(metrics_table(metrics, data.name))
    if band := metrics.get("abstain"):
        answered = "" if band["answered_accuracy"] is None else f", accuracy {band['answered_accuracy']:.4f} on the rest"
        console.print(f"abstain below {band['min_confidence']:g}: {band['abstained']} texts ({1 - band['coverage']:.1%})"
                      f"{answered} (all: {metrics['accuracy']:.4f})")
    if metrics.get("perturbed"):
        console.print(robustness_table(metrics))
    if metrics["rejected"]:
        console.print(f"{metrics['rejected']} bad rows skipped; see {metrics['saved_to']}/rejects.jsonl")
    console.print(f"saved to {metrics['saved_to']}")


@app.command()
def predict(run_dir: Path = typer.Argument(..., help="a finished run directory"),
            input: Optional[Path] = typer.Option(None, "--input", help="CSV/TSV/JSONL/Parquet, or .txt with one text "
                                                 "per line (token-classification: JSONL with text or tokens, CoNLL); "
                                                 "- reads one text per line from standard input"),
            text: List[str] = typer.Option([], "--text", help="a text to label (repeatable), instead of --input"),
            output: Path = typer.Option(Path("-"), "--output", help="JSONL: label, score and probabilities per row "
                                        "(default -: standard output)"),
            overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output file"),
            text_column: Optional[str] = typer.Option(None, help="default: the run's data.text_column"),
            on_bad_rows: str = typer.Option("error", help="error | skip (skipped rows get an error record)"),
            batch_size: int = typer.Option(64), quantize: str = QuantizeOption, compile: bool = CompileOption,
            precision: str = PrecisionOption, min_confidence: Optional[float] = MinConfidenceOption,
            abstained: Optional[Path] = typer.Option(None, "--abstained", help="with --min-confidence: write the "
                                                     "abstained texts here (JSONL), a pool for `lmtune data select`")
            ) -> None:
    """Label every row of a file, the lines of standard input (--input -) or the --text arguments."""
    from .api import predict as run_predict
    from .errors import ConfigError

    if abstained is not None and min_confidence is None:
        raise ConfigError("--abstained writes the texts below --min-confidence, and none was given",
                          fix="add --min-confidence 0.7 (or another threshold), or drop --abstained.")
    if bool(text) == (input is not None):
        raise ConfigError("give the texts one way: --input FILE (or - for standard input), or --text TEXT",
                          fix="e.g. lmtune predict RUN --text 'great film' or lmtune predict RUN --input reviews.csv")
    texts = list(text) or None
    if input is not None and str(input) == "-":
        texts, input = [line.rstrip("\r\n") for line in sys.stdin if line.strip()], None
        if not texts:
            raise ConfigError("no text on standard input", fix="pipe one text per line into lmtune predict --input -.")
    records = run_predict(run_dir, texts, input=input, output=output, text_column=text_column,
                          on_bad_rows=on_bad_rows, batch_size=batch_size, quantize=quantize, compile=compile,
                          precision=precision, overwrite=overwrite, min_confidence=min_confidence,
                          abstained_output=abstained,
                          log=(lambda m: err_console.print(f"· {m}", highlight=False)) if str(output) == "-" else _log)
    errors = sum("error" in r for r in records)
    (err_console if str(output) == "-" else console).print(  # stdout carries the predictions themselves
        f"wrote {len(records) - errors} predictions to {output}" + (f" ({errors} rows skipped)" if errors else ""))


@app.command()
def push(run_dir: Path = typer.Argument(..., help="a finished run directory"),
         repo: str = typer.Argument(..., help="the Hub repository, e.g. my-org/support-intents"),
         public: bool = typer.Option(False, "--public", help="create the repository public (default: private)")) -> None:
    """Upload a run (model, tokenizer, records, model card) to the Hugging Face Hub (needs a network and a token)."""
    from .api import push as run_push

    run_push(run_dir, repo, private=not public, log=_log)


@app.command("export")
def export_(run_dir: Path = typer.Argument(..., help="a finished run directory"),
            output: Path = typer.Option(..., "-o", "--output", help="directory to write (a run directory itself)"),
            format: Optional[str] = typer.Option(None, "--format", help="merged | bf16 | int8 | onnx (lmtune ls lists them)"),
            merge: bool = typer.Option(False, "--merge", help="fold a peft run's adapters into the weights; alone it "
                                       "writes the merged fp32 model (--format merged)"),
            overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output directory"),
            check_texts: int = typer.Option(1000, help="held-out texts to score and time both models on")) -> None:
    """Write a run's model as bf16, int8 or ONNX, or a peft run merged, with its accuracy, size and speed
    next to the original's."""
    from .errors import ConfigError
    from .recipes.export import export

    if format is None and not merge:
        raise ConfigError("no export format given", fix="add --format bf16|int8|onnx, or --merge for a peft run.")
    if merge:  # every format folds the adapters in first (load_run does); --merge alone asks for just that
        format = format or "merged"
        if not (Path(run_dir) / "adapter_config.json").is_file():
            raise ConfigError(f"{run_dir} holds no peft adapters to merge", fix="drop --merge.")
    report = export(run_dir, output, format, overwrite=overwrite, check_texts=check_texts, log=_log)
    size = report["size_mb"]
    console.print(f"size on disk: {size['export']:.1f} MB (original {size['original']:.1f} MB)")
    if report.get("accuracy"):
        acc, speed = report["accuracy"], report["texts_per_s"]
        console.print(f"accuracy on {report['checked_texts']} held-out texts: {acc['export']:.4f} "
                      f"(original {acc['original']:.4f}); {speed['export']} texts/s (original {speed['original']})")
    console.print(f"written to [bold]{output}[/bold] (report: {output / 'export.json'})")


@app.command()
def serve(run_dir: Path = typer.Argument(..., help="a finished run (or export) directory"),
          host: str = typer.Option("127.0.0.1", help="address to bind; 0.0.0.0 exposes it to the network"),
          port: int = typer.Option(8000),
          workers: int = typer.Option(1, help="processes, each with its own model copy (one per core or two)"),
          api_key_file: Optional[Path] = typer.Option(None, help="one key (or sha256:<digest>) per line; "
                                                      "required when binding beyond localhost"),
          max_texts: int = typer.Option(64, help="texts per request"),
          max_text_chars: int = typer.Option(20_000),
          max_body_bytes: int = typer.Option(1_000_000),
          read_timeout: float = typer.Option(5.0, help="seconds a client may pause inside a request body (then 408)"),
          max_batch: int = typer.Option(32, help="texts per model call, across concurrent requests"),
          max_wait_ms: float = typer.Option(0.0, help="extra wait for other requests to share a model call "
                                            "(0: batch whatever queued while the model was busy)"),
          cors_origin: List[str] = typer.Option([], help="allow browser calls from this origin (repeatable); off by default"),
          log_text: bool = typer.Option(False, "--log-text", help="put texts (PII-masked) in the access log"),
          quantize: str = QuantizeOption, precision: str = PrecisionOption,
          min_confidence: Optional[float] = MinConfidenceOption) -> None:
    """Serve a run over HTTP: POST /v1/predict, GET /healthz /readyz /metrics."""
    import dataclasses
    import json

    from .errors import ConfigError
    from .serve.app import ENV_CONFIG, SERVED_TASKS, ServeSettings
    from .serve.security import load_api_keys

    try:
        import uvicorn
    except ImportError:
        raise ConfigError("serving needs fastapi and uvicorn", fix="pip install 'lmtune[serve]'.") from None
    if api_key_file is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(f"refusing to serve on {host} without API keys",
                          fix="add --api-key-file FILE, or bind to 127.0.0.1 behind an authenticating proxy.")
    from .artifacts import require_classification
    from .loading import load_run

    require_classification(run_dir, "lmtune serve", SERVED_TASKS)  # before anything says "serving"
    run = load_run(run_dir)  # a wrong directory fails here, in one line, not in every worker
    from .tasks.classification import check_min_confidence

    check_min_confidence(min_confidence, run.task, run.labels)
    _check_port_free(host, port)
    settings = ServeSettings(max_body_bytes=max_body_bytes, read_timeout_s=read_timeout, max_texts=max_texts,
                             max_text_chars=max_text_chars,
                             max_batch=max_batch, max_wait_ms=max_wait_ms, cors_origins=list(cors_origin),
                             api_key_digests=load_api_keys(api_key_file) if api_key_file else None,
                             log_text=log_text, quantize=quantize, precision=precision,
                             min_confidence=min_confidence)
    os.environ[ENV_CONFIG] = json.dumps({"run_dir": str(run_dir), "settings": dataclasses.asdict(settings)})
    console.print(f"serving {run_dir} on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}"
                  f"{', API keys required' if api_key_file else ', no API keys: localhost only'})")
    uvicorn.run("lmtune.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False, timeout_graceful_shutdown=30, timeout_keep_alive=5,
                log_config=_serve_log_config())


def _check_port_free(host: str, port: int) -> None:
    """Fail with exit 2 (so systemd's Restart=on-failure fires) where uvicorn would only log."""
    import socket

    from .errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}",
                              fix="stop what holds that port, or choose another with --port.") from None


def _serve_log_config() -> dict:
    """uvicorn's own messages as usual; lmtune's access log as bare JSON lines on stdout."""
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(message)s"}},
            "handlers": {"access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"}},
            "loggers": {"lmtune.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
                        "uvicorn.error": {"handlers": ["access"], "level": "INFO", "propagate": False}}}


@app.command()
def studio(directory: Path = typer.Argument(..., help="the studio's folder: its database, trainings and exports"),
           data: Optional[Path] = typer.Option(None, "--data", help="texts to add to the pool (CSV/TSV/JSONL/Parquet "
                                               "with a text column, or .txt: a text per line); a label column labels"),
           labels: Optional[str] = typer.Option(None, "--labels", help="the classes, comma-separated: a,b,c"),
           descriptions: Optional[Path] = typer.Option(None, "--descriptions", help="YAML of `label: one sentence` "
                                                       "(the classes, and what auto's descriptions bootstrap reads)"),
           model: Optional[str] = typer.Option(None, "--model", help="backbone to fine-tune (default, mpnet, a dir, "
                                               "a hub name); kept in the folder"),
           set_: List[str] = typer.Option([], "--set", help="config override for every training, e.g. "
                                          "--set training.epochs=3 (repeatable; kept in the folder)"),
           strategy: Optional[str] = typer.Option(None, help="active-learning strategy for what to label next "
                                                  "(`lmtune ls` lists them; default entropy)"),
           text_column: str = typer.Option("text"), label_column: str = typer.Option("label"),
           host: str = typer.Option("127.0.0.1", help="address to bind; anything beyond this machine needs --expose"),
           port: int = typer.Option(8765, help="0: any free port"),
           expose: bool = typer.Option(False, "--expose", help="allow binding beyond localhost (the token is the only lock)"),
           token: Optional[str] = typer.Option(None, envvar="LMTUNE_STUDIO_TOKEN",
                                               help="access token (default: a new random one each start)"),
           max_upload_mb: float = typer.Option(50.0, help="largest file the Data page accepts")) -> None:
    """Label, train and inspect in the browser: active learning, background training, report, export."""
    from .studio.launch import prepare
    from .studio.launch import serve as serve_studio

    prepare(directory, data=data, labels=labels.split(",") if labels else None, descriptions=descriptions,
            model=model, overrides=list(set_), strategy=strategy, text_column=text_column, label_column=label_column,
            log=_log)
    if port:
        _check_port_free(host, port)
    serve_studio(directory, host=host, port=port, token=token, expose=expose, max_upload_mb=max_upload_mb, log=_log)


@app.command()
def validate(config: Path = typer.Argument(...), set_: List[str] = SetOption) -> None:
    """Check a config and its data without training."""
    from .data import prepare_data
    from .recipes.validation import check_backbone, load_config

    cfg = load_config(config, set_)
    check_backbone(cfg, config)
    data = prepare_data(cfg.data, cfg.seed, cfg.task, cfg.task_options)
    summary = data.summary()
    console.print(f"config ok; data: {summary['train']} labeled train, {summary['dev']} dev, {summary['test']} test, "
                  f"{summary['unlabeled']} unlabeled, {summary['rejected']} rejected")
    if summary["train_per_class"]:
        console.print(f"labels per class in train: {summary['train_per_class']}")
    elif data.labels:  # tags (token classification): no one class per example
        console.print(f"{len(data.labels)} labels in train: {', '.join(data.labels)}")
    shown = 10
    for reject in data.rejects[:shown]:
        console.print(f"  rejected {reject.where()}: {reject.reason}", highlight=False)
    if len(data.rejects) > shown:
        console.print(f"  ... and {len(data.rejects) - shown} more rejected rows (train writes them all to "
                      f"RUN_DIR/rejects.jsonl)", highlight=False)
    for warning in data.warnings:
        console.print(f"  warning: {warning}", highlight=False)


@app.command()
def quickstart(labels_per_class: int = typer.Option(4, help="labels per class to train on"),
               output: str = typer.Option("runs/quickstart", help="run directory (a previous lmtune run there is replaced)"),
               method: Optional[str] = typer.Option(None, help="supervised, self-training, ... (default: the "
                                                                   "best measured in BENCHMARKS.md)"),
               set_: List[str] = SetOption, progress: Optional[bool] = ProgressOption) -> None:
    """Fine-tune the packaged MiniLM on packaged BBC News with 4 labels per class, then score 1,000 held-out docs."""
    from .errors import ConfigError
    from .evaluation.report import metrics_table
    from .quickstart import MEASURED, MEASURED_ON, METHOD_PRESETS, best_method, quickstart_config
    from .recipes.finetune import train as run_train

    started = time.time()
    chosen = method or best_method()
    if chosen not in METHOD_PRESETS:
        raise ConfigError(f"no quickstart preset for method {chosen!r}", fix=f"use one of {', '.join(METHOD_PRESETS)}.")
    cfg = quickstart_config(labels_per_class, output, set_, method=chosen)
    console.print(f"[bold]lmtune quickstart[/bold]: all-MiniLM-L6-v2 on BBC News, {labels_per_class} labels per class, "
                  f"{cfg.data.test_size:.0f} held-out test documents, method [bold]{chosen}[/bold]")
    measured = ", ".join(f"{m} {acc:.3f}" for m, acc in MEASURED.items())
    console.print(f"benchmark ({MEASURED_ON}): {measured}; --method supervised runs the labels alone")
    result = run_train(cfg, overwrite=True, progress=_bars(progress), log=_log)
    console.print(metrics_table(result.metrics["test"], f"BBC News test, {labels_per_class} labels/class"))
    console.print(f"run dir: [bold]{result.run_dir}[/bold]   wall time: {time.time() - started:.0f}s")


@app.command("ls")
def list_components() -> None:
    """List every registered task, method, adversarial attack, augmenter, acquisition function and export format."""
    from .curation.acquisition import ACQUISITIONS
    from .data.augment import AUGMENTERS
    from .export import EXPORTS
    from .options import ATTACK_OPTIONS, METHOD_OPTIONS, TASK_OPTIONS

    for registry in (TASK_OPTIONS, METHOD_OPTIONS, ATTACK_OPTIONS, AUGMENTERS, ACQUISITIONS, EXPORTS):
        console.print(f"[bold]{registry.kind}s[/bold]")
        for name, doc in registry.describe():
            console.print(f"  {name:<16} {doc}")
    _list_backbones()


@app.command("runs")
def list_runs(root: Path = typer.Argument(Path("runs"), help="where to look for run directories (recursively)")) -> None:
    """List the run directories under ROOT: task, status, backbone, method, test score, date."""
    from rich.table import Table

    from .artifacts import METRICS_FILE, RUN_FILE, read_json

    table = Table(title=f"lmtune runs under {root}")
    for column in ("run", "task", "status", "backbone", "method", "score", "finished"):
        table.add_column(column, justify="right" if column == "score" else "left")
    found = 0
    for info_file in sorted(root.rglob(RUN_FILE)) if root.is_dir() else []:
        try:
            info = read_json(info_file)
            metrics = read_json(info_file.parent / METRICS_FILE) if (info_file.parent / METRICS_FILE).is_file() else {}
        except ValueError:  # a record cut by a kill: shown, not hidden
            info, metrics = {"status": "unreadable record"}, {}
        found += 1
        backbone = str(info.get("backbone", ""))
        table.add_row(str(info_file.parent.relative_to(root)), info.get("kind") or info.get("task", "?"),
                      info.get("status", "?"), Path(backbone).name if "/" in backbone and Path(backbone).is_dir()
                      else backbone, info.get("method", ""), _score(metrics),
                      info.get("finished", ""))
    if not found:
        console.print(f"no lmtune runs under {root}")
        return
    console.print(table)


def _score(metrics: dict) -> str:
    """The run's headline number: held-out accuracy and macro-F1, entity F1, or perplexity."""
    split = metrics.get("test") or metrics.get("dev") or {}
    if "accuracy" in split:
        return f"acc {split['accuracy']:.3f} / F1 {split.get('macro_f1', 0):.3f}"
    if "f1" in split:
        return f"F1 {split['f1']:.3f}"
    if metrics.get("perplexity_after") is not None:
        return f"ppl {metrics['perplexity_after']:.2f}"
    return f"loss {split['loss']:.3f}" if "loss" in split else ""


def _list_backbones() -> None:
    from .packaged import BACKBONES, is_installed, size_on_disk

    console.print("[bold]packaged backbones[/bold] (model.name)")
    for b in BACKBONES.values():
        size = size_on_disk(b)
        state = (f"{size / 1e6:.0f} MB on disk" if size else "installed, assembled on first use") \
            if is_installed(b) else f"not installed: {b.install}"
        console.print(f"  {b.name:<16} {b.parameters} parameters; {b.summary}; {state}")
        if b.measured:
            console.print(f"  {'':<16} measured: {b.measured}")


from .cli_data import data_app  # noqa: E402  (after `app`: the data commands are a group of it)

app.add_typer(data_app, name="data")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: typer handles usage errors itself (exit 2); lmtune's errors become one line, exit 2."""
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=args, prog_name="lmtune")
    except LmtuneError as exc:
        if "--debug" in args:
            raise
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        if "--debug" in args:
            raise
        err_console.print("[bold]interrupted[/bold]", highlight=False)
        sys.exit(130)
