"""TCGA pathology reports (``tcga_reports/{train,dev}.tsv``), 20 TCGA project codes, split by patient."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cmkd_med.config import data_path
from cmkd_med.errors import DataFormatError

TCGA_CLASSES: tuple[str, ...] = (
    "BLCA", "CESC", "CHOL", "COAD", "GBM", "HNSC", "KICH", "KIRC", "KIRP", "LGG",
    "LIHC", "LUAD", "LUSC", "OV", "PAAD", "PRAD", "READ", "SARC", "UCEC", "UCS",
)  # fmt: skip
SPLITS: tuple[str, ...] = ("train", "dev")
_COLUMNS = ("report_id", "patient_id", "label", "organ_group", "n_chars", "text")


@dataclass(frozen=True)
class TcgaReport:
    report_id: str
    patient_id: str
    label: str
    organ_group: str
    text: str


def _raise_field_limit() -> None:
    # Reports are multi-line quoted fields, some longer than csv's default 128 kB field limit.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def iter_tcga(split: str = "train", data_root: str | Path | None = None) -> Iterator[TcgaReport]:
    """Yield the reports of ``split`` (``train`` or ``dev``) in file order."""
    if split not in SPLITS:
        raise DataFormatError(f"unknown TCGA split {split!r}; available: {', '.join(SPLITS)}")
    path = data_path("tcga_reports", f"{split}.tsv", data_root=data_root)
    _raise_field_limit()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = set(_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            yield TcgaReport(
                report_id=row["report_id"],
                patient_id=row["patient_id"],
                label=row["label"],
                organ_group=row["organ_group"],
                text=row["text"],
            )


def load_tcga(split: str = "train", data_root: str | Path | None = None) -> list[TcgaReport]:
    """All reports of ``split`` as a list."""
    return list(iter_tcga(split, data_root))
