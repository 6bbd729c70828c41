"""``classify --input … --engine ray``: local Ray, a tiny teacher, a few hundred rows — the output equals the
single-process run's byte for byte, and a killed (torn) or partly failed Ray run resumes to the same file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmkd_med.cli import main

pytest.importorskip("ray")

SITES = ["clear cell renal cell carcinoma", "lung adenocarcinoma", "hepatocellular carcinoma",
         "urothelial carcinoma of the bladder", "prostate adenocarcinoma, Gleason 3+4"]  # fmt: skip


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    mp = pytest.MonkeyPatch()
    mp.delenv("RAY_ADDRESS", raising=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    mp.undo()


def _rows(n: int) -> list[str]:
    lines = []
    for i in range(n):
        margins = "clear" if i % 2 else "involved"
        note = f"Specimen {i}: {SITES[i % len(SITES)]}, {1 + i % 7} cm, margins {margins}."
        lines.append(json.dumps({"id": f"r{i}", "text": note, **({"lang": "en"} if i % 3 == 0 else {})}))
    lines[7] = "{not json"
    lines[50] = json.dumps({"id": "r50", "text": "   "})
    lines[51] = json.dumps({"id": "r49", "text": "Duplicate id, renal cell carcinoma."})  # ids may repeat
    return lines


def test_ray_output_equals_single_process_and_resumes(
    local_ray: None, tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(_rows(300)) + "\n", encoding="utf-8")
    base = [
        "classify",
        "--lang",
        "en",
        "--adapter",
        str(tiny_models[1]),
        "--input",
        str(src),
        "--batch-size",
        "8",
    ]
    single, distributed = tmp_path / "single.jsonl", tmp_path / "ray.jsonl"
    assert main([*base, "--out", str(single)]) == 1  # two bad rows
    assert main([*base, "--out", str(distributed), "--engine", "ray", "--workers", "2"]) == 1
    expected = single.read_bytes()
    assert distributed.read_bytes() == expected and len(expected.splitlines()) == 300

    # A kill mid-write: 120 rows written, the 121st torn, and one row an internal error of that run. The
    # resume batches the redone rows afresh, so it is compared with the single-process resume of that file.
    lines = expected.splitlines(keepends=True)
    broken = json.loads(lines[30])
    failed = {
        "id": broken["id"],
        "line": 31,
        "error": "internal error (RuntimeError)",
        "error_type": "internal",
    }
    torn = (
        b"".join(lines[:30]) + json.dumps(failed).encode() + b"\n" + b"".join(lines[31:120]) + lines[120][:25]
    )
    single.write_bytes(torn)
    distributed.write_bytes(torn)
    assert main([*base, "--out", str(single)]) == 1
    assert main([*base, "--out", str(distributed), "--engine", "ray", "--workers", "2"]) == 1
    resumed = single.read_bytes().splitlines(keepends=True)
    assert distributed.read_bytes().splitlines(keepends=True) == resumed and len(resumed) == 300
    assert resumed[:30] == lines[:30] and resumed[31:120] == lines[31:120]  # kept as written
    assert json.loads(resumed[30])["id"] == broken["id"] and "error" not in json.loads(resumed[30])


def test_engine_ray_needs_bulk_and_positive_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["classify", "a renal mass", "--lang", "en", "--engine", "ray"]) == 2
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "renal mass"}) + "\n", encoding="utf-8")
    args = ["classify", "--lang", "en", "--input", str(src), "--out", str(tmp_path / "o.jsonl")]
    assert main([*args, "--engine", "ray", "--workers", "0"]) == 2
    assert capsys.readouterr().err.count("cmkd-med: error:") == 2
