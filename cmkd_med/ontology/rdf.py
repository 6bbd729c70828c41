"""The knowledge base as an RDF graph (SKOS), Turtle export and a small SPARQL helper.

Concepts are UMLS CUI URIs (the linkedlifedata namespace Mondo's SSSOM files use); labels are
``skos:prefLabel`` / ``skos:altLabel`` literals with language tags; DOID, Mondo and NCIt ids are
``skos:exactMatch`` links to their OBO PURLs; TCGA, OncoTree, ICD-10 and ICD-O codes are
``skos:notation`` literals typed by the project's closed namespace, so a typo in a term is an error.
Label provenance stays in ``concepts.jsonl``.
"""

from __future__ import annotations

from typing import Any

from rdflib import RDF, SKOS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import ClosedNamespace

from cmkd_med.errors import InvalidInputError
from cmkd_med.ontology.kb import KnowledgeBase

UMLS = Namespace("http://linkedlifedata.com/resource/umls/id/")
OBO = Namespace("http://purl.obolibrary.org/obo/")
CMKD = ClosedNamespace(
    uri=URIRef("https://w3id.org/cmkd-med/terms#"),
    terms=[
        "CancerType",
        "Disease",
        "Anatomy",
        "Finding",
        "Procedure",
        "TCGA",
        "ONCOTREE",
        "ICD10",
        "ICDO",
        "MESH",
        "HPO",
        "layTerm",
        "layDefinition",
        "Ontology",
    ],
)
_KIND_CLASS = {
    "cancer_type": CMKD.CancerType,
    "disease": CMKD.Disease,
    "anatomy": CMKD.Anatomy,
    "finding": CMKD.Finding,
    "procedure": CMKD.Procedure,
}
_NOTATION = {
    "TCGA": CMKD.TCGA,
    "ONCOTREE": CMKD.ONCOTREE,
    "ICD10": CMKD.ICD10,
    "ICDO": CMKD.ICDO,
    "MESH": CMKD.MESH,
    "HPO": CMKD.HPO,
}
EXPORT_FORMATS: dict[str, str] = {"ttl": "turtle", "nt": "nt", "xml": "xml", "jsonld": "json-ld"}


def _obo_uri(system: str, code: str) -> URIRef | None:
    if system == "DOID":
        return OBO[code.replace(":", "_")]
    if system == "MONDO":
        return OBO[code.replace(":", "_")]
    if system == "NCIT":
        return OBO[f"NCIT_{code}"]
    return None


def to_graph(kb: KnowledgeBase) -> Graph:
    graph = Graph()
    graph.bind("skos", SKOS)
    graph.bind("umls", UMLS)
    graph.bind("obo", OBO)
    graph.bind("cmkd", CMKD)
    scheme = URIRef("https://w3id.org/cmkd-med/ontology")
    graph.add((scheme, RDF.type, SKOS.ConceptScheme))
    for concept in sorted(kb, key=lambda c: c.cui):
        node = UMLS[concept.cui]
        graph.add((node, RDF.type, SKOS.Concept))
        graph.add((node, RDF.type, _KIND_CLASS[concept.kind]))
        graph.add((node, SKOS.inScheme, scheme))
        graph.add((node, SKOS.notation, Literal(concept.cui)))
        for label in concept.labels:
            predicate = SKOS.prefLabel if label.kind == "pref" else SKOS.altLabel
            graph.add((node, predicate, Literal(label.text, lang=label.lang)))
        for code in concept.codes:
            uri = _obo_uri(code.system, code.code)
            if uri is not None:
                graph.add((node, SKOS.exactMatch, uri))
            else:
                graph.add((node, SKOS.notation, Literal(code.code, datatype=_NOTATION[code.system])))
        for alt in concept.alt_cuis:
            graph.add((node, SKOS.exactMatch, UMLS[alt]))
        for parent in concept.parents:
            graph.add((node, SKOS.broader, UMLS[parent]))
        if concept.definition:
            graph.add((node, SKOS.definition, Literal(concept.definition, lang="en")))
        for lay in concept.lay:
            graph.add((node, CMKD.layTerm, Literal(lay.term, lang=lay.lang)))
            graph.add((node, CMKD.layDefinition, Literal(lay.definition, lang=lay.lang)))
    return graph


def export(kb: KnowledgeBase, fmt: str = "ttl") -> str:
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    return to_graph(kb).serialize(format=EXPORT_FORMATS[fmt])


def sparql(graph: Graph, query: str) -> list[dict[str, Any]]:
    """Run a SPARQL SELECT with ``skos:``, ``umls:``, ``obo:`` and ``cmkd:`` bound; rows as plain dicts.

    >>> q = 'SELECT ?l WHERE { umls:C0279702 skos:prefLabel ?l FILTER(lang(?l)="pt") }'
    >>> sparql(to_graph(kb), q)  # doctest: +SKIP
    [{'l': 'carcinoma de células renais de células claras'}]
    """
    from pyparsing import ParseException

    try:
        result = graph.query(query, initNs={"skos": SKOS, "umls": UMLS, "obo": OBO, "cmkd": CMKD})
    except ParseException as exc:
        raise InvalidInputError(f"SPARQL syntax error: {exc}") from None
    if result.type != "SELECT":
        raise InvalidInputError("only SELECT queries are supported")
    names = [str(v) for v in result.vars or []]
    rows: list[dict[str, Any]] = []
    for row in result:
        values = list(row)  # type: ignore[arg-type]  # a SELECT result yields ResultRow tuples
        rows.append({name: (None if v is None else str(v)) for name, v in zip(names, values, strict=True)})
    return rows
