"""Read stage: a CSV or XLSX input file becomes an ``InputFile`` (name, SHA-256, header
row, file-level findings) and a stream of ``RequestRow`` in canonical field order.

Public face: ``open_input`` and ``InputFile`` (plus ``SUPPORTED_SUFFIXES``, and
``header_columns``: which column holds each field, for a header row read earlier). Everything
else here is private to the stage: ``reader`` (format detection and the row stream),
``csv_source`` and ``xlsx_source`` (one per format), ``xlsx_scan`` (the XML scan of a
sheet's cell types), ``cells`` (cell conversion, lost zeros, dates), ``headers`` (header
matching and aliases) and ``rules`` (the reader's rule codes). ``open_tracking`` reads a
demand-tracking export (``tracking``) with the same machinery.
"""

from pipeline.read.headers import header_columns
from pipeline.read.isolated import ReadBudget, prepare_reader
from pipeline.read.reader import SUPPORTED_SUFFIXES, InputFile, open_input
from pipeline.read.tracking import open_tracking

__all__ = [
    "SUPPORTED_SUFFIXES",
    "InputFile",
    "ReadBudget",
    "header_columns",
    "open_input",
    "open_tracking",
    "prepare_reader",
]
