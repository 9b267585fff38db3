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
from pipeline.records import printable

_ENCRYPTION_MARK = "EncryptionInfo".encode("utf-16-le")


class WorkbookUnreadable(Exception):
    """The workbook cannot be read; ``protected`` tells a password is the cause."""

    def __init__(self, message: str, *, protected: bool = False) -> None:
        super().__init__(message)
        self.protected = protected


class EmptySheet(WorkbookUnreadable):
    """The sheet read holds no cell (the message says whether another sheet has data)."""


# What calamine's (English) errors mean, for the French sentence that comes first: the
# first pattern found in the lower-cased error text wins.
_CAUSES = (
    (
        ("eocd", "invalid zip", "zip error", "unexpected eof"),
        "ce n'est pas une archive de "
        "classeur complète (fichier tronqué, abîmé pendant la copie ou pas un .xlsx)",
    ),
    (
        ("shared string", "string index"),
        "la table des textes partagés du classeur est incohérente avec ses cellules",
    ),
    (("file not found", "not found"), "une partie du classeur est absente"),
    (
        ("entity",),
        "le classeur contient une entité XML non autorisée (fichier produit par "
        "un programme, jamais enregistré par Excel)",
    ),
    (("password", "encrypt"), "le classeur est protégé ou chiffré"),
    (
        ("expecting", "xml", "mismatch", "unexpected", "attribute", "utf"),
        "le contenu XML du classeur est mal formé",
    ),
    (
        ("cell", "dimension", "range", "row", "column"),
        "une référence de cellule du classeur est invalide",
    ),
)


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
            raise WorkbookUnreadable(_french(exc, locals().get("name"))) from exc
        try:
            specials = scan.result()
        except Exception:  # best effort: the values calamine read stay usable
            specials = {}
    if data.start is None and not specials:
        raise EmptySheet(_empty_sheet(path, name))
    return name, _rows(data, specials), int(data.height)


def _french(exc: BaseException, sheet: str | None) -> str:
    """A French sentence for an engine error, its own text after it for support."""
    detail = str(exc) or type(exc).__name__
    lowered = detail.lower()
    cause = "le classeur est illisible ou corrompu"
    for patterns, sentence in _CAUSES:
        if any(p in lowered for p in patterns):
            cause = sentence
            break
    where = f" (feuille « {printable(sheet, 40)} »)" if sheet else ""
    if sheet and detail == sheet:  # calamine names the sheet whose part is missing
        cause, where = f"le contenu de la feuille « {printable(sheet, 40)} » est absent", ""
    return (
        f"{cause}{where} : ouvrez-le dans Excel et enregistrez-le à nouveau au format .xlsx "
        f"(détail technique : {printable(detail, 120)})"
    )


def _empty_sheet(path: Path, name: str) -> str:
    """The sheet read is empty: say which, and which other sheet has data, if one does."""
    others: list[str] = []
    try:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            for meta in workbook.sheets_metadata:
                if meta.name == name or meta.typ != SheetTypeEnum.WorkSheet:
                    continue
                if workbook.get_sheet_by_name(meta.name).start is not None:
                    others.append(printable(meta.name, 40))
                if len(others) == 3:
                    break
    except BaseException:  # best effort: the message stays true without the others
        others = []
    sheet = printable(name, 40)
    if not others:
        return f"la feuille « {sheet} » est vide (aucune ligne d'en-tête)"
    listed = ", ".join(f"« {o} »" for o in others)
    return (
        f"la feuille « {sheet} », celle qui est lue, est vide ; la feuille {listed} contient "
        f"des données : renommez-la « Demandes » (ou copiez-y vos lignes) et redéposez le fichier"
    )


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
