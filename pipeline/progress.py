"""Progress of a run: a tqdm bar on a terminal, periodic log events otherwise (cron).

    progress = Progress()                    # decides once: terminal or not
    progress.start_file("demandes.xlsx", total=1200)
    progress.advance(status=Status.RDV_PROGRAMME)   # thread-safe, from any worker
    progress.finish_file()
    progress.close()

On a terminal (``isatty()`` of the stream), one bar per file on stderr: rows
done/total, rate, ETA, and the counts per status family. Otherwise a structlog
event ``progress`` every ``interval_s`` seconds (default 60) with ``file``,
``done``, ``total``, ``percent``, ``rate_per_s``, ``eta_s`` and ``statuses``,
plus ``file_progress_done`` when a file ends. The clock is injected.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Never, TextIO

import structlog
from tqdm import tqdm

from pipeline.records import Status

_log = structlog.get_logger("pipeline.progress")


class Progress:
    """Rows done per file, shown as a bar on a terminal or logged periodically."""

    def __init__(
        self,
        *,
        stream: TextIO = sys.stderr,
        isatty: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 60.0,
        enabled: bool = True,
    ) -> None:
        if isatty is None:
            isatty = getattr(stream, "isatty", None) or (lambda: False)
        tty = bool(isatty())
        self.mode = "off" if not enabled else ("bar" if tty else "log")
        self._stream = stream
        self._clock = clock
        self._interval = interval_s
        self._lock = threading.Lock()
        self._bar: tqdm[Never] | None = None
        self._file = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._last_report = 0.0
        self._statuses: Counter[str] = Counter()

    def start_file(self, name: str, total: int | None) -> None:
        """Begin counting the rows of one file (``total`` None when unknown)."""
        with self._lock:
            self._close_bar()
            self._file, self._total, self._done = name, total, 0
            self._statuses = Counter()
            self._started = self._last_report = self._clock()
            if self.mode == "bar":
                self._bar = tqdm(
                    total=total,
                    desc=name,
                    unit=" lignes",
                    file=self._stream,
                    dynamic_ncols=True,
                    leave=True,
                    mininterval=0.5,
                )
            elif self.mode == "log":
                _log.info("file_progress_start", file=name, total=total)

    def advance(self, n: int = 1, status: Status | str | None = None) -> None:
        """Count ``n`` more rows done (with their final status, when known)."""
        with self._lock:
            self._done += n
            if status is not None:
                self._statuses[str(status)] += n
            if self._bar is not None:
                self._bar.set_postfix_str(self._families(), refresh=False)
                self._bar.update(n)
            elif self.mode == "log":
                now = self._clock()
                if now - self._last_report >= self._interval:
                    self._last_report = now
                    _log.info("progress", **self._snapshot(now))

    def finish_file(self) -> None:
        """The current file is done: close its bar or log its last figures."""
        with self._lock:
            if self.mode == "log" and self._file:
                _log.info("file_progress_done", **self._snapshot(self._clock()))
            self._close_bar()
            self._file = ""

    def close(self) -> None:
        """Release the terminal (idempotent)."""
        with self._lock:
            self._close_bar()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self._families(), refresh=False)
            self._bar.close()
            self._bar = None

    def _families(self) -> str:
        families: Counter[str] = Counter()
        for code, n in self._statuses.items():
            try:
                families[Status(code).family.value] += n
            except ValueError:
                families[code] += n
        return ", ".join(f"{name} {n}" for name, n in families.items())

    def _snapshot(self, now: float) -> dict[str, object]:
        elapsed = max(now - self._started, 0.0)
        rate = self._done / elapsed if elapsed > 0 else 0.0
        eta: float | None = None
        percent: float | None = None
        if self._total:
            remaining = max(self._total - self._done, 0)
            eta = round(remaining / rate, 1) if rate > 0 else None
            percent = round(100.0 * self._done / self._total, 1)
        return {
            "file": self._file,
            "done": self._done,
            "total": self._total,
            "percent": percent,
            "rate_per_s": round(rate, 2),
            "elapsed_s": round(elapsed, 1),
            "eta_s": eta,
            "statuses": dict(self._statuses),
        }
