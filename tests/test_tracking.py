"""Unknown outcomes settled from the demand tracking, and lost appointment steps resumed.

The reader of tracking exports (CSV and XLSX, aliases, the time in the file name, bad
rows); the simulator's download; then real runs of ``run_batch.py`` against the
simulator over real HTTP with answers lost after OMEGA processed them (reset-after,
slow, server-fault), a tracking export downloaded from the simulator, and the run
that settles them: every demand exists once in the simulator, every row has exactly
one final status.
"""

from __future__ import annotations

import csv
import sqlite3
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
from e2e_support import TODAY, fixture_pce, read_sheet, run_batch, write_settings

from pipeline.config import load_settings
from pipeline.read import open_tracking
from pipeline.read.tracking import taken_at_from_name
from pipeline.records import DemandState
from pipeline.simulator import FaultKind, RunningSimulator, start_simulator

HEADER = ["NumeroPCE", "ReferenceDemande", "CodeLibelleIntervention", "CodeMotifIntervention"]
HEADER += ["DateRdv", "PlageRdv", "NomContact", "TelephoneContact"]
DONE = {"RDV_PROGRAMME", "DATE_DEMANDEE", "PRISE_EN_COMPTE"}
MB = 1024 * 1024


# ----- the reader ------------------------------------------------------------------------
def test_export_time_comes_from_the_file_name_only() -> None:
    """Several spellings of the date and time in the name; none -> None (never the mtime)."""
    assert taken_at_from_name("suivi_demandes_20261201-083012.csv") == datetime(
        2026, 12, 1, 8, 30, 12
    )
    assert taken_at_from_name("Suivi 2026-12-01 08h30.xlsx") == datetime(2026, 12, 1, 8, 30)
    assert taken_at_from_name("export_2026-12-01T08-30-05.csv") == datetime(2026, 12, 1, 8, 30, 5)
    assert taken_at_from_name("suivi.csv") is None
    assert taken_at_from_name("suivi_2026-13-45_2599.csv") is None


def test_csv_export_with_french_headers_is_read(tmp_path: Path) -> None:
    """Header aliases as for request files; states by label or code; bad rows explained."""
    path = tmp_path / "suivi_20261201-0900.csv"
    rows = [
        ["N° demande", "Référence", "N° PCE", "État", "Date demandée", "Date programmée"],
        ["DIT1", "R-1", "12345678901234", "en attente de RDV", "10/12/2026", ""],
        ["DIT2", "R-2", "", "RDV programmé", "", "2026-12-11"],
        ["", "R-3", "", "RDV programmé", "", ""],
        ["DIT4", "", "", "Égaré", "", ""],
        ["DIT2", "R-9", "", "EN_COURS", "", ""],
        ["DIT5", "R-5", "", "En cours de traitement", "32/13/2026", ""],
    ]
    with path.open("w", encoding="cp1252", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(rows)
    export = open_tracking(path, max_bytes=MB)
    assert export.usable and export.taken_at == datetime(2026, 12, 1, 9, 0)
    by_number = {d.numero_demande: d for d in export.demands}
    assert set(by_number) == {"DIT1", "DIT2", "DIT4", "DIT5"}
    assert by_number["DIT1"].state is DemandState.ATTENTE_RDV
    assert by_number["DIT1"].date_demandee == "2026-12-10"
    assert by_number["DIT2"].state is DemandState.RDV_PROGRAMME
    assert by_number["DIT2"].reference == "R-2"  # the first listing is kept
    assert by_number["DIT4"].state is DemandState.INCONNU
    assert by_number["DIT5"].date_demandee == ""
    rules = Counter(f.rule for f in export.findings)
    assert rules == {
        "SUIVI_NUMERO_VIDE": 1,
        "SUIVI_REFERENCE_VIDE": 1,
        "SUIVI_ETAT_INCONNU": 1,
        "SUIVI_NUMERO_DOUBLON": 1,
        "SUIVI_DATE_INVALIDE": 1,
    }
    for finding in export.findings:
        assert path.name in finding.message and f"ligne {finding.line}" in finding.message


def test_xlsx_export_and_unusable_exports(tmp_path: Path) -> None:
    """A workbook is read like a CSV; a name without its time, or without the required
    columns, gives a file-level error and the export is not used."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["NumeroDemande", "ReferenceDemande", "Etat", "NumeroPCE"])
    sheet.append(["DIT7", "R-7", "Demande abandonnée", 1234567890123])
    xlsx = tmp_path / "suivi_20261201-101500.xlsx"
    book.save(xlsx)
    export = open_tracking(xlsx, max_bytes=MB)
    assert export.usable and [d.state for d in export.demands] == [DemandState.ABANDONNEE]
    assert export.demands[0].numero_pce == "01234567890123"  # the zero Excel dropped

    undated = tmp_path / "suivi.csv"
    undated.write_text("NumeroDemande;ReferenceDemande\nDIT1;R-1\n", encoding="utf-8")
    export = open_tracking(undated, max_bytes=MB)
    assert not export.usable
    assert [f.rule for f in export.findings] == ["SUIVI_SANS_HORODATAGE"]
    assert "suivi.csv" in export.findings[0].message

    no_reference = tmp_path / "suivi_20261201-1015.csv"
    no_reference.write_text("NumeroDemande;Etat\nDIT1;RDV programmé\n", encoding="utf-8")
    export = open_tracking(no_reference, max_bytes=MB)
    assert not export.usable and export.findings[0].rule == "COLONNES_MANQUANTES"
    assert "ReferenceDemande" in export.findings[0].message


# ----- runs against the simulator --------------------------------------------------------
def _project(tmp_path: Path, sim: RunningSimulator, **execution: str) -> Path:
    config = write_settings(tmp_path, url=sim.base_url)
    text = config.read_text(encoding="utf-8").replace("timeout_s = 5", "timeout_s = 1")
    lines = "".join(f"{k} = {v}\n" for k, v in {"tracking_margin_s": "0", **execution}.items())
    text = text.replace("workers = 4\n", "workers = 1\n" + lines)
    text = text.replace(
        'journal = "var/journal.sqlite3"',
        'journal = "var/journal.sqlite3"\ntracking_dir = "input/suivi"',
    )
    config.write_text(text, encoding="utf-8")
    return config


def _write_requests(config: Path, name: str, rows: list[list[str]]) -> None:
    with (config.parent / "input" / name).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(rows)


def _download_tracking(sim: RunningSimulator, folder: Path, taken_at: datetime) -> Path:
    """The simulator's tracking, saved as an operator would name an export taken then."""
    base = sim.base_url.rsplit("/omega", 1)[0]
    with urllib.request.urlopen(f"{base}/admin/demandes.csv", timeout=10) as answer:
        body = answer.read()
        disposition = answer.headers["Content-Disposition"]
    assert "suivi_demandes_" in disposition
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"suivi_demandes_{taken_at:%Y%m%d-%H%M%S}.csv"
    path.write_bytes(body)
    return path


def _by_reference(sim: RunningSimulator) -> Counter[str]:
    return Counter(str(d.get("ReferenceDemande")) for d in sim.engine.demandes())


def _final_statuses(config: Path) -> dict[str, str]:
    """Each key's deciding record (latest that is not DEJA_TRAITEE): its status, or its
    state when unfinished."""
    db = sqlite3.connect(config.parent / "var" / "journal.sqlite3")
    rows = db.execute(
        "SELECT key, COALESCE(status, state) FROM rows r WHERE id = (SELECT MAX(id) FROM rows"
        " WHERE key = r.key AND (status IS NULL OR status != 'DEJA_TRAITEE'))"
    ).fetchall()
    db.close()
    return dict(rows)


def test_lost_creations_are_settled_by_the_tracking_without_duplicates(tmp_path: Path) -> None:
    """Answers lost after OMEGA processed the creation (reset-after, slow, server-fault)
    and one lost before (reset-before): A_VERIFIER, exit 5. An export older than the
    attempts settles nothing (the summary says from when one is needed); the simulator's
    export then settles every row: found ones take their state (a 6M demand waiting
    for its appointment is resumed and programmed), the absent one is sent again."""
    jj, six_m = fixture_pce("JJ", "1")[0], fixture_pce("6M", "0")[0]
    rows = [
        [jj, "T-1", "206", "", "2026-12-10", "", "Dupont", "0612345678"],
        [six_m, "T-2", "Z8", "19", "2026-12-10", "M1", "Durand", "0612345678"],
        [jj, "T-3", "206", "", "2026-12-11", "", "Martin", "0612345678"],
        [jj, "T-4", "206", "", "2026-12-14", "", "Petit", "0612345678"],
        [jj, "T-5", "206", "", "2026-12-15", "", "Leroy", "0612345678"],
    ]
    settings = load_settings(environ={})
    with start_simulator(settings, today=TODAY, seed=7, slow_ms=2500) as sim:
        config = _project(tmp_path, sim)
        sim.faults.force(
            "CreerDemandeDIT",
            FaultKind.RESET_AFTER,  # T-1
            FaultKind.SERVER_FAULT,  # T-2 (6M: the demand waits for its appointment)
            FaultKind.SLOW,  # T-3
            FaultKind.RESET_BEFORE,  # T-4: never reached OMEGA
            None,  # T-5 answered
        )
        _write_requests(config, "nuit.csv", rows)
        before = datetime.now() - timedelta(hours=1)
        first = run_batch(config)
        assert first.returncode == 5, first.stdout + first.stderr
        statuses = _final_statuses(config)
        assert statuses["T-5"] in DONE
        lost = sorted(k for k, s in statuses.items() if s == "A_VERIFIER")
        assert {"T-1", "T-2", "T-3"} <= set(lost)
        time.sleep(2.6)  # the slow answer's processing is over; export names have seconds
        created = _by_reference(sim)
        assert all(created[k] == 1 for k in ("T-1", "T-2", "T-3", "T-5"))

        # An export taken before the attempts: nothing settled, nothing sent.
        old = _download_tracking(sim, config.parent / "input" / "suivi", before)
        second = run_batch(config)
        assert second.returncode == 5, second.stdout + second.stderr
        assert f"{len(lost)} ligne(s) A_VERIFIER attendent un export du suivi" in second.stdout
        assert "extrait après le" in second.stdout and "input/suivi" in second.stdout
        assert _by_reference(sim) == created
        assert not old.exists()  # archived like any input
        assert list((config.parent / "archive").rglob(old.name))

        _download_tracking(sim, config.parent / "input" / "suivi", datetime.now())
        third = run_batch(config)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "réglée(s) d'après le suivi" in third.stdout

        final = _by_reference(sim)
        assert all(final[f"T-{i}"] == 1 for i in range(1, 6)), final  # never a duplicate
        statuses = _final_statuses(config)
        assert set(statuses) == {f"T-{i}" for i in range(1, 6)}
        assert all(s in DONE for s in statuses.values()), statuses
        demands = {d["ReferenceDemande"]: d for d in sim.engine.demandes()}
        assert demands["T-2"]["Etat"] == "RDV_PROG"  # resumed by NumeroDemande, programmed
        # The settled rows are reported once each, in the reprise workbook.
        books = sorted((config.parent / "output").glob("nuit_reprise_resultats_*.xlsx"))
        reported = Counter(
            str(r["ReferenceDemande"]) for book in books[-1:] for r in read_sheet(book)[1]
        )
        assert reported == Counter(lost)
        _, results = read_sheet(books[-1])
        assert all(r["Statut"] in DONE for r in results)
        fourth = run_batch(config)  # nothing left: nothing sent
        assert fourth.returncode == 0 and _by_reference(sim) == final


def test_lost_accepter_rdv_twice_is_resumed_by_the_next_run(tmp_path: Path) -> None:
    """AccepterRdv lost twice (answers lost after OMEGA processed it): A_VERIFIER with the
    NumeroDemande, nothing for the team to do; the next run resumes the dialogue by
    NumeroDemande and the row ends RDV_PROGRAMME, one demand in the simulator."""
    six_m = fixture_pce("6M", "0")[0]
    settings = load_settings(environ={})
    with start_simulator(settings, today=TODAY, seed=7) as sim:
        config = _project(tmp_path, sim)
        sim.faults.force("AccepterRdv", FaultKind.RESET_AFTER, FaultKind.SERVER_FAULT)
        _write_requests(
            config, "rdv.csv", [[six_m, "RDV-1", "Z8", "19", "2026-12-16", "M2", "Roux", ""]]
        )
        first = run_batch(config)
        assert first.returncode == 5, first.stdout + first.stderr
        [book] = sorted((config.parent / "output").glob("rdv_resultats_*.xlsx"))
        [row] = read_sheet(book)[1]
        assert row["Statut"] == "A_VERIFIER" and row["NumeroDemande"]
        assert "Reprise automatique" in str(row["Résultat"])
        second = run_batch(config)
        assert second.returncode == 0, second.stdout + second.stderr
        [reprise] = sorted((config.parent / "output").glob("rdv_reprise_resultats_*.xlsx"))
        [again] = read_sheet(reprise)[1]
        assert again["Statut"] == "RDV_PROGRAMME"
        assert again["NumeroDemande"] == row["NumeroDemande"]
        (demand,) = [d for d in sim.engine.demandes() if d.get("ReferenceDemande") == "RDV-1"]
        assert demand["Etat"] == "RDV_PROG" and demand["NumeroDemande"] == row["NumeroDemande"]


def test_resume_is_bounded_per_row_across_runs(tmp_path: Path) -> None:
    """Every resume lost too: after max_resume_runs the row ends A_VERIFIER for the
    portal, and later runs send nothing more for it."""
    six_m = fixture_pce("6M", "0")[0]
    settings = load_settings(environ={})
    with start_simulator(settings, today=TODAY, seed=7) as sim:
        config = _project(tmp_path, sim, max_resume_runs="1")
        sim.faults.force("AccepterRdv", *[FaultKind.RESET_AFTER] * 3)
        _write_requests(
            config, "borne.csv", [[six_m, "B-1", "Z8", "19", "2026-12-17", "M1", "Roux", ""]]
        )
        assert run_batch(config).returncode == 5
        second = run_batch(config)
        assert second.returncode == 5
        [reprise] = sorted((config.parent / "output").glob("borne_reprise_resultats_*.xlsx"))
        [row] = read_sheet(reprise)[1]
        assert row["Statut"] == "A_VERIFIER" and "portail OMEGA" in str(row["Résultat"])
        accepts = [op for op, _ in sim.faults.history if op == "AccepterRdv"]
        assert len(accepts) == 3  # 2 in the first run (one repeat), 1 in the one resume
        third = run_batch(config)
        assert third.returncode == 0  # reported once, left to the portal; nothing sent
        assert [op for op, _ in sim.faults.history if op == "AccepterRdv"] == accepts
        assert len([d for d in sim.engine.demandes() if d.get("ReferenceDemande") == "B-1"]) == 1


def test_simulator_download_is_the_tracking_in_the_export_format(tmp_path: Path) -> None:
    """GET /admin/demandes.csv: named after the moment it was taken, read back as is."""
    settings = load_settings(environ={})
    with start_simulator(settings, today=TODAY, seed=7) as sim:
        config = _project(tmp_path, sim)
        jj = fixture_pce("JJ", "1")[0]
        _write_requests(config, "dl.csv", [[jj, "DL-1", "206", "", "2026-12-10", "", "", ""]])
        assert run_batch(config).returncode == 0
        base = sim.base_url.rsplit("/omega", 1)[0]
        with urllib.request.urlopen(f"{base}/admin/demandes.csv", timeout=10) as answer:
            name = answer.headers["Content-Disposition"].split('filename="')[1].rstrip('"')
            body = answer.read()
        assert taken_at_from_name(name) is not None and name.startswith(
            f"suivi_demandes_{TODAY.replace('-', '')}"
        )
        path = tmp_path / name
        path.write_bytes(body)
        export = open_tracking(path, max_bytes=MB)
        assert export.usable
        (demand,) = [d for d in export.demands if d.reference == "DL-1"]
        assert demand.state is DemandState.EN_COURS and demand.date_demandee == "2026-12-10"
        assert demand.numero_demande.startswith("DIT")


def test_bad_exports_are_explained_and_kept(tmp_path: Path) -> None:
    """An export without its time in the name is rejected to input/suivi/rejetes/ with a
    French message in the summary; one with a bad row is archived and its findings are
    in a workbook (file, row, field, value). Nothing the user gave is deleted."""
    settings = load_settings(environ={})
    with start_simulator(settings, today=TODAY, seed=7) as sim:
        config = _project(tmp_path, sim)
        folder = config.parent / "input" / "suivi"
        folder.mkdir(parents=True)
        undated = folder / "suivi.csv"
        undated.write_text("NumeroDemande;ReferenceDemande\nDIT1;R-1\n", encoding="utf-8")
        bad_row = folder / "suivi_20261201-0500.csv"
        bad_row.write_text(
            "NumeroDemande;ReferenceDemande;Etat\n;R-2;RDV programmé\n", encoding="utf-8"
        )
        proc = run_batch(config)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert "ne dit pas quand l'export a été extrait" in proc.stdout
        assert (
            folder / "rejetes" / "suivi.csv"
        ).read_bytes() == b"NumeroDemande;ReferenceDemande\nDIT1;R-1\n"
        assert list((config.parent / "archive").rglob(bad_row.name))
        [book] = sorted(
            (config.parent / "output").glob("suivi_20261201-0500_suivi_resultats_*.xlsx")
        )
        _, findings = read_sheet(book, "Anomalies")
        text = " ".join(str(v) for f in findings for v in f.values())
        assert (
            "SUIVI_NUMERO_VIDE" in text and "suivi_20261201-0500.csv" in text and "ligne 2" in text
        )


def test_retry_unknown_no_longer_resends_and_says_so(tmp_path: Path) -> None:
    """--retry-unknown is accepted (existing scripts) but only prints a notice: an
    unanswered creation stays A_VERIFIER until the tracking proves it absent."""
    jj = fixture_pce("JJ", "1")[0]
    settings = load_settings(environ={})
    with start_simulator(settings, today=TODAY, seed=7) as sim:
        config = _project(tmp_path, sim)
        sim.faults.force("CreerDemandeDIT", FaultKind.RESET_AFTER)
        _write_requests(config, "ru.csv", [[jj, "RU-1", "206", "", "2026-12-10", "", "", ""]])
        assert run_batch(config).returncode == 5
        again = run_batch(config, "--retry-unknown")
        assert again.returncode == 5, again.stdout + again.stderr
        assert "--retry-unknown n'a plus d'effet" in again.stderr
        assert _by_reference(sim)["RU-1"] == 1
        assert _final_statuses(config)["RU-1"] == "A_VERIFIER"
