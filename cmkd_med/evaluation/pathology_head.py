r"""The pathology head: pathologic T and N from the teacher-space embedding of a report excerpt.

One multinomial logistic regression per axis on the L2-normalised embedding :math:`x \in \mathbb{R}^D`:

.. math::

    p(y = c \mid x) = \operatorname{softmax}_c(W x + b), \qquad W \in \mathbb{R}^{C \times D}

fitted with class-balanced weights (T4 and N3 are rare) and the inverse regularisation ``C`` chosen by
stratified 3-fold cross-validated macro-F1 on the training reports (dev untouched). Saved next to the
teacher as ``pathology.safetensors`` (``T.weight``, ``T.bias``, ``N.weight``, ``N.bias``) and
``pathology.json`` (classes, dimension, the excerpt it reads, how it was fitted); a few kB, so the teacher's
own weights and cancer-type heads are untouched.

Example::

    >>> head = PathologyHead.fit(x_train, {"T": t_labels, "N": n_labels})    # doctest: +SKIP
    >>> head.predict(x_dev)["T"][:3]                                        # ['T2', 'T3', 'T1']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import AdapterFormatError, InvalidInputError

WEIGHTS, META = "pathology.safetensors", "pathology.json"
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)  # L2 strength from strong to weak; 384-d inputs, ~3k rows


@dataclass
class PathologyHead:
    weights: dict[str, np.ndarray]  # axis -> (C, D)
    biases: dict[str, np.ndarray]  # axis -> (C,)
    classes: dict[str, list[str]]  # axis -> the C labels, column order
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for axis, w in self.weights.items():
            b, names = self.biases.get(axis), self.classes.get(axis, [])
            if w.ndim != 2 or b is None or b.shape != (w.shape[0],) or len(names) != w.shape[0]:
                raise AdapterFormatError(f"pathology head axis {axis!r}: inconsistent weight/bias/classes")
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise AdapterFormatError(f"pathology head axis {axis!r}: non-finite weights")

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        labels: dict[str, Sequence[str | None]],
        meta: dict[str, Any] | None = None,
        grid: Sequence[float] = C_GRID,
    ) -> PathologyHead:
        """Fit one head per axis on the rows of ``x`` (N, D) that carry that axis's label."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        weights: dict[str, np.ndarray] = {}
        biases: dict[str, np.ndarray] = {}
        classes: dict[str, list[str]] = {}
        chosen: dict[str, Any] = {}
        for axis, ys in labels.items():
            if len(ys) != len(x):
                raise InvalidInputError(f"{axis}: {len(ys)} labels for {len(x)} rows")
            rows = [i for i, y in enumerate(ys) if y is not None]
            xa, ya = x[rows], np.array([ys[i] for i in rows])
            if len(set(ya)) < 2:
                raise InvalidInputError(f"{axis}: need two distinct labels, got {sorted(set(ya))}")
            folds = StratifiedKFold(3, shuffle=True, random_state=0)

            def model(c: float) -> LogisticRegression:
                return LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=0)

            scores = {c: cross_val_score(model(c), xa, ya, cv=folds, scoring="f1_macro").mean() for c in grid}
            best = max(grid, key=lambda c: scores[c])
            fitted = model(best).fit(xa, ya)
            # lbfgs may leave coef_ Fortran-ordered; safetensors writes the raw buffer, so make it C-ordered
            weights[axis] = np.ascontiguousarray(fitted.coef_, dtype=np.float32)  # (C, D)
            biases[axis] = np.ascontiguousarray(fitted.intercept_, dtype=np.float32)  # (C,)
            classes[axis] = [str(c) for c in fitted.classes_]
            chosen[axis] = {"C": best, "cv_macro_f1": round(float(scores[best]), 4), "n_train": len(rows)}
        return cls(weights, biases, classes, {**(meta or {}), "fit": chosen})

    def predict_proba(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """axis -> (N, C) probabilities, columns in :attr:`classes` order."""
        x = np.asarray(x, dtype=np.float32)
        out = {}
        for axis, w in self.weights.items():
            if x.ndim != 2 or x.shape[1] != w.shape[1]:
                raise InvalidInputError(f"expected (N, {w.shape[1]}) embeddings, got {x.shape}")
            logits = x @ w.T + self.biases[axis]  # (N, C)
            logits -= logits.max(1, keepdims=True)
            p = np.exp(logits)
            out[axis] = p / p.sum(1, keepdims=True)
        return out

    def predict(self, x: np.ndarray) -> dict[str, list[str]]:
        return {a: [self.classes[a][j] for j in p.argmax(1)] for a, p in self.predict_proba(x).items()}

    # --- files ---------------------------------------------------------------------------------------
    @staticmethod
    def exists(folder: str | Path) -> bool:
        return (Path(folder) / WEIGHTS).is_file() and (Path(folder) / META).is_file()

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {}
        if self.exists(folder):  # keep what another head (the prognosis head) stored in these files
            from safetensors.numpy import load_file

            tensors = {
                k: v for k, v in load_file(str(folder / WEIGHTS)).items() if k.startswith("prognosis.")
            }
            old = json.loads((folder / META).read_text(encoding="utf-8"))
            meta = {"prognosis": old["prognosis"]} if "prognosis" in old else {}
        tensors.update({f"{a}.weight": np.ascontiguousarray(w) for a, w in self.weights.items()})
        tensors.update({f"{a}.bias": np.ascontiguousarray(b) for a, b in self.biases.items()})
        save_file(tensors, str(folder / WEIGHTS))
        meta = {"classes": self.classes, **meta, **self.meta}
        (folder / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> PathologyHead:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            tensors = load_file(str(folder / WEIGHTS))
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError, SafetensorError) as exc:
            raise AdapterFormatError(f"{folder}: cannot read the pathology head ({exc})") from exc
        classes = meta.pop("classes", None)
        if not isinstance(classes, dict):
            raise AdapterFormatError(f"{folder / META}: no 'classes' mapping")
        axes = list(classes)
        try:
            weights = {a: tensors[f"{a}.weight"] for a in axes}
            biases = {a: tensors[f"{a}.bias"] for a in axes}
        except KeyError as exc:
            raise AdapterFormatError(f"{folder / WEIGHTS}: missing tensor {exc}") from None
        return cls(weights, biases, {a: list(c) for a, c in classes.items()}, meta)
