"""``cmkd-med classify|summarize|retrieve|index build`` end to end, including a bulk run killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cmkd_med.cli import main
from cmkd_med.config import PROJECT_ROOT

NOTE_PT = (PROJECT_ROOT / "examples/notes/pt_bexiga.txt").read_text(encoding="utf-8")
DEV_EN = PROJECT_ROOT / "examples/dev_notes/en.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_classify_one_note_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", NOTE_PT, "--lang", "pt", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["label"] == "BLCA" and result["lang"] == "pt"
    args = ["classify", NOTE_PT, "--lang", "pt", "--json", "--device", "cpu", "--precision", "float32"]
    assert main(args) == 0
    exact = json.loads(capsys.readouterr().out)
    assert exact["label"] == "BLCA" and exact["probability"] == pytest.approx(result["probability"], abs=0.02)


def test_user_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["classify", "   ", "--lang", "pt"]) == 2
    assert main(["classify", "nota", "--lang", "xx"]) == 2
    assert main(["classify", "--lang", "pt", "--input", str(tmp_path / "missing.jsonl"), "--out", "o"]) == 2
    assert main(["retrieve", "query", "--lang", "pt", "--index", str(tmp_path)]) == 2
    assert main(["classify", "nota", "--lang", "pt", "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("cmkd-med: error:") == 5 and "Traceback" not in err and "not a torch device" in err


def test_bulk_summarize_with_bad_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [
        json.dumps({"id": "pt1", "text": NOTE_PT}),
        json.dumps({"id": "empty", "text": ""}),
        "not json at all",
        json.dumps({"id": "big", "text": "a" * 1_048_576}),
        json.dumps({"id": "fr", "text": "Tumeur du rein, néphrectomie totale, sans métastase."}),
        json.dumps({"id": "hi1", "text": "फेफड़े का एडेनोकार्सिनोमा, लोबेक्टॉमी।"}),
    ]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code = main(["summarize", "--input", str(src), "--out", str(out), "--batch-size", "2"])
    assert code == 1  # some rows failed
    written = read_jsonl(out)
    assert [r.get("id") for r in written] == ["pt1", "empty", None, "big", "fr", "hi1"]
    assert [("error" in r) for r in written] == [False, True, True, True, True, False]
    assert written[0]["lang"] == "pt" and written[5]["lang"] == "hi" and "French" in written[4]["error"]
    assert "6 rows written" in capsys.readouterr().err


def test_bulk_classify_killed_midway_resumes_without_loss(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in DEV_EN.read_text(encoding="utf-8").splitlines()[:8]]
    lines = [json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows]
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "cmkd_med.cli",
        "classify",
        "--lang",
        "en",
        "--input",
        "-",
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen([*cmd, "--batch-size", "2"], stdin=subprocess.PIPE, cwd=PROJECT_ROOT, env=env)
    assert proc.stdin is not None
    proc.stdin.write("".join(lines[:5]).encode())  # the rest of the input has not arrived yet
    proc.stdin.flush()
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 4):
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)  # killed mid-run, with row 5 read but not yet written
    proc.wait()
    before = read_jsonl(out)
    assert [r["id"] for r in before] == [r["id"] for r in rows[:4]]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(lines), encoding="utf-8")
    done = subprocess.run([*cmd[:-4], "--input", str(src), "--out", str(out)], cwd=PROJECT_ROOT, env=env)
    assert done.returncode == 0
    after = read_jsonl(out)
    assert [r["id"] for r in after] == [r["id"] for r in rows]  # each once, in order
    assert after[:4] == before and all("label" in r for r in after)


def test_index_build_then_retrieve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = tmp_path / "items.jsonl"
    reports = [json.loads(line) for line in DEV_EN.read_text(encoding="utf-8").splitlines()[:12]]
    variants = PROJECT_ROOT / "examples/demo_variants.jsonl"
    items.write_text(
        "".join(json.dumps({"id": r["id"], "text": r["text"], "label": r["label"]}) + "\n" for r in reports)
        + variants.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    assert main(["index", "build", "--input", str(items), "--out", str(tmp_path / "idx")]) == 0
    assert "text: 12 (IndexFlatIP)" in capsys.readouterr().err
    args = ["retrieve", NOTE_PT, "--lang", "pt", "--index", str(tmp_path / "idx"), "-k", "3", "--json"]
    assert main(args) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and hits[0]["label"] == "BLCA"
    assert main([*args[:-1], "--modality", "variants"]) == 0
    assert "FGFR3 S249C" in capsys.readouterr().out
    queries, out = tmp_path / "q.jsonl", tmp_path / "hits.jsonl"
    queries.write_text(
        json.dumps({"id": "q1", "text": NOTE_PT, "lang": "pt"})
        + "\n"
        + json.dumps({"id": "q2", "text": ""})
        + "\n",
        encoding="utf-8",
    )
    bulk = [
        "retrieve",
        "--input",
        str(queries),
        "--out",
        str(out),
        "--index",
        str(tmp_path / "idx"),
        "-k",
        "2",
    ]
    assert main(bulk) == 1  # q2 is empty
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["q1", "q2"] and len(rows[0]["hits"]) == 2 and "error" in rows[1]
