"""The Synthèse sheet: the run, counts per status and per CodeRetour, legend, chart.

It is written last, from what the Résultats and Anomalies sheets counted while
streaming (:class:`ResultCounts`), on an ordinary openpyxl write-only sheet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pipeline.records import Family, Finding, Severity, Status
from pipeline.referential import Referential
from pipeline.report.layout import (
    FAMILY_ADVICE,
    FAMILY_COLOURS,
    MOVED_ADVICE,
    MOVED_COLOUR,
    MOVED_LABEL,
    SEVERITY_COLOURS,
    STATUS_ADVICE,
    WARNING_COLOUR,
)
from pipeline.report.xlsx_cells import clean_text, looks_like_formula
from pipeline.report.xlsx_sheet import PAPER_A4

_CHART_ROWS = 20  # blank rows left under the status table for the chart


@dataclass(frozen=True)
class RunInfo:
    """What the Synthèse sheet says about the run that processed one file."""

    file_name: str
    sha256: str
    started_at: datetime
    finished_at: datetime
    endpoint: str
    version: str
    dry_run: bool
    # Where the words of OMEGA's codes and the resubmission template's lists come from
    # (None: the shipped referential).
    referential: Referential | None = None


@dataclass(frozen=True)
class ResultCounts:
    """What the Résultats and Anomalies sheets counted while streaming."""

    rows: int
    status_counts: Counter[Status]
    code_counts: Counter[str]
    rule_counts: Counter[tuple[str, Severity]]
    moved: int = 0  # RDV_PROGRAMME rows whose appointment is not the one requested


def public_endpoint(url: str) -> str:
    """The endpoint without user information or query string (never show credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(adresse illisible)"
    if not parts.scheme:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_Value = str | int | float | datetime | None


def _text(value: str) -> str:
    return clean_text(value)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "moins d'une seconde"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _local(moment: datetime) -> datetime:
    """Spreadsheets have no time zones: show an aware time in the machine's local time."""
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


class SummarySheet:
    """The Synthèse sheet: the run, counts per status and per CodeRetour, legend, chart."""

    def __init__(
        self,
        ws: WriteOnlyWorksheet,
        counts: ResultCounts,
        run: RunInfo,
        file_findings: Sequence[Finding],
    ) -> None:
        self.r = counts
        self.run = run
        self.file_findings = file_findings
        self.ws = ws
        self.row = 0

    def cell(self, value: _Value, *, bold: bool = False, fill: str | None = None) -> Cell:
        if isinstance(value, str):
            value = _text(value)
        c = WriteOnlyCell(self.ws, value)
        if isinstance(value, str):
            c.data_type = "s"  # never a formula, whatever the text
            if looks_like_formula(value):
                c.quotePrefix = True
        if isinstance(value, datetime):
            c.number_format = "DD/MM/YYYY HH:MM:SS"
        if bold:
            c.font = Font(bold=True)
        if fill:
            c.fill = PatternFill("solid", fgColor=fill)
        c.alignment = Alignment(vertical="top")
        return c

    def append(self, *cells: _Value, bold: bool = False, fill: str | None = None) -> int:
        self.ws.append([self.cell(v, bold=bold, fill=fill) for v in cells])
        self.row += 1
        return self.row

    def title(self, text: str) -> None:
        self.append()
        c = self.cell(text)
        c.font = Font(bold=True, size=12)
        self.ws.append([c])
        self.row += 1

    def write(self) -> None:
        ws, run, r = self.ws, self.run, self.r
        sheet = _untyped(ws)
        for letter, width in zip("ABCDE", (22, 66, 10, 14, 90), strict=True):
            sheet.column_dimensions[letter].width = width
        sheet.page_setup.orientation = "landscape"  # printed on A4: one page wide
        sheet.page_setup.paperSize = PAPER_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 1  # one page: what a manager reads, then support facts
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        c = self.cell("Synthèse du traitement")
        c.font = Font(bold=True, size=14)
        ws.append([c])
        self.row += 1
        errors = sum(1 for f in self.file_findings if f.is_error)
        if errors and r.rows == 0:
            self.append(
                "État du fichier",
                "Fichier non traité : il n'a pas pu être lu (voir « Anomalies du fichier »).",
                bold=True,
                fill=FAMILY_COLOURS[Family.TO_FIX],
            )
        self.append("Fichier", run.file_name)
        self.append("Lignes", r.rows)
        self.append("Traité le", _local(run.finished_at))
        self.append(
            "Mode",
            "Simulation (--dry-run) : rien n'a été envoyé à OMEGA"
            if run.dry_run
            else "Envoi réel à OMEGA",
        )
        n_err = sum(n for (_, sev), n in r.rule_counts.items() if sev is Severity.ERROR)
        n_warn = sum(n for (_, sev), n in r.rule_counts.items() if sev is Severity.WARNING)
        self.append("Anomalies", f"{n_err} erreur(s), {n_warn} avertissement(s)")
        if self.file_findings:
            self.title("Anomalies du fichier")
            for f in self.file_findings:
                self.append(f.severity.value, f.describe(), fill=SEVERITY_COLOURS[f.severity])
        self.title("Lignes par statut")
        header = self.append("Statut", "Résultat", "Lignes", "Famille", "Que faire", bold=True)
        for status in Status:
            self.append(
                status.value,
                status.label,
                r.status_counts[status],
                status.family.value,
                STATUS_ADVICE.get(status, status.label),
                fill=FAMILY_COLOURS[status.family],
            )
        self.append(
            "dont RDV déplacé",
            "Rendez-vous programmé, mais pas à la date ou la plage demandée",
            r.moved,
            MOVED_LABEL,
            MOVED_ADVICE,
            fill=MOVED_COLOUR,
        )
        self.append()
        self._chart(header, anchor=f"A{self.row + 1}")
        for _ in range(_CHART_ROWS):
            self.append()
        self.title("Légende des couleurs")
        self.append("Famille", "Que faire", bold=True)
        for family, colour in FAMILY_COLOURS.items():
            self.append(family.value, FAMILY_ADVICE[family], fill=colour)
        self.append(MOVED_LABEL, MOVED_ADVICE, fill=MOVED_COLOUR)
        self.append(
            "avertissement",
            "Feuille Anomalies : la ligne est partie, la remarque n'empêche rien.",
            fill=WARNING_COLOUR,
        )
        self.title("Lignes par CodeRetour")
        self.append("CodeRetour", "Lignes", bold=True)
        for code, n in sorted(r.code_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            self.append(code or "(aucun)", n)
        if r.rule_counts:
            self.title("Anomalies par règle")
            self.append("Règle", "Gravité", "Nombre", bold=True)
            for (rule, severity), n in sorted(r.rule_counts.items(), key=_by_count):
                self.append(rule, severity.value, n)
        self.title("Pour le support (exploitation)")
        self.append("Empreinte SHA-256", run.sha256)
        self.append("Début", _local(run.started_at))
        self.append("Fin", _local(run.finished_at))
        self.append("Durée", _duration((run.finished_at - run.started_at).total_seconds()))
        self.append("Service OMEGA", public_endpoint(run.endpoint))
        self.append(
            "Version d'échange",
            f"{run.version} (NumeroVersion envoyé à OMEGA ; à partir de V8 le téléphone du "
            "contact ne contient que des chiffres)",
        )

    def _chart(self, header_row: int, anchor: str) -> None:
        chart = BarChart()
        chart.type = "bar"
        chart.style = 10
        chart.gapWidth = 40
        chart.title = "Lignes par statut"
        chart.legend = None
        chart.width, chart.height = 17, 9.5
        last = header_row + len(Status)
        data = Reference(self.ws, min_col=3, min_row=header_row, max_row=last)
        labels = Reference(self.ws, min_col=1, min_row=header_row + 1, max_row=last)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(labels)
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.x_axis.scaling.orientation = "maxMin"  # statuses top to bottom, as in the table
        chart.y_axis.title = "Lignes"
        series = chart.series[0]
        for i, status in enumerate(Status):
            point = DataPoint(idx=i)
            point.graphicalProperties.solidFill = FAMILY_COLOURS[status.family]
            point.graphicalProperties.line.solidFill = "7F7F7F"
            series.dPt.append(point)
        _untyped(self.ws).add_chart(chart, anchor)


def _untyped(ws: WriteOnlyWorksheet) -> Any:
    """The stubs omit column_dimensions, page_setup... on write-only sheets; openpyxl has them."""
    return ws


def _by_count(item: tuple[tuple[str, Severity], int]) -> tuple[int, str]:
    (rule, _), n = item
    return (-n, rule)
