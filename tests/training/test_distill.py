"""Distillation: corpus pieces, and the training command in one process and under torchrun (2 gloo procs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
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


def test_the_cached_corpus_is_rebuilt_for_another_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cmkd_med.training.student import StudentJob, _cached_corpus

    monkeypatch.setenv("CMKD_CACHE_DIR", str(tmp_path))
    job = StudentJob(lang="sw", out=tmp_path / "out", teacher_dir=tmp_path / "teacher")
    builds: list[int] = []

    def builder(seed: int):  # the seed draws which terms are code-switched, so the corpus depends on it
        def build() -> DistillCorpus:
            builds.append(seed)
            corpus = DistillCorpus("sw")
            corpus.add("fever", f"homa {seed}", "term")
            return corpus

        return build

    first = _cached_corpus(job, 1, builder(1))
    again = _cached_corpus(job, 1, builder(1))
    other = _cached_corpus(job, 2, builder(2))
    assert builds == [1, 2]  # the second call read the cache, the third did not
    assert [it.text for it in again.items] == [it.text for it in first.items] == ["homa 1"]
    assert [it.text for it in other.items] == ["homa 2"]


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


def _tiny_distiller(tiny: tuple[Path, Path], max_steps: int | None, **settings: int):  # type: ignore[no-untyped-def]
    from cmkd_med.models.providers import load_encoder
    from cmkd_med.models.student import NULL_CONCEPT, StudentConfig, StudentModel
    from cmkd_med.models.text_encoder import ChunkedTextEncoder
    from cmkd_med.training.distill import DistillConfig, Distiller, Encoded, Targets

    encoder_dir, _ = tiny
    base, tokenizer, _ = load_encoder(str(encoder_dir))
    torch.manual_seed(0)
    config = StudentConfig(text_dim=32, shared_dim=32, concepts=[NULL_CONCEPT, "C0000001"], lora_layers=1)
    model = StudentModel(config, base)
    corpus = DistillCorpus("pt")
    for i in range(16):
        corpus.add(
            f"english text {i}",
            f"texto {i}",
            "report_cs" if i % 2 else "parallel",
            label=i % 20 if i % 2 else -1,
        )
    windower = ChunkedTextEncoder.from_spec(str(encoder_dir))
    encoded = Encoded(
        [windower.windows(it.text)[0] for it in corpus.items], [[1] if i % 3 else [] for i in range(16)]
    )
    gen = torch.Generator().manual_seed(1)
    targets = Targets(
        torch.randn(16, 32, generator=gen), torch.softmax(torch.randn(16, 20, generator=gen) * 3, -1)
    )
    lower = [model.lower(*_ids(ids, tokenizer.pad_token_id))[0].half() for ids in encoded.input_ids]
    return Distiller(model, DistillConfig(batch_size=4, max_steps=max_steps, **settings), corpus, encoded,
                     targets, tokenizer.pad_token_id, lower)  # fmt: skip


def _ids(ids: list[int], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long)


def test_distillation_resumes_exactly_from_a_checkpoint(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    straight = _tiny_distiller(tiny_models, 4)
    straight.run(None, progress=False)
    first = _tiny_distiller(tiny_models, 4)
    for rows in first.batches()[:2]:  # "killed" after two steps
        first.train_step(rows)
    first.checkpoint(tmp_path / "ckpt.pt")
    resumed = _tiny_distiller(tiny_models, 4)
    resumed.resume(tmp_path / "ckpt.pt")
    assert resumed.step == 2
    resumed.run(None, progress=False)
    a, b = straight.model.trainable_state(), resumed.model.trainable_state()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(
        not torch.allclose(a[k], _tiny_distiller(tiny_models, 0).model.trainable_state()[k]) for k in a
    )
    passes = [h["gate_pass"] for h in straight.history if h["gate_pass"] == h["gate_pass"]]  # skip NaN
    assert passes and all(0.0 <= p <= 1.0 for p in passes) and straight.history[-1]["quantum"] > 0


def test_a_resumed_run_keeps_the_epoch_selection_made_before_it_stopped(
    tiny_models: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt.pt"
    first = _tiny_distiller(tiny_models, None, epochs=2, checkpoint_every=100)  # 4 steps an epoch

    class Stopped(Exception):
        pass

    def select(distiller):  # type: ignore[no-untyped-def]
        def on_epoch(epoch: int) -> None:
            distiller.selection.setdefault("epochs", []).append(epoch)
            distiller.selection["best_state"] = {"step": torch.tensor(distiller.step)}

        return on_epoch

    train_step = first.train_step

    def killed_in_the_second_epoch(rows: list[int]) -> dict[str, float]:
        if first.step == 5:
            raise Stopped
        return train_step(rows)

    first.train_step = killed_in_the_second_epoch  # type: ignore[method-assign]
    with pytest.raises(Stopped):
        first.run(ckpt, progress=False, on_epoch=select(first))
    resumed = _tiny_distiller(tiny_models, None, epochs=2, checkpoint_every=100)
    resumed.resume(ckpt)
    assert resumed.step == 4 and resumed.selection["epochs"] == [1]  # checkpointed at the epoch's end
    resumed.run(ckpt, progress=False, on_epoch=select(resumed))
    assert resumed.selection["epochs"] == [1, 2] and int(resumed.selection["best_state"]["step"]) == 8


def test_distill_command_rejects_bad_input_in_one_line() -> None:
    for args, needle in (
        (["--lang", "en"], "teacher"),
        (["--lang", "xx"], "supported"),
        (["--lang", "pt", "--base-model", "/no/such/folder"], "not found"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "cmkd_med.cli", "distill", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr and needle in done.stderr.lower(), (
            done.stderr
        )


def test_loss_weights_option() -> None:
    from cmkd_med.errors import InvalidInputError
    from cmkd_med.training.distill_cli import _loss_weights

    assert _loss_weights("nce=2, mse=0.5") == {"w_nce": 2.0, "w_mse": 0.5} and _loss_weights(None) == {}
    for bad in ("nce", "nce=x", "foo=1"):
        with pytest.raises(InvalidInputError, match="loss-weights"):
            _loss_weights(bad)


def test_teacher_targets_pool_the_lexical_expert_like_the_teacher_does() -> None:
    from cmkd_med.models.lexical import pool
    from cmkd_med.models.teacher import TeacherConfig, TeacherEnsemble
    from cmkd_med.models.teacher_runtime import Teacher
    from cmkd_med.training.student import teacher_targets

    torch.manual_seed(0)
    heads = TeacherEnsemble(
        TeacherConfig(text_dim=8, shared_dim=8, classes=["A", "B", "C"], lexical_weight=0.5)
    )
    vectors = {"uma nota": torch.randn(2, 8), "outra nota": torch.randn(1, 8)}

    class Encoder:
        def encode(self, texts: list[str]) -> list[torch.Tensor]:
            return [vectors[t] for t in texts]

    class Lexical:
        def predict_proba(self, texts: list[str]) -> np.ndarray:
            return np.array([[0.98, 0.01, 0.01] if t == "uma nota" else [0.01, 0.01, 0.98] for t in texts])

    texts = ["uma nota", "outra nota"]
    teacher = Teacher(heads, Encoder(), Lexical())  # type: ignore[arg-type]  # stand-ins for the encoders
    targets = teacher_targets(teacher, texts, progress=False)
    teacher.lexical = None
    neural = teacher_targets(teacher, texts, progress=False)
    expected = pool(neural.probs.numpy(), Lexical().predict_proba(texts), 0.5)
    np.testing.assert_allclose(targets.probs.numpy(), expected, rtol=1e-5)
    assert targets.probs.argmax(1).tolist() == [0, 2]  # the confident lexical expert moved the targets
    assert torch.equal(targets.embedding, neural.embedding)  # the space is the neural heads' alone
