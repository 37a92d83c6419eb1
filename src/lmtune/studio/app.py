"""`lmtune studio`: the pages and their actions (FastAPI, server-rendered Jinja2, one small
script for keyboard shortcuts and live progress; no build step).

Label -> Train -> Report -> Predictions -> Export, all on the state in DIR/studio.db (store.py);
training runs in a worker process (worker.py, jobs.py).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..errors import LmtuneError
from . import jobs
from .importing import import_file
from .security import COOKIE, HEADERS, SAFE_METHODS, Guard, inside, safe_name
from .store import Store
from .worker import CURRENT, training_dir

PAGE_SIZE = 50
SHORTCUT_KEYS = "123456789"
IMAGES = ("budget.png",)  # what a training's folder may serve
EXPORT_FORMATS = ("int8", "onnx")
HERE = Path(__file__).parent


def templates():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.1f}%"
    env.filters["when"] = lambda t: time.strftime("%d %b %H:%M:%S", time.localtime(t)) if t else ""
    env.filters["duration"] = lambda s: "–" if s is None else f"{int(s) // 60}:{int(s) % 60:02d}"
    return env


def create_app(directory: str | Path, token: str, hosts: set[str], *, max_upload_mb: float = 50) -> FastAPI:
    directory = Path(directory).resolve()
    store = Store(directory)
    guard = Guard(token, hosts)
    env = templates()
    max_upload = int(max_upload_mb * 1e6)
    jobs.recover(store, directory)
    app = FastAPI(title="lmtune studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    exporting = threading.Lock()

    @app.middleware("http")
    async def protect(request: Request, call_next):
        host = request.headers.get("host")
        if not guard.host_allowed(host):
            return PlainTextResponse("unknown host: open the studio by the address it printed", status_code=400)
        if guard.token_in_url(request.query_params.get("token")) and request.method == "GET":
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
            return _secured(response)
        if not guard.authorised(request.cookies.get(COOKIE), request.headers.get("authorization")):
            return _secured(HTMLResponse(
                "<h1>403</h1><p>Open the studio with the address it printed (it holds the access token).</p>",
                status_code=403))
        if request.method not in SAFE_METHODS:
            if not guard.same_origin(request.headers.get("origin"), request.headers.get("sec-fetch-site"), host):
                return _secured(PlainTextResponse("cross-site request refused", status_code=403))
            length = request.headers.get("content-length")
            if (length is None and request.headers.get("transfer-encoding")) or (length and not length.isdigit()):
                return _secured(PlainTextResponse("a Content-Length is required", status_code=411))
            if length is not None and int(length) > max_upload:
                return _secured(PlainTextResponse(f"request larger than the {max_upload_mb:g} MB limit "
                                                  "(lmtune studio --max-upload-mb)", status_code=413))
        return _secured(await call_next(request))

    def page(name: str, request: Request, status_code: int = 200, **context) -> HTMLResponse:
        counts = store.counts()
        html = env.get_template(name).render(
            csrf=guard.csrf, counts=counts, labeled=sum(counts.values()), pool=store.count_texts(),
            training=store.active_training(), msg=request.query_params.get("msg", ""), path=request.url.path,
            **context)
        return HTMLResponse(html, status_code=status_code)

    def back(to: str, msg: str = "", **params) -> RedirectResponse:
        if not to.startswith("/") or to.startswith(("//", "/\\")):
            to = "/label"  # only paths of this site
        query = urlencode({**params, **({"msg": msg} if msg else {})})
        return RedirectResponse(to + (("&" if "?" in to else "?") + query if query else ""), status_code=303)

    def checked(csrf: str) -> None:
        if not guard.csrf_valid(csrf):
            raise _Refused("the form is stale or was not sent by this studio: reload the page")

    @app.exception_handler(LmtuneError)
    async def lmtune_error(request: Request, exc: LmtuneError):
        return page("error.html", request, error=str(exc), status_code=400)

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused):
        return _secured(PlainTextResponse(str(exc), status_code=403))

    # -- label
    @app.get("/")
    def home():
        return RedirectResponse("/label", status_code=303)

    @app.get("/label", response_class=HTMLResponse)
    def label_page(request: Request, text: int | None = None):
        item = store.get(text) if text is not None else store.next_to_label()
        classes = store.classes()
        keys = {c["name"]: SHORTCUT_KEYS[i] for i, c in enumerate(classes[:len(SHORTCUT_KEYS)])}
        return page("label.html", request, item=item, classes=classes, keys=keys)

    @app.post("/label")
    def give_label(text_id: int = Form(...), label: str = Form(...), version: int = Form(...),
                   csrf: str = Form(""), to: str = Form("/label")):
        checked(csrf)
        outcome = store.label(text_id, label, version, kind="label" if to == "/label" else "fix")
        return back(to, "" if outcome.ok else outcome.message)

    @app.post("/skip")
    def skip(text_id: int = Form(...), csrf: str = Form("")):
        checked(csrf)
        store.skip(text_id)
        return back("/label")

    @app.post("/undo")
    def undo(csrf: str = Form("")):
        checked(csrf)
        text_id = store.undo()
        if text_id is None:
            return back("/label", "nothing to undo")
        return back("/label", "label taken back", text=text_id)

    @app.post("/classes")
    def add_class(name: str = Form(...), description: str = Form(""), csrf: str = Form("")):
        checked(csrf)
        name = name.strip()
        if not name or len(name) > 100:
            return back("/label", "a label name is 1 to 100 characters")
        store.add_classes([name], {name: description.strip()} if description.strip() else None)
        return back("/label", f"label {name!r} added")

    @app.post("/classes/description")
    def describe(name: str = Form(...), description: str = Form(""), csrf: str = Form("")):
        checked(csrf)
        store.set_description(name, description[:500])
        return back("/label", f"description of {name!r} saved")

    # -- train
    @app.get("/train", response_class=HTMLResponse)
    def train_page(request: Request):
        jobs.reap(store, directory)
        return page("train.html", request, trainings=store.trainings(), ready=jobs.ready_to_train(store),
                    current=store.get_meta(CURRENT))

    @app.post("/train/start")
    def start(csrf: str = Form("")):
        checked(csrf)
        _, message = jobs.start(store, directory)
        return back("/train", message)

    @app.post("/train/cancel")
    def cancel(csrf: str = Form("")):
        checked(csrf)
        return back("/train", jobs.cancel(store, directory))

    @app.post("/train/{training_id}/restart")
    def restart(training_id: int, csrf: str = Form("")):
        checked(csrf)
        return back("/train", jobs.restart(store, directory, training_id)[1])

    @app.get("/api/training")
    def training_status():
        jobs.reap(store, directory)
        trainings = store.trainings()
        latest = trainings[0] if trainings else None
        return JSONResponse({"training": latest, "current": store.get_meta(CURRENT)})

    # -- report
    @app.get("/report", response_class=HTMLResponse)
    def report_page(request: Request, training: int | None = None):
        from ..artifacts import read_json

        training = training if training is not None else store.get_meta(CURRENT)
        path = training_dir(directory, training) / "report.json" if training is not None else None
        report = read_json(path) if path is not None and path.is_file() else None
        issues = []
        for issue in (report or {}).get("issues", []):
            item = store.get(issue["text_id"])
            if item is not None:
                issues.append({**issue, "item": item})
        return page("report.html", request, report=report, training_id=training, issues=issues,
                    classes=store.class_names(), images={n: (training_dir(directory, training) / n).is_file()
                                                          for n in IMAGES} if training is not None else {})

    @app.get("/files/{training_id}/{name}")
    def image(training_id: int, name: str):
        if name not in IMAGES:
            return PlainTextResponse("not found", status_code=404)
        path = inside(directory, "trainings", str(training_id), name)
        if not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type="image/png")

    # -- predictions
    @app.get("/predictions", response_class=HTMLResponse)
    def predictions_page(request: Request, label: str = "", max_confidence: float | None = None, page_number: int = 1):
        page_number = max(1, page_number)
        rows, total = store.predictions(label or None, max_confidence, PAGE_SIZE, (page_number - 1) * PAGE_SIZE)
        query = {"label": label, **({"max_confidence": max_confidence} if max_confidence is not None else {})}
        return page("predictions.html", request, rows=rows, total=total, label=label, max_confidence=max_confidence,
                    page_number=page_number, pages=max(1, -(-total // PAGE_SIZE)), classes=store.class_names(),
                    here="/predictions?" + urlencode({**query, "page_number": page_number}), query=urlencode(query))

    # -- data
    @app.get("/data", response_class=HTMLResponse)
    def data_page(request: Request):
        return page("data.html", request, imports=store.get_meta("imports", []), max_upload_mb=max_upload_mb)

    @app.post("/data")
    async def upload(request: Request):
        form = await request.form(max_files=1, max_fields=10)
        checked(form.get("csrf", ""))
        upload = form.get("file")
        if upload is None or not getattr(upload, "filename", None):
            return back("/data", "choose a file to upload")
        target = inside(directory, "uploads", f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_name(upload.filename)}")
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with target.open("wb") as handle:
            while chunk := await upload.read(1 << 20):
                written += len(chunk)
                if written > max_upload:  # a body that lied about its length
                    handle.close()
                    target.unlink()
                    return back("/data", f"file larger than the {max_upload_mb:g} MB limit")
                handle.write(chunk)
        summary = await run_in_threadpool(import_file, store, target, text_column=str(form.get("text_column") or "text"),
                                          label_column=str(form.get("label_column") or "label"))
        return back("/data", summary["message"])

    # -- export
    @app.get("/export", response_class=HTMLResponse)
    def export_page(request: Request):
        current = store.get_meta(CURRENT)
        run_dir = training_dir(directory, current) / "run" if current is not None else None
        return page("export.html", request, run_dir=run_dir, export=store.get_meta("export"), formats=EXPORT_FORMATS)

    @app.get("/export/labels.{fmt}")
    def export_labels(fmt: str):
        from ..data.tables import write_rows

        if fmt not in ("csv", "jsonl"):
            return PlainTextResponse("csv or jsonl", status_code=404)
        path = inside(directory, "exports", f"labels.{fmt}")
        write_rows(path, [{"text": t.text, "label": t.label, "source": t.source or ""} for t in store.labeled()],
                   columns=["text", "label", "source"])
        return FileResponse(path, filename=f"labels.{fmt}")

    @app.get("/export/model.zip")
    def export_zip():
        current = store.get_meta(CURRENT)
        if current is None:
            return PlainTextResponse("no trained model yet", status_code=404)
        import zipfile

        from huggingface_hub.utils import filter_repo_objects

        from ..api import PUSH_IGNORE  # the run dir's files that are not the model, as `lmtune push` leaves them

        run_dir = training_dir(directory, current) / "run"
        files = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
        archive = inside(directory, "exports", f"model-{current}.zip")
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_name(f".{archive.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name in filter_repo_objects(files, ignore_patterns=PUSH_IGNORE):
                bundle.write(run_dir / name, name)
        partial.replace(archive)
        return FileResponse(archive, filename=f"lmtune-studio-model-{current}.zip")

    @app.post("/export/model")
    def export_model(fmt: str = Form(...), csrf: str = Form("")):
        checked(csrf)
        current = store.get_meta(CURRENT)
        if fmt not in EXPORT_FORMATS or current is None:
            return back("/export", "train a model first" if current is None else f"unknown format {fmt!r}")
        if not exporting.acquire(blocking=False):
            return back("/export", "an export is already running")
        out = inside(directory, "exports", f"training-{current}-{fmt}")
        store.set_meta("export", {"format": fmt, "status": "running", "path": str(out), "training": current})

        def work():
            from ..recipes.export import export

            try:
                result = export(training_dir(directory, current) / "run", out, fmt, overwrite=True)
                store.set_meta("export", {"format": fmt, "status": "done", "path": str(out), "training": current,
                                          "agreement": result.get("agreement"), "speedup": result.get("speedup")})
            except Exception as exc:  # noqa: BLE001 - the page shows it (onnx extras missing, ...)
                store.set_meta("export", {"format": fmt, "status": "failed", "path": str(out), "training": current,
                                          "message": f"{type(exc).__name__}: {exc}"})
            finally:
                exporting.release()

        threading.Thread(target=work, daemon=True, name="export").start()
        return back("/export", f"exporting the model as {fmt}")

    return app


class _Refused(Exception):
    pass


def _secured(response: Response) -> Response:
    for key, value in HEADERS.items():
        response.headers.setdefault(key, value)
    return response
