"""``cmkd-med ontology build|classes|lookup|export|sparql|train-encoder|fit-fusion``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cmkd_med.languages import SUPPORTED_LANGUAGES, normalize_lang
from cmkd_med.ontology.concept import Concept


def _progress(message: str) -> None:
    print(f"[ontology] {message}", file=sys.stderr)


def cmd_build(args: argparse.Namespace) -> int:
    from cmkd_med.ontology.build import build_ontology

    kb, report = build_ontology(
        args.out, args.data_dir, with_frequency=not args.no_frequency, progress=_progress
    )
    out = Path(args.out) if args.out else None
    _progress(f"wrote {len(kb)} concepts to {(out or Path('ontology')) / 'concepts.jsonl'}")
    for key, value in report.items():
        print(f"{key}\t{value}")
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json
    from cmkd_med.ontology.kb import KnowledgeBase

    rows = [class_record(concept) for concept in KnowledgeBase.load().classes()]
    if args.json:
        print_json(rows)
    else:
        for concept in KnowledgeBase.load().classes():
            labels = " | ".join(f"{lang}: {concept.preferred(lang)}" for lang in SUPPORTED_LANGUAGES)
            print(f"{concept.tcga_code:5} {concept.cui}  {labels}")
    return 0


def class_record(concept: Concept) -> dict[str, object]:
    """``{"code", "cui", "labels", "lay", "lay_definition", "codes"}`` for one class concept."""
    lay = {lang: concept.lay_text(lang) for lang in SUPPORTED_LANGUAGES}
    return {
        "code": concept.tcga_code,
        "cui": concept.cui,
        "labels": {lang: concept.preferred(lang) for lang in SUPPORTED_LANGUAGES},
        "lay": {lang: text.term if text else None for lang, text in lay.items()},
        "lay_definition": {lang: text.definition if text else None for lang, text in lay.items()},
        "codes": {c.system: c.code for c in concept.codes if c.system != "TCGA"},
    }


def cmd_lookup(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json, read_text_arg
    from cmkd_med.ontology.linker import get_linker

    lang = normalize_lang(args.lang)
    text = read_text_arg(args.text, "lookup text")
    linker = get_linker(lang)
    rows = []
    for rank, cand in enumerate(linker.lookup(text, k=args.k, context=args.context), 1):
        concept = linker.kb[cand.cui]
        rows.append({
            "rank": rank, "cui": cand.cui, "score": round(cand.score, 4), "matched_alias": cand.alias,
            "kind": concept.kind, "tcga_code": concept.tcga_code,
            "labels": {"en": concept.preferred("en"), lang: concept.preferred(lang)},
        })  # fmt: skip
        if cand.qualifier:
            rows[-1]["qualifier"] = {
                "cui": cand.qualifier,
                "label": linker.kb[cand.qualifier].preferred(lang),
            }
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            labels: dict[str, str] = row["labels"]  # type: ignore[assignment]
            site = f"  [site: {row['qualifier']['label']}]" if "qualifier" in row else ""  # type: ignore[index]
            print(f"{row['rank']}. {row['cui']}  {row['score']:.3f}  {labels[lang]}  ({row['kind']}){site}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from cmkd_med.ontology.kb import KnowledgeBase
    from cmkd_med.ontology.rdf import export

    text = export(KnowledgeBase.load(), args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_sparql(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json, read_text_arg
    from cmkd_med.ontology.kb import KnowledgeBase
    from cmkd_med.ontology.rdf import sparql, to_graph

    query = Path(args.file).read_text(encoding="utf-8") if args.file else read_text_arg(args.query, "query")
    rows = sparql(to_graph(KnowledgeBase.load()), query)
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            print("\t".join("" if v is None else v for v in row.values()))
    return 0


def cmd_train_encoder(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json
    from cmkd_med.ontology.dense import default_adapter_dir
    from cmkd_med.ontology.dense_eval import fit_fusion
    from cmkd_med.ontology.dense_train import TrainConfig, train_encoder

    out = Path(args.out) if args.out else default_adapter_dir()
    report = train_encoder(out, config=TrainConfig(steps=args.steps, seed=args.seed))
    _progress(f"wrote the name adapter to {out}; fitting the fusion weight on the fusion split ...")
    fused = fit_fusion(out)
    print_json({"train": report["train"], "weight": fused["weight"], "heldout": fused["heldout"]["all"]})
    return 0


def cmd_fit_fusion(args: argparse.Namespace) -> int:
    from cmkd_med.cli import print_json
    from cmkd_med.ontology.dense_eval import fit_fusion

    fused = fit_fusion(Path(args.adapter) if args.adapter else None)
    print_json({k: fused[k] for k in ("weight", "fusion", "heldout")})
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from cmkd_med.ontology.rdf import EXPORT_FORMATS

    onto = subparsers.add_parser("ontology", help="build and query the ontology")
    sub = onto.add_subparsers(dest="ontology_command", metavar="SUBCOMMAND")
    sub.required = True

    build = sub.add_parser("build", help="build ontology/ from the data directory and the curated files")
    build.add_argument(
        "--data-dir", default=None, help="public data folder (default: $CMKD_DATA_DIR or ../shared/data)"
    )
    build.add_argument("--out", default=None, help="output folder (default: the project's ontology/)")
    build.add_argument("--no-frequency", action="store_true", help="skip the frequency count on TCGA train")
    build.set_defaults(func=cmd_build)

    train = sub.add_parser(
        "train-encoder",
        help="train the dense name encoder (LoRA on multilingual-e5-small) on the KB's synonym sets",
        description="SapBERT-style training on the train-split concepts, then the fusion weight fitted on "
        "the fusion split and acc@1 on held-out concepts (see ontology/README.md). "
        "2 CPU cores: about 40 minutes.",
    )
    train.add_argument("--out", default=None, help="adapter folder (default: adapters/linker)")
    train.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    train.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    train.set_defaults(func=cmd_train_encoder)

    fit = sub.add_parser(
        "fit-fusion",
        help="fit the dense/lexical fusion weight on the fusion split; acc@1 on held-out concepts",
    )
    fit.add_argument("--adapter", default=None, help="adapter folder (default: adapters/linker)")
    fit.set_defaults(func=cmd_fit_fusion)

    classes = sub.add_parser("classes", help="the 20 TCGA cancer-type classes")
    classes.add_argument("--json", action="store_true", help="print JSON")
    classes.set_defaults(func=cmd_classes)

    lookup = sub.add_parser("lookup", help="ranked concept candidates for a term")
    lookup.add_argument("text", nargs="?", help="the term; '-' or nothing reads standard input")
    lookup.add_argument(
        "--lang", required=True, help=f"language of the term: {', '.join(SUPPORTED_LANGUAGES)}"
    )
    lookup.add_argument("-k", "--k", type=int, default=5, help="number of candidates (default 5)")
    lookup.add_argument(
        "--context",
        default=None,
        help="the sentence the term is in (disambiguates abbreviations such as SCC)",
    )
    lookup.add_argument("--json", action="store_true", help="print JSON")
    lookup.set_defaults(func=cmd_lookup)

    exp = sub.add_parser("export", help="export the ontology as RDF (SKOS)")
    exp.add_argument(
        "--format", default="ttl", choices=sorted(EXPORT_FORMATS), help="RDF format (default ttl)"
    )
    exp.add_argument("--out", default=None, help="output file (default: stdout)")
    exp.set_defaults(func=cmd_export)

    query = sub.add_parser("sparql", help="run a SPARQL SELECT over the ontology graph")
    query.add_argument("query", nargs="?", help="the query ('-' or nothing reads stdin)")
    query.add_argument("--file", default=None, help="read the query from a file")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.set_defaults(func=cmd_sparql)
