"""Long notes are chunked, not truncated (issue 3)."""

from __future__ import annotations

import pytest
import torch

from cmkd_med.models.text_encoder import ChunkedTextEncoder, ChunkingConfig


@pytest.fixture(scope="module")
def encoder() -> ChunkedTextEncoder:
    return ChunkedTextEncoder.from_spec("bundled:minilm", ChunkingConfig(max_chunks=64, stride=32))


def test_windows_cover_the_whole_note(encoder: ChunkedTextEncoder) -> None:
    words = [f"w{i}" for i in range(1500)]
    windows = encoder.windows(" ".join(words))
    assert len(windows) > 3 and all(len(w) <= encoder.spec.max_length for w in windows)
    text_of_last = encoder.tokenizer.decode(windows[-1], skip_special_tokens=True).replace(" ", "")
    assert text_of_last.endswith("w1499")  # the end of the note is encoded, nothing silently dropped
    tok = encoder.tokenizer
    assert windows[0][0] == tok.cls_token_id and windows[0][-1] == tok.sep_token_id


def test_very_long_notes_are_thinned_evenly_and_counted() -> None:
    enc = ChunkedTextEncoder.from_spec("bundled:minilm", ChunkingConfig(max_chunks=4))
    windows = enc.windows(" ".join(f"w{i}" for i in range(3000)))
    assert len(windows) == 4 and enc.thinned == 1
    assert enc.tokenizer.decode(windows[-1], skip_special_tokens=True).replace(" ", "").endswith("w2999")


def test_encode_returns_normalised_chunk_matrices(encoder: ChunkedTextEncoder) -> None:
    short, long = encoder.encode(["Clear cell renal cell carcinoma.", "carcinoma " * 600])
    assert short.shape == (1, 384) and long.shape[0] > 1
    assert torch.allclose(long.norm(dim=1), torch.ones(len(long)), atol=1e-5)


def test_ocr_letter_spacing_is_rejoined(encoder: ChunkedTextEncoder) -> None:
    spaced = "C H R O M O P H O B E   R E N A L   C E L L   C A R C I N O M A"
    plain = "CHROMOPHOBE RENAL CELL CARCINOMA"
    assert encoder.windows(spaced) == encoder.windows(plain)
