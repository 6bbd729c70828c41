"""HL7 FHIR R4 output of a classification (``--format fhir``, ``?format=fhir`` in the service).

One note becomes one ``Bundle`` (type ``collection``) holding

* a ``DiagnosticReport`` (status ``preliminary``: an automatic reading, to be verified): ``conclusion`` is
  the summary text when there is one, else a line naming the predicted cancer type; ``conclusionCode``
  carries the predicted concept in UMLS, ICD-10, ICD-O-3 and NCIt. The model's probability, uncertainty,
  abstention and scope are extensions. When the model abstained (or the note is out of scope) the report
  names no diagnosis: no ``conclusionCode``, a conclusion that says the reading is unclear.
* an ``Observation`` per entity found in the note (``DiagnosticReport.result``): ``code`` is the concept in
  the same code systems, ``valueCodeableConcept`` its assertion status (affirmed, negated, possible,
  historical, family) where the pipeline gives one, else ``dataAbsentReason`` says it was not determined;
  the mention's span, text and linker score are an extension.

Ids are UUID v5 from the note id (or a hash of the result), so the same input gives the same bundle. The
tool's own extension and code-system URLs live under :data:`BASE`. Every bundle parses with the
``fhir.resources`` R4B models (R4B leaves these resources as R4 has them); :func:`parse_bundle` checks one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

BASE = "https://cmkd-med.example.org/fhir"
EXT = f"{BASE}/StructureDefinition"
ASSERTION_SYSTEM = f"{BASE}/CodeSystem/assertion"
NOTE_ID_SYSTEM = f"{BASE}/note-id"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

# Our code-system names (ontology ``Code.system``) → FHIR system URLs; UMLS is the concept's CUI.
SYSTEMS = {
    "UMLS": "http://www.nlm.nih.gov/research/umls",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "ICDO": "http://terminology.hl7.org/CodeSystem/icd-o-3",
    "NCIT": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
}
ASSERTIONS = {
    "affirmed": "Affirmed: the report states it",
    "negated": "Negated: the report rules it out",
    "possible": "Possible: the report raises it as uncertain",
    "historical": "Historical: from the patient's past",
    "family": "Family history: about a relative, not the patient",
}
_NAMESPACE = uuid.UUID("5d0c7b0e-3f8a-5a43-9a52-6b1e0c2f9d11")  # fixed: ids are reproducible


def codings(cui: str | None, codes: Iterable[tuple[str, str]], display: str | None = None) -> list[dict]:
    """FHIR codings of a concept: UMLS (with ``display``) then each ``(system, code)`` we have a URL for."""
    out: list[dict[str, Any]] = []
    if cui:
        out.append({"system": SYSTEMS["UMLS"], "code": cui, **({"display": display} if display else {})})
    seen = set()
    for system, code in codes:
        if system in SYSTEMS and system != "UMLS" and code and (system, code) not in seen:
            seen.add((system, code))
            out.append({"system": SYSTEMS[system], "code": str(code)})
    return out


def _concept_codes(cui: str | None, fallback: dict[str, str] | None, kb: Any) -> list[tuple[str, str]]:
    """All codes of ``cui`` from the knowledge base when it has the concept, else the result's own."""
    if kb is not None and cui and cui in kb:
        return [(c.system, c.code) for c in kb[cui].codes]
    return list((fallback or {}).items())


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": f"{EXT}/{name}", **value}


def _decimal(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _diagnosis_named(result: dict[str, Any]) -> bool:
    scope = result.get("scope")
    return not result.get("abstained") and result.get("label") is not None and scope in (None, "supported")


def _conclusion(result: dict[str, Any], summary: dict[str, Any] | None) -> str:
    if summary is not None and summary.get("text"):
        return str(summary["text"])
    if not _diagnosis_named(result):
        return "Automatic reading unclear: no cancer type is given; a clinician must review the report."
    concept = result.get("concept") or {}
    name = concept.get("label_en") or result.get("label")
    return (
        f"Automatic reading: {result.get('label')} ({name}), model probability "
        f"{float(result.get('probability') or 0):.2f}; to be verified against the report."
    )


def _report_extensions(result: dict[str, Any], summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    ext = []
    if (p := _decimal(result.get("probability"))) is not None:
        ext.append(_ext("model-probability", valueDecimal=p))
    if (u := _decimal(result.get("uncertainty"))) is not None:
        ext.append(_ext("model-uncertainty", valueDecimal=u))
    ext.append(_ext("model-abstained", valueBoolean=bool(result.get("abstained"))))
    if result.get("scope"):
        ext.append(_ext("scope", valueCode=str(result["scope"])))
    if result.get("lang"):
        ext.append(_ext("note-language", valueCode=str(result["lang"])))
    if summary is not None and summary.get("audience"):
        ext.append(_ext("summary-audience", valueCode=str(summary["audience"])))
    return ext


def _entity_observation(entity: dict[str, Any], lang: str | None, kb: Any, oid: str) -> dict[str, Any]:
    labels = entity.get("labels") or {}
    name = labels.get(lang) or labels.get("en") or entity.get("text") or entity.get("cui")
    cui = entity.get("cui")
    code = {
        "coding": codings(cui, _concept_codes(cui, None, kb), labels.get("en")),
        **({"text": str(name)} if name else {}),
    }
    mention = [
        {"url": key, kind: entity[key]}
        for key, kind in (("start", "valueInteger"), ("end", "valueInteger"), ("text", "valueString"))
        if entity.get(key) is not None and entity.get(key) != ""
    ]
    if entity.get("score") is not None:
        mention.append({"url": "score", "valueDecimal": _decimal(entity["score"])})
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "preliminary",
        "code": code,
    }
    if mention:
        obs["extension"] = [_ext("mention", extension=mention)]
    assertion = entity.get("assertion")
    if assertion:
        display = ASSERTIONS.get(str(assertion))
        coding = {"system": ASSERTION_SYSTEM, "code": str(assertion)}
        if display:
            coding["display"] = display
        obs["valueCodeableConcept"] = {"coding": [coding], "text": str(assertion)}
    else:
        obs["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "unknown"}],
            "text": "assertion status not determined",
        }
    return obs


def _seed(result: dict[str, Any], note_id: str | None) -> str:
    if note_id:
        return f"note:{note_id}"
    canonical = json.dumps(result, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def to_bundle(
    result: dict[str, Any],
    kb: Any = None,
    summary: dict[str, Any] | None = None,
    note_id: str | None = None,
) -> dict[str, Any]:
    """The FHIR R4 ``Bundle`` (a JSON dict) of one :meth:`Pipeline.classify` result, with the
    :meth:`Pipeline.summarize` result as the conclusion when given; ``kb`` adds every code the ontology has
    for the entities (without it they carry their CUI only)."""
    seed = _seed(result, note_id)
    ids = [str(uuid.uuid5(_NAMESPACE, f"{seed}/{part}")) for part in ("bundle", "report")]
    entities = list(result.get("entities") or [])
    obs_ids = [str(uuid.uuid5(_NAMESPACE, f"{seed}/entity/{i}")) for i in range(len(entities))]
    observations = [
        _entity_observation(e, result.get("lang"), kb, oid) for e, oid in zip(entities, obs_ids, strict=True)
    ]
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": ids[1],
        "extension": _report_extensions(result, summary),
        "status": "preliminary",
        "code": {"text": "Pathology report: automatic cancer-type reading (cmkd-med)"},
        "conclusion": _conclusion(result, summary),
    }
    language = (summary or {}).get("lang") or result.get("lang")
    if language:
        report["language"] = str(language)
    if note_id:
        report["identifier"] = [{"system": NOTE_ID_SYSTEM, "value": str(note_id)}]
    if observations:
        report["result"] = [{"reference": f"urn:uuid:{oid}"} for oid in obs_ids]
    if _diagnosis_named(result):
        concept = result.get("concept") or {}
        cui = concept.get("cui")
        coded = codings(cui, _concept_codes(cui, concept.get("codes"), kb), concept.get("label_en"))
        if coded:
            text = concept.get("label_en") or result.get("label")
            report["conclusionCode"] = [{"coding": coded, **({"text": str(text)} if text else {})}]
    resources = [report, *observations]
    return {
        "resourceType": "Bundle",
        "id": ids[0],
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def bulk_records(
    rows: list[Any], results: list[dict[str, Any]], kb: Any, summaries: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Bulk output records ``{"fhir": bundle}`` (the bulk runner adds the row's ``id``) for ``rows``."""
    given = summaries if summaries is not None else [None] * len(results)
    return [
        {"fhir": to_bundle(res, kb, summary=s, note_id=r.id)}
        for r, res, s in zip(rows, results, given, strict=True)
    ]


def parse_bundle(bundle: dict[str, Any]) -> Any:
    """The bundle as a ``fhir.resources`` R4B model; raises ``pydantic.ValidationError`` if it is invalid."""
    from fhir.resources.R4B.bundle import Bundle

    return Bundle.model_validate(bundle)


__all__ = ["ASSERTIONS", "SYSTEMS", "bulk_records", "codings", "parse_bundle", "to_bundle"]
