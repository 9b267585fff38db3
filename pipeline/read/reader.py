"""Business spreadsheets (.xlsx, .xlsm, .csv) -> ``InputFile`` + a stream of ``RequestRow``.

``open_input`` never raises for bad input: a file that cannot be processed comes back
as an ``InputFile`` whose ``findings`` hold a file-level ERROR (``unreadable``), with
an empty row iterator. Rows are streamed: only the current row is held, whatever the
file's size (calamine keeps the sheet's cells in Rust memory, a fraction of what
Python objects would take).

Row numbers are those Excel shows (the header row is usually 1); blank rows are
skipped without renumbering. The first non-blank row is the header row.

If something unexpected breaks half-way through a file, the iterator stops and a
file-level ERROR is appended to ``InputFile.findings``: callers look at the findings
again once the iterator is exhausted.

Engines (see docs/input.md for the figures): calamine for workbooks, the ``csv``
module for CSV.
"""

from __future__ import annotations

import errno
import itertools
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.read.cells import RawRow, RowBuilder, to_text
from pipeline.read.csv_source import binary_reason, csv_rows, probe_file
from pipeline.read.headers import match_headers
from pipeline.read.isolated import OverBudget, ReadBudget, open_workbook_isolated
from pipeline.read.rules import ReadRule, column_letter, file_error, file_warning
from pipeline.read.xlsx_source import EmptySheet, WorkbookUnreadable, check_signature
from pipeline.records import Finding, RequestRow, Severity, printable

__all__ = [
    "SUPPORTED_SUFFIXES",
    "InputFile",
    "ReadBudget",
    "ReadRule",
    "describe_error",
    "open_input",
    "open_raw",
]

SUPPORTED_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".csv")
WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm"})
DEFAULT_SHEET = "Demandes"
# Rows built together (column by column, see cells.RowBuilder): large enough to spread
# the per-column work, small enough to keep memory flat.
BATCH_ROWS = 64
# A spreadsheet has at most 16,384 columns; the result workbook adds its own (14) after
# the file's: columns beyond this are left out, with a file-level warning.
MAX_INPUT_COLUMNS = 16_384 - 32
EXCEL_CELL_CHARS = 32_767  # what one Excel cell holds
_CELLS = operator.attrgetter("cells")
_ECHOED_HEADERS = 100  # header cells an unreadable file's result workbook shows at most


@dataclass
class InputFile:
    """One input file as read: identity, header row, field columns, file-level findings."""

    path: Path
    sha256: str = ""  # '' when the file could not be hashed (missing, too big)
    headers: tuple[str, ...] = ()  # header cells, original order and spelling (trimmed)
    columns: Mapping[str, int] = field(default_factory=dict)  # canonical field -> index
    findings: list[Finding] = field(default_factory=list)  # file level (line=None)
    # Rough number of data rows, known before reading them (for progress and ETA):
    # the sheet's height, or the CSV's line count; blank rows make it an upper bound.
    rows_hint: int | None = None
    # Peak resident memory (MB) of the process that read the workbook, once its rows
    # are all read (None for CSV, read in-process, or before the end).
    read_peak_mb: float | None = None

    @property
    def unreadable(self) -> bool:
        """True when a file-level error stops the file from being processed."""
        return any(f.is_error for f in self.findings)


def open_input(
    path: Path,
    *,
    max_bytes: int,
    sheet: str = DEFAULT_SHEET,
    budget: ReadBudget | None = None,
) -> tuple[InputFile, Iterator[RequestRow]]:
    """Open one input file: its description, and its non-blank data rows (streamed).
    A workbook is read in a child process within ``budget`` (memory, time)."""
    path = Path(path)
    try:
        return _open(path, max_bytes, sheet, budget or ReadBudget())
    except Exception as exc:  # never a traceback for a bad file
        return _unreadable(
            InputFile(path),
            file_error(path, ReadRule.FICHIER_ILLISIBLE, f"lecture impossible : {_describe(exc)}"),
        )


def _open(
    path: Path, max_bytes: int, sheet: str, budget: ReadBudget
) -> tuple[InputFile, Iterator[RequestRow]]:
    info, raw_rows = open_raw(path, max_bytes=max_bytes, sheet=sheet, budget=budget)
    if raw_rows is None:
        return info, iter(())
    return _start(info, raw_rows, text_only=path.suffix.lower() == ".csv")


def open_raw(
    path: Path, *, max_bytes: int, sheet: str = DEFAULT_SHEET, budget: ReadBudget | None = None
) -> tuple[InputFile, Iterator[RawRow] | None]:
    """The file's checks (extension, size, encoding, signature) and its raw rows; a
    workbook is read in a child process within ``budget`` (memory, time).

    Shared by the request files (``open_input``) and the demand-tracking exports
    (``tracking``): ``None`` rows when a file-level error was added to the findings.
    Raises only for an unexpected failure (callers turn it into FICHIER_ILLISIBLE).
    """
    info = InputFile(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        return _failed(info, _unknown_extension(path))
    try:
        size = path.stat().st_size
        is_file = path.is_file()
    except OSError as exc:
        size, is_file = 0, False
        reason = _describe(exc)
    else:
        reason = "ce n'est pas un fichier"
    if not is_file:
        return _failed(info, file_error(path, ReadRule.FICHIER_ILLISIBLE, reason))
    if size == 0:
        return _failed(info, _empty(path))
    if size > max_bytes:
        return _failed(
            info,
            file_error(
                path,
                ReadRule.FICHIER_TROP_GROS,
                f"{_mb(size)} Mo, au-delà de la taille maximale de {_mb(max_bytes)} Mo : "
                "découpez-le en plusieurs fichiers",
                value=str(size),
            ),
        )
    try:
        probe = probe_file(path, text=suffix == ".csv")
    except OSError as exc:
        return _failed(info, file_error(path, ReadRule.FICHIER_ILLISIBLE, _describe(exc)))
    info.sha256 = probe.sha256
    raw_rows: Iterator[RawRow]
    if suffix == ".csv":
        binary = binary_reason(probe)
        if binary:
            return _failed(info, file_error(path, ReadRule.FICHIER_ILLISIBLE, binary))
        raw_rows = csv_rows(path, probe)
        info.rows_hint = _count_lines(path)
    else:
        try:
            check_signature(path, probe)
            _name, raw_rows, height = open_workbook_isolated(
                path,
                sheet,
                budget or ReadBudget(),
                on_end=lambda peak: setattr(info, "read_peak_mb", peak),
            )
            info.rows_hint = height
        except WorkbookUnreadable as exc:
            rule = ReadRule.FICHIER_PROTEGE if exc.protected else ReadRule.FICHIER_ILLISIBLE
            if isinstance(exc, OverBudget):
                rule = ReadRule.BUDGET_DEPASSE
            elif isinstance(exc, EmptySheet):
                rule = ReadRule.FICHIER_VIDE
            return _failed(info, file_error(path, rule, str(exc)))
    return info, raw_rows


def _failed(info: InputFile, finding: Finding) -> tuple[InputFile, None]:
    info.findings.append(finding)
    return info, None


def _start(
    info: InputFile, raw_rows: Iterator[RawRow], *, text_only: bool
) -> tuple[InputFile, Iterator[RequestRow]]:
    """Read the header row, match it, and look ahead for a first data row."""
    path = info.path
    header: list[str] | None = None
    for _line, raw, _special in raw_rows:
        texts = [to_text(v) for v in raw]
        if any(texts):
            header = texts
            break
    if header is None:
        _close(raw_rows)
        return _unreadable(info, _empty(path))
    while header and not header[-1]:
        header.pop()
    if len(header) > MAX_INPUT_COLUMNS:
        info.findings.append(_too_wide(path, len(header)))
        del header[MAX_INPUT_COLUMNS:]
        raw_rows = _narrowed(raw_rows, MAX_INPUT_COLUMNS)
    info.headers = tuple(header)
    if info.rows_hint is not None:
        info.rows_hint = max(info.rows_hint - 1, 0)  # the header row
    match = match_headers(path, info.headers)
    info.columns = match.columns
    info.findings.extend(match.findings)
    if info.unreadable:
        _close(raw_rows)
        # No row will be echoed: the header row is kept as a bounded, printable excerpt
        # (a text file that is not a CSV must not end up whole in the result workbook).
        info.headers = tuple(printable(h) for h in info.headers[:_ECHOED_HEADERS])
        return info, iter(())
    builder = RowBuilder(info.headers, info.columns)
    rows = _rows(info, builder, raw_rows, text_only)
    first = next(rows, None)
    if first is None:
        if not info.unreadable:
            info.findings.append(
                file_warning(
                    path,
                    ReadRule.AUCUNE_LIGNE,
                    "aucune ligne de demande sous la ligne d'en-tête : rien à traiter",
                )
            )
        return info, iter(())
    return info, itertools.chain((first,), rows)


def _rows(
    info: InputFile, builder: RowBuilder, raw_rows: Iterator[RawRow], text_only: bool
) -> Iterator[RequestRow]:
    """Non-blank rows, built a batch at a time; an unexpected failure half-way stops
    them with a file-level error (the rows before it are still delivered)."""
    try:
        for batch in _batches(raw_rows):
            yield from _build(builder, batch, text_only)
    except Exception as exc:
        info.findings.append(
            file_error(
                info.path,
                ReadRule.FICHIER_ILLISIBLE,
                f"lecture interrompue, les lignes suivantes n'ont pas été lues : {_describe(exc)}",
            )
        )
    finally:
        _close(raw_rows)


def _batches(raw_rows: Iterator[RawRow]) -> Iterator[list[RawRow]]:
    """Consecutive raw rows, ``BATCH_ROWS`` at a time. If the source breaks, the rows
    it gave before are still yielded, then its error is raised."""
    batch: list[RawRow] = []
    failure: Exception | None = None
    try:
        for raw in raw_rows:
            batch.append(raw)
            if len(batch) == BATCH_ROWS:
                yield batch
                batch = []
    except Exception as exc:
        failure = exc
    if batch:
        yield batch
    if failure is not None:
        raise failure


def _build(builder: RowBuilder, batch: list[RawRow], text_only: bool) -> Iterator[RequestRow]:
    try:
        rows = builder.build_rows(batch, text_only=text_only)
    except Exception:
        # One row at a time: the rows before the one that breaks are delivered.
        for raw in batch:
            yield from _checked(builder, builder.build_rows([raw], text_only=text_only))
    else:
        yield from _checked(builder, rows)


def _checked(builder: RowBuilder, rows: list[RequestRow]) -> list[RequestRow]:
    """``rows``, with a warning on each cell longer than an Excel cell holds. One C-level
    sum over the batch screens it (each row's cells joined: 0.04 s per 100,000 rows):
    only a batch holding that many characters is looked at cell by cell."""
    if sum(map(len, map("".join, map(_CELLS, rows)))) > EXCEL_CELL_CHARS:
        for row in rows:
            for index, cell in enumerate(row.cells):
                if len(cell) > EXCEL_CELL_CHARS:
                    row.findings.append(_too_long(builder.headers, row.line, index, len(cell)))
    return rows


def _narrowed(raw_rows: Iterator[RawRow], width: int) -> Iterator[RawRow]:
    for line, cells, special in raw_rows:
        if special:
            special = {i: c for i, c in special.items() if i < width}
        yield line, cells[:width], special
    _close(raw_rows)


def _too_wide(path: Path, width: int) -> Finding:
    return file_warning(
        path,
        ReadRule.COLONNES_EXCEDENTAIRES,
        f"{width} colonnes en ligne d'en-tête, plus qu'un classeur Excel ne peut en "
        f"recevoir avec les colonnes de résultat : les {width - MAX_INPUT_COLUMNS} "
        f"colonnes au-delà de la colonne {column_letter(MAX_INPUT_COLUMNS - 1)} sont "
        "laissées de côté (ni lues, ni recopiées dans les résultats)",
        value=str(width),
    )


def _too_long(headers: tuple[str, ...], line: int, index: int, length: int) -> Finding:
    header = printable(headers[index], 40) if index < len(headers) else ""
    return Finding(
        ReadRule.CELLULE_TROP_LONGUE,
        Severity.WARNING,
        header,
        f"{length} caractères",
        f"Ligne {line}, colonne « {header or column_letter(index)} » : {length} caractères, "
        f"plus que les {EXCEL_CELL_CHARS} qu'une cellule Excel peut contenir : le classeur "
        "de résultats n'en montre que le début",
        line,
    )


def _close(raw_rows: Iterator[RawRow]) -> None:
    close = getattr(raw_rows, "close", None)
    if close is not None:
        close()


def _count_lines(path: Path) -> int:
    """Line breaks in a text file, counted in 1 MiB blocks (≈10 ms for 17 MB)."""
    count, last = 0, b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _unreadable(info: InputFile, finding: Finding) -> tuple[InputFile, Iterator[RequestRow]]:
    info.findings.append(finding)
    return info, iter(())


def _unknown_extension(path: Path) -> Finding:
    accepted = ", ".join(SUPPORTED_SUFFIXES)
    hint = ""
    if path.suffix.lower() == ".xls":
        hint = " (format Excel 97-2003 : enregistrez-le depuis Excel au format .xlsx)"
    return file_error(
        path,
        ReadRule.EXTENSION_INCONNUE,
        f"extension « {path.suffix or '(aucune)'} » non prise en charge{hint} ; "
        f"formats acceptés : {accepted}",
        value=path.suffix,
    )


def _empty(path: Path) -> Finding:
    return file_error(path, ReadRule.FICHIER_VIDE, "le fichier est vide (aucune ligne d'en-tête)")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".replace(".", ",")


_OS_ERRORS = {
    errno.ENOENT: "fichier introuvable",
    errno.EACCES: "accès refusé (droits insuffisants ou fichier ouvert par un autre programme)",
    errno.EPERM: "accès refusé",
    errno.EISDIR: "c'est un dossier, pas un fichier",
}


def describe_error(exc: BaseException) -> str:
    """An exception in French words for a finding (OS errors by their meaning)."""
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    """French first; the exception's own text, bounded, only after it for support."""
    if isinstance(exc, OSError) and exc.errno in _OS_ERRORS:
        return _OS_ERRORS[exc.errno]
    if isinstance(exc, WorkbookUnreadable):
        return str(exc)
    detail = printable(f"{type(exc).__name__} : {exc}" if str(exc) else type(exc).__name__, 120)
    return f"erreur inattendue du lecteur (détail technique : {detail})"
