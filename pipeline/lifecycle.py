"""The nightly run's file lifecycle: one run at a time, which files are ready, where they go.

Nothing here deletes or overwrites a user's file: moves go to a fresh name when the
target exists (``name-2.xlsx``, ``name-3.xlsx``...).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
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


# A name of at most this many bytes leaves room for "-NN" and for the report's
# "_a_resoumettre_<timestamp>.xlsx" within the 255 bytes most file systems allow.
MAX_NAME_BYTES = 200


class RunInProgress(Exception):
    """Another run holds the lock."""


class FolderBlocked(Exception):
    """``input/rejetes`` exists but is not a folder: nothing can be set aside there."""


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
    """Entries of ``input_dir`` in a stable order (by name), each ready or with the
    reason it is left alone.

    Only regular files are read. Symbolic links (never followed: a link could lead out
    of ``input/``, and archiving it would keep the link, not the data), sub-folders,
    pipes, devices and sockets are reported and left where they are, as is anything
    named like the project's own folder ``rejetes`` that is not that folder. Temporary
    or lock files and files modified less than ``stable_after_s`` seconds ago are left
    for the next run. Hidden entries (``.gitkeep``) are ignored silently.
    """
    if not input_dir.is_dir():
        return []
    found: list[Candidate] = []
    current = now()
    for path in sorted(input_dir.iterdir(), key=lambda p: os.fsencode(p.name)):
        if _is_hidden(path.name):
            continue
        try:
            info = path.lstat()
        except OSError:
            continue  # vanished since the listing
        if path.name == REJECTED_DIRNAME and stat.S_ISDIR(info.st_mode):
            continue  # our own folder of rejected files
        reason = _not_a_file(path.name, info.st_mode)
        if reason:
            found.append(Candidate(path, reason))
            continue
        if is_temporary_name(path.name):
            found.append(Candidate(path, "fichier temporaire ou verrou, ignoré"))
            continue
        age = current - info.st_mtime
        if age < stable_after_s:
            found.append(
                Candidate(
                    path, f"modifié il y a {max(age, 0):.0f} s : laissé pour le prochain passage"
                )
            )
            continue
        found.append(Candidate(path))
    return found


def _not_a_file(name: str, mode: int) -> str | None:
    """Why an entry of input/ (other than the folder of rejected files) is not read
    (French), or None for a regular file."""
    if name.casefold() == REJECTED_DIRNAME and name != REJECTED_DIRNAME:
        return (
            f"nom trop proche de celui du dossier des fichiers refusés (input/{REJECTED_DIRNAME}/)"
            " : laissé tel quel et non lu ; renommez-le pour éviter toute confusion"
        )
    if name == REJECTED_DIRNAME:
        return (
            f"porte le nom réservé au dossier des fichiers refusés (input/{REJECTED_DIRNAME}/) "
            "mais n'est pas ce dossier : laissé tel quel ; renommez-le, sans quoi les fichiers "
            "illisibles restent dans input/"
        )
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return (
            "lien symbolique, laissé tel quel et non suivi : déposez le fichier lui-même "
            "dans input/"
        )
    if stat.S_ISDIR(mode):
        return (
            "dossier, laissé tel quel (ses fichiers ne sont pas lus) : déposez les fichiers "
            "directement dans input/"
        )
    return "fichier spécial (tube, périphérique ou socket), laissé tel quel et non lu"


def fit_name(name: str, limit: int = MAX_NAME_BYTES) -> str:
    """``name`` itself when its UTF-8 form fits in ``limit`` bytes; else the start of
    its stem, ``~``, eight hex digits of a hash of the whole name, and its suffix."""
    encoded = os.fsencode(name)
    if len(encoded) <= limit:
        return name
    path = Path(name)
    suffix = path.suffix if len(os.fsencode(path.suffix)) <= 16 else ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    digest = hashlib.sha256(encoded).hexdigest()[:8]
    room = limit - len(os.fsencode(suffix)) - 9
    start = os.fsencode(stem)[:room].decode("utf-8", "ignore")
    return f"{start}~{digest}{suffix}"


def unique_target(directory: Path, name: str) -> Path:
    """A path in ``directory`` named ``name`` or ``stem-N.suffix`` that does not exist yet."""
    directory.mkdir(parents=True, exist_ok=True)
    name = fit_name(name)
    target = directory / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while target.exists() or target.is_symlink():
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
    """Move an unreadable input file to ``input_dir/rejetes/``; FolderBlocked when that
    name is taken by something other than a folder (the file then stays in input/)."""
    folder = input_dir / REJECTED_DIRNAME
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise FolderBlocked(
            f"« {REJECTED_DIRNAME} » dans input/ n'est pas un dossier : le fichier reste "
            f"dans input/ ; renommez « {REJECTED_DIRNAME} » pour que les fichiers refusés "
            "y soient rangés"
        )
    return move_unique(path, folder)


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
