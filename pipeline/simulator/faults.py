"""Fault injection for the OMEGA simulator: what can go wrong on the wire, on purpose.

A :class:`FaultPlan` decides, request by request, whether a fault hits and which one.
Two sources, consulted in this order:

1. *forced* faults, queued by a test per operation (``plan.force("CreerDemandeDIT",
   FaultKind.RESET_AFTER, None)``: the next CreerDemandeDIT call is reset after the
   engine processed it, the one after is served normally). ``ANY_OPERATION`` queues
   a fault for whatever operation comes next;
2. a seeded random draw: with probability ``rate`` one of ``kinds`` is picked.

The draw is made under a lock from one ``random.Random``; with the same seed and the
same order of requests the same faults come back (concurrent clients make the order
of requests, hence of draws, depend on scheduling).

When each kind strikes, relative to the engine (see ``FaultKind.reaches_engine``):

- ``latency``: ``latency_ms`` of extra delay, then a normal answer;
- ``http-503``: HTTP 503 with no SOAP body, the request never reaches the engine;
- ``reset-before``: TCP reset (RST) before the engine sees the request;
- ``reset-after``: the engine processes the request (a demand may be created), then
  the connection is reset: the answer is lost, as with the real service;
- ``slow``: the engine processes the request, the answer is sent after ``slow_ms``
  (meant to exceed the client's timeout);
- ``server-fault``: the engine processes the request, the answer is replaced by a
  SOAP 1.1 ``soap:Server`` fault.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable
from enum import StrEnum

ANY_OPERATION = "*"


class FaultKind(StrEnum):
    """One kind of injected failure (value = the name used on the command line)."""

    LATENCY = "latency"
    HTTP_503 = "http-503"
    RESET_BEFORE = "reset-before"
    RESET_AFTER = "reset-after"
    SLOW = "slow"
    SERVER_FAULT = "server-fault"

    @property
    def reaches_engine(self) -> bool:
        """False when the request never reaches the engine (no demand can result)."""
        return self not in (FaultKind.HTTP_503, FaultKind.RESET_BEFORE)


ALL_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)


class FaultPlan:
    """Thread-safe source of faults: forced queues first, then a seeded random draw."""

    def __init__(
        self,
        rate: float = 0.0,
        *,
        kinds: Iterable[FaultKind] = ALL_KINDS,
        seed: int | None = None,
        rng: random.Random | None = None,
        latency_ms: int = 2000,
        slow_ms: int = 65000,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"taux de pannes {rate!r} hors de [0, 1]")
        if latency_ms < 0 or slow_ms < 0:
            raise ValueError("les durées de panne doivent être positives")
        self.rate = rate
        self.kinds: tuple[FaultKind, ...] = tuple(kinds)
        if rate > 0 and not self.kinds:
            raise ValueError("aucun type de panne choisi alors que le taux est positif")
        self.latency_ms = latency_ms
        self.slow_ms = slow_ms
        self._rng = rng if rng is not None else random.Random(seed)
        self._forced: dict[str, deque[FaultKind | None]] = {}
        self._lock = threading.Lock()
        self._history: list[tuple[str, FaultKind]] = []

    def force(self, operation: str, *kinds: FaultKind | None) -> None:
        """Queue ``kinds`` for the next calls of ``operation`` (None = a normal call)."""
        with self._lock:
            self._forced.setdefault(operation, deque()).extend(kinds)

    def clear(self) -> None:
        """Drop every forced fault still queued."""
        with self._lock:
            self._forced.clear()

    def next_fault(self, operation: str) -> FaultKind | None:
        """The fault for this call of ``operation``, or None for a normal answer."""
        with self._lock:
            for key in (operation, ANY_OPERATION):
                queue = self._forced.get(key)
                if queue:
                    kind = queue.popleft()
                    break
            else:
                kind = None
                if self.rate > 0 and self._rng.random() < self.rate:
                    kind = self._rng.choice(self.kinds)
            if kind is not None:
                self._history.append((operation, kind))
            return kind

    @property
    def history(self) -> list[tuple[str, FaultKind]]:
        """Every fault injected so far, as (operation, kind), in order."""
        with self._lock:
            return list(self._history)


def parse_kinds(text: str) -> tuple[FaultKind, ...]:
    """``"reset-after,http-503"`` -> kinds; ValueError with a French message otherwise."""
    kinds: list[FaultKind] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        try:
            kinds.append(FaultKind(name))
        except ValueError:
            known = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"type de panne inconnu {name!r} (attendu : {known})") from None
    if not kinds:
        raise ValueError("aucun type de panne donné")
    return tuple(kinds)
