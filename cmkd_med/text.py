"""Validation of user text (notes, queries): one place, so every entry point fails the same way."""

from __future__ import annotations

import re

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
    check_unicode(text, what)
    if not text.strip():
        raise InvalidInputError(f"{what} is empty or whitespace only")
    if len(text) > max_chars:
        raise InvalidInputError(
            f"{what} is {len(text):,} characters long; the limit is {max_chars:,} (split the document)"
        )
    return text


def check_unicode(text: str, what: str = "note") -> str:
    """``text`` unless it holds a lone surrogate (a JSON ``\\ud800`` escape, or an argument that was not valid
    UTF-8, which Python decodes to surrogates): such a string cannot be written out as UTF-8 or tokenised, so
    it is refused here with :class:`InvalidInputError` instead of crashing later (issue 17)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{what} is not valid Unicode text (a lone surrogate or invalid UTF-8 at offset {exc.start})"
        ) from None
    return text


_MIN_SPACED_TOKENS = 8
_WORD_GAP = re.compile(r" {2,}")


def despace_ocr(text: str) -> str:
    """Rejoin letter-spaced OCR lines ("C H R O M O P H O B E   R E N A L" → "CHROMOPHOBE RENAL").

    Some TCGA PDFs were OCR'd with a space between letters and wider gaps between words; models and the
    linker see single letters there. A line is rewritten only when most of its tokens are single characters.
    """
    out = []
    for line in text.split("\n"):
        tokens = line.split()
        singles = sum(len(t) == 1 for t in tokens)
        if len(tokens) >= _MIN_SPACED_TOKENS and singles >= 0.7 * len(tokens):
            words = [w.replace(" ", "") for w in _WORD_GAP.split(line.strip())]
            line = " ".join(w for w in words if w)
        out.append(line)
    return "\n".join(out)
