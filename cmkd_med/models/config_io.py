"""Model configs as ``config.json`` beside their weights: written and read the same way for every model."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from cmkd_med.errors import CmkdError, DataFormatError

CONFIG_FILE = "config.json"
T = TypeVar("T")


def save_config(config: Any, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2, ensure_ascii=False) + "\n")


def load_config(cls: type[T], folder: Path, what: str, how: str) -> T:
    """``cls(**config.json)``; a missing file says ``how`` to make one, a bad one says what is wrong."""
    path = folder / CONFIG_FILE
    if not path.exists():
        raise CmkdError(f"no {what} at {folder} ({CONFIG_FILE} missing): run `{how}`")
    try:
        return cls(**json.loads(path.read_text(encoding="utf-8")))
    except (TypeError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: not a {what} config ({exc})") from None
