"""Fast streaming of large worksheets into an openpyxl-built workbook package.

openpyxl's write-only mode costs about 16 µs per cell on the reference machine: a
100,000-row result workbook (about 3 million cells) would take close to a minute.
This module keeps openpyxl for everything that is small or intricate (styles
table, summary sheet, chart, workbook parts) and writes the big sheets' XML
itself, as openpyxl's write-only mode does (inline strings), about ten times
faster, streaming rows straight into the zip archive.

    book = StreamingBook(path)               # a temporary path; the caller renames it
    styles = book.style_set(fill="C6EFCE")   # text / wrapped / quote-prefixed variants
    sheet = book.fast_sheet("Résultats", widths=[12.0, 30.0], primary=True, printable=True)
    sheet.write_row(["A", "=1+1"], styles)   # '=1+1' stays text, never a formula
    summary = book.openpyxl_sheet("Synthèse")  # ordinary write-only openpyxl sheet
    book.close()                             # writes the rest of the package

The sheets' rows are written by :class:`pipeline.report.xlsx_sheet.FastSheet`; every
string goes through :func:`pipeline.report.xlsx_cells.clean_text` (illegal XML
characters, over-long text, formula-like text, row heights: see that module).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from lxml import etree
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pipeline.report.xlsx_cells import StyleSet
from pipeline.report.xlsx_sheet import MAIN_NS, REL_NS, FastSheet

DATE_FORMAT = "DD/MM/YYYY"
STAMP_FORMAT = "DD/MM/YYYY HH:MM:SS"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


@dataclass(slots=True)
class _FastEntry:
    sheet: FastSheet
    stream: IO[bytes]
    placeholder: WriteOnlyWorksheet
    spool: IO[bytes] | None
    autofilter: bool
    finished: bool = False


class StreamingBook:
    """A workbook package written to ``path``: fast sheets streamed, the rest by openpyxl.

    At most one fast sheet is ``primary``: it streams straight into the archive and
    must be the first sheet created. Other fast sheets are spooled (memory, then a
    temporary file) and copied in at :meth:`close`. Sheet order is creation order.
    """

    def __init__(self, path: Path, *, compresslevel: int = 3) -> None:
        self.workbook = Workbook(write_only=True)
        self._path = path
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        )
        self._fast: list[_FastEntry] = []
        self._primary_open = False
        self._closed = False

    def style_set(
        self,
        *,
        fill: str | None = None,
        bold: bool = False,
        vertical: str = "top",
        wrap_always: bool = False,
        number_format: str | None = None,
    ) -> StyleSet:
        """Register a look (fill colour as RRGGBB) and return the ids of its variants.

        ``number_format`` applies to the text variants (``"@"``: what is typed over the
        cell stays text); the date variants have their date formats.
        """
        ids: list[int] = []
        for wrap in (False, True):
            for quote in (False, True):
                cell = WriteOnlyCell(self._probe_sheet())
                if fill:
                    cell.fill = PatternFill("solid", fgColor=fill)
                if bold:
                    cell.font = Font(bold=True)
                cell.alignment = Alignment(vertical=vertical, wrap_text=wrap or wrap_always)
                if quote:
                    cell.quotePrefix = True
                if number_format:
                    cell.number_format = number_format
                ids.append(cell.style_id)
        dated: list[int] = []
        for number_format in (DATE_FORMAT, STAMP_FORMAT):
            cell = WriteOnlyCell(self._probe_sheet())
            if fill:
                cell.fill = PatternFill("solid", fgColor=fill)
            if bold:
                cell.font = Font(bold=True)
            cell.alignment = Alignment(vertical=vertical, horizontal="left")
            cell.number_format = number_format
            dated.append(cell.style_id)
        return StyleSet(
            plain=ids[0],
            quote=ids[1],
            wrap=ids[2],
            wrap_quote=ids[3],
            date=dated[0],
            stamp=dated[1],
        )

    def _probe_sheet(self) -> WriteOnlyWorksheet:
        if not self.workbook.worksheets:
            raise RuntimeError("create a sheet before registering styles")
        return cast(WriteOnlyWorksheet, self.workbook.worksheets[0])

    def fast_sheet(
        self,
        title: str,
        widths: Sequence[float],
        *,
        primary: bool = False,
        selected: bool = False,
        freeze_header: bool = True,
        autofilter: bool = True,
        printable: bool = False,
        freeze_columns: int = 0,
        print_scale: int | None = None,
        print_columns: int = 0,
        pages_wide: int = 1,
        column_styles: Sequence[int] | None = None,
    ) -> FastSheet:
        """Create a streamed sheet (``primary``: the first sheet, written straight to disk).

        ``printable``: A4 landscape, the first row repeated on each page; one page wide,
        or at ``print_scale`` per cent with the ``print_columns`` first columns repeated
        on each page too (a wide sheet then prints readable, several pages wide).
        ``freeze_columns``: columns frozen on screen beside the header row.
        """
        placeholder = cast(WriteOnlyWorksheet, self.workbook.create_sheet(title))
        if printable:
            placeholder.print_title_rows = "1:1"  # the Print_Titles defined name
            if print_columns:
                placeholder.print_title_cols = f"A:{get_column_letter(print_columns)}"
        index = len(self.workbook.sheetnames)
        stream: IO[bytes]
        spool: IO[bytes] | None = None
        if primary:
            if index != 1 or self._primary_open:
                raise RuntimeError("the primary fast sheet must be the first sheet")
            self._primary_open = True
            stream = self._zip.open(f"xl/worksheets/sheet{index}.xml", "w")
        else:
            spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
            stream = spool
        sheet = FastSheet(
            stream,
            widths,
            selected=selected,
            freeze_header=freeze_header,
            printable=printable,
            freeze_columns=freeze_columns,
            print_scale=print_scale,
            pages_wide=pages_wide,
            column_styles=column_styles,
        )
        self._fast.append(_FastEntry(sheet, stream, placeholder, spool, autofilter))
        return sheet

    def comment_header(self, sheet: FastSheet, comments: Sequence[str]) -> None:
        """Give the header row of a fast sheet a comment per column ('' for none): openpyxl
        writes the comment parts for the placeholder sheet, the fast sheet points at them."""
        for entry in self._fast:
            if entry.sheet is sheet:
                cells: list[Any] = []
                for text in comments:
                    cell: Any = WriteOnlyCell(entry.placeholder, None)
                    if text:
                        note = Comment(text, "dit-batch")
                        note.width, note.height = 320, 170
                        cell.comment = note
                    cells.append(cell)
                entry.placeholder.append(cells)
                sheet.legacy_drawing = True

    def openpyxl_sheet(self, title: str) -> WriteOnlyWorksheet:
        """Create an ordinary openpyxl write-only sheet (small content, charts)."""
        return cast(WriteOnlyWorksheet, self.workbook.create_sheet(title))

    def finish_sheet(self, sheet: FastSheet) -> None:
        """Close a fast sheet's stream (needed before another primary write; idempotent)."""
        for entry in self._fast:
            if entry.sheet is sheet and not entry.finished:
                sheet.finish(autofilter=entry.autofilter)
                if entry.spool is None:
                    entry.stream.close()
                entry.finished = True
                if entry.autofilter:
                    # The stubs omit it, openpyxl has it: it writes the _FilterDatabase name.
                    cast(Any, entry.placeholder).auto_filter.ref = sheet.dimension

    def set_active(self, index: int) -> None:
        """Which sheet the spreadsheet opens on (0-based)."""
        self.workbook.active = index

    def close(self) -> None:
        """Write every remaining part and close the archive."""
        for entry in self._fast:
            self.finish_sheet(entry.sheet)
        skeleton = io.BytesIO()
        self.workbook.save(skeleton)
        replaced = self._fast_parts(skeleton)
        with zipfile.ZipFile(skeleton) as src:
            for name, entry in replaced.items():
                if entry.spool is not None:
                    entry.spool.seek(0)
                    with self._zip.open(name, "w") as dst:
                        shutil.copyfileobj(entry.spool, dst, 1024 * 1024)
                    entry.spool.close()
            for info in src.infolist():
                if info.filename not in replaced:
                    self._zip.writestr(info.filename, src.read(info))
        self._zip.close()
        self._closed = True

    def abort(self) -> None:
        """Release everything after a failure (the caller deletes the file)."""
        for entry in self._fast:
            with contextlib.suppress(OSError, ValueError):
                entry.stream.close()
        if not self._closed:
            with contextlib.suppress(OSError, ValueError):
                self._zip.close()
            self._closed = True

    def _fast_parts(self, skeleton: io.BytesIO) -> dict[str, _FastEntry]:
        """Map each fast sheet to its part name, read from the workbook's relationships."""
        with zipfile.ZipFile(skeleton) as src:
            book = etree.fromstring(src.read("xl/workbook.xml"))
            rels = etree.fromstring(src.read("xl/_rels/workbook.xml.rels"))
        targets = {
            r.get("Id"): str(r.get("Target")) for r in rels.iter(f"{{{_PKG_REL_NS}}}Relationship")
        }
        by_title: dict[str, str] = {}
        for sheet in book.iter(f"{{{MAIN_NS}}}sheet"):
            target = targets[sheet.get(f"{{{REL_NS}}}id")].lstrip("/")
            by_title[str(sheet.get("name"))] = (
                target if target.startswith("xl/") else "xl/" + target
            )
        parts: dict[str, _FastEntry] = {}
        for entry in self._fast:
            name = by_title[entry.placeholder.title]
            if entry.spool is None and name != "xl/worksheets/sheet1.xml":
                raise RuntimeError(f"unexpected part name for the primary sheet: {name}")
            parts[name] = entry
        return parts
