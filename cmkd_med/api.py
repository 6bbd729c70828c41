"""The Pipeline: classify, cross-lingual retrieval and patient summaries behind one object.

>>> from cmkd_med import pipeline
>>> nlp = pipeline("pt")                                              # doctest: +SKIP
>>> nlp.classify("Adenocarcinoma acinar da próstata, Gleason 4+3.")["label"]  # doctest: +SKIP
'PRAD'

English notes go to the teacher (``adapters/en``), Portuguese, Hindi and Swahili notes to their students
(``adapters/<lang>``); ``pipeline("auto")`` detects each note's language offline (lingua) and routes it.
Models load on first use and stay loaded. Nothing here reads the network, and no note text is ever logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.errors import InvalidInputError
from cmkd_med.languages import SUPPORTED_LANGUAGES, normalize_lang
from cmkd_med.result import TOP_K  # noqa: F401  (classes listed in ``probabilities``; kept importable here)
from cmkd_med.text import validate_text


def detect_language(text: str) -> str:
    """ISO code of ``text``'s language among en/pt/hi/sw (offline, lingua restricted to what we support,
    with a script/ontology prior for short notes: :mod:`cmkd_med.langdetect`); a note clearly in another
    language raises :class:`UnsupportedLanguageError`, one with nothing to tell :class:`InvalidInputError`."""
    from cmkd_med.langdetect import detect_language as detect

    return detect(text)


def _check_device(device: Any) -> str:
    """``device`` as torch names it, after checking that torch can use it on this machine."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidInputError(
            f"device {device!r} is not a torch device name ('cpu', 'cuda', 'cuda:1', 'mps')"
        ) from None
    usable = {
        "cpu": lambda: True,
        "cuda": lambda: (
            torch.cuda.is_available() and (parsed.index is None or parsed.index < torch.cuda.device_count())
        ),
        "mps": lambda: torch.backends.mps.is_available(),
    }
    if parsed.type not in usable:
        raise InvalidInputError(f"device {device!r}: supported kinds are cpu, cuda and mps")
    if not usable[parsed.type]():
        raise InvalidInputError(
            f"device {device!r} is not available on this machine (torch sees none); use 'cpu'"
        )
    return str(parsed)


def pipeline(lang: str = "auto", **options: Any) -> Pipeline:
    """A :class:`Pipeline` for ``lang`` (``en``, ``pt``, ``hi``, ``sw``, their ISO 639-2 aliases, or
    ``auto``); ``options`` as :class:`Pipeline` takes them."""
    return Pipeline(lang, **options)


class Pipeline:
    """Options: ``adapter``, a trained adapter folder (for one language); ``base_model``, a provider spec of
    the same base weights (e.g. a local copy); ``device`` (``cpu``, the default, or a torch device such as
    ``cuda`` / ``cuda:1`` / ``mps`` that torch can use here); ``precision`` of the encoder's forward:
    ``auto`` (the default: bfloat16 where the hardware computes it natively, else float32), ``float32``
    (what the model cards' figures were measured with) or ``bfloat16``; ``batch_size``; ``abstain_threshold``,
    the uncertainty above which a prediction abstains (default: the one calibrated on held-out data);
    ``index``, a folder from ``cmkd-med index build`` for :meth:`retrieve`; ``open_world`` (default ``True``):
    decide each note's ``scope`` and each entity's ``assertion`` (``False``: the closed world of earlier
    releases, every note read as one of the 20 types; for comparison only)."""

    def __init__(
        self,
        lang: str = "auto",
        *,
        adapter: str | Path | None = None,
        base_model: str | None = None,
        device: str = "cpu",
        precision: str = "auto",
        batch_size: int = 16,
        abstain_threshold: float | None = None,
        index: str | Path | None = None,
        open_world: bool = True,
    ):
        self.lang = (
            "auto" if isinstance(lang, str) and lang.strip().lower() == "auto" else normalize_lang(lang)
        )
        if adapter is not None and self.lang == "auto":
            raise InvalidInputError(
                "an adapter folder belongs to one language: pass lang='pt' (or en, hi, sw)"
            )
        if adapter is not None and not Path(adapter).is_dir():
            raise InvalidInputError(f"no adapter folder at {adapter}")
        device = _check_device(device)
        from cmkd_med.models.text_encoder import autocast_dtype

        autocast_dtype(precision, device)  # a bad value fails here, not at the first note
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        if abstain_threshold is not None and (
            isinstance(abstain_threshold, bool)
            or not isinstance(abstain_threshold, int | float)
            or not 0.0 <= float(abstain_threshold) <= 1.0
        ):  # a string or a NaN is refused here, not met as a ValueError at the first note (issue 17)
            raise InvalidInputError(
                "abstain_threshold is an uncertainty (1 − max probability) in [0, 1], "
                f"got {abstain_threshold!r}"
            )
        if adapter is not None:
            from cmkd_med.models.integrity import check_adapter_lang

            check_adapter_lang(Path(adapter), self.lang)  # a Hindi student is not run as Portuguese
        self.adapter = Path(adapter) if adapter is not None else None
        self.base_model = base_model
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.abstain_threshold = abstain_threshold
        self._index_path = index
        self._index: Any = None
        self._models: dict[str, Any] = {}
        self._linkers: dict[str, Any] = {}
        self._kb: Any = None
        self._scope_roles: Any = None
        self._ood: Any = None
        if not isinstance(open_world, bool):
            raise InvalidInputError(f"open_world must be True or False, got {open_world!r}")
        self.open_world = open_world

    # --- resources, loaded on first use --------------------------------------------------------
    @property
    def kb(self) -> Any:
        if self._kb is None:
            from cmkd_med.ontology.kb import KnowledgeBase

            self._kb = KnowledgeBase.load()
        return self._kb

    def model(self, lang: str) -> Any:
        """The model that reads ``lang``: the teacher for English, the student otherwise."""
        if lang not in self._models:
            from cmkd_med.models.student_runtime import Student
            from cmkd_med.models.teacher_runtime import Teacher

            if lang == "en":
                model: Any = Teacher.load(self.adapter, base_model=self.base_model)
            else:
                model = Student.load(self.adapter or lang, self.linker(lang), base_model=self.base_model)
            self._models[lang] = model.to(self.device, self.precision)
        return self._models[lang]

    def linker(self, lang: str) -> Any:
        if lang not in self._linkers:
            from cmkd_med.ontology.linker import get_linker

            self._linkers[lang] = _BatchMemoLinker(get_linker(lang))
        return self._linkers[lang]

    def language_of(self, text: str) -> str:
        return detect_language(text) if self.lang == "auto" else self.lang

    def route(self, text: str, lang: str | None = None) -> str:
        """The language whose model reads ``text``: ``lang`` if given, else the pipeline's (or detected)."""
        if lang is None:
            return self.language_of(text)
        lang = normalize_lang(lang)
        if self.adapter is not None and lang != self.lang:
            raise InvalidInputError(f"this pipeline's adapter reads {self.lang}, not {lang}")
        return lang

    # --- classify ----------------------------------------------------------------------------
    def classify(
        self, notes: str | Sequence[str], langs: Sequence[str | None] | None = None
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """One result dict per note (a single dict for a single note); see the README for the fields.
        ``langs``: a language per note overriding the pipeline's (``None`` entries keep it)."""
        single = isinstance(notes, str)
        texts = [notes] if single else list(notes) if isinstance(notes, Sequence) else None
        if texts is None:
            raise InvalidInputError(f"classify takes a note or a list of notes, got {type(notes).__name__}")
        texts = [validate_text(t) for t in texts]
        given = list(langs) if langs is not None else [None] * len(texts)
        if len(given) != len(texts):
            raise InvalidInputError(f"{len(given)} languages for {len(texts)} notes")
        routed = [self.route(t, x) for t, x in zip(texts, given, strict=True)]
        results: list[dict[str, Any] | None] = [None] * len(texts)
        for lang in dict.fromkeys(routed):
            rows = [i for i, x in enumerate(routed) if x == lang]
            for i, result in zip(rows, self._classify_lang([texts[i] for i in rows], lang), strict=True):
                results[i] = result
        out = [r for r in results if r is not None]
        return out[0] if single else out

    def _classify_lang(self, texts: list[str], lang: str) -> list[dict[str, Any]]:
        from cmkd_med.result import build_result

        model = self.model(lang)
        prediction = model.predict(texts, batch_size=self.batch_size)  # abstains at the calibrated threshold
        linker = self.linker(lang)  # the student linked these notes already: the memo serves them again
        ood = self.ood if self.open_world else None
        if ood is not None and not ood.reads(prediction):
            ood = None  # fitted for another teacher space (a custom adapter or base model): no gate
        if ood is not None and prediction.embeddings is not None:
            scores = ood.score(prediction.embeddings)
            ood_scores: list[float | None] = [float(x) for x in scores]
            inside = [bool(x) for x in ood.in_distribution(scores, prediction.probs.max(1), lang)]
        else:
            ood_scores, inside = [None] * len(texts), [True] * len(texts)
        out = []
        for i, text in enumerate(texts):
            uncertainty = float(prediction.uncertainty[i])
            abstained = (
                prediction.abstained[i]
                if self.abstain_threshold is None
                else uncertainty > self.abstain_threshold
            )
            mentions = linker.link(text)
            entities = [m.to_dict(self.kb, lang) for m in mentions]
            if self.open_world:
                statuses = self.assertions(lang).statuses(text, [(m.start, m.end) for m in mentions])
                for entity, status in zip(entities, statuses, strict=True):
                    entity["assertion"] = status
            roles = self.scope_roles if self.open_world else None
            out.append(
                build_result(
                    prediction.probs[i],
                    prediction.classes,
                    bool(abstained),
                    entities,
                    lang,
                    self.kb,
                    roles,
                    inside[i],
                    ood_scores[i],
                    ood.model_alone if ood is not None else True,
                )
            )
        linker.forget()
        return out

    @property
    def scope_roles(self) -> Any:
        if self._scope_roles is None:
            from cmkd_med.scope import ScopeRoles

            self._scope_roles = ScopeRoles.load(self.kb)
        return self._scope_roles

    @property
    def ood(self) -> Any:
        """The out-of-distribution score of the scope decision (``adapters/en/ood.*``; None if not fitted)."""
        if self._ood is None:
            from cmkd_med.models.ood import MahalanobisOOD

            self._ood = MahalanobisOOD.load() or False
        return self._ood or None

    def assertions(self, lang: str) -> Any:
        from cmkd_med.ontology.assertion import get_detector

        return get_detector(lang)

    # --- retrieve ----------------------------------------------------------------------------
    def index(self) -> Any:
        from cmkd_med.index import RetrievalIndex

        if self._index is None:
            if self._index_path is None:
                raise InvalidInputError("no index: pass index=DIR (built with `cmkd-med index build`)")
            self._index = RetrievalIndex(self._index_path)
        return self._index

    def embed(self, texts: Sequence[str], lang: str) -> np.ndarray:
        """L2-normalised teacher-space vectors (N, D) of ``texts`` read by the ``lang`` model."""
        vectors = self.model(lang).embed_text(list(texts)).numpy()
        if lang in self._linkers:
            self._linkers[lang].forget()
        return vectors

    def retrieve(
        self, query: str, k: int = 10, modality: str | None = None, lang: str | None = None
    ) -> list[dict[str, Any]]:
        """The ``k`` nearest index items to ``query`` (any supported language) in the teacher space, best
        first: ``{id, modality, score, label, ...}``; ``modality`` limits them to text, variants or image."""
        query = validate_text(query, "query")
        lang = self.route(query, lang)
        index = self.index()
        return index.search(self.embed([query], lang)[0], k, modality)

    # --- summarize ---------------------------------------------------------------------------
    def summarize(
        self,
        note: str | dict[str, Any],
        audience: str = "patient",
        lang: str | None = None,
        note_lang: str | None = None,
    ) -> dict[str, Any]:
        """A summary of a note (classified first, read as ``note_lang`` if given) or of a :meth:`classify`
        result, in the note's language or ``lang``: ``{text, lang, audience, abstained, label, concepts}``."""
        from cmkd_med.summary import summarize_result

        if isinstance(note, dict):
            return summarize_result(note, self.kb, audience, lang)
        results = self.classify([validate_text(note)], [note_lang])
        assert isinstance(results, list)  # a list of notes gives a list
        return summarize_result(results[0], self.kb, audience, lang)


class _BatchMemoLinker:
    """A linker that remembers the mentions of the notes of the batch in hand: the student links each note
    for its entity-aware attention and the result lists the same mentions, so each note is linked once.
    ``forget()`` after each batch keeps memory flat (no note text outlives its batch)."""

    def __init__(self, linker: Any):
        self._linker = linker
        self._memo: dict[str, list[Any]] = {}

    def link(self, text: str) -> list[Any]:
        if text not in self._memo:
            self._memo[text] = self._linker.link(text)
        return self._memo[text]

    def forget(self) -> None:
        self._memo.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._linker, name)


__all__ = ["SUPPORTED_LANGUAGES", "Pipeline", "detect_language", "pipeline"]
