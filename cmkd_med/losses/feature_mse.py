"""Feature distillation: mean squared error to the teacher's embedding."""

from __future__ import annotations

import torch
from torch import nn

from cmkd_med.losses._weights import weighted_mean


class FeatureMSELoss(nn.Module):
    r"""Multilingual knowledge distillation by feature regression (Reimers & Gurevych, EMNLP 2020).

    .. math:: \mathcal{L} = \frac{\sum_i w_i \,\tfrac1D \lVert s_i - t_i\rVert^2}{\sum_i w_i}

    with the student's embedding :math:`s_i` of a text (English or its translation) and the teacher's
    embedding :math:`t_i` of the English text, so that student(en) ≈ teacher(en) and student(L) ≈ teacher(en).

    Forward: ``student`` (B, D), ``teacher`` (B, D), optional ``weights`` (B,) (uncertainty gating) → scalar.

    >>> FeatureMSELoss()(torch.zeros(2, 4), torch.ones(2, 4))
    tensor(1.)
    """

    def forward(
        self, student: torch.Tensor, teacher: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise ValueError(f"student {tuple(student.shape)} and teacher {tuple(teacher.shape)} differ")
        return weighted_mean((student - teacher.detach()).square().mean(-1), weights)
