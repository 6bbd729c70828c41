"""The TF-IDF + logistic-regression baseline on a tiny synthetic corpus."""

from __future__ import annotations

import numpy as np
import pytest

from cmkd_med.errors import InvalidInputError
from cmkd_med.evaluation.baselines import TfidfLogReg

CORPUS = {
    "KIRC": [
        "clear cell renal cell carcinoma in the kidney, radical nephrectomy",
        "kidney tumour with clear cell renal cell carcinoma, Fuhrman grade 2",
        "nephrectomy specimen: clear cell carcinoma of the kidney",
        "renal cell carcinoma, clear cell type, kidney upper pole",
    ],
    "LIHC": [
        "hepatocellular carcinoma in the liver, partial hepatectomy",
        "liver resection showing hepatocellular carcinoma, trabecular pattern",
        "hepatectomy specimen: hepatocellular carcinoma, background cirrhosis of the liver",
        "liver segment with well differentiated hepatocellular carcinoma",
    ],
    "PAAD": [
        "pancreatic ductal adenocarcinoma, Whipple resection of the pancreas",
        "pancreas head with invasive ductal adenocarcinoma, pancreaticoduodenectomy",
        "ductal adenocarcinoma of the pancreas, Whipple specimen",
        "pancreatic adenocarcinoma, moderately differentiated, pancreas tail",
    ],
}
TEXTS = [t for texts in CORPUS.values() for t in texts]
LABELS = [label for label, texts in CORPUS.items() for _ in texts]


def test_fits_and_ranks_the_right_class() -> None:
    model = TfidfLogReg().fit(TEXTS, LABELS)
    assert model.classes_ == ["KIRC", "LIHC", "PAAD"]
    queries = ["kidney nephrectomy: clear cell carcinoma", "liver with hepatocellular carcinoma", "pancreas"]
    probs = model.predict_proba(queries)
    assert probs.shape == (3, 3)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert model.predict(queries) == ["KIRC", "LIHC", "PAAD"]
    # The right class is ranked first by a margin, not by a tie.
    assert (probs[np.arange(3), [0, 1, 2]] > 0.5).all()


def test_deterministic() -> None:
    first = TfidfLogReg().fit(TEXTS, LABELS).predict_proba(TEXTS)
    second = TfidfLogReg().fit(TEXTS, LABELS).predict_proba(TEXTS)
    assert np.array_equal(first, second)


def test_rejects_bad_training_input() -> None:
    with pytest.raises(InvalidInputError, match="labels"):
        TfidfLogReg().fit(TEXTS, LABELS[:-1])
    with pytest.raises(InvalidInputError, match="two distinct"):
        TfidfLogReg().fit(TEXTS[:4], LABELS[:4])
