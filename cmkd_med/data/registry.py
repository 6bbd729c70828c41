"""The public datasets under the data directory, one :class:`Dataset` per row of the data README's table.

Each entry names its folder, its card in ``data_cards/``, its languages and licence, and a ``count``
function that streams the files and returns named row counts. ``cmkd-med data stats`` prints them, and
``tests/data/test_data_cards.py`` checks that the counts written in every card still match the data.

Example::

    >>> count_rows("tcga_reports")
    {'train': 4589, 'dev': 612}
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cmkd_med.config import data_path
from cmkd_med.data.tcga import SPLITS, iter_tcga
from cmkd_med.errors import DataFormatError, DataNotFoundError

CountFn = Callable[[Path], dict[str, int]]
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Dataset:
    """One public dataset: where it lives, its data card, and how to count its rows."""

    name: str  # slug: the registry key, the CLI name and the card's file stem
    path: str  # folder relative to the data directory, "/"-separated
    card: str  # file name in data_cards/
    languages: tuple[str, ...]  # ISO 639-1 codes of the text it holds; empty for numbers and codes only
    licence: str  # Hugging Face licence id (cc0-1.0, mit, other, unknown ...); the card has the details
    count: CountFn  # (dataset folder) -> named row counts

    def __post_init__(self) -> None:
        if not _SLUG.match(self.name):
            raise ValueError(f"dataset name must be a lower-case slug, got {self.name!r}")
        if self.card != f"{self.name}.md":
            raise ValueError(f"card of {self.name!r} must be {self.name}.md, got {self.card!r}")
        if Path(self.path).is_absolute() or ".." in Path(self.path).parts:
            raise ValueError(f"path of {self.name!r} must be relative to the data dir, got {self.path!r}")


# --- reading helpers -------------------------------------------------------------------------------


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DataNotFoundError(f"data file not found: {path} (set CMKD_DATA_DIR or --data-dir)")
    return path


def _records(
    path: Path,
    *,
    delimiter: str,
    encoding: str = "utf-8",
    quoted: bool = True,
    comment: str | None = None,
    required: tuple[str, ...] = (),
) -> Iterator[dict[str, str]]:
    """Stream the data rows of a delimited file with a header line.

    ``quoted=False`` where quotes are literal text (CID-10 ``"Chignon" devido ...``, CIViC, SSSOM): with
    csv quoting on, such a field would lose its quotes or swallow the following lines.
    """
    with path.open(encoding=encoding, newline="") as handle:
        lines: Iterable[str] = handle if comment is None else (x for x in handle if not x.startswith(comment))
        reader = csv.DictReader(
            lines, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
        )
        missing = set(required) - set(reader.fieldnames or ())
        if reader.fieldnames is None or missing:
            raise DataFormatError(f"{path}: missing header or columns {sorted(missing)}")
        yield from reader


def _count(rows: Iterable[object]) -> int:
    return sum(1 for _ in rows)


# --- counting functions, one per dataset ----------------------------------------------------------------


def _count_tcga(folder: Path) -> dict[str, int]:
    # The loader parses the multi-line quoted report text; it resolves tcga_reports/ under the data root.
    return {split: _count(iter_tcga(split, data_root=folder.parent)) for split in SPLITS}


def _count_tico19(folder: Path) -> dict[str, int]:
    path = _file(folder, "dev.tsv")
    return {"sentences": _count(_records(path, delimiter="\t", required=("tuid", "en", "pt", "hi", "sw")))}


_TICO_TERMINOLOGIES = (
    "f_en-hi_IN.csv", "f_en-pt_XX.csv", "f_en-sw_KE.csv", "g_en_hi.csv", "g_en_pt-BR.csv", "g_en_sw.csv",
)  # fmt: skip


def _count_tico_terminologies(folder: Path) -> dict[str, int]:
    required = ("sourceString", "targetString")
    return {
        Path(name).stem: _count(_records(_file(folder, name), delimiter=",", required=required))
        for name in _TICO_TERMINOLOGIES
    }


# (key, alignment-validation file, doc-id mapping file). 2019 uses other file names and a
# `pmid <TAB> x_ids <=> en_ids <TAB> label` layout; 2019-2021 keep both directions in one file;
# 2024 has whole abstracts and no sentence alignment, so it has no pairs to count.
_WMT_SETS: tuple[tuple[str, str, str], ...] = (
    ("wmt19", "wmt19biomedical/test_sets/Medline/gold_standard/align_validation_pt_en.txt",
     "wmt19biomedical/test_sets/Medline/gold_standard/mapdocs_pt_en.txt"),
    ("wmt20", "wmt20biomedical/gold_sets/alignment_files/pt-en_align_validation.tsv",
     "wmt20biomedical/gold_sets/docid_mapping_files/pten_mapping.txt"),
    ("wmt21", "wmt21biomedical/gold_sets/alignment_files/pt-en_align_validation.tsv",
     "wmt21biomedical/gold_sets/docid_mapping_files/pten_mapping.txt"),
    ("wmt22_en2pt", "wmt22biomedical/gold_sets/alignment_files/en2pt_align_validation.tsv",
     "wmt22biomedical/gold_sets/docid_mapping_files/en2pt_mapping.txt"),
    ("wmt22_pt2en", "wmt22biomedical/gold_sets/alignment_files/pt2en_align_validation.tsv",
     "wmt22biomedical/gold_sets/docid_mapping_files/pt2en_mapping.txt"),
    ("wmt23_en2pt", "wmt23biomedical/goldsets/alignment_files/en2pt_align_validation.tsv",
     "wmt23biomedical/goldsets/docid_mapping_files/en2pt_mapping.txt"),
    ("wmt23_pt2en", "wmt23biomedical/goldsets/alignment_files/pt2en_align_validation.tsv",
     "wmt23biomedical/goldsets/docid_mapping_files/pt2en_mapping.txt"),
)  # fmt: skip


def count_ok_pairs(alignment: Path, mapping: Path) -> int:
    """Sentence pairs labelled ``OK`` in a WMT alignment-validation file whose PMID is in the doc-id mapping.

    Layouts: ``label, pmid, x_ids, en_ids`` (2020 on) and ``pmid, "x_ids <=> en_ids", label`` (2019).
    The mapping's lines are ``pmid <TAB> docN``; a pair is usable only if its PMID maps to a ``docN``.
    """
    with mapping.open(encoding="utf-8") as handle:
        pmids = {line.split("\t", 1)[0].strip() for line in handle if line.strip()}
    pairs = 0
    with alignment.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) == 4:
                label, pmid = fields[0], fields[1]
            elif len(fields) == 3 and "<=>" in fields[1]:
                pmid, label = fields[0], fields[2]
            elif not line.strip():
                continue
            else:
                raise DataFormatError(
                    f"{alignment}:{lineno}: expected 4 tab-separated fields, or 3 with '<=>', "
                    f"got {len(fields)}"
                )
            if label == "OK" and pmid in pmids:
                pairs += 1
    return pairs


def _count_wmt(folder: Path) -> dict[str, int]:
    return {key: count_ok_pairs(_file(folder, align), _file(folder, ids)) for key, align, ids in _WMT_SETS}


_DOID_FILES = (
    "DO_cancer_slim.obo", "NCIthesaurus.obo", "DO_rare_slim.obo", "TopNodes_DOcancerslim.obo",
    "doid_2016-09-01.obo",
)  # fmt: skip


def count_obo_terms(path: Path) -> tuple[int, int]:
    """Non-obsolete ``[Term]`` stanzas of an OBO file, and how many of them have an ``xref: UMLS_CUI:``."""
    terms = with_umls = 0
    in_term = obsolete = umls = False
    with path.open(encoding="utf-8") as handle:
        # A sentinel stanza header closes the last stanza.
        for raw in itertools.chain(handle, ["[End]"]):
            line = raw.strip()
            if line.startswith("["):
                if in_term and not obsolete:
                    terms += 1
                    with_umls += umls
                in_term, obsolete, umls = line == "[Term]", False, False
            elif in_term:
                obsolete = obsolete or line == "is_obsolete: true"
                umls = umls or line.startswith("xref: UMLS_CUI:")
    return terms, with_umls


def _count_doid(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in _DOID_FILES:
        stem = Path(name).stem
        counts[stem], counts[f"{stem}_with_umls"] = count_obo_terms(_file(folder, name))
    return counts


def count_oncotree_nodes(path: Path) -> dict[str, int]:
    """Nodes of an OncoTree JSON tree (root key ``TISSUE``, nested ``children`` dicts) and their xrefs."""
    try:
        tree = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(tree, dict) or "TISSUE" not in tree:
        raise DataFormatError(f"{path}: expected a JSON object with the root key 'TISSUE'")
    counts = {"nodes": 0, "nodes_with_umls": 0, "nodes_with_nci": 0}
    stack = [tree["TISSUE"]]  # iterative: no recursion limit to think about
    while stack:
        node = stack.pop()
        refs = node.get("externalReferences") or {}
        counts["nodes"] += 1
        counts["nodes_with_umls"] += bool(refs.get("UMLS"))
        counts["nodes_with_nci"] += bool(refs.get("NCI"))
        stack.extend((node.get("children") or {}).values())
    return counts


def _count_oncotree(folder: Path) -> dict[str, int]:
    return count_oncotree_nodes(_file(folder, "oncotree_2025_10_03.json"))


_MONDO_FILES = (
    "mondo_exactmatch_umls.sssom.tsv", "mondo_exactmatch_ncit.sssom.tsv", "mondo_exactmatch_doid.sssom.tsv",
)  # fmt: skip


def _count_mondo(folder: Path) -> dict[str, int]:
    # SSSOM: a YAML metadata block of '#' lines, then a TSV whose header is not a mapping.
    required = ("subject_id", "predicate_id", "object_id")
    return {
        name.split(".")[0]: _count(
            _records(_file(folder, name), delimiter="\t", quoted=False, comment="#", required=required)
        )
        for name in _MONDO_FILES
    }


_CID_FILES = (
    "CID-10-CAPITULOS.CSV", "CID-10-GRUPOS.CSV", "CID-10-CATEGORIAS.CSV", "CID-10-SUBCATEGORIAS.CSV",
    "CID-O-GRUPOS.CSV", "CID-O-CATEGORIAS.CSV",
)  # fmt: skip


def _count_cid10(folder: Path) -> dict[str, int]:
    # DATASUS tables are ISO-8859-1, ';'-separated, every line ending in ';', quotes literal.
    def rows(name: str) -> Iterator[dict[str, str]]:
        path = _file(folder, name)
        return _records(path, delimiter=";", encoding="iso-8859-1", quoted=False, required=("DESCRICAO",))

    return {Path(name).stem: _count(rows(name)) for name in _CID_FILES}


def _count_hpo(folder: Path) -> dict[str, int]:
    # Babelon TSV is csv-quoted (doubled quotes inside quoted fields); one row is a definition, not a label.
    rows = labels = 0
    path = _file(folder, "hp-pt.babelon.tsv")
    for row in _records(path, delimiter="\t", required=("subject_id", "predicate_id", "translation_value")):
        rows += 1
        labels += row["predicate_id"] == "rdfs:label"
    return {"rows": rows, "labels": labels}


_CIVIC_FILES = (
    "nightly-ClinicalEvidenceSummaries.tsv", "01-Aug-2021-ClinicalEvidenceSummaries.tsv",
    "nightly-AssertionSummaries.tsv", "nightly-GeneSummaries.tsv", "nightly-VariantSummaries.tsv",
)  # fmt: skip


def _count_civic(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in _CIVIC_FILES:
        # Quotes in CIViC text are literal; a record is one line (VariantSummaries has ragged extra columns).
        rows = _records(_file(folder, name), delimiter="\t", quoted=False)
        if name.endswith("ClinicalEvidenceSummaries.tsv"):
            rows = (r for r in rows if r.get("evidence_status") == "accepted")
        counts[Path(name).stem] = _count(rows)
    return counts


def _count_hotspots(folder: Path) -> dict[str, int]:
    path = _file(folder, "publication_hotspots.tsv")
    rows = _records(path, delimiter="\t", quoted=False, required=("Hugo Symbol", "Codon"))
    return {"hotspots": _count(rows)}


def _count_histolearn(folder: Path) -> dict[str, int]:
    embeddings = _records(_file(folder, "subset_embeddings.csv"), delimiter=",")
    labels = _records(_file(folder, "subset_labels.csv"), delimiter=",", required=("label_name",))
    return {"embeddings": _count(embeddings), "labels": _count(labels)}


def _count_patient(folder: Path) -> dict[str, int]:
    from cmkd_med.data.patient_join import count_patient  # imports tcga.py and the patient tables

    return count_patient(folder)


# --- the registry -----------------------------------------------------------------------------------


def _dataset(name: str, path: str, languages: tuple[str, ...], licence: str, count: CountFn) -> Dataset:
    return Dataset(name=name, path=path, card=f"{name}.md", languages=languages, licence=licence, count=count)


_ALL = ("en", "pt", "hi", "sw")
DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        _dataset("tcga_reports", "tcga_reports", ("en",), "other", _count_tcga),
        _dataset("tico19", "tico19", _ALL, "cc0-1.0", _count_tico19),
        _dataset("tico19_terminologies", "tico19/terminologies", _ALL, "cc0-1.0", _count_tico_terminologies),
        _dataset("wmt_biomedical_pt_en", "wmt_biomedical_pt_en", ("en", "pt"), "unknown", _count_wmt),
        _dataset("doid", "ontologies/doid", ("en",), "cc0-1.0", _count_doid),
        _dataset("oncotree", "ontologies/oncotree", ("en",), "cc-by-4.0", _count_oncotree),
        _dataset("mondo", "ontologies/mondo", ("en",), "cc-by-4.0", _count_mondo),
        _dataset("cid10_ptbr", "labels/cid10_ptbr", ("pt",), "unknown", _count_cid10),
        _dataset("hpo_pt", "labels/hpo", ("en", "pt"), "other", _count_hpo),
        _dataset("civic", "variants/civic", ("en",), "cc0-1.0", _count_civic),
        _dataset("hotspots", "variants/hotspots", (), "agpl-3.0", _count_hotspots),
        _dataset("histolearn", "histo/histolearn", (), "mit", _count_histolearn),
        _dataset("tcga_patient", "tcga_patient", (), "other", _count_patient),
    )
}


def get_dataset(name: str) -> Dataset:
    """The registered dataset ``name``; an unknown name fails with the list of valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataFormatError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}") from None


def count_rows(name: str, data_root: str | Path | None = None) -> dict[str, int]:
    """Named row counts of dataset ``name`` under ``data_root`` (default :func:`cmkd_med.config.data_dir`)."""
    dataset = get_dataset(name)
    folder = data_path(*dataset.path.split("/"), data_root=data_root)
    try:
        return dataset.count(folder)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(f"{name}: cannot parse the files under {folder}: {exc}") from exc
