"""``cmkd-med evaluate link``: accuracy@1 and @5 of the linker's candidates for gold mention → CUI rows.

Rows: ``{"mention": str, "cui": str}`` or ``{"mention": str, "cuis": [str, ...]}`` (any listed CUI is
correct); other keys (``context`` ...) are ignored. A gold CUI that is a secondary CUI of a concept counts
as that concept. Output: ``n``, ``acc_at_1``, ``acc_at_5`` (and the language, the threshold-free lookup
is used, so the figures say how well the right concept is ranked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmkd_med.errors import DataFormatError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.linker import ConceptLinker, get_linker


def read_link_rows(path: str | Path) -> list[tuple[str, set[str]]]:
    rows: list[tuple[str, set[str]]] = []
    for lineno, obj in iter_jsonl(path):
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
        rows.append((mention, gold))
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return rows


def evaluate_link(path: str | Path, lang: str, linker: ConceptLinker | None = None) -> dict[str, Any]:
    lang = normalize_lang(lang)
    rows = read_link_rows(path)
    linker = linker or get_linker(lang)
    kb = linker.kb
    hits1 = hits5 = unknown = 0
    for mention, gold in rows:
        resolved = {kb[c].cui if c in kb else c for c in gold}
        unknown += not any(c in kb for c in gold)
        ranked = [c.cui for c in linker.lookup(mention, k=5)]
        hits1 += bool(ranked[:1] and ranked[0] in resolved)
        hits5 += bool(resolved & set(ranked))
    n = len(rows)
    return {
        "n": n,
        "acc_at_1": round(hits1 / n, 4),
        "acc_at_5": round(hits5 / n, 4),
        "lang": lang,
        "n_gold_not_in_kb": unknown,
    }
