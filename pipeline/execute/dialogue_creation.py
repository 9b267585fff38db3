"""The first stage of a row's dialogue: VerifierRecevabiliteDIT, then CreerDemandeDIT.

``Creation`` journals ``verified`` and ``create_sent``, decides every outcome reached
before a demand exists, and hands a created demand (``created``) to the appointment
stage (dialogue_slots.py). The dialogue as a whole is described in dialogue.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.execute.client import OmegaClient
from pipeline.execute.dialogue_calls import (
    DATE_PLAGE_H,
    POURSUIVRE,
    TERMINE,
    FailedCall,
    RowCalls,
    from_answer,
    terminal_outcome,
)
from pipeline.execute.dialogue_slots import Appointment, Slots
from pipeline.execute.errors import BusinessFault, ServiceUnavailable, UnknownOutcome
from pipeline.execute.journal import State
from pipeline.records import RowOutcome, Status


class Creation:
    """Checks a row's receivability and creates its demand, journaling both steps."""

    def __init__(self, client: OmegaClient, calls: RowCalls, appointment: Appointment) -> None:
        self.client = client
        self.calls = calls
        self.breaker = calls.breaker
        self.journal = calls.journal
        self.appointment = appointment

    def verify(self, rid: int, values: Mapping[str, str]) -> RowOutcome:
        try:
            answer, entry = self.calls.send(
                "VerifierRecevabiliteDIT",
                lambda: self.client.verifier_recevabilite(
                    values.get("NumeroPCE", ""), values.get("CodePostal", "")
                ),
            )
        except FailedCall as failed:
            return self._failed_before_creation(rid, failed)
        if answer.type_retour != POURSUIVRE:
            return self.calls.finish(
                rid,
                from_answer(
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
            return self.calls.finish(
                rid,
                from_answer(
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
            return self.calls.defer(rid)
        return self._create(rid, values, presence)

    def _create(self, rid: int, values: Mapping[str, str], presence: str) -> RowOutcome:
        listed_at = self.appointment.claim_requested(values)  # may wait for another worker
        if self.breaker.is_open:  # opened meanwhile: nothing sent
            self.appointment.creation_answered(values, None)
            return self.calls.defer(rid)
        self.journal.advance(rid, State.CREATE_SENT)
        try:
            answer, entry = self.calls.send(
                "CreerDemandeDIT", lambda: self.client.creer_demande(values)
            )
        except FailedCall as failed:
            self.appointment.creation_answered(values, None)
            if isinstance(failed.error, UnknownOutcome):
                return self.calls.finish(
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
        self.appointment.creation_answered(values, answer)
        numero = answer.numero_demande
        if answer.type_retour == TERMINE:
            return self.calls.finish(rid, terminal_outcome(answer, values), call=entry)
        if answer.type_retour != POURSUIVRE:
            refused = [m for m in answer.messages if m.startswith("Donnée incorrecte")]
            return self.calls.finish(
                rid,
                from_answer(
                    Status.REFUS_OMEGA,
                    answer,
                    detail="Refusée par OMEGA : " + " ; ".join(refused or answer.messages),
                ),
                call=entry,
            )
        if not numero:
            return self.calls.finish(
                rid,
                from_answer(
                    Status.A_VERIFIER,
                    answer,
                    detail="OMEGA invite à poursuivre sans donner de numéro de demande : "
                    "vérifier dans le suivi des demandes OMEGA.",
                ),
                call=entry,
            )
        slots = Slots(
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
        return self.appointment.run(rid, numero, slots, listed_at=listed_at)

    def _failed_before_creation(self, rid: int, failed: FailedCall) -> RowOutcome:
        error = failed.error
        if isinstance(error, BusinessFault):
            status, detail = Status.REFUS_OMEGA, f"Requête refusée par OMEGA : {error}"
        elif isinstance(error, ServiceUnavailable) or self.breaker.is_open:
            return self.calls.defer(rid, call=failed.entry, cause=str(error))
        else:
            status, detail = Status.ERREUR_TECHNIQUE, f"{error} ; ligne à relancer"
        outcome = RowOutcome(
            status, code_retour=error.code_retour, messages=error.messages, detail=detail
        )
        return self.calls.finish(rid, outcome, call=failed.entry)
