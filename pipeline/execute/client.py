"""The OMEGA client: zeep over the shipped contract, mutual TLS, retries, one classification.

One ``OmegaClient`` per worker thread. The WSDL documents are parsed once per process
(``load_wsdl_documents``) and shared read-only; each client owns its
``requests.Session``, zeep ``Transport`` and zeep ``Client`` objects (docs/client.md
explains why that is thread-safe). Each public method sends one operation, retrying
what ``pipeline.execute.errors.classify`` calls retryable, and returns OMEGA's business
answer as an ``Answer`` -- A/T/P answers included -- or raises an ``OmegaError``:
``BusinessFault``, ``TransientError`` (``ServiceUnavailable``) or ``UnknownOutcome``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from pipeline.config import ConfigError, OmegaSettings
from pipeline.contract import DIT_WSDL, NAMESPACE, RDV_WSDL
from pipeline.execute.errors import (
    BusinessFault,
    OmegaError,
    ServiceUnavailable,
    TransientError,
    UnknownOutcome,
    classify,
)
from pipeline.execute.soaplog import SoapLogPlugin

__all__ = [
    "Answer",
    "BusinessFault",
    "CallOutcome",
    "CallRecord",
    "Couple",
    "DatePlage",
    "OmegaClient",
    "OmegaError",
    "Programmed",
    "ServiceUnavailable",
    "TransientError",
    "UnknownOutcome",
    "WsdlDocuments",
    "load_wsdl_documents",
]

# Back-off between attempts: 1 s, 2 s, 4 s... capped, plus up to JITTER_S of jitter.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 30.0
JITTER_S = 1.0
# Connecting is quick or not happening: never wait the whole operation timeout for it.
CONNECT_TIMEOUT_S = 10.0

# zeep's own annotations are partial (Document expects a Transport *class*): call through Any.
_zeep_client: Any = Client
_zeep_document: Any = Document

DIT_BINDING = f"{{{NAMESPACE}}}DITBinding"
RDV_BINDING = f"{{{NAMESPACE}}}RDVBinding"


@dataclass(frozen=True)
class DatePlage:
    date: str
    plage: str


@dataclass(frozen=True)
class Programmed:
    date: str
    plage: str
    heure_min: str
    heure_max: str
    synchro: str = ""


@dataclass(frozen=True)
class Couple:
    code: str
    motif: str
    presence_client: str


@dataclass(frozen=True)
class Answer:
    """OMEGA's business answer to one operation (whatever TypeRetourDialogue says)."""

    operation: str
    type_retour: str
    code_retour: str
    messages: tuple[str, ...]
    numero_demande: str = ""
    presence_client: str = ""
    slots: tuple[DatePlage, ...] = ()  # ListeDatePlage
    programmed: Programmed | None = None  # DateProgrammee
    date_demandee: str = ""
    couples: tuple[Couple, ...] = ()  # VerifierRecevabiliteDIT Retour/Interventions
    synchro: tuple[DatePlage, ...] = ()  # RetourSynchroInterventions
    attempts: int = 1


class CallOutcome(StrEnum):
    """How one HTTP attempt ended (CallRecord.outcome)."""

    ANSWER = "answer"  # a business answer (P, T or A other than "service indisponible")
    UNAVAILABLE = "unavailable"  # OMEGA closed or in maintenance
    BUSINESS_FAULT = "business-fault"  # SOAP Client fault
    TRANSIENT = "transient"  # network/HTTP failure, OMEGA unchanged or call safe to repeat
    UNKNOWN = "unknown"  # a state-changing request may have been processed


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, for metrics and the journal."""

    operation: str
    duration_s: float
    outcome: CallOutcome
    code_retour: str
    attempt: int
    http_status: int | None = None


@dataclass(frozen=True)
class WsdlDocuments:
    """The two parsed service descriptions; read-only once built."""

    dit: Any  # zeep.wsdl.Document
    rdv: Any


_WSDL_LOCK = threading.Lock()
_WSDL_DOCUMENTS: WsdlDocuments | None = None


def load_wsdl_documents() -> WsdlDocuments:
    """Parse the shipped DIT and RDV WSDLs (and omega.xsd) once per process, offline."""
    global _WSDL_DOCUMENTS
    with _WSDL_LOCK:
        if _WSDL_DOCUMENTS is None:
            loader = _LocalOnlyTransport()  # type: ignore[no-untyped-call]
            dit = _zeep_document(str(DIT_WSDL), loader, settings=Settings())
            rdv = _zeep_document(str(RDV_WSDL), loader, settings=Settings())
            for document in (dit, rdv):
                _warm_up(document)
            _WSDL_DOCUMENTS = WsdlDocuments(dit=dit, rdv=rdv)
        return _WSDL_DOCUMENTS


class OmegaClient:
    """Sends OMEGA's DIT and RDV operations; one instance per thread (not shared)."""

    def __init__(
        self,
        omega: OmegaSettings,
        base_url: str,
        *,
        max_attempts: int,
        max_retry_delay_s: float,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        before_call: Callable[[str], None] | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        session: requests.Session | None = None,
        log_soap: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.omega = omega
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max(1, max_attempts)
        self.max_retry_delay_s = max_retry_delay_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_call = on_call
        self._clock = clock
        self.session = session or requests.Session()
        _configure_tls(self.session, omega, self.base_url)
        self._transport = _OmegaTransport(
            session=self.session,
            operation_timeout=(min(CONNECT_TIMEOUT_S, omega.timeout_s), omega.timeout_s),
            before_call=before_call,
            clock=clock,
        )
        documents = load_wsdl_documents()
        plugins = [SoapLogPlugin()] if log_soap else []
        dit_client = _zeep_client(documents.dit, transport=self._transport, plugins=plugins)
        rdv_client = _zeep_client(documents.rdv, transport=self._transport, plugins=plugins)
        self._dit: Any = dit_client.create_service(DIT_BINDING, self.base_url + "/DIT")
        self._rdv: Any = rdv_client.create_service(RDV_BINDING, self.base_url + "/RDV")

    # ----- operations -----------------------------------------------------------------

    def verifier_recevabilite(self, numero_pce: str, code_postal: str = "") -> Answer:
        body = {**self._identification(), "NumeroPCE": numero_pce}
        if code_postal:
            body["CodePostal"] = code_postal
        return self._call(self._dit, "VerifierRecevabiliteDIT", body)

    def creer_demande(self, values: Mapping[str, str]) -> Answer:
        """CreerDemandeDIT from the canonical fields of one (cleaned) input row."""
        body = {**self._identification(), "Demande": build_demande(values)}
        return self._call(self._dit, "CreerDemandeDIT", body)

    def proposer_date_plage(self, numero_demande: str, date: str, plage: str) -> Answer:
        body = {**self._rdv_base(numero_demande), "Date": date, "Plage": plage}
        return self._call(self._rdv, "ProposerDatePlage", body)

    def accepter_rdv(self, numero_demande: str, date: str, plage: str) -> Answer:
        body = {**self._rdv_base(numero_demande), "Date": date, "Plage": plage}
        return self._call(self._rdv, "AccepterRdv", body)

    def demander_prec_suiv(self, numero_demande: str, sens: str = "SUIV") -> Answer:
        body = {**self._rdv_base(numero_demande), "Sens": sens}
        return self._call(self._rdv, "DemanderPrecSuiv", body)

    def abandonner_rdv(self, numero_demande: str) -> Answer:
        return self._call(self._rdv, "AbandonnerRdv", self._rdv_base(numero_demande))

    def abandonner_demande(self, numero_demande: str) -> Answer:
        return self._call(self._rdv, "AbandonnerDemande", self._rdv_base(numero_demande))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> OmegaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- machinery --------------------------------------------------------------------

    def _identification(self) -> dict[str, Any]:
        return {
            "DNEntreprise": self.omega.dn_entreprise,
            "NumeroCAD": self.omega.numero_cad,
            "Utilisateur": {"Login": self.omega.login or None},
            "NumeroVersion": self.omega.version,
        }

    def _rdv_base(self, numero_demande: str) -> dict[str, Any]:
        return {**self._identification(), "NumeroDemande": numero_demande}

    def _call(self, service: Any, operation: str, body: dict[str, Any]) -> Answer:
        attempt = 0

        def once() -> Answer:
            nonlocal attempt
            attempt += 1
            return self._attempt(service, operation, body, attempt)

        retrying = Retrying(
            stop=(
                stop_after_attempt(self.max_attempts)
                | stop_before_delay(self.max_retry_delay_s)
                | _stop_before_idle(self.max_retry_delay_s)
            ),
            wait=wait_exponential(multiplier=BACKOFF_BASE_S, max=BACKOFF_MAX_S)
            + _wait_jitter(self._rng, JITTER_S),
            retry=retry_if_exception(lambda e: isinstance(e, OmegaError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        result: Answer = retrying(once)
        return result

    def _attempt(self, service: Any, operation: str, body: dict[str, Any], attempt: int) -> Answer:
        """One send: the answer, or the classified OmegaError (attempts set) raised."""
        self._transport.reset(operation)
        answer: Answer | None = None
        try:
            raw = getattr(service, operation)(**body)
        except Exception as exc:  # classified below; non-OMEGA errors are re-raised there
            failure = classify(
                operation, exc, sent=self._transport.sent, http_status=self._transport.status
            )
            cause: BaseException | None = exc
        else:
            answer = parse_answer(operation, raw, attempt)
            failure = classify(
                operation,
                http_status=self._transport.status,
                type_retour=answer.type_retour,
                code_retour=answer.code_retour,
                messages=answer.messages,
            )
            cause = None
        if self._on_call is not None and self._transport.sent:
            self._on_call(
                CallRecord(
                    operation=operation,
                    duration_s=self._transport.elapsed_s,
                    outcome=_outcome(failure),
                    code_retour=answer.code_retour if answer else "",
                    attempt=attempt,
                    http_status=self._transport.status,
                )
            )
        if failure is not None:
            failure.attempts = attempt
            raise failure from cause
        assert answer is not None
        return answer


def build_demande(values: Mapping[str, str]) -> dict[str, Any]:
    """The RequeteWSCreerDIT/Demande structure; empty optional fields and groups omitted."""

    def v(name: str) -> str | None:
        text = (values.get(name) or "").strip()
        return text or None

    def group(**fields: str | None) -> dict[str, str] | None:
        kept = {k: val for k, val in fields.items() if val is not None}
        return kept or None

    donnees_type = {
        "CodeLibelleIntervention": v("CodeLibelleIntervention"),
        "CodeMotifIntervention": v("CodeMotifIntervention"),
        "OptionExpress": v("OptionExpress"),
        "IndexConteste": group(
            TypeIndex=v("TypeIndexConteste"),
            ValeurIndexReleve=v("ValeurIndexReleve"),
            DateIndexConteste=v("DateIndexConteste"),
        ),
        "IndexClient": group(
            ValeurIndexClient=v("ValeurIndexClient"), DateIndexClient=v("DateIndexClient")
        ),
        "PrecisionIntervention": v("PrecisionIntervention"),
    }
    demande: dict[str, Any] = {
        "TypeDemande": "DIT",
        "NumeroPCE": v("NumeroPCE"),
        "CodePostal": v("CodePostal"),
        "DonneesFournisseur": group(
            ReferenceDemande=v("ReferenceDemande"),
            TelephoneFournisseur=v("TelephoneFournisseur"),
            GroupeAppartenance=v("GroupeAppartenance"),
            CommentaireFournisseur=v("CommentaireFournisseur"),
        ),
        "Commentaire": v("Commentaire"),
        "DonneesTypeDemande": {k: val for k, val in donnees_type.items() if val is not None},
        "RdvDemande": {
            k: val for k, val in (("Date", v("DateRdv")), ("Plage", v("PlageRdv"))) if val
        },
        "ContactIntervention": group(
            Nom=v("NomContact"),
            Telephone=v("TelephoneContact"),
            CodeAcces=v("CodeAcces"),
            ComplementAdresse=v("ComplementAdresse"),
        ),
    }
    return {k: val for k, val in demande.items() if val is not None}


def parse_answer(operation: str, raw: Any, attempts: int = 1) -> Answer:
    """Map zeep's answer object to an Answer (absent elements become '' or ())."""
    retour = _get(raw, "Retour")
    messages = tuple(_text(m) for m in _list(_get(retour, "MessageRetour")))
    couples = tuple(
        Couple(
            code=_text(_get(i, "Intervention")),
            motif=_text(_get(i, "Motif")),
            presence_client=_text(_get(i, "PresenceClient")),
        )
        for i in _list(_get(retour, "Interventions"))
    )
    objet = _get(raw, "ReponseCreerDemandeObjet")
    programmed_raw = _get(objet, "DateProgrammee")
    programmed = None
    if programmed_raw is not None:
        programmed = Programmed(
            date=_text(_get(programmed_raw, "Date")),
            plage=_text(_get(programmed_raw, "PlageHoraire")),
            heure_min=_text(_get(programmed_raw, "HeureMin")),
            heure_max=_text(_get(programmed_raw, "HeureMax")),
            synchro=_text(_get(programmed_raw, "RetourSynchroIntervention")),
        )
    return Answer(
        operation=operation,
        type_retour=_text(_get(raw, "TypeRetourDialogue")),
        code_retour=_text(_get(retour, "CodeRetour")),
        messages=messages,
        numero_demande=_text(_get(objet, "NumeroDemande")),
        presence_client=_text(_get(objet, "PresenceClient")),
        slots=tuple(
            DatePlage(_text(_get(s, "Date")), _text(_get(s, "Plage")))
            for s in _list(_get(objet, "ListeDatePlage"))
        ),
        programmed=programmed,
        date_demandee=_text(_get(objet, "DateDemandee")),
        couples=couples,
        synchro=tuple(
            DatePlage(_text(_get(dp, "Date")), _text(_get(dp, "PlageHoraire")))
            for dp in map(_date_plage, _list(_get(objet, "RetourSynchroInterventions")))
            if dp is not None
        ),
        attempts=attempts,
    )


# ----- private helpers ------------------------------------------------------------------


class _LocalOnlyTransport(Transport):
    """Loads the shipped contract files; refuses anything on the network."""

    def load(self, url: str) -> bytes:
        if urlparse(url).scheme not in ("", "file"):
            raise ValueError(f"contrat OMEGA : chargement réseau refusé ({url})")
        path = Path(url.removeprefix("file://"))
        return path.read_bytes()


class _OmegaTransport(Transport):
    """zeep transport that rate-limits, times and records each HTTP POST.

    It replaces zeep's ``post`` (which logs raw envelopes at DEBUG level) so that an
    unredacted envelope never reaches a log. ``sent``/``status``/``elapsed_s``
    describe the last attempt; the object belongs to one OmegaClient, one thread.
    """

    def __init__(
        self,
        *,
        session: requests.Session,
        operation_timeout: tuple[float, float],
        before_call: Callable[[str], None] | None,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]  # zeep is partly typed
            session=session, operation_timeout=operation_timeout
        )
        self._before_call = before_call
        self._clock = clock
        self.operation = ""
        self.sent = False
        self.status: int | None = None
        self.elapsed_s = 0.0

    def reset(self, operation: str) -> None:
        self.operation = operation
        self.sent = False
        self.status = None
        self.elapsed_s = 0.0

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        if self._before_call is not None:
            self._before_call(self.operation)
        # A configured CA bundle is passed per request: requests lets REQUESTS_CA_BUNDLE /
        # CURL_CA_BUNDLE override a Session's own ``verify`` (psf/requests#3829, #4650).
        verify = None if self.session.verify is True else self.session.verify
        self.sent = True
        start = self._clock()
        try:
            response = self.session.post(
                address,
                data=message,
                headers=headers,
                timeout=self.operation_timeout,
                verify=verify,
            )
        finally:
            self.elapsed_s = self._clock() - start
        self.status = response.status_code
        return response


class _stop_before_idle(stop_base):
    """Stop when the next back-off would take the total slept time past the budget.

    Exact under an injected ``sleep`` (unlike tenacity's wall-clock stops).
    """

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s

    def __call__(self, retry_state: Any) -> bool:
        return bool(retry_state.idle_for + retry_state.upcoming_sleep > self.budget_s)


class _wait_jitter(wait_base):
    """Uniform jitter in [0, max_s) drawn from an injected random generator."""

    def __init__(self, rng: random.Random, max_s: float) -> None:
        self.rng = rng
        self.max_s = max_s

    def __call__(self, retry_state: Any) -> float:
        return self.rng.uniform(0.0, self.max_s)


def _configure_tls(session: requests.Session, omega: OmegaSettings, base_url: str) -> None:
    """Client certificate and CA bundle from the settings; files checked up front."""
    for key in ("cert_file", "key_file", "ca_file"):
        path = getattr(omega, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"[omega] {key} : fichier introuvable : {path}")
    if omega.key_file and not omega.cert_file:
        raise ConfigError("[omega] key_file renseigné sans cert_file")
    if omega.cert_file:
        session.cert = (omega.cert_file, omega.key_file) if omega.key_file else omega.cert_file
    if omega.ca_file:
        session.verify = omega.ca_file


def _warm_up(document: Document) -> None:
    """Compute zeep's lazily cached type properties now, in one thread, before sharing."""
    for binding in document.bindings.values():
        for operation in binding._operations.values():
            for message in (operation.input, operation.output):
                if message is not None:
                    message.signature(as_output=message is operation.output)


def _outcome(failure: OmegaError | None) -> CallOutcome:
    if failure is None:
        return CallOutcome.ANSWER
    if isinstance(failure, ServiceUnavailable):
        return CallOutcome.UNAVAILABLE
    if isinstance(failure, BusinessFault):
        return CallOutcome.BUSINESS_FAULT
    if isinstance(failure, UnknownOutcome):
        return CallOutcome.UNKNOWN
    return CallOutcome.TRANSIENT


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    try:
        return obj[name]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, name, None)


def _date_plage(synchro: Any) -> Any:
    return _get(synchro, "DatePlage")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    return "" if value is None else str(value)
