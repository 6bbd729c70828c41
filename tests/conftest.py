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
