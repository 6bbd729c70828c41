from __future__ import annotations

import numpy as np

from cmkd_med.evaluation.crossmodal import _none_of_class, recall_by_class


def test_perfect_and_chance_retrieval() -> None:
    q = np.eye(4)[[0, 1, 2, 3]]
    items = np.eye(4)[[0, 1, 2, 3]]
    labels = ["A", "B", "C", "D"]
    result = recall_by_class(q, items, labels, labels, k=1)
    assert result["recall_at_1"] == 1.0 and result["precision_at_1"] == 1.0
    assert result["chance_recall_at_1"] == 0.25  # one item of four has the query's class
    swapped = recall_by_class(q, items, labels, ["B", "A", "D", "C"], k=1)
    assert swapped["recall_at_1"] == 0.0


def test_hypergeometric_floor() -> None:
    # 10 items, 2 of the class, draw 3: P(none) = 8/10 * 7/9 * 6/8
    assert abs(_none_of_class(10, 2, 3) - (8 / 10) * (7 / 9) * (6 / 8)) < 1e-12
