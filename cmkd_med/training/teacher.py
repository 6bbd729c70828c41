"""Training the teacher's heads on cached chunk embeddings (``cmkd-med train-teacher``).

The text body is frozen (its chunk vectors are cached once, :mod:`cmkd_med.training.embed_cache`); the
heads — chunk attention, projections, variant encoder, classifier — train in seconds per epoch on 2 CPU cores.
Losses per step:

* cross-entropy of the fused prediction, and of the text-only and variant-only predictions (so each modality
  alone can classify);
* symmetric InfoNCE between a report's text and a variant set sampled from its cancer type (pairing by class:
  same-class rows are not negatives);
* symmetric InfoNCE between HistoLearn patch features and the text embedding of their tissue description;
* with a learned text projection only (``text_space="mlp"``, the earlier design): symmetric InfoNCE between
  translation pairs (English and pt/hi/sw sentences of TICO-19 dev, held-out documents excluded), so the
  projection, trained on 20 classes, does not collapse non-clinical sentences together. It still lost part
  of the base's cross-lingual pairing; the default locked sphere projection keeps all of it by construction
  and needs no pair loss.

A calibration split (``calib_fraction`` of training *patients*) is held out of training: early stopping,
temperature scaling and the abstention threshold are fitted on it, so figures on ``dev`` stay out-of-sample.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from cmkd_med.errors import DataFormatError
from cmkd_med.losses.functional import symmetric_info_nce
from cmkd_med.models.teacher import (
    MultimodalTeacher,
    TeacherConfig,
    TeacherEnsemble,
    TeacherInputs,
    enable_mc_dropout,
    pad_chunks,
)
from cmkd_med.training.embed_cache import EmbeddedSplit


@dataclass
class TrainConfig:
    epochs: int = 30  # heads converge in ~20 epochs; early stopping on the calibration split picks the best
    batch_size: int = 64  # reports per step
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 13
    calib_fraction: float = 0.12  # share of training patients held out for calibration and early stopping
    max_variants: int = 4  # variant sets of 1..max_variants sampled from the report's cancer type
    p_no_variants: float = 0.4  # rows trained without a variant set (missing modality)
    p_no_text: float = 0.15  # rows trained on the variant set alone
    w_text_ce: float = 0.5
    w_variant_ce: float = 0.3
    w_align: float = 0.2
    w_image: float = 0.2
    w_translation: float = 1.0  # InfoNCE on translation pairs (0 turns it off)
    translation_batch: int = 48  # pairs per step
    translation_temperature: float = 0.07
    # lexical expert in the class-probability pool (equal weights; 0 turns it off)
    lexical_weight: float = 0.5
    # The target is selective accuracy >= 0.98 at <= 10 % abstention on dev. The calibration split
    # is small (~530 reports), so its threshold is chosen with a margin on both: 0.99 within 8 % (one binomial
    # standard deviation of a 10 % abstention rate on ~600 reports is 1.2 points).
    target_selective_accuracy: float = 0.99
    max_abstain: float = 0.08

    def training_settings(self) -> dict[str, Any]:
        """The settings that shape the neural members' training (what a checkpoint must match); the
        calibration and pooling settings above are applied after training."""
        skip = {"lexical_weight", "target_selective_accuracy", "max_abstain"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


def patient_of(report_id: str) -> str:
    return report_id[:12]  # TCGA-XX-XXXX


def calibration_mask(ids: list[str], fraction: float) -> np.ndarray:
    """Deterministic patient-level split (hash of the patient barcode): a patient's reports stay together."""

    def bucket(pid: str) -> float:
        return int(hashlib.sha256(pid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    return np.array([bucket(patient_of(i)) < fraction for i in ids])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class TeacherTrainer:
    def __init__(
        self,
        model_config: TeacherConfig,
        config: TrainConfig,
        catalog: Any | None = None,
        histo: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        pairs: torch.Tensor | None = None,
    ):
        """``catalog``: a VariantCatalog; ``histo``: (features (N, 1024), tissue ids (N,), description
        chunk vectors (T, H)) — the image branch's data; ``pairs``: (M, 2, H) base-encoder vectors of
        English sentences and their translations."""
        self.config = config
        self.catalog = catalog
        self.histo = histo
        # the pair loss trains a learned text projection; the locked (sphere) one has nothing it could move
        self.pairs = pairs if model_config.text_space == "mlp" else None
        seed_everything(config.seed)
        self.model = MultimodalTeacher(model_config)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        self.class_index = {c: i for i, c in enumerate(model_config.classes)}
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0
        self.best: tuple[float, dict[str, torch.Tensor]] | None = None
        self.history: list[dict[str, float]] = []

    # --- batches -----------------------------------------------------------------------------
    def _variant_sets(self, labels: list[str], p_missing: float) -> list[tuple[str, ...]]:
        sets: list[tuple[str, ...]] = []
        for label in labels:
            if self.catalog is None or self.rng.random() < p_missing:
                sets.append(())
            else:
                k = int(self.rng.integers(1, self.config.max_variants + 1))
                sets.append(tuple(self.catalog.sample(label, self.rng, k)))
        return sets

    def _inputs(self, chunks: list[torch.Tensor], labels: list[str], train: bool) -> TeacherInputs:
        padded, mask = pad_chunks(chunks)
        if train:  # drop the text of some rows that have a variant set (modality dropout)
            drop = torch.from_numpy(self.rng.random(len(chunks)) < self.config.p_no_text)
            sets = self._variant_sets(labels, self.config.p_no_variants)
            has_variants = torch.tensor([bool(s) for s in sets])
            mask = mask & ~(drop & has_variants).unsqueeze(1)
        else:
            sets = [()] * len(chunks)  # evaluation rows: text only
        ids, offsets, present = self.model.variant_tensors(sets)
        return TeacherInputs(padded, mask, ids, offsets, present)

    # --- one epoch ---------------------------------------------------------------------------
    def train_epoch(self, data: EmbeddedSplit, rows: np.ndarray, progress: bool = False) -> dict[str, float]:
        self.model.train()
        order = self.rng.permutation(rows)
        totals: dict[str, float] = {}
        steps = range(0, len(order), self.config.batch_size)
        for start in tqdm(steps, desc=f"epoch {self.epoch + 1}", disable=not progress or None, leave=False):
            idx = order[start : start + self.config.batch_size]
            labels = [data.labels[i] for i in idx]
            target = torch.tensor([self.class_index[x] for x in labels])
            inputs = self._inputs([data.chunks[i] for i in idx], labels, train=True)
            out = self.model(inputs)
            losses = {
                "ce": F.cross_entropy(out["logits"][out["has_classifiable"]], target[out["has_classifiable"]])
            }
            text_rows = inputs.chunk_mask.any(1) if inputs.chunk_mask is not None else None
            if text_rows is not None and text_rows.any():
                logits = self.model.classifier(self.model.dropout(out["text"]))
                losses["text_ce"] = self.config.w_text_ce * F.cross_entropy(
                    logits[text_rows], target[text_rows]
                )
            var_rows = inputs.variants_present
            if var_rows is not None and var_rows.any():
                logits = self.model.classifier(self.model.dropout(out["variants"]))
                losses["variant_ce"] = self.config.w_variant_ce * F.cross_entropy(
                    logits[var_rows], target[var_rows]
                )
                both = var_rows & text_rows if text_rows is not None else var_rows
                if both.sum() > 1:
                    losses["align"] = self.config.w_align * self.model.align_variants(
                        out["text"][both], out["variants"][both], target[both]
                    )
            if self.histo is not None:
                losses["image"] = self.config.w_image * self._image_loss()
            if self.pairs is not None and self.config.w_translation > 0:
                losses["translation"] = self.config.w_translation * self._translation_loss()
            loss = sum(losses.values())
            self.optimizer.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            self.optimizer.step()
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach()) * len(idx)
        self.epoch += 1
        return {k: v / len(order) for k, v in totals.items()}

    def _image_loss(self) -> torch.Tensor:
        """InfoNCE between a batch of patch features and the text embeddings of their tissue descriptions."""
        assert self.histo is not None
        features, tissue, descriptions = self.histo
        idx = torch.from_numpy(self.rng.choice(len(features), size=min(32, len(features)), replace=False))
        image_z = self.model.embed_image(features[idx])
        desc_chunks = descriptions.unsqueeze(1)  # (T, 1, H): one chunk per description
        desc_z = self.model.embed_text(desc_chunks, torch.ones(len(descriptions), 1, dtype=torch.bool))
        return self.model.align_image(image_z, desc_z[tissue[idx]], tissue[idx])

    def _translation_loss(self) -> torch.Tensor:
        """InfoNCE between the projections of a sample of English sentences and their translations."""
        assert self.pairs is not None
        size = min(self.config.translation_batch, len(self.pairs))
        pick = torch.from_numpy(self.rng.choice(len(self.pairs), size=size, replace=False))
        x = self.pairs[pick].reshape(2 * size, 1, -1)  # (2B, 1, H): one chunk per sentence
        z = self.model.embed_text(x, torch.ones(2 * size, 1, dtype=torch.bool)).view(size, 2, -1)
        return symmetric_info_nce(z[:, 0], z[:, 1], 1.0 / self.config.translation_temperature)

    # --- evaluation on held-out rows ---------------------------------------------------------
    def logits_of(self, data: EmbeddedSplit, rows: np.ndarray) -> torch.Tensor:
        """Logits of text-only inputs, dropout off, (N, C)."""
        return text_logits(self.model, data, rows, mc_dropout=False)

    def checkpoint(self, path: Path) -> None:
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "epoch": self.epoch,
                "rng": self.rng.bit_generator.state,
                "history": self.history,
                "best": self.best,
                "torch_rng": torch.get_rng_state(),
            },
            path,
        )

    def resume(self, path: Path) -> None:
        try:  # tensors and plain containers only: a crafted pickle in a checkpoint cannot run code (issue 17)
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            kind = type(exc).__name__
            raise DataFormatError(f"{path}: not a cmkd-med training checkpoint ({kind})") from None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history, self.best = state["epoch"], state["history"], state["best"]
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])


def fit_temperature(probs_fn: Callable[[float], torch.Tensor], y: torch.Tensor) -> float:
    """Temperature T minimising the NLL on held-out rows (Guo et al. 2017); ``probs_fn(T)`` → (N, C)."""
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        p = probs_fn(t).clamp_min(1e-12)
        return float(F.nll_loss(p.log(), y))

    return float(minimize_scalar(nll, bounds=(0.01, 10.0), method="bounded").x)


@dataclass
class Calibration:
    temperature: float
    abstain_threshold: float
    ece_before: float
    ece_after: float


def calibrate(
    logits: list[torch.Tensor],
    y: torch.Tensor,
    target_accuracy: float,
    max_abstain: float,
    lexical: np.ndarray | None = None,
    lexical_weight: float = 0.0,
) -> Calibration:
    """Temperature and abstention threshold from MC-dropout logit samples (each (N, C)) on held-out rows:
    T minimises the NLL of the mean tempered softmax — or, with the ``lexical`` expert's (N, C)
    probabilities, of the pool of the mean softmax and the lexical expert with T on the pooled
    log-probabilities (:func:`~cmkd_med.models.lexical.pool`) — then the threshold is chosen for
    ``target_accuracy`` on the rows kept with at most ``max_abstain`` abstained."""
    from cmkd_med.evaluation.metrics import choose_threshold, expected_calibration_error
    from cmkd_med.models.lexical import pool

    pooled = lexical is not None and lexical_weight > 0
    neural_t1 = torch.stack([torch.softmax(lg, -1) for lg in logits]).mean(0).numpy() if pooled else None

    def probs_at(t: float) -> torch.Tensor:
        if neural_t1 is not None:  # tempering the neural side alone left it sharpening votes (T at its bound)
            return torch.from_numpy(pool(neural_t1, lexical, lexical_weight, t))
        return torch.stack([torch.softmax(lg / t, -1) for lg in logits]).mean(0)

    temperature = fit_temperature(probs_at, y)
    probs = probs_at(temperature)
    uncertainty = 1.0 - probs.max(1).values
    threshold = choose_threshold(
        uncertainty.numpy(), (probs.argmax(1) == y).numpy(), target_accuracy, max_abstain
    )
    return Calibration(
        temperature,
        float(threshold),
        expected_calibration_error(probs_at(1.0).numpy(), y.numpy()),
        expected_calibration_error(probs.numpy(), y.numpy()),
    )


def train_teacher(
    train: EmbeddedSplit,
    out_dir: Path,
    model_config: TeacherConfig,
    config: TrainConfig,
    catalog: Any | None = None,
    histo: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    checkpoint_path: Path | None = None,
    pairs: torch.Tensor | None = None,
    texts: Sequence[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train each ensemble member (early-stopped on the calibration split), fit the lexical expert on the
    same rows' ``texts`` (aligned with ``train.ids``; none: no lexical expert), calibrate the pool and save
    it into ``out_dir``; returns a report."""
    calib = calibration_mask(train.ids, config.calib_fraction)
    fit_rows, calib_rows = np.where(~calib)[0], np.where(calib)[0]
    ensemble = TeacherEnsemble(model_config)
    members: list[dict[str, Any]] = []
    for m in range(model_config.n_members):
        member_config = replace(config, seed=config.seed + 1000 * m)
        ckpt = checkpoint_path.with_suffix(f".m{m}.pt") if checkpoint_path is not None else None
        best_state, history = _train_member(train, fit_rows, calib_rows, model_config, member_config,
                                            catalog, histo, pairs, ckpt, progress, log, tag=f"member {m + 1}/"
                                            f"{model_config.n_members}")  # fmt: skip
        ensemble.members[m].load_state_dict(best_state)
        members.append({"seed": member_config.seed, "best_epoch": min(history, key=lambda h: h["calib_nll"])
                        ["epoch"], "history": history})  # fmt: skip

    # Calibration on the held-out patients: one temperature for the ensemble's MC-dropout probabilities,
    # then the abstention threshold.
    seed_everything(config.seed)
    y_calib = torch.tensor([model_config.classes.index(train.labels[i]) for i in calib_rows])
    logits = [
        text_logits(member, train, calib_rows, mc_dropout=True)
        for member in ensemble.members
        for _ in range(model_config.mc_samples)
    ]

    lexical, lexical_calib, weight = None, None, 0.0
    if texts is not None and config.lexical_weight > 0:
        from cmkd_med.models.lexical import LexicalExpert

        log("fitting the lexical expert (TF-IDF + logistic regression) on the same training rows")
        lexical = LexicalExpert.fit(
            [texts[i] for i in fit_rows], [train.labels[i] for i in fit_rows], model_config.classes
        )
        lexical_calib, weight = lexical.predict_proba([texts[i] for i in calib_rows]), config.lexical_weight
    calibration = calibrate(
        logits, y_calib, config.target_selective_accuracy, config.max_abstain, lexical_calib, weight
    )
    model_config.lexical_weight = weight
    model_config.temperature = 1.0 if weight > 0 else calibration.temperature
    model_config.pool_temperature = calibration.temperature if weight > 0 else 1.0
    model_config.abstain_threshold = calibration.abstain_threshold
    ece_before, ece_after = calibration.ece_before, calibration.ece_after
    ensemble.save(out_dir)
    if lexical is not None:
        lexical.save(out_dir)
    report = {
        "train_reports": len(fit_rows),
        "calibration_reports": len(calib_rows),
        "members": len(members),
        "best_epoch": [x["best_epoch"] for x in members],
        "lexical_weight": weight,
        "temperature": round(calibration.temperature, 4),
        "temperature_applies_to": "pooled log-probabilities" if weight > 0 else "logits",
        "abstain_threshold": round(model_config.abstain_threshold, 4),
        "calibration_ece_before": round(ece_before, 4),
        "calibration_ece_after": round(ece_after, 4),
        "train_config": asdict(config),
        "history": members[0]["history"],
        "member_histories": [x["history"] for x in members],
    }
    (out_dir / "training_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _train_member(
    train: EmbeddedSplit,
    fit_rows: np.ndarray,
    calib_rows: np.ndarray,
    model_config: TeacherConfig,
    config: TrainConfig,
    catalog: Any | None,
    histo: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    pairs: torch.Tensor | None,
    checkpoint_path: Path | None,
    progress: bool,
    log: Callable[[str], None],
    tag: str,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    trainer = TeacherTrainer(model_config, config, catalog, histo, pairs)
    if checkpoint_path is not None and checkpoint_path.exists():
        trainer.resume(checkpoint_path)
        log(f"{tag}: resumed from {checkpoint_path} at epoch {trainer.epoch}")
    y_calib = torch.tensor([trainer.class_index[train.labels[i]] for i in calib_rows])
    while trainer.epoch < config.epochs:
        losses = trainer.train_epoch(train, fit_rows, progress)
        calib_loss = float(F.cross_entropy(trainer.logits_of(train, calib_rows), y_calib))
        trainer.history.append({"epoch": trainer.epoch, "calib_nll": calib_loss, **losses})
        if trainer.best is None or calib_loss < trainer.best[0]:
            trainer.best = (calib_loss, {k: v.clone() for k, v in trainer.model.state_dict().items()})
        if checkpoint_path is not None:
            trainer.checkpoint(checkpoint_path)
        if progress:
            log(
                f"{tag} epoch {trainer.epoch}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in trainer.history[-1].items() if k != "epoch")
            )
    assert trainer.best is not None
    return trainer.best[1], trainer.history


@torch.no_grad()
def text_logits(
    model: torch.nn.Module, data: EmbeddedSplit, rows: np.ndarray, mc_dropout: bool
) -> torch.Tensor:
    """Logits of text-only inputs (N, C); with ``mc_dropout`` each call is one MC-dropout sample."""
    if mc_dropout:
        enable_mc_dropout(model)
    else:
        model.eval()
    outs = []
    for start in range(0, len(rows), 128):
        chunks, mask = pad_chunks([data.chunks[i] for i in rows[start : start + 128]])
        outs.append(model(TeacherInputs(chunks, mask))["logits"])
    model.eval()
    return torch.cat(outs)
