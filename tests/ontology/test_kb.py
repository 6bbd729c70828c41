from __future__ import annotations

from pathlib import Path

import pytest

from cmkd_med.errors import DataFormatError, OntologyError, OntologyNotBuiltError, UnsupportedLanguageError
from cmkd_med.ontology.concept import Concept, Label
from cmkd_med.ontology.kb import KnowledgeBase


def test_two_lookups(tiny_kb: KnowledgeBase) -> None:
    assert tiny_kb["C0279702"].tcga_code == "KIRC"
    assert tiny_kb.alias_to_cuis("Renal Clear-Cell Carcinoma", "en") == {"C0279702"}
    assert tiny_kb.alias_to_cuis("linfonodos", "pt") == {"C0024204"}
    assert tiny_kb.alias_to_cuis("linfonodos", "en") == set()
    assert tiny_kb.alias_to_cuis("carcinoma") == {"C0007097"}  # all languages
    with pytest.raises(UnsupportedLanguageError, match="supported: en, pt, hi, sw"):
        tiny_kb.alias_to_cuis("carcinoma", "fr")


def test_classes_in_tcga_order_and_unknown_code(tiny_kb: KnowledgeBase) -> None:
    assert [c.tcga_code for c in tiny_kb.classes()] == ["KIRC", "LIHC"]
    with pytest.raises(OntologyError, match="unknown TCGA code 'XYZ'"):
        tiny_kb.class_concept("XYZ")


def test_abbreviations_need_their_case(tiny_kb: KnowledgeBase) -> None:
    assert tiny_kb.accepts("hcc", "HCC", "en")
    assert not tiny_kb.accepts("hcc", "hcc", "en")
    assert tiny_kb.accepts("carcinoma", "CARCINOMA", "en")  # full words match in any case


def test_alt_cuis_resolve_and_duplicates_fail() -> None:
    a = Concept("C0279702", "disease", (Label("en", "x carcinoma", "pref", "t"),), alt_cuis=("C1234567",))
    kb = KnowledgeBase([a])
    assert kb.get("C1234567") is a and "C1234567" in kb
    with pytest.raises(OntologyError, match="duplicate"):
        KnowledgeBase([a, a])


def test_save_load_roundtrip_and_errors(tmp_path: Path, tiny_kb: KnowledgeBase) -> None:
    path = tmp_path / "concepts.jsonl"
    tiny_kb.save(path)
    again = KnowledgeBase.from_jsonl(path)
    assert sorted(c.cui for c in again) == sorted(c.cui for c in tiny_kb)
    assert again["C2239176"] == tiny_kb["C2239176"]
    with pytest.raises(OntologyNotBuiltError, match="ontology build"):
        KnowledgeBase.from_jsonl(tmp_path / "missing.jsonl")
    path.write_text('{"cui": "C0279702"\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=":1: not valid JSON"):
        KnowledgeBase.from_jsonl(path)
