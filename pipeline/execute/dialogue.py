"""One row's dialogue with OMEGA, each step journaled, ending in exactly one outcome.

::

    VerifierRecevabiliteDIT --not P--> NON_RECEVABLE (OMEGA's code and messages)
        | couple (code, motif) not offered for this PCE --> NON_RECEVABLE (couples allowed)
    CreerDemandeDIT --T--> DmdOkDP: RDV_PROGRAMME | DmdOkDD: DATE_DEMANDEE | DmdOk: PRISE_EN_COMPTE
        | A (DmdKo) --> REFUS_OMEGA with every message
        | P DatePlageH --> AccepterRdv(requested date and slot)
        | P ListeDP --> policy "premier-creneau": AccepterRdv(first slot offered); taken
          meanwhile: the next one, then DemanderPrecSuiv(SUIV) for more; after
          ``max_slot_tries`` AccepterRdv: ProposerDatePlage(requested date and slot)
          (each AccepterRdv moved OMEGA's Date Demandée, spec 2.1.2) then AbandonnerRdv:
          DATE_DEMANDEE at the requested date. Policy "date-demandee": AbandonnerRdv at
          once (it still confirms the requested slot itself when OMEGA says DatePlageH).

Journal steps (see pipeline/execute/journal.py): ``verified`` after the receivability answer;
``create_sent`` before CreerDemandeDIT; ``created`` with the NumeroDemande; ``slot``
before and after each appointment call, with the call in flight (``pending``) so a
resumed run knows what may have reached OMEGA.

Failures, decided here once:

- before CreerDemandeDIT may have arrived (no demand): ``BusinessFault`` (SOAP Client
  fault: OMEGA refused the request itself) -> REFUS_OMEGA; ``ServiceUnavailable`` or a
  transient failure once the circuit breaker is open -> REPORTEE (resent by the next
  run); another transient failure -> ERREUR_TECHNIQUE;
- ``UnknownOutcome`` on CreerDemandeDIT -> A_VERIFIER, never resent (unless the
  operator asks with --retry-unknown, see journal.claim);
- once a NumeroDemande exists it is never lost: a failed appointment step ends
  A_VERIFIER with the number and what the team must finish on the OMEGA portal. An
  AccepterRdv / AbandonnerRdv whose answer was lost (``UnknownOutcome``, or a crash
  with the call in flight) is sent once more with the same data: OMEGA keeps no
  session and refuses any operation on a demand no longer "en attente de RDV", so the
  repeat cannot book a second slot; it either does the step or tells where it stands.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import structlog

from pipeline.config import ExecutionSettings
from pipeline.execute.client import (
    Answer,
    BusinessFault,
    OmegaClient,
    OmegaError,
    ServiceUnavailable,
    TransientError,
    UnknownOutcome,
)
from pipeline.execute.journal import CallEntry, Journal, JournalRecord, State
from pipeline.records import RowOutcome, Status

log = structlog.get_logger("dit_batch.dialogue")

POURSUIVRE, ABANDONNE, TERMINE = "P", "A", "T"
DMD_OK_DP, DMD_OK_DD, DMD_OK = "DmdOkDP", "DmdOkDD", "DmdOk"
DATE_PLAGE_H, LISTE_DP = "DatePlageH", "ListeDP"
POLICY_FIRST_SLOT = "premier-creneau"
POLICY_REQUESTED_DATE = "date-demandee"

ACCEPT, MORE, ABANDON = "AccepterRdv", "DemanderPrecSuiv", "AbandonnerRdv"
PROPOSE = "ProposerDatePlage"
# Appointment operations whose repeat is harmless but not a plain read (see docstring).
_REPLAYED = frozenset({ACCEPT, ABANDON})
PORTAL = "à terminer sur le portail OMEGA"


class Breaker(Protocol):
    """What the dialogue tells, and asks, the executor's circuit breaker."""

    @property
    def is_open(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    def success(self) -> None: ...

    def transient_failure(self) -> None: ...

    def unavailable(self) -> None: ...


class _Failed(Exception):
    """An OMEGA call that raised, with its journal entry."""

    def __init__(self, error: OmegaError, entry: CallEntry) -> None:
        super().__init__(str(error))
        self.error = error
        self.entry = entry


@dataclass
class _Slots:
    """The appointment dialogue, as stored in the journal's ``dialogue`` JSON."""

    date: str
    plage: str
    presence: str = ""
    requested_free: bool = False  # DatePlageH: the requested slot is to be confirmed
    offered: list[tuple[str, str]] | None = None
    tried: list[tuple[str, str]] | None = None
    more: int = 0
    reproposed: bool = False  # ProposerDatePlage(requested) sent before AbandonnerRdv
    pending: dict[str, Any] | None = None  # {"op", "date", "plage", "replays"}

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "plage": self.plage,
            "presence": self.presence,
            "requested_free": self.requested_free,
            "offered": [list(s) for s in self.offered or []],
            "tried": [list(s) for s in self.tried or []],
            "more": self.more,
            "reproposed": self.reproposed,
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], values: Mapping[str, str]) -> _Slots:
        return cls(
            date=str(data.get("date", values.get("DateRdv", ""))),
            plage=str(data.get("plage", values.get("PlageRdv", ""))),
            presence=str(data.get("presence", "")),
            requested_free=bool(data.get("requested_free", False)),
            offered=[(str(d), str(p)) for d, p in data.get("offered", [])],
            tried=[(str(d), str(p)) for d, p in data.get("tried", [])],
            more=int(data.get("more", 0)),
            reproposed=bool(data.get("reproposed", False)),
            pending=dict(data["pending"]) if data.get("pending") else None,
        )


class RowDialogue:
    """Drives journal records through OMEGA's dialogue with one client (one thread)."""

    def __init__(
        self,
        client: OmegaClient,
        journal: Journal,
        execution: ExecutionSettings,
        breaker: Breaker,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.client = client
        self.journal = journal
        self.policy = execution.slot_policy
        self.max_slot_tries = max(1, execution.max_slot_tries)
        self.breaker = breaker
        self.clock = clock

    # ----- entry point ------------------------------------------------------------------
    def run(self, record: JournalRecord) -> RowOutcome:
        """Take a claimed record from its state to its outcome (journaled when final)."""
        values = record.values
        if record.state in (State.PENDING, State.VERIFIED):
            if self.breaker.is_open:
                return self._defer(record.id)
            return self._verify(record.id, values)
        if record.state is State.CREATE_SENT:
            return self._finish(
                record.id,
                RowOutcome(
                    Status.A_VERIFIER,
                    detail="CreerDemandeDIT a été envoyée sans que sa réponse soit reçue "
                    "(interruption) : la demande existe peut-être. Vérifier dans le suivi "
                    "des demandes OMEGA ; la relancer seulement si elle n'y figure pas "
                    "(option --retry-unknown).",
                ),
                create_unknown=True,
            )
        if record.state in (State.CREATED, State.SLOT):
            slots = _Slots.from_json(record.dialogue, values)
            if self.breaker.is_open:
                # The demand exists: keep the record open for the next run, say so.
                return self._outcome(
                    RowOutcome(
                        Status.REPORTEE,
                        numero_demande=record.numero_demande,
                        detail=f"Demande OMEGA n° {record.numero_demande} créée ; prise de "
                        f"rendez-vous reprise au prochain passage ({self.breaker.reason}).",
                    )
                )
            if slots.pending is not None and slots.pending.get("op") in _REPLAYED:
                slots.pending["replays"] = int(slots.pending.get("replays", 0)) + 1
            return self._slots(record.id, record.numero_demande, slots)
        assert record.outcome is not None
        return record.outcome

    # ----- receivability and creation ------------------------------------------------------
    def _verify(self, rid: int, values: Mapping[str, str]) -> RowOutcome:
        try:
            answer, entry = self._send(
                "VerifierRecevabiliteDIT",
                lambda: self.client.verifier_recevabilite(
                    values.get("NumeroPCE", ""), values.get("CodePostal", "")
                ),
            )
        except _Failed as failed:
            return self._failed_before_creation(rid, failed)
        if answer.type_retour != POURSUIVRE:
            return self._finish(
                rid,
                _from_answer(
                    Status.NON_RECEVABLE,
                    answer,
                    detail=f"Non recevable par OMEGA ({answer.code_retour}) : "
                    + " ; ".join(answer.messages),
                ),
                call=entry,
            )
        code = values.get("CodeLibelleIntervention", "")
        motif = values.get("CodeMotifIntervention", "")
        allowed = {(c.code, c.motif): c for c in answer.couples}
        if allowed and (code, motif) not in allowed:
            listing = ", ".join(f"{c}/{m}" if m else c for c, m in sorted(allowed))
            shown = f"{code}/{motif}" if motif else code
            return self._finish(
                rid,
                _from_answer(
                    Status.NON_RECEVABLE,
                    answer,
                    detail=f"Intervention {shown} impossible pour ce PCE selon OMEGA ; "
                    f"couples intervention/motif autorisés : {listing}",
                ),
                call=entry,
            )
        presence = allowed[(code, motif)].presence_client if allowed else ""
        self.journal.advance(rid, State.VERIFIED, call=entry)
        if self.breaker.is_open:
            return self._defer(rid)
        return self._create(rid, values, presence)

    def _create(self, rid: int, values: Mapping[str, str], presence: str) -> RowOutcome:
        self.journal.advance(rid, State.CREATE_SENT)
        try:
            answer, entry = self._send("CreerDemandeDIT", lambda: self.client.creer_demande(values))
        except _Failed as failed:
            if isinstance(failed.error, UnknownOutcome):
                return self._finish(
                    rid,
                    RowOutcome(
                        Status.A_VERIFIER,
                        detail=f"{failed.error} (CreerDemandeDIT non renvoyée ; "
                        "option --retry-unknown pour la relancer après vérification).",
                    ),
                    call=failed.entry,
                    create_unknown=True,
                )
            return self._failed_before_creation(rid, failed)
        numero = answer.numero_demande
        if answer.type_retour == TERMINE:
            return self._finish(rid, self._terminal(answer, values), call=entry)
        if answer.type_retour != POURSUIVRE:
            refused = [m for m in answer.messages if m.startswith("Donnée incorrecte")]
            return self._finish(
                rid,
                _from_answer(
                    Status.REFUS_OMEGA,
                    answer,
                    detail="Refusée par OMEGA : " + " ; ".join(refused or answer.messages),
                ),
                call=entry,
            )
        if not numero:
            return self._finish(
                rid,
                _from_answer(
                    Status.A_VERIFIER,
                    answer,
                    detail="OMEGA invite à poursuivre sans donner de numéro de demande : "
                    "vérifier dans le suivi des demandes OMEGA.",
                ),
                call=entry,
            )
        slots = _Slots(
            date=values.get("DateRdv", ""),
            plage=values.get("PlageRdv", ""),
            presence=answer.presence_client or presence,
            requested_free=answer.code_retour == DATE_PLAGE_H,
            offered=[(s.date, s.plage) for s in answer.slots],
            tried=[],
        )
        self.journal.advance(
            rid, State.CREATED, numero_demande=numero, dialogue=slots.to_json(), call=entry
        )
        return self._slots(rid, numero, slots)

    # ----- appointment ------------------------------------------------------------------
    def _slots(self, rid: int, numero: str, st: _Slots) -> RowOutcome:
        offered = st.offered if st.offered is not None else []
        tried = st.tried if st.tried is not None else []
        st.offered, st.tried = offered, tried
        for _ in range(4 * self.max_slot_tries + 4):  # bounded whatever OMEGA answers
            if st.pending is None:
                st.pending = self._next_step(st)
                self.journal.advance(rid, State.SLOT, dialogue=st.to_json())
            step = st.pending
            op = str(step["op"])
            try:
                answer, entry = self._send(op, partial(self._rdv_call, numero, step))
            except _Failed as failed:
                if (
                    isinstance(failed.error, UnknownOutcome)
                    and op in _REPLAYED
                    and int(step.get("replays", 0)) == 0
                ):
                    step["replays"] = 1
                    self.journal.advance(rid, State.SLOT, dialogue=st.to_json(), call=failed.entry)
                    continue
                return self._finish(
                    rid, self._unconfirmed(numero, st, str(failed.error)), call=failed.entry
                )
            if answer.type_retour == TERMINE:
                outcome = self._terminal(answer, {"DateRdv": st.date, "PlageRdv": st.plage})
                outcome.numero_demande = outcome.numero_demande or numero
                outcome.presence_client = outcome.presence_client or st.presence
                if op == ABANDON and outcome.status is Status.DATE_DEMANDEE:
                    outcome.detail = self._abandon_reason(st) + outcome.detail
                return self._finish(rid, outcome, call=entry)
            if answer.type_retour != POURSUIVRE:
                what = " ; ".join(answer.messages)
                if int(step.get("replays", 0)) > 0:
                    what = (
                        f"la tentative interrompue de {op} ({_slot_text(step)}) a peut-être "
                        f"abouti ; OMEGA répond : {what}"
                    )
                outcome = self._unconfirmed(numero, st, what)
                outcome.type_retour, outcome.code_retour = answer.type_retour, answer.code_retour
                outcome.messages = answer.messages
                return self._finish(rid, outcome, call=entry)
            if op == ACCEPT:
                slot = (str(step["date"]), str(step["plage"]))
                if slot not in tried:
                    tried.append(slot)
                st.requested_free = False
            if op == MORE:
                st.more += 1
            if op == PROPOSE:
                st.reproposed = True
            if answer.code_retour == DATE_PLAGE_H:
                st.requested_free = True
            if answer.slots or op != ACCEPT:
                offered[:] = [(s.date, s.plage) for s in answer.slots]
            offered[:] = [s for s in offered if s not in tried]
            st.pending = None
            self.journal.advance(rid, State.SLOT, dialogue=st.to_json(), call=entry)
        return self._finish(
            rid, self._unconfirmed(numero, st, "dialogue de prise de rendez-vous sans fin")
        )

    def _next_step(self, st: _Slots) -> dict[str, Any]:
        assert st.offered is not None and st.tried is not None
        if st.requested_free and st.date and st.plage:
            return {"op": ACCEPT, "date": st.date, "plage": st.plage, "replays": 0}
        if self.policy == POLICY_REQUESTED_DATE or len(st.tried) >= self.max_slot_tries:
            return self._closing_step(st)
        if st.offered:
            day, plage = st.offered[0]
            return {"op": ACCEPT, "date": day, "plage": plage, "replays": 0}
        if st.more < self.max_slot_tries:
            return {"op": MORE, "sens": "SUIV"}
        return self._closing_step(st)

    @staticmethod
    def _closing_step(st: _Slots) -> dict[str, Any]:
        """AbandonnerRdv; first ProposerDatePlage(requested) when another date was tried,
        since each AccepterRdv moved OMEGA's Date Demandée to the slot tried (2.1.2)."""
        assert st.tried is not None
        moved = bool(st.tried) and st.tried[-1] != (st.date, st.plage)
        if moved and not st.reproposed and st.date and st.plage:
            return {"op": PROPOSE, "date": st.date, "plage": st.plage}
        return {"op": ABANDON, "replays": 0}

    def _rdv_call(self, numero: str, step: Mapping[str, Any]) -> Answer:
        op = step["op"]
        if op == ACCEPT:
            return self.client.accepter_rdv(numero, str(step["date"]), str(step["plage"]))
        if op == MORE:
            return self.client.demander_prec_suiv(numero, str(step.get("sens", "SUIV")))
        if op == PROPOSE:
            return self.client.proposer_date_plage(numero, str(step["date"]), str(step["plage"]))
        return self.client.abandonner_rdv(numero)

    def _abandon_reason(self, st: _Slots) -> str:
        if self.policy == POLICY_REQUESTED_DATE:
            return "Créneau demandé indisponible ; politique « date-demandee » : "
        return (
            f"Aucun créneau confirmé après {len(st.tried or [])} essai(s) "
            f"({', '.join(f'{d} {p}' for d, p in st.tried or []) or 'aucun proposé'}) : "
        )

    def _unconfirmed(self, numero: str, st: _Slots, why: str) -> RowOutcome:
        return RowOutcome(
            Status.A_VERIFIER,
            numero_demande=numero,
            presence_client=st.presence,
            detail=f"Demande OMEGA n° {numero} créée, rendez-vous non confirmé ({why}). "
            f"Prise de rendez-vous {PORTAL} (date demandée {st.date} {st.plage}).",
        )

    # ----- outcomes ---------------------------------------------------------------------
    def _terminal(self, answer: Answer, values: Mapping[str, str]) -> RowOutcome:
        """A "T" answer: what is now recorded in OMEGA."""
        if answer.programmed is not None and answer.code_retour != DMD_OK_DD:
            p = answer.programmed
            return _from_answer(
                Status.RDV_PROGRAMME,
                answer,
                date_rdv=p.date,
                plage_rdv=p.plage,
                heure_min=p.heure_min,
                heure_max=p.heure_max,
                detail=f"Rendez-vous programmé le {p.date} ({p.plage}, "
                f"{p.heure_min}-{p.heure_max})",
            )
        if answer.code_retour == DMD_OK_DD or answer.date_demandee:
            day = answer.date_demandee or values.get("DateRdv", "")
            return _from_answer(
                Status.DATE_DEMANDEE,
                answer,
                date_rdv=day,
                plage_rdv=values.get("PlageRdv", ""),
                detail=f"Enregistrée à la date demandée ({day}) ; " + " ".join(answer.messages),
            )
        return _from_answer(Status.PRISE_EN_COMPTE, answer, detail=" ".join(answer.messages))

    def _failed_before_creation(self, rid: int, failed: _Failed) -> RowOutcome:
        error = failed.error
        if isinstance(error, BusinessFault):
            status, detail = Status.REFUS_OMEGA, f"Requête refusée par OMEGA : {error}"
        elif isinstance(error, ServiceUnavailable) or self.breaker.is_open:
            return self._defer(rid, call=failed.entry, cause=str(error))
        else:
            status, detail = Status.ERREUR_TECHNIQUE, f"{error} ; ligne à relancer"
        outcome = RowOutcome(
            status, code_retour=error.code_retour, messages=error.messages, detail=detail
        )
        return self._finish(rid, outcome, call=failed.entry)

    def _defer(self, rid: int, *, call: CallEntry | None = None, cause: str = "") -> RowOutcome:
        why = self.breaker.reason or cause
        return self._finish(
            rid,
            RowOutcome(
                Status.REPORTEE,
                detail=f"Non envoyée : {why}. Sera envoyée automatiquement au prochain passage.",
            ),
            call=call,
        )

    def _finish(
        self,
        rid: int,
        outcome: RowOutcome,
        *,
        call: CallEntry | None = None,
        create_unknown: bool = False,
    ) -> RowOutcome:
        outcome.processed_at = self.clock().isoformat(timespec="seconds")
        return self.journal.finish(rid, outcome, call=call, create_unknown=create_unknown)

    def _outcome(self, outcome: RowOutcome) -> RowOutcome:
        outcome.processed_at = self.clock().isoformat(timespec="seconds")
        return outcome

    # ----- one call ----------------------------------------------------------------------
    def _send(self, operation: str, call: Callable[[], Answer]) -> tuple[Answer, CallEntry]:
        """Send one operation; log it, tell the breaker, and build its journal entry."""
        started = self.clock().isoformat(timespec="milliseconds")
        t0 = time.perf_counter()
        try:
            answer = call()
        except OmegaError as error:
            kind = _failure_kind(error)
            if isinstance(error, ServiceUnavailable):
                self.breaker.unavailable()
            elif isinstance(error, TransientError | UnknownOutcome):
                self.breaker.transient_failure()
            else:
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
            raise _Failed(error, entry) from error
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


def _from_answer(status: Status, answer: Answer, **fields: Any) -> RowOutcome:
    return RowOutcome(
        status,
        type_retour=answer.type_retour,
        code_retour=answer.code_retour,
        messages=answer.messages,
        numero_demande=answer.numero_demande,
        presence_client=answer.presence_client,
        **fields,
    )


def _slot_text(step: Mapping[str, Any]) -> str:
    if step.get("date"):
        return f"{step['date']} {step.get('plage', '')}".strip()
    return "date demandée"


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
