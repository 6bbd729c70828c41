"""``cmkd-med evaluate classify``: the teacher (en) or a student (pt, hi, sw) on labelled JSONL notes.

Rows: ``{"id": str, "text": str, "label": str}`` (label = TCGA code). Output: ``n``, ``accuracy``,
``macro_f1``, ``ece``, ``abstain_rate``, ``selective_accuracy``, ``per_class``, and ``baselines``: the same
metrics, in this run, for TF-IDF + logistic regression trained on the English TCGA training split and, for
the students, ``no_distillation``: the same base model with a head trained on English reports only.
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


def no_distillation_baseline(
    texts: list[str],
    labels: list[str],
    classes: list[str],
    base_model: str,
    data_root: str | Path | None = None,
) -> dict[str, Any]:
    """The student's base model, frozen, with a logistic-regression head trained on English report windows
    only (the same windows the students distil from), no teacher; scored on ``texts``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from cmkd_med.evaluation.metrics import classification_metrics
    from cmkd_med.models.text_encoder import ChunkedTextEncoder
    from cmkd_med.ontology.linker import get_linker
    from cmkd_med.training.distill_data import english_report_windows

    windows = english_report_windows(get_linker("en").link, data_root)
    encoder = ChunkedTextEncoder.from_spec(base_model)

    def features(batch: list[str]) -> np.ndarray:
        return np.stack([c.mean(0).numpy() for c in encoder.encode(batch)])

    head = LogisticRegression(C=10.0, max_iter=2000).fit(
        features([w for w, _ in windows]), [y for _, y in windows]
    )
    probs = head.predict_proba(features(texts))
    full = np.zeros((len(texts), len(classes)))
    for j, c in enumerate(head.classes_):
        full[:, classes.index(str(c))] = probs[:, j]
    return classification_metrics(labels, full, classes)


def evaluate_classify(
    path: str | Path,
    lang: str,
    teacher_dir: str | Path | None = None,
    baselines: bool = True,
    data_root: str | Path | None = None,
    student_dir: str | Path | None = None,
) -> dict[str, Any]:
    """``en``: the teacher; ``pt``/``hi``/``sw``: the language's student. Baselines from the same run:
    TF-IDF + LR trained on the English training split; for students also no-distillation."""
    from cmkd_med.evaluation.metrics import classification_metrics

    lang = normalize_lang(lang)
    _, texts, labels = read_classify_rows(path)
    if baselines:  # fail before minutes of inference, not after
        from cmkd_med.config import data_path

        data_path("tcga_reports", "train.tsv", data_root=data_root)
    if lang == "en":
        from cmkd_med.models.teacher_runtime import Teacher

        model: Any = Teacher.load(teacher_dir)
        pred = model.predict(texts, progress=True)
    else:
        from cmkd_med.models.student_runtime import Student

        model = Student.load(student_dir or lang)
        if model.lang != lang:
            raise DataFormatError(f"the student at {student_dir} is for {model.lang!r}, not {lang!r}")
        pred = model.predict(texts)
    result: dict[str, Any] = classification_metrics(labels, pred.probs, model.classes, pred.abstained)
    result["lang"] = lang
    if baselines:
        result["baselines"] = {"tfidf_logreg": tfidf_baseline(texts, labels, model.classes, data_root)}
        if lang != "en":
            result["baselines"]["no_distillation"] = no_distillation_baseline(
                texts, labels, model.classes, model.model.config.base_model, data_root
            )
    return result
