"""The built ontology: reproducible from the sources, complete for the label space (issue 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmkd_med.config import ontology_dir
from cmkd_med.data.tcga import TCGA_CLASSES
from cmkd_med.languages import SUPPORTED_LANGUAGES
from cmkd_med.ontology import sources
from cmkd_med.ontology.build import build_ontology
from cmkd_med.ontology.frequency import top_concepts
from cmkd_med.ontology.kb import KnowledgeBase
from tests.conftest import requires_data


@requires_data
def test_build_is_reproducible(tmp_path: Path) -> None:
    kb, report = build_ontology(tmp_path)
    for name in ("concepts.jsonl", "frequency.tsv"):
        assert (tmp_path / name).read_bytes() == (ontology_dir() / name).read_bytes(), (
            f"committed ontology/{name} is stale: run `cmkd-med ontology build`"
        )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["report"]["classes"] == 20 and report["concepts"] == len(kb) > 500


def test_label_space_is_the_20_tcga_classes(built_kb: KnowledgeBase) -> None:
    classes = built_kb.classes()
    assert [c.tcga_code for c in classes] == list(TCGA_CLASSES)
    for concept in classes:
        assert concept.kind == "cancer_type"
        systems = {c.system for c in concept.codes}
        assert {"TCGA", "MONDO", "DOID", "NCIT"} <= systems, concept.tcga_code
        assert all(code.source for code in concept.codes)
        assert concept.cui_source.startswith("Mondo")
    # OncoTree codes where they exist, with the explicit maps for codes that differ or mislead.
    onco = {c.tcga_code: c.code("ONCOTREE") for c in classes}
    assert (
        onco["KIRC"] == "CCRCC" and onco["LIHC"] == "HCC" and onco["GBM"] == "GB" and onco["KICH"] == "CHRCC"
    )


@requires_data
def test_class_cuis_are_confirmed_by_mondo() -> None:
    kb = KnowledgeBase.load()
    mondo_umls = sources.read_mondo("umls")
    for concept in kb.classes():
        assert concept.cui in mondo_umls[concept.code("MONDO") or ""], concept.tcga_code


def test_every_class_has_labels_and_lay_text_in_all_languages(built_kb: KnowledgeBase) -> None:
    for concept in built_kb.classes():
        for lang in SUPPORTED_LANGUAGES:
            assert concept.has_lang(lang), (concept.tcga_code, lang)
            assert [x.kind for x in concept.labels_in(lang)].count("pref") == 1
            lay = concept.lay_text(lang)
            assert lay is not None and lay.term and lay.definition.endswith((".", "।")), (
                concept.tcga_code,
                lang,
            )


def test_frequent_concepts_are_labelled_in_every_language(built_kb: KnowledgeBase) -> None:
    top = top_concepts(built_kb, ontology_dir(), n=150)
    assert len(top) == 150
    missing = [(cui, lang) for cui in top for lang in SUPPORTED_LANGUAGES if not built_kb[cui].has_lang(lang)]
    assert not missing, f"{len(missing)} (concept, language) pairs lack labels, e.g. {missing[:5]}"


def test_every_label_has_provenance_and_hi_sw_are_marked_unreviewed(built_kb: KnowledgeBase) -> None:
    # Hindi and Swahili labels await review by a native-speaking clinician (issue 14).
    for concept in built_kb:
        for label in concept.labels:
            assert label.source
            if label.lang in ("hi", "sw"):
                assert label.source.startswith(("curated, unreviewed", "TICO-19:")), label


def test_curated_label_files_name_known_concepts_only(built_kb: KnowledgeBase) -> None:
    # The build raises on an unknown CUI; this guards the committed output against hand edits.
    root = ontology_dir() / "curated"
    for lang in ("pt", "hi", "sw"):
        for line in (root / f"labels_{lang}.tsv").read_text(encoding="utf-8").splitlines()[1:]:
            assert line.split("\t")[0] in built_kb


def test_exclusions_removed_wrong_synonyms(built_kb: KnowledgeBase) -> None:
    assert "C1997217" not in built_kb.alias_to_cuis("benign glioma", "en")
    assert "C1261473" not in built_kb.alias_to_cuis("tumor of soft tissue and skeleton", "en")


def test_malformed_curated_file_is_a_clear_error(tmp_path: Path) -> None:
    from cmkd_med.errors import DataFormatError
    from cmkd_med.ontology.build import OntologyBuilder

    (tmp_path / "classes.tsv").write_text("tcga_code\tcui\nKIRC\tC0279702\textra\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="missing columns"):
        OntologyBuilder(curated=tmp_path).add_classes()


def test_build_without_data_fails_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmkd_med.cli import main

    code = main(["ontology", "build", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "data file not found" in err and "Traceback" not in err
