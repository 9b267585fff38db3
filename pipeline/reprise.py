"""The rows of earlier runs, taken first by each run: the demand tracking settles the
unknown outcomes, then deferred and reopened rows are sent, and their results written.

Run wiring (like ``run.py``): it reads the tracking exports dropped in
``[paths] tracking_dir`` (read stage), hands them to the execute stage's
``reconcile``, archives them (or rejects those that cannot be used), and writes one
``<stem>_reprise_resultats_<ts>.xlsx`` per source and header row, holding the rows
settled from the tracking and the rows this run sent again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog

from pipeline import lifecycle
from pipeline.config import Settings
from pipeline.execute import Executor, Job, Reconciliation, reconcile_tracking
from pipeline.progress import Progress
from pipeline.read import header_columns, open_tracking
from pipeline.records import CANONICAL_FIELDS, RequestRow, RowOutcome, Status, TrackingExport
from pipeline.referential import Referential
from pipeline.report import RunInfo, write_reports, write_results
from pipeline.run_rows import FileSummary
from pipeline.stopping import RunStop

log = structlog.get_logger("dit_batch.reprise")


class RunContext(Protocol):
    """What the reprise needs of the run (``run.BatchRun``)."""

    settings: Settings
    clock: Callable[[], datetime]
    executor: Executor | None
    progress: Progress | None
    endpoint: str
    dry_run: bool
    stop: RunStop
    referential: Referential

    def output_failed(self, exc: OSError) -> str: ...


@dataclass
class TrackingSummary:
    """What the demand tracking did in this run (for the French summary)."""

    folder: Path
    exports: list[tuple[str, Path | None, Path | None]] = field(default_factory=list)
    # (export name, where it was moved, its findings workbook)
    findings: list[str] = field(default_factory=list)  # file-level messages, in French
    left_for_later: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    settled: Counter[Status] = field(default_factory=Counter)
    resent: int = 0
    resumed: int = 0
    waiting: int = 0
    needed_from: datetime | None = None
    unmatchable: int = 0  # rows no export can settle (no reference, no PCE column)


class Reprise:
    """The rows of earlier runs, for one BatchRun (its executor must be set)."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.settings = run.settings
        self.clock: Callable[[], datetime] = run.clock
        self.reconciliation = Reconciliation()

    # ----- the demand tracking -------------------------------------------------------------
    def reconcile(self) -> TrackingSummary:
        folder = self.settings.paths.tracking_dir
        summary = TrackingSummary(folder)
        executor = self.run.executor
        assert executor is not None
        candidates = lifecycle.scan_input(
            folder, stable_after_s=self.settings.input.stable_after_s, now=time.time
        )
        max_bytes = int(self.settings.input.max_file_mb * 1024 * 1024)
        exports: list[tuple[Path, TrackingExport]] = [
            (c.path, open_tracking(c.path, max_bytes=max_bytes)) for c in candidates if c.ready
        ]
        result = reconcile_tracking(
            executor.journal,
            [e for _, e in exports],
            self.settings,
            run_id=executor.run_id,
            clock=self.clock,
        )
        self.reconciliation = result
        summary.left_for_later = [(c.path.name, c.skip_reason) for c in candidates if not c.ready]
        for path, export in exports:
            summary.exports.append((export.name, *self._file_away(path, export)))
            summary.findings.extend(f.message for f in export.findings if f.line is None)
        summary.settled.update(o.status for _, o in result.settled)
        summary.resent, summary.resumed = len(result.resent), len(result.resumed)
        summary.waiting = sum(1 for w in result.waiting if not w.reason)
        summary.unmatchable = len(result.waiting) - summary.waiting
        summary.needed_from = result.needed_from
        log.info(
            "tracking_reconciled",
            exports=len(exports),
            settled=len(result.settled),
            resent=summary.resent,
            resumed=summary.resumed,
            waiting=len(result.waiting),
        )
        return summary

    def _file_away(self, path: Path, export: TrackingExport) -> tuple[Path | None, Path | None]:
        """Archive a usable export, reject one that is not; its findings in a workbook."""
        book = None
        if export.findings:
            info = self.run_info(f"{export.name} (suivi des demandes)", "", self.clock())
            book = write_results(
                self.settings.paths.output_dir,
                (),
                [],
                info,
                file_findings=export.findings,
                stem=f"{path.stem}_suivi",
                now=self.clock(),
            )
        if export.usable:
            moved = lifecycle.archive(path, self.settings.paths.archive_dir, self.clock())
        else:
            moved = lifecycle.reject(path, path.parent)
        return moved, book

    # ----- deferred and reopened rows ------------------------------------------------------
    def deferred(self, *, skip_files: frozenset[str] | set[str] = frozenset()) -> list[FileSummary]:
        """Send the rows earlier runs left REPORTEE, unfinished or reopened by the
        tracking, except those of the files (by SHA-256) this run reads anyway (each row
        is then reported once, in its file's workbook); report them with the rows the
        tracking settled."""
        executor = self.run.executor
        assert executor is not None
        settled = {job.key: (job, outcome) for job, outcome in self.reconciliation.settled}
        jobs = [
            j
            for j in executor.deferred_jobs()
            if j.key not in settled and j.file_sha256 not in skip_files
        ]
        if not jobs and not settled:
            return []
        log.info("deferred_rows_resumed", rows=len(jobs), settled=len(settled))
        # One workbook per source and header row: a job journaled with its file's header
        # row and its own cells is reported in the business's columns; one journaled
        # without them (older journal) under the canonical columns, with its cleaned values.
        groups: dict[tuple[str, tuple[str, ...]], list[Job]] = {}
        for job in [*jobs, *(j for j, _ in settled.values())]:
            headers = job.headers if job.headers and job.cells else ()
            groups.setdefault((job.source, headers), []).append(job)
        progress = self.run.progress
        summaries = []
        for (source, headers), group in sorted(groups.items()):
            if self.run.stop.is_set and any(j.key not in settled for j in group):
                break  # the rows stay in the journal as they are, for the next run
            started = self.clock()
            to_send = [j for j in group if j.key not in settled]
            if progress is not None:
                progress.start_file(f"{source} (reprise)", len(to_send))
            outcomes = executor.run(to_send) if to_send else {}
            if progress is not None:
                progress.finish_file()
            outcomes.update({k: o for k, (_, o) in settled.items()})
            results: list[tuple[RequestRow, RowOutcome]] = []
            for job in sorted(group, key=lambda j: (j.line, j.key)):
                cells = job.cells
                if not headers:
                    cells = tuple(job.values.get(c, "") for c in CANONICAL_FIELDS)
                outcome = outcomes[job.key]
                row = RequestRow(job.line, cells, job.values, list(outcome.findings))
                results.append((row, outcome))
            info = self.run_info(f"{source} (reprise)", group[0].file_sha256, started)
            summary = FileSummary(
                f"{source} (reprise des lignes des passages précédents)", len(results)
            )
            summary.count([o for _, o in results])
            summaries.append(summary)
            try:
                paths = write_reports(
                    self.settings.paths.output_dir,
                    headers or CANONICAL_FIELDS,
                    results,
                    info,
                    stem=f"{Path(source).stem}_reprise",
                    now=self.clock(),
                    columns=header_columns(headers or CANONICAL_FIELDS),
                )
            except OSError as exc:
                summary.problem = self.run.output_failed(exc)
                break
            summary.output, summary.resubmission = paths.results, paths.resubmission
        return summaries

    def run_info(self, name: str, sha256: str, started: datetime) -> RunInfo:
        return RunInfo(
            file_name=name,
            sha256=sha256,
            started_at=started,
            finished_at=self.clock(),
            endpoint=self.run.endpoint,
            version=self.settings.omega.version,
            dry_run=self.run.dry_run,
            referential=self.run.referential,
        )
