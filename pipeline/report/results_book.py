"""The result workbook: the Résultats and Anomalies sheets, streamed, then the Synthèse.

Each (row, outcome) pair becomes one Résultats row (the input cells, then the
result columns) and one Anomalies row per finding; the counts the Synthèse sheet
needs are kept on the way (:mod:`pipeline.report.summary_sheet` writes it last).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pipeline.records import Finding, RequestRow, RowOutcome, Severity, Status
from pipeline.report.layout import (
    ANOMALIES_SHEET,
    ANOMALY_COLUMNS,
    ANOMALY_WIDTHS,
    FAMILY_COLOURS,
    INPUT_HEADER_COLOUR,
    RESULT_COLUMNS,
    RESULT_HEADER_COLOUR,
    RESULT_WIDTHS,
    RESULTS_SHEET,
    SEVERITY_COLOURS,
    SUMMARY_SHEET,
    fit_headers,
    input_widths,
)
from pipeline.report.publish import PendingBook
from pipeline.report.summary_sheet import ResultCounts, RunInfo, SummarySheet


def result_text(row: RequestRow, outcome: RowOutcome) -> str:
    """The Résultat cell: the status label, then the outcome's explanation on its own line.

    The explanation (``RowOutcome.detail``) is left out for a rejected row whose
    findings already say why (they are in the Anomalies column).
    """
    label = outcome.status.label
    detail = outcome.detail.strip()
    if not detail or detail == label:
        return label
    if outcome.status is Status.REJET_VALIDATION and row.findings:
        return label
    return f"{label}\n{detail}"


class ResultsBook(PendingBook):
    """The result workbook being written; the Synthèse counts are kept on the way."""

    def __init__(
        self, output_dir: Path, headers: Sequence[str], file_findings: Sequence[Finding]
    ) -> None:
        super().__init__(output_dir)
        self.width = len(headers)
        self.status_counts: Counter[Status] = Counter()
        self.code_counts: Counter[str] = Counter()
        self.rule_counts: Counter[tuple[str, Severity]] = Counter()
        self.rows = 0
        book = self.book
        result_widths = fit_headers(RESULT_WIDTHS, RESULT_COLUMNS)
        self.results = book.fast_sheet(
            RESULTS_SHEET,
            [*input_widths(headers), *result_widths],
            primary=True,
            selected=True,
            printable=True,
        )
        self.summary = book.openpyxl_sheet(SUMMARY_SHEET)
        self.anomalies = book.fast_sheet(
            ANOMALIES_SHEET, fit_headers(ANOMALY_WIDTHS, ANOMALY_COLUMNS), printable=True
        )
        self.family = self.family_styles(FAMILY_COLOURS)
        self.severity = {s: book.style_set(fill=c) for s, c in SEVERITY_COLOURS.items()}
        input_head = book.style_set(fill=INPUT_HEADER_COLOUR, bold=True, vertical="center")
        result_head = book.style_set(fill=RESULT_HEADER_COLOUR, bold=True, vertical="center")
        self.results.write_row(
            [*headers, *RESULT_COLUMNS],
            [input_head] * len(headers) + [result_head] * len(RESULT_COLUMNS),
        )
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
        style, fill = self.family[status.family]
        self.results.write_row(
            [
                *cells,
                status.value,
                result_text(row, outcome),
                outcome.type_retour,
                outcome.code_retour,
                "\n".join(outcome.messages),
                outcome.numero_demande,
                outcome.date_rdv,
                outcome.plage_rdv,
                outcome.heure_min,
                outcome.heure_max,
                outcome.presence_client,
                "\n".join(f.describe() for f in row.findings),
                outcome.attempts,
                outcome.processed_at,
            ],
            style,
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
        counts = ResultCounts(self.rows, self.status_counts, self.code_counts, self.rule_counts)
        SummarySheet(self.summary, counts, run, file_findings).write()
        if self.rows == 0 and any(f.is_error for f in file_findings):
            self.book.set_active(1)  # nothing to show on Résultats: open on the explanation
        self.book.close()
