"""``cmkd-med evaluate link``: accuracy@1 and @5 of the linker's candidates for gold mention → CUI rows.

Rows: ``{"mention": str, "cui": str}`` or ``{"mention": str, "cuis": [str, ...]}`` (any listed CUI is
correct); an optional ``context`` (the sentence of the mention) is passed to the linker, which reads it
for abbreviations only; other keys are ignored. A gold CUI that is a secondary CUI of a concept counts
as that concept. Output: ``n``, ``acc_at_1``, ``acc_at_5`` (and the language, the threshold-free lookup
is used, so the figures say how well the right concept is ranked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmkd_med.errors import DataFormatError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.evaluation.scope import PARTS, part_of
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.dense_train import concept_split
from cmkd_med.ontology.linker import ConceptLinker, get_linker

LinkRow = tuple[str, set[str], str | None, str | None]  # mention, gold CUIs, context, kind


def read_link_rows(path: str | Path, part: str = "all") -> list[LinkRow]:
    """``(mention, gold CUIs, context, kind)`` rows; ``part`` keeps the fixed-seed tuning or sealed part."""
    if part not in PARTS:
        raise DataFormatError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    rows: list[LinkRow] = []
    for lineno, obj in iter_jsonl(path):
        if part != "all":
            if not isinstance(obj.get("id"), str):
                raise DataFormatError(f"{path}:{lineno}: --part {part} needs an 'id' string on every row")
            if part_of(obj["id"]) != part:
                continue
        mention = obj.get("mention")
        if not isinstance(mention, str) or not mention.strip():
            raise DataFormatError(f"{path}:{lineno}: 'mention' must be a non-empty string")
        if isinstance(obj.get("cui"), str):
            gold = {obj["cui"]}
        elif (
            isinstance(obj.get("cuis"), list) and obj["cuis"] and all(isinstance(c, str) for c in obj["cuis"])
        ):
            gold = set(obj["cuis"])
        else:
            raise DataFormatError(
                f"{path}:{lineno}: needs 'cui' (string) or 'cuis' (non-empty list of strings)"
            )
        context = obj.get("context")
        kind = obj.get("kind") if isinstance(obj.get("kind"), str) else None
        rows.append((mention, gold, context if isinstance(context, str) and context.strip() else None, kind))
    if not rows:
        raise DataFormatError(f"{path}: no rows" + ("" if part == "all" else f" in the {part} part"))
    return rows


def evaluate_link(
    path: str | Path, lang: str, linker: ConceptLinker | None = None, part: str = "all"
) -> dict[str, Any]:
    lang = normalize_lang(lang)
    rows = read_link_rows(path, part)
    linker = linker or get_linker(lang)
    kb = linker.kb
    hits1 = hits5 = unknown = 0
    groups: dict[str, list[int]] = {}
    for mention, gold, context, kind in rows:
        resolved = {kb[c].cui if c in kb else c for c in gold}
        unknown += not any(c in kb for c in gold)
        ranked = [c.cui for c in linker.lookup(mention, k=5, context=context)]
        hit = bool(ranked[:1] and ranked[0] in resolved)
        hits1 += hit
        hits5 += bool(resolved & set(ranked))
        if kind:
            groups.setdefault(f"kind:{kind}", []).append(hit)
        # concepts the dense encoder never trained on (dense_train.concept_split): the generalisation figure
        if all(concept_split(c) == "heldout" for c in resolved):
            groups.setdefault("heldout_concepts", []).append(hit)
    n = len(rows)
    out: dict[str, Any] = {
        "n": n,
        "acc_at_1": round(hits1 / n, 4),
        "acc_at_5": round(hits5 / n, 4),
        "lang": lang,
        "n_gold_not_in_kb": unknown,
        "part": part,
        "dense": linker.dense is not None,
    }
    for name, hits in sorted(groups.items()):
        out[name] = {"n": len(hits), "acc_at_1": round(sum(hits) / len(hits), 4)}
    return out
