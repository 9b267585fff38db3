"""The reconciliation rules on a real journal file: which export settles a row, what each
tracked state becomes, rows without a reference, ambiguity, and what is journaled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.execute import Journal, Reconciliation, reconcile_tracking
from pipeline.execute.journal import CallEntry, Job, State
from pipeline.records import DemandState, RowOutcome, Status, TrackedDemand, TrackingExport

SHA = "cd" * 32
T0 = datetime(2026, 12, 1, 2, 0, 0)
SETTINGS = replace(Settings(), execution=replace(Settings().execution, tracking_margin_s=300))
COLUMNS = frozenset({"NumeroDemande", "ReferenceDemande", "NumeroPCE", "Etat"})
COLUMNS |= {"CodeLibelleIntervention", "CodeMotifIntervention"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3", clock=clock) as j:
        yield j


def _unanswered(journal: Journal, ref: str, line: int = 2, **values: str) -> int:
    """A row whose CreerDemandeDIT went out at T0 and whose answer was lost."""
    row = {"ReferenceDemande": ref, "NumeroPCE": "12345678901234", "DateRdv": "2026-12-10"}
    row |= {"CodeLibelleIntervention": "206", "PlageRdv": "", **values}
    key = ref or f"{SHA[:16]}:{line}"
    rid = journal.claim(Job(key, "f.csv", SHA, line, row), run_id="r1").record.id
    journal.advance(rid, State.CREATE_SENT)
    stamp = T0.isoformat(timespec="milliseconds")
    call = CallEntry("CreerDemandeDIT", stamp, stamp, "unknown")
    journal.finish(rid, RowOutcome(Status.A_VERIFIER), call=call, create_unknown=True)
    return rid


def _export(
    minutes: float, *demands: TrackedDemand, columns: frozenset[str] = COLUMNS
) -> TrackingExport:
    taken = T0 + timedelta(minutes=minutes)
    return TrackingExport(f"suivi_{taken:%Y%m%d-%H%M%S}.csv", taken, demands, columns)


def _demand(numero: str, ref: str, state: DemandState, **more: Any) -> TrackedDemand:
    return TrackedDemand(numero, ref, state, state.value, **more)


def _run(journal: Journal, clock: Clock, *exports: TrackingExport) -> Reconciliation:
    clock.now = T0 + timedelta(hours=6)
    return reconcile_tracking(journal, list(exports), SETTINGS, run_id="r2", clock=clock)


def test_only_an_export_taken_after_the_attempt_and_its_margin_settles(
    journal: Journal, clock: Clock
) -> None:
    """Taken 4 minutes after the attempt (margin 5): the row waits and the result says
    from when; taken 5 minutes after: absent -> reopened pending with its values."""
    rid = _unanswered(journal, "R-1")
    early = _run(journal, clock, _export(4))
    assert [w.key for w in early.waiting] == ["R-1"] and early.resent == []
    assert early.needed_from == T0 + timedelta(minutes=5)
    assert journal.get(rid).status is Status.A_VERIFIER
    late = _run(journal, clock, _export(4), _export(5))
    assert late.resent == ["R-1"] and late.waiting == []
    record = journal.get(rid)
    assert record.state is State.PENDING and record.values["ReferenceDemande"] == "R-1"
    assert not record.create_unknown
    [entry] = [c for c in journal.calls(rid) if c.operation == "SuiviDemandes"]
    assert entry.attempts == 0 and "suivi_20261201-020500.csv" in entry.messages[0]


@pytest.mark.parametrize(
    ("state", "status", "holds_number"),
    [
        (DemandState.RDV_PROGRAMME, Status.RDV_PROGRAMME, True),
        (DemandState.EN_COURS, Status.DATE_DEMANDEE, True),
        (DemandState.REFUSEE, Status.REFUS_OMEGA, False),
        (DemandState.ABANDONNEE, Status.A_VERIFIER, True),
    ],
)
def test_a_found_demand_ends_with_the_status_its_state_implies(
    journal: Journal, clock: Clock, state: DemandState, status: Status, holds_number: bool
) -> None:
    rid = _unanswered(journal, "R-2")
    demand = _demand(
        "DIT9", "R-2", state, date_demandee="2026-12-10", date_programmee="2026-12-11", plage="M1"
    )
    result = _run(journal, clock, _export(10, demand))
    [(job, outcome)] = result.settled
    assert job.key == "R-2" and job.values["ReferenceDemande"] == "R-2"  # for the report
    assert outcome.status is status
    assert (outcome.numero_demande == "DIT9") is holds_number
    assert "suivi_20261201-021000.csv" in outcome.detail
    if status is Status.RDV_PROGRAMME:
        assert (outcome.date_rdv, outcome.plage_rdv) == ("2026-12-11", "M1")
    assert journal.get(rid).outcome == outcome
    # settled once: a later export does not reconsider it
    assert _run(journal, clock, _export(20, demand)).settled == []


def test_a_demand_waiting_for_its_appointment_is_reopened_for_the_dialogue(
    journal: Journal, clock: Clock
) -> None:
    rid = _unanswered(journal, "R-3", PlageRdv="M2")
    result = _run(journal, clock, _export(10, _demand("DIT3", "R-3", DemandState.ATTENTE_RDV)))
    assert result.resumed == ["R-3"]
    record = journal.get(rid)
    assert record.state is State.CREATED and record.numero_demande == "DIT3"
    assert record.dialogue["pending"] == {
        "op": "ProposerDatePlage",
        "date": "2026-12-10",
        "plage": "M2",
    }
    assert [r.id for r in journal.open_records()] == [rid]


def test_rows_without_reference_match_by_pce_and_code_or_wait(
    journal: Journal, clock: Clock
) -> None:
    """No ReferenceDemande: found by PCE + code among unreferenced demands; an export
    without those columns cannot tell, the row waits with the reason."""
    rid = _unanswered(journal, "", line=7)
    blind = _run(
        journal, clock, _export(10, columns=frozenset({"NumeroDemande", "ReferenceDemande"}))
    )
    assert [w.reason != "" for w in blind.waiting] == [True] and blind.resent == []
    demand = _demand("DIT5", "", DemandState.EN_COURS, numero_pce="12345678901234", code="206")
    found = _run(journal, clock, _export(10, demand))
    [(_, outcome)] = found.settled
    assert outcome.numero_demande == "DIT5" and journal.get(rid).status is Status.PRISE_EN_COMPTE


def test_two_demands_for_one_row_are_never_resent(journal: Journal, clock: Clock) -> None:
    _unanswered(journal, "R-4")
    export = _export(
        10,
        _demand("DIT1", "R-4", DemandState.EN_COURS),
        _demand("DIT2", "R-4", DemandState.EN_COURS),
    )
    result = _run(journal, clock, export)
    [(_, outcome)] = result.settled
    assert outcome.status is Status.A_VERIFIER and "DIT1, DIT2" in outcome.detail
    assert result.resent == []


def test_an_unconfirmed_appointment_takes_the_state_shown(journal: Journal, clock: Clock) -> None:
    """A_VERIFIER with a NumeroDemande: programmed since (on the portal) -> RDV_PROGRAMME;
    still waiting -> left to the automatic resume."""
    job = Job("R-5", "f.csv", SHA, 3, {"ReferenceDemande": "R-5"})
    rid = journal.claim(job, run_id="r1").record.id
    stamp = T0.isoformat(timespec="milliseconds")
    journal.finish(
        rid,
        RowOutcome(Status.A_VERIFIER, numero_demande="DIT7"),
        call=CallEntry("AccepterRdv", stamp, stamp, "unknown"),
    )
    waiting = _run(journal, clock, _export(10, _demand("DIT7", "R-5", DemandState.ATTENTE_RDV)))
    assert waiting.settled == [] and waiting.waiting == []
    done = _run(
        journal,
        clock,
        _export(
            10, _demand("DIT7", "R-5", DemandState.RDV_PROGRAMME, date_programmee="2026-12-12")
        ),
    )
    [(_, outcome)] = done.settled
    assert outcome.status is Status.RDV_PROGRAMME and outcome.date_rdv == "2026-12-12"
