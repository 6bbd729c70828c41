"""Bulk classify throughput: single process against Ray with 1 and 2 local workers, same rows, one run.

    python bench/ray_bulk.py [--lang pt] [--rows 240] [--batch 16]

Rows: the project's dev notes in ``--lang`` (``examples/dev_notes``), repeated with fresh ids up to
``--rows``. Each engine runs the whole bulk command path (``cmkd-med classify --input … --out …``, a fresh
output each time) and is timed end to end, model loading included (the single process loads one pipeline;
each Ray actor loads its own). Ray starts once, locally (2 CPUs), before the timed runs; each actor gets
one CPU. The outputs are compared with the single-process one. Writes ``bench/results/ray_bulk.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    import ray

    from cmkd_med.cli import main as cli

    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="pt")
    parser.add_argument("--rows", type=int, default=240)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    notes = [json.loads(line)["text"] for line in (ROOT / "examples/dev_notes" / f"{args.lang}.jsonl").open()]
    os.environ.pop("RAY_ADDRESS", None)  # local only
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text(
            "".join(
                json.dumps({"id": f"n{i}", "text": notes[i % len(notes)]}) + "\n" for i in range(args.rows)
            ),
            encoding="utf-8",
        )
        base = ["classify", "--lang", args.lang, "--input", str(src), "--batch-size", str(args.batch)]
        engines = {"single_process": [], "ray_1_worker": ["--engine", "ray", "--workers", "1"],
                   "ray_2_workers": ["--engine", "ray", "--workers", "2"]}  # fmt: skip
        outputs = {}
        for name, extra in engines.items():
            out = Path(tmp) / f"{name}.jsonl"
            t = time.perf_counter()
            code = cli([*base, "--out", str(out), *extra])
            seconds = time.perf_counter() - t
            outputs[name] = out.read_bytes()
            errors = [r["error"] for r in map(json.loads, outputs[name].splitlines()) if "error" in r]
            if errors:  # a bench of failures measures nothing
                raise SystemExit(f"{name}: {len(errors)} rows failed, first: {errors[0]}")
            runs[name] = {
                "exit": code,
                "seconds": round(seconds, 2),
                "rows_per_s": round(args.rows / seconds, 2),
            }
    ray.shutdown()
    single = runs["single_process"]["rows_per_s"]
    for name in runs:
        runs[name]["vs_single_process"] = round(runs[name]["rows_per_s"] / single, 3)
        runs[name]["output_identical"] = outputs[name] == outputs["single_process"]
    save("ray_bulk.json", {"lang": args.lang, "rows": args.rows, "batch": args.batch, "runs": runs})


if __name__ == "__main__":
    main()
