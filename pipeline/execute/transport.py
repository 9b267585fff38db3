"""The client's HTTP plumbing: the zeep transport, mutual TLS and the retry policy parts.

``OmegaTransport`` sends each POST (rate limit hook, timing, status) without zeep's
envelope logging; ``configure_tls`` puts the client certificate and CA bundle on the
session; ``stop_before_idle`` and ``wait_jitter`` are the tenacity stop and wait pieces
``OmegaClient`` composes with tenacity's own. One transport belongs to one client.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from tenacity.stop import stop_base
from tenacity.wait import wait_base
from zeep.transports import Transport

from pipeline.config import ConfigError, OmegaSettings

__all__ = ["OmegaTransport", "configure_tls", "stop_before_idle", "wait_jitter"]


class OmegaTransport(Transport):
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
        self.content_type = ""
        self.elapsed_s = 0.0

    def reset(self, operation: str) -> None:
        self.operation = operation
        self.sent = False
        self.status = None
        self.content_type = ""
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
        self.content_type = response.headers.get("Content-Type", "")
        return response


class stop_before_idle(stop_base):
    """Stop when the next back-off would take the total slept time past the budget.

    Exact under an injected ``sleep`` (unlike tenacity's wall-clock stops).
    """

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s

    def __call__(self, retry_state: Any) -> bool:
        return bool(retry_state.idle_for + retry_state.upcoming_sleep > self.budget_s)


class wait_jitter(wait_base):
    """Uniform jitter in [0, max_s) drawn from an injected random generator."""

    def __init__(self, rng: random.Random, max_s: float) -> None:
        self.rng = rng
        self.max_s = max_s

    def __call__(self, retry_state: Any) -> float:
        return self.rng.uniform(0.0, self.max_s)


def configure_tls(session: requests.Session, omega: OmegaSettings, base_url: str) -> None:
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
