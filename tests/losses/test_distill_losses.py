"""The distillation losses on hand-checked tensors: values, weights, masking, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cmkd_med.losses.cross_entropy import LabelledCrossEntropy
from cmkd_med.losses.feature_mse import FeatureMSELoss
from cmkd_med.losses.gating import UncertaintyGate
from cmkd_med.losses.logit_kl import LogitDistillationLoss
from cmkd_med.losses.quantum_fidelity import QuantumFidelityLoss


def test_mse_weights_select_samples_and_teacher_gets_no_gradient() -> None:
    s = torch.tensor([[0.0, 0.0], [3.0, 3.0]], requires_grad=True)
    t = torch.zeros(2, 2, requires_grad=True)
    loss = FeatureMSELoss()(s, t, torch.tensor([1.0, 0.0]))
    assert float(loss.detach()) == 0.0  # only the first (matching) sample counts
    assert float(FeatureMSELoss()(s, t).detach()) == pytest.approx(4.5)
    FeatureMSELoss()(s, t).backward()
    assert t.grad is None and s.grad is not None


def test_mse_no_weight_anywhere_is_zero_not_nan() -> None:
    loss = FeatureMSELoss()(torch.ones(3, 2), torch.zeros(3, 2), torch.zeros(3))
    assert float(loss) == 0.0


def test_kl_zero_at_teacher_and_matches_definition() -> None:
    logits = torch.tensor([[1.0, -1.0, 0.5]])
    teacher = torch.softmax(torch.tensor([[0.2, 0.3, -0.4]]), -1)
    t = 3.0
    loss = LogitDistillationLoss(t)(logits, teacher)
    p = torch.softmax(teacher.log() / t, -1)
    expected = t * t * F.kl_div(F.log_softmax(logits / t, -1), p, reduction="batchmean")
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    same = LogitDistillationLoss(t)(teacher.log(), teacher)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        LogitDistillationLoss(0.0)


def test_cross_entropy_ignores_unlabelled_rows() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    loss = LabelledCrossEntropy()(logits, torch.tensor([0, -1]))
    assert float(loss) == pytest.approx(float(F.cross_entropy(logits[:1], torch.tensor([0]))))


def test_gate_thresholds_confidence() -> None:
    gate = UncertaintyGate(0.6)
    assert gate(torch.tensor([0.59, 0.6, 0.99])).tolist() == [0.0, 1.0, 1.0]
    assert UncertaintyGate(0.0)(torch.tensor([0.01])).tolist() == [1.0]  # the "no gating" ablation
    with pytest.raises(ValueError):
        UncertaintyGate(1.5)


def test_quantum_contrastive_penalises_a_collapsed_circuit() -> None:
    torch.manual_seed(0)
    loss = QuantumFidelityLoss(dim=8)
    t = torch.randn(6, 8)
    good = float(loss.contrastive(t, t).detach())  # matching pairs identical → positive term 0
    with torch.no_grad():  # an angle map sending everything to one state: infidelity 0 for any student
        loss.to_angles.weight.zero_()
    assert float(loss(t, torch.randn(6, 8)).detach()) == pytest.approx(0.0, abs=1e-6)
    collapsed = float(loss.contrastive(t, torch.randn(6, 8)).detach())
    assert collapsed == pytest.approx(1.0, abs=1e-5)  # the repulsion term catches it
    assert good < collapsed


def test_quantum_contrastive_trains_the_circuit() -> None:
    torch.manual_seed(1)
    loss = QuantumFidelityLoss(dim=8)
    t, s = torch.randn(5, 8), torch.randn(5, 8, requires_grad=True)
    loss.contrastive(t, s, groups=torch.tensor([0, 0, 1, 2, 3])).backward()
    assert loss.weights.grad is not None and loss.weights.grad.abs().sum() > 0
    assert s.grad is not None and s.grad.abs().sum() > 0


def test_quantum_fidelity_matrix_diagonal_is_pairwise_fidelity() -> None:
    torch.manual_seed(2)
    loss = QuantumFidelityLoss(dim=4)
    t, s = torch.randn(3, 4), torch.randn(3, 4)
    m = loss.fidelity_matrix(t, s)
    assert torch.allclose(m.diagonal(), loss.fidelity(t, s), atol=1e-6)
    assert bool(((m >= -1e-6) & (m <= 1 + 1e-6)).all()) and not math.isnan(float(m.sum().detach()))
