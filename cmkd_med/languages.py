"""Supported languages and their aliases (ISO 639-1 codes are canonical)."""

from __future__ import annotations

from cmkd_med.errors import UnsupportedLanguageError

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "pt", "hi", "sw")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "pt": "Portuguese", "hi": "Hindi", "sw": "Swahili"}

# ISO 639-2/3 codes and common spellings users type.
_ALIASES: dict[str, str] = {
    "eng": "en",
    "english": "en",
    "por": "pt",
    "pt-br": "pt",
    "pt_br": "pt",
    "portuguese": "pt",
    "hin": "hi",
    "hindi": "hi",
    "swa": "sw",
    "swh": "sw",
    "swahili": "sw",
    "kiswahili": "sw",
}


def normalize_lang(code: str) -> str:
    """Map ``code`` (``pt``, ``por``, ``PT-BR`` ...) to a supported ISO 639-1 code or fail with the list."""
    if not isinstance(code, str):
        raise UnsupportedLanguageError(f"language must be a string, got {type(code).__name__}")
    key = code.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SUPPORTED_LANGUAGES:
        supported = ", ".join(SUPPORTED_LANGUAGES)
        aliases = ", ".join(sorted(k for k in _ALIASES if len(k) == 3))
        raise UnsupportedLanguageError(
            f"unsupported language {code!r}; supported: {supported} (aliases: {aliases})"
        )
    return key
