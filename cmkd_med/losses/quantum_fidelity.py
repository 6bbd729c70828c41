"""A 4-qubit fidelity loss between teacher and student embeddings, on a data re-uploading circuit.

Why re-uploading: if each embedding were angle-encoded once and both then passed through the same trainable
circuit U, the fidelity :math:`|\\langle U\\psi_t|U\\psi_s\\rangle|^2 = |\\langle\\psi_t|\\psi_s\\rangle|^2`
would not depend on U, and U's weights would get no gradient. Interleaving encodings with trainable layers
makes the overlap depend on them.

PennyLane defines the circuit (:func:`reference_state_qnode`, :func:`reference_fidelity_fn`); training runs
the exact batched state-vector simulation of :mod:`cmkd_med.losses.functional`, which agrees with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cmkd_med.errors import MissingDependencyError
from cmkd_med.losses._weights import weighted_mean
from cmkd_med.losses.functional import quantum_fidelity_loss, reuploading_states, state_fidelity

if TYPE_CHECKING:
    from pennylane import QNode

MAX_QUBITS = 12  # the state vector has 2**n entries per embedding


class QuantumFidelityLoss(nn.Module):
    r"""Mean infidelity of teacher and student embeddings encoded into a data re-uploading circuit.

    A learnable linear map, shared by both sides, turns an embedding into angles
    :math:`x = \pi\tanh(Ax + b)` reshaped to (L, n); the circuit prepares

    .. math::
        |\psi_\theta(x)\rangle = \prod_{l=L}^{1} S(x_l)\,W(\theta_l)\,|0\rangle^{\otimes n}, \qquad
        \mathcal{L} = \frac1B \sum_i \big(1 - |\langle\psi_\theta(t_i)|\psi_\theta(s_i)\rangle|^2\big)

    with :math:`S(x_l) = \bigotimes_k R_Y(x_{l,k})` and :math:`W(\theta_l)` per-qubit :math:`R_Z R_Y`
    rotations followed by a ring of CNOTs. The loss lies in [0, 1] and is 0 for identical embeddings.

    Args: ``dim`` embedding size D; ``n_qubits`` (4) and ``n_layers`` (2) give n × L angles per embedding.
    Forward: ``teacher`` (B, D), ``student`` (B, D) → scalar. Reference: Pérez-Salinas, Cervera-Lierta,
    Gil-Fuster, Latorre, "Data re-uploading for a universal quantum classifier", Quantum 4, 226 (2020).

    >>> loss = QuantumFidelityLoss(dim=16)
    >>> loss(torch.randn(8, 16), torch.randn(8, 16)).shape
    torch.Size([])
    """

    def __init__(self, dim: int, n_qubits: int = 4, n_layers: int = 2):
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be a positive embedding size, got {dim}")
        if not 1 <= n_qubits <= MAX_QUBITS:
            raise ValueError(f"n_qubits must be in 1..{MAX_QUBITS}, got {n_qubits}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.dim, self.n_qubits, self.n_layers = dim, n_qubits, n_layers
        self.to_angles = nn.Linear(dim, n_layers * n_qubits)
        # Uniform over a full turn, as PennyLane's TorchLayer: θ = 0 makes W(θ)|0⟩ = |0⟩, a flat start.
        self.weights = nn.Parameter(torch.empty(n_layers, n_qubits, 2).uniform_(0, 2 * math.pi))

    def angles(self, x: torch.Tensor) -> torch.Tensor:
        """Encoding angles of embeddings ``x`` (B, D) → (B, L, n), in (−π, π)."""
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"embeddings must have shape (B, {self.dim}), got {tuple(x.shape)}")
        return (math.pi * torch.tanh(self.to_angles(x))).view(-1, self.n_layers, self.n_qubits)  # (B, L, n)

    def fidelity(self, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
        """Fidelity of each pair, (B,)."""
        states = reuploading_states(self.angles(torch.cat([teacher, student])), self.weights)  # (2B, 2**n)
        return state_fidelity(*states.chunk(2))

    def forward(self, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
        if teacher.shape != student.shape:
            raise ValueError(
                f"teacher {tuple(teacher.shape)} and student {tuple(student.shape)} must have the same shape"
            )
        return quantum_fidelity_loss(self.angles(teacher), self.angles(student), self.weights)

    def fidelity_matrix(self, teacher: torch.Tensor, student: torch.Tensor) -> torch.Tensor:
        """Fidelity of every teacher row with every student row, (B, B)."""
        states = reuploading_states(self.angles(torch.cat([teacher, student])), self.weights)  # (2B, 2**n)
        psi, phi = states.chunk(2)
        overlap = psi.conj() @ phi.T  # (B, B) complex
        return overlap.real.square() + overlap.imag.square()

    def contrastive(
        self,
        teacher: torch.Tensor,
        student: torch.Tensor,
        groups: torch.Tensor | None = None,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""The infidelity of matching pairs plus the mean fidelity of non-matching ones:

        .. math:: \mathcal{L} = \frac{\sum_i w_i (1 - F_{ii})}{\sum_i w_i}
                  + \operatorname{mean}_{g_i \ne g_j} F_{ij}

        When the circuit's own parameters are trained on the infidelity alone, they can make every state the
        same (e.g. the angle map going to zero) and the loss 0 for any student. The second term, over pairs
        from different ``groups`` (B,), rules that out: the circuit must keep different texts apart, as in
        quantum metric learning (Lloyd, Schuld, Ijaz, Izaac & Killoran, arXiv:2001.03622, 2020).
        """
        if teacher.shape != student.shape:
            raise ValueError(
                f"teacher {tuple(teacher.shape)} and student {tuple(student.shape)} must have the same shape"
            )
        fid = self.fidelity_matrix(teacher, student)  # (B, B)
        positive = weighted_mean(1 - fid.diagonal(), weights)
        if groups is None:
            groups = torch.arange(len(teacher), device=teacher.device)
        different = groups[:, None] != groups[None, :]
        negative = fid[different].mean() if bool(different.any()) else fid.new_zeros(())
        return positive + negative


def _pennylane() -> Any:
    try:
        import pennylane
    except ImportError as exc:
        raise MissingDependencyError(
            "the quantum fidelity loss needs pennylane: pip install 'pennylane>=0.44'"
        ) from exc
    return pennylane


def _reuploading_template(qml: Any, angles: Any, weights: Any, n_qubits: int, n_layers: int) -> None:
    """The circuit of :func:`cmkd_med.losses.functional.reuploading_states`, gate by gate."""
    for layer in range(n_layers):
        for wire in range(n_qubits):
            qml.RY(weights[layer, wire, 0], wires=wire)
            qml.RZ(weights[layer, wire, 1], wires=wire)
        for wire in range(n_qubits if n_qubits > 1 else 0):
            qml.CNOT(wires=[wire, (wire + 1) % n_qubits])
        for wire in range(n_qubits):
            qml.RY(angles[..., layer, wire], wires=wire)  # a leading batch axis is broadcast


def reference_state_qnode(n_qubits: int = 4, n_layers: int = 2) -> QNode:
    """PennyLane ``default.qubit`` QNode ``(angles, weights) -> state``: the definition of the circuit.

    ``angles`` (L, n) or (B, L, n) (parameter broadcasting), ``weights`` (L, n, 2); torch interface,
    backprop. Returns the (2**n,) or (B, 2**n) state, wire 0 the most significant bit.
    """
    qml = _pennylane()

    @qml.qnode(qml.device("default.qubit", wires=n_qubits), interface="torch", diff_method="backprop")
    def circuit(angles: Any, weights: Any) -> Any:
        _reuploading_template(qml, angles, weights, n_qubits, n_layers)
        return qml.state()

    return circuit


def reference_fidelity_fn(
    n_qubits: int = 4, n_layers: int = 2
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    r"""``(angles_teacher, angles_student, weights) -> fidelity`` from one PennyLane QNode, compute-uncompute.

    Prepares :math:`U(s)|0\rangle`, applies :math:`U(t)^\dagger` and returns the probability of
    :math:`|0\ldots0\rangle`, which is :math:`|\langle\psi(t)|\psi(s)\rangle|^2`: one circuit per pair, so
    one call per sample, or one broadcast call for a batch of angles (B, L, n).
    """
    qml = _pennylane()

    @qml.qnode(qml.device("default.qubit", wires=n_qubits), interface="torch", diff_method="backprop")
    def circuit(angles_teacher: Any, angles_student: Any, weights: Any) -> Any:
        _reuploading_template(qml, angles_student, weights, n_qubits, n_layers)
        qml.adjoint(_reuploading_template)(qml, angles_teacher, weights, n_qubits, n_layers)
        return qml.probs(wires=range(n_qubits))

    def fidelity(
        angles_teacher: torch.Tensor, angles_student: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        return circuit(angles_teacher, angles_student, weights)[..., 0]  # P(|0…0⟩)

    return fidelity
