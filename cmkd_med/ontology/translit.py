"""Devanagari → Latin, as an extra normalised form of Hindi mentions and aliases.

Indian pathologists write many English terms in Devanagari ("कॉन्ड्रोसारकोमा"); in Latin script the same word
shares character n-grams with the English alias ("kondrosarakoma" ~ "chondrosarcoma"). The transliteration is
indic-transliteration's OPTITRANS scheme (a readable ASCII romanisation; MIT licence — aksharamukha does the
same with schwa deletion but is AGPL-3.0, which a hospital service could not embed freely), then folded like
every other alias key (:func:`~cmkd_med.ontology.normalize.normalize`).
"""

from __future__ import annotations

from functools import lru_cache

import regex

from cmkd_med.ontology.normalize import normalize

_DEVANAGARI = regex.compile(r"\p{Devanagari}")


def has_devanagari(text: str) -> bool:
    return _DEVANAGARI.search(text) is not None


@lru_cache(maxsize=65536)
def latin_form(text: str) -> str:
    """The normalised Latin form of ``text`` (unchanged, but normalised, when it has no Devanagari)."""
    if not has_devanagari(text):
        return normalize(text)
    from indic_transliteration import sanscript

    # "ॉ" (the English open o of "doctor") has no OPTITRANS letter; it is an "o" to an English reader.
    latin = sanscript.transliterate(text.replace("ॉ", "ो"), sanscript.DEVANAGARI, sanscript.OPTITRANS)
    return normalize(latin)
