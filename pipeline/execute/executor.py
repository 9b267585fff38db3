"""Runs the rows' dialogues with OMEGA: workers, a global rate limit, a circuit breaker.

- ``workers`` dialogues are in flight at once (a thread pool); each worker thread has
  its own ``OmegaClient`` (zeep client and HTTP session are not shared).
- Every HTTP attempt of every worker first takes a permit from one shared
  ``pyrate_limiter.Limiter``: at most ``rate_per_s`` calls in any sliding second.
- The circuit breaker opens when OMEGA says it is closed or in maintenance
  (``ServiceUnavailable``), or after ``breaker_threshold`` consecutive transient
  failures (each one already retried by the client). Once open, for the rest of this
  executor's life, no new row is sent: rows not yet sent end REPORTEE, journaled with
  their values, and :meth:`Executor.deferred_jobs` hands them to the next run.
- One ``SlotBoard`` (pipeline/execute/slot_board.py) per executor, i.e. per night, shared
  by the workers' dialogues: they do not chase the slots another worker is accepting
  or has just filled (``[execution] coordinate_slots``).
- The journal (pipeline/execute/journal.py) makes each row exactly-once and resumable; the
  dialogue itself is pipeline/execute/dialogue.py.

The same key twice in one ``run`` (the validator normally rejects that): the second
occurrence is handled after all others, through the journal like a file dropped again,
and reported only through ``on_outcome``; the returned mapping keeps the first.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from types import TracebackType

import structlog

from pipeline.config import Settings
from pipeline.execute.breaker import CircuitBreaker
from pipeline.execute.client import CallRecord, OmegaClient
from pipeline.execute.dialogue import RowDialogue
from pipeline.execute.journal import (
    ClaimKind,
    Job,
    Journal,
    JournalError,
    idempotency_key,
)
from pipeline.execute.message_codes import load_message_codes
from pipeline.execute.ratelimit import RateGate, build_limiter
from pipeline.execute.slot_board import SlotBoard
from pipeline.execute.stop_outcomes import in_flight_at_deadline, journal_failed, not_started
from pipeline.records import Finding, RowOutcome, Status
from pipeline.stopping import EXIT_STORAGE, RunStop, StopCause, StopKind

__all__ = ["CircuitBreaker", "Executor", "Job", "RateGate", "build_limiter", "idempotency_key"]

log = structlog.get_logger("dit_batch.executor")


class CreationTakenBack(Exception):
    """A creation withdrawn by a hard stop before its request was written."""


class Executor:
    """Sends jobs through the dialogue; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        base_url: str,
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_outcome: Callable[[Job, RowOutcome], None] | None = None,
        client_factory: Callable[[], OmegaClient] | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        stop: RunStop | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.base_url = base_url
        self.clock = clock
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.on_outcome = on_outcome
        self.client_factory = client_factory
        self.on_call = on_call
        self.run_id = f"{clock():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.message_codes = load_message_codes(settings.paths.referential_dir)
        self.gate = RateGate(settings.execution.rate_per_s)
        self.breaker = CircuitBreaker(settings.execution.breaker_threshold)
        self.stop = stop if stop is not None else RunStop(grace_s=settings.execution.stop_grace_s)
        # True when the stop's grace ran out with calls in flight (exit without waiting).
        self.abandoned = False
        # What the workers learn of OMEGA's calendar tonight (in memory, never journaled).
        self.slot_board = SlotBoard(coordinate=settings.execution.coordinate_slots)
        self._clients: dict[int, OmegaClient] = {}
        self._lock = threading.Lock()

    # ----- public API ---------------------------------------------------------------------
    def record_rejected(self, job: Job, findings: Sequence[Finding]) -> RowOutcome:
        """Journal a row the validator rejected (DEJA_TRAITEE only if it is the very request
        that already led to a demand); no call is made, ``on_outcome`` is not called."""
        errors = [f for f in findings if f.is_error] or list(findings)
        outcome = RowOutcome(
            Status.REJET_VALIDATION,
            processed_at=_stamp(self.clock),
            detail="; ".join(f.describe() for f in errors),
        )
        try:
            final = self.journal.record_final(
                job,
                outcome,
                run_id=self.run_id,
                duplicate_in_file=any(f.rule == "REFERENCE_DOUBLON" for f in errors),
            )
        except JournalError as exc:  # reported as it is; its file stays in input/
            self._journal_failed(job, exc)
            final = outcome
        log_outcome(job, final)
        return final

    def run(self, jobs: Iterable[Job]) -> dict[str, RowOutcome]:
        """Process every job; returns the outcome by key (each job gets exactly one).

        Once the run's stop is requested, the jobs not handed out yet end REPORTEE (not
        journaled: their file stays in input/), the calls in flight get the stop's grace;
        past it, the rows still in flight are reported from their journal state and
        their threads left behind (``abandoned``).
        """
        results: dict[str, RowOutcome] = {}
        seen: set[str] = set()
        duplicates: list[Job] = []
        workers = max(1, self.settings.execution.workers)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="omega")
        in_flight: dict[Future[RowOutcome], Job] = {}
        try:
            for job in jobs:
                if job.key in seen:
                    duplicates.append(job)
                    continue
                seen.add(job.key)
                if self.stop.is_set:
                    self._collect(job, self.not_started(job), results)
                    continue
                while len(in_flight) >= 2 * workers:
                    self._drain(in_flight, results, until=2 * workers - 1)
                in_flight[pool.submit(self._process, job)] = job
            self._drain(in_flight, results, until=0)
            for job in duplicates:
                outcome = self.not_started(job) if self.stop.is_set else self._process(job)
                self._collect(job, outcome, {})
        finally:
            pool.shutdown(wait=not self.abandoned, cancel_futures=True)
            if not self.abandoned:
                self._close_clients()
        return results

    def not_started(self, job: Job) -> RowOutcome:
        """A row the stop kept from being sent: nothing journaled, its file stays."""
        return not_started(self.stop.cause, _stamp(self.clock))

    def hard_stop(self) -> int:
        """Before exiting at once: creations committed but not sent go back to
        ``verified`` (never taken for unanswered ones); returns how many."""
        try:
            return self.journal.unsend_creations(self.stop.take_back_unsent())
        except JournalError:
            return 0

    def _drain(
        self, in_flight: dict[Future[RowOutcome], Job], results: dict[str, RowOutcome], until: int
    ) -> None:
        """Collect finished rows until at most ``until`` are in flight (or the grace ends)."""
        while len(in_flight) > until:
            left = self.stop.grace_left()
            if left <= 0:
                self._abandon(in_flight, results)
                return
            done, _ = wait(in_flight, timeout=min(left, 0.25), return_when=FIRST_COMPLETED)
            for future in done:
                self._collect(in_flight.pop(future), future.result(), results)

    def _abandon(
        self, in_flight: dict[Future[RowOutcome], Job], results: dict[str, RowOutcome]
    ) -> None:
        """The grace is over: report the rows still in flight from their journal state."""
        self.abandoned = True
        self.stop.expire()
        self.hard_stop()
        log.warning("stop_grace_expired", rows_in_flight=len(in_flight))
        for future, job in list(in_flight.items()):
            in_flight.pop(future)
            try:
                record = self.journal.latest(job.key)
            except JournalError:
                record = None
            outcome = in_flight_at_deadline(record, self.stop.grace_s, _stamp(self.clock))
            self._collect(job, outcome, results)

    def deferred_jobs(self) -> list[Job]:
        """Rows that earlier runs left REPORTEE or unfinished (the tracking's reopened rows
        included) or whose lost appointment step is to be resumed, to send without their
        file."""
        try:
            records = self.journal.open_records()
        except JournalError as exc:
            self._journal_failed(None, exc)
            return []
        return [r.job() for r in records]

    def acquire(self, operation: str) -> None:
        """Block until the global rate limit allows one more call (the clients' before_call)."""
        self.gate(operation)
        if operation == "CreerDemandeDIT" and not self.stop.creation_leaving():
            # Taken back by a hard stop while waiting here: journaled ``verified``
            # again, it must not go out (the exception reaches no journal step).
            raise CreationTakenBack("CreerDemandeDIT reprise par l'arrêt, non envoyée")

    def close(self) -> None:
        self._close_clients()

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----- internals ------------------------------------------------------------------------
    def _process(self, job: Job) -> RowOutcome:
        if self.stop.is_set:
            return self.not_started(job)
        try:
            claim = self.journal.claim(job, run_id=self.run_id)
            if claim.kind in (ClaimKind.ALREADY_DONE, ClaimKind.REFUSED):
                assert claim.outcome is not None
                return claim.outcome
            dialogue = RowDialogue(
                self._client(),
                self.journal,
                self.settings.execution,
                self.breaker,
                self.stop,
                clock=self.clock,
                message_codes=self.message_codes,
                board=self.slot_board,
            )
            return dialogue.run(claim.record)
        except JournalError as exc:
            return self._journal_failed(job, exc)
        except CreationTakenBack:  # journaled ``verified`` again by the stop
            return self.not_started(job)
        except Exception as exc:  # one broken row must not stop the others
            log.exception("row_failed", idempotency_key=job.key, source=job.source, line=job.line)
            return RowOutcome(
                Status.ERREUR_TECHNIQUE,
                processed_at=_stamp(self.clock),
                detail=f"Erreur inattendue ({type(exc).__name__}) : la ligne sera reprise au "
                "prochain passage ; voir le journal d'exécution",
            )

    def _journal_failed(self, job: Job | None, exc: JournalError) -> RowOutcome:
        """A step could not be committed: nothing more is sent by anyone; the row stays
        in the journal as it was and is taken up by the next run."""
        if self.stop.request(StopCause(StopKind.STORAGE, str(exc), EXIT_STORAGE)):
            log.error("run_stopped", cause="journal", error=str(exc))
        return journal_failed(exc, _stamp(self.clock))

    def _collect(self, job: Job, outcome: RowOutcome, results: dict[str, RowOutcome]) -> None:
        results.setdefault(job.key, outcome)
        log_outcome(job, outcome)
        if self.on_outcome is not None:
            self.on_outcome(job, outcome)

    def _client(self) -> OmegaClient:
        ident = threading.get_ident()
        with self._lock:
            client = self._clients.get(ident)
            if client is not None:
                return client
            seed = self.rng.random()
        if self.client_factory is not None:
            client = self.client_factory()
        else:
            execution = self.settings.execution
            client = OmegaClient(
                self.settings.omega,
                self.base_url,
                max_attempts=execution.max_attempts,
                max_retry_delay_s=execution.max_retry_delay_s,
                sleep=self.stop.sleep if self.sleep is time.sleep else self.sleep,
                rng=random.Random(seed),
                before_call=self.acquire,
                on_call=self.on_call,
                log_soap=self.settings.omega.log_soap,
                should_stop=lambda: self.stop.is_set,
            )
        with self._lock:
            self._clients[ident] = client
        return client

    def _close_clients(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


def _stamp(clock: Callable[[], datetime]) -> str:
    return clock().isoformat(timespec="seconds")


def log_outcome(job: Job, outcome: RowOutcome) -> None:
    log.info(
        "row_outcome",
        idempotency_key=job.key,
        source=job.source,
        line=job.line,
        status=outcome.status.value,
        code_retour=outcome.code_retour,
        numero_demande=outcome.numero_demande,
        attempts=outcome.attempts,
    )
