"""The real server process (`cmkd-med serve`) on 127.0.0.1 with a tiny teacher: it starts, becomes ready,
answers, keeps note text out of its logs, and stops on SIGINT, all in bounded time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cmkd_med.config import PROJECT_ROOT
from cmkd_med.fhir import parse_bundle

MARKER = "Zebulon-Quixotic-7731"
NOTE = f"Patient {MARKER}. Clear cell renal cell carcinoma, radical nephrectomy, margins clear."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["content-type"], json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers["content-type"], json.loads(err.read())


def test_real_server_process_on_localhost(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "cmkd_med.cli", "serve", "--port", str(port), "--lang", "en",
           "--adapter", str(tiny_models[1])]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.time() + 240, 0
            while time.time() < deadline and proc.poll() is None:
                try:
                    status = _call(f"{base}/readyz")[0]
                except OSError:
                    status = 0  # not listening yet
                if status == 200:
                    break
                time.sleep(0.5)
            assert status == 200, log.read_text(errors="replace")[-2000:]
            code, _, one = _call(f"{base}/v1/classify", {"text": NOTE})
            assert code == 200 and one["lang"] == "en" and len(one["probabilities"]) == 3
            code, _, batch = _call(f"{base}/v1/classify", {"notes": [NOTE, {"text": NOTE, "id": "b"}]})
            assert code == 200 and [r.get("id") for r in batch["results"]] == [None, "b"]
            code, kind, bundle = _call(f"{base}/v1/summarize?format=fhir", {"text": NOTE})
            assert code == 200 and kind.startswith("application/fhir+json")
            parse_bundle(bundle)
            code, kind, problem = _call(f"{base}/v1/classify", {"text": NOTE, "lang": "fr"})
            assert code == 422 and kind.startswith("application/problem+json") and MARKER not in str(problem)
            code, _, linked = _call(f"{base}/v1/link", {"text": NOTE})
            assert code == 200 and any(e["cui"] == "C0279702" for e in linked["entities"])
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "POST /v1/classify" in text  # the access log is on ...
    assert MARKER not in text and "Traceback" not in text  # ... and never carries a note
    assert proc.returncode == 0
