"""Command line of dit-batch: ``dit-batch [options]`` (or ``python run_batch.py``),
``template PATH`` and ``init DIR``.

Exit codes (documented in the README):
0 every row ended done or with a business outcome; 1 unexpected failure;
2 configuration or command-line error, or OMEGA's endpoint answering like a wrong URL,
refusing authentication or the supplier's identity (run stopped); 3 a run is already in
progress; 4 OMEGA unavailable, rows deferred to the next run; 5 rows left to check
(A_VERIFIER); 6 rows failed on a technical error before their demand existed
(ERREUR_TECHNIQUE); 7 storage: the journal or the output folder could not be written or
read (disk full, rights, lock, damaged journal), sending stopped; 8 stopped by SIGTERM /
SIGINT.

Signals: the first SIGTERM or SIGINT stops the run gracefully (see pipeline/stopping.py);
a second one exits at once, code 8, the journal consistent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

import structlog

from pipeline.config import ConfigError, Settings, load_settings
from pipeline.execute import JournalError
from pipeline.lifecycle import RunInProgress, run_lock
from pipeline.logs import configure_logging, log_file_path
from pipeline.progress import Progress
from pipeline.referential import ReferentialError, load_referential
from pipeline.run import BatchRun
from pipeline.stopping import RunStop, StopCause, install_signal_handlers
from pipeline.summary import RETRY_UNKNOWN_NOTICE, ExitCode, exit_code, print_summary
from pipeline.workdir import lay_out_workdir

log = structlog.get_logger("dit_batch.cli")


# argparse's own messages, in French (it ships no French catalogue).
_ARGPARSE_FR = (
    (re.compile(r"^unrecognized arguments: (.*)$"), r"arguments inconnus : \1"),
    (
        re.compile(r"^argument (\S+): invalid (\w+) value: (.*)$"),
        r"argument \1 : valeur invalide : \3",
    ),
    (
        re.compile(r"^argument (\S+): expected one argument$"),
        r"argument \1 : une valeur est attendue",
    ),
    (
        re.compile(r"^the following arguments are required: (.*)$"),
        r"argument(s) obligatoire(s) manquant(s) : \1",
    ),
)


class _Parser(argparse.ArgumentParser):
    """argparse speaking French, with our exit code for usage errors."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(add_help=False, **kwargs)
        self.add_argument("-h", "--help", action="help", help="affiche cette aide et s'arrête")

    def format_usage(self) -> str:
        return super().format_usage().replace("usage:", "utilisation :", 1)

    def format_help(self) -> str:
        text = super().format_help().replace("usage:", "utilisation :", 1)
        return text.replace("\noptions:\n", "\noptions :\n").replace(
            "positional arguments:", "arguments :"
        )

    def error(self, message: str) -> NoReturn:
        for pattern, french in _ARGPARSE_FR:
            message = pattern.sub(french, message)
        self.print_usage(sys.stderr)
        sys.stderr.write(f"Erreur : {message}\n")
        raise SystemExit(ExitCode.CONFIG)


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_batch.py",
        description="Envoie à OMEGA (GRDF) les demandes d'intervention technique des fichiers "
        "déposés dans input/ et écrit un classeur de résultats par fichier.",
        epilog="Sous-commandes : « template CHEMIN.xlsx » écrit un modèle de fichier de "
        "demandes ; « init DOSSIER » prépare un dossier de travail (config/, input/, "
        "output/, archive/, l'exemple). Configuration : --config, sinon DIT_CONFIG, sinon "
        "config/settings.toml dans le dossier courant.",
    )
    p.add_argument(
        "--config",
        type=Path,
        help="fichier de configuration (défaut : $DIT_CONFIG, sinon config/settings.toml "
        "du dossier courant)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="lit et contrôle les fichiers, écrit les résultats, n'envoie rien, ne déplace rien",
    )
    p.add_argument("--input-dir", type=Path, help="dossier des fichiers à traiter")
    p.add_argument("--output-dir", type=Path, help="dossier des classeurs de résultats")
    p.add_argument("--limit", type=int, metavar="N", help="traite au plus N lignes valides")
    p.add_argument(
        "--retry-unknown",
        action="store_true",
        help="sans effet (conservée pour les scripts existants) : chaque passage rapproche "
        "désormais les lignes A_VERIFIER de l'export du suivi des demandes déposé dans "
        "input/suivi/ et ne renvoie que celles que le suivi prouve absentes ; aucun "
        "renvoi à l'aveugle n'est possible",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="affiche aussi les événements du journal d'exécution (noms techniques)",
    )
    p.add_argument("-q", "--quiet", action="count", default=0, help="moins de détails")
    return p


def _template_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_batch.py template", description="Écrit un modèle de fichier de demandes (XLSX)."
    )
    p.add_argument("path", type=Path, help="chemin du modèle à créer (.xlsx)")
    p.add_argument("--config", type=Path, help="fichier de configuration")
    return p


def _init_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="dit-batch init",
        description="Prépare un dossier de travail : config/ (réglages, référentiel), "
        "input/ (avec le fichier d'exemple), output/, archive/, samples/. Rien d'existant "
        "n'est remplacé.",
    )
    p.add_argument("path", type=Path, help="dossier à préparer (créé s'il n'existe pas)")
    return p


def _init(args: argparse.Namespace, out: TextIO) -> int:
    try:
        done = lay_out_workdir(args.path)
    except OSError as exc:
        print(f"Erreur : impossible de préparer « {args.path} » ({exc})", file=sys.stderr)
        return ExitCode.CONFIG
    print(f"Dossier de travail : {args.path.resolve()}", file=out)
    for path, created in done:
        shown = path.relative_to(args.path)
        print(f"  {shown} : {'créé' if created else 'déjà présent, laissé tel quel'}", file=out)
    print(
        f"Ensuite : cd {args.path} && dit-batch   (traite l'exemple déposé dans input/)",
        file=out,
    )
    return ExitCode.OK


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    out = stdout or sys.stdout
    if args_list[:1] == ["init"]:
        return _init(_init_parser().parse_args(args_list[1:]), out)
    if args_list[:1] == ["template"]:
        return _template(_template_parser().parse_args(args_list[1:]), out)
    if args_list[:1] == ["--config"] and args_list[2:3] == ["template"]:
        return _template(_template_parser().parse_args([*args_list[3:], *args_list[:2]]), out)
    args = _run_parser().parse_args(args_list)
    if args.limit is not None and args.limit < 0:
        _run_parser().error("--limit doit être positif ou nul")
    if args.retry_unknown:
        print(RETRY_UNKNOWN_NOTICE, file=sys.stderr)
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    lock_path = settings.paths.journal.parent / "dit-batch.lock"
    try:
        with run_lock(lock_path):
            return _run(settings, args, out)
    except KeyboardInterrupt:  # Ctrl-C before the run's own handlers were installed
        print("Arrêt demandé avant le début du passage : rien n'a été envoyé.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except RunInProgress:
        print(
            f"Un passage est déjà en cours (verrou {lock_path}) : "
            "celui-ci s'arrête sans rien faire.",
            file=sys.stderr,
        )
        return ExitCode.RUN_IN_PROGRESS
    except OSError as exc:
        print(f"Erreur : impossible de créer le verrou {lock_path} ({exc})", file=sys.stderr)
        return ExitCode.CONFIG


def _settings(args: argparse.Namespace) -> Settings:
    """The run's settings, checked at start: the file strictly (see ``pipeline.config``)
    and the referential folder it names (a missing or broken file is a configuration
    error, before anything is read or sent)."""
    settings = load_settings(args.config)
    try:
        load_referential(settings.paths.referential_dir)
    except ReferentialError as exc:
        raise ConfigError(f"[paths] referential_dir : {exc}") from exc
    paths = settings.paths
    if args.input_dir is not None:
        tracking = paths.tracking_dir
        if tracking == paths.input_dir / "suivi":  # the default place follows input/
            tracking = args.input_dir.resolve() / "suivi"
        paths = replace(paths, input_dir=args.input_dir.resolve(), tracking_dir=tracking)
    if args.output_dir is not None:
        paths = replace(paths, output_dir=args.output_dir.resolve())
    return replace(settings, paths=paths)


def _run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    started = datetime.now()
    log_file = log_file_path(settings.paths.output_dir / "logs", started)
    # The console is the French summary below; the events stay in the log file (-v: both).
    configure_logging(
        log_file=log_file, verbosity=args.verbose - args.quiet, console=args.verbose > 0
    )
    progress = Progress()
    log.info(
        "run_started",
        dry_run=args.dry_run,
        input_dir=str(settings.paths.input_dir),
        endpoint=settings.omega.url,
        version=settings.omega.version,
    )
    stop = RunStop(grace_s=settings.execution.stop_grace_s)
    batch = BatchRun(
        settings,
        dry_run=args.dry_run,
        limit=args.limit,
        progress=progress,
        stop=stop,
    )
    restore = install_signal_handlers(
        stop, on_first=_stop_requested, on_second=lambda signum: _hard_stop(batch, signum)
    )
    try:
        summary = batch.execute()
    except JournalError as exc:
        log.error("journal_unusable", error=str(exc))
        print(f"Erreur : {exc}. Rien n'a été envoyé.", file=sys.stderr)
        return ExitCode.STORAGE
    except ConfigError as exc:  # e.g. the built-in simulator's PCE file
        log.error("configuration_error", error=str(exc))
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except Exception as exc:
        log.exception("run_failed")
        print(
            f"Erreur inattendue ({type(exc).__name__}) : le passage s'est arrêté. "
            f"Détails dans {log_file}. Rien n'a été perdu : relancez après correction, "
            "les lignes déjà envoyées ne seront pas renvoyées.",
            file=sys.stderr,
        )
        return ExitCode.UNEXPECTED
    finally:
        restore()
        progress.close()
    code = exit_code(summary)
    try:
        print_summary(summary, out, log_file, code)
        out.flush()
    except OSError as exc:  # stdout on a full disk (cron redirecting to a log file)
        _write_stderr(f"Résumé du passage non écrit ({exc}) ; code de sortie {int(code)}.\n")
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (until exit)
    log.info("run_finished", exit_code=int(code))
    if summary.abandoned:
        # Calls still in flight when the stop's grace ran out: their threads are left
        # behind; the journal holds what they committed, the next run takes it up.
        _exit_now(int(code))
    return code


def _stop_requested(cause: StopCause) -> None:
    """First SIGTERM/SIGINT (in the main thread, between two bytecodes)."""
    _write_stderr(f"{cause.message} Un second signal arrête immédiatement.\n")
    log.warning("stop_requested", cause=cause.kind.value)


def _hard_stop(batch: BatchRun, signum: int) -> None:
    """Second signal: put back the creations not sent, then exit at once."""
    unsent = batch.hard_stop()
    _write_stderr(
        "Second signal : arrêt immédiat. Le journal est cohérent ; relancez pour terminer "
        "les lignes en cours (une demande envoyée sans réponse sera « A_VERIFIER »).\n"
    )
    log.warning("hard_stop", signal=signum, creations_put_back=unsent)
    _exit_now(ExitCode.INTERRUPTED)


def _write_stderr(text: str) -> None:
    """Straight to the file descriptor: safe inside a signal handler."""
    with contextlib.suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(code)


def _template(args: argparse.Namespace, out: TextIO) -> int:
    from pipeline.report import TemplateError, write_template

    try:
        settings = load_settings(args.config)
        path = write_template(args.path, load_referential(settings.paths.referential_dir))
    except (ConfigError, ReferentialError) as exc:
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except TemplateError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    print(f"Modèle écrit : {path}", file=out)
    return ExitCode.OK
