"""HTTP side of the OMEGA simulator: a multi-threaded cheroot WSGI server around the engine.

The WSGI application (routing, SOAP, faults, engine calls) is in ``app.py``; this
module runs it: the cheroot server and its resetting gateway, TLS, the engine built
from the settings, and :func:`start_simulator` with its :class:`RunningSimulator`.

Connection reset: cheroot gives a WSGI application no access to the socket, so the
server plugs in its own gateway (``_Gateway``, a ``cheroot.wsgi.Gateway_10``). The
application raises ``ResetConnection``; the gateway catches it, sets ``SO_LINGER``
to (on, 0 s) on the connection's socket, closes the socket's buffered files and the
socket itself, and marks the connection so cheroot neither writes a response nor calls
``shutdown()`` (which would send a FIN first). The kernel then sends a TCP RST: the
client sees ``ConnectionResetError``, exactly as when a proxy drops a connection.

cheroot's own warnings and errors go to the structlog logger ``omega.simulator``, like
the application's internal errors.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any

import structlog
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from lxml import etree

from pipeline.config import ConfigError, Settings, SimulatorSettings
from pipeline.simulator import soap
from pipeline.simulator.app import (
    ADMIN_DEMANDES,
    BASE_PATH,
    MAX_BODY_BYTES,
    CallRecord,
    EngineLike,
    ResetConnection,
    SimulatorApp,
)
from pipeline.simulator.faults import ALL_KINDS, FaultKind, FaultPlan

# The public names; MAX_BODY_BYTES and CallRecord (app.py) are re-exported for
# pipeline/simulator/__init__.py and __main__.py.
__all__ = [
    "DEFAULT_THREADS",
    "MAX_BODY_BYTES",
    "CallRecord",
    "RunningSimulator",
    "SimulatorError",
    "TlsConfig",
    "start_simulator",
]

DEFAULT_THREADS = 16

log = structlog.get_logger("omega.simulator")


class SimulatorError(Exception):
    """The simulator cannot start; the message (French) says why."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """HTTPS with mandatory client certificates signed by ``client_ca_file``."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path


class _Gateway(wsgi.Gateway_10):
    """WSGI 1.0 gateway that can reset the connection when the application asks to."""

    def respond(self) -> None:
        try:
            super().respond()
        except ResetConnection:
            self._reset()

    def _reset(self) -> None:
        req = self.req
        conn = req.conn
        sock = conn.socket
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        req.ready = False  # cheroot must not write headers after us
        req.close_connection = True
        conn.linger = True  # cheroot's close() must not shutdown() (a FIN) the socket
        for stream in (conn.rfile, conn.wfile):
            with contextlib.suppress(OSError):
                stream.close()
        with contextlib.suppress(OSError):
            sock.close()  # last reference: the kernel sends RST (linger 0)


class _Server(wsgi.Server):
    """cheroot's WSGI server with the resetting gateway and a filtered error log."""

    def __init__(
        self, *args: Any, info_log: Callable[[str], None] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = _Gateway
        self.info_log = info_log

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        """Warnings and errors to the ``omega.simulator`` logger (with the exception being
        handled when ``traceback``); information to ``info_log``."""
        if level >= logging.WARNING or traceback:
            log.log(
                max(level, logging.WARNING), "simulator_http_error", message=msg, exc_info=traceback
            )
        elif self.info_log is not None:
            self.info_log(msg)


class RunningSimulator:
    """A simulator serving in a background thread; a context manager that stops it on exit."""

    def __init__(
        self,
        server: Any,
        app: SimulatorApp,
        thread: threading.Thread,
        stopping: threading.Event,
        scheme: str,
    ) -> None:
        self._server = server
        self.app = app
        self._thread = thread
        self._stopping = stopping
        host, port = server.bind_addr[:2]
        self.host: str = host
        self.port: int = port
        url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        self.root_url = f"{scheme}://{url_host}:{port}"
        self.base_url = f"{self.root_url}{BASE_PATH}"

    @property
    def engine(self) -> EngineLike:
        return self.app.engine

    @property
    def faults(self) -> FaultPlan:
        return self.app.faults

    @property
    def dit_url(self) -> str:
        return f"{self.base_url}/DIT"

    @property
    def rdv_url(self) -> str:
        return f"{self.base_url}/RDV"

    @property
    def admin_url(self) -> str:
        return f"{self.root_url}{ADMIN_DEMANDES}"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving (wakes injected delays that use the default sleep) and join."""
        self._stopping.set()
        self._server.stop()
        self._thread.join(timeout=10)

    def wait(self) -> None:
        """Block until the server thread ends (KeyboardInterrupt propagates)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    settings: Settings | SimulatorSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    pce_file: Path | None = None,
    today: date | str | None = None,
    seed: int | None = None,
    latency_ms: int | None = None,
    fault_rate: float | None = None,
    fault_kinds: Iterable[FaultKind] = ALL_KINDS,
    fault_latency_ms: int = 2000,
    slow_ms: int | None = None,
    faults: FaultPlan | None = None,
    closed: bool = False,
    maintenance: bool = False,
    tls: TlsConfig | None = None,
    numthreads: int = DEFAULT_THREADS,
    engine: EngineLike | None = None,
    sleep: Callable[[float], Any] | None = None,
    validate_responses: bool = False,
    on_call: Callable[[CallRecord], None] | None = None,
    server_log: Callable[[str], None] | None = None,
) -> RunningSimulator:
    """Start the simulator on ``host:port`` (0 = a free port) in a background thread.

    Values left to None come from the settings (``[simulator]``). ``faults`` replaces
    the plan built from ``fault_rate``/``fault_kinds``/``slow_ms``; ``engine`` replaces the
    one built from the settings; ``sleep`` replaces the default sleep (which ``stop()``
    interrupts). ``on_call`` sees every SOAP call, ``server_log`` cheroot's information
    messages (e.g. a client refused during the TLS handshake). Raises SimulatorError
    (French message) when it cannot start.
    """
    sim = settings.simulator if isinstance(settings, Settings) else settings
    stopping = threading.Event()
    if engine is None:
        engine = _build_engine(settings, sim, pce_file, today, seed, closed, maintenance)
    run_seed = sim.seed if seed is None else seed
    if faults is None:
        try:
            faults = FaultPlan(
                sim.fault_rate if fault_rate is None else fault_rate,
                kinds=fault_kinds,
                seed=run_seed,
                latency_ms=fault_latency_ms,
                slow_ms=_default_slow_ms(settings) if slow_ms is None else slow_ms,
            )
        except ValueError as exc:
            raise SimulatorError(f"Pannes simulées : {exc}") from None
    fixed_latency = sim.latency_ms if latency_ms is None else latency_ms
    if fixed_latency < 0:
        raise SimulatorError("La latence doit être positive ou nulle.")
    if numthreads < 1:
        raise SimulatorError("Il faut au moins un fil d'exécution (numthreads).")
    try:
        soap.prepare()  # before any worker thread: libxml2's first XSD compile is not thread-safe
    except etree.XMLSchemaParseError as exc:
        raise SimulatorError(f"Le schéma du contrat (omega.xsd) est inutilisable : {exc}") from None
    app = SimulatorApp(
        engine,
        faults,
        latency_ms=fixed_latency,
        sleep=sleep if sleep is not None else stopping.wait,
        validate_responses=validate_responses,
        on_call=on_call,
    )
    server = _Server(
        (host, port),
        app,
        numthreads=numthreads,
        server_name="omega-simulateur",
        request_queue_size=128,
        timeout=10,
        shutdown_timeout=2,
        info_log=server_log,
    )
    scheme = "http"
    if tls is not None:
        server.ssl_adapter = _ssl_adapter(tls)
        scheme = "https"
    try:
        server.prepare()
    except OSError as exc:
        raise SimulatorError(
            f"Impossible d'écouter sur {host}:{port} (port déjà utilisé ou adresse invalide) : "
            f"{exc}"
        ) from None
    thread = threading.Thread(target=server.serve, name=f"omega-simulator-{port}", daemon=True)
    thread.start()
    running = RunningSimulator(server, app, thread, stopping, scheme)
    app.default_base_url = running.base_url
    return running


def _default_slow_ms(settings: Settings | SimulatorSettings) -> int:
    """Slower than the configured client timeout by five seconds (65 s by default)."""
    timeout_s = settings.omega.timeout_s if isinstance(settings, Settings) else 60.0
    return int(timeout_s * 1000) + 5000


def _build_engine(
    settings: Settings | SimulatorSettings,
    sim: SimulatorSettings,
    pce_file: Path | None,
    today: date | str | None,
    seed: int | None,
    closed: bool,
    maintenance: bool,
) -> EngineLike:
    from pipeline.referential import ReferentialError, load_referential
    from pipeline.simulator.engine import build_engine

    if isinstance(today, str):
        try:
            today = date.fromisoformat(today) if today else None
        except ValueError:
            raise SimulatorError(
                f"Date du jour invalide : {today!r} (AAAA-MM-JJ attendu)."
            ) from None
    if pce_file is not None and not pce_file.is_file():
        raise SimulatorError(f"Fichier des PCE introuvable : {pce_file}")
    directory = settings.paths.referential_dir if isinstance(settings, Settings) else None
    try:
        referential = load_referential(directory)
        built: EngineLike = build_engine(
            sim,
            referential,
            pce_file=pce_file,
            today=today,
            seed=seed,
            closed=closed,
            maintenance=maintenance,
        )
    except (OSError, ValueError, ReferentialError, ConfigError) as exc:
        raise SimulatorError(f"Le simulateur ne peut pas démarrer : {exc}") from None
    return built


def _ssl_adapter(tls: TlsConfig) -> Any:
    for label, path in (
        ("certificat du serveur", tls.cert_file),
        ("clé du serveur", tls.key_file),
        ("autorité des certificats clients", tls.client_ca_file),
    ):
        if not Path(path).is_file():
            raise SimulatorError(f"TLS : fichier introuvable ({label}) : {path}")
    try:
        adapter = BuiltinSSLAdapter(str(tls.cert_file), str(tls.key_file))
        context = adapter.context
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cafile=str(tls.client_ca_file))
        context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise SimulatorError(f"TLS : certificats inutilisables : {exc}") from None
    return adapter
