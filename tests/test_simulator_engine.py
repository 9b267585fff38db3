"""Tests of the OMEGA simulator's business engine, driven through Engine.handle (no HTTP)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from pipeline.config import (
    DEFAULT_CONFIG,
    PROJECT_ROOT,
    ConfigError,
    SimulatorSettings,
    load_settings,
)
from pipeline.contract import NAMESPACE, XSD
from pipeline.referential import Category, Referential, load_referential
from pipeline.simulator import codes
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.checks import presence_client
from pipeline.simulator.engine import Engine, build_engine
from pipeline.simulator.pce import PceFileError, load_pce_file, parse_pce_lines

TODAY = dt.date(2025, 5, 5)  # a Monday; Thursday 8 May is a public holiday
SIX_M = "11000000000001"
SIX_M_TLRV = "12000000000001"
ONE_M = "13000000000001"
JJ = "21000000000001"
CORSE_BASTIA = "11000000000012"
CORSE_AJACCIO = "11000000000011"
NICE = "11000000000009"
ELEC_2 = "11000000000014"
OTHER_SUPPLIER = "91000000000001"
FIXTURE = PROJECT_ROOT / "config" / "simulator" / "pce.csv"
DOC = PROJECT_ROOT / "docs" / "simulator-engine.md"

Answer = dict[str, Any]
SCHEMA = etree.XMLSchema(etree.parse(str(XSD)))
SCHEMA_LOCK = threading.Lock()  # validation shares the schema between test threads
REQUEST_ELEMENTS = {
    "VerifierRecevabiliteDIT": (
        "RequeteWSVerifierRecevabiliteDIT",
        "ReponseWSVerifierRecevabiliteDIT",
    ),
    "CreerDemandeDIT": ("RequeteWSCreerDIT", "ReponseWSCreerDIT"),
}


# ---------------------------------------------------------------- fixtures and helpers
def _element(name: str, data: Mapping[str, Any]) -> etree._Element:
    """The contract element ``name`` built from a nested dict (lists repeat elements)."""

    def fill(parent: etree._Element, mapping: Mapping[str, Any]) -> None:
        for key, value in mapping.items():
            for item in value if isinstance(value, list) else [value]:
                child = etree.SubElement(parent, f"{{{NAMESPACE}}}{key}")
                if isinstance(item, Mapping):
                    fill(child, item)
                else:
                    child.text = str(item)

    root = etree.Element(f"{{{NAMESPACE}}}{name}")
    fill(root, data)
    return root


def handle(engine: Engine, operation: str, request: dict[str, Any], **kw: Any) -> Answer:
    """Engine.handle, with the request and the answer both checked against omega.xsd."""
    names = REQUEST_ELEMENTS.get(operation, (f"RequeteWS{operation}", f"ReponseWS{operation}"))
    with SCHEMA_LOCK:
        request_ok = SCHEMA.validate(_element(names[0], request))
    answer = engine.handle(operation, request, **kw)
    with SCHEMA_LOCK:
        answer_ok = SCHEMA.validate(_element(names[1], answer))
        log = SCHEMA.error_log
    assert request_ok, (request, log)
    assert answer_ok, (answer, log)
    return answer


@pytest.fixture(scope="module")
def sim_settings() -> SimulatorSettings:
    return load_settings(DEFAULT_CONFIG, environ={}).simulator


@pytest.fixture(scope="module")
def ref() -> Referential:
    return load_referential()


@pytest.fixture
def engine(sim_settings: SimulatorSettings, ref: Referential) -> Engine:
    return build_engine(sim_settings, ref, pce_file=FIXTURE, today=TODAY, seed=42)


def custom_engine(
    sim_settings: SimulatorSettings,
    ref: Referential,
    *,
    capacity: int = 2,
    full_rate: float = 0.3,
    empty: bool = False,
    seed: int = 42,
) -> Engine:
    agenda = SlotAgenda(
        TODAY,
        [s.code for s in ref.slots],
        capacity,
        seed,
        full_rate=full_rate,
        prebooking=not empty,
    )
    return Engine(ref, sim_settings.suppliers, load_pce_file(FIXTURE), agenda, seed=seed)


def ident(
    dn: str = "FOURNISSEUR-DEMO",
    cad: str = "CAD0000123",
    login: str = "batch.dit",
    version: str = "V9",
) -> dict[str, Any]:
    return {
        "DNEntreprise": dn,
        "NumeroCAD": cad,
        "Utilisateur": {"Login": login},
        "NumeroVersion": version,
    }


def verify(engine: Engine, pce: str, cp: str | None = None, **who: str) -> Answer:
    request: dict[str, Any] = {**ident(**who), "NumeroPCE": pce}
    if cp is not None:
        request["CodePostal"] = cp
    return handle(engine, "VerifierRecevabiliteDIT", request)


def creer_request(
    pce: str = SIX_M,
    code: str = "34",
    motif: str = "23",
    date: str = "2025-05-07",
    plage: str = "M1",
    *,
    version: str = "V9",
    donnees: dict[str, Any] | None = None,
    contact: dict[str, Any] | None = None,
    reference: str = "REF-1",
    **who: str,
) -> dict[str, Any]:
    typ: dict[str, Any] = {"CodeLibelleIntervention": code}
    if motif:
        typ["CodeMotifIntervention"] = motif
    typ.update(donnees or {})
    rdv = {"Date": date}
    if plage:
        rdv["Plage"] = plage
    demande: dict[str, Any] = {
        "TypeDemande": "DIT",
        "NumeroPCE": pce,
        "DonneesFournisseur": {"ReferenceDemande": reference},
        "DonneesTypeDemande": typ,
        "RdvDemande": rdv,
    }
    if contact is not None:
        demande["ContactIntervention"] = contact
    return {**ident(version=version, **who), "Demande": demande}


def creer(engine: Engine, *args: Any, **kwargs: Any) -> Answer:
    return handle(engine, "CreerDemandeDIT", creer_request(*args, **kwargs))


def rdv(engine: Engine, operation: str, numero: str, version: str = "V9", **extra: str) -> Answer:
    return handle(engine, operation, {**ident(version=version), "NumeroDemande": numero, **extra})


def retour(answer: Answer) -> tuple[str, str, list[str]]:
    r = answer["Retour"]
    return answer["TypeRetourDialogue"], r["CodeRetour"], r["MessageRetour"]


def objet(answer: Answer) -> dict[str, Any]:
    result: dict[str, Any] = answer["ReponseCreerDemandeObjet"]
    return result


def demand(engine: Engine, numero: str) -> dict[str, Any]:
    return next(d for d in engine.demandes() if d["NumeroDemande"] == numero)


def slots_where(
    engine: Engine, full: bool, start: dt.date = TODAY
) -> Iterator[tuple[dt.date, str]]:
    """Bookable (day, slot) pairs from ``start`` on, full or with a free ordinary place."""
    day = start
    while day <= engine.agenda.horizon_end:
        if engine.agenda.is_bookable_day(day):
            for code in engine.agenda.slot_codes:
                if engine.agenda.is_free(day, code) != full:
                    yield day, code
        day += dt.timedelta(days=1)


def free_slot(engine: Engine, start: dt.date = TODAY) -> tuple[dt.date, str]:
    return next(slots_where(engine, full=False, start=start))


def full_slot(engine: Engine, start: dt.date = TODAY) -> tuple[dt.date, str]:
    return next(slots_where(engine, full=True, start=start))


def pending(engine: Engine, pce: str = SIX_M) -> str:
    """Create a 6M demand left waiting for an appointment; its NumeroDemande."""
    day, plage = free_slot(engine)
    answer = creer(engine, pce, date=day.isoformat(), plage=plage)
    assert retour(answer)[1] == codes.DATE_PLAGE_H
    numero: str = objet(answer)["NumeroDemande"]
    return numero


def ko(answer: Answer) -> list[str]:
    kind, code, messages = retour(answer)
    assert (kind, code) == ("A", "DmdKo"), answer
    return messages


# ---------------------------------------------------------------- identification
def test_login_missing_or_empty_is_refused(engine: Engine) -> None:
    """An empty or absent Utilisateur/Login answers A/DmdKo "Le login doit être renseigné."."""
    assert ko(verify(engine, SIX_M, login="")) == [codes.MSG_LOGIN]
    request = {k: v for k, v in ident().items() if k != "Utilisateur"}
    answer = engine.handle("VerifierRecevabiliteDIT", {**request, "NumeroPCE": SIX_M})
    assert ko(answer) == ["Le login doit être renseigné."]


def test_unknown_supplier_pair_is_not_habilitated(engine: Engine) -> None:
    """A DNEntreprise/NumeroCAD pair not among the configured suppliers: Habilitation incorrecte."""
    assert ko(verify(engine, SIX_M, dn="INCONNU")) == ["Habilitation incorrecte"]
    assert ko(verify(engine, SIX_M, cad="CAD0000999")) == ["Habilitation incorrecte"]
    assert engine.demandes() == []


def test_suspended_cad_is_refused(engine: Engine) -> None:
    """A supplier whose CAD state is not "valide" gets "Etat du CAD invalide"."""
    answer = verify(engine, "97000000000001", dn="FOURNISSEUR-SUSPENDU", cad="CAD0000777")
    assert ko(answer) == ["Etat du CAD invalide"]


def test_closed_and_maintenance_switch_at_run_time(engine: Engine) -> None:
    """Flipping closed/maintenance makes every operation answer the Annexe A unavailability."""
    engine.closed = True
    assert ko(verify(engine, SIX_M)) == [codes.MSG_FERME]
    assert ko(creer(engine)) == [codes.MSG_FERME]
    engine.maintenance = True
    assert ko(rdv(engine, "AbandonnerRdv", "DIT00000000")) == [codes.MSG_MAINTENANCE]
    engine.closed = engine.maintenance = False
    assert retour(verify(engine, SIX_M))[0] == "P"
    assert codes.MSG_MAINTENANCE.startswith(
        "Ce service est actuellement indisponible suite à une opération de maintenance."
    )


def test_peer_certificate_must_name_the_supplier(engine: Engine) -> None:
    """Over mTLS the certificate subject (whole or CN) must be DNEntreprise."""
    request = {**ident(), "NumeroPCE": SIX_M}
    bad = handle(engine, "VerifierRecevabiliteDIT", request, peer_dn="CN=AUTRE-FOURNISSEUR,O=X")
    assert ko(bad) == ["Habilitation incorrecte"]
    for subject in (
        "CN=FOURNISSEUR-DEMO,O=Demo,C=FR",
        "/C=FR/CN=FOURNISSEUR-DEMO",
        "FOURNISSEUR-DEMO",
    ):
        answer = handle(engine, "VerifierRecevabiliteDIT", request, peer_dn=subject)
        assert retour(answer)[0] == "P"


def test_unknown_operation_is_a_programming_error(engine: Engine) -> None:
    """An operation name outside the seven is a ValueError for the SOAP layer, not an answer."""
    with pytest.raises(ValueError, match="Opération inconnue"):
        engine.handle("Supprimer", ident())


# ---------------------------------------------------------------- VerifierRecevabiliteDIT
def test_unknown_pce_records_a_22_demand(engine: Engine) -> None:
    """An unknown PCE answers "Numéro de PCE incorrect ou inconnu" + codeErreur; state 22."""
    assert ko(verify(engine, "99999999999999")) == [
        "Numéro de PCE incorrect ou inconnu : PCE_INCONNU"
    ]
    (recorded,) = engine.demandes()
    assert (recorded["Etat"], recorded["LibelleEtat"]) == ("22", "Demande impossible – PCE inconnu")
    assert recorded["NumeroPCE"] == "99999999999999"
    assert recorded["CodeErreur"] == "PCE_INCONNU"


def test_pce_of_another_supplier_records_a_23_demand(engine: Engine) -> None:
    """A PCE held by another NumeroCAD is "Demande non recevable : PCE_NON_TITULAIRE"; state 23."""
    assert ko(verify(engine, OTHER_SUPPLIER)) == ["Demande non recevable : PCE_NON_TITULAIRE"]
    (recorded,) = engine.demandes()
    assert (recorded["Etat"], recorded["LibelleEtat"]) == ("23", "Demande non validée")


def test_postal_code_of_another_department_records_a_23_demand(engine: Engine) -> None:
    """A CodePostal outside the PCE's department gets the Annexe A message and a 23 demand."""
    assert ko(verify(engine, SIX_M, cp="69003")) == [codes.MSG_DEPARTEMENT]
    assert [d["Etat"] for d in engine.demandes()] == ["23"]
    assert engine.demandes()[0]["CodeErreur"] == "DEPARTEMENT"


def test_postal_code_same_department_corsica_and_leading_zero(engine: Engine) -> None:
    """Same department passes (leading zeros kept); Corsica's two departments are told
    apart by postal code range: 200xx-201xx Corse-du-Sud (2A), 202xx-206xx Haute-Corse."""
    assert retour(verify(engine, CORSE_AJACCIO, cp="20090"))[1] == "Message"
    assert retour(verify(engine, CORSE_AJACCIO, cp="20167"))[1] == "Message"
    assert retour(verify(engine, NICE, cp="06100"))[1] == "Message"
    assert retour(verify(engine, SIX_M, cp="75001"))[1] == "Message"
    assert engine.demandes() == []
    assert ko(verify(engine, CORSE_AJACCIO, cp="20200")) == [codes.MSG_DEPARTEMENT]  # Bastia
    assert ko(verify(engine, CORSE_BASTIA, cp="20000")) == [codes.MSG_DEPARTEMENT]  # Ajaccio
    assert retour(verify(engine, CORSE_BASTIA, cp="20600"))[1] == "Message"


def test_pce_file_can_state_the_department(engine: Engine) -> None:
    """A PCE whose Departement column says 2B accepts its own postal code (20167) and a
    Haute-Corse one, and refuses another Corse-du-Sud postal code."""
    declared = "24000000000004"
    assert retour(verify(engine, declared, cp="20167"))[1] == "Message"
    assert retour(verify(engine, declared, cp="20200"))[1] == "Message"
    assert ko(verify(engine, declared, cp="20000")) == [codes.MSG_DEPARTEMENT]


def test_receivable_lists_the_couples_of_the_pce_category(engine: Engine, ref: Referential) -> None:
    """A receivable PCE answers P/Message "Demande recevable" and its Annexe B table's couples."""
    answer = verify(engine, SIX_M)
    assert retour(answer) == ("P", "Message", ["Demande recevable"])
    listed = answer["Retour"]["Interventions"]
    couples = {(i["Intervention"], i.get("Motif", "")) for i in listed}
    assert couples == set(ref.couples(Category.SIX_M))
    assert ("R9", "") in couples
    assert {"Intervention": "G1", "PresenceClient": "PS"} in listed
    tlrv = {i["Intervention"] for i in verify(engine, SIX_M_TLRV)["Retour"]["Interventions"]}
    assert "R9" not in tlrv and "Z8" in tlrv
    jj = verify(engine, JJ)["Retour"]["Interventions"]
    assert {(i["Intervention"], i.get("Motif", "")) for i in jj} == set(
        ref.couples(Category.JJ_JM_MM)
    )


def test_presence_client_rule() -> None:
    """PNO without a visit, PO when the meter is changed or removed, PS otherwise."""
    assert presence_client("V8", "09") == "PNO"
    assert presence_client("R9", "") == "PNO"
    assert presence_client("34", "23") == "PO"
    assert presence_client("217", "") == "PO"
    assert presence_client("Z8", "19") == "PS"
    assert presence_client("Y9", "18") == "PS"
    assert presence_client("Y9", "16") == "PNO"


# ---------------------------------------------------------------- CreerDemandeDIT
def test_daily_pce_is_taken_at_the_requested_date(engine: Engine) -> None:
    """JJ/JM/MM demands end at once: T/DmdOkDD with DateDemandee, state "En cours"."""
    answer = creer(engine, JJ, code="206", motif="", date="2025-05-10", plage="")
    assert retour(answer) == ("T", "DmdOkDD", [codes.MSG_DATE_DEMANDEE])
    body = objet(answer)
    assert body["DateDemandee"] == "2025-05-10"
    assert "DateProgrammee" not in body and "ListeDatePlage" not in body
    recorded = demand(engine, body["NumeroDemande"])
    assert (recorded["Etat"], recorded["LibelleEtat"]) == ("EN_COURS", "En cours de traitement")
    assert recorded["ReferenceDemande"] == "REF-1"


def test_free_slot_is_offered_for_confirmation(engine: Engine, ref: Referential) -> None:
    """A free requested slot answers P/DatePlageH with its hours; no place is taken yet."""
    day, plage = free_slot(engine)
    before = engine.agenda.booked(day, plage)
    answer = creer(engine, SIX_M, date=day.isoformat(), plage=plage)
    assert retour(answer) == ("P", "DatePlageH", [codes.MSG_DATE_PLAGE_DISPONIBLE])
    slot = ref.slot(plage)
    assert slot is not None
    body = objet(answer)
    assert body["DateProgrammee"] == {
        "Date": day.isoformat(),
        "PlageHoraire": plage,
        "HeureMin": slot.heure_min,
        "HeureMax": slot.heure_max,
    }
    assert body["PresenceClient"] == "PO"
    assert list(body) == ["NumeroDemande", "PresenceClient", "DateProgrammee"]
    assert engine.agenda.booked(day, plage) == before
    assert demand(engine, body["NumeroDemande"])["Etat"] == "ATT_RDV"


def test_full_slot_lists_the_next_two_working_days(engine: Engine) -> None:
    """A full requested slot answers P/ListeDP with free slots of the 2 next working days."""
    day, plage = full_slot(engine, start=dt.date(2025, 5, 7))
    answer = creer(engine, ONE_M, code="Z8", motif="19", date=day.isoformat(), plage=plage)
    assert retour(answer) == ("P", "ListeDP", [codes.MSG_LISTE_DP])
    listed = objet(answer)["ListeDatePlage"]
    window = engine.agenda.working_days_after(day)
    assert 0 < len(listed) <= 24
    assert {item["Date"] for item in listed} <= {d.isoformat() for d in window}
    for item in listed:
        assert engine.agenda.is_free(dt.date.fromisoformat(item["Date"]), item["Plage"])
    assert demand(engine, objet(answer)["NumeroDemande"])["Etat"] == "ATT_RDV"


def test_unknown_pce_on_direct_creation(engine: Engine) -> None:
    """CreerDemandeDIT on an unknown PCE answers the PCE message and records nothing."""
    assert ko(creer(engine, "99999999999999")) == [
        "Numéro de PCE incorrect ou inconnu : PCE_INCONNU"
    ]
    assert ko(creer(engine, OTHER_SUPPLIER)) == ["Demande non recevable : PCE_NON_TITULAIRE"]
    request = creer_request(SIX_M)
    demande = request["Demande"]
    request["Demande"] = {**dict(list(demande.items())[:2]), "CodePostal": "13001"}
    request["Demande"].update(list(demande.items())[2:])
    assert ko(handle(engine, "CreerDemandeDIT", request)) == [codes.MSG_DEPARTEMENT]
    assert engine.demandes() == []


def _faults(*couples: str) -> list[str]:
    return [f"Donnée incorrecte : {c}" for c in couples]


COMPLETE_INDEX = {
    "IndexConteste": {
        "TypeIndex": "02",
        "ValeurIndexReleve": "12345",
        "DateIndexConteste": "2025-04-01",
    },
    "IndexClient": {"ValeurIndexClient": "12001", "DateIndexClient": "2025-04-02"},
}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"motif": ""}, _faults("MOTIF / OBLIGATOIRE")),
        ({"motif": "99"}, _faults("MOTIF / INCONNU")),
        ({"motif": "03"}, _faults("MOTIF / INCONNU")),
        ({"code": "G1", "motif": "01", "donnees": COMPLETE_INDEX}, _faults("MOTIF / INTERDIT")),
        ({"code": "ZZ"}, _faults("CODE_INTERVENTION / INCONNU")),
        ({"code": ""}, _faults("CODE_INTERVENTION / OBLIGATOIRE")),
        ({"code": "206", "motif": ""}, _faults("CODE_INTERVENTION / CATEGORIE")),
        (
            {"pce": SIX_M_TLRV, "code": "R9", "motif": ""},
            _faults("CODE_INTERVENTION / CATEGORIE"),
        ),
        ({"donnees": {"OptionExpress": "1"}}, _faults("OPTION_EXPRESS / NON_AUTORISE")),
        ({"code": "V8", "motif": "01"}, _faults("PRECISION / OBLIGATOIRE")),
        (
            {"code": "G1", "motif": ""},
            _faults(
                "INDEX_TYPE / OBLIGATOIRE",
                "INDEX_VALEUR / OBLIGATOIRE",
                "INDEX_DATE / OBLIGATOIRE",
                "INDEX_CLIENT_VALEUR / OBLIGATOIRE",
                "INDEX_CLIENT_DATE / OBLIGATOIRE",
            ),
        ),
        (
            {
                "pce": JJ,
                "code": "253",
                "motif": "",
                "plage": "",
                "donnees": {
                    "IndexConteste": {
                        "TypeIndex": "07",
                        "ValeurIndexReleve": "12a",
                        "DateIndexConteste": "2025-02-30",
                    },
                    "IndexClient": {"ValeurIndexClient": "1,5", "DateIndexClient": "2025-06-01"},
                },
            },
            _faults(
                "INDEX_TYPE / INCONNU",
                "INDEX_VALEUR / FORMAT",
                "INDEX_DATE / FORMAT",
                "INDEX_CLIENT_DATE / DATE_FUTURE",
            ),
        ),
        ({"date": "2025-05-02"}, _faults("DATE_RDV / DATE_PASSEE")),
        ({"date": "2025-02-30"}, _faults("DATE_RDV / FORMAT")),
        ({"date": "2027-01-04"}, _faults("DATE_RDV / HORS_HORIZON")),
        ({"plage": ""}, _faults("PLAGE / OBLIGATOIRE")),
        ({"plage": "ZZ"}, _faults("PLAGE / INCONNU")),
        ({"version": "V5"}, _faults("VERSION / INCONNU")),
        (
            {"contact": {"Telephone": "06 12 34 56 78"}},
            ["Champ numéro de téléphone incorrect : caractères numériques uniquement"],
        ),
        (
            {"code": "ZZ", "date": "2025-05-01", "plage": "", "contact": {"Telephone": "+33"}},
            [
                *_faults(
                    "CODE_INTERVENTION / INCONNU", "DATE_RDV / DATE_PASSEE", "PLAGE / OBLIGATOIRE"
                ),
                codes.MSG_TELEPHONE,
            ],
        ),
    ],
)
def test_field_rules_answer_one_message_per_fault(
    engine: Engine, kwargs: dict[str, Any], expected: list[str]
) -> None:
    """Each broken rule gives one "Donnée incorrecte : champ / cohérence"; no demand is created."""
    assert ko(creer(engine, **kwargs)) == expected
    assert engine.demandes() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"code": "34", "motif": "01"},  # 01 of code 34 is not "Autre": no precision needed
        {"code": "V8", "motif": "01", "donnees": {"PrecisionIntervention": "Voir plan"}},
        {"code": "G1", "motif": "", "donnees": COMPLETE_INDEX},
        {"code": "R9", "motif": ""},
        {"pce": JJ, "code": "243", "motif": "", "plage": "", "donnees": {"OptionExpress": "1"}},
        {"version": "V7", "contact": {"Telephone": "06 12 34 56 78"}},
        {"contact": {"Telephone": "0612345678"}},
        {"donnees": {"OptionExpress": "0"}},
    ],
)
def test_valid_requests_create_a_demand(engine: Engine, kwargs: dict[str, Any]) -> None:
    """Requests that follow every rule create a demand (P or T answer, NumeroDemande)."""
    day, plage = free_slot(engine)
    kwargs = {"date": day.isoformat(), "plage": plage, **kwargs}
    answer = creer(engine, **kwargs)
    assert retour(answer)[0] in ("P", "T"), answer
    assert objet(answer)["NumeroDemande"].startswith("DIT")
    assert len(engine.demandes()) == 1


def test_every_documented_fault_is_in_the_doc() -> None:
    """The codeChamp/codeCohérence table of docs/simulator-engine.md lists every couple."""
    doc = DOC.read_text(encoding="utf-8")
    for fault in codes.FAULTS:
        assert f"| `{fault.champ}` | `{fault.coherence.value}` |" in doc, fault
    for code in (*codes.CODES_ERREUR, *codes.CODES_MESSAGE_OMEGA):
        assert f"`{code}`" in doc


# ---------------------------------------------------------------- electricity synchro
def test_electricity_appointments_are_returned_after_v4(engine: Engine) -> None:
    """A PCE with RdvElec=2 returns 2 RetourSynchroInterventions when NumeroVersion > V4."""
    answer = creer(engine, ELEC_2, date="2025-05-20", plage="M1")
    synchro = objet(answer)["RetourSynchroInterventions"]
    assert len(synchro) == 2
    # 3rd and 5th working days after Monday 5 May 2025 (8 May is a holiday).
    assert [s["DatePlage"]["Date"] for s in synchro] == ["2025-05-09", "2025-05-13"]
    numero = objet(answer)["NumeroDemande"]
    old = rdv(engine, "ProposerDatePlage", numero, version="V4", Date="2025-05-21", Plage="M2")
    assert "RetourSynchroInterventions" not in objet(old)
    assert "RetourSynchroInterventions" not in objet(creer(engine, SIX_M))


def test_programmed_date_on_an_electricity_slot_gives_its_position(
    sim_settings: SimulatorSettings, ref: Referential
) -> None:
    """Proposing the slot of the 2nd electricity appointment sets RetourSynchroIntervention "2"."""
    engine = custom_engine(sim_settings, ref, empty=True)
    numero = objet(creer(engine, ELEC_2, date="2025-05-20", plage="M1"))["NumeroDemande"]
    second = objet(creer(engine, ELEC_2, date="2025-05-20", plage="M1"))
    target = second["RetourSynchroInterventions"][1]["DatePlage"]
    answer = rdv(
        engine, "ProposerDatePlage", numero, Date=target["Date"], Plage=target["PlageHoraire"]
    )
    assert objet(answer)["DateProgrammee"]["RetourSynchroIntervention"] == "2"


# ---------------------------------------------------------------- appointment dialogue
def test_accept_free_slot_programs_the_appointment(engine: Engine) -> None:
    """AccepterRdv on a free slot: T/DmdOkDP, one place taken, state "RDV programmé"."""
    numero = pending(engine)
    day, plage = free_slot(engine, start=dt.date(2025, 5, 12))
    taken = engine.agenda.taken(day, plage)
    answer = rdv(engine, "AccepterRdv", numero, Date=day.isoformat(), Plage=plage)
    assert retour(answer) == ("T", "DmdOkDP", ["Le rendez-vous a été programmé avec succès."])
    assert objet(answer)["DateProgrammee"]["Date"] == day.isoformat()
    assert engine.agenda.taken(day, plage) == taken + 1
    recorded = demand(engine, numero)
    assert (recorded["Etat"], recorded["LibelleEtat"]) == ("RDV_PROG", "RDV programmé")
    assert (recorded["DateProgrammee"], recorded["PlageHoraire"]) == (day.isoformat(), plage)
    assert recorded["HeureMin"] < recorded["HeureMax"]


def test_accept_repeated_replays_without_taking_a_second_place(engine: Engine) -> None:
    """The same AccepterRdv sent again answers DmdOkDP again; another slot is out of sequence."""
    numero = pending(engine)
    day, plage = free_slot(engine)
    first = rdv(engine, "AccepterRdv", numero, Date=day.isoformat(), Plage=plage)
    taken = engine.agenda.taken(day, plage)
    assert rdv(engine, "AccepterRdv", numero, Date=day.isoformat(), Plage=plage) == first
    assert engine.agenda.taken(day, plage) == taken
    other_day, other_plage = free_slot(engine, start=day + dt.timedelta(days=1))
    late = rdv(engine, "AccepterRdv", numero, Date=other_day.isoformat(), Plage=other_plage)
    assert ko(late) == [f"{codes.MSG_DIALOGUE_INTERROMPU} (ETAT_DEMANDE)"]
    assert objet(late)["NumeroDemande"] == numero


def test_accept_full_slot_keeps_the_demand_waiting_with_a_fresh_list(engine: Engine) -> None:
    """A slot taken meanwhile answers P/ListeDP; the demand stays "en attente de RDV"."""
    numero = pending(engine)
    day, plage = full_slot(engine)
    answer = rdv(engine, "AccepterRdv", numero, Date=day.isoformat(), Plage=plage)
    assert retour(answer)[:2] == ("P", "ListeDP")
    assert objet(answer)["ListeDatePlage"]
    assert demand(engine, numero)["Etat"] == "ATT_RDV"
    assert demand(engine, numero)["DateDemandee"] == day.isoformat()


def test_propose_free_or_taken_slot(engine: Engine) -> None:
    """ProposerDatePlage answers DatePlageH for a free slot and ListeDP for a full one."""
    numero = pending(engine)
    day, plage = free_slot(engine, start=dt.date(2025, 6, 2))
    answer = rdv(engine, "ProposerDatePlage", numero, Date=day.isoformat(), Plage=plage)
    assert retour(answer)[1] == "DatePlageH"
    day, plage = full_slot(engine, start=dt.date(2025, 6, 2))
    answer = rdv(engine, "ProposerDatePlage", numero, Date=day.isoformat(), Plage=plage)
    assert retour(answer)[1] == "ListeDP"
    assert demand(engine, numero)["DateDemandee"] == day.isoformat()


def test_weekend_and_holiday_slots_are_never_free(engine: Engine) -> None:
    """Saturday and 8 May (Victoire 1945) are not bookable: ProposerDatePlage lists others."""
    numero = pending(engine)
    answer = rdv(engine, "ProposerDatePlage", numero, Date="2025-05-08", Plage="M1")
    assert retour(answer)[1] == "ListeDP"
    dates = {item["Date"] for item in objet(answer)["ListeDatePlage"]}
    assert dates <= {"2025-05-09", "2025-05-12"}
    saturday = rdv(engine, "ProposerDatePlage", numero, Date="2025-05-10", Plage="M1")
    assert retour(saturday)[1] == "ListeDP"


def test_rdv_date_and_slot_faults(engine: Engine) -> None:
    """A past, non-existent or far date, or an unknown slot, answers Donnée incorrecte."""
    numero = pending(engine)
    past = rdv(engine, "AccepterRdv", numero, Date="2025-05-02", Plage="M1")
    assert ko(past) == _faults("DATE_RDV / DATE_PASSEE")
    wrong = rdv(engine, "ProposerDatePlage", numero, Date="2025-13-01", Plage="XX")
    assert ko(wrong) == _faults("DATE_RDV / FORMAT", "PLAGE / INCONNU")
    assert demand(engine, numero)["Etat"] == "ATT_RDV"


def test_out_of_sequence_calls(engine: Engine) -> None:
    """Unknown NumeroDemande, another supplier's demand or a finished one are refused."""
    unknown = rdv(engine, "AccepterRdv", "DIT00000000", Date="2025-05-07", Plage="M1")
    assert ko(unknown) == [f"{codes.MSG_DIALOGUE_INTERROMPU} (DEMANDE_INCONNUE)"]
    numero = pending(engine)
    other = handle(
        engine,
        "AbandonnerDemande",
        {**ident(dn="AUTRE-FOURNISSEUR", cad="CAD0000999"), "NumeroDemande": numero},
    )
    assert ko(other) == ["Habilitation incorrecte"]
    jj = objet(creer(engine, JJ, code="206", motif="", plage=""))["NumeroDemande"]
    assert ko(rdv(engine, "DemanderPrecSuiv", jj, Sens="SUIV")) == [
        f"{codes.MSG_DIALOGUE_INTERROMPU} (ETAT_DEMANDE)"
    ]
    verify(engine, "99999999999999")
    refused = engine.demandes()[-1]["NumeroDemande"]
    assert "ETAT_DEMANDE" in ko(rdv(engine, "AbandonnerRdv", refused))[0]


def test_prec_suiv_moves_the_window(sim_settings: SimulatorSettings, ref: Referential) -> None:
    """SUIV lists the next two working days, PREC the previous two (not before today)."""
    engine = custom_engine(sim_settings, ref, capacity=1, empty=True)
    numero = pending(engine)

    def dates(answer: Answer) -> list[str]:
        assert retour(answer)[:2] == ("P", "ListeDP")
        return sorted({item["Date"] for item in objet(answer)["ListeDatePlage"]})

    base = rdv(engine, "ProposerDatePlage", numero, Date="2025-05-08", Plage="M1")
    assert dates(base) == ["2025-05-09", "2025-05-12"]
    suiv = rdv(engine, "DemanderPrecSuiv", numero, Sens="SUIV")
    assert dates(suiv) == ["2025-05-13", "2025-05-14"]
    expected = [
        ["2025-05-09", "2025-05-12"],
        ["2025-05-06", "2025-05-07"],
        ["2025-05-05"],  # today is reached
        ["2025-05-05", "2025-05-06"],  # nothing before today: the first window
    ]
    for dates_expected in expected:
        assert dates(rdv(engine, "DemanderPrecSuiv", numero, Sens="PREC")) == dates_expected


def test_full_window_slides_to_the_next_days(
    sim_settings: SimulatorSettings, ref: Referential
) -> None:
    """When both days of a window are full, the list moves on to the next two working days."""
    engine = custom_engine(sim_settings, ref, capacity=1, empty=True)
    for day in (dt.date(2025, 5, 9), dt.date(2025, 5, 12)):
        for code in engine.agenda.slot_codes:
            assert engine.agenda.reserve(day, code)
    answer = creer(engine, SIX_M, date="2025-05-07", plage="M1")
    assert retour(answer)[1] == "DatePlageH"
    numero = objet(answer)["NumeroDemande"]
    assert engine.agenda.reserve(dt.date(2025, 5, 7), "M1")  # taken meanwhile
    late = rdv(engine, "AccepterRdv", numero, Date="2025-05-07", Plage="M1")
    assert retour(late)[:2] == ("P", "ListeDP")
    listed = {item["Date"] for item in objet(late)["ListeDatePlage"]}
    assert listed == {"2025-05-13", "2025-05-14"}


def test_abandon_rdv_records_the_last_communicated_date(engine: Engine) -> None:
    """AbandonnerRdv ends at the last date communicated: T/DmdOkDD with DateDemandee."""
    numero = pending(engine)
    rdv(engine, "ProposerDatePlage", numero, Date="2025-06-16", Plage="A3")
    answer = rdv(engine, "AbandonnerRdv", numero)
    assert retour(answer) == ("T", "DmdOkDD", [codes.MSG_DATE_DEMANDEE])
    assert objet(answer)["DateDemandee"] == "2025-06-16"
    assert demand(engine, numero)["Etat"] == "EN_COURS"
    assert rdv(engine, "AbandonnerRdv", numero) == answer


def test_abandon_demand(engine: Engine) -> None:
    """AbandonnerDemande answers A/DmdKo "Demande abandonnée"; later calls are refused."""
    numero = pending(engine)
    answer = rdv(engine, "AbandonnerDemande", numero)
    assert ko(answer) == ["Demande abandonnée"]
    assert objet(answer) == {"NumeroDemande": numero}
    assert demand(engine, numero)["Etat"] == "ABANDON"
    assert "ETAT_DEMANDE" in ko(rdv(engine, "AbandonnerRdv", numero))[0]


def test_express_option_has_an_extra_place(
    sim_settings: SimulatorSettings, ref: Referential
) -> None:
    """Express demands (Z8 option 1) may take a slot full for others, up to one extra place."""
    engine = custom_engine(sim_settings, ref, capacity=1, full_rate=1.0)
    plain = creer(engine, SIX_M, code="Z8", motif="19", date="2025-05-07", plage="M1")
    assert retour(plain)[1] == "DmdOkDD"  # every slot is full for ordinary demands
    express = creer(
        engine,
        SIX_M,
        code="Z8",
        motif="19",
        date="2025-05-07",
        plage="M1",
        donnees={"OptionExpress": "1"},
    )
    assert retour(express)[1] == "DatePlageH"
    numero = objet(express)["NumeroDemande"]
    accepted = rdv(engine, "AccepterRdv", numero, Date="2025-05-07", Plage="M1")
    assert retour(accepted)[1] == "DmdOkDP"
    assert demand(engine, numero)["OptionExpress"] == "1"
    again = creer(
        engine,
        SIX_M,
        code="Z8",
        motif="19",
        date="2025-05-07",
        plage="M1",
        donnees={"OptionExpress": "1"},
    )
    assert retour(again)[1] == "ListeDP"


def test_no_free_slot_anywhere_falls_back_to_requested_date(
    sim_settings: SimulatorSettings, ref: Referential
) -> None:
    """With no place left up to the horizon the demand is taken at DD with AUCUN_CRENEAU."""
    engine = custom_engine(sim_settings, ref, capacity=0)
    answer = creer(engine, SIX_M, date="2025-05-07", plage="M1")
    assert retour(answer) == (
        "T",
        "DmdOkDD",
        [codes.MSG_DATE_DEMANDEE_CODE + "AUCUN_CRENEAU"],
    )
    assert objet(answer)["DateDemandee"] == "2025-05-07"
    assert demand(engine, objet(answer)["NumeroDemande"])["Etat"] == "EN_COURS"


# ---------------------------------------------------------------- agenda
def test_working_days_skip_weekends_and_french_holidays(engine: Engine) -> None:
    """Weekends, 8 May, Ascension and Whit Monday 2025 are not working days."""
    agenda = engine.agenda
    for holiday in ("2025-05-08", "2025-05-29", "2025-06-09", "2025-07-14", "2025-08-15"):
        assert not agenda.is_working_day(dt.date.fromisoformat(holiday))
    assert not agenda.is_working_day(dt.date(2025, 5, 10))
    assert agenda.working_days_after(dt.date(2025, 5, 7)) == [
        dt.date(2025, 5, 9),
        dt.date(2025, 5, 12),
    ]
    assert agenda.working_days_after(dt.date(2025, 5, 28)) == [
        dt.date(2025, 5, 30),
        dt.date(2025, 6, 2),
    ]
    assert agenda.working_days_before(dt.date(2025, 5, 6)) == [TODAY]


def test_list_holds_at_most_24_slots(sim_settings: SimulatorSettings, ref: Referential) -> None:
    """With no pre-booking, ListeDP holds exactly the 2 days × 12 slots = 24 entries."""
    engine = custom_engine(sim_settings, ref, empty=True)
    answer = creer(engine, SIX_M, date="2025-05-10", plage="M1")  # a Saturday
    listed = objet(answer)["ListeDatePlage"]
    assert len(listed) == 24
    assert {item["Date"] for item in listed} == {"2025-05-12", "2025-05-13"}


def test_capacity_is_finite(sim_settings: SimulatorSettings, ref: Referential) -> None:
    """A slot takes capacity_per_slot appointments, then answers ListeDP."""
    engine = custom_engine(sim_settings, ref, capacity=2, empty=True)
    results = []
    for _ in range(3):
        numero = pending(engine)
        answer = rdv(engine, "AccepterRdv", numero, Date="2025-05-07", Plage="A1")
        results.append(retour(answer)[1])
    assert results == ["DmdOkDP", "DmdOkDP", "ListeDP"]
    assert engine.agenda.booked(dt.date(2025, 5, 7), "A1") == 2


def test_prebooking_never_exceeds_capacity(engine: Engine) -> None:
    """Pre-booked places stay between 0 and capacity, and some slots are full."""
    agenda = engine.agenda
    counts = Counter(
        agenda.prebooked(TODAY + dt.timedelta(days=i), code)
        for i in range(60)
        for code in agenda.slot_codes
    )
    assert set(counts) <= set(range(agenda.capacity + 1))
    assert counts[agenda.capacity] > 0 and counts[0] > 0


def test_same_seed_same_behaviour(sim_settings: SimulatorSettings, ref: Referential) -> None:
    """Two engines with the same seed and today answer identically; another seed differs."""

    def run(seed: int) -> list[Answer]:
        engine = build_engine(sim_settings, ref, pce_file=FIXTURE, today=TODAY, seed=seed)
        return [
            creer(engine, SIX_M, date=(TODAY + dt.timedelta(days=i)).isoformat(), plage=plage)
            for i in range(10)
            for plage in ("M1", "A6")
        ]

    assert run(7) == run(7)
    assert run(7) != run(8)


# ---------------------------------------------------------------- concurrency
def test_concurrent_accepts_never_overbook(
    sim_settings: SimulatorSettings, ref: Referential
) -> None:
    """16 threads creating and accepting the same slot: never more than capacity, none lost."""
    engine = custom_engine(sim_settings, ref, capacity=3, empty=True)
    threads_count, per_thread = 16, 10
    outcomes: list[str] = []
    numbers: list[str] = []
    sink = threading.Lock()
    start = threading.Barrier(threads_count)

    def worker() -> None:
        start.wait()
        for _ in range(per_thread):
            created = creer(engine, SIX_M, date="2025-05-07", plage="M3")
            numero = objet(created)["NumeroDemande"]
            answer = rdv(engine, "AccepterRdv", numero, Date="2025-05-07", Plage="M3")
            with sink:
                numbers.append(numero)
                outcomes.append(retour(answer)[1])

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Counter(outcomes) == {"DmdOkDP": 3, "ListeDP": threads_count * per_thread - 3}
    assert engine.agenda.booked(dt.date(2025, 5, 7), "M3") == 3
    recorded = engine.demandes()
    assert len(recorded) == len(set(numbers)) == threads_count * per_thread
    assert Counter(d["Etat"] for d in recorded) == {
        "RDV_PROG": 3,
        "ATT_RDV": threads_count * per_thread - 3,
    }


# ---------------------------------------------------------------- PCE file
def test_default_fixture_covers_every_case(ref: Referential) -> None:
    """The shipped pce.csv covers every category, Corsica, GI numbers, other holders, RdvElec."""
    pces = load_pce_file(FIXTURE)
    assert 30 <= len(pces) <= 60
    categories = Counter(ref.category_for(p.frequence_releve, p.telereleve) for p in pces.values())
    assert set(categories) == set(Category)
    assert {p.frequence_releve for p in pces.values()} == {"6M", "1M", "JJ", "JM", "MM"}
    assert any(p.frequence_releve == "6M" and p.telereleve for p in pces.values())
    assert any(p.code_postal.startswith("20") for p in pces.values())
    assert any(n.startswith("GI") and len(n) == 8 for n in pces)
    assert any(p.numero_cad == "CAD0000999" for p in pces.values())
    assert {p.rdv_elec for p in pces.values()} == {0, 1, 2, 3}


def test_pce_file_errors_name_file_line_field_value(tmp_path: Path) -> None:
    """Every bad value is reported with the file, the line, the field and the value."""
    bad = tmp_path / "pce.csv"
    bad.write_text(
        "NumeroPCE;CodePostal;FrequenceReleve;Telereleve;NumeroCAD;RdvElec\n"
        "1234;75011;6M;0;CAD0000123;0\n"
        "11000000000001;7501;2M;oui;;9\n"
        "11000000000002;75011;6M;0;CAD0000123;\n"
        "11000000000002;75011;6M;0;CAD0000123;1\n",
        encoding="utf-8",
    )
    with pytest.raises(PceFileError) as caught:
        load_pce_file(bad)
    errors = caught.value.errors
    assert errors[0] == (
        f"Fichier des PCE {bad} : ligne 2 : champ NumeroPCE : valeur '1234' invalide "
        "(14 chiffres ou GI suivi de 6 chiffres attendus)"
    )
    line3 = [e for e in errors if ": ligne 3 :" in e]
    assert [e.split(" : ")[2] for e in line3] == [
        "champ CodePostal",
        "champ FrequenceReleve",
        "champ Telereleve",
        "champ NumeroCAD",
        "champ RdvElec",
    ]
    assert "ligne 5 : champ NumeroPCE : valeur '11000000000002' déjà présente" in errors[-1]
    assert isinstance(caught.value, ConfigError)


def test_pce_file_header_and_missing_file(tmp_path: Path) -> None:
    """A missing column, an unknown column or a missing file are clear French errors."""
    with pytest.raises(
        PceFileError, match="colonne\\(s\\) obligatoire\\(s\\) absente\\(s\\) : NumeroCAD"
    ):
        parse_pce_lines(["NumeroPCE;CodePostal;FrequenceReleve;Telereleve"], source="x.csv")
    with pytest.raises(PceFileError, match="colonne\\(s\\) inconnue\\(s\\) : 'Ville'"):
        parse_pce_lines(
            ["NumeroPCE;CodePostal;FrequenceReleve;Telereleve;NumeroCAD;Ville"], source="x.csv"
        )
    with pytest.raises(PceFileError, match="Fichier des PCE introuvable"):
        load_pce_file(tmp_path / "absent.csv")


def test_build_engine_reports_bad_configuration(
    sim_settings: SimulatorSettings, ref: Referential, tmp_path: Path
) -> None:
    """A bad PCE file or settings.today is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="introuvable"):
        build_engine(sim_settings, ref, pce_file=tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match="today"):
        build_engine(replace(sim_settings, today="05/05/2025"), ref, pce_file=FIXTURE)
    engine = build_engine(replace(sim_settings, today="2025-05-05"), ref, pce_file=FIXTURE)
    assert engine.today == TODAY


def test_pce_file_reponse_column_forces_the_rarer_annexe_a_answers(engine: Engine) -> None:
    """Reponse = dialogue-interrompu / message:CODE / relance: the demand is recorded at
    the requested date and CreerDemandeDIT gives that Annexe A answer."""
    day = free_slot(engine)[0].isoformat()
    interrupted = creer(engine, "24000000000001", "206", "", date=day, plage="")
    assert ko(interrupted) == [f"{codes.MSG_DIALOGUE_INTERROMPU} (INCIDENT_TECHNIQUE)"]
    assert "ReponseCreerDemandeObjet" not in interrupted
    message = creer(engine, "24000000000002", date=day, reference="REF-2")
    kind, code, texts = retour(message)
    assert (kind, code) == ("P", "Message")
    assert texts == [codes.MSG_POURSUIVRE_CODE + "RDV_A_CONFIRMER"]
    assert objet(message)["DateDemandee"] == day
    relance = creer(engine, "24000000000003", "206", "", date=day, plage="", reference="REF-3")
    assert retour(relance)[:2] == ("T", "DmdOk") and objet(relance)["NumeroDemande"]
    recorded = engine.demandes()
    assert [d["NumeroPCE"] for d in recorded] == [f"2400000000000{i}" for i in (1, 2, 3)]
    assert {d["Etat"] for d in recorded} == {"EN_COURS"}
    assert all(d["DateDemandee"] == day for d in recorded)


def test_pce_file_refuses_an_unknown_reponse(tmp_path: Path) -> None:
    """A misspelled Reponse or Departement is a PCE file error naming line and value."""
    bad = tmp_path / "pce.csv"
    bad.write_text(
        "NumeroPCE;CodePostal;FrequenceReleve;Telereleve;NumeroCAD;Departement;Reponse\n"
        "11000000000001;75011;6M;0;CAD0000123;2C;relanse\n",
        encoding="utf-8",
    )
    with pytest.raises(PceFileError) as caught:
        load_pce_file(bad)
    assert "ligne 2 : champ Departement : valeur '2C'" in str(caught.value)
    assert "champ Reponse : valeur 'relanse' inconnue" in str(caught.value)
