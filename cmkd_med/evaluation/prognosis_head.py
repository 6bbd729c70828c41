"""The prognosis head: a penalised Cox model over [excerpt embedding, stage group, age] for PFI (research).

Stored beside the pathology head, in the same two files: tensors ``prognosis.beta`` (P,),
``prognosis.mean`` and ``prognosis.scale`` (P,) in ``pathology.safetensors`` and a ``prognosis`` entry in
``pathology.json``; the T/N tensors are kept as they are. Refitting the T/N head rewrites the files, so fit
this one after it. Its risk score is a cohort-level research figure, never part of a patient summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import AdapterFormatError, DataFormatError, InvalidInputError
from cmkd_med.evaluation.pathology_head import META, WEIGHTS
from cmkd_med.evaluation.survival import clinical_features, fit_cox, harrell_c, stage_group

L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # by 3-fold C-index on train (0.01-0.1 scored lower)


class PrognosisHead:
    def __init__(self, beta: np.ndarray, mean: np.ndarray, scale: np.ndarray, meta: dict[str, Any]):
        if not (beta.shape == mean.shape == scale.shape) or beta.ndim != 1:
            raise AdapterFormatError("prognosis head: beta, mean and scale must be (P,) vectors")
        if not (np.isfinite(beta).all() and np.isfinite(mean).all() and (scale > 0).all()):
            raise AdapterFormatError("prognosis head: non-finite weights or non-positive scale")
        self.beta, self.mean, self.scale, self.meta = beta, mean, scale, meta

    def risk(self, embeddings: np.ndarray, clinical: np.ndarray) -> np.ndarray:
        """(N,) log relative hazard of each row; higher = earlier progression expected."""
        x = np.hstack([np.asarray(embeddings, np.float32), np.asarray(clinical, np.float32)])  # (N, P)
        if x.ndim != 2 or x.shape[1] != len(self.beta):
            raise InvalidInputError(f"expected {len(self.beta)} features a row, got {x.shape}")
        return np.asarray(((x - self.mean) / self.scale) @ self.beta, dtype=np.float64)

    @staticmethod
    def exists(folder: str | Path) -> bool:
        path = Path(folder) / META
        return path.is_file() and "prognosis" in json.loads(path.read_text(encoding="utf-8"))

    @classmethod
    def load(cls, folder: str | Path) -> PrognosisHead:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            tensors = load_file(str(folder / WEIGHTS))
            meta = json.loads((folder / META).read_text(encoding="utf-8"))["prognosis"]
            return cls(tensors["prognosis.beta"], tensors["prognosis.mean"], tensors["prognosis.scale"], meta)
        except (OSError, ValueError, KeyError, SafetensorError) as exc:
            raise AdapterFormatError(f"{folder}: cannot read the prognosis head ({exc!r})") from exc

    def save(self, folder: str | Path) -> None:
        """Add this head to the pathology files in ``folder`` (which must exist: fit T/N first)."""
        from safetensors.numpy import load_file, save_file

        folder = Path(folder)
        tensors = load_file(str(folder / WEIGHTS))
        tensors.update(
            {"prognosis.beta": self.beta, "prognosis.mean": self.mean, "prognosis.scale": self.scale}
        )
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        meta["prognosis"] = self.meta
        save_file(tensors, str(folder / WEIGHTS))
        (folder / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _train_rows(data_root: str | Path | None) -> list[Any]:
    from cmkd_med.data.patient_join import patient_reports

    seen: set[str] = set()
    rows = []
    for r in patient_reports("train", data_root):
        if r.pfi is not None and r.patient_id not in seen:  # one report a patient: pairs are patients
            seen.add(r.patient_id)
            rows.append(r)
    return rows


def train_clinical(data_root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clinical features (N, 6), time, event) of the TCGA train patients with a PFI."""
    rows = _train_rows(data_root)
    x = clinical_features([stage_group(r.stage) for r in rows], [r.age for r in rows])
    return x, np.array([r.pfi[1] for r in rows], float), np.array([r.pfi[0] for r in rows], float)


def fit_prognosis_head(folder: str | Path, data_root: str | Path | None = None) -> dict[str, Any]:
    """Fit on the train patients whose excerpt vectors are cached; add the head to ``folder``."""
    from sklearn.model_selection import KFold

    from cmkd_med.evaluation.excerpt_cache import load_cached

    cached = load_cached("teacher_train")
    rows = [r for r in _train_rows(data_root) if r.report_id in cached]
    if not rows:
        raise DataFormatError("no cached train excerpt vectors: embed the train reports first")
    clinical = clinical_features([stage_group(r.stage) for r in rows], [r.age for r in rows])
    x = np.hstack([np.stack([cached[r.report_id] for r in rows]), clinical])  # (N, P)
    time = np.array([r.pfi[1] for r in rows], float)
    event = np.array([r.pfi[0] for r in rows], float)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / scale
    scores: dict[float, float] = {}
    for l2 in L2_GRID:
        folds = KFold(3, shuffle=True, random_state=0).split(z)
        scores[l2] = float(np.mean([harrell_c(time[v], event[v], z[v] @ fit_cox(z[t], time[t], event[t], l2))
                                    for t, v in folds]))  # fmt: skip
    best = max(L2_GRID, key=lambda k: scores[k])
    meta = {
        "endpoint": "PFI (TCGA-CDR), days",
        "features": "teacher excerpt embedding (384) + stage group I-IV one-hot + stage missing + age",
        "n_patients": len(rows),
        "events": int(event.sum()),
        "l2": best,
        "cv_c_index": round(scores[best], 4),
        "use": "research figure only; never shown in a patient summary",
    }
    head = PrognosisHead(
        fit_cox(z, time, event, best), mean.astype(np.float32), scale.astype(np.float32), meta
    )
    head.save(folder)
    return meta


if __name__ == "__main__":  # python -m cmkd_med.evaluation.prognosis_head DIR: fit, add to DIR's files
    import sys

    print(json.dumps(fit_prognosis_head(sys.argv[1] if len(sys.argv) > 1 else "adapters/en"), indent=2))
