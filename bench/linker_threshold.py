"""Threshold sweep for the linker's fuzzy matches on the dev sets' contexts (how DEFAULT_THRESHOLD was set).

    python bench/linker_threshold.py

For each dev row with a ``context`` containing the mention: does ``link(context)`` return a gold CUI on a
span overlapping the mention (recall), and how many mentions does it return in all (a noise proxy).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from cmkd_med.config import ontology_dir
from cmkd_med.evaluation.jsonl import iter_jsonl
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import ConceptLinker, frequency_priors

THRESHOLDS = (0.75, 0.8, 0.85, 0.88, 0.92, 0.96)


def main() -> None:
    kb = KnowledgeBase.load()
    priors = frequency_priors(ontology_dir())
    out = {}
    for lang in ("en", "pt", "hi", "sw"):
        path = ontology_dir() / "dev" / f"link_{lang}.jsonl"
        rows = [
            o
            for _, o in iter_jsonl(path)
            if isinstance(o.get("context"), str) and o["mention"] in o["context"]
        ]
        linker = ConceptLinker(kb, lang, priors=priors)
        sweep = []
        for threshold in THRESHOLDS:
            linker.threshold = threshold
            hits = found = 0
            for row in rows:
                gold = {kb[c].cui for c in ([row["cui"]] if "cui" in row else row["cuis"]) if c in kb}
                start = row["context"].index(row["mention"])
                end = start + len(row["mention"])
                mentions = linker.link(row["context"])
                found += len(mentions)
                hits += any(m.cui in gold and m.start < end and m.end > start for m in mentions)
            sweep.append(
                {"threshold": threshold, "recall_in_context": round(hits / len(rows), 3), "mentions": found}
            )
        out[lang] = {"rows_with_context": len(rows), "sweep": sweep}
    save("linker_threshold.json", {"data": "ontology/dev/link_*.jsonl (contexts)", "results": out})


if __name__ == "__main__":
    main()
