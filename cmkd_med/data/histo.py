"""HistoLearn patch embeddings: a stand-in modality for the teacher's image branch.

180 foundation-model embeddings (1,024 dimensions) of colorectal H&E patches in 9 **tissue** classes
(``histo/histolearn/``). They are tissue classes, not cancer types, and cannot be paired with TCGA reports:
they only exercise the image branch, by aligning each patch's features with the text of its tissue
description (:data:`TISSUE_DESCRIPTIONS`).

Example::

    >>> features, labels = load_histolearn()                           # doctest: +SKIP
    >>> features.shape, labels[0], TISSUE_DESCRIPTIONS[labels[0]]      # doctest: +SKIP
    ((180, 1024), 'ADI', 'adipose tissue')
    >>> train, test = stratified_split(labels, test_size=0.25, seed=0) # doctest: +SKIP
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from cmkd_med.config import data_path
from cmkd_med.errors import DataFormatError, InvalidInputError

EMBEDDING_DIM = 1024

# The NCT-CRC-HE-100K tissue classes (Kather et al., PLOS Med 2019), in plain English.
TISSUE_DESCRIPTIONS: dict[str, str] = {
    "ADI": "adipose tissue",
    "BACK": "background",
    "DEB": "debris and necrosis",
    "LYM": "lymphocytes",
    "MUC": "mucus",
    "MUS": "smooth muscle",
    "NORM": "normal colon mucosa",
    "STR": "cancer-associated stroma",
    "TUM": "colorectal adenocarcinoma epithelium",
}


def load_histolearn(data_root: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """``(features (180, 1024) float32, tissue codes)``; row *i* of the labels belongs to row *i*."""
    emb_path = data_path("histo", "histolearn", "subset_embeddings.csv", data_root=data_root)
    lab_path = data_path("histo", "histolearn", "subset_labels.csv", data_root=data_root)
    with emb_path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    if header != [str(i) for i in range(len(header))]:
        raise DataFormatError(f"{emb_path}: expected a header of column indices 0,1,...")
    try:
        features = np.loadtxt(emb_path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise DataFormatError(f"{emb_path}: not a numeric CSV ({exc})") from None
    if features.shape[1] != EMBEDDING_DIM or not np.isfinite(features).all():
        raise DataFormatError(f"{emb_path}: expected finite {EMBEDDING_DIM}-d rows, got {features.shape}")

    with lab_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != ["label_name"]:
            raise DataFormatError(f"{lab_path}: expected one column 'label_name', got {reader.fieldnames}")
        labels = [row["label_name"].strip() for row in reader]
    if len(labels) != features.shape[0]:
        raise DataFormatError(f"{len(labels)} labels for {features.shape[0]} embeddings")
    unknown = sorted(set(labels) - set(TISSUE_DESCRIPTIONS))
    if unknown:
        raise DataFormatError(
            f"{lab_path}: unknown tissue codes {unknown}; known: {sorted(TISSUE_DESCRIPTIONS)}"
        )
    return features, labels


def stratified_split(
    labels: Sequence[str], test_size: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled, class-stratified ``(train indices, test indices)``; the same ``seed`` gives the same split.

    The rows are grouped by class in the file, so an unshuffled cut would leave classes out of one side.
    """
    if not 0.0 < test_size < 1.0:
        raise InvalidInputError(f"test_size must be in (0, 1), got {test_size}")
    indices = np.arange(len(labels))
    train, test = train_test_split(
        indices, test_size=test_size, stratify=list(labels), random_state=seed, shuffle=True
    )
    return np.sort(train), np.sort(test)
