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
from cmkd_med.ontology.dense import DenseCandidates, dense_available, dense_candidates, read_fusion
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.normalize import is_abbreviation, normalize
from cmkd_med.ontology.translit import has_devanagari, latin_form
from cmkd_med.text import validate_text

# Tuned on the contexts of the ontology/dev/link_*.jsonl dev sets (recall of the gold concept in its
# sentence vs. mentions per sentence; see ontology/README.md and bench/linker_threshold.py).
DEFAULT_THRESHOLD = 0.8
MAX_NGRAM = 6
DENSE_GATE = 0.7  # lexical similarity from which a span's candidates are re-scored by the dense encoder
SINGLE_WORD_MIN = 0.9  # lexical similarity a one-word fuzzy match needs when no dense score confirms it
_BREAK_RE = regex.compile(r"[\n\r:;()\[\]]|\.\s")
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
    """A concept proposed for a string: ``score`` is the (fused) similarity of its best alias;
    ``qualifier`` the site CUI when a morphology stands for a "morphology + site" mention."""

    cui: str
    score: float
    alias: str
    qualifier: str | None = None


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
        dense: bool | None = None,
        adapter_dir: Path | None = None,
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
                if has_devanagari(key):  # a Latin form too: Hindi mentions are searched in both scripts
                    self.alias_table.setdefault(latin_form(key), set()).update(cuis)
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
        self._by_cui = by_cui
        # Words of disease names that never occur in a site's name ("carcinoma", "kansa", "सारकोमा"): what
        # makes a mention a tumour mention for :meth:`_compose`; derived from the KB, not listed.
        site_words = {
            w for cui, keys in by_cui.items() if kb[cui].kind == "anatomy" for k in keys for w in k.split()
        }
        counts: dict[str, int] = {}
        for cui, keys in by_cui.items():
            if kb[cui].kind in ("disease", "cancer_type"):
                for word in {w for k in keys for w in k.split()}:
                    counts[word] = counts.get(word, 0) + 1
        self._disease_words = {w for w, n in counts.items() if n >= 3 and w not in site_words and len(w) > 3}
        self._site_words = site_words
        self._site_stems: dict[str, set[str]] = {}
        for cui, keys in by_cui.items():
            if kb[cui].kind == "anatomy":
                for word in {w for k in keys if k.isascii() for w in k.split() if len(w) >= 4}:
                    self._site_stems.setdefault(word[:5], set()).add(cui)
        self._disease_names = [
            (cui, k, set(k.split()))
            for cui, keys in by_cui.items()
            if kb[cui].kind in ("disease", "cancer_type")
            for k in keys
            if k.isascii()
        ]
        # Word initials of multi-word names, for abbreviations the KB does not list ("nsclc").
        self._acronyms: dict[str, set[tuple[str, str]]] = {}
        for cui, keys in by_cui.items():
            for k in keys:
                words = [w for w in k.split() if w not in self.edge_words | _EDGE_WORDS["en"]]
                if len(words) >= 2 and all(w.isalpha() and w.isascii() for w in words):
                    self._acronyms.setdefault("".join(w[0] for w in words), set()).add((cui, k))
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
        self._fused_cache: OrderedDict[str, Candidate | None] = OrderedDict()
        # Dense candidates (multilingual e5 + the name adapter) when available; ``dense=False`` or a missing
        # adapter or base model leaves the lexical linker alone.
        self.dense: DenseCandidates | None = None
        if dense or (dense is None and dense_available(adapter_dir)):
            self.dense = dense_candidates(kb, self.alias_table, adapter_dir)
        fusion = read_fusion(adapter_dir)
        self.dense_gate = float(fusion.get("dense_gate", DENSE_GATE))
        self.fused_threshold = float(fusion.get("link_threshold", threshold))

    # --- candidate generation ----------------------------------------------------------------
    def _rank(self, scores: dict[str, tuple[float, str]]) -> list[Candidate]:
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], -self.priors.get(kv[0], 0.0), kv[0]))
        return [Candidate(cui, score, alias) for cui, (score, alias) in ranked]

    def _forms(self, key: str) -> list[str]:
        """The forms a key is searched by: itself, and its Latin form when it is in Devanagari."""
        return [key, latin_form(key)] if has_devanagari(key) else [key]

    def _lexical(self, keys: list[str], k: int) -> list[dict[str, tuple[float, str]]]:
        """Per key: CUI → (similarity of its best alias, that alias); exact alias hits score 1.0."""
        forms = [[f for f in dict.fromkeys(self._forms(key))] for key in keys]
        flat = [f for fs in forms for f in fs]
        found = dict(zip(flat, self.generator(flat, k) if flat else [], strict=True))
        out: list[dict[str, tuple[float, str]]] = []
        for fs in forms:
            scores: dict[str, tuple[float, str]] = {}
            for form in fs:
                for cand in found[form]:
                    rescored = [_similarity(form, alias) for alias in cand.aliases]
                    best = int(np.argmax(rescored))
                    if cand.concept_id not in scores or rescored[best] > scores[cand.concept_id][0]:
                        scores[cand.concept_id] = (rescored[best], cand.aliases[best])
                for cui in self.alias_table.get(form, ()):
                    scores[cui] = (1.0, form)
            out.append(scores)
        return out

    def _lexical_score(self, key: str, cui: str) -> tuple[float, str]:
        best = (0.0, "")
        for form in self._forms(key):
            for alias in self._by_cui.get(cui, ()):
                score = _similarity(form, alias)
                if score > best[0]:
                    best = (score, alias)
        return best

    def _fuse(
        self, key: str, lexical: dict[str, tuple[float, str]], dense: dict[str, tuple[float, str]]
    ) -> dict[str, tuple[float, str]]:
        """Fused score per candidate CUI: ``w * cosine + (1 - w) * lexical``; an exact alias stays at 1.0."""
        assert self.dense is not None
        weight = self.dense.weight
        fused: dict[str, tuple[float, str]] = {}
        for cui in set(lexical) | set(dense):
            lex = lexical.get(cui) or self._lexical_score(key, cui)
            if lex[0] >= 1.0:
                fused[cui] = lex
                continue
            cos = dense[cui][0] if cui in dense else max(self.dense.cosine(f, cui) for f in self._forms(key))
            alias = lex[1] if cui in lexical or cui not in dense else dense[cui][1]
            # capped below 1.0: only an exact alias scores 1.0 and ranks first
            fused[cui] = (min(weight * cos + (1.0 - weight) * lex[0], 0.999), alias)
        return fused

    def _dense_search(self, keys: list[str], k: int) -> list[dict[str, tuple[float, str]]]:
        """Dense candidates of each key, searched by all its forms (Devanagari and Latin), best per CUI."""
        assert self.dense is not None
        forms = [self._forms(key) for key in keys]
        flat = [f for fs in forms for f in fs]
        found = dict(zip(flat, self.dense.search(flat, k), strict=True))
        out: list[dict[str, tuple[float, str]]] = []
        for fs in forms:
            merged: dict[str, tuple[float, str]] = {}
            for form in fs:
                for cui, hit in found[form].items():
                    if cui not in merged or hit[0] > merged[cui][0]:
                        merged[cui] = hit
            out.append(merged)
        return out

    def _candidates(self, keys: list[str], k: int, fuse: bool = True) -> list[list[Candidate]]:
        """Ranked candidates for normalised keys: lexical, fused with dense ones when the encoder is there."""
        lexical = self._lexical(keys, k)
        if self.dense is None or not fuse or not keys:
            return [self._rank(scores) for scores in lexical]
        dense = self._dense_search(keys, k)
        return [
            self._rank(self._fuse(key, lex, den)) for key, lex, den in zip(keys, lexical, dense, strict=True)
        ]

    def _best(self, keys: list[str], fuse: bool = False) -> dict[str, Candidate | None]:
        """Best candidate per key, through an LRU cache: report phrases recur across a corpus."""
        cache = self._fused_cache if fuse else self._cache
        best: dict[str, Candidate | None] = {}
        todo = []
        for key in keys:
            if key in cache:
                cache.move_to_end(key)
                best[key] = cache[key]
            else:
                todo.append(key)
        for key, ranked in zip(todo, self._candidates(todo, k=10, fuse=fuse), strict=True):
            best[key] = cache[key] = ranked[0] if ranked else None
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
        return best

    def lookup(self, text: str, k: int = 5, context: str | None = None) -> list[Candidate]:
        """Ranked concept candidates for a mention string (the ``ontology lookup`` command).

        ``context`` (the sentence the mention is in) disambiguates an abbreviation: "SCC" in a skin biopsy
        is not "SCC" of the lung."""
        text = validate_text(text, "lookup text", max_chars=1000)
        key = normalize(text)
        if not key:
            raise InvalidInputError("lookup text has no letters or digits")
        # A typed query may spell an abbreviation in any case ("hcc"); only prose mentions need the case.
        ranked = self._candidates([key], k=max(k * 4, 20))[0]
        if is_abbreviation(text.strip()) or (text.strip().isupper() and " " not in key and len(key) <= 6):
            ranked = self._expand_abbreviation(key, ranked, context)
        return self._compose(key, ranked)[:k]

    # --- composition and abbreviations -------------------------------------------------------
    def _compose(self, key: str, ranked: list[Candidate]) -> list[Candidate]:
        """A tumour mention never gets a site as its top candidate. When the mention reads as "morphology +
        site" ("kasinoma ya seli bapa ya zoloto", "adenocarcinoma do colo uterino") and the best candidate is
        not an exact name, the KB's concept for that morphology at that site comes first if there is one,
        else the morphology with the site kept as ``qualifier``."""
        if not any(word in self._disease_words for word in key.split()):
            return ranked
        if not ranked or ranked[0].score < 1.0:
            composed = self._composed(key)
            if composed is not None:
                ranked = [composed] + [c for c in ranked if c.cui != composed.cui]
                if composed.qualifier is None:  # the KB's own concept for the morphology at the site
                    return [c for c in ranked if self.kb[c.cui].kind != "anatomy"] + [
                        c for c in ranked if self.kb[c.cui].kind == "anatomy"
                    ]
        sites = [c for c in ranked if self.kb[c.cui].kind == "anatomy"]
        others = [c for c in ranked if self.kb[c.cui].kind != "anatomy"]
        if not sites or not others:
            return ranked
        top, site = others[0], sites[0]
        if (
            top.qualifier is None
            and site.score >= 0.5
            and not set(site.alias.split()) <= set(top.alias.split())
        ):
            others[0] = Candidate(top.cui, top.score, top.alias, qualifier=site.cui)
        return others + sites

    def _composed(self, key: str) -> Candidate | None:
        """The concept for "morphology + site" read from two parts of ``key`` linked on their own."""
        words = key.split()
        best: tuple[float, Candidate] | None = None
        for cut in range(1, len(words)):
            left, right = list(words[:cut]), list(words[cut:])
            while left and left[-1] in self.edge_words | _EDGE_WORDS["en"]:
                left.pop()  # the connector between the parts: "of", "de", "ya", "का"
            while right and right[0] in self.edge_words | _EDGE_WORDS["en"]:
                right.pop(0)
            for morph_words, site_words in ((left, right), (right, left)):
                if (
                    not morph_words
                    or not site_words
                    or not any(w in self._disease_words for w in morph_words)
                ):
                    continue
                morph = self._best_of_kind(" ".join(morph_words), ("disease", "cancer_type", "finding"))
                site = self._best_of_kind(" ".join(site_words), ("anatomy",))
                if morph is None or site is None:
                    continue
                found = self._morphology_at_site(morph.cui, site.cui)
                score = min(morph.score, site.score)
                if found is not None and (best is None or score > best[0]):
                    best = (score, Candidate(found[0], min(score, 0.99), found[1]))
                elif found is None and (best is None or score > best[0]) and score >= self.threshold:
                    best = (score, Candidate(morph.cui, min(score, 0.99), morph.alias, qualifier=site.cui))
        return best[1] if best else None

    def _best_of_kind(self, part: str, kinds: tuple[str, ...]) -> Candidate | None:
        ranked = self._candidates([part], k=10)[0]
        fit = [c for c in ranked if self.kb[c.cui].kind in kinds and c.score >= self.threshold]
        return fit[0] if fit else None

    def _morphology_at_site(self, morph_cui: str, site_cui: str) -> tuple[str, str] | None:
        """A disease whose English name holds the morphology's words and a word of the site's stem
        ("squamous cell carcinoma" + larynx → "laryngeal squamous cell carcinoma"); the shortest such name."""
        # stems that name this site only ("cervi" of cervix uteri, not "uteri" that the uterus shares)
        stems = {
            w[:5]
            for a in self._english_names(site_cui)
            for w in a.split()
            if len(w) >= 4 and self._site_stems.get(w[:5]) == {site_cui}
        }
        morphs = [{w for w in a.split() if w not in self._site_words} for a in self._english_names(morph_cui)]
        morphs = [m for m in morphs if m]
        best: tuple[int, str, str] | None = None
        for cui, alias, words in self._disease_names:
            fits = any(m <= words for m in morphs) and any(w[:5] in stems for w in words if len(w) >= 4)
            if fits and (best is None or len(words) < best[0]):
                best = (len(words), cui, alias)
        return (best[1], best[2]) if best else None

    def _english_names(self, cui: str) -> list[str]:
        return [a for a in self._by_cui.get(cui, ()) if a.isascii()]

    def _expand_abbreviation(self, key: str, ranked: list[Candidate], context: str | None) -> list[Candidate]:
        """Concepts whose name the abbreviation spells (word initials: "cml" → chronic myeloid leukemia)
        join the candidates; with a context sentence, they are ranked by its dense similarity to them."""
        compact = key.replace(" ", "")
        pool = {c.cui: c for c in ranked if c.score >= 1.0}
        for cui, alias in self._acronyms.get(compact, ()):
            pool.setdefault(cui, Candidate(cui, 0.95, alias))
        if not pool:
            return ranked
        if context and self.dense is not None and len(pool) > 1:
            ctx = self.dense.embed([normalize(context)])[0]
            scored = []
            for cand in pool.values():
                rows = self.dense.rows_by_cui.get(cand.cui, [])
                sim = float((self.dense.vectors[rows] @ ctx).max()) if rows else 0.0
                scored.append((sim + 0.05 * (cand.score >= 1.0), cand))
            chosen = [c for _, c in sorted(scored, key=lambda x: -x[0])]
        else:
            chosen = self._rank({c.cui: (c.score, c.alias) for c in pool.values()})
        rest = [c for c in ranked if c.cui not in pool]
        return chosen + rest

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
                surface = text[tokens[i][0] : tokens[j - 1][1]]
                if n > 1 and _BREAK_RE.search(surface):
                    break  # a mention never runs over a line, a heading colon, a bracket or a sentence end
                spans.append((i, j, key, surface))
        unique = list(dict.fromkeys(key for _, _, key, _ in spans))
        exact = {key for key in unique if any(form in self.alias_table for form in self._forms(key))}
        # Only spans whose key is an alias, or that are long enough to carry a misspelt term, are searched.
        fuzzy = [
            key for key in unique
            if key not in exact and len(key) >= 5 and any(self._worth_searching(f) for f in self._forms(key))
        ]  # fmt: skip
        best = self._best(list(exact) + fuzzy)
        threshold = {key: self.threshold for key in best}
        confirmed: set[str] = set()  # keys whose score is the fused one (their own threshold applies)
        if self.dense is not None:
            # Near misses of the lexical search are re-scored with the dense encoder (cached per key): a
            # misspelt term is confirmed, a look-alike of another word ("perineural") is not.
            near = [key for key in fuzzy if (c := best.get(key)) is not None and c.score >= self.dense_gate]
            best.update(self._best(near, fuse=True))
            threshold.update(dict.fromkeys(near, self.fused_threshold))
            confirmed = set(near)
        found: list[tuple[float, int, int, Candidate, str]] = []
        for i, j, key, surface in spans:
            cand = best.get(key)
            if cand is None or cand.score < threshold[key] or not self._abbr_ok(cand.alias, surface):
                continue
            if key not in exact and (cand.alias in self._abbr or (len(key) < 8 and cand.score < 0.92)):
                continue  # short strings are too easily one edit from another word
            if key not in exact and " " not in key and key not in confirmed and cand.score < SINGLE_WORD_MIN:
                continue  # one word a few edits from a term is usually another word ("perineural")
            # A long, good match beats a short, exact one ("clear cell renal cell carcinoma" > "carcinoma").
            # The steep power keeps an exact span ahead of a fuzzy one that only adds a word at its edge; a
            # span the dense encoder confirmed ("carcinoma basocelular") may still outweigh "carcinoma".
            found.append((len(key) * cand.score ** (6 if key in confirmed else 12), i, j, cand, surface))
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
