"""Deferred rows resent by the next run come back in the business's own columns (QA D6).

``run_batch.py`` runs as a subprocess against the built-in simulator: first closed
(rows REPORTEE), then open (the journal resends them without the file).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from e2e_support import fixture_pce, read_sheet, run_batch, write_settings

from pipeline.records import CANONICAL_FIELDS

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


def _closed_run_leaves_rows_reportee(root: Path) -> None:
    """Drop the business's CSV and run with OMEGA closed: every row REPORTEE, exit 4."""
    write_settings(root, extra="closed = true")
    jj, jj_cp = fixture_pce("JJ", electricity=False)
    six, six_cp = fixture_pce("6M", electricity=False)
    lines = [
        ";".join(HEADERS),
        f"clé chez gardien;{jj};{jj_cp};FR-1;206;;2026-12-08;;Hélène Dupré;06 12 34 56 78",
        f"étage 3;{six};{six_cp};FR-2;Z8;19;2026-12-09;M1;Jérôme Lefèvre;0698765432",
    ]
    (root / "input" / "nuit.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_batch(root / "settings.toml")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    [first] = sorted((root / "output").glob("nuit_resultats_*.xlsx"))
    _, rows = read_sheet(first)
    assert [r["Statut"] for r in rows] == ["REPORTEE", "REPORTEE"]


def test_deferred_rows_come_back_in_the_original_columns(tmp_path: Path) -> None:
    """The reprise workbook has the input's headers in their order and spelling, the extra
    column's values, the original (uncleaned) cell text, and the statuses OMEGA gave."""
    _closed_run_leaves_rows_reportee(tmp_path)
    write_settings(tmp_path, extra="closed = false")

    proc = run_batch(tmp_path / "settings.toml")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    [reprise] = sorted((tmp_path / "output").glob("nuit_reprise_resultats_*.xlsx"))
    header, rows = read_sheet(reprise)
    assert header[10 : 10 + len(HEADERS)] == HEADERS  # after the outcome and appointment
    assert header[1] == "Statut"
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
    write_settings(tmp_path, extra="closed = false")

    proc = run_batch(tmp_path / "settings.toml")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    books = sorted((tmp_path / "output").glob("nuit_reprise_resultats_*.xlsx"))
    assert len(books) == 2
    by_header = {tuple(h[10:12]): rows for h, rows in map(read_sheet, books)}
    canonical = by_header[tuple(CANONICAL_FIELDS[:2])]
    original = by_header[tuple(HEADERS[:2])]
    assert [r["ReferenceDemande"] for r in canonical] == ["FR-2"]
    assert canonical[0]["TelephoneContact"] == "0698765432"
    assert canonical[0]["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}
    assert [r["Réf. demande"] for r in original] == ["FR-1"]
    assert original[0]["Statut"] == "DATE_DEMANDEE"
