"""Bulk JSONL runs: one output row per input line in order, error records for bad rows, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cmkd_med.bulk import Row, completed_ids, run_bulk
from cmkd_med.errors import InvalidInputError


def upper(rows: list[Row]) -> list[dict[str, Any]]:
    assert len(rows) <= 3  # batches, never the whole file
    return [{"upper": r.text.upper(), "lang": r.lang} for r in rows]


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bad_rows_become_error_records_and_the_rest_is_processed(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "text": "first note"}),
        "{not json",
        json.dumps({"id": "b", "text": ""}),
        json.dumps({"id": "c", "text": 42}),
        json.dumps({"text": "no id"}),
        json.dumps({"id": "d", "text": "x" * 1_000_001}),
        json.dumps({"id": "e", "text": "nota", "lang": "fr"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "f", "text": "nota em português", "lang": "por"}),
        json.dumps({"id": "g"}),
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, lines)
    stats = run_bulk(str(src), str(out), upper, batch_size=3, progress=False)
    rows = read_out(out)
    assert len(rows) == len(lines) and stats.written == len(lines) and stats.failed == 8
    assert [r.get("id") for r in rows] == ["a", None, "b", "c", None, "d", "e", None, "f", "g"]
    assert rows[0]["upper"] == "FIRST NOTE" and rows[8] == {
        "id": "f",
        "upper": "NOTA EM PORTUGUÊS",
        "lang": "pt",
    }
    errors = {r.get("id") or f"line {r['line']}": r["error"] for r in rows if "error" in r}
    assert "not JSON" in errors["line 2"] and "empty" in errors["b"] and "must be text" in errors["c"]
    assert "limit" in errors["d"] and "unsupported language" in errors["e"] and "id" in errors["line 5"]
    assert "missing 'text'" in errors["g"]
    assert "xxxx" not in out.read_text(encoding="utf-8")  # an error never quotes the note


def test_one_failing_row_fails_alone(tmp_path: Path) -> None:
    def picky(rows: list[Row]) -> list[dict[str, Any]]:
        if any("bad" in r.text for r in rows):
            raise InvalidInputError("this row is bad")
        return [{"ok": True} for _ in rows]

    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, [json.dumps({"id": str(i), "text": "bad" if i == 4 else "good"}) for i in range(9)])
    stats = run_bulk(str(src), str(out), picky, batch_size=3, progress=False)
    rows = read_out(out)
    assert [r["id"] for r in rows] == [str(i) for i in range(9)] and stats.failed == 1
    assert rows[4]["error"] == "this row is bad" and all(r.get("ok") for i, r in enumerate(rows) if i != 4)


def test_resume_skips_written_ids_and_cuts_a_torn_line(tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, [json.dumps({"id": f"n{i}", "text": f"note {i}"}) for i in range(7)])
    # An earlier run wrote n0 and n1, then was killed in the middle of writing n2.
    out.write_text(
        json.dumps({"id": "n0", "upper": "NOTE 0", "lang": None}) + "\n"
        + json.dumps({"id": "n1", "upper": "NOTE 1", "lang": None}) + "\n"
        + '{"id": "n2", "upp',
        encoding="utf-8",
    )  # fmt: skip
    assert completed_ids(out) == {"n0", "n1"} and out.read_text(encoding="utf-8").endswith("}\n")
    stats = run_bulk(str(src), str(out), upper, batch_size=3, progress=False)
    assert stats.skipped == 2 and stats.written == 5
    rows = read_out(out)
    assert [r["id"] for r in rows] == [f"n{i}" for i in range(7)]
    assert rows[2]["upper"] == "NOTE 2"
    again = run_bulk(str(src), str(out), upper, batch_size=3, progress=False)
    assert again.written == 0 and again.skipped == 7 and len(read_out(out)) == 7
