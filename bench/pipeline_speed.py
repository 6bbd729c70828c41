"""Pipeline classify throughput against a plain ``transformers`` forward of the same base model, in one run.

    python bench/pipeline_speed.py [--lang pt] [--repeats 3] [--demo]

Notes: the project's dev notes in ``--lang`` (``examples/dev_notes``). The baseline tokenises each note
(truncated at 512 tokens), runs the bare base model (the student's e5-small body, no adapter) in batches of
16 sorted by length, and mean-pools: the least any classifier on this base must do. The pipeline does
everything a user gets: windowing of long notes, entity linking, the LoRA student with entity-aware
attention, MC-dropout heads, calibrated probabilities and the result dicts — once with its default precision
(``auto``: bfloat16 autocast of the encoder where the CPU computes bf16 natively, which this bench records)
and once forced to ``float32``, the precision of the model cards' figures; how far the two agree (labels,
largest probability difference) is measured on the same notes. All are warmed up once and timed over
``--repeats`` passes, alternating, in the same process. Peak memory is the process's peak resident set.
``--demo`` also times ``cmkd-med demo`` end to end in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    import torch

    from cmkd_med import pipeline
    from cmkd_med.models.providers import load_encoder

    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", default="pt")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    path = ROOT / "examples" / "dev_notes" / f"{args.lang}.jsonl"
    notes = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]

    rss_start = rss_mib()
    nlp = pipeline(args.lang, batch_size=16)
    exact = pipeline(args.lang, batch_size=16, precision="float32")
    model = nlp.model(args.lang)
    base_spec = model.model.config.base_model if hasattr(model, "model") else model.heads.config.base_model
    base, tokenizer, _ = load_encoder(base_spec)
    rss_loaded = rss_mib()

    @torch.no_grad()
    def plain() -> None:
        order = sorted(range(len(notes)), key=lambda i: len(notes[i]))
        for s in range(0, len(order), 16):
            batch = tokenizer([notes[i] for i in order[s : s + 16]], truncation=True, max_length=512,
                              padding=True, return_tensors="pt")  # fmt: skip
            hidden = base(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1)
            _ = (hidden * mask).sum(1) / mask.sum(1)

    def full() -> None:
        nlp.classify(notes)

    def full_fp32() -> None:
        exact.classify(notes)

    plain(), full(), full_fp32()  # warm-up
    fast_out, exact_out = nlp.classify(notes), exact.classify(notes)
    agreement = {
        "labels_equal": sum(a["label"] == b["label"] for a, b in zip(fast_out, exact_out, strict=True)),
        "notes": len(notes),
        "max_probability_diff": round(
            max(abs(a["probability"] - b["probability"]) for a, b in zip(fast_out, exact_out, strict=True)), 4
        ),
        "abstained_equal": sum(
            a["abstained"] == b["abstained"] for a, b in zip(fast_out, exact_out, strict=True)
        ),
    }
    runs = (("plain_transformers", plain), ("pipeline", full), ("pipeline_float32", full_fp32))
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    for _ in range(args.repeats):
        for name, fn in runs:
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    result = {
        "lang": args.lang,
        "notes": len(notes),
        "mean_chars": round(sum(map(len, notes)) / len(notes)),
        "notes_per_s": {k: round(len(notes) / v, 2) for k, v in best.items()},
        "seconds": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "speed_ratio_pipeline_vs_plain": round(best["plain_transformers"] / best["pipeline"], 3),
        "speed_ratio_pipeline_float32_vs_plain": round(
            best["plain_transformers"] / best["pipeline_float32"], 3
        ),
        "pipeline_precision": str(model.dtype or torch.float32).replace("torch.", ""),
        "default_vs_float32_agreement": agreement,
        "rss_mib": {
            "start": round(rss_start),
            "models_loaded": round(rss_loaded),
            "after_runs": round(rss_mib()),
        },
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "torch_threads": torch.get_num_threads(),
    }
    if args.demo:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cmkd_med.cli", "demo"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        result["demo_wall_s"] = round(time.perf_counter() - t, 1)
    save(f"pipeline_speed_{args.lang}.json", result)


if __name__ == "__main__":
    main()
