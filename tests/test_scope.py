"""Open-world scope (issue 14): concept roles from the ontology, the evidence rules, the out-of-distribution
score, and the pipeline naming no cancer for benign notes in four languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cmkd_med.config import PROJECT_ROOT
from cmkd_med.evaluation.scope import evaluate_scope
from cmkd_med.models.ood import MahalanobisOOD
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.scope import ScopeRoles, decide_scope


@pytest.fixture(scope="module")
def roles() -> ScopeRoles:
    return ScopeRoles.load(KnowledgeBase.load())


def cui(name: str) -> str:
    (found,) = KnowledgeBase.load().alias_to_cuis(name, "en")
    return found


def test_roles_from_the_ontology_and_the_training_reports(roles: ScopeRoles) -> None:
    assert roles.role(cui("melanoma")) == "unsupported" and roles.role(cui("lymphoma")) == "unsupported"
    assert roles.role(cui("breast carcinoma")) == "unsupported"
    assert roles.role(cui("clear cell renal cell carcinoma")) == "supported"
    assert roles.classes[cui("renal cell carcinoma")] == {"KIRC", "KIRP", "KICH"}  # a site ancestor of three
    assert roles.classes[cui("oligodendroglioma")] == {"LGG"}  # named nearly only in LGG training reports
    assert roles.classes[cui("leiomyosarcoma")] == {"SARC"}
    assert roles.role(cui("carcinoma")) == "generic" and roles.role(cui("cancer")) == "generic"
    assert roles.role(cui("benign prostatic hyperplasia")) == "benign"
    assert roles.role(cui("leiomyoma")) == "benign" and roles.role(cui("cervicitis")) == "benign"


def ent(name: str, assertion: str = "affirmed", score: float = 1.0) -> dict[str, Any]:
    return {"cui": cui(name), "assertion": assertion, "score": score, "text": name}


@pytest.mark.parametrize(
    ("entities", "label", "expected"),
    [
        ([ent("clear cell renal cell carcinoma")], "KIRC", "supported"),
        ([ent("benign prostatic hyperplasia"), ent("malignancy", "negated")], "PRAD", "no_malignancy"),
        ([ent("malignancy", "negated")], "CESC", "no_malignancy"),
        ([ent("melanoma"), ent("metastasis")], "LIHC", "unsupported_cancer"),
        ([ent("breast carcinoma", "historical"), ent("metastasis")], "LUAD", "unsupported_cancer"),
        ([ent("breast carcinoma", "historical"), ent("lung adenocarcinoma")], "LUAD", "supported"),
        ([ent("adenocarcinoma", "possible")], "PRAD", "unclear"),
        ([ent("glioblastoma", "historical"), ent("neoplasm", "negated")], "GBM", "no_malignancy"),
        ([ent("melanoma", "negated"), ent("hepatocellular carcinoma")], "LIHC", "supported"),
        (
            [ent("perineurioma", score=0.82), ent("squamous cell carcinoma of the tongue")],
            "HNSC",
            "supported",
        ),
    ],
)
def test_evidence_rules(roles: ScopeRoles, entities: list[dict[str, Any]], label: str, expected: str) -> None:
    assert decide_scope(entities, roles, label, abstained=False).scope == expected


def test_the_model_decides_only_where_the_note_asserts_nothing(roles: ScopeRoles) -> None:
    assert decide_scope([], roles, "KIRC", abstained=False).scope == "supported"
    assert decide_scope([], roles, "KIRC", abstained=True).scope == "unclear"
    assert decide_scope([], roles, "KIRC", False, in_distribution=False).scope == "unclear"
    generic = [ent("carcinoma")]  # a malignancy of no named type: the model must know the note
    assert decide_scope(generic, roles, "CESC", False, in_distribution=False).scope == "unclear"
    assert decide_scope(generic, roles, "CESC", False, in_distribution=True).scope == "supported"
    named = [ent("hepatocellular carcinoma")]  # a named type outweighs the distance
    assert decide_scope(named, roles, "LIHC", False, in_distribution=False).scope == "supported"


def test_mahalanobis_score_fits_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = {"A": np.zeros(8), "B": np.full(8, 3.0)}
    x = np.concatenate([rng.normal(c, 0.3, (40, 8)) for c in centres.values()]).astype(np.float32)
    ood = MahalanobisOOD.fit(x, ["A"] * 40 + ["B"] * 40)
    near, far = ood.score(np.stack([centres["A"], np.full(8, -6.0)]).astype(np.float32))
    assert near < far
    ood.thresholds = {"pt": {"distance": float(near) + 1, "probability": 0.5}}
    ood.save(tmp_path)
    back = MahalanobisOOD.load(tmp_path)
    assert back is not None and back.classes == ["A", "B"]
    inside = back.in_distribution(np.array([near, far]), np.array([0.9, 0.9]), "pt")
    assert inside.tolist() == [True, False]
    assert back.in_distribution(np.array([near]), np.array([0.4]), "pt").tolist() == [False]
    assert back.in_distribution(np.array([far]), np.array([0.1]), "en").tolist() == [True]  # none fitted
    assert MahalanobisOOD.load(tmp_path / "missing") is None


class FakePipeline:
    """Scope results without a model: the rows say what comes out."""

    def classify(self, texts: list[str], langs: list[str]) -> list[dict[str, Any]]:
        return [json.loads(t) for t in texts]


def test_evaluate_scope_counts(tmp_path: Path) -> None:
    out = {"scope": "supported", "abstained": False, "label": "KIRC", "probabilities": [{"label": "KIRC"}]}
    rows = [
        {"id": "a", "text": json.dumps(out), "label": "KIRC"},
        {"id": "b", "text": json.dumps({**out, "abstained": True}), "label": "KIRC"},
        {"id": "c", "text": json.dumps(out), "scope": "no_malignancy", "kind": "benign"},
        {
            "id": "d",
            "text": json.dumps({**out, "scope": "no_malignancy", "label": None}),
            "scope": "no_malignancy",
            "kind": "benign",
        },
    ]
    path = tmp_path / "scope.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    m = evaluate_scope(path, "en", nlp=FakePipeline())
    assert m["n"] == 4 and m["false_supported_rate"] == 0.5 and m["supported_kept_rate"] == 0.5
    assert m["confusion"]["no_malignancy"] == {"no_malignancy": 1, "supported": 1}
    assert m["per_kind"]["benign"]["false_supported_rate"] == 0.5 and m["label_accuracy_of_kept"] == 1.0


@pytest.mark.slow
def test_the_benign_demo_notes_name_no_cancer() -> None:
    """The demo's benign note per language comes out not supported, and its summary names no class."""
    from cmkd_med import pipeline

    nlp = pipeline("auto")
    notes = {
        "en": "en_benign_prostate.txt",
        "pt": "pt_benigno_colo.txt",
        "hi": "hi_saumya_garbhashay.txt",
        "sw": "sw_tezi_limfu.txt",
    }
    classes = {c.cui for c in nlp.kb.classes()}
    for lang, name in notes.items():
        result = nlp.classify((PROJECT_ROOT / "examples/notes" / name).read_text(encoding="utf-8"))
        assert result["lang"] == lang and result["scope"] == "no_malignancy", (name, result["scope_reason"])
        assert result["abstained"] and result["label"] is None and result["concept"] is None
        summary = nlp.summarize(result)
        assert (
            summary["concepts"] == []
            and not {m.cui for m in nlp.linker(lang).link(summary["text"])} & classes
        )
