"""Result and resubmission workbooks, read back by openpyxl, calamine, the reader, LibreOffice."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from office_support import pdf_pages
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook

from pipeline.read import header_columns
from pipeline.read.reader import open_input
from pipeline.records import CANONICAL_FIELDS, Finding, RequestRow, RowOutcome, Severity, Status
from pipeline.report.layout import (
    ANOMALY_COLUMNS,
    FAMILY_COLOURS,
    RESUBMIT_COLUMN,
    RESULT_COLUMNS,
    SEVERITY_COLOURS,
    STATUS_ADVICE,
)
from pipeline.report.workbooks import (
    ReportPaths,
    RunInfo,
    write_reports,
    write_resubmission,
    write_results,
)
from pipeline.report.xlsx_cells import ILLEGAL_MARK, MAX_CELL_CHARS, MAX_ROW_LINES, line_count

NOW = datetime(2026, 12, 1, 2, 30, 0)
HEADERS = ("NumeroPCE", "Référence demande", "NomContact", "Commentaire", "DateRdv")
FORMULA_LIKE = ("=1+1", "+33 6 12", "-5", "@SUM(A1)", "\tTAB", '=HYPERLINK("http://x")')


def run_info(**changes: object) -> RunInfo:
    base: dict[str, object] = {
        "file_name": "demandes.xlsx",
        "sha256": "ab" * 32,
        "started_at": datetime(2026, 12, 1, 2, 0, 0, tzinfo=UTC),
        "finished_at": datetime(2026, 12, 1, 2, 3, 5, tzinfo=UTC),
        "endpoint": "https://batch:secret@omega.example/ws?token=x",
        "version": "V9",
        "dry_run": False,
    }
    base.update(changes)
    return RunInfo(**base)  # type: ignore[arg-type]


def make_row(
    line: int, cells: tuple[str, ...], findings: list[Finding] | None = None
) -> RequestRow:
    values = {"NumeroPCE": cells[0], "ReferenceDemande": cells[1], "NomContact": cells[2]}
    return RequestRow(line, cells, values, findings or [])


def sample() -> list[tuple[RequestRow, RowOutcome]]:
    bad_pce = Finding(
        "PCE_FORMAT", Severity.ERROR, "NumeroPCE", "123", "Le NumeroPCE doit compter 14 chiffres", 3
    )
    long_name = Finding(
        "CONTACT_TRONQUE", Severity.WARNING, "NomContact", "x" * 20, "Nom tronqué à 15", 4
    )
    return [
        (
            make_row(2, ("01234567890123", "REF-1", "Dupont", "=1+1", "2026-12-03")),
            RowOutcome(
                Status.RDV_PROGRAMME,
                type_retour="DmdOkRdv",
                code_retour="200",
                messages=("Demande créée", "Rendez-vous accepté"),
                numero_demande="DIT000001",
                date_rdv="2026-12-03",
                plage_rdv="M1",
                heure_min="09:00",
                heure_max="10:00",
                presence_client="O",
                attempts=1,
                processed_at="2026-12-01T02:01:00",
                detail="Rendez-vous programmé le 2026-12-03 (M1, 09:00-10:00)",
            ),
        ),
        (
            make_row(3, ("123", "REF-2", "Martin", "@SUM(A1)", "2026-12-04"), [bad_pce]),
            RowOutcome(
                Status.REJET_VALIDATION, processed_at="2026-12-01T02:01:01", detail="[PCE_FORMAT] x"
            ),
        ),
        (
            make_row(
                4, ("01234567890124", "REF-3", "x" * 20, "+33 6 12", "2026-12-04"), [long_name]
            ),
            RowOutcome(
                Status.REFUS_OMEGA,
                type_retour="DmdKo",
                code_retour="105",
                messages=("-PCE inconnu",),
                attempts=1,
                processed_at="2026-12-01T02:01:02",
            ),
        ),
        (
            make_row(6, ("01234567890125", "REF-4", "Durand", "", "2026-12-05")),
            RowOutcome(
                Status.A_VERIFIER,
                attempts=4,
                processed_at="2026-12-01T02:01:03",
                detail="Pas de réponse à CreerDemandeDIT : vérifier dans le suivi des demandes",
            ),
        ),
        (
            make_row(7, ("01234567890126", "REF-5", "Petit", "", "2026-12-05")),
            RowOutcome(
                Status.ERREUR_TECHNIQUE, attempts=4, detail="Délai dépassé ; ligne à relancer"
            ),
        ),
        (
            make_row(8, ("01234567890127", "REF-6", "Moreau", "", "2026-12-05")),
            RowOutcome(Status.REPORTEE, detail="Non envoyée : OMEGA indisponible."),
        ),
    ]


FILE_FINDING = Finding(
    "COLONNE_IGNOREE", Severity.WARNING, "Remarque", "Remarque", "Colonne inconnue ignorée"
)


@pytest.fixture
def written(tmp_path: Path) -> ReportPaths:
    return write_reports(
        tmp_path,
        HEADERS,
        iter(sample()),
        run_info(),
        file_findings=[FILE_FINDING],
        now=NOW,
        columns=header_columns(HEADERS),
    )


def rows_of(ws: Worksheet) -> list[list[object]]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def column(ws: Worksheet, name: str) -> list[Cell]:
    header = [c.value for c in ws[1]]
    index = header.index(name)
    return [row[index] for row in ws.iter_rows(min_row=2)]  # type: ignore[misc]


def sheet_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as z:
        return {
            n: z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/")
        }


# ---------------------------------------------------------------- Résultats


def test_result_name_and_sheets(written: ReportPaths) -> None:
    """The result workbook is <stem>_resultats_<ts>.xlsx with Résultats first and active."""
    assert written.results.name == "demandes_resultats_20261201-023000.xlsx"
    wb = load_workbook(written.results)
    assert wb.sheetnames == ["Résultats", "Synthèse", "Anomalies"]
    assert wb.active is not None and wb.active.title == "Résultats"


def test_result_columns_and_values(written: ReportPaths) -> None:
    """Outcome first (line, status, result, what to do, appointment), then the input columns
    in their order and spelling, then OMEGA's technical columns; one line per row."""
    ws = load_workbook(written.results)["Résultats"]
    rows = rows_of(ws)
    assert tuple(rows[0]) == (
        "Ligne",
        "Statut",
        "Résultat",
        "Que faire",
        "NumeroDemande",
        "DateRdvProgrammee",
        "PlageRdvProgrammee",
        "HeureMin",
        "HeureMax",
        "RDV déplacé",
        *HEADERS,
        "TypeRetourDialogue",
        "CodeRetour",
        "MessageRetour",
        "AppelsOMEGA",
        "PresenceClient",
        "Anomalies",
        "TraiteLe",
    )
    assert len(rows) == 1 + len(sample())
    assert [r[0] for r in rows[1:]] == [row.line for row, _ in sample()]
    assert [r[10] for r in rows[1:]] == [row.cells[0] for row, _ in sample()]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Statut"] == "RDV_PROGRAMME"
    # The detail starts with the label: said once, dates as the business writes them.
    assert first["Résultat"] == "Rendez-vous programmé le 03/12/2026 (M1, 09:00-10:00)"
    assert first["Que faire"] == "Rien à faire : informer le client de son rendez-vous."
    assert first["MessageRetour"] == "Demande créée\nRendez-vous accepté"
    assert first["NumeroDemande"] == "DIT000001"
    assert first["DateRdvProgrammee"] == datetime(2026, 12, 3)  # a real date cell
    assert (first["PlageRdvProgrammee"], first["HeureMin"], first["HeureMax"]) == (
        "M1",
        "09:00",
        "10:00",
    )
    assert first["RDV déplacé"] is None
    assert (first["PresenceClient"], first["AppelsOMEGA"]) == ("O", 1)  # unknown code: as is
    assert first["TraiteLe"] == datetime(2026, 12, 1, 2, 1, 0)  # a real date-time cell
    assert first["DateRdv"] == datetime(2026, 12, 3)  # the input's date column too
    assert first["Commentaire"] == "=1+1"
    rejected = dict(zip(rows[0], rows[2], strict=True))
    assert rejected["Statut"] == "REJET_VALIDATION"
    assert rejected["Résultat"] == Status.REJET_VALIDATION.label  # findings say why
    assert rejected["Anomalies"] == "[PCE_FORMAT] Le NumeroPCE doit compter 14 chiffres"
    assert rejected["AppelsOMEGA"] == 0
    assert str(rejected["Que faire"]).startswith("Corriger selon Anomalies")


def test_result_layout(written: ReportPaths) -> None:
    """Header frozen, autofilter over every row, widths set, multi-line cells wrapped."""
    ws = load_workbook(written.results)["Résultats"]
    assert ws.freeze_panes == "E2"  # header row and Ligne, Statut, Résultat, Que faire
    assert ws.auto_filter.ref == f"A1:V{1 + len(sample())}"
    assert all(ws.column_dimensions[c].width >= 7 for c in "ABCDEFGHIJKLMNOPQRSTUV")
    assert ws.column_dimensions["C"].width > 30  # Résultat
    assert ws.column_dimensions["D"].width > 30  # Que faire
    assert ws["A1"].font.b
    messages = column(ws, "MessageRetour")[0]
    assert "\n" in str(messages.value) and messages.alignment.wrap_text


def test_fill_per_status_family(written: ReportPaths) -> None:
    """Every cell of a row, empty ones included, carries its status family's fill colour,
    but the Anomalies cell of a row with warnings only, in the warning colour."""
    ws = load_workbook(written.results)["Résultats"]
    anomalies = [c.value for c in ws[1]].index("Anomalies")
    for (request, outcome), row in zip(sample(), ws.iter_rows(min_row=2), strict=True):
        colour = FAMILY_COLOURS[outcome.status.family]
        cells = [c for i, c in enumerate(row) if c.value is not None and i != anomalies]
        assert {str(c.fill.fgColor.rgb)[-6:] for c in cells} == {colour}
        if request.findings:
            warned = not any(f.is_error for f in request.findings)
            expected = SEVERITY_COLOURS[Severity.WARNING] if warned else colour
            assert str(row[anomalies].fill.fgColor.rgb)[-6:] == expected
    xml = sheet_xml(written.results)["xl/worksheets/sheet1.xml"]
    row_styles = re.findall(r'<row r="(\d+)" s="(\d+)" customFormat="1"[ >]', xml)
    assert len(row_styles) == len(sample())  # empty cells of the row are filled too


def heights(ws: Worksheet) -> dict[int, float]:
    """Row number -> explicit height (points), for the rows that have a custom height."""
    return {
        r: float(d.height)
        for r, d in ws.row_dimensions.items()
        if d.customHeight and d.height is not None
    }


def test_row_height_from_the_tallest_wrapped_cell(written: ReportPaths) -> None:
    """A row is as tall as its cell with the most lines (breaks and wrapping), 15 pt a line."""
    ws = load_workbook(written.results)["Résultats"]
    # Résultat (34 wide: 33 characters a line) decides here: row 2 holds a 54-character
    # detail (2 lines); row 5 a 43- and a 70-character line (2 + 3).
    assert heights(ws) == {2: 30.0, 3: 30.0, 4: 30.0, 5: 75.0, 6: 30.0, 7: 45.0}
    xml = sheet_xml(written.results)["xl/worksheets/sheet1.xml"]
    assert re.search(r'<row r="2" s="\d+" customFormat="1" ht="30" customHeight="1">', xml)
    assert '<row r="1">' in xml  # header: one line, default height
    assert not heights(load_workbook(written.results)["Anomalies"])  # all one-liners
    assert written.resubmission is not None  # MotifResoumission (60 wide) too
    assert heights(load_workbook(written.resubmission)["Demandes"]) == {2: 45.0, 3: 30.0, 4: 60.0}


def test_row_height_long_lines_and_cap(tmp_path: Path) -> None:
    """Long unbroken text counts its wrapped lines, quoted text too; very tall rows are capped."""
    many = tuple(f"message {i}" for i in range(40))
    done = Status.RDV_PROGRAMME  # its label fits on one line
    rows = [
        (make_row(2, ("1", "R", "N", "x" * 100)), RowOutcome(done)),  # 30 wide: 4 lines
        (make_row(3, ("1", "R", "N", "=a\nb\nc")), RowOutcome(done)),  # quoted, 3 lines
        (make_row(4, ("1", "R", "N")), RowOutcome(done, messages=many)),
        (make_row(5, ("1", "R", "N", "y" * 29)), RowOutcome(done)),  # fits: 1 line
    ]
    path = write_results(tmp_path, HEADERS, rows, run_info(), now=NOW)
    ws = load_workbook(path)["Résultats"]
    # Row 5: "Que faire" (38 wide) of RDV_PROGRAMME takes two lines.
    assert heights(ws) == {2: 60.0, 3: 45.0, 4: 15.0 * MAX_ROW_LINES, 5: 30.0}
    assert column(ws, "MessageRetour")[2].value == "\n".join(many)  # capped height, full text
    assert ws["N3"].quotePrefix and ws["N3"].alignment.wrap_text  # Commentaire


def test_line_count() -> None:
    """Each line break starts a line, each line wraps every `per_line` characters, up to the cap."""
    assert line_count("", 10) == 1
    assert line_count("x" * 10, 10) == 1
    assert line_count("x" * 11, 10) == 2
    assert line_count("a\n\nb" + "x" * 20, 10) == 1 + 1 + 3
    assert line_count("a\n", 10) == 2
    assert line_count("x" * 10_000, 10) == MAX_ROW_LINES
    assert line_count("\n" * 100, 10) == MAX_ROW_LINES


def test_results_and_anomalies_print_on_landscape_a4(written: ReportPaths) -> None:
    """Résultats prints A4 landscape at 65 %, its header row, Ligne and Statut on every
    page; Anomalies one page wide; Synthèse on one page."""
    wb = load_workbook(written.results)
    results = wb["Résultats"]
    setup = results.page_setup
    assert (setup.orientation, setup.paperSize, setup.scale) == ("landscape", 9, 65)
    assert results.print_title_rows == "$1:$1" and results.print_title_cols == "$A:$B"
    fit = results.sheet_properties.pageSetUpPr
    assert fit is None or not fit.fitToPage  # readable: several pages wide, not shrunk
    for name in ("Anomalies",):
        ws = wb[name]
        setup = ws.page_setup
        assert (setup.orientation, setup.paperSize) == ("landscape", 9), name  # 9: A4
        assert (setup.fitToWidth, setup.fitToHeight) == (1, 0), name  # pages down: as needed
        fit = ws.sheet_properties.pageSetUpPr
        assert fit is not None and fit.fitToPage, name
        assert ws.print_title_rows == "$1:$1", name
    summary = wb["Synthèse"].page_setup
    assert (summary.orientation, summary.paperSize) == ("landscape", 9)
    assert (summary.fitToWidth, summary.fitToHeight) == (1, 1)


def test_no_formula_ever(tmp_path: Path) -> None:
    """Text that looks like a formula, from the input or from OMEGA, stays text everywhere."""
    rows = [
        (
            make_row(i + 2, (value, f"REF-{i}", value, value, "2026-12-03")),
            RowOutcome(
                Status.REFUS_OMEGA,
                code_retour=value,
                messages=(value,),
                numero_demande=value,
                type_retour=value,
            ),
        )
        for i, value in enumerate(FORMULA_LIKE)
    ]
    run = run_info(file_name="=cmd|' /C calc'!A0.xlsx", endpoint="=evil")
    paths = write_reports(tmp_path, HEADERS, rows, run, now=NOW)
    assert paths.resubmission is not None
    for path in (paths.results, paths.resubmission):
        for name, xml in sheet_xml(path).items():
            assert "<f>" not in xml and "<f " not in xml, name
        wb = load_workbook(path)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                        assert cell.data_type == "s", (ws.title, cell.coordinate)
                        assert cell.quotePrefix, (ws.title, cell.coordinate)
    ws = load_workbook(paths.results)["Résultats"]
    for i, value in enumerate(FORMULA_LIKE, start=2):
        assert ws.cell(i, 11).value == value  # NumeroPCE, after the outcome columns
        assert column(ws, "MessageRetour")[i - 2].value == value
    # calamine, the reader's engine, reads the same text (a formula would read as '').
    sheet = CalamineWorkbook.from_path(str(paths.results)).get_sheet_by_name("Résultats")
    assert [r[10] for r in sheet.to_python()[1:]] == list(FORMULA_LIKE)


def test_illegal_characters_and_long_text(tmp_path: Path) -> None:
    """Control characters become a visible mark and over-long text is cut: no crash, no repair."""
    nasty = "A\x00B\x01C\x1fD\ud800E\uffffF"
    long = "x" * (MAX_CELL_CHARS + 10)
    rows = [
        (
            make_row(2, (nasty, "REF\x0b", "\x07Nom", long, " espaces ")),
            RowOutcome(Status.ERREUR_TECHNIQUE, messages=(nasty, "ligne1\r\nligne2")),
        )
    ]
    path = write_results(tmp_path, HEADERS, rows, run_info(file_name="a\x00b/c.xlsx"), now=NOW)
    assert path.name == "c_resultats_20261201-023000.xlsx"
    odd = write_results(tmp_path, (), [], run_info(), stem="x\x00y:z", now=NOW)
    assert odd.name == "x_y_z_resultats_20261201-023000.xlsx"
    ws = load_workbook(path)["Résultats"]
    mark = ILLEGAL_MARK
    assert ws["K2"].value == f"A{mark}B{mark}C{mark}D{mark}E{mark}F"
    assert ws["L2"].value == f"REF{mark}"
    assert len(str(ws["N2"].value)) == MAX_CELL_CHARS
    assert str(ws["N2"].value).endswith("[tronqué]")
    assert ws["O2"].value == " espaces "  # not a date: kept as text
    assert column(ws, "MessageRetour")[0].value == f"{ws['K2'].value}\nligne1\r\nligne2"


def test_short_and_long_input_rows_keep_result_columns_aligned(tmp_path: Path) -> None:
    """A row with fewer or more cells than headers never shifts the result columns."""
    rows = [
        (make_row(2, ("1", "REF-1", "Nom")), RowOutcome(Status.VALIDE)),
        (make_row(3, ("1", "REF-2", "Nom", "c", "d", "extra")), RowOutcome(Status.VALIDE)),
    ]
    ws = load_workbook(write_results(tmp_path, HEADERS, rows, run_info(), now=NOW))["Résultats"]
    assert [c.value for c in column(ws, "Statut")] == ["VALIDE", "VALIDE"]


# ---------------------------------------------------------------- Synthèse, Anomalies


def test_summary_sheet(written: ReportPaths) -> None:
    """Synthèse gives the run, counts per status and per CodeRetour, and no credentials."""
    ws = load_workbook(written.results)["Synthèse"]
    pairs = {r[0]: r[1] for r in rows_of(ws) if r and r[0] is not None}
    assert pairs["Fichier"] == "demandes.xlsx"
    assert pairs["Empreinte SHA-256"] == "ab" * 32
    assert pairs["Lignes"] == len(sample())
    assert pairs["Durée"] == "3 min 05 s"
    assert pairs["Service OMEGA"] == "https://omega.example/ws"
    assert str(pairs["Version d'échange"]).startswith("V9 ")
    assert pairs["Mode"] == "Envoi réel à OMEGA"
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC).astimezone().replace(tzinfo=None)
    assert pairs["Début"] == start and pairs["Fin"] == start + timedelta(minutes=3, seconds=5)
    assert "secret" not in str(rows_of(ws)) and "token" not in str(rows_of(ws))
    status_rows = {r[0]: r for r in rows_of(ws) if r[0] in {s.value for s in Status}}
    assert len(status_rows) == len(Status)
    assert status_rows["RDV_PROGRAMME"][2] == 1 and status_rows["VALIDE"][2] == 0
    assert status_rows["A_VERIFIER"][1:] == [
        Status.A_VERIFIER.label,
        1,
        "à vérifier",
        STATUS_ADVICE[Status.A_VERIFIER],
    ]
    rows = rows_of(ws)
    code_start = [r[0] for r in rows].index("CodeRetour")
    codes = {r[0]: r[1] for r in rows[code_start + 1 : code_start + 4]}
    assert codes == {"(aucun)": 4, "200": 1, "105": 1}


def test_summary_chart_and_legend(written: ReportPaths) -> None:
    """Synthèse holds a bar chart of the status counts and a colour legend per family."""
    with zipfile.ZipFile(written.results) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        chart = z.read(charts[0]).decode()
    assert "<barChart>" in chart and '<barDir val="bar"/>' in chart
    assert "'Synthèse'!$C$" in chart and "'Synthèse'!$A$" in chart
    ws = load_workbook(written.results)["Synthèse"]
    legend = {r[0].value: r[0].fill.fgColor.rgb[-6:] for r in ws.iter_rows() if r[0].value}
    for family, colour in FAMILY_COLOURS.items():
        assert legend[family.value] == colour


def test_dry_run_mode_is_stated(tmp_path: Path) -> None:
    """A dry run says so on Synthèse."""
    path = write_results(tmp_path, HEADERS, [], run_info(dry_run=True), now=NOW)
    pairs = {r[0]: r[1] for r in rows_of(load_workbook(path)["Synthèse"]) if r}
    assert str(pairs["Mode"]).startswith("Simulation")


def test_anomalies_sheet(written: ReportPaths) -> None:
    """Anomalies lists file-level findings then every row finding with its line and reference."""
    rows = rows_of(load_workbook(written.results)["Anomalies"])
    assert tuple(rows[0]) == ANOMALY_COLUMNS
    assert rows[1] == [
        None,
        None,
        "Remarque",
        "Remarque",
        "COLONNE_IGNOREE",
        "avertissement",
        "Colonne inconnue ignorée",
    ]
    assert rows[2] == [
        3,
        "REF-2",
        "NumeroPCE",
        "123",
        "PCE_FORMAT",
        "erreur",
        "Le NumeroPCE doit compter 14 chiffres",
    ]
    assert rows[3][:2] == [4, "REF-3"] and rows[3][4] == "CONTACT_TRONQUE"
    assert len(rows) == 4


def test_error_workbook_for_unreadable_file(tmp_path: Path) -> None:
    """With no rows and a file-level error, the workbook explains why and opens on Synthèse."""
    error = Finding(
        "FICHIER_ILLISIBLE",
        Severity.ERROR,
        "",
        "demandes.xlsx",
        "demandes.xlsx : le fichier n'est pas un classeur Excel valide",
    )
    path = write_results(tmp_path, (), [], run_info(), file_findings=[error], now=NOW)
    wb = load_workbook(path)
    assert rows_of(wb["Résultats"]) == [list(RESULT_COLUMNS)]
    assert wb.active is not None and wb.active.title == "Synthèse"
    text = str(rows_of(wb["Synthèse"]))
    assert "Fichier non traité" in text and "[FICHIER_ILLISIBLE]" in text
    assert rows_of(wb["Anomalies"])[1][4:] == ["FICHIER_ILLISIBLE", "erreur", error.message]


# ---------------------------------------------------------------- files


def test_never_overwrites_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A second workbook with the same timestamp gets -2, then -3; nothing else is left."""
    first = write_results(tmp_path, HEADERS, sample(), run_info(), now=NOW)
    second = write_results(tmp_path, HEADERS, sample(), run_info(), now=NOW)
    third = write_results(tmp_path, HEADERS, sample(), run_info(), now=NOW, stem="autre")
    fourth = write_results(tmp_path, HEADERS, sample(), run_info(), now=NOW)
    assert second.name == "demandes_resultats_20261201-023000-2.xlsx"
    assert third.name == "autre_resultats_20261201-023000.xlsx"
    assert fourth.name == "demandes_resultats_20261201-023000-3.xlsx"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (first, second, third, fourth)
    )


def test_failure_while_streaming_leaves_nothing(tmp_path: Path) -> None:
    """If the rows' source fails midway, the error propagates and no file is left behind."""

    def broken() -> Iterator[tuple[RequestRow, RowOutcome]]:
        yield sample()[0]
        raise RuntimeError("journal illisible")

    with pytest.raises(RuntimeError, match="journal illisible"):
        write_reports(tmp_path, HEADERS, broken(), run_info(), now=NOW)
    assert list(tmp_path.iterdir()) == []


def test_output_folder_created(tmp_path: Path) -> None:
    """The output folder is created when missing."""
    path = write_results(tmp_path / "a" / "b", HEADERS, sample(), run_info(), now=NOW)
    assert path.parent == tmp_path / "a" / "b" and path.exists()


# ---------------------------------------------------------------- resubmission


def test_resubmission_rows_and_motifs(written: ReportPaths) -> None:
    """Every row to correct or send again goes to the resubmission file: the reason first,
    then the template's columns, pre-filled with the row's cells."""
    assert written.resubmission is not None
    assert written.resubmission.name == "demandes_a_resoumettre_20261201-023000.xlsx"
    wb = load_workbook(written.resubmission)
    assert wb.sheetnames == ["Demandes", "Référentiel"]
    rows = rows_of(wb["Demandes"])
    assert tuple(rows[0]) == (RESUBMIT_COLUMN, *CANONICAL_FIELDS)
    by_name = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [r["ReferenceDemande"] for r in by_name] == ["REF-2", "REF-3", "REF-5"]
    second = by_name[0]
    assert (second["NumeroPCE"], second["NomContact"], second["Commentaire"]) == (
        "123",
        "Martin",
        "@SUM(A1)",
    )
    assert second["DateRdv"] == datetime(2026, 12, 4)  # a date cell, as in the template
    motifs = [str(r[0]) for r in rows[1:]]
    assert motifs[0] == (
        "Rejetée avant envoi : ligne à corriger\n[PCE_FORMAT] Le NumeroPCE doit compter 14 chiffres"
    )
    assert motifs[1] == "Demande refusée par OMEGA : données à corriger\n[105] -PCE inconnu"
    assert motifs[2].splitlines() == [
        "Erreur technique : à relancer",
        "Délai dépassé ; ligne à relancer",
        "Aucune correction nécessaire : renvoyer la ligne telle quelle.",
    ]


def test_resubmission_is_a_template(written: ReportPaths) -> None:
    """The resubmission file has the template's drop-downs, header comments, text formats."""
    assert written.resubmission is not None
    ws = load_workbook(written.resubmission)["Demandes"]
    header = [c.value for c in ws[1]]
    letter = {name: get_column_letter(i) for i, name in enumerate(header, 1)}
    lists = {str(dv.sqref).split(":")[0][:-1]: dv for dv in ws.data_validations.dataValidation}
    for field in ("CodeLibelleIntervention", "CodeMotifIntervention", "PlageRdv"):
        assert letter[field] in lists, field
    assert lists[letter["OptionExpress"]].formula1 == '"0,1"'
    assert "Colonne ignorée au dépôt" in str(ws["A1"].comment.text)
    assert str(ws[f"{letter['NumeroPCE']}1"].comment.text).startswith("NumeroPCE\n")
    assert ws.column_dimensions[letter["NumeroPCE"]].number_format == "@"
    assert ws.column_dimensions[letter["DateRdv"]].number_format == "DD/MM/YYYY"
    assert ws[f"{letter['NumeroPCE']}2"].number_format == "@"
    assert ws.freeze_panes == "C2"
    assert (ws.page_setup.orientation, ws.page_setup.paperSize) == ("landscape", 9)


def test_non_recevable_rows_are_resubmitted_with_why(tmp_path: Path) -> None:
    """A NON_RECEVABLE row is in the resubmission file, with OMEGA's reason."""
    row = make_row(2, ("01234567890123", "REF-1", "Nom", "", "2026-12-03"))
    outcome = RowOutcome(
        Status.NON_RECEVABLE,
        code_retour="DmdKo",
        messages=("Demande non recevable : PCE_NON_TITULAIRE",),
        detail="Non recevable par OMEGA (DmdKo) : Demande non recevable : PCE_NON_TITULAIRE",
    )
    path = write_resubmission(tmp_path, HEADERS, [(row, outcome)], run_info(), now=NOW)
    assert path is not None
    rows = rows_of(load_workbook(path)["Demandes"])
    assert str(rows[1][0]).startswith(Status.NON_RECEVABLE.label)
    assert "PCE_NON_TITULAIRE" in str(rows[1][0])


def test_no_resubmission_when_nothing_to_resend(tmp_path: Path) -> None:
    """Without a row to fix or retry there is no resubmission file at all."""
    done = [r for r in sample() if r[1].status in (Status.RDV_PROGRAMME, Status.A_VERIFIER)]
    assert write_resubmission(tmp_path, HEADERS, done, run_info(), now=NOW) is None
    assert list(tmp_path.iterdir()) == []


def test_resubmission_read_back_by_the_reader(tmp_path: Path) -> None:
    """The reader reads a resubmission file back with the same values: it can go back to input/."""
    headers = (*CANONICAL_FIELDS, "Agence")
    cells = {
        "NumeroPCE": "01234567890123",
        "CodePostal": "01000",
        "ReferenceDemande": "REF-9",
        "TelephoneContact": "0612345678",
        "NomContact": "=Dupont",
        "Commentaire": "ligne 1\nligne 2",
        "CodeLibelleIntervention": "Z8",
        "DateRdv": "2026-12-03",
        "PlageRdv": "M1",
        "Agence": "Lyon",
    }
    row = RequestRow(2, tuple(cells.get(h, "") for h in headers), cells)
    outcome = RowOutcome(Status.REFUS_OMEGA, code_retour="105", messages=("PCE inconnu",))
    path = write_resubmission(tmp_path, headers, [(row, outcome)], run_info(), now=NOW)
    assert path is not None
    input_file, rows = open_input(path, max_bytes=10_000_000)
    read = list(rows)
    assert not input_file.unreadable, input_file.findings
    assert input_file.headers == (RESUBMIT_COLUMN, *headers)
    assert len(read) == 1
    for name, value in cells.items():
        if name in CANONICAL_FIELDS:
            assert read[0].get(name) == value, name
    assert read[0].cells[-1] == "Lyon"  # the business's own column, after the template's


def test_resubmitted_file_keeps_a_single_motif_column(tmp_path: Path) -> None:
    """Resubmitting a resubmission file rewrites its MotifResoumission column, never adds one,
    and the result workbook never echoes the old reason as the business's data."""
    headers = (RESUBMIT_COLUMN, *HEADERS)
    row = make_row(2, ("ancien motif", "1", "REF-1", "Nom", "", "2026-12-03"))
    row.values = {"NumeroPCE": "1", "ReferenceDemande": "REF-1", "NomContact": "Nom"}
    outcome = RowOutcome(Status.ERREUR_TECHNIQUE, detail="Délai dépassé")
    paths = write_reports(tmp_path, headers, [(row, outcome)], run_info(), now=NOW)
    assert paths.resubmission is not None
    rows = rows_of(load_workbook(paths.resubmission)["Demandes"])
    assert [h for h in rows[0] if h == RESUBMIT_COLUMN] == [RESUBMIT_COLUMN]
    assert str(rows[1][0]).startswith("Erreur technique")
    assert "ancien motif" not in str(rows)
    results = rows_of(load_workbook(paths.results)["Résultats"])
    assert RESUBMIT_COLUMN not in results[0] and "ancien motif" not in str(results)


def test_single_pass_over_a_generator(tmp_path: Path) -> None:
    """write_reports consumes a one-shot generator once and writes both workbooks."""
    consumed: list[int] = []

    def source() -> Iterator[tuple[RequestRow, RowOutcome]]:
        for pair in sample():
            consumed.append(pair[0].line)
            yield pair

    paths = write_reports(tmp_path, HEADERS, source(), run_info(), now=NOW)
    assert consumed == [2, 3, 4, 6, 7, 8]
    assert paths.resubmission is not None
    assert len(rows_of(load_workbook(paths.results)["Résultats"])) == 7


# ---------------------------------------------------------------- LibreOffice


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_libreoffice_reads_the_same_values(written: ReportPaths, tmp_path: Path) -> None:
    """LibreOffice opens the workbook headless and exports Résultats with the very same values."""
    out = tmp_path / "csv"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1",
            "--outdir",
            str(out),
            str(written.results),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    with (out / (written.results.stem + ".csv")).open(encoding="utf-8", newline="") as f:
        exported = list(csv.reader(f))
    expected = [
        [_shown(c) for c in row] for row in load_workbook(written.results)["Résultats"].iter_rows()
    ]
    assert exported == expected
    assert exported[1][13] == "=1+1"
    assert exported[1][5] == "03/12/2026"  # DateRdvProgrammee: a date, shown as one


def _shown(cell: Cell | MergedCell) -> str:
    """A cell's value as a spreadsheet shows it (dates in their JJ/MM/AAAA format)."""
    value = cell.value
    if isinstance(value, datetime):
        with_time = "HH" in str(cell.number_format).upper()
        return value.strftime("%d/%m/%Y %H:%M:%S" if with_time else "%d/%m/%Y")
    return "" if value is None else str(value)


@pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="LibreOffice (soffice) or poppler-utils (pdftotext) not installed",
)
def test_libreoffice_prints_landscape_pages_with_the_header_repeated(tmp_path: Path) -> None:
    """Printed by LibreOffice, every page is landscape A4 under its header; Synthèse is one page."""
    rows = [(row, outcome) for _ in range(30) for row, outcome in sample()]  # several pages
    path = write_results(tmp_path, HEADERS, rows, run_info(), now=NOW)
    heads, sizes = pdf_pages(path, tmp_path)
    results = [h for h in heads if h.startswith("Ligne Statut ")]
    anomalies = [h for h in heads if h.startswith("Ligne ReferenceDemande")]
    summary = [h for h in heads if h.startswith("Synthèse du traitement")]
    # Résultats: header row, Ligne and Statut on every page; the outcome and the appointment
    # obtained on the first page width, the other columns on the next ones.
    first_band = [h for h in results if "Que faire" in h and "DateRdvProgrammee" in h]
    assert len(first_band) >= 2 and len(results) % len(first_band) == 0
    assert 2 <= len(results) // len(first_band) <= 5  # pages wide for 22 columns
    assert any("TraiteLe" in h for h in results)
    assert len(anomalies) >= 2 and len(summary) == 1  # Synthèse on one page
    assert len(heads) == len(results) + len(anomalies) + 1
    assert len(sizes) == len(heads) and all(w > h for w, h in sizes)
