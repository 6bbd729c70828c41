"""The ``cmkd-med`` command line. Exit codes: 0 done (every bulk row fine), 1 some bulk rows failed, 2 a user
error (one line on stderr), 3 an internal error, a bug (one line; ``CMKD_DEBUG=1`` adds the traceback)."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from cmkd_med import __version__
from cmkd_med.errors import CmkdError, ModelOutputError
from cmkd_med.languages import SUPPORTED_LANGUAGES
from cmkd_med.ontology.linker import DEFAULT_THRESHOLD

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3  # a bug: one line, and the traceback only with CMKD_DEBUG=1


def read_text_arg(value: str | None, what: str = "note") -> str:
    """The text from an argument, or from stdin when the argument is ``-`` or absent (bytes validated)."""
    from cmkd_med.text import validate_text

    if value is not None and value != "-":
        return validate_text(value, what)
    if sys.stdin is None or sys.stdin.isatty():
        raise CmkdError(f"give the {what} as an argument or on standard input")
    return validate_text(sys.stdin.buffer.read(), what)


def print_json(obj: object) -> None:
    from cmkd_med.safe_io import dumps_strict

    try:
        text = dumps_strict(obj, indent=2)
    except ValueError:  # a NaN: never printed as if it were an answer (issue 17)
        raise ModelOutputError("the model gave a non-finite number; result refused") from None
    print(text)


# --- link ------------------------------------------------------------------------------------------
def cmd_link(args: argparse.Namespace) -> int:
    from cmkd_med.ontology.linker import get_linker

    text = read_text_arg(args.text)
    linker = get_linker(args.lang, threshold=args.threshold)
    mentions = linker.link(text)
    if args.json:
        print_json([m.to_dict(linker.kb, linker.lang) for m in mentions])
    else:
        for m in mentions:
            label = linker.kb[m.cui].preferred(linker.lang)
            print(f"{m.start:>6}-{m.end:<6} {m.text!r:40} {m.cui}  {label}  ({m.score:.2f})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cmkd_med.demo import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    from cmkd_med.data.cli import register as register_data
    from cmkd_med.evaluation.cli import register as register_evaluate
    from cmkd_med.models.cli import register as register_models
    from cmkd_med.ontology.cli import register as register_ontology
    from cmkd_med.pipeline_cli import register as register_pipeline
    from cmkd_med.scope_fit import register as register_scope
    from cmkd_med.service.server import register as register_serve
    from cmkd_med.training.cli import register as register_train
    from cmkd_med.training.distill_cli import register as register_distill

    parser = argparse.ArgumentParser(
        prog="cmkd-med",
        description="Multilingual clinical NLP with an ontology layer (en, pt, hi, sw).",
    )
    parser.add_argument("--version", action="version", version=f"cmkd-med {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    register_pipeline(sub)
    register_ontology(sub)

    link = sub.add_parser("link", help="find ontology concepts in a note (argument or stdin)")
    link.add_argument("text", nargs="?", help="the note; '-' or nothing reads standard input")
    link.add_argument("--lang", required=True, help=f"note language: {', '.join(SUPPORTED_LANGUAGES)}")
    link.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"minimum similarity of a fuzzy match (default {DEFAULT_THRESHOLD}, tuned on dev)",
    )
    link.add_argument("--json", action="store_true", help="print JSON")
    link.set_defaults(func=cmd_link)

    register_evaluate(sub)
    register_scope(sub)
    register_data(sub)
    register_train(sub)
    register_distill(sub)
    register_models(sub)
    register_serve(sub)

    demo = sub.add_parser("demo", help="run the offline demo on the bundled examples")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CmkdError as exc:
        print(f"cmkd-med: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cmkd-med: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the environment: a full disk, a permission, a path that cannot be written
        where = f": {exc.filename}" if exc.filename else ""
        print(f"cmkd-med: error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as exc:
        if os.environ.get("CMKD_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        print(
            f"cmkd-med: internal error ({type(exc).__name__}): this is a bug, please report it "
            "(CMKD_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
