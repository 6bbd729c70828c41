from __future__ import annotations

import pytest

from cmkd_med.errors import OntologyError
from cmkd_med.ontology.concept import Code, Concept, Label, LayText, check_cui


def test_cui_must_match_umls_shape() -> None:
    assert check_cui("C0279702") == "C0279702"
    for bad in ("C027970", "c0279702", "CL446431", "DOID:4467", ""):
        with pytest.raises(OntologyError, match="invalid UMLS CUI"):
            check_cui(bad)


def test_label_validation_names_the_bad_value() -> None:
    with pytest.raises(OntologyError, match="language 'xx'"):
        Label("xx", "carcinoma", "pref", "test")
    with pytest.raises(OntologyError, match="kind"):
        Label("en", "carcinoma", "synonym", "test")
    with pytest.raises(OntologyError, match="stripped"):
        Label("en", " carcinoma", "alt", "test")
    with pytest.raises(OntologyError, match="provenance"):
        Label("en", "carcinoma", "alt", "")


def test_code_system_is_a_closed_set() -> None:
    with pytest.raises(OntologyError, match="code system"):
        Code("ONCOTRE", "CCRCC", "curated")


def test_concept_needs_english_pref_and_roundtrips() -> None:
    with pytest.raises(OntologyError, match="English preferred"):
        Concept("C0279702", "disease", (Label("pt", "carcinoma", "pref", "test"),))
    concept = Concept(
        "C0279702", "cancer_type",
        (Label("en", "clear cell RCC", "pref", "t"), Label("pt", "CCR células claras", "alt", "x")),
        codes=(Code("TCGA", "KIRC", "curated"),), tcga_code="KIRC",
        lay=(LayText("en", "kidney cancer", "A cancer of the kidney.", "curated"),),
    )  # fmt: skip
    assert Concept.from_dict(concept.to_dict()) == concept
    assert concept.preferred("pt") == "CCR células claras"  # first label when no pt pref
    assert concept.preferred("sw") == "clear cell RCC"  # falls back to English
    assert concept.code("TCGA") == "KIRC" and concept.code("ICD10") is None


def test_only_cancer_types_carry_tcga_codes() -> None:
    with pytest.raises(OntologyError, match="TCGA code"):
        Concept("C0007097", "disease", (Label("en", "carcinoma", "pref", "t"),), tcga_code="KIRC")
