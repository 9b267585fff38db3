"""What a business team reads at a glance in the result workbook: the moved appointment,
OMEGA's codes with their words, colours per family and for warnings, the Synthèse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from e2e_support import read_sheet, run_batch, write_settings
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.read import header_columns
from pipeline.records import Finding, RequestRow, RowOutcome, Severity, Status
from pipeline.report.layout import (
    FAMILY_COLOURS,
    MOVED_COLOUR,
    SEVERITY_COLOURS,
    WARNING_COLOUR,
)
from pipeline.report.workbooks import RunInfo, write_reports

NOW = datetime(2026, 12, 1, 2, 30, 0)
HEADERS = ("NumeroPCE", "ReferenceDemande", "CodeLibelleIntervention", "DateRdv", "PlageRdv")


def run_info() -> RunInfo:
    return RunInfo(
        file_name="lot.xlsx",
        sha256="cd" * 32,
        started_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
        finished_at=datetime(2026, 12, 1, 2, 1, tzinfo=UTC),
        endpoint="http://127.0.0.1:8080/omega",
        version="V9",
        dry_run=False,
    )


def request(line: int, day: str, slot: str, findings: list[Finding] | None = None) -> RequestRow:
    cells = (f"0123456789012{line % 10}", f"R-{line}", "Z8", day, slot)
    return RequestRow(line, cells, dict(zip(HEADERS, cells, strict=True)), findings or [])


def programmed(day: str, slot: str) -> RowOutcome:
    return RowOutcome(
        Status.RDV_PROGRAMME,
        type_retour="T",
        code_retour="DmdOkDP",
        messages=("Le rendez-vous a été programmé avec succès.",),
        numero_demande="DIT01",
        date_rdv=day,
        plage_rdv=slot,
        heure_min="09:00",
        heure_max="09:30",
        presence_client="PS",
        attempts=3,
        processed_at="2026-12-01T02:00:05+00:00",
        detail=f"Rendez-vous programmé le {day} ({slot}, 09:00-09:30)",
    )


def rows() -> list[tuple[RequestRow, RowOutcome]]:
    warning = Finding("TEL_NETTOYE", Severity.WARNING, "TelephoneContact", "06 12", "nettoyé", 4)
    return [
        (request(2, "2026-12-14", "M1"), programmed("2026-12-14", "M1")),  # as requested
        (request(3, "2026-12-25", "M1"), programmed("2026-12-28", "M1")),  # another day
        (request(4, "2026-12-12", "M1", [warning]), programmed("2026-12-14", "M2")),  # both
        (
            request(5, "2026-12-14", "M1"),
            RowOutcome(
                Status.NON_RECEVABLE,
                type_retour="A",
                code_retour="DmdKo",
                messages=("Demande non recevable : PCE_NON_TITULAIRE",),
                attempts=1,
                detail="Non recevable par OMEGA (DmdKo)",
            ),
        ),
    ]


def table(ws: Worksheet) -> list[dict[str, object]]:
    values = list(ws.iter_rows(values_only=True))
    header = [str(h) for h in values[0]]
    return [dict(zip(header, r, strict=True)) for r in values[1:]]


def written(tmp_path: Path) -> Path:
    paths = write_reports(
        tmp_path, HEADERS, rows(), run_info(), now=NOW, columns=header_columns(HEADERS)
    )
    return paths.results


def test_moved_appointment_is_flagged_with_its_own_colour_and_instruction(tmp_path: Path) -> None:
    """A programmed appointment on another date or slot than requested says so, in its own
    colour, with what to tell the customer; the one obtained as requested does not."""
    path = written(tmp_path)
    ws = load_workbook(path)["Résultats"]
    same, day, both, _ = table(ws)
    assert same["RDV déplacé"] is None
    assert str(same["Que faire"]).startswith("Rien à faire")
    assert day["RDV déplacé"] == "Oui (date) : demandé le 25/12/2026 M1"
    assert day["Que faire"] == (
        "Prévenir le client : rendez-vous le 28/12/2026 (M1, 09:00-09:30), pas celui demandé."
    )
    assert both["RDV déplacé"] == "Oui (date et plage) : demandé le 12/12/2026 M1"
    assert day["Statut"] == "RDV_PROGRAMME"  # the status stays true: the demand is made
    fills = [{str(c.fill.fgColor.rgb)[-6:] for c in r if c.value is not None} for r in ws.rows]
    assert fills[1] == {FAMILY_COLOURS[Status.RDV_PROGRAMME.family]}
    assert fills[2] == {MOVED_COLOUR}
    assert fills[3] == {MOVED_COLOUR, WARNING_COLOUR}  # its warning in the warning colour
    assert fills[4] == {FAMILY_COLOURS[Status.NON_RECEVABLE.family]}
    header = [c.value for c in ws[1]]
    warned = ws.cell(4, header.index("Anomalies") + 1)  # a row with a warning only
    assert str(warned.fill.fgColor.rgb)[-6:] == WARNING_COLOUR


def test_moved_appointments_are_counted_in_the_summary(tmp_path: Path) -> None:
    """The Synthèse counts the moved appointments, and its legend shows their colour."""
    ws = load_workbook(written(tmp_path))["Synthèse"]
    by_label = {r[0].value: r for r in ws.iter_rows() if r[0].value}
    moved = by_label["dont RDV déplacé"]
    assert moved[2].value == 2
    assert str(moved[0].fill.fgColor.rgb)[-6:] == MOVED_COLOUR
    assert str(by_label["rendez-vous déplacé"][0].fill.fgColor.rgb)[-6:] == MOVED_COLOUR


def test_codes_are_shown_with_their_words(tmp_path: Path) -> None:
    """PresenceClient, TypeRetourDialogue, CodeRetour and a known codeErreur carry their words."""
    ws = load_workbook(written(tmp_path))["Résultats"]
    same, _, _, refused = table(ws)
    assert same["PresenceClient"] == "PS — Présence du client souhaitée"
    assert same["TypeRetourDialogue"] == "T — Terminé"
    assert same["CodeRetour"] == "DmdOkDP — Rendez-vous programmé"
    assert same["AppelsOMEGA"] == 3
    assert refused["TypeRetourDialogue"] == "A — Abandonné"
    assert refused["MessageRetour"] == (
        "Demande non recevable : PCE_NON_TITULAIRE "
        "(PCE_NON_TITULAIRE : Le PCE est rattaché à un autre fournisseur)"
    )


def test_dates_are_real_date_cells(tmp_path: Path) -> None:
    """DateRdv, DateRdvProgrammee and TraiteLe are dates (local time), shown JJ/MM/AAAA."""
    ws = load_workbook(written(tmp_path))["Résultats"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[3], strict=True)}
    assert row["DateRdv"].value == datetime(2026, 12, 25)
    assert row["DateRdvProgrammee"].value == datetime(2026, 12, 28)
    stamp = datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC).astimezone().replace(tzinfo=None)
    assert row["TraiteLe"].value == stamp
    assert row["DateRdv"].number_format == "DD/MM/YYYY"
    assert row["TraiteLe"].number_format == "DD/MM/YYYY HH:MM:SS"
    assert row["DateRdv"].is_date and row["TraiteLe"].is_date


def test_warnings_have_a_colour_of_their_own(tmp_path: Path) -> None:
    """In Anomalies a warning is neither the error red nor the 'à relancer' yellow."""
    ws = load_workbook(written(tmp_path))["Anomalies"]
    [warning] = [r for r in ws.iter_rows(min_row=2) if r[5].value == "avertissement"]
    assert (
        str(warning[0].fill.fgColor.rgb)[-6:]
        == WARNING_COLOUR
        == SEVERITY_COLOURS[Severity.WARNING]
    )
    assert WARNING_COLOUR not in FAMILY_COLOURS.values()


def test_summary_puts_support_facts_below_what_a_manager_reads(tmp_path: Path) -> None:
    """The SHA-256 and the endpoint come after the counts, under a heading for support."""
    ws = load_workbook(written(tmp_path))["Synthèse"]
    labels = [r[0] for r in ws.iter_rows(values_only=True) if r and r[0]]
    assert labels.index("Empreinte SHA-256") > labels.index("Lignes par statut")
    assert labels.index("Service OMEGA") > labels.index("Pour le support (exploitation)")
    assert labels.index("Lignes") < labels.index("Lignes par statut")


def test_corrected_resubmission_goes_through_with_no_stale_reason_nor_lost_zero(
    tmp_path: Path,
) -> None:
    """The resubmission workbook, corrected with openpyxl and dropped back into input/, is
    sent: the reason column is not echoed as the business's data, the leading zero of the
    postal code survives both trips, and the business's extra column comes back."""
    write_settings(tmp_path)
    (tmp_path / "input" / "lot.csv").write_text(
        "NumeroPCE;CodePostal;ReferenceDemande;CodeLibelleIntervention;CodeMotifIntervention;"
        "PrecisionIntervention;DateRdv;PlageRdv;Agence\n"
        "11000000000010;01000;R-1;35;01;;2026-12-10;M1;Bourg\n",
        encoding="utf-8",
    )
    first = run_batch(tmp_path / "settings.toml")
    assert first.returncode == 0, first.stdout + first.stderr
    [resub] = (tmp_path / "output").glob("lot_a_resoumettre_*.xlsx")
    wb = load_workbook(resub)
    ws = wb["Demandes"]
    header = [c.value for c in ws[1]]
    assert header[0] == "MotifResoumission" and header[-1] == "Agence"
    assert ws.cell(2, header.index("CodePostal") + 1).value == "01000"
    ws.cell(2, header.index("PrecisionIntervention") + 1, "Contrôle")
    wb.save(tmp_path / "input" / resub.name)

    second = run_batch(tmp_path / "settings.toml")

    assert second.returncode == 0, second.stdout + second.stderr
    [result] = (tmp_path / "output").glob(f"{resub.stem}_resultats_*.xlsx")
    names, rows_back = read_sheet(result)
    [row] = rows_back
    assert "MotifResoumission" not in names
    assert "Rejetée" not in str(row)
    assert row["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}
    assert row["CodePostal"] == "01000" and row["Agence"] == "Bourg"
    assert row["ReferenceDemande"] == "R-1"
    assert not list((tmp_path / "output").glob(f"{resub.stem}_a_resoumettre_*.xlsx"))


def test_result_says_things_once_and_with_the_words_of_codes(tmp_path: Path) -> None:
    """An explanation that holds every word of the label replaces it; a codeErreur in the
    explanation is followed by its words."""
    on_date = RowOutcome(
        Status.DATE_DEMANDEE,
        date_rdv="2026-12-08",
        detail="Enregistrée à la date demandée (2026-12-08) ; Le rendez-vous a été enregistré "
        "à la date demandée, un technicien rappellera le client pour confirmer le rendez-vous.",
    )
    refused = RowOutcome(
        Status.NON_RECEVABLE,
        detail="Non recevable par OMEGA (DmdKo) : Demande non recevable : PCE_NON_TITULAIRE",
    )
    pairs = [(request(2, "2026-12-08", ""), on_date), (request(3, "2026-12-08", ""), refused)]
    path = write_reports(tmp_path, HEADERS, pairs, run_info(), now=NOW).results
    first, second = table(load_workbook(path)["Résultats"])
    assert str(first["Résultat"]).startswith("Enregistrée à la date demandée (08/12/2026) ;")
    assert "\n" not in str(first["Résultat"])  # the label is not repeated above it
    assert second["Résultat"] == (
        "Non recevable par OMEGA (DmdKo) : Demande non recevable : PCE_NON_TITULAIRE "
        "(PCE_NON_TITULAIRE : Le PCE est rattaché à un autre fournisseur)"
    )
