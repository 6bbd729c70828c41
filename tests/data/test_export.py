"""``cmkd-med data export-jsonl``: TCGA TSV splits → JSONL rows {id, text, label}."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from cmkd_med.config import data_dir
from cmkd_med.data.cli import register
from cmkd_med.data.export import export_jsonl, iter_export_rows
from cmkd_med.errors import DataNotFoundError, InvalidInputError
from cmkd_med.evaluation.jsonl import iter_jsonl

HEADER = ["report_id", "patient_id", "label", "organ_group", "n_chars", "text"]
ROWS = {
    "train": [
        ["r1", "p1", "KIRC", "kidney", "40", 'RIGHT KIDNEY\nclear cell carcinoma, "Fuhrman" 2\n\nsee note'],
        ["r2", "p2", "LIHC", "liver", "30", "Fígado: carcinoma hepatocelular\tgrau 2"],
    ],
    "dev": [["r3", "p3", "PAAD", "pancreas", "20", "Whipple\r\nductal adenocarcinoma"]],
}


def run_data(*argv: str) -> int:
    """The ``data`` command group on its own parser (the main CLI turns CmkdError into exit code 2)."""
    parser = argparse.ArgumentParser(prog="cmkd-med")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", *argv])
    return int(args.func(args))


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "tcga_reports"
    folder.mkdir(parents=True)
    for split, rows in ROWS.items():
        with (folder / f"{split}.tsv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
    return tmp_path / "data"


def test_cli_writes_all_splits_to_a_file(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out" / "all.jsonl"
    assert run_data("export-jsonl", "--split", "all", "--data-dir", str(tiny_data), "--out", str(out)) == 0
    rows = [obj for _, obj in iter_jsonl(out)]
    assert [r["id"] for r in rows] == ["r1", "r2", "r3"]  # train, then dev
    assert rows[0] == {"id": "r1", "text": ROWS["train"][0][5], "label": "KIRC"}
    assert rows[2]["text"] == "Whipple\r\nductal adenocarcinoma"  # newlines kept inside the field
    raw = out.read_bytes()
    assert raw.count(b"\n") == 3  # one line per row: embedded newlines are escaped
    assert "Fígado".encode() in raw  # ensure_ascii=False
    assert "wrote 3 rows" in capsys.readouterr().err
    assert not list(out.parent.glob("*.partial"))


def test_cli_default_is_dev_on_stdout(tiny_data: Path, capsys: pytest.CaptureFixture) -> None:
    assert run_data("export-jsonl", "--data-dir", str(tiny_data)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["PAAD"]


def test_missing_data_fails_before_writing(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    with pytest.raises(DataNotFoundError, match="data file not found"):
        run_data("export-jsonl", "--data-dir", str(tmp_path / "none"), "--out", str(out))
    assert not out.exists()


def test_unknown_split_is_rejected(tiny_data: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(InvalidInputError, match="available: train, dev, all"):
        iter_export_rows("test", tiny_data)
    with pytest.raises(SystemExit):
        run_data("export-jsonl", "--split", "test")
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_real_dev_split_has_612_rows(tmp_path: Path) -> None:
    if not (data_dir() / "tcga_reports" / "dev.tsv").is_file():
        pytest.skip(f"TCGA reports not found under {data_dir()} (set CMKD_DATA_DIR)")
    out = tmp_path / "dev.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        assert export_jsonl("dev", handle) == 612
    rows = [obj for _, obj in iter_jsonl(out)]
    assert len(rows) == 612 and len({r["id"] for r in rows}) == 612
    assert all(set(r) == {"id", "text", "label"} and r["text"].strip() for r in rows)
