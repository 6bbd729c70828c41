"""A trained student at inference: notes in its language → teacher-space embeddings and calibrated classes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cmkd_med.config import adapters_dir
from cmkd_med.errors import AdapterFormatError
from cmkd_med.languages import normalize_lang
from cmkd_med.models.student import MAX_CONCEPTS, StudentModel
from cmkd_med.models.teacher import enable_mc_dropout, pad_chunks
from cmkd_med.models.teacher_runtime import Prediction
from cmkd_med.models.text_encoder import ChunkedTextEncoder, ChunkingConfig, autocast, autocast_dtype


class Student:
    """``Student.load("pt").predict(["laudo ..."])``; ``embed_text`` gives teacher-space vectors."""

    def __init__(self, model: StudentModel, tokenizer: Any, spec: Any, linker: Any | None):
        self.model = model.eval()
        self.windower = ChunkedTextEncoder(None, tokenizer, spec, ChunkingConfig())
        self.pad_id = tokenizer.pad_token_id
        self.linker = linker
        self.classes = list(model.config.classes)
        self.lang = model.config.lang
        self._concept_index = {c: i for i, c in enumerate(model.config.concepts)}
        self.dtype: torch.dtype | None = None  # autocast dtype of the encoder (None: float32)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device, precision: str = "float32") -> Student:
        """Run the model on ``device`` (inputs are moved there, results come back to the CPU), its encoder
        under ``precision`` (:func:`~cmkd_med.models.text_encoder.autocast_dtype`; the heads stay float32)."""
        self.model.to(device)
        self.dtype = autocast_dtype(precision, device)
        return self

    @classmethod
    def load(cls, where: str | Path, linker: Any | None = None, base_model: str | None = None) -> Student:
        """``where``: a language code (its folder under ``adapters/``) or a student folder;
        ``base_model``: a provider spec of the same base weights to load instead of the recorded one."""
        from cmkd_med.models.providers import load_encoder
        from cmkd_med.ontology.linker import get_linker

        folder = Path(where)
        asked = None
        if not folder.is_dir():
            asked = normalize_lang(str(where))
            folder = adapters_dir() / asked
        model = StudentModel.load(folder, base_model)
        if asked is not None and model.config.lang != asked:
            raise AdapterFormatError(f"{folder} holds a student for {model.config.lang!r}, not {asked!r}")
        # Loaded for inference only (training builds its Student around the live model instead): fold the
        # LoRA update into the base weights (peft's merge), so a forward pass costs what the bare base costs;
        # the same outputs up to float rounding.
        if hasattr(model.encoder, "merge_adapter"):
            model.encoder.merge_adapter()
        _, tokenizer, spec = load_encoder(model.config.base_model)
        if linker is None and model.config.entity_attention:
            linker = get_linker(model.config.lang)
        return cls(model, tokenizer, spec, linker)

    def concept_ids(self, text: str) -> list[int]:
        """Concept-table rows of the linker's mentions in ``text``, most confident first, at most 16."""
        if self.linker is None:
            return []
        mentions = sorted(self.linker.link(text), key=lambda m: -m.score)
        ids = [self._concept_index[m.cui] for m in mentions if m.cui in self._concept_index]
        return list(dict.fromkeys(ids))[:MAX_CONCEPTS]

    @torch.no_grad()
    def chunk_vectors(self, texts: Sequence[str], batch_size: int = 32) -> list[torch.Tensor]:
        """Window vectors of each note, (n_windows, H), with its concepts attended to in every window."""
        from cmkd_med.training.distill import Encoded, collate

        windows = [self.windower.windows(t) for t in texts]
        concepts = [self.concept_ids(t) for t in texts]
        flat = [(i, w) for i, ws in enumerate(windows) for w in ws]
        enc = Encoded([w for _, w in flat], [concepts[i] for i, _ in flat])
        order = sorted(range(len(flat)), key=lambda j: len(flat[j][1]))  # length buckets: little padding
        vectors = torch.zeros(len(flat), self.model.config.text_dim)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = (t.to(self.device) for t in collate(enc, rows, self.pad_id))
            with autocast(self.device, self.dtype):
                vectors[rows] = self.model.encode_windows(*batch).float().cpu()
        out, cursor = [], 0
        for ws in windows:
            out.append(vectors[cursor : cursor + len(ws)])
            cursor += len(ws)
        return out

    @torch.no_grad()
    def heads_probs(self, chunks: list[torch.Tensor], mc_samples: int | None = None) -> np.ndarray:
        """Calibrated MC-dropout class probabilities (N, C) from chunk vectors."""
        samples = mc_samples or self.model.config.mc_samples
        padded, mask = (t.to(self.device) for t in pad_chunks(chunks))
        torch.manual_seed(0)  # the same dropout masks for the same input, run to run
        if samples > 1:
            enable_mc_dropout(self.model)
        t = self.model.config.temperature
        probs = torch.softmax(self.model.mc_logits(padded, mask, samples) / t, -1).mean(0)
        self.model.eval()
        return probs.cpu().numpy()

    def predict(
        self, texts: Sequence[str], batch_size: int = 32, mc_samples: int | None = None
    ) -> Prediction:
        texts = list(texts)
        if not texts:
            return Prediction(np.zeros((0, len(self.classes))), np.zeros(0), np.zeros(0, bool), self.classes)
        # All windows of all notes are length-bucketed together (far less padding than per group of notes);
        # the heads then read batch_size notes at a time.
        chunks = self.chunk_vectors(texts, batch_size)
        probs = np.concatenate(
            [
                self.heads_probs(chunks[s : s + batch_size], mc_samples)
                for s in range(0, len(texts), batch_size)
            ]
        )
        uncertainty = 1.0 - probs.max(1)
        embeddings = self._embed_chunks(chunks, batch_size).numpy()
        return Prediction(
            probs, uncertainty, uncertainty > self.model.config.abstain_threshold, self.classes, embeddings
        )

    @torch.no_grad()
    def _embed_chunks(self, chunks: list[torch.Tensor], batch_size: int) -> torch.Tensor:
        self.model.eval()
        out = []
        for s in range(0, len(chunks), batch_size):
            padded, mask = (t.to(self.device) for t in pad_chunks(chunks[s : s + batch_size]))
            out.append(torch.nn.functional.normalize(self.model.heads(padded, mask)[0], dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.model.config.shared_dim)

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """L2-normalised teacher-space embeddings (B, D), dropout off."""
        return self._embed_chunks(self.chunk_vectors(texts, batch_size), batch_size)
