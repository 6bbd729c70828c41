"""Variant sets for the teacher's genomic branch, paired with reports **by cancer type, not by patient**.

No open data pairs a TCGA report with its patient's mutations, so a training report of class *c* gets a
variant set *drawn* from what is known about class *c*: a weighted distribution over variant strings
(``KRAS G12D``, ``BRAF V600E``, ``TP53 R273H``) built from two sources.

- **Cancer Hotspots** (``variants/hotspots/publication_hotspots.tsv``): per recurrent codon, the samples
  per tumour type and the amino-acid changes seen. The file gives the two margins, not their joint, so
  the weight of change *a* at codon *k* in tumour type *t* is
  :math:`n_{t,k} \\cdot n_{k,a} / \\sum_{a'} n_{k,a'}` (samples, assuming the change is independent of the
  tumour type). Synonymous changes (``V600V``) are dropped; splice-site codons keep their name
  (``TP53 T125_splice``); where the study gives a common codon numbering (``H3F3A K28`` → ``K27``) it
  is used. Tumour types map to TCGA classes through :data:`HOTSPOT_TYPE_TO_TCGA`; the others
  (:data:`HOTSPOT_TYPES_UNMAPPED`) are not used.
- **CIViC** clinical evidence (``variants/civic/nightly-ClinicalEvidenceSummaries.tsv``, accepted items):
  each item counts 1 for its ``GENE VARIANT`` in the classes its disease maps to. A disease DOID maps to
  a class when it is one of the class concept's DOIDs or a Disease Ontology descendant of one (is_a edges
  of the 2026 DO cancer slim, which keeps few intermediate terms, united with those of the full 2016 DO,
  which has them). Items are kept only when the variant is a protein change or a DNA-level alteration
  (:func:`civic_alteration`); expression, methylation, exon-level and polymorphism items are not variants
  of this kind. Common-germline items and diagnostic items that argue *against* the disease are dropped.

The two sources are added as counts (one hotspot sample = one evidence item), then normalised per class,
so the larger hotspot counts dominate where both exist and CIViC fills the classes hotspots lack.

Example::

    >>> catalog = load_variant_catalog()                                       # doctest: +SKIP
    >>> catalog.sample("PAAD", np.random.default_rng(0), k=3)                  # doctest: +SKIP
    ('POM121 N359S', 'KRAS G12V', 'KRAS G12D')
    >>> parse_variant_set("braf v600e; KRAS G12D")
    ('BRAF V600E', 'KRAS G12D')
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmkd_med.config import data_path
from cmkd_med.data.tcga import TCGA_CLASSES
from cmkd_med.errors import DataFormatError, InvalidInputError

# Study codes (Chang et al. 2016) → TCGA classes, only where the meaning is the same. ``coadread`` is
# colorectal, so it feeds both COAD and READ with the same counts.
HOTSPOT_TYPE_TO_TCGA: dict[str, tuple[str, ...]] = {
    "blca": ("BLCA",),
    "cesc": ("CESC",),
    "coadread": ("COAD", "READ"),
    "gbm": ("GBM",),
    "hnsc": ("HNSC",),
    "kich": ("KICH",),
    "kirc": ("KIRC",),
    "kirp": ("KIRP",),
    "lgg": ("LGG",),
    "lihc": ("LIHC",),
    "luad": ("LUAD",),
    "lusc": ("LUSC",),
    "ov": ("OV",),
    "paad": ("PAAD",),
    "prad": ("PRAD",),
    "ucec": ("UCEC",),
    "ucs": ("UCS",),
}
# Codes in the file that are not used, and why (no TCGA class of ours, or not the same disease).
HOTSPOT_TYPES_UNMAPPED: dict[str, str] = {
    "acc": "adrenocortical carcinoma: no class",
    "acyc": "adenoid cystic carcinoma: salivary, not HNSC (squamous)",
    "all": "acute lymphoblastic leukaemia: no class",
    "brca": "breast: no class",
    "cll": "chronic lymphocytic leukaemia: no class",
    "cscc": "cutaneous squamous cell carcinoma: skin, not HNSC",
    "dlbc": "diffuse large B-cell lymphoma: no class",
    "esca": "oesophageal carcinoma: no class",
    "gbc": "gallbladder carcinoma: not cholangiocarcinoma (CHOL)",
    "hgg": "paediatric high-grade glioma: not adult GBM, not LGG",
    "laml": "acute myeloid leukaemia: no class",
    "lusm": "small-cell lung cancer: neither LUAD nor LUSC",
    "lymbc": "B-cell lymphoma: no class",
    "mbl": "medulloblastoma: no class",
    "mcl": "mantle cell lymphoma: no class",
    "mds": "myelodysplastic syndrome: no class",
    "mmyl": "multiple myeloma: no class",
    "nbl": "neuroblastoma: no class",
    "npc": "nasopharyngeal carcinoma: not in TCGA HNSC",
    "pias": "pilocytic astrocytoma: grade I, not TCGA LGG (grade II-III)",
    "skcm": "melanoma: no class",
    "stad": "stomach: no class",
    "thca": "thyroid: no class",
}

# Gene symbols: upper-case letters, digits and hyphens (HLA-A), except the lower-case "orf" of
# open-reading-frame symbols (C11orf30).
_GENE_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:orf[0-9]+)?(?:-[A-Z0-9]+)*$")
# Protein changes: V600E, V600 (codon), R213*, K706fs*19, E746_A750del, L747_S752delinsQ, T125_splice.
_PROTEIN_RE = re.compile(
    r"^(?P<pos>[A-Z]\d+(?:_[A-Z]\d+)?)"
    r"(?P<alt>delins[A-Z]+|del|dup|ins[A-Z]+|fs(?:\*\d*)?|_splice|[A-Z]|\*)?$",
    re.IGNORECASE,
)
# Alterations that are not a single protein change but are DNA-level variants of a gene.
ALTERATION_KEYWORDS: tuple[str, ...] = (
    "AMPLIFICATION", "DELETION", "FUSION", "LOSS", "LOSS-OF-FUNCTION", "MUTATION",
)  # fmt: skip
_CDNA_SUFFIX_RE = re.compile(r"\s*\(c\.[^)]*\)$")  # "S65L (c.194C>T)" → "S65L"


@dataclass
class VariantCatalog:
    """Per TCGA class, variant strings with probabilities (summing to 1), most probable first."""

    by_class: dict[str, list[tuple[str, float]]]
    vocabulary: list[str]  # every variant string and every gene in by_class, sorted

    def sample(self, code: str, rng: np.random.Generator, k: int) -> tuple[str, ...]:
        """``min(k, available)`` distinct variants of class ``code``, drawn by weight without replacement.

        The order is the draw order. A class with no variants gives ``()``; an unknown code is an error.
        """
        if code not in self.by_class:
            raise InvalidInputError(f"unknown TCGA class {code!r}; known: {', '.join(sorted(self.by_class))}")
        if k < 0:
            raise InvalidInputError(f"k must be >= 0, got {k}")
        entries = self.by_class[code]
        if not entries or k == 0:
            return ()
        weights = np.array([w for _, w in entries], dtype=np.float64)
        picked = rng.choice(len(entries), size=min(k, len(entries)), replace=False, p=weights / weights.sum())
        return tuple(entries[i][0] for i in picked)

    def classes_without_variants(self) -> list[str]:
        return [code for code, entries in self.by_class.items() if not entries]


def load_variant_catalog(data_root: str | Path | None = None) -> VariantCatalog:
    """Build the catalog from the hotspot and CIViC files in the data directory (see the module doc)."""
    counts: dict[str, dict[str, float]] = {code: defaultdict(float) for code in TCGA_CLASSES}
    for code, variant, weight in iter_hotspot_counts(data_root):
        counts[code][variant] += weight
    doid_to_classes = civic_doid_classes(data_root)
    for code, variant in iter_civic_items(doid_to_classes, data_root):
        counts[code][variant] += 1.0
    return build_catalog(counts)


def build_catalog(counts: Mapping[str, Mapping[str, float]]) -> VariantCatalog:
    """Normalise per-class counts into a :class:`VariantCatalog` (every TCGA class present)."""
    by_class: dict[str, list[tuple[str, float]]] = {}
    vocabulary: set[str] = set()
    for code in TCGA_CLASSES:
        per_class = {v: w for v, w in counts.get(code, {}).items() if w > 0}
        total = sum(per_class.values())
        ranked = sorted(per_class.items(), key=lambda item: (-item[1], item[0]))
        by_class[code] = [(variant, weight / total) for variant, weight in ranked]
        for variant in per_class:
            vocabulary.add(variant)
            vocabulary.add(variant.split(" ", 1)[0])
    return VariantCatalog(by_class=by_class, vocabulary=sorted(vocabulary))


# --- parsing -----------------------------------------------------------------------------------------
def normalize_gene(symbol: str) -> str | None:
    """The canonical case of a gene symbol (``braf`` → ``BRAF``, ``c11ORF30`` → ``C11orf30``), or None."""
    upper = symbol.strip().upper()
    canonical = re.sub(r"(?<=\d)ORF(?=\d)", "orf", upper)
    return canonical if _GENE_RE.match(canonical) else None


def normalize_alteration(alteration: str) -> str | None:
    """The canonical form of a protein change or alteration keyword, or None if it is neither.

    Residues are upper-case and suffixes lower-case, as in HGVS (``v600e`` → ``V600E``,
    ``E746_A750DEL`` → ``E746_A750del``, ``amplification`` → ``AMPLIFICATION``).
    """
    text = alteration.strip()
    if text.upper() in ALTERATION_KEYWORDS:
        return text.upper()
    match = _PROTEIN_RE.match(text)
    if not match:
        return None
    alt = match.group("alt") or ""
    if len(alt) <= 1:  # a residue, "*" or nothing (a codon: "V600")
        alt = alt.upper()
    else:  # keyword prefix lower-case, inserted residues upper-case: "INSASV" → "insASV"
        head = re.match(r"(?i)delins|del|dup|ins|fs|_splice", alt)
        assert head is not None  # the alternation above only admits these
        alt = head.group(0).lower() + alt[head.end() :].upper()
    return match.group("pos").upper() + alt


def parse_variant_set(text: str) -> tuple[str, ...]:
    """Parse user input such as ``"BRAF V600E; KRAS G12D"`` into canonical, de-duplicated variant strings.

    Items are separated by ``;``, ``,`` or newlines; each must be ``GENE ALTERATION`` where ALTERATION is a
    protein change (``V600E``, ``V600``, ``R213*``, ``E746_A750del``, ``T125_splice``) or one of
    :data:`ALTERATION_KEYWORDS`. Gene symbols are upper-cased. Order is kept.
    """
    if not isinstance(text, str):
        raise InvalidInputError(f"a variant set must be text, got {type(text).__name__}")
    items = [item.strip() for item in re.split(r"[;,\n]", text) if item.strip()]
    if not items:
        raise InvalidInputError("empty variant set: give variants like 'BRAF V600E; KRAS G12D'")
    out: list[str] = []
    for item in items:
        parts = item.split()
        gene = normalize_gene(parts[0]) if len(parts) == 2 else None
        alteration = normalize_alteration(parts[1]) if len(parts) == 2 else None
        if gene is None or alteration is None:
            raise InvalidInputError(
                f"invalid variant {item!r}: expected 'GENE ALTERATION' such as 'BRAF V600E', "
                f"'TP53 R213*', 'EGFR E746_A750del' or 'ERBB2 AMPLIFICATION' "
                f"(alteration keywords: {', '.join(ALTERATION_KEYWORDS)})"
            )
        variant = f"{gene} {alteration}"
        if variant not in out:
            out.append(variant)
    return tuple(out)


# --- hotspots ----------------------------------------------------------------------------------------
_HOTSPOT_COLUMNS = ("Hugo Symbol", "Codon", "Alt Common Codon Usage *", "Variant Amino Acid")


def _pairs(field: str, path: Path) -> list[tuple[str, int]]:
    """``"E:520|K:33"`` → ``[("E", 520), ("K", 33)]``; an empty field gives ``[]``."""
    pairs: list[tuple[str, int]] = []
    for part in filter(None, field.split("|")):
        key, sep, value = part.rpartition(":")
        if not sep or not value.isdigit():
            raise DataFormatError(f"{path}: bad 'key:count' pair {part!r}")
        pairs.append((key, int(value)))
    return pairs


def iter_hotspot_counts(data_root: str | Path | None) -> Iterator[tuple[str, str, float]]:
    """(TCGA class, variant string, samples) from the hotspots file."""
    path = data_path("variants", "hotspots", "publication_hotspots.tsv", data_root=data_root)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = {*_HOTSPOT_COLUMNS, "Tumor Type Composition"} - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            gene, codon = row["Hugo Symbol"].strip(), row["Codon"].strip()
            common = row["Alt Common Codon Usage *"].strip()
            position = common if common and common != "NA" else codon
            for variant, share in _codon_changes(gene, position, row["Variant Amino Acid"], path):
                for tumour_type, samples in _pairs(row["Tumor Type Composition"], path):
                    for code in HOTSPOT_TYPE_TO_TCGA.get(tumour_type, ()):
                        yield code, variant, samples * share


def _codon_changes(gene: str, position: str, field: str, path: Path) -> list[tuple[str, float]]:
    """(variant string, share of the codon's samples) for each non-synonymous change at ``position``."""
    if position.endswith("_splice"):  # changes are given as "SS" or not at all
        return [(f"{gene} {position}", 1.0)]
    changes = _pairs(field, path)
    total = sum(n for _, n in changes)
    reference = position[0]
    return [
        (f"{gene} {position}{residue}", n / total)
        for residue, n in changes
        if residue != reference and total > 0
    ]


# --- CIViC -------------------------------------------------------------------------------------------
def civic_alteration(gene: str, variant: str) -> str | None:
    """The ``GENE ALTERATION`` string of a CIViC (gene, variant), or None when it is not such a variant.

    ``V600E`` → ``BRAF V600E``; ``S65L (c.194C>T)`` → the protein change; ``AMPLIFICATION`` and
    ``Mutation`` → the keyword; a two-gene fusion naming the gene (``KIAA1549-BRAF``) or ``GENE FUSIONS``
    → ``GENE FUSION``. Everything else (``EXPRESSION``, ``EXON 19 DELETION``, ``BCR-ABL T315I``,
    ``RS16906252``) is None.
    """
    symbol = normalize_gene(gene)
    if symbol is None:
        return None
    text = _CDNA_SUFFIX_RE.sub("", variant.strip())
    fusion = re.fullmatch(r"([A-Za-z0-9]+)-([A-Za-z0-9]+)", text)
    if fusion and symbol in {normalize_gene(fusion.group(1)), normalize_gene(fusion.group(2))}:
        return f"{symbol} FUSION"
    if re.fullmatch(rf"{re.escape(symbol)}\s+FUSIONS?", text, re.IGNORECASE):
        return f"{symbol} FUSION"
    alteration = normalize_alteration(text)
    return f"{symbol} {alteration}" if alteration else None


def _is_against_disease(row: Mapping[str, str]) -> bool:
    # A diagnostic item is for the disease only when it supports a positive association ("JAK2 V617F is
    # not associated with lymphoid leukemia" is Diagnostic / Supports / Negative). Other types concern
    # patients who had the variant and the disease, whatever their direction.
    if row["evidence_type"] != "Diagnostic":
        return False
    return not (row["evidence_direction"] == "Supports" and row["clinical_significance"] == "Positive")


def iter_civic_items(
    doid_to_classes: Mapping[str, tuple[str, ...]], data_root: str | Path | None
) -> Iterator[tuple[str, str]]:
    """(TCGA class, variant string) for each usable accepted CIViC evidence item."""
    path = data_path("variants", "civic", "nightly-ClinicalEvidenceSummaries.tsv", data_root=data_root)
    needed = {"gene", "variant", "doid", "evidence_status", "evidence_type", "evidence_direction"}
    needed |= {"clinical_significance", "variant_origin"}
    with path.open(encoding="utf-8", newline="") as handle:
        # Quotes inside evidence statements are literal (see the data card): read with quoting off.
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: missing columns {sorted(missing)}")
        for row in reader:
            if row["evidence_status"] != "accepted" or row["variant_origin"] == "Common Germline":
                continue
            classes = doid_to_classes.get(f"DOID:{row['doid'].strip()}", ())
            if not classes or _is_against_disease(row):
                continue
            variant = civic_alteration(row["gene"], row["variant"])
            if variant is None:
                continue
            for code in classes:
                yield code, variant


# CIViC's broad diseases that are DO *ancestors* of our classes (the descendant rule misses them), mapped by
# hand to the classes they cover in TCGA: "Colorectal Cancer" evidence is about colon and rectal tumours.
BROAD_DISEASE_CLASSES: dict[str, tuple[str, ...]] = {
    "DOID:9256": ("COAD", "READ"),  # colorectal cancer
    "DOID:3908": ("LUAD", "LUSC"),  # lung non-small cell carcinoma
    "DOID:2394": ("OV",),  # ovarian cancer
    "DOID:2152": ("OV",),  # epithelial ovarian cancer
    "DOID:10283": ("PRAD",),  # prostate cancer
    "DOID:10286": ("PRAD",),  # prostate carcinoma
    "DOID:1793": ("PAAD",),  # pancreatic cancer
    "DOID:1380": ("UCEC",),  # endometrial cancer
    "DOID:4007": ("BLCA",),  # bladder carcinoma
    "DOID:11054": ("BLCA",),  # urinary bladder cancer
    "DOID:11934": ("HNSC",),  # head and neck cancer
    "DOID:4450": ("KICH", "KIRC", "KIRP"),  # renal cell carcinoma
}


def civic_doid_classes(data_root: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """DOID → TCGA classes, for every DOID that is a class DOID or a DO descendant of one, plus the broad
    diseases of :data:`BROAD_DISEASE_CLASSES`."""
    from cmkd_med.ontology.kb import KnowledgeBase

    class_doids: dict[str, set[str]] = defaultdict(set)
    for concept in KnowledgeBase.load().classes():
        assert concept.tcga_code is not None  # classes() only returns concepts with a TCGA code
        for code in concept.codes:
            if code.system == "DOID":
                class_doids[code.code].add(concept.tcga_code)
    parents = do_is_a_edges(data_root)
    out: dict[str, tuple[str, ...]] = {}
    for doid in set(parents) | set(class_doids):
        reached = {doid} | _ancestors(doid, parents)
        codes = {code for d in reached for code in class_doids.get(d, ())}
        if codes:
            out[doid] = tuple(sorted(codes))
    for doid, broad in BROAD_DISEASE_CLASSES.items():
        out[doid] = tuple(sorted(set(out.get(doid, ())) | set(broad)))
    return out


def do_is_a_edges(data_root: str | Path | None = None) -> dict[str, set[str]]:
    """DOID → is_a parents, united over the 2026 DO cancer slim and the full 2016 DO."""
    from cmkd_med.ontology.sources import read_do_cancer_slim, read_obo

    full = read_obo(data_path("ontologies", "doid", "doid_2016-09-01.obo", data_root=data_root))
    parents: dict[str, set[str]] = defaultdict(set)
    for term in [*read_do_cancer_slim(data_root), *full]:
        parents[term.id].update(term.parents)
    return dict(parents)


def _ancestors(doid: str, parents: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [doid]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen
