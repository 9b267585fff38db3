"""Throughput of the executor against the simulator (prints figures, asserts nothing).

    python bench/throughput.py [--rows 400] [--workers 8]

The simulator runs in its own process (``python -m pipeline.simulator``) so the figures
are the batch's own: real zeep client, real SQLite journal (WAL, synchronous=FULL),
real HTTP. Four measurements in one run:

1. sequential: one row at a time (workers = 1), no rate limit, simulator latency 50 ms;
2. throttled: ``rate_per_s`` = 50, ``--workers`` workers, latency 50 ms: achieved calls/s,
   ratio to the limit, ratio to (1), and the most calls seen in any sliding second;
3. parallel, unthrottled, latency 50 ms (``--wide`` workers): what the workers give when
   the rate limit does not bind, as a ratio to (1);
4. unthrottled, latency 0: rows/s and the batch process's CPU time per row.

Rows mix 6M rows (3 calls when the slot is free, more when it is not) and JJ/JM/MM rows
(2 calls). Calls are counted per HTTP attempt (the client's ``on_call``).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import os
import subprocess
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

TODAY = dt.date(2026, 12, 1)
PCE_6M = [f"110000000000{i:02d}" for i in range(1, 13)]
PCE_JJ = [f"2{k}00000000000{i}" for k in (1, 2, 3) for i in (1, 2, 4)]
PLAGES = ["M1", "M2", "M3", "M4", "M5", "M6", "A1", "A2", "A3", "A4", "A5", "A6"]


def rows(prefix: str, count: int) -> list[Job]:
    jobs = []
    for i in range(count):
        day = (TODAY + dt.timedelta(days=2 + (i * 7) % 300)).isoformat()
        values = {"ReferenceDemande": f"{prefix}-{i:05d}", "DateRdv": day, "NomContact": "Bench"}
        if i % 2 == 0:
            values |= {
                "NumeroPCE": PCE_6M[i % len(PCE_6M)],
                "CodeLibelleIntervention": "34",
                "CodeMotifIntervention": "23",
                "PlageRdv": PLAGES[i % len(PLAGES)],
            }
        else:
            values |= {"NumeroPCE": PCE_JJ[i % len(PCE_JJ)], "CodeLibelleIntervention": "206"}
        jobs.append(Job(values["ReferenceDemande"], "bench.csv", "b" * 64, i + 2, values))
    return jobs


@dataclass
class Result:
    rows: int
    calls: int
    seconds: float
    cpu_s: float
    stamps: list[float]  # when each HTTP attempt got its rate-limit permit

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds

    def steady_calls_per_s(self) -> float:
        """Calls/s after the first second (the limiter lets one second's permits burst)."""
        start = self.stamps[0] + 1.0
        later = [t for t in self.stamps if t >= start]
        return len(later) / (self.stamps[-1] - start) if len(later) > 1 else 0.0

    def max_in_one_second(self) -> int:
        stamps = self.stamps
        return max(bisect.bisect_left(stamps, t + 1.0) - i for i, t in enumerate(stamps))


class StampingExecutor(Executor):
    """The executor, noting when each call is let through by the rate limiter."""

    stamps: list[float]

    def acquire(self, operation: str) -> None:
        super().acquire(operation)
        self.stamps.append(time.perf_counter())  # list.append is atomic


def measure(settings: Settings, base_url: str, jobs: list[Job], workdir: Path) -> Result:
    calls = 0
    lock = threading.Lock()

    def on_call(record: CallRecord) -> None:
        nonlocal calls
        with lock:
            calls += 1

    journal_path = workdir / f"journal-{jobs[0].key}.sqlite3"
    with Journal(journal_path, clock=dt.datetime.now) as journal:
        executor = StampingExecutor(
            settings, journal, base_url, clock=dt.datetime.now, on_call=on_call
        )
        executor.stamps = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        outcomes = executor.run(jobs)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert len(outcomes) == len(jobs)
    return Result(len(jobs), calls, seconds, cpu, sorted(executor.stamps))


def with_execution(settings: Settings, **execution: Any) -> Settings:
    return replace(settings, execution=replace(settings.execution, **execution))


class SimulatorProcess:
    def __init__(self, latency_ms: int) -> None:
        options = f"--port 0 --today {TODAY} --seed 7 --latency-ms {latency_ms} --threads 64"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.simulator", *options.split(), "--quiet"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().split(" : ", 1)[1].strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400, help="rows of the throttled run")
    parser.add_argument("--workers", type=int, default=8, help="workers of the throttled run")
    parser.add_argument("--wide", type=int, default=32, help="workers of the unthrottled run")
    parser.add_argument("--sequential-rows", type=int, default=60)
    parser.add_argument("--fast-rows", type=int, default=1000)
    args = parser.parse_args()
    # Events are rendered as a JSON log file would have them, then written nowhere.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(open(os.devnull, "w")),  # noqa: SIM115
    )
    base = load_settings(DEFAULT_CONFIG, environ={})
    unlimited = 100_000.0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sim = SimulatorProcess(latency_ms=50)
        try:
            seq = measure(
                with_execution(base, rate_per_s=unlimited, workers=1),
                sim.base_url,
                rows("SEQ", args.sequential_rows),
                workdir,
            )
            thr = measure(
                with_execution(base, rate_per_s=50.0, workers=args.workers),
                sim.base_url,
                rows("THR", args.rows),
                workdir,
            )
            wide = measure(
                with_execution(base, rate_per_s=unlimited, workers=args.wide),
                sim.base_url,
                rows("WIDE", args.rows),
                workdir,
            )
        finally:
            sim.stop()
        sim = SimulatorProcess(latency_ms=0)
        try:
            fast = measure(
                with_execution(base, rate_per_s=unlimited, workers=args.workers),
                sim.base_url,
                rows("FAST", args.fast_rows),
                workdir,
            )
        finally:
            sim.stop()

    print("Simulator latency 50 ms")
    print(
        f"  sequential (1 worker, no limit): {seq.calls_per_s:6.1f} calls/s "
        f"({seq.rows} rows, {seq.calls} calls, {seq.seconds:.1f} s)"
    )
    steady = thr.steady_calls_per_s()
    print(
        f"  throttled (rate_per_s 50, {args.workers} workers): {thr.calls_per_s:6.1f} calls/s "
        f"overall, {steady:.1f} calls/s after the first second "
        f"({thr.rows} rows, {thr.calls} calls, {thr.seconds:.1f} s)"
    )
    print(f"    ratio to the limit: {steady / 50:.3f} (overall {thr.calls_per_s / 50:.3f})")
    print(f"    most calls in any sliding second: {thr.max_in_one_second()} (limit 50)")
    print(f"    ratio to the sequential client: {thr.calls_per_s / seq.calls_per_s:.1f}x")
    print(
        f"  parallel, no limit ({args.wide} workers): {wide.calls_per_s:6.1f} calls/s, "
        f"{wide.calls_per_s / seq.calls_per_s:.1f}x the sequential client"
    )
    print("Simulator latency 0 ms, no limit")
    print(
        f"  {args.workers} workers: {fast.rows_per_s:6.1f} rows/s, {fast.calls_per_s:.1f} calls/s, "
        f"client CPU {1000 * fast.cpu_s / fast.rows:.1f} ms per row "
        f"({fast.rows} rows, {fast.calls} calls, {fast.seconds:.1f} s)"
    )


if __name__ == "__main__":
    main()
