"""Writing files safely: strict JSON, atomic replacement, and a lock so two runs never share an output.

* :func:`dumps_strict`: JSON that any parser reads back: no bare ``NaN``/``Infinity`` (``allow_nan=False``),
  no lone surrogate written as invalid UTF-8 (such a string is escaped as ``\\udXXX``), and no character
  that a reader may take for a line break (U+0085, U+2028, U+2029 are escaped).
* :func:`atomic_write_text` / :func:`atomic_write_bytes`: a replaced file is written beside itself and moved
  over the old one (``os.replace``), so a crash leaves the old file or the new one, never half of each.
* :class:`OutputLock`: an exclusive ``flock`` on ``<out>.lock``; the kernel drops it when the process dies, so
  a run killed with SIGKILL never leaves a stale lock behind, and a second run on the same output refuses.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from cmkd_med.errors import InvalidInputError, OutputBusyError


def dumps_strict(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes ``NaN`` (raises ``ValueError``) nor a lone surrogate (escaped)."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, **kwargs)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True, allow_nan=False, **kwargs)
    # Line separators that str.splitlines() and some JSONL readers break lines at; they can only stand
    # inside strings here, so escaping them keeps one record a line for every reader.
    return text.translate(_LINE_BREAKS)


_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class OutputLock:
    """``with OutputLock(out):`` holds ``<out>.lock``; a second holder gets :class:`OutputBusyError`."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".lock")
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputBusyError(
                    f"another cmkd-med run is writing {self.out} (it holds {self.path.name}); "
                    "wait for it to finish or choose another --out"
                ) from None
            try:  # the holder before us may have removed the file after we opened it: lock the live one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
