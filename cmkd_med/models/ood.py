"""The model-side out-of-distribution score of the scope decision: Mahalanobis distance in the teacher space.

Lee et al. (2018, "A simple unified framework for detecting out-of-distribution samples"): class means
:math:`\\mu_c` and one shared covariance :math:`\\Sigma` of the teacher-space embeddings of training reports;
a note's score is its distance to the nearest class,

.. math:: d(x) = \\min_c \\, (x - \\mu_c)^\\top \\Sigma^{-1} (x - \\mu_c),

so a note far from every class the models were trained on scores high, however confident the softmax is. The
students embed into the same space, so one fit serves every language; each language has its own thresholds,
fitted on held-out in-scope calibration notes (``cmkd-med scope fit``), never on the figures reported: the
distance, and, as a second gate, the calibrated top probability (the distance alone separates in-scope from
out-of-scope notes only weakly in the students' languages; both figures are in the README).
The covariance is Ledoit-Wolf (scikit-learn; 384 dimensions from a few hundred reports), shrunk further
half-way to a scaled identity (``shrinkage``, chosen on the tuning notes: the students' embeddings leave the
teacher's low-variance directions, which an unshrunk inverse magnifies).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.config import DEFAULT_TEACHER_DIR
from cmkd_med.errors import AdapterFormatError

WEIGHTS, CONFIG = "ood.safetensors", "ood.json"


@dataclass
class MahalanobisOOD:
    means: np.ndarray  # (C, D) class means
    precision: np.ndarray  # (D, D) inverse of the shared (shrunk) covariance
    classes: list[str]
    # language → {"distance": the largest in-distribution score, "probability": the smallest top probability}
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)
    # Whether the model alone may call a note that asserts nothing either way supported (in distribution);
    # chosen with the thresholds on the tuning notes (bench/scope_sweep.py)
    model_alone: bool = True

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: list[str], shrinkage: float = 0.5) -> MahalanobisOOD:
        """Class means and a shrunk shared covariance from ``embeddings`` (N, D) with their labels."""
        from sklearn.covariance import LedoitWolf

        classes = sorted(set(labels))
        y = np.array([classes.index(label) for label in labels])
        means = np.stack([embeddings[y == c].mean(0) for c in range(len(classes))])  # (C, D)
        centred = embeddings - means[y]  # (N, D)
        covariance = LedoitWolf().fit(centred).covariance_  # (D, D)
        scale = np.trace(covariance) / len(covariance)
        covariance = (1 - shrinkage) * covariance + shrinkage * scale * np.eye(len(covariance))
        return cls(means.astype(np.float32), np.linalg.inv(covariance).astype(np.float32), classes)

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """(N,) distance of each embedding to its nearest class mean."""
        diff = embeddings[:, None, :].astype(np.float32) - self.means[None, :, :]  # (N, C, D)
        d = ((diff @ self.precision) * diff).sum(-1)  # (N, C); a matmul, not einsum's generic loop
        return d.min(1)

    def reads(self, prediction: Any) -> bool:
        """Whether this score was fitted for ``prediction``'s space: same classes, same embedding width."""
        embeddings = getattr(prediction, "embeddings", None)
        return (
            embeddings is not None
            and embeddings.ndim == 2
            and embeddings.shape[1] == self.means.shape[1]
            and list(prediction.classes) == self.classes
        )

    def in_distribution(self, scores: np.ndarray, top_probability: np.ndarray, lang: str) -> np.ndarray:
        """(N,) bool: within both of ``lang``'s thresholds (all true when none was fitted for it)."""
        limits = self.thresholds.get(lang, {})
        inside = scores <= limits.get("distance", np.inf)
        return inside & (top_probability >= limits.get("probability", 0.0))

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        folder = Path(folder)
        save_file({"means": self.means, "precision": self.precision}, str(folder / WEIGHTS))
        config = {
            "classes": self.classes,
            "thresholds": self.thresholds,
            "model_alone": self.model_alone,
            "provenance": self.provenance,
        }
        text = json.dumps(config, indent=2, ensure_ascii=False) + "\n"
        (folder / CONFIG).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path | None = None) -> MahalanobisOOD | None:
        """The fitted score in ``folder`` (default ``adapters/en``), or None when none was fitted."""
        from safetensors.numpy import load_file

        folder = Path(folder or DEFAULT_TEACHER_DIR)
        if not (folder / WEIGHTS).is_file():
            return None
        try:
            tensors = load_file(str(folder / WEIGHTS))
            config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
            ood = cls(
                tensors["means"].astype(np.float32),
                tensors["precision"].astype(np.float32),
                list(config["classes"]),
                {
                    str(lang): {str(k): float(v) for k, v in limits.items()}
                    for lang, limits in config.get("thresholds", {}).items()
                },
                dict(config.get("provenance", {})),
                bool(config.get("model_alone", True)),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise AdapterFormatError(f"{folder}: the out-of-distribution file is damaged ({error})") from None
        c, d = ood.means.shape
        if ood.precision.shape != (d, d) or len(ood.classes) != c:
            raise AdapterFormatError(f"{folder}: {WEIGHTS} has inconsistent shapes")
        if not (np.isfinite(ood.means).all() and np.isfinite(ood.precision).all()):
            raise AdapterFormatError(f"{folder}: {WEIGHTS} holds non-finite values")
        if not all(np.isfinite(t) for limits in ood.thresholds.values() for t in limits.values()):
            raise AdapterFormatError(f"{folder}: {CONFIG} holds a non-finite threshold")
        return ood
