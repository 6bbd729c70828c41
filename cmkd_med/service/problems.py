"""Errors as JSON problem details (RFC 9457, ``application/problem+json``), never a traceback, and never
note text: a validation error lists where and what (``loc``, ``msg``), not the input; an internal error is
logged and answered by its exception type only."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cmkd_med.errors import CmkdError, InvalidInputError, UnsupportedLanguageError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("cmkd_med.service")


class Problem(Exception):
    """An error answered as a problem-details document with ``status``."""

    def __init__(self, status: int, detail: str, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def problem(status: int, detail: str | None = None, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(exc: CmkdError) -> int:
    """422 for a note or a language we cannot read, 400 for the other user errors."""
    return 422 if isinstance(exc, InvalidInputError | UnsupportedLanguageError) else 400


def install_handlers(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError

    async def on_problem(request: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem(exc.status, exc.detail, **exc.extra)

    async def on_http(request: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        detail = (
            exc.detail
            if isinstance(exc.detail, str) and exc.detail != HTTPStatus(exc.status_code).phrase
            else None
        )
        return problem(exc.status_code, detail)

    async def on_validation(request: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {
                "loc": [str(x) for x in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]  # no "input" and no "ctx": they would quote the note
        return problem(422, "the request body does not match the schema (see errors)", errors=errors)

    async def on_cmkd(request: Any, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CmkdError)
        return problem(status_of(exc), str(exc))  # our messages never quote a note

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(CmkdError, on_cmkd)


class _TooLarge(HTTPException):
    """Raised while the body is read; an HTTPException, so the framework answers it with its status."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is over the limit of {limit:,} bytes")


class GuardMiddleware:
    """Outermost guard: refuses bodies over ``max_body_bytes`` (413) and turns any exception that escaped the
    handlers into a 500 problem without re-raising it, so no server log prints its message or traceback."""

    def __init__(self, app: ASGIApp, max_body_bytes: int):
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._send(send, self._too_large())
            return
        seen, started = 0, False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge(self.max_body_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._send(send, self._too_large())
        except Exception as exc:
            log.error(
                "internal error on %s %s: %s", scope.get("method"), scope.get("path"), type(exc).__name__
            )
            if not started:
                detail = f"internal error ({type(exc).__name__}); the server log has the request path"
                await self._send(send, problem(500, detail))

    def _too_large(self) -> JSONResponse:
        return problem(413, _TooLarge(self.max_body_bytes).detail)

    @staticmethod
    async def _send(send: Send, response: JSONResponse) -> None:
        async def no_receive() -> Message:
            return {"type": "http.disconnect"}

        await response({"type": "http"}, no_receive, send)
