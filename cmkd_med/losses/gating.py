"""Uncertainty gating: a sample teaches only where the teacher is confident."""

from __future__ import annotations

import torch
from torch import nn


class UncertaintyGate(nn.Module):
    r"""Hard gate on the teacher's calibrated confidence :math:`c_i = \max_k p_{ik}`.

    .. math:: w_i = \mathbb{1}[\,c_i \ge \tau\,]

    Samples the teacher is unsure of (a report window without diagnostic content, say) are kept out of the
    distillation terms instead of teaching the student the teacher's confusion; threshold 0 lets everything
    through (the "without gating" ablation). The pass rate is logged during distillation.

    Forward: ``confidence`` (B,) in [0, 1] → weights (B,) in {0, 1}.

    >>> UncertaintyGate(0.5)(torch.tensor([0.2, 0.9]))
    tensor([0., 1.])
    """

    def __init__(self, threshold: float):
        super().__init__()
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"gate threshold must be in [0, 1], got {threshold}")
        self.threshold = threshold

    def forward(self, confidence: torch.Tensor) -> torch.Tensor:
        return (confidence.detach() >= self.threshold).to(confidence.dtype)
