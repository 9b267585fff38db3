"""Identification and receivability in the OMEGA simulator: who may call (login,
supplier habilitation, TLS client subject, CAD state) and VerifierRecevabiliteDIT
(whether the PCE accepts a demand, and the interventions it offers).

Called by the engine with its lock held (see :meth:`Engine.handle`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pipeline.config import Supplier
from pipeline.referential import Category, Referential
from pipeline.simulator import codes
from pipeline.simulator.answers import Answer, clean, ko
from pipeline.simulator.checks import presence_client, text
from pipeline.simulator.demands import DemandRecords, Etat
from pipeline.simulator.pce import Pce, departement

ETAT_CAD_VALIDE = "valide"


class Receivability:
    """Identifies the caller and says whether a PCE accepts a demand."""

    def __init__(
        self,
        referential: Referential,
        suppliers: Mapping[tuple[str, str], Supplier],
        pces: Mapping[str, Pce],
        records: DemandRecords,
    ) -> None:
        self.referential = referential
        self.suppliers = suppliers
        self.pces = pces
        self.records = records

    # ------------------------------------------------------------ identification
    def identify(self, request: Mapping[str, Any], peer_dn: str | None) -> Answer | None:
        """The refusal when the caller is not identified or not allowed, else None
        (the service's closed / maintenance state is the engine's)."""
        if not text(request, "Utilisateur", "Login"):
            return ko(codes.MSG_LOGIN)
        dn = text(request, "DNEntreprise")
        supplier = self.suppliers.get((dn, text(request, "NumeroCAD")))
        if supplier is None or (peer_dn is not None and not peer_matches(peer_dn, dn)):
            return ko(codes.MSG_HABILITATION)
        if supplier.etat_cad.strip().casefold() != ETAT_CAD_VALIDE:
            return ko(codes.MSG_ETAT_CAD)
        return None

    # ------------------------------------------------------------ receivability
    def verifier(self, request: Mapping[str, Any]) -> Answer:
        numero_pce = text(request, "NumeroPCE")
        pce = self.pces.get(numero_pce)
        refusal = self.pce_refusal(pce, request, text(request, "CodePostal"))
        if refusal is not None:
            etat, code_erreur, message = refusal
            self.records.new_demand(request, numero_pce, etat, code_erreur=code_erreur)
            return ko(message)
        assert pce is not None
        category = self.category(pce)
        interventions = [
            clean(
                {
                    "Intervention": code,
                    "Motif": motif or None,
                    "PresenceClient": presence_client(code, motif),
                }
            )
            for code, motif in self.referential.couples(category)
        ]
        return {
            "TypeRetourDialogue": codes.POURSUIVRE,
            "Retour": {
                "CodeRetour": codes.MESSAGE,
                "MessageRetour": [codes.MSG_RECEVABLE],
                "Interventions": interventions,
            },
        }

    def pce_refusal(
        self, pce: Pce | None, request: Mapping[str, Any], code_postal: str
    ) -> tuple[Etat, str, str] | None:
        """Why the PCE refuses the demand: (state to record, codeErreur, message)."""
        if pce is None:
            return (
                Etat.PCE_INCONNU,
                codes.ERREUR_PCE_INCONNU,
                codes.with_code(codes.MSG_PCE_INCONNU, codes.ERREUR_PCE_INCONNU),
            )
        if (
            code_postal
            and code_postal != pce.code_postal  # the PCE's own postal code always agrees
            and departement(code_postal) != pce.departement
        ):
            return Etat.NON_VALIDEE, codes.ERREUR_DEPARTEMENT, codes.MSG_DEPARTEMENT
        if pce.numero_cad != text(request, "NumeroCAD"):
            return (
                Etat.NON_VALIDEE,
                codes.ERREUR_PCE_NON_TITULAIRE,
                codes.with_code(codes.MSG_NON_RECEVABLE, codes.ERREUR_PCE_NON_TITULAIRE),
            )
        return None

    def category(self, pce: Pce) -> Category:
        return self.referential.category_for(pce.frequence_releve, pce.telereleve)


def peer_matches(peer_dn: str, dn_entreprise: str) -> bool:
    """True when a TLS client subject designates DNEntreprise: equal as a whole, or its
    CN equals it (RFC 4514 "CN=X,O=Y" or OpenSSL "/CN=X/O=Y")."""
    if peer_dn.strip() == dn_entreprise:
        return True
    for part in re.split(r"[,/]", peer_dn):
        name, sep, value = part.partition("=")
        if sep and name.strip().upper() == "CN" and value.strip() == dn_entreprise:
            return True
    return False
