from __future__ import annotations

import pytest

from cmkd_med.errors import InvalidInputError
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import ConceptLinker, get_linker
from cmkd_med.ontology.spacy_component import SPAN_KEY, blank_pipeline


@pytest.fixture(scope="module")
def en(tiny_kb: KnowledgeBase) -> ConceptLinker:
    return ConceptLinker(tiny_kb, "en")


@pytest.fixture(scope="module")
def pt(tiny_kb: KnowledgeBase) -> ConceptLinker:
    return ConceptLinker(tiny_kb, "pt")


def test_lookup_is_robust_to_case_accents_and_typos(en: ConceptLinker, pt: ConceptLinker) -> None:
    assert en.lookup("HEPATOCELLULAR CARCINOMA")[0].cui == "C2239176"
    assert en.lookup("hepatocelular carcinorna")[0].cui == "C2239176"  # OCR-like noise
    assert en.lookup("carcinoma, clear cell, renal cell")[0].cui == "C0279702"  # word order
    assert pt.lookup("carcinoma hepatocelular")[0].score == 1.0
    assert pt.lookup("linfonódos")[0].cui == "C0024204"  # a wrong accent
    assert pt.lookup("hcc")[0].cui == "C2239176"  # typed queries may spell abbreviations in any case


def test_link_spans_offsets_and_longest_match(en: ConceptLinker) -> None:
    text = "Diagnosis: Clear cell renal cell carcinoma with necrosis; two lymph nodes free."
    mentions = en.link(text)
    assert [(m.cui, text[m.start : m.end]) for m in mentions] == [
        ("C0279702", "Clear cell renal cell carcinoma"),
        ("C0027540", "necrosis"),
        ("C0024204", "lymph nodes"),
    ]


def test_abbreviations_match_in_prose_only_with_their_case(en: ConceptLinker) -> None:
    assert [m.cui for m in en.link("Findings consistent with HCC.")] == ["C2239176"]
    assert en.link("the hcc score was low") == []


def test_fuzzy_mentions_but_no_junk(en: ConceptLinker) -> None:
    cuis = [m.cui for m in en.link("Hepatocellular carcinorna, moderately differentiated.")]
    assert cuis == ["C2239176"]
    assert en.link("The patient was seen in clinic on Monday.") == []


def test_bad_input_is_a_clear_error(en: ConceptLinker) -> None:
    for bad, message in (("", "empty"), ("   \n", "empty"), (b"\xff\xfe", "UTF-8"), (42, "must be text"),
                         ("x" * 200_001, "limit")):  # fmt: skip
        with pytest.raises(InvalidInputError, match=message):
            en.link(bad)  # type: ignore[arg-type]


def test_spacy_component_sets_entities_with_cuis(
    tiny_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cmkd_med.ontology.spacy_component as component

    monkeypatch.setattr(component, "get_linker", lambda lang, folder, threshold: ConceptLinker(tiny_kb, lang))
    nlp = blank_pipeline("sw")
    doc = nlp("Biopsi ya ini: saratani ya ini, na nekrosisi.")
    assert [(e.text, e.kb_id_) for e in doc.ents] == [
        ("saratani ya ini", "C2239176"),
        ("nekrosisi", "C0027540"),
    ]
    assert len(doc.spans[SPAN_KEY]) == 2 and doc.ents[0].label_ == "cancer_type"


@pytest.mark.parametrize(
    ("lang", "note", "cui"),
    [
        ("en", "Final diagnosis: clear cell renal cell carcinoma, Fuhrman grade 2.", "C0279702"),
        ("pt", "Diagnóstico: carcinoma hepatocelular bem diferenciado.", "C2239176"),
        ("hi", "निदान: फेफड़े का एडेनोकार्सिनोमा।", "C0152013"),
        # "prostate cancer" + "adenocarcinoma" as two mentions (a fuzzy span over both no longer outweighs
        # two exact ones); the scope roles read prostate cancer as the class's
        ("sw", "Uchunguzi: saratani ya tezi dume aina ya adenocarcinoma.", "C0033578"),
    ],
)
def test_real_ontology_links_class_mentions_in_each_language(lang: str, note: str, cui: str) -> None:
    mentions = get_linker(lang).link(note)
    assert cui in [m.cui for m in mentions], [(m.text, m.cui) for m in mentions]


def test_mentions_do_not_cross_lines_headings_or_sentences(tiny_kb: KnowledgeBase) -> None:
    linker = ConceptLinker(tiny_kb, "en", dense=False)
    text = "KIDNEY: clear cell\nrenal cell carcinoma. Lymph\nnodes free."
    assert all("\n" not in m.text and ": " not in m.text for m in linker.link(text))


def test_one_word_near_misses_are_not_mentions(tiny_kb: KnowledgeBase) -> None:
    linker = ConceptLinker(tiny_kb, "en", dense=False)
    assert [m.text for m in linker.link("Extensive necrosls.")] == []  # 0.88 similar: another word, maybe
    assert [m.text for m in linker.link("Extensive necrosis.")] == ["necrosis"]
