"""Assertion status of the concepts found in a note (negated, possible, historical, family or affirmed).

medspaCy's ConText (Chapman et al., 2011; the maintained implementation of NegEx/ConText) does the work:
trigger phrases with a direction (``FORWARD``, ``BACKWARD``, ``BIDIRECTIONAL``), ``TERMINATE`` phrases that
end a
trigger's scope ("but", "mas", "लेकिन", "lakini") and ``PSEUDO`` phrases that look like triggers but are not
("no change in"). A trigger's scope never crosses a sentence; sentences end at ``.``, ``!``, ``?``, the
Devanagari
danda and line breaks (report lines are sentences even without a full stop).

Rules per language live in ``ontology/context_rules/<lang>.tsv`` (columns ``literal``, ``category``,
``direction``, ``source``; each file says who wrote it): English adds pathology phrasing to medspaCy's bundled
default rules; Portuguese, Hindi and Swahili are written by the project.

>>> detector = AssertionDetector("pt")                                     # doctest: +SKIP
>>> detector.statuses("Ausência de metástase. Carcinoma presente.", [(12, 21), (23, 32)])  # doctest: +SKIP
['negated', 'affirmed']
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import regex

from cmkd_med.config import PROJECT_ROOT
from cmkd_med.errors import MissingDependencyError, OntologyError
from cmkd_med.languages import normalize_lang

ASSERTIONS = ("affirmed", "negated", "possible", "historical", "family")
CATEGORIES = (
    "NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HYPOTHETICAL", "HISTORICAL", "FAMILY", "TERMINATE", "PSEUDO",
)  # fmt: skip
DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")
RULES_DIR = PROJECT_ROOT / "ontology" / "context_rules"
# Sentence ends for the scope of a trigger. spaCy's sentencizer ignores line breaks by default; report lines
# ("DIAGNOSIS: ...", "- margins free") are separate statements, so a newline token ends a sentence too.
_SENTENCE_ENDS = [".", "!", "?", "।", "॥", "\n", "\n\n"]
# When ConText marks a mention with several categories, the one reported (safety first: a negated or a
# relative's finding must never read as the patient's current one).
_PRECEDENCE = (
    ("is_negated", "negated"),
    ("is_family", "family"),
    ("is_uncertain", "possible"),
    ("is_hypothetical", "possible"),
    ("is_historical", "historical"),
)


def rules_path(lang: str) -> Path:
    return RULES_DIR / f"{normalize_lang(lang)}.tsv"


def read_rules(lang: str) -> list[dict[str, str]]:
    """The project's ConText rules for ``lang``; a bad category or direction fails here, named."""
    path = rules_path(lang)
    if not path.is_file():
        raise OntologyError(f"no ConText rules for {lang!r} at {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if not r["literal"].startswith("#")]
    for i, row in enumerate(rows, 2):
        if (
            row["category"] not in CATEGORIES
            or row["direction"] not in DIRECTIONS
            or not row["literal"].strip()
        ):
            raise OntologyError(
                f"{path.name} line {i}: category must be one of {', '.join(CATEGORIES)} and direction one of "
                f"{', '.join(DIRECTIONS)}, with a non-empty literal; got {row!r}"
            )
    return rows


class AssertionDetector:
    """ConText over given character spans of a text, for one language."""

    def __init__(self, lang: str):
        self.lang = normalize_lang(lang)
        try:
            import medspacy  # noqa: F401  (registers the medspacy_context factory and the span extensions)
            import spacy
            from medspacy.context import ConTextRule
        except ImportError as error:  # pragma: no cover - a core dependency
            raise MissingDependencyError(
                "assertion status needs medspacy; reinstall cmkd-med (`make setup`)"
            ) from error
        # spaCy has no Swahili class; the multi-language tokenizer splits on spaces and punctuation.
        self.nlp = spacy.blank("xx" if self.lang == "sw" else self.lang)
        self.nlp.add_pipe("sentencizer", config={"punct_chars": _SENTENCE_ENDS})
        context: Any = self.nlp.add_pipe("medspacy_context", config={"rules": None})
        rules = [
            ConTextRule(r["literal"], r["category"], direction=r["direction"]) for r in read_rules(self.lang)
        ]
        if self.lang != "en":  # notes there keep English phrases ("NEGATIVE FOR MALIGNANCY", "R/O", "?")
            own = {r.literal.lower() for r in rules}
            clash = _CLASHES.get(self.lang, frozenset())
            rules += [
                r for r in english_rules() if r.literal.lower() not in own and r.literal.lower() not in clash
            ]
        else:
            rules = english_rules()
        context.add(rules)

    def statuses(self, text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
        """One of :data:`ASSERTIONS` per ``(start, end)`` character span of ``text`` (spans must not
        overlap)."""
        if not spans:
            return []
        doc = self.nlp.make_doc(text)
        ents: list[Any] = []
        index: list[int] = []
        for i, (start, end) in enumerate(spans):
            span = doc.char_span(start, end, label="CONCEPT", alignment_mode="expand")
            if span is not None and all(span.start >= e.end or span.end <= e.start for e in ents):
                ents.append(span)
                index.append(i)
        doc.ents = ents
        for _, component in self.nlp.pipeline:
            doc = component(doc)
        out = ["affirmed"] * len(spans)
        for i, span in zip(index, doc.ents, strict=True):
            out[i] = next((name for attr, name in _PRECEDENCE if getattr(span._, attr)), "affirmed")
        history = history_lines(text)
        for i, (start, _) in enumerate(spans):
            if out[i] == "affirmed" and any(a <= start < b for a, b in history):
                out[i] = "historical"  # told as the clinical history, not found in this specimen
        return out


# A report's clinical-history lines ("CLINICAL HISTORY: known glioblastoma, resected 2023"; "Dados clínicos:";
# "नैदानिक इतिहास:"; "HISTORIA YA KLINIKI:") tell what was known before the specimen, not what it shows: an
# affirmed mention there is historical. A header regex per language (medspaCy's Sectionizer ships English
# section patterns only), matched at the start of a line and up to the line's end.
_HISTORY_HEADER = regex.compile(
    r"(?im)^[ \t\-*•]*(?:clinical(?: history| details| information| data| notes)?|history|indication|c/f|"
    r"k/c/o|dados cl[ií]nicos|informa[cç][oõ]es cl[ií]nicas|hist[oó]ria cl[ií]nica|indica[cç][aã]o|"
    r"quadro cl[ií]nico|antecedentes|क्लिनिकल(?: हिस्ट्री| विवरण)?|नैदानिक (?:इतिहास|विवरण)|"
    r"चिकित्सीय इतिहास|इतिहास|historia ya (?:kliniki|ugonjwa|mgonjwa)|maelezo ya kliniki|historia)"
    r"\s*[:\-–]"
)


# The same headers inside a line, after a sentence: "Biopsy of the anastomosis. History: hemicolectomy ...".
_HISTORY_INLINE = regex.compile(
    r"(?i)(?<=[.।;]\s+)"
    r"(?:clinical history|history|hist[oó]ria cl[ií]nica|antecedentes|इतिहास|historia)\s*:"
)


def history_lines(text: str) -> list[tuple[int, int]]:
    """Character ranges of the clinical-history statements of ``text``: from a header at the start of a line
    to the line's end, or from a header after a sentence to that sentence's end."""
    out = []
    for match in _HISTORY_HEADER.finditer(text):
        end = text.find("\n", match.end())
        out.append((match.start(), len(text) if end < 0 else end))
    for match in _HISTORY_INLINE.finditer(text):
        stop = regex.search(r"[.।](?:\s|$)|\n", text[match.end() :])
        out.append((match.start(), len(text) if stop is None else match.end() + stop.start()))
    return out


# English literals that are everyday words of another language, left out of its detector ("no" is "in the"
# in Portuguese: "carcinoma no cólon").
_CLASHES = {"pt": frozenset({"no", "a", "as", "do", "de", "e", "em", "o", "nega", "sem"})}


def english_rules() -> list[Any]:
    """medspaCy's bundled English rules, then ours (``en.tsv``); a literal in our file replaces its rule."""
    import medspacy
    from medspacy.context import ConTextRule

    ours = [ConTextRule(r["literal"], r["category"], direction=r["direction"]) for r in read_rules("en")]
    bundled = Path(medspacy.__file__).parent.parent / "resources" / "en" / "context_rules.json"
    replaced = {r.literal.lower() for r in ours}
    return [r for r in ConTextRule.from_json(bundled) if r.literal.lower() not in replaced] + ours


@lru_cache(maxsize=8)
def get_detector(lang: str) -> AssertionDetector:
    """The detector of ``lang``, built once per process (spaCy and the rules load in about a second)."""
    return AssertionDetector(normalize_lang(lang))
