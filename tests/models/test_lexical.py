"""The teacher's lexical expert: pickle-free persistence that reproduces scikit-learn, pooling, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cmkd_med.errors import CmkdError
from cmkd_med.evaluation.baselines import TfidfLogReg
from cmkd_med.models.lexical import VOCAB_FILE, WEIGHTS_FILE, LexicalExpert, pool
from cmkd_med.models.teacher import TeacherConfig
from cmkd_med.training.teacher import TrainConfig, train_teacher
from tests.models.test_teacher import CLASSES, synthetic_split, tiny_config

WORDS = {
    "KIRC": "clear cell renal cell carcinoma kidney nephrectomy",
    "LUAD": "adenocarcinoma of the lung lobectomy acinar",
    "PRAD": "prostate adenocarcinoma gleason prostatectomy",
}


def texts_for(labels: list[str], seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    filler = ["specimen", "received", "in", "formalin", "margins", "lymph", "nodes", "examined", "gross"]
    out = []
    for label in labels:
        words = WORDS[label].split() + list(rng.choice(filler, size=8))
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def test_saved_expert_reproduces_scikit_learn_in_the_given_class_order(tmp_path: Path) -> None:
    labels = [CLASSES[i % 3] for i in range(30)]
    texts = texts_for(labels)
    order = ["PRAD", "KIRC", "LUAD"]  # not the sorted order scikit-learn uses
    expert = LexicalExpert.fit(texts, labels, order)
    expert.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {WEIGHTS_FILE, VOCAB_FILE}
    loaded = LexicalExpert.load(tmp_path)
    queries = [*texts_for(["LUAD", "KIRC", "PRAD", "LUAD"], seed=5), "no known word here"]
    reference = TfidfLogReg(max_features=30_000).fit(texts, labels)
    expected = reference.predict_proba(queries)[:, [reference.classes_.index(c) for c in order]]
    np.testing.assert_allclose(loaded.predict_proba(queries), expected, atol=2e-3)
    assert [order[j] for j in loaded.predict_proba(queries[:3]).argmax(1)] == ["LUAD", "KIRC", "PRAD"]
    assert loaded.predict_proba([]).shape == (0, 3)


def test_expert_needs_every_class_and_its_files() -> None:
    with pytest.raises(CmkdError, match="LGG"):
        LexicalExpert.fit(texts_for(["KIRC", "LUAD"] * 3), ["KIRC", "LUAD"] * 3, ["KIRC", "LUAD", "LGG"])
    with pytest.raises(CmkdError, match="train-teacher"):
        LexicalExpert.load(Path("/nonexistent"))


def test_pool_is_a_weighted_product_of_experts() -> None:
    neural = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    lexical = np.array([[0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    assert pool(neural, None, 0.5) is neural and pool(neural, lexical, 0.0) is neural
    pooled = pool(neural, lexical, 0.5)
    np.testing.assert_allclose(pooled.sum(1), 1.0)
    expected = np.sqrt(neural[0] * lexical[0])
    np.testing.assert_allclose(pooled[0], expected / expected.sum())
    assert pooled[0].argmax() == 1  # the confident expert wins where the other hesitates
    np.testing.assert_allclose(pooled[1], neural[1])  # experts that agree: their shared distribution
    # a temperature scales the pooled log-probabilities: T < 1 sharpens, T > 1 softens, argmax kept
    sharp, soft = pool(neural, lexical, 0.5, 0.5), pool(neural, lexical, 0.5, 2.0)
    np.testing.assert_allclose(sharp[0], expected**2 / (expected**2).sum())
    assert sharp[0].max() > pooled[0].max() > soft[0].max() and sharp[0].argmax() == soft[0].argmax() == 1


def test_train_teacher_fits_saves_and_weights_the_lexical_expert(tmp_path: Path) -> None:
    data = synthetic_split()
    texts = texts_for(data.labels)
    cfg = TrainConfig(epochs=3, batch_size=16, calib_fraction=0.25, seed=3)
    report = train_teacher(data, tmp_path / "a", tiny_config(), cfg, texts=texts, progress=False)
    assert report["lexical_weight"] == 0.5
    saved = TeacherConfig.load(tmp_path / "a")
    assert saved.lexical_weight == 0.5
    # pooled: the heads run at T = 1 and the fitted temperature scales the pool
    assert saved.temperature == 1.0 and round(saved.pool_temperature, 4) == report["temperature"] != 1.0
    probs = LexicalExpert.load(tmp_path / "a").predict_proba(texts[:30])
    assert (probs.argmax(1) == np.array([CLASSES.index(x) for x in data.labels[:30]])).mean() > 0.9
    # without texts (or with weight 0) there is no expert and the config says so
    off = train_teacher(data, tmp_path / "b", tiny_config(), cfg, progress=False)
    assert off["lexical_weight"] == 0.0 and not (tmp_path / "b" / WEIGHTS_FILE).exists()
    alone = TeacherConfig.load(tmp_path / "b")
    assert alone.lexical_weight == 0.0 and alone.pool_temperature == 1.0 and alone.temperature != 1.0


def test_checkpoint_settings_ignore_calibration_only_fields() -> None:
    base = TrainConfig()
    changed = TrainConfig(lexical_weight=0.0, target_selective_accuracy=0.95, max_abstain=0.2)
    assert base.training_settings() == changed.training_settings()
    assert base.training_settings() != TrainConfig(epochs=3).training_settings()
