"""``evaluate scope`` and ``evaluate assertion``: open-world safety on notes written independently of the
models.

Both read JSONL rows and can keep one **part** of a file: every dev file is split once, by a fixed seed,
into a
tuning part (where thresholds and rules are chosen) and a sealed part (what the cards report). The split
hashes
each row's id with the seed, so it does not depend on the order of the rows or on the other rows of the file.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from cmkd_med.errors import DataFormatError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.assertion import ASSERTIONS
from cmkd_med.scope import SCOPES

SPLIT_SEED = "cmkd-open-world-2026"  # fixed once; changing it would unseal the sealed part
SEALED_SHARE = 0.5
PARTS = ("all", "tuning", "sealed")


def part_of(row_id: str) -> str:
    """``tuning`` or ``sealed``: the fixed-seed part of a dev row, from its id alone."""
    digest = hashlib.sha256(f"{SPLIT_SEED}:{row_id}".encode()).digest()
    return "sealed" if int.from_bytes(digest[:8], "big") / 2**64 < SEALED_SHARE else "tuning"


def _rows(path: str | Path, part: str) -> list[tuple[int, dict[str, Any]]]:
    if part not in PARTS:
        raise DataFormatError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    rows = list(iter_jsonl(path))
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    return [(n, r) for n, r in rows if part == "all" or part_of(str(r.get("id", n))) == part]


def gold_scope(row: dict[str, Any], where: str) -> str:
    if isinstance(row.get("label"), str) and row["label"]:
        return "supported"
    scope = row.get("scope")
    if scope not in SCOPES and scope != "label":
        allowed = ", ".join(SCOPES)
        raise DataFormatError(f"{where}: scope must be one of {allowed} (or a label), got {scope!r}")
    return "supported" if scope == "label" else str(scope)


def evaluate_scope(
    path: str | Path, lang: str, part: str = "all", nlp: Any = None, batch_size: int = 16
) -> dict[str, Any]:
    """Scope figures of ``pipeline(lang)`` on ``{"id", "text", "scope"}`` rows (``"label"``: supported)."""
    from tqdm import tqdm

    from cmkd_med import pipeline

    lang = normalize_lang(lang)
    rows = _rows(path, part)
    golds, texts, kinds, labels = [], [], [], []
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise DataFormatError(f"{where}: 'text' must be a non-empty string")
        golds.append(gold_scope(row, where))
        texts.append(row["text"])
        kinds.append(str(row.get("kind") or golds[-1]))
        labels.append(row.get("label"))
    nlp = nlp or pipeline(lang)
    results: list[dict[str, Any]] = []
    for start in tqdm(range(0, len(texts), batch_size), desc="scope", unit=" batches", disable=None):
        out = nlp.classify(texts[start : start + batch_size], [lang] * len(texts[start : start + batch_size]))
        results.extend(out)
    kept = [r["scope"] == "supported" and not r["abstained"] for r in results]
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for gold, r in zip(golds, results, strict=True):
        confusion[gold][str(r["scope"])] += 1
    out_idx = [i for i, g in enumerate(golds) if g != "supported"]
    in_idx = [i for i, g in enumerate(golds) if g == "supported"]
    right = [i for i in in_idx if kept[i] and labels[i] and results[i]["label"] == labels[i]]
    per_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(kinds)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        entry: dict[str, Any] = {"n": len(idx), "scope_accuracy": _share(idx, lambda i: results[i]["scope"]
        == golds[i])}
        if all(golds[i] == "supported" for i in idx):
            entry["supported_kept_rate"] = _share(idx, lambda i: kept[i])
        else:
            entry["false_supported_rate"] = _share(idx, lambda i: kept[i])
        per_kind[kind] = entry
    # The model cards' macro-F1 reads the top class of every note (closed world); with scope on, a supported
    # note sent out of scope names no class and counts as wrong.
    gold_labels = [str(labels[i]).upper() for i in in_idx if labels[i]]
    closed = [str(results[i]["probabilities"][0]["label"]) for i in in_idx if labels[i]]
    opened = [
        str(results[i]["probabilities"][0]["label"]) if results[i]["scope"] == "supported" else "none"
        for i in in_idx
        if labels[i]
    ]
    return {
        "lang": lang,
        "data": str(path),
        "part": part,
        "n": len(rows),
        "n_out_of_scope": len(out_idx),
        "n_supported": len(in_idx),
        "false_supported_rate": _share(out_idx, lambda i: kept[i]),
        "supported_kept_rate": _share(in_idx, lambda i: kept[i]),
        "label_accuracy_of_kept": round(len(right) / max(1, sum(kept[i] for i in in_idx)), 4),
        "supported_macro_f1_closed_world": _macro_f1(gold_labels, closed),
        "supported_macro_f1_with_scope": _macro_f1(gold_labels, opened),
        "scope_accuracy": _share(list(range(len(rows))), lambda i: results[i]["scope"] == golds[i]),
        "confusion": {g: dict(sorted(c.items())) for g, c in sorted(confusion.items())},
        "per_kind": per_kind,
    }


def _macro_f1(gold: list[str], predicted: list[str]) -> float | None:
    from sklearn.metrics import f1_score

    if not gold:
        return None
    f1 = f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)
    return round(float(f1), 4)


def _share(idx: list[int], test: Any) -> float | None:
    return round(sum(1 for i in idx if test(i)) / len(idx), 4) if idx else None


def evaluate_assertion(path: str | Path, lang: str, part: str = "all") -> dict[str, Any]:
    """ConText assertion status of gold target spans: ``{"id", "text", "target"|"start","end",
    "assertion"}``."""
    from cmkd_med.ontology.assertion import get_detector

    lang = normalize_lang(lang)
    detector = get_detector(lang)
    gold, pred = [], []
    for lineno, row in _rows(path, part):
        where = f"{path}:{lineno}"
        text, status = row.get("text"), row.get("assertion")
        if not isinstance(text, str) or status not in ASSERTIONS:
            raise DataFormatError(f"{where}: needs 'text' and 'assertion' (one of {', '.join(ASSERTIONS)})")
        if isinstance(row.get("start"), int) and isinstance(row.get("end"), int):
            start, end = row["start"], row["end"]
        elif isinstance(row.get("target"), str) and row["target"] and row["target"] in text:
            start = text.index(row["target"])
            end = start + len(row["target"])
        else:
            raise DataFormatError(f"{where}: needs 'start' and 'end', or a 'target' found in the text")
        gold.append(status)
        pred.append(detector.statuses(text, [(start, end)])[0])
    per: dict[str, dict[str, float | int | None]] = {}
    for name in ASSERTIONS:
        tp = sum(g == p == name for g, p in zip(gold, pred, strict=True))
        n_pred, n_gold = pred.count(name), gold.count(name)
        precision = tp / n_pred if n_pred else None
        recall = tp / n_gold if n_gold else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
        per[name] = {
            "n": n_gold,
            "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4),
            "f1": None if f1 is None else round(f1, 4),
        }
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        confusion[g][p] += 1
    return {
        "lang": lang,
        "data": str(path),
        "part": part,
        "n": len(gold),
        "accuracy": round(sum(g == p for g, p in zip(gold, pred, strict=True)) / max(1, len(gold)), 4),
        "negation": per["negated"],
        "per_assertion": per,
        "confusion": {g: dict(sorted(c.items())) for g, c in sorted(confusion.items())},
    }
