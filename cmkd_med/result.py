"""The dict one :meth:`Pipeline.classify` returns for a note, with its scope and the entities' assertion
status.

Kept apart from the pipeline so the open-world rules (:mod:`cmkd_med.scope`) and the fields users read are in
one place: ``label`` and ``concept`` name a class only when the scope is ``supported``; otherwise
``abstained``
is true, ``label`` is ``None`` and ``concept`` is the unsupported cancer the ontology knows (or ``None``),
while
``probabilities`` stay for inspection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cmkd_med.scope import ScopeRoles, decide_scope

TOP_K = 3  # classes listed in ``probabilities``


def concept_dict(concept: Any, lang: str) -> dict[str, Any]:
    return {
        "cui": concept.cui,
        "codes": {c.system: c.code for c in concept.codes},
        "label": concept.preferred(lang),
        "label_en": concept.preferred("en"),
    }


def build_result(
    probs: np.ndarray,
    classes: Sequence[str],
    abstained: bool,
    entities: list[dict[str, Any]],
    lang: str,
    kb: Any,
    roles: ScopeRoles | None,
    in_distribution: bool = True,
    ood_score: float | None = None,
    model_alone: bool = True,
) -> dict[str, Any]:
    """One classify result. ``roles=None``: the closed world (no scope decided, ``scope`` is ``None``)."""
    order = np.argsort(-probs)
    code = classes[int(order[0])]
    probability = float(probs[order[0]])
    uncertainty = 1.0 - probability
    decision = (
        decide_scope(entities, roles, code, abstained, in_distribution, model_alone)
        if roles is not None
        else None
    )
    scope = decision.scope if decision is not None else None
    named: Any = kb.class_concept(code)
    if decision is not None and scope != "supported":
        abstained = True
        named = kb[decision.concept] if decision.concept is not None else None
    return {
        "label": code if scope in (None, "supported") else None,
        "concept": concept_dict(named, lang) if named is not None else None,
        "probability": round(probability, 4),
        "probabilities": [
            {"label": classes[int(j)], "probability": round(float(probs[j]), 4)} for j in order[:TOP_K]
        ],
        "uncertainty": round(uncertainty, 4),
        "abstained": bool(abstained),
        "scope": scope,
        "scope_reason": decision.reason if decision is not None else None,
        "ood_score": None if ood_score is None else round(ood_score, 2),
        "entities": entities,
        "lang": lang,
    }
