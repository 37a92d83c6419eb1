"""Load and abuse test of `lmtune serve`, against 127.0.0.1 only, bounded in count and time.

Throughput and p50/p95/p99 latency at 1, 8 and 32 concurrent clients (one text per request)
for lmtune serving the model in fp32 and in int8, next to a minimal FastAPI app that calls
`transformers.pipeline` per request (benchmarks/_plain_serving_app.py: what a user would
write). Then the abuse cases, each with the status it must get, and whether the server is
still healthy after.

    python benchmarks/serve_load.py RUN_DIR            # a finished run, e.g. runs/quickstart
    python benchmarks/serve_load.py RUN_DIR --requests 64 --seconds 30
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = "benchmark-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, env: dict) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()  # SIGTERM: graceful shutdown
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


async def load(port: int, texts: list[str], clients: int, requests: int, seconds: float, headers: dict) -> dict:
    import httpx

    latencies, statuses, queue = [], [], list(range(requests))
    deadline = time.perf_counter() + seconds

    async def client(http):
        while queue and time.perf_counter() < deadline:
            i = queue.pop()
            started = time.perf_counter()
            r = await http.post(f"http://127.0.0.1:{port}/v1/predict", json={"texts": [texts[i % len(texts)]]},
                                headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses.append(r.status_code)

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"n": len(latencies), "rps": len(latencies) / wall, "p50": q[49], "p95": q[94], "p99": q[98],
            "errors": sum(s != 200 for s in statuses)}


async def poisoned(port: int, clients: int = 8, requests: int = 16) -> int:
    """Valid clients beside one that sends a lone surrogate (valid JSON, no text) in a loop:
    how many valid requests did not get their 200."""
    import httpx

    url, auth = f"http://127.0.0.1:{port}/v1/predict", {"Authorization": f"Bearer {KEY}"}
    done = asyncio.Event()
    lost = 0

    async def valid(http):
        nonlocal lost
        for i in range(requests):
            r = await http.post(url, json={"texts": [f"a fine review number {i}"]}, headers=auth)
            lost += r.status_code != 200

    async def poison(http):
        while not done.is_set():
            await http.post(url, content=b'{"texts": ["good", "\\ud800"]}',
                            headers={**auth, "content-type": "application/json"})

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients + 1)) as http:
        poisoner = asyncio.create_task(poison(http))
        await asyncio.gather(*(valid(http) for _ in range(clients)))
        done.set()
        await poisoner
    return lost


def busy_port_exit(port: int, cmd: list[str]) -> int:
    """Exit code of a second `lmtune serve` on the port the first one holds (systemd restarts on non-zero)."""
    return subprocess.run(cmd + ["--port", str(port)], capture_output=True, timeout=120).returncode


def abuse(port: int, cmd: list[str]) -> list[tuple[str, int, int]]:
    """(case, expected status (or count, or exit code), got)."""
    import httpx

    url, auth = f"http://127.0.0.1:{port}/v1/predict", {"Authorization": f"Bearer {KEY}"}
    json_h = {**auth, "content-type": "application/json"}
    cases = [("malformed JSON", 422, lambda: httpx.post(url, content=b"{nope", headers=json_h)),
             ("invalid UTF-8", 400, lambda: httpx.post(url, content=b'{"texts": ["\xff\xfe"]}', headers=json_h)),
             ("nesting 10,000 deep", 400, lambda: httpx.post(url, content=b"[" * 10_000, headers=json_h)),
             ("wrong types", 422, lambda: httpx.post(url, json={"texts": [1, {"a": 2}]}, headers=auth)),
             ("oversized body (2 MB)", 413, lambda: httpx.post(url, content=b" " * 2_000_000, headers=json_h)),
             ("10,000 texts in one call", 413, lambda: httpx.post(url, json={"texts": ["hi"] * 10_000}, headers=auth)),
             ("missing API key", 401, lambda: httpx.post(url, json={"texts": ["hi"]})),
             ("wrong API key", 401, lambda: httpx.post(url, json={"texts": ["hi"]}, headers={"Authorization": "Bearer x" * 3}))]
    results = [(name, want, fn().status_code) for name, want, fn in cases]
    # slow client: headers and part of the body, then silence; others must still be served
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"texts\"")
        time.sleep(1)
        served = httpx.post(url, json={"texts": ["still serving?"]}, headers=auth, timeout=30).status_code
        results.append(("slow client (others still served)", 200, served))
        stalled = slow.recv(4096).split(b" ", 2)[1]  # the server cuts the stalled body (read timeout)
        results.append(("stalled body (read timeout)", 408, int(stalled)))
    results.append(("poisoned batch: valid requests lost", 0, asyncio.run(poisoned(port))))
    results.append(("second server on the busy port: exit", 2, busy_port_exit(port, cmd)))
    results.append(("healthy after", 200, httpx.get(f"http://127.0.0.1:{port}/readyz").status_code))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--requests", type=int, default=96, help="requests per setting (bound)")
    parser.add_argument("--seconds", type=float, default=60, help="time per setting (bound)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _machine import quiet_and_describe
    from lmtune import load_run
    from lmtune.data import prepare_data
    from lmtune.device import choose_precision
    from lmtune.recipes.validation import validate_config

    print(quiet_and_describe(), flush=True)
    run = load_run(args.run_dir)
    cfg = validate_config(run.config)
    data = prepare_data(cfg.data, cfg.seed, "classification")
    texts = [ex.text for ex in (data.test or data.dev or data.train)]
    key_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"lmtune-bench-keys-{os.getpid()}"
    key_file.write_text(KEY + "\n")
    run_dir = str(args.run_dir.resolve())
    lmtune_cmd = [sys.executable, "-m", "lmtune", "serve", run_dir, "--api-key-file", str(key_file)]
    servers = [("plain pipeline app (per request)", [sys.executable, "-m", "uvicorn", "_plain_serving_app:app",
                                                     "--log-level", "warning"], {"MODEL_DIR": run_dir}, {}),
               ("lmtune serve, fp32", lmtune_cmd + ["--quantize", "none", "--precision", "fp32"], {},
                {"Authorization": f"Bearer {KEY}"}),
               ("lmtune serve, int8", lmtune_cmd + ["--quantize", "int8"], {}, {"Authorization": f"Bearer {KEY}"})]
    if choose_precision("auto").precision == "bf16":
        servers.append(("lmtune serve, bf16", lmtune_cmd + ["--quantize", "none", "--precision", "bf16"], {},
                        {"Authorization": f"Bearer {KEY}"}))
    else:
        print("# bf16 row skipped: this CPU has no AMX/AVX512-BF16 (bf16 would be hundreds of times slower)")
    print(f"# {len(texts)} held-out texts of {args.run_dir}, one per request; <= {args.requests} requests or "
          f"{args.seconds:.0f} s per row\n")
    print(f"{'server':<34} {'clients':>7} {'req/s':>7} {'ratio':>6} {'p50_ms':>7} {'p95_ms':>7} {'p99_ms':>7} {'errors':>6}")
    baseline: dict[int, float] = {}
    for name, cmd, env, headers in servers:
        port = free_port()
        proc = start(cmd + ["--port", str(port)], port, env)
        try:
            for clients in args.clients:
                r = asyncio.run(load(port, texts, clients, args.requests, args.seconds, headers))
                baseline.setdefault(clients, r["rps"])
                print(f"{name:<34} {clients:>7} {r['rps']:>7.1f} {r['rps'] / baseline[clients]:>5.2f}x "
                      f"{r['p50'] * 1000:>7.0f} {r['p95'] * 1000:>7.0f} {r['p99'] * 1000:>7.0f} {r['errors']:>6}", flush=True)
            if name.endswith("fp32"):
                print("\nabuse cases against lmtune serve (fp32):")
                for case, want, got in abuse(port, cmd):
                    print(f"  {case:<36} expected {want}, got {got}  {'ok' if want == got else 'FAIL'}", flush=True)
                print()
        finally:
            stop(proc)
    key_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
