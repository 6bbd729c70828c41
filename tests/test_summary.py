"""Patient summaries that cannot mislead (issue 14): the computer's reading, never "100 %", and no cancer type
named for a note out of scope or abstained."""

from __future__ import annotations

from typing import Any

import pytest

from cmkd_med.errors import InvalidInputError
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import get_linker
from cmkd_med.summary import TEMPLATES, percent_text, summarize_result

LANGS = ("en", "pt", "hi", "sw")
HEADINGS = {
    "en": "The computer's reading (it can be wrong)",
    "pt": "Leitura do computador (pode estar errada)",
    "hi": "कंप्यूटर का अनुमान (गलत भी हो सकता है)",
    "sw": "Makisio ya kompyuta (yanaweza kuwa si sahihi)",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def result(code: str | None, lang: str, probability: float = 0.995, **extra: Any) -> dict[str, Any]:
    base = {
        "label": code,
        "probability": probability,
        "uncertainty": 1 - probability,
        "abstained": False,
        "entities": [],
        "lang": lang,
        "scope": "supported",
    }
    return {**base, **extra}


def test_every_class_renders_in_every_language(kb: KnowledgeBase) -> None:
    for concept in kb.classes():
        for lang in LANGS:
            summary = summarize_result(result(concept.tcga_code, lang), kb)
            text = summary["text"]
            assert text.startswith(HEADINGS[lang]) and "{" not in text
            assert "100%" not in text and "100 %" not in text and TEMPLATES[lang]["over"] in text
            assert summary["concepts"] == [concept.cui] and summary["label"] == concept.tcga_code
            lay = concept.lay_text(lang)
            assert lay is not None and lay.term in text
            if lang == "hi":  # no genitive on the term: "X का कैंसर का संकेत" was wrong in 19 of 20 classes
                assert f"{lay.term} का" not in text


def test_the_figure_is_the_programs_estimate_not_a_chance_of_cancer(kb: KnowledgeBase) -> None:
    text = summarize_result(result("KIRC", "en", 0.87), kb)["text"]
    assert "87%" in text and "not the chance that you have cancer" in text
    assert percent_text(0.995, "sw") == "zaidi ya 99%" and percent_text(0.99, "pt") == "99%"
    assert percent_text(0.999, "hi") == "99% से अधिक"


@pytest.mark.parametrize("scope", ["no_malignancy", "unsupported_cancer", "unclear"])
def test_out_of_scope_summaries_name_no_class(kb: KnowledgeBase, scope: str) -> None:
    classes = {c.cui for c in kb.classes()}
    lay_terms = {c.lay_text(lang).term for c in kb.classes() for lang in LANGS if c.lay_text(lang)}
    for lang in LANGS:
        for audience in ("patient", "clinician"):
            r = result(None, lang, 0.99, abstained=True, scope=scope, scope_reason="benign_finding")
            summary = summarize_result(r, kb, audience)
            assert summary["label"] is None and summary["abstained"] and summary["scope"] == scope
            linked = {m.cui for m in get_linker(lang).link(summary["text"])}
            assert not linked & classes, (lang, audience, linked & classes)
            assert not any(term in summary["text"] for term in lay_terms)
            if audience == "patient":
                assert summary["text"].startswith(HEADINGS[lang])


def test_abstained_in_scope_names_nothing_either(kb: KnowledgeBase) -> None:
    summary = summarize_result(result("LUAD", "pt", 0.41, abstained=True), kb)
    assert summary["label"] is None and summary["concepts"] == []
    assert "não é clara" in summary["text"]


def test_a_result_with_its_label_removed_is_summarized_not_crashed(kb: KnowledgeBase) -> None:
    """Issue 17: ``summarize({**r, "label": None})`` raised AttributeError."""
    summary = summarize_result(result(None, "en"), kb)
    assert summary["label"] is None and summary["concepts"] == []
    with pytest.raises(InvalidInputError, match="unknown label"):
        summarize_result(result("XYZ", "en"), kb)
    with pytest.raises(InvalidInputError, match="unknown label"):
        summarize_result(result(7, "en"), kb)  # type: ignore[arg-type]


def test_hindi_and_swahili_templates_say_they_are_unreviewed(kb: KnowledgeBase) -> None:
    for lang in ("hi", "sw"):
        assert summarize_result(result("KIRC", lang), kb)["provenance"] == "curated, unreviewed"
    assert summarize_result(result("KIRC", "pt"), kb)["provenance"] == "curated"
