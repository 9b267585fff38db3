"""What the report workbooks look like: sheet names, columns, colours, widths, advice.

Shared by the sheet writers: :mod:`pipeline.report.results_book`,
:mod:`pipeline.report.summary_sheet` and :mod:`pipeline.report.resubmission_book` (the
per-row cells are in :mod:`pipeline.report.row_view`).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.records import RESUBMISSION_REASON_COLUMN, Family, Severity, Status

RESULTS_SHEET = "Résultats"
SUMMARY_SHEET = "Synthèse"
ANOMALIES_SHEET = "Anomalies"
RESUBMIT_SHEET = "Demandes"  # the sheet name the reader looks for first

# Résultats, outcome first: what happened (frozen on screen, repeated on every printed
# page), the appointment obtained, then the business's own columns in their order, then
# the technical OMEGA columns for support.
OUTCOME_COLUMNS: tuple[str, ...] = ("Ligne", "Statut", "Résultat", "Que faire")
MOVED_COLUMN = "RDV déplacé"
APPOINTMENT_COLUMNS: tuple[str, ...] = (
    "NumeroDemande",
    "DateRdvProgrammee",
    "PlageRdvProgrammee",
    "HeureMin",
    "HeureMax",
    MOVED_COLUMN,
)
TECHNICAL_COLUMNS: tuple[str, ...] = (
    "TypeRetourDialogue",
    "CodeRetour",
    "MessageRetour",
    "AppelsOMEGA",
    "PresenceClient",
    "Anomalies",
    "TraiteLe",
)
RESULT_COLUMNS: tuple[str, ...] = OUTCOME_COLUMNS + APPOINTMENT_COLUMNS + TECHNICAL_COLUMNS
OUTCOME_WIDTHS = (7, 18, 34, 38)
APPOINTMENT_WIDTHS = (14, 12, 10, 9, 9, 30)
TECHNICAL_WIDTHS = (18, 22, 50, 12, 24, 60, 20)
# Printed on A4 landscape at 65 %: the outcome and appointment columns on the first page
# width, the others on the next pages, each page under the header row, Ligne and Statut.
RESULTS_PRINT_SCALE = 65
RESULTS_PRINT_COLUMNS = 2


def result_headers(input_headers: Sequence[str]) -> list[str]:
    """The Résultats header row: outcome, appointment, the input's columns, technical."""
    return [*OUTCOME_COLUMNS, *APPOINTMENT_COLUMNS, *input_headers, *TECHNICAL_COLUMNS]


ANOMALY_COLUMNS: tuple[str, ...] = (
    "Ligne",
    "ReferenceDemande",
    "Champ",
    "Valeur",
    "Règle",
    "Gravité",
    "Message",
)
RESUBMIT_COLUMN = RESUBMISSION_REASON_COLUMN
# Every row that needs the business to correct something, or to send it again.
RESUBMIT_STATUSES = frozenset(
    {Status.REJET_VALIDATION, Status.NON_RECEVABLE, Status.REFUS_OMEGA, Status.ERREUR_TECHNIQUE}
)

# Fill colour (RRGGBB) per status family, and what the family asks of the reader.
FAMILY_COLOURS: dict[Family, str] = {
    Family.DONE: "C6EFCE",
    Family.TO_FIX: "FFC7CE",
    Family.TO_RETRY: "FFEB9C",
    Family.TO_CHECK: "BDD7EE",
}
# A row whose appointment differs from the one requested (date or slot): done, but the
# customer must be told; its own colour, its own "Que faire", counted in the Synthèse.
MOVED_COLOUR = "F4B084"
MOVED_LABEL = "rendez-vous déplacé"
MOVED_ADVICE = (
    "Prévenir le client : le rendez-vous obtenu n'est pas celui demandé (colonne « RDV déplacé »)."
)
WARNING_COLOUR = "E4DFEC"  # warnings: a colour of their own, never the "à relancer" yellow
FAMILY_ADVICE: dict[Family, str] = {
    Family.DONE: "Rien à faire.",
    Family.TO_FIX: "Corriger la cause indiquée (Anomalies, Résultat, MessageRetour) : les lignes "
    "REJET_VALIDATION, NON_RECEVABLE et REFUS_OMEGA sont reprises dans le fichier « à "
    "resoumettre », avec la raison.",
    Family.TO_RETRY: "Rien à corriger : une ligne reportée repart seule au prochain passage ; "
    "une erreur technique se renvoie avec le fichier « à resoumettre ».",
    Family.TO_CHECK: "Vérifier la demande dans le suivi des demandes OMEGA avant toute action : "
    "ne jamais la renvoyer à l'aveugle.",
}
# What to do about each status, in the words of the business teams (Synthèse, docs).
STATUS_ADVICE: dict[Status, str] = {
    Status.RDV_PROGRAMME: "Rien à faire : le rendez-vous est pris (DateRdvProgrammee, "
    "PlageRdvProgrammee, HeureMin-HeureMax).",
    Status.DATE_DEMANDEE: "Rien à faire : OMEGA a enregistré la demande à la date demandée ; "
    "le technicien contactera le client pour l'heure.",
    Status.PRISE_EN_COMPTE: "Rien à faire : la demande est enregistrée dans OMEGA (NumeroDemande).",
    Status.REJET_VALIDATION: "Rien n'a été envoyé. Corriger la ligne selon la colonne Anomalies, "
    "puis la renvoyer avec le fichier « à resoumettre ».",
    Status.NON_RECEVABLE: "OMEGA juge la demande non recevable pour ce PCE (voir Résultat et "
    "MessageRetour) : vérifier le PCE, l'intervention et le motif ; ne pas la renvoyer telle "
    "quelle.",
    Status.REFUS_OMEGA: "Corriger les données signalées dans MessageRetour, puis renvoyer la "
    "ligne avec le fichier « à resoumettre ».",
    Status.REPORTEE: "Rien à faire : la ligne sera envoyée automatiquement au prochain passage "
    "(ne pas redéposer le fichier).",
    Status.A_VERIFIER: "La demande existe peut-être : la chercher dans le suivi des demandes "
    "OMEGA (PCE, ReferenceDemande) avant toute action ; ne jamais la renvoyer à l'aveugle.",
    Status.ERREUR_TECHNIQUE: "Rien à corriger : renvoyer la ligne avec le fichier « à "
    "resoumettre » ; prévenir l'exploitation si l'erreur se répète.",
    Status.DEJA_TRAITEE: "Rien à faire : ligne déjà envoyée lors d'un passage précédent "
    "(voir NumeroDemande), elle n'a pas été renvoyée.",
    Status.VALIDE: "Simulation : la ligne est correcte et sera envoyée lors d'un passage normal.",
}
SEVERITY_COLOURS = {Severity.ERROR: "FFC7CE", Severity.WARNING: WARNING_COLOUR}

# "Que faire" of one Résultats row: short, one instruction (the Synthèse has the long text).
ROW_ACTION: dict[Status, str] = {
    Status.RDV_PROGRAMME: "Rien à faire : informer le client de son rendez-vous.",
    Status.DATE_DEMANDEE: "Rien à faire : le technicien appellera le client pour l'heure.",
    Status.PRISE_EN_COMPTE: "Rien à faire.",
    Status.DEJA_TRAITEE: "Rien à faire : déjà envoyée (voir NumeroDemande), pas renvoyée.",
    Status.VALIDE: "Simulation : rien n'a été envoyé.",
    Status.REJET_VALIDATION: "Corriger selon Anomalies puis redéposer le fichier « à "
    "resoumettre ».",
    Status.NON_RECEVABLE: "Vérifier PCE, code et motif (voir Résultat) puis redéposer le "
    "fichier « à resoumettre ».",
    Status.REFUS_OMEGA: "Corriger selon MessageRetour puis redéposer le fichier « à resoumettre ».",
    Status.REPORTEE: "Rien à faire : repart seule au prochain passage.",
    Status.ERREUR_TECHNIQUE: "Redéposer la ligne telle quelle (fichier « à resoumettre »).",
    Status.A_VERIFIER: "Chercher la demande dans le suivi OMEGA avant toute action ; ne pas "
    "la renvoyer.",
}
INPUT_HEADER_COLOUR = "D9D9D9"
RESULT_HEADER_COLOUR = "9BC2E6"

# Column widths (characters): known input columns, result columns, default.
_INPUT_WIDTHS = {
    "numeropce": 16,
    "codepostal": 11,
    "referencedemande": 18,
    "telephonefournisseur": 14,
    "commentairefournisseur": 30,
    "commentaire": 30,
    "codelibelleintervention": 12,
    "codemotifintervention": 12,
    "precisionintervention": 30,
    "daterdv": 12,
    "plagerdv": 10,
    "nomcontact": 22,
    "telephonecontact": 14,
    "complementadresse": 30,
}
ANOMALY_WIDTHS = (8, 18, 22, 24, 22, 14, 80)


def input_widths(headers: Sequence[str]) -> list[float]:
    widths: list[float] = []
    for header in headers:
        known = _INPUT_WIDTHS.get(header.strip().casefold().replace(" ", ""))
        widths.append(float(min(max(known or 12, len(header) + 4), 60)))
    return widths


def fit_headers(widths: Sequence[int], headers: Sequence[str]) -> list[float]:
    """Widths wide enough for each header and its filter button."""
    return [float(max(w, len(h) + 4)) for w, h in zip(widths, headers, strict=True)]
