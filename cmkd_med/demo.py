"""``cmkd-med demo``: the README's main job, offline on the bundled examples.

Make sure the ontology is built; for each of en/pt/hi/sw show a concept lookup and the concepts linked in an
example note written for the project (``examples/notes``); classify the English example notes with the
teacher (``adapters/en``), if it is there.
"""

from __future__ import annotations

import argparse
import time

from cmkd_med.config import PROJECT_ROOT, ontology_dir
from cmkd_med.ontology.kb import CONCEPTS_FILE

EXAMPLES = PROJECT_ROOT / "examples" / "notes"
LOOKUPS = {
    "en": "renal cell carcinoma clear cell",
    "pt": "adenocarcinoma de prostata",
    "hi": "यकृत कैंसर",
    "sw": "saratani ya mapafu",
}


def run(args: argparse.Namespace) -> int:
    from cmkd_med.ontology.linker import get_linker

    start = time.perf_counter()
    if not (ontology_dir() / CONCEPTS_FILE).exists():
        from cmkd_med.ontology.build import build_ontology

        print("Building the ontology (first run)...")
        build_ontology(progress=lambda m: print(f"  {m}"))
    for lang, query in LOOKUPS.items():
        linker = get_linker(lang)
        kb = linker.kb
        print(f"\n=== {lang} ===")
        print(f"lookup {query!r}:")
        for cand in linker.lookup(query, k=3):
            concept = kb[cand.cui]
            print(
                f"  {cand.cui}  {cand.score:.2f}  {concept.preferred(lang)}  [en: {concept.preferred('en')}]"
            )
        for path in sorted(EXAMPLES.glob(f"{lang}_*.txt")):
            text = path.read_text(encoding="utf-8")
            print(f"linked note {path.name}:")
            for m in linker.link(text):
                print(f"  {m.text!r:38} → {m.cui}  {kb[m.cui].preferred(lang)}  ({m.score:.2f})")
    _classify_english_examples()
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0


def _classify_english_examples() -> None:
    from cmkd_med.config import DEFAULT_TEACHER_DIR
    from cmkd_med.models.config_io import CONFIG_FILE

    if not (DEFAULT_TEACHER_DIR / CONFIG_FILE).exists():
        print("\n(no teacher in adapters/en: run `cmkd-med train-teacher`)")
        return
    from cmkd_med.models.teacher_runtime import Teacher
    from cmkd_med.ontology.kb import KnowledgeBase

    teacher = Teacher.load()
    kb = KnowledgeBase.load()
    paths = sorted(EXAMPLES.glob("en_*.txt"))
    pred = teacher.predict([p.read_text(encoding="utf-8") for p in paths])
    print("\n=== English teacher (adapters/en) ===")
    for i, path in enumerate(paths):
        code = pred.labels[i]
        concept = kb.class_concept(code)
        verdict = (
            "ABSTAINED (review needed)"
            if pred.abstained[i]
            else f"{code} {concept.cui} {concept.preferred('en')}"
        )
        print(f"{path.name}: {verdict}  p={pred.probs[i].max():.2f}  uncertainty={pred.uncertainty[i]:.2f}")
