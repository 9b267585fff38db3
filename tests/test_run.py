"""The orchestrator in-process: rows streamed chunk by chunk keep their order and outcome."""

from __future__ import annotations

import csv
import os
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl

from pipeline.config import PROJECT_ROOT, Settings, settings_from_mapping
from pipeline.records import Status
from pipeline.run import BatchRun

TODAY = "2026-12-01"
JJ_PCES = ["21000000000001", "21000000000002", "22000000000001", "23000000000001"]


def _settings(tmp_path: Path) -> Settings:
    return settings_from_mapping(
        {
            "omega": {
                "url": "simulator",
                "dn_entreprise": "FOURNISSEUR-DEMO",
                "numero_cad": "CAD0000123",
                "login": "batch.dit",
                "timeout_s": 5,
            },
            "execution": {"rate_per_s": 500, "workers": 3},
            "paths": {
                "input_dir": "input",
                "output_dir": "output",
                "archive_dir": "archive",
                "journal": "var/j.sqlite3",
                "referential_dir": str(PROJECT_ROOT / "config" / "referential"),
            },
            "input": {"stable_after_s": 0},
            "simulator": {
                "today": TODAY,
                "seed": 3,
                "pce_file": str(PROJECT_ROOT / "config" / "simulator" / "pce.csv"),
            },
        },
        base_dir=tmp_path,
        environ={},
    )


def _write_input(tmp_path: Path, n: int) -> Path:
    (tmp_path / "input").mkdir()
    path = tmp_path / "input" / "lot.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["NumeroPCE", "ReferenceDemande", "CodeLibelleIntervention", "DateRdv"])
        for i in range(n):
            pce = "123" if i % 4 == 3 else JJ_PCES[i % 3]  # every 4th row is invalid
            w.writerow([pce, f"R{i:03d}", "206", "2026-12-10"])
    old = path.stat().st_mtime - 3600
    os.utime(path, (old, old))
    return path


def _statuses(path: Path) -> list[tuple[str, str]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb["Résultats"].iter_rows(values_only=True))
    header = list(rows[0])
    ref, status = header.index("ReferenceDemande"), header.index("Statut")
    return [(str(r[ref]), str(r[status])) for r in rows[1:]]


def _clock() -> datetime:
    return datetime(2026, 12, 1, 2, 0, 0)


def test_rows_keep_input_order_across_chunks(tmp_path: Path) -> None:
    """With chunks of 3 rows, 11 rows are all sent once and reported in input order."""
    _write_input(tmp_path, 11)
    summary = BatchRun(_settings(tmp_path), clock=_clock, chunk_rows=3).execute()
    [file] = summary.files
    assert file.rows == 11
    assert file.output is not None
    got = _statuses(file.output)
    assert [ref for ref, _ in got] == [f"R{i:03d}" for i in range(11)]
    for i, (_, status) in enumerate(got):
        assert status == ("REJET_VALIDATION" if i % 4 == 3 else "DATE_DEMANDEE")
    assert file.moved_to == tmp_path / "archive" / TODAY / "lot.csv"


def test_limit_counts_across_chunks(tmp_path: Path) -> None:
    """--limit applies to the whole run, not per chunk, and keeps the file for later."""
    _write_input(tmp_path, 9)
    summary = BatchRun(_settings(tmp_path), clock=_clock, chunk_rows=2, limit=4).execute()
    [file] = summary.files
    sent = file.counts[Status.DATE_DEMANDEE]
    assert sent == 4
    assert file.moved_to is None
    assert (tmp_path / "input" / "lot.csv").exists()


def test_synthese_end_time_is_taken_after_the_rows(tmp_path: Path) -> None:
    """The Synthèse's end and duration cover the processing of the rows, not just the start."""
    _write_input(tmp_path, 4)
    ticks = iter(range(1000))

    def clock() -> datetime:  # one minute per reading of the clock
        return datetime(2026, 12, 1, 2, 0, 0) + timedelta(minutes=next(ticks))

    summary = BatchRun(_settings(tmp_path), clock=clock, chunk_rows=2).execute()
    [file] = summary.files
    assert file.output is not None
    book = openpyxl.load_workbook(file.output, read_only=True)
    cells = [c for row in book["Synthèse"].iter_rows(values_only=True) for c in row if c]
    end_at = cells[next(i for i, c in enumerate(cells) if str(c).startswith("Fin")) + 1]
    rows = list(book["Résultats"].iter_rows(values_only=True))
    processed = [r[rows[0].index("TraiteLe")] for r in rows[1:]]
    assert str(end_at) >= max(str(p).replace("T", " ") for p in processed)
