"""Which of our languages a note is in (``pipeline("auto")``): lingua, restricted to what we support, with a
script and ontology prior for short notes (issue 17).

lingua alone reads a one-line pathology note poorly: the Latin-Greek terms (adenocarcinoma, carcinoma,
urotelial) look like Italian, Spanish or Yoruba to it. So each of en/pt/hi/sw also gets a prior: the share of
the note's words that only that language's vocabulary holds — the ontology's labels in that language and a
few function words — and, for Hindi, the share of Devanagari letters. The prior weighs in fully on short
notes and fades on long ones, where lingua is reliable. A note whose best other language still beats the
best of ours is refused as unsupported (a French note is not read as Portuguese).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from cmkd_med.errors import CmkdError, InvalidInputError, UnsupportedLanguageError
from cmkd_med.languages import SUPPORTED_LANGUAGES

# Besides our four, the languages a note from our users' settings may also be written in, so that such a
# note is reported as unsupported instead of being forced into the nearest of the four.
OTHER_LANGUAGES = (
    "SPANISH", "FRENCH", "GERMAN", "ITALIAN", "DUTCH", "ARABIC", "CHINESE", "BENGALI", "MARATHI", "TAMIL",
    "TELUGU", "GUJARATI", "PUNJABI", "URDU", "SOMALI", "YORUBA", "ZULU", "XHOSA", "SOTHO", "TSONGA",
    "TSWANA", "GANDA", "SHONA", "AFRIKAANS", "INDONESIAN", "TAGALOG",
)  # fmt: skip
_LINGUA_NAMES = {"en": "ENGLISH", "pt": "PORTUGUESE", "hi": "HINDI", "sw": "SWAHILI"}

# Function words of report prose (the ontology holds terms, not grammar).
_FUNCTION_WORDS: dict[str, set[str]] = {
    lang: set(words.split())
    for lang, words in {
        "en": "the of and with in on no not is are was were an to from by for at or this that",
        "pt": "o os as de do da dos das em no na nos nas com sem um uma para por que é foi ao",
        "hi": "का की के में से और है हैं नहीं पर को एक यह",
        "sw": "ya na wa kwa la za cha vya katika ni hakuna pia au bila hii huu",
    }.items()
}
_WORD = re.compile(r"[^\W\d_][^\W_]*", re.UNICODE)
_DEVANAGARI = re.compile(r"[\u0900-\u097F]")
SHORT_WORDS = 40  # below this many words the prior counts fully; above, it fades as SHORT_WORDS / n


@lru_cache(maxsize=1)
def detector() -> Any:
    from lingua import Language, LanguageDetectorBuilder

    names = [*_LINGUA_NAMES.values(), *OTHER_LANGUAGES]
    return LanguageDetectorBuilder.from_languages(
        *[getattr(Language, n) for n in names if hasattr(Language, n)]
    ).build()


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=1)
def distinctive_vocabulary() -> dict[str, frozenset[str]]:
    """Per language, the words of its ontology labels and function words that no other of ours has."""
    vocab = {lang: set(words) for lang, words in _FUNCTION_WORDS.items()}
    try:
        from cmkd_med.ontology.kb import KnowledgeBase

        for concept in KnowledgeBase.load():
            for label in concept.labels:
                if label.lang in vocab:
                    vocab[label.lang].update(_words(label.text))
    except CmkdError:  # the ontology is not built: the function words still help
        pass
    return {
        lang: frozenset(w for w in words if not any(w in vocab[o] for o in vocab if o != lang))
        for lang, words in vocab.items()
    }


def prior(text: str) -> dict[str, float]:
    """For each of our languages, the share of ``text``'s words only its vocabulary holds (Hindi: or the
    share of Devanagari letters, whichever is larger)."""
    words = _words(text)
    vocab = distinctive_vocabulary()
    out = {lang: sum(w in vocab[lang] for w in words) / max(len(words), 1) for lang in SUPPORTED_LANGUAGES}
    devanagari = len(_DEVANAGARI.findall(text))  # letters and vowel signs
    letters = devanagari + sum(ch.isalpha() and not _DEVANAGARI.match(ch) for ch in text)
    if letters:
        out["hi"] = max(out["hi"], devanagari / letters)
    return out


def detect_language(text: str) -> str:
    """ISO code of ``text``'s language among en/pt/hi/sw; a note clearly in another language raises
    :class:`UnsupportedLanguageError`, one with nothing to tell by :class:`InvalidInputError`."""
    confidences = {c.language.name: c.value for c in detector().compute_language_confidence_values(text)}
    n_words = len(_words(text))
    weight = min(1.0, SHORT_WORDS / max(n_words, 1))
    p = prior(text)
    ours = {
        lang: confidences.get(_LINGUA_NAMES[lang], 0.0) + weight * p[lang] for lang in SUPPORTED_LANGUAGES
    }
    best = max(ours, key=lambda lang: ours[lang])
    others = {name: v for name, v in confidences.items() if name not in _LINGUA_NAMES.values()}
    other = max(others, key=lambda name: others[name], default=None)
    if ours[best] <= 0.0 and (other is None or others[other] <= 0.0):
        raise InvalidInputError("could not tell the note's language; pass the language explicitly")
    if other is not None and others[other] > ours[best]:
        raise UnsupportedLanguageError(
            f"the note looks {other.title()}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return best
