from __future__ import annotations

from cmkd_med.ontology.normalize import is_abbreviation, normalize, surface_tokens


def test_latin_accents_case_and_punctuation_fold() -> None:
    assert normalize("  Metástase   em LINFONODO; ") == "metastase em linfonodo"
    assert normalize("non-small-cell") == "non small cell"
    assert normalize("imuno-histoquímica") == "imuno histoquimica"


def test_devanagari_marks_are_kept() -> None:
    # Vowel signs and virama are letters of the word; stripping them would merge different words.
    assert normalize("कार्सिनोमा") == "कार्सिनोमा"
    assert normalize("फेफड़े का कैंसर।") == "फेफड़े का कैंसर"


def test_surface_tokens_keep_case_and_abbreviations() -> None:
    assert surface_tokens("ccRCC, grade 3.") == ["ccRCC", "grade", "3"]
    assert is_abbreviation("HCC") and is_abbreviation("ccRCC")
    assert not is_abbreviation("Carcinoma") and not is_abbreviation("renal cell carcinoma")
