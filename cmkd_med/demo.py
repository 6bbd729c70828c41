"""``cmkd-med demo``: the README's main job, offline on the embedded defaults.

For example notes in en, pt, hi and sw written for the project (``examples/notes``: a cancer note and a benign
note a language), through one ``pipeline("auto")``: detect the language, decide the note's scope, classify
(label, concept, probability, entities with their assertion status), write the patient
summary in the note's language, and retrieve the nearest English example reports and variant sets from a small
demo index (``examples/dev_notes/en.jsonl`` and ``examples/demo_variants.jsonl``, built into ``.cache/`` on
first run). Needs no network and no data folder.
"""

from __future__ import annotations

import argparse
import hashlib
import textwrap
import time
from pathlib import Path

from cmkd_med.config import PROJECT_ROOT, cache_dir, ontology_dir
from cmkd_med.ontology.kb import CONCEPTS_FILE

EXAMPLES = PROJECT_ROOT / "examples"
NOTES = EXAMPLES / "notes"
INDEX_SOURCES = (EXAMPLES / "dev_notes" / "en.jsonl", EXAMPLES / "demo_variants.jsonl")
ORDER = {"en": 0, "pt": 1, "hi": 2, "sw": 3}


def demo_index(progress: bool = True) -> Path:
    """The demo index folder, (re)built when its sources or the teacher changed."""
    from cmkd_med.config import DEFAULT_TEACHER_DIR
    from cmkd_med.index import META_FILE, build_index, read_items
    from cmkd_med.models.teacher import WEIGHTS_FILE
    from cmkd_med.models.teacher_runtime import Teacher

    digest = hashlib.sha256()
    for path in (*INDEX_SOURCES, DEFAULT_TEACHER_DIR / WEIGHTS_FILE):
        digest.update(path.read_bytes())
    folder = cache_dir() / "demo_index" / digest.hexdigest()[:12]
    if not (folder / META_FILE).exists():
        items = [item for path in INDEX_SOURCES for item in read_items(path)]
        build_index(items, folder, Teacher.load(), progress=progress)
    return folder


def run(args: argparse.Namespace) -> int:
    from cmkd_med.api import pipeline

    start = time.perf_counter()
    if not (ontology_dir() / CONCEPTS_FILE).exists():
        from cmkd_med.ontology.build import build_ontology

        print("Building the ontology (first run)...")
        build_ontology(progress=lambda m: print(f"  {m}"))
    print("Building the demo index (English example reports and variant sets)...")
    nlp = pipeline("auto", index=demo_index())
    paths = sorted(NOTES.glob("*.txt"), key=lambda p: (ORDER.get(p.name[:2], 9), p.name))
    for path in paths:
        note = path.read_text(encoding="utf-8")
        result = nlp.classify(note)
        assert isinstance(result, dict)
        lang = result["lang"]
        print(f"\n=== {path.name} (detected: {lang}) ===")
        concept, p = result["concept"], result["probability"]
        print(f"scope: {result['scope']} ({result['scope_reason']})")
        if result["scope"] != "supported":
            named = f": {concept['label_en']} [{concept['cui']}]" if concept else ""
            print(f"classify: NOT ONE OF THE 20 TYPES{named}; no cancer type named, review needed")
        elif result["abstained"]:
            print(f"classify: ABSTAINED, review needed (top candidate {result['label']}, p={p:.2f})")
        else:
            codes = f"{concept['cui']}, ICD-10 {concept['codes'].get('ICD10', '-')}"
            print(f"classify: {result['label']}  {concept['label']}  [{codes}]  p={p:.2f}")
        found = ", ".join(
            f"{e['text']} → {e['cui']} ({e.get('assertion', '?')})" for e in result["entities"][:6]
        )
        print(f"entities: {found or 'none'}")
        summary = nlp.summarize(result)
        print("patient summary:")
        print(textwrap.fill(summary["text"], width=100, initial_indent="  ", subsequent_indent="  "))
        hits = nlp.retrieve(note, k=3, modality="text", lang=lang)
        shown = ", ".join(f"{h['id']} ({h['label']}, {h['score']:.2f})" for h in hits)
        print(f"nearest English example reports: {shown}")
        hits = nlp.retrieve(note, k=2, modality="variants", lang=lang)
        shown = "; ".join(f"{' + '.join(h['variants'])} ({h['label']})" for h in hits)
        print(f"nearest variant sets: {shown}")
    elapsed = time.perf_counter() - start
    print(f"\nDone in {elapsed:.1f} s. Every output above is a research aid, not a diagnosis.")
    return 0
