"""Readers for the public ontology sources under the data directory.

Each reader returns plain records; :mod:`cmkd_med.ontology.build` decides what becomes a concept.
The OBO reader is written by hand: we need five tags of the format, and neither ``pronto`` nor
``obonet`` is otherwise a dependency.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cmkd_med.config import data_path
from cmkd_med.errors import DataFormatError

_SYNONYM_RE = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|RELATED|NARROW|BROAD)')


@dataclass
class OboTerm:
    id: str
    name: str = ""
    synonyms: list[tuple[str, str]] = field(default_factory=list)  # (text, scope)
    xrefs: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    definition: str | None = None
    obsolete: bool = False

    def xref_values(self, prefix: str) -> list[str]:
        return [x.split(":", 1)[1] for x in self.xrefs if x.startswith(prefix + ":")]


def read_obo(path: Path) -> list[OboTerm]:
    """The ``[Term]`` stanzas of an OBO file."""
    terms: list[OboTerm] = []
    current: OboTerm | None = None
    in_term = False
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if line.startswith("["):
                in_term = line == "[Term]"
                current = None
                continue
            if not in_term or ": " not in line:
                continue
            tag, value = line.split(": ", 1)
            if tag == "id":
                current = OboTerm(id=value)
                terms.append(current)
            elif current is None:
                raise DataFormatError(f"{path}: a [Term] stanza must start with 'id:'")
            elif tag == "name":
                current.name = value
            elif tag == "synonym":
                match = _SYNONYM_RE.match(value)
                if match:
                    current.synonyms.append((match.group(1).replace('\\"', '"'), match.group(2)))
            elif tag == "xref":
                current.xrefs.append(value.split(" ", 1)[0])
            elif tag == "is_a":
                current.parents.append(value.split(" ", 1)[0])
            elif tag == "def":
                match = re.match(r'^"((?:[^"\\]|\\.)*)"', value)
                current.definition = match.group(1) if match else None
            elif tag == "is_obsolete" and value.strip() == "true":
                current.obsolete = True
    return [t for t in terms if not t.obsolete and t.name]


def read_do_cancer_slim(data_root: str | Path | None = None) -> list[OboTerm]:
    return read_obo(data_path("ontologies", "doid", "DO_cancer_slim.obo", data_root=data_root))


# The other subsets of the same DO release as the cancer slim. The build takes no concepts from them, only the
# ICD-O and ICD-10 xrefs of terms that are already concepts (DO "adenocarcinoma", 8140/3, is not in the slim).
DO_XREF_SUBSETS = ("NCIthesaurus.obo", "DO_rare_slim.obo", "TopNodes_DOcancerslim.obo")


def read_do_subset(name: str, data_root: str | Path | None = None) -> list[OboTerm]:
    if name not in DO_XREF_SUBSETS:
        raise ValueError(f"unknown DO subset {name!r}; expected one of {', '.join(DO_XREF_SUBSETS)}")
    return read_obo(data_path("ontologies", "doid", name, data_root=data_root))


@dataclass
class OncoTreeNode:
    code: str
    name: str
    main_type: str | None
    tissue: str | None
    parent: str | None
    level: int
    umls: list[str]
    nci: list[str]


def read_oncotree(data_root: str | Path | None = None) -> list[OncoTreeNode]:
    """All OncoTree nodes, depth-first, with their UMLS and NCI references (``level`` 0 is the root)."""
    path = next(
        iter(sorted(data_path("ontologies", "oncotree", data_root=data_root).glob("oncotree_*.json"))), None
    )
    if path is None:
        raise DataFormatError("no oncotree_*.json in the oncotree data folder")
    with path.open(encoding="utf-8") as handle:
        root = json.load(handle)
    nodes: list[OncoTreeNode] = []

    def walk(node: dict, parent: str | None, level: int) -> None:
        refs = node.get("externalReferences") or {}
        nodes.append(
            OncoTreeNode(
                code=node["code"],
                name=node["name"],
                main_type=node.get("mainType"),
                tissue=node.get("tissue"),
                parent=parent,
                level=level,
                umls=list(refs.get("UMLS", [])),
                nci=list(refs.get("NCI", [])),
            )
        )
        for child in (node.get("children") or {}).values():
            walk(child, node["code"], level + 1)

    try:
        for top in root.values():
            walk(top, None, 0)
    except (KeyError, AttributeError) as exc:
        raise DataFormatError(f"{path}: unexpected OncoTree structure ({exc})") from exc
    return nodes


def read_sssom(path: Path) -> list[dict[str, str]]:
    """Rows of an SSSOM TSV (the ``#`` YAML header is skipped)."""
    with path.open(encoding="utf-8") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        return list(csv.DictReader(lines, delimiter="\t"))


def read_mondo(target: str, data_root: str | Path | None = None) -> dict[str, list[str]]:
    """Mondo id → exactly-matching ids in ``target`` (``umls``, ``doid`` or ``ncit``), prefixes removed."""
    path = data_path("ontologies", "mondo", f"mondo_exactmatch_{target}.sssom.tsv", data_root=data_root)
    out: dict[str, list[str]] = {}
    for row in read_sssom(path):
        obj = row["object_id"].split(":", 1)[1]
        out.setdefault(row["subject_id"], []).append(obj)
    return out


def read_mondo_labels(data_root: str | Path | None = None) -> dict[str, str]:
    path = data_path("ontologies", "mondo", "mondo_exactmatch_umls.sssom.tsv", data_root=data_root)
    return {row["subject_id"]: row["subject_label"] for row in read_sssom(path)}


def _read_latin1_csv(path: Path) -> Iterator[dict[str, str]]:
    # DATASUS tables are ISO-8859-1 and ';'-separated (see the data card).
    with path.open(encoding="iso-8859-1", newline="") as handle:
        yield from csv.DictReader(handle, delimiter=";")


def read_cid10(data_root: str | Path | None = None) -> dict[str, str]:
    """Brazilian ICD-10 code (dotted, ``C34.1``) → Portuguese description, categories and subcategories."""
    folder = data_path("labels", "cid10_ptbr", data_root=data_root)
    out: dict[str, str] = {}
    for row in _read_latin1_csv(folder / "CID-10-CATEGORIAS.CSV"):
        out[row["CAT"].strip()] = row["DESCRICAO"].strip()
    for row in _read_latin1_csv(folder / "CID-10-SUBCATEGORIAS.CSV"):
        code = row["SUBCAT"].strip()
        out[f"{code[:3]}.{code[3:]}"] = row["DESCRICAO"].strip()
    return out


def read_cido(data_root: str | Path | None = None) -> dict[str, str]:
    """ICD-O morphology code (``8140/3``, without the ``M``) → Portuguese description."""
    folder = data_path("labels", "cid10_ptbr", data_root=data_root)
    out: dict[str, str] = {}
    for row in _read_latin1_csv(folder / "CID-O-CATEGORIAS.CSV"):
        code = row["CAT"].strip()
        if re.fullmatch(r"M\d{4}/\d", code):
            out[code[1:]] = row["DESCRICAO"].strip()
    return out


def read_hpo_pt(data_root: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(HPO id, English label, official Portuguese label) for the ``rdfs:label`` translations."""
    path = data_path("labels", "hpo", "hp-pt.babelon.tsv", data_root=data_root)
    out: list[tuple[str, str, str]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row.get("predicate_id") == "rdfs:label" and row.get("translation_value"):
                out.append((row["subject_id"], row["source_value"], row["translation_value"].strip()))
    return out


# TICO-19 terminology files per target language, Facebook (f_) and Google (g_) lists.
TICO_FILES: dict[str, tuple[str, ...]] = {
    "pt": ("f_en-pt_XX.csv", "g_en_pt-BR.csv"),
    "hi": ("f_en-hi_IN.csv", "g_en_hi.csv"),
    "sw": ("f_en-sw_KE.csv", "g_en_sw.csv"),
}


def read_tico_terms(lang: str, data_root: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(provenance id, English term, target term) pairs of the TICO-19 terminologies for ``lang``."""
    folder = data_path("tico19", "terminologies", data_root=data_root)
    out: list[tuple[str, str, str]] = []
    for name in TICO_FILES[lang]:
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                row_id = row.get("id") or row.get("stringID") or ""
                src, tgt = (row.get("sourceString") or "").strip(), (row.get("targetString") or "").strip()
                if src and tgt:
                    out.append((f"TICO-19:{name}#{row_id}", src, tgt))
    return out
