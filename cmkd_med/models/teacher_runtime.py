"""The trained teacher at inference: base encoder + heads, calibrated, with abstention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cmkd_med.config import DEFAULT_TEACHER_DIR
from cmkd_med.errors import AdapterFormatError, ModelOutputError
from cmkd_med.models.lexical import LexicalExpert, pool
from cmkd_med.models.teacher import TeacherEnsemble, TeacherInputs, pad_chunks
from cmkd_med.models.text_encoder import ChunkedTextEncoder, autocast_dtype


@dataclass
class Prediction:
    # (N, C) calibrated probabilities (MC dropout; the teacher's pooled with its lexical expert)
    probs: np.ndarray
    uncertainty: np.ndarray  # (N,) 1 - max probability
    abstained: np.ndarray  # (N,) bool
    classes: list[str]
    # (N, D) L2-normalised teacher-space embeddings of the notes, dropout off (the out-of-distribution score
    # reads them); None where a caller built a Prediction without them
    embeddings: np.ndarray | None = None

    def __post_init__(self) -> None:
        # The last guard (issue 17): a NaN never leaves a model as if it were a probability.
        if not (np.isfinite(self.probs).all() and np.isfinite(self.uncertainty).all()):
            raise ModelOutputError(
                "the model gave non-finite probabilities (a damaged adapter?); result refused"
            )

    @property
    def labels(self) -> list[str]:
        return [self.classes[i] for i in self.probs.argmax(1)]


class Teacher:
    """``Teacher.load().predict(["report text", ...])``; ``embed_text`` gives teacher-space vectors."""

    def __init__(
        self, heads: TeacherEnsemble, encoder: ChunkedTextEncoder, lexical: LexicalExpert | None = None
    ):
        self.heads = heads
        self.encoder = encoder
        self.lexical = lexical  # pooled into the class probabilities when the config gives it a weight
        self.classes = list(heads.config.classes)

    def to(self, device: str | torch.device, precision: str = "float32") -> Teacher:
        """Run the frozen body on ``device`` under ``precision``
        (:func:`~cmkd_med.models.text_encoder.autocast_dtype`); the heads are small and stay on the CPU in
        float32, with the window vectors, which the encoder brings back."""
        self.encoder.model.to(device)
        self.encoder.dtype = autocast_dtype(precision, device)
        return self

    @classmethod
    def load(cls, folder: str | Path | None = None, base_model: str | None = None) -> Teacher:
        """``base_model``: a provider spec of the same frozen body to load instead of the recorded one."""
        folder = Path(folder or DEFAULT_TEACHER_DIR)
        heads = TeacherEnsemble.load(folder)
        from cmkd_med.models.providers import base_for

        remedy = "train a teacher for it with `cmkd-med train-teacher --base-model SPEC --out DIR`"
        spec = base_for(heads.config.base_model, base_model, heads.config.text_dim, remedy)
        lexical = LexicalExpert.load(folder) if heads.config.lexical_weight > 0 else None
        if lexical is not None and len(lexical.intercept) != len(heads.config.classes):
            raise AdapterFormatError(
                f"{folder}: the lexical expert has {len(lexical.intercept)} classes, "
                f"the teacher {len(heads.config.classes)}"
            )
        return cls(heads, ChunkedTextEncoder.from_spec(spec), lexical)

    def _inputs(
        self, chunk_vectors: list[torch.Tensor], variant_sets: Sequence[tuple[str, ...]] | None
    ) -> TeacherInputs:
        chunks, mask = pad_chunks(chunk_vectors)
        sets = list(variant_sets) if variant_sets is not None else [()] * len(chunk_vectors)
        ids, offsets, present = self.heads.variant_tensors(sets)
        return TeacherInputs(chunks, mask, ids, offsets, present)

    def predict(
        self,
        texts: Sequence[str],
        variant_sets: Sequence[tuple[str, ...]] | None = None,
        batch_size: int = 32,
        progress: bool = False,
    ) -> Prediction:
        # All windows of all notes are length-bucketed together by the encoder; the heads read batch_size
        # notes at a time.
        vectors = self.encoder.encode(list(texts), progress=progress)
        probs = []
        torch.manual_seed(0)  # MC dropout: same masks for the same input, run to run
        for start in range(0, len(texts), batch_size):
            sets = variant_sets[start : start + batch_size] if variant_sets is not None else None
            probs.append(self.heads.predict_proba(self._inputs(vectors[start : start + batch_size], sets)))
        p = torch.cat(probs).numpy() if probs else np.zeros((0, len(self.classes)))
        p = self.pool_lexical(p, texts)
        uncertainty = 1.0 - p.max(1) if len(p) else np.zeros(0)
        embeddings = self._embed_vectors(vectors, batch_size)
        return Prediction(
            p, uncertainty, uncertainty > self.heads.config.abstain_threshold, self.classes, embeddings
        )

    @torch.no_grad()
    def _embed_vectors(self, vectors: list[torch.Tensor], batch_size: int) -> np.ndarray:
        """Teacher-space embeddings (N, D) of already encoded notes (the heads only: cheap)."""
        self.heads.eval()
        out = []
        for start in range(0, len(vectors), batch_size):
            chunks, mask = pad_chunks(vectors[start : start + batch_size])
            out.append(torch.nn.functional.normalize(self.heads.embed_text(chunks, mask), dim=-1))
        return torch.cat(out).numpy() if out else np.zeros((0, self.heads.config.shared_dim), np.float32)

    def pool_lexical(self, neural: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """The neural heads' (N, C) probabilities of ``texts`` pooled with the lexical expert's, as the
        config weighs them (unchanged when there is no lexical expert)."""
        if self.lexical is None or not len(neural):
            return neural
        config = self.heads.config
        return pool(
            neural, self.lexical.predict_proba(list(texts)), config.lexical_weight, config.pool_temperature
        )

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised shared-space text embeddings (B, D), dropout off."""
        self.heads.eval()
        chunks, mask = pad_chunks(self.encoder.encode(list(texts)))
        return torch.nn.functional.normalize(self.heads.embed_text(chunks, mask), dim=-1)

    @torch.no_grad()
    def embed_variants(self, sets: Sequence[tuple[str, ...]]) -> torch.Tensor:
        self.heads.eval()
        ids, offsets, _ = self.heads.variant_tensors(list(sets))
        return torch.nn.functional.normalize(self.heads.embed_variants(ids, offsets), dim=-1)

    @torch.no_grad()
    def embed_image(self, features: np.ndarray | torch.Tensor) -> torch.Tensor:
        self.heads.eval()
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        return torch.nn.functional.normalize(self.heads.embed_image(x), dim=-1)
