"""The teacher's lexical expert: TF-IDF + logistic regression over the English report text.

The frozen encoder's chunk vectors blur the few words that separate neighbouring types (adenocarcinoma vs
squamous cell carcinoma of the lung, serous carcinosarcoma vs endometrioid carcinoma); a bag of n-grams keeps
them. The teacher's class probabilities are the product of the two experts (Hinton 2002; equal weights, not
tuned), tempered once on the calibration split:

.. math::

    p(c \\mid x) \\propto p_{\\text{neural}}(c \\mid x)^{1 - w} \\; p_{\\text{lexical}}(c \\mid x)^{w}

The lexical expert only reads English reports: the teacher *space* (distillation, retrieval, students) is
the neural heads' alone.

Fitted by scikit-learn (:class:`~cmkd_med.evaluation.baselines.TfidfLogReg`, the same model family as the
evaluation baseline, on fewer features so the committed file stays small). Saved without pickle: the
vocabulary as JSON, idf / coefficients / intercepts as safetensors; loading rebuilds the vectoriser with the
fixed vocabulary and idf, and the multinomial logistic regression is one sparse product and a softmax.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cmkd_med.errors import AdapterFormatError, CmkdError
from cmkd_med.text import despace_ocr

WEIGHTS_FILE = "lexical.safetensors"
VOCAB_FILE = "lexical_vocab.json"
MAX_FEATURES = 30_000  # 30k of the 149k 1–2-grams with min_df 2: ~1.7 MB on disk


class LexicalExpert:
    """``LexicalExpert.fit(texts, labels, classes)`` → ``predict_proba(texts)``, columns in ``classes``."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray):
        from sklearn.feature_extraction.text import TfidfVectorizer

        from cmkd_med.evaluation.baselines import TfidfLogReg

        settings = TfidfLogReg().pipeline.named_steps["tfidf"].get_params()
        settings.update(vocabulary=vocabulary, min_df=1, max_features=None)
        self.vectorizer = TfidfVectorizer(**settings)
        self.vectorizer.idf_ = idf  # the fitted idf: transform now matches the fitted vectoriser exactly
        self.coef = coef.astype(np.float32)  # (C, V)
        self.intercept = intercept.astype(np.float32)  # (C,)

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        classes: Sequence[str],
        max_features: int = MAX_FEATURES,
    ) -> LexicalExpert:
        from cmkd_med.evaluation.baselines import TfidfLogReg

        model = TfidfLogReg(max_features=max_features).fit([despace_ocr(t) for t in texts], labels)
        vectorizer = model.pipeline.named_steps["tfidf"]
        logreg = model.pipeline.named_steps["logreg"]
        fitted = model.classes_
        missing = [c for c in classes if c not in fitted]
        if missing:
            raise CmkdError(f"the lexical expert saw no training report of {missing}")
        order = [fitted.index(c) for c in classes]
        return cls(
            vectorizer.get_feature_names_out().tolist(),
            np.asarray(vectorizer.idf_, dtype=np.float32),
            np.asarray(logreg.coef_)[order],
            np.asarray(logreg.intercept_)[order],
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """``(N, C)`` probabilities, the softmax of the logistic regression's scores."""
        if not texts:
            return np.zeros((0, len(self.intercept)), dtype=np.float32)
        x = self.vectorizer.transform([despace_ocr(t) for t in texts])  # sparse (N, V)
        scores = np.asarray(x @ self.coef.T) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return p / p.sum(axis=1, keepdims=True)

    def save(self, folder: Path) -> None:
        import torch
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(
            json.dumps(self.vectorizer.get_feature_names_out().tolist(), ensure_ascii=False), encoding="utf-8"
        )
        tensors = {
            "idf": torch.from_numpy(np.asarray(self.vectorizer.idf_, dtype=np.float32)),
            "coef": torch.from_numpy(self.coef).half(),  # float16 on disk; scores move by < 1e-3
            "intercept": torch.from_numpy(self.intercept),
        }
        save_file(tensors, str(folder / WEIGHTS_FILE))

    @classmethod
    def load(cls, folder: Path) -> LexicalExpert:
        from cmkd_med.models.integrity import check_lexical, load_tensors

        weights, vocab = folder / WEIGHTS_FILE, folder / VOCAB_FILE
        if not weights.exists() or not vocab.exists():
            raise CmkdError(f"no lexical expert in {folder}: run `cmkd-med train-teacher`")
        t = load_tensors(weights, "numpy")  # unreadable or NaN weights refused
        try:
            terms = json.loads(vocab.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise AdapterFormatError(f"{vocab}: not a lexical vocabulary (not valid JSON)") from None
        check_lexical(terms, t, vocab)
        return cls(terms, t["idf"], t["coef"], t["intercept"])


def pool(
    neural: np.ndarray, lexical: np.ndarray | None, weight: float, temperature: float = 1.0
) -> np.ndarray:
    r"""The weighted geometric pool of two ``(N, C)`` probability matrices, renormalised per row, at
    ``temperature``: :math:`p \propto (p_n^{1-w}\, p_l^{w})^{1/T}` — temperature scaling of the pooled
    log-probabilities (Guo et al. 2017). Without a lexical expert ``neural`` is returned unchanged."""
    if lexical is None or weight <= 0.0:
        return neural
    z = (1.0 - weight) * np.log(np.clip(neural, 1e-12, None)) + weight * np.log(np.clip(lexical, 1e-12, None))
    z /= temperature
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)
