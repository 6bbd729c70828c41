"""``cmkd-med evaluate link|classify|retrieve|scope|assertion|mentions|stage|survival``."""

from __future__ import annotations

import argparse

from cmkd_med.languages import SUPPORTED_LANGUAGES


def cmd_link(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.link import evaluate_link

    print(write_json(evaluate_link(args.data, args.lang, part=args.part), args.out))
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.classify import evaluate_classify
    from cmkd_med.evaluation.jsonl import write_json

    result = evaluate_classify(
        args.data,
        args.lang,
        args.teacher,
        baselines=not args.no_baselines,
        data_root=args.data_dir,
        student_dir=args.student,
    )
    print(write_json(result, args.out))
    return 0


def cmd_retrieve(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.retrieve import evaluate_retrieve

    result = evaluate_retrieve(
        args.data, args.lang, args.teacher, args.student, baselines=not args.no_baselines
    )
    print(write_json(result, args.out))
    return 0


def cmd_scope(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.scope import evaluate_scope

    print(write_json(evaluate_scope(args.data, args.lang, args.part), args.out))
    return 0


def cmd_assertion(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.scope import evaluate_assertion

    print(write_json(evaluate_assertion(args.data, args.lang, args.part), args.out))
    return 0


def cmd_mentions(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.mentions import evaluate_mentions

    print(write_json(evaluate_mentions(args.data, args.lang, args.part), args.out))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser("evaluate", help="measure a component on a labelled file")
    sub = ev.add_subparsers(dest="evaluate_command", metavar="TASK")
    sub.required = True
    link = sub.add_parser("link", help="entity linking: acc@1 / acc@5 on {mention, cui|cuis} JSONL rows")
    link.add_argument(
        "--lang", required=True, help=f"language of the mentions: {', '.join(SUPPORTED_LANGUAGES)}"
    )
    link.add_argument("--data", required=True, help='JSONL file of {"mention", "cui"} or {"mention", "cuis"}')
    link.add_argument("--out", default=None, help="also write the metrics JSON here")
    link.add_argument(
        "--part", default="all", choices=("all", "tuning", "sealed"),
        help="the fixed-seed tuning or sealed part of the file, by row id (default: all)",
    )  # fmt: skip
    link.set_defaults(func=cmd_link)

    cls = sub.add_parser("classify", help="cancer-type classification on {id, text, label} JSONL rows")
    cls.add_argument("--lang", required=True, help=f"language of the notes: {', '.join(SUPPORTED_LANGUAGES)}")
    cls.add_argument(
        "--data", required=True, help='JSONL file of {"id", "text", "label"} rows (label: TCGA code)'
    )
    cls.add_argument("--out", default=None, help="also write the metrics JSON here")
    cls.add_argument("--teacher", default=None, help="teacher folder (default: adapters/en)")
    cls.add_argument("--student", default=None, help="student folder for pt/hi/sw (default: adapters/<lang>)")
    cls.add_argument("--data-dir", default=None, help="public data folder, for the baselines' training split")
    cls.add_argument("--no-baselines", action="store_true", help="skip the same-run baselines")
    cls.set_defaults(func=cmd_classify)

    ret = sub.add_parser(
        "retrieve", help="cross-lingual retrieval: target-language queries against the English side of a TSV"
    )
    ret.add_argument("--lang", required=True, help="language of the queries: pt, hi or sw")
    ret.add_argument(
        "--data", required=True, help="TSV with columns 'en' and the language code (as tico19/dev.tsv)"
    )
    ret.add_argument("--out", default=None, help="also write the metrics JSON here")
    ret.add_argument("--teacher", default=None, help="teacher folder (default: adapters/en)")
    ret.add_argument("--student", default=None, help="student folder (default: adapters/<lang>)")
    ret.add_argument("--no-baselines", action="store_true", help="skip the same-run baselines")
    ret.set_defaults(func=cmd_retrieve)

    parts = ("all", "tuning", "sealed")
    langs = ", ".join(SUPPORTED_LANGUAGES)
    scope = sub.add_parser("scope", help="open-world scope: out-of-scope notes kept out, supported kept")
    scope.add_argument("--lang", required=True, help=f"language of the notes: {langs}")
    scope.add_argument(
        "--data",
        required=True,
        help='JSONL of {"id", "text", "scope"} (supported, no_malignancy, unsupported_cancer, unclear) or '
        '{"id", "text", "label"} (a TCGA code: supported); optional "kind" for per-kind figures',
    )
    scope.add_argument("--out", default=None, help="also write the metrics JSON here")
    scope.add_argument(
        "--part", default="all", choices=parts, help="the fixed-seed tuning or sealed part of the file (all)"
    )
    scope.set_defaults(func=cmd_scope)

    ast = sub.add_parser("assertion", help="assertion status (ConText) of gold target spans")
    ast.add_argument("--lang", required=True, help=f"language of the texts: {langs}")
    ast.add_argument(
        "--data",
        required=True,
        help='JSONL of {"id", "text", "target" (or "start", "end"), "assertion"} with assertion one of '
        "affirmed, negated, possible, historical, family",
    )
    ast.add_argument("--out", default=None, help="also write the metrics JSON here")
    ast.add_argument("--part", default="all", choices=parts, help="the tuning or sealed part (default: all)")
    ast.set_defaults(func=cmd_assertion)

    men = sub.add_parser("mentions", help="linker mention precision / recall / F1 on span-annotated notes")
    men.add_argument("--lang", required=True, help=f"language of the notes: {langs}")
    men.add_argument(
        "--data", required=True, help='JSONL of {"id", "text", "mentions": [{"start", "end", "cui"}, ...]}'
    )
    men.add_argument("--out", default=None, help="also write the metrics JSON here")
    men.add_argument("--part", default="all", choices=parts, help="the tuning or sealed part (default: all)")
    men.set_defaults(func=cmd_mentions)

    stage = sub.add_parser(
        "stage", help="pathologic T (T1-T4) and N (N0-N3) on {id, text, T?, N?} JSONL rows"
    )
    stage.add_argument("--lang", required=True, help=f"language of the notes: {langs}")
    stage.add_argument(
        "--data", required=True, help='JSONL of {"id", "text", "T"?, "N"?} (`cmkd-med data export-stage`)'
    )
    stage.add_argument("--out", default=None, help="also write the metrics JSON here")
    stage.add_argument(
        "--teacher", default=None, help="folder with the pathology head (default: adapters/en)"
    )
    stage.add_argument(
        "--student", default=None, help="student folder for pt/hi/sw (default: adapters/<lang>)"
    )
    stage.add_argument(
        "--data-dir", default=None, help="public data folder, for the baseline's training split"
    )
    stage.add_argument("--no-baselines", action="store_true", help="skip the same-run TF-IDF + LR baseline")
    stage.set_defaults(func=cmd_stage)

    surv = sub.add_parser(
        "survival", help="Harrell's C-index on {id, text, time, event} JSONL rows (research)"
    )
    surv.add_argument("--lang", required=True, help=f"language of the notes: {langs}")
    surv.add_argument(
        "--data",
        required=True,
        help='JSONL of {"id", "text", "time" (days), "event" (1 = event)} (`data export-stage --survival`)',
    )
    surv.add_argument("--out", default=None, help="also write the metrics JSON here")
    surv.add_argument("--teacher", default=None, help="folder with the prognosis head (default: adapters/en)")
    surv.add_argument(
        "--student", default=None, help="student folder for pt/hi/sw (default: adapters/<lang>)"
    )
    surv.add_argument(
        "--data-dir", default=None, help="public data folder, for the baseline's training split"
    )
    surv.add_argument("--no-baselines", action="store_true", help="skip the same-run stage-only baseline")
    surv.set_defaults(func=cmd_survival)


def cmd_stage(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.stage import evaluate_stage

    result = evaluate_stage(
        args.data,
        args.lang,
        args.teacher,
        baselines=not args.no_baselines,
        data_root=args.data_dir,
        student_dir=args.student,
    )
    print(write_json(result, args.out))
    return 0


def cmd_survival(args: argparse.Namespace) -> int:
    from cmkd_med.evaluation.jsonl import write_json
    from cmkd_med.evaluation.survival import evaluate_survival

    result = evaluate_survival(
        args.data,
        args.lang,
        args.teacher,
        baselines=not args.no_baselines,
        data_root=args.data_dir,
        student_dir=args.student,
    )
    print(write_json(result, args.out))
    return 0
