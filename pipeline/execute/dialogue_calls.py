"""What every stage of a row's dialogue shares: one call sent, the row's end journaled.

``RowCalls`` sends one OMEGA operation (logged, told to the circuit breaker, turned into
its journal entry; a failure raised as ``FailedCall``) and records how a row ends
(``finish``, ``defer``). ``terminal_outcome`` and ``from_answer`` read OMEGA's answers
into row outcomes. The stages themselves are in dialogue_creation.py and
dialogue_slots.py; dialogue.py drives them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import structlog

from pipeline.execute.answers import Answer
from pipeline.execute.errors import (
    SETTING_URL,
    BusinessFault,
    OmegaError,
    RunLevelFault,
    ServiceUnavailable,
    TransientError,
    UnknownOutcome,
    Unreachable,
)
from pipeline.execute.journal import CallEntry, Journal
from pipeline.records import RowOutcome, Status
from pipeline.stopping import EXIT_CONFIG, RunStop, StopCause, StopKind

log = structlog.get_logger("dit_batch.dialogue")

POURSUIVRE, ABANDONNE, TERMINE = "P", "A", "T"
DMD_OK_DP, DMD_OK_DD, DMD_OK = "DmdOkDP", "DmdOkDD", "DmdOk"
DATE_PLAGE_H, LISTE_DP, MESSAGE = "DatePlageH", "ListeDP", "Message"
# Annexe A, DmdKo: the dialogue broke on OMEGA's side; the demand's state is to be checked.
INTERRUPTED = "Dialogue interrompu suite à un problème technique"


class Breaker(Protocol):
    """What the dialogue tells, and asks, the executor's circuit breaker."""

    @property
    def is_open(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    @property
    def answered(self) -> bool: ...

    def success(self) -> None: ...

    def transient_failure(self) -> None: ...

    def unavailable(self) -> None: ...


class FailedCall(Exception):
    """An OMEGA call that raised, with its journal entry."""

    def __init__(self, error: OmegaError, entry: CallEntry) -> None:
        super().__init__(str(error))
        self.error = error
        self.entry = entry


class RowCalls:
    """Sends one row's OMEGA calls and journals how the row ends (one thread)."""

    def __init__(
        self,
        journal: Journal,
        breaker: Breaker,
        stop: RunStop,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.journal = journal
        self.breaker = breaker
        self.stop = stop
        self.clock = clock

    @property
    def halted(self) -> bool:
        """Nothing new is sent: the run is stopping or the circuit breaker is open."""
        return self.stop.is_set or self.breaker.is_open

    def why_halted(self, cause: str = "") -> str:
        stop = self.stop.cause
        return stop.short if stop is not None else (self.breaker.reason or cause)

    # ----- one call ----------------------------------------------------------------------
    def send(self, operation: str, call: Callable[[], Answer]) -> tuple[Answer, CallEntry]:
        """Send one operation; log it, tell the breaker, and build its journal entry."""
        started = self.clock().isoformat(timespec="milliseconds")
        t0 = time.perf_counter()
        try:
            answer = call()
        except OmegaError as error:
            kind = _failure_kind(error)
            if isinstance(error, RunLevelFault):
                self._stop_run(error, error.setting)
            elif isinstance(error, Unreachable) and not self.breaker.answered:
                # Unreachable from the first calls of the run on: the address is wrong.
                self._stop_run(error, f"{SETTING_URL} (serveur injoignable)")
            elif isinstance(error, ServiceUnavailable):
                self.breaker.unavailable()
            elif isinstance(error, TransientError):
                self.breaker.transient_failure()
            elif not isinstance(error, UnknownOutcome):
                # An unknown outcome says nothing of whether OMEGA works: not counted.
                self.breaker.success()
            entry = CallEntry(
                operation,
                started,
                self.clock().isoformat(timespec="milliseconds"),
                kind,
                "",
                error.code_retour,
                error.messages,
                error.attempts,
            )
            _log_call(operation, t0, kind, error.code_retour, error.attempts)
            raise FailedCall(error, entry) from error
        self.breaker.success()
        entry = CallEntry(
            operation,
            started,
            self.clock().isoformat(timespec="milliseconds"),
            "answer",
            answer.type_retour,
            answer.code_retour,
            answer.messages,
            answer.attempts,
        )
        _log_call(operation, t0, "answer", answer.code_retour, answer.attempts)
        return answer, entry

    def _stop_run(self, error: OmegaError, setting: str) -> None:
        cause = StopCause(
            StopKind.ENDPOINT,
            f"{error}. Vérifiez le réglage {setting}. Aucune autre ligne n'est envoyée.",
            EXIT_CONFIG,
        )
        if self.stop.request(cause):
            log.error("run_stopped", cause="endpoint", setting=setting, error=str(error))

    # ----- outcomes ---------------------------------------------------------------------
    def paused(self, numero: str, cause: str = "") -> RowOutcome:
        """A created demand whose appointment dialogue waits for the next run (the record
        stays open in the journal)."""
        return self.stamp(
            RowOutcome(
                Status.REPORTEE,
                numero_demande=numero,
                detail=f"Demande OMEGA n° {numero} créée ; prise de rendez-vous reprise au "
                f"prochain passage ({self.why_halted(cause)}).",
            )
        )

    def defer(self, rid: int, *, call: CallEntry | None = None, cause: str = "") -> RowOutcome:
        why = self.why_halted(cause)
        return self.finish(
            rid,
            RowOutcome(
                Status.REPORTEE,
                detail=f"Non envoyée : {why}. Sera envoyée automatiquement au prochain passage.",
            ),
            call=call,
        )

    def finish(
        self,
        rid: int,
        outcome: RowOutcome,
        *,
        call: CallEntry | None = None,
        create_unknown: bool = False,
        dialogue: Mapping[str, Any] | None = None,
    ) -> RowOutcome:
        outcome.processed_at = self.clock().isoformat(timespec="seconds")
        return self.journal.finish(
            rid, outcome, call=call, create_unknown=create_unknown, dialogue=dialogue
        )

    def stamp(self, outcome: RowOutcome) -> RowOutcome:
        outcome.processed_at = self.clock().isoformat(timespec="seconds")
        return outcome


def from_answer(status: Status, answer: Answer, **fields: Any) -> RowOutcome:
    return RowOutcome(
        status,
        type_retour=answer.type_retour,
        code_retour=answer.code_retour,
        messages=answer.messages,
        numero_demande=answer.numero_demande,
        presence_client=answer.presence_client,
        **fields,
    )


def terminal_outcome(answer: Answer, values: Mapping[str, str]) -> RowOutcome:
    """A "T" answer: what is now recorded in OMEGA."""
    if answer.programmed is not None and answer.code_retour != DMD_OK_DD:
        p = answer.programmed
        return from_answer(
            Status.RDV_PROGRAMME,
            answer,
            date_rdv=p.date,
            plage_rdv=p.plage,
            heure_min=p.heure_min,
            heure_max=p.heure_max,
            detail=f"Rendez-vous programmé le {p.date} ({p.plage}, {p.heure_min}-{p.heure_max})",
        )
    if answer.code_retour == DMD_OK_DD or answer.date_demandee:
        day = answer.date_demandee or values.get("DateRdv", "")
        return from_answer(
            Status.DATE_DEMANDEE,
            answer,
            date_rdv=day,
            plage_rdv=values.get("PlageRdv", ""),
            detail=f"Enregistrée à la date demandée ({day}) ; " + " ".join(answer.messages),
        )
    return from_answer(Status.PRISE_EN_COMPTE, answer, detail=" ".join(answer.messages))


def _failure_kind(error: OmegaError) -> str:
    if isinstance(error, ServiceUnavailable):
        return "unavailable"
    if isinstance(error, UnknownOutcome):
        return "unknown"
    if isinstance(error, BusinessFault):
        return "business_fault"
    return "transient"


def _log_call(operation: str, t0: float, outcome: str, code: str, attempts: int) -> None:
    log.info(
        "omega_call",
        operation=operation,
        duration_ms=round((time.perf_counter() - t0) * 1000, 1),
        outcome=outcome,
        code_retour=code,
        attempts=attempts,
    )
