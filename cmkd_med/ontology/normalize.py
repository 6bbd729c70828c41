"""Text normalisation shared by the knowledge base's alias keys and the linker's queries.

Case, Latin accents, punctuation and spacing are folded; Devanagari vowel signs, virama and nukta are
*kept* (they are letters of the word, not accents), which is why this is not a plain ``unidecode``.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE_RE = re.compile(r"\s+")
_LATIN_LIMIT = 0x250  # combining marks after a base below this code point are Latin diacritics


def strip_latin_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    out: list[str] = []
    base = ""
    for char in decomposed:
        if unicodedata.combining(char):
            if base and ord(base) < _LATIN_LIMIT:
                continue  # drop a Latin diacritic (ç → c, ã → a); keep Devanagari marks
        else:
            base = char
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def normalize(text: str) -> str:
    """Fold ``text`` into the key used for alias lookup: casefolded, Latin accents removed, punctuation
    and symbols turned into spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = strip_latin_accents(text)
    chars = [" " if unicodedata.category(ch)[0] in "PSZ" or ch in "\t\r\n" else ch for ch in text]
    return _SPACE_RE.sub(" ", "".join(chars)).strip()


def surface_tokens(text: str) -> list[str]:
    """Tokens of ``text`` with case and accents kept, split where :func:`normalize` puts spaces."""
    text = unicodedata.normalize("NFKC", text)
    chars = [" " if unicodedata.category(ch)[0] in "PSZ" or ch in "\t\r\n" else ch for ch in text]
    return "".join(chars).split()


def is_abbreviation(text: str) -> bool:
    """``HCC``, ``ccRCC``, ``pT2``-like labels: one short word with at least two capitals."""
    return " " not in text and len(text) <= 8 and sum(ch.isupper() for ch in text) >= 2
