"""Result and resubmission workbooks, one per input file, for the business teams.

``write_reports`` streams the (row, outcome) pairs once and writes both workbooks;
``write_results`` and ``write_resubmission`` write one each. Rows are never held in
memory: the big sheets go through :mod:`pipeline.report.xlsx_stream`, the summary is
accumulated while streaming and written last (sheet order stays Résultats,
Synthèse, Anomalies). Files appear atomically (temporary file in the same folder,
then a hard link or rename) and never replace an existing file: ``-2``, ``-3``...
are added to the name instead. See docs/output.md for the layout.

The sheets are written by :mod:`pipeline.report.results_book` (Résultats, Anomalies),
:mod:`pipeline.report.summary_sheet` (Synthèse) and
:mod:`pipeline.report.resubmission_book`; their look is in :mod:`pipeline.report.layout`,
the file handling in :mod:`pipeline.report.publish`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pipeline.records import Finding, RequestRow, RowOutcome
from pipeline.report.layout import RESUBMIT_STATUSES
from pipeline.report.publish import publish, safe_stem
from pipeline.report.resubmission_book import ResubmissionBook
from pipeline.report.results_book import ResultsBook
from pipeline.report.summary_sheet import RunInfo

__all__ = ["ReportPaths", "RunInfo", "write_reports", "write_resubmission", "write_results"]


@dataclass(frozen=True)
class ReportPaths:
    """The workbooks written for one input file (no resubmission file when none is due)."""

    results: Path
    resubmission: Path | None


def write_reports(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    *,
    file_findings: Sequence[Finding] = (),
    stem: str | None = None,
    now: datetime | None = None,
    finished: Callable[[], datetime] | None = None,
    columns: Mapping[str, int] | None = None,
) -> ReportPaths:
    """Write the result workbook and, when rows qualify, the resubmission file, in one pass.

    ``finished``, when given, is asked for the run's end time once every row has been
    consumed: with a lazy ``results`` stream the rows are processed while they are
    written, so the end is only known then (it replaces ``run.finished_at``).
    ``columns`` is the reader's match of canonical fields to input column indexes
    (default: the headers spelled as the canonical names).
    """
    results_path, resubmission = _write(
        output_dir, headers, results, run, file_findings, stem, now, True, True, finished, columns
    )
    assert results_path is not None
    return ReportPaths(results_path, resubmission)


def write_results(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    *,
    file_findings: Sequence[Finding] = (),
    stem: str | None = None,
    now: datetime | None = None,
) -> Path:
    """Write ``<stem>_resultats_<ts>.xlsx`` (Résultats, Synthèse, Anomalies) and return it."""
    path, _ = _write(output_dir, headers, results, run, file_findings, stem, now, True, False)
    assert path is not None
    return path


def write_resubmission(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    *,
    stem: str | None = None,
    now: datetime | None = None,
    columns: Mapping[str, int] | None = None,
) -> Path | None:
    """Write ``<stem>_a_resoumettre_<ts>.xlsx`` with the rows to send again, or None if none."""
    return _write(output_dir, headers, results, run, (), stem, now, False, True, None, columns)[1]


# --------------------------------------------------------------------------- writing


def _write(
    output_dir: Path,
    headers: Sequence[str],
    results: Iterable[tuple[RequestRow, RowOutcome]],
    run: RunInfo,
    file_findings: Sequence[Finding],
    stem: str | None,
    now: datetime | None,
    with_results: bool,
    with_resubmission: bool,
    finished: Callable[[], datetime] | None = None,
    columns: Mapping[str, int] | None = None,
) -> tuple[Path | None, Path | None]:
    output_dir.mkdir(parents=True, exist_ok=True)
    base = safe_stem(stem if stem is not None else Path(run.file_name).stem)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    result_book = (
        ResultsBook(
            output_dir, headers, file_findings, columns=columns, referential=run.referential
        )
        if with_results
        else None
    )
    resubmit_book: ResubmissionBook | None = None
    try:
        for row, outcome in results:
            if result_book is not None:
                result_book.add(row, outcome)
            if with_resubmission and outcome.status in RESUBMIT_STATUSES:
                if resubmit_book is None:
                    resubmit_book = ResubmissionBook(
                        output_dir,
                        headers,
                        columns=columns,
                        referential=run.referential,
                        today=run.started_at.date(),
                    )
                resubmit_book.add(row, outcome)
        result_path = None
        if result_book is not None:
            if finished is not None:
                run = replace(run, finished_at=finished())
            result_book.finish(run, file_findings)
            result_path = publish(result_book.tmp, output_dir, f"{base}_resultats_{stamp}")
        resubmit_path = None
        if resubmit_book is not None:
            resubmit_book.finish()
            resubmit_path = publish(resubmit_book.tmp, output_dir, f"{base}_a_resoumettre_{stamp}")
    except BaseException:
        for book in (result_book, resubmit_book):
            if book is not None:
                book.discard()
        raise
    return result_path, resubmit_path
