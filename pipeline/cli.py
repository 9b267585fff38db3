"""Command line of dit-batch: ``python run_batch.py [options]`` and ``template PATH``.

Exit codes (documented in the README):
0 every row ended done or with a business outcome; 1 unexpected failure;
2 configuration or command-line error; 3 a run is already in progress;
4 OMEGA unavailable, rows deferred to the next run; 5 rows left to check (A_VERIFIER);
6 rows failed on a technical error before their demand existed (ERREUR_TECHNIQUE).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn, TextIO

import structlog

from pipeline.config import ConfigError, Settings, load_settings
from pipeline.execute import JournalError
from pipeline.lifecycle import RunInProgress, run_lock
from pipeline.logs import configure_logging
from pipeline.progress import Progress
from pipeline.records import Status, printable
from pipeline.run import BatchRun, RunSummary

log = structlog.get_logger("dit_batch.cli")


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    CONFIG = 2
    RUN_IN_PROGRESS = 3
    SERVICE_UNAVAILABLE = 4
    TO_CHECK = 5
    TECHNICAL_ERRORS = 6


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
        epilog="Sous-commande : 'run_batch.py template CHEMIN.xlsx' écrit un modèle de fichier.",
    )
    p.add_argument(
        "--config", type=Path, help="fichier de configuration (défaut : config/settings.toml)"
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
        help="renvoie les demandes restées sans réponse (A_VERIFIER) : à n'utiliser "
        "qu'après avoir vérifié dans le suivi OMEGA qu'elles n'existent pas",
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="plus de détails")
    p.add_argument("-q", "--quiet", action="count", default=0, help="moins de détails")
    return p


def _template_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_batch.py template", description="Écrit un modèle de fichier de demandes (XLSX)."
    )
    p.add_argument("path", type=Path, help="chemin du modèle à créer (.xlsx)")
    p.add_argument("--config", type=Path, help="fichier de configuration")
    return p


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    out = stdout or sys.stdout
    if args_list[:1] == ["template"]:
        return _template(_template_parser().parse_args(args_list[1:]), out)
    if args_list[:1] == ["--config"] and args_list[2:3] == ["template"]:
        return _template(_template_parser().parse_args([*args_list[3:], *args_list[:2]]), out)
    args = _run_parser().parse_args(args_list)
    if args.limit is not None and args.limit < 0:
        _run_parser().error("--limit doit être positif ou nul")
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    lock_path = settings.paths.journal.parent / "dit-batch.lock"
    try:
        with run_lock(lock_path):
            return _run(settings, args, out)
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
    settings = load_settings(args.config)
    paths = settings.paths
    if args.input_dir is not None:
        paths = replace(paths, input_dir=args.input_dir.resolve())
    if args.output_dir is not None:
        paths = replace(paths, output_dir=args.output_dir.resolve())
    return replace(settings, paths=paths)


def _run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    started = datetime.now()
    log_dir = settings.paths.output_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"run-{started:%Y%m%d-%H%M%S}.jsonl"
    configure_logging(log_file=log_file, verbosity=args.verbose - args.quiet)
    progress = Progress()
    log.info(
        "run_started",
        dry_run=args.dry_run,
        input_dir=str(settings.paths.input_dir),
        endpoint=settings.omega.url,
        version=settings.omega.version,
    )
    try:
        summary = BatchRun(
            settings,
            dry_run=args.dry_run,
            limit=args.limit,
            retry_unknown=args.retry_unknown,
            progress=progress,
        ).execute()
    except JournalError as exc:
        log.error("journal_unusable", error=str(exc))
        print(f"Erreur : {exc}", file=sys.stderr)
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
        progress.close()
    code = exit_code(summary)
    print_summary(summary, out, log_file, code)
    log.info("run_finished", exit_code=int(code))
    return code


def exit_code(summary: RunSummary) -> ExitCode:
    """The most urgent condition wins: unexpected > to check > technical errors > deferred."""
    if summary.unexpected_errors:
        return ExitCode.UNEXPECTED
    if summary.total(Status.A_VERIFIER):
        return ExitCode.TO_CHECK
    if summary.total(Status.ERREUR_TECHNIQUE):
        return ExitCode.TECHNICAL_ERRORS
    if any(f.deferred for f in summary.files):
        return ExitCode.SERVICE_UNAVAILABLE
    return ExitCode.OK


def print_summary(summary: RunSummary, out: TextIO, log_file: Path, code: ExitCode) -> None:
    mode = (
        "SIMULATION (--dry-run) : rien n'a été envoyé"
        if summary.dry_run
        else (f"service : {summary.endpoint}")
    )
    print(f"dit-batch — passage du {summary.started_at:%d/%m/%Y %H:%M:%S} — {mode}", file=out)
    if not summary.files:
        print("Aucun fichier à traiter dans le dossier d'entrée.", file=out)
    for f in summary.files:
        counts = ", ".join(f"{s.value} {n}" for s, n in sorted(f.counts.items()) if n)
        print(f"\n• {f.name} : {f.rows} ligne(s){' — ' + counts if counts else ''}", file=out)
        if f.error:
            print(f"  Fichier illisible : {f.error}", file=out)
        if f.output is not None:
            print(f"  Résultats : {_shown(f.output)}", file=out)
        if f.resubmission is not None:
            print(f"  À corriger et redéposer : {_shown(f.resubmission)}", file=out)
        if f.moved_to is not None:
            print(f"  Fichier déplacé vers : {_shown(f.moved_to)}", file=out)
        for note in f.notes:
            print(f"  {note}", file=out)
    for name, reason in summary.left_for_later:
        print(f"\n• {name} : non lu ({reason})", file=out)
    print(f"\nJournal d'exécution : {log_file}", file=out)
    print(f"Code de sortie : {int(code)} — {_EXIT_TEXT[code]}", file=out)


def _shown(path: Path) -> str:
    """A path as the console shows it: printable (a name that is not UTF-8 shows its
    bytes as ``\\xNN``), whole."""
    return printable(str(path), 4096)


_EXIT_TEXT = {
    ExitCode.OK: "terminé",
    ExitCode.UNEXPECTED: "erreur inattendue, voir le journal d'exécution",
    ExitCode.CONFIG: "erreur de configuration",
    ExitCode.RUN_IN_PROGRESS: "un passage était déjà en cours",
    ExitCode.SERVICE_UNAVAILABLE: (
        "OMEGA indisponible : des lignes sont reportées au prochain passage"
    ),
    ExitCode.TO_CHECK: "des lignes sont à vérifier dans le suivi des demandes OMEGA",
    ExitCode.TECHNICAL_ERRORS: (
        "des lignes ont échoué sur une erreur technique : fichier à resoumettre, "
        "voir le journal d'exécution"
    ),
}


def _template(args: argparse.Namespace, out: TextIO) -> int:
    from pipeline.referential import load_referential
    from pipeline.report import TemplateError, write_template

    try:
        settings = load_settings(args.config)
        path = write_template(args.path, load_referential(settings.paths.referential_dir))
    except ConfigError as exc:
        print(f"Erreur de configuration : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except TemplateError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    print(f"Modèle écrit : {path}", file=out)
    return ExitCode.OK
