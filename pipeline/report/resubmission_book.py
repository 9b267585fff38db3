"""The resubmission workbook: the rows to correct, as a template ready to deposit again.

It is the template of ``run_batch.py template`` (same Demandes columns, header comments,
drop-downs, text formats, dates as dates, Référentiel sheet) with the rows to correct
pre-filled, the business's extra columns after the canonical ones, and the reason in
the first column, :data:`~pipeline.records.RESUBMISSION_REASON_COLUMN`: the reader
recognises that column when the file is deposited again and the report never echoes
it as the business's data (a resubmission file resubmitted gets a fresh reason).

Written with openpyxl's write-only mode (rows streamed to disk), then published like
the result workbook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.contract import field_max_lengths
from pipeline.records import CANONICAL_FIELDS, RequestRow, RowOutcome, Status
from pipeline.referential import Referential, load_referential
from pipeline.report.field_help import field_comment
from pipeline.report.layout import (
    FAMILY_COLOURS,
    INPUT_HEADER_COLOUR,
    RESUBMIT_COLUMN,
    RESUBMIT_SHEET,
    RESULT_HEADER_COLOUR,
    input_widths,
)
from pipeline.report.publish import temp_path
from pipeline.report.row_view import DATE_FIELDS, as_date, french_dates
from pipeline.report.template import add_validations, print_landscape, referential_sheet
from pipeline.report.xlsx_cells import LINE_HEIGHT_PT, clean_text, line_count, looks_like_formula

REASON_HELP = (
    "MotifResoumission\nPourquoi la ligne revient et ce qu'il faut corriger. Colonne "
    "ignorée au dépôt : inutile de la vider ou de la supprimer."
)
_DATE_FORMAT = "DD/MM/YYYY"
_REASON_WIDTH = 50.0
_PRINT_PAGES_WIDE = 3  # A4 landscape; the reason and the PCE repeated on each page


def resubmission_motif(row: RequestRow, outcome: RowOutcome) -> str:
    """Why a row must be sent again, in French, one reason per line."""
    lines = [outcome.status.label]
    detail = french_dates(outcome.detail.strip())
    errors = [f for f in row.findings if f.is_error]
    if outcome.status is Status.REJET_VALIDATION and errors:
        lines.extend(f.describe() for f in errors)
    elif detail:
        lines.append(detail)
    code = f"[{outcome.code_retour}] " if outcome.code_retour else ""
    lines.extend(code + m for m in outcome.messages if m and m not in detail)
    if outcome.status is Status.ERREUR_TECHNIQUE:
        lines.append("Aucune correction nécessaire : renvoyer la ligne telle quelle.")
    if outcome.status is Status.NON_RECEVABLE:
        lines.append(
            "Corriger le PCE, le code ou le motif avant de redéposer : telle quelle, la ligne "
            "serait de nouveau non recevable."
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class _Looks:
    """The style arrays of one row colour: text, wrapped, quote-prefixed, date."""

    fill: PatternFill
    text: Any
    wrap: Any
    quote: Any
    wrap_quote: Any
    date: Any

    @classmethod
    def of(cls, sheet: Any, colour: str) -> _Looks:
        fill = PatternFill("solid", fgColor=colour)

        def style(number_format: str, wrap: bool = False, quote: bool = False) -> Any:
            cell: Any = WriteOnlyCell(sheet, None)
            cell.fill = fill
            cell.number_format = number_format
            cell.alignment = Alignment(vertical="top", wrap_text=wrap)
            cell.quotePrefix = quote
            return cell._style

        return cls(
            fill,
            style("@"),
            style("@", wrap=True),
            style("@", quote=True),
            style("@", wrap=True, quote=True),
            style(_DATE_FORMAT),
        )


class ResubmissionBook:
    """The resubmission workbook being written (created at the first row to send again)."""

    def __init__(
        self,
        output_dir: Path,
        headers: Sequence[str],
        *,
        columns: Mapping[str, int] | None = None,
        referential: Referential | None = None,
        today: date | None = None,
    ) -> None:
        self.tmp = temp_path(output_dir)
        self.today = today
        if columns is None:
            columns = {h: i for i, h in enumerate(headers) if h in CANONICAL_FIELDS}
        self.columns = dict(columns)
        mapped = set(self.columns.values())
        self.extras = [
            i for i, h in enumerate(headers) if i not in mapped and h and h != RESUBMIT_COLUMN
        ]
        self.headers = [RESUBMIT_COLUMN, *CANONICAL_FIELDS, *(headers[i] for i in self.extras)]
        self.workbook = Workbook(write_only=True)
        self.sheet: Any = self.workbook.create_sheet(RESUBMIT_SHEET)
        referential = referential or load_referential()
        source, lists = referential_sheet(referential)
        self._layout(lists)
        self._copy_referential(source)
        self.looks = {f: _Looks.of(self.sheet, c) for f, c in FAMILY_COLOURS.items()}
        self.is_date = [h in DATE_FIELDS for h in self.headers]
        self.rows = 0

    def _layout(self, lists: dict[str, str]) -> None:
        sheet = self.sheet
        widths = [_REASON_WIDTH, *input_widths(self.headers[1:])]
        for index, (header, width) in enumerate(zip(self.headers, widths, strict=True), 1):
            dimension = sheet.column_dimensions[get_column_letter(index)]
            dimension.width = width
            dimension.number_format = _DATE_FORMAT if header in DATE_FIELDS else "@"
        sheet.freeze_panes = "C2"  # the reason and the PCE stay in sight
        sheet.print_title_rows = "1:1"
        sheet.print_title_cols = "A:B"
        print_landscape(sheet, pages_wide=_PRINT_PAGES_WIDE)
        add_validations(sheet, lists, self.headers)
        lengths = field_max_lengths()
        head_fill = PatternFill("solid", fgColor=INPUT_HEADER_COLOUR)
        reason_fill = PatternFill("solid", fgColor=RESULT_HEADER_COLOUR)
        cells = []
        for header in self.headers:
            cell = WriteOnlyCell(sheet, header)
            cell.font = Font(bold=True)
            cell.fill = reason_fill if header == RESUBMIT_COLUMN else head_fill
            text = REASON_HELP if header == RESUBMIT_COLUMN else ""
            if header in CANONICAL_FIELDS:
                text = field_comment(header, lengths, self.today)
            if text:
                comment = Comment(text, "dit-batch")
                comment.width, comment.height = 320, 170
                cell.comment = comment
            cells.append(cell)
        sheet.append(cells)

    def _copy_referential(self, source: Worksheet) -> None:
        target: Any = self.workbook.create_sheet(source.title)
        for letter, dimension in source.column_dimensions.items():
            target.column_dimensions[letter].width = dimension.width
        target.freeze_panes = source.freeze_panes
        print_landscape(target, pages_wide=1)
        for row in source.iter_rows():
            out = []
            for cell in row:
                copied: Any = WriteOnlyCell(target, cast(Any, cell.value))
                if cell.has_style:
                    copied.font, copied.fill = copy(cell.font), copy(cell.fill)
                    copied.alignment = copy(cell.alignment)
                    copied.number_format = cell.number_format
                out.append(copied)
            target.append(out)

    def add(self, row: RequestRow, outcome: RowOutcome) -> None:
        cells = row.cells
        values: list[object] = [resubmission_motif(row, outcome)]
        for field in CANONICAL_FIELDS:
            index = self.columns.get(field)
            inside = index is not None and index < len(cells)
            values.append(cells[index] if index is not None and inside else row.get(field))
        values.extend(cells[i] if i < len(cells) else "" for i in self.extras)
        looks = self.looks[outcome.status.family]
        out: list[Any] = []
        for is_date, value in zip(self.is_date, values, strict=True):
            out.append(self._cell(is_date, value, looks))
        self.rows += 1
        dimension = self.sheet.row_dimensions[self.rows + 1]
        dimension.fill = looks.fill  # the empty cells of the row take its colour too
        lines = line_count(str(values[0]), int(_REASON_WIDTH) - 1)
        if lines > 1:  # spreadsheets do not size rows from wrapped text on opening
            dimension.height = LINE_HEIGHT_PT * lines
        self.sheet.append(out)

    def _cell(self, is_date: bool, value: object, looks: _Looks) -> Any:
        """One cell, its style copied from a prepared cell (openpyxl's per-attribute style
        registration would cost about 50 µs a cell)."""
        text = clean_text(str(value)) if value is not None else ""
        if not text:
            return None
        shown: Any = as_date(text) if is_date else text
        cell: Any = WriteOnlyCell(self.sheet, shown)
        if isinstance(shown, str):
            cell.data_type = "s"  # never a formula, whatever the text
            if looks_like_formula(shown):
                cell._style = copy(looks.wrap_quote if "\n" in shown else looks.quote)
            else:
                cell._style = copy(looks.wrap if "\n" in shown else looks.text)
        else:
            cell._style = copy(looks.date)
        return cell

    def finish(self) -> None:
        self.workbook.save(self.tmp)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)
