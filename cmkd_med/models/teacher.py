"""The English multimodal teacher: text, variant sets and image features in one shared space.

* text: a frozen base encoder's chunk vectors (:mod:`cmkd_med.models.text_encoder`) → attention pooling →
  the locked sphere projection (:class:`~cmkd_med.models.heads.SphereProjection`): the text side of the
  space keeps the multilingual base's own geometry, the other modalities are trained into it;
* genomic: a set of variants → :class:`~cmkd_med.models.heads.VariantEncoder`;
* image: a precomputed slide/patch feature vector → projection;
* a classifier (one hidden layer) over the 20 class concepts reads the mean of the available modality
  embeddings, so any modality may be missing. Image features take part in the shared space (retrieval) but
  not in classification: no image features paired with cancer types exist to train that on (see the model
  card).

Uncertainty: a small deep ensemble of heads (Lakshminarayanan et al. 2017), each with MC dropout (Gal &
Ghahramani 2016), pooled with a lexical expert over the report text (:mod:`cmkd_med.models.lexical`) and
calibrated by temperature scaling. Member 0 defines the teacher space that students are
distilled into and retrieval uses; the ensemble only sharpens the class probabilities and their uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cmkd_med.data.tcga import TCGA_CLASSES
from cmkd_med.errors import CmkdError
from cmkd_med.losses.info_nce import InfoNCELoss
from cmkd_med.models.config_io import load_config, save_config
from cmkd_med.models.heads import (
    AttentionPooling,
    Projection,
    VariantEncoder,
    classifier_head,
    text_projection,
)

WEIGHTS_FILE = "teacher.safetensors"
UNK = "<unk>"


@dataclass
class TeacherConfig:
    base_model: str = "bundled:minilm"  # the frozen text encoder whose chunk vectors the heads read
    text_dim: int = 384  # hidden size of that encoder
    shared_dim: int = 384  # the shared latent space (students are distilled into it); = text_dim when locked
    # "sphere": the text side of the space is the frozen base's own geometry (locked, see SphereProjection);
    # "mlp": a learned projection (the earlier design, which lost cross-lingual neighbours)
    text_space: str = "sphere"
    classifier_hidden: int = 256  # hidden units of the classifier (0: linear)
    variant_dim: int = 128  # variant/gene embedding size before projection
    image_dim: int = 1024  # HistoLearn-style foundation-model patch features
    dropout: float = 0.2  # also the MC-dropout rate at inference
    classes: list[str] = field(default_factory=lambda: list(TCGA_CLASSES))
    variant_vocab: list[str] = field(default_factory=lambda: [UNK])
    temperature: float = 1.0  # fitted on the calibration split after training
    abstain_threshold: float = 1.0  # uncertainty above which classify abstains (chosen on calibration split)
    mc_samples: int = 20  # dropout samples at inference
    n_members: int = 1  # deep-ensemble members (Lakshminarayanan et al. 2017); member 0 defines the space
    lexical_weight: float = 0.0  # weight of the lexical expert in the class-probability pool (0: none)
    # with a lexical expert the heads run at temperature 1 and this one scales the pooled log-probabilities
    pool_temperature: float = 1.0

    def save(self, folder: Path) -> None:
        save_config(self, folder)

    @classmethod
    def load(cls, folder: Path) -> TeacherConfig:
        return load_config(cls, folder, "teacher", "cmkd-med train-teacher")


@dataclass
class TeacherInputs:
    """A batch; absent modalities are ``None`` or masked out per row by the ``*_present`` flags."""

    chunks: torch.Tensor | None = None  # (B, K, H) chunk vectors
    chunk_mask: torch.Tensor | None = None  # (B, K) bool
    variant_ids: torch.Tensor | None = None  # (N,) flat vocabulary ids
    variant_offsets: torch.Tensor | None = None  # (B,) start of each row's set in variant_ids
    variants_present: torch.Tensor | None = None  # (B,) bool; rows with an empty set are absent
    image: torch.Tensor | None = None  # (B, image_dim)

    def size(self) -> int:
        for t in (self.chunks, self.variant_offsets, self.image):
            if t is not None:
                return len(t)
        raise CmkdError("a teacher input needs at least one modality")


class MultimodalTeacher(nn.Module):
    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = config
        d = config.shared_dim
        self.text_pool = AttentionPooling(config.text_dim)
        self.text_proj = text_projection(config.text_space, config.text_dim, d, config.dropout, locked=True)
        self.variant_encoder = VariantEncoder(
            len(config.variant_vocab), config.variant_dim, d, config.dropout
        )
        self.image_proj = Projection(config.image_dim, d, config.dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = classifier_head(d, len(config.classes), config.classifier_hidden, config.dropout)
        self.align_variants = InfoNCELoss()
        self.align_image = InfoNCELoss()
        self._vocab = {v: i for i, v in enumerate(config.variant_vocab)}

    # --- modality encoders (each → (B, D) in the shared space) --------------------------------
    def embed_text(self, chunks: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.dropout(self.text_pool(chunks, mask)))

    def embed_variants(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.variant_encoder(ids, offsets)

    def embed_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_proj(image)

    def variant_tensors(
        self, sets: Sequence[tuple[str, ...]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ids, offsets, present) for variant sets; each variant adds its own id and its gene's."""
        ids: list[int] = []
        offsets: list[int] = []
        for variants in sets:
            offsets.append(len(ids))
            for variant in variants:
                gene = variant.split()[0]
                ids.append(self._vocab.get(variant, self._vocab.get(gene, 0)))
                ids.append(self._vocab.get(gene, 0))
        present = torch.tensor([bool(s) for s in sets])
        if not ids:  # EmbeddingBag needs at least one id; rows stay absent through `present`
            ids = [0]
        return torch.tensor(ids), torch.tensor(offsets), present

    # --- classification ----------------------------------------------------------------------
    def forward(self, inputs: TeacherInputs) -> dict[str, torch.Tensor]:
        """Shared-space embeddings per modality, the fused embedding and class logits."""
        n = inputs.size()
        out: dict[str, torch.Tensor] = {}
        total = torch.zeros(n, self.config.shared_dim)
        count = torch.zeros(n, 1)
        if inputs.chunks is not None and inputs.chunk_mask is not None:
            z = self.embed_text(inputs.chunks, inputs.chunk_mask)
            present = inputs.chunk_mask.any(dim=1, keepdim=True).float()  # (B, 1)
            out["text"] = z
            total, count = total + torch.where(present > 0, z, 0.0), count + present
        if inputs.variant_ids is not None and inputs.variant_offsets is not None:
            z = self.embed_variants(inputs.variant_ids, inputs.variant_offsets)
            present = (
                inputs.variants_present.float().unsqueeze(1)
                if inputs.variants_present is not None
                else torch.ones(n, 1)
            )
            out["variants"] = z
            total, count = total + torch.where(present > 0, z, 0.0), count + present
        if inputs.image is not None:
            out["image"] = self.embed_image(inputs.image)
        fused = total / count.clamp(min=1.0)
        out["fused"] = fused
        out["logits"] = self.classifier(self.dropout(fused))
        out["has_classifiable"] = (count > 0).squeeze(1)
        return out

    @torch.no_grad()
    def predict_proba(self, inputs: TeacherInputs, mc_samples: int | None = None) -> torch.Tensor:
        """MC-dropout mean of temperature-scaled softmax probabilities, (B, C)."""
        samples = mc_samples or self.config.mc_samples
        self.eval()
        if samples > 1:
            enable_mc_dropout(self)
        probs = torch.stack(
            [torch.softmax(self(inputs)["logits"] / self.config.temperature, dim=-1) for _ in range(samples)]
        ).mean(0)
        self.eval()
        return probs


class TeacherEnsemble(nn.Module):
    """``n_members`` teacher heads over one config; saved as one small safetensors file."""

    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = config
        self.members = nn.ModuleList([MultimodalTeacher(config) for _ in range(config.n_members)])

    @property
    def space(self) -> MultimodalTeacher:
        """The member whose shared space is *the* teacher space (embeddings, distillation, retrieval)."""
        return self.members[0]  # type: ignore[return-value]

    def embed_text(self, chunks: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.space.embed_text(chunks, mask)

    def embed_variants(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.space.embed_variants(ids, offsets)

    def embed_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.space.embed_image(image)

    def variant_tensors(
        self, sets: Sequence[tuple[str, ...]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.space.variant_tensors(sets)

    def forward(self, inputs: TeacherInputs) -> dict[str, torch.Tensor]:
        return self.space(inputs)

    @torch.no_grad()
    def predict_proba(self, inputs: TeacherInputs, mc_samples: int | None = None) -> torch.Tensor:
        """Mean over members of their MC-dropout, temperature-scaled probabilities, (B, C)."""
        return torch.stack([m.predict_proba(inputs, mc_samples) for m in self.members]).mean(0)  # type: ignore[operator]

    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder)
        # float16 on disk halves the committed size (adapters/ holds every language within 25 MB); loading
        # copies the values back into float32 parameters.
        state = {
            k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in self.state_dict().items()
        }
        save_file(state, str(folder / WEIGHTS_FILE))

    @classmethod
    def load(cls, folder: str | Path) -> TeacherEnsemble:
        from cmkd_med.models.integrity import load_state, load_tensors

        folder = Path(folder)
        config = TeacherConfig.load(folder)
        model = cls(config)
        weights = folder / WEIGHTS_FILE
        if not weights.exists():
            raise CmkdError(f"no teacher weights at {weights}: run `cmkd-med train-teacher`")
        load_state(model, load_tensors(weights), weights)  # unreadable, NaN or misfit weights refused
        return model.eval()


def enable_mc_dropout(model: nn.Module) -> None:
    """Eval mode with dropout layers on: each forward pass is one MC-dropout sample."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train()


def pad_chunks(chunks: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length chunk matrices into (B, K, H) with a (B, K) mask."""
    longest = max(len(c) for c in chunks)
    dim = chunks[0].shape[1]
    out = torch.zeros(len(chunks), longest, dim)
    mask = torch.zeros(len(chunks), longest, dtype=torch.bool)
    for i, c in enumerate(chunks):
        out[i, : len(c)] = c
        mask[i, : len(c)] = True
    return out, mask
