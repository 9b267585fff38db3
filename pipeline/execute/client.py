"""The OMEGA client: zeep over the shipped contract, mutual TLS, retries, one classification.

One ``OmegaClient`` per worker thread. The WSDL documents are parsed once per process
(``load_wsdl_documents``) and shared read-only; each client owns its
``requests.Session``, zeep ``Transport`` and zeep ``Client`` objects (docs/client.md
explains why that is thread-safe). Each public method sends one operation, retrying
what ``pipeline.execute.errors.classify`` calls retryable, and returns OMEGA's business
answer as an ``Answer`` -- A/T/P answers included -- or raises an ``OmegaError``:
``BusinessFault``, ``TransientError`` (``ServiceUnavailable``) or ``UnknownOutcome``.

Its parts, in sibling modules: the answer types and their parsing (answers.py), the
CreerDemandeDIT request body (demande.py), the transport, TLS and retry pieces
(transport.py) and the parsed contract (wsdl.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_exponential
from zeep import Client

from pipeline.config import OmegaSettings
from pipeline.contract import NAMESPACE
from pipeline.execute.answers import Answer, CallOutcome, CallRecord, parse_answer
from pipeline.execute.demande import build_demande
from pipeline.execute.errors import (
    BusinessFault,
    OmegaError,
    ServiceUnavailable,
    TransientError,
    UnknownOutcome,
    classify,
)
from pipeline.execute.soaplog import SoapLogPlugin
from pipeline.execute.transport import (
    OmegaTransport,
    configure_tls,
    stop_before_idle,
    wait_jitter,
)
from pipeline.execute.wsdl import load_wsdl_documents

__all__ = [
    "Answer",
    "BusinessFault",
    "CallOutcome",
    "CallRecord",
    "OmegaClient",
    "OmegaError",
    "ServiceUnavailable",
    "TransientError",
    "UnknownOutcome",
    "load_wsdl_documents",
]

# Back-off between attempts: 1 s, 2 s, 4 s... capped, plus up to JITTER_S of jitter.
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 30.0
JITTER_S = 1.0
# Connecting is quick or not happening: never wait the whole operation timeout for it.
CONNECT_TIMEOUT_S = 10.0

# zeep's own annotations are partial: call through Any.
_zeep_client: Any = Client

DIT_BINDING = f"{{{NAMESPACE}}}DITBinding"
RDV_BINDING = f"{{{NAMESPACE}}}RDVBinding"


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
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.omega = omega
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max(1, max_attempts)
        self.max_retry_delay_s = max_retry_delay_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_call = on_call
        self._clock = clock
        self._should_stop = should_stop
        self.session = session or requests.Session()
        configure_tls(self.session, omega, self.base_url)
        self._transport = OmegaTransport(
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
                | stop_before_idle(self.max_retry_delay_s)
            ),
            wait=wait_exponential(multiplier=BACKOFF_BASE_S, max=BACKOFF_MAX_S)
            + wait_jitter(self._rng, JITTER_S),
            # No new attempt once the run is stopping: the failure is handed back as it is.
            retry=retry_if_exception(
                lambda e: isinstance(e, OmegaError) and e.retryable and not self._should_stop()
            ),
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
                operation,
                exc,
                sent=self._transport.sent,
                http_status=self._transport.status,
                content_type=self._transport.content_type,
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
