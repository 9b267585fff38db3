"""Business engine of the OMEGA simulator: identification, receivability, demand
creation and the appointment dialogue, with no HTTP.

The SOAP layer turns a request element into a nested dict (element local name ->
text, or dict for elements with children) and calls :meth:`Engine.handle`; the answer
is the response element's children as a nested dict in XSD order (lists are repeated
elements, absent keys are absent elements). One lock guards all shared state
(demands, agenda, numbering), so concurrent calls never give a place twice nor lose
a demand. See docs/simulator-engine.md for the behaviour and every code.

:class:`Engine` is the façade: it owns that state and the lock, and composes the
collaborators that share it, one per operation family: ``receivability.py``
(identification, VerifierRecevabiliteDIT), ``creation.py`` (CreerDemandeDIT),
``dialogue.py`` (the appointment dialogue and its slot answers), over
``demands.py`` (demand records) and ``answers.py`` (answer building).
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, SimulatorSettings, Supplier
from pipeline.referential import Referential
from pipeline.simulator import codes
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.answers import Answer, ObjetBuilder, describe, ko
from pipeline.simulator.checks import parse_date
from pipeline.simulator.creation import DemandCreation
from pipeline.simulator.demands import Demand, DemandRecords
from pipeline.simulator.dialogue import AppointmentDialogue
from pipeline.simulator.pce import Pce, load_pce_file
from pipeline.simulator.receivability import Receivability

OPERATIONS: tuple[str, ...] = (
    "VerifierRecevabiliteDIT",
    "CreerDemandeDIT",
    "ProposerDatePlage",
    "AccepterRdv",
    "DemanderPrecSuiv",
    "AbandonnerRdv",
    "AbandonnerDemande",
)


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
        records = DemandRecords(
            self._demands, random.Random(seed).randrange(10_000_000, 90_000_000)
        )
        self._receivability = Receivability(referential, self.suppliers, self.pces, records)
        dialogue = AppointmentDialogue(
            referential, agenda, self._demands, ObjetBuilder(referential, self.pces, agenda)
        )
        creation = DemandCreation(
            referential, self.pces, agenda, records, self._receivability, dialogue
        )
        self._handlers: dict[str, Callable[[Mapping[str, Any]], Answer]] = {
            "VerifierRecevabiliteDIT": self._receivability.verifier,
            "CreerDemandeDIT": creation.creer,
            "ProposerDatePlage": dialogue.proposer,
            "AccepterRdv": dialogue.accepter,
            "DemanderPrecSuiv": dialogue.prec_suiv,
            "AbandonnerRdv": dialogue.abandonner_rdv,
            "AbandonnerDemande": dialogue.abandonner_demande,
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
            return [describe(d, self.referential) for d in self._demands.values()]

    # ------------------------------------------------------------ identification
    def _identify(self, request: Mapping[str, Any], peer_dn: str | None) -> Answer | None:
        if self.maintenance:
            return ko(codes.MSG_MAINTENANCE)
        if self.closed:
            return ko(codes.MSG_FERME)
        return self._receivability.identify(request, peer_dn)


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
