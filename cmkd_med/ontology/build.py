"""Build the ontology reproducibly from the public sources plus the project-curated files.

``cmkd-med ontology build`` → ``ontology/concepts.jsonl`` (one concept a line, sorted by CUI),
``ontology/frequency.tsv`` (document frequency on the TCGA training reports) and
``ontology/manifest.json`` (sha256 of every input and output). Same inputs, same bytes.

Order of sources, each label keeping its provenance:
1. ``curated/classes.tsv``: the 20 TCGA classes, CUI chosen through Mondo (checked against its SSSOM
   UMLS mapping), DOID and NCIt from Mondo's exact matches, OncoTree/ICD-10/ICD-O curated and checked
   against OncoTree and the DATASUS tables.
2. The DO cancer slim (terms with a UMLS xref, or a CUI through Mondo) and OncoTree nodes with a UMLS id.
3. ``curated/findings.tsv``: anatomy, pathology findings and procedures that recur in the reports.
4. Portuguese from the DATASUS CID-O and CID-10 tables through the concepts' ICD-O and ICD-10 xrefs (the DO
   cancer slim, and the other subsets of the same DO release for terms that are already concepts; Mondo's
   SSSOM files and OncoTree carry none): a code shared by several concepts names the one that is an ancestor
   of all the others, or none; a class gets only the codes that name it. HPO-pt and TICO-19 where the English
   term equals exactly one concept's English label.
5. ``curated/labels_{pt,hi,sw}.tsv`` and ``curated/lay.tsv``, written by the project.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cmkd_med.config import curated_dir, data_dir, ontology_dir
from cmkd_med.errors import DataFormatError, OntologyError
from cmkd_med.ontology import sources
from cmkd_med.ontology.concept import CUI_RE, Code, Concept, Label, LayText, check_cui
from cmkd_med.ontology.kb import CONCEPTS_FILE, KnowledgeBase
from cmkd_med.ontology.normalize import is_abbreviation, normalize

CURATED_NOTE = "curated"
# OncoTree nodes whose names are words of ordinary prose; as aliases they would match everywhere.
_ONCOTREE_SKIP = {"TISSUE", "OTHER"}
_ICDO_RE = re.compile(r"^\d{4}/\d$")
# Abbreviations that are also words or common OCR fragments in all-capitals reports ("ALL MARGINS FREE").
_AMBIGUOUS_ABBREVIATIONS = {"ALL", "TAM", "ESS", "RB", "HL", "MST", "ISM", "KMS"}
# The codes a class carries that name the class itself. Every other ICD-O or CID-10 code of a class is generic
# for it and never becomes its label: morphologies have no site (8140/3 "Adenocarcinoma SOE" is colon, lung,
# prostate and rectal adenocarcinoma alike; 8380/3 "Carcinoma endometrióide" is also ovarian) and CID-10
# categories name a site ("Neoplasia maligna do cólon" is broader than colon adenocarcinoma).
CLASS_OWN_CODES: dict[tuple[str, str], str] = {
    ("ICDO", "8160/3"): "CHOL",  # Colangiocarcinoma
    ("ICDO", "8170/3"): "LIHC",  # Carcinoma hepatocelular SOE
    ("ICDO", "8800/3"): "SARC",  # Sarcoma SOE: the class concept is sarcoma itself (C1261473)
    ("ICDO", "9440/3"): "GBM",  # Glioblastoma SOE
    ("ICD10", "C22.0"): "LIHC",  # Carcinoma de células hepáticas
}
# CID-10 names of coding residues ("Outras neoplasias benignas do tecido conjuntivo", "... não especificado",
# "localizações mal definidas"): DO hangs them on the nearest concept (myoma, diffuse midline glioma,
# digestive system cancer); they name no concept.
_CID10_RESIDUAL_RE = re.compile(
    r"^outr[oa]s?\b|\bnão especificad[oa]s?\b|\bmal definid[oa]s?\b", re.IGNORECASE
)


def ancestors(cui: str, parents: Mapping[str, Iterable[str]]) -> set[str]:
    """Every concept above ``cui`` by ``parents``, transitively (cycles are tolerated)."""
    seen: set[str] = set()
    todo = list(parents.get(cui, ()))
    while todo:
        parent = todo.pop()
        if parent not in seen:
            seen.add(parent)
            todo.extend(parents.get(parent, ()))
    return seen - {cui}


def common_owner(carriers: Collection[str], parents: Mapping[str, Iterable[str]]) -> str | None:
    """The carrier of a shared code that is an ancestor of every other carrier, or None if there is none."""
    for candidate in sorted(carriers):
        if all(candidate in ancestors(other, parents) for other in carriers if other != candidate):
            return candidate
    return None


def in_neoplasm_chapter(code: str) -> bool:
    """CID-10 chapter II, C00-D48."""
    return code[:1] == "C" or (code[:1] == "D" and code[1:3].isdigit() and int(code[1:3]) <= 48)


@dataclass
class _Draft:
    cui: str
    kind: str
    cui_source: str
    labels: dict[tuple[str, str], Label] = field(default_factory=dict)
    codes: dict[tuple[str, str], Code] = field(default_factory=dict)
    alt_cuis: set[str] = field(default_factory=set)
    tcga_code: str | None = None
    lay: dict[str, LayText] = field(default_factory=dict)
    definition: str | None = None
    parents_doid: set[str] = field(default_factory=set)

    def add_label(self, lang: str, text: str, kind: str, source: str) -> None:
        text = " ".join(text.split())
        if text in _AMBIGUOUS_ABBREVIATIONS:
            return
        key = (lang, normalize(text))
        if not key[1]:
            return
        existing = self.labels.get(key)
        if existing is None or (kind == "pref" and existing.kind != "pref"):
            self.labels[key] = Label(lang=lang, text=text, kind=kind, source=source)

    def add_code(self, system: str, code: str, source: str) -> None:
        self.codes.setdefault((system, code), Code(system, code, source))

    def has_code(self, system: str, code: str) -> bool:
        return (system, code) in self.codes

    def freeze(self, doid_to_cui: dict[str, str]) -> Concept:
        labels = list(self.labels.values())
        for lang in {x.lang for x in labels}:
            prefs = [x for x in labels if x.lang == lang and x.kind == "pref"]
            if not prefs:  # first label added in a language becomes its preferred label
                first = next(x for x in labels if x.lang == lang)
                labels[labels.index(first)] = Label(first.lang, first.text, "pref", first.source)
            for extra in prefs[1:]:
                labels[labels.index(extra)] = Label(extra.lang, extra.text, "alt", extra.source)
        parents = sorted({doid_to_cui[d] for d in self.parents_doid if d in doid_to_cui} - {self.cui})
        return Concept(
            cui=self.cui,
            kind=self.kind,
            labels=tuple(sorted(labels)),
            codes=tuple(sorted(self.codes.values())),
            alt_cuis=tuple(sorted(self.alt_cuis - {self.cui})),
            tcga_code=self.tcga_code,
            lay=tuple(sorted(self.lay.values())),
            definition=self.definition,
            cui_source=self.cui_source,
            parents=tuple(parents),
        )


def _read_tsv(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    if not path.exists():
        raise DataFormatError(f"curated file missing: {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = set(required) - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: missing columns {sorted(missing)}")
        rows = []
        for lineno, row in enumerate(reader, 2):
            if None in row or any(v is None for v in row.values()):
                raise DataFormatError(f"{path}:{lineno}: wrong number of tab-separated fields")
            rows.append({k: (v or "").strip() for k, v in row.items()})
        return rows


class OntologyBuilder:
    """Assembles drafts from every source; :meth:`build` returns the validated knowledge base."""

    def __init__(self, data_root: str | Path | None = None, curated: Path | None = None):
        self.data_root = data_dir(data_root)
        self.curated = curated or curated_dir()
        self.drafts: dict[str, _Draft] = {}
        self.alt_to_primary: dict[str, str] = {}
        self.doid_to_cui: dict[str, str] = {}
        self.report: dict[str, int] = defaultdict(int)

    # --- helpers -----------------------------------------------------------------------------
    def _draft(self, cui: str, kind: str, source: str) -> _Draft:
        cui = self.alt_to_primary.get(cui, cui)
        if cui not in self.drafts:
            self.drafts[cui] = _Draft(cui=check_cui(cui), kind=kind, cui_source=source)
        return self.drafts[cui]

    def _find(self, cuis: Iterable[str]) -> _Draft | None:
        for cui in cuis:
            cui = self.alt_to_primary.get(cui, cui)
            if cui in self.drafts:
                return self.drafts[cui]
        return None

    def _by_code(self, system: str, code: str) -> _Draft | None:
        for draft in self.drafts.values():
            if draft.has_code(system, code):
                return draft
        return None

    def _by_en_name(self, name: str) -> _Draft | None:
        """The one draft whose English label equals ``name`` (OncoTree "Teratoma" = DO "teratoma")."""
        key = ("en", normalize(name))
        owners = [d for d in self.drafts.values() if key in d.labels]
        return owners[0] if len(owners) == 1 else None

    # --- 1. classes --------------------------------------------------------------------------
    def add_classes(self) -> None:
        mondo_umls = sources.read_mondo("umls", self.data_root)
        mondo_doid = sources.read_mondo("doid", self.data_root)
        mondo_ncit = sources.read_mondo("ncit", self.data_root)
        mondo_labels = sources.read_mondo_labels(self.data_root)
        oncotree = {n.code: n for n in sources.read_oncotree(self.data_root)}
        cid10, cido = sources.read_cid10(self.data_root), sources.read_cido(self.data_root)
        rows = _read_tsv(
            self.curated / "classes.tsv",
            (
                "tcga_code",
                "mondo",
                "cui",
                "pref_en",
                "oncotree",
                "oncotree_relation",
                "icd10",
                "icdo",
                "alt_en",
            ),
        )
        for row in rows:
            code, mondo, cui = row["tcga_code"], row["mondo"], row["cui"]
            if cui not in mondo_umls.get(mondo, []):
                raise OntologyError(f"class {code}: {mondo} does not map to {cui} in Mondo's UMLS mappings")
            draft = self._draft(cui, "cancer_type", f"Mondo SSSOM exactMatch {mondo}")
            draft.tcga_code = code
            if row.get("definition_en"):  # overrides a source definition that is wrong for the class
                draft.definition = row["definition_en"]
            draft.add_code("TCGA", code, CURATED_NOTE)
            draft.add_code("MONDO", mondo, "curated; Mondo SSSOM exactMatch to UMLS " + cui)
            draft.add_label("en", row["pref_en"], "pref", CURATED_NOTE)
            draft.add_label("en", mondo_labels[mondo], "alt", mondo)
            for doid in mondo_doid.get(mondo, []):
                draft.add_code("DOID", f"DOID:{doid}", f"Mondo SSSOM exactMatch {mondo}")
            for ncit in mondo_ncit.get(mondo, []):
                draft.add_code("NCIT", ncit, f"Mondo SSSOM exactMatch {mondo}")
            onc = row["oncotree"]
            if onc:
                node = oncotree.get(onc)
                if node is None:
                    raise OntologyError(f"class {code}: OncoTree code {onc} not in OncoTree")
                exact = row["oncotree_relation"] == "exact"
                agrees = (
                    "OncoTree UMLS agrees" if cui in node.umls else f"OncoTree UMLS {node.umls or 'none'}"
                )
                draft.add_code(
                    "ONCOTREE", onc, f"curated TCGA→OncoTree map ({row['oncotree_relation']}); {agrees}"
                )
                if exact:  # an exact map makes the node's own CUI a synonym CUI of the class
                    draft.add_label("en", node.name, "alt", f"OncoTree:{onc}")
                    for other in node.umls:
                        if CUI_RE.match(other) and other != cui:
                            draft.alt_cuis.add(other)
                            self.alt_to_primary.setdefault(other, cui)
            if row["icd10"]:
                if row["icd10"] not in cid10:
                    raise OntologyError(f"class {code}: ICD-10 {row['icd10']} not in the CID-10 tables")
                draft.add_code("ICD10", row["icd10"], "curated; present in CID-10")
            if row["icdo"]:
                where = "present in CID-O" if row["icdo"] in cido else "not in the CID-O table"
                draft.add_code("ICDO", row["icdo"], f"curated; {where}")
            for alt in filter(None, row["alt_en"].split("|")):
                draft.add_label("en", alt, "abbr" if is_abbreviation(alt) else "alt", CURATED_NOTE)
            self.report["classes"] += 1

    # --- 2. DO cancer slim and OncoTree ------------------------------------------------------
    def add_disease_ontology(self) -> None:
        mondo_umls = sources.read_mondo("umls", self.data_root)
        doid_to_mondo: dict[str, list[str]] = defaultdict(list)
        for mondo, doids in sources.read_mondo("doid", self.data_root).items():
            for doid in doids:
                doid_to_mondo[f"DOID:{doid}"].append(mondo)
        for term in sources.read_do_cancer_slim(self.data_root):
            cuis = [c for c in term.xref_values("UMLS_CUI") if CUI_RE.match(c)]
            source = f"{term.id} UMLS_CUI xref"
            if not cuis:
                cuis = [
                    c
                    for m in doid_to_mondo.get(term.id, [])
                    for c in mondo_umls.get(m, [])
                    if CUI_RE.match(c)
                ]
                source = f"{term.id} via Mondo SSSOM"
            if not cuis:
                self.report["do_terms_without_cui"] += 1
                continue
            draft = (
                self._by_code("DOID", term.id) or self._find(cuis) or self._draft(cuis[0], "disease", source)
            )
            for cui in cuis:
                if cui != draft.cui and cui not in self.drafts:
                    draft.alt_cuis.add(cui)
                    self.alt_to_primary.setdefault(cui, draft.cui)
            self.doid_to_cui.setdefault(term.id, draft.cui)
            draft.add_code("DOID", term.id, "DO cancer slim")
            draft.add_label("en", term.name, "pref" if draft.kind != "cancer_type" else "alt", term.id)
            for text, scope in term.synonyms:
                if scope == "EXACT":
                    draft.add_label("en", text, "abbr" if is_abbreviation(text) else "alt", term.id)
            for ncit in term.xref_values("NCI"):
                draft.add_code("NCIT", ncit, term.id)
            for icdo in term.xref_values("ICDO"):
                if _ICDO_RE.match(icdo):  # morphology codes only; DO has no topography codes here
                    draft.add_code("ICDO", icdo, term.id)
            for icd in term.xref_values("ICD10CM"):
                draft.add_code("ICD10", icd, f"{term.id} ICD10CM xref")
            for mesh in term.xref_values("MESH"):
                draft.add_code("MESH", mesh, term.id)
            if draft.definition is None and term.definition:
                draft.definition = term.definition
            draft.parents_doid.update(term.parents)
            self.report["do_terms"] += 1

    def add_oncotree(self) -> None:
        for node in sources.read_oncotree(self.data_root):
            cuis = [c for c in node.umls if CUI_RE.match(c)]
            if node.code in _ONCOTREE_SKIP or not cuis:
                continue
            kind = "anatomy" if node.level == 1 else "disease"
            draft = (
                self._find(cuis)
                or next(filter(None, (self._by_code("NCIT", c) for c in node.nci)), None)
                or self._by_en_name(node.name)
                or self._draft(cuis[0], kind, f"OncoTree:{node.code} UMLS reference")
            )
            if draft.tcga_code and not draft.has_code("ONCOTREE", node.code):
                # A class keeps only its curated OncoTree code: other nodes sharing its CUI are other sites
                # or subtypes (OncoTree CEEN, cervical endometrioid carcinoma, shares UCEC's CUI).
                self.report["oncotree_nodes_not_merged_into_classes"] += 1
                continue
            for cui in cuis:
                if cui != draft.cui and cui not in self.drafts:
                    draft.alt_cuis.add(cui)
                    self.alt_to_primary.setdefault(cui, draft.cui)
            draft.add_code("ONCOTREE", node.code, "OncoTree")
            for ncit in node.nci:
                draft.add_code("NCIT", ncit, f"OncoTree:{node.code}")
            draft.add_label("en", node.name, "alt", f"OncoTree:{node.code}")
            self.report["oncotree_nodes"] += 1

    def add_do_subset_xrefs(self) -> None:
        """ICD-O and ICD-10 xrefs of the other DO subsets, onto concepts the knowledge base already holds.

        A term is matched by a DOID a concept carries, else by a UMLS CUI that is a concept's own CUI,
        provided the term lists no other CUI or its name is one of the concept's English labels (a term with
        several CUIs is often wider than each of them).
        """
        by_doid: dict[str, set[str]] = defaultdict(set)
        for draft in self.drafts.values():
            for system, code in draft.codes:
                if system == "DOID":
                    by_doid[code].add(draft.cui)
        for name in sources.DO_XREF_SUBSETS:
            source = f"DO {name.removesuffix('.obo')} subset"
            for term in sources.read_do_subset(name, self.data_root):
                icdo = [c for c in term.xref_values("ICDO") if _ICDO_RE.match(c)]
                icd10 = term.xref_values("ICD10CM")
                if not icdo and not icd10:
                    continue
                owners = by_doid.get(term.id, set())
                if not owners:
                    cuis = [c for c in term.xref_values("UMLS_CUI") if CUI_RE.match(c)]
                    owners = {c for c in cuis if c in self.drafts}
                    if len(owners) == 1 and len(cuis) > 1:
                        names = self.drafts[next(iter(owners))].labels
                        owners = owners if ("en", normalize(term.name)) in names else set()
                if len(owners) != 1:
                    continue
                draft = self.drafts[next(iter(owners))]
                for system, codes in (("ICDO", icdo), ("ICD10", icd10)):
                    for code in codes:
                        if not draft.has_code(system, code):
                            draft.add_code(system, code, f"{term.id} ({source})")
                            self.report[f"do_subset_xrefs_{system.lower()}"] += 1

    # --- 3. curated findings, anatomy, procedures --------------------------------------------
    def add_findings(self) -> None:
        for row in _read_tsv(self.curated / "findings.tsv", ("cui", "kind", "pref_en", "alt_en", "source")):
            draft = self._find([row["cui"]]) or self._draft(row["cui"], row["kind"], row["source"])
            draft.add_label("en", row["pref_en"], "pref", row["source"])
            for alt in filter(None, row["alt_en"].split("|")):
                draft.add_label("en", alt, "abbr" if is_abbreviation(alt) else "alt", row["source"])
            self.report["curated_findings"] += 1

    # --- 4. Portuguese and other labels from open sources ------------------------------------
    def _carriers(self, system: str) -> dict[str, list[_Draft]]:
        owners: dict[str, list[_Draft]] = defaultdict(list)
        for draft in self.drafts.values():
            for sys_, code in draft.codes:
                if sys_ == system:
                    owners[code].append(draft)
        return owners

    def _parents(self) -> dict[str, set[str]]:
        """The knowledge base's parents (as :meth:`_Draft.freeze` will write them) of every draft."""
        return {
            cui: {self.doid_to_cui[d] for d in draft.parents_doid if d in self.doid_to_cui} - {cui}
            for cui, draft in self.drafts.items()
        }

    def _owner(
        self, system: str, code: str, carriers: list[_Draft], parents: dict[str, set[str]]
    ) -> _Draft | str:
        """The concept a code's label names, or why none: a class only for its own codes, and of several
        carriers the one that is an ancestor of all the others."""
        kept = [d for d in carriers if not d.tcga_code or CLASS_OWN_CODES.get((system, code)) == d.tcga_code]
        if not kept:
            return "class_only"
        owner = common_owner([d.cui for d in kept], parents)
        return self.drafts[owner] if owner else "no_common_ancestor"

    def _attach_cido(self, parents: dict[str, set[str]]) -> None:
        cido = sources.read_cido(self.data_root)
        carriers = self._carriers("ICDO")
        self.report["icdo_codes_not_in_cido"] = sum(1 for code in carriers if code not in cido)
        for code, text in cido.items():
            owner = self._owner("ICDO", code, carriers[code], parents) if code in carriers else "no_concept"
            if isinstance(owner, str):
                self.report[f"cido_unattached_{owner}"] += 1
                continue
            owner.add_label("pt", text, "alt", f"CID-O:M{code}")
            if text.endswith(" SOE"):
                owner.add_label("pt", text[: -len(" SOE")], "alt", f"CID-O:M{code}")
            self.report["pt_labels_cido"] += 1

    def _attach_cid10(self, parents: dict[str, set[str]]) -> None:
        cid10 = sources.read_cid10(self.data_root)
        for code, carriers in sorted(self._carriers("ICD10").items()):
            owner: _Draft | str
            if code not in cid10:
                owner = "not_in_cid10"  # ICD-10-CM codes (C91.00, D3A.8) that the WHO/DATASUS table lacks
            elif not in_neoplasm_chapter(code):
                owner = "outside_neoplasm_chapter"
            elif _CID10_RESIDUAL_RE.search(cid10[code]):
                owner = "residual_group"
            else:
                # A subcategory names a concept only if the concept carries neither its category nor a
                # sibling: DO's C34.1-C34.3 on lung cancer are lobes, parts of the concept.
                exact = [
                    d
                    for d in carriers
                    if "." not in code
                    or not any(s == "ICD10" and c != code and c[:3] == code[:3] for s, c in d.codes)
                ]
                owner = self._owner("ICD10", code, exact, parents) if exact else "subsite"
            if isinstance(owner, str):
                self.report[f"cid10_unattached_{owner}"] += 1
                continue
            owner.add_label("pt", cid10[code], "alt", f"CID-10:{code}")
            self.report["pt_labels_cid10"] += 1

    def _unique_by_en_label(self) -> dict[str, _Draft]:
        owners: dict[str, set[str]] = defaultdict(set)
        for draft in self.drafts.values():
            for lang, key in draft.labels:
                if lang == "en":
                    owners[key].add(draft.cui)
        return {key: self.drafts[next(iter(c))] for key, c in owners.items() if len(c) == 1}

    def add_open_labels(self) -> None:
        # CID-O and CID-10 names: 8140/3 "Adenocarcinoma SOE" is carried by four classes, each narrower than
        # the label, and by adenocarcinoma, which it names.
        parents = self._parents()
        self._attach_cido(parents)
        self._attach_cid10(parents)
        by_label = self._unique_by_en_label()
        for hpo_id, english, portuguese in sources.read_hpo_pt(self.data_root):
            match = by_label.get(normalize(english))
            if match is not None:
                match.add_label("pt", portuguese, "alt", hpo_id)
                match.add_code("HPO", hpo_id, "HPO label equals the concept's English label")
                self.report["pt_labels_hpo"] += 1
        for lang in ("pt", "hi", "sw"):
            for prov, english, target in sources.read_tico_terms(lang, self.data_root):
                match = by_label.get(normalize(english))
                if match is not None:
                    match.add_label(lang, target, "alt", prov)
                    self.report[f"{lang}_labels_tico"] += 1

    # --- 5. project-curated labels and lay text ----------------------------------------------
    def add_curated_labels(self) -> None:
        for lang in ("pt", "hi", "sw"):
            path = self.curated / f"labels_{lang}.tsv"
            if not path.exists():
                continue
            for row in _read_tsv(path, ("cui", "label", "kind", "source")):
                draft = self._find([row["cui"]])
                if draft is None:
                    raise OntologyError(
                        f"{path.name}: label {row['label']!r} names unknown concept {row['cui']}"
                    )
                draft.add_label(lang, row["label"], row["kind"] or "alt", row["source"] or CURATED_NOTE)
                self.report[f"{lang}_labels_curated"] += 1
        path = self.curated / "lay.tsv"
        if path.exists():
            classes = {d.tcga_code: d for d in self.drafts.values() if d.tcga_code}
            for row in _read_tsv(path, ("tcga_code", "lang", "term", "definition", "source")):
                if row["tcga_code"] not in classes:
                    raise OntologyError(f"lay.tsv: unknown TCGA code {row['tcga_code']!r}")
                draft = classes[row["tcga_code"]]
                draft.lay[row["lang"]] = LayText(
                    row["lang"], row["term"], row["definition"], row["source"] or CURATED_NOTE
                )

    def apply_exclusions(self) -> None:
        """Drop source labels that are wrong for the concept they are attached to (with a reason each)."""
        path = self.curated / "label_exclusions.tsv"
        if not path.exists():
            return
        for row in _read_tsv(path, ("cui", "label", "reason")):
            draft = self._find([row["cui"]])
            if draft is None:
                raise OntologyError(f"label_exclusions.tsv: unknown concept {row['cui']}")
            removed = [k for k in draft.labels if k[1] == normalize(row["label"])]
            if not removed:
                raise OntologyError(f"label_exclusions.tsv: {row['cui']} has no label {row['label']!r}")
            for key in removed:
                del draft.labels[key]
            self.report["labels_excluded"] += len(removed)

    def build(self) -> KnowledgeBase:
        self.add_classes()
        self.add_disease_ontology()
        self.add_oncotree()
        self.add_findings()
        self.add_do_subset_xrefs()
        self.add_open_labels()
        self.add_curated_labels()
        self.apply_exclusions()
        return KnowledgeBase(d.freeze(self.doid_to_cui) for d in self.drafts.values())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_ontology(
    out_dir: str | Path | None = None,
    data_root: str | Path | None = None,
    with_frequency: bool = True,
    progress: Callable[[str], None] | None = None,
) -> tuple[KnowledgeBase, dict[str, int]]:
    """Build and write the ontology into ``out_dir`` (default: the project's ``ontology/``)."""
    out = ontology_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _msg: None)
    say("reading sources")
    builder = OntologyBuilder(data_root)
    kb = builder.build()
    kb.save(out / CONCEPTS_FILE)
    report = dict(sorted(builder.report.items()))
    report["concepts"] = len(kb)
    if with_frequency:
        from cmkd_med.ontology.frequency import write_frequency

        say("measuring concept frequency on the TCGA training reports")
        write_frequency(kb, out / "frequency.tsv", data_root=data_root)
    inputs = sorted(p for p in builder.curated.glob("*.tsv"))
    manifest = {
        "curated": {p.name: _sha256(p) for p in inputs},
        "outputs": {
            p.name: _sha256(out / p.name) for p in sorted(out.glob("*")) if p.suffix in {".jsonl", ".tsv"}
        },
        "report": report,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return kb, report
