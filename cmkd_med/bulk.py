"""Bulk runs over JSONL (``cmkd-med classify|retrieve|summarize --input F --out O``): streamed, resumable,
one output row per input line in input order, and a bad row becomes an error record instead of a crash.

* Streaming: the input is read line by line and written batch by batch (flushed and fsync'ed), so memory
  does not grow with the file; only the keys of the rows already written are kept, to resume.
* Rows: :mod:`cmkd_med.rows` turns each input line into a row or an error record (blank lines included);
  each output record is strict JSON (:func:`~cmkd_med.safe_io.dumps_strict`: no ``NaN``, no bad UTF-8).
* Resume: rerunning with the same ``--out`` skips the rows already there (matched by id and occurrence, or
  by line for id-less lines). Error records of internal errors are retried, and with ``retry_errors`` every
  error record; then the output is rebuilt beside itself in input order and moved over the old one
  atomically. A line torn by a kill mid-write is cut off first, so a kill loses at most the batch in flight.
* Safety: ``<out>.lock`` keeps a second run off the same output; an existing ``--out`` that is not this
  tool's JSONL is refused, never truncated; a directory is refused.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cmkd_med.errors import DataNotFoundError, InvalidInputError, ModelOutputError
from cmkd_med.rows import Item, Row, RowKeys, error_record, is_retryable, item_id, item_line, iter_rows
from cmkd_med.rows import loads_line as _loads
from cmkd_med.safe_io import OutputLock, dumps_strict

EXIT_SOME_ROWS_FAILED = 1
_OUR_LINE_START = b'{"id": '  # every record this module writes starts so (the id comes first)


@dataclass
class BulkStats:
    written: int = 0
    skipped: int = 0  # already in --out from an earlier run
    failed: int = 0
    retried: int = 0  # error records of an earlier run done again
    kept_errors: int = 0  # error records of an earlier run kept (the output still has failed rows)

    @property
    def any_failed(self) -> bool:
        """Whether the output holds a failed row (written now or kept): exit code 1."""
        return bool(self.failed or self.kept_errors)


# (rows) → one result dict per row, in order; may raise CmkdError for a bad row
Processor = Callable[[list[Row]], list[dict[str, Any]]]


def _not_ours(out: Path, line: int) -> InvalidInputError:
    return InvalidInputError(
        f"{out} exists and is not a cmkd-med bulk output (line {line}); "
        "refusing to overwrite it: choose another --out"
    )


def read_output(out: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(raw line, record) of each complete record of an earlier run's ``out``, after checking the whole
    file is this tool's JSONL (else :class:`InvalidInputError`, the file untouched) and cutting a line
    torn by a kill."""
    if not out.exists():
        return iter(())
    if out.is_dir():
        raise InvalidInputError(f"--out {out} is a directory; give a file path")
    good_end, terminate = 0, False
    with out.open("rb") as handle:
        for n, raw in enumerate(handle, 1):
            try:
                record = _loads(raw)
            except InvalidInputError:
                record = None
            ours = isinstance(record, dict) and "id" in record and raw.startswith(_OUR_LINE_START)
            if raw.endswith(b"\n"):
                if not ours:
                    raise _not_ours(out, n)
                good_end += len(raw)
            elif ours:  # complete but unterminated: terminated below
                good_end += len(raw)
                terminate = True
            elif not (raw.startswith(_OUR_LINE_START) or _OUR_LINE_START.startswith(raw)):
                raise _not_ours(out, n)
            # else: the last line, torn by a kill mid-write: cut below
    if good_end != out.stat().st_size:
        with out.open("r+b") as handle:
            handle.truncate(good_end)
    if terminate:
        with out.open("ab") as handle:
            handle.write(b"\n")
    return _records(out)


def _records(out: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    with out.open("rb") as handle:
        for raw in handle:
            yield raw, _loads(raw)


def completed_ids(out: Path, retry_errors: bool = False) -> set[str]:
    """Ids (``line:N`` for id-less records) of the records in ``out`` that a resume keeps."""
    return {
        r["id"] if isinstance(r.get("id"), str) and r["id"] else f"line:{r.get('line')}"
        for _, r in read_output(out)
        if not is_retryable(r, retry_errors)
    }


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    if path == "-":
        if sys.stdin is None:
            raise InvalidInputError("--input - reads standard input, and there is none")
        yield from enumerate(sys.stdin.buffer, 1)
        return
    with open(path, "rb") as handle:
        yield from enumerate(handle, 1)


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def _check_paths(input_path: str, out: Path) -> None:
    if input_path != "-" and not Path(input_path).is_file():
        raise DataNotFoundError(f"no such file: {input_path}")
    if out.is_dir():
        raise InvalidInputError(f"--out {out} is a directory; give a file path")
    if input_path != "-" and out.exists() and out.resolve() == Path(input_path).resolve():
        raise InvalidInputError("--out must not be the input file")


def run_bulk(
    input_path: str,
    out_path: str,
    process: Processor,
    batch_size: int = 16,
    progress: bool = True,
    desc: str = "rows",
    retry_errors: bool = False,
    writer_class: type[BatchWriter] | None = None,
) -> BulkStats:
    """Stream ``input_path`` (``-``: stdin) through ``process`` into ``out_path``; see the module doc.
    ``writer_class``: a :class:`BatchWriter` subclass processing the batches elsewhere (the Ray engine)."""
    writer_class = writer_class or BatchWriter
    out = Path(out_path)
    _check_paths(input_path, out)
    with OutputLock(out):
        done: Counter[tuple[Any, ...]] = Counter()
        done_errors: Counter[tuple[Any, ...]] = Counter()
        rewrite = False
        keys = RowKeys()
        for _, record in read_output(out):
            if is_retryable(record, retry_errors):
                rewrite = True
                continue
            key = keys.key(record.get("id"), record.get("line"))
            done[key] += 1
            done_errors[key] += "error" in record
        if rewrite:
            return _rebuild(input_path, out, process, batch_size, progress, desc, retry_errors, writer_class)
        stats = BulkStats()
        with out.open("a", encoding="utf-8") as sink:
            writer = writer_class(sink, process, batch_size, stats)
            keys = RowKeys()
            for item in _progress(iter_rows(_lines(input_path)), input_path, progress, desc):
                key = keys.key(item_id(item), item_line(item))
                if done[key] > 0:
                    done[key] -= 1
                    stats.skipped += 1
                    if done_errors[key] > 0:
                        done_errors[key] -= 1
                        stats.kept_errors += 1
                    continue
                writer.add(item)
            writer.flush()
        return stats


def _rebuild(
    input_path: str,
    out: Path,
    process: Processor,
    batch_size: int,
    progress: bool,
    desc: str,
    retry_errors: bool,
    writer_class: type[BatchWriter],
) -> BulkStats:
    """Redo the retryable records: a new output in input order, written beside ``out``, then moved over it.
    A kill meanwhile leaves ``out`` as it was."""
    stats = BulkStats()
    tmp = out.with_name(f".{out.name}.rebuild")
    old = _records(out)
    old_keys, new_keys = RowKeys(), RowKeys()

    def next_old() -> tuple[tuple[Any, ...], bytes, dict[str, Any]] | None:
        entry = next(old, None)
        if entry is None:
            return None
        raw, record = entry
        return old_keys.key(record.get("id"), record.get("line")), raw, record

    current = next_old()
    with tmp.open("w", encoding="utf-8") as sink:
        writer = writer_class(sink, process, batch_size, stats)
        for item in _progress(iter_rows(_lines(input_path)), input_path, progress, desc):
            key = new_keys.key(item_id(item), item_line(item))
            if current is not None and current[0] == key:
                _, raw, record = current
                current = next_old()
                if not is_retryable(record, retry_errors):
                    stats.skipped += 1
                    stats.kept_errors += "error" in record
                    writer.add(raw.decode("utf-8"))
                    continue
                stats.retried += 1
            writer.add(item)
        while current is not None:  # rows no longer in the input: kept, never destroyed
            if not is_retryable(current[2], retry_errors):
                writer.add(current[1].decode("utf-8"))
            current = next_old()
        writer.flush()
    os.replace(tmp, out)
    return stats


def _progress(items: Iterator[Item], input_path: str, progress: bool, desc: str) -> Iterator[Item]:
    from tqdm import tqdm

    total = _count_lines(input_path) if progress else None
    with tqdm(total=total, desc=desc, unit=" rows", disable=not progress or None) as bar:
        for item in items:
            bar.update(1)
            yield item


class BatchWriter:
    """Collects items (rows to process, error records, lines copied from an earlier run) and writes them in
    input order, a batch at a time (``batch_size`` rows to process), flushed and fsync'ed."""

    def __init__(self, sink: IO[str], process: Processor, batch_size: int, stats: BulkStats):
        self.sink, self.process, self.batch_size, self.stats = sink, process, batch_size, stats
        self.pending: list[Item | str] = []
        self.rows = 0

    def add(self, item: Item | str) -> None:
        self.pending.append(item)
        self.rows += isinstance(item, Row)
        if self.rows >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        rows = [p for p in self.pending if isinstance(p, Row)]
        self.write_batch(self.pending, _process_isolating(rows, self.process))
        self.pending.clear()
        self.rows = 0

    def write_batch(self, items: list[Item | str], results: list[dict[str, Any]]) -> None:
        """``items`` in order, the rows' ``results`` in their places; flushed and fsync'ed."""
        found = iter(results)
        for item in items:
            if isinstance(item, str):
                self.sink.write(item)
                continue
            record = next(found) if isinstance(item, Row) else item
            self.write_record(record, item_line(item))
        self.sink.flush()
        os.fsync(self.sink.fileno())

    def write_record(self, record: dict[str, Any], line: int) -> None:
        """One record as a line of strict JSON; a result that cannot be (a NaN) becomes an error record."""
        try:
            text = dumps_strict(record)
        except ValueError:
            refused = ModelOutputError("the model gave a non-finite number; result refused")
            record = error_record(record.get("id"), line, refused)
            text = dumps_strict(record)
        self.stats.failed += "error" in record
        self.stats.written += 1
        self.sink.write(text + "\n")


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
