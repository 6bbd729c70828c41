"""Where things live: the data directory, the ontology folder, the adapters, the cache.

Every loader resolves its paths through these functions so that one environment variable moves
everything (``CMKD_DATA_DIR`` for the public data, ``CMKD_ONTOLOGY_DIR`` for a built ontology elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

from cmkd_med.errors import DataNotFoundError

DATA_DIR_ENV = "CMKD_DATA_DIR"
ONTOLOGY_DIR_ENV = "CMKD_ONTOLOGY_DIR"
CACHE_DIR_ENV = "CMKD_CACHE_DIR"

# The package lives in <root>/cmkd_med; the repository root holds ontology/, adapters/ and the data
# default ../shared/data (relative to the root, as on every developer and CI machine).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


DEFAULT_TEACHER_DIR = PROJECT_ROOT / "adapters" / "en"


def adapters_dir() -> Path:
    """The trained adapters, one folder per language (``en`` is the teacher)."""
    return PROJECT_ROOT / "adapters"


def data_dir(override: str | Path | None = None) -> Path:
    """The public data directory: ``override``, else ``$CMKD_DATA_DIR``, else ``<project>/../shared/data``."""
    if override is not None:
        path = Path(override)
    elif os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV])
    else:
        path = PROJECT_ROOT.parent / "shared" / "data"
    return path.expanduser().resolve()


def data_path(*parts: str, data_root: str | Path | None = None) -> Path:
    """A path inside the data directory that must exist; a clear error names the variable to set."""
    root = data_dir(data_root)
    path = root.joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(
            f"data file not found: {path} (set {DATA_DIR_ENV} or --data-dir to the folder that holds "
            f"{'/'.join(parts[:1])}/)"
        )
    return path


def ontology_dir(override: str | Path | None = None) -> Path:
    """The built ontology folder: ``override``, else ``$CMKD_ONTOLOGY_DIR``, else ``<project>/ontology``."""
    if override is not None:
        return Path(override).expanduser().resolve()
    if os.environ.get(ONTOLOGY_DIR_ENV):
        return Path(os.environ[ONTOLOGY_DIR_ENV]).expanduser().resolve()
    return PROJECT_ROOT / "ontology"


def curated_dir() -> Path:
    """Project-curated ontology inputs (labels and mappings no open source has); always in the repo."""
    return PROJECT_ROOT / "ontology" / "curated"


def cache_dir() -> Path:
    """Where derived artefacts (converted base models, linker indexes) are cached; never committed."""
    path = Path(os.environ[CACHE_DIR_ENV]) if os.environ.get(CACHE_DIR_ENV) else PROJECT_ROOT / ".cache"
    return path.expanduser().resolve()
