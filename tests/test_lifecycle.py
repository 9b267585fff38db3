"""The nightly run's file lifecycle: lock, readiness of files, moves that never overwrite."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from pipeline import lifecycle


def _touch(path: Path, content: bytes = b"x", age_s: float = 3600.0) -> Path:
    path.write_bytes(content)
    old = path.stat().st_mtime - age_s
    os.utime(path, (old, old))
    return path


def test_scan_skips_lock_temporary_and_fresh_files(tmp_path: Path) -> None:
    """Excel lock files, partial downloads and files modified within the stability window wait."""
    _touch(tmp_path / "b.xlsx")
    _touch(tmp_path / "a.csv")
    _touch(tmp_path / "~$b.xlsx")
    _touch(tmp_path / "c.xlsx.part")
    _touch(tmp_path / "fresh.csv", age_s=5)
    _touch(tmp_path / ".gitkeep")
    (tmp_path / "rejetes").mkdir()
    now = (tmp_path / "b.xlsx").stat().st_mtime + 3600
    found = lifecycle.scan_input(tmp_path, stable_after_s=60, now=lambda: now)
    ready = [c.path.name for c in found if c.ready]
    waiting = {c.path.name for c in found if not c.ready}
    assert ready == ["a.csv", "b.xlsx"]
    assert waiting == {"~$b.xlsx", "c.xlsx.part", "fresh.csv"}


def test_scan_of_missing_folder_is_empty(tmp_path: Path) -> None:
    """A missing input folder yields no candidate instead of an error."""
    assert lifecycle.scan_input(tmp_path / "nope", stable_after_s=0, now=lambda: 0.0) == []


def test_archive_never_overwrites(tmp_path: Path) -> None:
    """Archiving a second file of the same name on the same day keeps both."""
    day = datetime(2026, 11, 28, 2, 0)
    first = lifecycle.archive(_touch(tmp_path / "f.csv", b"one"), tmp_path / "arch", day)
    second = lifecycle.archive(_touch(tmp_path / "f.csv", b"two"), tmp_path / "arch", day)
    assert first == tmp_path / "arch" / "2026-11-28" / "f.csv"
    assert second == tmp_path / "arch" / "2026-11-28" / "f-2.csv"
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"


def test_reject_moves_into_rejetes(tmp_path: Path) -> None:
    """An unreadable file goes to input/rejetes/ with its content intact."""
    moved = lifecycle.reject(_touch(tmp_path / "bad.xlsx", b"garbage"), tmp_path)
    assert moved == tmp_path / "rejetes" / "bad.xlsx"
    assert moved.read_bytes() == b"garbage"


def test_second_lock_holder_is_refused(tmp_path: Path) -> None:
    """While one process holds the run lock, another is refused at once."""
    lock = tmp_path / "run.lock"
    with lifecycle.run_lock(lock):
        code = (
            "import sys\nfrom pathlib import Path\nfrom pipeline import lifecycle\n"
            "try:\n    with lifecycle.run_lock(Path(sys.argv[1])):\n        sys.exit(0)\n"
            "except lifecycle.RunInProgress:\n    sys.exit(3)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code, str(lock)], timeout=60)
        assert proc.returncode == 3
    with lifecycle.run_lock(lock):
        pass


@pytest.mark.parametrize("name", ["~$x.xlsx", ".~lock.x.xlsx#", "x.tmp", "x.crdownload", ".hidden"])
def test_temporary_names(name: str) -> None:
    """Names written by Excel, LibreOffice, browsers and editors while busy are temporary."""
    assert lifecycle.is_temporary_name(name)
