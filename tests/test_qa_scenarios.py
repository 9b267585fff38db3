"""Operator and business-user scenarios, run through ``run_batch.py`` as a subprocess.

These pin behaviour a QA pass checked by hand against the issues: the French Excel CSV
export, a messy openpyxl workbook, bad files mixed with a good one, the resubmission
file dropped back after correction, and a second run refused while one holds the lock.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
from e2e_support import TODAY, fixture_pce, read_sheet, run_batch, write_settings

from pipeline.lifecycle import run_lock


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, (pattern, found)
    return found[0]


def _log_text(root: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in (root / "output" / "logs").glob("*"))


def test_french_excel_semicolon_csv_in_cp1252_goes_end_to_end(tmp_path: Path) -> None:
    """A cp1252 'CSV (séparateur: point-virgule)' with French headers is sent, echoed and masked."""
    write_settings(tmp_path)
    jj, jj_cp = fixture_pce("JJ", electricity=False)
    six, six_cp = fixture_pce("6M", electricity=False)
    lines = [
        "N° PCE;Code postal;Réf. demande;Code intervention;Motif;Date de RDV;Plage;"
        "Nom contact;Téléphone contact;Commentaire interne",
        f"{jj};{jj_cp};FR-1;206;;2026-12-08;;Hélène Dupré;06 12 34 56 78;clé chez gardien",
        f"{six};{six_cp};FR-2;Z8;19;2026-12-09;M1;Jérôme Lefèvre;0698765432;étage 3",
        f"123;{jj_cp};FR-3;206;;2026-12-08;;;;à corriger",
    ]
    src = tmp_path / "input" / "demandes_fr.csv"
    src.write_bytes("\r\n".join(lines).encode("cp1252") + b"\r\n")

    proc = run_batch(tmp_path / "settings.toml")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = read_sheet(_one(tmp_path / "output", "demandes_fr_resultats_*.xlsx"))[1]
    assert [r["Réf. demande"] for r in rows] == ["FR-1", "FR-2", "FR-3"]
    # the user's own headers, in order, after the outcome and appointment columns
    assert list(rows[0])[10:20] == lines[0].split(";")
    assert rows[0]["Statut"] == "DATE_DEMANDEE" and rows[0]["NumeroDemande"]
    assert rows[0]["Nom contact"] == "Hélène Dupré"
    assert rows[0]["Commentaire interne"] == "clé chez gardien"
    assert "[TEL_NETTOYE]" in str(rows[0]["Anomalies"])
    assert rows[1]["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"} and rows[1]["NumeroDemande"]
    assert rows[2]["Statut"] == "REJET_VALIDATION"
    assert "[PCE_FORMAT]" in str(rows[2]["Anomalies"])
    assert (tmp_path / "archive" / TODAY / "demandes_fr.csv").exists()
    log = _log_text(tmp_path)
    for secret in ("Dupré", "Lefèvre", "0612345678", "06 12 34 56 78", "0698765432", "batch.dit"):
        assert secret not in log and json.dumps(secret)[1:-1] not in log


def test_openpyxl_workbook_with_numbers_dates_errors_and_formulas(tmp_path: Path) -> None:
    """Numbers get their zeros back with a warning, date cells read as dates, error and
    uncomputed formula cells reject only their row, and every row comes back in order."""
    write_settings(tmp_path)
    jj, _ = fixture_pce("JJ", electricity=False)
    six, six_cp = fixture_pce("6M", electricity=False)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Feuil1"
    ws.append(
        [
            "NumeroPCE",
            "CodePostal",
            "ReferenceDemande",
            "CodeLibelleIntervention",
            "CodeMotifIntervention",
            "DateRdv",
            "PlageRdv",
            "TelephoneContact",
            "Agence",
        ]
    )
    ws.append([int(jj), None, "X-1", 206, None, dt.date(2026, 12, 8), None, 612345678, "Nord"])
    ws.append([int(six), int(six_cp), "X-2", "Z8", 19, dt.datetime(2026, 12, 9), "M1", None, "Sud"])
    ws.append([jj, None, "X-3", "206", None, "=DATE(2026,12,10)", None, None, "formule"])
    ws.append([jj, None, "X-4", "206", None, "#REF!", None, None, "erreur"])
    ws.append([None] * 9)  # a blank row is skipped
    ws.append([jj, None, "X-5", "206", None, "2026-12-11", None, None, "cachée"])
    ws.row_dimensions[7].hidden = True
    wb.save(tmp_path / "input" / "lot_excel.xlsx")

    proc = run_batch(tmp_path / "settings.toml")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    result = _one(tmp_path / "output", "lot_excel_resultats_*.xlsx")
    rows = {r["ReferenceDemande"]: r for r in read_sheet(result)[1]}
    assert list(rows) == ["X-1", "X-2", "X-3", "X-4", "X-5"]
    assert rows["X-1"]["NumeroPCE"] == jj  # no 2.1e+13, no .0
    assert rows["X-1"]["DateRdv"] == dt.datetime(2026, 12, 8)  # echoed as a real date cell
    assert rows["X-1"]["Statut"] == "DATE_DEMANDEE"
    assert "[ZEROS_RESTAURES]" in str(rows["X-1"]["Anomalies"])
    assert "0612345678" in str(rows["X-1"]["Anomalies"])
    assert rows["X-2"]["CodeMotifIntervention"] == "19"
    assert rows["X-2"]["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}
    assert rows["X-3"]["Statut"] == "REJET_VALIDATION"
    assert "[FORMULE_SANS_VALEUR]" in str(rows["X-3"]["Anomalies"])
    assert rows["X-4"]["Statut"] == "REJET_VALIDATION"
    assert "[CELLULE_ERREUR]" in str(rows["X-4"]["Anomalies"])
    assert rows["X-5"]["Agence"] == "cachée"
    anomalies = read_sheet(result, "Anomalies")[1]
    assert {(a["Ligne"], a["Règle"]) for a in anomalies} >= {
        (2, "ZEROS_RESTAURES"),
        (4, "FORMULE_SANS_VALEUR"),
        (5, "CELLULE_ERREUR"),
    }


def test_bad_files_are_rejected_in_french_and_the_good_one_still_runs(tmp_path: Path) -> None:
    """Empty, wrong-extension, binary and header-only files each end explained; the rest runs."""
    write_settings(tmp_path)
    inp = tmp_path / "input"
    (inp / "a_vide.csv").write_bytes(b"")
    (inp / "b_notes.txt").write_text("bonjour\n", encoding="utf-8")
    (inp / "c_binaire.csv").write_bytes(bytes(range(256)) * 8)
    (inp / "d_entete_seul.csv").write_text(
        "NumeroPCE;CodeLibelleIntervention;DateRdv\r\n", encoding="utf-8"
    )
    (inp / "~$verrou.xlsx").write_bytes(b"x")
    jj, _ = fixture_pce("JJ", electricity=False)
    (inp / "e_bon.csv").write_text(
        f"NumeroPCE;ReferenceDemande;CodeLibelleIntervention;DateRdv\n{jj};B-1;206;2026-12-08\n",
        encoding="utf-8",
    )

    proc = run_batch(tmp_path / "settings.toml")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    rejected = {p.name for p in (inp / "rejetes").iterdir()}
    assert rejected == {"a_vide.csv", "b_notes.txt", "c_binaire.csv"}
    assert (inp / "~$verrou.xlsx").exists()
    assert "extension « .txt » non prise en charge" in proc.stdout
    assert "le fichier est vide" in proc.stdout
    header_only = _one(tmp_path / "output", "d_entete_seul_resultats_*.xlsx")
    assert [a["Règle"] for a in read_sheet(header_only, "Anomalies")[1]] == ["AUCUNE_LIGNE"]
    for stem in ("a_vide", "b_notes", "c_binaire"):
        _one(tmp_path / "output", f"{stem}_resultats_*.xlsx")
    [good] = read_sheet(_one(tmp_path / "output", "e_bon_resultats_*.xlsx"))[1]
    assert good["Statut"] == "DATE_DEMANDEE"


def test_corrected_resubmission_file_dropped_back_is_sent(tmp_path: Path) -> None:
    """The 'à resoumettre' workbook, corrected and dropped back, sends the row it holds."""
    write_settings(tmp_path)
    six, six_cp = fixture_pce("6M", electricity=False)
    (tmp_path / "input" / "lot.csv").write_text(
        "NumeroPCE;CodePostal;ReferenceDemande;CodeLibelleIntervention;CodeMotifIntervention;"
        "PrecisionIntervention;DateRdv;PlageRdv\n"
        f"{six};{six_cp};R-1;35;01;;2026-12-10;M1\n",
        encoding="utf-8",
    )
    first = run_batch(tmp_path / "settings.toml")
    assert first.returncode == 0, first.stdout + first.stderr
    resub = _one(tmp_path / "output", "lot_a_resoumettre_*.xlsx")
    wb = openpyxl.load_workbook(resub)
    ws = wb["Demandes"]
    header = [c.value for c in ws[1]]
    assert "[PRECISION_OBLIGATOIRE]" in str(ws.cell(2, header.index("MotifResoumission") + 1).value)
    ws.cell(2, header.index("PrecisionIntervention") + 1, "Contrôle")
    wb.save(tmp_path / "input" / resub.name)

    second = run_batch(tmp_path / "settings.toml")

    assert second.returncode == 0, second.stdout + second.stderr
    [row] = read_sheet(_one(tmp_path / "output", f"{resub.stem}_resultats_*.xlsx"))[1]
    assert row["ReferenceDemande"] == "R-1"
    assert row["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}
    assert row["NumeroDemande"]


def test_second_run_while_one_holds_the_lock_exits_3_in_french(tmp_path: Path) -> None:
    """A run started while another holds the lock stops at once with code 3, touching nothing."""
    write_settings(tmp_path)
    src = tmp_path / "input" / "attente.csv"
    src.write_text("NumeroPCE;CodeLibelleIntervention;DateRdv\n", encoding="utf-8")
    (tmp_path / "var").mkdir()
    with run_lock(tmp_path / "var" / "dit-batch.lock"):
        proc = run_batch(tmp_path / "settings.toml")
    assert proc.returncode == 3
    assert "Un passage est déjà en cours" in proc.stderr
    assert src.exists()
    assert not (tmp_path / "output").exists() or not list((tmp_path / "output").glob("*.xlsx"))
