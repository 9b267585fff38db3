"""Business engine of the OMEGA simulator: identification, receivability, demand
creation and the appointment dialogue, with no HTTP.

The SOAP layer turns a request element into a nested dict (element local name ->
text, or dict for elements with children) and calls :meth:`Engine.handle`; the answer
is the response element's children as a nested dict in XSD order (lists are repeated
elements, absent keys are absent elements). One lock guards all shared state
(demands, agenda, numbering), so concurrent calls never give a place twice nor lose
a demand. See docs/simulator-engine.md for the behaviour and every code.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, SimulatorSettings, Supplier
from pipeline.referential import Category, Referential, Slot
from pipeline.simulator import codes
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.checks import (
    SYNCHRO_AFTER,
    check_demande,
    parse_date,
    presence_client,
    rdv_date_fault,
    text,
    version_number,
)
from pipeline.simulator.codes import Coherence
from pipeline.simulator.pce import Pce, departement, load_pce_file

OPERATIONS: tuple[str, ...] = (
    "VerifierRecevabiliteDIT",
    "CreerDemandeDIT",
    "ProposerDatePlage",
    "AccepterRdv",
    "DemanderPrecSuiv",
    "AbandonnerRdv",
    "AbandonnerDemande",
)
NUMERO_PREFIX = "DIT"
MAX_LISTE = 24
ETAT_CAD_VALIDE = "valide"

Answer = dict[str, Any]


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
    final_answer: Answer | None = field(default=None, repr=False)


class Engine:
    """The simulated OMEGA. ``closed`` and ``maintenance`` may be flipped at run time."""

    def __init__(
        self,
        referential: Referential,
        suppliers: Iterable[Supplier],
        pces: Mapping[str, Pce],
        agenda: SlotAgenda,
        *,
        seed: int,
        closed: bool = False,
        maintenance: bool = False,
    ) -> None:
        self.referential = referential
        self.suppliers: dict[tuple[str, str], Supplier] = {
            (s.dn_entreprise, s.numero_cad): s for s in suppliers
        }
        self.pces: Mapping[str, Pce] = dict(pces)
        self.agenda = agenda
        self.today = agenda.today
        self.closed = closed
        self.maintenance = maintenance
        self._lock = threading.Lock()
        self._demands: dict[str, Demand] = {}
        self._next_number = random.Random(seed).randrange(10_000_000, 90_000_000)
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Answer]] = {
            "VerifierRecevabiliteDIT": self._verifier,
            "CreerDemandeDIT": self._creer,
            "ProposerDatePlage": self._proposer,
            "AccepterRdv": self._accepter,
            "DemanderPrecSuiv": self._prec_suiv,
            "AbandonnerRdv": self._abandonner_rdv,
            "AbandonnerDemande": self._abandonner_demande,
        }

    # ------------------------------------------------------------------ public
    def handle(
        self, operation: str, request: Mapping[str, Any], *, peer_dn: str | None = None
    ) -> Answer:
        """Answer one operation (see the module docstring for the dict shapes)."""
        handler = self._handlers.get(operation)
        if handler is None:
            raise ValueError(f"Opération inconnue : {operation!r} (attendu : {OPERATIONS})")
        with self._lock:
            refusal = self._identify(request, peer_dn)
            if refusal is not None:
                return refusal
            return handler(request)

    def demandes(self) -> list[dict[str, Any]]:
        """Every recorded demand, oldest first (for GET /admin/demandes)."""
        with self._lock:
            return [self._describe(d) for d in self._demands.values()]

    # ------------------------------------------------------------ identification
    def _identify(self, request: Mapping[str, Any], peer_dn: str | None) -> Answer | None:
        if self.maintenance:
            return _ko(codes.MSG_MAINTENANCE)
        if self.closed:
            return _ko(codes.MSG_FERME)
        if not text(request, "Utilisateur", "Login"):
            return _ko(codes.MSG_LOGIN)
        dn = text(request, "DNEntreprise")
        supplier = self.suppliers.get((dn, text(request, "NumeroCAD")))
        if supplier is None or (peer_dn is not None and not peer_matches(peer_dn, dn)):
            return _ko(codes.MSG_HABILITATION)
        if supplier.etat_cad.strip().casefold() != ETAT_CAD_VALIDE:
            return _ko(codes.MSG_ETAT_CAD)
        return None

    # ------------------------------------------------------------ receivability
    def _verifier(self, request: Mapping[str, Any]) -> Answer:
        numero_pce = text(request, "NumeroPCE")
        pce = self.pces.get(numero_pce)
        refusal = self._pce_refusal(pce, request, text(request, "CodePostal"))
        if refusal is not None:
            etat, code_erreur, message = refusal
            self._new_demand(request, numero_pce, etat, code_erreur=code_erreur)
            return _ko(message)
        assert pce is not None
        category = self._category(pce)
        interventions = [
            _clean(
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

    def _pce_refusal(
        self, pce: Pce | None, request: Mapping[str, Any], code_postal: str
    ) -> tuple[Etat, str, str] | None:
        """Why the PCE refuses the demand: (state to record, codeErreur, message)."""
        if pce is None:
            return (
                Etat.PCE_INCONNU,
                codes.ERREUR_PCE_INCONNU,
                codes.with_code(codes.MSG_PCE_INCONNU, codes.ERREUR_PCE_INCONNU),
            )
        if code_postal and departement(code_postal) != pce.departement:
            return Etat.NON_VALIDEE, codes.ERREUR_DEPARTEMENT, codes.MSG_DEPARTEMENT
        if pce.numero_cad != text(request, "NumeroCAD"):
            return (
                Etat.NON_VALIDEE,
                codes.ERREUR_PCE_NON_TITULAIRE,
                codes.with_code(codes.MSG_NON_RECEVABLE, codes.ERREUR_PCE_NON_TITULAIRE),
            )
        return None

    # ------------------------------------------------------------ creation
    def _creer(self, request: Mapping[str, Any]) -> Answer:
        demande = request.get("Demande")
        demande = demande if isinstance(demande, Mapping) else {}
        version = text(request, "NumeroVersion")
        pce = self.pces.get(text(demande, "NumeroPCE"))
        refusal = self._pce_refusal(pce, request, text(demande, "CodePostal"))
        if refusal is not None:
            return _ko(refusal[2])
        assert pce is not None
        category = self._category(pce)
        messages = check_demande(
            demande,
            version=version,
            category=category,
            referential=self.referential,
            today=self.today,
            horizon_end=self.agenda.horizon_end,
        )
        if messages:
            return _ko(*messages)
        code = text(demande, "DonneesTypeDemande", "CodeLibelleIntervention")
        motif = text(demande, "DonneesTypeDemande", "CodeMotifIntervention")
        day = parse_date(text(demande, "RdvDemande", "Date"))
        assert day is not None
        demand = self._new_demand(
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
        if category is Category.JJ_JM_MM:
            return self._finish_dd(demand, version, "CreerDemandeDIT")
        plage = text(demande, "RdvDemande", "Plage")
        demand.plage_demandee = plage
        return self._propose(demand, day, plage, version)

    # ------------------------------------------------------------ appointments
    def _proposer(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "ProposerDatePlage", ())
        if not isinstance(found, Demand):
            return found
        chosen = self._chosen_slot(request)
        if not isinstance(chosen, tuple):
            return chosen
        day, plage = chosen
        found.date_demandee, found.plage_demandee = day, plage
        return self._propose(found, day, plage, text(request, "NumeroVersion"))

    def _accepter(self, request: Mapping[str, Any]) -> Answer:
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
        answer = _answer(
            codes.TERMINE,
            codes.DMD_OK_DP,
            [codes.MSG_RDV_PROGRAMME],
            self._objet(found, version, programmee=(day, plage)),
        )
        return self._finish(found, ("AccepterRdv", *key), answer)

    def _prec_suiv(self, request: Mapping[str, Any]) -> Answer:
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

    def _abandonner_rdv(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "AbandonnerRdv", ())
        if not isinstance(found, Demand):
            return found
        return self._finish_dd(found, text(request, "NumeroVersion"), "AbandonnerRdv")

    def _abandonner_demande(self, request: Mapping[str, Any]) -> Answer:
        found = self._dialogue_demand(request, "AbandonnerDemande", ())
        if not isinstance(found, Demand):
            return found
        found.etat = Etat.ABANDONNEE
        found.window = ()
        answer = _answer(
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
        demand = self._demands.get(numero)
        if demand is None:
            return _ko(
                codes.with_code(codes.MSG_DIALOGUE_INTERROMPU, codes.ERREUR_DEMANDE_INCONNUE)
            )
        if (demand.dn_entreprise, demand.numero_cad) != (
            text(request, "DNEntreprise"),
            text(request, "NumeroCAD"),
        ):
            return _ko(codes.MSG_HABILITATION)
        if demand.final_key == (operation, *key) and demand.final_answer is not None:
            return copy.deepcopy(demand.final_answer)
        if demand.etat is not Etat.ATTENTE_RDV:
            return _ko(
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
            return _ko(*messages, numero=text(request, "NumeroDemande"))
        day = parse_date(text(request, "Date"))
        assert day is not None
        return day, plage

    # ------------------------------------------------------------ slot answers
    def _propose(self, demand: Demand, day: dt.date, plage: str, version: str) -> Answer:
        """DatePlageH when (day, plage) is free, else the list of the next free slots."""
        if self.agenda.is_free(day, plage, express=demand.express):
            demand.window = ()
            return _answer(
                codes.POURSUIVRE,
                codes.DATE_PLAGE_H,
                [codes.MSG_DATE_PLAGE_DISPONIBLE],
                self._objet(demand, version, programmee=(day, plage)),
            )
        return self._liste(demand, self.agenda.working_days_after(day), version)

    def _liste(self, demand: Demand, days: list[dt.date], version: str) -> Answer:
        """ListeDP for the first window from ``days`` on with a free slot (else DD)."""
        days, free = self._search(days, backward=False, express=demand.express)
        if not free:
            return self._finish_dd(demand, version, "", no_slot=True)
        demand.window = tuple(days)
        return _answer(
            codes.POURSUIVRE,
            codes.LISTE_DP,
            [codes.MSG_LISTE_DP],
            self._objet(demand, version, liste=free[:MAX_LISTE]),
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

    def _finish_dd(
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
        answer = _answer(
            codes.TERMINE,
            codes.DMD_OK_DD,
            [message],
            self._objet(demand, version, demandee=demand.date_demandee),
        )
        return self._finish(demand, (operation,), answer) if operation else answer

    @staticmethod
    def _finish(demand: Demand, key: tuple[str, ...], answer: Answer) -> Answer:
        demand.final_key = key
        demand.final_answer = copy.deepcopy(answer)
        return answer

    def _objet(
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
            objet["DateProgrammee"] = _clean(
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

    # ------------------------------------------------------------ records
    def _category(self, pce: Pce) -> Category:
        return self.referential.category_for(pce.frequence_releve, pce.telereleve)

    def _new_demand(
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

    def _describe(self, demand: Demand) -> dict[str, Any]:
        slot = self.referential.slot(demand.plage_programmee)
        return _clean(
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


# ---------------------------------------------------------------- helpers
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


def _clean(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _answer(
    type_retour: str, code: str, messages: list[str], objet: dict[str, Any] | None = None
) -> Answer:
    answer: Answer = {
        "TypeRetourDialogue": type_retour,
        "Retour": {"CodeRetour": code, "MessageRetour": messages},
    }
    if objet is not None:
        answer["ReponseCreerDemandeObjet"] = objet
    return answer


def _ko(*messages: str, numero: str = "") -> Answer:
    """A/DmdKo: the dialogue is abandoned (with the NumeroDemande when one is known)."""
    return _answer(
        codes.ABANDONNE,
        codes.DMD_KO,
        list(messages),
        {"NumeroDemande": numero} if numero else None,
    )


def _settings_today(value: str) -> dt.date | None:
    if not value.strip():
        return None
    day = parse_date(value.strip())
    if day is None:
        raise ConfigError(f"[simulator] today : date invalide {value!r} (attendu : AAAA-MM-JJ)")
    return day


def build_engine(
    settings: SimulatorSettings,
    referential: Referential,
    *,
    pce_file: Path | None = None,
    today: dt.date | None = None,
    seed: int | None = None,
    closed: bool = False,
    maintenance: bool = False,
) -> Engine:
    """An engine over the PCE file (default ``settings.pce_file``), today (default
    ``settings.today``, else the real date) and seed (default ``settings.seed``).
    The service starts closed / in maintenance when the argument or the setting says so.

    Raises :class:`~pipeline.config.ConfigError` (French message) for a bad PCE file or
    setting.
    """
    if settings.capacity_per_slot < 0:
        raise ConfigError(
            f"[simulator] capacity_per_slot : valeur invalide {settings.capacity_per_slot} "
            "(nombre de places par plage, 0 ou plus)"
        )
    pces = load_pce_file(pce_file or settings.pce_file)
    day = today or _settings_today(settings.today) or dt.date.today()
    used_seed = settings.seed if seed is None else seed
    agenda = SlotAgenda(
        day, [s.code for s in referential.slots], settings.capacity_per_slot, used_seed
    )
    return Engine(
        referential,
        settings.suppliers,
        pces,
        agenda,
        seed=used_seed,
        closed=closed or bool(getattr(settings, "closed", False)),
        maintenance=maintenance or bool(getattr(settings, "maintenance", False)),
    )
