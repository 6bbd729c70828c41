"""Export the TCGA report splits as JSONL rows ``{"id", "text", "label"}`` for the evaluation commands.

One JSON object per line, UTF-8, non-ASCII characters written as themselves; newlines inside a report are
escaped by JSON, so a multi-line report stays on one line. Rows are streamed in file order (train before
dev for ``all``), so memory does not grow with the corpus.

Example::

    >>> import io
    >>> buffer = io.StringIO()
    >>> export_jsonl("dev", buffer)                                   # doctest: +SKIP
    612
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

from cmkd_med.config import data_path
from cmkd_med.data.tcga import SPLITS, TcgaReport, iter_tcga
from cmkd_med.errors import InvalidInputError

EXPORT_SPLITS: tuple[str, ...] = (*SPLITS, "all")


def _splits(split: str) -> tuple[str, ...]:
    if split not in EXPORT_SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; available: {', '.join(EXPORT_SPLITS)}")
    return SPLITS if split == "all" else (split,)


def iter_export_rows(split: str = "dev", data_root: str | Path | None = None) -> Iterator[dict[str, str]]:
    """The rows of ``split`` (``train``, ``dev`` or ``all``) as ``{"id", "text", "label"}`` dicts.

    The split name and the files are checked now, not at the first row, so a caller can fail before it
    opens its output.
    """
    names = _splits(split)
    for name in names:
        data_path("tcga_reports", f"{name}.tsv", data_root=data_root)
    return (to_row(report) for name in names for report in iter_tcga(name, data_root))


def to_row(report: TcgaReport) -> dict[str, str]:
    return {"id": report.report_id, "text": report.text, "label": report.label}


def export_jsonl(split: str, out: TextIO, data_root: str | Path | None = None) -> int:
    """Write the rows of ``split`` to ``out`` (a text stream), one JSON object a line; return the count."""
    return write_rows(iter_export_rows(split, data_root), out)


def write_rows(rows: Iterable[dict[str, str]], out: TextIO) -> int:
    """Write ``rows`` as JSONL to ``out``; return how many."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
