"""Per-language students: a multilingual base + LoRA + entity-aware attention + the teacher's head shape.

A student reads a note in its language (``pt``, ``hi``, ``sw``) and lands in the teacher's shared space:

* base: a multilingual encoder from the providers (bundled e5-small by default), frozen, with a LoRA adapter
  (``peft``) on the attention queries and values of its top layers;
* **entity-aware attention**: the ontology linker's mentions in the note become concept ids; their
  embeddings (initialised from the teacher's embedding of each concept's English label) are attended to by
  every token state, and the result is added back (residual, output projection zero-initialised so a fresh
  student equals its base). A learned "no concept" slot keeps notes without mentions well defined;
* windows of the note are mean-pooled as the teacher's body does, then attention pooling, a projection into
  the teacher space (a linear map onto its sphere, identity at the start, see
  :class:`~cmkd_med.models.heads.SphereProjection`) and a classifier over the 20 class concepts —
  initialised from the teacher's own heads, so before any training ``student(en) == teacher(en)`` when the
  bases agree.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cmkd_med.data.tcga import TCGA_CLASSES
from cmkd_med.errors import CmkdError, DataFormatError
from cmkd_med.models.config_io import load_config, save_config
from cmkd_med.models.heads import AttentionPooling, classifier_head, text_projection

WEIGHTS_FILE = "student.safetensors"
NULL_CONCEPT = "<none>"
MAX_CONCEPTS = 16  # concepts a note attends to (the most confident mentions first)


@dataclass
class StudentConfig:
    lang: str = "pt"
    base_model: str = "bundled:e5-small"
    text_dim: int = 384  # the base's hidden size (= the teacher body's, so the teacher's heads fit)
    shared_dim: int = 384  # the teacher space
    text_space: str = "sphere"  # the teacher's text space ("sphere" or "mlp"), mirrored by the projection
    classifier_hidden: int = 256  # as the teacher's classifier
    dropout: float = 0.2  # heads' dropout, also the MC-dropout rate at inference
    classes: list[str] = field(default_factory=lambda: list(TCGA_CLASSES))
    concepts: list[str] = field(default_factory=lambda: [NULL_CONCEPT])  # CUIs; index 0 = no concept
    lora_r: int = 8
    lora_alpha: int = 16
    lora_layers: int = 2  # LoRA on the top N transformer layers; the lower ones stay exactly the base's
    entity_attention: bool = True
    entity_heads: int = 4
    temperature: float = 1.0  # fitted after distillation on held-out code-switched reports
    abstain_threshold: float = 1.0
    mc_samples: int = 20
    teacher: dict[str, Any] = field(default_factory=dict)  # provenance: the teacher it was distilled from

    def save(self, folder: Path) -> None:
        save_config(self, folder)

    @classmethod
    def load(cls, folder: Path) -> StudentConfig:
        return load_config(cls, folder, "student", "cmkd-med distill")


class EntityAttention(nn.Module):
    r"""Token states attend to the note's concept embeddings; residual.

    .. math:: h'_t = h_t + \mathrm{MHA}(q = h_t,\; k = v = [c_\varnothing; c_1; \dots; c_M])

    Args: ``hidden`` H (token states), ``concept_dim`` D (concept embeddings), ``heads``.
    Forward: ``states`` (W, T, H), ``concepts`` (W, M, D), ``mask`` (W, M) bool → (W, T, H).
    Reference: entity-aware self-attention as in LUKE (Yamada et al., EMNLP 2020), here over linked concepts.
    """

    def __init__(self, hidden: int, concept_dim: int, heads: int = 4):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, kdim=concept_dim, vdim=concept_dim, batch_first=True)
        self.null = nn.Parameter(torch.zeros(1, 1, concept_dim))
        nn.init.zeros_(self.attn.out_proj.weight)  # a fresh module is the identity: the base is unchanged
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, states: torch.Tensor, concepts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        w = states.shape[0]
        keys = torch.cat([self.null.expand(w, 1, -1), concepts], dim=1)  # (W, 1 + M, D)
        ignore = torch.cat([torch.zeros(w, 1, dtype=torch.bool, device=mask.device), ~mask], dim=1)
        out, _ = self.attn(states, keys, keys, key_padding_mask=ignore, need_weights=False)  # (W, T, H)
        return states + out


class StudentModel(nn.Module):
    """Base encoder with LoRA, entity attention and the heads; ``forward`` maps windows to notes."""

    def __init__(self, config: StudentConfig, encoder: nn.Module):
        super().__init__()
        from peft import LoraConfig, get_peft_model

        self.config = config
        n_layers = int(getattr(encoder, "config").num_hidden_layers)  # noqa: B009 (a transformers model)
        top = list(range(max(0, n_layers - config.lora_layers), n_layers))
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=0.0,
            target_modules=["query", "value"],
            layers_to_transform=top,
            layers_pattern="layer",
        )
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5; not ours to fix
            warnings.simplefilter("ignore", FutureWarning)
            self.encoder = get_peft_model(encoder, lora)  # freezes every base weight
        self.concepts = nn.Embedding(len(config.concepts), config.shared_dim)
        self.entity = (
            EntityAttention(config.text_dim, config.shared_dim, config.entity_heads)
            if config.entity_attention
            else None
        )
        self.text_pool = AttentionPooling(config.text_dim)
        self.text_proj = text_projection(
            config.text_space, config.text_dim, config.shared_dim, config.dropout, locked=False
        )
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = classifier_head(
            config.shared_dim, len(config.classes), config.classifier_hidden, config.dropout
        )

    def train(self, mode: bool = True) -> StudentModel:
        super().train(mode)
        self.encoder.eval()  # the frozen base keeps its dropout off: deterministic, and DDP ranks agree
        return self

    def init_from_teacher(
        self, teacher_state: dict[str, torch.Tensor], concept_vectors: torch.Tensor
    ) -> list[str]:
        """Copy the teacher's text heads where their shapes fit and set the concept table; returns the heads
        copied. With the teacher's own body (e5-small) everything fits (the teacher's locked sphere projection
        has no weights: the student's starts at the identity, the same map); a base of another width (a
        768-wide BERT) keeps only the classifier, which reads the teacher space, and learns pooling and
        projection."""
        own = self.state_dict()
        fits = {
            k: v
            for k, v in teacher_state.items()
            if k.split(".")[0] in ("text_pool", "text_proj", "classifier")
            and k in own
            and own[k].shape == v.shape
        }
        copied = sorted({k.split(".")[0] for k in fits})
        for head in copied:  # a head is copied whole or not at all
            if any(k.startswith(head + ".") and k not in fits for k in own):
                raise CmkdError(f"the teacher's {head} only partly fits this student")
        if "classifier" not in copied:
            raise CmkdError("the teacher's classifier does not fit this student (different space or classes)")
        self.load_state_dict(fits, strict=False)
        with torch.no_grad():
            self.concepts.weight.copy_(concept_vectors)
        return copied

    # --- the base split at the first LoRA layer -------------------------------------------------
    # The layers below the LoRA ones never change, so distillation runs them once per training item and
    # caches their output (``lower``); each step then runs only the top layers (``upper``). transformers has
    # no public "run layers i..j" API, hence the two methods; they cover BERT-style encoders (BERT, XLM-R,
    # e5, MuRIL) and ``splittable`` says when a base is not one (training then runs the whole base).
    @property
    def _base(self) -> Any:
        return self.encoder.base_model.model

    @property
    def split(self) -> int:
        """Index of the first layer with LoRA."""
        n_layers = len(self._base.encoder.layer)
        return max(0, n_layers - self.config.lora_layers)

    @property
    def splittable(self) -> bool:
        base = self._base
        return hasattr(base, "embeddings") and hasattr(base, "encoder") and hasattr(base.encoder, "layer")

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(
            config=self._base.config, inputs_embeds=hidden, attention_mask=attention_mask
        )

    @torch.no_grad()
    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states (W, T, H) after the frozen layers below the first LoRA layer."""
        hidden = self._base.embeddings(input_ids=input_ids)
        mask = self._mask(hidden, attention_mask)
        for layer in self._base.encoder.layer[: self.split]:
            hidden = layer(hidden, mask)
        return hidden

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The LoRA layers on ``lower``'s output: last hidden states (W, T, H)."""
        mask = self._mask(hidden, attention_mask)
        for layer in self._base.encoder.layer[self.split :]:
            hidden = layer(hidden, mask)
        return hidden

    def pool(
        self,
        states: torch.Tensor,
        attention_mask: torch.Tensor,
        concept_ids: torch.Tensor,
        concept_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Token states (+ entity attention) → mean-pooled, L2-normalised window vectors (W, H)."""
        if self.entity is not None:
            states = self.entity(states, self.concepts(concept_ids), concept_mask)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (W, T, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (W, H)
        return nn.functional.normalize(pooled, dim=-1)

    def encode_windows(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        concept_ids: torch.Tensor,
        concept_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Window vectors (W, H) from token ids."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.pool(states, attention_mask, concept_ids, concept_mask)

    def heads(self, chunks: torch.Tensor, chunk_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding (B, D) in the teacher space, class logits (B, C)) from chunk vectors (B, K, H)."""
        return self._project(self.text_pool(chunks, chunk_mask))

    def _project(self, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.text_proj(self.dropout(pooled))
        return z, self.classifier(self.dropout(z))

    def mc_logits(self, chunks: torch.Tensor, chunk_mask: torch.Tensor, samples: int) -> torch.Tensor:
        """Class logits (S, B, C) of ``samples`` passes of :meth:`heads` (MC dropout when dropout is on).

        The window pooling has no dropout, so it runs once; the samples then go through the projection and
        classifier as one (S·B)-row batch instead of S small calls (about an eighth of classify time)."""
        pooled = self.text_pool(chunks, chunk_mask)  # (B, H)
        _, logits = self._project(pooled.repeat(samples, 1))  # (S·B, C), sample-major
        return logits.view(samples, len(pooled), -1)

    def forward(
        self,
        inputs: torch.Tensor,
        attention_mask: torch.Tensor,
        concept_ids: torch.Tensor,
        concept_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One window per note (training): (embedding (B, D), logits (B, C)). ``inputs`` are token ids
        (B, T), or the cached output of :meth:`lower` (B, T, H)."""
        if inputs.dim() == 3:
            vectors = self.pool(self.upper(inputs, attention_mask), attention_mask, concept_ids, concept_mask)
        else:
            vectors = self.encode_windows(inputs, attention_mask, concept_ids, concept_mask)  # (B, H)
        return self.heads(vectors.unsqueeze(1), torch.ones(len(vectors), 1, dtype=torch.bool))

    # --- persistence: only what training changed -------------------------------------------------
    def trainable_state(self) -> dict[str, torch.Tensor]:
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in names}

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        self.config.save(folder)
        # float16 on disk: three students and the teacher fit in adapters/ (25 MB budget)
        state = {k: v.detach().half().contiguous() for k, v in self.trainable_state().items()}
        save_file(state, str(folder / WEIGHTS_FILE))

    @classmethod
    def load(cls, folder: str | Path, base_model: str | None = None) -> StudentModel:
        """``base_model``: another provider spec of the same base weights (a local copy, ``hf:<id>``)
        than the one the student was distilled on."""
        from cmkd_med.models.integrity import load_state, load_tensors
        from cmkd_med.models.providers import base_for, load_encoder

        folder = Path(folder)
        config = StudentConfig.load(folder)
        weights = folder / WEIGHTS_FILE
        if not weights.exists():
            raise CmkdError(f"no student weights at {weights}: run `cmkd-med distill --lang {config.lang}`")
        remedy = (
            f"distill one for it with `cmkd-med distill --lang {config.lang} --base-model SPEC --out DIR`"
        )
        config.base_model = base_for(config.base_model, base_model, config.text_dim, remedy)
        encoder, _, _ = load_encoder(config.base_model)
        model = cls(config, encoder)
        state = load_tensors(weights)  # unreadable (truncated, garbled) or NaN weights are refused
        expected = set(model.trainable_state())
        if set(state) != expected:
            raise DataFormatError(f"{weights}: weights do not match the config (wrong or corrupt file)")
        load_state(model, {k: v.float() for k, v in state.items()}, weights, strict=False)
        return model.eval()
