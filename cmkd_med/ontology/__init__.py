"""The ontology layer: concepts with UMLS CUIs, a knowledge base, an RDF view and a multilingual linker."""
