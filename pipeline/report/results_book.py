"""The result workbook: the Résultats and Anomalies sheets, streamed, then the Synthèse.

Each (row, outcome) pair becomes one Résultats row (outcome first: line, status, result,
what to do, the appointment obtained; then the input cells; then OMEGA's technical
columns; cells from :mod:`pipeline.report.row_view`) and one Anomalies row per finding;
the counts the Synthèse sheet needs are kept on the way
(:mod:`pipeline.report.summary_sheet` writes it last).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.records import CANONICAL_FIELDS, Finding, RequestRow, RowOutcome, Severity, Status
from pipeline.referential import Referential
from pipeline.report.layout import (
    ANOMALIES_SHEET,
    ANOMALY_COLUMNS,
    ANOMALY_WIDTHS,
    APPOINTMENT_COLUMNS,
    APPOINTMENT_WIDTHS,
    FAMILY_COLOURS,
    INPUT_HEADER_COLOUR,
    MOVED_COLOUR,
    OUTCOME_COLUMNS,
    OUTCOME_WIDTHS,
    RESUBMIT_COLUMN,
    RESULT_HEADER_COLOUR,
    RESULTS_PRINT_COLUMNS,
    RESULTS_PRINT_SCALE,
    RESULTS_SHEET,
    SEVERITY_COLOURS,
    SUMMARY_SHEET,
    TECHNICAL_COLUMNS,
    TECHNICAL_WIDTHS,
    fit_headers,
    input_widths,
    result_headers,
)
from pipeline.report.publish import PendingBook
from pipeline.report.row_view import (
    DATE_FIELDS,
    CodeWords,
    as_date,
    as_stamp,
    date_cells,
    moved_appointment,
    result_text,
    row_action,
    with_words,
)
from pipeline.report.summary_sheet import ResultCounts, RunInfo, SummarySheet
from pipeline.report.xlsx_cells import StyleSet


def input_fields(headers: Sequence[str], columns: Mapping[str, int] | None) -> dict[str, int]:
    """Canonical field -> input column index: the reader's match, or exact header names."""
    if columns is not None:
        return dict(columns)
    return {h: i for i, h in enumerate(headers) if h in CANONICAL_FIELDS}


class ResultsBook(PendingBook):
    """The result workbook being written; the Synthèse counts are kept on the way."""

    def __init__(
        self,
        output_dir: Path,
        headers: Sequence[str],
        file_findings: Sequence[Finding],
        *,
        columns: Mapping[str, int] | None = None,
        referential: Referential | None = None,
    ) -> None:
        super().__init__(output_dir)
        # The reason column of a resubmission file deposited again is not the business's.
        self.keep = [i for i, h in enumerate(headers) if h != RESUBMIT_COLUMN]
        shown = [headers[i] for i in self.keep]
        fields = input_fields(headers, columns)
        position = {index: n for n, index in enumerate(self.keep)}
        self.date_indexes = [position[fields[f]] for f in DATE_FIELDS if f in fields]
        self.width = len(headers)
        self.words = CodeWords.of(referential)
        self.status_counts: Counter[Status] = Counter()
        self.code_counts: Counter[str] = Counter()
        self.rule_counts: Counter[tuple[str, Severity]] = Counter()
        self.moved = 0
        self.rows = 0
        book = self.book
        widths = [
            *fit_headers(OUTCOME_WIDTHS, OUTCOME_COLUMNS),
            *fit_headers(APPOINTMENT_WIDTHS, APPOINTMENT_COLUMNS),
            *input_widths(shown),
            *fit_headers(TECHNICAL_WIDTHS, TECHNICAL_COLUMNS),
        ]
        self.results = book.fast_sheet(
            RESULTS_SHEET,
            widths,
            primary=True,
            selected=True,
            printable=True,
            freeze_columns=len(OUTCOME_COLUMNS),
            print_scale=RESULTS_PRINT_SCALE,
            print_columns=RESULTS_PRINT_COLUMNS,
        )
        self.summary = book.openpyxl_sheet(SUMMARY_SHEET)
        self.anomalies = book.fast_sheet(
            ANOMALIES_SHEET, fit_headers(ANOMALY_WIDTHS, ANOMALY_COLUMNS), printable=True
        )
        self.family = self.family_styles(FAMILY_COLOURS)
        moved = book.style_set(fill=MOVED_COLOUR)
        self.moved_style = (moved, moved.plain)
        self.severity = {s: book.style_set(fill=c) for s, c in SEVERITY_COLOURS.items()}
        input_head = book.style_set(fill=INPUT_HEADER_COLOUR, bold=True, vertical="center")
        result_head = book.style_set(fill=RESULT_HEADER_COLOUR, bold=True, vertical="center")
        self.head_styles = (
            [result_head] * (len(OUTCOME_COLUMNS) + len(APPOINTMENT_COLUMNS))
            + [input_head] * len(shown)
            + [result_head] * len(TECHNICAL_COLUMNS)
        )
        header = result_headers(shown)
        self.row_width = len(header)
        self.anomalies_column = header.index("Anomalies", len(header) - len(TECHNICAL_COLUMNS))
        self.results.write_row(header, self.head_styles)
        self.anomalies.write_row(list(ANOMALY_COLUMNS), result_head)
        for finding in file_findings:  # file-level findings first, then the rows' ones
            self._anomaly(finding, None, "")

    def add(self, row: RequestRow, outcome: RowOutcome) -> None:
        self.rows += 1
        status = outcome.status
        self.status_counts[status] += 1
        self.code_counts[outcome.code_retour] += 1
        cells = row.cells[: self.width]
        if len(cells) < self.width:
            cells = cells + ("",) * (self.width - len(cells))
        if len(self.keep) != self.width:
            cells = tuple(cells[i] for i in self.keep)
        moved = moved_appointment(row, outcome)
        if moved:
            self.moved += 1
            style, fill = self.moved_style
        else:
            style, fill = self.family[status.family]
        words = self.words
        styles: StyleSet | list[StyleSet] = style
        if row.findings and not row.has_errors:  # warnings only: their cell in their colour
            styles = [style] * self.row_width
            styles[self.anomalies_column] = self.severity[Severity.WARNING]
        self.results.write_row(
            [
                row.line,
                status.value,
                result_text(row, outcome, words),
                row_action(outcome, moved),
                outcome.numero_demande,
                as_date(outcome.date_rdv),
                outcome.plage_rdv,
                outcome.heure_min,
                outcome.heure_max,
                moved,
                *date_cells(cells, self.date_indexes),
                with_words(outcome.type_retour, words.dialogue.get(outcome.type_retour, "")),
                with_words(outcome.code_retour, words.code_retour.get(outcome.code_retour, "")),
                words.messages(outcome.messages),
                outcome.attempts,
                with_words(
                    outcome.presence_client, words.presence.get(outcome.presence_client, "")
                ),
                "\n".join(f.describe() for f in row.findings),
                as_stamp(outcome.processed_at),
            ],
            styles,
            row_fill=fill,
        )
        for finding in row.findings:
            self._anomaly(finding, row.line, row.get("ReferenceDemande"))

    def _anomaly(self, finding: Finding, line: int | None, reference: str) -> None:
        self.rule_counts[(finding.rule, finding.severity)] += 1
        style = self.severity[finding.severity]
        number = finding.line if finding.line is not None else line
        self.anomalies.write_row(
            [
                number,
                reference,
                finding.field,
                finding.value,
                finding.rule,
                finding.severity.value,
                finding.message,
            ],
            style,
            row_fill=style.plain,
        )

    def finish(self, run: RunInfo, file_findings: Sequence[Finding]) -> None:
        self.book.finish_sheet(self.results)
        counts = ResultCounts(
            self.rows, self.status_counts, self.code_counts, self.rule_counts, self.moved
        )
        SummarySheet(self.summary, counts, run, file_findings).write()
        if self.rows == 0 and any(f.is_error for f in file_findings):
            self.book.set_active(1)  # nothing to show on Résultats: open on the explanation
        self.book.close()
