"""Every branch of a row's dialogue with OMEGA, against the simulator over real HTTP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from execution_support import (
    PCE_OTHER_SUPPLIER,
    PCE_UNKNOWN,
    Harness,
    full_slot,
    harness_fixture,
    jj_row,
    job,
    reuse_harness,
    row,
)

from pipeline.config import Settings
from pipeline.execute.journal import State
from pipeline.records import RowOutcome, Status
from pipeline.referential import load_referential
from pipeline.simulator import FaultKind

VERIFY, CREATE = "VerifierRecevabiliteDIT", "CreerDemandeDIT"
ACCEPT, MORE, ABANDON, PROPOSE = (
    "AccepterRdv",
    "DemanderPrecSuiv",
    "AbandonnerRdv",
    "ProposerDatePlage",
)
START = dt.date(2026, 12, 10)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    yield from harness_fixture(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def h(shared: Harness, tmp_path: Path) -> Harness:
    """The module's simulator with a fresh journal (references differ between tests)."""
    return reuse_harness(shared, tmp_path)


def _one(h: Harness, values: dict[str, str], **kwargs: Any) -> RowOutcome:
    outcome: RowOutcome = h.run([job(values)], **kwargs)[values["ReferenceDemande"]]
    return outcome


def _policy(h: Harness, policy: str) -> Settings:
    return replace(h.settings, execution=replace(h.settings.execution, slot_policy=policy))


def _free_row(h: Harness, ref: str) -> dict[str, str]:
    """A 6M row whose requested slot is free."""
    day = START
    while True:
        if h.engine.agenda.is_bookable_day(day):
            for code in h.engine.agenda.slot_codes:
                if h.engine.agenda.is_free(day, code):
                    return row(ref, date=day.isoformat(), plage=code)
        day += dt.timedelta(days=1)


def _full_row(h: Harness, ref: str) -> dict[str, str]:
    """A 6M row whose requested slot is already full."""
    day, plage = full_slot(h.engine.agenda, START)
    return row(ref, date=day, plage=plage)


def _capture_list(h: Harness, operation: str, keep: int | None = None) -> list[tuple[str, str]]:
    """Record the ListeDatePlage of the next answer to ``operation`` (optionally truncated)."""
    seen: list[tuple[str, str]] = []

    def rewrite(answer: dict[str, Any]) -> dict[str, Any]:
        objet = answer.get("ReponseCreerDemandeObjet", {})
        liste = objet.get("ListeDatePlage", [])
        if keep is not None:
            if keep:
                objet["ListeDatePlage"] = liste[:keep]
            else:
                objet.pop("ListeDatePlage", None)
        seen.extend((s["Date"], s["Plage"]) for s in liste)
        return answer

    h.engine.rewrite_next(operation, rewrite)
    return seen


def test_jj_row_costs_two_calls_and_is_recorded_at_requested_date(h: Harness) -> None:
    """A JJ/JM/MM row: VerifierRecevabiliteDIT + CreerDemandeDIT -> DATE_DEMANDEE."""
    outcome = _one(h, jj_row("JJ-1"))
    assert outcome.status is Status.DATE_DEMANDEE
    assert h.ops() == [VERIFY, CREATE]
    assert outcome.numero_demande and outcome.date_rdv == "2026-12-10"
    assert (outcome.type_retour, outcome.code_retour) == ("T", "DmdOkDD")
    assert outcome.attempts == 2 and outcome.processed_at == "2026-12-01T02:00:00"
    (demand,) = h.demandes("JJ-1")
    assert demand["NumeroDemande"] == outcome.numero_demande


def test_free_requested_slot_costs_three_calls(h: Harness) -> None:
    """A 6M row whose slot is free: DatePlageH, AccepterRdv on it -> RDV_PROGRAMME."""
    values = _free_row(h, "6M-1")
    outcome = _one(h, values)
    assert h.ops() == [VERIFY, CREATE, ACCEPT]
    assert outcome.status is Status.RDV_PROGRAMME
    assert (outcome.date_rdv, outcome.plage_rdv) == (values["DateRdv"], values["PlageRdv"])
    slot = load_referential().slot(values["PlageRdv"])
    assert slot is not None
    assert (outcome.heure_min, outcome.heure_max) == (slot.heure_min, slot.heure_max)
    assert outcome.presence_client in ("PO", "PNO", "PS")
    (demand,) = h.demandes("6M-1")
    assert demand["Etat"] == "RDV_PROG" and demand["NumeroDemande"] == outcome.numero_demande


def test_full_requested_slot_takes_first_slot_offered(h: Harness) -> None:
    """ListeDP with policy premier-creneau: the first slot offered is accepted."""
    offered = _capture_list(h, CREATE)
    outcome = _one(h, _full_row(h, "6M-2"))
    assert h.ops() == [VERIFY, CREATE, ACCEPT]
    assert outcome.status is Status.RDV_PROGRAMME
    assert (outcome.date_rdv, outcome.plage_rdv) == offered[0]


def test_slot_taken_meanwhile_takes_the_next(h: Harness) -> None:
    """When the first slot is taken between the list and AccepterRdv, the next one is taken."""
    offered = _capture_list(h, CREATE)
    h.engine.on_next(ACCEPT, lambda req: h.engine.fill(req["Date"], req["Plage"]))
    outcome = _one(h, _full_row(h, "6M-3"))
    assert h.ops() == [VERIFY, CREATE, ACCEPT, ACCEPT]
    assert outcome.status is Status.RDV_PROGRAMME
    assert (outcome.date_rdv, outcome.plage_rdv) != offered[0]


def test_demander_prec_suiv_when_the_offered_slots_run_out(h: Harness) -> None:
    """With no slot left in hand, DemanderPrecSuiv(SUIV) fetches more, then one is accepted."""
    _capture_list(h, CREATE, keep=1)
    h.engine.on_next(ACCEPT, lambda req: h.engine.fill(req["Date"], req["Plage"]))
    _capture_list(h, ACCEPT, keep=0)
    outcome = _one(h, _full_row(h, "6M-4"))
    assert h.ops() == [VERIFY, CREATE, ACCEPT, MORE, ACCEPT]
    assert outcome.status is Status.RDV_PROGRAMME


def test_no_slot_confirmed_after_max_tries_records_at_requested_date(h: Harness) -> None:
    """After max_slot_tries taken slots: ProposerDatePlage(requested) then AbandonnerRdv."""
    h.engine.every_before[ACCEPT] = lambda req: h.engine.fill(req["Date"], req["Plage"])
    values = _full_row(h, "6M-5")
    outcome = _one(h, values)
    assert h.ops() == [VERIFY, CREATE, ACCEPT, ACCEPT, ACCEPT, PROPOSE, ABANDON]
    assert outcome.status is Status.DATE_DEMANDEE
    assert outcome.date_rdv == values["DateRdv"] and outcome.numero_demande
    assert "3 essai(s)" in outcome.detail
    (demand,) = h.demandes("6M-5")
    assert demand["DateDemandee"] == values["DateRdv"] and demand["Etat"] == "EN_COURS"


def test_date_demandee_policy_never_takes_an_offered_slot(h: Harness) -> None:
    """Policy date-demandee: ListeDP -> AbandonnerRdv at once, recorded at the requested date."""
    settings = replace(
        h.settings, execution=replace(h.settings.execution, slot_policy="date-demandee")
    )
    values = _full_row(h, "DD-1")
    outcome = _one(h, values, settings=settings)
    assert h.ops() == [VERIFY, CREATE, ABANDON]
    assert outcome.status is Status.DATE_DEMANDEE and outcome.date_rdv == values["DateRdv"]
    assert "date-demandee" in outcome.detail


def test_date_demandee_policy_confirms_the_requested_slot_when_free(h: Harness) -> None:
    """Policy date-demandee still confirms the requested slot itself (DatePlageH)."""
    settings = replace(
        h.settings, execution=replace(h.settings.execution, slot_policy="date-demandee")
    )
    outcome = _one(h, _free_row(h, "DD-2"), settings=settings)
    assert h.ops() == [VERIFY, CREATE, ACCEPT]
    assert outcome.status is Status.RDV_PROGRAMME


@pytest.mark.parametrize("pce", [PCE_UNKNOWN, PCE_OTHER_SUPPLIER])
def test_refused_receivability_is_non_recevable_with_omega_messages(h: Harness, pce: str) -> None:
    """A receivability refusal ends NON_RECEVABLE with OMEGA's code and messages, no creation."""
    outcome = _one(h, row("NR-1", pce=pce))
    assert h.ops() == [VERIFY]
    assert outcome.status is Status.NON_RECEVABLE
    assert (outcome.type_retour, outcome.code_retour) == ("A", "DmdKo")
    assert outcome.messages and outcome.messages[0] in outcome.detail
    assert h.demandes("NR-1") == []


def test_couple_not_offered_for_the_pce_is_non_recevable_without_creation(h: Harness) -> None:
    """A code/motif couple absent from the PCE's couples: NON_RECEVABLE listing the allowed."""
    outcome = _one(h, row("NR-2", code="206", motif=""))
    assert h.ops() == [VERIFY]
    assert outcome.status is Status.NON_RECEVABLE
    assert "206" in outcome.detail and "34/23" in outcome.detail


def test_dmdko_is_refus_omega_with_every_donnee_incorrecte(h: Harness) -> None:
    """CreerDemandeDIT answered DmdKo: REFUS_OMEGA carrying OMEGA's "Donnée incorrecte"."""
    outcome = _one(h, row("KO-1", date="2026-11-20", plage="ZZ"))
    assert h.ops() == [VERIFY, CREATE]
    assert outcome.status is Status.REFUS_OMEGA and not outcome.numero_demande
    incorrect = [m for m in outcome.messages if m.startswith("Donnée incorrecte")]
    assert len(incorrect) == 2
    assert all(m in outcome.detail for m in incorrect)


def test_dmdok_is_prise_en_compte(h: Harness) -> None:
    """A T/DmdOk answer ("Votre demande a été prise en compte") is PRISE_EN_COMPTE."""

    def dmd_ok(answer: dict[str, Any]) -> dict[str, Any]:
        answer["Retour"] = {
            "CodeRetour": "DmdOk",
            "MessageRetour": ["Votre demande a été prise en compte"],
        }
        answer["ReponseCreerDemandeObjet"].pop("DateDemandee", None)
        return answer

    h.engine.rewrite_next(CREATE, dmd_ok)
    outcome = _one(h, jj_row("OK-1"))
    assert outcome.status is Status.PRISE_EN_COMPTE and outcome.numero_demande
    assert h.ops() == [VERIFY, CREATE]


def test_dmdokdp_at_creation_is_rdv_programme_in_two_calls(h: Harness) -> None:
    """A T/DmdOkDP answer to CreerDemandeDIT needs no appointment call."""

    def programmed(answer: dict[str, Any]) -> dict[str, Any]:
        answer["TypeRetourDialogue"] = "T"
        answer["Retour"] = {
            "CodeRetour": "DmdOkDP",
            "MessageRetour": ["Le rendez-vous a été programmé avec succès."],
        }
        return answer

    h.engine.rewrite_next(CREATE, programmed)
    values = _free_row(h, "DP-1")
    outcome = _one(h, values)
    assert h.ops() == [VERIFY, CREATE]
    assert outcome.status is Status.RDV_PROGRAMME and outcome.date_rdv == values["DateRdv"]


def test_soap_client_fault_is_refus_omega_not_retried(h: Harness) -> None:
    """A request OMEGA refuses as malformed (soap:Client) is REFUS_OMEGA after one attempt."""
    outcome = _one(h, row("BF-1", pce="1" * 20))
    assert outcome.status is Status.REFUS_OMEGA
    assert "refusée par OMEGA" in outcome.detail and outcome.attempts == 1


def test_transient_failure_before_creation_is_erreur_technique_after_retries(h: Harness) -> None:
    """HTTP 503 on every attempt of VerifierRecevabiliteDIT: ERREUR_TECHNIQUE, no creation."""
    h.sim.faults.force(VERIFY, FaultKind.HTTP_503, FaultKind.HTTP_503, FaultKind.HTTP_503)
    outcome = _one(h, jj_row("TR-1"))
    assert outcome.status is Status.ERREUR_TECHNIQUE and outcome.attempts == 3
    assert CREATE not in h.ops() and len(h.sleeps) == 2


def test_transient_failures_are_retried_then_succeed(h: Harness) -> None:
    """A 503 on CreerDemandeDIT and a server fault on VerifierRecevabiliteDIT are retried."""
    h.sim.faults.force(VERIFY, FaultKind.SERVER_FAULT)
    h.sim.faults.force(CREATE, FaultKind.HTTP_503)
    outcome = _one(h, jj_row("TR-2"))
    assert outcome.status is Status.DATE_DEMANDEE and outcome.attempts == 4
    assert len(h.demandes("TR-2")) == 1


def test_lost_creation_answer_is_a_verifier_and_never_resent(h: Harness) -> None:
    """A reset after CreerDemandeDIT reached OMEGA: A_VERIFIER, one demand, no resend ever."""
    h.sim.faults.force(CREATE, FaultKind.RESET_AFTER)
    outcome = _one(h, jj_row("UK-1"))
    assert outcome.status is Status.A_VERIFIER and not outcome.numero_demande
    assert "suivi des demandes" in outcome.detail
    assert h.ops().count(CREATE) == 1 and len(h.demandes("UK-1")) == 1
    again = _one(h, jj_row("UK-1"))
    assert again.status is Status.DEJA_TRAITEE
    assert h.ops().count(CREATE) == 1 and len(h.ops()) == 2


def test_failure_after_creation_keeps_the_numero_demande(h: Harness) -> None:
    """AccepterRdv failing for good: A_VERIFIER with the NumeroDemande, resumed next run."""
    h.sim.faults.force(ACCEPT, FaultKind.HTTP_503, FaultKind.HTTP_503, FaultKind.HTTP_503)
    outcome = _one(h, _free_row(h, "AV-1"))
    assert outcome.status is Status.A_VERIFIER
    (demand,) = h.demandes("AV-1")
    assert outcome.numero_demande == demand["NumeroDemande"]
    assert demand["Etat"] == "ATT_RDV"
    assert "Reprise automatique" in outcome.detail and outcome.numero_demande in outcome.detail


def test_lost_accept_answer_is_replayed_and_books_one_slot(h: Harness) -> None:
    """AccepterRdv whose answer was lost is sent once more: confirmed, one place taken."""
    h.sim.faults.force(ACCEPT, FaultKind.RESET_AFTER)
    values = _free_row(h, "RP-1")
    day = dt.date.fromisoformat(values["DateRdv"])
    before = h.engine.agenda.taken(day, values["PlageRdv"])
    outcome = _one(h, values)
    assert outcome.status is Status.RDV_PROGRAMME
    assert h.ops() == [VERIFY, CREATE, ACCEPT, ACCEPT]
    assert h.engine.agenda.taken(day, values["PlageRdv"]) == before + 1


def test_lost_abandon_answer_is_replayed(h: Harness) -> None:
    """AbandonnerRdv whose answer was lost is sent once more and confirms DATE_DEMANDEE."""
    settings = replace(
        h.settings, execution=replace(h.settings.execution, slot_policy="date-demandee")
    )
    h.sim.faults.force(ABANDON, FaultKind.RESET_AFTER)
    outcome = _one(h, _full_row(h, "RP-2"), settings=settings)
    assert outcome.status is Status.DATE_DEMANDEE
    assert h.ops() == [VERIFY, CREATE, ABANDON, ABANDON]


def test_each_step_and_call_is_journaled(h: Harness) -> None:
    """The journal keeps every call with OMEGA's codes and the final state."""
    values = _free_row(h, "JR-1")
    outcome = _one(h, values)
    with h.journal() as journal:
        record = journal.latest("JR-1")
        assert record is not None
        assert record.state is State.FINAL and record.numero_demande == outcome.numero_demande
        calls = journal.calls(record.id)
    assert [(c.operation, c.code_retour) for c in calls] == [
        (VERIFY, "Message"),
        (CREATE, "DatePlageH"),
        (ACCEPT, "DmdOkDP"),
    ]
    assert all(c.outcome == "answer" and c.started_at <= c.finished_at for c in calls)
