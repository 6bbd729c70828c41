"""cmkd-med: multilingual clinical NLP with an ontology layer."""

from __future__ import annotations

from cmkd_med.api import Pipeline, pipeline
from cmkd_med.ontology.concept import Concept, Label
from cmkd_med.ontology.kb import KnowledgeBase

__version__ = "0.1.0"

__all__ = ["Concept", "KnowledgeBase", "Label", "Pipeline", "__version__", "pipeline"]
