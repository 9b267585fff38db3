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
from pipeline.records import Status
from pipeline.referential import ReferentialError, load_referential
from pipeline.reprise import TrackingSummary
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
        help="sans effet (conservée pour les scripts existants) : chaque passage rapproche "
        "désormais les lignes A_VERIFIER de l'export du suivi des demandes déposé dans "
        "input/suivi/ et ne renvoie que celles que le suivi prouve absentes ; aucun "
        "renvoi à l'aveugle n'est possible",
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
            progress=progress,
        ).execute()
    except JournalError as exc:
        log.error("journal_unusable", error=str(exc))
        print(f"Erreur : {exc}", file=sys.stderr)
        return ExitCode.CONFIG
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
        progress.close()
    code = exit_code(summary)
    print_summary(summary, out, log_file, code)
    log.info("run_finished", exit_code=int(code))
    return code


def exit_code(summary: RunSummary) -> ExitCode:
    """The most urgent condition wins: unexpected > to check > technical errors > deferred."""
    if summary.unexpected_errors:
        return ExitCode.UNEXPECTED
    if summary.to_check:
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
            print(f"  Résultats : {f.output}", file=out)
        if f.resubmission is not None:
            print(f"  À corriger et redéposer : {f.resubmission}", file=out)
        if f.moved_to is not None:
            print(f"  Fichier déplacé vers : {f.moved_to}", file=out)
        for note in f.notes:
            print(f"  {note}", file=out)
    if summary.tracking is not None:
        print_tracking(summary.tracking, out)
    for name, reason in summary.left_for_later:
        print(f"\n• {name} : laissé pour le prochain passage ({reason})", file=out)
    print(f"\nJournal d'exécution : {log_file}", file=out)
    print(f"Code de sortie : {int(code)} — {_EXIT_TEXT[code]}", file=out)


RETRY_UNKNOWN_NOTICE = (
    "Attention : --retry-unknown n'a plus d'effet. Chaque passage rapproche les lignes "
    "A_VERIFIER de l'export du suivi des demandes OMEGA déposé dans input/suivi/ : "
    "seules les demandes que le suivi prouve absentes sont renvoyées, jamais à l'aveugle."
)


def print_tracking(t: TrackingSummary, out: TextIO) -> None:
    """The demand tracking's part of the summary (nothing when there was nothing to do)."""
    settled = sum(t.settled.values())
    if (
        not (t.exports or settled or t.resent or t.resumed or t.waiting or t.unmatchable)
        and not t.left_for_later
    ):
        return
    print(f"\n• Suivi des demandes ({t.folder}) :", file=out)
    for name, moved, book in t.exports:
        where = f" → {moved}" if moved is not None else ""
        print(f"  Export {name}{where}", file=out)
        if book is not None:
            print(f"  Anomalies de l'export : {book}", file=out)
    for message in t.findings:
        print(f"  {message}", file=out)
    for name, reason in t.left_for_later:
        print(f"  Export {name} : laissé pour le prochain passage ({reason})", file=out)
    if settled:
        counts = ", ".join(f"{s.value} {n}" for s, n in sorted(t.settled.items()) if n)
        print(f"  {settled} ligne(s) réglée(s) d'après le suivi — {counts}", file=out)
    if t.resent:
        print(f"  {t.resent} ligne(s) absente(s) du suivi : envoyée(s) à nouveau", file=out)
    if t.resumed:
        print(
            f"  {t.resumed} demande(s) en attente de RDV : prise de rendez-vous reprise",
            file=out,
        )
    if t.waiting and t.needed_from is not None:
        print(
            f"  {t.waiting} ligne(s) A_VERIFIER attendent un export du suivi : déposez dans "
            f"{t.folder} un export complet du suivi des demandes OMEGA extrait après le "
            f"{t.needed_from:%d/%m/%Y à %H:%M:%S}, avec la date et l'heure de l'extraction "
            "dans le nom du fichier (par exemple "
            f"suivi_demandes_{t.needed_from:%Y%m%d-%H%M%S}.csv)",
            file=out,
        )
    if t.unmatchable:
        print(
            f"  {t.unmatchable} ligne(s) A_VERIFIER sans ReferenceDemande : l'export doit "
            "avoir les colonnes NumeroPCE et code d'intervention pour les retrouver",
            file=out,
        )


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
