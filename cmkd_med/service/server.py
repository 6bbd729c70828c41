"""``cmkd-med serve``: the service under uvicorn, bound to 127.0.0.1 unless told otherwise.

Any other address needs ``--api-key-file`` (the key is the file's first line) and the server refuses to
start without it. Access logs carry the method, path, status and client address only (notes travel in
request bodies, never in a URL the service accepts).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from cmkd_med.errors import CmkdError, DataNotFoundError, InvalidInputError
from cmkd_med.languages import SUPPORTED_LANGUAGES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MIN_KEY_CHARS = 16


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: may resolve to anything


def read_api_key(path: str) -> str:
    """The key in ``path`` (its first line, stripped); a missing, empty or short key is a user error."""
    file = Path(path)
    if not file.is_file():
        raise DataNotFoundError(f"no API key file at {path}")
    lines = file.read_text(encoding="utf-8").splitlines()
    key = lines[0].strip() if lines else ""
    if len(key) < MIN_KEY_CHARS:
        raise InvalidInputError(f"the API key in {path} is empty or shorter than {MIN_KEY_CHARS} characters")
    return key


def check_bind(host: str, api_key_file: str | None) -> str | None:
    """The API key to require (``None``: none), after refusing a non-loopback bind without one."""
    if api_key_file is not None:
        return read_api_key(api_key_file)
    if not is_loopback(host):
        raise CmkdError(
            f"refusing to bind {host}: any address but loopback needs --api-key-file FILE "
            "(clients then send Authorization: Bearer KEY)"
        )
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    from cmkd_med.api import Pipeline
    from cmkd_med.service.app import ServiceConfig, create_app

    api_key = check_bind(args.host, args.api_key_file)  # before any model loads
    if not 0 < args.port < 65536:
        raise InvalidInputError(f"--port {args.port} is not a TCP port")
    if args.max_batch < 1 or args.max_body_mb <= 0:
        raise InvalidInputError("--max-batch and --max-body-mb must be positive")
    preload = None
    if args.preload is not None:
        from cmkd_med.languages import normalize_lang

        preload = tuple(normalize_lang(x) for x in args.preload.split(",") if x.strip())
    nlp = Pipeline(
        args.lang, adapter=args.adapter, base_model=args.base_model, device=args.device,
        precision=args.precision, batch_size=args.batch_size, index=args.index,
    )  # fmt: skip
    if args.index is not None:
        nlp.index()  # a missing or damaged index fails here, not at the first request
    config = ServiceConfig(
        max_body_bytes=int(args.max_body_mb * 1024 * 1024), max_batch=args.max_batch, api_key=api_key,
        preload=preload,
    )  # fmt: skip
    app = create_app(nlp, config)
    import uvicorn

    logging.getLogger("cmkd_med.service").setLevel(logging.INFO)
    where = f"http://{args.host}:{args.port}"
    print(
        f"cmkd-med serve: {where} (API key {'required' if api_key else 'off: loopback only'})",
        file=sys.stderr,
    )
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, server_header=False,
        limit_concurrency=args.max_concurrency, timeout_graceful_shutdown=10,
    )  # fmt: skip
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="the HTTP service (FastAPI): classify, summarize, retrieve, link")
    p.add_argument("--host", default=DEFAULT_HOST, help="bind address (default 127.0.0.1; others need a key)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    p.add_argument("--api-key-file", help="file whose first line is the API key clients must send")
    p.add_argument("--lang", default="auto", help=f"{', '.join(SUPPORTED_LANGUAGES)} or auto (default)")
    p.add_argument("--index", help="index folder from `cmkd-med index build` (for /v1/retrieve)")
    p.add_argument("--adapter", help="adapter folder to use instead of adapters/<lang> (one language)")
    p.add_argument("--base-model", help="provider spec of the same base weights (e.g. a local copy)")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, cuda:1, mps")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto")
    p.add_argument("--batch-size", type=int, default=16, help="notes per model batch (default 16)")
    p.add_argument("--preload", help="languages to load at start-up, comma-separated (default: all served)")
    p.add_argument("--max-batch", type=int, default=64, help="most notes in one request (default 64)")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="largest request body in MiB (default 8)")
    p.add_argument("--max-concurrency", type=int, default=64, help="open requests before 503 (default 64)")
    p.add_argument("--log-level", choices=("warning", "info"), default="info", help="uvicorn log level")
    p.set_defaults(func=cmd_serve)
