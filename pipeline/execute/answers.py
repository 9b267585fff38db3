"""OMEGA's answers as the client returns them, and the record of each HTTP attempt.

``Answer`` (with ``DatePlage``, ``Programmed`` and ``Couple``) is OMEGA's business answer
to one operation, built from zeep's answer object by ``parse_answer``; ``CallRecord``
(with ``CallOutcome``) describes one HTTP attempt for metrics and the journal. The
client (pipeline/execute/client.py) produces both; the dialogue reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "Answer",
    "CallOutcome",
    "CallRecord",
    "Couple",
    "DatePlage",
    "Programmed",
    "parse_answer",
]


@dataclass(frozen=True)
class DatePlage:
    date: str
    plage: str


@dataclass(frozen=True)
class Programmed:
    date: str
    plage: str
    heure_min: str
    heure_max: str
    synchro: str = ""


@dataclass(frozen=True)
class Couple:
    code: str
    motif: str
    presence_client: str


@dataclass(frozen=True)
class Answer:
    """OMEGA's business answer to one operation (whatever TypeRetourDialogue says)."""

    operation: str
    type_retour: str
    code_retour: str
    messages: tuple[str, ...]
    numero_demande: str = ""
    presence_client: str = ""
    slots: tuple[DatePlage, ...] = ()  # ListeDatePlage
    programmed: Programmed | None = None  # DateProgrammee
    date_demandee: str = ""
    couples: tuple[Couple, ...] = ()  # VerifierRecevabiliteDIT Retour/Interventions
    synchro: tuple[DatePlage, ...] = ()  # RetourSynchroInterventions
    attempts: int = 1


class CallOutcome(StrEnum):
    """How one HTTP attempt ended (CallRecord.outcome)."""

    ANSWER = "answer"  # a business answer (P, T or A other than "service indisponible")
    UNAVAILABLE = "unavailable"  # OMEGA closed or in maintenance
    BUSINESS_FAULT = "business-fault"  # SOAP Client fault
    TRANSIENT = "transient"  # network/HTTP failure, OMEGA unchanged or call safe to repeat
    UNKNOWN = "unknown"  # a state-changing request may have been processed


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, for metrics and the journal."""

    operation: str
    duration_s: float
    outcome: CallOutcome
    code_retour: str
    attempt: int
    http_status: int | None = None


def parse_answer(operation: str, raw: Any, attempts: int = 1) -> Answer:
    """Map zeep's answer object to an Answer (absent elements become '' or ())."""
    retour = _get(raw, "Retour")
    messages = tuple(_text(m) for m in _list(_get(retour, "MessageRetour")))
    couples = tuple(
        Couple(
            code=_text(_get(i, "Intervention")),
            motif=_text(_get(i, "Motif")),
            presence_client=_text(_get(i, "PresenceClient")),
        )
        for i in _list(_get(retour, "Interventions"))
    )
    objet = _get(raw, "ReponseCreerDemandeObjet")
    programmed_raw = _get(objet, "DateProgrammee")
    programmed = None
    if programmed_raw is not None:
        programmed = Programmed(
            date=_text(_get(programmed_raw, "Date")),
            plage=_text(_get(programmed_raw, "PlageHoraire")),
            heure_min=_text(_get(programmed_raw, "HeureMin")),
            heure_max=_text(_get(programmed_raw, "HeureMax")),
            synchro=_text(_get(programmed_raw, "RetourSynchroIntervention")),
        )
    return Answer(
        operation=operation,
        type_retour=_text(_get(raw, "TypeRetourDialogue")),
        code_retour=_text(_get(retour, "CodeRetour")),
        messages=messages,
        numero_demande=_text(_get(objet, "NumeroDemande")),
        presence_client=_text(_get(objet, "PresenceClient")),
        slots=tuple(
            DatePlage(_text(_get(s, "Date")), _text(_get(s, "Plage")))
            for s in _list(_get(objet, "ListeDatePlage"))
        ),
        programmed=programmed,
        date_demandee=_text(_get(objet, "DateDemandee")),
        couples=couples,
        synchro=tuple(
            DatePlage(_text(_get(dp, "Date")), _text(_get(dp, "PlageHoraire")))
            for dp in map(_date_plage, _list(_get(objet, "RetourSynchroInterventions")))
            if dp is not None
        ),
        attempts=attempts,
    )


# ----- private helpers ------------------------------------------------------------------


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    try:
        return obj[name]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, name, None)


def _date_plage(synchro: Any) -> Any:
    return _get(synchro, "DatePlage")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    return "" if value is None else str(value)
