"""The ``cmkd-med data`` command group.

- ``cmkd-med data stats [NAME ...] [--data-dir DIR] [--json]``: row counts behind the data cards.
- ``cmkd-med data export-jsonl [--split train|dev|all] [--out FILE|-] [--data-dir DIR]``: the TCGA
  reports as JSONL rows ``{"id", "text", "label"}``.
- ``cmkd-med data export-tico --split heldout|distill --out FILE.tsv``: the TICO-19 ``dev.tsv`` documents
  held out of distillation (or the others), in the input format of ``evaluate retrieve``.

The main CLI calls :func:`register` with its subparsers object; every handler takes the parsed
``argparse.Namespace`` and returns an exit code. Project errors (an unknown dataset name) propagate to the
main CLI, which reports them in one line with exit code 2.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from cmkd_med.config import DATA_DIR_ENV, data_dir
from cmkd_med.data.export import EXPORT_SPLITS, iter_export_rows, write_rows
from cmkd_med.data.registry import DATASETS, count_rows, get_dataset
from cmkd_med.errors import DataFormatError, DataNotFoundError


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"data directory (default: ${DATA_DIR_ENV}, else ../shared/data from the project root)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``data`` command group (``stats``, ``export-jsonl``) to ``subparsers``."""
    data = subparsers.add_parser("data", help="the public datasets: row counts, TCGA reports as JSONL")
    commands = data.add_subparsers(dest="data_command", metavar="COMMAND", required=True)

    stats = commands.add_parser(
        "stats",
        help="print each dataset's row counts",
        description="Count the rows of each registered dataset, as written in its card in data_cards/.",
    )
    stats.add_argument(
        "names", nargs="*", metavar="NAME", help=f"datasets to count (default: all of {', '.join(DATASETS)})"
    )
    _add_data_dir(stats)
    stats.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    stats.set_defaults(func=run_stats)

    export = commands.add_parser(
        "export-jsonl",
        help="write the TCGA reports as JSONL rows {id, text, label}",
        description='Stream the TCGA report splits as JSONL, one {"id", "text", "label"} object a '
        "line (UTF-8), the input format of the evaluation commands.",
    )
    export.add_argument(
        "--split",
        choices=EXPORT_SPLITS,
        default="dev",
        help="which split to write; 'all' is train then dev (default: dev)",
    )
    export.add_argument(
        "--out", default="-", metavar="FILE", help="output file; '-' is standard output (the default)"
    )
    _add_data_dir(export)
    export.set_defaults(func=run_export_jsonl)

    tico = commands.add_parser(
        "export-tico",
        help="write the TICO-19 dev documents held out of distillation (or the others) as a TSV",
        description="Write tico19/dev.tsv rows of the documents the students never saw ('heldout') or of "
        "those they were distilled on ('distill'), with all its columns, for `evaluate retrieve`.",
    )
    tico.add_argument("--split", choices=("heldout", "distill"), default="heldout", help="default: heldout")
    tico.add_argument("--out", required=True, metavar="FILE", help="output TSV")
    _add_data_dir(tico)
    tico.set_defaults(func=run_export_tico)

    stage = commands.add_parser(
        "export-stage",
        help="write TCGA reports with their patients' Kefeli T/N labels as JSONL, for `evaluate stage`",
        description="Join the reports of a split to tcga_patient/tnm_kefeli.tsv by patient and write "
        '{"id", "text", "T"?, "N"?} rows (T1..T4, N0..N3) for the reports with at least one label; '
        "--survival writes {id, text, time, event} rows (PFI, days) for `evaluate survival` instead.",
    )
    stage.add_argument("--split", choices=("train", "dev"), default="dev", help="default: dev")
    stage.add_argument("--out", required=True, metavar="FILE", help="output JSONL")
    stage.add_argument("--survival", action="store_true", help="PFI time/event rows instead of T/N")
    _add_data_dir(stage)
    stage.set_defaults(func=run_export_stage)


def run_stats(args: argparse.Namespace) -> int:
    """Print the row counts; exit 1 if any dataset is missing or unreadable (the others are still shown)."""
    names: list[str] = list(args.names) or list(DATASETS)
    for name in names:
        get_dataset(name)  # an unknown name fails before any counting, with the valid names
    root = data_dir(args.data_dir)

    counts: dict[str, dict[str, int] | None] = {}
    failures: dict[str, str] = {}
    # The bar goes to stderr and only to a terminal, so piped output (--json | jq) stays clean.
    progress = tqdm(
        names, desc="counting", unit="dataset", file=sys.stderr, leave=False, disable=not sys.stderr.isatty()
    )
    for name in progress:
        progress.set_postfix_str(name)
        try:
            counts[name] = count_rows(name, data_root=root)
        except (DataNotFoundError, DataFormatError) as exc:
            counts[name] = None
            failures[name] = str(exc)

    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        print(format_table(counts))
    for name, message in failures.items():
        print(f"error: {name}: {message}", file=sys.stderr)
    return 1 if failures else 0


def run_export_jsonl(args: argparse.Namespace) -> int:
    """Write the rows; a file is written under a temporary name and renamed, so a failure leaves none."""
    rows = iter_export_rows(args.split, data_dir(args.data_dir))  # checks the split and files first
    if args.out == "-":
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(encoding="utf-8")  # report text is not ASCII; the locale may not be UTF-8
        count = write_rows(rows, sys.stdout)
        sys.stdout.flush()
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8", newline="\n") as handle:
                count = write_rows(rows, handle)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    print(f"wrote {count} rows ({args.split})", file=sys.stderr)
    return 0


def run_export_tico(args: argparse.Namespace) -> int:
    from cmkd_med.config import data_path
    from cmkd_med.training.distill_data import TICO_HELDOUT_DOCS, tico_doc

    source = data_path("tico19", "dev.tsv", data_root=args.data_dir)
    lines = source.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    keep = [
        r for r in rows if (tico_doc(r.split("\t", 1)[0]) in TICO_HELDOUT_DOCS) == (args.split == "heldout")
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([header, *keep]) + "\n", encoding="utf-8")
    print(f"wrote {len(keep)} rows ({args.split}: {', '.join(TICO_HELDOUT_DOCS)} held out)", file=sys.stderr)
    return 0


def run_export_stage(args: argparse.Namespace) -> int:
    from cmkd_med.data.patient_join import stage_rows, survival_rows
    from cmkd_med.safe_io import atomic_write_text

    make = survival_rows if args.survival else stage_rows
    rows = [json.dumps(row, ensure_ascii=False) for row in make(args.split, data_dir(args.data_dir))]
    atomic_write_text(args.out, "".join(line + "\n" for line in rows))
    kind = "PFI" if args.survival else "Kefeli T/N"
    print(f"wrote {len(rows)} rows ({args.split}, {kind})", file=sys.stderr)
    return 0


def format_table(counts: dict[str, dict[str, int] | None]) -> str:
    """A plain three-column table: dataset, count name, rows (``error`` where a dataset failed)."""
    rows: list[tuple[str, str, str]] = [("dataset", "count", "rows")]
    for name, named in counts.items():
        if named is None:
            rows.append((name, "-", "error"))
            continue
        for i, (key, value) in enumerate(named.items()):
            rows.append((name if i == 0 else "", key, str(value)))
    widths = [max(len(row[col]) for row in rows) for col in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>8}" for a, b, c in rows)
