"""Small trainable modules of the teacher: chunk pooling and modality projections."""

from __future__ import annotations

import math

import torch
from torch import nn


class AttentionPooling(nn.Module):
    """Learned attention over a note's chunk vectors: ``softmax(w·tanh(W x_k))``-weighted sum (Ilse et al.
    2018, attention-based multiple-instance pooling), so a diagnosis chunk can outweigh boilerplate."""

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, chunks: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # chunks (B, K, H), mask (B, K) bool → (B, H)
        logits = self.score(chunks).squeeze(-1)  # (B, K)
        logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # (B, K); a row with no chunks → zeros
        return torch.einsum("bk,bkh->bh", weights, chunks)


class Projection(nn.Module):
    """Two-layer projection into the shared space (CLIP-style projection head with a residual path)."""

    def __init__(self, dim_in: int, dim_out: int, dropout: float = 0.1):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)
        self.mlp = nn.Sequential(nn.GELU(), nn.Dropout(dropout), nn.Linear(dim_out, dim_out))
        self.norm = nn.LayerNorm(dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)  # (B, D)
        return self.norm(h + self.mlp(h))


class SphereProjection(nn.Module):
    r"""The text side of the shared space: :math:`z = \sqrt{D}\,Wx / \lVert Wx \rVert`.

    ``locked`` (the teacher): no weights, :math:`W = I` — the shared space's text side *is* the frozen base
    encoder's cosine geometry, and the other modalities learn to land in it (locked-image tuning, "LiT",
    Zhai et al., CVPR 2022, with the text tower locked here). A learned projection trained on 20 classes
    (and even on translation pairs) loses neighbours the multilingual base already has: sentences the base
    pairs across languages stop pairing, which is what students are distilled into and retrieval searches.
    Unlocked (a student): a bias-free linear map, identity-initialised when the widths agree (the student
    starts in the teacher's space), orthogonally otherwise. The radius √D matches the LayerNorm outputs of
    the other modalities' :class:`Projection`.
    """

    def __init__(self, dim_in: int, dim_out: int, locked: bool = False):
        super().__init__()
        if locked and dim_in != dim_out:
            raise ValueError(f"a locked projection keeps the width: {dim_in} in, {dim_out} out")
        self.scale = math.sqrt(dim_out)
        self.linear: nn.Linear | None = None
        if not locked:
            self.linear = nn.Linear(dim_in, dim_out, bias=False)
            if dim_in == dim_out:
                nn.init.eye_(self.linear.weight)
            else:
                nn.init.orthogonal_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.linear is None else self.linear(x)  # (B, D)
        return nn.functional.normalize(h, dim=-1) * self.scale


def text_projection(kind: str, dim_in: int, dim_out: int, dropout: float, locked: bool) -> nn.Module:
    """The text projection of a teacher (``locked``) or a student: ``kind`` "sphere" (the default teacher
    space, :class:`SphereProjection`) or "mlp" (a learned :class:`Projection`, the earlier design)."""
    if kind == "sphere":
        return SphereProjection(dim_in, dim_out, locked=locked)
    if kind == "mlp":
        return Projection(dim_in, dim_out, dropout)
    raise ValueError(f"unknown text space {kind!r}: expected 'sphere' or 'mlp'")


def classifier_head(dim: int, n_classes: int, hidden: int, dropout: float) -> nn.Module:
    """Class logits from the shared space: linear (``hidden`` 0) or a one-hidden-layer MLP. Over the
    locked text space the classifier is where the nonlinearity lives, so it has a hidden layer."""
    if hidden <= 0:
        return nn.Linear(dim, n_classes)
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))


class VariantEncoder(nn.Module):
    """A set of variants (``BRAF V600E``, ``KRAS G12D``) → one vector: mean of variant and gene embeddings.

    Each variant contributes its own embedding and its gene's, so an unseen alteration of a known gene
    still carries the gene's signal. Input: flat vocabulary ids with per-set offsets (``nn.EmbeddingBag``).
    """

    def __init__(self, vocab_size: int, dim: int, dim_out: int, dropout: float = 0.1):
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, dim, mode="mean")
        self.proj = Projection(dim, dim_out, dropout)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.proj(self.bag(ids, offsets))  # (B, D)
