"""The REST API: POST /v1/predict, GET /healthz, /readyz, /metrics.

Safe by default: binds to 127.0.0.1 (cli), no CORS, limits on body size, texts per call and
text length, API keys compared as digests in constant time, access logs as JSON lines with
personal data masked and no text at all unless asked for.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, FastAPI, Request  # the serve extra; this module loads only to serve
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..data.pii import mask_pii
from ..tasks.classification import abstain
from .batching import MicroBatcher
from .security import key_allowed

access_log = logging.getLogger("lmtune.access")
error_log = logging.getLogger("lmtune.serve")


SERVED_TASKS = ("classification", "multi-label")


@dataclass
class ServeSettings:
    max_body_bytes: int = 1_000_000
    read_timeout_s: float = 5.0  # the longest pause inside a request body
    max_texts: int = 64          # per request
    max_text_chars: int = 20_000
    max_batch: int = 32          # texts per model call, across concurrent requests
    max_wait_ms: float = 0.0     # extra wait for company; 0: batch what queued while the model ran
    api_key_digests: list[str] | None = None  # None: no authentication (only on 127.0.0.1)
    cors_origins: list[str] = field(default_factory=list)
    log_text: bool = False       # put (masked) texts in the access log
    quantize: str = "auto"
    precision: str = "auto"     # what runs unquantized: auto (the machine's choice), fp32, bf16
    min_confidence: float | None = None  # classification: the abstain band (a request may set its own)


class APIError(Exception):
    def __init__(self, status: int, code: str, message: str, fix: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.fix = status, code, message, fix


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1, description="the texts to label")
    min_confidence: float | None = Field(None, gt=0, le=1, description="classification: below this probability of "
                                         "the best class the label is 'abstain' (default: the server's)")


def _error_body(code: str, message: str, fix: str = "") -> dict:
    return {"error": {"code": code, "message": message, **({"fix": fix} if fix else {})}}


async def _send_error(send, status: int, code: str, message: str, fix: str) -> None:
    body = json.dumps(_error_body(code, message, fix)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class ShutdownAnswer:
    """Outermost ASGI middleware: a request still running when the server's shutdown grace ends
    is cancelled; it gets a 503 in the error shape (retry elsewhere) instead of uvicorn's 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if scope["type"] == "http" and not started:
                await _send_error(send, 503, "shutting_down", "the server stopped before this request finished",
                                  "retry: a restarted or another instance answers it.")
            raise


class BodyLimit:
    """ASGI middleware: 413 for a body over the limit, declared or streamed; 408 when the client
    stops sending mid-body for `read_timeout_s`. The body (at most max_bytes) is read here and
    replayed to the app, so nothing larger is ever buffered."""

    def __init__(self, app, max_bytes: int, read_timeout_s: float = 5.0):
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        chunks, size, more = [], 0, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.read_timeout_s)
            except asyncio.TimeoutError:  # an incomplete body must not hold the connection
                return await _send_error(send, 408, "body_timeout", f"no more of the request body came for "
                                         f"{self.read_timeout_s:g} s", "send the whole body at once.")
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._reject(send)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for the disconnect as usual
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _reject(self, send):
        await _send_error(send, 413, "body_too_large", f"request body over {self.max_bytes} bytes",
                          "send fewer or shorter texts per request.")


def create_app(run_dir: str | Path, settings: ServeSettings | None = None):
    from ..artifacts import require_classification

    require_classification(run_dir, "lmtune serve", SERVED_TASKS)
    settings = settings or ServeSettings()
    metrics = ServeMetrics()
    state: dict = {"ready": False}
    app = FastAPI(title="lmtune", lifespan=_lifespan(run_dir, settings, state, metrics),
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,  # innermost: its 413s are counted and logged
                       read_timeout_s=settings.read_timeout_s)
    _observe(app, metrics)
    app.add_middleware(ShutdownAnswer)  # outside the others: it answers for a request cancelled anywhere inside
    if settings.cors_origins:  # outermost, so every answer carries the headers
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["POST", "GET"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    _error_handlers(app)
    _routes(app, settings, state, metrics)
    return app


class ServeMetrics:
    """Prometheus metrics, per app: two apps in one process (tests) do not share counts."""

    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("lmtune_requests_total", "HTTP requests", ["path", "status"], registry=registry)
        self.latency = Histogram("lmtune_request_seconds", "request latency", ["path"], registry=registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.batch_sizes = Histogram("lmtune_batch_texts", "texts per model call", registry=registry,
                                     buckets=(1, 2, 4, 8, 16, 32, 64, 128))
        self.texts = Counter("lmtune_texts_total", "texts predicted", registry=registry)
        self.model_info = Gauge("lmtune_model_info", "the model served", ["run", "version", "inference"],
                                registry=registry)


def _lifespan(run_dir, settings: ServeSettings, state: dict, metrics: ServeMetrics):
    from ..api import task_of
    from ..loading import inference_plan, load_run

    @asynccontextmanager
    async def lifespan(app):
        run = load_run(run_dir)
        plan = inference_plan(run, settings.quantize, precision=settings.precision, batch_size=settings.max_batch)
        version = run.info.get("finished") or "unknown"
        task = task_of(run)

        def predict(texts: list[str]) -> list[dict]:
            return task.predict(plan.model, texts, batch_size=settings.max_batch, progress=False,
                                precision=plan.precision)

        state.update(run=run, version=version, inference=plan.description,
                     batcher=MicroBatcher(predict, settings.max_batch, settings.max_wait_ms / 1000,
                                          metrics.batch_sizes.observe))
        metrics.model_info.labels(str(run.path), version, plan.description).set(1)
        await state["batcher"].start()
        state["ready"] = True
        yield
        state["ready"] = False  # readyz says 503 while in-flight requests finish
        await state["batcher"].stop()

    return lifespan


def _observe(app, metrics: ServeMetrics) -> None:
    """Request id, metrics and one JSON access-log line per request."""

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request.state.log = {}
        try:
            response = await call_next(request)
        except Exception as exc:  # a bug or a broken model: JSON like every other error, logged and counted
            error_log.exception("request %s failed", request.state.request_id)
            request.state.log["error"] = f"{type(exc).__name__}: {exc}"[:300]
            response = JSONResponse(_error_body("internal_error", "the server failed on this request",
                                                "retry; if it persists, report it with the x-request-id header's "
                                                "value (the server log has the details)."), status_code=500)
        seconds = time.perf_counter() - started
        path = request.url.path if request.url.path in ("/v1/predict", "/healthz", "/readyz", "/metrics") else "other"
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(seconds)
        response.headers["x-request-id"] = request.state.request_id
        access_log.info(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), "request_id": request.state.request_id,
                                    "method": request.method, "path": request.url.path,
                                    "status": response.status_code, "ms": round(seconds * 1000, 1),
                                    "client": request.client.host if request.client else None,
                                    **request.state.log}, ensure_ascii=False))
        return response


def _error_handlers(app) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return JSONResponse(_error_body(exc.code, exc.message, exc.fix), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(_error_body("invalid_request", f"{where or 'body'}: {first.get('msg', 'invalid')}",
                                        'send JSON like {"texts": ["first text", "second text"]}.'), status_code=422)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own: unparsable body, unknown path, wrong method
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        endpoints = "the API is POST /v1/predict, GET /healthz, /readyz, /metrics."
        fix = {400: "send a UTF-8 JSON body like {\"texts\": [\"first text\"]}.", 404: endpoints,
               405: endpoints}.get(exc.status_code, "")
        return JSONResponse(_error_body(code, str(exc.detail), fix), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))


def _check_texts(texts: list[str], settings: ServeSettings) -> None:
    """Each request's texts are checked on their own, before they share a batch with others'."""
    if len(texts) > settings.max_texts:
        raise APIError(413, "too_many_texts", f"{len(texts)} texts in one request; the limit is "
                       f"{settings.max_texts}", "split them over several requests.")
    for i, text in enumerate(texts):
        if not text.strip():
            raise APIError(422, "empty_text", f"texts[{i}] is empty", "send non-empty texts.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") is valid JSON but no text
            raise APIError(422, "invalid_text", f"texts[{i}] holds a lone surrogate (not Unicode text)",
                           "send the text as UTF-8, without unpaired \\ud800-\\udfff escapes.") from None
        if len(text) > settings.max_text_chars:
            raise APIError(422, "text_too_long", f"texts[{i}] has {len(text)} characters; the limit is "
                           f"{settings.max_text_chars}", "shorten it; the model reads only its first tokens anyway.")


def _routes(app, settings: ServeSettings, state: dict, metrics: ServeMetrics) -> None:
    def authorized(request: Request) -> None:
        if settings.api_key_digests is None:
            return
        header = request.headers.get("authorization", "")
        key = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key")
        if not key_allowed(key, settings.api_key_digests):
            raise APIError(401, "unauthorized", "missing or wrong API key",
                           "send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.")

    @app.post("/v1/predict", dependencies=[Depends(authorized)])
    async def predict(body: PredictRequest, request: Request):
        if not state["ready"]:
            raise APIError(503, "not_ready", "the model is not loaded yet, or the server is shutting down")
        _check_texts(body.texts, settings)
        request.state.log["texts"] = len(body.texts)
        if settings.log_text:
            request.state.log["texts_masked"] = [mask_pii(t)[:200] for t in body.texts]
        threshold = body.min_confidence if body.min_confidence is not None else settings.min_confidence
        if body.min_confidence is not None and state["run"].task != "classification":
            raise APIError(422, "invalid_request", "min_confidence applies to single-label classification models",
                           f"this model's task is {state['run'].task}: drop min_confidence.")
        predictions = abstain(await state["batcher"].submit(body.texts), threshold)
        metrics.texts.inc(len(body.texts))
        return {"predictions": predictions, "model": {"version": state["version"], "inference": state["inference"]}}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        if not state["ready"]:
            return JSONResponse({"status": "not ready"}, status_code=503)
        return {"status": "ready", "model": {"version": state["version"], "inference": state["inference"]}}

    @app.get("/metrics", dependencies=[Depends(authorized)])
    async def metrics_route():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


ENV_CONFIG = "LMTUNE_SERVE_CONFIG"


def app_from_env():
    """uvicorn factory for several workers: each worker process builds the app from the settings
    the CLI put in the environment."""
    import os

    import transformers

    transformers.utils.logging.set_verbosity_error()  # a fresh worker process: quiet weight-loading bars
    transformers.utils.logging.disable_progress_bar()
    spec = json.loads(os.environ[ENV_CONFIG])
    return create_app(spec["run_dir"], ServeSettings(**spec["settings"]))
