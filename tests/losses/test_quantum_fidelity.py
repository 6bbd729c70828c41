"""The quantum fidelity loss: torch simulation vs. PennyLane, gradients, and the shared-circuit trap."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from cmkd_med.errors import MissingDependencyError
from cmkd_med.losses.functional import (
    cnot_ring_permutation,
    encoding_layer,
    reuploading_states,
    state_fidelity,
    trainable_layer,
    zero_state,
)
from cmkd_med.losses.quantum_fidelity import (
    QuantumFidelityLoss,
    reference_fidelity_fn,
    reference_state_qnode,
)


def _random_angles(*shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return (2 * torch.rand(*shape, dtype=dtype) - 1) * math.pi


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_states_and_fidelities_agree_with_pennylane(dtype: torch.dtype) -> None:
    pytest.importorskip("pennylane", reason="pennylane is the reference definition of the circuit")
    torch.manual_seed(0)
    a, b = _random_angles(5, 2, 4, dtype=dtype), _random_angles(5, 2, 4, dtype=dtype)
    weights = 2 * math.pi * torch.rand(2, 4, 2, dtype=dtype)
    states = reference_state_qnode(n_qubits=4, n_layers=2)
    mine = reuploading_states(a, weights).to(torch.complex128)  # (5, 16)
    assert torch.allclose(states(a.double(), weights.double()), mine, atol=1e-5)  # broadcast call
    assert torch.allclose(states(a[2].double(), weights.double()), mine[2], atol=1e-5)  # one sample
    fidelity = reference_fidelity_fn(n_qubits=4, n_layers=2)
    expected = fidelity(a.double(), b.double(), weights.double())
    got = state_fidelity(reuploading_states(a, weights), reuploading_states(b, weights)).double()
    assert torch.allclose(got, expected, atol=1e-5)
    assert expected.std() > 1e-3  # random pairs, not a degenerate constant


def test_ring_matches_pennylane_wire_order_for_other_sizes() -> None:
    pytest.importorskip("pennylane", reason="pennylane is the reference definition of the circuit")
    torch.manual_seed(1)
    for n_qubits, n_layers in [(1, 2), (2, 1), (3, 3)]:
        a = _random_angles(3, n_layers, n_qubits)
        weights = 2 * math.pi * torch.rand(n_layers, n_qubits, 2, dtype=torch.float64)
        expected = reference_state_qnode(n_qubits, n_layers)(a, weights)
        assert torch.allclose(reuploading_states(a, weights), expected, atol=1e-10)


def test_cnot_ring_is_a_permutation_that_fixes_zero() -> None:
    perm = cnot_ring_permutation(4)
    assert sorted(perm.tolist()) == list(range(16)) and perm[0] == 0
    # |1000⟩ (index 8): CNOT(0,1) → |1100⟩, CNOT(1,2) → |1110⟩, CNOT(2,3) → |1111⟩, CNOT(3,0) → |0111⟩ = 7
    state = torch.zeros(1, 16, dtype=torch.complex64)
    state[0, 8] = 1
    assert state[:, perm].abs().argmax().item() == 7


def test_hand_written_encoding_backward_matches_finite_differences() -> None:
    torch.manual_seed(2)
    angles = _random_angles(3, 2, 4).requires_grad_()
    weights = (2 * math.pi * torch.rand(2, 4, 2, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, w: torch.view_as_real(reuploading_states(a, w)), (angles, weights), fast_mode=True
    )


def test_loss_gives_gradient_to_the_circuit_and_the_linear_map() -> None:
    torch.manual_seed(0)
    loss = QuantumFidelityLoss(dim=16)
    value = loss(torch.randn(8, 16), torch.randn(8, 16))
    value.backward()
    assert loss.weights.grad is not None and loss.weights.grad.abs().max() > 1e-3
    assert loss.to_angles.weight.grad is not None and loss.to_angles.weight.grad.abs().max() > 1e-3
    # Every layer's θ matters: no trainable layer is the last gate before the overlap.
    assert (loss.weights.grad.abs().amax(dim=(1, 2)) > 1e-4).all()


def test_shared_circuit_after_a_single_encoding_gets_no_gradient() -> None:
    """Regression test of the trap in DESIGN.md ("The 4-qubit fidelity loss — a trap")."""
    torch.manual_seed(0)
    a, b = _random_angles(8, 4), _random_angles(8, 4)
    weights = (2 * math.pi * torch.rand(2, 4, 2, dtype=torch.float64)).requires_grad_()

    def encode_then_circuit(x: torch.Tensor) -> torch.Tensor:
        state = encoding_layer(zero_state(len(x), 4, x), x)
        for layer in weights:  # the same trainable circuit U for teacher and student
            state = trainable_layer(state, layer)
        return state

    trap = (1 - state_fidelity(encode_then_circuit(a), encode_then_circuit(b))).mean()
    trap.backward()
    assert weights.grad is not None and weights.grad.abs().max() < 1e-6
    # The same single layer with the trainable rotations before the encoding does get a gradient.
    one_layer = weights[:1]  # (1, 4, 2)
    a_states, b_states = reuploading_states(a[:, None], one_layer), reuploading_states(b[:, None], one_layer)
    reuploading = (1 - state_fidelity(a_states, b_states)).mean()
    assert torch.autograd.grad(reuploading, weights)[0].abs().max() > 1e-3


def test_identical_embeddings_have_fidelity_one_and_loss_is_in_unit_interval() -> None:
    torch.manual_seed(0)
    loss = QuantumFidelityLoss(dim=8)
    x, y = torch.randn(16, 8), torch.randn(16, 8)
    assert torch.allclose(loss.fidelity(x, x), torch.ones(16), atol=1e-6)
    assert abs(loss(x, x).item()) < 1e-6
    fidelity = loss.fidelity(x, y)
    assert (fidelity > -1e-6).all() and (fidelity < 1 + 1e-6).all()
    assert 0 < loss(x, y).item() <= 1


def test_one_layer_at_zero_weights_is_the_product_of_cosines() -> None:
    # θ = 0: W(0)|0000⟩ = |0000⟩ (rotations by 0, CNOTs on |0⟩ do nothing), then RY(x_k) on each qubit gives
    # a product state, and ⟨0|RY(a)†RY(b)|0⟩ = cos((b − a)/2) per qubit.
    a = torch.tensor([[0.3, -1.2, 2.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.1, 0.4, -2.5, 3.0]], dtype=torch.float64)
    weights = torch.zeros(1, 4, 2, dtype=torch.float64)
    got = state_fidelity(reuploading_states(a[:, None], weights), reuploading_states(b[:, None], weights))
    expected = torch.prod(torch.cos((a - b) / 2) ** 2, dim=-1)
    assert torch.allclose(got, expected, atol=1e-12)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_qubits"):
        QuantumFidelityLoss(dim=8, n_qubits=0)
    with pytest.raises(ValueError, match="n_layers"):
        QuantumFidelityLoss(dim=8, n_layers=0)
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        QuantumFidelityLoss(dim=8)(torch.randn(2, 5), torch.randn(2, 5))


def test_missing_pennylane_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pennylane", None)  # makes `import pennylane` fail
    with pytest.raises(MissingDependencyError, match="pip install 'pennylane"):
        reference_state_qnode()
