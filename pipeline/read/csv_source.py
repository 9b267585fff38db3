"""CSV files: encoding and delimiter detection, then a streamed row iterator.

Encodings: UTF-16 (with BOM, Excel's "Texte Unicode"), UTF-8 with or without BOM,
else Windows-1252 (French Excel's "CSV (séparateur: point-virgule)"). UTF-8 validity
is decided on the whole file during the probe pass (``probe_file``), so a file that
is ASCII for a megabyte and has one ``é`` further down is still read right.
Delimiter: the most frequent of ``;``, tab and ``,`` in the header line (ties in
that order), or the one an Excel ``sep=`` first line names.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.read.cells import RawRow

_CHUNK = 1 << 20
_HEAD = 1 << 16
DELIMITERS = (";", "\t", ",")
ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Above the csv module's 128 KiB default: a cell of 100k characters or more is
# kept (the validator flags its length), and the file size limit bounds it anyway.
_FIELD_LIMIT = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Probe:
    """What one pass over the bytes tells: hash, first bytes, NULs, UTF-8 validity."""

    sha256: str
    head: bytes
    has_nul: bool
    utf8: bool


def probe_file(path: Path, *, text: bool) -> Probe:
    """Hash the file; for text files also look for NUL bytes and check UTF-8."""
    digest = hashlib.sha256()
    head = b""
    has_nul = False
    decoder = codecs.getincrementaldecoder("utf-8")() if text else None
    utf8 = text
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            if len(head) < _HEAD:
                head += chunk[: _HEAD - len(head)]
            if not text:
                continue
            has_nul = has_nul or b"\x00" in chunk
            if utf8 and decoder is not None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8 and decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return Probe(digest.hexdigest(), head, has_nul, utf8)


def encoding_of(probe: Probe) -> str:
    """The text encoding to read the file with."""
    if probe.head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if probe.head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return "utf-8" if probe.utf8 else "cp1252"


def binary_reason(probe: Probe) -> str | None:
    """Why the file is not CSV text (French), or None when it looks like text."""
    if encoding_of(probe) == "utf-16":
        return None
    if probe.head.startswith(ZIP_MAGIC):
        return (
            "c'est un classeur Excel (.xlsx) nommé en .csv : renommez-le en .xlsx, "
            "ou enregistrez-le depuis Excel au format CSV"
        )
    if probe.head.startswith(OLE2_MAGIC):
        return (
            "c'est un classeur Excel ancien format (.xls) ou protégé par mot de passe, "
            "nommé en .csv : enregistrez-le depuis Excel au format .xlsx ou CSV"
        )
    if probe.has_nul:
        return "ce n'est pas un fichier texte CSV (contenu binaire)"
    return None


def _sniff(path: Path, encoding: str) -> tuple[str, int]:
    """(delimiter, number of physical lines to skip: 1 for an Excel ``sep=`` line)."""
    with path.open(encoding=encoding, errors="replace", newline="") as stream:
        for index, line in enumerate(stream):
            stripped = line.strip(" \r\n")
            if not stripped.strip():
                continue
            if index == 0 and stripped.casefold().startswith("sep=") and len(stripped) == 5:
                return stripped[4], 1
            counts = [stripped.count(d) for d in DELIMITERS]
            best = max(counts)
            return (DELIMITERS[counts.index(best)] if best else DELIMITERS[0]), 0
    return DELIMITERS[0], 0


def csv_rows(path: Path, probe: Probe) -> Iterator[RawRow]:
    """Every record of the file (blank ones included) with its Excel row number."""
    encoding = encoding_of(probe)
    delimiter, skip = _sniff(path, encoding)
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    with path.open(encoding=encoding, errors="replace", newline="") as stream:
        if skip:
            stream.readline()
        for line, record in enumerate(csv.reader(stream, delimiter=delimiter), start=1):
            yield line, record, None
