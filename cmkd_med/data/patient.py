"""Patient-level TCGA tables (``tcga_patient/``): typed rows, with the folder's traps handled in one place.

- **Missing values**: ``"[Not Available]"``, ``"[Discrepancy]"``, ``"[Unknown]"``, ``"[Not Applicable]"``,
  ``"[Not Evaluated]"``, ``"NA"`` and empty cells all read as ``None`` (:func:`clean`). The current snapshot
  only has empty cells, but the markers are what the GDC tables use and a rebuild may bring them back.
- **Barcodes**: ``patient_id`` is the 12-character ``TCGA-XX-XXXX``; a ``sample_barcode`` adds the sample
  (``-01A``: primary tumour), except for the Broad Firehose projects, where it *is* the patient id
  (:func:`patient_of`, :func:`sample_type`).
- **Kefeli labels**: T sub-stages collapse (``T2a`` → ``T1``…``T4``), TX/T0/Tis are dropped, NX and
  ``N0(i+)``-style qualifiers are dropped, MX is dropped (:func:`kefeli_label`). :func:`load_stage` keeps
  the file's own ``t14_label`` / ``n03_label`` / ``m01_label`` (what Kefeli et al. scored): they follow
  these rules on every row but five CESC ``T2a1`` tumours, labelled T1 there (T2 by the rule).
- **Mutations**: ``FILTER == PASS`` where the source has a FILTER column (MC3); the 2020 MC3 build and
  Firehose have none (:attr:`Mutation.passes`).
- **Label leak**: every table has ``project``, the cancer-type classifier's target. It is kept on the rows
  for per-project figures only: never a model input.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cmkd_med.config import data_path
from cmkd_med.errors import DataFormatError

FOLDER = "tcga_patient"
MISSING = frozenset(
    {"", "NA", "[Not Available]", "[Discrepancy]", "[Unknown]", "[Not Applicable]", "[Not Evaluated]"}
)
T_LABELS: tuple[str, ...] = ("T1", "T2", "T3", "T4")
N_LABELS: tuple[str, ...] = ("N0", "N1", "N2", "N3")
M_LABELS: tuple[str, ...] = ("M0", "M1")
_PATIENT = re.compile(r"^TCGA-[A-Z0-9]{2}-[A-Z0-9]{4}$")
_KEFELI = {"T": re.compile(r"^T([1-4])[a-c]?[12]?$"), "N": re.compile(r"^N([0-3])[a-c]?$"),
           "M": re.compile(r"^M([01])[a-c]?$")}  # fmt: skip


def clean(value: str | None) -> str | None:
    """``value`` stripped, or ``None`` for a missing-value marker."""
    if value is None:
        return None
    value = value.strip()
    return None if value in MISSING else value


def patient_of(barcode: str) -> str:
    """The 12-character patient id of a patient or sample barcode; anything else is a DataFormatError."""
    patient = barcode.strip()[:12]
    if not _PATIENT.match(patient):
        raise DataFormatError(f"not a TCGA barcode: {barcode!r} (expected TCGA-XX-XXXX[-01A...])")
    return patient


def sample_type(barcode: str) -> str | None:
    """The two-digit sample type of a sample barcode (``01`` primary tumour), ``None`` for a patient id."""
    return barcode[13:15] if len(barcode) >= 15 else None


def kefeli_label(raw: str | None, axis: str) -> str | None:
    """The Kefeli et al. label (``T1``…``T4``, ``N0``…``N3``, ``M0``/``M1``) of a raw AJCC value, or None."""
    value = clean(raw)
    match = _KEFELI[axis].match(value) if value else None
    return f"{axis}{match.group(1)}" if match else None


def _int(raw: str | None) -> int | None:
    value = clean(raw)
    return None if value is None else int(float(value))  # some day counts are written "123.0"


def _yes_no(raw: str | None) -> bool | None:
    value = clean(raw)
    return None if value is None else value.upper() == "YES"


def iter_table(
    name: str, data_root: str | Path | None = None, required: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """Stream the raw rows of ``tcga_patient/<name>`` (a TSV, gzipped when the name ends in ``.gz``)."""
    path = data_path(FOLDER, name, data_root=data_root)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"patient_id", *required} - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: missing columns {sorted(missing)}")
        yield from reader


@dataclass(frozen=True)
class StageLabels:
    """``tnm_kefeli.tsv``: raw AJCC pathologic T/N/M and the Kefeli labels (None where dropped)."""

    patient_id: str
    project: str  # the classifier's target: never a feature
    t_raw: str | None
    n_raw: str | None
    m_raw: str | None
    T: str | None  # the file's t14_label as T1..T4 (kefeli_label(t_raw) but for 5 CESC T2a1 -> T1)
    N: str | None
    M: str | None
    kefeli_test: bool  # in the test split of Kefeli et al. (their T14 split)


def _label(index: str, axis: str) -> str | None:
    # The file's 0-based label columns, as Kefeli et al. trained and scored on them.
    value = clean(index)
    return None if value is None else f"{axis}{int(value) + (axis == 'T')}"


def load_stage(data_root: str | Path | None = None) -> dict[str, StageLabels]:
    out: dict[str, StageLabels] = {}
    required = ("ajcc_pathologic_t", "t14_label", "kefeli_t14_test")
    for row in iter_table("tnm_kefeli.tsv", data_root, required):
        t, n, m = (clean(row[f"ajcc_pathologic_{x}"]) for x in "tnm")
        pid = patient_of(row["patient_id"])
        out[pid] = StageLabels(
            pid, row["project"], t, n, m, _label(row["t14_label"], "T"), _label(row["n03_label"], "N"),
            _label(row["m01_label"], "M"), row["kefeli_t14_test"] == "1",
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class ClinicalFacts:
    """``pancan_clinical_tnm_treatment.tsv``: the fields a pathology report states, typed."""

    patient_id: str
    project: str  # never a feature
    pathologic_stage: str | None  # "Stage IIA"...; AJCC edition in system_version
    system_version: str | None  # AJCC 5th/6th/7th, or a FIGO year for GYN
    grade: str | None  # G1..G4, GX, High/Low Grade
    residual_tumor: str | None  # R0, R1, R2, RX
    margin_status: str | None  # Negative, Positive, Close
    nodes_examined: int | None
    nodes_positive_he: int | None
    lymphovascular_invasion: bool | None
    perineural_invasion: bool | None
    gleason_score: int | None
    gleason_primary: int | None
    gleason_secondary: int | None


def load_clinical(data_root: str | Path | None = None) -> dict[str, ClinicalFacts]:
    out: dict[str, ClinicalFacts] = {}
    required = ("pathologic_stage", "gleason_score")
    for r in iter_table("pancan_clinical_tnm_treatment.tsv", data_root, required):
        pid = patient_of(r["patient_id"])
        out[pid] = ClinicalFacts(
            pid, r["project"], clean(r["pathologic_stage"]), clean(r["system_version"]),
            clean(r["neoplasm_histologic_grade"]), clean(r["residual_tumor"]), clean(r["margin_status"]),
            _int(r["lymph_node_examined_count"]), _int(r["number_of_lymphnodes_positive_by_he"]),
            _yes_no(r["lymphovascular_invasion_present"]), _yes_no(r["perineural_invasion_present"]),
            _int(r["gleason_score"]), _int(r["primary_pattern"]), _int(r["secondary_pattern"]),
        )  # fmt: skip
    return out


ENDPOINTS: tuple[str, ...] = ("PFI", "OS", "DSS", "DFI")  # PFI first: the CDR's recommendation


@dataclass(frozen=True)
class Survival:
    """``cdr_clinical_survival.tsv``: age, stage and the TCGA-CDR endpoints as (event, days) pairs."""

    patient_id: str
    project: str  # never a feature
    age: int | None
    stage: str | None  # AJCC pathologic stage ("Stage IIA"), None for most GYN (FIGO in clinical_stage)
    redacted: bool
    endpoints: dict[str, tuple[int, int]]  # name -> (event 0/1, time in days); absent where missing

    def endpoint(self, name: str = "PFI") -> tuple[int, int] | None:
        if name not in ENDPOINTS:
            raise DataFormatError(f"unknown endpoint {name!r}; available: {', '.join(ENDPOINTS)}")
        return None if self.redacted else self.endpoints.get(name)


def load_survival(data_root: str | Path | None = None) -> dict[str, Survival]:
    out: dict[str, Survival] = {}
    for r in iter_table("cdr_clinical_survival.tsv", data_root, ("PFI", "PFI.time", "Redaction")):
        pid = patient_of(r["patient_id"])
        ends = {}
        for name in ENDPOINTS:
            event, time = _int(r[name]), _int(r[f"{name}.time"])
            if event is not None and time is not None and time >= 0:
                ends[name] = (event, time)
        age = _int(r["age_at_initial_pathologic_diagnosis"])
        stage = clean(r["ajcc_pathologic_tumor_stage"])
        out[pid] = Survival(pid, r["project"], age, stage, clean(r["Redaction"]) == "Redacted", ends)
    return out


@dataclass(frozen=True)
class Mutation:
    patient_id: str
    sample_barcode: str  # 28 characters for MC3; the 12-character patient id for Firehose
    project: str  # never a feature
    source: str  # MC3, MC3_2020build, Firehose
    gene: str
    classification: str  # Missense_Mutation, Nonsense_Mutation, ...
    protein_change: str | None  # p.V600E
    filter: str | None  # MC3 only; None where the source has no FILTER

    @property
    def passes(self) -> bool:
        return self.filter is None or self.filter == "PASS"


def iter_mutations(data_root: str | Path | None = None, pass_only: bool = True) -> Iterator[Mutation]:
    """Non-silent somatic mutations, ``FILTER == PASS`` where the source has a FILTER (``pass_only``)."""
    required = ("sample_barcode", "Hugo_Symbol", "FILTER")
    for r in iter_table("mutations_nonsilent.tsv.gz", data_root, required):
        m = Mutation(
            patient_of(r["patient_id"]), r["sample_barcode"], r["project"], r["source"], r["Hugo_Symbol"],
            r["Variant_Classification"], clean(r["protein_change"]), clean(r["FILTER"]),
        )  # fmt: skip
        if m.passes or not pass_only:
            yield m


def patient_mutations(data_root: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Each patient's sorted, distinct ``"GENE p.X123Y"`` (or ``"GENE"``) set from primary-tumour samples
    (sample type 01, or a Firehose patient-level call set), PASS only."""
    sets: dict[str, set[str]] = {}
    for m in iter_mutations(data_root):
        if sample_type(m.sample_barcode) not in (None, "01"):
            continue
        change = m.protein_change[2:] if m.protein_change and m.protein_change.startswith("p.") else None
        sets.setdefault(m.patient_id, set()).add(f"{m.gene} {change}" if change else m.gene)
    return {pid: tuple(sorted(s)) for pid, s in sets.items()}


@dataclass(frozen=True)
class MutationBurden:
    """``mutation_burden.tsv``: per-sample counts; ``nonsilent_pass`` is None where there is no FILTER."""

    patient_id: str
    sample_barcode: str
    source: str
    nonsilent: int
    nonsilent_pass: int | None
    silent: int


def load_mutation_burden(data_root: str | Path | None = None) -> list[MutationBurden]:
    out = []
    for r in iter_table("mutation_burden.tsv", data_root, ("n_nonsilent", "n_silent")):
        out.append(MutationBurden(
            patient_of(r["patient_id"]), r["sample_barcode"], r["source"], int(r["n_nonsilent"]),
            _int(r["n_nonsilent_pass"]), int(r["n_silent"]),
        ))  # fmt: skip
    return out


@dataclass(frozen=True)
class DrugRecord:
    """One row of ``drugs_gdc.tsv`` or ``drugs_curated_gnnchemo.tsv``; a missing record is not "untreated"."""

    patient_id: str
    project: str  # never a feature
    therapy_type: str | None
    drug_name: str | None  # raw GDC names are not normalised (Taxol / Paclitaxel)
    response: str | None
    start_day: int | None
    end_day: int | None


def load_drugs(data_root: str | Path | None = None, curated: bool = False) -> list[DrugRecord]:
    name = "drugs_curated_gnnchemo.tsv" if curated else "drugs_gdc.tsv"
    out = []
    for r in iter_table(name, data_root, ("drug_name", "measure_of_response")):
        out.append(DrugRecord(
            patient_of(r["patient_id"]), r["project"], clean(r["therapy_types"]), clean(r["drug_name"]),
            clean(r["measure_of_response"]), _int(r["days_to_drug_therapy_start"]),
            _int(r["days_to_drug_therapy_end"]),
        ))  # fmt: skip
    return out
