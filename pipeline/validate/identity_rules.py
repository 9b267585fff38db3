"""Rules on who and what a row is about: the PCE number, the postal code, the
template's example row, and the cross-row rules (a ReferenceDemande used twice, the
same request twice in one file).

``FileValidator.check`` runs the inline screens and keeps the per-file memory (the
references and request signatures seen so far); these functions only run for a value
that fails its screen, and append the exact finding to ``out``.
"""

from __future__ import annotations

from pipeline.records import Finding
from pipeline.validate.rule_catalogue import finding


def check_pce(pce: str, line: int, out: list[Finding]) -> None:
    """Report a missing or malformed NumeroPCE (14 digits, or « GI » and 6 digits)."""
    if not pce:
        out.append(
            finding(
                "PCE_MANQUANT",
                "NumeroPCE",
                pce,
                "NumeroPCE obligatoire : 14 chiffres, ou « GI » suivi de 6 chiffres.",
                line,
            )
        )
        return
    if pce.isascii() and (
        (len(pce) == 14 and pce.isdigit())
        or (len(pce) == 8 and pce.startswith("GI") and pce[2:].isdigit())
    ):
        return
    message = f"NumeroPCE « {pce} » invalide : 14 chiffres, ou « GI » suivi de 6 chiffres, "
    message += "attendus."
    if pce.isascii() and pce.isdigit() and len(pce) < 14:
        missing = 14 - len(pce)
        message = (
            f"NumeroPCE « {pce} » : {len(pce)} chiffres, il en manque {missing} (14 attendus). "
            "Il n'est pas complété automatiquement : un zéro de tête perdu ou un chiffre "
            "oublié ne se distinguent pas. Recopiez le numéro exact (facture, contrat) ; "
            "pour qu'Excel garde les zéros de tête, mettez la colonne au format Texte avant "
            "de saisir ou de coller, et n'ouvrez pas un CSV dans Excel avant de le déposer "
            "(ou importez-le avec la colonne NumeroPCE au format Texte)."
        )
    out.append(finding("PCE_FORMAT", "NumeroPCE", pce, message, line))


def check_postal(postal: str, line: int, out: list[Finding]) -> None:
    """Report a CodePostal that is not 5 digits."""
    message = (
        f"CodePostal « {postal} » invalide : 5 chiffres attendus, ou vide "
        "(Corse : 20xxx, jamais 2A/2B)."
    )
    out.append(finding("CP_FORMAT", "CodePostal", postal, message, line))


def example_row(reference: str, line: int, out: list[Finding]) -> None:
    """Report the template's example row (EXEMPLE-0001), never sent."""
    message = (
        f"ReferenceDemande « {reference} » : c'est la ligne d'exemple du modèle, elle "
        "n'est pas envoyée ; la supprimer ou la remplacer par une vraie demande."
    )
    out.append(finding("LIGNE_EXEMPLE", "ReferenceDemande", reference, message, line))


def duplicate_reference(reference: str, first: int, line: int, out: list[Finding]) -> None:
    """Report a ReferenceDemande already used on line ``first``."""
    out.append(
        finding(
            "REFERENCE_DOUBLON",
            "ReferenceDemande",
            reference,
            f"ReferenceDemande « {reference} » déjà utilisée ligne {first} : "
            "une référence différente par demande attendue.",
            line,
        )
    )


def duplicate_request(
    key: tuple[str, str, str, str], first: int, line: int, out: list[Finding]
) -> None:
    """Report the same (PCE, code, motif, DateRdv) request as line ``first``."""
    message = (
        f"Même demande que la ligne {first} (PCE {key[0]}, code {key[1]}, motif et "
        "date identiques) : vérifier qu'il ne s'agit pas d'un doublon."
    )
    out.append(finding("DEMANDE_DOUBLON", "NumeroPCE", key[0], message, line))
