"""Stable rule codes of the findings the reader emits, and helpers that build them.

File-level findings (``line=None``) say why a file cannot be read, or what is odd
about it as a whole; row-level findings say what the reader changed or could not
read in one cell. Messages are French, for business users. This module is a leaf
apart from ``pipeline.records``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pipeline.records import Finding, Severity, display_name


class ReadRule(StrEnum):
    """Rule codes of the reader (listed in docs/input.md)."""

    # file level, errors: the file is not processed
    FICHIER_ILLISIBLE = "FICHIER_ILLISIBLE"
    FICHIER_PROTEGE = "FICHIER_PROTEGE"
    FICHIER_VIDE = "FICHIER_VIDE"
    FICHIER_TROP_GROS = "FICHIER_TROP_GROS"
    BUDGET_DEPASSE = "BUDGET_DEPASSE"
    EXTENSION_INCONNUE = "EXTENSION_INCONNUE"
    COLONNES_MANQUANTES = "COLONNES_MANQUANTES"
    ENTETE_DOUBLON = "ENTETE_DOUBLON"
    # file level, warnings: the file is processed
    AUCUNE_LIGNE = "AUCUNE_LIGNE"
    COLONNES_EXCEDENTAIRES = "COLONNES_EXCEDENTAIRES"
    # row level
    ZEROS_RESTAURES = "ZEROS_RESTAURES"
    NOMBRE_TRONQUE = "NOMBRE_TRONQUE"
    CELLULE_ERREUR = "CELLULE_ERREUR"
    FORMULE_SANS_VALEUR = "FORMULE_SANS_VALEUR"
    CELLULE_SANS_ENTETE = "CELLULE_SANS_ENTETE"
    # demand-tracking exports (input/suivi/, see tracking.py)
    SUIVI_SANS_HORODATAGE = "SUIVI_SANS_HORODATAGE"  # file level, error
    SUIVI_NUMERO_VIDE = "SUIVI_NUMERO_VIDE"  # row ignored
    SUIVI_NUMERO_DOUBLON = "SUIVI_NUMERO_DOUBLON"  # row ignored
    SUIVI_REFERENCE_VIDE = "SUIVI_REFERENCE_VIDE"  # warning
    SUIVI_ETAT_INCONNU = "SUIVI_ETAT_INCONNU"  # warning
    SUIVI_DATE_INVALIDE = "SUIVI_DATE_INVALIDE"  # warning
    CODE_NORMALISE = "CODE_NORMALISE"
    # file level, warning: a column matched to no field
    ENTETE_INCONNUE = "ENTETE_INCONNUE"
    CELLULE_TROP_LONGUE = "CELLULE_TROP_LONGUE"


def file_error(
    path: Path, rule: ReadRule, message: str, field: str = "", value: str = ""
) -> Finding:
    """A file-level error; the message is prefixed with the file's name."""
    return Finding(
        rule, Severity.ERROR, field, value, f"Fichier « {display_name(path.name)} » : {message}"
    )


def file_warning(
    path: Path, rule: ReadRule, message: str, field: str = "", value: str = ""
) -> Finding:
    """A file-level warning; the message is prefixed with the file's name."""
    return Finding(
        rule, Severity.WARNING, field, value, f"Fichier « {display_name(path.name)} » : {message}"
    )


def column_letter(index: int) -> str:
    """Excel column letters of a 0-based column index (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters
