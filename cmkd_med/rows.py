"""One validation layer for bulk input rows and their ids (``cmkd-med classify|retrieve|summarize --input``).

Every input line becomes exactly one item, in order: a :class:`Row` to process, or the error record of a
bad line (``{"id", "line", "error", "error_type"}``). Nothing in a line can crash the reader: not JSON, not
UTF-8, nested a hundred thousand levels deep, a blank line, an id that is not a string or holds a lone
surrogate, a text that is not text — each is an error record. Error messages never quote the note.

Rows are matched to what an earlier run wrote by :class:`RowKeys`: the n-th occurrence of an id, or the line
number of a line without a usable id — so duplicate ids and ids that look like line numbers never collide.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cmkd_med.errors import CmkdError, InvalidInputError
from cmkd_med.text import check_unicode, validate_text

MAX_ID_CHARS = 1_000  # an id is a key, not a document

INPUT_ERROR = "input"  # the row itself is bad: rerunning gives the same error (unless --retry-errors)
INTERNAL_ERROR = "internal"  # a bug or a transient failure: a resume retries it


@dataclass
class Row:
    id: str
    line: int
    text: str
    lang: str | None = None


Item = Row | dict[str, Any]  # a row to process or an error record


def validate_id(value: object) -> str:
    """``value`` as a row id (a non-empty string of valid Unicode, at most 1,000 characters)."""
    if not isinstance(value, str) or not value:
        raise InvalidInputError("'id' must be a non-empty string")
    check_unicode(value, "'id'")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInputError(f"'id' is {len(value):,} characters long; the limit is {MAX_ID_CHARS:,}")
    return value


def loads_line(raw: bytes | str) -> Any:
    """The JSON value of one line, or :class:`InvalidInputError` for anything unreadable."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidInputError("line is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON ({exc.msg})") from None
    except RecursionError:
        raise InvalidInputError("JSON nested too deeply") from None


def error_record(row_id: str | None, line: int, exc: BaseException) -> dict[str, Any]:
    """``{"id", "line", "error", "error_type"}``; a non-project exception is an internal error (a bug),
    named by its type only, so no note text can leak through its message."""
    if isinstance(exc, CmkdError):
        return {"id": row_id, "line": line, "error": str(exc), "error_type": INPUT_ERROR}
    message = f"internal error ({type(exc).__name__})"
    return {"id": row_id, "line": line, "error": message, "error_type": INTERNAL_ERROR}


def is_retryable(record: dict[str, Any], retry_errors: bool = False) -> bool:
    """Whether a record an earlier run wrote must be redone: internal errors always, input errors when
    asked (``--retry-errors``). Records without ``error_type`` (older runs) are read from the message."""
    if "error" not in record:
        return False
    kind = record.get("error_type")
    if kind is None:
        kind = INTERNAL_ERROR if str(record["error"]).startswith("internal error") else INPUT_ERROR
    return retry_errors or kind == INTERNAL_ERROR


def parse_line(raw: bytes, line: int) -> Item:
    """A :class:`Row`, or the error record of a bad line."""
    row_id: str | None = None
    try:
        if not raw.strip():
            raise InvalidInputError("blank line (no row)")
        data = loads_line(raw)
        if not isinstance(data, dict):
            raise InvalidInputError("expected a JSON object with 'id' and 'text'")
        row_id = validate_id(data.get("id"))
        if "text" not in data:
            raise InvalidInputError("missing 'text'")
        text = validate_text(data["text"], "text")
        lang = data.get("lang")
        if lang is not None:
            from cmkd_med.languages import normalize_lang

            lang = normalize_lang(lang if not isinstance(lang, str) else check_unicode(lang, "'lang'"))
        return Row(row_id, line, text, lang)
    except CmkdError as exc:
        return error_record(row_id, line, exc)


def iter_rows(lines: Iterable[tuple[int, bytes]]) -> Iterator[Item]:
    """One item per ``(line number, raw line)``, in order: the reusable front of every bulk engine."""
    for n, raw in lines:
        yield parse_line(raw, n)


def item_id(item: Item) -> str | None:
    return item.id if isinstance(item, Row) else item.get("id")


def item_line(item: Item) -> int:
    return item.line if isinstance(item, Row) else int(item.get("line") or 0)


class RowKeys:
    """Keys that match an output record to its input line: ``("id", id, n)`` for the n-th row with that
    id, ``("line", n)`` for line n without a usable id. Feed the input (or an output file) in order."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, row_id: object, line: object) -> tuple[Any, ...]:
        if isinstance(row_id, str) and row_id:
            self._seen[row_id] += 1
            return ("id", row_id, self._seen[row_id])
        return ("line", line)
