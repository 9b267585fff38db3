"""The run's stop object and the French words of storage failures (pipeline/stopping.py),
and the run log giving up without a traceback (pipeline/log_sinks.py)."""

from __future__ import annotations

import errno
import io
import logging
import sqlite3
from pathlib import Path

import pytest

from pipeline.log_sinks import SafeFileHandler
from pipeline.stopping import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    RunStop,
    StopCause,
    StopKind,
    storage_cause,
)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "disque plein"),
        (sqlite3.OperationalError("database or disk is full"), "disque plein"),
        (OSError(errno.EACCES, "Permission denied"), "droits insuffisants"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "droits insuffisants"),
        (OSError(errno.EROFS, "Read-only file system"), "lecture seule"),
        (sqlite3.OperationalError("database is locked"), "journal verrouillé par un autre"),
        (sqlite3.DatabaseError("database disk image is malformed"), "journal endommagé"),
        (sqlite3.DatabaseError("file is not a database"), "restaurez la sauvegarde"),
        (sqlite3.OperationalError("disk I/O error"), "entrée-sortie"),
    ],
)
def test_storage_causes_in_french_with_the_technical_text(exc: Exception, words: str) -> None:
    text = storage_cause(exc)
    assert words in text and str(exc) in text


def test_first_cause_wins_and_the_grace_counts_from_it() -> None:
    now = [100.0]
    stop = RunStop(grace_s=20, clock=lambda: now[0])
    assert not stop.is_set and stop.grace_left() == float("inf")
    first = StopCause(StopKind.INTERRUPTED, "signal", EXIT_INTERRUPTED)
    assert stop.request(first)
    now[0] = 105.0
    assert not stop.request(StopCause(StopKind.ENDPOINT, "url", EXIT_CONFIG))
    assert stop.cause is first and stop.grace_left() == 15.0
    assert not stop.halts_dialogues  # after a signal, dialogues past creation finish
    endpoint = RunStop()
    endpoint.request(StopCause(StopKind.ENDPOINT, "url", EXIT_CONFIG))
    assert endpoint.halts_dialogues


def test_a_stop_cuts_a_back_off_sleep_short() -> None:
    stop = RunStop()
    stop.request(StopCause(StopKind.INTERRUPTED, "signal", EXIT_INTERRUPTED))
    stop.sleep(3600)  # returns at once


def test_run_log_that_cannot_be_written_gives_up_once_without_traceback(tmp_path: Path) -> None:
    console = io.StringIO()
    handler = SafeFileHandler.open(tmp_path / "run.jsonl", console)
    assert handler is not None and handler.stream is not None
    handler.stream.close()  # the file can no longer be written (as on a full disk)
    logger = logging.getLogger("test.safe_file")
    logger.addHandler(handler)
    try:
        logger.warning("premier")
        logger.warning("second")
    finally:
        logger.removeHandler(handler)
        handler.close()
    said = console.getvalue()
    assert said.count("Attention : le journal d'exécution") == 1
    assert "Traceback" not in said and "Logging error" not in said
    assert "incomplet" in SafeFileHandler.problem


def test_run_log_folder_that_cannot_be_created_leaves_the_console(tmp_path: Path) -> None:
    blocker = tmp_path / "logs"
    blocker.write_text("un fichier, pas un dossier", encoding="utf-8")
    console = io.StringIO()
    assert SafeFileHandler.open(blocker / "run.jsonl", console) is None
    assert "ne peut pas être créé" in console.getvalue()
