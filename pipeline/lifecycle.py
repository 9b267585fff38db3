"""The nightly run's file lifecycle: one run at a time, which files are ready, where they go.

Nothing here deletes or overwrites a user's file: moves go to a fresh name when the
target exists (``name-2.xlsx``, ``name-3.xlsx``...).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from filelock import FileLock, Timeout

log = structlog.get_logger("dit_batch.lifecycle")

REJECTED_DIRNAME = "rejetes"
# Names that say "still being written / not for us": Excel and LibreOffice lock files,
# browser and copy-tool partial downloads, editor temporaries, hidden files.
_TEMP_PREFIXES = ("~$", ".~lock.", ".", "~")
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")


class RunInProgress(Exception):
    """Another run holds the lock."""


@contextmanager
def run_lock(lock_path: Path) -> Iterator[None]:
    """Hold the single-run lock for the duration of the block, or raise RunInProgress at once.

    The lock is an OS-level lock (filelock): it is released by the kernel if the
    process dies, so a crash never leaves a stale lock behind.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise RunInProgress(str(lock_path)) from exc
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file found in the input folder, and why it is left for later (or '' when ready)."""

    path: Path
    skip_reason: str = ""

    @property
    def ready(self) -> bool:
        return not self.skip_reason


def _is_hidden(name: str) -> bool:
    """Dot files (``.gitkeep``, ``.DS_Store``) are not business files: silently ignored."""
    return name.startswith(".") and not name.startswith(".~lock.")


def is_temporary_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(_TEMP_PREFIXES) or lowered.endswith(_TEMP_SUFFIXES)


def scan_input(
    input_dir: Path, *, stable_after_s: float, now: Callable[[], float]
) -> list[Candidate]:
    """Files of ``input_dir`` (not its sub-folders) in a stable order (by name).

    Temporary or lock files and files modified less than ``stable_after_s`` seconds ago
    are reported with a skip reason and left where they are for the next run.
    """
    if not input_dir.is_dir():
        return []
    found: list[Candidate] = []
    current = now()
    for path in sorted(input_dir.iterdir(), key=lambda p: p.name):
        if not path.is_file() or _is_hidden(path.name):
            continue
        if is_temporary_name(path.name):
            found.append(Candidate(path, "fichier temporaire ou verrou, ignoré"))
            continue
        age = current - path.stat().st_mtime
        if age < stable_after_s:
            found.append(
                Candidate(
                    path, f"modifié il y a {max(age, 0):.0f} s : laissé pour le prochain passage"
                )
            )
            continue
        found.append(Candidate(path))
    return found


def unique_target(directory: Path, name: str) -> Path:
    """A path in ``directory`` named ``name`` or ``stem-N.suffix`` that does not exist yet."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while target.exists():
        target = directory / f"{stem}-{n}{suffix}"
        n += 1
    return target


def move_unique(path: Path, directory: Path) -> Path:
    """Move ``path`` into ``directory`` without ever overwriting; returns the new path."""
    target = unique_target(directory, path.name)
    # os.link + unlink would refuse to overwrite atomically, but fails across devices;
    # the existence check above plus shutil.move is enough for a single-run lock holder.
    try:
        shutil.move(str(path), str(target))
    except OSError:
        # Across devices shutil.move copies then deletes: a copy cut short (disk full)
        # is ours, the user's file is still where it was.
        if path.exists() and target.exists():
            target.unlink(missing_ok=True)
        raise
    return target


def archive(path: Path, archive_dir: Path, today: datetime) -> Path:
    """Move a processed input file to ``archive_dir/YYYY-MM-DD/``."""
    return move_unique(path, archive_dir / today.strftime("%Y-%m-%d"))


def reject(path: Path, input_dir: Path) -> Path:
    """Move an unreadable input file to ``input_dir/rejetes/``."""
    return move_unique(path, input_dir / REJECTED_DIRNAME)


def stale_temporaries(directory: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Regular files of ``directory`` (not its sub-folders) whose whole name matches
    ``pattern``: what a killed run left behind, for a run holding the run lock."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if pattern.fullmatch(p.name) and p.is_file())


def remove_stale_temporaries(directory: Path, pattern: re.Pattern[str]) -> list[str]:
    """Remove :func:`stale_temporaries`; returns the names removed (one that cannot be
    removed is left, and logged)."""
    removed = []
    for path in stale_temporaries(directory, pattern):
        try:
            path.unlink()
        except OSError as exc:
            log.warning("stale_temporary_kept", file=path.name, error=str(exc))
            continue
        removed.append(path.name)
    if removed:
        log.info("stale_temporaries_removed", count=len(removed), folder=str(directory))
    return removed


def file_sha256(path: Path) -> str:
    """The file's SHA-256 (hex), as the reader computes it; '' when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()
