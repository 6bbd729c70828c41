"""HistoLearn patch embeddings: shapes, labels, and the stratified split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cmkd_med.config import data_dir
from cmkd_med.data.histo import TISSUE_DESCRIPTIONS, load_histolearn, stratified_split
from cmkd_med.errors import DataFormatError, InvalidInputError

LABELS = [code for code in sorted(TISSUE_DESCRIPTIONS) for _ in range(4)]  # 9 classes x 4, grouped


def test_split_is_stratified_deterministic_and_a_partition() -> None:
    train, test = stratified_split(LABELS, test_size=0.25, seed=0)
    assert sorted([*train, *test]) == list(range(len(LABELS)))
    assert Counter(LABELS[i] for i in test) == {code: 1 for code in TISSUE_DESCRIPTIONS}
    again = stratified_split(LABELS, test_size=0.25, seed=0)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    other = stratified_split(LABELS, test_size=0.25, seed=1)
    assert not np.array_equal(test, other[1])  # the seed matters: rows are shuffled
    with pytest.raises(InvalidInputError, match="test_size"):
        stratified_split(LABELS, test_size=1.0)


def test_bad_header_is_a_format_error(tmp_path: Path) -> None:
    folder = tmp_path / "histo" / "histolearn"
    folder.mkdir(parents=True)
    (folder / "subset_embeddings.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (folder / "subset_labels.csv").write_text("label_name\nADI\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="header"):
        load_histolearn(tmp_path)


@pytest.mark.slow
def test_real_embeddings() -> None:
    if not (data_dir() / "histo" / "histolearn" / "subset_embeddings.csv").is_file():
        pytest.skip(f"HistoLearn files not found under {data_dir()} (set CMKD_DATA_DIR)")
    features, labels = load_histolearn()
    assert features.shape == (180, 1024) and features.dtype == np.float32
    assert Counter(labels) == {code: 20 for code in TISSUE_DESCRIPTIONS}
    norms = np.linalg.norm(features, axis=1)
    assert norms.min() > 30 and norms.max() < 50  # the card: L2 norms about 38-40
    _, test = stratified_split(labels, test_size=0.25, seed=0)
    assert len(test) == 45 and Counter(labels[i] for i in test) == {code: 5 for code in TISSUE_DESCRIPTIONS}
