"""``cmkd-med evaluate classify``: the teacher (en) on labelled JSONL notes, with same-run baselines.

Rows: ``{"id": str, "text": str, "label": str}`` (label = TCGA code). Output: ``n``, ``accuracy``,
``macro_f1``, ``ece``, ``abstain_rate``, ``selective_accuracy``, ``per_class``, and ``baselines``: the same
metrics for TF-IDF + logistic regression trained on the TCGA training split in this run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmkd_med.errors import DataFormatError
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.languages import normalize_lang
from cmkd_med.text import despace_ocr, validate_text


def read_classify_rows(path: str | Path) -> tuple[list[str], list[str], list[str]]:
    ids: list[str] = []
    texts: list[str] = []
    labels: list[str] = []
    for lineno, obj in iter_jsonl(path):
        for key in ("id", "text", "label"):
            if not isinstance(obj.get(key), str):
                raise DataFormatError(f"{path}:{lineno}: '{key}' must be a string")
        try:
            texts.append(validate_text(obj["text"], f"row {lineno} text"))
        except ValueError as exc:
            raise DataFormatError(f"{path}:{lineno}: {exc}") from None
        ids.append(obj["id"])
        labels.append(obj["label"].strip().upper())
    if not ids:
        raise DataFormatError(f"{path}: no rows")
    return ids, texts, labels


def tfidf_baseline(
    texts: list[str], labels: list[str], classes: list[str], data_root: str | Path | None = None
) -> dict[str, Any]:
    """TF-IDF + logistic regression trained on the TCGA training split, scored on ``texts``."""
    from cmkd_med.data.tcga import load_tcga
    from cmkd_med.evaluation.baselines import TfidfLogReg
    from cmkd_med.evaluation.metrics import classification_metrics

    train = load_tcga("train", data_root)
    model = TfidfLogReg().fit([despace_ocr(r.text) for r in train], [r.label for r in train])
    probs = model.predict_proba([despace_ocr(t) for t in texts])
    order = [list(model.classes_).index(c) for c in classes]
    return classification_metrics(labels, probs[:, order], classes)


def evaluate_classify(
    path: str | Path,
    lang: str,
    teacher_dir: str | Path | None = None,
    baselines: bool = True,
    data_root: str | Path | None = None,
) -> dict[str, Any]:
    from cmkd_med.evaluation.metrics import classification_metrics
    from cmkd_med.models.teacher_runtime import Teacher

    lang = normalize_lang(lang)
    if lang != "en":
        from cmkd_med.errors import CmkdError

        raise CmkdError(
            f"no classifier for {lang!r} yet: the students are built by the next issue (only 'en')"
        )
    _, texts, labels = read_classify_rows(path)
    if baselines:  # fail before minutes of inference, not after
        from cmkd_med.config import data_path

        data_path("tcga_reports", "train.tsv", data_root=data_root)
    teacher = Teacher.load(teacher_dir)
    pred = teacher.predict(texts, progress=True)
    result: dict[str, Any] = classification_metrics(labels, pred.probs, teacher.classes, pred.abstained)
    result["lang"] = lang
    if baselines:
        result["baselines"] = {"tfidf_logreg": tfidf_baseline(texts, labels, teacher.classes, data_root)}
    return result
