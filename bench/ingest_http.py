"""How fast the ingest HTTP service takes events: real uvicorn (``serve``) in its own process, embedded broker.

    .venv/bin/python bench/ingest_http.py [--events 40000] [--batch 500] [--clients 4] [--bad-every 20]

Each client posts NDJSON batches in turn and waits for the answer (which comes after the broker's
acknowledgement). Prints events/s, request latency percentiles and the server's peak RSS.

Anchor, in the same run with the same bodies and clients: a bare FastAPI endpoint under uvicorn in its own
process that splits the body into lines, takes each line's ``child_id`` as the key (``orjson.loads``), sends
every line to the case-events topic with the same producer settings (``carewatch.broker.producer``, linger
5 ms) from a worker thread and answers once all are acknowledged: no authentication, validation, dead
letters, metrics or logging. The ratio is ingest events/s / anchor events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from carewatch.broker import EmbeddedBroker, ensure_topics, free_port
from carewatch.broker import producer as make_producer
from carewatch.testing.samples import mixed_lines
from schemas import topics

TOKEN = "bench-token"


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"ingest service exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError("ingest service did not become healthy")


def anchor_server(bootstrap: str, port: int) -> None:
    """The anchor: a bare endpoint that publishes each NDJSON line and waits for the acknowledgements."""
    producer = make_producer(bootstrap, client_id="bench-bare-ingest")
    app = FastAPI()

    def publish(body: bytes) -> int:
        futures = []
        for line in body.split(b"\n"):
            if line:
                try:
                    key = str(orjson.loads(line).get("child_id", "")).encode()
                except (orjson.JSONDecodeError, AttributeError):
                    key = b""
                futures.append(producer.send(topics.CASE_EVENTS, key=key or None, value=line))
        for future in futures:
            future.get(timeout=30)
        return len(futures)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"{}", media_type="application/json")

    @app.post("/v1/events")
    async def events(request: Request) -> Response:
        count = await run_in_threadpool(publish, await request.body())
        return Response(json.dumps({"received": count, "accepted": count, "rejected": 0}),
                        media_type="application/json")  # fmt: skip

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def post_bodies(url: str, bodies: list[bytes], clients: int) -> tuple[float, list[float], dict[str, int]]:
    """Post every body with ``clients`` threads; returns (seconds, request latencies, summed answers)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    latencies: list[float] = []
    totals = {"received": 0, "accepted": 0, "rejected": 0}

    def post_all(worker: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for body in bodies[worker::clients]:
                started = time.perf_counter()
                response = client.post("/v1/events", content=body)
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                summary = response.json()
                for key in totals:
                    totals[key] += summary[key]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post_all, range(clients)))
    return time.perf_counter() - started, latencies, totals


def run_anchor(bootstrap: str, bodies: list[bytes], clients: int) -> float:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--anchor-server", bootstrap, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        elapsed, _, _ = post_bodies(url, bodies, clients)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--bad-every", type=int, default=20, help="one bad line in N (0: none)")
    args = parser.parse_args()

    lines = [line for line, _ in mixed_lines(args.events, bad_every=args.bad_every or args.events + 1)]
    bodies = [b"\n".join(lines[i : i + args.batch]) + b"\n" for i in range(0, len(lines), args.batch)]

    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, partitions=8)
        port = free_port()
        env = {
            **os.environ,
            "CAREWATCH_KAFKA_BOOTSTRAP": broker.bootstrap,
            "CAREWATCH_INGEST_PORT": str(port),
            "CAREWATCH_INGEST_TOKENS": f'["{TOKEN}"]',
        }
        code = "import logging; logging.disable(logging.INFO); from services.ingest.cli import serve; serve()"
        server = subprocess.Popen([sys.executable, "-c", code], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server)
            elapsed, latencies, totals = post_bodies(url, bodies, args.clients)
            rss = peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        anchor = run_anchor(broker.bootstrap, bodies, args.clients)

    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"ingest over HTTP: {args.events} events, {len(bodies)} batches of {args.batch}, {args.clients} clients")
    print(f"  received {totals['received']} = accepted {totals['accepted']} + rejected {totals['rejected']}")
    print(f"  {elapsed:.2f} s -> {args.events / elapsed:,.0f} events/s")
    print(f"  anchor, bare FastAPI endpoint publishing the same lines: {anchor:.2f} s -> "
          f"{args.events / anchor:,.0f} events/s; ratio {anchor / elapsed:.2f}")  # fmt: skip
    print(
        f"  request latency: p50 {quantiles[49] * 1000:.1f} ms, p95 {quantiles[94] * 1000:.1f} ms, "
        f"p99 {quantiles[98] * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    print(f"  server peak RSS: {rss:.0f} MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--anchor-server"]:
        anchor_server(sys.argv[2], int(sys.argv[3]))
    else:
        main()
