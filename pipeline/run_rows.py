"""The rows of a run: one file's rows through validation and execution, a chunk at a
time (``RowStream``), an unreadable file set aside (``reject_file``), and what a file's rows
became (``FileSummary``). ``BatchRun``
(pipeline/run.py) hands them its files; the rows of earlier runs are pipeline/reprise.py's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog

from pipeline import lifecycle
from pipeline.config import Settings
from pipeline.execute import Executor, Job, idempotency_key
from pipeline.progress import Progress
from pipeline.read import InputFile
from pipeline.records import RequestRow, RowOutcome, Status, display_name
from pipeline.referential import Referential
from pipeline.report import RunInfo, write_results
from pipeline.stopping import RunStop
from pipeline.validate import FileValidator

log = structlog.get_logger("dit_batch.run")

LIMIT_DETAIL = "Non traitée : limite --limit atteinte ; le fichier reste dans input/"


class RowRun(Protocol):
    """What a row stream needs of its run (``BatchRun``)."""

    settings: Settings
    referential: Referential
    max_lengths: dict[str, int]
    chunk_rows: int
    dry_run: bool
    executor: Executor | None
    remaining: int | None
    clock: Callable[[], datetime]

    progress: Progress | None
    stop: RunStop

    def take_one(self) -> None: ...

    def advance(self, outcome: RowOutcome | None) -> None: ...

    def run_info(self, name: str, sha256: str, started: datetime) -> RunInfo: ...

    def output_failed(self, exc: OSError) -> str: ...


@dataclass
class FileSummary:
    """What one input file (or one group of deferred rows) became."""

    name: str
    rows: int = 0
    counts: Counter[Status] = field(default_factory=Counter)
    output: Path | None = None
    resubmission: Path | None = None
    moved_to: Path | None = None
    error: str = ""  # why the file could not be read
    problem: str = ""  # why its workbook or its archiving failed (the run stopped)
    deferred: int = 0  # rows REPORTEE because OMEGA was unavailable (not because of --limit)
    notes: list[str] = field(default_factory=list)

    def count(self, outcomes: list[RowOutcome]) -> None:
        self.counts.update(o.status for o in outcomes)
        self.deferred += sum(
            1 for o in outcomes if o.status is Status.REPORTEE and o.detail != LIMIT_DETAIL
        )


class RowStream:
    """Validates one file's rows and hands the valid ones to the executor, a chunk at a
    time; counts them in the file's summary and spends the run's ``--limit``."""

    def __init__(self, run: RowRun, input_file: InputFile, summary: FileSummary) -> None:
        self.run = run
        self.input_file = input_file
        self.summary = summary
        # False when rows of the file are not final in the journal: --limit, or a stop.
        self.complete = True
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
        if run.stop.is_set:
            # Stopped while this chunk was processed: some of its rows (or the next
            # chunks') are not final in the journal, the file stays in input/.
            self.complete = False
        done = [o for o in outcomes if o is not None]
        for row, outcome in zip(rows, done, strict=True):
            row.findings.extend(outcome.findings)  # a reused reference, changes not sent
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


def reject_file(
    run: RowRun, path: Path, summary: FileSummary, input_file: InputFile, started: datetime
) -> None:
    """An unreadable file: its error workbook (unless written already), then
    input/rejetes/."""
    findings = input_file.findings
    summary.error = "; ".join(f.message for f in findings if f.is_error)
    if summary.output is None:
        info = run.run_info(summary.name, input_file.sha256, started)
        try:
            summary.output = write_results(
                run.settings.paths.output_dir,
                input_file.headers,
                [],
                info,
                file_findings=findings,
                stem=path.stem,
                now=run.clock(),
            )
        except OSError as exc:
            summary.problem = run.output_failed(exc)
            return
    if not run.dry_run:
        try:
            summary.moved_to = lifecycle.reject(path, run.settings.paths.input_dir)
        except lifecycle.FolderBlocked as exc:
            summary.notes.append(str(exc))
    log.warning(
        "file_rejected",
        file=summary.name,
        reason=summary.error,
        rows=summary.rows,
        read_peak_mb=input_file.read_peak_mb,
    )
