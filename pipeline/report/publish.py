"""Output files of the report: workbooks written to a temporary file, then published.

A workbook is written to a new hidden file of the output folder (same file system),
then given its final name atomically (a hard link, or a rename where links are not
available) without ever replacing an existing file: ``-2``, ``-3``... are added to
the name instead. File name parts are made safe for every file system first.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
from pathlib import Path

from pipeline.records import Family
from pipeline.report.xlsx_cells import StyleSet
from pipeline.report.xlsx_stream import StreamingBook

# Bytes of an output name taken from the input's stem: with "_a_resoumettre_<timestamp>"
# and "-NN.xlsx" the whole name stays within the 255 bytes file systems allow.
MAX_STEM_BYTES = 150


def safe_stem(stem: str) -> str:
    """A file name part that every file system accepts (no separators, controls, :*?"<>|),
    valid UTF-8 (bytes that were not become ``_xNN``), at most ``MAX_STEM_BYTES`` bytes:
    a longer one keeps its start and ends with ``~`` and 8 hex digits of a hash of it."""
    stem = Path(stem).name if "/" in stem else stem
    text = stem.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    cleaned = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", text).strip(" .") or "fichier"
    encoded = cleaned.encode("utf-8")
    if len(encoded) <= MAX_STEM_BYTES:
        return cleaned
    digest = hashlib.sha256(encoded).hexdigest()[:8]
    start = encoded[: MAX_STEM_BYTES - 9].decode("utf-8", "ignore")
    return f"{start}~{digest}"


# The temporary workbooks' names (``temp_path``): what a later run may remove when a
# killed run left one behind, and nothing else.
TEMP_NAME_PATTERN = re.compile(r"\.dit-batch-[0-9a-f]{12}\.xlsx\.tmp")


def temp_path(output_dir: Path) -> Path:
    """A new hidden file next to the final one (same file system), with umask permissions."""
    while True:
        path = output_dir / f".dit-batch-{secrets.token_hex(6)}.xlsx.tmp"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return path


def publish(tmp: Path, output_dir: Path, base: str) -> Path:
    """Give the finished temporary file its final name, never replacing an existing file."""
    try:
        for n in range(1, 10_000):
            target = output_dir / (f"{base}.xlsx" if n == 1 else f"{base}-{n}.xlsx")
            try:
                os.link(tmp, target)  # atomic, and fails if the name is taken
            except FileExistsError:
                continue
            except OSError as exc:  # no hard links here (some network shares)
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                if target.exists():
                    continue
                os.replace(tmp, target)
                return target
            return target
        raise FileExistsError(f"Aucun nom libre pour {base}.xlsx dans {output_dir}")
    finally:
        tmp.unlink(missing_ok=True)


class PendingBook:
    """A workbook being written to a temporary file of the output folder."""

    def __init__(self, output_dir: Path) -> None:
        self.tmp = temp_path(output_dir)
        self.book = StreamingBook(self.tmp)

    def discard(self) -> None:
        self.book.abort()
        self.tmp.unlink(missing_ok=True)

    def family_styles(self, colours: dict[Family, str]) -> dict[Family, tuple[StyleSet, int]]:
        styles: dict[Family, tuple[StyleSet, int]] = {}
        for family, colour in colours.items():
            style = self.book.style_set(fill=colour)
            styles[family] = (style, style.plain)
        return styles
