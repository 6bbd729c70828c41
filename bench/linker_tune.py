"""Choosing the linker's dense settings on the *tuning* part of the independent annotated notes.

    python bench/linker_tune.py [--adapter adapters/linker] [--langs en,pt,hi,sw]

For each language: mention-level F1 (``cmkd-med evaluate mentions --part tuning``) of the lexical linker
alone and of the dense linker at each fused threshold and dense gate; acc@1 on the tuning part of the
independent link rows. The sealed parts are never read here. Results: ``bench/results/linker_tune.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from cmkd_med.evaluation.link import evaluate_link
from cmkd_med.evaluation.mentions import evaluate_mentions
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import ConceptLinker

DATA = Path(__file__).resolve().parent.parent / "ontology" / "dev" / "independent"
THRESHOLDS = (0.85, 0.88, 0.9, 0.92, 0.94)
GATES = (0.6, 0.7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--adapter", default=None, help="name-adapter folder (default: adapters/linker)")
    parser.add_argument("--langs", default="en,pt,hi,sw")
    args = parser.parse_args()
    adapter = Path(args.adapter) if args.adapter else None
    kb = KnowledgeBase.load()
    out: dict[str, object] = {}
    for lang in args.langs.split(","):
        notes, rows = DATA / f"mentions_{lang}.jsonl", DATA / f"link_{lang}.jsonl"
        lexical = ConceptLinker(kb, lang, dense=False)
        dense = ConceptLinker(kb, lang, dense=True, adapter_dir=adapter)
        grid = []
        for gate in GATES:
            for threshold in THRESHOLDS:
                dense.dense_gate, dense.fused_threshold = gate, threshold
                m = evaluate_mentions(notes, lang, part="tuning", linker=dense)
                grid.append({"gate": gate, "threshold": threshold, **m["strict"]})
        out[lang] = {
            "mentions_lexical": evaluate_mentions(notes, lang, part="tuning", linker=lexical)["strict"],
            "mentions_dense": grid,
            "link_lexical": evaluate_link(rows, lang, linker=lexical, part="tuning"),
            "link_dense": evaluate_link(rows, lang, linker=dense, part="tuning"),
        }
    best = {}
    for gate in GATES:
        for threshold in THRESHOLDS:
            f1 = [
                next(
                    g["f1"]
                    for g in out[lang]["mentions_dense"]
                    if (g["gate"], g["threshold"]) == (gate, threshold)
                )  # type: ignore[index]
                for lang in out
            ]
            best[f"{gate}/{threshold}"] = round(sum(f1) / len(f1), 4)
    save("linker_tune.json", {"part": "tuning", "mean_f1_by_gate_threshold": best, "languages": out})


if __name__ == "__main__":
    main()
