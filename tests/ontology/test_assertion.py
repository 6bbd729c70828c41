"""Assertion status (medspaCy ConText with our rules) in four languages (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmkd_med.config import PROJECT_ROOT
from cmkd_med.errors import OntologyError
from cmkd_med.evaluation.scope import evaluate_assertion, part_of
from cmkd_med.ontology import assertion
from cmkd_med.ontology.assertion import ASSERTIONS, get_detector, history_lines, read_rules

CASES = {
    "en": [
        (
            "No evidence of carcinoma, but adenoma is present.",
            {"carcinoma": "negated", "adenoma": "affirmed"},
        ),
        ("Lymphovascular invasion: not identified.", {"Lymphovascular invasion": "negated"}),
        ("Suspicious for adenocarcinoma.", {"adenocarcinoma": "possible"}),
        (
            "History of melanoma. Mother had breast cancer.",
            {"melanoma": "historical", "breast cancer": "family"},
        ),
        ("Bone scan: no skeletal metastases.", {"skeletal metastases": "negated"}),
    ],
    "pt": [
        ("Ausência de metástase. Carcinoma presente.", {"metástase": "negated", "Carcinoma": "affirmed"}),
        (
            "Sem atipias, mas com carcinoma invasivo.",
            {"atipias": "negated", "carcinoma invasivo": "affirmed"},
        ),
        ("CONCLUSÃO: NEGATIVO PARA MALIGNIDADE.", {"MALIGNIDADE": "negated"}),
        ("Não se pode excluir linfoma.", {"linfoma": "possible"}),
        ("Mãe com melanoma.", {"melanoma": "family"}),
        ("Invasão angiolinfática: ausente.", {"Invasão angiolinfática": "negated"}),
    ],
    "hi": [
        ("कार्सिनोमा नहीं पाया गया।", {"कार्सिनोमा": "negated"}),
        ("ट्यूमर मौजूद है, लेकिन मेटास्टेसिस नहीं है।", {"ट्यूमर": "affirmed", "मेटास्टेसिस": "negated"}),
        ("कार्सिनोमा मौजूद है और लिम्फ नोड में मेटास्टेसिस नहीं पाया गया।", {"कार्सिनोमा": "affirmed"}),
        ("लिम्फोमा की संभावना है।", {"लिम्फोमा": "possible"}),
        ("IMPRESSION: NEGATIVE FOR MALIGNANCY।", {"MALIGNANCY": "negated"}),  # code-mixed English
    ],
    "sw": [
        ("Hakuna saratani.", {"saratani": "negated"}),
        (
            "Metastasis haikuonekana, lakini kuna carcinoma.",
            {"Metastasis": "negated", "carcinoma": "affirmed"},
        ),
        ("Mama yake alikuwa na saratani ya matiti.", {"saratani ya matiti": "family"}),
        ("Lymphoma haiwezi kuondolewa.", {"Lymphoma": "possible"}),
    ],
}


@pytest.mark.parametrize("lang", sorted(CASES))
def test_context_rules_in_each_language(lang: str) -> None:
    detector = get_detector(lang)
    for text, targets in CASES[lang]:
        spans = [(text.index(t), text.index(t) + len(t)) for t in targets]
        assert detector.statuses(text, spans) == list(targets.values()), text


def test_clinical_history_lines_make_affirmed_mentions_historical() -> None:
    text = "CLINICAL HISTORY: glioblastoma, resected 2023.\nDIAGNOSIS: radiation necrosis; no viable tumour."
    assert history_lines(text) == [(0, text.index("\n"))]
    start = text.index("glioblastoma")
    assert get_detector("en").statuses(text, [(start, start + 12)]) == ["historical"]


def test_rule_files_carry_provenance_and_valid_rules() -> None:
    for lang in ("en", "pt", "hi", "sw"):
        header = (PROJECT_ROOT / "ontology" / "context_rules" / f"{lang}.tsv").read_text(encoding="utf-8")
        assert "cmkd-med team" in "".join(header.splitlines()[1:3])
        assert len(read_rules(lang)) > 50


def test_a_bad_rule_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pt.tsv").write_text("literal\tcategory\tdirection\tsource\nsem\tNEGADO\tFORWARD\tx\n")
    monkeypatch.setattr(assertion, "RULES_DIR", tmp_path)
    with pytest.raises(OntologyError, match=r"pt\.tsv line 2"):
        read_rules("pt")


def test_assertion_dev_sets_are_big_enough_and_split_once() -> None:
    for lang in ("en", "pt", "hi", "sw"):
        rows = [json.loads(x) for x in (PROJECT_ROOT / f"examples/assertion_dev/{lang}.jsonl").open()]
        assert len(rows) >= 80 and {r["assertion"] for r in rows} == set(ASSERTIONS)
        parts = [part_of(r["id"]) for r in rows]
        assert 0.35 < parts.count("sealed") / len(rows) < 0.65  # a fixed-seed half, by id
    assert part_of("pt-assert-001") == part_of("pt-assert-001")


# Issue 14's target is negation precision and recall >= 0.9 on the sealed part. Met in en and hi; not met in
# pt (precision 0.88) and sw (0.82 / 0.85): those floors guard what is reached; the README says it plainly.
SEALED_FLOOR = {"en": (0.9, 0.9), "hi": (0.9, 0.9), "pt": (0.85, 0.9), "sw": (0.8, 0.85)}


@pytest.mark.parametrize("lang", ["en", "pt", "hi", "sw"])
def test_negation_on_the_sealed_part(lang: str) -> None:
    result = evaluate_assertion(PROJECT_ROOT / f"examples/assertion_dev/{lang}.jsonl", lang, part="sealed")
    precision, recall = SEALED_FLOOR[lang]
    assert result["n"] >= 60
    negation = result["negation"]
    assert negation["precision"] >= precision and negation["recall"] >= recall, negation
