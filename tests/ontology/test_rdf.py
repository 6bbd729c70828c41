from __future__ import annotations

import pytest
from rdflib import SKOS, Graph, Literal

from cmkd_med.errors import InvalidInputError
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.rdf import UMLS, export, sparql, to_graph


def test_graph_has_language_tagged_skos_labels(tiny_kb: KnowledgeBase) -> None:
    graph = to_graph(tiny_kb)
    node = UMLS["C2239176"]
    assert (node, SKOS.prefLabel, Literal("carcinoma hepatocelular", lang="pt")) in graph
    assert (node, SKOS.altLabel, Literal("HCC", lang="en")) in graph
    rows = sparql(graph, 'SELECT ?l WHERE { umls:C0279702 skos:prefLabel ?l FILTER(lang(?l) = "hi") }')
    assert rows == [{"l": "क्लियर सेल रीनल सेल कार्सिनोमा"}]


def test_turtle_export_parses_back(tiny_kb: KnowledgeBase) -> None:
    text = export(tiny_kb, "ttl")
    graph = Graph().parse(data=text, format="turtle")
    assert len(graph) == len(to_graph(tiny_kb))
    with pytest.raises(InvalidInputError, match="unknown export format 'csv'"):
        export(tiny_kb, "csv")


def test_sparql_errors_are_clear(tiny_kb: KnowledgeBase) -> None:
    graph = to_graph(tiny_kb)
    with pytest.raises(InvalidInputError, match="SPARQL syntax error"):
        sparql(graph, "SELEC ?x WHERE {}")
    with pytest.raises(InvalidInputError, match="only SELECT"):
        sparql(graph, "ASK { ?s ?p ?o }")
