"""What a student learns from: (English text the teacher reads, text the student reads) pairs.

For a language L (``pt``, ``hi``, ``sw``):

* **report windows**: a ~``words``-word window of each English training report (the one with the most
  ontology mentions), read by the student in English and **code-switched** — every linked term that has a
  label in L replaced by that label (``carcinoma urotelial`` inside English prose). Labelled with the report's
  class. Calibration patients (:func:`~cmkd_med.training.teacher.calibration_mask`) are left out: they
  calibrate the student afterwards;
* **parallel health text**: TICO-19 ``dev.tsv`` (documents in :data:`TICO_HELDOUT_DOCS` are kept out, for an
  honest retrieval figure), and for Portuguese the WMT biomedical en–pt pairs;
* **terminology**: the TICO-19 terminologies and the ontology's label pairs (English preferred label → every
  label in L).

Every item points at the English source whose teacher embedding and class distribution are its targets.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmkd_med.config import data_path
from cmkd_med.data.tcga import load_tcga
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.text import despace_ocr

# TICO-19 dev documents held out of distillation; retrieval figures in the model cards are measured on them.
TICO_HELDOUT_DOCS = ("CMU_1", "Wikipedia_handpicked_4")
KINDS = ("report_en", "report_cs", "parallel", "term", "label")


@dataclass
class DistillItem:
    text: str  # what the student reads
    source: int  # index into DistillCorpus.sources: the English text the teacher reads
    kind: str  # one of KINDS
    label: int = -1  # class index where known (report windows), else -1


@dataclass
class DistillCorpus:
    lang: str
    sources: list[str] = field(default_factory=list)
    items: list[DistillItem] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, english: str, student_text: str, kind: str, label: int = -1) -> None:
        english, student_text = english.strip(), student_text.strip()
        if not english or not student_text:
            return
        if english not in self._index:
            self._index[english] = len(self.sources)
            self.sources.append(english)
        self.items.append(DistillItem(student_text, self._index[english], kind, label))

    def subsample(self, limit: int, seed: int) -> DistillCorpus:
        """At most ``limit`` items, drawn without replacement (deterministic for a seed)."""
        if len(self.items) <= limit:
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self.items), size=limit, replace=False))
        out = DistillCorpus(self.lang)
        for i in keep:
            item = self.items[int(i)]
            out.add(self.sources[item.source], item.text, item.kind, item.label)
        return out

    def counts(self) -> dict[str, int]:
        return {kind: sum(item.kind == kind for item in self.items) for kind in KINDS}


def tico_doc(tuid: str) -> str:
    return tuid.split(":")[0]


def read_tico(lang: str, data_root: str | Path | None = None, heldout: bool = False) -> list[tuple[str, str]]:
    """(English, L) pairs of TICO-19 ``dev.tsv``: the distillation documents, or the held-out ones."""
    path = data_path("tico19", "dev.tsv", data_root=data_root)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        (r["en"], r[lang])
        for r in rows
        if (tico_doc(r["tuid"]) in TICO_HELDOUT_DOCS) == heldout and r.get("en") and r.get(lang)
    ]


def _stable_hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def best_window(text: str, mentions_of: Callable[[str], Sequence[object]], words: int) -> str:
    """The ``words``-word window (half-overlapping) with the most linked mentions; the first on ties."""
    tokens = despace_ocr(text).split()
    if len(tokens) <= words:
        return " ".join(tokens)
    step = max(1, words // 2)
    windows = [" ".join(tokens[s : s + words]) for s in range(0, max(1, len(tokens) - step), step)]
    counts = [len(mentions_of(w)) for w in windows]
    return windows[int(np.argmax(counts))]


def code_switch(
    text: str, mentions: Sequence[object], kb: KnowledgeBase, lang: str, rng: np.random.Generator, p: float
) -> str:
    """``text`` with each linked term that has an L label replaced by it, with probability ``p``."""
    out: list[str] = []
    cursor = 0
    for m in mentions:
        start, end, cui = m.start, m.end, m.cui  # type: ignore[attr-defined]
        concept = kb.get(cui)
        if concept is None or not concept.has_lang(lang) or rng.random() >= p:
            continue
        out.append(text[cursor:start])
        out.append(concept.preferred(lang))
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def english_report_windows(
    link_en: Callable[[str], Sequence[object]],
    data_root: str | Path | None = None,
    n_reports: int = 800,
    words: int = 90,
    progress: bool = True,
) -> list[tuple[str, str]]:
    """(best window, TCGA code) of a class-balanced sample of training reports, calibration patients left
    out; cached under ``.cache/distill/`` (the same for every language)."""
    import json

    from tqdm import tqdm

    from cmkd_med.config import cache_dir
    from cmkd_med.training.teacher import calibration_mask

    reports = load_tcga("train", data_root)
    key = hashlib.sha256(
        json.dumps([n_reports, words, len(reports), reports[0].report_id, reports[-1].report_id]).encode()
    ).hexdigest()[:12]
    path = cache_dir() / "distill" / f"report_windows_{key}.json"
    if path.exists():
        return [(w, y) for w, y in json.loads(path.read_text(encoding="utf-8"))]
    keep = np.where(~calibration_mask([r.report_id for r in reports], 0.12))[0]
    # a class-balanced sample: rare classes (CHOL, UCS, KICH) are not drowned by the common ones
    by_class: dict[str, list[int]] = {}
    for i in keep:
        by_class.setdefault(reports[i].label, []).append(int(i))
    chosen: list[int] = []
    per_class = max(1, n_reports // len(by_class))
    for code in sorted(by_class):
        rows = sorted(by_class[code], key=lambda i: _stable_hash(reports[i].report_id))
        chosen.extend(rows[:per_class])
    out = [
        (best_window(reports[i].text, link_en, words), reports[i].label)
        for i in tqdm(chosen, desc="report windows", disable=not progress or None)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return out


def build_corpus(
    lang: str,
    kb: KnowledgeBase,
    link_en: Callable[[str], Sequence[object]],
    data_root: str | Path | None = None,
    n_reports: int = 800,
    words: int = 90,
    n_parallel: int = 1500,
    seed: int = 13,
    p_switch: float = 0.9,
    progress: bool = True,
) -> DistillCorpus:
    """The distillation corpus for ``lang`` (deterministic for a seed). ``link_en``: the English linker."""
    from cmkd_med.data.tcga import TCGA_CLASSES

    lang = normalize_lang(lang)
    rng = np.random.default_rng(seed)
    corpus = DistillCorpus(lang)
    classes = list(TCGA_CLASSES)
    for window, code in english_report_windows(link_en, data_root, n_reports, words, progress):
        y = classes.index(code)
        corpus.add(window, window, "report_en", y)
        switched = code_switch(window, link_en(window), kb, lang, rng, p_switch)
        if switched != window:
            corpus.add(window, switched, "report_cs", y)

    pairs = read_tico(lang, data_root)
    if lang == "pt":
        from cmkd_med.data.wmt import load_wmt_pairs

        wmt = load_wmt_pairs(data_root)
        picks = rng.choice(len(wmt), size=min(n_parallel, len(wmt)), replace=False)
        pairs += [(wmt[int(j)].en, wmt[int(j)].pt) for j in sorted(picks)]
    for en, tgt in pairs:
        corpus.add(en, tgt, "parallel")

    from cmkd_med.ontology.sources import read_tico_terms

    for _, en, tgt in read_tico_terms(lang, data_root):
        corpus.add(en, tgt, "term")
    for concept in kb:
        english = concept.preferred("en")
        for translated in concept.labels_in(lang):
            corpus.add(english, translated.text, "label")
    return corpus
