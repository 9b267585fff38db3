"""The first stage of a row's dialogue: VerifierRecevabiliteDIT, then CreerDemandeDIT.

``Creation`` journals ``verified`` and ``create_sent``, decides every outcome reached
before a demand exists, and hands a created demand (``created``) to the appointment
stage (dialogue_slots.py). The dialogue as a whole is described in dialogue.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.execute.answers import Answer
from pipeline.execute.client import OmegaClient
from pipeline.execute.dialogue_calls import (
    DATE_PLAGE_H,
    INTERRUPTED,
    MESSAGE,
    POURSUIVRE,
    TERMINE,
    FailedCall,
    RowCalls,
    from_answer,
    terminal_outcome,
)
from pipeline.execute.dialogue_slots import Appointment, Slots
from pipeline.execute.errors import BusinessFault, ServiceUnavailable, UnknownOutcome
from pipeline.execute.journal import CallEntry, JournalError, State
from pipeline.execute.message_codes import describe_code, message_code
from pipeline.records import RowOutcome, Status


class Creation:
    """Checks a row's receivability and creates its demand, journaling both steps."""

    def __init__(
        self,
        client: OmegaClient,
        calls: RowCalls,
        appointment: Appointment,
        message_codes: Mapping[str, str],
    ) -> None:
        self.client = client
        self.message_codes = message_codes
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
            refusal = f"Intervention {shown} impossible pour ce PCE selon OMEGA"
            # The refusal's own message, not the verify answer's « Demande recevable »:
            # OMEGA found the PCE receivable, the batch refuses the intervention.
            return self.calls.finish(
                rid,
                RowOutcome(
                    Status.NON_RECEVABLE,
                    messages=(f"{refusal} (interventions proposées par OMEGA : {listing})",),
                    detail=f"{refusal} ; couples intervention/motif autorisés : {listing}",
                ),
                call=entry,
            )
        presence = allowed[(code, motif)].presence_client if allowed else ""
        self.journal.advance(rid, State.VERIFIED, call=entry)
        return self._create(rid, values, presence)

    def _create(self, rid: int, values: Mapping[str, str], presence: str) -> RowOutcome:
        listed_at = self.appointment.claim_requested(values)  # may wait for another worker
        # The last look at the stop and the breaker (it may have opened while this row
        # waited for another worker's slot) before the creation: once ``create_sent`` is
        # committed, the request goes out (a hard stop puts back the ones that did not).
        if self.calls.halted:
            self.appointment.creation_answered(values, None)
            return self.calls.defer(rid)
        self.journal.advance(rid, State.CREATE_SENT)
        stop = self.calls.stop
        stop.creation_committed(rid)
        try:
            answer, entry = self.calls.send(
                "CreerDemandeDIT", lambda: self.client.creer_demande(values)
            )
        except FailedCall as failed:
            stop.creation_leaving()
            self.appointment.creation_answered(values, None)
            try:
                return self._create_failed(rid, failed)
            except JournalError as exc:
                exc.after_creation = isinstance(failed.error, UnknownOutcome)
                raise
        stop.creation_leaving()
        self.appointment.creation_answered(values, answer)
        try:
            return self._created(rid, values, presence, answer, entry, listed_at)
        except JournalError as exc:
            # OMEGA answered but the journal could not keep it: the demand may exist.
            exc.after_creation = True
            exc.numero_demande = exc.numero_demande or answer.numero_demande
            raise

    def _create_failed(self, rid: int, failed: FailedCall) -> RowOutcome:
        if isinstance(failed.error, UnknownOutcome):
            return self.calls.finish(
                rid,
                RowOutcome(
                    Status.A_VERIFIER,
                    detail=f"{failed.error} (CreerDemandeDIT non renvoyée ; déposez un "
                    "export du suivi des demandes dans input/suivi/ : le prochain passage "
                    "la renverra seulement si elle n'y figure pas).",
                ),
                call=failed.entry,
                create_unknown=True,
            )
        return self._failed_before_creation(rid, failed)

    def _created(
        self,
        rid: int,
        values: Mapping[str, str],
        presence: str,
        answer: Answer,
        entry: CallEntry,
        listed_at: int,
    ) -> RowOutcome:
        numero = answer.numero_demande
        if answer.type_retour == TERMINE:
            return self.calls.finish(rid, terminal_outcome(answer, values), call=entry)
        if answer.type_retour != POURSUIVRE and any(
            m.startswith(INTERRUPTED) for m in answer.messages
        ):
            return self.calls.finish(
                rid,
                from_answer(
                    Status.A_VERIFIER,
                    answer,
                    detail="OMEGA a interrompu la création sur un incident technique : la "
                    "demande existe peut-être. Vérifier dans le suivi des demandes OMEGA "
                    "(référence, PCE) avant toute autre action ; ne pas la redéposer : un "
                    "export du suivi déposé dans input/suivi/ la règle au prochain passage.",
                ),
                call=entry,
                create_unknown=not numero,
            )
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
        if answer.code_retour == MESSAGE:
            return self.calls.finish(rid, self._message(answer, values), call=entry)
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

    def _message(self, answer: Answer, values: Mapping[str, str]) -> RowOutcome:
        """P / Message + codeMessageOMEGA at creation: the appointment is recorded at the
        requested date; the code (and its meaning, when known) says what follows."""
        day = answer.date_demandee or values.get("DateRdv", "")
        code = message_code(answer.messages)
        what = describe_code(code, self.message_codes) if code else "sans code OMEGA"
        return from_answer(
            Status.DATE_DEMANDEE,
            answer,
            date_rdv=day,
            plage_rdv=values.get("PlageRdv", ""),
            detail=f"Enregistrée à la date demandée ({day}), un technicien rappellera le "
            f"client ; message OMEGA à analyser : {what}",
        )

    def _failed_before_creation(self, rid: int, failed: FailedCall) -> RowOutcome:
        error = failed.error
        if isinstance(error, BusinessFault):
            status, detail = Status.REFUS_OMEGA, f"Requête refusée par OMEGA : {error}"
        elif isinstance(error, ServiceUnavailable) or self.calls.halted:
            return self.calls.defer(rid, call=failed.entry, cause=str(error))
        else:
            status, detail = Status.ERREUR_TECHNIQUE, f"{error} ; ligne à relancer"
        outcome = RowOutcome(
            status, code_retour=error.code_retour, messages=error.messages, detail=detail
        )
        return self.calls.finish(rid, outcome, call=failed.entry)
