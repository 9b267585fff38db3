"""Crash-test driver: one batch run of a fixed set of rows against a running simulator.

``python tests/crash_driver.py --base-url URL --journal PATH --rows N`` behaves like the
nightly run with its file still in ``input/``: rows deferred by earlier runs first, then
every row of the "file". tests/test_crash.py kills it with SIGKILL at random moments and
then runs it to the end. Exit code 0 once every row has a final outcome, 3 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from pipeline.config import DEFAULT_CONFIG, Settings, load_settings
from pipeline.execute.executor import Executor, Job
from pipeline.execute.journal import Journal

SHA = "5eed" * 16
PCE_6M = [f"110000000000{i:02d}" for i in range(1, 9)]
PCE_JJ = [f"2{k}00000000000{i}" for k in (1, 2, 3) for i in (1, 2, 4)]
PLAGES = ["M1", "M2", "M3", "A1", "A2", "A3"]
TODAY = dt.date(2026, 12, 1)


def crash_rows(count: int) -> list[Job]:
    """A deterministic mix: 6M rows (slot dialogue), JJ/JM/MM rows, refusals."""
    jobs = []
    for i in range(count):
        ref = f"CRASH-{i:04d}"
        day = (TODAY + dt.timedelta(days=1 + i % 25)).isoformat()
        values = {
            "ReferenceDemande": ref,
            "NomContact": "Client Crash",
            "TelephoneContact": "0600000000",
            "DateRdv": day,
        }
        kind = i % 5
        if kind in (0, 1):
            values |= {
                "NumeroPCE": PCE_6M[i % len(PCE_6M)],
                "CodeLibelleIntervention": "34",
                "CodeMotifIntervention": "23",
                "PlageRdv": PLAGES[i % len(PLAGES)],
            }
        elif kind in (2, 3):
            values |= {"NumeroPCE": PCE_JJ[i % len(PCE_JJ)], "CodeLibelleIntervention": "206"}
        elif i % 10 == 4:
            values |= {"NumeroPCE": "99999999999999", "CodeLibelleIntervention": "206"}
        else:
            values |= {
                "NumeroPCE": PCE_6M[0],
                "CodeLibelleIntervention": "34",
                "CodeMotifIntervention": "23",
                "PlageRdv": "M1",
                "DateRdv": "2026-11-02",
            }
        jobs.append(Job(ref, "crash.csv", SHA, i + 2, values))
    return jobs


def crash_settings(journal: Path) -> Settings:
    base = load_settings(DEFAULT_CONFIG, environ={})
    return replace(
        base,
        omega=replace(base.omega, timeout_s=1.0),
        execution=replace(
            base.execution,
            rate_per_s=1000.0,
            workers=4,
            max_attempts=3,
            max_retry_delay_s=2.0,
            breaker_threshold=5,
        ),
        paths=replace(base.paths, journal=journal),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--journal", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = crash_settings(args.journal)
    with Journal(settings.paths.journal, clock=dt.datetime.now) as journal:
        executor = Executor(
            settings,
            journal,
            args.base_url,
            clock=dt.datetime.now,
            sleep=lambda s: time.sleep(min(s, 0.05)),
            rng=random.Random(args.seed),
        )
        executor.run(executor.deferred_jobs())
        executor.run(crash_rows(args.rows))
        return 0 if not journal.open_records() else 3


if __name__ == "__main__":
    sys.exit(main())
