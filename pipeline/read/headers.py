"""Matching a file's column headers to the canonical fields (``records.CANONICAL_FIELDS``).

A header matches a field when, once normalised (accents removed, lower case, every
character that is not a letter or a digit dropped: spaces, dots, dashes,
underscores, ``°``, apostrophes, brackets), it equals the normalised canonical
name or one of the field's aliases in ``ALIASES``. ``ALIASES`` is plain data: add
a spelling there, with a test, when a team's export uses a new one.

Deliberately absent from the aliases: one-word headers that often mean something
else in CRM exports ("Date", "Nom", "Téléphone", "Contact"); mapping them silently
could send the wrong value. A header that matches no field is kept (echoed in the
results, never sent) with an ENTETE_INCONNUE warning naming the closest fields
("Téléphone" -> TelephoneContact ou TelephoneFournisseur ?).
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.read.rules import ReadRule, column_letter, file_error, file_warning
from pipeline.records import (
    CANONICAL_FIELDS,
    REQUIRED_COLUMNS,
    RESUBMISSION_REASON_COLUMN,
    Finding,
    printable,
)

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
# difflib's cost grows with the header's length: beyond this, no guess is made.
_GUESS_CHARS = 80


def closest_fields(header: str) -> list[str]:
    """The fields whose name or alias is spelled most like ``header`` (at most two)."""
    key = normalise(header)
    if not key or len(key) > _GUESS_CHARS:  # no field is spelled like a page of text
        return []
    near = difflib.get_close_matches(key, _INDEX, n=6, cutoff=0.75)
    if len(key) >= 3:  # "Téléphone": the shortest spellings it starts first
        near = sorted((k for k in _INDEX if k.startswith(key)), key=len) + near
    fields = dict.fromkeys(_INDEX[k] for k in near)
    return list(fields)[:2]


def _unknown_header(path: Path, index: int, header: str) -> Finding:
    """A column that matches no field: kept and echoed, never sent; say it, with a guess."""
    guess = closest_fields(header)
    hint = f" Vouliez-vous dire {' ou '.join(guess)} ? Renommez l'en-tête." if guess else ""
    return file_warning(
        path,
        ReadRule.ENTETE_INCONNUE,
        f"la colonne « {printable(header)} » ({column_letter(index)}) ne correspond à aucun "
        f"champ : elle est recopiée dans les résultats mais n'est pas envoyée à OMEGA.{hint}",
        field=printable(header),
        value=printable(header),
    )


def _more_unknown_headers(path: Path, unknown: Sequence[tuple[int, str]]) -> Finding:
    """Past the first few, the columns that match no field in one warning: a file with
    thousands of such columns gets a bounded number of findings."""
    first, last = unknown[0][0], unknown[-1][0]
    return file_warning(
        path,
        ReadRule.ENTETE_INCONNUE,
        f"{len(unknown)} autre(s) colonne(s) ({column_letter(first)} à {column_letter(last)}) "
        "ne correspondent à aucun champ : recopiées dans les résultats, jamais envoyées",
        value=printable(" | ".join(h for _, h in unknown[:_SHOWN]), 200),
    )


def canonical_field(header: str) -> str | None:
    """The canonical field a header stands for, or None for a column we do not use."""
    return _INDEX.get(normalise(header))


def header_columns(headers: Sequence[str]) -> dict[str, int]:
    """Canonical field -> index of the first column whose header stands for it."""
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        field = canonical_field(header)
        if field is not None:
            columns.setdefault(field, index)
    return columns


_SHOWN = 12  # headers a message lists at most
_UNKNOWN_SHOWN = 10  # unknown headers warned one by one; the others in one warning


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """Which column holds each canonical field, and what was wrong with the header row."""

    columns: Mapping[str, int]
    findings: list[Finding]


def match_headers(path: Path, headers: Sequence[str]) -> HeaderMatch:
    """Map canonical fields to column indexes; duplicates and missing required are errors."""
    columns: dict[str, int] = {}
    findings: list[Finding] = []
    unknown: list[tuple[int, str]] = []
    for index, header in enumerate(headers):
        field = canonical_field(header)
        if field is None:
            if header and header != RESUBMISSION_REASON_COLUMN:
                unknown.append((index, header))
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
    findings.extend(_unknown_header(path, i, h) for i, h in unknown[:_UNKNOWN_SHOWN])
    if len(unknown) > _UNKNOWN_SHOWN:
        findings.append(_more_unknown_headers(path, unknown[_UNKNOWN_SHOWN:]))
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
