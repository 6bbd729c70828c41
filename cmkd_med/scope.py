"""Is a note one of the 20 cancer types the models read? Scope from combined evidence, not from the softmax.

The 20-way classifier always names one of its classes, however benign or foreign the note: it cannot say "none
of these". So a note's scope is decided from three kinds of evidence, in this order:

1. **What the note asserts** (the linker's concepts with their ConText assertion status,
   :mod:`cmkd_med.ontology.assertion`): an affirmed malignancy the 20 classes cover, one they do not cover
   (melanoma, lymphoma, breast carcinoma ...: ``unsupported_cancer``, named), or a generic one ("carcinoma",
   "metastasis"); negated malignancy ("negative for malignancy") and affirmed benign findings ("benign
   prostatic
   hyperplasia", "chronic cervicitis") with no affirmed malignancy make ``no_malignancy``; a possible
   malignancy
   ("suspicious for carcinoma") with none affirmed makes ``unclear``.
2. **The ontology's roles of those concepts** (:class:`ScopeRoles`): a class concept, its descendants and its
   site ancestors ("lung carcinoma", "renal cell carcinoma") are supported; a malignant concept that the
   training reports of one class name nearly only (``ontology/class_frequency.tsv``: leiomyosarcoma → SARC,
   oligodendroglioma → LGG) is supported for it; other malignant concepts (a ``cancer`` ancestor or an ICD-O
   behaviour code 3/6/9) are unsupported; ICD-O behaviour 0 and benign findings are benign;
   ``ontology/curated/scope.tsv`` sets the generic morphologies and corrects the few the rules get wrong.
3. **The model's own out-of-distribution score** (``ood``, a distance in the teacher space, see
   :mod:`cmkd_med.models.ood`): a note with no assertion evidence either way is supported only when the
   model's
   reading is in distribution and not abstained; otherwise ``unclear``.

Whenever the scope is not ``supported`` the pipeline abstains and names no class.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from cmkd_med.config import curated_dir, ontology_dir
from cmkd_med.errors import OntologyError
from cmkd_med.ontology.frequency import REPORTS

SCOPES = ("supported", "no_malignancy", "unsupported_cancer", "unclear")
ROLES = ("supported", "generic", "unsupported", "benign", "premalignant", "uncertain", "neoplasm")
CANCER_CUI = "C0006826"  # DOID:162 cancer / malignant neoplasm: the root of the malignant concepts
# A malignant concept is supported for a class when that class's training reports hold at least this share of
# the reports naming it, and at least MIN_DOC_FREQ of them (a concept seen only in passing decides nothing).
MIN_SHARE = 0.8
MIN_DOC_FREQ = 5
# An ancestor of this many classes or more is a generic malignancy (the site-free "cancer"), not a class's.
GENERIC_ANCESTOR_OF = 10
# A generic malignancy ("squamous cell carcinoma", "sarcoma") fits a class when at least this share of the
# class's training reports name it: squamous cell carcinoma fits HNSC, LUSC and CESC, not READ (an anal
# squamous cell carcinoma read as rectal adenocarcinoma is caught so).
CONSISTENT_SHARE = 0.02
MALIGNANT_BEHAVIOUR = frozenset({"3", "6", "9"})  # ICD-O: malignant primary, metastatic, uncertain whether


@dataclass
class ScopeRoles:
    """The scope role of each concept of a knowledge base (see the module docstring)."""

    roles: dict[str, str]
    classes: dict[str, frozenset[str]] = field(default_factory=dict)  # CUI → TCGA codes it supports

    def role(self, cui: str) -> str | None:
        return self.roles.get(cui)

    @classmethod
    def build(
        cls,
        kb: Any,
        class_frequency: Mapping[tuple[str, str], int] | None = None,
        curated: Iterable[dict[str, str]] = (),
    ) -> ScopeRoles:
        parents = {c.cui: list(c.parents) for c in kb}
        ancestors = {cui: _ancestors(cui, parents) for cui in parents}
        class_of = {c.cui: c.tcga_code for c in kb if c.tcga_code}
        roles: dict[str, str] = {}
        classes: dict[str, frozenset[str]] = {}
        above: dict[str, set[str]] = defaultdict(set)  # CUI → classes it is an ancestor of
        for cui, code in class_of.items():
            for a in ancestors[cui]:
                above[a].add(code)
        by_concept: dict[str, Counter[str]] = defaultdict(Counter)
        reports: Counter[str] = Counter()
        for (cui, code), n in (class_frequency or {}).items():
            if cui == REPORTS:
                reports[code] += n
            else:
                by_concept[cui][code] += n
        for concept in kb:
            cui = concept.cui
            behaviour = {
                c.code.rsplit("/", 1)[-1] for c in concept.codes if c.system == "ICDO" and "/" in c.code
            }
            under = {class_of[a] for a in ancestors[cui] if a in class_of}
            if cui in class_of or under:
                roles[cui], classes[cui] = "supported", frozenset(under | {class_of.get(cui, "")} - {""})
            elif 0 < len(above[cui]) < GENERIC_ANCESTOR_OF:
                roles[cui], classes[cui] = "supported", frozenset(above[cui])
            elif cui == CANCER_CUI or above[cui]:
                roles[cui] = "generic"
            elif CANCER_CUI in ancestors[cui] or behaviour & MALIGNANT_BEHAVIOUR:
                counts = by_concept.get(cui, Counter())
                total = sum(counts.values())
                top = counts.most_common(1)
                if top and top[0][1] >= MIN_DOC_FREQ and top[0][1] >= MIN_SHARE * total:
                    roles[cui], classes[cui] = "supported", frozenset({top[0][0]})
                else:
                    roles[cui] = "unsupported"
            elif "0" in behaviour:
                roles[cui] = "benign"
            elif "1" in behaviour:
                roles[cui] = "uncertain"
        for row in curated:  # the corrections and the generic morphologies, each with its reason
            if row["role"] == "generic" and reports:
                counts = by_concept.get(row["cui"], Counter())
                fits = {k for k, n in counts.items() if n >= CONSISTENT_SHARE * reports[k]}
                classes[row["cui"]] = frozenset(fits)
            cui, role = row["cui"], row["role"]
            if role not in ROLES:
                raise OntologyError(f"scope.tsv: role {role!r} of {cui} is not one of {', '.join(ROLES)}")
            if cui not in kb:
                raise OntologyError(f"scope.tsv: {cui} is not a concept of the knowledge base")
            roles[cui] = role
            codes = frozenset(c for c in row.get("tcga_codes", "").split("|") if c)
            if role == "supported":
                classes[cui] = codes or classes.get(cui, frozenset())
            elif role != "generic":
                classes.pop(cui, None)
        return cls(roles, classes)

    @classmethod
    def load(cls, kb: Any, folder: str | Path | None = None) -> ScopeRoles:
        """From the built ontology folder (``class_frequency.tsv``) and ``ontology/curated/scope.tsv``."""
        frequency: dict[tuple[str, str], int] = {}
        path = ontology_dir(folder) / "class_frequency.tsv"
        if path.is_file():
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    frequency[(row["cui"], row["tcga_code"])] = int(row["doc_freq"])
        with (curated_dir() / "scope.tsv").open(encoding="utf-8", newline="") as handle:
            curated = [r for r in csv.DictReader(handle, delimiter="\t") if not r["cui"].startswith("#")]
        return cls.build(kb, frequency, curated)


def _ancestors(cui: str, parents: Mapping[str, Sequence[str]]) -> frozenset[str]:
    out: set[str] = set()
    stack = list(parents.get(cui, ()))
    while stack:
        p = stack.pop()
        if p not in out:
            out.add(p)
            stack.extend(parents.get(p, ()))
    return frozenset(out)


MALIGNANT_ROLES = frozenset({"supported", "generic", "unsupported"})
# Minimum evidence: a mention other than a supported class's decides scope only when the linker matched it
# closely (fuzzy near-misses such as "perineural" → perineurioma or "squamous epithelium" → squamous cell
# carcinoma score 0.82-0.86). Supported-class mentions count at the linker's own threshold: they agree with
# the model's reading. Chosen on the tuning part of examples/scope_dev.
MIN_EVIDENCE_SCORE = 0.9
METASTASIS_CUIS = frozenset({"C0027627", "C0686619"})  # metastasis, lymph node metastasis


# A loose match counts only if its own words name a tumour: "biópsia de colo uterino" matches "câncer de colo
# uterino" at 0.88 and says nothing malignant. Word stems of tumour names in the four languages' scripts (the
# Devanagari "-ोमा" is the "-oma" of transliterated names).
_TUMOUR_WORD = regex.compile(
    r"(?i)carcin|sarcom|[a-z]oma\b|[a-z]omas\b|blastom|cancer|câncer|cancro|neopla|malign|tumou?r|leuc?kemi|"
    r"leucemi|saratani|kansa|कार्सि|कार्सी|सार्को|ोमा|कैंसर|ट्यूमर|मैलिग्न|ल्यूकेमि|दुर्दम"
)


def is_evidence(entity: Mapping[str, Any], roles: ScopeRoles) -> bool:
    score = entity.get("score")
    text = str(entity.get("text", ""))
    if not isinstance(score, int | float) or ". " in text:
        return False  # a mention across a sentence end is a stitched match, not a statement
    if score >= MIN_EVIDENCE_SCORE:
        return True
    return roles.role(str(entity.get("cui"))) == "supported" and _TUMOUR_WORD.search(text) is not None


@dataclass(frozen=True)
class ScopeDecision:
    scope: str
    concept: str | None  # the unsupported cancer's CUI, when the scope is unsupported_cancer
    reason: str  # a short machine-readable reason (no note text)


def decide_scope(
    entities: Sequence[Mapping[str, Any]],
    roles: ScopeRoles,
    label: str,
    abstained: bool,
    in_distribution: bool = True,
    model_alone: bool = True,
) -> ScopeDecision:
    """The scope of a note from its ``entities`` (``cui`` and ``assertion`` each), the model's ``label`` and
    abstention, and whether the model's out-of-distribution score calls the note in distribution;
    ``model_alone=False``: a note that asserts nothing either way is unclear, however the model reads it."""

    entities = [e for e in entities if is_evidence(e, roles)]

    def of(role: str, assertion: str = "affirmed") -> list[Mapping[str, Any]]:
        return [e for e in entities if e.get("assertion") == assertion and roles.role(str(e["cui"])) == role]

    supported, generic, unsupported = of("supported"), of("generic"), of("unsupported")
    if not supported and any(str(e["cui"]) in METASTASIS_CUIS for e in generic):
        # "History of breast carcinoma. Lung nodule: metastatic carcinoma": the metastasis is of the cancer
        # told in the history, unless the note names one of the 20 types itself.
        unsupported = unsupported or of("unsupported", "historical")
    if unsupported:
        backed = {code for e in supported for code in roles.classes.get(str(e["cui"]), ())}
        if not supported or label not in backed:
            counts = Counter(str(e["cui"]) for e in unsupported)
            return ScopeDecision("unsupported_cancer", counts.most_common(1)[0][0], "affirmed_other_cancer")
    strong = [e for e in supported if float(e["score"]) >= MIN_EVIDENCE_SCORE]
    if strong:
        return ScopeDecision("supported", None, "affirmed_supported_type")
    # A loose match of a class's name still says "malignant" (never read as benign), but not which type: like
    # a generic malignancy, the model must know the note. A generic malignancy must also fit the model's class
    # (``classes`` of a generic concept: the classes whose training reports name it).
    if supported or generic:
        fits = all(label in roles.classes.get(str(e["cui"]), {label}) for e in generic)
        if not fits:
            return ScopeDecision("unclear", None, "malignancy_not_of_the_read_type")
        if in_distribution:
            return ScopeDecision("supported", None, "affirmed_malignancy")
        return ScopeDecision("unclear", None, "malignancy_out_of_distribution")
    possible = [e for e in entities if e.get("assertion") == "possible"
                and roles.role(str(e["cui"])) in MALIGNANT_ROLES]  # fmt: skip
    if possible:
        return ScopeDecision("unclear", None, "possible_malignancy")
    negated = [e for e in entities if e.get("assertion") == "negated"
               and roles.role(str(e["cui"])) in MALIGNANT_ROLES | {"neoplasm", "premalignant"}]  # fmt: skip
    if negated or of("benign") or of("premalignant"):
        return ScopeDecision("no_malignancy", None, "negated_malignancy" if negated else "benign_finding")
    if of("uncertain"):
        return ScopeDecision("unclear", None, "uncertain_behaviour")
    if model_alone and not abstained and in_distribution:
        return ScopeDecision("supported", None, "model_in_distribution")
    return ScopeDecision("unclear", None, "no_evidence")
