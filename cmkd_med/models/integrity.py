"""Integrity checks of adapter folders at load (issue 17): a damaged or nonsensical adapter fails with
:class:`~cmkd_med.errors.AdapterFormatError` naming the file, never with a traceback or a NaN answer.

* config values: temperatures finite and > 0, thresholds and weights in [0, 1], sizes positive integers,
  classes a list of distinct strings, a student's language one we support (and the one asked for);
* weights: a safetensors file that reads (not truncated, not garbled), every float tensor finite, shapes
  that fit the config;
* the lexical expert: vocabulary, idf, coefficients and intercepts of agreeing sizes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cmkd_med.errors import AdapterFormatError
from cmkd_med.languages import SUPPORTED_LANGUAGES

CONFIG_FILE = "config.json"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


# field → (check, what is allowed); a field a config does not have is skipped
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "temperature": (lambda v: _number(v) and v > 0, "a finite number > 0"),
    "pool_temperature": (lambda v: _number(v) and v > 0, "a finite number > 0"),
    "abstain_threshold": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "lexical_weight": (lambda v: _number(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "dropout": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "mc_samples": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "n_members": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "text_dim": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "shared_dim": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "image_dim": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "variant_dim": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "classifier_hidden": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    "lora_r": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "lora_alpha": (lambda v: _number(v) and v > 0, "a finite number > 0"),
    "lora_layers": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
    "entity_heads": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "entity_attention": (lambda v: isinstance(v, bool), "true or false"),
    "text_space": (lambda v: v in ("sphere", "mlp"), "'sphere' or 'mlp'"),
    "base_model": (lambda v: isinstance(v, str) and bool(v.strip()), "a provider spec"),
    "classes": (lambda v: _strings(v) and len(set(v)) == len(v), "a list of distinct class codes"),
    "concepts": (_strings, "a non-empty list of CUIs"),
    "variant_vocab": (_strings, "a non-empty list of strings"),
    "lang": (lambda v: v in SUPPORTED_LANGUAGES and v != "en", "pt, hi or sw"),
}


def read_config(folder: Path, what: str, how: str) -> dict[str, Any]:
    """The JSON object of ``folder/config.json``; missing → how to make one, unreadable → what is wrong."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        from cmkd_med.errors import CmkdError

        raise CmkdError(f"no {what} at {folder} ({CONFIG_FILE} missing): run `{how}`")
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        kind = type(exc).__name__
        raise AdapterFormatError(f"{path}: not a {what} config (not valid JSON: {kind})") from None
    if not isinstance(data, dict):
        raise AdapterFormatError(f"{path}: not a {what} config (expected a JSON object)")
    return data


def check_config(config: Any, path: Path) -> None:
    """Every field of a loaded config holds a value the model can run with."""
    for name, (ok, allowed) in _RULES.items():
        if hasattr(config, name) and not ok(getattr(config, name)):
            raise AdapterFormatError(f"{path}: {name} must be {allowed}, got {getattr(config, name)!r}")


def check_adapter_lang(folder: Path, lang: str) -> None:
    """``folder`` holds an adapter for ``lang``: a student config names it, the teacher reads English."""
    if not folder.is_dir():
        return  # the caller says there is no folder
    path = folder / CONFIG_FILE
    if not path.is_file():
        return  # the loader says what is missing
    found = read_config(folder, "adapter", "cmkd-med distill").get("lang", "en")
    if found != lang:
        raise AdapterFormatError(f"{folder} is an adapter for {found!r}, not for {lang!r}")


def load_tensors(path: Path, framework: str = "pt") -> dict[str, Any]:
    """A safetensors file's tensors, refusing an unreadable file and NaN or infinite weights."""
    if not path.is_file() or path.stat().st_size == 0:
        raise AdapterFormatError(f"{path}: missing or empty weights file")
    try:
        if framework == "pt":
            from safetensors.torch import load_file as load_torch

            tensors: dict[str, Any] = dict(load_torch(str(path)))
        else:
            from safetensors.numpy import load_file as load_numpy

            tensors = dict(load_numpy(str(path)))
    except Exception as exc:  # safetensors raises its own error types for truncated or garbled files
        raise AdapterFormatError(
            f"{path}: not a readable safetensors file (truncated or garbled: {type(exc).__name__})"
        ) from None
    for name, tensor in tensors.items():
        if not _finite(tensor):
            raise AdapterFormatError(f"{path}: tensor {name!r} holds NaN or infinite values")
    return tensors


def _finite(tensor: Any) -> bool:
    import numpy as np
    import torch

    if isinstance(tensor, torch.Tensor):
        return not tensor.is_floating_point() or bool(torch.isfinite(tensor).all())
    array = np.asarray(tensor)
    return not np.issubdtype(array.dtype, np.floating) or bool(np.isfinite(array).all())


def load_state(model: Any, state: dict[str, Any], path: Path, strict: bool = True) -> None:
    """``model.load_state_dict(state)``, a shape or key mismatch reported as a damaged adapter."""
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()[:200]
        raise AdapterFormatError(f"{path}: weights do not fit the config ({first})") from None


def check_lexical(vocab: Any, tensors: dict[str, Any], path: Path) -> None:
    """The lexical expert's parts agree: V distinct terms, idf (V,), coef (C, V), intercept (C,)."""
    terms_ok = isinstance(vocab, list) and all(isinstance(v, str) for v in vocab)
    if not terms_ok or len(set(vocab)) != len(vocab):
        raise AdapterFormatError(f"{path}: the lexical vocabulary must be a list of distinct strings")
    missing = {"idf", "coef", "intercept"} - set(tensors)
    if missing:
        raise AdapterFormatError(f"{path}: the lexical expert lacks {sorted(missing)}")
    idf, coef, intercept = tensors["idf"], tensors["coef"], tensors["intercept"]
    v = len(vocab)
    if idf.shape != (v,) or coef.ndim != 2 or coef.shape[1] != v or intercept.shape != (coef.shape[0],):
        raise AdapterFormatError(
            f"{path}: lexical shapes disagree (vocabulary {v}, idf {tuple(idf.shape)}, "
            f"coef {tuple(coef.shape)}, intercept {tuple(intercept.shape)})"
        )
