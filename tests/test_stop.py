"""SIGTERM and SIGINT sent to a real ``run_batch.py`` mid-run, against a slow simulator in
its own process: the run stops handing out rows, lets the calls in flight finish, writes
the workbook, prints the summary and exits 8; the next run sends the rest, and OMEGA
(the simulator's tracking, ``GET /admin/demandes``) holds each demand exactly once.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from e2e_support import read_sheet, write_settings
from stop_support import by_reference, simulator_process, start_batch, wait_for_demands, write_rows

ROWS = 48


def _settings(root: Path, url: str, *, grace_s: float = 15, timeout_s: int = 5) -> Path:
    config = write_settings(root, url=url)
    text = config.read_text(encoding="utf-8")
    text = text.replace("breaker_threshold = 3", f"breaker_threshold = 3\nstop_grace_s = {grace_s}")
    text = text.replace("timeout_s = 5", f"timeout_s = {timeout_s}")
    config.write_text(text, encoding="utf-8")
    return config


def _journal_states(root: Path) -> dict[str, str]:
    conn = sqlite3.connect(root / "var" / "journal.sqlite3")
    try:
        rows = conn.execute("SELECT key, state FROM rows WHERE status IS NOT 'DEJA_TRAITEE'")
        return dict(rows.fetchall())
    finally:
        conn.close()


def _interrupt_then_rerun(tmp_path: Path, signum: signal.Signals) -> None:
    with simulator_process("--latency-ms", "120") as base_url:
        config = _settings(tmp_path, base_url)
        refs = write_rows(tmp_path / "input" / "nuit.csv", ROWS)
        batch = start_batch(config)
        wait_for_demands(base_url, 4)
        batch.send_signal(signum)
        out, err = batch.communicate(timeout=60)

        assert batch.returncode == 8, out + err
        assert "Traceback" not in out + err and "Logging error" not in out + err
        assert "PASSAGE ARRÊTÉ" in out and signum.name in out
        assert "Code de sortie : 8" in out
        sent = by_reference(base_url)
        assert 0 < len(sent) < ROWS  # stopped part-way
        assert (tmp_path / "input" / "nuit.csv").exists()  # not every row is final
        assert not list((tmp_path / "output").glob(".dit-batch-*"))
        [book] = sorted((tmp_path / "output").glob("nuit_resultats_*.xlsx"))
        _, rows = read_sheet(book)
        assert len(rows) == ROWS
        statuses = {r["ReferenceDemande"]: r["Statut"] for r in rows}
        for ref, status in statuses.items():
            if ref in sent:  # its demand exists: reported with what OMEGA answered
                assert status in {"RDV_PROGRAMME", "DATE_DEMANDEE"}, (ref, status)
            else:  # never created: never "to check", sent by the next run
                assert status == "REPORTEE", (ref, status)
        assert "create_sent" not in _journal_states(tmp_path).values()

        rerun = start_batch(config)
        out2, err2 = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, out2 + err2
        final = by_reference(base_url)
        assert {r: final[r] for r in refs} == dict.fromkeys(refs, 1)  # every row once, no duplicate
        assert not (tmp_path / "input" / "nuit.csv").exists()  # archived once all are final
        books = sorted(
            (tmp_path / "output").glob("nuit_resultats_*.xlsx"), key=lambda p: p.stat().st_mtime
        )
        _, again = read_sheet(books[-1])
        for row in again:
            ref = row["ReferenceDemande"]
            expected = {"DEJA_TRAITEE"} if ref in sent else {"RDV_PROGRAMME", "DATE_DEMANDEE"}
            assert row["Statut"] in expected, row


@pytest.mark.timeout(240)
def test_sigterm_mid_run_stops_cleanly_and_the_rerun_finishes_without_duplicates(
    tmp_path: Path,
) -> None:
    _interrupt_then_rerun(tmp_path, signal.SIGTERM)


@pytest.mark.timeout(240)
def test_sigint_mid_run_stops_cleanly_and_the_rerun_finishes_without_duplicates(
    tmp_path: Path,
) -> None:
    _interrupt_then_rerun(tmp_path, signal.SIGINT)


@pytest.mark.timeout(240)
def test_second_signal_stops_at_once_and_leaves_no_creation_to_check_wrongly(
    tmp_path: Path,
) -> None:
    """A second SIGTERM exits at once (code 8, no summary); the journal is consistent: the
    rerun finishes every row, no demand twice, and a row is A_VERIFIER only when OMEGA
    really received its creation."""
    with simulator_process("--latency-ms", "400") as base_url:
        config = _settings(tmp_path, base_url)
        refs = write_rows(tmp_path / "input" / "nuit.csv", 24)
        batch = start_batch(config)
        assert batch.stderr is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(batch.stderr or ()), daemon=True)
        reader.start()
        wait_for_demands(base_url, 4)
        batch.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not any("Un second signal" in line for line in lines):  # first one handled
            assert time.monotonic() < deadline and batch.poll() is None
            time.sleep(0.005)
        # The calls in flight (400 ms each) are still running: this one cuts them short.
        batch.send_signal(signal.SIGTERM)
        out = batch.stdout.read() if batch.stdout is not None else ""
        batch.wait(timeout=60)
        reader.join(timeout=10)
        err = "".join(lines)
        assert batch.returncode == 8, out + err
        assert "arrêt immédiat" in err and "Traceback" not in out + err
        assert "PASSAGE ARRÊTÉ" not in out  # no summary: it stopped at once

        rerun = start_batch(config)
        out2, err2 = rerun.communicate(timeout=120)
        assert rerun.returncode in (0, 5), out2 + err2
        final = by_reference(base_url)
        assert max(final[r] for r in refs) == 1
        assert set(_journal_states(tmp_path).values()) == {"final"}
        for book in (tmp_path / "output").glob("*_resultats_*.xlsx"):
            for row in read_sheet(book)[1]:
                if row["Statut"] == "A_VERIFIER":  # only when its creation reached OMEGA
                    assert final[row["ReferenceDemande"]] == 1, row


@pytest.mark.timeout(240)
def test_calls_slower_than_the_grace_are_left_and_reported_from_the_journal(
    tmp_path: Path,
) -> None:
    """Every call hangs (simulator ``slow`` faults): after SIGTERM the run waits the grace
    (1 s), not the calls' timeout, reports the rows in flight from their journal state,
    writes the workbook and exits 8; no creation was ever sent."""
    slow = ("--fault-rate", "1", "--faults", "slow", "--slow-ms", "30000")
    with simulator_process(*slow) as base_url:
        config = _settings(tmp_path, base_url, grace_s=1, timeout_s=60)
        write_rows(tmp_path / "input" / "nuit.csv", 12)
        batch = start_batch(config)
        journal = tmp_path / "var" / "journal.sqlite3"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until rows are claimed (calls in flight)
            if journal.exists() and _count_rows(journal) >= 1:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        batch.send_signal(signal.SIGTERM)
        out, err = batch.communicate(timeout=25)  # well before the 30 s calls end
        assert batch.returncode == 8, out + err
        assert "Traceback" not in out + err
        [book] = sorted((tmp_path / "output").glob("nuit_resultats_*.xlsx"))
        _, rows = read_sheet(book)
        assert {r["Statut"] for r in rows} == {"REPORTEE"}
        assert any(
            "délai d'arrêt" in str(r["Résultat"]) + str(r.get("MessageRetour")) for r in rows
        ) or any("délai d'arrêt" in " ".join(str(v) for v in r.values()) for r in rows)
        assert by_reference(base_url) == {}


def _count_rows(journal: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM rows").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
