"""The set-up promises: the stack imports together, torch stays the pinned CPU build (issue 2)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["spacy", "scispacy", "sentence_transformers", "datasets", "rdflib", "pennylane", "peft", "faiss"],
)
def test_stack_imports(module: str) -> None:
    assert importlib.import_module(module) is not None


def test_torch_is_the_pinned_cpu_build() -> None:
    import torch

    assert torch.__version__.split("+")[0] == "2.13.0"
    assert torch.version.cuda is None


def test_scispacy_candidate_generator_is_importable_offline() -> None:
    from scispacy.candidate_generation import CandidateGenerator

    assert callable(CandidateGenerator)
