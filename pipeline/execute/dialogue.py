"""One row's dialogue with OMEGA, each step journaled, ending in exactly one outcome.

::

    VerifierRecevabiliteDIT --not P--> NON_RECEVABLE (OMEGA's code and messages)
        | couple (code, motif) not offered for this PCE --> NON_RECEVABLE (couples allowed)
    CreerDemandeDIT --T--> DmdOkDP: RDV_PROGRAMME | DmdOkDD: DATE_DEMANDEE | DmdOk: PRISE_EN_COMPTE
        | A (DmdKo) « Dialogue interrompu… vérifiez l'état de la demande » --> A_VERIFIER
          (the demand may exist: check the tracking; never resubmitted)
        | A (DmdKo) otherwise --> REFUS_OMEGA with every message
        | P Message + codeMessageOMEGA --> DATE_DEMANDEE at the requested date, the code
          shown with its meaning (config/referential/codes_message_omega.csv)
        | P DatePlageH --> AccepterRdv(requested date and slot)
        | P ListeDP --> policy "premier-creneau": AccepterRdv(earliest slot offered that
          no other worker of the run holds or has just filled: slot_board.py); taken
          meanwhile: the next one, then DemanderPrecSuiv(SUIV) for more; after
          ``max_slot_tries`` AccepterRdv lost: ProposerDatePlage(requested date and slot)
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
- ``UnknownOutcome`` on CreerDemandeDIT -> A_VERIFIER, never resent blindly: a later
  run settles it from the demand tracking (reconcile.py), resending only what the
  tracking proves absent;
- once a NumeroDemande exists it is never lost: a failed appointment step ends
  A_VERIFIER with the number and what the team must finish on the OMEGA portal. An
  AccepterRdv / AbandonnerRdv whose answer was lost (``UnknownOutcome``, or a crash
  with the call in flight) is sent once more with the same data: OMEGA keeps no
  session and refuses any operation on a demand no longer "en attente de RDV", so the
  repeat cannot book a second slot; it either does the step or tells where it stands.

``RowDialogue`` composes the stages: dialogue_creation.py (receivability and creation),
dialogue_slots.py (appointment, with its journaled state) and dialogue_calls.py (one
call sent, the row's end journaled, OMEGA's answers read). The executor hands every
dialogue of a run the same ``SlotBoard`` (slot_board.py): the slot chosen in a ListeDP
is the earliest one no other worker of the run holds or has just filled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from pipeline.config import ExecutionSettings
from pipeline.execute.client import OmegaClient
from pipeline.execute.dialogue_calls import Breaker, RowCalls
from pipeline.execute.dialogue_creation import Creation
from pipeline.execute.dialogue_slots import Appointment, Slots
from pipeline.execute.journal import Journal, JournalRecord, State
from pipeline.execute.slot_board import SlotBoard
from pipeline.records import RowOutcome, Status
from pipeline.stopping import RunStop

__all__ = ["Breaker", "RowDialogue"]


class RowDialogue:
    """Drives journal records through OMEGA's dialogue with one client (one thread)."""

    def __init__(
        self,
        client: OmegaClient,
        journal: Journal,
        execution: ExecutionSettings,
        breaker: Breaker,
        stop: RunStop,
        *,
        clock: Callable[[], datetime],
        message_codes: Mapping[str, str] | None = None,
        board: SlotBoard | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.breaker = breaker
        self.clock = clock
        self.calls = RowCalls(journal, breaker, stop, clock=clock)
        self.appointment = Appointment(client, self.calls, execution, board)
        self.creation = Creation(client, self.calls, self.appointment, message_codes or {})

    # ----- entry point ------------------------------------------------------------------
    def run(self, record: JournalRecord) -> RowOutcome:
        """Take a claimed record from its state to its outcome (journaled when final)."""
        try:
            return self._run(record)
        finally:
            self.appointment.board.done(self.appointment.owner)

    def _run(self, record: JournalRecord) -> RowOutcome:
        values = record.values
        # An express demand may take one more place: what OMEGA lists to it is not
        # free for the others, so its lists are not shared (its bookings still are).
        self.appointment.express = values.get("OptionExpress", "") == "1"
        if record.state in (State.PENDING, State.VERIFIED):
            if self.calls.halted:
                return self.calls.defer(record.id)
            return self.creation.verify(record.id, values)
        if record.state is State.CREATE_SENT:
            return self.calls.finish(
                record.id,
                RowOutcome(
                    Status.A_VERIFIER,
                    detail="CreerDemandeDIT a été envoyée sans que sa réponse soit reçue "
                    "(interruption) : la demande existe peut-être. Vérifier dans le suivi "
                    "des demandes : déposez un export du suivi dans le dossier du suivi "
                    "(input/suivi/), le prochain passage la renverra seulement si elle n'y "
                    "figure pas.",
                ),
                create_unknown=True,
            )
        if record.state in (State.CREATED, State.SLOT):
            slots = Slots.from_json(record.dialogue, values)
            if self.breaker.is_open or self.calls.stop.is_set:
                # The demand exists: keep the record open for the next run, say so.
                return self.calls.paused(record.numero_demande)
            return self.appointment.resume(record.id, record.numero_demande, slots)
        assert record.outcome is not None
        return record.outcome
