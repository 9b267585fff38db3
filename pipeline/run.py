"""One nightly run: read, validate, execute and report every ready file of ``input/``.

This is the orchestrator behind ``run_batch.py``: it wires the stages together and
owns the run's lifecycle (deferred rows first, then each file in name order, archive
or reject), but holds no business rule of its own.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import structlog

from pipeline import lifecycle
from pipeline.config import Settings
from pipeline.contract import field_max_lengths
from pipeline.execute import Executor, Job, Journal, idempotency_key
from pipeline.progress import Progress
from pipeline.read import InputFile, ReadBudget, open_input
from pipeline.records import CANONICAL_FIELDS, RequestRow, RowOutcome, Status, display_name
from pipeline.referential import load_referential
from pipeline.report import RunInfo, write_reports, write_results
from pipeline.validate import FileValidator

log = structlog.get_logger("dit_batch.run")

# Rows validated and sent per batch: bounds memory on large files while keeping all
# workers busy (the executor's pool drains each chunk before the next one starts).
CHUNK_ROWS = 1000

LIMIT_DETAIL = "Non traitée : limite --limit atteinte ; le fichier reste dans input/"


@dataclass
class FileSummary:
    """What one input file (or one group of deferred rows) became."""

    name: str
    rows: int = 0
    counts: Counter[Status] = field(default_factory=Counter)
    output: Path | None = None
    resubmission: Path | None = None
    moved_to: Path | None = None
    error: str = ""
    deferred: int = 0  # rows REPORTEE because OMEGA was unavailable (not because of --limit)
    notes: list[str] = field(default_factory=list)

    def count(self, outcomes: list[RowOutcome]) -> None:
        self.counts.update(o.status for o in outcomes)
        self.deferred += sum(
            1 for o in outcomes if o.status is Status.REPORTEE and o.detail != LIMIT_DETAIL
        )


@dataclass
class RunSummary:
    started_at: datetime
    endpoint: str
    dry_run: bool
    files: list[FileSummary] = field(default_factory=list)
    left_for_later: list[tuple[str, str]] = field(default_factory=list)
    unexpected_errors: int = 0

    def total(self, status: Status) -> int:
        return sum(f.counts[status] for f in self.files)


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
        retry_unknown: bool = False,
        clock: Callable[[], datetime] | None = None,
        progress: Progress | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.settings = settings
        self.dry_run = dry_run
        self.remaining = limit
        self.retry_unknown = retry_unknown
        self.clock = clock or run_clock(settings)
        self.progress = progress
        self.chunk_rows = chunk_rows
        self.referential = load_referential(settings.paths.referential_dir)
        self.max_lengths = field_max_lengths()
        self.executor: Executor | None = None
        self.endpoint = "aucun (simulation)" if dry_run else settings.omega.url

    # ----- the run -----------------------------------------------------------------
    def execute(self) -> RunSummary:
        started = self.clock()
        summary = RunSummary(started, self.endpoint, self.dry_run)
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
                    retry_unknown=self.retry_unknown,
                    on_outcome=self._on_outcome,
                )
                summary.files.extend(self._run_deferred())
            for path in ready:
                summary.files.append(self._run_file_guarded(path, summary))
        return summary

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

    # ----- deferred rows of earlier runs ------------------------------------------
    def _run_deferred(self) -> list[FileSummary]:
        assert self.executor is not None
        jobs = self.executor.deferred_jobs()
        if not jobs:
            return []
        log.info("deferred_rows_resumed", rows=len(jobs))
        # One workbook per source and header row: a job journaled with its file's header
        # row and its own cells is reported in the business's columns; one journaled
        # without them (older journal) under the canonical columns, with its cleaned values.
        groups: dict[tuple[str, tuple[str, ...]], list[Job]] = {}
        for job in jobs:
            headers = job.headers if job.headers and job.cells else ()
            groups.setdefault((job.source, headers), []).append(job)
        summaries = []
        for (source, headers), group in sorted(groups.items()):
            started = self.clock()
            if self.progress is not None:
                self.progress.start_file(f"{source} (reprise)", len(group))
            outcomes = self.executor.run(group)
            if self.progress is not None:
                self.progress.finish_file()
            results: list[tuple[RequestRow, RowOutcome]] = []
            for job in sorted(group, key=lambda j: (j.line, j.key)):
                cells = job.cells
                if not headers:
                    cells = tuple(job.values.get(c, "") for c in CANONICAL_FIELDS)
                results.append((RequestRow(job.line, cells, job.values), outcomes[job.key]))
            info = self._run_info(f"{source} (reprise)", group[0].file_sha256, started)
            stem = f"{Path(source).stem}_reprise"
            summary = FileSummary(f"{source} (reprise des lignes reportées)", len(results))
            summary.count([o for _, o in results])
            paths = write_reports(
                self.settings.paths.output_dir,
                headers or CANONICAL_FIELDS,
                results,
                info,
                stem=stem,
                now=self.clock(),
            )
            summary.output, summary.resubmission = paths.results, paths.resubmission
            summaries.append(summary)
        return summaries

    # ----- one file ---------------------------------------------------------------
    def _run_file_guarded(self, path: Path, run: RunSummary) -> FileSummary:
        try:
            return self._run_file(path)
        except Exception as exc:  # one broken file must not stop the others
            run.unexpected_errors += 1
            log.exception("file_failed", file=(name := display_name(path.name)))
            error = f"erreur inattendue pendant le traitement du fichier « {name} » "
            error += f"({type(exc).__name__}) : fichier laissé dans input/, voir le journal"
            return FileSummary(name, error=error)

    def _run_file(self, path: Path) -> FileSummary:
        started = self.clock()
        limits = self.settings.input
        budget = ReadBudget(int(limits.max_memory_mb * 1024 * 1024), limits.max_read_s)
        max_bytes = int(limits.max_file_mb * 1024 * 1024)
        input_file, row_iter = open_input(path, max_bytes=max_bytes, budget=budget)
        name = display_name(path.name)
        summary = FileSummary(name)
        output_dir = self.settings.paths.output_dir
        complete = True
        if not input_file.unreadable:
            if self.progress is not None:
                self.progress.start_file(name, input_file.rows_hint)
            stream = _RowStream(self, input_file, summary)
            results = stream.outcomes(row_iter)
            info = self._run_info(name, input_file.sha256, started)
            paths = write_reports(
                output_dir,
                input_file.headers,
                results,
                info,
                file_findings=input_file.findings,  # may grow if reading fails mid-file
                stem=path.stem,
                now=self.clock(),
                finished=self.clock,
            )
            summary.output, summary.resubmission = paths.results, paths.resubmission
            if self.progress is not None:
                self.progress.finish_file()
            complete = stream.complete
        if input_file.unreadable:
            summary.error = "; ".join(f.message for f in input_file.findings if f.is_error)
            if summary.output is None:
                info = self._run_info(name, input_file.sha256, started)
                summary.output = write_results(
                    output_dir,
                    input_file.headers,
                    [],
                    info,
                    file_findings=input_file.findings,
                    stem=path.stem,
                    now=self.clock(),
                )
            if not self.dry_run:
                try:
                    summary.moved_to = lifecycle.reject(path, self.settings.paths.input_dir)
                except lifecycle.FolderBlocked as exc:
                    summary.notes.append(str(exc))
            peak, rows = input_file.read_peak_mb, summary.rows
            log.warning(
                "file_rejected", file=name, reason=summary.error, rows=rows, read_peak_mb=peak
            )
            return summary
        summary.notes.extend(
            f.message for f in input_file.findings if f.line is None and not f.is_error
        )
        if not self.dry_run and complete:
            summary.moved_to = lifecycle.archive(
                path, self.settings.paths.archive_dir, self.clock()
            )
        elif not complete:
            summary.notes.append(
                "Fichier laissé dans input/ (limite --limit) : les lignes restantes partiront "
                "au prochain passage, celles déjà envoyées reviendront « DEJA_TRAITEE »."
            )
        log.info(
            "file_done",
            file=name,
            read_peak_mb=input_file.read_peak_mb,
            rows=summary.rows,
            counts={s.value: n for s, n in summary.counts.items()},
        )
        return summary

    def _run_info(self, name: str, sha256: str, started: datetime) -> RunInfo:
        return RunInfo(
            file_name=name,
            sha256=sha256,
            started_at=started,
            finished_at=self.clock(),
            endpoint=self.endpoint,
            version=self.settings.omega.version,
            dry_run=self.dry_run,
        )

    def take_one(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    def advance(self, outcome: RowOutcome | None) -> None:
        if self.progress is not None and outcome is not None:
            self.progress.advance(1, status=outcome.status.value)


class _RowStream:
    """Validates one file's rows and hands the valid ones to the executor, a chunk at a
    time; counts them in the file's summary and spends the run's ``--limit``."""

    def __init__(self, run: BatchRun, input_file: InputFile, summary: FileSummary) -> None:
        self.run = run
        self.input_file = input_file
        self.summary = summary
        self.complete = True  # False when --limit left rows of the file unprocessed
        self.validator = FileValidator(
            run.referential,
            today=run.clock().date(),
            version=run.settings.omega.version,
            max_lengths=run.max_lengths,
        )

    def outcomes(self, row_iter: Iterator[RequestRow]) -> Iterator[tuple[RequestRow, RowOutcome]]:
        """Validate and process the rows chunk by chunk, yielding them in input order.

        Only one chunk of rows is in memory at a time (the report writer streams too),
        so a 100,000-row file costs the same memory as a 1,000-row one.
        """
        validator = self.validator
        chunk_rows = self.run.chunk_rows
        chunk: list[RequestRow] = []
        for row in row_iter:
            row.findings.extend(validator.check(row))
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                yield from self._process_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._process_chunk(chunk)

    def _process_chunk(self, rows: list[RequestRow]) -> Iterator[tuple[RequestRow, RowOutcome]]:
        """One outcome per row of the chunk, in row order."""
        run, executor = self.run, self.run.executor
        now = run.clock().isoformat(timespec="seconds")
        outcomes: list[RowOutcome | None] = [None] * len(rows)
        jobs: list[tuple[int, Job]] = []
        for i, row in enumerate(rows):
            if row.has_errors:
                errors = [f for f in row.findings if f.is_error]
                if run.dry_run or executor is None:
                    detail = "; ".join(f.describe() for f in errors)
                    outcomes[i] = RowOutcome(
                        Status.REJET_VALIDATION, processed_at=now, detail=detail
                    )
                else:
                    outcomes[i] = executor.record_rejected(self._job(row), errors)
                run.advance(outcomes[i])
            elif run.remaining is not None and run.remaining <= 0:
                outcomes[i] = RowOutcome(Status.REPORTEE, processed_at=now, detail=LIMIT_DETAIL)
                self.complete = False
                run.advance(outcomes[i])
            elif run.dry_run or executor is None:
                run.take_one()
                outcomes[i] = RowOutcome(Status.VALIDE, processed_at=now)
                run.advance(outcomes[i])
            else:
                run.take_one()
                jobs.append((i, self._job(row)))
        if jobs:
            assert executor is not None
            by_key = executor.run(job for _, job in jobs)
            for i, job in jobs:
                outcomes[i] = by_key[job.key]
        done = [o for o in outcomes if o is not None]
        self.summary.rows += len(done)
        self.summary.count(done)
        yield from zip(rows, done, strict=True)

    def _job(self, row: RequestRow) -> Job:
        input_file = self.input_file
        values = self.validator.cleaned_values(row)
        key = idempotency_key(values, input_file.sha256, row.line)
        return Job(
            key,
            display_name(input_file.path.name),
            input_file.sha256,
            row.line,
            values,
            input_file.headers,
            row.cells,
        )
