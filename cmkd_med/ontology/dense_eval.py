"""Fitting the dense/lexical fusion and measuring concepts held out of the encoder's training.

For the ``fusion`` and ``heldout`` concepts of :func:`~cmkd_med.ontology.dense_train.concept_split`, every
name but the English preferred one is taken out of the KB and used as a query against what is left: the
situation of a Portuguese, Hindi or Swahili mention of a concept that has only its English name. The fusion
weight is chosen on the ``fusion`` queries (never on a dev set); the ``heldout`` queries, whose concepts the
encoder never saw, give the generalisation figure. Two query sets: *leave-one-out* (each name against the KB
without that one name, its other names kept: a variant of a known concept, the everyday case; the fusion
weight is fitted on these) and *English name only* (all names but the English preferred one removed: a
mention of a concept that has no name in the mention's language; harder). ``cmkd-med ontology fit-fusion``
runs both.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.ontology.dense import FUSION_FILE, default_adapter_dir
from cmkd_med.ontology.dense_train import LANGS, concept_split
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.normalize import normalize

WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.05))


def reduced_kb(kb: KnowledgeBase, splits: tuple[str, ...]) -> tuple[KnowledgeBase, list[dict[str, str]]]:
    """The KB with only the English preferred label left on concepts of ``splits``, and the removed names
    as queries ``{"cui", "lang", "key", "split"}``."""
    concepts, queries = [], []
    for concept in kb:
        split = concept_split(concept.cui)
        if split not in splits:
            concepts.append(concept)
            continue
        kept = [x for x in concept.labels if x.lang == "en" and x.kind == "pref"][:1]
        kept_keys = {normalize(x.text) for x in kept}
        seen: set[tuple[str, str]] = set()
        for label in concept.labels:
            key = normalize(label.text)
            if key in kept_keys or (label.lang, key) in seen or not key:
                continue
            seen.add((label.lang, key))
            queries.append({"cui": concept.cui, "lang": label.lang, "key": key, "split": split})
        concepts.append(dataclasses.replace(concept, labels=tuple(kept)))
    return KnowledgeBase(concepts), queries


def _scores(kb: KnowledgeBase, queries: list[dict[str, str]], adapter_dir: Path) -> list[dict[str, Any]]:
    """Per query: the candidate CUIs with their lexical similarity and cosine (union of both top-10s)."""
    from cmkd_med.ontology.linker import ConceptLinker

    out: list[dict[str, Any]] = []
    for lang in LANGS:
        rows = [q for q in queries if q["lang"] == lang]
        if not rows:
            continue
        linker = ConceptLinker(kb, lang, dense=True, adapter_dir=adapter_dir)
        assert linker.dense is not None
        keys = [q["key"] for q in rows]
        lexical = linker._lexical(keys, 10)
        dense = linker._dense_search(keys, 10)
        for q, lex, den in zip(rows, lexical, dense, strict=True):
            cands = {}
            for cui in set(lex) | set(den):
                lex_score = (lex.get(cui) or linker._lexical_score(q["key"], cui))[0]
                cos = (
                    den[cui][0]
                    if cui in den
                    else max(linker.dense.cosine(f, cui) for f in linker._forms(q["key"]))
                )
                cands[cui] = (lex_score, cos)
            out.append({**q, "cands": cands})
    return out


def _scores_leave_one_out(
    kb: KnowledgeBase, splits: tuple[str, ...], adapter_dir: Path
) -> list[dict[str, Any]]:
    """Each name of a concept of ``splits`` queried against the full KB with only that name left out (its
    other names stay): the everyday case of a variant of a known concept."""
    from cmkd_med.ontology.linker import ConceptLinker, _similarity

    out: list[dict[str, Any]] = []
    for lang in LANGS:
        linker = ConceptLinker(kb, lang, dense=True, adapter_dir=adapter_dir)
        assert linker.dense is not None
        dense = linker.dense
        row_of = {alias: i for i, alias in enumerate(dense.aliases)}
        rows = [
            {"cui": cui, "lang": lang, "key": key, "split": concept_split(cui)}
            for key, cuis in kb.aliases(lang).items()
            for cui in sorted(cuis)
            if concept_split(cui) in splits and len(linker._by_cui.get(cui, ())) > 1
        ]
        if not rows:
            continue
        keys = [r["key"] for r in rows]
        found = linker.generator(keys, 20)
        vectors = dense.embed(keys)
        _, ids = dense.index.search(vectors, 21)
        for r, lex_cands, vec, row_ids in zip(rows, found, vectors, ids, strict=True):
            key = r["key"]
            skip = {key, *linker._forms(key)}
            cuis = {c.concept_id for c in lex_cands}
            cuis |= {
                cui for i in row_ids if i >= 0 and dense.aliases[i] not in skip for cui in dense.alias_cuis[i]
            }
            cands = {}
            for cui in cuis:
                aliases = [a for a in linker._by_cui.get(cui, ()) if a not in skip]
                if not aliases:
                    continue
                lex = max(_similarity(f, a) for f in linker._forms(key) for a in aliases)
                cos = float(max(dense.vectors[row_of[a]] @ vec for a in aliases))
                cands[cui] = (lex, cos)
            out.append({**r, "cands": cands})
    return out


def _acc(scored: list[dict[str, Any]], weight: float) -> float:
    if not scored:
        return 0.0
    hits = 0
    for row in scored:
        if row["cands"]:
            best = max(row["cands"].items(), key=lambda kv: weight * kv[1][1] + (1 - weight) * kv[1][0])[0]
            hits += best == row["cui"]
    return hits / len(scored)


def fit_fusion(adapter_dir: Path | None = None, kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """Choose the fusion weight on the ``fusion`` queries; report acc@1 on ``heldout`` ones; write both."""
    folder = adapter_dir or default_adapter_dir()
    kb = kb or KnowledgeBase.load()
    small, queries = reduced_kb(kb, ("fusion", "heldout"))
    stripped = _scores(small, queries, folder)
    loo = _scores_leave_one_out(kb, ("fusion", "heldout"), folder)
    fusion = [r for r in loo if r["split"] == "fusion"]
    heldout = [r for r in loo if r["split"] == "heldout"]
    by_weight = {w: _acc(fusion, w) for w in WEIGHTS}
    weight = max(WEIGHTS, key=lambda w: (round(by_weight[w], 4), -abs(w - 0.5)))

    def table(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for lang in ("all", *LANGS):
            part = [r for r in rows if lang == "all" or r["lang"] == lang]
            out[lang] = {
                "n": len(part), "lexical": round(_acc(part, 0.0), 4), "dense": round(_acc(part, 1.0), 4),
                "fused": round(_acc(part, weight), 4),
            }  # fmt: skip
        return out

    existing = {}
    if (folder / FUSION_FILE).is_file():
        existing = json.loads((folder / FUSION_FILE).read_text(encoding="utf-8"))
    report = {
        **existing,
        "weight": weight,
        "fitted_on": "fusion-split concepts: each name queried against the KB without that name",
        "fusion_acc_at_1_by_weight": {str(w): round(a, 4) for w, a in by_weight.items()},
        "fusion": table(fusion),
        "heldout": table(heldout),
        "heldout_english_name_only": table([r for r in stripped if r["split"] == "heldout"]),
    }
    (folder / FUSION_FILE).write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return report
