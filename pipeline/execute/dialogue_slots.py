"""The appointment stage of a row's dialogue, once OMEGA gave a NumeroDemande.

``Appointment`` sends AccepterRdv / DemanderPrecSuiv / ProposerDatePlage / AbandonnerRdv
as the slot policy says (the sequence is described in dialogue.py) and journals a
``slot`` step before and after each call; ``Slots`` is its state, stored in the
journal's ``dialogue`` JSON so that a resumed run knows which call may be in flight.
Which offered slot to accept is asked of the run's ``SlotBoard`` (slot_board.py), what
the workers of this run know of the calendar; that knowledge is never journaled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pipeline.config import ExecutionSettings
from pipeline.execute.answers import Answer
from pipeline.execute.client import OmegaClient
from pipeline.execute.dialogue_calls import (
    DATE_PLAGE_H,
    DMD_OK_DD,
    POURSUIVRE,
    TERMINE,
    FailedCall,
    RowCalls,
    terminal_outcome,
)
from pipeline.execute.errors import BusinessFault, UnknownOutcome
from pipeline.execute.journal import CallEntry, JournalError, State
from pipeline.execute.slot_board import Slot, SlotBoard
from pipeline.records import RowOutcome, Status

POLICY_FIRST_SLOT = "premier-creneau"
POLICY_REQUESTED_DATE = "date-demandee"

ACCEPT, MORE, ABANDON = "AccepterRdv", "DemanderPrecSuiv", "AbandonnerRdv"
PROPOSE = "ProposerDatePlage"
# Appointment operations whose repeat is harmless but not a plain read (see dialogue.py).
REPLAYED = frozenset({ACCEPT, ABANDON})
PORTAL = "à terminer sur le portail OMEGA"


@dataclass
class Slots:
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
    resumes: int = 0  # later runs that resumed this dialogue after a lost step
    resumable: bool = False  # ended A_VERIFIER on a lost step: the next run resumes it

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
            "resumes": self.resumes,
            "resumable": self.resumable,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], values: Mapping[str, str]) -> Slots:
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
            resumes=int(data.get("resumes", 0)),
            resumable=bool(data.get("resumable", False)),
        )


class Appointment:
    """Takes a created demand through OMEGA's appointment dialogue to one outcome."""

    def __init__(
        self,
        client: OmegaClient,
        calls: RowCalls,
        execution: ExecutionSettings,
        board: SlotBoard | None = None,
    ) -> None:
        self.client = client
        self.calls = calls
        self.journal = calls.journal
        self.policy = execution.slot_policy
        self.max_slot_tries = max(1, execution.max_slot_tries)
        self.max_resume_runs = max(0, execution.max_resume_runs)
        # In memory only, for this row's dialogue in this run.
        self.board = board if board is not None else SlotBoard()
        self.owner = self.board.owner()
        self.listed_at = 0  # board stamp of the call that answered the current list
        self.probes: set[Slot] = set()  # slots tried although this run had just filled them
        self.express = False  # the row's OptionExpress: its lists are not shared

    def claim_requested(self, values: Mapping[str, str]) -> int:
        """Before CreerDemandeDIT: the requested slot held for this row (see
        SlotBoard.ask); the board stamp its answer is asked at."""
        requested = (values.get("DateRdv", ""), values.get("PlageRdv", ""))
        if all(requested):
            self.board.ask(self.owner, requested)
        return self.board.stamp()

    def creation_answered(self, values: Mapping[str, str], answer: Answer | None) -> None:
        """After CreerDemandeDIT: DatePlageH keeps the hold for the AccepterRdv that
        follows; a list means the requested slot is taken; anything else, nothing learned."""
        requested = (values.get("DateRdv", ""), values.get("PlageRdv", ""))
        if not all(requested):
            return
        if answer is not None and answer.type_retour == POURSUIVRE and answer.numero_demande:
            if answer.code_retour == DATE_PLAGE_H:
                return
            refused = bool(answer.slots)
        else:
            refused = False
        self.board.settle(self.owner, requested, filled=False, refused=refused)

    def resume(self, rid: int, numero: str, slots: Slots) -> RowOutcome:
        """Go on from the journaled state; a replayable call found in flight is a replay.

        A dialogue an earlier run ended A_VERIFIER on a lost step (``resumable``) counts
        one more resume; the row is resumed by NumeroDemande (OMEGA keeps no session,
        spec 2.1.5) as long as the demand is "en attente de RDV"."""
        if slots.resumable:
            slots.resumes += 1
            slots.resumable = False
        if slots.pending is not None and slots.pending.get("op") in REPLAYED:
            slots.pending["replays"] = int(slots.pending.get("replays", 0)) + 1
        return self.run(rid, numero, slots)

    def run(self, rid: int, numero: str, st: Slots, listed_at: int | None = None) -> RowOutcome:
        """``listed_at``: the board stamp of the CreerDemandeDIT that answered ``st``'s
        slots (None for a resumed dialogue: its list is older than this run)."""
        try:
            return self._run(rid, numero, st, listed_at)
        except JournalError as exc:
            exc.after_creation, exc.numero_demande = True, numero
            raise

    def _run(self, rid: int, numero: str, st: Slots, listed_at: int | None) -> RowOutcome:
        offered = st.offered if st.offered is not None else []
        tried = st.tried if st.tried is not None else []
        st.offered, st.tried = offered, tried
        if listed_at is not None:
            self.listed_at = listed_at
            requested = [(st.date, st.plage)] if st.requested_free else []
            if not self.express:
                self.board.listed(requested + offered, listed_at)
        for _ in range(4 * self.max_slot_tries + 4):  # bounded whatever OMEGA answers
            if self.calls.stop.halts_dialogues:
                return self.calls.paused(numero)  # the record stays open for the next run
            if st.pending is None:
                st.pending = self._next_step(st)
                self.journal.advance(rid, State.SLOT, dialogue=st.to_json())
            step = st.pending
            op = str(step["op"])
            try:
                answer, entry = self._send(numero, step)
            except FailedCall as failed:
                if self.calls.stop.halts_dialogues and not isinstance(failed.error, UnknownOutcome):
                    # Not processed by OMEGA, and the run is stopping: the step is redone
                    # by the next run.
                    st.pending = None
                    self.journal.advance(rid, State.SLOT, dialogue=st.to_json(), call=failed.entry)
                    return self.calls.paused(numero, str(failed.error))
                if (
                    isinstance(failed.error, UnknownOutcome)
                    and op in REPLAYED
                    and int(step.get("replays", 0)) == 0
                ):
                    step["replays"] = 1
                    self.journal.advance(rid, State.SLOT, dialogue=st.to_json(), call=failed.entry)
                    continue
                return self._lost(rid, numero, st, failed)
            if answer.type_retour == TERMINE:
                outcome = terminal_outcome(answer, {"DateRdv": st.date, "PlageRdv": st.plage})
                outcome.numero_demande = outcome.numero_demande or numero
                outcome.presence_client = outcome.presence_client or st.presence
                if op == ABANDON and outcome.status is Status.DATE_DEMANDEE:
                    outcome.detail = self._abandon_reason(st) + outcome.detail
                return self.calls.finish(rid, outcome, call=entry)
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
                return self.calls.finish(rid, outcome, call=entry)
            if op == ACCEPT:
                slot = (str(step["date"]), str(step["plage"]))
                if slot not in tried:
                    tried.append(slot)
                st.requested_free = False
            if op == MORE:
                st.more += 1
            if op == PROPOSE:
                # A ProposerDatePlage that opens a resumed dialogue is not the re-proposal.
                st.reproposed = bool(tried)
            if answer.code_retour == DATE_PLAGE_H:
                st.requested_free = True
            if answer.slots or op != ACCEPT:
                offered[:] = [(s.date, s.plage) for s in answer.slots]
            offered[:] = [s for s in offered if s not in tried]
            st.pending = None
            self.journal.advance(rid, State.SLOT, dialogue=st.to_json(), call=entry)
        return self.calls.finish(
            rid, self._unconfirmed(numero, st, "dialogue de prise de rendez-vous sans fin")
        )

    def _lost(self, rid: int, numero: str, st: Slots, failed: FailedCall) -> RowOutcome:
        """A step failed without OMEGA's answer: A_VERIFIER, resumed by the next run while
        the bound allows (``max_resume_runs``); a refusal of the request itself is final."""
        st.resumable = (
            not isinstance(failed.error, BusinessFault) and st.resumes < self.max_resume_runs
        )
        outcome = self._unconfirmed(numero, st, str(failed.error))
        if st.resumable:
            outcome.detail = (
                f"Demande OMEGA n° {numero} créée, rendez-vous non confirmé ({failed.error}). "
                f"Reprise automatique du dialogue au prochain passage (reprise "
                f"{st.resumes + 1}/{self.max_resume_runs}) ; rien à faire sur le portail."
            )
        return self.calls.finish(rid, outcome, call=failed.entry, dialogue=st.to_json())

    def _next_step(self, st: Slots) -> dict[str, Any]:
        assert st.offered is not None and st.tried is not None
        if st.requested_free and st.date and st.plage:
            requested = (st.date, st.plage)
            pick = self.board.pick(self.owner, [requested], self.listed_at)
            if pick is None or not pick.sure:  # OMEGA decides; a loss is not a try of ours
                self.probes.add(requested)
            return {"op": ACCEPT, "date": st.date, "plage": st.plage, "replays": 0}
        # Losses on slots this run had just filled were collisions of ours, not tries.
        lost = sum(1 for slot in st.tried if slot not in self.probes)
        if self.policy == POLICY_REQUESTED_DATE or lost >= self.max_slot_tries:
            return self._closing_step(st)
        pick = self.board.pick(self.owner, st.offered, self.listed_at)
        if pick is not None and not pick.sure and len(self.probes) >= self.max_slot_tries:
            self.board.settle(self.owner, pick.slot, filled=False, refused=False)
            pick = None
        if pick is not None:
            if not pick.sure:
                self.probes.add(pick.slot)
            day, plage = pick.slot
            return {"op": ACCEPT, "date": day, "plage": plage, "replays": 0}
        # Every slot of the list tried by this run (by this worker or refused to another).
        if st.more < self.max_slot_tries:
            return {"op": MORE, "sens": "SUIV"}
        return self._closing_step(st)

    def _send(self, numero: str, step: Mapping[str, Any]) -> tuple[Answer, CallEntry]:
        """One appointment call, told to the board: the slot held while AccepterRdv is
        in flight, then booked or refused; the slots an answer lists, with its stamp."""
        op = str(step["op"])
        slot = (str(step["date"]), str(step["plage"])) if op == ACCEPT else None
        if slot is not None:
            self.board.hold(self.owner, slot)
        stamp = self.board.stamp()
        try:
            answer, entry = self.calls.send(op, partial(self._rdv_call, numero, step))
        except FailedCall:
            if slot is not None:
                self.board.settle(self.owner, slot, filled=False, refused=False)
            raise
        if slot is not None:
            booked = (
                answer.type_retour == TERMINE
                and answer.programmed is not None
                and answer.code_retour != DMD_OK_DD
            )
            refused = answer.type_retour in (POURSUIVRE, TERMINE) and not booked
            self.board.settle(self.owner, slot, filled=booked, refused=refused)
        if answer.slots:
            self.listed_at = stamp
            if not self.express:
                self.board.listed(((s.date, s.plage) for s in answer.slots), stamp)
        return answer, entry

    @staticmethod
    def _closing_step(st: Slots) -> dict[str, Any]:
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

    def _abandon_reason(self, st: Slots) -> str:
        if self.policy == POLICY_REQUESTED_DATE:
            return "Créneau demandé indisponible ; politique « date-demandee » : "
        return (
            f"Aucun créneau confirmé après {len(st.tried or [])} essai(s) "
            f"({', '.join(f'{d} {p}' for d, p in st.tried or []) or 'aucun proposé'}) : "
        )

    def _unconfirmed(self, numero: str, st: Slots, why: str) -> RowOutcome:
        return RowOutcome(
            Status.A_VERIFIER,
            numero_demande=numero,
            presence_client=st.presence,
            detail=f"Demande OMEGA n° {numero} créée, rendez-vous non confirmé ({why}). "
            f"Prise de rendez-vous {PORTAL} (date demandée {st.date} {st.plage}).",
        )


def _slot_text(step: Mapping[str, Any]) -> str:
    if step.get("date"):
        return f"{step['date']} {step.get('plage', '')}".strip()
    return "date demandée"
