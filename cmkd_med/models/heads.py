"""Small trainable modules of the teacher: chunk pooling and modality projections."""

from __future__ import annotations

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
