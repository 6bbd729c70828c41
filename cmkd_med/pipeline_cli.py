"""``cmkd-med classify|retrieve|summarize`` (one note, or bulk JSONL) and ``cmkd-med index build``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cmkd_med import fhir
from cmkd_med.errors import InvalidInputError
from cmkd_med.languages import SUPPORTED_LANGUAGES


def _pipeline(args: argparse.Namespace, index: str | None = None) -> Any:
    from cmkd_med.api import Pipeline

    return Pipeline(
        args.lang,
        adapter=args.adapter,
        base_model=args.base_model,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        abstain_threshold=args.abstain_threshold,
        index=index,
    )


def _bulk(args: argparse.Namespace, process: Any, desc: str, writer: Any = None) -> int:
    from cmkd_med.bulk import EXIT_SOME_ROWS_FAILED, run_bulk

    if args.out is None:
        raise InvalidInputError("--input needs --out (the JSONL file to write; rerun with it to resume)")
    stats = run_bulk(
        args.input,
        args.out,
        process,
        args.batch_size,
        progress=True,
        desc=desc,
        retry_errors=args.retry_errors,
        writer_class=writer,
    )
    retried = f", {stats.retried} error rows retried" if stats.retried else ""
    print(
        f"{stats.written} rows written to {args.out} ({stats.failed} failed), "
        f"{stats.skipped} already there from an earlier run{retried}",
        file=sys.stderr,
    )
    return EXIT_SOME_ROWS_FAILED if stats.any_failed else 0


def _note(args: argparse.Namespace, what: str = "note") -> str:
    from cmkd_med.cli import read_text_arg

    if args.out is not None:
        raise InvalidInputError("--out goes with --input (bulk); one note prints to standard output")
    return read_text_arg(args.text, what)


# --- classify ------------------------------------------------------------------------------------
def cmd_classify(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json

    nlp = _pipeline(args)
    if args.input is not None:

        def classify_rows(rows: list[Any]) -> list[dict[str, Any]]:
            results = nlp.classify([r.text for r in rows], [r.lang for r in rows])
            return fhir.bulk_records(rows, results, nlp.kb) if args.format == "fhir" else results

        if args.engine == "ray":  # the same run, the batches on Ray actors (cmkd_med/engine_ray.py)
            from cmkd_med.engine_ray import cli_writer

            return _bulk(args, classify_rows, "classify", writer=cli_writer(args))
        return _bulk(args, classify_rows, "classify")
    if args.engine != "local":
        raise InvalidInputError("--engine ray is for bulk runs (--input FILE --out FILE)")
    result = nlp.classify(_note(args))
    if args.format == "fhir":
        print_json(fhir.to_bundle(result, nlp.kb))
        return 0
    if args.json or args.format == "json":
        print_json(result)
        return 0
    print(f"{_headline(result)}  uncertainty={result['uncertainty']:.2f}  lang={result['lang']}")
    print(f"  scope: {result.get('scope')} ({result.get('scope_reason')})")
    for e in result["entities"]:
        span, label = f"{e['start']:>5}-{e['end']:<5}", e["labels"][result["lang"]]
        print(f"  {span} {e['text']!r:36} {e['cui']}  {e.get('assertion', ''):10} {label}")
    return 0


def _headline(result: dict[str, Any]) -> str:
    """The first line of the text output: the class only when the note is in scope and not abstained."""
    concept, p = result["concept"], result["probability"]
    if result.get("scope") not in (None, "supported"):
        named = f" ({concept['label']} [{concept['cui']}])" if concept else ""
        return f"NOT SUPPORTED: {result['scope']}{named}; no cancer type named, review needed"
    if result["abstained"]:
        return f"ABSTAINED: unclear, review needed (top candidate {result['label']}, p={p:.2f})"
    return f"{result['label']}  {concept['label']} [{concept['cui']}]  p={p:.2f}"


# --- summarize -----------------------------------------------------------------------------------
def cmd_summarize(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json

    nlp = _pipeline(args)
    if args.input is not None:

        def process(rows: list[Any]) -> list[dict[str, Any]]:
            results = nlp.classify([r.text for r in rows], [r.lang for r in rows])
            summaries = [nlp.summarize(res, args.audience, args.summary_lang) for res in results]
            return fhir.bulk_records(rows, results, nlp.kb, summaries) if args.format == "fhir" else summaries

        return _bulk(args, process, "summarize")
    if args.format == "fhir":
        result = nlp.classify([_note(args)])[0]
        print_json(fhir.to_bundle(result, nlp.kb, nlp.summarize(result, args.audience, args.summary_lang)))
        return 0
    summary = nlp.summarize(_note(args), args.audience, args.summary_lang)
    if args.json or args.format == "json":
        print_json(summary)
    else:
        print(summary["text"])
    return 0


# --- retrieve ------------------------------------------------------------------------------------
def cmd_retrieve(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json

    nlp = _pipeline(args, index=args.index)
    nlp.index()  # a missing index fails before any row is read
    if args.input is not None:

        def process(rows: list[Any]) -> list[dict[str, Any]]:
            return [{"hits": nlp.retrieve(r.text, args.k, args.modality, r.lang)} for r in rows]

        return _bulk(args, process, "retrieve")
    hits = nlp.retrieve(_note(args, "query"), args.k, args.modality)
    if args.json:
        print_json(hits)
        return 0
    for rank, hit in enumerate(hits, 1):
        shown = hit.get("preview") or ", ".join(hit.get("variants", [])) or ""
        shown = " ".join(shown.split())[:80]
        label = hit.get("label") or ""
        print(f"{rank:>2}. {hit['score']:.3f}  {hit['modality']:8} {hit['id']:24} {label:5} {shown}")
    return 0


# --- index build ---------------------------------------------------------------------------------
def cmd_index_build(args: argparse.Namespace) -> int:
    from cmkd_med.index import build_index, read_items
    from cmkd_med.models.teacher_runtime import Teacher

    items = list(read_items(args.input))
    teacher = Teacher.load(args.teacher)
    meta = build_index(items, args.out, teacher, args.kind)
    counts = ", ".join(f"{m}: {v['n']} ({v['kind']})" for m, v in meta["modalities"].items())
    print(f"index written to {args.out}: {counts}", file=sys.stderr)
    return 0


def _common(p: argparse.ArgumentParser, what: str = "note") -> None:
    p.add_argument("text", nargs="?", help=f"the {what}; '-' or nothing reads standard input")
    p.add_argument(
        "--lang",
        default="auto",
        help=f"language: {', '.join(SUPPORTED_LANGUAGES)} or auto (detected per note; default)",
    )
    p.add_argument("--input", help='bulk: JSONL rows {"id", "text"[, "lang"]} (\'-\' reads stdin)')
    p.add_argument("--out", help="bulk: JSONL output, one row per input line; rerun to resume")
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="bulk resume: also redo the rows an earlier run wrote as errors (internal errors always are)",
    )
    p.add_argument("--adapter", help="adapter folder to use instead of adapters/<lang> (one language)")
    p.add_argument("--base-model", help="provider spec of the same base weights (e.g. a local copy)")
    p.add_argument("--batch-size", type=int, default=16, help="notes per batch (default 16)")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default), cuda, cuda:1, mps")
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="encoder precision; auto (default): bfloat16 where the hardware has it natively, else float32",
    )
    p.add_argument(
        "--abstain-threshold",
        type=float,
        default=None,
        help="uncertainty above which to abstain (default: the calibrated one)",
    )
    p.add_argument("--json", action="store_true", help="one note: print JSON")


def _format_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=("text", "json", "fhir"),
        default=None,
        help="output: text (one note's default), json (as --json; bulk rows always are JSON) or fhir "
        '(a FHIR R4 Bundle; bulk rows {"id", "fhir"})',
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("classify", help="cancer type of a note, with concept, probability, entities")
    _common(p)
    _format_option(p)
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="bulk: local (this process, default) or ray (Ray Data actors; RAY_ADDRESS selects a cluster)",
    )
    p.add_argument("--workers", type=int, help="--engine ray: actors (default: one per CPU)")
    p.set_defaults(func=cmd_classify)

    p = subparsers.add_parser("summarize", help="a patient (or clinician) summary of a note")
    _common(p)
    p.add_argument("--audience", choices=("patient", "clinician"), default="patient", help="default patient")
    p.add_argument("--summary-lang", help="language of the summary (default: the note's)")
    _format_option(p)
    p.set_defaults(func=cmd_summarize)

    p = subparsers.add_parser("retrieve", help="nearest reports, variant sets or slides to a query")
    _common(p, "query")
    p.add_argument("--index", required=True, help="index folder from `cmkd-med index build`")
    p.add_argument("-k", type=int, default=10, help="hits (default 10)")
    p.add_argument("--modality", choices=("text", "variants", "image"), help="only this kind of item")
    p.set_defaults(func=cmd_retrieve)

    index = subparsers.add_parser("index", help="build a retrieval index in the teacher space")
    isub = index.add_subparsers(dest="index_command", metavar="COMMAND")
    isub.required = True
    b = isub.add_parser("build", help="embed JSONL items (text, variants or image) and save a faiss index")
    b.add_argument("--input", required=True, help='JSONL: {"id", "text"|"variants"|"image"[, "label"]}')
    b.add_argument("--out", required=True, help="index folder to write")
    b.add_argument("--kind", choices=("auto", "flat", "hnsw"), default="auto", help="auto: exact below 50k")
    b.add_argument("--teacher", default=None, help="teacher folder (default adapters/en)")
    b.set_defaults(func=cmd_index_build)
