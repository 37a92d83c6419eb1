"""`lmtune serve`: every endpoint and error case, auth, metrics, masked logs, micro-batching."""
from __future__ import annotations

import asyncio
import json
import logging

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from lmtune.data.pii import mask_pii  # noqa: E402
from lmtune.errors import ConfigError  # noqa: E402
from lmtune.serve.app import ServeSettings, create_app  # noqa: E402
from lmtune.serve.batching import MicroBatcher  # noqa: E402
from lmtune.serve.security import digest, key_allowed, load_api_keys  # noqa: E402

KEY = "k" * 12 + "-secret-key-0001"


@pytest.fixture
def client(trained_run):
    settings = ServeSettings(max_texts=8, max_text_chars=200, max_body_bytes=4000,
                             api_key_digests=[digest(KEY)], log_text=True)
    with TestClient(create_app(trained_run.run_dir, settings)) as c:
        yield c


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def test_predict_returns_labels_and_probabilities(client, trained_run):
    texts = ["good great film", "bad awful movie"]
    r = client.post("/v1/predict", json={"texts": texts}, headers=auth())
    assert r.status_code == 200, r.text
    body = r.json()
    import lmtune

    expected = lmtune.predict(trained_run.run_dir, texts, progress=False)
    assert [p["label"] for p in body["predictions"]] == [e["label"] for e in expected]
    for p, e in zip(body["predictions"], expected):
        assert p["probabilities"] == pytest.approx(e["probabilities"], abs=1e-5)
    assert body["model"]["version"] and body["model"]["inference"]
    assert r.headers["x-request-id"]
    assert client.post("/v1/predict", json={"texts": texts}, headers={"X-API-Key": KEY}).status_code == 200


@pytest.mark.parametrize("payload, status, code", [
    (b"{not json", 422, "invalid_request"),
    (json.dumps({"texts": "one string"}).encode(), 422, "invalid_request"),
    (json.dumps({"texts": [1, 2]}).encode(), 422, "invalid_request"),
    (json.dumps({"texts": []}).encode(), 422, "invalid_request"),
    (json.dumps({"text": ["x"]}).encode(), 422, "invalid_request"),
    (json.dumps({"texts": ["ok", "   "]}).encode(), 422, "empty_text"),
    (json.dumps({"texts": ["x" * 201]}).encode(), 422, "text_too_long"),
    (json.dumps({"texts": ["good"] * 9}).encode(), 413, "too_many_texts"),
    (json.dumps({"texts": ["good"] * 10_000}).encode(), 413, "body_too_large"),
])
def test_bad_requests_get_a_clear_4xx_and_the_server_stays_healthy(client, payload, status, code):
    r = client.post("/v1/predict", content=payload, headers={**auth(), "content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/predict", json={"texts": ["good"]}, headers=auth()).status_code == 200


@pytest.mark.parametrize("payload", [b'{"texts": ["caf\xe9 \xff"]}', b'{"texts": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_invalid_utf8_and_deep_nesting_answer_in_the_error_shape(client, payload):
    r = client.post("/v1/predict", content=payload, headers={**auth(), "content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert set(r.json()) == {"error"} and r.json()["error"]["code"] and r.json()["error"]["message"]
    assert client.post("/v1/predict", json={"texts": ["good"]}, headers=auth()).status_code == 200


def test_unknown_paths_and_methods_answer_in_the_error_shape(client):
    assert client.get("/v2/nothing").json()["error"]["code"] == "not_found"
    r = client.get("/v1/predict", headers=auth())
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_a_server_failure_is_json_logged_and_counted(trained_run, caplog):
    settings = ServeSettings()
    with TestClient(create_app(trained_run.run_dir, settings), raise_server_exceptions=False) as c:
        def broken(texts):
            raise RuntimeError("model exploded")

        batcher = next(v for v in _app_state(c.app).values() if isinstance(v, MicroBatcher))
        batcher.predict = broken
        with caplog.at_level(logging.INFO, logger="lmtune"):
            r = c.post("/v1/predict", json={"texts": ["good"]})
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        assert r.headers["x-request-id"]
        assert any("model exploded" in rec.getMessage() or (rec.exc_info and "model exploded" in str(rec.exc_info[1]))
                   for rec in caplog.records)
        access = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "lmtune.access"]
        assert access[-1]["status"] == 500 and "model exploded" in access[-1]["error"]
        assert 'lmtune_requests_total{path="/v1/predict",status="500"} 1.0' in c.get("/metrics").text


def _app_state(app) -> dict:
    """The `state` dict the app's routes close over (the served model, the batcher)."""
    for route in app.routes:
        for cell in getattr(getattr(route, "endpoint", None), "__closure__", None) or ():
            if isinstance(cell.cell_contents, dict) and "batcher" in cell.cell_contents:
                return cell.cell_contents
    raise AssertionError("no state found")


def test_a_stalled_body_gets_408_instead_of_holding_the_connection(trained_run):
    from lmtune.serve.app import BodyLimit

    async def app(scope, receive, send):
        raise AssertionError("never reached")

    async def receive():
        if not receive.sent:
            receive.sent = True
            return {"type": "http.request", "body": b'{"texts": ["hal', "more_body": True}
        await asyncio.sleep(60)  # the client stalls

    receive.sent, sent = False, []

    async def send(message):
        sent.append(message)

    async def scenario():
        started = asyncio.get_running_loop().time()
        await BodyLimit(app, max_bytes=1000, read_timeout_s=0.2)({"type": "http", "headers": []}, receive, send)
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(scenario()) < 5
    assert sent[0]["status"] == 408 and json.loads(sent[1]["body"])["error"]["code"] == "body_timeout"


def test_a_request_cut_by_the_shutdown_grace_gets_503():
    from lmtune.serve.app import ShutdownAnswer

    async def slow_app(scope, receive, send):
        await asyncio.sleep(60)  # still predicting when the grace ends

    sent = []

    async def send(message):
        sent.append(message)

    async def scenario():
        task = asyncio.create_task(ShutdownAnswer(slow_app)({"type": "http"}, None, send))
        await asyncio.sleep(0.05)
        task.cancel()  # what uvicorn does to running requests when timeout_graceful_shutdown ends
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert sent[0]["status"] == 503 and json.loads(sent[1]["body"])["error"]["code"] == "shutting_down"


def test_streamed_oversized_body_is_refused(client):
    def chunks():
        for _ in range(10):
            yield b" " * 1000

    r = client.post("/v1/predict", content=chunks(), headers={**auth(), "content-type": "application/json"})
    assert r.status_code == 413


def test_api_key_required(client):
    assert client.post("/v1/predict", json={"texts": ["good"]}).status_code == 401
    r = client.post("/v1/predict", json={"texts": ["good"]}, headers=auth("wrong-key-wrong-key"))
    assert r.status_code == 401 and "Bearer" in r.json()["error"]["fix"]
    assert client.get("/metrics").status_code == 401
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_metrics_count_requests_and_batches(client):
    client.post("/v1/predict", json={"texts": ["good", "bad"]}, headers=auth())
    client.post("/v1/predict", json={"texts": ["good"]})  # 401
    text = client.get("/metrics", headers=auth()).text
    assert 'lmtune_requests_total{path="/v1/predict",status="200"} 1.0' in text
    assert 'lmtune_requests_total{path="/v1/predict",status="401"} 1.0' in text
    assert "lmtune_texts_total 2.0" in text
    assert "lmtune_batch_texts_count 1.0" in text and "lmtune_request_seconds_bucket" in text
    assert "lmtune_model_info{" in text


def test_access_log_is_json_with_pii_masked(client, caplog):
    with caplog.at_level(logging.INFO, logger="lmtune.access"):
        client.post("/v1/predict", json={"texts": ["good film, mail me at ann@example.com or +44 20 7946 0958"]},
                    headers=auth())
    line = json.loads([r.getMessage() for r in caplog.records if r.name == "lmtune.access"][-1])
    assert line["status"] == 200 and line["texts"] == 1 and line["path"] == "/v1/predict"
    logged = json.dumps(line)
    assert "ann@example.com" not in logged and "7946" not in logged
    assert "[EMAIL]" in line["texts_masked"][0] and "[PHONE]" in line["texts_masked"][0]


def test_without_log_text_no_text_is_logged(trained_run, caplog):
    with TestClient(create_app(trained_run.run_dir, ServeSettings())) as c, \
            caplog.at_level(logging.INFO, logger="lmtune.access"):
        assert c.post("/v1/predict", json={"texts": ["secret words good"]}).status_code == 200  # no keys set
    assert all("secret" not in r.getMessage() for r in caplog.records)


def test_cors_is_off_by_default(client):
    r = client.options("/v1/predict", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_micro_batcher_gathers_concurrent_requests_and_splits_results():
    calls = []

    def predict(texts):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=8, max_wait_s=0.05)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit([f"a{i}", f"b{i}"]) for i in range(3)))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert results == [[f"A{i}", f"B{i}"] for i in range(3)]
    assert len(calls) == 1 and len(calls[0]) == 6  # one model call for three requests


def test_one_bad_request_in_a_batch_fails_only_itself():
    """A failure inside a shared model call is retried request by request: the others get their
    answers, the poisoned one its error."""
    calls = []

    def predict(texts):
        calls.append(list(texts))
        if "poison" in texts:
            raise ValueError("bad text")
        return [t.upper() for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=16, max_wait_s=0.05)
        await batcher.start()
        results = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["poison", "b"]), batcher.submit(["c"]),
                                       return_exceptions=True)
        await batcher.stop()
        return results

    ok1, bad, ok2 = asyncio.run(scenario())
    assert ok1 == ["A"] and ok2 == ["C"] and isinstance(bad, ValueError)
    assert calls[0] == ["a", "poison", "b", "c"] and len(calls) == 4  # one shared call, then each alone


def test_a_lone_surrogate_is_refused_before_batching(client):
    response = client.post("/v1/predict", headers={"Authorization": f"Bearer {KEY}", "content-type": "application/json"},
                           content=b'{"texts": ["good film", "\\ud800"]}')
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_text" and "texts[1]" in response.json()["error"]["message"]
    assert client.get("/readyz").status_code == 200


def test_micro_batcher_passes_errors_to_every_waiting_request():
    def predict(texts):
        raise RuntimeError("model failed")

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=8, max_wait_s=0.01)
        await batcher.start()
        results = await asyncio.gather(batcher.submit(["x"]), batcher.submit(["y"]), return_exceptions=True)
        await batcher.stop()
        return results

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(scenario()))


def test_api_keys_file(tmp_path):
    f = tmp_path / "keys"
    f.write_text(f"# team keys\n{KEY}\nsha256:{digest('another-long-key-value')}\n\n")
    digests = load_api_keys(f)
    assert key_allowed(KEY, digests) and key_allowed("another-long-key-value", digests)
    assert not key_allowed("nope", digests) and not key_allowed(None, digests)
    f.write_text("short\n")
    with pytest.raises(ConfigError, match=r"keys:1"):
        load_api_keys(f)


def test_mask_pii():
    masked = mask_pii("Ann (ann.lee@corp.io) paid with 4111 1111 1111 1111, see https://x.io/a, call 555-123-4567")
    assert masked == "Ann ([EMAIL]) paid with [CARD], see [URL], call [PHONE]"
    assert mask_pii("In 2024 we sold 15 units.") == "In 2024 we sold 15 units."
    assert mask_pii("pay DE89 3704 0044 0532 0130 00 or GB29NWBK60161331926819.") == "pay [IBAN] or [IBAN]."
    assert mask_pii("from 192.168.1.20 via 2001:db8:85a3::8a2e:370:7334 and ::1") == "from [IP] via [IP] and [IP]"
    assert mask_pii("at 12:30:45, a 3:2 win") == "at 12:30:45, a 3:2 win"


def test_cli_refuses_public_bind_without_keys(trained_run):
    from typer.testing import CliRunner

    from lmtune.cli import app

    result = CliRunner().invoke(app, ["serve", str(trained_run.run_dir), "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "without API keys" in str(result.exception)


def test_sigterm_finishes_in_flight_requests(trained_run):
    """A real `lmtune serve` process: a request held in the batcher when SIGTERM arrives still
    gets its answer, and the server then exits."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "lmtune", "serve", str(trained_run.run_dir), "--port", str(port),
                             "--max-wait-ms", "1500"],  # holds the request in the batcher long enough to signal
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        result = {}
        worker = threading.Thread(target=lambda: result.update(
            r=httpx.post(f"{url}/v1/predict", json={"texts": ["good great"]}, timeout=30)))
        worker.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        worker.join(30)
        assert result["r"].status_code == 200 and result["r"].json()["predictions"][0]["label"] in ("pos", "neg")
        # uvicorn re-raises the signal once shut down, so "terminated by SIGTERM" is the clean exit
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        proc.kill()


def test_serve_exits_non_zero_when_the_port_is_taken(trained_run, capsys):
    import socket

    from lmtune.cli import main

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", str(trained_run.run_dir), "--port", str(port)])
    assert exit_info.value.code == 2
    err = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in err.err and "serving" not in err.out


def test_a_request_may_set_the_abstain_band(client):
    texts = ["good great fine", "the a of"]
    plain = client.post("/v1/predict", json={"texts": texts}, headers=auth()).json()["predictions"]
    banded = client.post("/v1/predict", json={"texts": texts, "min_confidence": 1.0}, headers=auth()).json()["predictions"]
    assert all(r["label"] == "abstain" and r["predicted"] == p["label"] for r, p in zip(banded, plain))
    assert client.post("/v1/predict", json={"texts": texts, "min_confidence": 2}, headers=auth()).status_code == 422
