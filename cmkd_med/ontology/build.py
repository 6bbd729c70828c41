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
4. Portuguese from ICD-O and CID-10 (only where the code names exactly one concept), HPO-pt and TICO-19
   (where the English term equals exactly one concept's English label).
5. ``curated/labels_{pt,hi,sw}.tsv`` and ``curated/lay.tsv``, written by the project.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
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

    # --- 3. curated findings, anatomy, procedures --------------------------------------------
    def add_findings(self) -> None:
        for row in _read_tsv(self.curated / "findings.tsv", ("cui", "kind", "pref_en", "alt_en", "source")):
            draft = self._find([row["cui"]]) or self._draft(row["cui"], row["kind"], row["source"])
            draft.add_label("en", row["pref_en"], "pref", row["source"])
            for alt in filter(None, row["alt_en"].split("|")):
                draft.add_label("en", alt, "abbr" if is_abbreviation(alt) else "alt", row["source"])
            self.report["curated_findings"] += 1

    # --- 4. Portuguese and other labels from open sources ------------------------------------
    def _unique_by_code(self, system: str) -> dict[str, _Draft]:
        owners: dict[str, list[_Draft]] = defaultdict(list)
        for draft in self.drafts.values():
            for sys_, code in draft.codes:
                if sys_ == system:
                    owners[code].append(draft)
        return {code: ds[0] for code, ds in owners.items() if len(ds) == 1}

    def _unique_by_en_label(self) -> dict[str, _Draft]:
        owners: dict[str, set[str]] = defaultdict(set)
        for draft in self.drafts.values():
            for lang, key in draft.labels:
                if lang == "en":
                    owners[key].add(draft.cui)
        return {key: self.drafts[next(iter(c))] for key, c in owners.items() if len(c) == 1}

    def add_open_labels(self) -> None:
        # ICD-O morphology and CID-10 names are attached only where exactly one concept carries the code:
        # 8140/3 "Adenocarcinoma SOE" is shared by four classes and must not become a name of any of them.
        for code, text in sources.read_cido(self.data_root).items():
            draft = self._unique_by_code("ICDO").get(code)
            if draft is not None:
                draft.add_label("pt", text, "alt", f"CID-O:M{code}")
                if text.endswith(" SOE"):
                    draft.add_label("pt", text[: -len(" SOE")], "alt", f"CID-O:M{code}")
                self.report["pt_labels_cido"] += 1
        cid10 = sources.read_cid10(self.data_root)
        for code, draft in self._unique_by_code("ICD10").items():
            # Three-character categories only: DO's ICD10CM subcodes name sub-sites (C34.1 "lobo superior")
            # that are narrower than the concept carrying them.
            if code in cid10 and "." not in code:
                draft.add_label("pt", cid10[code], "alt", f"CID-10:{code}")
                self.report["pt_labels_cid10"] += 1
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
