"""XLSX / XLSM workbooks read with calamine (Rust), the fastest engine measured.

calamine gives cached formula values, numbers as floats, date cells as ``date`` /
``datetime``; it returns error cells and formulas without cached value as empty
strings, which ``xlsx_scan.special_cells`` makes up for. The sheet read is the one
named like ``Demandes`` (case, accents and spaces ignored) if present, else the first
visible worksheet. Hidden rows and columns are read like the others; a merged range
gives its value to its top-left cell only.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from python_calamine import CalamineSheet, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from pipeline.read.cells import RawRow, SpecialCell
from pipeline.read.csv_source import OLE2_MAGIC, ZIP_MAGIC, Probe
from pipeline.read.headers import normalise
from pipeline.read.xlsx_scan import special_cells

_ENCRYPTION_MARK = "EncryptionInfo".encode("utf-16-le")


class WorkbookUnreadable(Exception):
    """The workbook cannot be read; ``protected`` tells a password is the cause."""

    def __init__(self, message: str, *, protected: bool = False) -> None:
        super().__init__(message)
        self.protected = protected


def check_signature(path: Path, probe: Probe) -> None:
    """Raise WorkbookUnreadable when the bytes are not an XLSX (zip) container."""
    if probe.head.startswith(ZIP_MAGIC):
        return
    if probe.head.startswith(OLE2_MAGIC):
        if _encrypted(path):
            raise WorkbookUnreadable(
                "classeur protégé par mot de passe : enregistrez-en une copie sans mot de "
                "passe (Fichier > Informations > Protéger le classeur) et déposez-la",
                protected=True,
            )
        raise WorkbookUnreadable(
            "classeur au format Excel 97-2003 (.xls) nommé en .xlsx : "
            "enregistrez-le depuis Excel au format .xlsx"
        )
    raise WorkbookUnreadable("ce n'est pas un classeur Excel valide (fichier corrompu ?)")


def _encrypted(path: Path) -> bool:
    """An OLE2 container with an EncryptionInfo stream is a password-protected OOXML."""
    with path.open("rb") as stream:
        return _ENCRYPTION_MARK in stream.read(4 << 20)


def open_workbook(path: Path, sheet: str) -> tuple[str, Iterator[RawRow], int]:
    """(name of the sheet read, its rows with Excel row numbers, its height in rows);
    raises WorkbookUnreadable.

    calamine releases the GIL while it parses the sheet, so the XML scan for error
    cells runs meanwhile in a helper thread.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx-scan") as pool:
        try:
            with CalamineWorkbook.from_path(str(path)) as workbook:
                name = _pick_sheet(workbook, sheet)
                scan = pool.submit(special_cells, path, name)
                data = workbook.get_sheet_by_name(name)
        except (WorkbookUnreadable, KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # calamine errors, and pyo3 panics (BaseException)
            raise WorkbookUnreadable(f"classeur illisible ou corrompu ({exc})") from exc
        try:
            specials = scan.result()
        except Exception:  # best effort: the values calamine read stay usable
            specials = {}
    return name, _rows(data, specials), int(data.height)


def _pick_sheet(workbook: CalamineWorkbook, wanted: str) -> str:
    key = normalise(wanted)
    every = list(workbook.sheets_metadata)
    sheets = [m for m in every if m.typ == SheetTypeEnum.WorkSheet] or every
    if not sheets:
        raise WorkbookUnreadable("le classeur ne contient aucune feuille")
    for meta in sheets:
        if normalise(meta.name) == key:
            return meta.name
    visible = [m for m in sheets if m.visible == SheetVisibleEnum.Visible]
    return (visible or sheets)[0].name


def _rows(data: CalamineSheet, specials: dict[tuple[int, int], SpecialCell]) -> Iterator[RawRow]:
    """The sheet's rows from Excel row 1, each padded to start at column A.

    calamine's ``iter_rows`` yields empty rows down to the first used row, then the
    used rows, each starting at the first used column: the padding puts cells back
    at their Excel column so that column letters in messages are right.
    """
    start = data.start
    if start is None:
        return
    pad: list[object] = [""] * start[1]
    by_row: dict[int, dict[int, SpecialCell]] = {}
    for (row, col), cell in specials.items():
        by_row.setdefault(row, {})[col] = cell
    line = 0
    for line, raw in enumerate(data.iter_rows(), start=1):
        yield line, [*pad, *raw] if pad else raw, by_row.get(line)
    for extra in sorted(r for r in by_row if r > line):
        yield extra, [], by_row[extra]
