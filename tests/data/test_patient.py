"""Patient-level TCGA tables (issue 19): the traps on tiny fixtures; loaders and join on the real data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cmkd_med.config import data_dir
from cmkd_med.data.patient import (
    clean,
    iter_mutations,
    kefeli_label,
    load_stage,
    load_survival,
    patient_mutations,
    patient_of,
    sample_type,
)
from cmkd_med.errors import DataFormatError
from tests.conftest import requires_data

_PATIENT_DATA = (data_dir() / "tcga_patient" / "tnm_kefeli.tsv").is_file()
requires_patient_data = pytest.mark.skipif(
    not _PATIENT_DATA, reason=f"patient-level data folder not found at {data_dir() / 'tcga_patient'}"
)


# --- the traps, without the data ----------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["", "  ", "[Not Available]", "[Discrepancy]", "[Unknown]", "NA"])
def test_missing_markers_read_as_none(marker: str) -> None:
    assert clean(marker) is None


def test_real_values_survive_cleaning() -> None:
    assert clean(" T2a ") == "T2a"
    assert clean("NX") == "NX"  # "cannot be assessed" is a value; the Kefeli rules drop it, clean does not


@pytest.mark.parametrize(
    ("raw", "axis", "label"),
    [
        ("T1b2", "T", "T1"), ("T2a1", "T", "T2"), ("T3c", "T", "T3"), ("T4", "T", "T4"),
        ("TX", "T", None), ("T0", "T", None), ("Tis", "T", None), ("[Not Available]", "T", None),
        ("N2b", "N", "N2"), ("N0", "N", "N0"), ("NX", "N", None), ("N0(i+)", "N", None),
        ("M1a", "M", "M1"), ("MX", "M", None), ("", "M", None),
    ],
)  # fmt: skip
def test_kefeli_label_rules(raw: str, axis: str, label: str | None) -> None:
    assert kefeli_label(raw, axis) == label


def test_barcodes() -> None:
    assert patient_of("TCGA-02-0003-01A-01D-1490-08") == "TCGA-02-0003"
    assert patient_of("TCGA-02-0003") == "TCGA-02-0003"
    assert sample_type("TCGA-02-0003-01A-01D-1490-08") == "01"
    assert sample_type("TCGA-02-0003") is None  # Firehose: the sample barcode is the patient id
    with pytest.raises(DataFormatError, match="TCGA-XX-XXXX"):
        patient_of("not-a-barcode")


def _write(root: Path, name: str, header: list[str], rows: list[list[str]]) -> None:
    folder = root / "tcga_patient"
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header), *("\t".join(r) for r in rows)]
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_mutations_keep_pass_where_filter_exists_and_primary_tumours(tmp_path: Path) -> None:
    import gzip

    header = ["patient_id", "sample_barcode", "project", "source", "Hugo_Symbol", "Variant_Classification",
              "protein_change", "Chromosome", "Start_Position", "Reference_Allele", "Tumor_Seq_Allele2",
              "FILTER"]  # fmt: skip
    mc3, fh = "TCGA-AA-0001-01A-11D-A000-08", "TCGA-BB-0002"
    rows = [
        ["TCGA-AA-0001", mc3, "X", "MC3", "KRAS", "Missense_Mutation", "p.G12D", "12", "1", "C", "T", "PASS"],
        ["TCGA-AA-0001", mc3, "X", "MC3", "TP53", "Missense_Mutation", "p.R175H", "17", "1", "C", "T", "wga"],
        # a metastasis sample (06): PASS, but not in the primary-tumour set
        ["TCGA-AA-0001", mc3.replace("-01A", "-06A"), "X", "MC3", "BRAF", "Missense_Mutation", "p.V600E", "7",
         "1", "A", "T", "PASS"],
        # Firehose: no FILTER (kept), the patient id as sample barcode, no protein change (gene only)
        ["TCGA-BB-0002", fh, "X", "Firehose", "APC", "Nonsense_Mutation", "", "5", "1", "C", "T", ""],
    ]  # fmt: skip
    folder = tmp_path / "tcga_patient"
    folder.mkdir()
    text = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    with gzip.open(folder / "mutations_nonsilent.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write(text)
    assert [m.gene for m in iter_mutations(tmp_path)] == ["KRAS", "BRAF", "APC"]
    assert len(list(iter_mutations(tmp_path, pass_only=False))) == 4
    assert patient_mutations(tmp_path) == {"TCGA-AA-0001": ("KRAS G12D",), "TCGA-BB-0002": ("APC",)}


def test_survival_redacted_and_missing_endpoints(tmp_path: Path) -> None:
    names = ["OS", "DSS", "DFI", "PFI"]
    header = ["patient_id", "project", "age_at_initial_pathologic_diagnosis", "ajcc_pathologic_tumor_stage",
              "Redaction"] + [c for n in names for c in (n, f"{n}.time")]  # fmt: skip
    _write(tmp_path, "cdr_clinical_survival.tsv", header, [
        ["TCGA-AA-0001", "X", "61", "Stage II", "", "1", "300", "", "", "", "", "1", "120"],
        ["TCGA-AA-0002", "X", "", "[Discrepancy]", "Redacted", "0", "50", "", "", "", "", "0", "50"],
    ])  # fmt: skip
    rows = load_survival(tmp_path)
    assert rows["TCGA-AA-0001"].endpoint("PFI") == (1, 120)
    assert rows["TCGA-AA-0001"].endpoint("DFI") is None
    assert rows["TCGA-AA-0002"].endpoint("PFI") is None  # redacted
    assert rows["TCGA-AA-0002"].age is None and rows["TCGA-AA-0002"].stage is None
    with pytest.raises(DataFormatError, match="PFS"):
        rows["TCGA-AA-0001"].endpoint("PFS")


# --- the real data ------------------------------------------------------------------------------------


@requires_patient_data
def test_kefeli_rules_reproduce_the_files_own_labels() -> None:
    from cmkd_med.data.patient import iter_table

    stage = load_stage()
    differ = []
    for row in iter_table("tnm_kefeli.tsv"):
        s = stage[row["patient_id"]]
        for axis, theirs in (("T", s.T), ("N", s.N), ("M", s.M)):
            ours = kefeli_label(row[f"ajcc_pathologic_{axis.lower()}"], axis)
            if ours != theirs:
                differ.append((row[f"ajcc_pathologic_{axis.lower()}"], ours, theirs))
    # The file's labels follow the rules everywhere but five CESC T2a1 tumours, which it labels T1.
    assert differ == [("T2a1", "T2", "T1")] * 5


@requires_patient_data
@requires_data
def test_join_keeps_the_split_by_patient_and_matches_the_coverage_file() -> None:
    from cmkd_med.data.patient_join import patient_reports

    train, dev = patient_reports("train"), patient_reports("dev")
    assert len(train) == 4589 and len(dev) == 612
    assert not {r.patient_id for r in train} & {r.patient_id for r in dev}
    patients_t = {r.patient_id for r in train + dev if r.T}
    patients_n = {r.patient_id for r in train + dev if r.N}
    assert (len(patients_t), len(patients_n)) == (3405, 2751)  # coverage_train_dev.tsv
    counts = {label: sum(1 for p in {(r.patient_id, r.T) for r in train + dev} if p[1] == label)
              for label in ("T1", "T2", "T3", "T4")}  # fmt: skip
    assert counts == {"T1": 930, "T2": 1010, "T3": 1154, "T4": 311}  # the data README's figures
    assert not hasattr(dev[0], "project")  # the classifier's target is not on the joined rows
    assert sum(r.pfi is not None for r in dev) == 604


@requires_patient_data
def test_stage_labels_have_no_gyn_or_brain_projects() -> None:
    projects = {s.project for s in load_stage().values()}
    assert not projects & {"GBM", "LGG", "OV", "SARC", "UCEC", "UCS"}


@requires_patient_data
@requires_data
def test_export_stage_cli(tmp_path: Path) -> None:
    from cmkd_med.data.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "dev.jsonl"
    args = parser.parse_args(["data", "export-stage", "--split", "dev", "--out", str(out)])
    assert args.func(args) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 390
    assert all(set(r) <= {"id", "text", "T", "N"} and ("T" in r or "N" in r) for r in rows)
    assert {r["T"] for r in rows if "T" in r} == {"T1", "T2", "T3", "T4"}
