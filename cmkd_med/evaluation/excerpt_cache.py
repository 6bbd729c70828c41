"""Report excerpts for the pathology and prognosis heads, and their teacher-space vectors cached on disk.

A whole TCGA report is ~9 windows of the frozen encoder; on the project's shared CPUs that is too slow for
5,200 reports, so the heads read **one** window: an excerpt of :data:`EXCERPT_CHARS` characters that starts
a little before the first staging statement (``pT2``, ``T3 N1``, ``AJCC``, ``stage``) or, failing that, the
first mention of lymph nodes, or else the start of the report. The same excerpt is taken at training and
at evaluation time, in every language (the tokens it looks for are written the same way in all four).

The vectors are cached under ``.cache/pathology/`` (:func:`cmkd_med.config.cache_dir`), keyed by report id,
and never committed: they are derived from patient text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from cmkd_med.config import cache_dir
from cmkd_med.text import despace_ocr

# ~160 word pieces: one encoder window with room to spare, and 5.6 excerpts/s on 2 shared CPU cores
# (1,200 characters ran at 2.1/s), so the 5,201 train+dev reports embed in about 15 minutes.
EXCERPT_CHARS = 600
_LEAD = 150  # characters kept before the hit, so the sentence holding it starts inside the excerpt
_STAGING = re.compile(r"\bp\s?T\s?[0-4isxX]|\bT[0-4][a-c]?\s*,?\s*N[0-3xX]|\bAJCC\b|\bTNM\b|[Ss]tag(?:e|ing)")
_NODES = re.compile(r"lymph\s+nod|linfonod|लसीका|tezi", re.IGNORECASE)

Embedder = Callable[[Sequence[str]], np.ndarray]  # texts -> (N, D) float32


_NODE_COUNT = re.compile(
    r"\b(?:no|none|zero|one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b[^.]{0,60}lymph\s+nod"
    r"|lymph\s+nod[^.]{0,120}?\d+\s*/\s*\d+",
    re.IGNORECASE,
)
KINDS = ("staging", "nodes")


def excerpt(text: str, chars: int = EXCERPT_CHARS, kind: str = "staging") -> str:
    """The ``chars``-character window of ``text`` the heads read (see the module docstring).

    ``kind="nodes"``: the window before the first lymph-node count ("0/12 lymph nodes", "two lymph
    nodes"), else the first lymph-node mention, else the end of the report (where the diagnosis sits).
    """
    text = despace_ocr(text)
    if kind == "staging":
        hit = _STAGING.search(text) or _NODES.search(text)
        start = max(0, hit.start() - _LEAD) if hit else 0
    elif kind == "nodes":
        hit = _NODE_COUNT.search(text) or _NODES.search(text)
        start = max(0, hit.start() - _LEAD) if hit else max(0, len(text) - chars)
    else:
        raise ValueError(f"unknown excerpt kind {kind!r}; available: {', '.join(KINDS)}")
    return text[start : start + chars]


def cache_path(name: str, kind: str = "staging") -> Path:
    suffix = "" if kind == "staging" else f"_{kind}"
    return cache_dir() / "pathology" / f"{name}_excerpt{EXCERPT_CHARS}{suffix}.npz"


def cached_vectors(
    name: str,
    ids: Sequence[str],
    texts: Sequence[str],
    embed: Embedder,
    batch: int = 64,
    kind: str = "staging",
) -> np.ndarray:
    """``(N, D)`` vectors of the excerpts of ``texts``, computed with ``embed`` where the cache ``name``
    lacks an id; the cache is rewritten after every batch, so an interrupted run resumes."""
    path = cache_path(name, kind)
    known = load_cached(name, kind)
    todo = [i for i, rid in enumerate(ids) if rid not in known]
    for start in range(0, len(todo), batch):
        rows = todo[start : start + batch]
        vectors = np.asarray(embed([excerpt(texts[i], kind=kind) for i in rows]), dtype=np.float32)  # (B, D)
        known.update({ids[i]: v for i, v in zip(rows, vectors, strict=True)})
        _save(path, known)
    if not ids:
        return np.zeros((0, 0), np.float32)
    return np.stack([known[rid] for rid in ids])


def load_cached(name: str, kind: str = "staging") -> dict[str, np.ndarray]:
    """The vectors cached under ``name`` so far, by report id (empty if none)."""
    path = cache_path(name, kind)
    if not path.is_file():
        return {}
    with np.load(path) as data:
        return dict(zip(data["ids"].tolist(), data["vectors"], strict=True))


def _save(path: Path, known: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")  # np.savez appends .npz to other names
    np.savez(partial, ids=np.array(list(known)), vectors=np.stack(list(known.values())))
    partial.replace(path)


def teacher_embedder(teacher_dir: str | Path | None = None) -> Embedder:
    """The English teacher's L2-normalised shared-space text embedding, as an :data:`Embedder`."""
    from cmkd_med.models.teacher_runtime import Teacher

    teacher = Teacher.load(teacher_dir)
    return lambda texts: teacher.embed_text(list(texts)).numpy()
