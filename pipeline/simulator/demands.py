"""Demand records of the OMEGA simulator: the demand states, the demand itself and the
numbering that creates them in the engine's shared demands dict.

Everything here runs under the engine's lock (see :meth:`Engine.handle`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipeline.simulator.checks import text

NUMERO_PREFIX = "DIT"


class Etat(Enum):
    """Demand states (chapter 2.1): spec numbers where the spec gives them."""

    PCE_INCONNU = ("22", "Demande impossible – PCE inconnu")
    NON_VALIDEE = ("23", "Demande non validée")
    ATTENTE_RDV = ("ATT_RDV", "en attente de RDV")
    RDV_PROGRAMME = ("RDV_PROG", "RDV programmé")
    EN_COURS = ("EN_COURS", "En cours de traitement")
    ABANDONNEE = ("ABANDON", "Demande abandonnée")

    @property
    def code(self) -> str:
        return self.value[0]

    @property
    def label(self) -> str:
        return self.value[1]


@dataclass(slots=True)
class Demand:
    """One demand recorded by the simulator (refused receivability included)."""

    numero: str
    etat: Etat
    dn_entreprise: str
    numero_cad: str
    login: str
    numero_pce: str
    reference: str = ""
    code: str = ""
    motif: str = ""
    express: bool = False
    presence: str = ""
    code_erreur: str = ""
    date_demandee: dt.date | None = None
    plage_demandee: str = ""
    date_programmee: dt.date | None = None
    plage_programmee: str = ""
    window: tuple[dt.date, ...] = ()
    final_key: tuple[str, ...] | None = None
    final_answer: dict[str, Any] | None = field(default=None, repr=False)


class DemandRecords:
    """Numbers and records new demands in the engine's ``demands`` dict (shared, not
    copied: the engine reads the same dict for GET /admin/demandes)."""

    def __init__(self, demands: dict[str, Demand], first_number: int) -> None:
        self._demands = demands
        self._next_number = first_number

    def new_demand(
        self, request: Mapping[str, Any], numero_pce: str, etat: Etat, **values: Any
    ) -> Demand:
        numero = f"{NUMERO_PREFIX}{self._next_number:08d}"
        self._next_number += 1
        demand = Demand(
            numero=numero,
            etat=etat,
            dn_entreprise=text(request, "DNEntreprise"),
            numero_cad=text(request, "NumeroCAD"),
            login=text(request, "Utilisateur", "Login"),
            numero_pce=numero_pce,
            **values,
        )
        self._demands[numero] = demand
        return demand
