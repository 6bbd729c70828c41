"""Classify throughput with the open world (assertion status and scope) on against off, in one run.

    python bench/scope_speed.py [--lang pt] [--repeats 3]

Notes: the language's scope dev notes (``examples/scope_dev/<lang>.jsonl``, supported and out-of-scope, both
parts: speed, not accuracy). ``pipeline(lang)`` classifies them with ``open_world=True`` (the default:
ConText over the linker's mentions, the scope rules, the out-of-distribution score) and ``open_world=False``
(the closed world of earlier releases), both warmed up once, then timed over ``--repeats`` alternating passes
in the same process. Target (issue 14): on ≥ 0.9× off.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    from cmkd_med import pipeline

    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="pt")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = ROOT / "examples" / "scope_dev" / f"{args.lang}.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    notes = [json.loads(line)["text"] for line in lines if line.strip()]
    runs = {"on": pipeline(args.lang), "off": pipeline(args.lang, open_world=False)}
    for nlp in runs.values():
        nlp.classify(notes[:8])  # loads the models, the linker and ConText once
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, nlp in runs.items():
            start = time.perf_counter()
            nlp.classify(notes)
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in times.items()}
    result = {
        "lang": args.lang,
        "notes": len(notes),
        "repeats": args.repeats,
        "notes_per_s": {name: round(len(notes) / t, 2) for name, t in best.items()},
        "ratio_on_over_off": round(best["off"] / best["on"], 3),
        "target": ">= 0.9",
        "seconds": {name: [round(x, 2) for x in t] for name, t in times.items()},
    }
    save(f"scope_speed_{args.lang}.json", result)


if __name__ == "__main__":
    main()
