"""Cross-entropy on the rows that have a label."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cmkd_med.losses._weights import weighted_mean


class LabelledCrossEntropy(nn.Module):
    r"""Cross-entropy where labels exist: rows with label −1 (parallel text, terminology) do not count.

    .. math:: \mathcal{L} = \frac{\sum_{i:\,y_i \ge 0} w_i\,(-\log \mathrm{softmax}(z_i)_{y_i})}
                                 {\sum_{i:\,y_i \ge 0} w_i}

    Forward: ``logits`` (B, C), ``labels`` (B,) long with −1 for unlabelled rows, optional ``weights`` (B,).

    >>> LabelledCrossEntropy()(torch.zeros(2, 4), torch.tensor([-1, -1]))
    tensor(0.)
    """

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        known = labels >= 0
        w = known.to(logits.dtype) if weights is None else known.to(logits.dtype) * weights
        ce = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")  # (B,)
        return weighted_mean(ce, w)
