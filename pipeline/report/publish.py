"""Output files of the report: workbooks written to a temporary file, then published.

A workbook is written to a new hidden file of the output folder (same file system),
then given its final name atomically (a hard link, or a rename where links are not
available) without ever replacing an existing file: ``-2``, ``-3``... are added to
the name instead. File name parts are made safe for every file system first.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from pathlib import Path

from pipeline.records import Family
from pipeline.report.xlsx_cells import StyleSet
from pipeline.report.xlsx_stream import StreamingBook


def safe_stem(stem: str) -> str:
    """A file name part that every file system accepts (no separators, controls, :*?"<>|)."""
    cleaned = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", Path(stem).name if "/" in stem else stem)
    return cleaned.strip(" .") or "fichier"


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
