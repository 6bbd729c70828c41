"""Shared fixtures: a tiny UMLS-shaped knowledge base for unit tests, the built one for integration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cmkd_med.config import data_dir
from cmkd_med.ontology.concept import Code, Concept, Label, LayText
from cmkd_med.ontology.kb import KnowledgeBase

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _concept(
    cui: str,
    kind: str,
    en: list[str],
    other: dict[str, list[str]] | None = None,
    tcga: str | None = None,
    abbr: list[str] | None = None,
) -> Concept:
    labels = [Label("en", en[0], "pref", "test")] + [Label("en", x, "alt", "test") for x in en[1:]]
    labels += [Label("en", x, "abbr", "test") for x in abbr or []]
    for lang, texts in (other or {}).items():
        labels += [Label(lang, texts[0], "pref", "test")] + [Label(lang, x, "alt", "test") for x in texts[1:]]
    lay = (
        tuple(
            LayText(lang, f"{en[0]} ({lang})", "A plain sentence.", "test")
            for lang in ("en", "pt", "hi", "sw")
        )
        if tcga
        else ()
    )
    return Concept(
        cui=cui,
        kind=kind,
        labels=tuple(labels),
        tcga_code=tcga,
        lay=lay,
        codes=(Code("TCGA", tcga, "test"),) if tcga else (),
    )


@pytest.fixture(scope="session")
def tiny_kb() -> KnowledgeBase:
    return KnowledgeBase(
        [
            _concept(
                "C0279702",
                "cancer_type",
                ["clear cell renal cell carcinoma", "renal clear cell carcinoma"],
                {
                    "pt": ["carcinoma de células claras renal"],
                    "hi": ["क्लियर सेल रीनल सेल कार्सिनोमा"],
                    "sw": ["saratani ya figo aina ya clear cell"],
                },
                tcga="KIRC",
                abbr=["ccRCC"],
            ),
            _concept(
                "C2239176",
                "cancer_type",
                ["hepatocellular carcinoma", "liver cell carcinoma"],
                {
                    "pt": ["carcinoma hepatocelular"],
                    "hi": ["यकृत कोशिका कार्सिनोमा"],
                    "sw": ["saratani ya ini"],
                },
                tcga="LIHC",
                abbr=["HCC"],
            ),
            _concept(
                "C0007134", "disease", ["renal cell carcinoma"], {"pt": ["carcinoma de células renais"]}
            ),
            _concept("C0007097", "disease", ["carcinoma"], {"pt": ["carcinoma"], "hi": ["कार्सिनोमा"]}),
            _concept(
                "C0027540",
                "finding",
                ["necrosis"],
                {"pt": ["necrose"], "hi": ["परिगलन"], "sw": ["nekrosisi"]},
            ),
            _concept(
                "C0024204", "anatomy", ["lymph node", "lymph nodes"], {"pt": ["linfonodo", "linfonodos"]}
            ),
        ]
    )


@pytest.fixture(scope="session")
def built_kb() -> KnowledgeBase:
    return KnowledgeBase.load()


def has_data() -> bool:
    return (data_dir() / "tcga_reports" / "train.tsv").exists()


requires_data = pytest.mark.skipif(not has_data(), reason=f"public data folder not found at {data_dir()}")


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(encoder folder, teacher folder): a 2-layer, 32-wide BERT with the bundled MiniLM tokenizer, and a
    2-member teacher over it — the whole student path at unit-test cost."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from cmkd_med.data.tcga import TCGA_CLASSES
    from cmkd_med.models.providers import resolve
    from cmkd_med.models.teacher import UNK, TeacherConfig, TeacherEnsemble

    root = tmp_path_factory.mktemp("tiny")
    encoder_dir, teacher_dir = root / "encoder", root / "teacher"
    tokenizer = AutoTokenizer.from_pretrained(resolve("bundled:minilm").path, local_files_only=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(config).save_pretrained(encoder_dir, safe_serialization=True)
    tokenizer.save_pretrained(encoder_dir)
    torch.manual_seed(0)
    teacher = TeacherEnsemble(
        TeacherConfig(
            base_model=str(encoder_dir), text_dim=32, shared_dim=32, variant_dim=4, image_dim=6,
            classes=list(TCGA_CLASSES), variant_vocab=[UNK, "KRAS"], n_members=2, mc_samples=2,
        )
    )  # fmt: skip
    teacher.save(teacher_dir)
    return encoder_dir, teacher_dir
