"""Symmetric InfoNCE alignment loss (CLIP-style)."""

from __future__ import annotations

import math

import torch
from torch import nn

from cmkd_med.losses.functional import symmetric_info_nce


class InfoNCELoss(nn.Module):
    r"""Symmetric InfoNCE with a learnable logit scale (initialised to 1/0.07, clamped at 100 as in CLIP).

    .. math::
        \mathcal{L} = \tfrac12[\mathrm{CE}(s\,\hat a\hat b^\top, I) + \mathrm{CE}(s\,\hat b\hat a^\top, I)]

    Args: ``a`` (B, D) and ``b`` (B, D) paired rows; ``groups`` (B,) optional ids of rows that are positives
    of each other (same class) and so are not used as negatives. Reference: Radford et al., 2021 (CLIP).

    >>> loss = InfoNCELoss()
    >>> loss(torch.randn(8, 16), torch.randn(8, 16)).shape
    torch.Size([])
    """

    def __init__(self, init_temperature: float = 0.07):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))

    def forward(self, a: torch.Tensor, b: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        return symmetric_info_nce(a, b, scale, groups)
