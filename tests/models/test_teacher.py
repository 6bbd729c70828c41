"""The teacher's heads on tiny synthetic chunk vectors: shapes, missing modalities, training, persistence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from cmkd_med.models.heads import AttentionPooling
from cmkd_med.models.teacher import (
    MultimodalTeacher,
    TeacherConfig,
    TeacherEnsemble,
    TeacherInputs,
    pad_chunks,
)
from cmkd_med.training.embed_cache import EmbeddedSplit
from cmkd_med.training.teacher import TrainConfig, calibration_mask, train_teacher

CLASSES = ["KIRC", "LUAD", "PRAD"]


class TinyCatalog:
    vocabulary: ClassVar[list[str]] = ["VHL", "VHL R167Q", "KRAS", "KRAS G12C", "SPOP", "SPOP F133V"]
    by_class: ClassVar[dict[str, list[str]]] = {
        "KIRC": ["VHL R167Q"],
        "LUAD": ["KRAS G12C"],
        "PRAD": ["SPOP F133V"],
    }

    def sample(self, code: str, rng: np.random.Generator, k: int) -> tuple[str, ...]:
        return tuple(self.by_class[code][:k])


def synthetic_split(n: int = 96, dim: int = 16, seed: int = 0) -> EmbeddedSplit:
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(len(CLASSES), dim, generator=gen)
    ids, labels, chunks = [], [], []
    for i in range(n):
        c = i % len(CLASSES)
        k = 1 + i % 4
        noise = torch.randn(k, dim, generator=gen)
        chunks.append(torch.nn.functional.normalize(centers[c] + 0.8 * noise, dim=-1))
        ids.append(f"TCGA-{i:02d}-{i:04d}.X")
        labels.append(CLASSES[c])
    return EmbeddedSplit(ids, labels, chunks)


def tiny_config() -> TeacherConfig:
    return TeacherConfig(
        n_members=2,
        text_dim=16,
        shared_dim=16,
        variant_dim=4,
        image_dim=6,
        classes=CLASSES,
        variant_vocab=["<unk>", *TinyCatalog.vocabulary],
        mc_samples=4,
    )


def test_attention_pooling_ignores_masked_chunks() -> None:
    pool = AttentionPooling(4)
    x = torch.randn(1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    y1 = pool(x, mask)
    x[0, 2] = 1000.0  # a masked chunk must not change the result
    assert torch.allclose(pool(x, mask), y1)


def test_any_modality_may_be_missing() -> None:
    model = MultimodalTeacher(tiny_config()).eval()
    chunks, mask = pad_chunks([torch.randn(2, 16), torch.randn(3, 16)])
    ids, offsets, present = model.variant_tensors([("VHL R167Q",), ()])
    text_only = model(TeacherInputs(chunks, mask))
    both = model(TeacherInputs(chunks, mask, ids, offsets, present))
    variants_only = model(TeacherInputs(None, None, ids, offsets, present))
    assert text_only["logits"].shape == (2, 3) and both["fused"].shape == (2, 16)
    # Row 1 has no variants: fusion equals its text embedding.
    assert torch.allclose(both["fused"][1], both["text"][1])
    assert variants_only["has_classifiable"].tolist() == [True, False]
    image = model(TeacherInputs(image=torch.randn(2, 6)))
    assert image["image"].shape == (2, 16) and not image["has_classifiable"].any()


def test_unknown_variant_falls_back_to_its_gene() -> None:
    model = MultimodalTeacher(tiny_config())
    ids, _, _ = model.variant_tensors([("KRAS G13D",)])
    vocab = model.config.variant_vocab
    assert [vocab[i] for i in ids.tolist()] == ["KRAS", "KRAS"]


def test_calibration_split_is_by_patient_and_stable() -> None:
    ids = [f"TCGA-AA-{i:04d}.{j}" for i in range(200) for j in range(2)]
    mask = calibration_mask(ids, 0.2)
    assert (mask[0::2] == mask[1::2]).all()  # both reports of a patient on the same side
    assert 0.1 < mask.mean() < 0.3 and (calibration_mask(ids, 0.2) == mask).all()


def test_training_learns_saves_and_is_deterministic(tmp_path: Path) -> None:
    data = synthetic_split()
    cfg = TrainConfig(epochs=12, batch_size=16, lr=1e-2, calib_fraction=0.25, seed=3)
    histo = (torch.randn(12, 6), torch.arange(12) % 3, torch.randn(3, 16))
    report = train_teacher(data, tmp_path / "a", tiny_config(), cfg, TinyCatalog(), histo, progress=False)
    history = report["history"]
    assert history[-1]["ce"] < history[0]["ce"]
    assert {"align", "image", "variant_ce", "text_ce"} <= set(history[0])
    assert 0.01 < report["temperature"] < 10  # fitted inside its search bounds
    model = TeacherEnsemble.load(tmp_path / "a")
    chunks, mask = pad_chunks(data.chunks[:30])
    probs = model.predict_proba(TeacherInputs(chunks, mask))
    assert torch.allclose(probs.sum(1), torch.ones(30), atol=1e-5)
    accuracy = (probs.argmax(1) == torch.tensor([CLASSES.index(x) for x in data.labels[:30]])).float().mean()
    assert accuracy > 0.8
    again = train_teacher(data, tmp_path / "b", tiny_config(), cfg, TinyCatalog(), histo, progress=False)
    assert again["history"] == history
    assert (tmp_path / "a" / "teacher.safetensors").read_bytes() == (
        tmp_path / "b" / "teacher.safetensors"
    ).read_bytes()


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path: Path) -> None:
    data = synthetic_split()
    full = TrainConfig(epochs=4, batch_size=16, calib_fraction=0.25, seed=5)
    ref = train_teacher(data, tmp_path / "ref", tiny_config(), full, TinyCatalog(), progress=False)
    ckpt = tmp_path / "ck.pt"
    half = TrainConfig(epochs=2, batch_size=16, calib_fraction=0.25, seed=5)
    train_teacher(
        data, tmp_path / "half", tiny_config(), half, TinyCatalog(), checkpoint_path=ckpt, progress=False
    )
    resumed = train_teacher(
        data, tmp_path / "res", tiny_config(), full, TinyCatalog(), checkpoint_path=ckpt, progress=False
    )
    assert [h["ce"] for h in resumed["history"]] == pytest.approx([h["ce"] for h in ref["history"]])


def test_the_locked_text_space_is_the_bases_geometry(tmp_path: Path) -> None:
    """The default (sphere) teacher: after training, cosine similarities of single-chunk texts in the
    shared space are exactly the base vectors' — what the base pairs across languages stays paired."""
    data = synthetic_split()
    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-2, calib_fraction=0.25)
    gen = torch.Generator().manual_seed(1)
    pairs = torch.randn(8, 2, 16, generator=gen)
    report = train_teacher(data, tmp_path, tiny_config(), cfg, pairs=pairs, progress=False)
    assert "translation" not in report["history"][0]  # nothing for a pair loss to train
    space = TeacherEnsemble.load(tmp_path).space.eval()
    x = torch.randn(30, 16, generator=gen)
    with torch.no_grad():
        z = space.embed_text(x.unsqueeze(1), torch.ones(30, 1, dtype=torch.bool))
    assert torch.allclose(z.norm(dim=-1), torch.full((30,), 16**0.5), atol=1e-4)
    zn, xn = torch.nn.functional.normalize(z, dim=-1), torch.nn.functional.normalize(x, dim=-1)
    assert torch.allclose(zn @ zn.T, xn @ xn.T, atol=1e-5)


def test_translation_pairs_keep_translations_together(tmp_path: Path) -> None:
    """With a learned projection (``text_space="mlp"``): without the pair loss the 3-class projection
    scatters unrelated sentence pairs; with it, each 'translation' (a noisy copy of its English vector)
    retrieves its own English sentence."""
    data = synthetic_split()
    gen = torch.Generator().manual_seed(1)
    english = torch.randn(64, 16, generator=gen)
    pairs = torch.stack([english, english + 0.3 * torch.randn(64, 16, generator=gen)], 1)
    held_out = torch.randn(40, 16, generator=gen)
    held_pairs = (held_out, held_out + 0.3 * torch.randn(40, 16, generator=gen))

    def recall(weight: float) -> float:
        cfg = TrainConfig(epochs=15, batch_size=16, lr=1e-2, calib_fraction=0.25, w_translation=weight)
        mlp = replace(tiny_config(), text_space="mlp", shared_dim=8, classifier_hidden=0)
        report = train_teacher(data, tmp_path / str(weight), mlp, cfg, pairs=pairs, progress=False)
        assert ("translation" in report["history"][0]) == (weight > 0)
        space = TeacherEnsemble.load(tmp_path / str(weight)).space.eval()
        ones = torch.ones(40, 1, dtype=torch.bool)
        with torch.no_grad():
            en, tr = (space.embed_text(x.unsqueeze(1), ones) for x in held_pairs)
        en, tr = torch.nn.functional.normalize(en, dim=-1), torch.nn.functional.normalize(tr, dim=-1)
        return float(((tr @ en.T).argmax(1) == torch.arange(40)).float().mean())

    without, with_pairs = recall(0.0), recall(1.0)
    print(f"held-out pair recall@1 without {without:.2f}, with {with_pairs:.2f}")
    assert with_pairs > without + 0.1 and with_pairs > 0.8
