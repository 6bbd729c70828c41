"""The HTTP service (``cmkd-med serve``): a FastAPI app over one shared :class:`~cmkd_med.api.Pipeline`.

``POST /v1/classify|summarize|retrieve|link`` take ``{"text", "lang"?}`` for one note (the response is the
Python API's result) or ``{"notes": [...], "lang"?}`` for a batch (``{"results": [...]}``, in order); a note
in a batch is a string or ``{"text", "lang"?, "id"?}``. ``lang`` is a language, ``auto`` (detected per note)
or absent (the pipeline's). ``?format=fhir`` on classify and summarize answers FHIR R4 (one note's Bundle, or
a Bundle of them). ``GET /healthz`` (alive), ``/readyz`` (models loaded), ``/openapi.json``.

The models load once, in the background at start-up (``/readyz`` answers 503 until they have), and every
request shares them; inference runs one request at a time (a lock: the models use all cores per batch).
With an API key, ``/v1/*`` needs ``Authorization: Bearer KEY`` (or ``X-API-Key``), compared in constant
time. Errors are problem details (:mod:`cmkd_med.service.problems`); no note text reaches a log.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cmkd_med import __version__, fhir
from cmkd_med.errors import CmkdError
from cmkd_med.languages import SUPPORTED_LANGUAGES, normalize_lang
from cmkd_med.service.problems import GuardMiddleware, Problem, install_handlers, log, status_of
from cmkd_med.text import validate_text

FHIR_JSON = "application/fhir+json"
Format = Annotated[Literal["json", "fhir"], Query(description="fhir: a FHIR R4 Bundle")]


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and security of the app. ``preload``: languages whose models load at start-up (default: the
    pipeline's language, or all four for ``auto``)."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_batch: int = 64
    api_key: str | None = None
    preload: tuple[str, ...] | None = None


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    lang: str | None = None
    id: str | None = Field(default=None, max_length=256)


class NotesRequest(BaseModel):
    """One note (``text``) or a batch (``notes``); ``lang`` applies to every note that has none."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = None
    lang: str | None = Field(default=None, description=f"{', '.join(SUPPORTED_LANGUAGES)} or auto")
    notes: list[NoteIn | str] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> NotesRequest:
        if (self.text is None) == (self.notes is None):
            raise ValueError("give either 'text' (one note) or 'notes' (a batch), not both")
        return self


class SummarizeRequest(NotesRequest):
    audience: Literal["patient", "clinician"] = "patient"
    summary_lang: str | None = None


class RetrieveRequest(NotesRequest):
    k: int = Field(default=10, ge=1, le=100)
    modality: Literal["text", "variants", "image"] | None = None


@dataclass
class _Note:
    text: str
    lang: str | None
    id: str | None


class _State:
    def __init__(self, nlp: Any, config: ServiceConfig):
        self.nlp, self.config = nlp, config
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.failure: str | None = None

    def preload(self) -> tuple[str, ...]:
        if self.config.preload is not None:
            return self.config.preload
        return SUPPORTED_LANGUAGES if self.nlp.lang == "auto" else (self.nlp.lang,)

    def warm_up(self) -> None:
        try:
            with self.lock:
                _ = self.nlp.kb
            for lang in self.preload():
                with self.lock:
                    self.nlp.model(lang)
                    self.nlp.linker(lang)
            self.ready.set()
        except Exception as exc:  # reported by /readyz and the log, by type only
            self.failure = type(exc).__name__
            log.error("loading the models failed: %s", self.failure)


def _notes(body: NotesRequest, nlp: Any, max_batch: int) -> tuple[list[_Note], bool]:
    """The request's notes, validated, with their language resolved (``None``: the pipeline decides)."""
    single = body.notes is None
    given = (
        [NoteIn(text=body.text or "")]
        if single
        else [n if isinstance(n, NoteIn) else NoteIn(text=n) for n in body.notes or []]
    )
    if len(given) > max_batch:
        raise Problem(413, f"a batch of {len(given)} notes; the limit is {max_batch} (split it)")
    if not given:
        raise Problem(422, "'notes' is empty")
    out: list[_Note] = []
    errors: list[dict[str, Any]] = []
    for i, note in enumerate(given):
        try:
            out.append(
                _Note(validate_text(note.text), _lang(note.lang or body.lang, note.text, nlp), note.id)
            )
        except CmkdError as exc:
            errors.append({"index": i, "status": status_of(exc), "detail": str(exc)})
    if errors:
        raise Problem(
            422,
            str(errors[0]["detail"]) if single else f"{len(errors)} of the notes cannot be read",
            errors=errors,
        )
    return out, single


def _lang(value: str | None, text: str, nlp: Any) -> str | None:
    if value is None:
        return None
    if value.strip().lower() == "auto":
        if nlp.lang == "auto":
            return None
        from cmkd_med.api import detect_language

        return detect_language(text)
    return normalize_lang(value)


def _answer(items: list[Any], single: bool, notes: list[_Note]) -> dict[str, Any]:
    if single:
        return items[0]
    return {
        "results": [{**({"id": n.id} if n.id else {}), **item} for n, item in zip(notes, items, strict=True)]
    }


def _fhir(bundles: list[dict[str, Any]], single: bool) -> JSONResponse:
    if single:
        return JSONResponse(bundles[0], media_type=FHIR_JSON)
    outer = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{b['id']}", "resource": b} for b in bundles],
    }
    return JSONResponse(outer, media_type=FHIR_JSON)


def create_app(nlp: Any, config: ServiceConfig | None = None) -> FastAPI:
    """The app over ``nlp`` (a :class:`~cmkd_med.api.Pipeline`, shared by every request)."""
    config = config or ServiceConfig()
    state = _State(nlp, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=state.warm_up, name="cmkd-warm-up", daemon=True).start()
        yield

    app = FastAPI(
        title="cmkd-med", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Multilingual cancer-type classification, summaries, retrieval and entity linking "
        "of pathology notes (en, pt, hi, sw). Research use; outputs must be reviewed by clinicians.",
    )  # fmt: skip
    install_handlers(app)
    app.add_middleware(GuardMiddleware, max_body_bytes=config.max_body_bytes)
    app.state.cmkd = state

    def authorize(
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> None:
        if config.api_key is None:
            return
        given = x_api_key or (
            authorization[7:] if authorization and authorization[:7].lower() == "bearer " else ""
        )
        if not hmac.compare_digest(given.encode("utf-8"), config.api_key.encode("utf-8")):
            raise Problem(401, "missing or wrong API key (Authorization: Bearer KEY, or X-API-Key)")

    def run(fn: Callable[[], Any]) -> Any:
        with state.lock:
            return fn()

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorize)])

    @v1.post("/classify", summary="cancer type, concept, probability, abstention, entities")
    def classify(body: NotesRequest, format: Format = "json") -> Any:
        notes, single = _notes(body, nlp, config.max_batch)
        results = run(lambda: nlp.classify([n.text for n in notes], [n.lang for n in notes]))
        if format == "fhir":
            return _fhir(
                [fhir.to_bundle(r, nlp.kb, note_id=n.id) for n, r in zip(notes, results, strict=True)], single
            )
        return _answer(results, single, notes)

    @v1.post("/summarize", summary="a patient or clinician summary from the prediction and the ontology")
    def summarize(body: SummarizeRequest, format: Format = "json") -> Any:
        notes, single = _notes(body, nlp, config.max_batch)

        def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            results = nlp.classify([n.text for n in notes], [n.lang for n in notes])
            return results, [nlp.summarize(r, body.audience, body.summary_lang) for r in results]

        results, summaries = run(go)
        if format == "fhir":
            bundles = [
                fhir.to_bundle(r, nlp.kb, summary=s, note_id=n.id)
                for n, r, s in zip(notes, results, summaries, strict=True)
            ]
            return _fhir(bundles, single)
        return _answer(summaries, single, notes)

    @v1.post("/retrieve", summary="nearest index items (reports, variant sets, slides) to each query")
    def retrieve(body: RetrieveRequest) -> Any:
        if getattr(nlp, "_index_path", None) is None:
            raise Problem(501, "this service was started without an index (cmkd-med serve --index DIR)")
        notes, single = _notes(body, nlp, config.max_batch)
        hits = run(lambda: [nlp.retrieve(n.text, body.k, body.modality, n.lang) for n in notes])
        return _answer([{"hits": h} for h in hits], single, notes)

    @v1.post("/link", summary="ontology concepts mentioned in each note, with spans and CUIs")
    def link(body: NotesRequest) -> Any:
        notes, single = _notes(body, nlp, config.max_batch)

        def go() -> list[dict[str, Any]]:
            out = []
            for n in notes:
                lang = n.lang or nlp.language_of(n.text)
                linker = nlp.linker(lang)
                out.append({"entities": [m.to_dict(nlp.kb, lang) for m in linker.link(n.text)], "lang": lang})
                linker.forget()  # the pipeline's linker keeps a batch memo; no note outlives its request
            return out

        return _answer(run(go), single, notes)

    app.include_router(v1)

    @app.get("/healthz", summary="the process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", summary="the models are loaded")
    def readyz() -> Any:
        if state.failure is not None:
            raise Problem(503, f"loading the models failed ({state.failure}); see the server log")
        if not state.ready.is_set():
            raise Problem(503, "loading the models", languages=list(state.preload()))
        return {"status": "ready", "languages": list(state.preload())}

    return app
