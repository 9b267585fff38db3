"""The simulator's start-up under concurrency, and how it reports its own internal errors.

The defect these pin: the first XSD compilation of a process initialises libxml2's table
of built-in types without any lock. The simulator compiled one schema per worker thread
on that thread's first request, so the first concurrent requests of a fresh process
(the batch's ``url = "simulator"`` mode) could compile at the same time: now and then a
request got ``XMLSchemaParseError: Internal error: xmlSchemaPValAttrNodeValue, the given
type is not a built-in type`` (a bare HTTP 500: ``Réponse inexploitable``) or a worker
looped forever validating with a corrupted schema. The race itself is too narrow to hit
on demand, so these tests pin what rules it out: no two compilations ever overlap, and
the starting thread compiles one before any worker exists. Compilation is slowed down
(the real one still runs) so that, without the lock, overlaps would be certain.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
import zeep.exceptions
from conftest import SIM_SEED, SIM_TODAY
from lxml import etree
from zeep.transports import Transport

from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.logs import configure_logging, reset_logging
from pipeline.referential import load_referential
from pipeline.simulator import RunningSimulator, SimulatorError, soap, start_simulator
from pipeline.simulator.engine import build_engine

SimulatorFactory = Callable[..., RunningSimulator]

NS = "urn:dit-batch:omega:v9"
IDENT: dict[str, Any] = {
    "DNEntreprise": "FOURNISSEUR-DEMO",
    "NumeroCAD": "CAD0000123",
    "Utilisateur": {"Login": "batch.dit"},
    "NumeroVersion": "V9",
}
VERIFIER = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="{NS}"><s:Body>'
    "<o:RequeteWSVerifierRecevabiliteDIT><o:DNEntreprise>FOURNISSEUR-DEMO</o:DNEntreprise>"
    "<o:NumeroCAD>CAD0000123</o:NumeroCAD><o:Utilisateur><o:Login>batch.dit</o:Login>"
    "</o:Utilisateur><o:NumeroVersion>V9</o:NumeroVersion>"
    "<o:NumeroPCE>21000000000001</o:NumeroPCE></o:RequeteWSVerifierRecevabiliteDIT>"
    "</s:Body></s:Envelope>"
).encode()
BROKEN_XSD = (
    b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    b'<xs:element name="A" type="xs:inexistant"/></xs:schema>'
)
WORKERS = 16
SLOW_COMPILE_S = 0.05


class CompileSpy:
    """Wraps soap._compile: the real compilation, slowed, with overlaps and threads recorded."""

    def __init__(self, real: Callable[[], etree.XMLSchema]) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.threads: list[str] = []

    def __call__(self) -> etree.XMLSchema:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.threads.append(threading.current_thread().name)
        try:
            time.sleep(SLOW_COMPILE_S)  # widens the window in which another compile could start
            return self.real()
        finally:
            with self.lock:
                self.active -= 1


def broken_compile() -> etree.XMLSchema:
    """Compiles a schema libxml2 refuses: a real XMLSchemaParseError, as in the defect."""
    return etree.XMLSchema(etree.fromstring(BROKEN_XSD))


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def in_fresh_thread(target: Callable[[], Any]) -> Any:
    """Run ``target`` in a new thread (no schema compiled there yet); its result or error."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="fresh-starter")
    thread.start()
    thread.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def dit_service(sim: RunningSimulator) -> Any:
    transport = Transport(session=http(), timeout=10, operation_timeout=10)  # type: ignore[no-untyped-call]
    zclient = zeep.Client(f"{sim.dit_url}?wsdl", transport=transport)  # type: ignore[no-untyped-call]
    return zclient.service


@pytest.fixture
def run_log(tmp_path: Path) -> Iterator[Path]:
    """The batch's logging set up as for a run: JSON lines in a file (console discarded)."""
    path = tmp_path / "run.jsonl"
    configure_logging(log_file=path, verbosity=0, console_stream=io.StringIO())
    try:
        yield path
    finally:
        reset_logging()


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ----------------------------------------------------------------- start-up race
def test_first_requests_on_every_worker_at_once_never_compile_two_schemas_together(
    simulator_factory: SimulatorFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 first requests at once, each on a fresh worker: all answered 200, and the
    per-thread schema compilations run one after the other, never two at a time."""
    spy = CompileSpy(soap._compile)
    monkeypatch.setattr(soap, "_compile", spy)
    sim = simulator_factory(numthreads=WORKERS)
    barrier = threading.Barrier(WORKERS)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def first_call() -> None:
        try:
            barrier.wait(timeout=30)
            response = http().post(
                sim.dit_url, data=VERIFIER, headers={"Content-Type": "text/xml"}, timeout=60
            )
            statuses.append(response.status_code)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=first_call) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert statuses == [200] * WORKERS
    workers = [name for name in spy.threads if name != threading.current_thread().name]
    assert len(workers) >= 2  # concurrent first requests did reach several fresh workers
    assert spy.max_active == 1


def test_the_starting_thread_compiles_the_schema_before_any_worker_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """start_simulator compiles a schema in its own thread before serving, so libxml2's
    one-time initialisation never happens in a worker thread under concurrent requests."""
    spy = CompileSpy(soap._compile)
    monkeypatch.setattr(soap, "_compile", spy)
    settings = load_settings(DEFAULT_CONFIG, environ={})
    sim: RunningSimulator = in_fresh_thread(
        lambda: start_simulator(settings, today=SIM_TODAY, seed=SIM_SEED)
    )
    try:
        assert spy.threads == ["fresh-starter"]
    finally:
        sim.stop()


def test_an_unusable_contract_schema_stops_the_start_with_a_french_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If omega.xsd cannot be compiled, start_simulator raises SimulatorError in French
    instead of serving requests that would all fail."""
    monkeypatch.setattr(soap, "_compile", broken_compile)
    settings = load_settings(DEFAULT_CONFIG, environ={})
    with pytest.raises(SimulatorError, match=r"schéma du contrat \(omega.xsd\) est inutilisable"):
        in_fresh_thread(lambda: start_simulator(settings, today=SIM_TODAY, seed=SIM_SEED))


# ----------------------------------------------------------------- internal errors
def test_an_internal_error_before_the_engine_is_a_server_fault_logged_with_its_traceback(
    simulator_factory: SimulatorFactory, monkeypatch: pytest.MonkeyPatch, run_log: Path
) -> None:
    """An exception while parsing a request (here the schema compilation failing in a
    worker, the defect's symptom) is a soap:Server fault naming it, not a bare HTTP 500,
    and the run log holds it with its traceback under the logger omega.simulator."""
    sim = simulator_factory()
    service = dit_service(sim)  # the WSDL is fetched before compilation breaks
    monkeypatch.setattr(soap, "_compile", broken_compile)
    with pytest.raises(zeep.exceptions.Fault) as raised:
        service.VerifierRecevabiliteDIT(**IDENT, NumeroPCE="21000000000001")
    assert str(raised.value.code).endswith("Server")
    assert raised.value.message.startswith("Erreur interne du simulateur : XMLSchemaParseError: ")
    assert sim.running and http().get(sim.admin_url, timeout=10).status_code == 200
    logged = [e for e in events(run_log) if e["event"] == "simulator_internal_error"]
    assert logged, events(run_log)
    assert logged[0]["logger"] == "omega.simulator"
    assert logged[0]["level"] == "error"
    assert logged[0]["path"] == "/omega/DIT"
    assert "Traceback (most recent call last)" in logged[0]["exception"]
    assert "XMLSchemaParseError" in logged[0]["exception"]


class FailingEngine:
    """The real engine, except that CreerDemandeDIT raises (an engine bug)."""

    def __init__(self) -> None:
        settings = load_settings(DEFAULT_CONFIG, environ={})
        self.real = build_engine(settings.simulator, load_referential(), today=SIM_TODAY)
        self.closed = False
        self.maintenance = False

    def handle(self, operation: str, request: Any, *, peer_dn: str | None = None) -> dict[str, Any]:
        if operation == "CreerDemandeDIT":
            raise KeyError("DonneesTypeDemande")
        return self.real.handle(operation, request, peer_dn=peer_dn)

    def demandes(self) -> list[dict[str, Any]]:
        return self.real.demandes()


def test_an_engine_error_is_a_server_fault_logged_with_its_traceback(
    simulator_factory: SimulatorFactory, run_log: Path
) -> None:
    """An engine exception is a soap:Server fault naming it; the run log holds the
    operation and the traceback; the next call is served normally."""
    sim = simulator_factory(engine=FailingEngine())
    service = dit_service(sim)
    demande = {
        "TypeDemande": "DIT",
        "NumeroPCE": "21000000000001",
        "DonneesTypeDemande": {"CodeLibelleIntervention": "206"},
        "RdvDemande": {"Date": "2026-12-08"},
    }
    with pytest.raises(zeep.exceptions.Fault) as raised:
        service.CreerDemandeDIT(**IDENT, Demande=demande)
    assert str(raised.value.code).endswith("Server")
    assert raised.value.message == ("Erreur interne du simulateur : KeyError: 'DonneesTypeDemande'")
    answer = service.VerifierRecevabiliteDIT(**IDENT, NumeroPCE="21000000000001")
    assert answer.Retour.CodeRetour == "Message"
    logged = [e for e in events(run_log) if e["event"] == "simulator_internal_error"]
    assert len(logged) == 1
    assert logged[0]["logger"] == "omega.simulator"
    assert logged[0]["operation"] == "CreerDemandeDIT"
    assert "Traceback (most recent call last)" in logged[0]["exception"]
    assert "KeyError: 'DonneesTypeDemande'" in logged[0]["exception"]
