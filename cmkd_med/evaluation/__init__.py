"""Evaluation commands: figures on user-supplied files, in the exact interfaces the docs specify."""
