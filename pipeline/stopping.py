"""Stopping the whole run: one object every part consults before it sends anything.

A cause that concerns the whole run -- the operator's SIGTERM/SIGINT, a journal step or
an output file that cannot be written, an OMEGA endpoint that answers like a wrong URL
or refuses who we are -- is told once to the run's :class:`RunStop`. From then on the
executor hands out no new row, the dialogues send no new call (a CreerDemandeDIT whose
``create_sent`` step is already committed still goes out: it is the one call that must
not be left ambiguous; after a signal, an appointment dialogue already past its creation
goes on to its end), calls in flight finish or time out within the grace
(``[execution] stop_grace_s``), and the command line prints the cause once and exits
with the cause's code. The first cause wins; later ones are logged only.

A second signal is a *hard* stop: the process exits at once. The journal stays
consistent because every step is one SQLite transaction; the creations whose
``create_sent`` step is committed but whose request has not left the process yet
(waiting for the rate limit) are taken back and put back to ``verified`` first
(:meth:`take_back_unsent`), so that they are never taken for an unanswered creation
(``A_VERIFIER``); the same happens when the grace runs out with calls in flight.

:func:`storage_cause` turns an ``OSError`` or SQLite error into the French words an
operator acts on ("disque plein", "droits insuffisants", "journal verrouillé par un
autre processus", "journal endommagé").

A shared leaf: it imports nothing of the package.
"""

from __future__ import annotations

import errno
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import FrameType

# Exit codes of the run-level causes (the others are in pipeline/cli.py).
EXIT_CONFIG = 2
EXIT_STORAGE = 7
EXIT_INTERRUPTED = 8


class StopKind(StrEnum):
    INTERRUPTED = "interrupted"  # SIGTERM / SIGINT
    STORAGE = "storage"  # journal or output folder cannot be written
    ENDPOINT = "endpoint"  # wrong URL, authentication refused, unreachable, identity refused


@dataclass(frozen=True, slots=True)
class StopCause:
    kind: StopKind
    message: str  # French, one sentence naming the path or the setting to check
    exit_code: int

    @property
    def short(self) -> str:
        """What a row's detail says about the stop."""
        if self.kind is StopKind.INTERRUPTED:
            return "arrêt du passage demandé"
        if self.kind is StopKind.STORAGE:
            return "passage arrêté (stockage indisponible)"
        return "passage arrêté (service OMEGA mal configuré ou refusé)"


def interrupted(signum: int) -> StopCause:
    name = signal.Signals(signum).name
    return StopCause(
        StopKind.INTERRUPTED,
        f"Arrêt demandé ({name}) : plus aucune ligne n'est envoyée ; les lignes non "
        "envoyées partiront au prochain passage.",
        EXIT_INTERRUPTED,
    )


class RunStop:
    """The run's stop flag with its cause; thread-safe, consulted before every call."""

    def __init__(self, *, grace_s: float = 20.0, clock: Callable[[], float] = time.monotonic):
        self.grace_s = grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._cause: StopCause | None = None
        self._requested_at = 0.0
        self._unsent: dict[int, int] = {}  # thread id -> record id of a creation not sent yet
        self._withdrawn: set[int] = set()  # threads whose creation was taken back
        self._expired = False  # the grace is over: nothing at all is sent any more

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def cause(self) -> StopCause | None:
        return self._cause

    @property
    def halts_dialogues(self) -> bool:
        """True when a demand's appointment dialogue must not go on either: a storage or
        endpoint cause. After a signal, a dialogue already past its creation finishes
        within the grace (the customer gets the slot; no demand is left waiting)."""
        cause = self._cause
        return self._expired or (cause is not None and cause.kind is not StopKind.INTERRUPTED)

    def expire(self) -> None:
        """The grace is over: the threads still running send nothing more."""
        self._expired = True

    def request(self, cause: StopCause) -> bool:
        """Stop the run for ``cause``; False (and nothing changed) if already stopped."""
        with self._lock:
            if self._cause is not None:
                return False
            self._cause = cause
            self._requested_at = self._clock()
            self._event.set()
            return True

    def grace_left(self) -> float:
        """Seconds left for the calls in flight (infinite while no stop is requested)."""
        if not self.is_set:
            return float("inf")
        return self._requested_at + self.grace_s - self._clock()

    def sleep(self, seconds: float) -> None:
        """A back-off sleep that a stop cuts short."""
        self._event.wait(max(0.0, seconds))

    # ----- creations committed but not sent (for a hard stop) -----------------------
    def creation_committed(self, record_id: int) -> None:
        with self._lock:
            self._unsent[threading.get_ident()] = record_id

    def creation_leaving(self) -> bool:
        """The calling thread's CreerDemandeDIT is about to be written to the socket;
        False when it was taken back (:meth:`take_back_unsent`): it must not go out."""
        ident = threading.get_ident()
        with self._lock:
            self._unsent.pop(ident, None)
            if ident in self._withdrawn:
                self._withdrawn.discard(ident)
                return False
            return True

    def take_back_unsent(self) -> list[int]:
        """The record ids of the creations committed but not sent; from now on their
        threads will not send them (``creation_leaving`` says False)."""
        with self._lock:
            self._withdrawn.update(self._unsent)
            taken, self._unsent = list(self._unsent.values()), {}
            return taken


def install_signal_handlers(
    stop: RunStop, *, on_first: Callable[[StopCause], None], on_second: Callable[[int], None]
) -> Callable[[], None]:
    """SIGTERM and SIGINT: the first requests a graceful stop, the next one a hard stop.

    Returns a function that restores the previous handlers. Main thread only.
    """
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: FrameType | None) -> None:
        cause = interrupted(signum)
        if stop.request(cause):
            on_first(cause)
        else:
            on_second(signum)

    for s in previous:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def storage_cause(exc: BaseException) -> str:
    """The French cause of a storage failure, the technical text in parentheses."""
    text = str(exc)
    low = text.lower()
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in low or "database or disk" in low:
        what = "disque plein"
    elif code in (errno.EACCES, errno.EPERM) or "readonly database" in low or "permission" in low:
        what = "droits insuffisants"
    elif code == errno.EROFS:
        what = "système de fichiers en lecture seule"
    elif "locked" in low or "busy" in low:
        what = "journal verrouillé par un autre processus"
    elif isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in low or "not a database" in low or "corrupt" in low
    ):
        what = (
            "journal endommagé : restaurez la sauvegarde du journal, ou renommez le fichier "
            "pour repartir d'un journal vide (les lignes déjà envoyées ne seraient alors plus "
            "reconnues : vérifiez-les dans le suivi OMEGA)"
        )
    elif code == errno.EIO or "i/o error" in low:
        what = "erreur d'entrée-sortie du disque"
    else:
        what = "écriture impossible"
    return f"{what} ({type(exc).__name__}: {text})"


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError | sqlite3.Error)
