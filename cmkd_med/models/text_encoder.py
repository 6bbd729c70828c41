"""Long notes through a fixed-length encoder: chunk, encode each chunk, keep every chunk.

TCGA reports have a median of ~510 words and many exceed 512 tokens, so a note is split into overlapping
windows of the base model's length; each window is mean-pooled into one vector. How the chunk vectors are
pooled into one note vector is learned downstream (``models.pooling``). Nothing is silently cut: a note longer
than ``max_chunks`` windows keeps evenly spaced windows across its whole length and is reported as thinned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from cmkd_med.text import despace_ocr

if TYPE_CHECKING:
    from cmkd_med.models.providers import EncoderSpec


PRECISIONS = ("float32", "bfloat16", "auto")


def autocast_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The dtype to autocast the base model's forward to, or None for plain float32.

    ``auto`` picks bfloat16 where the hardware computes it natively (CPUs with AVX512-BF16 or AMX, CUDA GPUs
    with bf16): there the forward is ~1.7x faster and class probabilities move by < 0.01 (measured in
    ``bench/pipeline_speed.py``); elsewhere bf16 is emulated and slower, so ``auto`` stays float32.
    """
    if precision not in PRECISIONS:
        from cmkd_med.errors import InvalidInputError

        raise InvalidInputError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "float32":
        return None
    if precision == "bfloat16":
        return torch.bfloat16
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if kind == "cpu":
        # torch's own capability probes (private, hence the getattr fallbacks)
        probes = (
            getattr(torch.cpu, "_is_avx512_bf16_supported", None),
            getattr(torch.cpu, "_is_amx_tile_supported", None),
        )
        return torch.bfloat16 if any(probe is not None and probe() for probe in probes) else None
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context for float32."""
    import contextlib

    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


@dataclass(frozen=True)
class ChunkingConfig:
    max_chunks: int = 64  # 64 windows of ~224 new tokens cover ~14k tokens: all but a handful of reports
    stride: int = 32  # overlap between windows, so a term split at a boundary is whole in one of them
    batch_size: int = 32  # windows per forward pass; bucketed by length


class ChunkedTextEncoder:
    """Encodes notes into ``(n_chunks, hidden)`` matrices of L2-normalised mean-pooled window vectors."""

    def __init__(self, model: Any, tokenizer: Any, spec: EncoderSpec, config: ChunkingConfig | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.config = config or ChunkingConfig()
        # "passage:" without its trailing space: alone, the space would become a stray "▁" token that the
        # e5 recipe (prefix and text tokenised together) never produces.
        self._prefix = (
            tokenizer(spec.passage_prefix.rstrip(), add_special_tokens=False)["input_ids"]
            if spec.passage_prefix
            else []
        )
        self.window = spec.max_length - 2 - len(self._prefix)  # room for [CLS]/[SEP] (or <s>/</s>) and prefix
        self.thinned = 0
        self.dtype: torch.dtype | None = None  # autocast dtype of the forward (None: float32)

    @classmethod
    def from_spec(cls, spec: str, config: ChunkingConfig | None = None) -> ChunkedTextEncoder:
        from cmkd_med.models.providers import load_encoder

        model, tokenizer, resolved = load_encoder(spec)
        return cls(model.eval(), tokenizer, resolved, config)

    def windows(self, text: str) -> list[list[int]]:
        """Token-id windows (with special tokens and prefix) covering ``text``."""
        ids: list[int] = self.tokenizer(despace_ocr(text), add_special_tokens=False, verbose=False)[
            "input_ids"
        ]
        step = max(1, self.window - self.config.stride)
        starts = list(range(0, max(1, len(ids) - self.config.stride), step)) or [0]
        if len(starts) > self.config.max_chunks:
            self.thinned += 1
            keep = torch.linspace(0, len(starts) - 1, self.config.max_chunks).round().long().tolist()
            starts = [starts[i] for i in keep]
        body = [ids[s : s + self.window] for s in starts]
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        return [[cls_id, *self._prefix, *chunk, sep_id] for chunk in body]

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], progress: bool = False) -> list[torch.Tensor]:
        """One ``(n_chunks, hidden)`` float32 tensor per text."""
        windows = [self.windows(t) for t in texts]
        flat = [(i, w) for i, ws in enumerate(windows) for w in ws]
        order = sorted(range(len(flat)), key=lambda j: len(flat[j][1]))  # length buckets: little padding
        vectors: list[torch.Tensor | None] = [None] * len(flat)
        pad = self.tokenizer.pad_token_id
        bs = self.config.batch_size
        device = next(self.model.parameters()).device
        batches = range(0, len(order), bs)
        for start in tqdm(batches, desc="encoding", unit=" batch", disable=not progress or None, leave=False):
            idx = order[start : start + bs]
            longest = max(len(flat[j][1]) for j in idx)
            input_ids = torch.full((len(idx), longest), pad, dtype=torch.long)  # (B, T)
            mask = torch.zeros((len(idx), longest), dtype=torch.long)  # (B, T)
            for row, j in enumerate(idx):
                seq = flat[j][1]
                input_ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            input_ids, mask = input_ids.to(device), mask.to(device)
            with autocast(device, self.dtype):
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (B, T, H)
            hidden = hidden.float()
            pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)  # (B, H)
            if self.spec.normalize:
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
            pooled = pooled.cpu()  # window vectors live on the CPU, whatever runs the model
            for row, j in enumerate(idx):
                vectors[j] = pooled[row]
        out: list[torch.Tensor] = []
        cursor = 0
        for ws in windows:
            chunk = [v for v in vectors[cursor : cursor + len(ws)] if v is not None]
            out.append(torch.stack(chunk))  # (n_chunks, H)
            cursor += len(ws)
        return out
