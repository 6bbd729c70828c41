from __future__ import annotations

import math

import torch

from cmkd_med.losses.functional import symmetric_info_nce
from cmkd_med.losses.info_nce import InfoNCELoss


def test_info_nce_on_a_hand_computed_case() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # logits = s * I; each row: CE = -log(e^s / (e^s + 1)) = log(1 + e^-s)
    s = 2.0
    expected = math.log(1 + math.exp(-s))
    assert torch.isclose(symmetric_info_nce(a, b, s), torch.tensor(expected))


def test_same_group_pairs_are_not_negatives() -> None:
    a = torch.tensor([[1.0, 0.0], [0.9, 0.1]])
    b = torch.tensor([[0.8, 0.2], [1.0, 0.0]])
    masked = symmetric_info_nce(a, b, 10.0, groups=torch.tensor([0, 0]))
    assert torch.isclose(masked, torch.tensor(0.0), atol=1e-6)  # the only negative was a positive
    assert symmetric_info_nce(a, b, 10.0) > 0.1


def test_info_nce_module_learns_its_scale() -> None:
    loss = InfoNCELoss()
    value = loss(torch.randn(6, 4), torch.randn(6, 4))
    value.backward()
    assert loss.log_scale.grad is not None and loss.log_scale.grad != 0
