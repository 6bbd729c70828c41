"""The TCGA reports joined to their patients' tables by ``patient_id``; the split stays the reports' split.

``tcga_reports`` is split by patient, so a patient's facts follow its reports into train or dev and never
cross. The patient tables have had the held-out test patients removed, so no join reaches them.

Example::

    >>> rows = patient_reports("dev")                                   # doctest: +SKIP
    >>> rows[0].T, rows[0].N, rows[0].pfi                               # ('T2', 'N0', (0, 1234))

``project`` (the cancer-type target) is deliberately absent from :class:`PatientReport`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cmkd_med.config import data_path
from cmkd_med.data.patient import (
    FOLDER,
    iter_mutations,
    load_clinical,
    load_drugs,
    load_mutation_burden,
    load_stage,
    load_survival,
    patient_mutations,
)
from cmkd_med.data.tcga import SPLITS, load_tcga
from cmkd_med.errors import DataFormatError


@dataclass(frozen=True)
class PatientReport:
    """One report with its patient's staging, outcome and mutations (None / empty where unknown)."""

    report_id: str
    patient_id: str
    split: str
    text: str
    T: str | None  # Kefeli label T1..T4
    N: str | None  # Kefeli label N0..N3
    kefeli_test: bool  # the patient is in the Kefeli et al. test split
    stage: str | None  # AJCC pathologic stage group ("Stage IIA"), pancan table
    age: int | None
    pfi: tuple[int, int] | None  # (event, days), the CDR's recommended endpoint; None if redacted/missing
    mutations: tuple[str, ...]  # "GENE X123Y" from primary-tumour PASS calls; () without mutation data


def patient_reports(
    split: str, data_root: str | Path | None = None, with_mutations: bool = False
) -> list[PatientReport]:
    """Every report of ``split`` with its patient's facts; ``with_mutations`` reads the 15 MB MAF too."""
    if split not in SPLITS:
        raise DataFormatError(f"unknown split {split!r}; available: {', '.join(SPLITS)}")
    stage, clinical, survival = load_stage(data_root), load_clinical(data_root), load_survival(data_root)
    mutations = patient_mutations(data_root) if with_mutations else {}
    out = []
    for report in load_tcga(split, data_root):
        pid = report.patient_id
        s, c, v = stage.get(pid), clinical.get(pid), survival.get(pid)
        out.append(
            PatientReport(
                report.report_id, pid, split, report.text,
                s.T if s else None, s.N if s else None, bool(s and s.kefeli_test),
                c.pathologic_stage if c else (v.stage if v else None), v.age if v else None,
                v.endpoint("PFI") if v else None, mutations.get(pid, ()),
            )
        )  # fmt: skip
    return out


def stage_rows(split: str, data_root: str | Path | None = None) -> Iterator[dict[str, str]]:
    """``{"id", "text", "T"?, "N"?}`` rows (``evaluate stage`` input) for the reports with a T or N label."""
    for r in patient_reports(split, data_root):
        if r.T or r.N:
            row = {"id": r.report_id, "text": r.text}
            row.update({k: v for k, v in (("T", r.T), ("N", r.N)) if v})
            yield row


def survival_rows(split: str, data_root: str | Path | None = None) -> Iterator[dict[str, object]]:
    """``{"id", "text", "time", "event"}`` rows (``evaluate survival`` input): PFI, days, 1 = event."""
    for r in patient_reports(split, data_root):
        if r.pfi is not None:
            yield {"id": r.report_id, "text": r.text, "time": r.pfi[1], "event": r.pfi[0]}


def _lines(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip()) - 1  # minus the header


def count_patient(folder: Path) -> dict[str, int]:
    """Row counts of every file in ``tcga_patient/`` and the Kefeli labels of train/dev report patients."""
    root = folder.parent
    stage, survival = load_stage(root), load_survival(root)
    counts = {
        "tnm_kefeli": len(stage),
        "tnm_kefeli_T": sum(s.T is not None for s in stage.values()),
        "tnm_kefeli_N": sum(s.N is not None for s in stage.values()),
        "tnm_kefeli_test": sum(s.kefeli_test for s in stage.values()),
        "pancan_clinical": len(load_clinical(root)),
        "cdr_survival": len(survival),
        "cdr_redacted": sum(v.redacted for v in survival.values()),
        "mutations": sum(1 for _ in iter_mutations(root, pass_only=False)),
        "mutations_pass": sum(1 for _ in iter_mutations(root)),
        "mutation_burden": len(load_mutation_burden(root)),
        "drugs_gdc": len(load_drugs(root)),
        "drugs_curated": len(load_drugs(root, curated=True)),
    }
    for name in ("T14", "N03", "M01"):
        raw = data_path(FOLDER, "raw_kefeli", f"TCGA_{name}_patients.csv", data_root=root)
        counts[f"raw_kefeli_{name}"] = _lines(raw)
    counts["coverage_fields"] = sum(1 for _ in _coverage(root, "coverage_train_dev.tsv"))
    counts["coverage_by_project"] = sum(1 for _ in _coverage(root, "coverage_train_dev_by_project.tsv"))
    for split in SPLITS:
        ids = {r.patient_id for r in load_tcga(split, root)}
        counts[f"{split}_patients_T"] = sum(1 for p in ids if p in stage and stage[p].T)
        counts[f"{split}_patients_N"] = sum(1 for p in ids if p in stage and stage[p].N)
    return counts


def _coverage(root: Path, name: str) -> Iterator[dict[str, str]]:
    path = data_path(FOLDER, name, data_root=root)
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        for line in handle:
            if line.strip():
                yield dict(zip(header, line.rstrip("\n").split("\t"), strict=False))
