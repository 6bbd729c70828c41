"""The faiss retrieval index: building, modalities, exact vs approximate search, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmkd_med.errors import DataFormatError, DataNotFoundError, InvalidInputError
from cmkd_med.index import RetrievalIndex, build_index, make_index, parse_item, read_items


class FakeTeacher:
    """Deterministic stand-in for the teacher: hashes text/variants to unit vectors."""

    heads = SimpleNamespace(config=SimpleNamespace(shared_dim=8, image_dim=4))

    @staticmethod
    def _vec(key: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(sum(map(ord, key)))
        return torch.nn.functional.normalize(torch.randn(8, generator=gen), dim=0)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        return torch.stack([self._vec(t) for t in texts])

    def embed_variants(self, sets: list[tuple[str, ...]]) -> torch.Tensor:
        return torch.stack([self._vec(" ".join(s)) for s in sets])

    def embed_image(self, x: np.ndarray) -> torch.Tensor:
        return torch.nn.functional.normalize(torch.as_tensor(x) @ torch.ones(4, 8), dim=-1)


def test_build_and_search_every_modality(tmp_path: Path) -> None:
    rows = [
        {"id": "r1", "text": "clear cell renal cell carcinoma", "label": "KIRC"},
        {"id": "r2", "text": "lung adenocarcinoma", "label": "LUAD"},
        {"id": "v1", "variants": ["EGFR L858R"], "label": "LUAD"},
        {"id": "i1", "image": [0.1, 0.2, 0.3, 0.4]},
    ]
    src = tmp_path / "items.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    meta = build_index(list(read_items(src)), tmp_path / "idx", FakeTeacher(), progress=False)
    assert {m: v["n"] for m, v in meta["modalities"].items()} == {"text": 2, "variants": 1, "image": 1}
    index = RetrievalIndex(tmp_path / "idx")
    query = FakeTeacher().embed_text(["lung adenocarcinoma"])[0].numpy()
    hits = index.search(query, k=10)
    assert len(hits) == 4 and hits[0]["id"] == "r2" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert [h["id"] for h in index.search(query, k=5, modality="variants")] == ["v1"]
    assert index.search(query, k=1)[0]["preview"] == "lung adenocarcinoma"
    with pytest.raises(InvalidInputError):
        index.search(query, k=0)
    with pytest.raises(InvalidInputError):
        index.search(query, modality="audio")


def test_hnsw_agrees_with_exact_search() -> None:
    gen = np.random.default_rng(0)
    vectors = gen.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:50] + 0.1 * gen.standard_normal((50, 32)).astype(np.float32)
    _, exact = make_index(vectors, "flat").search(queries, 10)
    _, approx = make_index(vectors, "hnsw").search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    assert recall > 0.9
    assert type(make_index(vectors[:10], "auto")).__name__ == "IndexFlatIP"


def test_bad_items_are_reported_with_their_line(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="line 3"):
        parse_item({"id": "x", "text": "a", "variants": ["B"]}, 3)
    with pytest.raises(DataFormatError, match="variants"):
        parse_item({"id": "x", "variants": []}, 1)
    with pytest.raises(DataFormatError, match="id"):
        parse_item({"text": "a"}, 1)
    with pytest.raises(DataFormatError, match="duplicate"):
        build_index(
            [parse_item({"id": "a", "text": "t"}, 1)] * 2, tmp_path / "d", FakeTeacher(), progress=False
        )
    with pytest.raises(DataNotFoundError, match="index build"):
        RetrievalIndex(tmp_path / "nothing")
