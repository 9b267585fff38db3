"""Result and resubmission workbooks, one per input file, for the business teams.

``write_reports`` streams the (row, outcome) pairs once and writes both workbooks;
``write_results`` and ``write_resubmission`` write one each. Rows are never held in
memory: the big sheets go through :mod:`pipeline.report.xlsx_stream`, the summary is
accumulated while streaming and written last (sheet order stays Résultats,
Synthèse, Anomalies). Files appear atomically (temporary file in the same folder,
then a hard link or rename) and never replace an existing file: ``-2``, ``-3``...
are added to the name instead. See docs/output.md for the layout.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pipeline.records import Family, Finding, RequestRow, RowOutcome, Severity, Status
from pipeline.report.xlsx_stream import (
    PAPER_A4,
    StreamingBook,
    StyleSet,
    clean_text,
    looks_like_formula,
)

RESULTS_SHEET = "Résultats"
SUMMARY_SHEET = "Synthèse"
ANOMALIES_SHEET = "Anomalies"
RESUBMIT_SHEET = "Demandes"  # the sheet name the reader looks for first

RESULT_COLUMNS: tuple[str, ...] = (
    "Statut",
    "Résultat",
    "TypeRetourDialogue",
    "CodeRetour",
    "MessageRetour",
    "NumeroDemande",
    "DateRdvProgrammee",
    "PlageRdvProgrammee",
    "HeureMin",
    "HeureMax",
    "PresenceClient",
    "Anomalies",
    "Tentatives",
    "TraiteLe",
)
ANOMALY_COLUMNS: tuple[str, ...] = (
    "Ligne",
    "ReferenceDemande",
    "Champ",
    "Valeur",
    "Règle",
    "Gravité",
    "Message",
)
RESUBMIT_COLUMN = "MotifResoumission"
RESUBMIT_STATUSES = frozenset(
    {Status.REJET_VALIDATION, Status.REFUS_OMEGA, Status.ERREUR_TECHNIQUE}
)

# Fill colour (RRGGBB) per status family, and what the family asks of the reader.
FAMILY_COLOURS: dict[Family, str] = {
    Family.DONE: "C6EFCE",
    Family.TO_FIX: "FFC7CE",
    Family.TO_RETRY: "FFEB9C",
    Family.TO_CHECK: "BDD7EE",
}
FAMILY_ADVICE: dict[Family, str] = {
    Family.DONE: "Rien à faire.",
    Family.TO_FIX: "Corriger la cause indiquée (Anomalies, Résultat, MessageRetour) ; les lignes "
    "rejetées ou refusées sont reprises dans le fichier « à resoumettre ».",
    Family.TO_RETRY: "Rien à corriger : une ligne reportée repart seule au prochain passage ; "
    "une erreur technique se renvoie avec le fichier « à resoumettre ».",
    Family.TO_CHECK: "Vérifier la demande dans le suivi des demandes OMEGA avant toute action : "
    "ne jamais la renvoyer à l'aveugle.",
}
# What to do about each status, in the words of the business teams (Synthèse, docs).
STATUS_ADVICE: dict[Status, str] = {
    Status.RDV_PROGRAMME: "Rien à faire : le rendez-vous est pris (DateRdvProgrammee, "
    "PlageRdvProgrammee, HeureMin-HeureMax).",
    Status.DATE_DEMANDEE: "Rien à faire : OMEGA a enregistré la demande à la date demandée ; "
    "le technicien contactera le client pour l'heure.",
    Status.PRISE_EN_COMPTE: "Rien à faire : la demande est enregistrée dans OMEGA (NumeroDemande).",
    Status.REJET_VALIDATION: "Rien n'a été envoyé. Corriger la ligne selon la colonne Anomalies, "
    "puis la renvoyer avec le fichier « à resoumettre ».",
    Status.NON_RECEVABLE: "OMEGA juge la demande non recevable pour ce PCE (voir Résultat et "
    "MessageRetour) : vérifier le PCE, l'intervention et le motif ; ne pas la renvoyer telle "
    "quelle.",
    Status.REFUS_OMEGA: "Corriger les données signalées dans MessageRetour, puis renvoyer la "
    "ligne avec le fichier « à resoumettre ».",
    Status.REPORTEE: "Rien à faire : la ligne sera envoyée automatiquement au prochain passage "
    "(ne pas redéposer le fichier).",
    Status.A_VERIFIER: "La demande existe peut-être : la chercher dans le suivi des demandes "
    "OMEGA (PCE, ReferenceDemande) avant toute action ; ne jamais la renvoyer à l'aveugle.",
    Status.ERREUR_TECHNIQUE: "Rien à corriger : renvoyer la ligne avec le fichier « à "
    "resoumettre » ; prévenir l'exploitation si l'erreur se répète.",
    Status.DEJA_TRAITEE: "Rien à faire : ligne déjà envoyée lors d'un passage précédent "
    "(voir NumeroDemande), elle n'a pas été renvoyée.",
    Status.VALIDE: "Simulation : la ligne est correcte et sera envoyée lors d'un passage normal.",
}
_CHART_ROWS = 20  # blank rows left under the status table for the chart
_SEVERITY_COLOURS = {Severity.ERROR: "FFC7CE", Severity.WARNING: "FFEB9C"}
_INPUT_HEADER_COLOUR = "D9D9D9"
_RESULT_HEADER_COLOUR = "9BC2E6"

# Column widths (characters): known input columns, result columns, default.
_INPUT_WIDTHS = {
    "numeropce": 16,
    "codepostal": 11,
    "referencedemande": 18,
    "telephonefournisseur": 14,
    "commentairefournisseur": 30,
    "commentaire": 30,
    "codelibelleintervention": 12,
    "codemotifintervention": 12,
    "precisionintervention": 30,
    "daterdv": 12,
    "plagerdv": 10,
    "nomcontact": 22,
    "telephonecontact": 14,
    "complementadresse": 30,
}
_RESULT_WIDTHS = (20, 36, 16, 11, 50, 16, 14, 12, 9, 9, 10, 60, 11, 20)
_ANOMALY_WIDTHS = (8, 18, 22, 24, 22, 14, 80)


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


@dataclass(frozen=True)
class ReportPaths:
    """The workbooks written for one input file (no resubmission file when none is due)."""

    results: Path
    resubmission: Path | None


def write_reports(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    *,
    file_findings: Sequence[Finding] = (),
    stem: str | None = None,
    now: datetime | None = None,
    finished: Callable[[], datetime] | None = None,
) -> ReportPaths:
    """Write the result workbook and, when rows qualify, the resubmission file, in one pass.

    ``finished``, when given, is asked for the run's end time once every row has been
    consumed: with a lazy ``results`` stream the rows are processed while they are
    written, so the end is only known then (it replaces ``run.finished_at``).
    """
    results_path, resubmission = _write(
        output_dir, headers, results, run, file_findings, stem, now, True, True, finished
    )
    assert results_path is not None
    return ReportPaths(results_path, resubmission)


def write_results(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    *,
    file_findings: Sequence[Finding] = (),
    stem: str | None = None,
    now: datetime | None = None,
) -> Path:
    """Write ``<stem>_resultats_<ts>.xlsx`` (Résultats, Synthèse, Anomalies) and return it."""
    path, _ = _write(output_dir, headers, results, run, file_findings, stem, now, True, False)
    assert path is not None
    return path


def write_resubmission(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    *,
    stem: str | None = None,
    now: datetime | None = None,
) -> Path | None:
    """Write ``<stem>_a_resoumettre_<ts>.xlsx`` with the rows to send again, or None if none."""
    return _write(output_dir, headers, results, run, (), stem, now, False, True)[1]


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


# --------------------------------------------------------------------------- writing


def _write(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    file_findings: Sequence[Finding],
    stem: str | None,
    now: datetime | None,
    with_results: bool,
    with_resubmission: bool,
    finished: Callable[[], datetime] | None = None,
) -> tuple[Path | None, Path | None]:
    output_dir.mkdir(parents=True, exist_ok=True)
    base = _safe_stem(stem if stem is not None else Path(run.file_name).stem)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    result_book = _ResultsBook(output_dir, headers, file_findings) if with_results else None
    resubmit_book: _ResubmissionBook | None = None
    try:
        for row, outcome in results:
            if result_book is not None:
                result_book.add(row, outcome)
            if with_resubmission and outcome.status in RESUBMIT_STATUSES:
                if resubmit_book is None:
                    resubmit_book = _ResubmissionBook(output_dir, headers)
                resubmit_book.add(row, outcome)
        result_path = None
        if result_book is not None:
            if finished is not None:
                run = replace(run, finished_at=finished())
            result_book.finish(run, file_findings)
            result_path = _publish(result_book.tmp, output_dir, f"{base}_resultats_{stamp}")
        resubmit_path = None
        if resubmit_book is not None:
            resubmit_book.finish()
            resubmit_path = _publish(resubmit_book.tmp, output_dir, f"{base}_a_resoumettre_{stamp}")
    except BaseException:
        for book in (result_book, resubmit_book):
            if book is not None:
                book.discard()
        raise
    return result_path, resubmit_path


def _safe_stem(stem: str) -> str:
    """A file name part that every file system accepts (no separators, controls, :*?"<>|)."""
    cleaned = re.sub(r'[\x00-\x1f\x7f/\\:*?"<>|]', "_", Path(stem).name if "/" in stem else stem)
    return cleaned.strip(" .") or "fichier"


def _temp_path(output_dir: Path) -> Path:
    """A new hidden file next to the final one (same file system), with umask permissions."""
    while True:
        path = output_dir / f".dit-batch-{secrets.token_hex(6)}.xlsx.tmp"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return path


def _publish(tmp: Path, output_dir: Path, base: str) -> Path:
    """Give the finished temporary file its final name, never replacing an existing file."""
    try:
        for n in range(1, 10_000):
            target = output_dir / (f"{base}.xlsx" if n == 1 else f"{base}-{n}.xlsx")
            try:
                os.link(tmp, target)  # atomic, and fails if the name is taken
            except FileExistsError:
                continue
            except OSError as exc:  # no hard links here (some network shares)
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                if target.exists():
                    continue
                os.replace(tmp, target)
                return target
            return target
        raise FileExistsError(f"Aucun nom libre pour {base}.xlsx dans {output_dir}")
    finally:
        tmp.unlink(missing_ok=True)


def _input_widths(headers: Sequence[str]) -> list[float]:
    widths: list[float] = []
    for header in headers:
        known = _INPUT_WIDTHS.get(header.strip().casefold().replace(" ", ""))
        widths.append(float(min(max(known or 12, len(header) + 4), 60)))
    return widths


def _fit_headers(widths: Sequence[int], headers: Sequence[str]) -> list[float]:
    """Widths wide enough for each header and its filter button."""
    return [float(max(w, len(h) + 4)) for w, h in zip(widths, headers, strict=True)]


class _Book:
    """A workbook being written to a temporary file of the output folder."""

    def __init__(self, output_dir: Path) -> None:
        self.tmp = _temp_path(output_dir)
        self.book = StreamingBook(self.tmp)

    def discard(self) -> None:
        self.book.abort()
        self.tmp.unlink(missing_ok=True)

    def family_styles(self, colours: dict[Family, str]) -> dict[Family, tuple[StyleSet, int]]:
        styles: dict[Family, tuple[StyleSet, int]] = {}
        for family, colour in colours.items():
            style = self.book.style_set(fill=colour)
            styles[family] = (style, style.plain)
        return styles


class _ResultsBook(_Book):
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
        result_widths = _fit_headers(_RESULT_WIDTHS, RESULT_COLUMNS)
        self.results = book.fast_sheet(
            RESULTS_SHEET,
            [*_input_widths(headers), *result_widths],
            primary=True,
            selected=True,
            printable=True,
        )
        self.summary = book.openpyxl_sheet(SUMMARY_SHEET)
        self.anomalies = book.fast_sheet(
            ANOMALIES_SHEET, _fit_headers(_ANOMALY_WIDTHS, ANOMALY_COLUMNS), printable=True
        )
        self.family = self.family_styles(FAMILY_COLOURS)
        self.severity = {s: book.style_set(fill=c) for s, c in _SEVERITY_COLOURS.items()}
        input_head = book.style_set(fill=_INPUT_HEADER_COLOUR, bold=True, vertical="center")
        result_head = book.style_set(fill=_RESULT_HEADER_COLOUR, bold=True, vertical="center")
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
        _Summary(self, run, file_findings).write()
        if self.rows == 0 and any(f.is_error for f in file_findings):
            self.book.set_active(1)  # nothing to show on Résultats: open on the explanation
        self.book.close()


class _ResubmissionBook(_Book):
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
        widths = _input_widths(columns)
        widths[self.motif_index] = 60.0
        self.sheet = self.book.fast_sheet(RESUBMIT_SHEET, widths, primary=True, selected=True)
        self.family = self.family_styles(FAMILY_COLOURS)
        head = self.book.style_set(fill=_INPUT_HEADER_COLOUR, bold=True, vertical="center")
        motif_head = self.book.style_set(fill=_RESULT_HEADER_COLOUR, bold=True, vertical="center")
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


# --------------------------------------------------------------------------- Synthèse


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


class _Summary:
    """The Synthèse sheet: the run, counts per status and per CodeRetour, legend, chart."""

    def __init__(
        self, results: _ResultsBook, run: RunInfo, file_findings: Sequence[Finding]
    ) -> None:
        self.r = results
        self.run = run
        self.file_findings = file_findings
        self.ws: WriteOnlyWorksheet = results.summary
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
        sheet.page_setup.fitToHeight = 0
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
        self.append("Empreinte SHA-256", run.sha256)
        self.append("Lignes", r.rows)
        self.append("Début", _local(run.started_at))
        self.append("Fin", _local(run.finished_at))
        self.append("Durée", _duration((run.finished_at - run.started_at).total_seconds()))
        self.append("Service OMEGA", public_endpoint(run.endpoint))
        self.append("NumeroVersion", run.version)
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
                self.append(f.severity.value, f.describe(), fill=_SEVERITY_COLOURS[f.severity])
        self.title("Lignes par statut")
        header = self.append("Statut", "Résultat", "Lignes", "Famille", "Que faire", bold=True)
        for status in Status:
            self.append(
                status.value,
                status.label,
                r.status_counts[status],
                status.family.value,
                STATUS_ADVICE[status],
                fill=FAMILY_COLOURS[status.family],
            )
        self.append()
        self._chart(header, anchor=f"A{self.row + 1}")
        for _ in range(_CHART_ROWS):
            self.append()
        self.title("Légende des couleurs")
        self.append("Famille", "Que faire", bold=True)
        for family, colour in FAMILY_COLOURS.items():
            self.append(family.value, FAMILY_ADVICE[family], fill=colour)
        self.title("Lignes par CodeRetour")
        self.append("CodeRetour", "Lignes", bold=True)
        for code, n in sorted(r.code_counts.items(), key=lambda kv: (-kv[1], kv[0])):
            self.append(code or "(aucun)", n)
        if r.rule_counts:
            self.title("Anomalies par règle")
            self.append("Règle", "Gravité", "Nombre", bold=True)
            for (rule, severity), n in sorted(r.rule_counts.items(), key=_by_count):
                self.append(rule, severity.value, n)

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
