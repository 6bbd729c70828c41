"""``cmkd-med evaluate mentions``: mention-level precision, recall and F1 of the linker on annotated notes.

Rows: ``{"id"?, "text", "mentions": [{"start", "end", "cui"}, ...]}`` (character offsets ``[start, end)``;
``id`` is needed for ``--part``). A predicted mention is correct (``strict``) when its span and its concept
both equal a gold one; ``lenient`` accepts an overlapping span with the right concept; ``spans`` ignores the
concept (detection only). A gold CUI that is a secondary CUI of a concept counts as that concept.
Errors are summarised by kind (false positives, misses, wrong concept on a right span) without note text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmkd_med.errors import DataFormatError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.evaluation.scope import PARTS, part_of
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.linker import ConceptLinker, get_linker

Span = tuple[int, int, str]


def read_mention_rows(path: str | Path, part: str = "all") -> list[tuple[str, str, list[Span]]]:
    if part not in PARTS:
        raise DataFormatError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    rows: list[tuple[str, str, list[Span]]] = []
    for lineno, obj in iter_jsonl(path):
        text, mentions, row_id = obj.get("text"), obj.get("mentions"), obj.get("id")
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError(f"{path}:{lineno}: 'text' must be a non-empty string")
        if not isinstance(mentions, list):
            raise DataFormatError(f"{path}:{lineno}: 'mentions' must be a list of {{start, end, cui}}")
        if part != "all" and not isinstance(row_id, str):
            raise DataFormatError(f"{path}:{lineno}: --part {part} needs an 'id' string on every row")
        gold: list[Span] = []
        for m in mentions:
            ok = isinstance(m, dict) and all(isinstance(m.get(k), int) for k in ("start", "end"))
            if not ok or not isinstance(m.get("cui"), str) or not 0 <= m["start"] < m["end"] <= len(text):
                raise DataFormatError(
                    f"{path}:{lineno}: a mention needs int start < end within the text and a cui"
                )
            gold.append((m["start"], m["end"], m["cui"]))
        if part == "all" or part_of(str(row_id)) == part:
            rows.append((str(row_id or lineno), text, gold))
    if not rows:
        raise DataFormatError(f"{path}: no rows" + ("" if part == "all" else f" in the {part} part"))
    return rows


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
    }


def evaluate_mentions(
    path: str | Path, lang: str, part: str = "all", linker: ConceptLinker | None = None
) -> dict[str, Any]:
    lang = normalize_lang(lang)
    rows = read_mention_rows(path, part)
    linker = linker or get_linker(lang)
    kb = linker.kb
    n_pred = n_gold = strict = lenient = spans = 0
    errors = {"false_positive": 0, "missed": 0, "wrong_concept": 0, "boundary": 0}
    fp_kinds: dict[str, int] = {}
    for _, text, gold_raw in rows:
        gold = [(s, e, kb[c].cui if c in kb else c) for s, e, c in gold_raw]
        pred = [(m.start, m.end, m.cui) for m in linker.link(text)]
        n_pred, n_gold = n_pred + len(pred), n_gold + len(gold)
        gold_set = set(gold)
        strict += sum(p in gold_set for p in pred)
        gold_spans = {(s, e) for s, e, _ in gold}
        spans += sum((s, e) in gold_spans for s, e, _ in pred)
        for s, e, c in pred:
            overlapping = [g for g in gold if g[0] < e and s < g[1]]
            if any(g[2] == c for g in overlapping):
                lenient += 1
                if (s, e, c) not in gold_set:
                    errors["boundary"] += 1
            elif overlapping:
                errors["wrong_concept"] += 1
            else:
                errors["false_positive"] += 1
                kind = kb[c].kind if c in kb else "?"
                fp_kinds[kind] = fp_kinds.get(kind, 0) + 1
        for s, e, _ in gold:
            if not any(p[0] < e and s < p[1] for p in pred):
                errors["missed"] += 1
    return {
        "n_notes": len(rows), "n_gold": n_gold, "n_pred": n_pred, "lang": lang, "part": part,
        "strict": _prf(strict, n_pred, n_gold), "lenient": _prf(lenient, n_pred, n_gold),
        "spans": _prf(spans, n_pred, n_gold), "errors": errors, "false_positive_kinds": fp_kinds,
        "dense": getattr(linker, "dense", None) is not None,
    }  # fmt: skip
