"""What can go wrong when talking to OMEGA, and the one place that decides it.

The exception classes are what the dialogue and the executor catch; their message
is French because it ends up in the result workbook. ``classify`` turns whatever an
attempt produced (an exception, an HTTP status, OMEGA's business answer) into
either ``None`` (a business answer the caller reads) or the ``OmegaError`` to
raise, with ``retryable`` telling the retry loop whether another attempt is safe.
The table it implements is in docs/client.md; keep both in step.

A leaf module: it imports nothing from the package.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

import requests
from zeep import exceptions as zeep_exc

# Operations that change OMEGA's state in a way a second send would not reproduce:
# after one of them may have reached OMEGA, it is never sent again.
NON_IDEMPOTENT: frozenset[str] = frozenset(
    {"CreerDemandeDIT", "AccepterRdv", "AbandonnerRdv", "AbandonnerDemande"}
)
# Read-only or same-values-same-state operations, safe to send again.
IDEMPOTENT: frozenset[str] = frozenset(
    {"VerifierRecevabiliteDIT", "ProposerDatePlage", "DemanderPrecSuiv"}
)

# Annexe A: both "Ce service est actuellement indisponible..." messages (closed hours,
# maintenance) start with this text; compared without accents or case.
UNAVAILABLE_PREFIX = "ce service est actuellement indisponible"


class OmegaError(Exception):
    """A call to OMEGA that did not produce a business answer; ``str()`` is French."""

    def __init__(
        self,
        message: str,
        *,
        operation: str,
        attempts: int = 1,
        retryable: bool = False,
        http_status: int | None = None,
        code_retour: str = "",
        messages: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.attempts = attempts
        self.retryable = retryable
        self.http_status = http_status
        self.code_retour = code_retour
        self.messages = messages

    def __str__(self) -> str:
        return self.message


class BusinessFault(OmegaError):
    """OMEGA (or the contract) refused the request itself: never retried."""


class TransientError(OmegaError):
    """A failure that left OMEGA unchanged (or a safe call), still failing after retries."""


class ServiceUnavailable(TransientError):
    """OMEGA is closed or in maintenance (Annexe A "Ce service est actuellement indisponible")."""


class UnknownOutcome(OmegaError):
    """A state-changing request may have reached OMEGA: check the demand tracking, never resend."""


class Unreachable(TransientError):
    """No connection could be made (refused, name unknown): the request was not sent."""


class RunLevelFault(OmegaError):
    """A failure that concerns every row of the run, not this one: the endpoint answers
    like a wrong URL, refuses authentication, or OMEGA refuses the supplier's identity.
    ``setting`` names what the operator must check; the request was not processed."""

    def __init__(self, message: str, *, setting: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.setting = setting


# Annexe A answers that refuse the caller itself (every request of the run would get
# them), with the setting to check; compared without accents or case.
IDENTITY_REFUSALS: tuple[tuple[str, str], ...] = (
    ("habilitation incorrecte", "[omega] dn_entreprise / numero_cad (et le certificat client)"),
    ("etat du cad invalide", "[omega] numero_cad (CAD non valide chez GRDF)"),
    ("le login doit etre renseigne", "[omega] login"),
)
SETTING_URL = "[omega] url"
SETTING_CERTIFICATE = "le certificat client ([omega] cert_file, key_file, ca_file)"


def identity_setting(messages: Iterable[str]) -> str:
    """The setting to check when a MessageRetour refuses the caller's identity, else ''."""
    for message in messages:
        folded = _fold(message)
        for prefix, setting in IDENTITY_REFUSALS:
            if folded.startswith(prefix):
                return setting
    return ""


def is_unavailable_message(messages: Iterable[str]) -> bool:
    """True when one of OMEGA's MessageRetour says the service is closed or in maintenance."""
    return any(_fold(m).startswith(UNAVAILABLE_PREFIX) for m in messages)


def classify(
    operation: str,
    error: BaseException | None = None,
    *,
    sent: bool = True,
    http_status: int | None = None,
    type_retour: str = "",
    code_retour: str = "",
    messages: tuple[str, ...] = (),
    content_type: str = "",
) -> OmegaError | None:
    """Decide what one attempt means; ``None`` = a business answer to hand back.

    ``error`` is what the zeep call raised (None when it answered), ``sent`` whether
    the transport was reached (False: the failure happened while building the
    request), ``http_status`` the status of the HTTP response when there was one.
    Anything that is not an OMEGA/HTTP/contract failure (a bug) is re-raised.
    """
    safe = operation not in NON_IDEMPOTENT
    if error is None:
        if type_retour == "A" and is_unavailable_message(messages):
            return ServiceUnavailable(
                f"OMEGA indisponible (fermé ou en maintenance) : {' '.join(messages)}",
                operation=operation,
                retryable=True,
                http_status=http_status,
                code_retour=code_retour,
                messages=messages,
            )
        setting = identity_setting(messages) if type_retour == "A" else ""
        if setting:
            return RunLevelFault(
                f"OMEGA refuse l'identité du fournisseur sur {operation} : {' '.join(messages)}",
                setting=setting,
                operation=operation,
                http_status=http_status,
                code_retour=code_retour,
                messages=messages,
            )
        return None

    if not sent:
        if isinstance(error, zeep_exc.Error):
            return BusinessFault(
                f"Requête {operation} non conforme au contrat OMEGA, non envoyée : {error}",
                operation=operation,
            )
        raise error

    if isinstance(error, zeep_exc.Fault) and error.code:
        kind = _fault_kind(str(error.code))
        text = f"faute SOAP {error.code} : {error.message}"
        if kind == "Client":
            return BusinessFault(
                f"Requête {operation} refusée par OMEGA ({text})",
                operation=operation,
                http_status=http_status,
            )
        if kind == "Server" and not safe:
            return _unknown(operation, f"erreur serveur OMEGA ({text})", http_status)
        return TransientError(
            f"Erreur serveur OMEGA sur {operation} ({text})",
            operation=operation,
            retryable=True,
            http_status=http_status,
        )

    if isinstance(error, requests.exceptions.RequestException):
        return _network(operation, error, safe)

    if isinstance(error, zeep_exc.Error):
        return _http(operation, error, http_status, safe, content_type)

    raise error


def _network(operation: str, error: requests.exceptions.RequestException, safe: bool) -> OmegaError:
    """Network-level failures: was the request possibly delivered?"""
    detail = _root_cause(error)
    if isinstance(error, requests.exceptions.ConnectTimeout) or _not_connected(error):
        return Unreachable(
            f"OMEGA injoignable (connexion impossible, requête non envoyée) : {detail}",
            operation=operation,
            retryable=True,
        )
    if isinstance(error, requests.exceptions.SSLError) and _tls_refused(detail):
        return RunLevelFault(
            "Connexion sécurisée (TLS) refusée, requête non traitée : vérifier le certificat "
            f"client, la clé et l'autorité de certification configurés ({detail})",
            setting=SETTING_CERTIFICATE,
            operation=operation,
        )
    if isinstance(error, requests.exceptions.ReadTimeout):
        what = "pas de réponse d'OMEGA dans le délai imparti"
    else:
        what = f"connexion interrompue après l'envoi ({detail})"
    if safe:
        return TransientError(
            f"Erreur réseau sur {operation} : {what}", operation=operation, retryable=True
        )
    return _unknown(operation, what, None)


def _http(
    operation: str,
    error: zeep_exc.Error,
    http_status: int | None,
    safe: bool,
    content_type: str = "",
) -> OmegaError:
    """An HTTP answer that is not a usable SOAP answer (no fault, wrong status, bad XML)."""
    status = http_status or getattr(error, "status_code", None) or None
    label = f"HTTP {status}" if status else "réponse illisible"
    # Not OMEGA's service at all: nothing was processed, every row would get the same.
    if status in (404, 405, 501) or (
        safe
        and (status is None or 200 <= status < 300)
        and content_type
        and "xml" not in content_type.lower()
    ):
        kind = f"{label}, {content_type}" if content_type else label
        return RunLevelFault(
            f"L'adresse configurée ne répond pas comme le service OMEGA ({kind}) sur "
            f"{operation} : requête non traitée",
            setting=SETTING_URL,
            operation=operation,
            http_status=status,
        )
    if status in (401, 403):
        return RunLevelFault(
            f"Authentification refusée par le serveur ({label}) sur {operation} : requête "
            "non traitée",
            setting=SETTING_CERTIFICATE + " et [omega] url",
            operation=operation,
            http_status=status,
        )
    # Refused before any processing: OMEGA unchanged whatever the operation.
    if status in (408, 429, 503):
        return TransientError(
            f"OMEGA momentanément indisponible ({label}), requête non traitée",
            operation=operation,
            retryable=True,
            http_status=status,
        )
    if status is not None and 400 <= status < 500:
        return TransientError(
            f"Requête {operation} rejetée par le serveur HTTP ({label}) : vérifier l'URL et "
            "les habilitations configurées",
            operation=operation,
            retryable=False,
            http_status=status,
        )
    # 500/502/504, other statuses, or a 200 that is not a readable answer: OMEGA may
    # have processed the request.
    if safe:
        return TransientError(
            f"Réponse inexploitable d'OMEGA sur {operation} ({label})",
            operation=operation,
            retryable=True,
            http_status=status,
        )
    return _unknown(operation, f"réponse inexploitable ({label})", status)


def _unknown(operation: str, what: str, http_status: int | None) -> UnknownOutcome:
    return UnknownOutcome(
        f"Résultat inconnu de {operation} : {what}. La requête a pu être reçue par OMEGA ; "
        "vérifier dans le suivi des demandes OMEGA avant toute nouvelle tentative",
        operation=operation,
        http_status=http_status,
    )


def _fault_kind(code: str) -> str:
    """'soap:Client.Auth' -> 'Client' (SOAP 1.1 faultcode, prefix and subcodes dropped)."""
    local = code.rsplit(":", 1)[-1]
    return local.split(".", 1)[0]


def _causes(error: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests -> urllib3 -> socket/ssl)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for nxt in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        todo.extend(a for a in current.args if isinstance(a, BaseException))
    return seen


def _not_connected(error: BaseException) -> bool:
    """True when the TCP connection was never established (refused, DNS, unreachable)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    return any(
        isinstance(c, NewConnectionError | NameResolutionError | ConnectionRefusedError)
        for c in _causes(error)
    )


def _tls_refused(detail: str) -> bool:
    """A TLS handshake failure or alert: the HTTP request was not processed."""
    text = detail.lower()
    return any(w in text for w in ("certificate", "handshake", "alert", "wrong version"))


# What a business reader is told about the usual network causes; the technical text
# follows in parentheses for support.
_CAUSES_FR = {
    "ConnectionResetError": "connexion réinitialisée par le serveur",
    "ConnectionRefusedError": "connexion refusée par le serveur",
    "ConnectionAbortedError": "connexion abandonnée",
    "BrokenPipeError": "connexion coupée",
    "RemoteDisconnected": "le serveur a fermé la connexion sans répondre",
    "IncompleteRead": "réponse incomplète",
    "TimeoutError": "délai dépassé",
    "gaierror": "nom de serveur introuvable",
    "NameResolutionError": "nom de serveur introuvable",
    "NewConnectionError": "connexion impossible",
    "SSLEOFError": "connexion sécurisée interrompue",
    "SSLError": "erreur de connexion sécurisée (TLS)",
    "InvalidURL": "adresse du service invalide",
}


def _root_cause(error: BaseException) -> str:
    """The innermost wrapped exception, in French first, e.g. 'connexion refusée par le
    serveur (ConnectionRefusedError: [Errno 111] ...)'."""
    current = error
    for _ in range(10):
        nxt = getattr(current, "reason", None) or current.__cause__
        if not isinstance(nxt, BaseException):
            nxt = next((a for a in current.args if isinstance(a, BaseException)), None)
        if nxt is None or nxt is current:
            break
        current = nxt
    name = type(current).__name__
    technical = f"{name}: {current}"
    label = _CAUSES_FR.get(name)
    return f"{label} ({technical})" if label else technical


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip().lower()
