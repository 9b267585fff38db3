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

import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from fractions import Fraction
from types import TracebackType

import structlog
from pyrate_limiter import InMemoryBucket, Limiter, Rate, RateItem

from pipeline.config import Settings
from pipeline.execute.client import CallRecord, OmegaClient
from pipeline.execute.dialogue import RowDialogue
from pipeline.execute.journal import ClaimKind, Job, Journal, idempotency_key
from pipeline.execute.slot_board import SlotBoard
from pipeline.records import Finding, RowOutcome, Status

__all__ = ["CircuitBreaker", "Executor", "Job", "RateGate", "build_limiter", "idempotency_key"]

log = structlog.get_logger("dit_batch.executor")


def build_limiter(rate_per_s: float) -> Limiter:
    """A limiter allowing ``rate_per_s`` calls per second, evenly spaced.

    Two pyrate-limiter rates (a window of N ms admits a new item when fewer than the
    limit were recorded in the last N + 1 milliseconds, hence the ``- 1``):

    - pace: ``k`` permits per ``k * 1000 / rate_per_s`` ms, ``k`` = ceil(rate_per_s / 100)
      (one every 20 ms at 50/s), so no burst of a whole second's permits that network
      jitter could push into the next second as OMEGA counts them;
    - cap: never more than ``rate_per_s`` (2.5/s: 5 per 2 s) in any sliding window, with
      one millisecond to spare.
    """
    group = max(1, math.ceil(rate_per_s / 100))
    pace_ms = max(2, round(group * 1000 / rate_per_s))
    fraction = Fraction(rate_per_s).limit_denominator(1000)
    cap = Rate(fraction.numerator, fraction.denominator * 1000)
    rates = [Rate(group, pace_ms - 1), cap] if group < fraction.numerator else [cap]
    return Limiter(InMemoryBucket(rates), buffer_ms=1)


class RateGate:
    """Blocks until the shared limiter grants one permit, stamped with the real time.

    pyrate-limiter's own blocking wait re-submits the permit with its *planned* time
    after sleeping, so a late wake-up is counted earlier than the call really went out.
    Here every attempt is a non-blocking acquisition at the current time and the wait
    in between is the bucket's own estimate: the limit holds in real time. Waits are
    real (time.sleep): the rate limit is about the wall clock, whatever sleep the
    client's retries are given.
    """

    def __init__(self, rate_per_s: float) -> None:
        self.limiter = build_limiter(rate_per_s)
        (self._bucket,) = self.limiter.buckets()

    def __call__(self, operation: str = "") -> None:
        while not self.limiter.try_acquire("omega", blocking=False):
            now: int = self._bucket.now()  # type: ignore[no-untyped-call]
            wait_ms = self._bucket.waiting(RateItem("omega", now))
            wait_s = (wait_ms if isinstance(wait_ms, int) else 1) / 1000
            time.sleep(max(0.0002, wait_s - 0.0008))  # wake just before the permit frees


class CircuitBreaker:
    """Opens on ``unavailable()`` or after ``threshold`` consecutive transient failures."""

    def __init__(self, threshold: int) -> None:
        self.threshold = max(1, threshold)
        self._lock = threading.Lock()
        self._consecutive = 0
        self._reason = ""

    @property
    def is_open(self) -> bool:
        return bool(self._reason)

    @property
    def reason(self) -> str:
        return self._reason

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0

    def transient_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._consecutive >= self.threshold and not self._reason:
                self._reason = (
                    f"envoi interrompu après {self._consecutive} erreurs techniques "
                    "consécutives avec OMEGA"
                )
                log.warning("circuit_breaker_open", cause="transient", count=self._consecutive)

    def unavailable(self) -> None:
        with self._lock:
            if not self._reason:
                self._reason = "OMEGA indisponible (fermé ou en maintenance)"
                log.warning("circuit_breaker_open", cause="unavailable")


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
        retry_unknown: bool = False,
        on_outcome: Callable[[Job, RowOutcome], None] | None = None,
        client_factory: Callable[[], OmegaClient] | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.base_url = base_url
        self.clock = clock
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.retry_unknown = retry_unknown
        self.on_outcome = on_outcome
        self.client_factory = client_factory
        self.on_call = on_call
        self.run_id = f"{clock():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.gate = RateGate(settings.execution.rate_per_s)
        self.breaker = CircuitBreaker(settings.execution.breaker_threshold)
        # What the workers learn of OMEGA's calendar tonight (in memory, never journaled).
        self.slot_board = SlotBoard(coordinate=settings.execution.coordinate_slots)
        self._clients: dict[int, OmegaClient] = {}
        self._lock = threading.Lock()

    # ----- public API ---------------------------------------------------------------------
    def record_rejected(self, job: Job, findings: Sequence[Finding]) -> RowOutcome:
        """Journal a row the validator rejected (DEJA_TRAITEE if its key already led to a
        demand); no call is made, ``on_outcome`` is not called."""
        errors = [f for f in findings if f.is_error] or list(findings)
        outcome = RowOutcome(
            Status.REJET_VALIDATION,
            processed_at=self._now(),
            detail="; ".join(f.describe() for f in errors),
        )
        final = self.journal.record_final(job, outcome, run_id=self.run_id)
        self._log_outcome(job, final)
        return final

    def run(self, jobs: Iterable[Job]) -> dict[str, RowOutcome]:
        """Process every job; returns the outcome by key (each job gets exactly one)."""
        results: dict[str, RowOutcome] = {}
        seen: set[str] = set()
        duplicates: list[Job] = []
        workers = max(1, self.settings.execution.workers)
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="omega") as pool:
                in_flight: dict[Future[RowOutcome], Job] = {}
                for job in jobs:
                    if job.key in seen:
                        duplicates.append(job)
                        continue
                    seen.add(job.key)
                    while len(in_flight) >= 2 * workers:
                        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                        for future in done:
                            self._collect(in_flight.pop(future), future.result(), results)
                    in_flight[pool.submit(self._process, job)] = job
                while in_flight:
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._collect(in_flight.pop(future), future.result(), results)
            for job in duplicates:
                self._collect(job, self._process(job), {})
        finally:
            self._close_clients()
        return results

    def deferred_jobs(self) -> list[Job]:
        """Rows that earlier runs left REPORTEE or unfinished, to send without their file
        (with ``retry_unknown``, also the A_VERIFIER left by an unanswered creation)."""
        return [r.job() for r in self.journal.open_records(include_unknown=self.retry_unknown)]

    def acquire(self, operation: str) -> None:
        """Block until the global rate limit allows one more call (the clients' before_call)."""
        self.gate(operation)

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
        try:
            claim = self.journal.claim(job, run_id=self.run_id, retry_unknown=self.retry_unknown)
            if claim.kind is ClaimKind.ALREADY_DONE:
                assert claim.outcome is not None
                return claim.outcome
            dialogue = RowDialogue(
                self._client(),
                self.journal,
                self.settings.execution,
                self.breaker,
                clock=self.clock,
                board=self.slot_board,
            )
            return dialogue.run(claim.record)
        except Exception as exc:  # one broken row must not stop the others
            log.exception("row_failed", idempotency_key=job.key, source=job.source, line=job.line)
            return RowOutcome(
                Status.ERREUR_TECHNIQUE,
                processed_at=self._now(),
                detail=f"Erreur inattendue ({type(exc).__name__}) : la ligne sera reprise au "
                "prochain passage ; voir le journal d'exécution",
            )

    def _collect(self, job: Job, outcome: RowOutcome, results: dict[str, RowOutcome]) -> None:
        results.setdefault(job.key, outcome)
        self._log_outcome(job, outcome)
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
                sleep=self.sleep,
                rng=random.Random(seed),
                before_call=self.acquire,
                on_call=self.on_call,
                log_soap=self.settings.omega.log_soap,
            )
        with self._lock:
            self._clients[ident] = client
        return client

    def _close_clients(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _now(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    @staticmethod
    def _log_outcome(job: Job, outcome: RowOutcome) -> None:
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
