"""Per-sample weighting shared by the distillation losses."""

from __future__ import annotations

import torch


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``Σ w_i v_i / Σ w_i`` over (B,) values; 0 (with a zero gradient) when no sample has weight."""
    if weights is None:
        return values.mean()
    weights = weights.to(values.dtype)
    return (weights * values).sum() / weights.sum().clamp(min=1e-6)
