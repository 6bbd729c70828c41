"""The committed adapters: small, safetensors only, every student complete."""

from __future__ import annotations

import json

import pytest

from cmkd_med.config import adapters_dir

LIMIT = 25 * 1024 * 1024


def test_adapters_stay_under_25_mb_and_hold_no_pickles() -> None:
    files = [p for p in adapters_dir().rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < LIMIT
    assert not [p for p in files if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]


@pytest.mark.parametrize("lang", ["pt", "hi", "sw"])
def test_each_student_has_its_files_and_native_examples(lang: str) -> None:
    folder = adapters_dir() / lang
    for name in (
        "config.json",
        "student.safetensors",
        "training_report.json",
        "MODEL_CARD.md",
        "examples.jsonl",
    ):
        assert (folder / name).is_file(), f"{folder / name} missing"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["lang"] == lang and len(config["classes"]) == 20
    rows = [json.loads(line) for line in (folder / "examples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and all(r["text"] and r["label"] in config["classes"] and r["provenance"] for r in rows)
