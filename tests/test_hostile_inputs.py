"""No input file can take the night down: a corpus of hostile files (tests/hostile_corpus.py)
beside one good file, through ``run_batch.py`` in a subprocess, dry and real against the
built-in simulator.

What must hold, for every entry: no crash, no hang, no traceback, no English engine text
without a French sentence before it, no line of the console or the log carrying more
than a bounded amount of user data; every entry reported; its bytes kept (input/,
input/rejetes/ or archive/); the memory of the run and of each workbook's reading
process under the budget; and the good file fully processed.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from e2e_support import RUN_BATCH, TODAY, fixture_pce, read_sheet, write_settings
from hostile_corpus import HEADER, Entry, build_corpus, tree_bytes

from pipeline.records import display_name

BUDGET_MB = 384
READ_S = 8
# The longest console or log line a run may print: its own words, a file name (at most
# 120 characters) and bounded excerpts of user data.
MAX_LINE = 2_000


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-cache")


def _project(root: Path, cache: Path) -> tuple[Path, list[Entry], str]:
    config = write_settings(root)
    text = config.read_text(encoding="utf-8").replace(
        "[input]\n", f"[input]\nmax_memory_mb = {BUDGET_MB}\nmax_read_s = {READ_S}\n"
    )
    config.write_text(text, encoding="utf-8")
    outside = root / "outside"
    outside.mkdir()
    entries = build_corpus(root / "input", cache, outside)
    pce, _postal = fixture_pce("JJ", "1")
    good = (
        ";".join(HEADER)
        + "\n"
        + "".join(f"{pce};REF-BON-{n};206;2026-12-{10 + n};Dupont\n" for n in range(3))
    )
    (root / "input" / "zz_bon.csv").write_text(good, encoding="utf-8")
    return config, entries, pce


def _run(config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """run_batch.py, its exit, its peak memory (MB) and its duration (s). The peak is the
    largest of this test process's children so far (``RUSAGE_CHILDREN``): an upper
    bound of this run's. The reading processes are not among them (they are the
    children of the run's fork server): their peaks are in the run's log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIT_")}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(RUN_BATCH), "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=config.parent,
    )
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return done, peak, time.monotonic() - started


def _events(root: Path) -> list[dict[str, Any]]:
    logs = sorted((root / "output" / "logs").glob("run-*.jsonl"))
    assert logs, "no run log"
    lines = logs[-1].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _common_checks(
    root: Path, proc: subprocess.CompletedProcess[str], entries: list[Entry]
) -> list[dict[str, Any]]:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out and "Logging error" not in out, out[-3000:]
    assert "root:x:0:0" not in out, "a file out of input/ was read"
    assert "memory allocation" not in out and "panicked" not in out
    for line in out.splitlines():
        assert len(line) <= MAX_LINE, line[:300]
    for entry in entries:  # every entry is reported, by its printable name
        assert f"• {display_name(entry.name)} :" in proc.stdout, (entry.what, entry.name)
    events = _events(root)
    log_text = "\n".join(json.dumps(e, ensure_ascii=False) for e in events)
    assert "root:x:0:0" not in log_text
    for event in events:
        assert len(json.dumps(event, ensure_ascii=False)) <= 2 * MAX_LINE, str(event)[:300]
    # English engine text only ever after a French sentence, in parentheses.
    for marker in ("Could not find EOCD", "File not found", "Expecting", "unrecognized entity"):
        for line in out.splitlines():
            if marker in line:
                assert "(détail technique : " in line.split(marker)[0], line[:300]
    peaks = [e["read_peak_mb"] for e in events if e.get("read_peak_mb") is not None]
    assert peaks and max(peaks) < BUDGET_MB, peaks
    return events


def test_hostile_corpus_dry_then_real(tmp_path: Path, cache: Path) -> None:
    config, entries, _pce = _project(tmp_path, cache)
    assert len(entries) >= 60
    before = tree_bytes(tmp_path / "input")

    proc, peak, seconds = _run(config, "--dry-run")
    _common_checks(tmp_path, proc, entries)
    assert peak < BUDGET_MB, peak
    assert tree_bytes(tmp_path / "input") == before, "the dry run moved or changed a file"
    assert seconds < 200
    _header, rows = read_sheet(sorted((tmp_path / "output").glob("zz_bon_resultats_*.xlsx"))[0])
    assert [r["Statut"] for r in rows] == ["VALIDE"] * 3

    proc, peak, seconds = _run(config)
    events = _common_checks(tmp_path, proc, entries)
    assert peak < BUDGET_MB, peak
    assert seconds < 200
    # Every byte the user gave is still somewhere: input/, input/rejetes/ or archive/.
    after = tree_bytes(tmp_path / "input")
    for digest, count in tree_bytes(tmp_path / "archive").items():
        after[digest] = after.get(digest, 0) + count
    for digest, count in before.items():
        assert after.get(digest, 0) >= count, "a user's file disappeared"
    # Each entry where its fate says, the special entries untouched.
    rejected = tmp_path / "input" / "rejetes"
    archived = tmp_path / "archive" / TODAY
    for entry in entries:
        where = {
            "read": archived,
            "rejected": rejected,
            "left": tmp_path / "input",
        }[entry.fate]
        names = {p.name for p in where.iterdir()} if where.is_dir() else set()
        present = entry.name in names or any(
            n.startswith(entry.name[:40]) and "~" in n for n in names
        )
        assert present, (entry.fate, entry.what, entry.name)
    assert (tmp_path / "input" / "s02_passwd_link.csv").is_symlink()
    # the good file: fully processed, archived, each row's demand created
    books = (tmp_path / "output").glob("zz_bon_resultats_*.xlsx")
    _header, rows = read_sheet(max(books, key=lambda p: p.stat().st_mtime_ns))
    assert [r["Statut"] for r in rows] == ["DATE_DEMANDEE"] * 3
    assert all(r["NumeroDemande"] for r in rows)
    assert (archived / "zz_bon.csv").exists()
    # the budget findings say what was too big, the limit, and what to do
    budget = [
        e
        for e in events
        if "BUDGET" in str(e.get("reason", "")) or "Mo permis" in str(e.get("reason", ""))
    ]
    assert budget, "no file was refused for its budget"
    reasons = {
        e["file"]: str(e.get("reason", "")) for e in events if e.get("event") == "file_rejected"
    }
    assert "384 Mo" in reasons["x02_stray_value_xfd.xlsx"]
    assert "max_read_s" in reasons["x10_bomb_time.xlsx"], reasons["x10_bomb_time.xlsx"]
    assert "max_memory_mb" in reasons["x11_bomb_memory.xlsx"]
    assert "max_memory_mb" in reasons["x06_unique_count.xlsx"]
    assert "Feuil2" in reasons["x30_empty_demandes_data_elsewhere.xlsx"]
    assert re.search(r"feuille « Demandes »", reasons["x15_no_sheet_part.xlsx"])
    # too wide inputs: valid result workbooks, within Excel's 16,384 columns
    for stem in ("x31_16384_columns", "c01_wide_header"):
        book = sorted((tmp_path / "output").glob(f"{stem}_resultats_*.xlsx"))[-1]
        workbook = openpyxl.load_workbook(book, read_only=True)
        sheet = workbook["Résultats"]
        width = max(len(r) for r in sheet.iter_rows(max_row=2, values_only=True))
        assert 16_000 < width <= 16_384, (stem, width)
        workbook.close()
    assert "COLONNES_EXCEDENTAIRES" in proc.stdout or "laissées de côté" in proc.stdout
    # the workbook with one formatted cell at XFD1048576 is read as if it were not there
    stray = sorted((tmp_path / "output").glob("x01_stray_format_xfd_resultats_*.xlsx"))
    _header, rows = read_sheet(stray[0])
    assert len(rows) == 50


def test_a_plain_file_named_rejetes_is_reported_and_the_night_goes_on(tmp_path: Path) -> None:
    """``input/rejetes`` taken by a plain file: reported, unreadable files stay in input/
    with a note saying why, the other files are processed."""
    config = write_settings(tmp_path)
    folder = tmp_path / "input"
    (folder / "rejetes").write_text("je ne suis pas un dossier", encoding="utf-8")
    (folder / "casse.xlsx").write_bytes(b"PK\x03\x04 pas un classeur")
    pce, _postal = fixture_pce("JJ", "1")
    (folder / "bon.csv").write_text(
        ";".join(HEADER) + f"\n{pce};REF-R1;206;2026-12-10;Dupont\n", encoding="utf-8"
    )
    proc, _peak, _seconds = _run(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "• rejetes : non lu (porte le nom réservé" in proc.stdout
    assert (folder / "casse.xlsx").exists() and (folder / "rejetes").is_file()
    assert "le fichier reste dans input/" in proc.stdout
    assert (tmp_path / "archive" / TODAY / "bon.csv").exists()
