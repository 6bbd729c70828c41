"""A fake :class:`Pipeline` for the service, FHIR and engine tests: the real knowledge base and summaries,
a keyword rule instead of a model, so the whole surface runs in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cmkd_med.errors import InvalidInputError
from cmkd_med.languages import normalize_lang
from cmkd_med.text import validate_text

# keyword (lower case) → TCGA class; the first that occurs in a note wins
RULES = {"renal": "KIRC", "figo": "KIRC", "lung": "LUAD", "pulm": "LUAD", "liver": "LIHC", "ini": "LIHC"}


class FakePipeline:
    """The surface of :class:`cmkd_med.api.Pipeline` the service and the CLI use."""

    def __init__(self, lang: str = "auto", index: Any = None, **options: Any):
        from cmkd_med.ontology.kb import KnowledgeBase

        self.lang = "auto" if lang == "auto" else normalize_lang(lang)
        self.kb = KnowledgeBase.load()
        self._index_path = index
        self.loaded: list[str] = []
        self.calls: list[int] = []  # batch sizes classify saw

    def model(self, lang: str) -> object:
        self.loaded.append(lang)
        return object()

    def linker(self, lang: str) -> _FakeLinker:
        return _FakeLinker(self, lang)

    def language_of(self, text: str) -> str:
        if self.lang != "auto":
            return self.lang
        return "pt" if "ção" in text or "carcinoma de" in text else "sw" if "saratani" in text else "en"

    def route(self, text: str, lang: str | None = None) -> str:
        return self.language_of(text) if lang is None else normalize_lang(lang)

    def link(self, text: str, lang: str = "en") -> list[dict[str, Any]]:
        out = []
        for code in dict.fromkeys(RULES.values()):
            concept = self.kb.class_concept(code)
            word = concept.preferred("en").split()[0].lower()
            at = text.lower().find(word)
            if at >= 0:
                out.append({
                    "text": text[at : at + len(word)], "start": at, "end": at + len(word), "cui": concept.cui,
                    "score": 0.9, "kind": "cancer_type",
                    "labels": {"en": concept.preferred("en"), lang: concept.preferred(lang)},
                    "assertion": "negated" if "no " + word in text.lower() else "affirmed",
                })  # fmt: skip
        return out

    def classify(
        self, notes: str | Sequence[str], langs: Sequence[str | None] | None = None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        single = isinstance(notes, str)
        texts = [validate_text(t) for t in ([notes] if single else notes)]
        langs = list(langs) if langs is not None else [None] * len(texts)
        self.calls.append(len(texts))
        out = [self._one(t, self.route(t, x)) for t, x in zip(texts, langs, strict=True)]
        return out[0] if single else out

    def _one(self, text: str, lang: str) -> dict[str, Any]:
        low = text.lower()
        code = next((c for k, c in RULES.items() if k in low), "PRAD")
        concept = self.kb.class_concept(code)
        p = 0.95 if code != "PRAD" else 0.4
        return {
            "label": code,
            "concept": {
                "cui": concept.cui,
                "codes": {c.system: c.code for c in concept.codes},
                "label": concept.preferred(lang),
                "label_en": concept.preferred("en"),
            },
            "probability": p,
            "probabilities": [{"label": code, "probability": p}],
            "uncertainty": round(1 - p, 4),
            "abstained": p < 0.5,
            "entities": self.link(text, lang),
            "lang": lang,
        }

    def summarize(
        self, note: str | dict[str, Any], audience: str = "patient", lang: str | None = None,
        note_lang: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        from cmkd_med.summary import summarize_result

        result = note if isinstance(note, dict) else self.classify([note], [note_lang])[0]
        assert isinstance(result, dict)
        return summarize_result(result, self.kb, audience, lang)

    def index(self) -> object:
        if self._index_path is None:
            raise InvalidInputError("no index: pass index=DIR (built with `cmkd-med index build`)")
        return self._index_path

    def retrieve(
        self, query: str, k: int = 10, modality: str | None = None, lang: str | None = None
    ) -> list[dict[str, Any]]:
        validate_text(query, "query")
        self.index()
        hits = [{"id": f"doc{i}", "modality": modality or "text", "score": 1 - i / 10} for i in range(10)]
        return hits[:k]


class _FakeMention:
    def __init__(self, data: dict[str, Any]):
        self.data = data

    def to_dict(self, kb: Any = None, lang: str = "en") -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k != "assertion"}


class _FakeLinker:
    def __init__(self, nlp: FakePipeline, lang: str):
        self.nlp, self.lang = nlp, lang

    def link(self, text: str) -> list[_FakeMention]:
        return [_FakeMention(m) for m in self.nlp.link(text, self.lang)]

    def forget(self) -> None:
        pass
