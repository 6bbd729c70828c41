"""Bulk runs over JSONL (``cmkd-med classify|retrieve|summarize --input F --out O``): streamed, resumable,
one output row per input line in input order, and a bad row becomes an error record instead of a crash.

* Streaming: the input is read line by line and written batch by batch (flushed and fsync'ed), so memory
  does not grow with the file; only the ids already written are kept, to resume.
* Resume: rerunning with the same ``--out`` skips the ids already there. A line torn by a kill mid-write is
  cut off first, so a crash or a kill loses at most the batch in flight, never a written row.
* Bad rows (not JSON, no id, empty or non-text ``text``, over the size limit, an unsupported ``lang``) get
  ``{"id", "line", "error"}``; the rest go on. The exit code says whether any row failed. Error messages
  never quote the note.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cmkd_med.errors import CmkdError, DataNotFoundError, InvalidInputError
from cmkd_med.text import validate_text

EXIT_SOME_ROWS_FAILED = 1


@dataclass
class Row:
    id: str
    line: int
    text: str
    lang: str | None = None


@dataclass
class BulkStats:
    written: int = 0
    skipped: int = 0  # already in --out from an earlier run
    failed: int = 0


# (rows) → one result dict per row, in order; may raise CmkdError for a bad row
Processor = Callable[[list[Row]], list[dict[str, Any]]]


def completed_ids(out: Path) -> set[str]:
    """Ids (and ``line:N`` keys of id-less error records) already in ``out``; a torn last line is cut off."""
    done: set[str] = set()
    if not out.exists():
        return done
    good_end = 0
    with out.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            done.add(_key(row.get("id"), row.get("line")))
            good_end += len(raw)
    if good_end != out.stat().st_size:
        with out.open("r+b") as handle:
            handle.truncate(good_end)
    return done


def _key(row_id: object, line: object) -> str:
    return row_id if isinstance(row_id, str) and row_id else f"line:{line}"


def parse_line(raw: bytes, line: int) -> Row | dict[str, Any]:
    """A :class:`Row`, or the error record of a bad line."""
    row_id: Any = None
    try:
        try:
            data = json.loads(raw)
        except UnicodeDecodeError:
            raise InvalidInputError("line is not valid UTF-8") from None
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InvalidInputError("expected a JSON object with 'id' and 'text'")
        row_id = data.get("id")
        if not isinstance(row_id, str) or not row_id:
            row_id = None
            raise InvalidInputError("'id' must be a non-empty string")
        if "text" not in data:
            raise InvalidInputError("missing 'text'")
        text = validate_text(data["text"], "text")
        lang = data.get("lang")
        if lang is not None:
            from cmkd_med.languages import normalize_lang

            lang = normalize_lang(lang)
        return Row(row_id, line, text, lang)
    except CmkdError as exc:
        return error_record(row_id, line, exc)


def error_record(row_id: str | None, line: int, exc: BaseException) -> dict[str, Any]:
    message = str(exc) if isinstance(exc, CmkdError) else f"internal error ({type(exc).__name__})"
    return {"id": row_id, "line": line, "error": message}


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    if path == "-":
        for n, raw in enumerate(sys.stdin.buffer, 1):
            yield n, raw
        return
    with open(path, "rb") as handle:
        for n, raw in enumerate(handle, 1):
            yield n, raw


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def run_bulk(
    input_path: str,
    out_path: str,
    process: Processor,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "rows",
) -> BulkStats:
    """Stream ``input_path`` (``-``: stdin) through ``process`` into ``out_path``; see the module doc."""
    from tqdm import tqdm

    if input_path != "-" and not Path(input_path).is_file():
        raise DataNotFoundError(f"no such file: {input_path}")
    out = Path(out_path)
    if input_path != "-" and out.exists() and out.resolve() == Path(input_path).resolve():
        raise InvalidInputError("--out must not be the input file")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = completed_ids(out)
    stats = BulkStats()
    pending: list[Row | dict[str, Any]] = []  # rows and error records in input order, not yet written
    with (
        out.open("a", encoding="utf-8") as sink,
        tqdm(total=_count_lines(input_path), desc=desc, unit=" rows", disable=not progress or None) as bar,
    ):
        for n, raw in _lines(input_path):
            bar.update(1)
            if not raw.strip():
                continue  # blank lines are not rows
            item = parse_line(raw, n)
            key = _key(item.id, n) if isinstance(item, Row) else _key(item["id"], n)
            if key in done:
                stats.skipped += 1
                continue
            done.add(key)
            pending.append(item)
            if sum(isinstance(p, Row) for p in pending) >= batch_size:
                _flush(pending, process, sink, stats)
        _flush(pending, process, sink, stats)
    return stats


def _flush(pending: list[Row | dict[str, Any]], process: Processor, sink: IO[str], stats: BulkStats) -> None:
    rows = [p for p in pending if isinstance(p, Row)]
    results = iter(_process_isolating(rows, process))
    for item in pending:
        record = next(results) if isinstance(item, Row) else item
        stats.failed += "error" in record
        stats.written += 1
        sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    sink.flush()
    os.fsync(sink.fileno())
    pending.clear()


def _process_isolating(rows: list[Row], process: Processor) -> list[dict[str, Any]]:
    """Results for ``rows``; if the batch fails, each row alone, so one bad row fails only itself."""
    if not rows:
        return []
    try:
        return [{"id": r.id, **res} for r, res in zip(rows, process(rows), strict=True)]
    except Exception:
        pass
    out = []
    for r in rows:
        try:
            out.append({"id": r.id, **process([r])[0]})
        except Exception as exc:
            out.append(error_record(r.id, r.line, exc))
    return out
