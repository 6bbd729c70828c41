"""Model configs as ``config.json`` beside their weights: written and read the same way for every model."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from cmkd_med.errors import AdapterFormatError

CONFIG_FILE = "config.json"
T = TypeVar("T")


def save_config(config: Any, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2, ensure_ascii=False) + "\n")


def load_config(cls: type[T], folder: Path, what: str, how: str) -> T:
    """``cls(**config.json)``; a missing file says ``how`` to make one, a bad one says what is wrong."""
    from cmkd_med.models.integrity import check_config, read_config

    path = folder / CONFIG_FILE
    data = read_config(folder, what, how)
    try:
        config = cls(**data)
    except TypeError as exc:
        raise AdapterFormatError(f"{path}: not a {what} config ({exc})") from None
    check_config(config, path)  # values it can run with: a temperature of 0 is refused here (issue 17)
    return config
