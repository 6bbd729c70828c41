"""Students and their ablations, measured the same way, with the commands a user runs.

    python bench/students.py --lang pt [--variants full,no_quantum,no_entity,no_gating] [--epochs 2]

For each variant: ``cmkd-med distill`` (the full variant writes ``adapters/<lang>``; ablations write under
``.cache/ablations/``), then ``cmkd-med evaluate classify`` on ``examples/dev_notes/<lang>.jsonl`` (our
labelled notes, used for model selection, so these are dev figures) and ``cmkd-med evaluate retrieve`` on the
TICO-19 documents held out of distillation (``cmkd-med data export-tico``). The teacher's figures on the
English versions of the same notes come from ``evaluate classify --lang en``. Results:
``bench/results/students_<lang>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

ROOT = Path(__file__).resolve().parent.parent
FLAGS = {
    "full": [],
    "no_quantum": ["--no-quantum"],
    "no_entity": ["--no-entity-attention"],
    "no_gating": ["--no-gating"],
}
KEYS = ("n", "accuracy", "macro_f1", "ece", "abstain_rate", "selective_accuracy")


def cli(*args: str) -> dict:
    """Run ``cmkd-med ARGS --out tmp.json`` and return the JSON it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        subprocess.run([sys.executable, "-m", "cmkd_med.cli", *args, "--out", str(out)], check=True, cwd=ROOT)
        return json.loads(out.read_text(encoding="utf-8"))


def dev_note_pairs(dev: Path, out: Path) -> Path:
    """The dev notes as a retrieval TSV: each note in the language against the English versions of all."""
    english = {r["id"]: r["text"] for r in map(json.loads, dev.with_name("en.jsonl").open(encoding="utf-8"))}
    lang = dev.stem
    rows = ["en\t" + lang]
    for r in map(json.loads, dev.open(encoding="utf-8")):  # whitespace collapsed: no tab or newline in a cell
        rows.append("\t".join(" ".join(t.split()) for t in (english[r["id"]], r["text"])))
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def brief(metrics: dict) -> dict:
    return {k: metrics[k] for k in KEYS if k in metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", required=True, choices=("pt", "hi", "sw"))
    parser.add_argument("--variants", default=",".join(FLAGS), help="comma-separated: " + ", ".join(FLAGS))
    parser.add_argument("--epochs", help="default: the distill command's")
    parser.add_argument("--skip-train", action="store_true", help="evaluate the variants already trained")
    args = parser.parse_args()
    lang = args.lang
    dev = ROOT / "examples" / "dev_notes" / f"{lang}.jsonl"
    tico = ROOT / ".cache" / "tico19_heldout.tsv"
    subprocess.run(
        [sys.executable, "-m", "cmkd_med.cli", "data", "export-tico", "--out", str(tico)],
        check=True,
        cwd=ROOT,
    )
    teacher_en = cli("evaluate", "classify", "--lang", "en", "--data", str(dev.with_name("en.jsonl")),
                     "--no-baselines")  # fmt: skip
    previous_path = ROOT / "bench" / "results" / f"students_{lang}.json"
    previous = json.loads(previous_path.read_text(encoding="utf-8")) if previous_path.exists() else {}
    # variants not run this time keep their previous entries (`--variants full --skip-train` re-evaluates)
    results: dict = {
        "teacher_on_english_versions": brief(teacher_en),
        "variants": previous.get("variants", {}),
    }
    for variant in args.variants.split(","):
        folder = (
            ROOT / "adapters" / lang if variant == "full" else ROOT / ".cache" / "ablations" / lang / variant
        )
        start = time.perf_counter()
        if not args.skip_train:
            subprocess.run(
                [sys.executable, "-m", "cmkd_med.cli", "distill", "--lang", lang, "--out", str(folder),
                 *(["--epochs", args.epochs] if args.epochs else []), *FLAGS[variant]],
                check=True, cwd=ROOT,
            )  # fmt: skip
        train_s = time.perf_counter() - start
        if args.skip_train:  # keep the time of the run that trained it
            train_s = previous.get("variants", {}).get(variant, {}).get("train_seconds", float("nan"))
        baselines = variant == "full"
        flags = [] if baselines else ["--no-baselines"]
        classify = cli(
            "evaluate", "classify", "--lang", lang, "--data", str(dev), "--student", str(folder), *flags
        )
        retrieve = cli(
            "evaluate", "retrieve", "--lang", lang, "--data", str(tico), "--student", str(folder), *flags
        )
        report = json.loads((folder / "training_report.json").read_text(encoding="utf-8"))
        entry = {
            "classify_dev_notes": brief(classify),
            "retrieve_tico_heldout": {k: v for k, v in retrieve.items() if k != "baselines"},
            "gate_pass_rate": report.get("gate_pass_rate"),
            "selection": report.get("selection"),
            "calibration": report.get("calibration"),
            "train_seconds": round(train_s, 1),
        }
        if baselines:
            entry["classify_baselines"] = {k: brief(v) for k, v in classify["baselines"].items()}
            entry["retrieve_baselines"] = retrieve["baselines"]
            with tempfile.TemporaryDirectory() as tmp:  # in-domain: clinical notes, dev (they pick the epoch)
                notes = dev_note_pairs(dev, Path(tmp) / "notes.tsv")
                entry["retrieve_dev_notes"] = cli(
                    "evaluate", "retrieve", "--lang", lang, "--data", str(notes), "--student", str(folder)
                )
        results["variants"][variant] = entry
    ratio = results["variants"].get("full", {}).get("classify_dev_notes", {}).get("macro_f1")
    if ratio is not None and teacher_en.get("macro_f1"):
        results["full_over_teacher_macro_f1"] = round(ratio / teacher_en["macro_f1"], 4)
    save(f"students_{lang}.json", results)


if __name__ == "__main__":
    main()
