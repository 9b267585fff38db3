"""OmegaClient against the real simulator over HTTP(S): mapping, classification, retries,
mutual TLS and redacted SOAP logging. Sleep and jitter are injected; no timed assertions."""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from zeep import exceptions as zeep_exceptions

from pipeline.config import ConfigError, OmegaSettings, SimulatorSettings, Supplier
from pipeline.execute.client import (
    Answer,
    BusinessFault,
    CallOutcome,
    CallRecord,
    OmegaClient,
    ServiceUnavailable,
    TransientError,
    UnknownOutcome,
    load_wsdl_documents,
)
from pipeline.execute.errors import RunLevelFault, classify
from pipeline.execute.soaplog import redact_xml
from pipeline.records import CANONICAL_FIELDS
from pipeline.simulator import CallRecord as SimCall
from pipeline.simulator import FaultKind, RunningSimulator, TlsConfig, start_simulator
from pipeline.simulator.engine import build_engine

DN = "FOURNISSEUR-DEMO"
CAD = "CAD0000123"
TODAY = "2025-03-03"  # a Monday
PCE_6M = "12345678901234"  # 6M, two electricity appointments in the premises
PCE_JJ = "22345678901234"  # JJ, telemetered
PCE_FILE = f"""NumeroPCE;CodePostal;FrequenceReleve;Telereleve;NumeroCAD;RdvElec
{PCE_6M};75011;6M;0;{CAD};2
{PCE_JJ};69001;JJ;1;{CAD};0
"""
# zeep's exception classes are untyped: built through Any.
Fault: Any = zeep_exceptions.Fault
TransportError: Any = zeep_exceptions.TransportError
ValidationError: Any = zeep_exceptions.ValidationError
SIM_SETTINGS = SimulatorSettings(suppliers=(Supplier(DN, CAD),))

EVERY_FIELD: dict[str, str] = {
    "NumeroPCE": PCE_6M,
    "CodePostal": "75011",
    "ReferenceDemande": "REF-2025-0001",
    "TelephoneFournisseur": "0102030405",
    "GroupeAppartenance": "Groupe Nord",
    "CommentaireFournisseur": "Commentaire interne fournisseur",
    "Commentaire": "Sonner deux fois",
    "CodeLibelleIntervention": "Z8",
    "CodeMotifIntervention": "01",
    "OptionExpress": "1",
    "TypeIndexConteste": "02",
    "ValeurIndexReleve": "12345",
    "DateIndexConteste": "2025-02-01",
    "ValeurIndexClient": "12400",
    "DateIndexClient": "2025-02-15",
    "PrecisionIntervention": "Compteur inaccessible",
    "DateRdv": "2025-03-10",
    "PlageRdv": "M1",
    "NomContact": "Jeanne Martin",
    "TelephoneContact": "0611223344",
    "CodeAcces": "B1234",
    "ComplementAdresse": "Bâtiment C, 3e étage",
}
assert set(EVERY_FIELD) == set(CANONICAL_FIELDS)


class RecordingEngine:
    """The simulator's real engine, keeping a copy of every request dict it is handed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []

    @property
    def closed(self) -> bool:
        return bool(self.inner.closed)

    @closed.setter
    def closed(self, value: bool) -> None:
        self.inner.closed = value

    @property
    def maintenance(self) -> bool:
        return bool(self.inner.maintenance)

    @maintenance.setter
    def maintenance(self, value: bool) -> None:
        self.inner.maintenance = value

    def handle(
        self, operation: str, request: Mapping[str, Any], *, peer_dn: str | None = None
    ) -> dict[str, Any]:
        self.requests.append((operation, copy.deepcopy(dict(request)), peer_dn))
        answer: dict[str, Any] = self.inner.handle(operation, request, peer_dn=peer_dn)
        return answer

    def demandes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.inner.demandes()
        return result


@dataclass
class Harness:
    """A running simulator plus what the client and the server saw."""

    sim: RunningSimulator
    engine: RecordingEngine
    server_calls: list[SimCall]
    sleeps: list[float] = field(default_factory=list)
    records: list[CallRecord] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    clients: list[OmegaClient] = field(default_factory=list)

    def client(self, **overrides: Any) -> OmegaClient:
        timeout_s = overrides.pop("timeout_s", 5.0)
        base_url = overrides.pop("base_url", self.sim.base_url)
        omega = overrides.pop(
            "omega",
            OmegaSettings(
                url=self.sim.base_url,
                dn_entreprise=DN,
                numero_cad=CAD,
                login="batch.dit",
                timeout_s=timeout_s,
            ),
        )
        kwargs: dict[str, Any] = {
            "max_attempts": 3,
            "max_retry_delay_s": 60.0,
            "sleep": self.sleeps.append,
            "rng": random.Random(7),
            "before_call": self.before.append,
            "on_call": self.records.append,
        }
        kwargs.update(overrides)
        client = OmegaClient(omega, base_url, **kwargs)
        self.clients.append(client)
        return client

    def posts(self, operation: str) -> int:
        return sum(1 for c in self.server_calls if c.operation == operation)

    def handled(self, operation: str) -> int:
        return sum(1 for op, _, _ in self.engine.requests if op == operation)

    def demandes(self) -> list[dict[str, Any]]:
        response = requests.get(self.sim.admin_url, timeout=5, verify=False)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result


@pytest.fixture(scope="module")
def pce_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pce") / "pce.csv"
    path.write_text(PCE_FILE, encoding="utf-8")
    return path


@pytest.fixture
def harness_factory(pce_file: Path) -> Iterator[Callable[..., Harness]]:
    started: list[Harness] = []

    def start(**kwargs: Any) -> Harness:
        engine = RecordingEngine(
            build_engine(
                SIM_SETTINGS,
                _referential(),
                pce_file=pce_file,
                today=dt.date.fromisoformat(TODAY),
                closed=kwargs.pop("closed", False),
                maintenance=kwargs.pop("maintenance", False),
            )
        )
        calls: list[SimCall] = []
        sim = start_simulator(
            SIM_SETTINGS,
            engine=engine,
            on_call=calls.append,
            numthreads=4,
            validate_responses=True,
            **kwargs,
        )
        harness = Harness(sim, engine, calls)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        for client in harness.clients:
            client.close()
        harness.sim.stop()


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    return harness_factory()


def _referential() -> Any:
    from pipeline.referential import load_referential

    return load_referential()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# ----- mapping, both ways ---------------------------------------------------------------


def test_verifier_recevabilite_maps_request_and_couples(harness: Harness) -> None:
    """VerifierRecevabiliteDIT sends identification, PCE and postal code, and maps the couples."""
    answer = harness.client().verifier_recevabilite(PCE_6M, "75011")
    assert (answer.operation, answer.type_retour, answer.code_retour) == (
        "VerifierRecevabiliteDIT",
        "P",
        "Message",
    )
    assert answer.messages == ("Demande recevable",)
    by_pair = {(c.code, c.motif): c.presence_client for c in answer.couples}
    assert by_pair[("Z8", "19")] == "PS"
    assert by_pair[("G1", "")] == "PS"
    assert answer.attempts == 1
    op, request, _ = harness.engine.requests[-1]
    assert op == "VerifierRecevabiliteDIT"
    assert request == {
        "DNEntreprise": DN,
        "NumeroCAD": CAD,
        "Utilisateur": {"Login": "batch.dit"},
        "NumeroVersion": "V9",
        "NumeroPCE": PCE_6M,
        "CodePostal": "75011",
    }


def test_business_refusal_is_returned_not_raised(harness: Harness) -> None:
    """An A/DmdKo answer (unknown PCE, wrong department) comes back as an Answer."""
    client = harness.client()
    unknown = client.verifier_recevabilite("99999999999999")
    assert (unknown.type_retour, unknown.code_retour) == ("A", "DmdKo")
    assert unknown.messages[0].startswith("Numéro de PCE incorrect ou inconnu")
    wrong_department = client.verifier_recevabilite(PCE_6M, "13001")
    assert wrong_department.code_retour == "DmdKo"
    assert "département" in wrong_department.messages[0]
    assert harness.sleeps == []


def test_creer_demande_sends_every_field_where_the_contract_puts_it(harness: Harness) -> None:
    """A CreerDemandeDIT with every canonical field set arrives with each value in its element."""
    answer = harness.client().creer_demande(EVERY_FIELD)
    op, request, _ = harness.engine.requests[-1]
    assert op == "CreerDemandeDIT"
    assert request == {
        "DNEntreprise": DN,
        "NumeroCAD": CAD,
        "Utilisateur": {"Login": "batch.dit"},
        "NumeroVersion": "V9",
        "Demande": {
            "TypeDemande": "DIT",
            "NumeroPCE": PCE_6M,
            "CodePostal": "75011",
            "DonneesFournisseur": {
                "ReferenceDemande": "REF-2025-0001",
                "TelephoneFournisseur": "0102030405",
                "GroupeAppartenance": "Groupe Nord",
                "CommentaireFournisseur": "Commentaire interne fournisseur",
            },
            "Commentaire": "Sonner deux fois",
            "DonneesTypeDemande": {
                "CodeLibelleIntervention": "Z8",
                "CodeMotifIntervention": "01",
                "OptionExpress": "1",
                "IndexConteste": {
                    "TypeIndex": "02",
                    "ValeurIndexReleve": "12345",
                    "DateIndexConteste": "2025-02-01",
                },
                "IndexClient": {"ValeurIndexClient": "12400", "DateIndexClient": "2025-02-15"},
                "PrecisionIntervention": "Compteur inaccessible",
            },
            "RdvDemande": {"Date": "2025-03-10", "Plage": "M1"},
            "ContactIntervention": {
                "Nom": "Jeanne Martin",
                "Telephone": "0611223344",
                "CodeAcces": "B1234",
                "ComplementAdresse": "Bâtiment C, 3e étage",
            },
        },
    }
    assert answer.type_retour == "P"
    assert answer.code_retour in ("DatePlageH", "ListeDP")
    assert answer.numero_demande.startswith("DIT")
    assert answer.presence_client == "PS"
    (demande,) = harness.demandes()
    assert demande["NumeroDemande"] == answer.numero_demande
    assert (demande["ReferenceDemande"], demande["CodeLibelleIntervention"]) == (
        "REF-2025-0001",
        "Z8",
    )
    assert (demande["CodeMotifIntervention"], demande["OptionExpress"]) == ("01", "1")
    assert (demande["DateDemandee"], demande["PlageDemandee"]) == ("2025-03-10", "M1")


def test_creer_demande_omits_empty_optional_fields(harness: Harness) -> None:
    """Empty optional fields and groups are not sent; a JJ demand ends T/DmdOkDD with its date."""
    values = dict.fromkeys(CANONICAL_FIELDS, "")
    values.update(NumeroPCE=PCE_JJ, CodeLibelleIntervention="206", DateRdv="2025-03-12")
    answer = harness.client().creer_demande(values)
    _, request, _ = harness.engine.requests[-1]
    assert request["Demande"] == {
        "TypeDemande": "DIT",
        "NumeroPCE": PCE_JJ,
        "DonneesTypeDemande": {"CodeLibelleIntervention": "206"},
        "RdvDemande": {"Date": "2025-03-12"},
    }
    assert (answer.type_retour, answer.code_retour) == ("T", "DmdOkDD")
    assert answer.date_demandee == "2025-03-12"
    assert answer.programmed is None and answer.slots == ()


def test_appointment_operations_round_trip(harness: Harness) -> None:
    """The five appointment operations send their fields and map their answers back."""
    client = harness.client()
    created = client.creer_demande(EVERY_FIELD)
    numero = created.numero_demande
    assert [(s.date, s.plage) for s in created.synchro] == [
        ("2025-03-06", "A5"),
        ("2025-03-10", "M4"),
    ]

    more = client.demander_prec_suiv(numero, "SUIV")
    assert (more.type_retour, more.code_retour) == ("P", "ListeDP")
    assert 0 < len(more.slots) <= 24
    assert all(s.date > "2025-03-10" for s in more.slots)
    _, request, _ = harness.engine.requests[-1]
    assert (request["NumeroDemande"], request["Sens"]) == (numero, "SUIV")

    first = more.slots[0]
    proposed = client.proposer_date_plage(numero, first.date, first.plage)
    assert (proposed.code_retour, proposed.numero_demande) == ("DatePlageH", numero)
    assert proposed.programmed is not None
    assert (proposed.programmed.date, proposed.programmed.plage) == (first.date, first.plage)

    accepted = client.accepter_rdv(numero, first.date, first.plage)
    assert (accepted.type_retour, accepted.code_retour) == ("T", "DmdOkDP")
    assert accepted.programmed is not None
    assert accepted.programmed.heure_min < accepted.programmed.heure_max
    _, request, _ = harness.engine.requests[-1]
    assert (request["Date"], request["Plage"]) == (first.date, first.plage)

    second = client.creer_demande({**EVERY_FIELD, "ReferenceDemande": "REF-2"}).numero_demande
    dropped_slot = client.abandonner_rdv(second)
    assert (dropped_slot.type_retour, dropped_slot.code_retour) == ("T", "DmdOkDD")
    assert dropped_slot.date_demandee == "2025-03-10"

    third = client.creer_demande({**EVERY_FIELD, "ReferenceDemande": "REF-3"}).numero_demande
    dropped = client.abandonner_demande(third)
    assert (dropped.type_retour, dropped.code_retour, dropped.messages) == (
        "A",
        "DmdKo",
        ("Demande abandonnée",),
    )
    states = {d["NumeroDemande"]: d["Etat"] for d in harness.demandes()}
    assert states == {numero: "RDV_PROG", second: "EN_COURS", third: "ABANDON"}
    assert harness.before == [r.operation for r in harness.records]
    assert all(r.outcome is CallOutcome.ANSWER and r.attempt == 1 for r in harness.records)


# ----- retries and classification --------------------------------------------------------


def test_http_503_is_retried_then_answers(harness: Harness) -> None:
    """A 503 without SOAP body is retried after a jittered back-off; the answer says attempts=2."""
    harness.sim.faults.force("VerifierRecevabiliteDIT", FaultKind.HTTP_503)
    answer = harness.client().verifier_recevabilite(PCE_6M)
    assert (answer.code_retour, answer.attempts) == ("Message", 2)
    assert len(harness.sleeps) == 1 and 1.0 <= harness.sleeps[0] < 2.0
    assert [(r.attempt, r.outcome, r.http_status) for r in harness.records] == [
        (1, CallOutcome.TRANSIENT, 503),
        (2, CallOutcome.ANSWER, 200),
    ]
    assert harness.before == ["VerifierRecevabiliteDIT"] * 2


def test_http_503_on_creer_demande_is_retried_and_creates_one_demand(harness: Harness) -> None:
    """A 503 means OMEGA never processed the request: CreerDemandeDIT is safely sent again."""
    harness.sim.faults.force("CreerDemandeDIT", FaultKind.HTTP_503, FaultKind.HTTP_503)
    answer = harness.client().creer_demande(EVERY_FIELD)
    assert answer.attempts == 3 and answer.numero_demande
    assert len(harness.sleeps) == 2 and harness.sleeps[0] < harness.sleeps[1]
    assert len(harness.demandes()) == 1


def test_refused_connection_is_transient_after_max_attempts(harness: Harness) -> None:
    """Nothing listening: CreerDemandeDIT is retried (never sent) and ends TransientError."""
    client = harness.client(base_url=f"http://127.0.0.1:{_free_port()}/omega")
    with pytest.raises(TransientError) as caught:
        client.creer_demande(EVERY_FIELD)
    error = caught.value
    assert not isinstance(error, ServiceUnavailable)
    assert (error.operation, error.attempts, error.retryable) == ("CreerDemandeDIT", 3, True)
    assert "injoignable" in str(error)
    assert len(harness.sleeps) == 2
    assert 1.0 <= harness.sleeps[0] < 2.0 <= harness.sleeps[1] < 3.0
    assert [r.outcome for r in harness.records] == [CallOutcome.TRANSIENT] * 3


def test_reset_on_safe_operation_is_retried_until_max_attempts(harness: Harness) -> None:
    """Connection resets on VerifierRecevabiliteDIT are retried, then TransientError."""
    harness.sim.faults.force("VerifierRecevabiliteDIT", *[FaultKind.RESET_BEFORE] * 3)
    with pytest.raises(TransientError) as caught:
        harness.client().verifier_recevabilite(PCE_6M)
    assert caught.value.attempts == 3
    assert harness.posts("VerifierRecevabiliteDIT") == 3
    assert len(harness.sleeps) == 2


@pytest.mark.parametrize("kind", [FaultKind.RESET_AFTER, FaultKind.RESET_BEFORE])
def test_reset_on_creer_demande_is_unknown_outcome_never_resent(
    harness: Harness, kind: FaultKind
) -> None:
    """A reset once CreerDemandeDIT was sent raises UnknownOutcome at once: one POST only."""
    harness.sim.faults.force("CreerDemandeDIT", kind)
    with pytest.raises(UnknownOutcome) as caught:
        harness.client().creer_demande(EVERY_FIELD)
    assert caught.value.attempts == 1
    assert "suivi des demandes" in str(caught.value)
    assert harness.posts("CreerDemandeDIT") == 1
    assert harness.sleeps == []
    expected = 1 if kind is FaultKind.RESET_AFTER else 0
    assert len(harness.demandes()) == expected
    assert [r.outcome for r in harness.records] == [CallOutcome.UNKNOWN]


def test_timeout_on_creer_demande_is_unknown_outcome_one_demand(
    harness_factory: Callable[..., Harness],
) -> None:
    """A CreerDemandeDIT answered after the client's timeout is UnknownOutcome; never resent."""
    harness = harness_factory(slow_ms=1500)
    harness.sim.faults.force("CreerDemandeDIT", FaultKind.SLOW)
    with pytest.raises(UnknownOutcome) as caught:
        harness.client(timeout_s=0.5).creer_demande(EVERY_FIELD)
    assert "délai" in str(caught.value)
    assert harness.before == ["CreerDemandeDIT"]  # one HTTP attempt...
    assert harness.handled("CreerDemandeDIT") == 1  # ...that OMEGA processed
    assert len(harness.demandes()) == 1
    assert harness.sleeps == []


def test_timeout_on_safe_operation_is_retried(harness_factory: Callable[..., Harness]) -> None:
    """A read timeout on DemanderPrecSuiv is retried: asking again changes nothing that matters."""
    harness = harness_factory(slow_ms=1500)
    client = harness.client(timeout_s=0.5)
    numero = client.creer_demande(EVERY_FIELD).numero_demande
    harness.sim.faults.force("DemanderPrecSuiv", FaultKind.SLOW)
    answer = client.demander_prec_suiv(numero)
    assert (answer.code_retour, answer.attempts) == ("ListeDP", 2)


def test_server_fault_retried_when_safe_unknown_when_not(harness: Harness) -> None:
    """soap:Server: retried on VerifierRecevabiliteDIT, UnknownOutcome on CreerDemandeDIT."""
    harness.sim.faults.force("VerifierRecevabiliteDIT", FaultKind.SERVER_FAULT)
    harness.sim.faults.force("CreerDemandeDIT", FaultKind.SERVER_FAULT)
    client = harness.client()
    assert client.verifier_recevabilite(PCE_6M).attempts == 2
    with pytest.raises(UnknownOutcome) as caught:
        client.creer_demande(EVERY_FIELD)
    assert caught.value.attempts == 1 and caught.value.http_status == 500
    assert harness.posts("CreerDemandeDIT") == 1
    assert len(harness.demandes()) == 1


def test_soap_client_fault_is_business_fault_not_retried(harness: Harness) -> None:
    """A request the contract refuses (PCE too long): soap:Client fault, BusinessFault, once."""
    with pytest.raises(BusinessFault) as caught:
        harness.client().verifier_recevabilite("1" * 20)
    assert caught.value.attempts == 1
    assert "refusée par OMEGA" in str(caught.value)
    assert harness.sleeps == []
    assert [r.outcome for r in harness.records] == [CallOutcome.BUSINESS_FAULT]


@pytest.mark.parametrize("state", ["closed", "maintenance"])
def test_closed_omega_raises_service_unavailable_after_retries(
    harness_factory: Callable[..., Harness], state: str
) -> None:
    """OMEGA's "service indisponible" answers are retried, then ServiceUnavailable."""
    harness = harness_factory(**{state: True})
    with pytest.raises(ServiceUnavailable) as caught:
        harness.client().creer_demande(EVERY_FIELD)
    error = caught.value
    assert (error.attempts, error.code_retour) == (3, "DmdKo")
    assert error.messages[0].startswith("Ce service est actuellement indisponible")
    assert len(harness.sleeps) == 2
    assert [r.outcome for r in harness.records] == [CallOutcome.UNAVAILABLE] * 3
    assert harness.demandes() == []


def test_retry_budget_bounds_the_total_back_off(harness: Harness) -> None:
    """No back-off is started that would take the total wait past max_retry_delay_s."""
    harness.sim.faults.force("VerifierRecevabiliteDIT", *[FaultKind.HTTP_503] * 3)
    with pytest.raises(TransientError) as caught:
        harness.client(max_attempts=5, max_retry_delay_s=0.5).verifier_recevabilite(PCE_6M)
    assert caught.value.attempts == 1
    assert harness.sleeps == []


@pytest.mark.parametrize(
    ("operation", "status", "expected", "retryable"),
    [
        ("CreerDemandeDIT", 503, TransientError, True),
        ("CreerDemandeDIT", 502, UnknownOutcome, False),
        ("CreerDemandeDIT", 504, UnknownOutcome, False),
        ("CreerDemandeDIT", 500, UnknownOutcome, False),
        ("AccepterRdv", 504, UnknownOutcome, False),
        ("VerifierRecevabiliteDIT", 502, TransientError, True),
        ("VerifierRecevabiliteDIT", 504, TransientError, True),
        ("DemanderPrecSuiv", 404, RunLevelFault, False),
        ("CreerDemandeDIT", 405, RunLevelFault, False),
        ("CreerDemandeDIT", 501, RunLevelFault, False),  # a web server without POST
        ("CreerDemandeDIT", 401, RunLevelFault, False),
        ("VerifierRecevabiliteDIT", 403, RunLevelFault, False),
        ("VerifierRecevabiliteDIT", 400, TransientError, False),
    ],
)
def test_http_status_table(
    operation: str, status: int, expected: type[Exception], retryable: bool
) -> None:
    """HTTP statuses without a SOAP fault classify as docs/client.md's table says."""
    error = TransportError(f"HTTP {status}", status_code=status)
    result = classify(operation, error, http_status=status)
    assert type(result) is expected
    assert result is not None and result.retryable is retryable


def test_wrong_endpoints_and_identity_refusals_are_run_level() -> None:
    """An HTML page where SOAP was expected, and OMEGA refusing who we are, concern the
    whole run: a RunLevelFault naming the setting to check, never retried."""
    html = zeep_exceptions.XMLSyntaxError("Invalid XML content received")  # type: ignore[no-untyped-call]
    page = classify("VerifierRecevabiliteDIT", html, http_status=200, content_type="text/html")
    assert isinstance(page, RunLevelFault) and page.setting == "[omega] url"
    xml = classify("VerifierRecevabiliteDIT", html, http_status=200, content_type="text/xml")
    assert type(xml) is TransientError  # a truncated SOAP answer is the usual transient
    unsure = classify("CreerDemandeDIT", html, http_status=200, content_type="text/html")
    assert type(unsure) is UnknownOutcome  # a creation may have been processed: never stop
    for message, setting in [
        ("Habilitation incorrecte", "dn_entreprise"),
        ("Etat du CAD invalide", "numero_cad"),
        ("Le login doit être renseigné.", "login"),
    ]:
        refusal = classify("VerifierRecevabiliteDIT", type_retour="A", messages=(message,))
        assert isinstance(refusal, RunLevelFault) and setting in refusal.setting
        assert not refusal.retryable
    other = classify("VerifierRecevabiliteDIT", type_retour="A", messages=("Demande abandonnée",))
    assert other is None


def test_classification_of_faults_and_contract_errors() -> None:
    """Client faults are business faults; a request zeep cannot build is never sent."""
    client_fault = classify("AccepterRdv", Fault("invalide", code="soap:Client"))
    assert isinstance(client_fault, BusinessFault) and not client_fault.retryable
    server_fault = classify("ProposerDatePlage", Fault("panne", code="soap-env:Server"))
    assert isinstance(server_fault, TransientError) and server_fault.retryable
    unknown = classify("AbandonnerDemande", Fault("panne", code="Server"))
    assert isinstance(unknown, UnknownOutcome)
    unsent = classify("CreerDemandeDIT", ValidationError("Missing element"), sent=False)
    assert isinstance(unsent, BusinessFault)
    with pytest.raises(ZeroDivisionError):
        classify("CreerDemandeDIT", ZeroDivisionError(), sent=False)


def test_missing_certificate_file_is_a_french_config_error(tmp_path: Path) -> None:
    """A configured client certificate that does not exist is reported before any call."""
    omega = OmegaSettings(cert_file=str(tmp_path / "absent.pem"), timeout_s=5)
    with pytest.raises(ConfigError, match="cert_file : fichier introuvable"):
        OmegaClient(omega, "https://127.0.0.1:1/omega", max_attempts=1, max_retry_delay_s=1)


# ----- shared WSDL, threads ---------------------------------------------------------------


def test_wsdl_parsed_once_and_clients_work_from_several_threads(harness: Harness) -> None:
    """The parsed WSDL is shared; one client per thread answers concurrently without mix-ups."""
    assert load_wsdl_documents() is load_wsdl_documents()
    results: dict[int, list[Answer]] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with harness.client(on_call=None, before_call=None) as client:
                pce = PCE_6M if index % 2 else PCE_JJ
                results[index] = [client.verifier_recevabilite(pce) for _ in range(5)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for index, answers in results.items():
        codes = {c.code for a in answers for c in a.couples}
        assert ("Z8" in codes) is bool(index % 2)  # 6M couples vs JJ couples
        assert ("206" in codes) is not bool(index % 2)


# ----- mutual TLS -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _cert(
    subject_cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Throwaway CA, server and client certificates (client CN = DNEntreprise)."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, other_key = _key(), _key()
    ca_cert = _cert("dit-batch test CA", ca_key, None, ca=True)
    issuer = (ca_cert.subject, ca_key)
    server_key, client_key = _key(), _key()
    return Pki(
        ca=_write_cert(ca_cert, folder / "ca.pem"),
        server_cert=_write_cert(
            _cert("127.0.0.1", server_key, issuer, server=True), folder / "server.pem"
        ),
        server_key=_write_key(server_key, folder / "server.key"),
        client_cert=_write_cert(_cert(DN, client_key, issuer), folder / "client.pem"),
        client_key=_write_key(client_key, folder / "client.key"),
        other_ca=_write_cert(_cert("autre CA", other_key, None, ca=True), folder / "other.pem"),
    )


def _tls_omega(url: str, pki: Pki, **overrides: str) -> OmegaSettings:
    values: dict[str, Any] = {
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
        "ca_file": str(pki.ca),
        **overrides,
    }
    return replace(
        OmegaSettings(url=url, dn_entreprise=DN, numero_cad=CAD, login="batch.dit", timeout_s=5),
        **values,
    )


def test_mutual_tls_round_trip(
    harness_factory: Callable[..., Harness], pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over HTTPS with a required client certificate, the configured cert/key/CA get an answer
    (even when REQUESTS_CA_BUNDLE names another bundle)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    harness = harness_factory(tls=TlsConfig(pki.server_cert, pki.server_key, pki.ca))
    assert harness.sim.base_url.startswith("https://")
    client = harness.client(omega=_tls_omega(harness.sim.base_url, pki))
    answer = client.verifier_recevabilite(PCE_6M)
    assert (answer.type_retour, answer.code_retour) == ("P", "Message")
    _, _, peer_dn = harness.engine.requests[-1]
    assert peer_dn is not None and DN in peer_dn


@pytest.mark.parametrize(
    "overrides",
    [
        {"cert_file": "", "key_file": ""},  # no client certificate: the server refuses
        {"ca_file": "other"},  # server certificate not signed by the configured CA
    ],
)
def test_mutual_tls_failures_are_transient_not_business(
    harness_factory: Callable[..., Harness], pki: Pki, overrides: dict[str, str]
) -> None:
    """A TLS refusal never reaches the engine and is not a business answer: a handshake
    refused is a run-level fault naming the certificate (a connection cut during the
    handshake, without an alert, stays a transient network failure)."""
    harness = harness_factory(tls=TlsConfig(pki.server_cert, pki.server_key, pki.ca))
    if overrides.get("ca_file") == "other":
        overrides = {"ca_file": str(pki.other_ca)}
    client = harness.client(omega=_tls_omega(harness.sim.base_url, pki, **overrides))
    with pytest.raises((TransientError, RunLevelFault)) as caught:
        client.verifier_recevabilite(PCE_6M)
    assert "TLS" in str(caught.value) or "réseau" in str(caught.value)
    if isinstance(caught.value, RunLevelFault):
        assert "certificat" in caught.value.setting
    assert harness.engine.requests == []


# ----- SOAP logging ----------------------------------------------------------------------


def test_soap_exchanges_logged_with_personal_data_redacted(harness: Harness) -> None:
    """log_soap=True logs both envelopes on omega.soap, without personal data or credentials."""
    client = harness.client(log_soap=True)
    with structlog.testing.capture_logs() as logs:
        client.creer_demande(EVERY_FIELD)
    events = [e for e in logs if e.get("logger") == "omega.soap"]
    assert [e["event"] for e in events] == ["soap.request", "soap.response"]
    assert all(e["operation"] == "CreerDemandeDIT" for e in events)
    request_xml = events[0]["xml"]
    assert "<ns0:Nom>***</ns0:Nom>" in request_xml
    assert "***1234</ns0:NumeroPCE>" in request_xml
    assert "Z8" in request_xml and "REF-2025-0001" in request_xml  # support still sees the case
    secrets = [DN, CAD, "batch.dit", PCE_6M] + [
        EVERY_FIELD[k]
        for k in (
            "TelephoneFournisseur",
            "CommentaireFournisseur",
            "Commentaire",
            "PrecisionIntervention",
            "NomContact",
            "TelephoneContact",
            "CodeAcces",
            "ComplementAdresse",
            "ValeurIndexReleve",
            "ValeurIndexClient",
        )
    ]
    logged = " ".join(e["xml"] for e in events)
    for secret in secrets:
        assert secret not in logged
    assert "DatePlageH" in events[1]["xml"] or "ListeDP" in events[1]["xml"]


def test_no_soap_logging_by_default(harness: Harness) -> None:
    """Without log_soap nothing is logged on omega.soap."""
    with structlog.testing.capture_logs() as logs:
        harness.client().verifier_recevabilite(PCE_6M)
    assert [e for e in logs if e.get("logger") == "omega.soap"] == []


def test_redact_xml_masks_any_prefix_and_keeps_other_elements() -> None:
    """redact_xml masks listed elements and fault quotes, cuts NumeroPCE, keeps the rest."""
    xml = (
        '<a:Req xmlns:a="u"><a:Login>jdupont</a:Login><Nom attr="1">Dupont</Nom>'
        "<a:NumeroPCE>12345678901234</a:NumeroPCE><a:Telephone/><a:Plage>M1</a:Plage></a:Req>"
    )
    assert redact_xml(xml) == (
        '<a:Req xmlns:a="u"><a:Login>***</a:Login><Nom attr="1">***</Nom>'
        "<a:NumeroPCE>***1234</a:NumeroPCE><a:Telephone/><a:Plage>M1</a:Plage></a:Req>"
    )
    fault = "<faultstring>Nom 'Jeanne Martin' trop long, PCE &quot;123&quot;</faultstring>"
    assert redact_xml(fault) == "<faultstring>Nom *** trop long, PCE ***</faultstring>"


def test_network_failure_is_explained_in_french_first() -> None:
    """A refused connection is told in French, the technical cause kept for support."""
    omega = OmegaSettings(
        url="http://127.0.0.1:1/omega",
        dn_entreprise=DN,
        numero_cad=CAD,
        login="batch.dit",
        timeout_s=2,
    )
    client = OmegaClient(omega, "http://127.0.0.1:1/omega", max_attempts=1, max_retry_delay_s=0)
    with pytest.raises(TransientError) as caught:
        client.verifier_recevabilite("11000000000001")
    assert "connexion refusée par le serveur" in str(caught.value)
    assert "ConnectionRefusedError" in str(caught.value)
