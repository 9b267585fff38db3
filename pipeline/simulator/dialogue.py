"""The appointment dialogue of the OMEGA simulator: ProposerDatePlage, AccepterRdv,
DemanderPrecSuiv, AbandonnerRdv, AbandonnerDemande, and the slot answers they share
with CreerDemandeDIT (the requested slot when free, else the list of the next free
slots found by sliding a window of working days, else the demand at its requested date).

Called by the engine with its lock held (see :meth:`Engine.handle`), so concurrent
calls never give a place twice.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any

from pipeline.referential import Referential
from pipeline.simulator import codes
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.answers import Answer, ObjetBuilder, ko, reply
from pipeline.simulator.checks import parse_date, rdv_date_fault, text
from pipeline.simulator.codes import Coherence
from pipeline.simulator.demands import Demand, Etat

MAX_LISTE = 24


class AppointmentDialogue:
    """The operations on a demand waiting for its appointment, over the shared agenda
    and the engine's ``demands`` dict."""

    def __init__(
        self,
        referential: Referential,
        agenda: SlotAgenda,
        demands: Mapping[str, Demand],
        objets: ObjetBuilder,
    ) -> None:
        self.referential = referential
        self.agenda = agenda
        self.today = agenda.today
        self.demands = demands
        self.objets = objets

    # ------------------------------------------------------------ appointments
    def proposer(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "ProposerDatePlage", ())
        if not isinstance(found, Demand):
            return found
        chosen = self._chosen_slot(request)
        if not isinstance(chosen, tuple):
            return chosen
        day, plage = chosen
        found.date_demandee, found.plage_demandee = day, plage
        return self.propose(found, day, plage, text(request, "NumeroVersion"))

    def accepter(self, request: Mapping[str, Any]) -> Answer:
        key = (text(request, "Date"), text(request, "Plage"))
        found = self._dialogue_demand(request, "AccepterRdv", key)
        if not isinstance(found, Demand):
            return found
        chosen = self._chosen_slot(request)
        if not isinstance(chosen, tuple):
            return chosen
        day, plage = chosen
        found.date_demandee, found.plage_demandee = day, plage
        version = text(request, "NumeroVersion")
        if not self.agenda.reserve(day, plage, express=found.express):
            return self._liste(found, self.agenda.working_days_after(day), version)
        found.etat = Etat.RDV_PROGRAMME
        found.date_programmee, found.plage_programmee = day, plage
        found.window = ()
        answer = reply(
            codes.TERMINE,
            codes.DMD_OK_DP,
            [codes.MSG_RDV_PROGRAMME],
            self.objets.objet(found, version, programmee=(day, plage)),
        )
        return self._finish(found, ("AccepterRdv", *key), answer)

    def prec_suiv(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "DemanderPrecSuiv", ())
        if not isinstance(found, Demand):
            return found
        assert found.date_demandee is not None
        window = found.window or (found.date_demandee,)
        if text(request, "Sens") == "PREC":
            days = self.agenda.working_days_before(window[0])
            days, free = self._search(days, backward=True, express=found.express)
            if not free:
                days = self.agenda.working_days_after(self.today - dt.timedelta(days=1))
        else:
            days = self.agenda.working_days_after(window[-1])
        return self._liste(found, days, text(request, "NumeroVersion"))

    def abandonner_rdv(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "AbandonnerRdv", ())
        if not isinstance(found, Demand):
            return found
        return self.finish_dd(found, text(request, "NumeroVersion"), "AbandonnerRdv")

    def abandonner_demande(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "AbandonnerDemande", ())
        if not isinstance(found, Demand):
            return found
        found.etat = Etat.ABANDONNEE
        found.window = ()
        answer = reply(
            codes.ABANDONNE,
            codes.DMD_KO,
            [codes.MSG_ABANDONNEE],
            {"NumeroDemande": found.numero},
        )
        return self._finish(found, ("AbandonnerDemande",), answer)

    def _dialogue_demand(
        self, request: Mapping[str, Any], operation: str, key: tuple[str, ...]
    ) -> Demand | Answer:
        """The caller's demand still waiting for an appointment, or the error answer.

        Repeating the call that ended the dialogue, with the same data, answers the
        same again (a client retrying after a lost answer gets its confirmation).
        """
        numero = text(request, "NumeroDemande")
        demand = self.demands.get(numero)
        if demand is None:
            return ko(codes.with_code(codes.MSG_DIALOGUE_INTERROMPU, codes.ERREUR_DEMANDE_INCONNUE))
        if (demand.dn_entreprise, demand.numero_cad) != (
            text(request, "DNEntreprise"),
            text(request, "NumeroCAD"),
        ):
            return ko(codes.MSG_HABILITATION)
        if demand.final_key == (operation, *key) and demand.final_answer is not None:
            return copy.deepcopy(demand.final_answer)
        if demand.etat is not Etat.ATTENTE_RDV:
            return ko(
                codes.with_code(codes.MSG_DIALOGUE_INTERROMPU, codes.ERREUR_ETAT_DEMANDE),
                numero=demand.numero,
            )
        return demand

    def _chosen_slot(self, request: Mapping[str, Any]) -> tuple[dt.date, str] | Answer:
        """The (Date, Plage) of ProposerDatePlage / AccepterRdv, or the fault answer."""
        messages: list[str] = []
        date_fault = rdv_date_fault(text(request, "Date"), self.today, self.agenda.horizon_end)
        if date_fault is not None:
            messages.append(codes.fault("DATE_RDV", date_fault).message)
        plage = text(request, "Plage")
        if not plage:
            messages.append(codes.fault("PLAGE", Coherence.OBLIGATOIRE).message)
        elif self.referential.slot(plage) is None:
            messages.append(codes.fault("PLAGE", Coherence.INCONNU).message)
        if messages:
            return ko(*messages, numero=text(request, "NumeroDemande"))
        day = parse_date(text(request, "Date"))
        assert day is not None
        return day, plage

    # ------------------------------------------------------------ slot answers
    def propose(self, demand: Demand, day: dt.date, plage: str, version: str) -> Answer:
        """DatePlageH when (day, plage) is free, else the list of the next free slots."""
        if self.agenda.is_free(day, plage, express=demand.express):
            demand.window = ()
            return reply(
                codes.POURSUIVRE,
                codes.DATE_PLAGE_H,
                [codes.MSG_DATE_PLAGE_DISPONIBLE],
                self.objets.objet(demand, version, programmee=(day, plage)),
            )
        return self._liste(demand, self.agenda.working_days_after(day), version)

    def _liste(self, demand: Demand, days: list[dt.date], version: str) -> Answer:
        """ListeDP for the first window from ``days`` on with a free slot (else DD)."""
        days, free = self._search(days, backward=False, express=demand.express)
        if not free:
            return self.finish_dd(demand, version, "", no_slot=True)
        demand.window = tuple(days)
        return reply(
            codes.POURSUIVRE,
            codes.LISTE_DP,
            [codes.MSG_LISTE_DP],
            self.objets.objet(demand, version, liste=free[:MAX_LISTE]),
        )

    def _search(
        self, days: list[dt.date], *, backward: bool, express: bool
    ) -> tuple[list[dt.date], list[tuple[dt.date, str]]]:
        """Slide a window of working days until it holds a free slot (or the agenda ends)."""
        while days:
            free = self.agenda.free_slots(days, express=express)
            if free:
                return days, free
            if backward:
                days = self.agenda.working_days_before(days[0])
            else:
                days = self.agenda.working_days_after(days[-1])
        return [], []

    def finish_dd(
        self, demand: Demand, version: str, operation: str, *, no_slot: bool = False
    ) -> Answer:
        """Record the demand at its (last communicated) requested date: T/DmdOkDD."""
        demand.etat = Etat.EN_COURS
        demand.window = ()
        message = (
            codes.MSG_DATE_DEMANDEE_CODE + codes.MESSAGE_AUCUN_CRENEAU
            if no_slot
            else codes.MSG_DATE_DEMANDEE
        )
        answer = reply(
            codes.TERMINE,
            codes.DMD_OK_DD,
            [message],
            self.objets.objet(demand, version, demandee=demand.date_demandee),
        )
        return self._finish(demand, (operation,), answer) if operation else answer

    @staticmethod
    def _finish(demand: Demand, key: tuple[str, ...], answer: Answer) -> Answer:
        demand.final_key = key
        demand.final_answer = copy.deepcopy(answer)
        return answer
