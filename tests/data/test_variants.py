"""Variant sets by cancer type: parsing, the hotspot and CIViC readers on fixtures, the real catalog."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cmkd_med.config import data_dir
from cmkd_med.data.tcga import TCGA_CLASSES
from cmkd_med.data.variants import (
    HOTSPOT_TYPE_TO_TCGA,
    HOTSPOT_TYPES_UNMAPPED,
    VariantCatalog,
    build_catalog,
    civic_alteration,
    civic_doid_classes,
    iter_civic_items,
    iter_hotspot_counts,
    load_variant_catalog,
    parse_variant_set,
)
from cmkd_med.errors import InvalidInputError

# --- parsing -------------------------------------------------------------------------------------


def test_parse_variant_set_normalises_case_and_deduplicates() -> None:
    assert parse_variant_set("braf v600e; KRAS G12D") == ("BRAF V600E", "KRAS G12D")
    assert parse_variant_set("TP53 r213*,\n egfr e746_a750DEL ; BRAF V600E; braf V600E") == (
        "TP53 R213*",
        "EGFR E746_A750del",
        "BRAF V600E",
    )
    assert parse_variant_set("erbb2 amplification; c11orf30 MUTATION; TP53 t125_SPLICE") == (
        "ERBB2 AMPLIFICATION",
        "C11orf30 MUTATION",
        "TP53 T125_splice",
    )


@pytest.mark.parametrize(
    "text",
    ["", " ; ", "BRAF", "BRAF V600E KRAS", "BRAF overexpression", "12ab V600E", "BRAF 600E", "BRAF V600E;;x"],
)
def test_parse_variant_set_rejects_garbage(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"variant"):
        parse_variant_set(text)


def test_parse_error_names_the_bad_item() -> None:
    with pytest.raises(InvalidInputError, match=r"'KRAS G12 D'.*GENE ALTERATION"):
        parse_variant_set("BRAF V600E; KRAS G12 D")


def test_civic_alteration_shapes() -> None:
    assert civic_alteration("BRAF", "V600E") == "BRAF V600E"
    assert civic_alteration("PDGFRA", "S65L (c.194C>T)") == "PDGFRA S65L"
    assert civic_alteration("BRAF", "KIAA1549-BRAF") == "BRAF FUSION"
    assert civic_alteration("NTRK1", "NTRK1 FUSIONS") == "NTRK1 FUSION"
    assert civic_alteration("KRAS", "Mutation") == "KRAS MUTATION"
    for variant in ("EXPRESSION", "EXON 19 DELETION", "BCR-ABL T315I", "G12/G13"):
        assert civic_alteration("EGFR", variant) is None


# --- readers on tiny fixtures --------------------------------------------------------------------

HOTSPOT_HEADER = [
    "Hugo Symbol", "Codon", "Alt Common Codon Usage *", "Variant Amino Acid", "Q-value", "Tumor Count",
    "Tumor Type Count", "Validation Level [a]", "Tumor Type Composition",
]  # fmt: skip


def _write_tsv(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, header, delimiter="\t", restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_hotspot_weights_are_codon_samples_times_change_share(tmp_path: Path) -> None:
    rows = [
        # D 3/5, V 1/5, G synonymous (dropped); skcm has no class.
        {"Hugo Symbol": "KRAS", "Codon": "G12", "Alt Common Codon Usage *": "NA",
         "Variant Amino Acid": "D:3|V:1|G:1", "Tumor Type Composition": "paad:10|coadread:4|skcm:5"},
        {"Hugo Symbol": "TP53", "Codon": "T125_splice", "Alt Common Codon Usage *": "NA",
         "Variant Amino Acid": "SS:2", "Tumor Type Composition": "ov:7"},
        {"Hugo Symbol": "H3F3A", "Codon": "K28", "Alt Common Codon Usage *": "K27",
         "Variant Amino Acid": "M:4", "Tumor Type Composition": "gbm:2"},
    ]  # fmt: skip
    _write_tsv(tmp_path / "variants" / "hotspots" / "publication_hotspots.tsv", HOTSPOT_HEADER, rows)
    got = {(code, variant): weight for code, variant, weight in iter_hotspot_counts(tmp_path)}
    assert got == pytest.approx(
        {
            ("PAAD", "KRAS G12D"): 6.0,
            ("PAAD", "KRAS G12V"): 2.0,
            ("COAD", "KRAS G12D"): 2.4,
            ("COAD", "KRAS G12V"): 0.8,
            ("READ", "KRAS G12D"): 2.4,
            ("READ", "KRAS G12V"): 0.8,
            ("OV", "TP53 T125_splice"): 7.0,
            ("GBM", "H3F3A K27M"): 2.0,
        }
    )


def test_civic_items_filter(tmp_path: Path) -> None:
    header = [
        "gene", "variant", "disease", "doid", "evidence_type", "evidence_direction", "clinical_significance",
        "evidence_status", "variant_origin",
    ]  # fmt: skip
    base = {
        "evidence_type": "Predictive",
        "evidence_direction": "Supports",
        "evidence_status": "accepted",
        "clinical_significance": "Sensitivity/Response",
        "variant_origin": "Somatic",
        "doid": "3498",
    }
    rows = [
        {**base, "gene": "KRAS", "variant": "G12D"},  # kept
        {**base, "gene": "KRAS", "variant": "G12V", "evidence_direction": "Does Not Support"},  # kept
        {**base, "gene": "KRAS", "variant": "EXPRESSION"},  # not a variant
        {**base, "gene": "KRAS", "variant": "G12C", "doid": "9256"},  # disease maps to no class
        {**base, "gene": "TP53", "variant": "P72R", "variant_origin": "Common Germline"},  # polymorphism
        {**base, "gene": "JAK2", "variant": "V617F", "evidence_type": "Diagnostic",
         "clinical_significance": "Negative"},  # argues against the disease
        {**base, "gene": "KRAS", "variant": "G13D", "evidence_status": "submitted"},  # not accepted
    ]  # fmt: skip
    _write_tsv(tmp_path / "variants" / "civic" / "nightly-ClinicalEvidenceSummaries.tsv", header, rows)
    items = list(iter_civic_items({"DOID:3498": ("PAAD",)}, tmp_path))
    assert items == [("PAAD", "KRAS G12D"), ("PAAD", "KRAS G12V")]


def test_build_catalog_and_sampling() -> None:
    catalog = build_catalog({"PAAD": {"KRAS G12D": 6.0, "KRAS G12V": 2.0, "TP53 R273H": 2.0}})
    assert set(catalog.by_class) == set(TCGA_CLASSES)
    assert catalog.by_class["PAAD"] == [("KRAS G12D", 0.6), ("KRAS G12V", 0.2), ("TP53 R273H", 0.2)]
    assert catalog.vocabulary == ["KRAS", "KRAS G12D", "KRAS G12V", "TP53", "TP53 R273H"]
    assert catalog.sample("KIRC", np.random.default_rng(0), 3) == ()
    draw = catalog.sample("PAAD", np.random.default_rng(7), 2)
    assert len(draw) == 2 and len(set(draw)) == 2
    assert sorted(catalog.sample("PAAD", np.random.default_rng(7), 10)) == [
        "KRAS G12D",
        "KRAS G12V",
        "TP53 R273H",
    ]
    with pytest.raises(InvalidInputError, match="unknown TCGA class"):
        catalog.sample("BRCA", np.random.default_rng(0), 1)


# --- the real catalog ------------------------------------------------------------------------------


def _need_variant_data() -> None:
    if not (data_dir() / "variants" / "hotspots" / "publication_hotspots.tsv").is_file():
        pytest.skip(f"variant data not found under {data_dir()} (set CMKD_DATA_DIR)")


@pytest.fixture(scope="module")
def catalog() -> VariantCatalog:
    _need_variant_data()
    return load_variant_catalog()


@pytest.mark.slow
def test_real_catalog_has_the_textbook_variants(catalog: VariantCatalog) -> None:
    paad = dict(catalog.by_class["PAAD"])
    assert catalog.by_class["PAAD"][0][0] == "KRAS G12D"  # the most frequent PAAD hotspot
    assert paad["KRAS G12D"] > 0.1
    assert "BRAF V600E" in dict(catalog.by_class["COAD"]) or "BRAF V600E" in dict(catalog.by_class["READ"])
    assert "EGFR L858R" in dict(catalog.by_class["LUAD"])
    assert catalog.by_class["LGG"][0][0] == "IDH1 R132H"
    for code, entries in catalog.by_class.items():
        if entries:
            assert sum(w for _, w in entries) == pytest.approx(1.0), code
    assert {"KRAS", "BRAF V600E", "TP53 R273H"} <= set(catalog.vocabulary)
    # Every catalog string is something a user could type.
    for entries in catalog.by_class.values():
        for variant, _ in entries:
            assert parse_variant_set(variant) == (variant,)


@pytest.mark.slow
def test_real_catalog_sampling_is_deterministic_and_distinct(catalog: VariantCatalog) -> None:
    first = catalog.sample("PAAD", np.random.default_rng(42), 8)
    assert first == catalog.sample("PAAD", np.random.default_rng(42), 8)
    assert len(first) == 8 and len(set(first)) == 8
    assert first != catalog.sample("PAAD", np.random.default_rng(43), 8)


@pytest.mark.slow
def test_civic_diseases_map_by_do_descent() -> None:
    _need_variant_data()
    mapping = civic_doid_classes()
    assert mapping["DOID:3498"] == ("PAAD",)  # pancreatic ductal adenocarcinoma is_a pancreatic adenoc.
    assert mapping["DOID:684"] == ("LIHC",)
    assert mapping["DOID:3382"] == ("SARC",)  # liposarcoma: an edge only the full 2016 DO has
    # Broad diseases are DO ancestors of the classes; they map only through the explicit table.
    assert mapping["DOID:9256"] == ("COAD", "READ")  # colorectal cancer
    assert mapping["DOID:3908"] == ("LUAD", "LUSC")  # non-small cell lung carcinoma
    assert "DOID:162" not in mapping  # "cancer" itself names no class


@pytest.mark.slow
def test_every_hotspot_tumour_type_is_mapped_or_listed() -> None:
    _need_variant_data()
    path = data_dir() / "variants" / "hotspots" / "publication_hotspots.tsv"
    with path.open(encoding="utf-8", newline="") as handle:
        types = {
            pair.split(":")[0]
            for row in csv.DictReader(handle, delimiter="\t")
            for pair in row["Tumor Type Composition"].split("|")
        }
    assert types == set(HOTSPOT_TYPE_TO_TCGA) | set(HOTSPOT_TYPES_UNMAPPED)
    assert not set(HOTSPOT_TYPE_TO_TCGA) & set(HOTSPOT_TYPES_UNMAPPED)
