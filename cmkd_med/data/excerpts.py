"""Report excerpts: contiguous word spans of real reports, as notes arrive in the world (a diagnosis section,
a page of an OCR scan), with the report's own noise, case and line breaks kept.

>>> excerpt("one two three four five", random.Random(0), 2, 3)   # doctest: +SKIP
'two three'
"""

from __future__ import annotations

import random

import regex

MIN_WORDS, MAX_WORDS = 60, 300
_WORD = regex.compile(r"\S+")


def excerpt(text: str, rng: random.Random, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> str:
    """A contiguous span of ``min_words``-``max_words`` words of ``text`` (all of it when shorter), cut at
    word boundaries of the original string so line breaks and spacing survive."""
    words = list(_WORD.finditer(text))
    if len(words) <= min_words:
        return text.strip()
    n = rng.randint(min_words, min(max_words, len(words)))
    start = rng.randint(0, len(words) - n)
    return text[words[start].start() : words[start + n - 1].end()]
