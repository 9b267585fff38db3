"""Kill -9 at random moments: every row still ends with one outcome and no demand is doubled.

The simulator runs in its own process (faults on 10 % of the calls); the batch runs in
another (tests/crash_driver.py), killed with SIGKILL several times at seeded random
moments, then run to the end.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import stop_support
from crash_driver import crash_rows

from pipeline.execute.journal import Journal, State
from pipeline.records import Status

ROOT = Path(__file__).resolve().parent.parent
ROWS = 300
KILLS = 6
SEED = 20261201


@pytest.fixture
def simulator_process() -> Iterator[str]:
    """A simulator process with faults; yields its base URL."""
    options = f"--seed {SEED} --fault-rate 0.1 --fault-latency-ms 200 --slow-ms 1500"
    with stop_support.simulator_process(*options.split()) as base_url:
        yield base_url


def _driver(base_url: str, journal: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "crash_driver.py"),
            *("--base-url", base_url, "--journal", str(journal), "--rows", str(ROWS)),
        ],
        cwd=ROOT,
        env=stop_support.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(120)
def test_sigkill_at_random_moments_then_run_to_the_end(
    simulator_process: str, tmp_path: Path
) -> None:
    """After SIGKILLs at random moments and a final run: one outcome per row, no double demand."""
    journal_path = tmp_path / "journal.sqlite3"
    rng = random.Random(SEED)
    killed = interrupted = 0
    for _ in range(KILLS):
        driver = _driver(simulator_process, journal_path)
        try:
            driver.wait(timeout=rng.uniform(1.0, 3.0))
        except subprocess.TimeoutExpired:
            driver.send_signal(signal.SIGKILL)
            driver.wait()
            killed += 1
            with Journal(journal_path, clock=dt.datetime.now) as journal:
                interrupted += bool(journal.open_records())
    assert killed >= KILLS // 2 and interrupted >= 1
    for _ in range(3):  # a breaker opened by a burst of faults defers rows to the next run
        if _driver(simulator_process, journal_path).wait(timeout=60) == 0:
            break
    else:
        pytest.fail("les lignes ne sont toujours pas toutes terminées")

    keys = [job.key for job in crash_rows(ROWS)]
    root = simulator_process.removesuffix("/omega")
    demands = requests.get(f"{root}/admin/demandes", timeout=10).json()
    by_reference = Counter(d.get("ReferenceDemande") for d in demands)
    numbers = {d["NumeroDemande"]: d for d in demands}
    assert max(by_reference[k] for k in keys) <= 1, "deux demandes pour une même clé"

    with Journal(journal_path, clock=dt.datetime.now) as journal:
        assert journal.open_records() == []
        statuses: Counter[Status] = Counter()
        for key in keys:
            history = journal.history(key)
            latest = journal.latest(key)
            assert latest is not None and latest.state is State.FINAL and latest.outcome
            assert all(r.state is State.FINAL for r in history)
            holding = [
                r
                for r in history
                if r.status is not Status.DEJA_TRAITEE
                and (r.numero_demande or (r.status is not None and r.status.holds_demand))
            ]
            assert len(holding) <= 1, key
            status = latest.outcome.status
            statuses[status] += 1
            if latest.numero_demande:
                demand = numbers[latest.numero_demande]
                assert demand.get("ReferenceDemande") == key
            if status in (Status.RDV_PROGRAMME, Status.DATE_DEMANDEE, Status.PRISE_EN_COMPTE):
                assert by_reference[key] == 1, key
            if status is Status.RDV_PROGRAMME:
                demand = numbers[latest.numero_demande]
                assert (demand["Etat"], demand["DateProgrammee"]) == (
                    "RDV_PROG",
                    latest.outcome.date_rdv,
                )
            if status in (Status.NON_RECEVABLE, Status.REFUS_OMEGA, Status.ERREUR_TECHNIQUE):
                assert by_reference[key] == 0, key
    assert statuses[Status.RDV_PROGRAMME] > 0 and statuses[Status.DATE_DEMANDEE] > 0
    assert statuses[Status.NON_RECEVABLE] > 0 and statuses[Status.REFUS_OMEGA] > 0
    print("outcomes:", dict(statuses), "kills:", killed, "interrupted:", interrupted)
