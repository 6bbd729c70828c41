"""``cmkd-med evaluate stage``: pathologic T (T1–T4) and N (N0–N3) read from a report, against Kefeli labels.

Rows: ``{"id", "text", "T"?, "N"?}`` (a row may carry one label or both). Output: ``n``, and for ``T`` and
``N`` each ``accuracy``, ``macro_f1``, ``n`` (the rows with that label), plus ``baselines``: the same figures,
in this run, of TF-IDF + logistic regression trained on the TCGA train reports' Kefeli labels.

The model is the pathology head (:mod:`cmkd_med.evaluation.pathology_head`): one multinomial logistic
regression per axis on the teacher-space embedding of a report excerpt
(:func:`~cmkd_med.evaluation.excerpt_cache.excerpt`). ``en`` embeds with the teacher, ``pt``/``hi``/``sw``
with the language's student, whose embedding is distilled into the same space. Without a head in the
teacher folder the output carries the baselines only and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from cmkd_med.data.patient import N_LABELS, T_LABELS
from cmkd_med.errors import DataFormatError, InvalidInputError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.languages import normalize_lang
from cmkd_med.text import despace_ocr, validate_text

AXES: dict[str, tuple[str, ...]] = {"T": T_LABELS, "N": N_LABELS}
StageRows = tuple[list[str], list[str], dict[str, list[str | None]]]  # ids, texts, axis -> labels
TrainRows = list[tuple[str, str | None, str | None]]  # (text, T, N)


def read_stage_rows(path: str | Path) -> StageRows:
    """Ids, texts and per-axis labels (None where a row has none); a bad label names its row."""
    ids: list[str] = []
    texts: list[str] = []
    labels: dict[str, list[str | None]] = {axis: [] for axis in AXES}
    for lineno, obj in iter_jsonl(path):
        for key in ("id", "text"):
            if not isinstance(obj.get(key), str):
                raise DataFormatError(f"{path}:{lineno}: '{key}' must be a string")
        for axis, allowed in AXES.items():
            value = obj.get(axis)
            if value is not None and value not in allowed:
                raise DataFormatError(f"{path}:{lineno}: '{axis}' must be one of {', '.join(allowed)}")
            labels[axis].append(value)
        try:
            texts.append(validate_text(obj["text"], f"row {lineno} text"))
        except ValueError as exc:
            raise DataFormatError(f"{path}:{lineno}: {exc}") from None
        ids.append(obj["id"])
    if not ids:
        raise DataFormatError(f"{path}: no rows")
    return ids, texts, labels


def axis_metrics(gold: Sequence[str | None], predicted: Sequence[str]) -> dict[str, Any]:
    """``accuracy``, ``macro_f1`` and ``n`` over the rows with a gold label; macro-F1 averages the labels
    present in the gold or the predictions of those rows (as ``classification_metrics`` does)."""
    if len(gold) != len(predicted):
        raise InvalidInputError(f"{len(gold)} gold labels for {len(predicted)} predictions")
    pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if g is not None]
    if not pairs:
        return {"accuracy": None, "macro_f1": None, "n": 0}
    y, p = [g for g, _ in pairs], [q for _, q in pairs]
    labels = sorted(set(y) | set(p))
    return {
        "accuracy": round(float(accuracy_score(y, p)), 4),
        "macro_f1": round(float(f1_score(y, p, labels=labels, average="macro", zero_division=0)), 4),
        "n": len(pairs),
    }


def tfidf_stage_baseline(
    texts: Sequence[str], labels: dict[str, list[str | None]], train: TrainRows
) -> dict[str, Any]:
    """TF-IDF + LR per axis, fitted on the ``train`` reports that carry that axis's label."""
    from cmkd_med.evaluation.baselines import TfidfLogReg

    clean = [despace_ocr(t) for t in texts]
    out: dict[str, Any] = {}
    for k, axis in enumerate(AXES):
        rows = [(r[0], r[1 + k]) for r in train if r[1 + k]]
        if not any(g is not None for g in labels[axis]):
            out[axis] = axis_metrics([], [])
            continue
        model = TfidfLogReg().fit([despace_ocr(t) for t, _ in rows], [str(y) for _, y in rows])
        out[axis] = axis_metrics(labels[axis], model.predict(clean))
    return out


def train_rows_from_data(data_root: str | Path | None = None) -> TrainRows:
    """(text, T, N) of every TCGA train report whose patient has a Kefeli T or N label."""
    from cmkd_med.data.patient_join import patient_reports

    return [(r.text, r.T, r.N) for r in patient_reports("train", data_root) if r.T or r.N]


Embedder = Callable[[Sequence[str]], np.ndarray]


def language_embedder(
    lang: str,
    teacher_dir: str | Path | None,
    student_dir: str | Path | None,
    kinds: Sequence[str] = ("staging",),
) -> Embedder:
    """Teacher-space excerpt embeddings, one per excerpt kind, side by side (N, D * len(kinds)): the
    teacher for ``en``, the language's student otherwise."""
    from cmkd_med.evaluation.excerpt_cache import excerpt, teacher_embedder

    if lang == "en":
        embed = teacher_embedder(teacher_dir)
    else:
        from cmkd_med.models.student_runtime import Student

        student = Student.load(student_dir or lang)
        if student.lang != lang:
            raise DataFormatError(f"the student at {student_dir} is for {student.lang!r}, not {lang!r}")

        def embed(texts: Sequence[str]) -> np.ndarray:
            return np.asarray(student.embed_text(list(texts)).numpy())

    return lambda texts: np.hstack([embed([excerpt(t, kind=k) for t in texts]) for k in kinds])


def evaluate_stage(
    path: str | Path,
    lang: str,
    head_dir: str | Path | None = None,
    *,
    baselines: bool = True,
    data_root: str | Path | None = None,
    embedder: Embedder | None = None,
    train: TrainRows | None = None,
    student_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The head's T/N figures on ``path`` (when a head exists) and the same-run TF-IDF + LR baseline.

    ``embedder`` and ``train`` replace the language's model and the TCGA train split (tests use tiny ones).
    """
    from cmkd_med.config import DEFAULT_TEACHER_DIR
    from cmkd_med.evaluation.pathology_head import PathologyHead

    lang = normalize_lang(lang)
    _, texts, labels = read_stage_rows(path)
    if baselines and train is None:
        train = train_rows_from_data(data_root)  # fails before minutes of inference, not after
    folder = Path(head_dir or DEFAULT_TEACHER_DIR)
    result: dict[str, Any] = {"n": len(texts), "lang": lang}
    if PathologyHead.exists(folder):
        head = PathologyHead.load(folder)
        kinds = head.meta.get("excerpts", ["staging"])
        embed = embedder or language_embedder(lang, head_dir, student_dir, kinds)
        predicted = head.predict(np.asarray(embed(texts), dtype=np.float32))
        result.update({axis: axis_metrics(labels[axis], predicted[axis]) for axis in AXES})
        result["model"] = f"pathology head ({folder.name}), excerpt embedding"
    else:
        result.update({axis: None for axis in AXES})
        result["model"] = f"none: no pathology head in {folder}; baselines only"
    if baselines:
        assert train is not None
        result["baselines"] = {"tfidf_logreg": tfidf_stage_baseline(texts, labels, train)}
    return result


def fit_pathology_head(
    out: str | Path, data_root: str | Path | None = None, kinds: Sequence[str] = ("staging",)
) -> dict[str, Any]:
    """Fit the head on the TCGA train reports whose excerpt vectors (of every kind in ``kinds``, side by
    side) are cached (``teacher_train``) and save it in ``out``; returns its metadata. Dev is never read."""
    from cmkd_med.data.patient_join import patient_reports
    from cmkd_med.evaluation.excerpt_cache import EXCERPT_CHARS, load_cached
    from cmkd_med.evaluation.pathology_head import PathologyHead

    cached = [load_cached("teacher_train", k) for k in kinds]
    rows = [r for r in patient_reports("train", data_root) if (r.T or r.N)]
    rows = [r for r in rows if all(r.report_id in c for c in cached)]
    if not rows:
        raise DataFormatError("no cached train excerpt vectors: embed the train reports first")
    x = np.stack([np.concatenate([c[r.report_id] for c in cached]) for r in rows])  # (N, D * len(kinds))
    meta = {
        "input": f"teacher embed_text of excerpt(kind) for each of 'excerpts' ({EXCERPT_CHARS} characters "
        "before the first staging statement / lymph-node count), L2-normalised, side by side",
        "excerpts": list(kinds),
        "labels": "Kefeli et al. T1-T4 / N0-N3 of the TCGA train report patients",
        "n_reports": len(rows),
    }
    head = PathologyHead.fit(x, {"T": [r.T for r in rows], "N": [r.N for r in rows]}, meta)
    head.save(out)
    return head.meta


if __name__ == "__main__":  # fit and save the head
    import json
    import sys

    # python -m cmkd_med.evaluation.stage OUT_DIR [staging,nodes]
    kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else ["staging"]
    print(
        json.dumps(
            fit_pathology_head(sys.argv[1] if len(sys.argv) > 1 else "adapters/en", None, kinds), indent=2
        )
    )
