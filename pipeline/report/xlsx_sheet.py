"""The streamed worksheet: rows written as raw SpreadsheetML, straight to a byte stream.

:class:`FastSheet` renders each row itself (inline strings, as openpyxl's write-only
mode does, about ten times faster) and writes rows in chunks; the cell helpers it
relies on (cleaning, escaping, row heights) are in :mod:`pipeline.report.xlsx_cells`.
:class:`pipeline.report.xlsx_stream.StreamingBook` creates the sheets and puts them in
the workbook package.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import IO

from openpyxl.utils import get_column_letter

from pipeline.report.xlsx_cells import (
    CARE_FIRST,
    MAX_CELL_CHARS,
    MAX_ROW_LINES,
    ROW_HEIGHTS,
    SPACES,
    SPECIAL,
    StyleSet,
    excel_serial,
    string_cell,
)

CellValue = str | int | float | date | None

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CHUNK_ROWS = 256
PAPER_A4 = 9  # the pageSetup paperSize code of A4


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
        freeze_columns: int = 0,
        print_scale: int | None = None,
        pages_wide: int = 1,
        column_styles: Sequence[int] | None = None,
    ) -> None:
        self._out = stream
        self._letters = [get_column_letter(i) for i in range(1, len(widths) + 1)]
        self._wrap_at = [max(int(w) - 1, 8) for w in widths]
        self._pending: list[str] = []
        self.rows = 0
        self.printable = printable
        self.print_scale = print_scale
        self.pages_wide = pages_wide
        self.validations_xml = ""  # <dataValidations> of the sheet, when it has drop-downs
        self.legacy_drawing = False  # the header's comments (parts written by openpyxl)
        fit = ' fitToPage="1"' if printable and print_scale is None else ""
        head = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
            f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">',
            f'<sheetPr><outlinePr summaryBelow="1" summaryRight="1"/><pageSetUpPr{fit}/></sheetPr>',
            '<sheetViews><sheetView workbookViewId="0"',
            ' tabSelected="1">' if selected else ">",
        ]
        if freeze_header and freeze_columns:
            corner = f"{self._letters[freeze_columns]}2"
            head.append(
                f'<pane xSplit="{freeze_columns}" ySplit="1" topLeftCell="{corner}"'
                ' activePane="bottomRight" state="frozen"/>'
                f'<selection pane="topRight"/><selection pane="bottomLeft"/>'
                f'<selection pane="bottomRight" activeCell="{corner}" sqref="{corner}"/>'
            )
        elif freeze_header:
            head.append(
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            )
        head.append(
            '</sheetView></sheetViews><sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
        )
        self._head = head
        self._widths = list(widths)
        # Style id per column (empty cells typed over later take it); may be set until
        # the first row is written, which writes the sheet's head.
        self.column_styles: Sequence[int] = column_styles or [0] * len(widths)

    def _start(self) -> None:
        head = self._head
        if self._widths:
            head.append("<cols>")
            head.extend(
                f'<col min="{i}" max="{i}" width="{w:.1f}"'
                + (f' style="{s}"' if s else "")
                + ' customWidth="1"/>'
                for i, (w, s) in enumerate(zip(self._widths, self.column_styles, strict=True), 1)
            )
            head.append("</cols>")
        head.append("<sheetData>")
        self._out.write("".join(head).encode("utf-8"))
        self._head = []

    @property
    def last_column(self) -> str:
        return self._letters[-1] if self._letters else "A"

    @property
    def dimension(self) -> str:
        """The used range, e.g. ``A1:AJ101`` (``A1:A1`` when empty)."""
        return f"A1:{self.last_column}{max(self.rows, 1)}"

    def write_row(
        self,
        values: Sequence[CellValue],
        styles: StyleSet | Sequence[StyleSet],
        *,
        row_fill: int | None = None,
    ) -> None:
        """Append one row; ``styles`` is one StyleSet for every cell or one per column."""
        if self._head:
            self._start()
        self.rows += 1
        r = str(self.rows)
        parts = [""]  # the row's tag, once its height is known
        if isinstance(styles, StyleSet):
            lines = self._cells(parts, r, values, styles)
        else:
            lines = 1
            for i, style in enumerate(styles):
                lines = max(lines, self._cells(parts, r, values[i : i + 1], style, first=i))
        height = ROW_HEIGHTS[lines if lines <= MAX_ROW_LINES else MAX_ROW_LINES]
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
        values: Sequence[CellValue],
        style: StyleSet,
        first: int = 0,
    ) -> int:
        """Render cells and return the most lines one of them shows (the hot path: keep it lean)."""
        lines = 1
        plain, wrap = style.plain, style.wrap
        special = SPECIAL.search
        care_first, care_last = CARE_FIRST, SPACES
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
                    xml, n = string_cell(letter + r, value, style, limit)
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
                    xml, n = string_cell(letter + r, str.__str__(value), style, limit)
                    parts.append(xml)
                    lines = max(lines, n)
            elif isinstance(value, date):  # a real date (or date-time) cell
                s = style.stamp if isinstance(value, datetime) else style.date
                parts.append(
                    f'<c r="{letter}{r}" s="{s or plain}"><v>{excel_serial(value)}</v></c>'
                )
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
        if self._head:
            self._start()
        self._flush()
        tail = ["</sheetData>"]
        if autofilter:
            tail.append(f'<autoFilter ref="{self.dimension}"/>')
        tail.append(self.validations_xml)
        tail.append(
            '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
        )
        if self.printable and self.print_scale is not None:
            tail.append(
                f'<pageSetup paperSize="{PAPER_A4}" scale="{self.print_scale}"'
                ' orientation="landscape"/>'
            )
        elif self.printable:
            tail.append(
                f'<pageSetup paperSize="{PAPER_A4}" orientation="landscape"'
                f' fitToWidth="{self.pages_wide}" fitToHeight="0"/>'
            )
        if ignore_number_as_text:
            tail.append(
                f'<ignoredErrors><ignoredError sqref="{self.dimension}" numberStoredAsText="1"/>'
                "</ignoredErrors>"
            )
        if self.legacy_drawing:  # openpyxl names the comments' VML part "anysvml"
            tail.append('<legacyDrawing r:id="anysvml"/>')
        tail.append("</worksheet>")
        self._out.write("".join(tail).encode("utf-8"))
