"""Concept frequency on the TCGA training reports: which concepts need labels in every language first.

Counted by exact matching of normalised English aliases over token n-grams (document frequency: in how
many reports a concept is named at least once). Exact matching is deliberate here: the figure decides
curation priorities, and must not depend on the fuzzy linker's threshold.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from cmkd_med.data.tcga import iter_tcga
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.normalize import normalize, surface_tokens

FREQUENCY_FILE = "frequency.tsv"
CLASS_FREQUENCY_FILE = "class_frequency.tsv"
REPORTS = "reports"  # the pseudo-CUI of class_frequency.tsv rows that count a class's reports
MAX_NGRAM = 6


def concept_document_frequency(
    kb: KnowledgeBase, texts: list[str] | None = None, data_root: str | Path | None = None
) -> Counter[str]:
    per_class = class_document_frequency(kb, texts, data_root)
    counts: Counter[str] = Counter()
    for (cui, _), n in per_class.items():
        if cui != REPORTS:
            counts[cui] += n
    return counts


def class_document_frequency(
    kb: KnowledgeBase, texts: list[str] | None = None, data_root: str | Path | None = None
) -> Counter[tuple[str, str]]:
    """Document frequency per (CUI, TCGA class) on the training reports (``texts`` given: one class, "")."""
    aliases = kb.aliases("en")
    longest = min(MAX_NGRAM, max((len(a.split()) for a in aliases), default=1))
    counts: Counter[tuple[str, str]] = Counter()
    stream = (
        ((t, "") for t in texts)
        if texts is not None
        else ((r.text, r.label) for r in iter_tcga("train", data_root))
    )
    for text, label in tqdm(stream, desc="concept frequency", unit=" reports", disable=None, leave=False):
        counts[(REPORTS, label)] += 1  # the class's number of reports, beside its concepts' counts
        surface = surface_tokens(text)
        tokens = [normalize(t) for t in surface]
        found: set[str] = set()
        for i in range(len(tokens)):
            for n in range(1, longest + 1):
                if i + n > len(tokens):
                    break
                key = " ".join(tokens[i : i + n])
                cuis = aliases.get(key)
                if cuis and kb.accepts(key, " ".join(surface[i : i + n]), "en"):
                    found |= cuis
        counts.update((cui, label) for cui in found)
    return counts


def write_frequency(kb: KnowledgeBase, path: Path, data_root: str | Path | None = None) -> None:
    """``frequency.tsv`` (all classes) and, beside it, ``class_frequency.tsv`` (per TCGA class), from one
    pass; the scope decision reads the second (which malignancies the training reports of each class name)."""
    per_class = class_document_frequency(kb, data_root=data_root)
    counts: Counter[str] = Counter()
    for (cui, _), n in per_class.items():
        if cui != REPORTS:
            counts[cui] += n
    with (path.parent / CLASS_FREQUENCY_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["cui", "tcga_code", "doc_freq"])
        for (cui, code), n in sorted(per_class.items()):
            writer.writerow([cui, code, n])
    rows = sorted(((cui, n) for cui, n in counts.items()), key=lambda x: (-x[1], x[0]))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["rank", "cui", "kind", "pref_en", "doc_freq"])
        for rank, (cui, n) in enumerate(rows, 1):
            concept = kb[cui]
            writer.writerow([rank, cui, concept.kind, concept.preferred("en"), n])


def read_frequency(folder: Path) -> list[tuple[str, int]]:
    """(CUI, document frequency) in rank order, from a built ontology folder."""
    with (folder / FREQUENCY_FILE).open(encoding="utf-8", newline="") as handle:
        return [(row["cui"], int(row["doc_freq"])) for row in csv.DictReader(handle, delimiter="\t")]


def top_concepts(kb: KnowledgeBase, folder: Path, n: int = 150, exclude_classes: bool = True) -> list[str]:
    """The ``n`` most frequent concepts (by document frequency), class concepts left out by default."""
    out = []
    for cui, _ in read_frequency(folder):
        concept = kb.get(cui)
        if concept is None or (exclude_classes and concept.tcga_code):
            continue
        out.append(cui)
        if len(out) == n:
            break
    return out
