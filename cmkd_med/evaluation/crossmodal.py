"""Cross-modal retrieval in the teacher space, scored by class (the pairing is by class, not by patient).

For each query of one modality, the items of the other modality are ranked by cosine similarity; a query
scores a hit at k when one of its top-k items has the query's class. ``chance_recall_at_k`` is the same
figure for a random ranking (from the class frequencies), the floor any real alignment must beat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def recall_by_class(queries: np.ndarray, items: np.ndarray, q_labels: Sequence[str], i_labels: Sequence[str],
                    k: int = 10) -> dict[str, float]:  # fmt: skip
    """Recall@k and precision@k of same-class retrieval; ``queries`` (N, D), ``items`` (M, D), normalised."""
    sims = queries @ items.T  # (N, M)
    top = np.argsort(-sims, axis=1)[:, :k]  # (N, k)
    i_arr = np.asarray(i_labels)
    same = i_arr[top] == np.asarray(q_labels)[:, None]  # (N, k)
    counts = Counter(i_labels)
    m = len(i_labels)
    chance = np.mean([1 - _none_of_class(m, counts[label], k) for label in q_labels])
    return {
        f"recall_at_{k}": round(float(same.any(1).mean()), 4),
        f"precision_at_{k}": round(float(same.mean()), 4),
        f"chance_recall_at_{k}": round(float(chance), 4),
        "n_queries": len(q_labels),
        "n_items": m,
    }


def _none_of_class(m: int, c: int, k: int) -> float:
    """P(no same-class item among k drawn without replacement from m items, c of that class)."""
    p = 1.0
    for j in range(min(k, m)):
        p *= max(m - c - j, 0) / (m - j)
    return p
