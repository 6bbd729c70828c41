"""Quantum fidelity loss: forward + backward time of one batch, torch simulation vs. PennyLane.

    python bench/bench_quantum.py [--batch 256] [--dim 256] [--loop-samples 32] [--threads 1]

All in one run, on the same embeddings, linear map and circuit weights:
(i) the exact batched state-vector simulation in torch (``QuantumFidelityLoss``, what training uses);
(a) one PennyLane ``default.qubit`` QNode call broadcast over the batch (torch interface, backprop);
(b) a per-sample PennyLane loop, one QNode call per pair, as the seed articles write it. (b) is timed on
``--loop-samples`` pairs and scaled linearly to the batch. A classical cosine loss is timed for scale.
One torch thread by default: at 16 amplitudes a state nothing gains from a second thread, and on a shared
2-core machine a second thread that waits for a busy core makes every variant slower by up to 50x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
import torch.nn.functional as F
from _common import save

from cmkd_med.losses.quantum_fidelity import QuantumFidelityLoss, reference_fidelity_fn


def timed(step: Callable[[], torch.Tensor], repeats: int) -> tuple[float, float]:
    """Median seconds of ``step`` (forward + backward) over ``repeats`` runs after one warm-up; its loss."""
    value = step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--loop-samples", type=int, default=32, help="pairs timed in the per-sample loop")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each PennyLane variant")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    teacher, student = torch.randn(args.batch, args.dim), torch.randn(args.batch, args.dim)
    loss = QuantumFidelityLoss(args.dim)
    fidelity = reference_fidelity_fn(loss.n_qubits, loss.n_layers)
    load = os.getloadavg()[0]

    def torch_step() -> torch.Tensor:
        loss.zero_grad()
        value = loss(teacher, student)
        value.backward()
        return value

    def broadcast_step() -> torch.Tensor:
        loss.zero_grad()
        value = (1 - fidelity(loss.angles(teacher), loss.angles(student), loss.weights)).mean()
        value.backward()
        return value

    n_loop = min(args.loop_samples, args.batch)

    def loop_step() -> torch.Tensor:
        loss.zero_grad()
        at, as_ = loss.angles(teacher[:n_loop]), loss.angles(student[:n_loop])  # (n, L, q)
        value = torch.stack([1 - fidelity(at[i], as_[i], loss.weights) for i in range(n_loop)]).mean()
        value.backward()
        return value

    student_leaf = student.clone().requires_grad_(True)

    def cosine_step() -> torch.Tensor:
        value = (1 - F.cosine_similarity(teacher, student_leaf)).mean()
        value.backward()
        return value

    torch_s, torch_loss = timed(torch_step, repeats=20)
    broadcast_s, broadcast_loss = timed(broadcast_step, repeats=args.repeats)
    loop_subset_s, _ = timed(loop_step, repeats=args.repeats)
    loop_s = loop_subset_s * args.batch / n_loop
    cosine_s, _ = timed(cosine_step, repeats=20)
    loop_note = f"timed on {n_loop} pairs ({loop_subset_s:.3f} s) and scaled x{args.batch / n_loop:g}"
    save(
        "quantum.json",
        {
            "task": f"forward + backward of the fidelity loss on {args.batch} embedding pairs (D={args.dim})",
            "circuit": f"{loss.n_qubits} qubits, {loss.n_layers} re-uploading layers, float32 inputs",
            "torch_threads": torch.get_num_threads(),
            "load_average_1min_at_start": round(load, 2),
            "seconds": {
                "torch_simulation": round(torch_s, 5),
                "pennylane_broadcast": round(broadcast_s, 4),
                "pennylane_per_sample_loop": round(loop_s, 3),
                "classical_cosine": round(cosine_s, 6),
            },
            "per_sample_loop_note": loop_note,
            "ms_per_pair": {
                "torch_simulation": round(1000 * torch_s / args.batch, 4),
                "pennylane_broadcast": round(1000 * broadcast_s / args.batch, 3),
                "pennylane_per_sample_loop": round(1000 * loop_subset_s / n_loop, 2),
            },
            "speedup_vs_per_sample_loop": round(loop_s / torch_s, 1),
            "speedup_vs_broadcast": round(broadcast_s / torch_s, 1),
            "targets": {"vs_per_sample_loop": 100, "vs_broadcast": 10},
            "loss_torch_minus_pennylane": abs(torch_loss - broadcast_loss),
            "median_of": {"torch_and_cosine": 20, "pennylane": args.repeats},
        },
    )


if __name__ == "__main__":
    main()
