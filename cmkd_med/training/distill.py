"""``cmkd-med distill --lang L``: distil the English teacher into a per-language student.

Per step, on a batch of :class:`~cmkd_med.training.distill_data.DistillItem` (student text, English source):

* ``mse``      feature MSE to the teacher embedding of the English source (student(en) ≈ teacher(en) and
  student(L) ≈ teacher(en));
* ``nce``      symmetric InfoNCE between student and teacher embeddings, items of the same source masked;
* ``kl``       logit distillation, KL at temperature T scaled by T², against the teacher's calibrated class
  distribution;
* ``ce``       cross-entropy on the report windows' labels;
* ``quantum``  1 − fidelity of teacher and student embeddings in a 4-qubit data re-uploading circuit, with a
  repulsion term on non-matching pairs so its trainable circuit cannot collapse to a constant state.

**Uncertainty gating**: a report window teaches (all its terms) only when the teacher's calibrated confidence
on its English source reaches ``gate_threshold``; parallel text and terminology always teach the embedding
terms and never the class terms (the teacher's class distribution over a COVID sentence means nothing).

**Scale**: the same command runs under ``torchrun --nproc_per_node N``. Every rank builds the same global
batch, encodes its slice, and all-gathers the student outputs (with gradients), so each rank computes the
loss of the whole batch; gradients through the gather sum over ranks and DDP averages them, which equals the
single-process gradient of the same batch (tested against a single-process run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cmkd_med.config import cache_dir
from cmkd_med.losses.cross_entropy import LabelledCrossEntropy
from cmkd_med.losses.feature_mse import FeatureMSELoss
from cmkd_med.losses.gating import UncertaintyGate
from cmkd_med.losses.info_nce import InfoNCELoss
from cmkd_med.losses.logit_kl import LogitDistillationLoss
from cmkd_med.losses.quantum_fidelity import QuantumFidelityLoss
from cmkd_med.models.student import MAX_CONCEPTS, StudentModel
from cmkd_med.training.distill_data import DistillCorpus, DistillItem

REPORT_KINDS = ("report_en", "report_cs")


@dataclass
class DistillConfig:
    epochs: int = 5  # the dev notes pick the best epoch (the untrained student included)
    batch_size: int = 32
    max_tokens: int = 128  # tokens a training item is cut to (report windows are ~90 words)
    lr: float = 3e-4  # LoRA, entity attention, concept table
    head_lr: float = 5e-5  # the heads start from the teacher's: move them gently
    weight_decay: float = 0.01
    seed: int = 13
    w_mse: float = 1.0
    w_nce: float = 1.0
    w_kl: float = 1.0
    w_ce: float = 0.5
    w_quantum: float = 0.5
    kd_temperature: float = 2.0
    gating: bool = True
    gate_threshold: float = 0.6  # teacher confidence a report window needs to teach
    quantum: bool = True
    max_steps: int | None = None  # stop early (tests, quick trials)
    checkpoint_every: int = 25


# --- distributed helpers ---------------------------------------------------------------------
def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed() -> bool:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); gloo on CPU, NCCL on GPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend)
    return True


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank in rank order, differentiably; identity in one process."""
    if world()[1] == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x))


def barrier() -> None:
    if world()[1] > 1:
        torch.distributed.barrier()


# --- batches -----------------------------------------------------------------------------------
@dataclass
class Encoded:
    """Token ids and concept ids of every item, fixed before training."""

    input_ids: list[list[int]]
    concept_ids: list[list[int]]


def collate(enc: Encoded, rows: list[int], pad_id: int) -> tuple[torch.Tensor, ...]:
    longest = max(len(enc.input_ids[r]) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)  # (B, T)
    most = max(1, max(len(enc.concept_ids[r]) for r in rows))
    cids = torch.zeros((len(rows), most), dtype=torch.long)  # (B, M); 0 = the "no concept" slot
    cmask = torch.zeros((len(rows), most), dtype=torch.bool)  # (B, M)
    for i, r in enumerate(rows):
        seq = enc.input_ids[r]
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        concepts = enc.concept_ids[r][:MAX_CONCEPTS]
        cids[i, : len(concepts)] = torch.tensor(concepts, dtype=torch.long)
        cmask[i, : len(concepts)] = True
    return ids, mask, cids, cmask


@dataclass
class Targets:
    """The teacher's outputs on each English source: raw embedding (S, D) and calibrated probs (S, C)."""

    embedding: torch.Tensor
    probs: torch.Tensor

    @property
    def confidence(self) -> torch.Tensor:
        return self.probs.max(1).values


class DistillLosses(nn.Module):
    """All loss terms with their trainable parts (InfoNCE scale, the quantum circuit)."""

    def __init__(self, config: DistillConfig, dim: int):
        super().__init__()
        self.config = config
        self.mse = FeatureMSELoss()
        self.nce = InfoNCELoss()
        self.kl = LogitDistillationLoss(config.kd_temperature)
        self.ce = LabelledCrossEntropy()
        self.gate = UncertaintyGate(config.gate_threshold if config.gating else 0.0)
        self.quantum = QuantumFidelityLoss(dim) if config.quantum else None

    def forward(
        self,
        z: torch.Tensor,
        logits: torch.Tensor,
        items: list[DistillItem],
        targets: Targets,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        src = torch.tensor([it.source for it in items])
        t_z, t_p = targets.embedding[src], targets.probs[src]  # (B, D), (B, C)
        is_report = torch.tensor([it.kind in REPORT_KINDS for it in items])
        passes = self.gate(t_p.max(1).values)  # (B,) 1.0 where the teacher is confident enough
        teach = torch.where(is_report, passes, torch.ones_like(passes))  # embedding terms
        teach_cls = is_report.float() * passes  # class terms: confident report windows only
        labels = torch.tensor([it.label for it in items])
        terms = {
            "mse": c.w_mse * self.mse(z, t_z, teach),
            "nce": c.w_nce * self.nce(z, t_z, groups=src),
            "kl": c.w_kl * self.kl(logits, t_p, teach_cls),
            "ce": c.w_ce * self.ce(logits, labels, teach_cls),
        }
        if self.quantum is not None:
            terms["quantum"] = c.w_quantum * self.quantum.contrastive(t_z, z, groups=src, weights=teach)
        total = torch.stack(list(terms.values())).sum()
        stats = {k: float(v.detach()) for k, v in terms.items()}
        stats["gate_pass"] = float(passes[is_report].mean()) if bool(is_report.any()) else float("nan")
        return total, stats


class Distiller:
    """One student's training state: model, losses, optimiser, data order; checkpointable."""

    def __init__(
        self,
        model: StudentModel,
        config: DistillConfig,
        corpus: DistillCorpus,
        encoded: Encoded,
        targets: Targets,
        pad_id: int,
        lower: list[torch.Tensor] | None = None,
    ):
        """``lower``: cached hidden states of each item below the LoRA layers (T_i, H), if the base splits."""
        self.config = config
        self.lower = lower
        self.model = model
        self.corpus = corpus
        self.encoded = encoded
        self.targets = targets
        self.pad_id = pad_id
        self.losses = DistillLosses(config, model.config.shared_dim)
        heads = {"text_pool", "text_proj", "classifier"}
        head_params: list[nn.Parameter] = []
        other: list[nn.Parameter] = []
        for name, p in model.named_parameters():
            if p.requires_grad:
                (head_params if name.split(".")[0] in heads else other).append(p)
        self.optimizer = torch.optim.AdamW(
            [
                {"params": other + list(self.losses.parameters()), "lr": config.lr},
                {"params": head_params, "lr": config.head_lr},
            ],
            weight_decay=config.weight_decay,
        )
        self.step = 0
        self.history: list[dict[str, float]] = []
        # the caller's epoch-selection state (dev scores, best weights so far): checkpointed with the rest,
        # so a resumed run still knows the best epoch it had before it was stopped
        self.selection: dict[str, Any] = {}
        rank, size = world()
        if config.batch_size % size:
            from cmkd_med.errors import InvalidInputError

            raise InvalidInputError(f"--batch-size {config.batch_size} must be divisible by {size} processes")
        self.rank, self.size = rank, size
        self.ddp: nn.Module = model
        if size > 1:
            self.ddp = nn.parallel.DistributedDataParallel(model)

    def batches(self) -> list[list[int]]:
        """Every epoch's global batches, the same on every rank (seeded), last partial batch dropped.

        Length-bucketed: items are shuffled, cut into pools of 50 batches, each pool sorted by length and cut
        into batches, and the batches shuffled — a batch of 8-token labels is not padded to a 128-token report
        window (half the compute on this corpus)."""
        out: list[list[int]] = []
        b = self.config.batch_size
        lengths = [len(ids) for ids in self.encoded.input_ids]
        for epoch in range(self.config.epochs):
            rng = np.random.default_rng(self.config.seed + epoch)
            order = rng.permutation(len(self.corpus.items))
            epoch_batches: list[list[int]] = []
            for start in range(0, len(order), 50 * b):
                pool = sorted(order[start : start + 50 * b].tolist(), key=lambda r: lengths[r])
                epoch_batches.extend(pool[s : s + b] for s in range(0, len(pool) - b + 1, b))
            out.extend(epoch_batches[i] for i in rng.permutation(len(epoch_batches)))
        if self.config.max_steps is not None:
            out = out[: self.config.max_steps]
        return out

    def train_step(self, rows: list[int]) -> dict[str, float]:
        self.model.train()
        self.losses.train()
        per = len(rows) // self.size
        local = rows[self.rank * per : (self.rank + 1) * per]
        ids, mask, cids, cmask = collate(self.encoded, local, self.pad_id)
        inputs = ids
        if self.lower is not None:
            inputs = torch.zeros(*ids.shape, self.lower[0].shape[1])  # (b, T, H)
            for i, r in enumerate(local):
                inputs[i, : len(self.lower[r])] = self.lower[r].float()
        z, logits = self.ddp(inputs, mask, cids, cmask)
        z_all, logits_all = gather(z), gather(logits)
        loss, stats = self.losses(z_all, logits_all, [self.corpus.items[r] for r in rows], self.targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], 1.0)
        self.optimizer.step()
        self.step += 1
        stats["loss"] = float(loss.detach())
        self.history.append({"step": self.step, **stats})
        return stats

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": self.model.trainable_state(),
            "losses": self.losses.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
            "selection": self.selection,
            "torch_rng": torch.get_rng_state(),  # the heads' dropout masks continue as if never stopped
        }

    def checkpoint(self, path: Path) -> None:
        if self.rank != 0:
            return
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)  # atomic: a killed run never leaves half a checkpoint

    def resume(self, path: Path) -> None:
        # our own checkpoint, written by this command: tensors, numbers and lists only
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])  # first: it fails on a foreign checkpoint
        self.model.load_state_dict(state["model"], strict=False)
        self.losses.load_state_dict(state["losses"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.selection = dict(state.get("selection", {}))
        torch.set_rng_state(state["torch_rng"])

    def run(
        self,
        checkpoint_path: Path | None,
        progress: bool = True,
        on_epoch: Callable[[int], None] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        from tqdm import tqdm

        batches = self.batches()
        per_epoch = max(1, len(batches) // self.config.epochs) if self.config.max_steps is None else 0
        bar = tqdm(
            total=len(batches),
            initial=self.step,
            desc=f"distilling {self.model.config.lang}",
            disable=not progress or self.rank != 0 or None,
        )
        while self.step < len(batches):
            stats = self.train_step(batches[self.step])
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", gate=f"{stats['gate_pass']:.2f}")
            epoch_end = per_epoch and self.step % per_epoch == 0
            if on_epoch is not None and epoch_end:
                on_epoch(self.step // per_epoch)  # before the checkpoint: it holds this epoch's selection
            if checkpoint_path is not None and (epoch_end or self.step % self.config.checkpoint_every == 0):
                self.checkpoint(checkpoint_path)
        bar.close()
        if checkpoint_path is not None:
            self.checkpoint(checkpoint_path)


def summarize_history(history: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each logged term over the run (gate pass rate included)."""
    keys = sorted({k for h in history for k in h if k != "step"})
    out = {}
    for k in keys:
        values = [h[k] for h in history if k in h and not np.isnan(h[k])]
        out[k] = round(float(np.mean(values)), 4) if values else float("nan")
    return out


def cache_root(lang: str) -> Path:
    return cache_dir() / "distill" / lang


def save_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
