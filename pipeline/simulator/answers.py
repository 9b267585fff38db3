"""Answer building for the OMEGA simulator engine: the answer dicts (XSD order), the
``ReponseCreerDemandeObjet`` with its electricity appointments, and the description of
a demand for GET /admin/demandes.

An answer is the response element's children as a nested dict in XSD order (lists are
repeated elements, absent keys are absent elements).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from pipeline.referential import Referential, Slot
from pipeline.simulator import codes
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.checks import SYNCHRO_AFTER, version_number
from pipeline.simulator.demands import Demand
from pipeline.simulator.pce import Pce

Answer = dict[str, Any]


class ObjetBuilder:
    """Builds the ``ReponseCreerDemandeObjet`` of an answer (with the synchro list)."""

    def __init__(
        self, referential: Referential, pces: Mapping[str, Pce], agenda: SlotAgenda
    ) -> None:
        self.referential = referential
        self.pces = pces
        self.agenda = agenda

    def objet(
        self,
        demand: Demand,
        version: str,
        *,
        liste: list[tuple[dt.date, str]] | None = None,
        programmee: tuple[dt.date, str] | None = None,
        demandee: dt.date | None = None,
    ) -> dict[str, Any]:
        """ReponseCreerDemandeObjet, in XSD order."""
        objet: dict[str, Any] = {"NumeroDemande": demand.numero}
        if demand.presence:
            objet["PresenceClient"] = demand.presence
        synchro = self._synchro(demand.numero_pce, version)
        if liste:
            objet["ListeDatePlage"] = [{"Date": d.isoformat(), "Plage": p} for d, p in liste]
        elif programmee is not None:
            day, plage = programmee
            slot = self.referential.slot(plage)
            assert slot is not None
            position = synchro.index(programmee) + 1 if programmee in synchro else None
            objet["DateProgrammee"] = clean(
                {
                    "Date": day.isoformat(),
                    "PlageHoraire": slot.code,
                    "HeureMin": slot.heure_min,
                    "HeureMax": slot.heure_max,
                    "RetourSynchroIntervention": str(position) if position else None,
                }
            )
        elif demandee is not None:
            objet["DateDemandee"] = demandee.isoformat()
        if synchro:
            objet["RetourSynchroInterventions"] = [
                {"DatePlage": {"Date": d.isoformat(), "PlageHoraire": p}} for d, p in synchro
            ]
        return objet

    def _synchro(self, numero_pce: str, version: str) -> list[tuple[dt.date, str]]:
        """Electricity appointments in the PCE's premises (when NumeroVersion > V4)."""
        number = version_number(version)
        pce = self.pces.get(numero_pce)
        if pce is None or not pce.rdv_elec or number is None or number <= SYNCHRO_AFTER:
            return []
        return electricity_appointments(pce, self.agenda, self.referential.slots)


def electricity_appointments(
    pce: Pce, agenda: SlotAgenda, slots: tuple[Slot, ...]
) -> list[tuple[dt.date, str]]:
    """The PCE's ``RdvElec`` electricity appointments: the k-th (k = 0, 1, 2) is on the
    (3 + 2k)-th working day after today, slot number (PCE digits + 5k) modulo the
    number of slots. Deterministic from the PCE and today."""
    if not slots:
        return []
    digits = int(re.sub(r"[^0-9]", "", pce.numero) or "0")
    result: list[tuple[dt.date, str]] = []
    for k in range(pce.rdv_elec):
        days = agenda.working_days_after(agenda.today, 3 + 2 * k)
        if len(days) == 3 + 2 * k:
            result.append((days[-1], slots[(digits + 5 * k) % len(slots)].code))
    return result


def describe(demand: Demand, referential: Referential) -> dict[str, Any]:
    """One demand as GET /admin/demandes shows it."""
    slot = referential.slot(demand.plage_programmee)
    return clean(
        {
            "NumeroDemande": demand.numero,
            "ReferenceDemande": demand.reference or None,
            "NumeroPCE": demand.numero_pce,
            "CodeLibelleIntervention": demand.code or None,
            "CodeMotifIntervention": demand.motif or None,
            "OptionExpress": "1" if demand.express else None,
            "PresenceClient": demand.presence or None,
            "Etat": demand.etat.code,
            "LibelleEtat": demand.etat.label,
            "CodeErreur": demand.code_erreur or None,
            "DateDemandee": _iso(demand.date_demandee),
            "PlageDemandee": demand.plage_demandee or None,
            "DateProgrammee": _iso(demand.date_programmee),
            "PlageHoraire": demand.plage_programmee or None,
            "HeureMin": slot.heure_min if slot else None,
            "HeureMax": slot.heure_max if slot else None,
            "DNEntreprise": demand.dn_entreprise,
            "NumeroCAD": demand.numero_cad,
            "Login": demand.login,
        }
    )


def clean(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping without its None values (absent elements)."""
    return {k: v for k, v in mapping.items() if v is not None}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def reply(
    type_retour: str, code: str, messages: list[str], objet: dict[str, Any] | None = None
) -> Answer:
    """An answer: TypeRetourDialogue, Retour and (when given) ReponseCreerDemandeObjet."""
    answer: Answer = {
        "TypeRetourDialogue": type_retour,
        "Retour": {"CodeRetour": code, "MessageRetour": messages},
    }
    if objet is not None:
        answer["ReponseCreerDemandeObjet"] = objet
    return answer


def ko(*messages: str, numero: str = "") -> Answer:
    """A/DmdKo: the dialogue is abandoned (with the NumeroDemande when one is known)."""
    return reply(
        codes.ABANDONNE,
        codes.DMD_KO,
        list(messages),
        {"NumeroDemande": numero} if numero else None,
    )
