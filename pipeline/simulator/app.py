"""The WSGI application of the OMEGA simulator: routing, body limits, the SOAP
envelope, injected faults, the engine call and the per-request answer, fault and
access-log record. The cheroot server that runs it is in ``server.py``.

Routes (``<base>`` = ``http(s)://HOST:PORT/omega``):

- ``POST <base>/DIT``, ``POST <base>/RDV``: SOAP 1.1 (dispatch on the Body element;
  a SOAPAction header is accepted and ignored);
- ``GET <base>/DIT?wsdl``, ``GET <base>/RDV?wsdl``: the WSDL, ``soap:address`` and the
  XSD's ``schemaLocation`` rewritten to the URL the client used;
- ``GET <base>/omega.xsd``: the contract schema;
- ``GET /admin/demandes``: the engine's demands as JSON (read-only);
- ``GET /admin/demandes.csv``: the same as the portal's demand-tracking export
  (``tracking.py``), named after the moment it was taken.

Connection reset: the application raises ``ResetConnection``; the server's gateway
(``server.py``) turns it into a TCP RST.

Internal errors: whatever goes wrong inside the simulator while answering (the engine
raising, a non-conforming answer, any other exception), the server stays up, the SOAP
client gets an HTTP 500 ``soap:Server`` fault naming the cause, and the exception is
logged with its traceback through structlog (logger ``omega.simulator``), so that it
lands in the batch's run log when the simulator runs in-process.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Protocol

import structlog
from lxml import etree

from pipeline.contract import DIT_WSDL, RDV_WSDL, XSD
from pipeline.simulator import soap, tracking
from pipeline.simulator.faults import FaultKind, FaultPlan

BASE_PATH = "/omega"
ADMIN_DEMANDES = "/admin/demandes"
ADMIN_DEMANDES_CSV = "/admin/demandes.csv"
MAX_BODY_BYTES = 1024 * 1024
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
_XS = "http://www.w3.org/2001/XMLSchema"
_WSDL_FILES = {"DIT": DIT_WSDL, "RDV": RDV_WSDL}

log = structlog.get_logger("omega.simulator")


class StartResponse(Protocol):
    """WSGI ``start_response`` (``exc_info`` only when replacing a response after an error)."""

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Any: ...


class ResetConnection(Exception):
    """Raised by the application to have the gateway reset the TCP connection."""


class EngineLike(Protocol):
    """What the HTTP layer needs from the business engine (pipeline/simulator/engine.py)."""

    closed: bool
    maintenance: bool

    def handle(
        self, operation: str, request: Mapping[str, Any], *, peer_dn: str | None = None
    ) -> dict[str, Any]: ...

    def demandes(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One SOAP call as the access log sees it (no personal data)."""

    service: str
    operation: str
    status: int
    code_retour: str
    numero_demande: str
    fault: FaultKind | None


class SimulatorApp:
    """The WSGI application: routing, body limits, SOAP, faults, engine calls."""

    def __init__(
        self,
        engine: EngineLike,
        faults: FaultPlan,
        *,
        latency_ms: int = 0,
        sleep: Callable[[float], Any] = time.sleep,
        validate_responses: bool = False,
        on_call: Callable[[CallRecord], None] | None = None,
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.latency_ms = latency_ms
        self.sleep = sleep
        self.validate_responses = validate_responses
        self.on_call = on_call
        self.engine_lock = threading.Lock()
        self.default_base_url = f"http://127.0.0.1{BASE_PATH}"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self._route(environ, start_response)
        except ResetConnection:
            raise
        except Exception as exc:  # the server must stay up and say what went wrong
            return self._internal_error(environ, start_response, exc)

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == ADMIN_DEMANDES:
            if method != "GET":
                return _text(start_response, 405, "Méthode non autorisée (GET seulement).", "GET")
            with self.engine_lock:
                demandes = self.engine.demandes()
            payload = json.dumps(demandes, ensure_ascii=False, default=str, indent=1)
            return _respond(start_response, 200, payload.encode(), "application/json")
        if path == ADMIN_DEMANDES_CSV:
            if method != "GET":
                return _text(start_response, 405, "Méthode non autorisée (GET seulement).", "GET")
            with self.engine_lock:
                demandes = self.engine.demandes()
                taken_at = self._now()
            name = tracking.export_name(taken_at)
            return _respond(
                start_response,
                200,
                tracking.tracking_csv(demandes),
                "text/csv; charset=utf-8",
                disposition=f'attachment; filename="{name}"',
            )
        if path == f"{BASE_PATH}/omega.xsd":
            if method != "GET":
                return _text(start_response, 405, "Méthode non autorisée (GET seulement).", "GET")
            return _respond(start_response, 200, XSD.read_bytes(), "text/xml; charset=utf-8")
        service = path.removeprefix(f"{BASE_PATH}/") if path.startswith(BASE_PATH) else ""
        if service not in soap.SERVICES:
            return _text(start_response, 404, f"Ressource inconnue : {path}")
        if method == "GET":
            if environ.get("QUERY_STRING", "").lower().split("=")[0] != "wsdl":
                return _text(
                    start_response, 405, "Utilisez POST (SOAP 1.1) ou GET ?wsdl.", "GET, POST"
                )
            base = _base_url(environ, self.default_base_url)
            return _respond(start_response, 200, _wsdl(service, base), "text/xml; charset=utf-8")
        if method != "POST":
            return _text(start_response, 405, "Méthode non autorisée.", "GET, POST")
        return self._soap(environ, start_response, service)

    def _now(self) -> datetime:
        """Now, on the engine's simulated day when it has one (as a run against it does)."""
        now = datetime.now().replace(microsecond=0)
        today = getattr(self.engine, "today", None)
        return datetime.combine(today, now.time()) if isinstance(today, date) else now

    def _soap(
        self, environ: dict[str, Any], start_response: StartResponse, service: str
    ) -> Iterable[bytes]:
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type not in ("", "text/xml", "application/xml"):
            return _text(
                start_response, 415, f"Type de contenu {content_type!r} refusé : text/xml attendu."
            )
        body = _read_body(environ)
        if body is None:
            return _text(
                start_response,
                413,
                f"Requête trop volumineuse (maximum {MAX_BODY_BYTES} octets).",
                close=True,
            )
        if isinstance(body, str):
            return _text(start_response, 400, body, close=True)
        try:
            request = soap.parse_request(body, service)
        except soap.SoapFault as refused:
            return _respond(
                start_response, 500, soap.fault(refused.code, refused.message), _SOAP_TYPE
            )
        kind = self.faults.next_fault(request.operation)
        if kind is FaultKind.LATENCY:
            self.sleep(self.faults.latency_ms / 1000)
        elif kind is FaultKind.HTTP_503:
            self._log(service, request.operation, 503, None, kind)
            return _respond(start_response, 503, b"", "text/plain")
        elif kind is FaultKind.RESET_BEFORE:
            self._log(service, request.operation, 0, None, kind)
            raise ResetConnection
        status, payload, answer = self._answer(request, environ)
        if self.latency_ms:
            self.sleep(self.latency_ms / 1000)
        if kind is FaultKind.RESET_AFTER:
            self._log(service, request.operation, 0, answer, kind)
            raise ResetConnection
        if kind is FaultKind.SLOW:
            self.sleep(self.faults.slow_ms / 1000)
        if kind is FaultKind.SERVER_FAULT:
            status = 500
            payload = soap.fault(
                "Server",
                "Erreur technique OMEGA simulée (panne injectée) : la requête a pu être traitée.",
            )
        self._log(service, request.operation, status, answer, kind)
        return _respond(start_response, status, payload, _SOAP_TYPE)

    def _answer(
        self, request: soap.SoapRequest, environ: Mapping[str, Any]
    ) -> tuple[int, bytes, dict[str, Any] | None]:
        peer_dn = environ.get("SSL_CLIENT_S_DN_CN") if environ.get("HTTPS") == "on" else None
        try:
            with self.engine_lock:
                answer = self.engine.handle(request.operation, request.data, peer_dn=peer_dn)
            element = soap.response_element(request.response_element, answer)
            if self.validate_responses:
                soap.validate(element)
        except soap.SoapFault as invalid:
            message = f"Réponse du simulateur non conforme au contrat : {invalid.message}"
            log.error("simulator_invalid_response", operation=request.operation, problem=message)
            return 500, soap.fault("Server", message), None
        except Exception as exc:  # the server must stay up whatever the engine does
            log.exception("simulator_internal_error", operation=request.operation)
            return 500, soap.fault("Server", _internal_message(exc)), None
        return 200, soap.envelope(element), answer

    def _internal_error(
        self, environ: Mapping[str, Any], start_response: StartResponse, exc: Exception
    ) -> list[bytes]:
        """Log ``exc`` with its traceback; a ``soap:Server`` fault (text on other routes)."""
        path = str(environ.get("PATH_INFO", ""))
        log.exception("simulator_internal_error", path=path)
        message = _internal_message(exc)
        if path.removeprefix(f"{BASE_PATH}/") in soap.SERVICES:
            payload, content_type = soap.fault("Server", message), _SOAP_TYPE
        else:
            payload, content_type = (message + "\n").encode(), "text/plain; charset=utf-8"
        headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        start_response("500 Internal Server Error", headers, sys.exc_info())
        return [payload]

    def _log(
        self,
        service: str,
        operation: str,
        status: int,
        answer: Mapping[str, Any] | None,
        kind: FaultKind | None,
    ) -> None:
        if self.on_call is None:
            return
        retour = (answer or {}).get("Retour") or {}
        objet = (answer or {}).get("ReponseCreerDemandeObjet") or {}
        code = str(retour.get("CodeRetour", "")) if isinstance(retour, Mapping) else ""
        numero = str(objet.get("NumeroDemande", "") or "") if isinstance(objet, Mapping) else ""
        self.on_call(CallRecord(service, operation, status, code, numero, kind))


_SOAP_TYPE = "text/xml; charset=utf-8"


def _internal_message(exc: BaseException) -> str:
    """The faultstring of an internal error: French, naming the exception."""
    return f"Erreur interne du simulateur : {type(exc).__name__}: {exc}"


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _respond(
    start_response: StartResponse,
    status: int,
    payload: bytes,
    content_type: str,
    allow: str = "",
    *,
    close: bool = False,
    disposition: str = "",
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
    if allow:
        headers.append(("Allow", allow))
    if disposition:
        headers.append(("Content-Disposition", disposition))
    if close:
        headers.append(("Connection", "close"))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [payload]


def _text(
    start_response: StartResponse,
    status: int,
    message: str,
    allow: str = "",
    *,
    close: bool = False,
) -> list[bytes]:
    payload = (message + "\n").encode()
    return _respond(
        start_response, status, payload, "text/plain; charset=utf-8", allow, close=close
    )


def _read_body(environ: Mapping[str, Any]) -> bytes | str | None:
    """The request body; None when over MAX_BODY_BYTES; a French message when unreadable."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH", "")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            return f"En-tête Content-Length invalide : {declared!r}."
        if length < 0:
            return f"En-tête Content-Length invalide : {declared!r}."
        if length > MAX_BODY_BYTES:
            return None
        data = stream.read(length)
    else:
        data = stream.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            return None
    return bytes(data)


def _base_url(environ: Mapping[str, Any], default: str) -> str:
    """The base URL as the client reached it (Host header), else the listening address."""
    host = environ.get("HTTP_HOST", "")
    if not host:
        return default
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{BASE_PATH}"


@lru_cache(maxsize=32)
def _wsdl(service: str, base_url: str) -> bytes:
    """The service's WSDL with its address and schema location pointing at ``base_url``."""
    tree = etree.parse(str(_WSDL_FILES[service]), etree.XMLParser(no_network=True))
    for address in tree.iter(f"{{{_WSDL_SOAP}}}address"):
        address.set("location", f"{base_url}/{service}")
    for imported in tree.iter(f"{{{_XS}}}import"):
        imported.set("schemaLocation", f"{base_url}/omega.xsd")
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
