"""Value objects of the ontology: a :class:`Concept` with its :class:`Label`s, :class:`Code`s and lay text.

They validate their identifiers when made (a CUI matches ``C\\d{7}``, a language is one of the supported
codes), so a bad curated row fails the build instead of reaching a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cmkd_med.errors import OntologyError
from cmkd_med.languages import SUPPORTED_LANGUAGES

CUI_RE = re.compile(r"^C\d{7}$")
LABEL_KINDS: tuple[str, ...] = ("pref", "alt", "abbr")
CONCEPT_KINDS: tuple[str, ...] = ("cancer_type", "disease", "anatomy", "finding", "procedure")
# Code systems a concept may carry; a closed set so a typo in a curated file is an error.
CODE_SYSTEMS: tuple[str, ...] = ("TCGA", "ONCOTREE", "NCIT", "DOID", "MONDO", "ICD10", "ICDO", "MESH", "HPO")


def check_cui(cui: str) -> str:
    if not isinstance(cui, str) or not CUI_RE.match(cui):
        raise OntologyError(f"invalid UMLS CUI {cui!r}: expected 'C' followed by 7 digits")
    return cui


def _check_lang(lang: str) -> None:
    if lang not in SUPPORTED_LANGUAGES:
        raise OntologyError(f"invalid label language {lang!r}; allowed: {', '.join(SUPPORTED_LANGUAGES)}")


@dataclass(frozen=True, order=True)
class Label:
    """A name of a concept in one language, with where it came from (``source``: ``DOID:4006``,
    ``CID-10:C67``, ``curated`` ...)."""

    lang: str
    text: str
    kind: str = "alt"
    source: str = "curated"

    def __post_init__(self) -> None:
        _check_lang(self.lang)
        if not self.text or not self.text.strip() or self.text != self.text.strip():
            raise OntologyError(f"label text must be non-empty and stripped, got {self.text!r}")
        if self.kind not in LABEL_KINDS:
            raise OntologyError(f"invalid label kind {self.kind!r}; allowed: {', '.join(LABEL_KINDS)}")
        if not self.source:
            raise OntologyError(f"label {self.text!r} has no provenance")


@dataclass(frozen=True, order=True)
class Code:
    """An identifier of the concept in another system (``ONCOTREE:CCRCC``), with its provenance."""

    system: str
    code: str
    source: str

    def __post_init__(self) -> None:
        if self.system not in CODE_SYSTEMS:
            raise OntologyError(f"invalid code system {self.system!r}; allowed: {', '.join(CODE_SYSTEMS)}")
        if not self.code or not self.source:
            raise OntologyError(f"code {self.system}:{self.code!r} needs a value and a provenance")


@dataclass(frozen=True, order=True)
class LayText:
    """Plain-language name and one-sentence definition for patients, in one language."""

    lang: str
    term: str
    definition: str
    source: str = "curated"

    def __post_init__(self) -> None:
        _check_lang(self.lang)
        if not self.term.strip() or not self.definition.strip():
            raise OntologyError(f"lay text in {self.lang} needs a term and a definition")


@dataclass(frozen=True)
class Concept:
    """One ontology concept, keyed by its UMLS CUI."""

    cui: str
    kind: str
    labels: tuple[Label, ...]
    codes: tuple[Code, ...] = ()
    alt_cuis: tuple[str, ...] = ()
    tcga_code: str | None = None
    lay: tuple[LayText, ...] = ()
    definition: str | None = None
    cui_source: str = "curated"
    parents: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        check_cui(self.cui)
        for alt in self.alt_cuis:
            check_cui(alt)
        if self.kind not in CONCEPT_KINDS:
            raise OntologyError(
                f"{self.cui}: invalid kind {self.kind!r}; allowed: {', '.join(CONCEPT_KINDS)}"
            )
        if not any(label.lang == "en" and label.kind == "pref" for label in self.labels):
            raise OntologyError(f"{self.cui}: a concept needs an English preferred label")
        if self.tcga_code is not None and self.kind != "cancer_type":
            raise OntologyError(f"{self.cui}: only cancer_type concepts carry a TCGA code")

    # --- views -------------------------------------------------------------------------------
    def preferred(self, lang: str = "en") -> str:
        """Preferred label in ``lang``, falling back to the first label in ``lang``, then English."""
        for wanted in (lang, "en"):
            for kind in ("pref", "alt", "abbr"):
                for label in self.labels:
                    if label.lang == wanted and label.kind == kind:
                        return label.text
        raise AssertionError("validated concepts always have an English preferred label")

    def labels_in(self, lang: str) -> list[Label]:
        return [label for label in self.labels if label.lang == lang]

    def has_lang(self, lang: str) -> bool:
        return any(label.lang == lang for label in self.labels)

    def code(self, system: str) -> str | None:
        for code in self.codes:
            if code.system == system:
                return code.code
        return None

    def lay_text(self, lang: str) -> LayText | None:
        for lay in self.lay:
            if lay.lang == lang:
                return lay
        return None

    # --- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "cui": self.cui,
            "kind": self.kind,
            "tcga_code": self.tcga_code,
            "cui_source": self.cui_source,
            "alt_cuis": list(self.alt_cuis),
            "parents": list(self.parents),
            "definition": self.definition,
            "codes": [[c.system, c.code, c.source] for c in self.codes],
            "labels": [[x.lang, x.text, x.kind, x.source] for x in self.labels],
            "lay": [[x.lang, x.term, x.definition, x.source] for x in self.lay],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Concept:
        try:
            return cls(
                cui=data["cui"],
                kind=data["kind"],
                tcga_code=data.get("tcga_code"),
                cui_source=data.get("cui_source", "curated"),
                alt_cuis=tuple(data.get("alt_cuis", ())),
                parents=tuple(data.get("parents", ())),
                definition=data.get("definition"),
                codes=tuple(Code(*c) for c in data.get("codes", ())),
                labels=tuple(Label(*x) for x in data["labels"]),
                lay=tuple(LayText(*x) for x in data.get("lay", ())),
            )
        except (KeyError, TypeError) as exc:
            raise OntologyError(f"malformed concept record {data.get('cui', '?')!r}: {exc}") from exc
