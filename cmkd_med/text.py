"""Validation of user text (notes, queries): one place, so every entry point fails the same way."""

from __future__ import annotations

from cmkd_med.errors import InvalidInputError

# A long TCGA report is ~40k characters; a note a hundred times the median is almost surely a file
# concatenation or a wrong column, and fuzzy linking over it would take minutes.
MAX_NOTE_CHARS = 200_000


def validate_text(text: object, what: str = "note", max_chars: int = MAX_NOTE_CHARS) -> str:
    """Return ``text`` as ``str`` or raise :class:`InvalidInputError` saying what is wrong with it."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"{what} is not valid UTF-8 text (bad byte at offset {exc.start})"
            ) from None
    if not isinstance(text, str):
        raise InvalidInputError(f"{what} must be text, got {type(text).__name__}")
    if not text.strip():
        raise InvalidInputError(f"{what} is empty or whitespace only")
    if len(text) > max_chars:
        raise InvalidInputError(
            f"{what} is {len(text):,} characters long; the limit is {max_chars:,} (split the document)"
        )
    return text
