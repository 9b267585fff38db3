"""The executor over the simulator: breaker, deferral, resume, exactly-once, workers, logs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from execution_support import (
    PCE_UNKNOWN,
    Harness,
    harness_fixture,
    jj_row,
    job,
    reuse_harness,
    row,
)

from pipeline.execute.client import CallRecord
from pipeline.execute.executor import CreationTakenBack, Executor, build_limiter
from pipeline.execute.journal import CallEntry, Job, Journal, State
from pipeline.records import Finding, RowOutcome, Severity, Status
from pipeline.simulator import FaultKind
from pipeline.stopping import EXIT_INTERRUPTED, RunStop, StopCause, StopKind

VERIFY, CREATE, ACCEPT = "VerifierRecevabiliteDIT", "CreerDemandeDIT", "AccepterRdv"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    yield from harness_fixture(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def h(shared: Harness, tmp_path: Path) -> Harness:
    return reuse_harness(shared, tmp_path)


def _settings(h: Harness, **execution: Any) -> Any:
    return replace(h.settings, execution=replace(h.settings.execution, **execution))


def _free_row(h: Harness, ref: str, skip: int = 0) -> dict[str, str]:
    day = dt.date(2026, 12, 10)
    while True:
        if h.engine.agenda.is_bookable_day(day):
            for code in h.engine.agenda.slot_codes:
                if h.engine.agenda.is_free(day, code):
                    if skip == 0:
                        return row(ref, date=day.isoformat(), plage=code)
                    skip -= 1
        day += dt.timedelta(days=1)


def _jobs(prefix: str, n: int) -> list[Job]:
    return [job(jj_row(f"{prefix}-{i}"), line=i + 2) for i in range(n)]


# ----- circuit breaker and deferred rows -------------------------------------------------
def test_closed_omega_defers_every_row_and_next_run_sends_them(h: Harness) -> None:
    """OMEGA closed: every row REPORTEE (values kept); the next run resends them."""
    h.engine.closed = True
    outcomes = h.run(_jobs("CL", 6))
    assert {o.status for o in outcomes.values()} == {Status.REPORTEE}
    assert all("OMEGA indisponible" in o.detail for o in outcomes.values())
    assert CREATE not in h.ops()
    assert len(h.ops()) <= h.settings.execution.workers * h.settings.execution.max_attempts
    h.engine.closed = False
    with h.journal() as journal:
        executor = h.executor(journal)
        deferred = executor.deferred_jobs()
        assert sorted(j.key for j in deferred) == [f"CL-{i}" for i in range(6)]
        assert all(j.values["NomContact"] == "Client Test" for j in deferred)
        again = executor.run(deferred)
        assert {o.status for o in again.values()} == {Status.DATE_DEMANDEE}
        assert executor.deferred_jobs() == []
    assert all(len(h.demandes(f"CL-{i}")) == 1 for i in range(6))


def test_omega_closing_mid_run_defers_the_rest(h: Harness) -> None:
    """OMEGA closing after the third creation: rows done stay done, the rest are REPORTEE."""
    count = {"n": 0}

    def close_after_third(answer: dict[str, Any]) -> dict[str, Any]:
        count["n"] += 1
        if count["n"] == 3:
            h.engine.closed = True
        return answer

    for _ in range(3):
        h.engine.rewrite_next(CREATE, close_after_third)
    outcomes = h.run(_jobs("MID", 8), settings=_settings(h, workers=1))
    statuses = [outcomes[f"MID-{i}"].status for i in range(8)]
    assert statuses == [Status.DATE_DEMANDEE] * 3 + [Status.REPORTEE] * 5
    assert h.ops().count(VERIFY) == 3 + h.settings.execution.max_attempts
    h.engine.closed = False
    with h.journal() as journal:
        executor = h.executor(journal)
        rest = executor.run(executor.deferred_jobs())
    assert sorted(rest) == [f"MID-{i}" for i in range(3, 8)]
    assert {o.status for o in rest.values()} == {Status.DATE_DEMANDEE}


def test_consecutive_transient_failures_open_the_breaker(h: Harness) -> None:
    """After breaker_threshold transient failures in a row, nothing more is sent: REPORTEE."""
    h.sim.faults.force(VERIFY, *[FaultKind.HTTP_503] * 10)
    settings = _settings(h, workers=1, max_attempts=1, breaker_threshold=2)
    outcomes = h.run(_jobs("BR", 5), settings=settings)
    statuses = [outcomes[f"BR-{i}"].status for i in range(5)]
    assert statuses == [Status.ERREUR_TECHNIQUE] + [Status.REPORTEE] * 4
    assert "2 erreurs techniques consécutives" in outcomes["BR-4"].detail
    assert h.ops() == [VERIFY, VERIFY]


def test_success_resets_the_transient_failure_count(h: Harness) -> None:
    """Transient failures separated by successes never open the breaker."""
    for _ in range(3):
        h.sim.faults.force(VERIFY, FaultKind.HTTP_503, None)
    settings = _settings(h, workers=1, max_attempts=1, breaker_threshold=2)
    outcomes = h.run(_jobs("RS", 6), settings=settings)
    statuses = [outcomes[f"RS-{i}"].status for i in range(6)]
    assert statuses == [Status.ERREUR_TECHNIQUE, Status.DATE_DEMANDEE] * 3


def test_unknown_outcomes_do_not_open_the_breaker(h: Harness) -> None:
    """Lost answers after OMEGA processed the creation are not "OMEGA failing": they end
    A_VERIFIER one by one, the breaker stays closed and the next rows are still sent."""
    h.sim.faults.force(CREATE, *[FaultKind.RESET_AFTER] * 4)
    settings = _settings(h, workers=1, max_attempts=1, breaker_threshold=2)
    with h.journal() as journal:
        executor = h.executor(journal, settings=settings)
        outcomes = executor.run(_jobs("UO", 6))
    statuses = [outcomes[f"UO-{i}"].status for i in range(6)]
    assert statuses == [Status.A_VERIFIER] * 4 + [Status.DATE_DEMANDEE] * 2
    assert not executor.breaker.is_open
    assert executor.breaker.describe().startswith("fermé")


def test_breaker_state_and_reason_are_told(h: Harness) -> None:
    h.sim.faults.force(VERIFY, *[FaultKind.HTTP_503] * 4)
    settings = _settings(h, workers=1, max_attempts=1, breaker_threshold=2)
    with h.journal() as journal:
        executor = h.executor(journal, settings=settings)
        executor.run(_jobs("BS", 3))
    assert executor.breaker.describe() == (
        "ouvert : envoi interrompu après 2 erreurs techniques consécutives avec OMEGA"
    )


def test_stop_during_a_verification_sends_no_creation_and_leaves_the_rest_unjournaled(
    h: Harness,
) -> None:
    """The run's stop, requested while OMEGA answers a row's VerifierRecevabiliteDIT: that
    row ends REPORTEE before its CreerDemandeDIT (journaled, values kept), the rows not
    handed out yet are REPORTEE without a journal record; the next run sends them all."""
    stop = RunStop(grace_s=5)
    cause = StopCause(StopKind.INTERRUPTED, "arrêt de test", EXIT_INTERRUPTED)

    def stop_now(_request: Mapping[str, Any]) -> None:
        stop.request(cause)

    h.engine.on_next(VERIFY, stop_now)
    with h.journal() as journal:
        executor = h.executor(journal, settings=_settings(h, workers=1), stop=stop)
        outcomes = executor.run(_jobs("ST", 3))
        assert {o.status for o in outcomes.values()} == {Status.REPORTEE}
        assert "Non envoyée : arrêt du passage demandé" in outcomes["ST-2"].detail
        first = journal.latest("ST-0")
        assert first is not None and first.status is Status.REPORTEE and first.values
        assert journal.latest("ST-1") is None and journal.latest("ST-2") is None
    assert h.ops() == [VERIFY]
    again = h.run(_jobs("ST", 3))
    assert {o.status for o in again.values()} == {Status.DATE_DEMANDEE}
    assert all(len(h.demandes(f"ST-{i}")) == 1 for i in range(3))


def test_hard_stop_puts_back_creations_committed_but_not_sent(h: Harness) -> None:
    """A creation whose ``create_sent`` is committed but whose request has not left the
    process goes back to ``verified``: never taken for an unanswered creation."""
    stop = RunStop()
    with h.journal() as journal:
        executor = h.executor(journal, stop=stop)
        claim = journal.claim(job(jj_row("HS-1")), run_id="r")
        journal.advance(claim.record.id, State.VERIFIED)
        journal.advance(claim.record.id, State.CREATE_SENT)
        stop.creation_committed(claim.record.id)
        assert executor.hard_stop() == 1
        assert journal.get(claim.record.id).state is State.VERIFIED
        assert executor.hard_stop() == 0
        with pytest.raises(CreationTakenBack):  # its thread, leaving the rate gate
            executor.acquire(CREATE)
        executor.acquire(CREATE)  # a later creation of that thread goes out


# ----- returning keys ----------------------------------------------------------------------
def test_rerun_of_done_rows_is_deja_traitee_without_any_call(h: Harness) -> None:
    """A file dropped again: rows that led to a demand are DEJA_TRAITEE with their number."""
    jobs = [job(jj_row("RR-1")), job(_free_row(h, "RR-2"), line=3)]
    first = h.run(jobs)
    calls = len(h.ops())
    again = h.run(jobs)
    assert len(h.ops()) == calls
    for key in ("RR-1", "RR-2"):
        assert again[key].status is Status.DEJA_TRAITEE
        assert again[key].numero_demande == first[key].numero_demande
        assert first[key].status.label in again[key].detail
    assert again["RR-2"].date_rdv == first["RR-2"].date_rdv
    assert len(h.demandes("RR-2")) == 1


def test_row_that_ended_without_demand_is_processed_again(h: Harness) -> None:
    """NON_RECEVABLE / REFUS_OMEGA keys are sent again, and a corrected row gets its demand."""
    refused = h.run([job(jj_row("CO-1", DateRdv="2026-11-20"))])["CO-1"]
    assert refused.status is Status.REFUS_OMEGA
    corrected = h.run([job(jj_row("CO-1"), line=7)])["CO-1"]
    assert corrected.status is Status.DATE_DEMANDEE
    assert h.ops().count(CREATE) == 2 and len(h.demandes("CO-1")) == 1
    with h.journal() as journal:
        history = journal.history("CO-1")
    assert [r.status for r in history] == [Status.REFUS_OMEGA, Status.DATE_DEMANDEE]


def test_duplicate_key_in_one_run_is_sent_once(h: Harness) -> None:
    """The same key twice in one run: one demand, the second occurrence DEJA_TRAITEE."""
    seen: list[tuple[int, Status]] = []
    outcomes = h.run(
        [job(jj_row("DU-1")), job(jj_row("DU-1"), line=3)],
        on_outcome=lambda j, o: seen.append((j.line, o.status)),
    )
    assert outcomes["DU-1"].status is Status.DATE_DEMANDEE
    assert sorted(seen) == [(2, Status.DATE_DEMANDEE), (3, Status.DEJA_TRAITEE)]
    assert len(h.demandes("DU-1")) == 1


def test_rejected_row_is_journaled_and_done_key_says_deja_traitee(h: Harness) -> None:
    """record_rejected journals REJET_VALIDATION, or DEJA_TRAITEE for a key already sent."""
    finding = Finding("DATE_PASSEE", Severity.ERROR, "DateRdv", "2020-01-01", "Date passée", 2)
    with h.journal() as journal:
        executor = h.executor(journal)
        rejected = executor.record_rejected(job(jj_row("RJ-1")), [finding])
        assert rejected.status is Status.REJET_VALIDATION
        assert rejected.detail == "[DATE_PASSEE] Date passée"
        executor.run([job(jj_row("RJ-2"))])
        again = executor.record_rejected(job(jj_row("RJ-2")), [finding])
        assert again.status is Status.DEJA_TRAITEE and again.numero_demande
    assert h.ops().count(CREATE) == 1


# ----- crash and resume ----------------------------------------------------------------------
class Crash(BaseException):
    """Stands for kill -9: nothing after it runs (not an Exception, so nothing catches it)."""


class CrashingJournal(Journal):
    """Dies right before or right after committing a chosen step."""

    def __init__(self, path: Path, step: str, when: str) -> None:
        super().__init__(path, clock=lambda: dt.datetime(2026, 12, 1, 2, 0))
        self.step, self.when = step, when

    def _maybe(self, step: str, when: str) -> None:
        if (step, when) == (self.step, self.when):
            raise Crash(step)

    def advance(self, record_id: int, state: State, **kwargs: Any) -> None:
        self._maybe(state.value, "before")
        super().advance(record_id, state, **kwargs)
        self._maybe(state.value, "after")

    def finish(self, record_id: int, outcome: RowOutcome, **kwargs: Any) -> RowOutcome:
        self._maybe("final", "before")
        return super().finish(record_id, outcome, **kwargs)


@pytest.mark.parametrize(
    ("step", "when", "expected", "creates"),
    [
        ("verified", "after", Status.RDV_PROGRAMME, 1),
        ("create_sent", "after", Status.A_VERIFIER, 0),
        ("created", "before", Status.A_VERIFIER, 1),
        ("created", "after", Status.RDV_PROGRAMME, 1),
        ("slot", "after", Status.RDV_PROGRAMME, 1),
        ("final", "before", Status.RDV_PROGRAMME, 1),
    ],
)
def test_crash_at_each_step_then_resume(
    h: Harness, step: str, when: str, expected: Status, creates: int
) -> None:
    """Killed at any step, the next run finishes the row without a second CreerDemandeDIT."""
    values = _free_row(h, f"CR-{step}-{when}")
    key = values["ReferenceDemande"]
    day = dt.date.fromisoformat(values["DateRdv"])
    taken_before = h.engine.agenda.taken(day, values["PlageRdv"])
    settings = _settings(h, workers=1)
    with CrashingJournal(h.settings.paths.journal, step, when) as crashing, pytest.raises(Crash):
        h.executor(crashing, settings=settings).run([job(values)])
    with h.journal() as journal:
        executor = h.executor(journal, settings=settings)
        assert [j.key for j in executor.deferred_jobs()] == [key]
        outcome = executor.run(executor.deferred_jobs())[key]
        assert executor.deferred_jobs() == []
    assert outcome.status is expected
    assert h.ops().count(CREATE) == creates
    assert len(h.demandes(key)) == creates
    if creates and expected is Status.RDV_PROGRAMME:
        (demand,) = h.demandes(key)
        assert demand["NumeroDemande"] == outcome.numero_demande
        assert h.engine.agenda.taken(day, values["PlageRdv"]) == taken_before + 1
    if expected is Status.A_VERIFIER:
        assert "suivi des demandes" in outcome.detail


def test_created_row_met_with_closed_omega_stays_open_with_its_number(h: Harness) -> None:
    """A resumed row holding a NumeroDemande is REPORTEE (number shown) while OMEGA is closed."""
    values = _free_row(h, "CRC-1")
    settings = _settings(h, workers=1)
    crashing = CrashingJournal(h.settings.paths.journal, "created", "after")
    with crashing, pytest.raises(Crash):
        h.executor(crashing, settings=settings).run([job(values)])
    h.engine.closed = True
    with h.journal() as journal:
        executor = h.executor(journal, settings=settings)
        executor.breaker.unavailable()
        deferred = executor.deferred_jobs()
        reported = executor.run(deferred)["CRC-1"]
    assert reported.status is Status.REPORTEE and reported.numero_demande
    h.engine.closed = False
    with h.journal() as journal:
        executor = h.executor(journal, settings=settings)
        done = executor.run(executor.deferred_jobs())["CRC-1"]
    assert done.status is Status.RDV_PROGRAMME
    assert done.numero_demande == reported.numero_demande


# ----- workers, rate limit, robustness, logs ----------------------------------------------------
def test_workers_share_the_load_within_the_configured_count(h: Harness) -> None:
    """Dialogues run on several worker threads, never more than ``workers``."""
    threads: set[str] = set()
    lock = threading.Lock()

    def on_call(record: CallRecord) -> None:
        with lock:
            threads.add(threading.current_thread().name)

    outcomes = h.run(_jobs("WK", 24), settings=_settings(h, workers=3), on_call=on_call)
    assert len(outcomes) == 24
    assert 1 < len(threads) <= 3


def test_every_http_attempt_takes_a_rate_limit_permit(h: Harness) -> None:
    """The global limiter is consulted before each HTTP attempt, retries included."""
    permits: list[str] = []

    class CountingExecutor(Executor):
        def acquire(self, operation: str) -> None:
            permits.append(operation)
            super().acquire(operation)

    h.sim.faults.force(CREATE, FaultKind.HTTP_503)
    with h.journal() as journal:
        executor = CountingExecutor(
            h.settings, journal, h.sim.base_url, clock=lambda: dt.datetime(2026, 12, 1)
        )
        executor.sleep = h.sleeps.append
        executor.run(_jobs("RL", 3))
    assert len(permits) == len(h.ops()) == 7


def test_limiter_paces_calls_evenly_under_the_cap() -> None:
    """50/s is one call per 20 ms, at most 50 per second; 2.5/s is 1 per 400 ms, 5 per 2 s."""
    for rate_per_s, expected in (
        (50.0, [(1, 19), (50, 1000)]),
        (2.5, [(1, 399), (5, 2000)]),
        (0.5, [(1, 2000)]),
    ):
        (bucket,) = build_limiter(rate_per_s).buckets()
        assert [(r.limit, r.interval) for r in bucket.rates] == expected


def test_unexpected_error_in_one_row_does_not_stop_the_others(h: Harness) -> None:
    """A row that breaks the journal itself ends ERREUR_TECHNIQUE; the others go on."""
    bad: Mapping[str, Any] = {**jj_row("BAD-1"), "Commentaire": object()}
    outcomes = h.run([Job("BAD-1", "f.csv", "0" * 64, 2, bad), *_jobs("OK", 2)])
    assert outcomes["BAD-1"].status is Status.ERREUR_TECHNIQUE
    assert "Erreur inattendue" in outcomes["BAD-1"].detail
    assert outcomes["OK-0"].status is outcomes["OK-1"].status is Status.DATE_DEMANDEE


def test_logs_one_event_per_call_and_per_row_without_personal_data(h: Harness) -> None:
    """Structured events name operations, codes and keys, never contact data or PCE numbers."""
    with structlog.testing.capture_logs() as logs:
        h.run([job(jj_row("LG-1")), job(row("LG-2", pce=PCE_UNKNOWN), line=3)])
    calls = [e for e in logs if e["event"] == "omega_call"]
    rows = [e for e in logs if e["event"] == "row_outcome"]
    assert len(calls) == 3 and len(rows) == 2
    assert {"operation", "duration_ms", "outcome", "code_retour", "attempts"} <= set(calls[0])
    assert {r["status"] for r in rows} == {"DATE_DEMANDEE", "NON_RECEVABLE"}
    assert {r["idempotency_key"] for r in rows} == {"LG-1", "LG-2"}
    text = repr(logs)
    for personal in ("Client Test", "0102030405", "21000000000001", PCE_UNKNOWN):
        assert personal not in text


def test_journal_keeps_each_call_of_a_retried_row(h: Harness) -> None:
    """A retried call is journaled once with its number of attempts."""
    h.sim.faults.force(VERIFY, FaultKind.HTTP_503)
    h.run([job(jj_row("JC-1"))])
    with h.journal() as journal:
        record = journal.latest("JC-1")
        assert record is not None
        calls = journal.calls(record.id)
    assert [(c.operation, c.attempts) for c in calls] == [(VERIFY, 2), (CREATE, 1)]
    assert isinstance(calls[0], CallEntry) and record.attempts == 3
