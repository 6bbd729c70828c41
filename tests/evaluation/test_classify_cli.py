"""``cmkd-med evaluate classify``: the exact output interface, on a small untrained teacher (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmkd_med.cli import main
from cmkd_med.models.teacher import TeacherConfig, TeacherEnsemble

KEYS = {"n", "accuracy", "macro_f1", "ece", "abstain_rate", "selective_accuracy", "per_class"}


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("teacher")
    TeacherEnsemble(TeacherConfig(base_model="bundled:minilm", text_dim=384, mc_samples=2)).save(folder)
    return folder


def classify(data: Path, teacher_dir: Path, *extra: str) -> int:
    argv = ["evaluate", "classify", "--lang", "en", "--data", str(data), "--teacher", str(teacher_dir)]
    return main([*argv, "--no-baselines", *extra])


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_output_interface(tmp_path: Path, teacher_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_rows(
        tmp_path / "d.jsonl",
        [
            {"id": "a", "text": "Clear cell renal cell carcinoma, Fuhrman grade 2.", "label": "KIRC"},
            {"id": "b", "text": "Prostatic adenocarcinoma, Gleason 3+4=7.", "label": "PRAD"},
            {"id": "c", "text": "Invasive high grade urothelial carcinoma.", "label": "blca"},
        ],
    )
    out = tmp_path / "m.json"
    code = classify(data, teacher_dir, "--out", str(out))
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and set(result) >= KEYS and result == json.loads(out.read_text())
    assert result["n"] == 3 and 0 <= result["accuracy"] <= 1 and 0 <= result["ece"] <= 1
    assert set(result["per_class"]) >= {"KIRC", "PRAD", "BLCA"}  # labels are case-normalised


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "a", "text": "   ", "label": "KIRC"}, "empty"),
        ({"id": "a", "label": "KIRC"}, "'text' must be a string"),
        ({"id": 3, "text": "x", "label": "KIRC"}, "'id' must be a string"),
    ],
)
def test_bad_rows_are_one_line_errors(
    tmp_path: Path,
    teacher_dir: Path,
    capsys: pytest.CaptureFixture[str],
    row: dict[str, object],
    message: str,
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(row) + "\n", encoding="utf-8")
    code = classify(data, teacher_dir)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_teacher_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_rows(tmp_path / "d.jsonl", [{"id": "a", "text": "carcinoma", "label": "KIRC"}])
    code = main(
        ["evaluate", "classify", "--lang", "en", "--data", str(data), "--teacher", str(tmp_path / "none")]
    )
    assert code == 2 and "train-teacher" in capsys.readouterr().err
