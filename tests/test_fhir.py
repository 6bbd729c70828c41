"""FHIR R4 output: every bundle the tool emits parses with the fhir.resources models, carries the codings,
probability, abstention and assertion status, and names no diagnosis when the model abstains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cmkd_med.fhir import SYSTEMS, parse_bundle, to_bundle
from cmkd_med.ontology.kb import KnowledgeBase
from tests.service.fake import FakePipeline

KIDNEY = "Clear cell renal cell carcinoma of the left kidney, no lung involvement."


@pytest.fixture(scope="module")
def nlp() -> FakePipeline:
    return FakePipeline("auto")


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _ext(resource: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((x for x in resource.get("extension", []) if x["url"].endswith("/" + name)), None)


def _parses_fully(bundle: dict[str, Any]) -> None:
    """The bundle and each entry resource through its own R4B model (not only as a generic Resource)."""
    from fhir.resources.R4B import get_fhir_model_class

    parsed = parse_bundle(bundle)
    assert parsed.type == "collection" and len(parsed.entry) == len(bundle["entry"])
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    json.loads(parsed.model_dump_json())  # serialises back


def test_every_class_gives_a_valid_bundle_with_the_four_code_systems(built_kb: KnowledgeBase) -> None:
    nlp, seen = FakePipeline("en"), set()
    for code in sorted({c.tcga_code for c in built_kb if c.tcga_code}):
        result = nlp.classify(f"Report: {code} tumour.")
        assert isinstance(result, dict)
        concept = built_kb.class_concept(code)
        result.update(
            label=code, abstained=False, probability=0.91, concept={**result["concept"], "cui": concept.cui}
        )
        result["concept"]["codes"] = {c.system: c.code for c in concept.codes}
        bundle = to_bundle(result, built_kb, note_id=f"note-{code}")
        _parses_fully(bundle)
        (report,) = _resources(bundle, "DiagnosticReport")
        systems = {c["system"] for c in report["conclusionCode"][0]["coding"]}
        # every code system the ontology has a code in for the concept (HNSC, many sites, has no ICD-10)
        expected = {SYSTEMS["UMLS"]} | {SYSTEMS[c.system] for c in concept.codes if c.system in SYSTEMS}
        assert systems == expected and len(systems) >= 3, code
        seen |= systems
        umls = next(c for c in report["conclusionCode"][0]["coding"] if c["system"] == SYSTEMS["UMLS"])
        assert umls["code"] == concept.cui and report["identifier"][0]["value"] == f"note-{code}"
    assert seen == set(SYSTEMS.values())


def test_report_extensions_and_entity_observations(nlp: FakePipeline, built_kb: KnowledgeBase) -> None:
    result = nlp.classify(KIDNEY)
    assert isinstance(result, dict)
    result["scope"] = "supported"
    bundle = to_bundle(result, built_kb)
    _parses_fully(bundle)
    (report,) = _resources(bundle, "DiagnosticReport")
    observations = _resources(bundle, "Observation")
    assert report["status"] == "preliminary" and report["language"] == "en"
    assert _ext(report, "model-probability")["valueDecimal"] == pytest.approx(0.95)
    assert _ext(report, "model-abstained")["valueBoolean"] is False
    assert _ext(report, "scope")["valueCode"] == "supported"
    assert "KIRC" in report["conclusion"]
    assert [r["reference"] for r in report["result"]] == [
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ]
    assert len(observations) == len(result["entities"]) == 2
    status = {
        o["code"]["coding"][0]["code"]: o["valueCodeableConcept"]["coding"][0]["code"] for o in observations
    }
    kidney, lung = (built_kb.class_concept(c).cui for c in ("KIRC", "LUAD"))
    assert status == {kidney: "affirmed", lung: "negated"}
    mention = _ext(observations[0], "mention")["extension"]
    start, end = (next(x["valueInteger"] for x in mention if x["url"] == k) for k in ("start", "end"))
    assert KIDNEY[start:end] == result["entities"][0]["text"]
    # the entities carry every code the ontology has for them, not only the CUI
    assert SYSTEMS["NCIT"] in {c["system"] for c in observations[0]["code"]["coding"]}


def test_abstained_or_out_of_scope_names_no_diagnosis(nlp: FakePipeline) -> None:
    unsure = nlp.classify("Poorly preserved fragments, nothing diagnostic.")
    assert isinstance(unsure, dict) and unsure["abstained"]
    out_of_scope = {**unsure, "abstained": True, "label": None, "scope": "unsupported_cancer", "entities": []}
    for result in (unsure, out_of_scope):
        bundle = to_bundle(result)
        _parses_fully(bundle)
        (report,) = _resources(bundle, "DiagnosticReport")
        assert "conclusionCode" not in report and "unclear" in report["conclusion"]
        assert _ext(report, "model-abstained")["valueBoolean"] is True
        assert (result.get("label") or "PRAD") not in json.dumps(report)


def test_missing_assertion_is_marked_not_determined_and_ids_are_reproducible(nlp: FakePipeline) -> None:
    result = nlp.classify(KIDNEY)
    assert isinstance(result, dict)
    for e in result["entities"]:
        e.pop("assertion")
    result.pop("uncertainty")  # tolerated: older result dicts
    bundle = to_bundle(result)
    _parses_fully(bundle)
    for obs in _resources(bundle, "Observation"):
        assert "valueCodeableConcept" not in obs and obs["dataAbsentReason"]["coding"][0]["code"] == "unknown"
    assert to_bundle(result) == bundle and to_bundle(result, note_id="x") != bundle


def test_summary_becomes_the_conclusion(nlp: FakePipeline, built_kb: KnowledgeBase) -> None:
    result = nlp.classify(["Carcinoma de células claras renal, nefrectomia."], ["pt"])
    assert isinstance(result, list)
    summary = nlp.summarize(result[0], audience="patient", lang="pt")
    bundle = to_bundle(result[0], built_kb, summary=summary)
    _parses_fully(bundle)
    (report,) = _resources(bundle, "DiagnosticReport")
    assert report["conclusion"] == summary["text"] and report["language"] == "pt"
    assert _ext(report, "summary-audience")["valueCode"] == "patient"


def test_cli_format_fhir_one_note_and_bulk(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from cmkd_med import api
    from cmkd_med.cli import main

    monkeypatch.setattr(api, "Pipeline", FakePipeline)
    for command in ("classify", "summarize"):
        assert main([command, KIDNEY, "--lang", "en", "--format", "fhir"]) == 0
        bundle = json.loads(capsys.readouterr().out)
        _parses_fully(bundle)
        (report,) = _resources(bundle, "DiagnosticReport")
        assert report["conclusionCode"][0]["coding"][0]["system"] == SYSTEMS["UMLS"]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"id": "a", "text": KIDNEY}, {"id": "b", "text": ""}, {"id": "c", "text": "Lung adenocarcinoma."}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["summarize", "--input", str(src), "--out", str(out), "--format", "fhir"]) == 1
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["a", "b", "c"] and "error" in written[1]
    for row in (written[0], written[2]):
        assert set(row) == {"id", "fhir"}
        _parses_fully(row["fhir"])
        (report,) = _resources(row["fhir"], "DiagnosticReport")
        assert report["identifier"][0]["value"] == row["id"]
