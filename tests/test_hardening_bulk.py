"""Issue 17 (hardening), bulk and CLI side: no poison rows, no lost or doubled rows, no destroyed files.

A Hypothesis suite generates bulk files of random rows — bad ids, text, encodings, nesting, duplicates, blank
lines — and runs them through the bulk layer and the CLI with a tiny fake model (never the real adapters):
one output row per input line, in order, strict JSON, no traceback, the README's exit code. Each case the
issue lists has its own regression test below as well.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmkd_med.bulk import run_bulk
from cmkd_med.cli import main
from cmkd_med.errors import DataFormatError, InvalidInputError
from cmkd_med.rows import Row
from cmkd_med.safe_io import OutputLock


# --- a tiny fake model -----------------------------------------------------------------------------
def fake_process(rows: list[Row]) -> list[dict[str, Any]]:
    """Upper-cases the text; "boom" is a bug (internal error), "nan" a model gone non-finite."""
    if any("boom" in r.text for r in rows):
        raise RuntimeError("a bug")
    return [{"upper": r.text.upper(), "p": math.nan if "nan" in r.text else 0.5} for r in rows]


class FakePipeline:
    """What the CLI's bulk path needs of a Pipeline: ``classify(texts, langs)``."""

    def classify(self, texts: list[str], langs: list[str | None]) -> list[dict[str, Any]]:
        rows = [Row(str(i), i, t, x) for i, (t, x) in enumerate(zip(texts, langs, strict=True))]
        return fake_process(rows)


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cmkd_med.pipeline_cli._pipeline", lambda args, index=None: FakePipeline())


def strict_loads(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"bare {name} in the output")

    return json.loads(line, parse_constant=refuse)


def read_out(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    data.decode("utf-8")  # valid UTF-8 throughout (a surrogate is escaped, never written raw)
    return [strict_loads(line) for line in data.decode("utf-8").splitlines()]


def check_rows(lines: list[bytes], out: Path) -> list[dict[str, Any]]:
    """One strict-JSON output row per input line, in input order."""
    rows = read_out(out)
    assert len(rows) == len(lines)
    for n, (raw, row) in enumerate(zip(lines, rows, strict=True), 1):
        if "error" in row:
            assert row["line"] == n and row["error_type"] in ("input", "internal")
        else:
            assert row["id"] == json.loads(raw)["id"]
    return rows


# --- random bulk files -----------------------------------------------------------------------------
ids = st.one_of(
    st.text(min_size=1, max_size=6),
    st.sampled_from(["dup", "dup", "line:1", "line:3", "sur\ud800", "\udfff", "", "x" * 1001]),
    st.integers(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["boom", "nan note", "lone \ud800 surrogate", "   ", "Carcinoma urotelial"]),
    st.integers(),
    st.none(),
)
langs = st.one_of(st.none(), st.sampled_from(["pt", "por", "xx", "en"]), st.integers())


@st.composite
def json_row(draw: st.DrawFn) -> bytes:
    row: dict[str, Any] = {}
    if draw(st.integers(0, 5)):
        row["id"] = draw(ids)
    if draw(st.integers(0, 9)):
        row["text"] = draw(texts)
    if draw(st.booleans()):
        row["lang"] = draw(langs)
    return json.dumps(row).encode("ascii")  # ensure_ascii: a lone surrogate travels as a \ud800 escape


raw_junk = st.sampled_from(
    [
        b"",  # blank line
        b"   ",
        b"{not json",
        b"\xff\xfe garbage",  # not UTF-8
        b"[" * 100_000,  # nested 100k deep
        b'{"id": "n", "text": NaN}',
        b'["a", "list"]',
        b'{"id": "deep", "text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b'{"id": "\\ud800", "text": "note"}',
    ]
)
lines_strategy = st.lists(st.one_of(json_row(), json_row(), raw_junk), min_size=1, max_size=12)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(lines=lines_strategy, batch=st.integers(1, 4))
def test_bulk_layer_writes_one_strict_row_per_line_in_order_and_resumes_without_doubling(
    lines: list[bytes], batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_bytes(b"".join(line + b"\n" for line in lines))
        stats = run_bulk(str(src), str(out), fake_process, batch_size=batch, progress=False)
        rows = check_rows(lines, out)
        assert stats.written == len(lines) and stats.failed == sum("error" in r for r in rows)
        again = run_bulk(str(src), str(out), fake_process, batch_size=batch, progress=False)
        assert check_rows(lines, out) == rows  # internal errors retried, same result; nothing doubled
        assert again.written == sum(r.get("error_type") == "internal" for r in rows)
        assert not (Path(tmp) / "out.jsonl.lock").exists()


@PROPERTY
@given(lines=lines_strategy)
def test_cli_bulk_exit_code_is_0_or_1_with_no_traceback(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr("cmkd_med.pipeline_cli._pipeline", lambda args, index=None: FakePipeline())
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_bytes(b"".join(line + b"\n" for line in lines))
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["classify", "--input", str(src), "--out", str(out), "--batch-size", "3"])
        rows = check_rows(lines, out)
        assert code == (1 if any("error" in r for r in rows) else 0)
        assert "Traceback" not in err.getvalue()


# --- poison rows -----------------------------------------------------------------------------------
def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def test_a_surrogate_id_is_a_row_error_and_reruns_do_not_crash(tmp_path: Path) -> None:
    # issue 17: "sur\ud800" crashed the run at write time, and every rerun the same way
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, ['{"id": "sur\\ud800", "text": "note"}', '{"id": "ok", "text": "note"}'])
    for _ in range(2):
        stats = run_bulk(str(src), str(out), fake_process, progress=False)
        rows = read_out(out)
        assert [r["id"] for r in rows] == [None, "ok"] and "Unicode" in rows[0]["error"]
    assert stats.written == 0 and stats.skipped == 2


def test_deep_nesting_is_a_row_error_and_the_row_before_is_written(tmp_path: Path) -> None:
    # issue 17: a 100k-deep line raised RecursionError and lost the good row before it
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, ['{"id": "a", "text": "note"}', "[" * 100_000])
    run_bulk(str(src), str(out), fake_process, progress=False)
    rows = read_out(out)
    assert rows[0]["upper"] == "NOTE" and "nested too deeply" in rows[1]["error"]


def test_deep_nesting_in_an_evaluation_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 17: also in `evaluate classify --data` (iter_jsonl, shared by every evaluate command)
    from cmkd_med.evaluation.jsonl import iter_jsonl

    data = tmp_path / "dev.jsonl"
    write_lines(data, ['{"mention": "carcinoma", "cui": "C0007097"}', "[" * 100_000])
    with pytest.raises(DataFormatError, match=":2: JSON nested too deeply"):
        list(iter_jsonl(data))
    assert main(["evaluate", "link", "--lang", "en", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_nan_result_becomes_an_error_record_never_bare_nan(tmp_path: Path) -> None:
    # issue 17: "probability": NaN was written as a bare NaN (not JSON)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, ['{"id": "a", "text": "nan here"}'])
    assert run_bulk(str(src), str(out), fake_process, progress=False).failed == 1
    assert "NaN" not in out.read_text() and "non-finite" in read_out(out)[0]["error"]


# --- rows lost -------------------------------------------------------------------------------------
def test_duplicate_ids_synthetic_keys_and_blank_lines_each_get_their_row(tmp_path: Path) -> None:
    # issue 17: a duplicate id was dropped on a fresh --out, "line:3" collided with the id-less line 3,
    # and blank lines had no output row
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(
        src,
        [
            '{"id": "dup", "text": "one"}',
            '{"id": "dup", "text": "two"}',
            '{"text": "no id"}',
            '{"id": "line:3", "text": "three"}',
            "",
            '{"id": "z", "text": "last"}',
        ],
    )
    stats = run_bulk(str(src), str(out), fake_process, progress=False)
    rows = read_out(out)
    assert [r["id"] for r in rows] == ["dup", "dup", None, "line:3", None, "z"] and stats.skipped == 0
    assert rows[1]["upper"] == "TWO" and rows[3]["upper"] == "THREE" and "blank" in rows[4]["error"]
    again = run_bulk(str(src), str(out), fake_process, progress=False)
    assert again.written == 0 and again.skipped == 6 and read_out(out) == rows


def test_internal_errors_are_retried_on_resume_and_input_errors_with_retry_errors(tmp_path: Path) -> None:
    # issue 17: an error record (even "internal error") counted as done, so a resume never retried it
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, [json.dumps({"id": f"n{i}", "text": f"note {i}"}) for i in range(5)])
    calls = {"n": 0}

    def flaky(rows: list[Row]) -> list[dict[str, Any]]:
        calls["n"] += 1
        if any(r.id == "n1" for r in rows) and calls["n"] < 4:
            raise RuntimeError("transient")
        if any(r.id == "n3" for r in rows) and calls["n"] < 6:
            raise InvalidInputError("refused this time")
        return [{"ok": r.id} for r in rows]

    first = run_bulk(str(src), str(out), flaky, batch_size=5, progress=False)
    rows = read_out(out)
    assert first.failed == 2 and rows[1]["error_type"] == "internal" and rows[3]["error_type"] == "input"
    second = run_bulk(str(src), str(out), flaky, batch_size=5, progress=False)
    rows = read_out(out)
    assert second.retried == 1 and rows[1] == {"id": "n1", "ok": "n1"} and "error" in rows[3]
    third = run_bulk(str(src), str(out), flaky, batch_size=5, progress=False, retry_errors=True)
    rows = read_out(out)
    assert third.retried == 1 and [r.get("ok") for r in rows] == [f"n{i}" for i in range(5)]


def test_retry_errors_is_a_documented_cli_option(fake_cli: None, tmp_path: Path) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "line": 1, "error": "unsupported language", "error_type": "input"}\n')
    write_lines(src, ['{"id": "a", "text": "fine now"}'])
    assert main(["classify", "--input", str(src), "--out", str(out)]) == 1  # kept: an input error
    assert main(["classify", "--input", str(src), "--out", str(out), "--retry-errors"]) == 0
    assert read_out(out) == [{"id": "a", "upper": "FINE NOW", "p": 0.5}]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "--retry-errors" in readme


# --- data destroyed --------------------------------------------------------------------------------
def test_a_foreign_out_file_is_refused_and_left_untouched(
    fake_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 17: an existing --out that is not this tool's JSONL was truncated and overwritten
    src = tmp_path / "in.jsonl"
    write_lines(src, ['{"id": "a", "text": "note"}'])
    for content in (b"precious notes\nline two\n", b'{"id": "a"}\nnot ours\n', b"no newline at all"):
        foreign = tmp_path / "thesis.txt"
        foreign.write_bytes(content)
        assert main(["classify", "--input", str(src), "--out", str(foreign)]) == 2
        assert foreign.read_bytes() == content
        err = capsys.readouterr().err
        assert "not a cmkd-med bulk output" in err and err.count("cmkd-med:") == 1


def test_a_second_run_on_the_same_out_refuses(
    fake_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 17: two runs on one --out both wrote (40 ids → 80 rows)
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_lines(src, ['{"id": "a", "text": "note"}'])
    with OutputLock(out):
        assert main(["classify", "--input", str(src), "--out", str(out)]) == 2
        assert "another cmkd-med run is writing" in capsys.readouterr().err
        assert not out.exists()
    assert main(["classify", "--input", str(src), "--out", str(out)]) == 0  # the lock went with its run
    assert len(read_out(out)) == 1


def test_out_a_directory_is_a_one_line_error(
    fake_cli: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    write_lines(src, ['{"id": "a", "text": "note"}'])
    assert main(["classify", "--input", str(src), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and "Traceback" not in err and err.count("\n") == 1


def test_write_json_replaces_a_file_atomically(tmp_path: Path) -> None:
    from cmkd_med.evaluation.jsonl import write_json

    target = tmp_path / "m.json"
    target.write_text("old")
    with pytest.raises(ValueError):
        write_json({"acc": math.nan}, target)  # a NaN metric is refused, and the old file is intact
    assert target.read_text() == "old"
    write_json({"acc": 1.0}, target)
    assert json.loads(target.read_text()) == {"acc": 1.0} and len(list(tmp_path.iterdir())) == 1


# --- tracebacks and exit codes ---------------------------------------------------------------------
def test_invalid_utf8_or_surrogates_in_a_note_are_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 17: a note argument with invalid UTF-8 (Python hands it over as lone surrogates) crashed
    assert main(["classify", "carcinoma \udcff\udcfe of the lung", "--lang", "pt"]) == 2
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"carcinoma \xed\xa0\x80 da bexiga")))
    assert main(["classify", "--lang", "pt"]) == 2
    err = capsys.readouterr().err
    assert err.count("cmkd-med: error:") == 2 and "Traceback" not in err and "UTF-8" in err


def test_api_refuses_surrogates_and_a_non_numeric_threshold() -> None:
    from cmkd_med import pipeline

    # issue 17: TypeError from inside transformers; a plain ValueError for abstain_threshold="hi"
    with pytest.raises(InvalidInputError, match="not valid Unicode"):
        pipeline("pt").classify("carcinoma \ud800 urotelial")
    with pytest.raises(InvalidInputError, match=r"abstain_threshold.*'hi'"):
        pipeline("pt", abstain_threshold="hi")
    with pytest.raises(InvalidInputError, match="abstain_threshold"):
        pipeline("pt", abstain_threshold=math.nan)


def test_index_build_refuses_a_surrogate_id_and_an_out_file(
    tiny_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = tmp_path / "items.jsonl"
    write_lines(items, ['{"id": "r\\ud800", "text": "lung adenocarcinoma"}'])
    base = ["index", "build", "--input", str(items), "--teacher", str(tiny_models[1])]
    assert main([*base, "--out", str(tmp_path / "idx")]) == 2
    write_lines(items, ['{"id": "r1", "text": "lung adenocarcinoma"}'])
    a_file = tmp_path / "taken.txt"
    a_file.write_text("mine")
    assert main([*base, "--out", str(a_file)]) == 2 and a_file.read_text() == "mine"
    err = capsys.readouterr().err
    assert "not valid Unicode" in err and "is a file" in err and "Traceback" not in err


def test_a_bug_exits_3_with_one_line_and_a_traceback_only_on_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 17: every traceback exited 1, the code the README gives for "some rows failed"
    def broken(args: Any, index: str | None = None) -> Any:
        raise KeyError("bug")

    monkeypatch.setattr("cmkd_med.pipeline_cli._pipeline", broken)
    assert main(["classify", "note"]) == 3
    err = capsys.readouterr().err
    assert "internal error (KeyError)" in err and "Traceback" not in err and err.count("\n") == 1
    monkeypatch.setenv("CMKD_DEBUG", "1")
    assert main(["classify", "note"]) == 3
    assert "Traceback" in capsys.readouterr().err


# --- language routing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("note", "lang"),
    [
        ("Invasive adenocarcinoma of the lung, acinar pattern.", "en"),  # was "looks Italian"
        ("Carcinoma urotelial da bexiga.", "pt"),  # was "looks Yoruba"
        ("Saratani ya ini aina ya hepatocellular carcinoma", "sw"),
        ("फेफड़े का एडेनोकार्सिनोमा, लोबेक्टॉमी।", "hi"),
    ],
)
def test_auto_reads_short_notes_in_our_languages(note: str, lang: str) -> None:
    from cmkd_med.api import detect_language

    assert detect_language(note) == lang


def test_auto_still_refuses_a_note_clearly_in_another_language() -> None:
    from cmkd_med.api import detect_language
    from cmkd_med.errors import UnsupportedLanguageError

    with pytest.raises(UnsupportedLanguageError, match="French"):
        detect_language("Tumeur du rein, néphrectomie totale, sans métastase.")
    with pytest.raises(UnsupportedLanguageError, match="German"):
        detect_language("Nierenzellkarzinom vom klarzelligen Typ mit Nekrose.")
