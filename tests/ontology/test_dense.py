"""Dense linking parts that need no model: transliteration, splits, fusion, composition, abbreviations,
and the mention evaluation (a stand-in encoder replaces e5 where vectors are needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from cmkd_med.errors import DataFormatError
from cmkd_med.evaluation.mentions import evaluate_mentions
from cmkd_med.ontology.dense import DenseCandidates, read_fusion
from cmkd_med.ontology.dense_eval import reduced_kb
from cmkd_med.ontology.dense_train import concept_names, concept_split, hard_negatives, noisy
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import ConceptLinker
from cmkd_med.ontology.translit import has_devanagari, latin_form


class TableEncoder:
    """Vectors looked up from a table (unknown strings get a fixed unrelated vector)."""

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        other = np.eye(4, dtype=np.float32)[3]
        return np.stack([self.table.get(t, other) for t in texts])


def test_devanagari_gets_a_latin_form_that_shares_ngrams_with_the_english_term() -> None:
    assert has_devanagari("कॉन्ड्रोसारकोमा") and not has_devanagari("chondrosarcoma")
    latin = latin_form("कॉन्ड्रोसारकोमा")
    assert latin.isascii() and latin.startswith("kondro") and "sar" in latin
    assert latin_form("Carcinoma Hepatocelular") == "carcinoma hepatocelular"  # Latin text: only normalised


def test_concept_split_is_fixed_and_roughly_proportional() -> None:
    cuis = [f"C{n:07d}" for n in range(2000)]
    splits = [concept_split(c) for c in cuis]
    assert splits == [concept_split(c) for c in cuis]
    share = {s: splits.count(s) / len(splits) for s in ("train", "fusion", "heldout")}
    assert 0.7 < share["train"] < 0.8 and 0.07 < share["fusion"] < 0.13 and 0.12 < share["heldout"] < 0.18


def test_noise_edits_letters_and_is_seeded() -> None:
    word = "hepatocellular carcinoma"
    a = [noisy(word, random.Random(1)) for _ in range(3)]
    assert a == [noisy(word, random.Random(1)) for _ in range(3)]
    assert any(x != word for x in (noisy(word, random.Random(s)) for s in range(10)))
    assert noisy("abc", random.Random(0)) == "abc"  # too short to edit


def test_synonym_sets_and_hard_negatives(tiny_kb: KnowledgeBase) -> None:
    names = concept_names(tiny_kb)
    kirc = names["C0279702"]
    assert "clear cell renal cell carcinoma" in kirc and "carcinoma de celulas claras renal" in kirc
    assert any(n.isascii() and "kar" in n for n in kirc)  # the Latin form of the Hindi label
    hard = hard_negatives(names, sorted(names))
    assert all(neg not in names[cui] for cui in names for name in names[cui] if (neg := hard.get(name)))


def test_reduced_kb_keeps_only_the_english_preferred_name(tiny_kb: KnowledgeBase) -> None:
    small, queries = reduced_kb(tiny_kb, ("train", "fusion", "heldout"))
    for concept in small:
        assert [(x.lang, x.kind) for x in concept.labels] == [("en", "pref")]
    kept = {(c.cui, c.preferred("en").lower()) for c in small}
    assert queries and all((q["cui"], q["key"]) not in kept for q in queries)


def _dense_linker(kb: KnowledgeBase, lang: str, table: dict[str, np.ndarray], weight: float) -> ConceptLinker:
    linker = ConceptLinker(kb, lang, dense=False)
    keys = sorted(linker.alias_table)
    encoder = TableEncoder(table)
    vectors = encoder.encode(keys)
    linker.dense = DenseCandidates(
        encoder, linker.alias_table, {k: i for i, k in enumerate(keys)}, vectors, weight
    )  # type: ignore[arg-type]
    return linker


def test_fusion_lets_the_dense_side_reach_a_concept_with_no_lexical_overlap(tiny_kb: KnowledgeBase) -> None:
    e = np.eye(4, dtype=np.float32)
    kirc_keys = [
        k for k, cuis in ConceptLinker(tiny_kb, "sw", dense=False).alias_table.items() if "C0279702" in cuis
    ]
    table = {k: e[0] for k in kirc_keys} | {"uvimbe wa seli angavu wa figo": e[0]}
    lexical = ConceptLinker(tiny_kb, "sw", dense=False).lookup("uvimbe wa seli angavu wa figo")
    fused = _dense_linker(tiny_kb, "sw", table, weight=0.8).lookup("uvimbe wa seli angavu wa figo")
    assert fused[0].cui == "C0279702"
    assert not lexical or lexical[0].cui != "C0279702" or lexical[0].score < fused[0].score


def test_exact_alias_stays_first_whatever_the_dense_side_says(tiny_kb: KnowledgeBase) -> None:
    e = np.eye(4, dtype=np.float32)
    linker = _dense_linker(tiny_kb, "en", {"hepatocellular carcinoma": e[1]}, weight=1.0)
    top = linker.lookup("clear cell renal cell carcinoma")[0]
    assert (top.cui, top.score) == ("C0279702", 1.0)


def test_dense_vectors_are_cached_per_key(tiny_kb: KnowledgeBase) -> None:
    linker = _dense_linker(tiny_kb, "en", {}, weight=0.5)
    assert linker.dense is not None
    enc = linker.dense.encoder
    linker.dense.embed(["some key", "other key"])
    calls = enc.calls  # type: ignore[attr-defined]
    linker.dense.embed(["some key", "other key"])
    assert enc.calls == calls  # type: ignore[attr-defined]


def test_a_tumour_mention_never_gets_a_site_as_top_candidate(tiny_kb: KnowledgeBase) -> None:
    linker = ConceptLinker(tiny_kb, "en", dense=False)
    assert linker._disease_words and not (linker._disease_words & {"renal", "kidney", "lymph"})
    for query in ("carcinoma of lymph node", "lymph node carcinoma"):
        ranked = linker.lookup(query, k=20)
        assert tiny_kb[ranked[0].cui].kind != "anatomy", query
        assert any(c.cui == "C0024204" for c in ranked)  # the site is still a candidate, further down
    assert tiny_kb[linker.lookup("lymph nodes")[0].cui].kind == "anatomy"  # a site alone is still a site


def test_abbreviation_spelled_by_word_initials(tiny_kb: KnowledgeBase) -> None:
    linker = ConceptLinker(tiny_kb, "en", dense=False)
    assert linker.lookup("CCRCC")[0].cui == "C0279702"  # a listed abbreviation
    assert "C0279702" in {
        cui for cui, _ in linker._acronyms.get("rcc", set()) | linker._acronyms.get("ccrcc", set())
    }


def test_read_fusion_refuses_a_bad_weight(tmp_path: Path) -> None:
    assert read_fusion(tmp_path)["weight"] == 0.5  # no file: an even mix
    (tmp_path / "fusion.json").write_text(json.dumps({"weight": 3}), encoding="utf-8")
    with pytest.raises(DataFormatError):
        read_fusion(tmp_path)


def test_mention_metrics_count_strict_lenient_and_errors(tiny_kb: KnowledgeBase, tmp_path: Path) -> None:
    linker = ConceptLinker(tiny_kb, "en", dense=False)
    text = "Clear cell renal cell carcinoma with necrosis."
    gold_right = {"start": 0, "end": 31, "cui": "C0279702"}
    rows = [
        {"id": "a", "text": text, "mentions": [gold_right, {"start": 37, "end": 45, "cui": "C0027540"}]},
        {"id": "b", "text": text, "mentions": [gold_right]},  # necrosis unmarked: one false positive
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = evaluate_mentions(path, "en", linker=linker)
    assert (out["n_gold"], out["n_pred"]) == (3, 4)
    assert out["strict"]["recall"] == 1.0 and out["strict"]["precision"] == 0.75
    assert out["errors"]["false_positive"] == 1 and out["errors"]["missed"] == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x y", "mentions": [{"start": 2, "end": 1, "cui": "C1"}]}) + "\n")
    with pytest.raises(DataFormatError, match="start < end"):
        evaluate_mentions(bad, "en", linker=linker)
    with pytest.raises(DataFormatError, match="needs an 'id'"):
        bad.write_text(json.dumps({"text": "x y", "mentions": []}) + "\n")
        evaluate_mentions(bad, "en", part="sealed", linker=linker)
