"""Matching a file's column headers to the canonical fields (``records.CANONICAL_FIELDS``).

A header matches a field when, once normalised (accents removed, lower case, every
character that is not a letter or a digit dropped: spaces, dots, dashes,
underscores, ``°``, apostrophes, brackets), it equals the normalised canonical
name or one of the field's aliases in ``ALIASES``. ``ALIASES`` is plain data: add
a spelling there, with a test, when a team's export uses a new one.

Deliberately absent from the aliases: one-word headers that often mean something
else in CRM exports ("Date", "Nom", "Téléphone", "Contact"); mapping them silently
could send the wrong value.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.read.rules import ReadRule, column_letter, file_error
from pipeline.records import CANONICAL_FIELDS, REQUIRED_COLUMNS, Finding, printable

# Canonical field -> other spellings seen in business files (any case, accents,
# spacing or punctuation: they are normalised before comparison).
ALIASES: Mapping[str, tuple[str, ...]] = {
    "NumeroPCE": (
        "N° PCE",
        "Numéro PCE",
        "Numéro de PCE",
        "Num PCE",
        "No PCE",
        "PCE",
        "Référence PCE",
        "Point de comptage",
    ),
    "CodePostal": ("Code postal", "CP", "Code postal PCE"),
    "ReferenceDemande": (
        "Référence",
        "Référence demande",
        "Référence de la demande",
        "Réf",
        "Réf demande",
        "Référence fournisseur",
    ),
    "TelephoneFournisseur": ("Téléphone fournisseur", "Tél fournisseur", "Tel fournisseur"),
    "GroupeAppartenance": ("Groupe d'appartenance", "Groupe appartenance"),
    "CommentaireFournisseur": ("Commentaire fournisseur",),
    "Commentaire": ("Commentaires", "Observation", "Observations"),
    "CodeLibelleIntervention": (
        "Code intervention",
        "Code libellé",
        "Code libellé intervention",
        "Code de l'intervention",
        "Type intervention",
        "Type d'intervention",
        "Code prestation",
    ),
    "CodeMotifIntervention": (
        "Motif",
        "Code motif",
        "Motif intervention",
        "Code motif intervention",
        "Motif de l'intervention",
    ),
    "OptionExpress": ("Option express", "Express"),
    "TypeIndexConteste": (
        "Type index",
        "Type d'index",
        "Type index contesté",
        "Type de l'index contesté",
        "TypeIndex",
    ),
    "ValeurIndexReleve": (
        "Index relevé",
        "Valeur index relevé",
        "Index contesté",
        "Valeur index contesté",
    ),
    "DateIndexConteste": ("Date index contesté", "Date index relevé", "Date de l'index contesté"),
    "ValeurIndexClient": ("Index client", "Valeur index client"),
    "DateIndexClient": ("Date index client", "Date de l'index client"),
    "PrecisionIntervention": (
        "Précision",
        "Précisions",
        "Précision intervention",
        "Précisions intervention",
    ),
    "DateRdv": (
        "Date RDV",
        "Date de RDV",
        "Date rendez-vous",
        "Date de rendez-vous",
        "Date du rendez-vous",
        "Date souhaitée",
        "Date demandée",
    ),
    "PlageRdv": (
        "Plage",
        "Plage RDV",
        "Plage horaire",
        "Créneau",
        "Créneau horaire",
        "Créneau RDV",
    ),
    "NomContact": ("Nom contact", "Nom du contact", "Contact nom", "Nom contact intervention"),
    "TelephoneContact": (
        "Téléphone contact",
        "Tél contact",
        "Tel contact",
        "Téléphone du contact",
        "Contact téléphone",
    ),
    "CodeAcces": ("Code accès", "Code d'accès", "Digicode"),
    "ComplementAdresse": ("Complément adresse", "Complément d'adresse", "Adresse complément"),
}


def normalise(header: str) -> str:
    """Comparison key of a header: no accents, lower case, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", header)
    return "".join(c for c in decomposed.casefold() if c.isalnum() and c.isascii())


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for field in CANONICAL_FIELDS:
        for spelling in (field, *ALIASES.get(field, ())):
            key = normalise(spelling)
            owner = index.setdefault(key, field)
            if owner != field:  # pragma: no cover - guarded by a test on the table
                raise ValueError(f"alias {spelling!r} claimed by {owner} and {field}")
    return index


_INDEX = _build_index()


def canonical_field(header: str) -> str | None:
    """The canonical field a header stands for, or None for a column we do not use."""
    return _INDEX.get(normalise(header))


_SHOWN = 12  # headers a message lists at most


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """Which column holds each canonical field, and what was wrong with the header row."""

    columns: Mapping[str, int]
    findings: list[Finding]


def match_headers(path: Path, headers: Sequence[str]) -> HeaderMatch:
    """Map canonical fields to column indexes; duplicates and missing required are errors."""
    columns: dict[str, int] = {}
    findings: list[Finding] = []
    for index, header in enumerate(headers):
        field = canonical_field(header)
        if field is None:
            continue
        if field in columns:
            first = columns[field]
            findings.append(
                file_error(
                    path,
                    ReadRule.ENTETE_DOUBLON,
                    f"les colonnes « {printable(headers[first], 40)} » ({column_letter(first)}) "
                    f"et « {printable(header, 40)} » ({column_letter(index)}) désignent toutes "
                    f"deux {field} : gardez-en une seule",
                    field=field,
                    value=printable(header),
                )
            )
            continue
        columns[field] = index
    missing = [f for f in REQUIRED_COLUMNS if f not in columns]
    if missing:
        named = [h for h in headers if h]
        found = printable(", ".join(f"« {h} »" for h in named[:_SHOWN]), 200) or "aucune"
        if len(named) > _SHOWN:
            found += f" et {len(named) - _SHOWN} autre(s)"
        findings.append(
            file_error(
                path,
                ReadRule.COLONNES_MANQUANTES,
                f"colonne(s) obligatoire(s) absente(s) : {', '.join(missing)}. "
                f"Colonnes trouvées en ligne d'en-tête : {found}",
                field=", ".join(missing),
                value=printable(" | ".join(named[:_SHOWN]), 200),
            )
        )
    return HeaderMatch(columns, findings)
