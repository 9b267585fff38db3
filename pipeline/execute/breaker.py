"""The circuit breaker: no new row is sent once OMEGA is closed or keeps failing.

It opens when OMEGA says it is closed or in maintenance, or after ``threshold``
consecutive *transient* failures -- requests OMEGA did not process (connection refused,
HTTP 503, a read-only call without answer), each one already retried by the client.
An unknown outcome (a state-changing request that may have been processed) neither
counts nor resets the series: it says nothing of whether OMEGA works.
"""

from __future__ import annotations

import threading

import structlog

__all__ = ["CircuitBreaker"]

log = structlog.get_logger("dit_batch.executor")


class CircuitBreaker:
    """Opens on ``unavailable()`` or after ``threshold`` consecutive transient failures."""

    def __init__(self, threshold: int) -> None:
        self.threshold = max(1, threshold)
        self._lock = threading.Lock()
        self._consecutive = 0
        self._reason = ""
        self._answered = False

    @property
    def is_open(self) -> bool:
        return bool(self._reason)

    @property
    def answered(self) -> bool:
        """OMEGA has answered at least once in this run (an answer, a refusal, 'closed')."""
        return self._answered

    def describe(self) -> str:
        """The breaker's state for the run's summary, in French."""
        if self._reason:
            return f"ouvert : {self._reason}"
        return "fermé (aucun incident en série)"

    @property
    def reason(self) -> str:
        return self._reason

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._answered = True

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
            self._answered = True
            if not self._reason:
                self._reason = "OMEGA indisponible (fermé ou en maintenance)"
                log.warning("circuit_breaker_open", cause="unavailable")
