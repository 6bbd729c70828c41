"""All project exceptions.

User mistakes (bad input, unknown language, missing data) derive from :class:`CmkdError`; the CLI turns
them into a one-line message and exit code 2, never a traceback.
"""

from __future__ import annotations


class CmkdError(Exception):
    """Base class for errors caused by user input or the environment, reported without a traceback."""


class InvalidInputError(CmkdError, ValueError):
    """A note, a query or a row that cannot be processed (empty, not text, not UTF-8, too long)."""


class UnsupportedLanguageError(CmkdError, ValueError):
    """A language code that the toolkit does not support; the message lists the supported ones."""


class DataNotFoundError(CmkdError, FileNotFoundError):
    """A data file or folder that should exist does not (check CMKD_DATA_DIR)."""


class DataFormatError(CmkdError, ValueError):
    """A data file exists but is malformed (wrong columns, bad JSON, bad encoding)."""


class OntologyError(CmkdError, ValueError):
    """The ontology is inconsistent: an invalid identifier, a dangling reference, a missing label."""


class OntologyNotBuiltError(CmkdError, FileNotFoundError):
    """The built ontology files are missing; run `cmkd-med ontology build`."""


class MissingDependencyError(CmkdError, ImportError):
    """An optional heavy dependency is not installed; the message says which extra to install."""


class IndexFormatError(DataFormatError):
    """A retrieval index folder is damaged: a file missing, empty, truncated, garbled or inconsistent."""


class AdapterFormatError(DataFormatError):
    """An adapter folder (teacher or student) is damaged or its config holds values it cannot run with."""


class OutputBusyError(CmkdError):
    """Another run is writing the same ``--out`` (its lock file is held)."""


class ModelOutputError(CmkdError):
    """A model produced non-finite values (a broken adapter); refused rather than passed off as an answer."""
