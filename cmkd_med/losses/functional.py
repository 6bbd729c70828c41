"""The maths of the losses as plain functions, testable on hand-computed tensors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_info_nce(
    a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float, groups: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Symmetric InfoNCE (CLIP, Radford et al. 2021) between paired rows of ``a`` and ``b``.

    .. math::
        \mathcal{L} = \tfrac12 \big[ \mathrm{CE}(s\,\hat a \hat b^\top, I)
                      + \mathrm{CE}(s\,\hat b \hat a^\top, I) \big]

    with :math:`\hat a, \hat b` L2-normalised rows (B, D) and logit scale :math:`s`. When ``groups`` (B,) is
    given, off-diagonal pairs of the same group are removed from the denominators: pairs made by class, not by
    patient, make every same-class row a true positive, not a negative (supervised-contrastive masking,
    Khosla et al. 2020).
    """
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = scale * a @ b.T  # (B, B)
    if groups is not None:
        same = groups[:, None] == groups[None, :]
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
