"""Reading JSONL evaluation files with row-numbered errors instead of tracebacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cmkd_med.errors import DataFormatError, DataNotFoundError


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a bad line is a :class:`DataFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no such file: {path}")
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataFormatError(f"{path}:{lineno}: not valid UTF-8") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except RecursionError:  # a line nested 100k levels deep (issue 17)
                raise DataFormatError(f"{path}:{lineno}: JSON nested too deeply") from None
            if not isinstance(obj, dict):
                raise DataFormatError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def write_json(obj: dict[str, Any], out: str | Path | None) -> str:
    """Serialise ``obj``; also write it to ``out`` when given. Returns the text."""
    from cmkd_med.safe_io import atomic_write_text, dumps_strict

    text = dumps_strict(obj, indent=2)  # strict JSON: a NaN metric fails here, not in a reader
    if out is not None:
        atomic_write_text(out, text + "\n")  # an existing file is replaced whole or not at all
    return text
