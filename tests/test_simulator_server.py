"""The OMEGA simulator over real HTTP: zeep against the served WSDL, raw requests, faults, TLS."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport

from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.contract import NAMESPACE, XSD
from pipeline.referential import Category, load_referential
from pipeline.simulator import (
    MAX_BODY_BYTES,
    FaultKind,
    FaultPlan,
    RunningSimulator,
    SimulatorError,
    TlsConfig,
    codes,
    start_simulator,
)
from pipeline.simulator.engine import Engine

SIM_TODAY = dt.date(2026, 12, 1)  # the fixtures' today (tests/conftest.py)
SimulatorFactory = Callable[..., RunningSimulator]

IDENT: dict[str, Any] = {
    "DNEntreprise": "FOURNISSEUR-DEMO",
    "NumeroCAD": "CAD0000123",
    "Utilisateur": {"Login": "batch.dit"},
    "NumeroVersion": "V9",
}
PCE_6M = "11000000000001"  # Paris, 75011, held by CAD0000123
PCE_JJ = "21000000000001"  # Saint-Denis, 93200
PCE_OTHER = "91000000000001"  # held by AUTRE-FOURNISSEUR
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


# ----------------------------------------------------------------- helpers
def session() -> requests.Session:
    """A session that ignores proxy/CA settings of the environment."""
    s = requests.Session()
    s.trust_env = False
    return s


def client(sim: RunningSimulator, service: str, http: requests.Session | None = None) -> Any:
    transport = Transport(  # type: ignore[no-untyped-call]
        session=http or session(), timeout=10, operation_timeout=10
    )
    return zeep.Client(  # type: ignore[no-untyped-call]
        f"{sim.base_url}/{service}?wsdl", transport=transport
    )


def demande(
    pce: str,
    code: str,
    day: dt.date,
    plage: str | None = None,
    motif: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "TypeDemande": "DIT",
        "NumeroPCE": pce,
        "DonneesTypeDemande": {"CodeLibelleIntervention": code, "CodeMotifIntervention": motif},
        "RdvDemande": {"Date": day.isoformat(), "Plage": plage},
    }
    data.update(extra)
    return data


def admin(sim: RunningSimulator) -> list[dict[str, Any]]:
    response = session().get(sim.admin_url, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    result: list[dict[str, Any]] = response.json()
    return result


def by_numero(sim: RunningSimulator) -> dict[str, dict[str, Any]]:
    return {d["NumeroDemande"]: d for d in admin(sim)}


def slot_where(
    sim: RunningSimulator, *, free: bool, after: dt.date = SIM_TODAY
) -> tuple[dt.date, str]:
    """The first (working day, slot) after ``after`` that is free (or fully pre-booked)."""
    agenda = engine(sim).agenda
    day = after
    for _ in range(60):
        day = agenda.working_days_after(day, 1)[0]
        for slot in load_referential().slots:
            if agenda.is_free(day, slot.code) == free:
                return day, slot.code
    raise AssertionError("no such slot in the agenda")


def engine(sim: RunningSimulator) -> Engine:
    """The real engine behind a simulator started by the fixtures."""
    return cast(Engine, sim.engine)


def envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}" '
        f'xmlns:o="{NAMESPACE}"><soap:Body>{body}</soap:Body></soap:Envelope>'
    ).encode()


VERIFIER_BODY = (
    "<o:RequeteWSVerifierRecevabiliteDIT><o:DNEntreprise>FOURNISSEUR-DEMO</o:DNEntreprise>"
    "<o:NumeroCAD>CAD0000123</o:NumeroCAD><o:Utilisateur><o:Login>batch.dit</o:Login>"
    "</o:Utilisateur><o:NumeroVersion>V9</o:NumeroVersion><o:NumeroPCE>{pce}</o:NumeroPCE>"
    "</o:RequeteWSVerifierRecevabiliteDIT>"
)


def post(sim: RunningSimulator, service: str, body: bytes, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {"Content-Type": "text/xml; charset=utf-8"})
    return session().post(
        f"{sim.base_url}/{service}", data=body, headers=headers, timeout=10, **kwargs
    )


def fault_of(response: requests.Response) -> tuple[str, str]:
    """(faultcode, faultstring) of a SOAP 1.1 fault answer."""
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


def assert_alive(sim: RunningSimulator) -> None:
    """The server still answers a normal call."""
    response = post(sim, "DIT", envelope(VERIFIER_BODY.format(pce=PCE_6M)))
    assert response.status_code == 200
    assert b"Demande recevable" in response.content


def resets(exc: BaseException) -> bool:
    """True when a requests/zeep error was caused by a TCP reset."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError):
            return True
        args = getattr(seen, "args", ())
        if any(isinstance(a, BaseException) and resets(a) for a in args):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@pytest.fixture(scope="module")
def dit(simulator: RunningSimulator) -> Any:
    return client(simulator, "DIT").service


@pytest.fixture(scope="module")
def rdv(simulator: RunningSimulator) -> Any:
    return client(simulator, "RDV").service


# ----------------------------------------------------------------- Annexe A, DIT service
@pytest.mark.parametrize(
    ("ident", "message"),
    [
        ({"Utilisateur": {}}, codes.MSG_LOGIN),
        ({"DNEntreprise": "INCONNU"}, codes.MSG_HABILITATION),
        ({"DNEntreprise": "FOURNISSEUR-SUSPENDU", "NumeroCAD": "CAD0000777"}, codes.MSG_ETAT_CAD),
    ],
)
def test_identification_refusals(dit: Any, ident: dict[str, Any], message: str) -> None:
    """A missing login, an unknown supplier or a suspended CAD are refused with A/DmdKo."""
    answer = dit.VerifierRecevabiliteDIT(**{**IDENT, **ident}, NumeroPCE=PCE_6M)
    assert answer.TypeRetourDialogue == "A"
    assert answer.Retour.CodeRetour == "DmdKo"
    assert answer.Retour.MessageRetour == [message]


@pytest.mark.parametrize(
    ("flag", "message"), [("closed", codes.MSG_FERME), ("maintenance", codes.MSG_MAINTENANCE)]
)
def test_closed_or_maintenance(
    simulator_factory: SimulatorFactory, flag: str, message: str
) -> None:
    """A closed or maintenance simulator answers every operation with its unavailability message."""
    sim = simulator_factory(**{flag: True})
    answer = client(sim, "DIT").service.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M)
    assert (answer.Retour.CodeRetour, answer.Retour.MessageRetour) == ("DmdKo", [message])
    answer = client(sim, "RDV").service.AbandonnerRdv(**IDENT, NumeroDemande="DIT1")
    assert answer.Retour.MessageRetour == [message]


def test_unknown_pce_records_a_state_22_demand(simulator: RunningSimulator, dit: Any) -> None:
    """An unknown PCE is refused and still leaves a demand in state 22, as the spec says."""
    before = len(admin(simulator))
    answer = dit.VerifierRecevabiliteDIT(**IDENT, NumeroPCE="99999999999999")
    assert answer.Retour.CodeRetour == "DmdKo"
    assert answer.Retour.MessageRetour[0].startswith(codes.MSG_PCE_INCONNU)
    demands = admin(simulator)
    assert len(demands) == before + 1
    assert demands[-1]["NumeroPCE"] == "99999999999999"
    assert demands[-1]["Etat"] == "22"


def test_pce_of_another_supplier_is_not_receivable(simulator: RunningSimulator, dit: Any) -> None:
    """A PCE held by another CAD is refused (state 23) with 'Demande non recevable'."""
    answer = dit.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_OTHER)
    assert answer.TypeRetourDialogue == "A"
    assert answer.Retour.MessageRetour[0].startswith(codes.MSG_NON_RECEVABLE)
    assert admin(simulator)[-1]["Etat"] == "23"


def test_postal_code_of_another_department(dit: Any) -> None:
    """A CodePostal outside the PCE's department gets Annexe A's department message."""
    answer = dit.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M, CodePostal="69003")
    assert answer.Retour.MessageRetour == [codes.MSG_DEPARTEMENT]


def test_receivable_pce_lists_its_category_couples(dit: Any) -> None:
    """A receivable 6M PCE gets P/Message with every couple of its table and PresenceClient."""
    answer = dit.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M, CodePostal="75011")
    assert answer.TypeRetourDialogue == "P"
    assert answer.Retour.CodeRetour == "Message"
    assert answer.Retour.MessageRetour == [codes.MSG_RECEVABLE]
    couples = {(i.Intervention, i.Motif or "") for i in answer.Retour.Interventions}
    assert couples == set(load_referential().couples(Category.SIX_M))
    presence = {
        (i.Intervention, i.Motif or ""): i.PresenceClient for i in answer.Retour.Interventions
    }
    assert presence[("S6", "")] == "PO"
    assert presence[("V8", "09")] == "PNO"
    assert presence[("Z8", "19")] == "PS"


def test_creer_with_incorrect_data(dit: Any) -> None:
    """A JJ/JM/MM code on a 6M PCE is refused with 'Donnée incorrecte : champ / cohérence'."""
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_6M, "206", SIM_TODAY, "M1"))
    assert (answer.TypeRetourDialogue, answer.Retour.CodeRetour) == ("A", "DmdKo")
    assert all(m.startswith(codes.MSG_DONNEE_INCORRECTE) for m in answer.Retour.MessageRetour)
    assert "CODE_INTERVENTION" in answer.Retour.MessageRetour[0]


def test_creer_jj_is_taken_at_the_requested_date(simulator: RunningSimulator, dit: Any) -> None:
    """A JJ demand ends at once with T/DmdOkDD and its DateDemandee; the demand is recorded."""
    day = SIM_TODAY + dt.timedelta(days=9)
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_JJ, "206", day))
    assert (answer.TypeRetourDialogue, answer.Retour.CodeRetour) == ("T", "DmdOkDD")
    objet = answer.ReponseCreerDemandeObjet
    assert objet.DateDemandee == day.isoformat()
    assert by_numero(simulator)[objet.NumeroDemande]["DateDemandee"] == day.isoformat()


# ----------------------------------------------------------------- Annexe A, appointments
def test_free_slot_then_accept(simulator: RunningSimulator, dit: Any, rdv: Any) -> None:
    """A free slot gets P/DatePlageH, AccepterRdv then books it: T/DmdOkDP with its hours."""
    day, plage = slot_where(simulator, free=True)
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_6M, "S6", day, plage))
    assert (answer.TypeRetourDialogue, answer.Retour.CodeRetour) == ("P", "DatePlageH")
    objet = answer.ReponseCreerDemandeObjet
    assert (objet.DateProgrammee.Date, objet.DateProgrammee.PlageHoraire) == (
        day.isoformat(),
        plage,
    )
    assert objet.PresenceClient == "PO"
    numero = objet.NumeroDemande
    done = rdv.AccepterRdv(**IDENT, NumeroDemande=numero, Date=day.isoformat(), Plage=plage)
    assert (done.TypeRetourDialogue, done.Retour.CodeRetour) == ("T", "DmdOkDP")
    assert done.Retour.MessageRetour == [codes.MSG_RDV_PROGRAMME]
    slot = load_referential().slot(plage)
    assert slot is not None
    programmee = done.ReponseCreerDemandeObjet.DateProgrammee
    assert (programmee.HeureMin, programmee.HeureMax) == (slot.heure_min, slot.heure_max)
    recorded = by_numero(simulator)[numero]
    assert (recorded["Etat"], recorded["DateProgrammee"], recorded["PlageHoraire"]) == (
        "RDV_PROG",
        day.isoformat(),
        plage,
    )


def test_full_slot_lists_others_then_prec_suiv_and_abandon_rdv(
    simulator: RunningSimulator, dit: Any, rdv: Any
) -> None:
    """A full slot gets ListeDP, DemanderPrecSuiv moves the window, AbandonnerRdv gives DmdOkDD."""
    day, plage = slot_where(simulator, free=False)
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_6M, "S6", day, plage))
    assert (answer.TypeRetourDialogue, answer.Retour.CodeRetour) == ("P", "ListeDP")
    assert answer.Retour.MessageRetour == [codes.MSG_LISTE_DP]
    objet = answer.ReponseCreerDemandeObjet
    listed = [(p.Date, p.Plage) for p in objet.ListeDatePlage]
    assert 1 <= len(listed) <= 24
    assert all(d > day.isoformat() for d, _ in listed)
    numero = objet.NumeroDemande
    following = rdv.DemanderPrecSuiv(**IDENT, NumeroDemande=numero, Sens="SUIV")
    assert following.Retour.CodeRetour == "ListeDP"
    later = [p.Date for p in following.ReponseCreerDemandeObjet.ListeDatePlage]
    assert min(later) > max(d for d, _ in listed)
    previous = rdv.DemanderPrecSuiv(**IDENT, NumeroDemande=numero, Sens="PREC")
    assert previous.Retour.CodeRetour == "ListeDP"
    earlier = [p.Date for p in previous.ReponseCreerDemandeObjet.ListeDatePlage]
    assert max(earlier) < min(later)
    ended = rdv.AbandonnerRdv(**IDENT, NumeroDemande=numero)
    assert (ended.TypeRetourDialogue, ended.Retour.CodeRetour) == ("T", "DmdOkDD")
    assert ended.ReponseCreerDemandeObjet.DateDemandee == day.isoformat()
    assert by_numero(simulator)[numero]["Etat"] == "EN_COURS"


def test_accept_a_listed_slot(simulator: RunningSimulator, dit: Any, rdv: Any) -> None:
    """Accepting a slot of the ListeDP programs it (T/DmdOkDP)."""
    day, plage = slot_where(simulator, free=False, after=SIM_TODAY + dt.timedelta(days=20))
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_6M, "S6", day, plage))
    first = answer.ReponseCreerDemandeObjet.ListeDatePlage[0]
    done = rdv.AccepterRdv(
        **IDENT,
        NumeroDemande=answer.ReponseCreerDemandeObjet.NumeroDemande,
        Date=first.Date,
        Plage=first.Plage,
    )
    assert done.Retour.CodeRetour == "DmdOkDP"
    assert done.ReponseCreerDemandeObjet.DateProgrammee.Date == first.Date


def test_proposer_date_plage(simulator: RunningSimulator, dit: Any, rdv: Any) -> None:
    """ProposerDatePlage on a free slot answers P/DatePlageH for that slot."""
    full_day, full_plage = slot_where(
        simulator, free=False, after=SIM_TODAY + dt.timedelta(days=30)
    )
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_6M, "S6", full_day, full_plage))
    numero = answer.ReponseCreerDemandeObjet.NumeroDemande
    day, plage = slot_where(simulator, free=True, after=SIM_TODAY + dt.timedelta(days=40))
    proposed = rdv.ProposerDatePlage(
        **IDENT, NumeroDemande=numero, Date=day.isoformat(), Plage=plage
    )
    assert (proposed.TypeRetourDialogue, proposed.Retour.CodeRetour) == ("P", "DatePlageH")
    assert proposed.ReponseCreerDemandeObjet.DateProgrammee.Date == day.isoformat()


def test_abandon_demande_then_out_of_sequence(
    simulator: RunningSimulator, dit: Any, rdv: Any
) -> None:
    """After AbandonnerDemande, dialogue calls on it (or on an unknown number) are refused."""
    day, plage = slot_where(simulator, free=True, after=SIM_TODAY + dt.timedelta(days=50))
    answer = dit.CreerDemandeDIT(**IDENT, Demande=demande(PCE_6M, "S6", day, plage))
    numero = answer.ReponseCreerDemandeObjet.NumeroDemande
    ended = rdv.AbandonnerDemande(**IDENT, NumeroDemande=numero)
    assert (ended.TypeRetourDialogue, ended.Retour.CodeRetour) == ("A", "DmdKo")
    assert ended.Retour.MessageRetour == [codes.MSG_ABANDONNEE]
    assert by_numero(simulator)[numero]["Etat"] == "ABANDON"
    late = rdv.AccepterRdv(**IDENT, NumeroDemande=numero, Date=day.isoformat(), Plage=plage)
    assert late.Retour.CodeRetour == "DmdKo"
    assert late.Retour.MessageRetour[0].startswith(codes.MSG_DIALOGUE_INTERROMPU)
    assert codes.ERREUR_ETAT_DEMANDE in late.Retour.MessageRetour[0]
    unknown = rdv.DemanderPrecSuiv(**IDENT, NumeroDemande="DIT00000000", Sens="SUIV")
    assert codes.ERREUR_DEMANDE_INCONNUE in unknown.Retour.MessageRetour[0]


def test_raw_answers_validate_against_the_xsd(simulator: RunningSimulator) -> None:
    """The bytes the server sends are a SOAP 1.1 envelope whose payload the XSD accepts."""
    response = post(simulator, "DIT", envelope(VERIFIER_BODY.format(pce=PCE_6M)))
    assert response.headers["Content-Type"].startswith("text/xml")
    root = etree.fromstring(response.content)
    payload = root.find(f"{{{SOAP_ENV}}}Body")[0]  # type: ignore[index]
    assert etree.QName(payload).localname == "ReponseWSVerifierRecevabiliteDIT"
    assert etree.XMLSchema(etree.parse(str(XSD))).validate(payload)


def test_soapaction_is_accepted_but_the_body_decides(simulator: RunningSimulator) -> None:
    """A SOAPAction naming another operation does not change which operation is answered."""
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": '"urn:dit-batch:omega:v9#CreerDemandeDIT"',
    }
    response = post(simulator, "DIT", envelope(VERIFIER_BODY.format(pce=PCE_6M)), headers=headers)
    assert response.status_code == 200
    assert b"ReponseWSVerifierRecevabiliteDIT" in response.content


# ----------------------------------------------------------------- WSDL and routes
@pytest.mark.parametrize("service", ["DIT", "RDV"])
def test_wsdl_points_at_the_running_server(simulator: RunningSimulator, service: str) -> None:
    """The served WSDL names this server's endpoint and XSD, and the XSD is served there."""
    response = session().get(f"{simulator.base_url}/{service}?wsdl", timeout=10)
    assert response.status_code == 200
    tree = etree.fromstring(response.content)
    ns = {"soap": "http://schemas.xmlsoap.org/wsdl/soap/", "xs": "http://www.w3.org/2001/XMLSchema"}
    assert tree.xpath("//soap:address/@location", namespaces=ns) == [
        f"{simulator.base_url}/{service}"
    ]
    (location,) = cast(list[str], tree.xpath("//xs:import/@schemaLocation", namespaces=ns))
    assert location == f"{simulator.base_url}/omega.xsd"
    xsd = session().get(str(location), timeout=10)
    assert xsd.status_code == 200
    assert xsd.content == XSD.read_bytes()


def test_zeep_command_line_lists_the_operations(simulator: RunningSimulator) -> None:
    """`python -m zeep <url>?wsdl` reads the served WSDL and lists every operation."""
    outputs = {}
    for service in ("DIT", "RDV"):
        done = subprocess.run(
            [sys.executable, "-m", "zeep", f"{simulator.base_url}/{service}?wsdl"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NO_PROXY": "127.0.0.1"},
        )
        assert done.returncode == 0, done.stderr
        outputs[service] = done.stdout
    for operation in ("VerifierRecevabiliteDIT(", "CreerDemandeDIT("):
        assert operation in outputs["DIT"]
    for operation in (
        "ProposerDatePlage(",
        "AccepterRdv(",
        "DemanderPrecSuiv(",
        "AbandonnerRdv(",
        "AbandonnerDemande(",
    ):
        assert operation in outputs["RDV"]
    assert "Service: RDVService" in outputs["RDV"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nulle-part", 404),
        ("GET", "/omega/AUTRE", 404),
        ("GET", "/omega/DIT", 405),
        ("PUT", "/omega/DIT", 405),
        ("POST", "/admin/demandes", 405),
        ("DELETE", "/admin/demandes", 405),
    ],
)
def test_routes(simulator: RunningSimulator, method: str, path: str, status: int) -> None:
    """Unknown paths get 404; wrong methods 405 (the admin endpoint is read-only)."""
    response = session().request(method, f"{simulator.root_url}{path}", timeout=10)
    assert response.status_code == status
    assert_alive(simulator)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<soap:Envelope", "XML mal formé"),
        (b"", "Requête vide"),
        (b"<commande>bonjour</commande>", "pas une enveloppe SOAP"),
        (envelope(""), "un seul élément"),
        (envelope("<o:Inconnue/>"), "Opération inconnue pour le service DIT : Inconnue"),
        (
            envelope(VERIFIER_BODY.format(pce="123456789012345")),
            "NumeroPCE (RequeteWSVerifierRecevabiliteDIT/NumeroPCE) : longueur 15 supérieure",
        ),
        (
            envelope("<o:RequeteWSVerifierRecevabiliteDIT/>"),
            "RequeteWSVerifierRecevabiliteDIT : élément(s) obligatoire(s) manquant(s) : "
            "DNEntreprise",
        ),
        (
            envelope(VERIFIER_BODY.format(pce="1").replace("V9", "9")),
            "NumeroVersion (RequeteWSVerifierRecevabiliteDIT/NumeroVersion) : valeur '9' au format",
        ),
    ],
)
def test_bad_requests_get_a_client_fault(
    simulator: RunningSimulator, body: bytes, expected: str
) -> None:
    """Malformed, non-SOAP, unknown or XSD-invalid requests get a soap:Client fault saying why."""
    code, message = fault_of(post(simulator, "DIT", body))
    assert code == "soap:Client"
    assert expected in message
    assert_alive(simulator)


def test_operation_of_the_other_service_is_refused(simulator: RunningSimulator) -> None:
    """A DIT operation posted to the RDV endpoint is refused, naming the operations expected."""
    code, message = fault_of(post(simulator, "RDV", envelope(VERIFIER_BODY.format(pce=PCE_6M))))
    assert code == "soap:Client"
    assert "RequeteWSVerifierRecevabiliteDIT" in message
    assert "RequeteWSAccepterRdv" in message


def test_soap_12_envelope_is_a_version_mismatch(simulator: RunningSimulator) -> None:
    """A SOAP 1.2 envelope gets a soap:VersionMismatch fault."""
    body = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>'
    code, message = fault_of(post(simulator, "DIT", body))
    assert code == "soap:VersionMismatch"
    assert "SOAP 1.1" in message


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">',
    ],
)
def test_doctype_and_entities_are_refused(simulator: RunningSimulator, doctype: str) -> None:
    """Any DOCTYPE (entity expansion, external entity or DTD) is refused without being resolved."""
    body = envelope(VERIFIER_BODY.format(pce="&b;&x;"))
    body = body.replace(b"?>", b"?>" + doctype.encode(), 1)
    code, message = fault_of(post(simulator, "DIT", body))
    assert code == "soap:Client"
    assert "DOCTYPE" in message
    assert "root:" not in message
    assert_alive(simulator)


def test_body_over_one_mebibyte_is_413(simulator: RunningSimulator) -> None:
    """A declared body over 1 MiB gets 413, whole or chunked, and the server stays up."""
    big = b" " * (MAX_BODY_BYTES + 1)
    assert post(simulator, "DIT", big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * (MAX_BODY_BYTES // 10)

    assert post(simulator, "DIT", chunks()).status_code == 413  # type: ignore[arg-type]
    with socket.create_connection((simulator.host, simulator.port), timeout=10) as raw:
        raw.sendall(
            b"POST /omega/DIT HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        assert raw.recv(100).startswith(b"HTTP/1.1 413")
    assert_alive(simulator)


def test_bad_content_length_and_type(simulator: RunningSimulator) -> None:
    """An unreadable Content-Length gets 400 and a non-XML content type 415."""
    with socket.create_connection((simulator.host, simulator.port), timeout=10) as raw:
        raw.sendall(b"POST /omega/DIT HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        assert raw.recv(100).split(b"\r\n")[0] in (b"HTTP/1.1 400 Bad Request",)
    response = post(simulator, "DIT", b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert_alive(simulator)


# ----------------------------------------------------------------- concurrency
def test_concurrent_dialogues_never_overbook(simulator_factory: SimulatorFactory) -> None:
    """20 clients creating demands and booking at once: no slot over capacity, no demand lost."""
    sim = simulator_factory()
    pces = [p for p in engine(sim).pces if p.startswith(("11", "12", "13"))][:20]
    assert len(pces) == 20
    day, plage = slot_where(sim, free=True, after=SIM_TODAY + dt.timedelta(days=3))
    barrier = threading.Barrier(len(pces))
    results: dict[str, tuple[str, str, str]] = {}
    errors: list[BaseException] = []

    def dialogue(pce: str) -> None:
        try:
            dit_client, rdv_client = client(sim, "DIT").service, client(sim, "RDV").service
            barrier.wait(timeout=30)
            answer = dit_client.CreerDemandeDIT(**IDENT, Demande=demande(pce, "S6", day, plage))
            numero = answer.ReponseCreerDemandeObjet.NumeroDemande
            objet = answer.ReponseCreerDemandeObjet
            for _ in range(30):
                if objet.DateProgrammee is not None:
                    choice = (objet.DateProgrammee.Date, objet.DateProgrammee.PlageHoraire)
                else:
                    choice = (objet.ListeDatePlage[0].Date, objet.ListeDatePlage[0].Plage)
                answer = rdv_client.AccepterRdv(
                    **IDENT, NumeroDemande=numero, Date=choice[0], Plage=choice[1]
                )
                if answer.Retour.CodeRetour == "DmdOkDP":
                    results[pce] = (numero, *choice)
                    return
                assert answer.Retour.CodeRetour == "ListeDP"
                objet = answer.ReponseCreerDemandeObjet
            raise AssertionError(f"{pce}: no slot after 30 tries")
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=dialogue, args=(p,)) for p in pces]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 20
    demands = by_numero(sim)
    assert len(demands) == 20
    agenda = engine(sim).agenda
    per_slot = Counter((d["DateProgrammee"], d["PlageHoraire"]) for d in demands.values())
    for numero, date_text, code in results.values():
        assert demands[numero]["Etat"] == "RDV_PROG"
        assert (demands[numero]["DateProgrammee"], demands[numero]["PlageHoraire"]) == (
            date_text,
            code,
        )
    for (date_text, code), count in per_slot.items():
        booked_day = dt.date.fromisoformat(date_text)
        assert count + agenda.prebooked(booked_day, code) <= agenda.capacity
    assert per_slot[(day.isoformat(), plage)] == agenda.capacity - agenda.prebooked(day, plage)


# ----------------------------------------------------------------- fault injection
def creer_jj(service: Any) -> Any:
    """A CreerDemandeDIT that always creates a demand (JJ PCE, DmdOkDD)."""
    day = SIM_TODAY + dt.timedelta(days=12)
    return service.CreerDemandeDIT(**IDENT, Demande=demande(PCE_JJ, "206", day))


def test_fault_http_503_before_the_engine(simulator_factory: SimulatorFactory) -> None:
    """An injected 503 has no SOAP body and creates no demand; the next call is served."""
    sim = simulator_factory()
    sim.faults.force("CreerDemandeDIT", FaultKind.HTTP_503, None)
    service = client(sim, "DIT").service
    with pytest.raises(zeep.exceptions.TransportError) as raised:
        creer_jj(service)
    assert raised.value.status_code == 503
    assert not raised.value.content
    assert admin(sim) == []
    assert creer_jj(service).Retour.CodeRetour == "DmdOkDD"
    assert len(admin(sim)) == 1


@pytest.mark.parametrize(("kind", "created"), [("reset-before", 0), ("reset-after", 1)])
def test_fault_connection_reset(
    simulator_factory: SimulatorFactory, kind: str, created: int
) -> None:
    """A reset is a real TCP RST; after the engine the demand exists though its answer is lost."""
    sim = simulator_factory()
    sim.faults.force("CreerDemandeDIT", FaultKind(kind))
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        creer_jj(client(sim, "DIT").service)
    assert resets(raised.value)
    assert len(admin(sim)) == created == int(FaultKind(kind).reaches_engine)
    assert sim.faults.history == [("CreerDemandeDIT", FaultKind(kind))]
    assert_alive(sim)


def test_fault_slow_answer_outlives_the_client_timeout(
    simulator_factory: SimulatorFactory,
) -> None:
    """A slow answer makes the client time out while the demand was already created."""
    sim = simulator_factory(slow_ms=3000)
    sim.faults.force("*", FaultKind.SLOW)
    transport = Transport(  # type: ignore[no-untyped-call]
        session=session(), timeout=10, operation_timeout=0.3
    )
    service = zeep.Client(  # type: ignore[no-untyped-call]
        f"{sim.dit_url}?wsdl", transport=transport
    ).service
    with pytest.raises(requests.exceptions.Timeout):
        creer_jj(service)
    assert [d["Etat"] for d in admin(sim)] == ["EN_COURS"]


def test_fault_server_fault_after_processing(simulator_factory: SimulatorFactory) -> None:
    """An injected soap:Server fault replaces the answer of a processed request."""
    sim = simulator_factory()
    sim.faults.force("CreerDemandeDIT", FaultKind.SERVER_FAULT)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        creer_jj(client(sim, "DIT").service)
    assert raised.value.code.endswith("Server")
    assert "panne injectée" in raised.value.message
    assert len(admin(sim)) == 1


def test_fault_latency_and_fixed_latency_use_the_injected_sleep(
    simulator_factory: SimulatorFactory,
) -> None:
    """The latency fault sleeps --fault-latency-ms and --latency-ms is added to every answer."""
    slept: list[float] = []
    sim = simulator_factory(latency_ms=40, fault_latency_ms=1500, sleep=slept.append)
    sim.faults.force("VerifierRecevabiliteDIT", FaultKind.LATENCY)
    service = client(sim, "DIT").service
    assert service.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M).Retour.CodeRetour == "Message"
    assert slept == [1.5, 0.04]
    service.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M)
    assert slept == [1.5, 0.04, 0.04]


def test_random_faults_follow_the_rate_and_kinds(simulator_factory: SimulatorFactory) -> None:
    """With rate 1 and one kind, every valid call fails that way; invalid calls never draw."""
    sim = simulator_factory(fault_rate=1.0, fault_kinds=[FaultKind.HTTP_503])
    for _ in range(3):
        assert post(sim, "DIT", envelope(VERIFIER_BODY.format(pce=PCE_6M))).status_code == 503
    assert fault_of(post(sim, "DIT", b"<x/>"))[0] == "soap:Client"
    assert len(sim.faults.history) == 3


def test_seeded_fault_draws_are_reproducible() -> None:
    """Same seed, same draws; forced faults come first, per operation, then '*'."""
    draws = []
    for _ in range(2):
        plan = FaultPlan(0.5, seed=7)
        draws.append([plan.next_fault("AccepterRdv") for _ in range(50)])
    assert draws[0] == draws[1]
    assert 5 < sum(kind is not None for kind in draws[0]) < 45
    assert {kind for kind in draws[0] if kind} <= set(FaultKind)
    plan = FaultPlan(0.0, seed=7)
    plan.force("AccepterRdv", FaultKind.SLOW, None, FaultKind.HTTP_503)
    plan.force("*", FaultKind.RESET_BEFORE)
    assert plan.next_fault("CreerDemandeDIT") is FaultKind.RESET_BEFORE
    assert [plan.next_fault("AccepterRdv") for _ in range(4)] == [
        FaultKind.SLOW,
        None,
        FaultKind.HTTP_503,
        None,
    ]


def test_fault_settings_are_checked(simulator_factory: SimulatorFactory) -> None:
    """A rate outside [0, 1] or a negative latency is refused with a French message."""
    with pytest.raises(SimulatorError, match="taux de pannes"):
        simulator_factory(fault_rate=1.5)
    with pytest.raises(SimulatorError, match="latence"):
        simulator_factory(latency_ms=-1)


# ----------------------------------------------------------------- TLS with client certificates
def _write_pair(folder: Path, name: str, key: Any, cert: Any) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization

    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _issue(
    folder: Path, name: str, common_name: str, issuer: tuple[Any, Any] | None, *, server: bool
) -> tuple[Any, Any]:
    """A throwaway EC key and certificate (a CA when ``issuer`` is None), written as PEM."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dit-batch tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    issuer_key, issuer_cert = issuer if issuer else (key, None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(usage, critical=True)
    elif server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    _write_pair(folder, name, key, cert)
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, server certificate and client certificates (never committed)."""
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue(folder, "ca", "AC de test", None, server=False)
    _issue(folder, "server", "127.0.0.1", ca, server=True)
    _issue(folder, "demo", "FOURNISSEUR-DEMO", ca, server=False)
    _issue(folder, "autre", "AUTRE-FOURNISSEUR", ca, server=False)
    rogue = _issue(folder, "rogue-ca", "AC inconnue", None, server=False)
    _issue(folder, "rogue", "FOURNISSEUR-DEMO", rogue, server=False)
    return folder


@pytest.fixture(scope="module")
def tls_simulator(pki: Path) -> Iterator[RunningSimulator]:
    """A simulator over HTTPS requiring client certificates from the test CA."""
    tls = TlsConfig(pki / "server.pem", pki / "server.key", pki / "ca.pem")
    settings = load_settings(DEFAULT_CONFIG, environ={})
    with start_simulator(
        settings, today=SIM_TODAY, seed=42, validate_responses=True, tls=tls
    ) as running:
        yield running


def tls_session(pki: Path, name: str | None) -> requests.Session:
    s = session()
    s.verify = str(pki / "ca.pem")
    if name:
        s.cert = (str(pki / f"{name}.pem"), str(pki / f"{name}.key"))
    return s


def test_tls_requires_a_client_certificate(tls_simulator: RunningSimulator, pki: Path) -> None:
    """Without a client certificate, or with one from another CA, the TLS handshake fails."""
    assert tls_simulator.base_url.startswith("https://127.0.0.1:")
    for name in (None, "rogue"):
        with pytest.raises(requests.exceptions.ConnectionError):
            tls_session(pki, name).get(tls_simulator.admin_url, timeout=10)
    assert tls_session(pki, "demo").get(tls_simulator.admin_url, timeout=10).status_code == 200


def test_tls_certificate_subject_must_match_dn_entreprise(
    tls_simulator: RunningSimulator, pki: Path
) -> None:
    """The client certificate's CN must equal DNEntreprise, else 'Habilitation incorrecte'."""
    good = client(tls_simulator, "DIT", tls_session(pki, "demo")).service
    answer = good.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M)
    assert answer.Retour.CodeRetour == "Message"
    wsdl = tls_session(pki, "demo").get(f"{tls_simulator.dit_url}?wsdl", timeout=10)
    assert f'location="{tls_simulator.dit_url}"'.encode() in wsdl.content
    other = client(tls_simulator, "DIT", tls_session(pki, "autre")).service
    refused = other.VerifierRecevabiliteDIT(**IDENT, NumeroPCE=PCE_6M)
    assert (refused.Retour.CodeRetour, refused.Retour.MessageRetour) == (
        "DmdKo",
        [codes.MSG_HABILITATION],
    )


def test_tls_connection_reset(tls_simulator: RunningSimulator, pki: Path) -> None:
    """An injected reset also reaches an HTTPS client as a TCP reset, after processing."""
    before = len(tls_session(pki, "demo").get(tls_simulator.admin_url, timeout=10).json())
    tls_simulator.faults.force("CreerDemandeDIT", FaultKind.RESET_AFTER)
    service = client(tls_simulator, "DIT", tls_session(pki, "demo")).service
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        creer_jj(service)
    assert resets(raised.value)
    after = tls_session(pki, "demo").get(tls_simulator.admin_url, timeout=10).json()
    assert len(after) == before + 1


def test_tls_files_are_checked(simulator_factory: SimulatorFactory, pki: Path) -> None:
    """A missing or unusable TLS file stops the start with a French message."""
    with pytest.raises(SimulatorError, match="fichier introuvable"):
        simulator_factory(tls=TlsConfig(pki / "absent.pem", pki / "server.key", pki / "ca.pem"))
    with pytest.raises(SimulatorError, match="certificats inutilisables"):
        simulator_factory(tls=TlsConfig(pki / "server.pem", pki / "demo.key", pki / "ca.pem"))


# ----------------------------------------------------------------- command line
def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.simulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "option --port : port invalide 'abc'"),
        (["--port", "70000"], "hors de 0..65535"),
        (["--today", "2026-13-01"], "date invalide '2026-13-01'"),
        (["--fault-rate", "2"], "taux 2.0 hors de [0, 1]"),
        (["--faults", "panne"], "type de panne inconnu 'panne'"),
        (["--pce-file", "absent.csv"], "fichier introuvable : absent.csv"),
        (["--tls-cert", "pyproject.toml"], "--tls-cert, --tls-key et --client-ca vont ensemble"),
        (["--inconnu"], "argument(s) inconnu(s) : --inconnu"),
        (["--pce-file", "pyproject.toml", "--port", "0"], "Le simulateur ne peut pas démarrer"),
    ],
)
def test_cli_bad_arguments(args: list[str], message: str) -> None:
    """Bad command-line arguments give a French message, exit code 2 and no traceback."""
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_bad_settings_file(tmp_path: Path) -> None:
    """An unreadable settings file is reported by the settings loader, without a traceback."""
    broken = tmp_path / "settings.toml"
    broken.write_text("[omega\n", encoding="utf-8")
    done = run_cli("--config", str(broken), "--port", "0")
    assert done.returncode == 2
    assert "Fichier de configuration invalide" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_port_in_use(simulator: RunningSimulator) -> None:
    """A port already taken is reported in French, without a traceback."""
    done = run_cli("--port", str(simulator.port))
    assert done.returncode == 2
    assert "Impossible d'écouter" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_serves_until_interrupted() -> None:
    """The command prints its URLs, logs each call, serves, and stops cleanly on Ctrl-C."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.simulator", "--port", "0", "--today", "2026-12-01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Simulateur OMEGA démarré : http://127.0.0.1:")
        base = first.split(" : ", 1)[1].strip()
        for _ in range(4):
            process.stdout.readline()
        response = session().post(
            f"{base}/DIT",
            data=envelope(VERIFIER_BODY.format(pce=PCE_6M)),
            headers={"Content-Type": "text/xml"},
            timeout=10,
        )
        assert response.status_code == 200
        assert process.stdout.readline().strip() == "DIT/VerifierRecevabiliteDIT 200 Message"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "Simulateur arrêté." in out
    assert "Traceback" not in err
