"""WMT biomedical en–pt pairs: the mapping/alignment join, the OK filter, dedup, errors, the real data."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from cmkd_med.config import data_dir
from cmkd_med.data.wmt import WmtPair, load_wmt_pairs
from cmkd_med.errors import DataFormatError, DataNotFoundError


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _make_wmt19(root: Path) -> None:
    """2019 layout: one mapping and one alignment for both directions, ``pmid, pt <=> en, label``."""
    medline = root / "wmt19biomedical" / "test_sets" / "Medline"
    gold = medline / "gold_standard"
    _write(gold / "mapdocs_pt_en.txt", ["111\tdoc1", "222\tdoc2"])
    # doc1 is pt2en (pt source, en gold), doc2 is en2pt (en source, pt gold)
    _write(
        medline / "medline_pt2en_pt.txt", ["doc1\t1\tOBJETIVO", "doc1\t2\tEstudo de coorte.", "doc1\t3\tFim."]
    )
    _write(gold / "medline_pt2en_en.txt", ["doc1\t1\tOBJECTIVE", "doc1\t2\tA cohort", "doc1\t3\tstudy."])
    _write(medline / "medline_en2pt_en.txt", ["doc2\t1\tOBJECTIVE", "doc2\t2\t  Tumour size.  "])
    _write(gold / "medline_en2pt_pt.txt", ["doc2\t1\tOBJETIVO", "doc2\t2\tTamanho do tumor."])
    _write(
        gold / "align_validation_pt_en.txt",
        [
            "111\t1 <=> 1\tOK",
            "111\t2 <=> 2,3\tOK",  # one pt sentence, two en sentences joined
            "111\t3 <=> omitted\tNO_ALIGNMENT",
            "222\t1 <=> 1\tOK",  # same text as doc1's heading: deduplicated
            "222\t2 <=> 2\tOK",
        ],
    )


def _make_wmt22(root: Path) -> None:
    """2022 layout: one mapping and alignment per direction, ``label, pmid, pt_ids, en_ids``."""
    year = root / "wmt22biomedical"
    sets = year / "gold_sets"
    _write(sets / "docid_mapping_files" / "en2pt_mapping.txt", ["333\tdoc1"])
    _write(sets / "docid_mapping_files" / "pt2en_mapping.txt", ["444\tdoc1"])  # docN reused per direction
    _write(
        year / "testsets" / "medline_en2pt_en.txt", ["doc1\t1\tFirst.", "doc1\t2\tSecond.", "doc1\t3\tThird."]
    )
    _write(
        sets / "gold_test_files" / "medline_en2pt_pt.txt",
        ["doc1\t1\tPrimeira e segunda.", "doc1\t2\tTerceira."],
    )
    _write(year / "testsets" / "medline_pt2en_pt.txt", ["doc1\t1\tUma frase.", "doc1\t2\tOutra."])
    _write(sets / "gold_test_files" / "medline_pt2en_en.txt", ["doc1\t1\tA sentence.", "doc1\t2\tAnother."])
    _write(
        sets / "alignment_files" / "en2pt_align_validation.tsv",
        ["OK\t333\t1\t1,2", "SOURCE_GREATER_TARGET\t333\t2\t3", "NO_ALIGNMENT\t333\tomitted\t3"],
    )
    _write(
        sets / "alignment_files" / "pt2en_align_validation.tsv",
        ["OK\t444\t1\t1", "OVERLAP\t444\t2\t2", "TARGET_GREATER_SOURCE\t444\t2\t1,2"],
    )


@pytest.fixture
def wmt_root(tmp_path: Path) -> Path:
    folder = tmp_path / "wmt_biomedical_pt_en"
    _make_wmt19(folder)
    _make_wmt22(folder)
    (folder / "wmt24biomedical" / "testsets").mkdir(parents=True)  # no alignment: gives no pairs
    return tmp_path


def test_join_ok_filter_and_dedup(wmt_root: Path) -> None:
    assert load_wmt_pairs(wmt_root) == [
        WmtPair("111", "wmt19", "OBJECTIVE", "OBJETIVO"),
        WmtPair("111", "wmt19", "A cohort study.", "Estudo de coorte."),
        WmtPair("222", "wmt19", "Tumour size.", "Tamanho do tumor."),  # stripped; the heading deduplicated
        WmtPair("333", "wmt22", "First. Second.", "Primeira e segunda."),  # pt ids first even for en2pt
        WmtPair("444", "wmt22", "A sentence.", "Uma frase."),
    ]


def test_order_is_deterministic_and_data_root_accepts_str(wmt_root: Path) -> None:
    assert load_wmt_pairs(str(wmt_root)) == load_wmt_pairs(wmt_root)


def test_ok_pair_with_an_empty_side_is_skipped(wmt_root: Path) -> None:
    sets = wmt_root / "wmt_biomedical_pt_en" / "wmt22biomedical" / "gold_sets"
    with (sets / "alignment_files" / "pt2en_align_validation.tsv").open("a", encoding="utf-8") as handle:
        handle.write("OK\t444\tomitted\t2\n")
    with (sets / "gold_test_files" / "medline_pt2en_en.txt").open("a", encoding="utf-8") as handle:
        handle.write("doc1\t3\t   \n")
    with (sets / "alignment_files" / "pt2en_align_validation.tsv").open("a", encoding="utf-8") as handle:
        handle.write("OK\t444\t2\t3\n")
    assert [pair.doc_id for pair in load_wmt_pairs(wmt_root)] == ["111", "111", "222", "333", "444"]


def test_missing_folder_is_a_clear_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="wmt_biomedical_pt_en"):
        load_wmt_pairs(tmp_path)
    (tmp_path / "wmt_biomedical_pt_en").mkdir()
    with pytest.raises(DataNotFoundError, match="no WMT year folder"):
        load_wmt_pairs(tmp_path)


def test_broken_join_is_a_format_error(wmt_root: Path) -> None:
    align = wmt_root / "wmt_biomedical_pt_en" / "wmt22biomedical" / "gold_sets" / "alignment_files"
    with (align / "en2pt_align_validation.tsv").open("a", encoding="utf-8") as handle:
        handle.write("OK\t333\t9\t1\n")
    with pytest.raises(DataFormatError, match="sentence '9' of doc1"):
        load_wmt_pairs(wmt_root)
    _write(align / "en2pt_align_validation.tsv", ["OK\t999\t1\t1"])
    with pytest.raises(DataFormatError, match="PMID 999"):
        load_wmt_pairs(wmt_root)
    _write(align / "en2pt_align_validation.tsv", ["OK\t333\t1"])
    with pytest.raises(DataFormatError, match=r"en2pt_align_validation.tsv:1"):
        load_wmt_pairs(wmt_root)


def _portuguese_markers(text: str) -> int:
    padded = f" {text.lower()} "
    return sum(padded.count(word) for word in (" de ", " e ", " do ", " da ", " que ")) + len(
        re.findall(r"ção|ões|ão", text.lower())
    )


@pytest.mark.slow
def test_real_pairs() -> None:
    if not (data_dir() / "wmt_biomedical_pt_en").is_dir():
        pytest.skip(f"wmt_biomedical_pt_en not found under {data_dir()} (set CMKD_DATA_DIR)")
    pairs = load_wmt_pairs()
    # The data README says "about 3.3k" (2020-2023 only); 2019 adds its own layout; dedup drops headings.
    assert 3_300 <= len(pairs) <= 4_200
    assert set(Counter(pair.year for pair in pairs)) == {"wmt19", "wmt20", "wmt21", "wmt22", "wmt23"}
    assert len({(pair.en, pair.pt) for pair in pairs}) == len(pairs)
    assert all(pair.en and pair.pt and pair.en == pair.en.strip() for pair in pairs)
    assert all(pair.doc_id.isdigit() for pair in pairs)  # PMIDs, not the per-file docN
    assert 400 <= len({pair.doc_id for pair in pairs}) <= 500
    long_pairs = [pair for pair in pairs if len(pair.en) > 80]
    pt_wins = sum(_portuguese_markers(pair.pt) > _portuguese_markers(pair.en) for pair in long_pairs)
    assert pt_wins > 0.9 * len(long_pairs)
    assert load_wmt_pairs() == pairs
