"""Small typed records that flow between the stages (read, validate, execute, report).

This module is a leaf: it imports nothing from the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

# Canonical input columns, in the template's order (spec names kept).
CANONICAL_FIELDS: tuple[str, ...] = (
    "NumeroPCE",
    "CodePostal",
    "ReferenceDemande",
    "TelephoneFournisseur",
    "GroupeAppartenance",
    "CommentaireFournisseur",
    "Commentaire",
    "CodeLibelleIntervention",
    "CodeMotifIntervention",
    "OptionExpress",
    "TypeIndexConteste",
    "ValeurIndexReleve",
    "DateIndexConteste",
    "ValeurIndexClient",
    "DateIndexClient",
    "PrecisionIntervention",
    "DateRdv",
    "PlageRdv",
    "NomContact",
    "TelephoneContact",
    "CodeAcces",
    "ComplementAdresse",
)

# ReferenceDemande of the template's example row: a row still carrying it is the example
# left in place, never a real request (the validator refuses it).
EXAMPLE_REFERENCE = "EXEMPLE-0001"

# The column of a resubmission workbook that says why the row came back: recognised by
# name when the file is deposited again, never echoed as the business's data.
RESUBMISSION_REASON_COLUMN = "MotifResoumission"


def date_forms(example: date) -> str:
    """How a date may be written, told the same way in the template's comments, the
    validation messages and the README (``example``: a date computed from today)."""
    return (
        f"JJ/MM/AAAA (ex. {example:%d/%m/%Y}), AAAA-MM-JJ ou une cellule date Excel ; "
        "l'année s'écrit sur 4 chiffres"
    )


def example_appointment(today: date) -> date:
    """The DateRdv given as an example in comments and messages: a month from today."""
    return today + timedelta(days=30)


# Columns without which a file cannot be processed at all (file-level error).
REQUIRED_COLUMNS: tuple[str, ...] = ("NumeroPCE", "CodeLibelleIntervention", "DateRdv")


class Severity(StrEnum):
    """How much a finding weighs: an error blocks the row, a warning does not."""

    ERROR = "erreur"
    WARNING = "avertissement"


@dataclass(frozen=True, slots=True)
class Finding:
    """One validation or reading finding, with a stable rule code and a French message.

    ``line`` is the row number the user sees in Excel (header = 1), or None for a
    file-level finding.
    """

    rule: str
    severity: Severity
    field: str
    value: str
    message: str
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def describe(self) -> str:
        """One line for a workbook cell: ``[RULE] message``."""
        return f"[{self.rule}] {self.message}"


@dataclass(slots=True)
class RequestRow:
    """One non-blank input row.

    ``cells`` are the row's values in the input's own column order, as text;
    ``values`` maps every canonical field to its cleaned text ('' when absent or empty).
    ``findings`` collects what the reader and then the validator noticed.
    """

    line: int
    cells: tuple[str, ...]
    values: Mapping[str, str]
    findings: list[Finding] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    @property
    def has_errors(self) -> bool:
        return any(f.is_error for f in self.findings)


class Family(StrEnum):
    """Status families, which decide the fill colour in the result workbook."""

    DONE = "traité"
    TO_FIX = "à corriger"
    TO_RETRY = "à relancer"
    TO_CHECK = "à vérifier"


class Status(StrEnum):
    """Stable outcome codes of a row. ``label`` is the French text business users read."""

    RDV_PROGRAMME = "RDV_PROGRAMME"
    DATE_DEMANDEE = "DATE_DEMANDEE"
    PRISE_EN_COMPTE = "PRISE_EN_COMPTE"
    REJET_VALIDATION = "REJET_VALIDATION"
    NON_RECEVABLE = "NON_RECEVABLE"
    REFUS_OMEGA = "REFUS_OMEGA"
    REPORTEE = "REPORTEE"
    A_VERIFIER = "A_VERIFIER"
    ERREUR_TECHNIQUE = "ERREUR_TECHNIQUE"
    DEJA_TRAITEE = "DEJA_TRAITEE"
    VALIDE = "VALIDE"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def family(self) -> Family:
        return _STATUS_FAMILIES[self]

    @property
    def holds_demand(self) -> bool:
        """True when this outcome means a demand exists (or may exist) in OMEGA."""
        return self in _DEMAND_STATUSES


_STATUS_LABELS: dict[Status, str] = {
    Status.RDV_PROGRAMME: "Rendez-vous programmé",
    Status.DATE_DEMANDEE: "Enregistrée à la date demandée (le technicien rappellera le client)",
    Status.PRISE_EN_COMPTE: "Demande prise en compte",
    Status.REJET_VALIDATION: "Rejetée avant envoi : ligne à corriger",
    Status.NON_RECEVABLE: "Demande non recevable par OMEGA",
    Status.REFUS_OMEGA: "Demande refusée par OMEGA : données à corriger",
    Status.REPORTEE: "Reportée : sera envoyée au prochain passage",
    Status.A_VERIFIER: "À vérifier dans le suivi des demandes OMEGA",
    Status.ERREUR_TECHNIQUE: "Erreur technique : à relancer",
    Status.DEJA_TRAITEE: "Déjà traitée lors d'un passage précédent",
    Status.VALIDE: "Valide (simulation, rien n'a été envoyé)",
}

_STATUS_FAMILIES: dict[Status, Family] = {
    Status.RDV_PROGRAMME: Family.DONE,
    Status.DATE_DEMANDEE: Family.DONE,
    Status.PRISE_EN_COMPTE: Family.DONE,
    Status.DEJA_TRAITEE: Family.DONE,
    Status.VALIDE: Family.DONE,
    Status.REJET_VALIDATION: Family.TO_FIX,
    Status.NON_RECEVABLE: Family.TO_FIX,
    Status.REFUS_OMEGA: Family.TO_FIX,
    Status.REPORTEE: Family.TO_RETRY,
    Status.ERREUR_TECHNIQUE: Family.TO_RETRY,
    Status.A_VERIFIER: Family.TO_CHECK,
}

_DEMAND_STATUSES = frozenset(
    {Status.RDV_PROGRAMME, Status.DATE_DEMANDEE, Status.PRISE_EN_COMPTE, Status.A_VERIFIER}
)


@dataclass(slots=True)
class RowOutcome:
    """What happened to one row: the status and everything OMEGA said about it."""

    status: Status
    type_retour: str = ""
    code_retour: str = ""
    messages: tuple[str, ...] = ()
    numero_demande: str = ""
    date_rdv: str = ""
    plage_rdv: str = ""
    heure_min: str = ""
    heure_max: str = ""
    presence_client: str = ""
    attempts: int = 0
    processed_at: str = ""
    detail: str = ""
    # Findings the execution adds to the row (a reused reference, changes not sent);
    # reported with the row's own findings, not kept in the journal.
    findings: tuple[Finding, ...] = ()


class DemandState(StrEnum):
    """A demand's state as OMEGA's demand tracking shows it (spec 2.1)."""

    ATTENTE_RDV = "en attente de RDV"
    RDV_PROGRAMME = "RDV programmé"
    EN_COURS = "En cours de traitement"
    ABANDONNEE = "Demande abandonnée"
    REFUSEE = "Demande refusée"  # PCE inconnu (22), demande non validée (23)
    INCONNU = "état non reconnu"


@dataclass(frozen=True, slots=True)
class TrackedDemand:
    """One demand of a tracking export (the portal's demand tracking, or a publication).

    Dates are ISO ``YYYY-MM-DD`` ('' when absent); ``line`` is the export's row number.
    """

    numero_demande: str
    reference: str
    state: DemandState
    state_text: str = ""  # the state as written in the export
    numero_pce: str = ""
    code: str = ""
    motif: str = ""
    date_demandee: str = ""
    date_programmee: str = ""
    plage: str = ""
    heure_min: str = ""
    heure_max: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class TrackingExport:
    """A demand-tracking export as read: when it was taken, its demands, its findings.

    ``taken_at`` is None when the export's time cannot be known (the file is not used);
    ``columns`` are the canonical tracking fields the export holds.
    """

    name: str
    taken_at: datetime | None
    demands: tuple[TrackedDemand, ...] = ()
    columns: frozenset[str] = frozenset()
    findings: tuple[Finding, ...] = ()

    @property
    def usable(self) -> bool:
        return self.taken_at is not None and not any(
            f.is_error and f.line is None for f in self.findings
        )


# User data quoted in a message, a log line or a workbook cell is bounded: a file name
# to this many characters, any other excerpt (a header, a cell, a first line) to
# EXCERPT_CHARS.
MAX_NAME_CHARS = 120
EXCERPT_CHARS = 60
_SPACES = frozenset("\u00a0\u202f")  # no-break spaces: French typography, shown as is


def printable(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` as a message may quote it: bytes that were not UTF-8 (surrogate escapes)
    shown ``\\xNN``, control and invisible characters (line breaks, escape sequences,
    bidirectional overrides) shown ``\\n``, ``\\x1b``, ``\\u202e``, and at most ``limit``
    characters (the start, ``…``, the end)."""
    if not text.isprintable() or not text.isascii():
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if not text.isprintable():
            text = "".join(c if c.isprintable() or c in _SPACES else _escape(c) for c in text)
    if len(text) > limit:
        tail = max(limit // 4, 1)
        text = f"{text[: limit - tail - 1]}…{text[-tail:]}"
    return text


def display_name(name: str) -> str:
    """A file name as the run's messages, logs, journal and workbooks show it."""
    return printable(name, MAX_NAME_CHARS)


def _escape(char: str) -> str:
    code = ord(char)
    if char in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
