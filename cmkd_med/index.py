"""A retrieval index in the teacher space (``cmkd-med index build``), searched by :meth:`Pipeline.retrieve`.

Input rows (JSONL), one item each: ``{"id": str, "text": str}`` (an English report),
``{"id": str, "variants": ["BRAF V600E", ...]}`` (a variant set) or ``{"id": str, "image": [float, ...]}``
(a slide/patch feature vector of the teacher's image size); an optional ``"label"`` is kept and shown with
hits. The teacher embeds each item in its modality; each modality gets its own faiss index of L2-normalised
vectors (inner product = cosine): exact (``IndexFlatIP``) for small collections, HNSW (``IndexHNSWFlat``)
from :data:`HNSW_FROM` items. A query embedded by any language's model is searched against every modality,
so a Hindi question can return a variant set or a slide.

Files in the index folder: ``index.json`` (modalities, kinds, teacher), ``<modality>.faiss`` and
``items.jsonl`` (id, modality, label, and for text the first :data:`PREVIEW_CHARS` characters).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import DataFormatError, DataNotFoundError, InvalidInputError
from cmkd_med.text import validate_text

MODALITIES = ("text", "variants", "image")
# below this an exact scan takes ~13 ms per query or less on 2 cores (bench/index_search.py)
HNSW_FROM = 50_000
HNSW_M = 32  # graph degree
HNSW_EF_SEARCH = 256  # search breadth (bench/index_search.py: recall@10 vs exact at 10k and 100k items)
PREVIEW_CHARS = 200
META_FILE = "index.json"
ITEMS_FILE = "items.jsonl"


@dataclass
class Item:
    id: str
    modality: str
    payload: Any  # str, tuple[str, ...] or np.ndarray
    label: str | None = None


def parse_item(row: Any, line: int) -> Item:
    if not isinstance(row, dict):
        raise DataFormatError(f"line {line}: expected a JSON object")
    item_id = row.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise DataFormatError(f"line {line}: 'id' must be a non-empty string")
    present = [m for m in MODALITIES if m in row]
    if len(present) != 1:
        raise DataFormatError(f"line {line}: give exactly one of 'text', 'variants', 'image' (got {present})")
    modality = present[0]
    label = row.get("label") if isinstance(row.get("label"), str) else None
    value = row[modality]
    if modality == "text":
        return Item(item_id, modality, validate_text(value, f"line {line} text"), label)
    if modality == "variants":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v.strip() for v in value)
        ):
            raise DataFormatError(f"line {line}: 'variants' must be a non-empty list of strings")
        return Item(item_id, modality, tuple(v.strip() for v in value), label)
    if not isinstance(value, list) or not value or not all(isinstance(v, int | float) for v in value):
        raise DataFormatError(f"line {line}: 'image' must be a list of numbers")
    return Item(item_id, modality, np.asarray(value, dtype=np.float32), label)


def read_items(path: str | Path) -> Iterator[Item]:
    from cmkd_med.evaluation.jsonl import iter_jsonl

    for line, row in iter_jsonl(path):
        yield parse_item(row, line)


def _faiss() -> Any:
    import faiss

    return faiss


def make_index(vectors: np.ndarray, kind: str = "auto") -> Any:
    """A faiss index over L2-normalised ``vectors`` (N, D): ``flat`` (exact), ``hnsw`` or ``auto``."""
    faiss = _faiss()
    if kind not in ("auto", "flat", "hnsw"):
        raise InvalidInputError(f"unknown index kind {kind!r}; use auto, flat or hnsw")
    if kind == "auto":
        kind = "hnsw" if len(vectors) >= HNSW_FROM else "flat"
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build_index(
    items: list[Item], out: str | Path, teacher: Any, kind: str = "auto", progress: bool = True
) -> dict[str, Any]:
    """Embed ``items`` with ``teacher`` (a :class:`~cmkd_med.models.teacher_runtime.Teacher`) and save."""
    from tqdm import tqdm

    if not items:
        raise DataFormatError("no items to index")
    repeated = [x for x, n in Counter(i.id for i in items).items() if n > 1]
    if repeated:
        raise DataFormatError(f"duplicate id {repeated[0]!r} in the index input")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    faiss = _faiss()
    meta: dict[str, Any] = {"modalities": {}, "shared_dim": teacher.heads.config.shared_dim}
    rows: list[dict[str, Any]] = []
    for modality in MODALITIES:
        group = [i for i in items if i.modality == modality]
        if not group:
            continue
        chunks = []
        step = 64
        for s in tqdm(range(0, len(group), step), desc=f"embedding {modality}", disable=not progress or None):
            part = group[s : s + step]
            if modality == "text":
                chunks.append(teacher.embed_text([i.payload for i in part]))
            elif modality == "variants":
                chunks.append(teacher.embed_variants([i.payload for i in part]))
            else:
                sizes = {len(i.payload) for i in part}
                if sizes != {teacher.heads.config.image_dim}:
                    raise DataFormatError(f"image vectors must have {teacher.heads.config.image_dim} values")
                chunks.append(teacher.embed_image(np.stack([i.payload for i in part])))
        vectors = np.concatenate([c.numpy() for c in chunks]).astype(np.float32)
        index = make_index(vectors, kind)
        faiss.write_index(index, str(out / f"{modality}.faiss"))
        meta["modalities"][modality] = {"n": len(group), "kind": type(index).__name__}
        for i in group:
            row: dict[str, Any] = {"id": i.id, "modality": modality, "label": i.label}
            if modality == "text":
                row["preview"] = i.payload[:PREVIEW_CHARS]
            elif modality == "variants":
                row["variants"] = list(i.payload)
            rows.append(row)
    with (out / ITEMS_FILE).open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


class RetrievalIndex:
    """A saved index: ``search(vector, k, modality)`` → hits ``{id, modality, score, label, ...}``."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / META_FILE).is_file():
            raise DataNotFoundError(f"no index at {folder}: build one with `cmkd-med index build`")
        faiss = _faiss()
        self.meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self.indexes = {m: faiss.read_index(str(folder / f"{m}.faiss")) for m in self.meta["modalities"]}
        self.items: dict[str, list[dict[str, Any]]] = {m: [] for m in self.indexes}
        with (folder / ITEMS_FILE).open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                self.items[row["modality"]].append(row)

    @property
    def modalities(self) -> list[str]:
        return list(self.indexes)

    def search(self, vector: np.ndarray, k: int = 10, modality: str | None = None) -> list[dict[str, Any]]:
        if modality is not None and modality not in MODALITIES:
            raise InvalidInputError(f"unknown modality {modality!r}; use one of {', '.join(MODALITIES)}")
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        wanted = [modality] if modality is not None else self.modalities
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        hits: list[dict[str, Any]] = []
        for m in wanted:
            if m not in self.indexes:
                continue
            scores, rows = self.indexes[m].search(query, min(k, len(self.items[m])))
            for score, row in zip(scores[0], rows[0], strict=True):
                if row >= 0:
                    hits.append({**self.items[m][row], "score": round(float(score), 4)})
        return sorted(hits, key=lambda h: -h["score"])[:k]
