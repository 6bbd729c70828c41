"""Logit distillation: KL divergence to the teacher's class distribution at temperature T, scaled by T²."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmkd_med.losses._weights import weighted_mean


class LogitDistillationLoss(nn.Module):
    r"""Knowledge distillation on soft targets (Hinton, Vinyals & Dean, 2015).

    .. math::
        \mathcal{L} = T^2 \,\frac{\sum_i w_i\, \mathrm{KL}\big(p^T_i \,\Vert\, \mathrm{softmax}(z_i / T)\big)}
                                  {\sum_i w_i},
        \qquad p^T_i = \mathrm{softmax}(\log p_i / T)

    :math:`p_i` is the teacher's (calibrated) class distribution, :math:`z_i` the student's logits. The
    :math:`T^2` factor keeps the gradient scale independent of T.

    Forward: ``student_logits`` (B, C), ``teacher_probs`` (B, C), optional ``weights`` (B,) → scalar.

    >>> loss = LogitDistillationLoss(2.0)
    >>> float(loss(torch.tensor([[2.0, 0.0]]), torch.softmax(torch.tensor([[2.0, 0.0]]), -1))) < 1e-6
    True
    """

    def __init__(self, temperature: float = 2.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(
        self, student_logits: torch.Tensor, teacher_probs: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        t = self.temperature
        target = F.softmax(teacher_probs.detach().clamp_min(1e-12).log() / t, dim=-1)  # (B, C)
        log_student = F.log_softmax(student_logits / t, dim=-1)  # (B, C)
        kl = (target * (target.clamp_min(1e-12).log() - log_student)).sum(-1)  # (B,)
        return t * t * weighted_mean(kl, weights)
