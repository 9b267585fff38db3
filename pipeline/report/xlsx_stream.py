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

Every string goes through :func:`clean_text`: characters XML 1.0 forbids become a
visible U+FFFD, and text longer than a cell can hold is cut with a marker. Strings
are always stored as text (``t="inlineStr"``); those that a spreadsheet would
read as a formula when edited (leading ``= + - @``, tab, CR) also get the
``quotePrefix`` style, so re-typing the cell keeps it text.

Spreadsheets do not size rows from their wrapped text when they open a file (LibreOffice
let multi-line cells spill over the next rows): each row that needs more than one line
gets an explicit height, from its tallest cell's line count (line breaks, then the text
cut at about the column width in characters), capped at :data:`MAX_ROW_LINES` lines.
"""

from __future__ import annotations

import contextlib
import io
import re
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
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
TRUNCATION_MARK = "… [tronqué]"
ILLEGAL_MARK = "\ufffd"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Characters XML 1.0 cannot hold (C0 controls but tab/LF/CR, surrogates, U+FFFE/F).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text that needs a second look: characters to clean or escape, line breaks (wrap), a
# formula trigger or a space at the start, a space at the end (kept with xml:space).
_SPECIAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff&<>\r\n]")
_SPACES = frozenset(c for c in map(chr, range(0x3001)) if c.isspace())
_CARE_FIRST = _SPACES | frozenset("=+-@")

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CHUNK_ROWS = 256
LINE_HEIGHT_PT = 15.0  # one line of the default font (Calibri 11), as Excel sizes it
MAX_ROW_LINES = 15  # taller rows are capped (the cell still holds everything)
PAPER_A4 = 9  # the pageSetup paperSize code of A4
# The <row> attributes for a row of n lines (n = 0 or 1: the default height).
_ROW_HEIGHTS = tuple(
    f' ht="{n * LINE_HEIGHT_PT:g}" customHeight="1"' if n > 1 else ""
    for n in range(MAX_ROW_LINES + 1)
)


def clean_text(value: str) -> str:
    """The text a cell can hold: illegal XML characters replaced, over-long text cut."""
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub(ILLEGAL_MARK, value)
    if len(value) > MAX_CELL_CHARS:
        value = value[: MAX_CELL_CHARS - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    return value


def looks_like_formula(value: str) -> bool:
    """True when a spreadsheet would take this text for a formula if it were typed in."""
    return value.startswith(FORMULA_TRIGGERS)


def line_count(value: str, per_line: int) -> int:
    """Lines a wrapped cell shows: each line break starts a line, long lines wrap.

    ``per_line`` is the number of characters that fit on a line (about the column
    width); the count stops growing at :data:`MAX_ROW_LINES`.
    """
    if len(value) <= per_line:  # no line wraps: one line per line break
        return min(value.count("\n") + 1, MAX_ROW_LINES)
    if "\n" not in value:
        return min((len(value) - 1) // per_line + 1, MAX_ROW_LINES)
    lines = 0
    for part in value.split("\n"):
        lines += -(-len(part) // per_line) or 1
        if lines >= MAX_ROW_LINES:
            return MAX_ROW_LINES
    return lines


def _string_cell(ref: str, value: str, style: StyleSet, wrap_at: int) -> tuple[str, int]:
    """One text cell, with everything that needs care: cleaning, escaping, quote, spaces.

    Returns the cell's XML and the number of lines it shows.
    """
    value = clean_text(value)
    wrap = "\n" in value or len(value) > wrap_at
    if value.startswith(FORMULA_TRIGGERS):
        s = style.wrap_quote if wrap else style.quote
    else:
        s = style.wrap if wrap else style.plain
    space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
    xml = f'<c r="{ref}" s="{s}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>'
    return xml, line_count(value, wrap_at) if wrap else 1


def _xml_text(value: str) -> str:
    """Escape already-cleaned text for element content (CR kept as a character reference)."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


@dataclass(frozen=True, slots=True)
class StyleSet:
    """Style ids of one look in its four variants (wrapped text, quote prefix, both)."""

    plain: int
    wrap: int
    quote: int
    wrap_quote: int


class FastSheet:
    """A worksheet whose rows are written as raw SpreadsheetML, in order, one call per row.

    Strings are text cells; ints and floats are numbers; None and '' leave the cell
    empty. A string is wrapped when it holds a line break or is longer than its
    column is wide; a row with wrapped text gets the height of its tallest cell
    (:func:`line_count` lines of :data:`LINE_HEIGHT_PT`, at most :data:`MAX_ROW_LINES`).
    ``row_fill`` (a style id) colours the empty cells of the row too. ``printable``:
    printed on A4 landscape, scaled to one page wide (as many pages down as needed);
    the header row is repeated on every page by the workbook's ``Print_Titles`` name,
    which :meth:`StreamingBook.fast_sheet` sets.
    """

    def __init__(
        self,
        stream: IO[bytes],
        widths: Sequence[float],
        *,
        selected: bool,
        freeze_header: bool,
        printable: bool = False,
    ) -> None:
        self._out = stream
        self._letters = [get_column_letter(i) for i in range(1, len(widths) + 1)]
        self._wrap_at = [max(int(w) - 1, 8) for w in widths]
        self._pending: list[str] = []
        self.rows = 0
        self.printable = printable
        fit = ' fitToPage="1"' if printable else ""
        head = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
            f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">',
            f'<sheetPr><outlinePr summaryBelow="1" summaryRight="1"/><pageSetUpPr{fit}/></sheetPr>',
            '<sheetViews><sheetView workbookViewId="0"',
            ' tabSelected="1">' if selected else ">",
        ]
        if freeze_header:
            head.append(
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            )
        head.append(
            '</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
        )
        if widths:
            head.append("<cols>")
            head.extend(
                f'<col min="{i}" max="{i}" width="{w:.1f}" customWidth="1"/>'
                for i, w in enumerate(widths, 1)
            )
            head.append("</cols>")
        head.append("<sheetData>")
        self._out.write("".join(head).encode("utf-8"))

    @property
    def last_column(self) -> str:
        return self._letters[-1] if self._letters else "A"

    @property
    def dimension(self) -> str:
        """The used range, e.g. ``A1:AJ101`` (``A1:A1`` when empty)."""
        return f"A1:{self.last_column}{max(self.rows, 1)}"

    def write_row(
        self,
        values: Sequence[str | int | float | None],
        styles: StyleSet | Sequence[StyleSet],
        *,
        row_fill: int | None = None,
    ) -> None:
        """Append one row; ``styles`` is one StyleSet for every cell or one per column."""
        self.rows += 1
        r = str(self.rows)
        parts = [""]  # the row's tag, once its height is known
        if isinstance(styles, StyleSet):
            lines = self._cells(parts, r, values, styles)
        else:
            lines = 1
            for i, style in enumerate(styles):
                lines = max(lines, self._cells(parts, r, values[i : i + 1], style, first=i))
        height = _ROW_HEIGHTS[lines if lines <= MAX_ROW_LINES else MAX_ROW_LINES]
        if row_fill:
            parts[0] = f'<row r="{r}" s="{row_fill}" customFormat="1"{height}>'
        else:
            parts[0] = f'<row r="{r}"{height}>'
        parts.append("</row>")
        self._pending.append("".join(parts))
        if len(self._pending) >= _CHUNK_ROWS:
            self._flush()

    def _cells(
        self,
        parts: list[str],
        r: str,
        values: Sequence[str | int | float | None],
        style: StyleSet,
        first: int = 0,
    ) -> int:
        """Render cells and return the most lines one of them shows (the hot path: keep it lean)."""
        lines = 1
        plain, wrap = style.plain, style.wrap
        special = _SPECIAL.search
        care_first, care_last = _CARE_FIRST, _SPACES
        columns = zip(self._letters[first:], self._wrap_at[first:], values, strict=False)
        for letter, limit, value in columns:
            if type(value) is str:
                if not value:
                    continue
                if (
                    value[0] in care_first
                    or value[-1] in care_last
                    or special(value)
                    or len(value) > MAX_CELL_CHARS
                ):
                    xml, n = _string_cell(letter + r, value, style, limit)
                    parts.append(xml)
                    if n > lines:
                        lines = n
                    continue
                # the common case: nothing to clean, escape, quote or preserve
                if len(value) <= limit:
                    s = plain
                else:
                    s = wrap
                    n = (len(value) - 1) // limit + 1  # capped by write_row
                    if n > lines:
                        lines = n
                parts.append(
                    f'<c r="{letter}{r}" s="{s}" t="inlineStr"><is><t>{value}</t></is></c>'
                )
            elif value is None:
                continue
            elif isinstance(value, str):  # a str subclass (StrEnum): its plain text
                if value:
                    xml, n = _string_cell(letter + r, str.__str__(value), style, limit)
                    parts.append(xml)
                    lines = max(lines, n)
            else:
                number = int(value) if isinstance(value, bool) else value
                parts.append(f'<c r="{letter}{r}" s="{plain}"><v>{number!r}</v></c>')
        return lines

    def _flush(self) -> None:
        if self._pending:
            self._out.write("".join(self._pending).encode("utf-8"))
            self._pending.clear()

    def finish(self, *, autofilter: bool, ignore_number_as_text: bool = True) -> None:
        """Write the sheet's tail (autofilter over the used range) and close the stream."""
        self._flush()
        tail = ["</sheetData>"]
        if autofilter:
            tail.append(f'<autoFilter ref="{self.dimension}"/>')
        tail.append(
            '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        )
        if self.printable:
            tail.append(
                f'<pageSetup paperSize="{PAPER_A4}" orientation="landscape"'
                ' fitToWidth="1" fitToHeight="0"/>'
            )
        if ignore_number_as_text:
            tail.append(
                f'<ignoredErrors><ignoredError sqref="{self.dimension}" numberStoredAsText="1"/>'
                "</ignoredErrors>"
            )
        tail.append("</worksheet>")
        self._out.write("".join(tail).encode("utf-8"))


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
    ) -> StyleSet:
        """Register a look (fill colour as RRGGBB) and return the ids of its variants."""
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
                ids.append(cell.style_id)
        return StyleSet(plain=ids[0], quote=ids[1], wrap=ids[2], wrap_quote=ids[3])

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
    ) -> FastSheet:
        """Create a streamed sheet (``primary``: the first sheet, written straight to disk).

        ``printable``: A4 landscape, one page wide, the first row repeated on each page.
        """
        placeholder = cast(WriteOnlyWorksheet, self.workbook.create_sheet(title))
        if printable:
            placeholder.print_title_rows = "1:1"  # the Print_Titles defined name
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
            stream, widths, selected=selected, freeze_header=freeze_header, printable=printable
        )
        self._fast.append(_FastEntry(sheet, stream, placeholder, spool, autofilter))
        return sheet

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
        for sheet in book.iter(f"{{{_MAIN_NS}}}sheet"):
            target = targets[sheet.get(f"{{{_REL_NS}}}id")].lstrip("/")
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
