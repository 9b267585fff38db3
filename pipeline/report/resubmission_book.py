"""The resubmission workbook: the rows to correct, as a template ready to deposit again.

It is the template of ``run_batch.py template`` (same Demandes columns, header comments,
drop-downs, text formats, dates as dates, Référentiel sheet) with the rows to correct
pre-filled, the business's extra columns after the canonical ones, and the reason in
the first column, :data:`~pipeline.records.RESUBMISSION_REASON_COLUMN`: the reader
recognises that column when the file is deposited again and the report never echoes
it as the business's data (a resubmission file resubmitted gets a fresh reason).

The Demandes rows are streamed (:class:`~pipeline.report.xlsx_sheet.FastSheet`, as the
Résultats sheet), the drop-downs written as its ``<dataValidations>`` and the header
comments by openpyxl for the placeholder sheet; the Référentiel sheet is openpyxl's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import copy
from datetime import date
from pathlib import Path
from typing import Any, cast

from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet.datavalidation import DataValidation, DataValidationList
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.functions import tostring

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
from pipeline.report.publish import PendingBook
from pipeline.report.row_view import DATE_FIELDS, as_date, french_dates
from pipeline.report.template import add_validations, print_landscape, referential_sheet

REASON_HELP = (
    "MotifResoumission\nPourquoi la ligne revient et ce qu'il faut corriger. Colonne "
    "ignorée au dépôt : inutile de la vider ou de la supprimer."
)
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


class ResubmissionBook(PendingBook):
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
        super().__init__(output_dir)
        if columns is None:
            columns = {h: i for i, h in enumerate(headers) if h in CANONICAL_FIELDS}
        self.columns = dict(columns)
        mapped = set(self.columns.values())
        self.extras = [
            i for i, h in enumerate(headers) if i not in mapped and h and h != RESUBMIT_COLUMN
        ]
        self.headers = [RESUBMIT_COLUMN, *CANONICAL_FIELDS, *(headers[i] for i in self.extras)]
        book = self.book
        widths = [_REASON_WIDTH, *input_widths(self.headers[1:])]
        self.sheet = book.fast_sheet(
            RESUBMIT_SHEET,
            widths,
            primary=True,
            selected=True,
            printable=True,
            freeze_columns=2,  # the reason and the PCE stay in sight
            print_columns=2,
            pages_wide=_PRINT_PAGES_WIDE,
        )
        self.looks = {
            f: book.style_set(fill=c, number_format="@") for f, c in FAMILY_COLOURS.items()
        }
        # Typed over an empty cell, a value keeps the column's format: text, or a date.
        blank = book.style_set(number_format="@")
        self.sheet.column_styles = [
            blank.date if h in DATE_FIELDS else blank.plain for h in self.headers
        ]
        head = book.style_set(fill=INPUT_HEADER_COLOUR, bold=True, vertical="center")
        reason_head = book.style_set(fill=RESULT_HEADER_COLOUR, bold=True, vertical="center")
        self.sheet.write_row(self.headers, [reason_head] + [head] * (len(self.headers) - 1))
        lengths = field_max_lengths()
        book.comment_header(
            self.sheet,
            [
                REASON_HELP
                if h == RESUBMIT_COLUMN
                else field_comment(h, lengths, today)
                if h in CANONICAL_FIELDS
                else ""
                for h in self.headers
            ],
        )
        referential = referential or load_referential()
        source, lists = referential_sheet(referential)
        holder = _Validations()
        add_validations(holder, lists, self.headers)
        self.sheet.validations_xml = holder.xml()
        self._copy_referential(source)
        self.date_columns = [i for i, h in enumerate(self.headers) if h in DATE_FIELDS]

    def _copy_referential(self, source: Worksheet) -> None:
        target: Any = self.book.openpyxl_sheet(source.title)
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
        values: list[str | date] = [resubmission_motif(row, outcome)]
        for field in CANONICAL_FIELDS:
            index = self.columns.get(field)
            inside = index is not None and index < len(cells)
            values.append(cells[index] if index is not None and inside else row.get(field))
        values.extend(cells[i] if i < len(cells) else "" for i in self.extras)
        for i in self.date_columns:
            value = values[i]
            if isinstance(value, str):
                values[i] = as_date(value)
        style = self.looks[outcome.status.family]
        self.sheet.write_row(values, style, row_fill=style.plain)

    def finish(self) -> None:
        self.book.close()


class _Validations:
    """Collects the template's drop-downs, then writes them as a <dataValidations> element."""

    def __init__(self) -> None:
        self.data_validations: list[DataValidation] = []

    def xml(self) -> str:
        if not self.data_validations:
            return ""
        listed = DataValidationList(dataValidation=self.data_validations)
        xml: Any = tostring(listed.to_tree())
        return xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)
