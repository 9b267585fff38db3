"""Settling unknown outcomes from OMEGA's demand tracking, never by a blind resend.

The spec's rule (2.1, note 1): after an unanswered CreerDemandeDIT, look at the demand
tracking. The run hands the tracking exports it found (``TrackingExport``, read by the
read stage) to :func:`reconcile_tracking`, before any row is sent. For every row the tracking
may settle (``Journal.unsettled_records``):

- the export used is the newest one taken at least ``tracking_margin_s`` after the
  row's attempt ended (OMEGA's own limit: a request not processed within 5 minutes
  never is), so a demand created by that attempt is necessarily in it;
- creation unanswered, demand found (by ReferenceDemande; without one, by PCE, code and
  motif when the export has those columns) -> the row gets its NumeroDemande and
  state: "en attente de RDV" reopens the appointment dialogue by NumeroDemande (the
  executor resumes it, ProposerDatePlage first); any other state ends the row with
  the status the state implies;
- creation unanswered, demand absent -> the row is reopened ``pending`` and sent
  again by this run: the tracking proves no demand exists;
- appointment unconfirmed (a NumeroDemande, A_VERIFIER), demand found in a state past
  "en attente de RDV" -> the row ends with that state; still waiting -> left to the
  automatic resume (dialogue_slots);
- no export taken late enough -> the row stays A_VERIFIER; the result says from
  when an export must date (the summary names it).

Every decision is journaled as a ``SuiviDemandes`` entry of the ``calls`` table (no
OMEGA call: 0 attempts) naming the export.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.config import Settings
from pipeline.execute.dialogue_slots import PROPOSE, Slots
from pipeline.execute.journal import CallEntry, Job, Journal, JournalRecord, State
from pipeline.records import DemandState, RowOutcome, Status, TrackedDemand, TrackingExport

OPERATION = "SuiviDemandes"


@dataclass(frozen=True)
class Waiting:
    """A row the tracking could not settle yet: an export taken from ``needed_from`` on
    is needed (``reason`` when no export can ever settle it alone)."""

    key: str
    source: str
    line: int
    needed_from: datetime
    reason: str = ""


@dataclass
class Reconciliation:
    """What the tracking settled: rows finished (to report), reopened, still waiting."""

    settled: list[tuple[Job, RowOutcome]] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)  # keys reopened to be sent again
    resumed: list[str] = field(default_factory=list)  # keys whose appointment reopens
    waiting: list[Waiting] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # names of the exports that decided

    @property
    def needed_from(self) -> datetime | None:
        """The moment from which one export settles every waiting row."""
        times = [w.needed_from for w in self.waiting if not w.reason]
        return max(times) if times else None


def reconcile_tracking(
    journal: Journal,
    exports: Sequence[TrackingExport],
    settings: Settings,
    *,
    run_id: str,
    clock: Callable[[], datetime],
) -> Reconciliation:
    """Settle the journal's unknown outcomes from the exports (see the module docstring)."""
    return _Reconciler(journal, exports, settings, run_id, clock).run()


class _Reconciler:
    def __init__(
        self,
        journal: Journal,
        exports: Sequence[TrackingExport],
        settings: Settings,
        run_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.journal = journal
        usable = [e for e in exports if e.usable and e.taken_at is not None]
        self.exports = sorted(usable, key=lambda e: e.taken_at or datetime.min, reverse=True)
        self.margin = timedelta(seconds=settings.execution.tracking_margin_s)
        self.timeout = timedelta(seconds=settings.omega.timeout_s)
        self.run_id = run_id
        self.clock = clock
        self.result = Reconciliation()

    def run(self) -> Reconciliation:
        for record in self.journal.unsettled_records():
            if record.numero_demande:
                self._appointment(record)
            else:
                self._creation(record)
        return self.result

    # ----- an unanswered creation ---------------------------------------------------------
    def _creation(self, record: JournalRecord) -> None:
        needed = _whole_second(self._attempt_end(record, "CreerDemandeDIT") + self.margin)
        export = self._export_after(needed)
        if export is None:
            self._wait(record, needed)
            return
        found = _matches(record, export)
        if found is None:
            self._wait(
                record,
                needed,
                "sans ReferenceDemande, la ligne ne se retrouve que par NumeroPCE et code "
                "d'intervention : l'export doit avoir ces colonnes",
            )
            return
        self.result.used.add(export.name)
        if not found:
            self.journal.reopen(
                record.id,
                State.PENDING,
                run_id=self.run_id,
                call=self._entry(export, "absente du suivi : envoyée à nouveau"),
            )
            self.result.resent.append(record.key)
            return
        if len(found) > 1:
            numbers = ", ".join(d.numero_demande for d in found)
            self._settle(
                record,
                export,
                found[0],
                RowOutcome(
                    Status.A_VERIFIER,
                    detail=f"Le suivi des demandes ({_export_text(export)}) liste plusieurs "
                    f"demandes pour cette ligne ({numbers}) : vérifier sur le portail OMEGA "
                    "laquelle garder ; rien n'a été renvoyé.",
                ),
            )
            return
        demand = found[0]
        waits = demand.state is DemandState.ATTENTE_RDV
        if "Etat" not in export.columns and record.values.get("PlageRdv"):
            # No state exported: a 6M/1M demand may wait for its appointment; resuming the
            # dialogue by NumeroDemande asks OMEGA (an error answer ends the row A_VERIFIER).
            waits = True
        if waits:
            slots = Slots(
                date=record.values.get("DateRdv", ""),
                plage=record.values.get("PlageRdv", ""),
                offered=[],
                tried=[],
            )
            if slots.date and slots.plage:
                slots.pending = {"op": PROPOSE, "date": slots.date, "plage": slots.plage}
            self.journal.reopen(
                record.id,
                State.CREATED,
                run_id=self.run_id,
                numero_demande=demand.numero_demande,
                dialogue=slots.to_json(),
                call=self._entry(export, f"demande {demand.numero_demande} en attente de RDV"),
            )
            self.result.resumed.append(record.key)
            return
        self._settle(record, export, demand, state_outcome(demand, export, record))

    # ----- an unconfirmed appointment ------------------------------------------------------
    def _appointment(self, record: JournalRecord) -> None:
        needed = _whole_second(self._attempt_end(record, "") + self.margin)
        export = self._export_after(needed)
        if export is None:
            return  # resumed automatically (dialogue_slots) or left to the team
        found = [d for d in export.demands if d.numero_demande == record.numero_demande]
        if not found or found[0].state is DemandState.ATTENTE_RDV:
            return
        self.result.used.add(export.name)
        self._settle(record, export, found[0], state_outcome(found[0], export, record))

    # ----- helpers --------------------------------------------------------------------------
    def _settle(
        self,
        record: JournalRecord,
        export: TrackingExport,
        demand: TrackedDemand,
        outcome: RowOutcome,
    ) -> None:
        job = record.job()
        outcome.processed_at = self.clock().isoformat(timespec="seconds")
        dialogue = dict(record.dialogue)
        dialogue["settled_by"] = export.name
        dialogue["resumable"] = False
        final = self.journal.finish(
            record.id,
            outcome,
            call=self._entry(export, f"demande {demand.numero_demande} : {demand.state.value}"),
            dialogue=dialogue,
        )
        self.result.settled.append((job, final))

    def _wait(self, record: JournalRecord, needed: datetime, reason: str = "") -> None:
        self.result.waiting.append(Waiting(record.key, record.source, record.line, needed, reason))

    def _export_after(self, needed: datetime) -> TrackingExport | None:
        for export in self.exports:  # newest first
            if export.taken_at is not None and export.taken_at >= needed:
                return export
        return None

    def _attempt_end(self, record: JournalRecord, operation: str) -> datetime:
        """When the row's last attempt ended: the last call's end (of ``operation`` when
        given); a creation in flight at a crash, its start plus the call timeout."""
        calls = [c for c in self.journal.calls(record.id) if c.operation != OPERATION]
        if operation:
            calls = [c for c in calls if c.operation == operation]
        if record.state is State.CREATE_SENT or not calls:
            return datetime.fromisoformat(record.updated_at) + self.timeout
        return datetime.fromisoformat(calls[-1].finished_at)

    def _entry(self, export: TrackingExport, what: str) -> CallEntry:
        now = self.clock().isoformat(timespec="milliseconds")
        return CallEntry(
            OPERATION, now, now, "answer", messages=(f"{export.name} : {what}",), attempts=0
        )


def _whole_second(moment: datetime) -> datetime:
    """Rounded up to the second: export names carry seconds at most."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def _matches(record: JournalRecord, export: TrackingExport) -> list[TrackedDemand] | None:
    """The export's demands for this row; None when the export cannot tell."""
    reference = record.values.get("ReferenceDemande", "").strip()
    if reference:
        return [d for d in export.demands if d.reference == reference]
    if not {"NumeroPCE", "CodeLibelleIntervention"} <= export.columns:
        return None
    pce = record.values.get("NumeroPCE", "")
    code = record.values.get("CodeLibelleIntervention", "")
    motif = record.values.get("CodeMotifIntervention", "")
    return [
        d
        for d in export.demands
        if not d.reference
        and d.numero_pce == pce
        and d.code == code
        and ("CodeMotifIntervention" not in export.columns or d.motif == motif)
    ]


def state_outcome(
    demand: TrackedDemand, export: TrackingExport, record: JournalRecord
) -> RowOutcome:
    """The status a demand's tracked state implies for its row (state past creation)."""
    seen = f"Retrouvée dans le suivi des demandes ({_export_text(export)}) : demande n° " + (
        f"{demand.numero_demande}, « {demand.state_text or demand.state.value} »"
    )
    numero = demand.numero_demande
    if demand.state is DemandState.RDV_PROGRAMME:
        day = demand.date_programmee
        return RowOutcome(
            Status.RDV_PROGRAMME,
            numero_demande=numero,
            date_rdv=day,
            plage_rdv=demand.plage,
            heure_min=demand.heure_min,
            heure_max=demand.heure_max,
            detail=f"{seen} ; rendez-vous programmé le {day or '(date non exportée)'} "
            f"{demand.plage}".rstrip(),
        )
    if demand.state is DemandState.EN_COURS:
        day = demand.date_demandee
        if day:
            return RowOutcome(
                Status.DATE_DEMANDEE,
                numero_demande=numero,
                date_rdv=day,
                plage_rdv=record.values.get("PlageRdv", ""),
                detail=f"{seen} ; enregistrée à la date demandée ({day}).",
            )
        return RowOutcome(Status.PRISE_EN_COMPTE, numero_demande=numero, detail=f"{seen}.")
    if demand.state is DemandState.REFUSEE:
        # No NumeroDemande kept: a corrected row dropped again must be processed.
        return RowOutcome(
            Status.REFUS_OMEGA,
            detail=f"{seen} : refusée par OMEGA ; vérifier la demande sur le portail, "
            "corriger et redéposer.",
        )
    if demand.state is DemandState.INCONNU and "Etat" not in export.columns:
        return RowOutcome(
            Status.PRISE_EN_COMPTE,
            numero_demande=numero,
            detail=f"Retrouvée dans le suivi des demandes ({_export_text(export)}) : demande "
            f"n° {numero} (état non exporté).",
        )
    if demand.state is DemandState.ABANDONNEE:
        what = "abandonnée dans OMEGA : la redéposer seulement si l'intervention est voulue"
    else:
        what = "état non reconnu : vérifier la demande sur le portail OMEGA"
    return RowOutcome(
        Status.A_VERIFIER, numero_demande=numero, detail=f"{seen} ; {what} ; rien n'a été renvoyé."
    )


def _export_text(export: TrackingExport) -> str:
    when = f" extrait le {export.taken_at:%d/%m/%Y à %H:%M:%S}" if export.taken_at else ""
    return f"{export.name}{when}"
