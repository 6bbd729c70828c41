"""Metric formulas on hand-computed arrays (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from cmkd_med.errors import InvalidInputError
from cmkd_med.evaluation.metrics import (
    choose_threshold,
    classification_metrics,
    expected_calibration_error,
    selective_curve,
)

# Four rows, two classes. Confidences 0.9 (right), 0.8 (wrong), 0.65 (right), 0.6 (right).
PROBS_4 = np.array([[0.9, 0.1], [0.8, 0.2], [0.35, 0.65], [0.4, 0.6]])
Y_4 = np.array([0, 1, 1, 1])


def test_ece_four_rows_by_hand() -> None:
    # 4 bins of width 0.25. Bin (0.5, 0.75]: rows 2, 3, acc 1, conf 0.625 -> 2/4 * 0.375 = 0.1875.
    # Bin (0.75, 1]: rows 0, 1, acc 0.5, conf 0.85 -> 2/4 * 0.35 = 0.175. Sum 0.3625.
    assert expected_calibration_error(PROBS_4, Y_4, n_bins=4) == pytest.approx(0.3625)
    # One bin: acc 0.75, conf 0.7375 -> 0.0125 (the per-bin gaps of opposite sign cancel).
    assert expected_calibration_error(PROBS_4, Y_4, n_bins=1) == pytest.approx(0.0125)


def test_ece_perfectly_calibrated_and_unknown_labels() -> None:
    # Confidence 1 and always right: no gap.
    assert expected_calibration_error(np.eye(3), np.arange(3)) == pytest.approx(0.0)
    # A label index outside 0..C-1 is wrong: one row at confidence 0.9 that is wrong -> 0.9.
    assert expected_calibration_error(np.array([[0.9, 0.1]]), np.array([-1])) == pytest.approx(0.9)


def test_ece_rejects_bad_shapes() -> None:
    with pytest.raises(InvalidInputError, match="shape"):
        expected_calibration_error(PROBS_4, np.array([0, 1]))
    with pytest.raises(InvalidInputError, match="n_bins"):
        expected_calibration_error(PROBS_4, Y_4, n_bins=0)


def _case() -> tuple[list[str], np.ndarray, list[str]]:
    # Predictions A (right), B (wrong, gold A), B (right), C (wrong, gold X: a label the model lacks).
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.3, 0.62, 0.08], [0.05, 0.85, 0.1], [0.05, 0.1, 0.85]],
    )
    return ["A", "A", "B", "X"], probs, ["A", "B", "C"]


def test_classification_metrics_by_hand() -> None:
    y, probs, classes = _case()
    out = classification_metrics(y, probs, classes, abstain=np.array([False, False, False, True]))
    assert set(out) == {"n", "accuracy", "macro_f1", "ece", "abstain_rate", "selective_accuracy", "per_class"}
    assert out["n"] == 4
    assert out["accuracy"] == 0.5
    # Labels present in gold or predictions: A, B, C, X. F1: A 2/3, B 2/3, C 0, X 0 -> mean 1/3.
    assert out["macro_f1"] == 0.3333
    # 15 bins: 0.25*|1-0.7| + 0.25*|0-0.62| + 0.5*|0.5-0.85| = 0.075 + 0.155 + 0.175.
    assert out["ece"] == 0.405
    assert out["abstain_rate"] == 0.25
    assert out["selective_accuracy"] == 0.6667  # rows 0-2: right, wrong, right
    assert out["per_class"]["A"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert out["per_class"]["B"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert out["per_class"]["X"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert out["per_class"]["C"]["support"] == 0


def test_classification_metrics_without_abstention_and_all_abstained() -> None:
    y, probs, classes = _case()
    plain = classification_metrics(y, probs, classes)
    assert plain["abstain_rate"] == 0.0 and plain["selective_accuracy"] == plain["accuracy"] == 0.5
    none_left = classification_metrics(y, probs, classes, abstain=np.ones(4, dtype=bool))
    assert none_left["abstain_rate"] == 1.0 and none_left["selective_accuracy"] is None


def test_classification_metrics_checks_sizes() -> None:
    y, probs, classes = _case()
    with pytest.raises(InvalidInputError, match="class names"):
        classification_metrics(y, probs, classes[:2])
    with pytest.raises(InvalidInputError, match="gold labels"):
        classification_metrics(y[:3], probs, classes)
    with pytest.raises(InvalidInputError, match="abstain"):
        classification_metrics(y, probs, classes, abstain=np.array([True]))


def test_selective_curve_groups_ties() -> None:
    points = selective_curve(np.array([0.9, 0.8, 0.8, 0.3]), np.array([True, False, True, False]))
    np.testing.assert_allclose(points, [(0.25, 1.0), (0.75, 2 / 3), (1.0, 0.5)])


def test_choose_threshold_smallest_abstention_meeting_the_target() -> None:
    uncertainty = np.arange(1, 11) / 10  # 0.1 ... 1.0
    correct = np.array([True] * 8 + [False, False])  # the two most uncertain rows are wrong
    # t=1.0: acc 0.8; t=0.9 (10% abstained): 8/9; t=0.8 (20%): 1.0 >= 0.98.
    assert choose_threshold(uncertainty, correct, 0.98, max_abstain=0.2) == pytest.approx(0.8)
    # The budget allows only 10%: the target is out of reach, so the threshold at the budget.
    assert choose_threshold(uncertainty, correct, 0.98, max_abstain=0.1) == pytest.approx(0.9)
    # A lower target is met with 10% abstained; no more is spent.
    assert choose_threshold(uncertainty, correct, 0.85, max_abstain=0.5) == pytest.approx(0.9)


def test_choose_threshold_no_abstention_needed_and_ties() -> None:
    u = np.array([0.3, 0.1, 0.2])
    assert choose_threshold(u, np.ones(3, dtype=bool)) == pytest.approx(0.3)
    # Three rows tie at 0.5: abstaining on them would cost 75% > 50%, so nothing is abstained.
    tied = np.array([0.2, 0.5, 0.5, 0.5])
    assert choose_threshold(tied, np.array([True, True, False, True]), max_abstain=0.5) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="max_abstain"):
        choose_threshold(u, np.ones(3, dtype=bool), max_abstain=1.0)
