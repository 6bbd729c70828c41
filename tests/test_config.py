from __future__ import annotations

from pathlib import Path

import pytest

from cmkd_med.config import DATA_DIR_ENV, data_dir, data_path
from cmkd_med.errors import DataNotFoundError, UnsupportedLanguageError
from cmkd_med.languages import normalize_lang


def test_data_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert data_dir() == tmp_path.resolve()
    assert data_dir(tmp_path / "x") == (tmp_path / "x").resolve()
    with pytest.raises(DataNotFoundError, match=DATA_DIR_ENV):
        data_path("tcga_reports", "train.tsv")


def test_default_data_dir_is_beside_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert data_dir().parts[-2:] == ("shared", "data")


def test_language_aliases() -> None:
    assert [normalize_lang(x) for x in ("por", "HIN", "swa", "eng", "pt-BR")] == [
        "pt",
        "hi",
        "sw",
        "en",
        "pt",
    ]
    with pytest.raises(
        UnsupportedLanguageError, match="unsupported language 'de'; supported: en, pt, hi, sw"
    ):
        normalize_lang("de")
