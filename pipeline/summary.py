"""What an operator reads at the end of a run: the French summary printed on the console
(files, statuses, what stopped the run, the demand tracking) and the exit code that
tells cron or systemd how the night went. Used by ``pipeline/cli.py``.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import TextIO

from pipeline.logs import log_file_problem
from pipeline.records import Status, printable
from pipeline.reprise import TrackingSummary
from pipeline.run import RunSummary


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1
    CONFIG = 2
    RUN_IN_PROGRESS = 3
    SERVICE_UNAVAILABLE = 4
    TO_CHECK = 5
    TECHNICAL_ERRORS = 6
    STORAGE = 7
    INTERRUPTED = 8


def exit_code(summary: RunSummary) -> ExitCode:
    """A cause that stopped the run wins (its own code); then the most urgent condition:
    unexpected > to check > technical errors > deferred."""
    if summary.stop is not None:
        return ExitCode(summary.stop.exit_code)
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
        if f.problem:
            print(f"  Problème : {f.problem}", file=out)
        if f.output is not None:
            print(f"  Résultats : {_shown(f.output)}", file=out)
        if f.resubmission is not None:
            print(f"  À corriger et redéposer : {_shown(f.resubmission)}", file=out)
        if f.moved_to is not None:
            print(f"  Fichier déplacé vers : {_shown(f.moved_to)}", file=out)
        for note in f.notes:
            print(f"  {note}", file=out)
    if summary.tracking is not None:
        print_tracking(summary.tracking, out)
    for name, reason in summary.left_for_later:
        print(f"\n• {name} : non lu ({reason})", file=out)
    if summary.cleaned:
        print(
            f"\nFichiers temporaires d'un passage interrompu supprimés : {len(summary.cleaned)}",
            file=out,
        )
    if summary.breaker:
        print(f"\nDisjoncteur : {summary.breaker}", file=out)
    if summary.stop is not None:
        print(f"\nPASSAGE ARRÊTÉ : {summary.stop.message}", file=out)
    problem = log_file_problem()
    shown = f"{log_file} — attention : {problem}" if problem else str(log_file)
    print(f"\nJournal d'exécution : {shown}", file=out)
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
    ExitCode.CONFIG: "erreur de configuration : corrigez le réglage indiqué puis relancez",
    ExitCode.RUN_IN_PROGRESS: "un passage était déjà en cours",
    ExitCode.SERVICE_UNAVAILABLE: (
        "OMEGA indisponible : des lignes sont reportées au prochain passage"
    ),
    ExitCode.TO_CHECK: "des lignes sont à vérifier dans le suivi des demandes OMEGA",
    ExitCode.TECHNICAL_ERRORS: (
        "des lignes ont échoué sur une erreur technique : fichier à resoumettre, "
        "voir le journal d'exécution"
    ),
    ExitCode.STORAGE: (
        "stockage indisponible (journal ou dossier de sortie) : corrigez la cause puis "
        "relancez, rien ne sera envoyé deux fois"
    ),
    ExitCode.INTERRUPTED: (
        "passage interrompu (signal) : relancez, les lignes non envoyées partiront alors"
    ),
}


def _shown(path: Path) -> str:
    """A path as the console shows it: printable (a name that is not UTF-8 shows its
    bytes as ``\\xNN``), whole."""
    return printable(str(path), 4096)
