"""One nightly run: read, validate, execute and report every ready file of ``input/``.

This is the orchestrator behind ``run_batch.py``: it wires the stages together and
owns the run's lifecycle (deferred rows first, then each file in name order, archive
or reject), but holds no business rule of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import structlog

from pipeline import lifecycle
from pipeline.config import Settings
from pipeline.contract import field_max_lengths
from pipeline.execute import Executor, Job, Journal
from pipeline.progress import Progress
from pipeline.read import ReadBudget, open_input
from pipeline.records import RowOutcome, Status, display_name
from pipeline.referential import load_referential
from pipeline.report import TEMP_NAME_PATTERN, RunInfo, write_reports
from pipeline.reprise import Reprise, TrackingSummary
from pipeline.run_rows import LIMIT_DETAIL, FileSummary, RowStream, reject_file
from pipeline.stopping import EXIT_STORAGE, RunStop, StopCause, StopKind, storage_cause

__all__ = ["LIMIT_DETAIL", "BatchRun", "FileSummary", "RunSummary", "run_clock"]

log = structlog.get_logger("dit_batch.run")

# Rows validated and sent per batch: bounds memory on large files while keeping all
# workers busy (the executor's pool drains each chunk before the next one starts).
CHUNK_ROWS = 1000


@dataclass
class RunSummary:
    started_at: datetime
    endpoint: str
    dry_run: bool
    files: list[FileSummary] = field(default_factory=list)
    left_for_later: list[tuple[str, str]] = field(default_factory=list)
    unexpected_errors: int = 0
    stop: StopCause | None = None  # what stopped the run, when something did
    breaker: str = ""  # the circuit breaker's state and reason (empty: nothing sent)
    abandoned: bool = False  # calls still in flight when the stop's grace ran out
    cleaned: list[str] = field(default_factory=list)  # temporary files of killed runs removed
    tracking: TrackingSummary | None = None

    def total(self, status: Status) -> int:
        return sum(f.counts[status] for f in self.files)

    @property
    def to_check(self) -> int:
        """Rows left A_VERIFIER: in the files, and waiting for a tracking export."""
        waiting = self.tracking.waiting + self.tracking.unmatchable if self.tracking else 0
        return self.total(Status.A_VERIFIER) + waiting


def run_clock(settings: Settings) -> Callable[[], datetime]:
    """The run's clock: the real one, or, against the built-in simulator with a fixed
    ``[simulator] today``, that day at the current time, so the whole run (validation
    of dates, archive folder, the simulator's calendar) lives on one consistent date."""
    fixed = settings.simulator.today if settings.omega.uses_simulator else ""
    if not fixed:
        return datetime.now
    day = date.fromisoformat(fixed)

    def clock() -> datetime:
        return datetime.combine(day, datetime.now().time())

    return clock


class BatchRun:
    """Processes the input folder once. Clock and progress are injected."""

    def __init__(
        self,
        settings: Settings,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        clock: Callable[[], datetime] | None = None,
        progress: Progress | None = None,
        chunk_rows: int = CHUNK_ROWS,
        stop: RunStop | None = None,
    ) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self.remaining = limit
        self.clock = clock or run_clock(settings)
        self.progress = progress
        self.chunk_rows = chunk_rows
        self.referential = load_referential(settings.paths.referential_dir)
        self.max_lengths = field_max_lengths()
        self.executor: Executor | None = None
        self.endpoint = "aucun (simulation)" if dry_run else settings.omega.url
        self.stop = stop if stop is not None else RunStop(grace_s=settings.execution.stop_grace_s)

    # ----- the run -----------------------------------------------------------------
    def execute(self) -> RunSummary:
        started = self.clock()
        summary = RunSummary(started, self.endpoint, self.dry_run)
        try:
            self._run(summary)
        finally:
            summary.stop = self.stop.cause
            if self.executor is not None:
                summary.breaker = self.executor.breaker.describe()
                summary.abandoned = self.executor.abandoned
        return summary

    def hard_stop(self) -> int:
        """A second signal: put back the creations not sent yet (see RunStop)."""
        return self.executor.hard_stop() if self.executor is not None else 0

    def _run(self, summary: RunSummary) -> None:
        summary.cleaned = lifecycle.remove_stale_temporaries(
            self.settings.paths.output_dir, TEMP_NAME_PATTERN
        )
        candidates = lifecycle.scan_input(
            self.settings.paths.input_dir,
            stable_after_s=self.settings.input.stable_after_s,
            now=time.time,
        )
        for candidate in candidates:
            if not candidate.ready:
                name = display_name(candidate.path.name)
                summary.left_for_later.append((name, candidate.skip_reason))
                log.info("file_left_for_later", file=name, reason=candidate.skip_reason)
        ready = [c.path for c in candidates if c.ready]
        with ExitStack() as stack:
            if not self.dry_run:
                base_url = self._start_endpoint(stack)
                summary.endpoint = self.endpoint = base_url
                journal = stack.enter_context(
                    Journal(self.settings.paths.journal, clock=self.clock)
                )
                self.executor = Executor(
                    self.settings,
                    journal,
                    base_url,
                    clock=self.clock,
                    on_outcome=self._on_outcome,
                    stop=self.stop,
                )
                # Deferred rows whose file is back in input/ are left to that file: each
                # row is then reported once, in its file's workbook.
                waiting = {lifecycle.file_sha256(p) for p in ready} - {""}
                reprise = Reprise(self)
                summary.tracking = reprise.reconcile()
                summary.files.extend(reprise.deferred(skip_files=waiting))
            for path in ready:
                if self.stop.is_set:
                    reason = f"{self.stop.cause.short if self.stop.cause else 'arrêt'} : "
                    name = display_name(path.name)
                    summary.left_for_later.append((name, reason + "laissé dans input/"))
                    continue
                summary.files.append(self._run_file_guarded(path, summary))

    def storage_failed(self, what: str, exc: OSError) -> str:
        """An output or archive step failed: stop the run (first cause wins), say why."""
        message = f"{what} : {storage_cause(exc)}"
        if self.stop.request(StopCause(StopKind.STORAGE, message, EXIT_STORAGE)):
            log.error("run_stopped", cause="storage", error=message)
        return message

    def _start_endpoint(self, stack: ExitStack) -> str:
        omega = self.settings.omega
        if omega.uses_simulator:
            from pipeline.simulator import start_simulator

            simulator = stack.enter_context(start_simulator(self.settings))
            log.info("simulator_started", base_url=simulator.base_url)
            return str(simulator.base_url)
        return omega.url.rstrip("/")

    def _on_outcome(self, job: Job, outcome: RowOutcome) -> None:
        if self.progress is not None:
            self.progress.advance(1, status=outcome.status.value)

    def output_failed(self, exc: OSError) -> str:
        message = self.storage_failed(
            f"Dossier de sortie {self.settings.paths.output_dir}, classeur de résultats non écrit",
            exc,
        )
        log.warning("workbook_not_written", error=message)
        return (
            "classeur de résultats non écrit (voir « PASSAGE ARRÊTÉ ») : les lignes restent "
            "dans le journal, leurs résultats seront donnés au prochain passage ; fichier "
            "laissé dans input/."
        )

    # ----- one file ---------------------------------------------------------------
    def _run_file_guarded(self, path: Path, run: RunSummary) -> FileSummary:
        summary = FileSummary(display_name(path.name))
        try:
            self._run_file(path, summary)
        except Exception as exc:  # one broken file must not stop the others
            run.unexpected_errors += 1
            log.exception("file_failed", file=(name := display_name(path.name)))
            summary.error = (
                f"erreur inattendue pendant le traitement du fichier « {name} » "
                f"({type(exc).__name__}) : fichier laissé dans input/, voir le journal"
            )
        return summary

    def _run_file(self, path: Path, summary: FileSummary) -> None:
        started = self.clock()
        limits = self.settings.input
        budget = ReadBudget(int(limits.max_memory_mb * 1024 * 1024), limits.max_read_s)
        max_bytes = int(limits.max_file_mb * 1024 * 1024)
        input_file, row_iter = open_input(path, max_bytes=max_bytes, budget=budget)
        name = summary.name
        output_dir = self.settings.paths.output_dir
        if input_file.unreadable:
            reject_file(self, path, summary, input_file, started)
            return
        if self.progress is not None:
            self.progress.start_file(name, input_file.rows_hint)
        stream = RowStream(self, input_file, summary)
        info = self.run_info(name, input_file.sha256, started)
        try:
            paths = write_reports(
                output_dir,
                input_file.headers,
                stream.outcomes(row_iter),
                info,
                file_findings=input_file.findings,  # may grow if reading fails mid-file
                stem=path.stem,
                now=self.clock(),
                finished=self.clock,
                columns=input_file.columns,
            )
        except OSError as exc:
            summary.problem = self.output_failed(exc)
            return
        finally:
            if self.progress is not None:
                self.progress.finish_file()
        summary.output, summary.resubmission = paths.results, paths.resubmission
        if input_file.unreadable:  # reading failed part-way through the file
            reject_file(self, path, summary, input_file, started)
            return
        summary.notes.extend(
            f.message for f in input_file.findings if f.line is None and not f.is_error
        )
        # Archived only once every row is final in the journal and the workbook is out:
        # a stop (signal, storage, endpoint) while its rows went through keeps it.
        complete = stream.complete
        if not self.dry_run and complete:
            try:
                summary.moved_to = lifecycle.archive(
                    path, self.settings.paths.archive_dir, self.clock()
                )
            except OSError as exc:
                self.storage_failed(
                    f"Archivage de {path.name} dans {self.settings.paths.archive_dir}", exc
                )
                summary.problem = (
                    "archivage impossible (voir « PASSAGE ARRÊTÉ ») : fichier laissé dans "
                    "input/, ses lignes sont terminées."
                )
        elif not complete:
            why = "limite --limit" if self.stop.cause is None else self.stop.cause.short
            summary.notes.append(
                f"Fichier laissé dans input/ — {why} : les lignes restantes partiront au "
                "prochain passage, celles déjà envoyées reviendront « DEJA_TRAITEE »."
            )
        log.info(
            "file_done",
            file=name,
            read_peak_mb=input_file.read_peak_mb,
            rows=summary.rows,
            counts={s.value: n for s, n in summary.counts.items()},
        )

    def run_info(self, name: str, sha256: str, started: datetime) -> RunInfo:
        return RunInfo(
            file_name=name,
            sha256=sha256,
            started_at=started,
            finished_at=self.clock(),
            endpoint=self.endpoint,
            version=self.settings.omega.version,
            dry_run=self.dry_run,
            referential=self.referential,
        )

    def take_one(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    def advance(self, outcome: RowOutcome | None) -> None:
        if self.progress is not None and outcome is not None:
            self.progress.advance(1, status=outcome.status.value)
