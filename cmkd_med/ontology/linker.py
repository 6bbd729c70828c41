"""Multilingual entity linking over the project's knowledge base with scispaCy's candidate generator.

Candidates come from scispaCy's :class:`~scispacy.candidate_generation.CandidateGenerator`: a TF-IDF
vectoriser over character 3-grams of every alias and an HNSW (nmslib) index for approximate nearest
neighbours, which is what makes matching robust to case, accents, inflection and small misspellings or OCR
noise. We fit the vectoriser and index ourselves (scispaCy's ``create_tfidf_ann_index`` keeps only
n-grams seen in 10+ aliases, tuned for the 3M-alias UMLS; our KB is a few thousand aliases) and hand them
to the generator, which works offline.

The generator's TF-IDF cosine ignores character n-grams absent from every alias, so "high grade" scores
0.88 against "high grade glioma"; each candidate is therefore re-scored with RapidFuzz's normalised
Indel similarity (best of plain and token-sorted, so "carcinoma urotelial" ≈ "urothelial carcinoma").

Mention detection (scispaCy leaves that to a trained NER model, and none exists for pt/hi/sw): token
n-grams of the note are looked up exactly first, the rest through the generator, kept above a similarity
threshold, and overlaps resolved in favour of longer, better matches.
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import regex
from rapidfuzz import fuzz

from cmkd_med.config import ontology_dir
from cmkd_med.errors import InvalidInputError
from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.normalize import normalize
from cmkd_med.text import validate_text

# Tuned on the contexts of the ontology/dev/link_*.jsonl dev sets (recall of the gold concept in its
# sentence vs. mentions per sentence; see ontology/README.md and bench/linker_threshold.py).
DEFAULT_THRESHOLD = 0.8
MAX_NGRAM = 6
_TOKEN_RE = regex.compile(r"[^\s\p{P}\p{S}]+")
_CACHE_SIZE = 500_000  # best-candidate entries (~100 bytes each)

# Words that never start or end a mention; a short list per language (not a full stop-word list: "no"
# and "não" stay out of it because they belong to findings such as "no tumour").
_EDGE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "of",
            "the",
            "and",
            "with",
            "in",
            "to",
            "for",
            "a",
            "an",
            "on",
            "at",
            "by",
            "from",
            "is",
            "are",
            "was",
            "were",
            "or",
            "as",
        ]
    ),
    "pt": frozenset(
        [
            "de",
            "da",
            "do",
            "das",
            "dos",
            "e",
            "em",
            "com",
            "para",
            "a",
            "o",
            "as",
            "os",
            "por",
            "no",
            "na",
            "nos",
            "nas",
            "ou",
            "ao",
            "à",
            "um",
            "uma",
        ]
    ),
    "hi": frozenset(["का", "की", "के", "में", "और", "से", "पर", "है", "हैं", "या", "को", "एक"]),
    "sw": frozenset(["ya", "wa", "la", "za", "cha", "vya", "kwa", "na", "katika", "ni", "au", "cha", "pia"]),
}


@dataclass(frozen=True)
class Candidate:
    """A concept proposed for a string: ``score`` is the cosine similarity of the best alias."""

    cui: str
    score: float
    alias: str


@dataclass(frozen=True)
class Mention:
    """A concept found in a note: character offsets ``[start, end)`` into the original text."""

    text: str
    start: int
    end: int
    cui: str
    score: float
    kind: str

    def to_dict(self, kb: KnowledgeBase | None = None, lang: str = "en") -> dict[str, object]:
        out: dict[str, object] = {
            "text": self.text, "start": self.start, "end": self.end,
            "cui": self.cui, "score": round(self.score, 4), "kind": self.kind,
        }  # fmt: skip
        if kb is not None:
            concept = kb[self.cui]
            out["labels"] = {"en": concept.preferred("en"), lang: concept.preferred(lang)}
        return out


class ConceptLinker:
    """Links text in ``lang`` to KB concepts; English labels are always searched too (clinicians keep them).

    >>> linker = ConceptLinker(KnowledgeBase.load(), "pt")          # doctest: +SKIP
    >>> [m.cui for m in linker.link("Carcinoma urotelial papilífero de bexiga")]   # doctest: +SKIP
    ['C0279680']
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        lang: str,
        threshold: float = DEFAULT_THRESHOLD,
        max_ngram: int = MAX_NGRAM,
        priors: dict[str, float] | None = None,
    ):
        from scispacy.candidate_generation import CandidateGenerator
        from scispacy.linking_utils import Entity
        from scispacy.linking_utils import KnowledgeBase as ScispacyKB

        self.kb = kb
        self.lang = normalize_lang(lang)
        self.threshold = threshold
        self.max_ngram = max_ngram
        self.edge_words = _EDGE_WORDS[self.lang]
        langs = ("en",) if self.lang == "en" else (self.lang, "en")
        self.alias_table: dict[str, set[str]] = {}
        for code in langs:
            for key, cuis in kb.aliases(code).items():
                self.alias_table.setdefault(key, set()).update(cuis)
        # Abbreviation-only keys of either language, unless the other language has them as a full word.
        self._abbr: dict[str, set[str]] = {}
        for code in langs:
            for key, forms in kb.abbreviation_surfaces(code).items():
                if not any(key in kb.aliases(c) and key not in kb.abbreviation_surfaces(c) for c in langs):
                    self._abbr.setdefault(key, set()).update(forms)
        self.priors = priors or {}

        # Fuzzy search is spent only on spans that start and end like some alias does (first three letters
        # of an alias's first word; first or last three of its last word): it prunes most n-grams of a
        # report while one misspelling in a term still gets through.
        self._heads = {key.split()[0][:3] for key in self.alias_table}
        self._tails = {key.split()[-1][-3:] for key in self.alias_table}
        self._last_heads = {key.split()[-1][:3] for key in self.alias_table}

        by_cui: dict[str, list[str]] = {}
        for key, cuis in self.alias_table.items():
            for cui in cuis:
                by_cui.setdefault(cui, []).append(key)
        entities = [
            Entity(concept_id=cui, canonical_name=keys[0], aliases=keys) for cui, keys in by_cui.items()
        ]
        aliases = sorted(self.alias_table)
        vectorizer, index = _fit_index(tuple(aliases))
        self.generator = CandidateGenerator(
            ann_index=index, tfidf_vectorizer=vectorizer, ann_concept_aliases_list=aliases,
            kb=ScispacyKB(entities),
        )  # fmt: skip
        self._cache: OrderedDict[str, Candidate | None] = OrderedDict()

    # --- candidate generation ----------------------------------------------------------------
    def _rank(self, scores: dict[str, tuple[float, str]]) -> list[Candidate]:
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], -self.priors.get(kv[0], 0.0), kv[0]))
        return [Candidate(cui, score, alias) for cui, (score, alias) in ranked]

    def _candidates(self, keys: list[str], k: int) -> list[list[Candidate]]:
        """Ranked candidates for normalised keys (exact alias hits score 1.0)."""
        out: list[list[Candidate]] = []
        for key, mention_candidates in zip(keys, self.generator(keys, k) if keys else [], strict=True):
            scores: dict[str, tuple[float, str]] = {}
            for cand in mention_candidates:
                rescored = [_similarity(key, alias) for alias in cand.aliases]
                best = int(np.argmax(rescored))
                scores[cand.concept_id] = (rescored[best], cand.aliases[best])
            for cui in self.alias_table.get(key, ()):
                scores[cui] = (1.0, key)
            out.append(self._rank(scores))
        return out

    def _best(self, keys: list[str]) -> dict[str, Candidate | None]:
        """Best candidate per key, through an LRU cache: report phrases recur across a corpus."""
        best: dict[str, Candidate | None] = {}
        todo = []
        for key in keys:
            if key in self._cache:
                self._cache.move_to_end(key)
                best[key] = self._cache[key]
            else:
                todo.append(key)
        for key, ranked in zip(todo, self._candidates(todo, k=10), strict=True):
            best[key] = self._cache[key] = ranked[0] if ranked else None
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return best

    def lookup(self, text: str, k: int = 5) -> list[Candidate]:
        """Ranked concept candidates for a mention string (the ``ontology lookup`` command)."""
        text = validate_text(text, "lookup text", max_chars=1000)
        key = normalize(text)
        if not key:
            raise InvalidInputError("lookup text has no letters or digits")
        # A typed query may spell an abbreviation in any case ("hcc"); only prose mentions need the case.
        return self._candidates([key], k=max(k * 4, 20))[0][:k]

    def _abbr_ok(self, alias_key: str, surface: str) -> bool:
        # Abbreviation-only aliases match exactly (case included), never fuzzily: "hcc" ≈ "hcg" is noise.
        forms = self._abbr.get(alias_key)
        return forms is None or " ".join(surface.split()) in forms

    # --- mention detection -------------------------------------------------------------------
    def link(self, text: str) -> list[Mention]:
        """Concept mentions in ``text``, non-overlapping, in text order."""
        text = validate_text(text)
        tokens = [(m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
        keys_tok = [normalize(text[s:e]) for s, e in tokens]
        spans: list[tuple[int, int, str, str]] = []  # (first token, last token + 1, key, surface)
        for i in range(len(tokens)):
            if keys_tok[i] in self.edge_words or keys_tok[i].isdigit():
                continue
            for n in range(1, self.max_ngram + 1):
                j = i + n
                if j > len(tokens):
                    break
                last = keys_tok[j - 1]
                if last in self.edge_words or last.isdigit():
                    continue
                key = " ".join(keys_tok[i:j])
                if len(key) < 3 and key not in self.alias_table:
                    continue
                spans.append((i, j, key, text[tokens[i][0] : tokens[j - 1][1]]))
        unique = list(dict.fromkeys(key for _, _, key, _ in spans))
        exact = {key for key in unique if key in self.alias_table}
        # Only spans whose key is an alias, or that are long enough to carry a misspelt term, are searched.
        fuzzy = [key for key in unique if key not in exact and len(key) >= 5 and self._worth_searching(key)]
        best = self._best(list(exact) + fuzzy)
        found: list[tuple[float, int, int, Candidate, str]] = []
        for i, j, key, surface in spans:
            cand = best.get(key)
            if cand is None or cand.score < self.threshold or not self._abbr_ok(cand.alias, surface):
                continue
            if key not in exact and (cand.alias in self._abbr or (len(key) < 8 and cand.score < 0.92)):
                continue  # short strings are too easily one edit from another word
            # A long, good match beats a short, exact one ("clear cell renal cell carcinoma" > "carcinoma").
            found.append((len(key) * cand.score**4, i, j, cand, surface))
        found.sort(key=lambda x: (-x[0], x[1]))
        taken = [False] * len(tokens)
        mentions: list[Mention] = []
        for _, i, j, cand, surface in found:
            if any(taken[i:j]):
                continue
            taken[i:j] = [True] * (j - i)
            start, end = tokens[i][0], tokens[j - 1][1]
            mentions.append(Mention(surface, start, end, cand.cui, cand.score, self.kb[cand.cui].kind))
        return sorted(mentions, key=lambda m: m.start)

    def _worth_searching(self, key: str) -> bool:
        words = key.split()
        return (
            words[0][:3] in self._heads
            and (words[-1][-3:] in self._tails or words[-1][:3] in self._last_heads)
            and not any(ch.isdigit() for ch in key)
        )

    def link_many(self, texts: Iterable[str]) -> list[list[Mention]]:
        return [self.link(t) for t in texts]


def _similarity(a: str, b: str) -> float:
    return max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b)) / 100.0


@lru_cache(maxsize=8)
def _fit_index(aliases: tuple[str, ...]) -> tuple[object, object]:
    import nmslib
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, dtype=np.float32)
    vectors = vectorizer.fit_transform(aliases)
    index = nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)
    index.addDataPointBatch(vectors)
    # One construction thread: a multi-threaded HNSW build inserts in a racy order and is not reproducible.
    index.createIndex({"M": 30, "efConstruction": 200, "post": 0, "indexThreadQty": 1}, print_progress=False)
    index.setQueryTimeParams({"efSearch": 64})
    return vectorizer, index


def frequency_priors(folder: Path) -> dict[str, float]:
    """Tie-break prior: document frequency on the training reports (``frequency.tsv``), if built."""
    path = folder / "frequency.tsv"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["cui"]: float(row["doc_freq"]) for row in csv.DictReader(handle, delimiter="\t")}


@lru_cache(maxsize=8)
def get_linker(lang: str, folder: str | None = None, threshold: float = DEFAULT_THRESHOLD) -> ConceptLinker:
    """A cached linker for ``lang`` over the built ontology in ``folder`` (default ``ontology/``)."""
    path = ontology_dir(folder)
    return ConceptLinker(
        KnowledgeBase.load(path), normalize_lang(lang), threshold, priors=frequency_priors(path)
    )
