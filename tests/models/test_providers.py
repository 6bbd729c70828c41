"""Base-encoder providers: specs resolve offline, fail fast with a clear message, load from safetensors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch

from cmkd_med.errors import CmkdError, DataFormatError, DataNotFoundError, InvalidInputError
from cmkd_med.models.providers import (
    BUNDLED,
    DEFAULT_STUDENT,
    DEFAULT_TEACHER,
    EncoderSpec,
    load_encoder,
    resolve,
)

SENTENCES = ["Clear cell renal cell carcinoma of the left kidney.", "No necrosis in the lymph nodes."]


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    return resolve("bundled:minilm").path


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * weights).sum(1) / weights.sum(1)  # (B, H)


def test_defaults_name_the_two_bundled_models() -> None:
    assert DEFAULT_TEACHER == "bundled:minilm" and DEFAULT_STUDENT == "bundled:e5-small"
    assert {b.spec for b in BUNDLED.values()} == {DEFAULT_TEACHER, DEFAULT_STUDENT}
    assert resolve() == resolve(DEFAULT_TEACHER)


def test_minilm_spec_reads_its_sentence_transformers_files(minilm_dir: Path) -> None:
    spec = resolve("bundled:minilm")
    assert (spec.path / "config.json").is_file()
    assert (spec.pooling, spec.passage_prefix, spec.query_prefix) == ("mean", "", "")
    assert (spec.max_length, spec.hidden_size, spec.normalize) == (256, 384, True)


def test_minilm_embedding_equals_sentence_transformers(minilm_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model, tokenizer, spec = load_encoder("bundled:minilm")
    batch = tokenizer(
        SENTENCES, padding=True, truncation=True, max_length=spec.max_length, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state  # (B, T, H)
    ours = torch.nn.functional.normalize(_mean_pool(hidden, batch["attention_mask"]), dim=-1)
    reference = SentenceTransformer(str(minilm_dir), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    cosine = (ours * reference.cpu()).sum(-1)
    assert ours.shape == (2, spec.hidden_size)
    assert cosine.min().item() > 0.9999


def test_local_folder_resolves_like_the_bundled_one(minilm_dir: Path) -> None:
    spec = resolve(str(minilm_dir))
    assert spec.path == minilm_dir.resolve()
    assert spec.max_length == 256 and spec.name == str(minilm_dir)


def test_load_accepts_a_resolved_spec(minilm_dir: Path) -> None:
    spec = resolve(str(minilm_dir))
    model, tokenizer, same = load_encoder(spec)
    assert same is spec and model.config.hidden_size == spec.hidden_size and not model.training
    assert tokenizer("x")["input_ids"][0] == tokenizer.cls_token_id


def test_hf_id_not_cached_fails_fast_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    started = time.perf_counter()
    with pytest.raises(CmkdError) as err:
        resolve("hf:google/muril-base-cased")
    assert time.perf_counter() - started < 10  # no network attempt, no retries
    message = str(err.value)
    assert isinstance(err.value, DataNotFoundError)
    assert "'hf:google/muril-base-cased' is not in the local Hugging Face cache" in message
    assert "huggingface-cli download google/muril-base-cased" in message and "local folder" in message


def _fake_hub_cache(root: Path, repo: str, source: Path) -> Path:
    """A hub cache layout (refs/main -> snapshots/<commit>) holding ``source``'s files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = root / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    shutil.copytree(source, snapshot, ignore=shutil.ignore_patterns("README.md", "data_config.json"))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def test_hf_id_in_the_cache_resolves_offline(
    minilm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = _fake_hub_cache(tmp_path, "intfloat/multilingual-e5-fake", minilm_dir)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    spec = resolve("hf:intfloat/multilingual-e5-fake")
    assert spec.path.resolve() == snapshot.resolve()
    # e5 checkpoints need their prefixes even when the snapshot does not declare them
    assert (spec.passage_prefix, spec.query_prefix) == ("passage: ", "query: ")
    model, _, _ = load_encoder(spec)
    assert model.config.hidden_size == 384


@pytest.mark.parametrize(
    ("spec", "error", "expected"),
    [
        ("bert", InvalidInputError, "bundled:minilm, bundled:e5-small"),
        ("bundled:muril", InvalidInputError, "bundled:minilm, bundled:e5-small"),
        ("", InvalidInputError, "hf:<org>/<name>"),
        ("hf:not a valid id!", InvalidInputError, "bad Hugging Face id"),
        ("./no/such/folder", DataNotFoundError, "encoder folder not found"),
        ("google/muril-base-cased", DataNotFoundError, "write 'hf:google/muril-base-cased'"),
    ],
)
def test_bad_specs_name_the_valid_forms(spec: str, error: type[Exception], expected: str) -> None:
    with pytest.raises(error) as err:
        resolve(spec)
    assert expected in str(err.value)
    assert isinstance(err.value, CmkdError)


def test_folder_without_config_or_safetensors_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"no config\.json"):
        resolve(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(DataFormatError, match="pickled checkpoints"):
        resolve(str(tmp_path))


def test_roberta_like_folder_loses_the_two_offset_positions(tmp_path: Path) -> None:
    config = {"model_type": "xlm-roberta", "hidden_size": 768, "max_position_embeddings": 514}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"")
    spec = resolve(str(tmp_path))
    assert (spec.max_length, spec.hidden_size, spec.pooling, spec.normalize) == (512, 768, "mean", True)


def test_unbuilt_e5_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CMKD_CACHE_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="cmkd-med models build"):
        resolve("bundled:e5-small")
    assert not BUNDLED["e5-small"].is_ready() and BUNDLED["minilm"].is_ready()


def test_encoder_spec_validates_at_construction() -> None:
    with pytest.raises(InvalidInputError, match="pooling 'sum'"):
        EncoderSpec("x", Path("."), pooling="sum")
