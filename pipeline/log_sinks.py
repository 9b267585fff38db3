"""Where log records go: the console (through tqdm, filtered) and the run's log file.

Logging must never raise nor print Python's "--- Logging error ---" tracebacks: a
console that cannot be written is ignored; a log file that cannot be written (disk
full, read-only folder) is given up at its first failure, with one French line on the
console, and :attr:`SafeFileHandler.problem` tells the run's summary why. A leaf used
by pipeline/logs.py.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from pipeline.stopping import storage_cause


class SkipEvents(logging.Filter):
    """Keeps high-volume INFO events (per call, per row) off the console."""

    def __init__(self, events: frozenset[str]) -> None:
        super().__init__()
        self.events = events

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not isinstance(record.msg, dict):
            return True
        return record.msg.get("event") not in self.events


class ConsoleHandler(logging.StreamHandler[TextIO]):
    """Writes through tqdm so that a running progress bar is redrawn below the line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never raise
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        """A console that cannot be written: nothing else to tell it to."""


class SafeFileHandler(logging.FileHandler):
    """The run's JSON-lines log; gives up at the first write that fails."""

    problem = ""  # why the log file is missing or incomplete (French), for the summary

    def __init__(self, path: Path, console: TextIO) -> None:
        super().__init__(path, encoding="utf-8")
        self.path = path
        self.console = console
        self.failed = False

    @classmethod
    def open(cls, path: Path, console: TextIO) -> SafeFileHandler | None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return cls(path, console)
        except OSError as exc:
            cls._give_up(path, console, exc, "ne peut pas être créé")
            return None

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            self._fail(exc)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        self._fail(exc if exc is not None else OSError("écriture impossible"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            super().close()

    def _fail(self, exc: BaseException) -> None:
        if self.failed:
            return
        self.failed = True
        self._give_up(self.path, self.console, exc, "est incomplet à partir d'ici")
        with contextlib.suppress(OSError):
            if self.stream is not None:
                self.stream.close()
        self.stream = None

    @classmethod
    def _give_up(cls, path: Path, console: TextIO, exc: BaseException, what: str) -> None:
        cls.problem = f"le journal d'exécution {path} {what} ({storage_cause(exc)})"
        with contextlib.suppress(Exception):
            console.write(f"Attention : {cls.problem}.\n")
