"""WMT biomedical test sets 2019-2023 (``wmt_biomedical_pt_en/``): Medline en–pt sentence pairs.

The data are the English–Portuguese Medline test sets of the WMT Biomedical Translation shared task,
mirrored from ``rsn86/wmt-biomedical-test_set-pt_en``: published abstracts split into sentences, with
the organisers' gold translation and a manual validation of the sentence alignment. Licence: no licence
file in the mirror; the abstracts stay under their publishers' terms, so use them for evaluation only
and never copy them into the repository.

How the join works, for each year and each alignment-validation file:

* the text files hold one sentence a line, ``docN <TAB> sentence_number <TAB> sentence``; English comes
  from ``medline_en2pt_en.txt`` (source) and ``medline_pt2en_en.txt`` (gold), Portuguese from
  ``medline_pt2en_pt.txt`` (source) and ``medline_en2pt_pt.txt`` (gold);
* the doc-id mapping (``*_mapping.txt``, in 2019 ``mapdocs_pt_en.txt``) has lines ``pmid <TAB> docN``;
* the alignment validation has lines ``label <TAB> pmid <TAB> pt_ids <TAB> en_ids`` (2020 on) or
  ``pmid <TAB> pt_ids <=> en_ids <TAB> label`` (2019). The Portuguese ids always come first, whatever
  the translation direction; ids are comma-separated sentence numbers, or ``omitted``.

A line labelled ``OK`` gives one pair: its PMID maps to ``docN``, and the listed sentences of that
document are joined with a space on each side. 2019-2021 keep both directions in one mapping and one
alignment file (the ``docN`` of the two directions are disjoint); 2022 and 2023 have one of each per
direction (``en2pt_*``, ``pt2en_*``, with overlapping ``docN``). 2024 has whole abstracts and no gold
side, so it gives no pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cmkd_med.config import data_path
from cmkd_med.errors import DataFormatError, DataNotFoundError

FOLDER = "wmt_biomedical_pt_en"
OK_LABEL = "OK"


@dataclass(frozen=True)
class WmtPair:
    doc_id: str  # the Medline document id (PMID), so callers can split by document
    year: str  # e.g. "wmt19"
    en: str
    pt: str


@dataclass(frozen=True)
class _AlignmentSet:
    """One alignment-validation file, its doc-id mapping and the text files it points into."""

    year: str
    alignment: str
    mapping: str
    en_files: tuple[str, ...]
    pt_files: tuple[str, ...]


def _one_direction(year: str, folder: str, gold: str, direction: str) -> _AlignmentSet:
    """2022 and 2023: one alignment and one mapping file per direction (``en2pt`` or ``pt2en``)."""
    source, target = direction.split("2")
    source_file = f"{folder}/testsets/medline_{direction}_{source}.txt"
    target_file = f"{folder}/{gold}/gold_test_files/medline_{direction}_{target}.txt"
    return _AlignmentSet(
        year=year,
        alignment=f"{folder}/{gold}/alignment_files/{direction}_align_validation.tsv",
        mapping=f"{folder}/{gold}/docid_mapping_files/{direction}_mapping.txt",
        en_files=(source_file if source == "en" else target_file,),
        pt_files=(source_file if source == "pt" else target_file,),
    )


# In year order; a year folder that is absent from the mirror is skipped, a present one must be complete.
_SETS: tuple[_AlignmentSet, ...] = (
    _AlignmentSet(
        year="wmt19",
        alignment="wmt19biomedical/test_sets/Medline/gold_standard/align_validation_pt_en.txt",
        mapping="wmt19biomedical/test_sets/Medline/gold_standard/mapdocs_pt_en.txt",
        en_files=(
            "wmt19biomedical/test_sets/Medline/medline_en2pt_en.txt",
            "wmt19biomedical/test_sets/Medline/gold_standard/medline_pt2en_en.txt",
        ),
        pt_files=(
            "wmt19biomedical/test_sets/Medline/medline_pt2en_pt.txt",
            "wmt19biomedical/test_sets/Medline/gold_standard/medline_en2pt_pt.txt",
        ),
    ),
    _AlignmentSet(
        year="wmt20",
        alignment="wmt20biomedical/gold_sets/alignment_files/pt-en_align_validation.tsv",
        mapping="wmt20biomedical/gold_sets/docid_mapping_files/pten_mapping.txt",
        en_files=(
            "wmt20biomedical/test_sets/Abstracts/medline_en2pt_en.txt",
            "wmt20biomedical/gold_sets/gold_test_files/medline_pt2en_en.txt",
        ),
        pt_files=(
            "wmt20biomedical/test_sets/Abstracts/medline_pt2en_pt.txt",
            "wmt20biomedical/gold_sets/gold_test_files/medline_en2pt_pt.txt",
        ),
    ),
    _AlignmentSet(
        year="wmt21",
        alignment="wmt21biomedical/gold_sets/alignment_files/pt-en_align_validation.tsv",
        mapping="wmt21biomedical/gold_sets/docid_mapping_files/pten_mapping.txt",
        en_files=(
            "wmt21biomedical/test_sets/medline_en2pt_en.txt",
            "wmt21biomedical/gold_sets/gold_test_files/medline_pt2en_en.txt",
        ),
        pt_files=(
            "wmt21biomedical/test_sets/medline_pt2en_pt.txt",
            "wmt21biomedical/gold_sets/gold_test_files/medline_en2pt_pt.txt",
        ),
    ),
    _one_direction("wmt22", "wmt22biomedical", "gold_sets", "en2pt"),
    _one_direction("wmt22", "wmt22biomedical", "gold_sets", "pt2en"),
    _one_direction("wmt23", "wmt23biomedical", "goldsets", "en2pt"),
    _one_direction("wmt23", "wmt23biomedical", "goldsets", "pt2en"),
)


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-blank lines of ``path`` as (line number, tab-separated fields)."""
    if not path.is_file():
        raise DataFormatError(f"WMT file missing from an otherwise present year folder: {path}")
    try:
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if line.strip():
                    yield lineno, line.rstrip("\r\n").split("\t")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 ({exc})") from exc


def _read_mapping(path: Path) -> dict[str, str]:
    """``pmid -> docN`` from a doc-id mapping file."""
    mapping: dict[str, str] = {}
    for lineno, fields in _lines(path):
        if len(fields) != 2:
            raise DataFormatError(f"{path}:{lineno}: expected 'pmid <TAB> docN', got {len(fields)} fields")
        mapping[fields[0].strip()] = fields[1].strip()
    return mapping


def _read_sentences(paths: list[Path]) -> dict[tuple[str, str], str]:
    """``(docN, sentence_number) -> sentence`` over all ``paths`` (which must not share a key)."""
    sentences: dict[tuple[str, str], str] = {}
    for path in paths:
        for lineno, fields in _lines(path):
            if len(fields) < 2:
                raise DataFormatError(f"{path}:{lineno}: expected 'docN <TAB> number <TAB> sentence'")
            key = (fields[0].strip(), fields[1].strip())
            if key in sentences:
                raise DataFormatError(f"{path}:{lineno}: sentence {key[1]} of {key[0]} appears twice")
            sentences[key] = "\t".join(fields[2:]).strip()
    return sentences


def _parse_alignment(path: Path, lineno: int, fields: list[str]) -> tuple[str, str, str, str]:
    """``(label, pmid, pt_ids, en_ids)`` from either alignment-validation layout."""
    if len(fields) == 4:
        label, pmid, pt_ids, en_ids = fields
    elif len(fields) == 3 and "<=>" in fields[1]:
        pmid, ids, label = fields
        pt_ids, en_ids = ids.split("<=>", 1)
    else:
        raise DataFormatError(
            f"{path}:{lineno}: expected 'label, pmid, pt_ids, en_ids' or 'pmid, pt_ids <=> en_ids, label'"
        )
    return label.strip(), pmid.strip(), pt_ids.strip(), en_ids.strip()


def _side(ids: str, doc: str, sentences: dict[tuple[str, str], str], where: str) -> str:
    """The listed sentences of ``doc`` joined with spaces (empty for ``omitted``)."""
    if ids == "omitted":
        return ""
    parts = []
    for number in (part.strip() for part in ids.split(",")):
        if (doc, number) not in sentences:
            raise DataFormatError(f"{where}: sentence {number!r} of {doc} is not in the text files")
        parts.append(sentences[doc, number])
    return " ".join(part for part in parts if part).strip()


def _iter_set(root: Path, spec: _AlignmentSet) -> Iterator[WmtPair]:
    alignment = root / spec.alignment
    mapping = _read_mapping(root / spec.mapping)
    en = _read_sentences([root / name for name in spec.en_files])
    pt = _read_sentences([root / name for name in spec.pt_files])
    for lineno, fields in _lines(alignment):
        label, pmid, pt_ids, en_ids = _parse_alignment(alignment, lineno, fields)
        if label != OK_LABEL:
            continue
        where = f"{alignment}:{lineno}"
        if pmid not in mapping:
            raise DataFormatError(f"{where}: PMID {pmid} is not in {root / spec.mapping}")
        doc = mapping[pmid]
        pair = WmtPair(pmid, spec.year, _side(en_ids, doc, en, where), _side(pt_ids, doc, pt, where))
        if pair.en and pair.pt:
            yield pair


def load_wmt_pairs(data_root: str | Path | None = None) -> list[WmtPair]:
    """All aligned en–pt sentence pairs labelled OK, deduplicated, in a deterministic order.

    Order: year, then direction (en2pt before pt2en where split), then alignment-file order. A pair whose
    (en, pt) text already occurred (mostly section headings such as RESULTS / RESULTADOS) is dropped, so
    it stays with the first document it appeared in.
    """
    root = data_path(FOLDER, data_root=data_root)
    seen: set[tuple[str, str]] = set()
    pairs: list[WmtPair] = []
    years = [spec for spec in _SETS if (root / spec.alignment.split("/", 1)[0]).is_dir()]
    if not years:
        raise DataNotFoundError(f"{root}: no WMT year folder (wmt19biomedical ... wmt23biomedical) found")
    for spec in years:
        for pair in _iter_set(root, spec):
            if (pair.en, pair.pt) not in seen:
                seen.add((pair.en, pair.pt))
                pairs.append(pair)
    return pairs
