"""What a row becomes when the run stops around it (pipeline/stopping.py): the outcome
the result workbook shows, while the journal keeps the row as it was for the next run.
"""

from __future__ import annotations

from pipeline.execute.journal import JournalError, JournalRecord, State
from pipeline.records import RowOutcome, Status
from pipeline.stopping import StopCause


def not_started(cause: StopCause | None, now: str) -> RowOutcome:
    """Never handed to a worker: nothing sent, nothing journaled; its file stays."""
    why = cause.short if cause is not None else "passage arrêté"
    return RowOutcome(
        Status.REPORTEE,
        processed_at=now,
        detail=f"Non envoyée : {why}. Elle partira au prochain passage (le fichier reste "
        "dans input/).",
    )


def in_flight_at_deadline(record: JournalRecord | None, grace_s: float, now: str) -> RowOutcome:
    """Still in flight when the stop's grace ran out, read from its journal state."""
    grace = f"appel en cours à la fin du délai d'arrêt ({grace_s:g} s)"
    if record is not None and record.state is State.CREATE_SENT:
        return RowOutcome(
            Status.A_VERIFIER,
            processed_at=now,
            detail=f"CreerDemandeDIT envoyée, {grace} : la demande existe peut-être. "
            "Vérifier dans le suivi des demandes OMEGA.",
        )
    return RowOutcome(
        Status.REPORTEE,
        processed_at=now,
        numero_demande=record.numero_demande if record is not None else "",
        detail=f"Non terminée ({grace}) : reprise au prochain passage.",
    )


def journal_failed(exc: JournalError, now: str) -> RowOutcome:
    """A step of the row could not be committed: the row stays as the journal has it."""
    if exc.after_creation:
        numero = f" n° {exc.numero_demande}" if exc.numero_demande else ""
        return RowOutcome(
            Status.A_VERIFIER,
            processed_at=now,
            numero_demande=exc.numero_demande,
            detail=f"La demande OMEGA{numero} a peut-être été créée mais le journal n'a pas "
            f"pu enregistrer la suite ({exc}). Vérifier dans le suivi des demandes OMEGA ; "
            "la ligne est reprise au prochain passage.",
        )
    return RowOutcome(
        Status.REPORTEE,
        processed_at=now,
        detail=f"Non terminée : le journal n'a pas pu enregistrer l'étape ({exc}). Rien n'a "
        "été envoyé sans être journalisé ; reprise au prochain passage.",
    )
