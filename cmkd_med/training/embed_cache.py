"""Frozen-encoder chunk embeddings of a TCGA split, cached on disk in resumable shards.

Encoding the 4.6k training reports with a frozen base model takes tens of minutes on 2 CPU cores; heads are
then trained in seconds. Shards of ``shard_size`` reports are written as safetensors as they finish, so a
killed run resumes where it stopped and loses at most one shard.

    python -m cmkd_med.training.embed_cache --model bundled:minilm --split train
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from cmkd_med.config import cache_dir
from cmkd_med.data.tcga import load_tcga


@dataclass
class EmbeddedSplit:
    ids: list[str]
    labels: list[str]
    chunks: list[torch.Tensor]  # one (n_chunks, H) tensor per report


def split_dir(model: str, split: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model)
    return cache_dir() / "embeddings" / slug / split


def _save_shard(path: Path, ids: list[str], labels: list[str], chunks: list[torch.Tensor]) -> None:
    offsets = torch.tensor([0] + [len(c) for c in chunks]).cumsum(0)
    tmp = path.with_suffix(".tmp")
    save_file(
        {"emb": torch.cat(chunks).contiguous(), "offsets": offsets},
        str(tmp),
        metadata={"ids": json.dumps(ids), "labels": json.dumps(labels)},
    )
    tmp.replace(path)  # atomic: a killed run never leaves a half-written shard


def _load_shard(path: Path) -> tuple[list[str], list[str], list[torch.Tensor]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    tensors = load_file(str(path))
    offsets = tensors["offsets"].tolist()
    chunks = [tensors["emb"][offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    return json.loads(meta["ids"]), json.loads(meta["labels"]), chunks


def embed_split(
    model: str,
    split: str,
    shard_size: int = 128,
    data_root: str | Path | None = None,
    progress: bool = True,
    every: int = 1,
) -> EmbeddedSplit:
    """Chunk embeddings of every report (or every ``every``-th, for comparisons on a subset) of ``split``
    with the frozen encoder ``model``, cached."""
    reports = load_tcga(split, data_root)[::every]
    folder = split_dir(model, split if every == 1 else f"{split}_every{every}")
    folder.mkdir(parents=True, exist_ok=True)
    encoder = None
    ids: list[str] = []
    labels: list[str] = []
    chunks: list[torch.Tensor] = []
    shards = range(0, len(reports), shard_size)
    for n, start in enumerate(
        tqdm(shards, desc=f"embedding {split} ({model})", disable=not progress or None)
    ):
        part = reports[start : start + shard_size]
        path = folder / f"shard_{n:04d}.safetensors"
        want = [r.report_id for r in part]
        if path.exists():
            got = _load_shard(path)
            if got[0] == want:
                ids += got[0]
                labels += got[1]
                chunks += got[2]
                continue
        if encoder is None:
            from cmkd_med.models.text_encoder import ChunkedTextEncoder

            encoder = ChunkedTextEncoder.from_spec(model)
        vectors = encoder.encode([r.text for r in part])
        _save_shard(path, want, [r.label for r in part], vectors)
        ids += want
        labels += [r.label for r in part]
        chunks += vectors
    return EmbeddedSplit(ids, labels, chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description="cache frozen-encoder chunk embeddings of a TCGA split")
    parser.add_argument("--model", default="bundled:minilm")
    parser.add_argument("--split", default="train", choices=["train", "dev"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = embed_split(args.model, args.split)
    print(f"{len(result.ids)} reports, {sum(len(c) for c in result.chunks)} chunks")


if __name__ == "__main__":
    main()
