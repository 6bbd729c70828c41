"""Classification metrics for the cancer-type models: accuracy, macro-F1, calibration and abstention.

Plain functions on NumPy arrays, so a test can check each formula on a hand-computed example with no
model. Counting metrics (accuracy, F1, per-class precision/recall) come from scikit-learn; the expected
calibration error and the selective-prediction helpers have no scikit-learn equivalent for the multi-class,
top-label case and are written here.

Example::

    >>> probs = np.array([[0.9, 0.1], [0.3, 0.7]])
    >>> classification_metrics(["KIRC", "KIRC"], probs, classes=["KIRC", "LIHC"])["accuracy"]
    0.5
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from cmkd_med.errors import InvalidInputError

_DIGITS = 4  # reported precision: differences below 1e-4 are noise at our dev-set sizes (hundreds of rows)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    r"""Top-label expected calibration error with equal-width confidence bins (Guo et al., 2017).

    .. math::

        \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{n} \,\bigl|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\bigr|

    where row *i* has confidence :math:`\hat p_i = \max_c p_{ic}` and prediction
    :math:`\hat y_i = \arg\max_c p_{ic}`, bin :math:`B_m` holds the rows with
    :math:`\hat p_i \in \bigl(\tfrac{m-1}{M}, \tfrac{m}{M}\bigr]`, :math:`\mathrm{acc}(B_m)` is the fraction
    of its rows with :math:`\hat y_i = y_i` and :math:`\mathrm{conf}(B_m)` their mean confidence. Empty bins
    contribute nothing.

    Args:
        probs: ``(N, C)`` class probabilities (rows need not be renormalised; only the maximum is used).
        y: ``(N,)`` integer gold class indices; an index outside ``0..C-1`` (a label the model does not
            know) counts as a wrong prediction.
        n_bins: ``M``, the number of equal-width bins on [0, 1] (15 as in the paper).

    Reference: Guo C, Pleiss G, Sun Y, Weinberger KQ. On Calibration of Modern Neural Networks. ICML 2017.

    >>> round(expected_calibration_error(np.array([[0.85, 0.15], [0.65, 0.35]]), np.array([0, 1]), 10), 4)
    0.4
    """
    probs = _check_probs(probs)
    y = np.asarray(y)
    if y.shape != (probs.shape[0],):
        raise InvalidInputError(f"y must have shape ({probs.shape[0]},), got {y.shape}")
    if n_bins < 1:
        raise InvalidInputError(f"n_bins must be >= 1, got {n_bins}")
    confidence = probs.max(axis=1)  # (N,)
    correct = probs.argmax(axis=1) == y  # (N,)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ece = 0.0
    for lower, upper in itertools.pairwise(edges):
        in_bin = (confidence > lower) & (confidence <= upper)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def classification_metrics(
    y_true: Sequence[str],
    probs: np.ndarray,
    classes: Sequence[str],
    abstain: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, ECE and abstention figures for argmax predictions over ``classes``.

    Args:
        y_true: ``N`` gold labels. A label not in ``classes`` can never be predicted, so it counts as
            wrong everywhere, and it appears in ``per_class`` with recall 0.
        probs: ``(N, C)`` probabilities; column *j* belongs to ``classes[j]``.
        classes: the ``C`` labels of the columns.
        abstain: optional ``(N,)`` booleans, True where the model abstains.

    Returns a dict with exactly these keys (floats rounded to 4 decimals):

    - ``n``: the number of rows.
    - ``accuracy``: over **all** rows, abstained or not (the argmax prediction is still scored).
    - ``macro_f1``: unweighted mean of per-label F1 over the labels present in ``y_true`` or in the
      predictions (so a class that neither occurs nor is predicted does not pull the mean to 0);
      a label with no predicted or no gold rows has F1 0 (``zero_division=0``).
    - ``ece``: :func:`expected_calibration_error` with the default 15 bins.
    - ``abstain_rate``: fraction of rows abstained (0 without ``abstain``).
    - ``selective_accuracy``: accuracy on the rows not abstained; ``None`` if every row was abstained.
    - ``per_class``: ``{label: {precision, recall, f1, support}}`` for the same labels as ``macro_f1``.
    """
    probs = _check_probs(probs)
    n, n_classes = probs.shape
    labels_true = [str(label) for label in y_true]
    class_list = [str(c) for c in classes]
    if len(labels_true) != n:
        raise InvalidInputError(f"{len(labels_true)} gold labels for {n} rows of probabilities")
    if len(class_list) != n_classes:
        raise InvalidInputError(f"{len(class_list)} class names for {n_classes} probability columns")
    if len(set(class_list)) != n_classes:
        raise InvalidInputError("class names must be distinct")

    index = {label: i for i, label in enumerate(class_list)}
    y_index = np.array([index.get(label, -1) for label in labels_true])  # (N,), -1: unknown label
    predicted = [class_list[j] for j in probs.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(predicted, labels_true, strict=True)])  # (N,)

    if abstain is None:
        kept = np.ones(n, dtype=bool)
    else:
        kept = ~np.asarray(abstain, dtype=bool)
        if kept.shape != (n,):
            raise InvalidInputError(f"abstain must have shape ({n},), got {kept.shape}")

    labels = sorted(set(labels_true) | set(predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels_true, predicted, labels=labels, zero_division=0
    )
    return {
        "n": n,
        "accuracy": _round(accuracy_score(labels_true, predicted)),
        "macro_f1": _round(f1_score(labels_true, predicted, labels=labels, average="macro", zero_division=0)),
        "ece": _round(expected_calibration_error(probs, y_index)),
        "abstain_rate": _round(1.0 - kept.mean()),
        "selective_accuracy": _round(correct[kept].mean()) if kept.any() else None,
        "per_class": {
            label: {
                "precision": _round(precision[i]),
                "recall": _round(recall[i]),
                "f1": _round(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
    }


def selective_curve(confidence: np.ndarray, correct: np.ndarray) -> list[tuple[float, float]]:
    """Coverage–accuracy points of "answer only when confidence ≥ t", one per distinct threshold ``t``.

    Rows are ranked by confidence, highest first; for each distinct confidence value ``t`` (descending)
    the point is ``(coverage, accuracy)`` of the rows with confidence ≥ ``t``. Tied rows enter together,
    so no point depends on the order of ties. The last point has coverage 1.

    Args:
        confidence: ``(N,)`` scores, higher = more confident.
        correct: ``(N,)`` booleans, whether each prediction is right.
    """
    confidence, correct = _check_pair(confidence, correct, "confidence")
    order = np.argsort(-confidence, kind="stable")
    conf_sorted = confidence[order]  # (N,) descending
    hits = np.cumsum(correct[order])  # (N,) correct answers among the top k+1
    n = len(conf_sorted)
    # The last row of each tie group: where the next value differs, plus the final row.
    ends = np.flatnonzero(np.append(conf_sorted[1:] != conf_sorted[:-1], True))
    return [(float((k + 1) / n), float(hits[k] / (k + 1))) for k in ends]


def choose_threshold(
    uncertainty: np.ndarray,
    correct: np.ndarray,
    target_accuracy: float = 0.98,
    max_abstain: float = 0.10,
) -> float:
    """An uncertainty threshold ``t`` for "abstain when uncertainty > t", chosen on a dev set.

    Candidates are the distinct uncertainty values (keeping the rows with uncertainty ≤ ``t``); only those
    abstaining on at most ``max_abstain`` of the rows are allowed. The rule:

    1. among allowed candidates whose selective accuracy (accuracy on the kept rows) is ≥
       ``target_accuracy``, return the one that abstains least (the largest such ``t``);
    2. if none reaches the target, return the allowed candidate that abstains most (the smallest allowed
       ``t``), i.e. the threshold at the abstention budget, which is the best the budget can buy.

    With no abstention at all (``t`` = the maximum uncertainty) the target may already be met; then
    nothing is abstained.

    Args:
        uncertainty: ``(N,)`` scores, higher = less sure (entropy, 1 - max probability, ...).
        correct: ``(N,)`` booleans, whether each dev prediction is right.
        target_accuracy: the wanted accuracy on answered rows.
        max_abstain: the largest allowed fraction of abstained rows, in [0, 1).
    """
    uncertainty, correct = _check_pair(uncertainty, correct, "uncertainty")
    if not 0.0 <= max_abstain < 1.0:
        raise InvalidInputError(f"max_abstain must be in [0, 1), got {max_abstain}")
    n = len(uncertainty)
    order = np.argsort(uncertainty, kind="stable")
    u_sorted = uncertainty[order]  # (N,) ascending
    hits = np.cumsum(correct[order])  # (N,)
    ends = np.flatnonzero(np.append(u_sorted[1:] != u_sorted[:-1], True))  # last row of each tie group
    fallback: float | None = None
    for k in ends[::-1]:  # largest threshold (least abstention) first
        kept = k + 1
        if (n - kept) / n > max_abstain:
            break
        fallback = float(u_sorted[k])
        if hits[k] / kept >= target_accuracy:
            return fallback
    # ends[-1] keeps every row (abstention 0 <= max_abstain), so the loop always sets fallback.
    assert fallback is not None
    return fallback


# --- helpers -----------------------------------------------------------------------------------------
def _round(value: float) -> float:
    return round(float(value), _DIGITS)


def _check_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise InvalidInputError(f"probs must be a non-empty (N, C) array, got shape {probs.shape}")
    if not np.isfinite(probs).all():
        raise InvalidInputError("probs contains NaN or infinite values")
    return probs


def _check_pair(scores: np.ndarray, correct: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.asarray(correct, dtype=bool)
    if scores.ndim != 1 or scores.size == 0:
        raise InvalidInputError(f"{name} must be a non-empty 1-D array, got shape {scores.shape}")
    if flags.shape != scores.shape:
        raise InvalidInputError(f"correct must have the shape of {name} {scores.shape}, got {flags.shape}")
    if not np.isfinite(scores).all():
        raise InvalidInputError(f"{name} contains NaN or infinite values")
    return scores, flags
