"""Fail-stop storage, with real faults through a real ``run_batch.py``: a journal and an
output folder on a small tmpfs that fills up mid-run, a journal damaged in its middle,
a journal locked by another process, temporary workbooks left by a killed run.

The tmpfs tests need root (``mount -t tmpfs``); they are skipped otherwise, saying so.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import read_sheet, run_batch, write_settings
from stop_support import by_reference, simulator_process, write_rows

ROWS = 60
JOURNAL_STATES_AFTER_SEND = {"create_sent", "created", "slot", "final"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 8 MiB tmpfs (real ENOSPC when full); skipped when it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("un tmpfs ne peut être monté que par root (mount -t tmpfs)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"montage tmpfs impossible ici : {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` but ``leave`` bytes; returns the filler (delete it to free the space)."""
    stat = os.statvfs(disk)
    filler = disk / ".remplissage"
    filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - leave))
    return filler


def _clean(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "Logging error" not in out, out
    return out


def _stop_line(proc: subprocess.CompletedProcess[str]) -> str:
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("PASSAGE ARRÊTÉ")]
    return line


def _journal(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT key, state FROM rows WHERE status IS NOT 'DEJA_TRAITEE'")
        return dict(rows.fetchall())
    finally:
        conn.close()


def _rerun_finishes_each_row_once(
    root: Path, base_url: str, refs: list[str], output: Path | None = None
) -> list[dict[str, object]]:
    proc = run_batch(root / "settings.toml")
    _clean(proc)
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr
    sent = by_reference(base_url)
    assert {r: sent[r] for r in refs} == dict.fromkeys(refs, 1)  # every row, no duplicate
    assert not (root / "input" / "nuit.csv").exists()  # archived: all rows final
    books = sorted((output or root / "output").glob("*_resultats_*.xlsx"), key=os.path.getmtime)
    _, rows = read_sheet(books[-1])
    assert sorted(str(r["ReferenceDemande"]) for r in rows) == refs  # each row reported once
    assert not [b for b in books if "reprise" in b.name]
    return rows


@pytest.mark.timeout(240)
def test_journal_disk_full_stops_sending_at_once_and_the_rerun_finishes(
    tmp_path: Path, small_disk: Path
) -> None:
    """The journal's disk fills mid-run: exit 7, one message naming the journal and
    "disque plein", no demand OMEGA holds without its step committed first, the file
    kept; with space again the rerun finishes every row, each demand exactly once."""
    with simulator_process() as base_url:
        refs = write_rows(tmp_path / "input" / "nuit.csv", ROWS)
        config = write_settings(tmp_path, url=base_url)
        journal = small_disk / "journal.sqlite3"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace("var/journal.sqlite3", str(journal)), encoding="utf-8")
        filler = _fill(small_disk, 300_000)

        proc = run_batch(config)
        _clean(proc)
        assert proc.returncode == 7, proc.stdout + proc.stderr
        line = _stop_line(proc)
        assert f"Journal {journal}" in line and "disque plein" in line
        assert "Code de sortie : 7" in proc.stdout
        assert (tmp_path / "input" / "nuit.csv").exists()
        sent = by_reference(base_url)
        assert len(sent) < ROWS
        states = _journal(journal)
        for ref in sent:  # no call went out before its preceding step was committed
            assert states.get(ref) in JOURNAL_STATES_AFTER_SEND, (ref, states.get(ref))

        filler.unlink()
        rows = _rerun_finishes_each_row_once(tmp_path, base_url, refs)
        for row in rows:  # A_VERIFIER only where OMEGA holds the demand
            assert row["Statut"] != "A_VERIFIER" or row["ReferenceDemande"] in sent


@pytest.mark.timeout(240)
def test_output_disk_full_keeps_the_file_and_the_rerun_reports_each_row_once(
    tmp_path: Path, small_disk: Path
) -> None:
    """The output folder (and its logs/ folder) is full: the workbook cannot be written,
    exit 7 with one message naming the folder, no "Logging error" on any stream, the
    file stays in input/; the rerun reports every row once, nothing sent twice."""
    with simulator_process() as base_url:
        refs = write_rows(tmp_path / "input" / "nuit.csv", ROWS)
        config = write_settings(tmp_path, url=base_url)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('"output"', f'"{small_disk}"'), encoding="utf-8")
        filler = _fill(small_disk, 8_000)

        proc = run_batch(config)
        out = _clean(proc)
        assert proc.returncode == 7, out
        line = _stop_line(proc)
        assert f"Dossier de sortie {small_disk}" in line and "disque plein" in line
        assert "incomplet" in out  # the run log's own failure, said once
        assert (tmp_path / "input" / "nuit.csv").exists()
        assert not list(small_disk.glob("*.xlsx")) and not list(small_disk.glob(".dit-batch-*"))
        first = by_reference(base_url)  # sent and journaled, but never reported

        filler.unlink()
        rows = _rerun_finishes_each_row_once(tmp_path, base_url, refs, small_disk)
        assert first  # (observed: all 60, the workbook fails when it is finished)
        for row in rows:  # reported now, once: with the number the first run obtained
            if row["ReferenceDemande"] in first:
                assert row["Statut"] == "DEJA_TRAITEE" and row["NumeroDemande"], row
            else:
                assert row["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}, row


def _journal_with_many_pages(root: Path) -> Path:
    """A real journal of a finished run (a few hundred rows: many pages)."""
    write_rows(root / "input" / "avant.csv", 150, prefix="AVANT")
    proc = run_batch(write_settings(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "var" / "journal.sqlite3"


@pytest.mark.timeout(240)
def test_journal_damaged_in_its_middle_is_the_storage_exit_code_with_what_to_do(
    tmp_path: Path,
) -> None:
    journal = _journal_with_many_pages(tmp_path)
    size = journal.stat().st_size
    assert size > 20 * 4096
    with journal.open("r+b") as fh:  # pages in the middle overwritten, the header intact
        fh.seek((size // 4096 // 2) * 4096)
        fh.write(b"\xde\xad\xbe\xef" * 4096)
    refs = write_rows(tmp_path / "input" / "nuit.csv", 6)

    proc = run_batch(tmp_path / "settings.toml")
    out = _clean(proc)
    assert proc.returncode == 7, out
    assert f"Journal {journal}" in out and "journal endommagé" in out and "restaurez" in out
    assert "Erreur inattendue" not in out
    assert (tmp_path / "input" / "nuit.csv").exists()
    assert refs  # nothing of the new file was sent: the run stopped before any call


@pytest.mark.timeout(240)
def test_journal_locked_by_another_process_is_said_after_a_short_wait(tmp_path: Path) -> None:
    journal = _journal_with_many_pages(tmp_path)
    write_rows(tmp_path / "input" / "nuit.csv", 6)
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None);"
            " c.execute('BEGIN EXCLUSIVE'); print('ok', flush=True); time.sleep(60)",
            str(journal),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        proc = run_batch(tmp_path / "settings.toml")
    finally:
        holder.kill()
        holder.wait()
    out = _clean(proc)
    assert proc.returncode == 7, out
    assert "journal verrouillé par un autre processus" in out and str(journal) in out
    assert (tmp_path / "input" / "nuit.csv").exists()


def test_temporary_workbooks_of_a_killed_run_are_removed_and_nothing_else(
    tmp_path: Path,
) -> None:
    """Only the project's own temporary names, only in its output folder."""
    write_settings(tmp_path)
    output = tmp_path / "output"
    output.mkdir()
    stale = output / ".dit-batch-0123456789ab.xlsx.tmp"
    stale.write_bytes(b"PK partial")
    kept = [output / ".dit-batch-notours.xlsx.tmp", output / "mon.xlsx.tmp", output / ".gitkeep"]
    for path in kept:
        path.write_bytes(b"x")
    (tmp_path / "input" / ".dit-batch-0123456789ab.xlsx.tmp").write_bytes(b"x")

    proc = run_batch(tmp_path / "settings.toml", "--dry-run")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not stale.exists() and all(p.exists() for p in kept)
    assert (tmp_path / "input" / ".dit-batch-0123456789ab.xlsx.tmp").exists()
    assert "Fichiers temporaires d'un passage interrompu supprimés : 1" in proc.stdout


@pytest.mark.timeout(240)
def test_read_only_output_folder_stops_the_run_before_the_file_moves(
    tmp_path: Path, small_disk: Path
) -> None:
    """An output folder that refuses writing (read-only file system: its logs/ folder
    cannot even be created): the workbook fails before the first row, so nothing is
    sent; exit 7 naming the folder, the run log's absence said, no traceback, the file
    kept; writable again, the rerun sends and reports every row once."""
    with simulator_process() as base_url:
        refs = write_rows(tmp_path / "input" / "nuit.csv", 12)
        config = write_settings(tmp_path, url=base_url)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('"output"', f'"{small_disk}"'), encoding="utf-8")
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)

        proc = run_batch(config)
        out = _clean(proc)
        assert proc.returncode == 7, out
        line = _stop_line(proc)
        assert f"Dossier de sortie {small_disk}" in line and "lecture seule" in line
        assert out.count("ne peut pas être créé") == 2  # on stderr, and in the summary
        assert (tmp_path / "input" / "nuit.csv").exists()
        assert by_reference(base_url) == {}

        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
        rows = _rerun_finishes_each_row_once(tmp_path, base_url, refs, small_disk)
        assert {r["Statut"] for r in rows} <= {"RDV_PROGRAMME", "DATE_DEMANDEE"}


@pytest.mark.timeout(240)
def test_archive_that_cannot_be_written_keeps_the_file_and_stops_the_run(
    tmp_path: Path, small_disk: Path
) -> None:
    """The archive folder refuses writing: the rows are done and reported, the file stays
    in input/ (never half-moved), exit 7 naming the archive folder."""
    with simulator_process() as base_url:
        write_rows(tmp_path / "input" / "nuit.csv", 6)
        config = write_settings(tmp_path, url=base_url)
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('"archive"', f'"{small_disk}"'), encoding="utf-8")
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        proc = run_batch(config)
        out = _clean(proc)
        assert proc.returncode == 7, out
        line = _stop_line(proc)
        assert f"Archivage de nuit.csv dans {small_disk}" in line and "lecture seule" in line
        assert "Problème : archivage impossible" in proc.stdout
        assert (tmp_path / "input" / "nuit.csv").exists() and not list(small_disk.iterdir())
        [book] = (tmp_path / "output").glob("nuit_resultats_*.xlsx")
        assert {r["Statut"] for r in read_sheet(book)[1]} <= {"RDV_PROGRAMME", "DATE_DEMANDEE"}
