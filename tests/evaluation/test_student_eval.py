"""Student evaluation: retrieval metrics, TSV reading, the classify/retrieve commands on a tiny student."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cmkd_med.errors import DataFormatError, DataNotFoundError
from cmkd_med.evaluation.retrieve import paired_comparison, read_pairs, retrieval_metrics
from tests.conftest import requires_data


def test_retrieval_metrics_by_hand() -> None:
    keys = torch.eye(3)
    queries = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]])
    m = retrieval_metrics(queries, keys, [0, 1, 2])  # query 1 ranks its gold key second
    assert m == {"n": 3, "recall_at_1": pytest.approx(2 / 3, abs=1e-4), "recall_at_10": 1.0,
                 "mrr": pytest.approx((1 + 0.5 + 1) / 3, abs=1e-4)}  # fmt: skip


def test_paired_comparison_counts_discordant_queries_and_tests_them() -> None:
    student = np.array([True] * 10 + [False] * 2 + [True] * 88)
    base = np.array([False] * 10 + [True] * 2 + [True] * 88)
    m = paired_comparison(student, base)
    assert (m["student_only"], m["baseline_only"]) == (10, 2)
    assert m["mcnemar_exact_p"] == pytest.approx(0.0386, abs=1e-4)  # 2 · P(X ≤ 2), X ~ Bin(12, ½)
    assert paired_comparison(base, base) == {"student_only": 0, "baseline_only": 0, "mcnemar_exact_p": 1.0}
    assert paired_comparison(student[:2], base[:2])["mcnemar_exact_p"] == 0.5  # 2 of 2: 2 · ¼


def test_read_pairs_checks_columns_and_skips_empty_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.tsv"
    path.write_text("id\ten\tpt\n1\tfever\tfebre\n2\tcough\t\n3\tpain\tdor\n", encoding="utf-8")
    assert read_pairs(path, "pt") == (["fever", "pain"], ["febre", "dor"])
    with pytest.raises(DataFormatError, match="'sw'"):
        read_pairs(path, "sw")
    with pytest.raises(DataNotFoundError):
        read_pairs(tmp_path / "missing.tsv", "pt")
    (tmp_path / "bad.tsv").write_bytes(b"en\tpt\n\xff\xfe\tx\n")
    with pytest.raises(DataFormatError, match="UTF-8"):
        read_pairs(tmp_path / "bad.tsv", "pt")


@pytest.fixture(scope="module")
def tiny_student(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student") / "pt"
    encoder_dir, teacher_dir = tiny_models
    done = subprocess.run(
        [sys.executable, "-m", "cmkd_med.cli", "distill", "--lang", "pt", "--out", str(out), "--teacher",
         str(teacher_dir), "--base-model", str(encoder_dir), "--n-reports", "20", "--n-parallel", "20",
         "--max-items", "32", "--batch-size", "8", "--max-steps", "2", "--dev", "none",
         "--n-calibration", "20"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "CMKD_CACHE_DIR": str(out.parent / "cache")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@requires_data
def test_classify_and_retrieve_commands_on_a_student(
    tiny_student: Path, tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    report = json.loads((tiny_student / "training_report.json").read_text())
    assert report["calibration"]["windows"] == 20 and report["steps"] == 2
    notes = tmp_path / "notes.jsonl"
    notes.write_text(
        "\n".join(
            json.dumps({"id": str(i), "text": t, "label": y})
            for i, (t, y) in enumerate(
                [("carcinoma urotelial de bexiga", "BLCA"), ("adenocarcinoma de próstata", "PRAD")]
            )
        ),
        encoding="utf-8",
    )
    run = [sys.executable, "-m", "cmkd_med.cli", "evaluate"]
    done = subprocess.run(
        [*run, "classify", "--lang", "por", "--data", str(notes), "--student", str(tiny_student),
         "--no-baselines"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["n"] == 2 and out["lang"] == "pt" and 0.0 <= out["macro_f1"] <= 1.0 and "per_class" in out
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("en\tpt\nfever\tfebre\ncough\ttosse\nfever\tfebre alta\n", encoding="utf-8")
    done = subprocess.run(
        [*run, "retrieve", "--lang", "pt", "--data", str(pairs), "--student", str(tiny_student), "--teacher",
         str(tiny_models[1])],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["n"] == 3 and set(out["baselines"]) == {"base_model", "teacher_both_sides"}
    for m in (out, *out["baselines"].values()):
        assert 0.0 <= m["recall_at_1"] <= m["recall_at_10"] <= 1.0 and 0.0 < m["mrr"] <= 1.0
        assert m["recall_at_10"] == 1.0  # two distinct English candidates: every query is in the top 10
    for m in out["baselines"].values():  # the paired split agrees with the two recall figures
        paired = m["vs_student"]
        assert paired["student_only"] - paired["baseline_only"] == round(
            3 * (out["recall_at_1"] - m["recall_at_1"])
        )


def test_retrieve_rejects_english_queries_in_one_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("en\tpt\nfever\tfebre\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "cmkd_med.cli", "evaluate", "retrieve", "--lang", "en", "--data", str(pairs)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr and "pt, hi or sw" in done.stderr


def test_no_distillation_baseline_trains_an_english_head_on_the_base(
    tiny_models: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cmkd_med.evaluation import classify
    from cmkd_med.training import distill_data

    windows = [
        ("clear cell renal cell carcinoma kidney", "KIRC"),
        ("prostate adenocarcinoma gleason", "PRAD"),
    ] * 4
    monkeypatch.setattr(distill_data, "english_report_windows", lambda *a, **k: windows)
    monkeypatch.setattr("cmkd_med.ontology.linker.get_linker", lambda lang: type("L", (), {"link": None})())
    classes = ["KIRC", "PRAD", "LUAD"]
    out = classify.no_distillation_baseline(
        ["clear cell renal cell carcinoma kidney", "prostate adenocarcinoma gleason"],
        ["KIRC", "PRAD"],
        classes,
        str(tiny_models[0]),
    )
    assert out["n"] == 2 and out["accuracy"] == 1.0  # the training windows themselves: separable
