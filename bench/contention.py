"""Workers of one run racing for the same slots: uncoordinated vs the run's slot board.

    python bench/contention.py [--rows 450] [--days 40] [--workers 16] [--rate 50]

The contended case of a busy calendar: ``--rows`` rows of 6M PCEs all asking for the
same slot code (``--plage``) over ``--days`` working days (``--order blocks``: a file
sorted by date, consecutive rows ask for the same day; ``cycle``: row i asks for day
i mod days), the simulator's ``capacity_per_slot`` (``[simulator]`` of the settings, 2
by default; ``--capacity`` overrides it) with its usual pre-booking, ``--latency-ms``
on every call, ``rate_per_s`` = ``--rate`` and ``--workers`` workers. Each strategy
runs against a fresh simulator in its own process with the same seed, i.e. the same
calendar: ``coordinate_slots = false`` (every worker accepts the first slot of its
list) then ``true`` (pipeline/execute/slot_board.py). Printed for each: calls per row
and per operation, rows/s as a ratio of R / 3 (three calls is the least a 6M row
costs), rows that fell back to DATE_DEMANDEE (and how many of them while the calendar
still had a free slot between their requested date and the case's last day), the
appointments obtained by delay after the requested date, and what the board did.

First the same rows with one worker (latency 0, no rate limit), with and without the
board: the outcomes must be identical; each contended run is compared with it (the
k-th earliest appointment obtained against the one-worker run's k-th earliest).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from pipeline.config import DEFAULT_CONFIG, Settings, load_settings  # noqa: E402
from pipeline.execute import Executor, Job, Journal  # noqa: E402
from pipeline.execute.client import CallRecord  # noqa: E402
from pipeline.records import RowOutcome, Status  # noqa: E402
from pipeline.referential import load_referential  # noqa: E402
from pipeline.simulator import start_simulator  # noqa: E402
from pipeline.simulator.agenda import SlotAgenda  # noqa: E402

TODAY = dt.date(2026, 12, 1)
SEED = 7
PCE_6M = [f"110000000000{i:02d}" for i in range(1, 13)]


def working_days(agenda: SlotAgenda, count: int) -> list[dt.date]:
    return agenda.working_days_after(TODAY + dt.timedelta(days=1), count)


def contended_rows(
    prefix: str, count: int, days: list[dt.date], plage: str, order: str
) -> list[Job]:
    """Row i asks for day i mod len(days) ("cycle") or the i-th share of the days ("blocks":
    consecutive rows ask for the same day, as a file sorted by date)."""
    jobs = []
    for i in range(count):
        day = days[i % len(days)] if order == "cycle" else days[i * len(days) // count]
        values = {
            "ReferenceDemande": f"{prefix}-{i:05d}",
            "NumeroPCE": PCE_6M[i % len(PCE_6M)],
            "CodeLibelleIntervention": "34",
            "CodeMotifIntervention": "23",
            "DateRdv": day.isoformat(),
            "PlageRdv": plage,
            "NomContact": "Bench",
        }
        jobs.append(Job(values["ReferenceDemande"], "bench.csv", "c" * 64, i + 2, values))
    return jobs


def _serve(settings: Settings, latency_ms: int, pipe: Any, stop: Any) -> None:
    sim = start_simulator(settings, today=TODAY, seed=SEED, latency_ms=latency_ms, numthreads=64)
    pipe.send(sim.base_url)
    stop.wait()
    sim.stop()


class SimulatorProcess:
    """A fresh simulator (same seed, same calendar) in its own process."""

    def __init__(self, settings: Settings, latency_ms: int) -> None:
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        self.stop_event = context.Event()
        self.process = context.Process(
            target=_serve, args=(settings, latency_ms, sender, self.stop_event), daemon=True
        )
        self.process.start()
        self.base_url: str = receiver.recv()

    def stop(self) -> None:
        self.stop_event.set()
        self.process.join(timeout=10)


@dataclass
class Result:
    name: str
    outcomes: dict[str, RowOutcome]
    jobs: list[Job]
    calls: collections.Counter[str]
    seconds: float
    board: Any

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def measure(
    name: str, settings: Settings, jobs: list[Job], latency_ms: int, workdir: Path
) -> Result:
    calls: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def on_call(record: CallRecord) -> None:
        with lock:
            calls[record.operation] += 1

    sim = SimulatorProcess(settings, latency_ms)
    try:
        path = workdir / f"journal-{name}-{jobs[0].key}.sqlite3"
        with Journal(path, clock=dt.datetime.now) as journal:
            executor = Executor(
                settings, journal, sim.base_url, clock=dt.datetime.now, on_call=on_call
            )
            t0 = time.perf_counter()
            outcomes = executor.run(jobs)
            seconds = time.perf_counter() - t0
    finally:
        sim.stop()
    assert len(outcomes) == len(jobs)
    return Result(name, outcomes, jobs, calls, seconds, executor.slot_board.counts)


def with_execution(settings: Settings, **execution: Any) -> Settings:
    return replace(settings, execution=replace(settings.execution, **execution))


def report(result: Result, agenda_of: Any, last_day: dt.date, rate: float) -> None:
    agenda: SlotAgenda = agenda_of()
    delays: collections.Counter[str] = collections.Counter()
    fell_back = fell_back_with_room = 0
    for job in result.jobs:
        outcome = result.outcomes[job.key]
        asked = dt.date.fromisoformat(job.values["DateRdv"])
        if outcome.status is Status.RDV_PROGRAMME:
            got = dt.date.fromisoformat(outcome.date_rdv)
            agenda.reserve(got, outcome.plage_rdv)
            late = len([d for d in working_days(agenda, 400) if asked < d <= got])
            delays[_bucket(late, got == asked and outcome.plage_rdv == job.values["PlageRdv"])] += 1
        elif outcome.status is Status.DATE_DEMANDEE:
            fell_back += 1
        else:
            delays[outcome.status.value] += 1
    for job in result.jobs:
        if result.outcomes[job.key].status is Status.DATE_DEMANDEE:
            asked = dt.date.fromisoformat(job.values["DateRdv"])
            days = [d for d in working_days(agenda, 400) if asked <= d <= last_day]
            fell_back_with_room += bool(agenda.free_slots(days))
    rows = len(result.jobs)
    rows_per_s = rows / result.seconds
    ops = ", ".join(f"{op} {n}" for op, n in sorted(result.calls.items()))
    print(f"  {result.name}:")
    print(
        f"    {result.total_calls} calls for {rows} rows = {result.total_calls / rows:.3f} per row"
        f" ({ops})"
    )
    calls_per_s = result.total_calls / result.seconds
    print(
        f"    {rows_per_s:.2f} rows/s in {result.seconds:.1f} s = {rows_per_s / (rate / 3):.3f}"
        f" of R / 3 ({rate / 3:.2f} rows/s); {calls_per_s:.1f} calls/s = "
        f"{calls_per_s / rate:.3f} of R"
    )
    print(
        f"    fell back to DATE_DEMANDEE: {fell_back} ({100 * fell_back / rows:.1f} %), "
        f"{fell_back_with_room} while a free slot remained in their window"
    )
    order = ["requested slot", "same day", "+1 day", "+2 days", "+3-5 days", "+6-10 days"]
    shown = [f"{k} {delays[k]}" for k in order if delays[k]]
    shown += [f"{k} {n}" for k, n in sorted(delays.items()) if k not in order]
    print(f"    appointments by working days after the requested date: {', '.join(shown)}")
    dates = sorted(o.date_rdv for o in result.outcomes.values() if o.status is Status.RDV_PROGRAMME)
    if dates:
        median = dates[len(dates) // 2]
        print(f"    appointment dates from {dates[0]} to {dates[-1]} (median {median})")
    print(f"    board: {result.board}")


def _bucket(late: int, requested: bool) -> str:
    if requested:
        return "requested slot"
    if late == 0:
        return "same day"
    if late <= 2:
        return f"+{late} day" + ("s" if late > 1 else "")
    return "+3-5 days" if late <= 5 else "+6-10 days" if late <= 10 else "+11 days or more"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=450)
    parser.add_argument("--days", type=int, default=40, help="working days asked for")
    parser.add_argument("--plage", default="M1", help="the slot code every row asks for")
    parser.add_argument("--capacity", type=int, help="places per slot (default: settings)")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50.0, help="rate_per_s (R)")
    parser.add_argument("--order", choices=("blocks", "cycle"), default="blocks")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    args = parser.parse_args()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(open(os.devnull, "w")),  # noqa: SIM115
    )
    base = load_settings(args.config, environ={})
    if args.capacity is not None:
        base = replace(base, simulator=replace(base.simulator, capacity_per_slot=args.capacity))
    capacity = base.simulator.capacity_per_slot
    codes = [s.code for s in load_referential(base.paths.referential_dir).slots]

    def agenda_of() -> SlotAgenda:
        return SlotAgenda(TODAY, codes, capacity, SEED)

    days = working_days(agenda_of(), args.days)
    jobs = contended_rows("CONT", args.rows, days, args.plage, args.order)
    print(
        f"Contended calendar: {args.rows} rows of 6M PCEs asking for {args.plage} over "
        f"{args.days} working days ({days[0]} to {days[-1]}), capacity {capacity} per slot, "
        f"{args.workers} workers, latency {args.latency_ms} ms, rate {args.rate:g}/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        alone = [
            measure(
                f"one worker, coordinate_slots={c}",
                with_execution(base, rate_per_s=100_000.0, workers=1, coordinate_slots=c),
                jobs,
                0,
                workdir,
            )
            for c in (False, True)
        ]
        contended = []
        for coordinate in (False, True):
            settings = with_execution(
                base, rate_per_s=args.rate, workers=args.workers, coordinate_slots=coordinate
            )
            name = "coordinated (slot board)" if coordinate else "uncoordinated (first slot)"
            contended.append(measure(name, settings, jobs, args.latency_ms, workdir))
    for result in contended:
        report(result, agenda_of, days[-1], args.rate)
        print(f"    against one worker on the same calendar: {_against(result, alone[1])}")
    same = all(_fate(alone[0].outcomes[j.key]) == _fate(alone[1].outcomes[j.key]) for j in jobs)
    print(
        f"One worker (latency 0, no limit), the same {len(jobs)} rows: outcomes "
        f"{'identical' if same else 'DIFFERENT'} with and without the board, calls "
        f"{alone[0].total_calls} without, {alone[1].total_calls} with"
    )
    report(alone[1], agenda_of, days[-1], args.rate)


def _against(result: Result, alone: Result) -> str:
    """The k-th earliest appointment against the one-worker run's k-th earliest."""

    def dates(r: Result) -> list[str]:
        return sorted(o.date_rdv for o in r.outcomes.values() if o.status is Status.RDV_PROGRAMME)

    mine, theirs = dates(result), dates(alone)
    later = sum(m > t for m, t in zip(mine, theirs, strict=False))
    earlier = sum(m < t for m, t in zip(mine, theirs, strict=False))
    missing = max(0, len(theirs) - len(mine))
    return (
        f"k-th earliest appointment later for {later} rows, earlier for {earlier}, "
        f"{missing} fewer appointments"
    )


def _fate(outcome: RowOutcome) -> tuple[str, str, str]:
    return outcome.status.value, outcome.date_rdv, outcome.plage_rdv


if __name__ == "__main__":
    main()
