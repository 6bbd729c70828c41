"""Service latency and throughput against the Python API, in the same run, at batch 16.

    python bench/service.py [--lang pt] [--repeats 3] [--batch 16] [--max-seconds 300]

One pipeline (the committed adapter for ``--lang``) serves both sides: the Python API calls
``classify`` on batches of ``--batch`` dev notes (``examples/dev_notes``); the service is the same app
``cmkd-med serve`` runs (uvicorn, in a thread of this process, on 127.0.0.1 only, a free port) and a client
posts the same batches as ``{"notes": [...]}`` over one keep-alive connection, one request at a time.
Passes alternate (API, service, API, ...) after one warm-up pass each. The load loop is bounded: it sends
``--repeats`` passes and stops early at ``--max-seconds``; the server is stopped at the end. Latency is per
batch (per request for the service: JSON, HTTP and the lock included), p50 and p95; throughput in notes/s;
the ratio is service / API notes/s (target >= 0.8). Writes ``bench/results/service.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # never anything else: this is a load loop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(latencies: list[float], notes: int, seconds: float) -> dict[str, Any]:
    return {
        "requests": len(latencies),
        "notes": notes,
        "seconds": round(seconds, 3),
        "notes_per_s": round(notes / seconds, 2),
        "latency_p50_ms": round(1000 * _pct(latencies, 0.5), 1),
        "latency_p95_ms": round(1000 * _pct(latencies, 0.95), 1),
        "latency_mean_ms": round(1000 * statistics.fmean(latencies), 1),
    }


def main() -> None:
    import torch
    import uvicorn

    from cmkd_med import pipeline
    from cmkd_med.service import ServiceConfig, create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="pt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    path = ROOT / "examples" / "dev_notes" / f"{args.lang}.jsonl"
    notes = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    batches = [notes[i : i + args.batch] for i in range(0, len(notes), args.batch)]

    nlp = pipeline(args.lang, batch_size=args.batch)
    port = _free_port()
    app = create_app(nlp, ServiceConfig(max_batch=max(64, args.batch), preload=(args.lang,)))
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=HOST, port=port, log_level="warning", access_log=False, timeout_keep_alive=600
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    deadline = time.time() + args.max_seconds

    def api_pass() -> tuple[list[float], list[Any]]:
        lat, out = [], []
        for batch in batches:
            t = time.perf_counter()
            out += nlp.classify(batch)
            lat.append(time.perf_counter() - t)
        return lat, out

    def service_pass() -> tuple[list[float], list[Any]]:
        lat, out = [], []
        for batch in batches:
            body = json.dumps({"notes": batch, "lang": args.lang}).encode("utf-8")
            t = time.perf_counter()
            conn.request("POST", "/v1/classify", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            lat.append(time.perf_counter() - t)
            if response.status != 200:
                raise SystemExit(f"service answered {response.status}: {payload[:300]!r}")
            out += json.loads(payload)["results"]
        return lat, out

    try:
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        while json.loads(_get(conn, "/readyz") or "{}").get("status") != "ready" and time.time() < deadline:
            time.sleep(0.2)
        api_ref = api_pass()[1]  # warm-up, both sides
        service_ref = service_pass()[1]
        timed: dict[str, list[float]] = {"api": [], "service": []}
        seconds = {"api": 0.0, "service": 0.0}
        passes = 0
        for _ in range(args.repeats):
            if time.time() > deadline:
                break
            for name, run in (("api", api_pass), ("service", service_pass)):
                t = time.perf_counter()
                lat, _ = run()
                seconds[name] += time.perf_counter() - t
                timed[name] += lat
            passes += 1
    finally:
        conn.close()
        server.should_exit = True
        thread.join(timeout=30)
    same = [a["label"] for a in api_ref] == [s["label"] for s in service_ref]
    api = _summary(timed["api"], passes * len(notes), seconds["api"])
    service = _summary(timed["service"], passes * len(notes), seconds["service"])
    save(
        "service.json",
        {
            "lang": args.lang,
            "batch": args.batch,
            "passes": passes,
            "notes_per_pass": len(notes),
            "api": api,
            "service": service,
            "service_over_api_notes_per_s": round(service["notes_per_s"] / api["notes_per_s"], 3),
            "target": 0.8,
            "same_labels": same,
        },
    )


def _get(conn: http.client.HTTPConnection, path: str) -> str:
    conn.request("GET", path)
    return conn.getresponse().read().decode("utf-8")


if __name__ == "__main__":
    main()
