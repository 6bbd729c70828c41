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

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import (
    DataFormatError,
    DataNotFoundError,
    IndexFormatError,
    InvalidInputError,
    ModelOutputError,
)
from cmkd_med.rows import validate_id
from cmkd_med.safe_io import atomic_write_bytes, atomic_write_text, dumps_strict
from cmkd_med.text import check_unicode, validate_text

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
    try:
        item_id = validate_id(row.get("id"))  # the bulk rows' rules: a surrogate id fails here (issue 17)
    except InvalidInputError as exc:
        raise DataFormatError(f"line {line}: {exc}") from None
    present = [m for m in MODALITIES if m in row]
    if len(present) != 1:
        raise DataFormatError(f"line {line}: give exactly one of 'text', 'variants', 'image' (got {present})")
    modality = present[0]
    label = row.get("label") if isinstance(row.get("label"), str) else None
    if label is not None:
        check_unicode(label, f"line {line} label")
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
        for v in value:
            check_unicode(v, f"line {line} variant")
        return Item(item_id, modality, tuple(v.strip() for v in value), label)
    if not isinstance(value, list) or not value or not all(_finite_number(v) for v in value):
        raise DataFormatError(f"line {line}: 'image' must be a list of finite numbers")
    return Item(item_id, modality, np.asarray(value, dtype=np.float32), label)


def _finite_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


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
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file; an index is a folder")
    out.mkdir(parents=True, exist_ok=True)
    faiss = _faiss()
    meta: dict[str, Any] = {"modalities": {}, "shared_dim": teacher.heads.config.shared_dim, "files": {}}
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
        if not np.isfinite(vectors).all():
            raise ModelOutputError(f"the teacher gave non-finite {modality} embeddings; index not written")
        index = make_index(vectors, kind)
        data = faiss.serialize_index(index).tobytes()
        atomic_write_bytes(out / f"{modality}.faiss", data)
        meta["files"][f"{modality}.faiss"] = _sha256(data)
        meta["modalities"][modality] = {"n": len(group), "kind": type(index).__name__}
        for i in group:
            row: dict[str, Any] = {"id": i.id, "modality": modality, "label": i.label}
            if modality == "text":
                row["preview"] = i.payload[:PREVIEW_CHARS]
            elif modality == "variants":
                row["variants"] = list(i.payload)
            rows.append(row)
    items_data = "".join(dumps_strict(row) + "\n" for row in rows).encode("utf-8")
    atomic_write_bytes(out / ITEMS_FILE, items_data)
    meta["files"][ITEMS_FILE] = _sha256(items_data)
    # written last, with the checksums of the files it describes: a half-replaced folder fails at load
    atomic_write_text(out / META_FILE, json.dumps(meta, indent=2) + "\n")
    return meta


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RetrievalIndex:
    """A saved index: ``search(vector, k, modality)`` → hits ``{id, modality, score, label, ...}``.

    Loading checks the folder (issue 17): ``index.json`` readable and consistent, each ``.faiss`` and
    ``items.jsonl`` matching its checksum there, vector counts and dimensions agreeing; a damaged folder
    raises :class:`~cmkd_med.errors.IndexFormatError` naming the file."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / META_FILE).is_file():
            raise DataNotFoundError(f"no index at {folder}: build one with `cmkd-med index build`")
        self.meta = _read_meta(folder)
        faiss = _faiss()
        files = self.meta.get("files", {})
        self.indexes: dict[str, Any] = {}
        for m, info in self.meta["modalities"].items():
            data = _read_checked(folder / f"{m}.faiss", files)
            try:
                index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
            except Exception:  # faiss raises RuntimeError for truncated or garbled files
                raise IndexFormatError(f"{folder / f'{m}.faiss'}: not a readable faiss index") from None
            if index.ntotal != info["n"] or index.d != self.meta["shared_dim"]:
                raise IndexFormatError(
                    f"{folder / f'{m}.faiss'}: {index.ntotal} vectors of dimension {index.d}, but "
                    f"{META_FILE} says {info['n']} of dimension {self.meta['shared_dim']}"
                )
            self.indexes[m] = index
        self.items: dict[str, list[dict[str, Any]]] = {m: [] for m in self.indexes}
        self._read_items(folder, files)

    def _read_items(self, folder: Path, files: dict[str, str]) -> None:
        path = folder / ITEMS_FILE
        lines = _read_checked(path, files).split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for n, line in enumerate(lines, 1):
            try:
                row = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                raise IndexFormatError(f"{path}:{n}: not valid JSON") from None
            if not isinstance(row, dict) or row.get("modality") not in self.items or "id" not in row:
                raise IndexFormatError(f"{path}:{n}: not an item of this index")
            self.items[row["modality"]].append(row)
        for m, index in self.indexes.items():
            if len(self.items[m]) != index.ntotal:
                raise IndexFormatError(
                    f"{path}: {len(self.items[m])} {m} items for {index.ntotal} vectors (truncated?)"
                )

    @property
    def modalities(self) -> list[str]:
        return list(self.indexes)

    def search(self, vector: np.ndarray, k: int = 10, modality: str | None = None) -> list[dict[str, Any]]:
        if modality is not None and modality not in MODALITIES:
            raise InvalidInputError(f"unknown modality {modality!r}; use one of {', '.join(MODALITIES)}")
        if not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        wanted = [modality] if modality is not None else self.modalities
        query = np.ascontiguousarray(np.asarray(vector).reshape(1, -1), dtype=np.float32)
        if query.shape[1] != self.meta["shared_dim"]:
            raise IndexFormatError(
                f"this index holds {self.meta['shared_dim']}-dimensional vectors and the query is "
                f"{query.shape[1]}-dimensional: rebuild it with this teacher (`cmkd-med index build`)"
            )
        if not np.isfinite(query).all():
            raise ModelOutputError("the model gave a non-finite query embedding; search refused")
        hits: list[dict[str, Any]] = []
        for m in wanted:
            if m not in self.indexes:
                continue
            scores, rows = self.indexes[m].search(query, min(k, len(self.items[m])))
            for score, row in zip(scores[0], rows[0], strict=True):
                if row >= 0:
                    hits.append({**self.items[m][row], "score": round(float(score), 4)})
        return sorted(hits, key=lambda h: -h["score"])[:k]


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / META_FILE
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise IndexFormatError(
            f"{path}: not valid JSON (damaged? rebuild with `cmkd-med index build`)"
        ) from None
    modalities = meta.get("modalities") if isinstance(meta, dict) else None
    dim = meta.get("shared_dim") if isinstance(meta, dict) else None
    files = meta.get("files", {}) if isinstance(meta, dict) else None
    if (
        not isinstance(modalities, dict)
        or not modalities
        or not set(modalities) <= set(MODALITIES)
        or not all(isinstance(v, dict) and _count(v.get("n")) for v in modalities.values())
        or not (isinstance(dim, int) and not isinstance(dim, bool) and dim > 0)
        or not isinstance(files, dict)
    ):
        raise IndexFormatError(f"{path}: not an index description (modalities, counts, dimension)")
    return meta


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _read_checked(path: Path, checksums: dict[str, str]) -> bytes:
    """The bytes of ``path``, checked against the checksum in ``index.json`` (older indexes have none)."""
    if not path.is_file():
        raise IndexFormatError(f"{path} is missing (rebuild with `cmkd-med index build`)")
    data = path.read_bytes()
    if not data:
        raise IndexFormatError(f"{path} is empty (rebuild with `cmkd-med index build`)")
    expected = checksums.get(path.name)
    if expected is not None and _sha256(data) != expected:
        raise IndexFormatError(f"{path} does not match its checksum in {META_FILE} (truncated or garbled)")
    return data
