"""The resubmission workbook: the rows to send again, as input, with their reason.

The Demandes sheet has the input columns (so the file can be deposited again as
is) and :data:`~pipeline.report.layout.RESUBMIT_COLUMN`, reused when the input
already was a resubmission file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.records import RequestRow, RowOutcome, Status
from pipeline.report.layout import (
    FAMILY_COLOURS,
    INPUT_HEADER_COLOUR,
    RESUBMIT_COLUMN,
    RESUBMIT_SHEET,
    RESULT_HEADER_COLOUR,
    input_widths,
)
from pipeline.report.publish import PendingBook


def resubmission_motif(row: RequestRow, outcome: RowOutcome) -> str:
    """Why a row must be sent again, in French, one reason per line."""
    lines = [outcome.status.label]
    detail = outcome.detail.strip()
    errors = [f for f in row.findings if f.is_error]
    if outcome.status is Status.REJET_VALIDATION and errors:
        lines.extend(f.describe() for f in errors)
    elif detail:
        lines.append(detail)
    code = f"[{outcome.code_retour}] " if outcome.code_retour else ""
    lines.extend(code + m for m in outcome.messages if m and m not in detail)
    if outcome.status is Status.ERREUR_TECHNIQUE:
        lines.append("Aucune correction nécessaire : renvoyer la ligne telle quelle.")
    return "\n".join(lines)


class ResubmissionBook(PendingBook):
    """The resubmission workbook being written (created at the first row to send again)."""

    def __init__(self, output_dir: Path, headers: Sequence[str]) -> None:
        super().__init__(output_dir)
        columns = list(headers)
        self.n_input = len(columns)
        if RESUBMIT_COLUMN in columns:  # a resubmission file resubmitted: reuse its column
            self.motif_index = columns.index(RESUBMIT_COLUMN)
        else:
            self.motif_index = len(columns)
            columns.append(RESUBMIT_COLUMN)
        self.width = len(columns)
        widths = input_widths(columns)
        widths[self.motif_index] = 60.0
        self.sheet = self.book.fast_sheet(RESUBMIT_SHEET, widths, primary=True, selected=True)
        self.family = self.family_styles(FAMILY_COLOURS)
        head = self.book.style_set(fill=INPUT_HEADER_COLOUR, bold=True, vertical="center")
        motif_head = self.book.style_set(fill=RESULT_HEADER_COLOUR, bold=True, vertical="center")
        head_styles = [head] * self.width
        head_styles[self.motif_index] = motif_head
        self.sheet.write_row(columns, head_styles)

    def add(self, row: RequestRow, outcome: RowOutcome) -> None:
        values = list(row.cells[: self.n_input])
        values.extend([""] * (self.n_input - len(values)))
        motif = resubmission_motif(row, outcome)
        if self.motif_index < self.n_input:
            values[self.motif_index] = motif
        else:
            values.append(motif)
        style, fill = self.family[outcome.status.family]
        self.sheet.write_row(values, style, row_fill=fill)

    def finish(self) -> None:
        self.book.close()
