"""``python -m pipeline.simulator``: run the OMEGA simulator until Ctrl-C.

Bad arguments give a one-line French message and exit code 2, never a traceback.
The simulator's log events (an internal error and its traceback, a cheroot warning)
are written to stderr, personal data masked.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import FrameType
from typing import NoReturn

import structlog

from pipeline.config import ConfigError, load_settings
from pipeline.logs import mask_personal_data
from pipeline.simulator.faults import ALL_KINDS, parse_kinds
from pipeline.simulator.server import (
    DEFAULT_THREADS,
    CallRecord,
    SimulatorError,
    TlsConfig,
    start_simulator,
)

_ARGPARSE_FR: tuple[tuple[str, str], ...] = (
    (r"unrecognized arguments: (.*)", r"argument(s) inconnu(s) : \1"),
    (r"argument (\S+): expected one argument", r"l'option \1 attend une valeur"),
    (r"the following arguments are required: (.*)", r"argument(s) obligatoire(s) : \1"),
    (r"argument (\S+): invalid choice: (.*)", r"option \1 : choix invalide \2"),
    (r"argument (\S+): (.*)", r"option \1 : \2"),
)


class _Parser(argparse.ArgumentParser):
    """argparse speaking French (it ships no French catalogue)."""

    def format_usage(self) -> str:
        return super().format_usage().replace("usage:", "utilisation :", 1)

    def format_help(self) -> str:
        text = super().format_help().replace("usage:", "utilisation :", 1)
        return text.replace("\noptions:\n", "\noptions :\n")

    def error(self, message: str) -> NoReturn:
        for pattern, replacement in _ARGPARSE_FR:
            if re.match(pattern, message):
                message = re.sub(pattern, replacement, message)
                break
        self.exit(2, f"Erreur : {message}\n(python -m pipeline.simulator --help pour l'aide)\n")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port invalide {text!r} (nombre attendu)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} hors de 0..65535")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre entier attendu, pas {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"valeur {value} négative")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("au moins 1")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre entier attendu, pas {text!r}") from None


def _rate(text: str) -> float:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre attendu, pas {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"taux {value} hors de [0, 1]")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date invalide {text!r} (AAAA-MM-JJ attendu)") from None


def _file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"fichier introuvable : {text}")
    return path


def _kinds(text: str) -> str:
    try:
        parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m pipeline.simulator",
        description="Simulateur du service OMEGA (CreerDIT V9.1) : SOAP 1.1 sur HTTP(S).",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")
    parser.add_argument(
        "--host", default="127.0.0.1", metavar="ADRESSE", help="adresse d'écoute (127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=8089, metavar="PORT", help="port (8089 ; 0 = port libre)"
    )
    parser.add_argument("--config", type=_file, metavar="FICHIER", help="fichier settings.toml")
    parser.add_argument(
        "--pce-file", type=_file, metavar="FICHIER", help="fichier CSV des PCE connus"
    )
    parser.add_argument("--today", type=_date, metavar="AAAA-MM-JJ", help="date du jour simulée")
    parser.add_argument(
        "--seed", type=_int, metavar="N", help="graine du hasard (créneaux, pannes)"
    )
    parser.add_argument(
        "--latency-ms", type=_non_negative_int, metavar="MS", help="latence ajoutée (ms)"
    )
    parser.add_argument(
        "--fault-rate", type=_rate, metavar="TAUX", help="probabilité de panne par appel (0..1)"
    )
    parser.add_argument(
        "--faults",
        type=_kinds,
        default=",".join(k.value for k in ALL_KINDS),
        metavar="TYPES",
        help="types de pannes tirés, séparés par des virgules (tous par défaut)",
    )
    parser.add_argument(
        "--fault-latency-ms",
        type=_non_negative_int,
        default=2000,
        metavar="MS",
        help="durée de la panne « latency » (ms)",
    )
    parser.add_argument(
        "--slow-ms",
        type=_non_negative_int,
        metavar="MS",
        help="durée d'une réponse lente (panne « slow », ms)",
    )
    parser.add_argument("--closed", action="store_true", help="service fermé (hors heures)")
    parser.add_argument("--maintenance", action="store_true", help="service en maintenance")
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=DEFAULT_THREADS,
        metavar="N",
        help=f"fils de traitement du serveur ({DEFAULT_THREADS})",
    )
    parser.add_argument("--tls-cert", type=_file, metavar="PEM", help="certificat du serveur (PEM)")
    parser.add_argument("--tls-key", type=_file, metavar="PEM", help="clé privée du serveur (PEM)")
    parser.add_argument(
        "--client-ca", type=_file, metavar="PEM", help="AC des certificats clients (PEM)"
    )
    parser.add_argument("--quiet", action="store_true", help="ne pas afficher chaque appel")
    return parser


def _print_call(record: CallRecord) -> None:
    parts = [f"{record.service}/{record.operation}", str(record.status or "RST")]
    if record.code_retour:
        parts.append(record.code_retour)
    if record.numero_demande:
        parts.append(f"demande {record.numero_demande}")
    if record.fault is not None:
        parts.append(f"[panne {record.fault.value}]")
    print(" ".join(parts), flush=True)


def _print_server(message: str) -> None:
    print(f"serveur : {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tls_files = (args.tls_cert, args.tls_key, args.client_ca)
    if any(tls_files) and not all(tls_files):
        parser.error("--tls-cert, --tls-key et --client-ca vont ensemble")
    tls = TlsConfig(args.tls_cert, args.tls_key, args.client_ca) if all(tls_files) else None
    try:
        settings = load_settings(args.config)
        simulator = start_simulator(
            settings,
            host=args.host,
            port=args.port,
            pce_file=args.pce_file,
            today=args.today,
            seed=args.seed,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            fault_kinds=parse_kinds(args.faults),
            fault_latency_ms=args.fault_latency_ms,
            slow_ms=args.slow_ms,
            closed=args.closed,
            maintenance=args.maintenance,
            tls=tls,
            numthreads=args.threads,
            on_call=None if args.quiet else _print_call,
            server_log=None if args.quiet else _print_server,
        )
    except (ConfigError, SimulatorError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    print(f"Simulateur OMEGA démarré : {simulator.base_url}")
    print(f"  DIT : {simulator.dit_url}   (WSDL : {simulator.dit_url}?wsdl)")
    print(f"  RDV : {simulator.rdv_url}   (WSDL : {simulator.rdv_url}?wsdl)")
    print(f"  Demandes enregistrées : {simulator.admin_url}")
    print("Ctrl-C pour arrêter.", flush=True)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        simulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    print("Simulateur arrêté.", flush=True)
    return 0


def _log_to_stderr() -> None:
    """structlog events (logger ``omega.simulator``) to stderr, tracebacks in full."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.set_exc_info,
            structlog.processors.format_exc_info,  # the traceback as text, masked below
            mask_personal_data,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


if __name__ == "__main__":
    _log_to_stderr()
    sys.exit(main())
