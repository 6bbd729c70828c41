"""The knowledge base: exactly two lookups, CUI → concept and alias → CUIs (per language)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from cmkd_med.config import ontology_dir
from cmkd_med.data.tcga import TCGA_CLASSES
from cmkd_med.errors import DataFormatError, OntologyError, OntologyNotBuiltError
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.concept import Concept
from cmkd_med.ontology.normalize import normalize

CONCEPTS_FILE = "concepts.jsonl"


class KnowledgeBase:
    """Frozen, validated concepts with a CUI index and a per-language normalised-alias index.

    >>> kb = KnowledgeBase.load()                       # doctest: +SKIP
    >>> kb["C0279702"].preferred("pt")                  # doctest: +SKIP
    'carcinoma de células renais de células claras'
    >>> kb.alias_to_cuis("ccRCC", "en")                 # doctest: +SKIP
    {'C0279702'}
    """

    def __init__(self, concepts: Iterable[Concept]):
        self._concepts: dict[str, Concept] = {}
        self._alt: dict[str, str] = {}
        self._aliases: dict[str, dict[str, set[str]]] = {}
        # Keys that come only from abbreviation labels ("ALL", "HCC"): they match only when the surface
        # has the same case, or "all" in prose would be acute lymphoblastic leukaemia.
        self._abbr_surface: dict[str, dict[str, set[str]]] = {}
        full_keys: dict[str, set[str]] = {}
        for concept in concepts:
            if concept.cui in self._concepts:
                raise OntologyError(f"duplicate concept {concept.cui}")
            self._concepts[concept.cui] = concept
        for concept in self._concepts.values():
            for alt in concept.alt_cuis:
                if alt not in self._concepts:
                    self._alt.setdefault(alt, concept.cui)
            for label in concept.labels:
                key = normalize(label.text)
                if not key:
                    continue
                self._aliases.setdefault(label.lang, {}).setdefault(key, set()).add(concept.cui)
                if label.kind == "abbr":
                    surface = " ".join(label.text.split())
                    self._abbr_surface.setdefault(label.lang, {}).setdefault(key, set()).add(surface)
                else:
                    full_keys.setdefault(label.lang, set()).add(key)
        for lang, table in self._abbr_surface.items():
            for key in list(table):
                if key in full_keys.get(lang, set()):
                    del table[key]
        codes = [c.tcga_code for c in self._concepts.values() if c.tcga_code]
        self._classes = {code: cui for code, cui in ((c.tcga_code, c.cui) for c in self) if code}
        if len(codes) != len(set(codes)):
            raise OntologyError("a TCGA code is mapped to more than one concept")

    # --- loading -----------------------------------------------------------------------------
    @classmethod
    def from_jsonl(cls, path: Path) -> KnowledgeBase:
        if not path.exists():
            raise OntologyNotBuiltError(f"{path} not found: run `cmkd-med ontology build` first")
        concepts = []
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    concepts.append(Concept.from_dict(json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataFormatError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
        return cls(concepts)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> KnowledgeBase:
        """The built ontology in ``folder`` (default: the project's ``ontology/``), cached per folder."""
        return _load_cached(str(ontology_dir(folder)))

    def save(self, path: Path) -> None:
        with path.open("w", encoding="utf-8") as handle:
            for concept in sorted(self, key=lambda c: c.cui):
                handle.write(json.dumps(concept.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")

    # --- the two lookups ---------------------------------------------------------------------
    def __getitem__(self, cui: str) -> Concept:
        concept = self.get(cui)
        if concept is None:
            raise KeyError(cui)
        return concept

    def get(self, cui: str) -> Concept | None:
        """The concept of ``cui``; a secondary CUI (``alt_cuis``) resolves to its concept."""
        if cui in self._concepts:
            return self._concepts[cui]
        primary = self._alt.get(cui)
        return self._concepts[primary] if primary else None

    def alias_to_cuis(self, alias: str, lang: str | None = None) -> set[str]:
        """CUIs whose label in ``lang`` (all languages when ``None``) normalises to ``alias``'s key."""
        key = normalize(alias)
        if lang is not None:
            return set(self._aliases.get(normalize_lang(lang), {}).get(key, set()))
        out: set[str] = set()
        for table in self._aliases.values():
            out |= table.get(key, set())
        return out

    # --- views -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Concept]:
        return iter(self._concepts.values())

    def __len__(self) -> int:
        return len(self._concepts)

    def __contains__(self, cui: object) -> bool:
        return isinstance(cui, str) and self.get(cui) is not None

    def aliases(self, lang: str) -> dict[str, set[str]]:
        """Normalised alias → CUIs for one language (a copy-free read-only view; do not mutate)."""
        return self._aliases.get(normalize_lang(lang), {})

    def abbreviation_surfaces(self, lang: str) -> dict[str, set[str]]:
        """Normalised key → exact surface forms, for keys that come only from abbreviation labels."""
        return self._abbr_surface.get(normalize_lang(lang), {})

    def accepts(self, key: str, surface: str, lang: str) -> bool:
        """Whether ``surface`` (normalising to ``key``) may match: abbreviation-only keys need their case."""
        forms = self.abbreviation_surfaces(lang).get(key)
        return forms is None or " ".join(surface.split()) in forms

    def classes(self) -> list[Concept]:
        """The cancer-type concepts in TCGA code order."""
        return [self._concepts[self._classes[code]] for code in TCGA_CLASSES if code in self._classes]

    def class_concept(self, tcga_code: str) -> Concept:
        code = tcga_code.strip().upper()
        if code not in self._classes:
            raise OntologyError(f"unknown TCGA code {tcga_code!r}; known: {', '.join(sorted(self._classes))}")
        return self._concepts[self._classes[code]]


@lru_cache(maxsize=4)
def _load_cached(folder: str) -> KnowledgeBase:
    return KnowledgeBase.from_jsonl(Path(folder) / CONCEPTS_FILE)
