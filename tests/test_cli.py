"""The command line: JSON shapes of the documented commands, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cmkd_med.cli import main
from cmkd_med.languages import SUPPORTED_LANGUAGES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_classes_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ontology", "classes", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 20
    for row in rows:
        assert {"code", "cui", "labels", "lay"} <= set(row)
        assert set(row["labels"]) == set(SUPPORTED_LANGUAGES) == set(row["lay"])
        assert all(row["labels"].values()) and all(row["lay"].values())
    kirc = next(r for r in rows if r["code"] == "KIRC")
    assert kirc["cui"] == "C0279702" and kirc["codes"]["ONCOTREE"] == "CCRCC"


def test_lookup_json_ranks_candidates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ontology", "lookup", "carcinoma hepatocelular", "--lang", "por", "--json")
    rows = json.loads(out)
    assert code == 0 and rows[0]["cui"] == "C2239176" and rows[0]["rank"] == 1
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_link_json(capsys: pytest.CaptureFixture[str]) -> None:
    note = "Adenocarcinoma de próstata, Gleason 7, com invasão perineural."
    code, out, _ = run(capsys, "link", note, "--lang", "pt", "--json")
    mentions = json.loads(out)
    assert code == 0 and "C0007112" in [m["cui"] for m in mentions]
    first = mentions[0]
    assert note[first["start"] : first["end"]] == first["text"]


def test_evaluate_link_output_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "dev.jsonl"
    rows = [
        {"mention": "carcinoma hepatocelular", "cui": "C2239176", "context": "ignored"},
        {"mention": "linfonodos", "cuis": ["C0024204", "C0007097"]},
        {"mention": "adenocarcinoma de próstata", "cui": "C9999999"},  # unknown CUI counts as a miss
    ]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out_file = tmp_path / "m" / "metrics.json"
    code, out, _ = run(
        capsys, "evaluate", "link", "--lang", "pt", "--data", str(data), "--out", str(out_file)
    )
    metrics = json.loads(out)
    assert code == 0 and metrics == json.loads(out_file.read_text())
    assert metrics["n"] == 3 and metrics["acc_at_1"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["acc_at_5"] == pytest.approx(2 / 3, abs=1e-4) and metrics["n_gold_not_in_kb"] == 1


def test_export_ttl_and_sparql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "onto.ttl"
    assert run(capsys, "ontology", "export", "--format", "ttl", "--out", str(out_file))[0] == 0
    assert '"carcinoma hepatocelular"@pt' in out_file.read_text(encoding="utf-8").lower()
    query = 'SELECT ?l WHERE { umls:C2239176 skos:prefLabel ?l FILTER(lang(?l) = "sw") }'
    code, out, _ = run(capsys, "ontology", "sparql", query, "--json")
    assert code == 0 and len(json.loads(out)) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["link", "", "--lang", "en"], "empty"),
        (["link", "   \t ", "--lang", "en"], "empty"),
        (["link", "carcinoma", "--lang", "fr"], "unsupported language 'fr'"),
        (["ontology", "lookup", "carcinoma", "--lang", "xx"], "supported: en, pt, hi, sw"),
        (["link", "x" * 1_000_000, "--lang", "en"], "limit"),
        (["evaluate", "link", "--lang", "en", "--data", "/nonexistent/file.jsonl"], "no such file"),
        (["ontology", "sparql", "SELEC nothing"], "SPARQL syntax error"),
        (["train-teacher", "--data-dir", "/nonexistent/data"], "data file not found"),
        (["train-teacher", "--lexical-weight", "1.5"], "must be in"),
        (["train-teacher", "--base-model", "hf:nobody/not-cached"], "not in the local Hugging Face cache"),
        (["evaluate", "classify", "--lang", "pt", "--data", "/nonexistent.jsonl"], "no such file"),
        (["evaluate", "classify", "--lang", "xx", "--data", "/nonexistent.jsonl"], "supported"),
        (["evaluate", "retrieve", "--lang", "sw", "--data", "/nonexistent.tsv"], "no such file"),
        (["distill", "--lang", "hi", "--base-model", "hf:nobody/not-cached"], "local Hugging Face cache"),
    ],
)
def test_user_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"mention": "x", "cui": "C0007097"}\nnot json\n', ":2: not valid JSON"),
        ('{"mention": "", "cui": "C0007097"}\n', "'mention' must be a non-empty string"),
        ('{"mention": "carcinoma"}\n', "needs 'cui'"),
        ("[1, 2]\n", "expected a JSON object"),
        ("", "no rows"),
    ],
)
def test_malformed_evaluation_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(content, encoding="utf-8")
    code, _, err = run(capsys, "evaluate", "link", "--lang", "en", "--data", str(data))
    assert code == 2 and message in err and "Traceback" not in err


def test_stdin_bytes_that_are_not_utf8_fail_cleanly() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cmkd_med.cli", "link", "--lang", "en"],
        input=b"carcinoma \xff\xfe of the lung",
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert b"not valid UTF-8" in proc.stderr and b"Traceback" not in proc.stderr
