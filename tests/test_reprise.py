"""Deferred rows resent by the next run come back in the business's own columns (QA D6).

``run_batch.py`` runs as a subprocess against the built-in simulator: first closed
(rows REPORTEE), then open (the journal resends them without the file).
"""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl

from pipeline.config import PROJECT_ROOT
from pipeline.records import CANONICAL_FIELDS

RUN_BATCH = PROJECT_ROOT / "run_batch.py"
PCE_FILE = PROJECT_ROOT / "config" / "simulator" / "pce.csv"
TODAY = "2026-12-01"
# The business's headers: French spellings, an extra column, not the canonical order.
HEADERS = [
    "Commentaire interne",
    "N° PCE",
    "Code postal",
    "Réf. demande",
    "Code intervention",
    "Motif",
    "Date de RDV",
    "Plage",
    "Nom contact",
    "Téléphone contact",
]


def _settings(root: Path, *, closed: bool) -> None:
    (root / "input").mkdir(exist_ok=True)
    (root / "settings.toml").write_text(
        f"""
[omega]
url = "simulator"
dn_entreprise = "FOURNISSEUR-DEMO"
numero_cad = "CAD0000123"
login = "batch.dit"
version = "V9"
timeout_s = 5

[execution]
rate_per_s = 200
workers = 4
max_attempts = 2
max_retry_delay_s = 1
breaker_threshold = 3

[paths]
input_dir = "input"
output_dir = "output"
archive_dir = "archive"
journal = "var/journal.sqlite3"
referential_dir = "{PROJECT_ROOT / "config" / "referential"}"

[input]
stable_after_s = 0

[simulator]
pce_file = "{PCE_FILE}"
today = "{TODAY}"
seed = 7
closed = {"true" if closed else "false"}

[[simulator.suppliers]]
dn_entreprise = "FOURNISSEUR-DEMO"
numero_cad = "CAD0000123"
etat_cad = "valide"
""",
        encoding="utf-8",
    )


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIT_")}
    return subprocess.run(
        [sys.executable, str(RUN_BATCH), "--config", str(root / "settings.toml")],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=root,
    )


def _pce(freq: str) -> tuple[str, str]:
    """A 14-digit PCE of the default supplier with this FrequenceReleve, and its postal code."""
    with PCE_FILE.open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh, delimiter=";"):
            if (
                rec["NumeroCAD"] == "CAD0000123"
                and rec["FrequenceReleve"] == freq
                and rec["NumeroPCE"].isdigit()
                and rec.get("RdvElec", "0") == "0"
            ):
                return rec["NumeroPCE"], rec["CodePostal"]
    raise AssertionError(f"no PCE {freq} in the fixture")


def _sheet(path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb["Résultats"].iter_rows(values_only=True))
    wb.close()
    header = [str(h) for h in rows[0]]
    return header, [dict(zip(header, r, strict=False)) for r in rows[1:]]


def _closed_run_leaves_rows_reportee(root: Path) -> None:
    """Drop the business's CSV and run with OMEGA closed: every row REPORTEE, exit 4."""
    _settings(root, closed=True)
    jj, jj_cp = _pce("JJ")
    six, six_cp = _pce("6M")
    lines = [
        ";".join(HEADERS),
        f"clé chez gardien;{jj};{jj_cp};FR-1;206;;2026-12-08;;Hélène Dupré;06 12 34 56 78",
        f"étage 3;{six};{six_cp};FR-2;Z8;19;2026-12-09;M1;Jérôme Lefèvre;0698765432",
    ]
    (root / "input" / "nuit.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = _run(root)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    [first] = sorted((root / "output").glob("nuit_resultats_*.xlsx"))
    _, rows = _sheet(first)
    assert [r["Statut"] for r in rows] == ["REPORTEE", "REPORTEE"]


def test_deferred_rows_come_back_in_the_original_columns(tmp_path: Path) -> None:
    """The reprise workbook has the input's headers in their order and spelling, the extra
    column's values, the original (uncleaned) cell text, and the statuses OMEGA gave."""
    _closed_run_leaves_rows_reportee(tmp_path)
    _settings(tmp_path, closed=False)

    proc = _run(tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    [reprise] = sorted((tmp_path / "output").glob("nuit_reprise_resultats_*.xlsx"))
    header, rows = _sheet(reprise)
    assert header[: len(HEADERS)] == HEADERS
    assert "Statut" in header[len(HEADERS) :]
    assert [r["Réf. demande"] for r in rows] == ["FR-1", "FR-2"]
    assert [r["Commentaire interne"] for r in rows] == ["clé chez gardien", "étage 3"]
    assert rows[0]["Téléphone contact"] == "06 12 34 56 78"  # as typed, not cleaned
    assert rows[0]["Nom contact"] == "Hélène Dupré"
    assert rows[0]["Statut"] == "DATE_DEMANDEE" and rows[0]["NumeroDemande"]
    assert rows[1]["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"} and rows[1]["NumeroDemande"]


def test_row_journaled_without_its_cells_falls_back_to_canonical_columns(tmp_path: Path) -> None:
    """A deferred row whose journal record holds no cells (written by an older version) is
    reported in its own workbook under the canonical columns; the others keep theirs."""
    _closed_run_leaves_rows_reportee(tmp_path)
    conn = sqlite3.connect(tmp_path / "var" / "journal.sqlite3")
    with conn:
        conn.execute("UPDATE rows SET cells_json = '[]', file_id = NULL WHERE key = 'FR-2'")
    conn.close()
    _settings(tmp_path, closed=False)

    proc = _run(tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    books = sorted((tmp_path / "output").glob("nuit_reprise_resultats_*.xlsx"))
    assert len(books) == 2
    by_header = {tuple(h[:2]): rows for h, rows in map(_sheet, books)}
    canonical = by_header[tuple(CANONICAL_FIELDS[:2])]
    original = by_header[tuple(HEADERS[:2])]
    assert [r["ReferenceDemande"] for r in canonical] == ["FR-2"]
    assert canonical[0]["TelephoneContact"] == "0698765432"
    assert canonical[0]["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}
    assert [r["Réf. demande"] for r in original] == ["FR-1"]
    assert original[0]["Statut"] == "DATE_DEMANDEE"
