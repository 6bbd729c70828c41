"""The maths of the losses as plain functions, testable on hand-computed tensors."""

from __future__ import annotations

from typing import Any

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


# The quantum fidelity loss: an exact, batched state-vector simulation of the data re-uploading circuit
# defined (with PennyLane) in :mod:`cmkd_med.losses.quantum_fidelity`. States are (B, 2**n) complex tensors;
# wire 0 is the most significant bit of the basis index, as in PennyLane. At 16 amplitudes a state, time goes
# to the number of tensor operations and to their memory layout, not to arithmetic. So inside the circuit a
# batch is held as real "planes" (2, 2**n, B), real and imaginary parts with the batch last (every
# elementwise operation then runs over a contiguous batch axis); a shared layer is one real matrix product;
# and the per-sample encoding has a hand-written backward. Timings: bench/bench_quantum.py.


def zero_state(batch: int, n_qubits: int, like: torch.Tensor) -> torch.Tensor:
    """``batch`` copies of :math:`|0\\ldots0\\rangle`, (batch, 2**n), complex of ``like``'s precision."""
    dtype = torch.complex128 if like.dtype == torch.float64 else torch.complex64
    state = torch.zeros(batch, 2**n_qubits, dtype=dtype, device=like.device)
    state[:, 0] = 1
    return state


def cnot_ring_permutation(n_qubits: int, device: torch.device | None = None) -> torch.Tensor:
    r"""Basis-index permutation ``p`` (2**n,) of the CNOT ring: ``state[..., p]`` applies the ring.

    The ring is :math:`\mathrm{CNOT}_{n-1,0}\cdots\mathrm{CNOT}_{1,2}\,\mathrm{CNOT}_{0,1}` (control, target),
    the first applied first; it is empty for one qubit. A CNOT flips the target bit where the control bit is
    set, so it permutes basis states and the whole ring is one gather.
    """
    index = torch.arange(2**n_qubits, device=device)
    perm = index.clone()
    pairs = [(k, (k + 1) % n_qubits) for k in range(n_qubits)] if n_qubits > 1 else []
    for control, target in pairs:
        bit = (index >> (n_qubits - 1 - control)) & 1
        perm = perm[index ^ (bit << (n_qubits - 1 - target))]  # later gates index earlier results
    return perm


def rotation_gates(weights: torch.Tensor) -> torch.Tensor:
    r"""Gates :math:`R_Z(\phi)R_Y(\theta)` for ``weights`` (..., 2) = (θ, φ), as (..., 2, 2) complex.

    .. math:: R_Z(\phi)R_Y(\theta) = \begin{pmatrix}
                e^{-i\phi/2}\cos\frac\theta2 & -e^{-i\phi/2}\sin\frac\theta2 \\
                e^{i\phi/2}\sin\frac\theta2 & e^{i\phi/2}\cos\frac\theta2 \end{pmatrix}
    """
    cos, sin = torch.cos(weights[..., 0] / 2), torch.sin(weights[..., 0] / 2)
    phase = torch.polar(torch.ones_like(cos), weights[..., 1] / 2)  # e^{iφ/2}
    gate = torch.stack([phase.conj() * cos, -phase.conj() * sin, phase * sin, phase * cos], -1)
    return gate.unflatten(-1, (2, 2))


def layer_unitary(weights: torch.Tensor) -> torch.Tensor:
    r"""Matrix (..., 2**n, 2**n) of the trainable layer for ``weights`` (..., n, 2), (RY, RZ) angles a qubit.

    .. math:: W(\theta) = \mathrm{CNOT_{ring}}\,\bigotimes_{k=0}^{n-1} R_Z(\theta_{k,1})\,R_Y(\theta_{k,0})

    Wire 0 is the leftmost (most significant) factor. Its cost does not grow with the batch.
    """
    gates = rotation_gates(weights)  # (..., n, 2, 2)
    n_qubits = gates.shape[-3]
    out = gates[..., 0, :, :]
    for wire in range(1, n_qubits):
        gate, size = gates[..., wire, :, :], out.shape[-1]
        out = out[..., :, None, :, None] * gate[..., None, :, None, :]  # Kronecker product, (..., m, 2, m, 2)
        out = out.reshape(*out.shape[:-4], 2 * size, 2 * size)
    return out[..., cnot_ring_permutation(n_qubits, out.device), :]  # the ring permutes rows


def trainable_layer(state: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Apply :func:`layer_unitary` of ``weights`` (n, 2), shared by the batch, to ``state`` (B, 2**n)."""
    return state @ layer_unitary(weights).T


def _to_planes(state: torch.Tensor) -> torch.Tensor:
    return torch.stack([state.real.T, state.imag.T])  # (B, 2**n) complex → (2, 2**n, B) real


def _from_planes(planes: torch.Tensor) -> torch.Tensor:
    return torch.complex(planes[0], planes[1]).T  # (2, 2**n, B) real → (B, 2**n) complex


def _real_block(unitary: torch.Tensor) -> torch.Tensor:
    """(..., N, N) complex → (..., 2N, 2N) real, acting on stacked planes as the unitary on states."""
    re, im = unitary.real, unitary.imag
    return torch.cat([torch.cat([re, -im], -1), torch.cat([im, re], -1)], -2)


def _ry_on_every_wire(planes: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    r""":math:`\bigotimes_k (c_k I + s_k J)`, :math:`J = \begin{pmatrix}0&-1\\1&0\end{pmatrix}`, on planes.

    ``planes`` (2, 2**n, B); ``cos``, ``sin`` (n, B). RY is real, so it acts alike on both planes.
    """
    n_qubits, batch = cos.shape
    for wire in range(n_qubits):
        v0, v1 = planes.reshape(-1, 2, 2 ** (n_qubits - 1 - wire), batch).unbind(1)  # (2 × left, right, B)
        planes = torch.stack([cos[wire] * v0 - sin[wire] * v1, sin[wire] * v0 + cos[wire] * v1], 1)
    return planes.reshape(2, -1, batch)


class _RYEncoding(torch.autograd.Function):
    r"""RY on every wire with per-sample angles, on planes, with an analytic backward.

    :math:`R_Y(x) = cI + sJ` with :math:`c, s = \cos\frac x2, \sin\frac x2`, so
    :math:`\partial_{x_k}\psi' = \tfrac12 J_k\psi'` and :math:`\partial L/\partial x_k = \tfrac12\langle g,
    J_k\psi'\rangle`; the map is orthogonal, so the state gradient is :math:`\bigotimes_k R_Y(-x_k)\,g`.
    This is about twice as fast as autograd through :func:`_ry_on_every_wire`.
    """

    @staticmethod
    def forward(ctx: Any, planes: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        cos, sin = torch.cos(angles.T / 2).contiguous(), torch.sin(angles.T / 2).contiguous()  # (n, B)
        out = _ry_on_every_wire(planes, cos, sin)
        ctx.save_for_backward(out, cos, sin)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        out, cos, sin = ctx.saved_tensors
        n_qubits, batch = cos.shape
        grad_planes = _ry_on_every_wire(grad, cos, -sin) if ctx.needs_input_grad[0] else None
        grad_angles = None
        if ctx.needs_input_grad[1]:
            per_wire = []
            for wire in range(n_qubits):
                shape = (-1, 2, 2 ** (n_qubits - 1 - wire), batch)
                (g0, g1), (o0, o1) = grad.reshape(shape).unbind(1), out.reshape(shape).unbind(1)
                per_wire.append((g1 * o0 - g0 * o1).sum((0, 1)))  # ⟨g, Jψ'⟩ with Jψ' = (−ψ'₁, ψ'₀)
            grad_angles = 0.5 * torch.stack(per_wire, 1)  # (B, n)
        return grad_planes, grad_angles


def encoding_layer(state: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    r"""Angle encoding :math:`S(x) = \bigotimes_k R_Y(x_k)`: ``angles`` (B, n) on ``state`` (B, 2**n)."""
    return _from_planes(_RYEncoding.apply(_to_planes(state), angles.to(state.real.dtype)))


def reuploading_states(angles: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r"""States of the data re-uploading circuit (Pérez-Salinas et al., Quantum 4, 226, 2020).

    .. math:: |\psi(x)\rangle = \prod_{l=L}^{1} S(x_l)\,W(\theta_l)\;|0\rangle^{\otimes n}

    each layer a :func:`trainable_layer` then an :func:`encoding_layer`. No trainable layer is the last gate,
    so every :math:`\theta_l` changes the overlap of two such states.

    Args: ``angles`` (B, L, n) encoding angles; ``weights`` (L, n, 2) trainable (RY, RZ) angles a qubit.
    Returns: (B, 2**n) complex states.
    """
    batch, n_layers, n_qubits = angles.shape
    if weights.shape != (n_layers, n_qubits, 2):
        raise ValueError(f"weights must have shape {(n_layers, n_qubits, 2)}, got {tuple(weights.shape)}")
    blocks = _real_block(layer_unitary(weights)).to(angles.dtype)  # (L, 2 × 2**n, 2 × 2**n)
    planes = _to_planes(zero_state(batch, n_qubits, angles))  # (2, 2**n, B)
    for layer in range(n_layers):
        planes = (blocks[layer] @ planes.reshape(2 * 2**n_qubits, batch)).reshape(2, -1, batch)
        planes = _RYEncoding.apply(planes, angles[:, layer])
    return _from_planes(planes)


def state_fidelity(psi: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    r"""Fidelity :math:`|\langle\psi|\phi\rangle|^2` of paired pure states (B, 2**n) → (B,)."""
    overlap = (psi.conj() * phi).sum(-1)
    return overlap.real.square() + overlap.imag.square()  # |z|² without abs(), smooth at z = 0


def quantum_fidelity_loss(
    angles_teacher: torch.Tensor, angles_student: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    r"""Mean infidelity of re-uploading states of paired teacher and student angles.

    .. math:: \mathcal{L} = \frac1B\sum_i \big(1 - |\langle\psi_\theta(t_i)|\psi_\theta(s_i)\rangle|^2\big)

    Args: ``angles_teacher``, ``angles_student`` (B, L, n); ``weights`` (L, n, 2), shared. Both sides are
    simulated in one batch of 2B states.
    """
    states = reuploading_states(torch.cat([angles_teacher, angles_student]), weights)  # (2B, 2**n)
    psi, phi = states.chunk(2)
    return (1 - state_fidelity(psi, phi)).mean()
