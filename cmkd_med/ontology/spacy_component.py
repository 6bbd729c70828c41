"""The linker as a spaCy pipeline component (``nlp.add_pipe("cmkd_linker", config={"lang": "pt"})``).

Mentions go to ``doc.spans["cmkd"]`` (all, with ``kb_id_`` = CUI and ``label_`` = concept kind) and to
``doc.ents`` (the same spans; the linker's mentions never overlap).
"""

# No ``from __future__ import annotations`` here: spaCy 3.7 validates factory signatures with pydantic v1,
# which cannot resolve string annotations.

from spacy.language import Language
from spacy.tokens import Doc, Span

from cmkd_med.languages import normalize_lang
from cmkd_med.ontology.linker import DEFAULT_THRESHOLD, ConceptLinker, get_linker

SPAN_KEY = "cmkd"
if not Span.has_extension("cmkd_score"):
    Span.set_extension("cmkd_score", default=None)


class LinkerComponent:
    def __init__(self, linker: ConceptLinker):
        self.linker = linker

    def __call__(self, doc: Doc) -> Doc:
        spans = []
        for mention in self.linker.link(doc.text) if doc.text.strip() else []:
            span = doc.char_span(
                mention.start, mention.end, label=mention.kind, kb_id=mention.cui, alignment_mode="expand"
            )
            if span is not None:
                span._.cmkd_score = mention.score
                spans.append(span)
        doc.spans[SPAN_KEY] = spans
        doc.ents = spacy_filter(spans)
        return doc


def spacy_filter(spans: list[Span]) -> list[Span]:
    from spacy.util import filter_spans

    return filter_spans(spans)


@Language.factory(
    "cmkd_linker",
    default_config={"lang": "en", "threshold": DEFAULT_THRESHOLD, "ontology_dir": None},
)
def make_linker(
    nlp: Language, name: str, lang: str, threshold: float, ontology_dir: str | None
) -> LinkerComponent:
    return LinkerComponent(get_linker(normalize_lang(lang), ontology_dir, threshold))


def blank_pipeline(lang: str, threshold: float = DEFAULT_THRESHOLD) -> Language:
    """A blank spaCy pipeline for ``lang`` with the linker (spaCy has no Swahili class: ``xx`` is used)."""
    import spacy

    code = normalize_lang(lang)
    nlp = spacy.blank("xx" if code == "sw" else code)
    nlp.add_pipe("cmkd_linker", config={"lang": code, "threshold": threshold})
    return nlp
