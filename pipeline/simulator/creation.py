"""Demand creation in the OMEGA simulator: CreerDemandeDIT (the PCE's receivability
again, the demand's checks, the record, then the first slot answer of the dialogue).

Called by the engine with its lock held (see :meth:`Engine.handle`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.referential import Category, Referential
from pipeline.simulator import codes
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.answers import Answer, ko, reply
from pipeline.simulator.checks import check_demande, parse_date, presence_client, text
from pipeline.simulator.demands import Demand, DemandRecords, Etat
from pipeline.simulator.dialogue import AppointmentDialogue
from pipeline.simulator.pce import Pce
from pipeline.simulator.receivability import Receivability


class DemandCreation:
    """CreerDemandeDIT: records a checked demand and opens its appointment dialogue."""

    def __init__(
        self,
        referential: Referential,
        pces: Mapping[str, Pce],
        agenda: SlotAgenda,
        records: DemandRecords,
        receivability: Receivability,
        dialogue: AppointmentDialogue,
    ) -> None:
        self.referential = referential
        self.pces = pces
        self.agenda = agenda
        self.today = agenda.today
        self.records = records
        self.receivability = receivability
        self.dialogue = dialogue

    def creer(self, request: Mapping[str, Any]) -> Answer:
        demande = request.get("Demande")
        demande = demande if isinstance(demande, Mapping) else {}
        version = text(request, "NumeroVersion")
        pce = self.pces.get(text(demande, "NumeroPCE"))
        refusal = self.receivability.pce_refusal(pce, request, text(demande, "CodePostal"))
        if refusal is not None:
            return ko(refusal[2])
        assert pce is not None
        category = self.receivability.category(pce)
        messages = check_demande(
            demande,
            version=version,
            category=category,
            referential=self.referential,
            today=self.today,
            horizon_end=self.agenda.horizon_end,
        )
        if messages:
            return ko(*messages)
        code = text(demande, "DonneesTypeDemande", "CodeLibelleIntervention")
        motif = text(demande, "DonneesTypeDemande", "CodeMotifIntervention")
        day = parse_date(text(demande, "RdvDemande", "Date"))
        assert day is not None
        demand = self.records.new_demand(
            request,
            pce.numero,
            Etat.ATTENTE_RDV,
            reference=text(demande, "DonneesFournisseur", "ReferenceDemande"),
            code=code,
            motif=motif,
            express=text(demande, "DonneesTypeDemande", "OptionExpress") == "1",
            presence=presence_client(code, motif),
            date_demandee=day,
        )
        if pce.reponse:
            return self._forced(pce.reponse, demand, version)
        if category is Category.JJ_JM_MM:
            return self.dialogue.finish_dd(demand, version, "CreerDemandeDIT")
        plage = text(demande, "RdvDemande", "Plage")
        demand.plage_demandee = plage
        return self.dialogue.propose(demand, day, plage, version)

    def _forced(self, reponse: str, demand: Demand, version: str) -> Answer:
        """The answer the PCE file's Reponse column asks for (the demand is recorded, at
        its requested date, before answering, as OMEGA does)."""
        demand.etat = Etat.EN_COURS
        objets = self.dialogue.objets
        if reponse == "dialogue-interrompu":
            return ko(codes.with_code(codes.MSG_DIALOGUE_INTERROMPU, codes.ERREUR_INCIDENT))
        if reponse == "relance":
            objet = objets.objet(demand, version)
            return reply(codes.TERMINE, codes.DMD_OK, [codes.MSG_PRISE_EN_COMPTE], objet)
        message = codes.MSG_POURSUIVRE_CODE + reponse.removeprefix("message:")
        objet = objets.objet(demand, version, demandee=demand.date_demandee)
        return reply(codes.POURSUIVRE, codes.MESSAGE, [message], objet)
