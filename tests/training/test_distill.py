"""Distillation: corpus pieces, and the training command in one process and under torchrun (2 gloo procs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import Mention
from cmkd_med.training.distill_data import DistillCorpus, best_window, code_switch
from tests.conftest import requires_data


def _mention(text: str, surface: str, cui: str) -> Mention:
    start = text.index(surface)
    return Mention(surface, start, start + len(surface), cui, 1.0, "anatomy")


def test_code_switch_replaces_linked_terms_with_target_labels(tiny_kb: KnowledgeBase) -> None:
    text = "Metastatic carcinoma in 2 of 5 lymph nodes."
    mentions = [_mention(text, "lymph nodes", "C0024204")]
    out = code_switch(text, mentions, tiny_kb, "pt", np.random.default_rng(0), p=1.0)
    assert out == "Metastatic carcinoma in 2 of 5 linfonodo."
    assert code_switch(text, mentions, tiny_kb, "pt", np.random.default_rng(0), p=0.0) == text
    assert code_switch(text, mentions, tiny_kb, "sw", np.random.default_rng(0), p=1.0) == text  # no sw label


def test_best_window_is_the_one_with_most_mentions() -> None:
    text = " ".join(["filler"] * 30 + ["carcinoma"] * 5 + ["filler"] * 30)
    window = best_window(text, lambda w: [m for m in w.split() if m == "carcinoma"], words=10)
    assert window.split().count("carcinoma") == 5 and len(window.split()) == 10


def test_corpus_shares_sources_and_subsamples_deterministically() -> None:
    corpus = DistillCorpus("pt")
    for i in range(20):
        corpus.add(f"english {i % 5}", f"texto {i}", "parallel")
    corpus.add("x", " ", "parallel")  # an empty side is skipped
    assert len(corpus.sources) == 5 and len(corpus.items) == 20
    a, b = corpus.subsample(7, seed=1), corpus.subsample(7, seed=1)
    assert [it.text for it in a.items] == [it.text for it in b.items] and len(a.items) == 7
    assert all(a.sources[it.source] == f"english {int(it.text.split()[1]) % 5}" for it in a.items)


@requires_data
def test_tico_heldout_documents_are_kept_out_of_distillation() -> None:
    from cmkd_med.training.distill_data import read_tico

    train, heldout = read_tico("sw"), read_tico("sw", heldout=True)
    assert len(train) > 500 and len(heldout) > 200
    assert not {en for en, _ in train} & {en for en, _ in heldout}


def _distill(tiny: tuple[Path, Path], out: Path, cache: Path, nproc: int) -> None:
    encoder_dir, teacher_dir = tiny
    args = [
        "distill", "--lang", "pt", "--out", str(out), "--teacher", str(teacher_dir),
        "--base-model", str(encoder_dir), "--n-reports", "20", "--n-parallel", "20", "--max-items", "48",
        "--batch-size", "8", "--max-steps", "3", "--dev", "none", "--no-calibrate", "--threads", "1",
    ]  # fmt: skip
    env = {**os.environ, "CMKD_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "cmkd_med.cli", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "cmkd_med.cli", *args]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@requires_data
def test_torchrun_two_processes_match_one(tiny_models: tuple[Path, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _distill(tiny_models, tmp_path / "one", cache, 1)
    _distill(tiny_models, tmp_path / "two", cache, 2)
    one = load_file(str(tmp_path / "one" / "student.safetensors"))
    two = load_file(str(tmp_path / "two" / "student.safetensors"))
    assert one.keys() == two.keys()
    init_moved = False
    for key in one:
        assert torch.allclose(one[key].float(), two[key].float(), atol=2e-3), key
        init_moved |= "lora_B" in key and bool(one[key].abs().sum() > 0)
    assert init_moved  # LoRA B starts at zero: training really ran and both runs moved it alike
