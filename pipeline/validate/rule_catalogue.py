"""The catalogue of validation rules: each stable rule code with its severity, field and
French description (``RULE_INFO``, ``RULES``), the rule table of docs/validation.md
(``rules_markdown()``), and ``finding()``, which every rule family uses to report one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.records import Finding, Severity


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule code means: its severity, the field it looks at, a French description."""

    code: str
    severity: Severity
    field: str
    description: str


_E, _W = Severity.ERROR, Severity.WARNING
_INDEX = "TypeIndexConteste, ValeurIndexReleve, DateIndexConteste, ValeurIndexClient, "
_INDEX += "DateIndexClient"
RULE_INFO: Mapping[str, RuleInfo] = {
    info.code: info
    for info in (
        RuleInfo("PCE_MANQUANT", _E, "NumeroPCE", "Le numéro de PCE est obligatoire."),
        RuleInfo(
            "PCE_FORMAT", _E, "NumeroPCE", "Le PCE a 14 chiffres, ou « GI » suivi de 6 chiffres."
        ),
        RuleInfo(
            "CP_FORMAT", _E, "CodePostal", "Le code postal, facultatif, a 5 chiffres (Corse : 20…)."
        ),
        RuleInfo(
            "CODE_MANQUANT",
            _E,
            "CodeLibelleIntervention",
            "Le code d'intervention est obligatoire.",
        ),
        RuleInfo(
            "CODE_INCONNU",
            _E,
            "CodeLibelleIntervention",
            "Le code d'intervention doit figurer dans l'Annexe B.",
        ),
        RuleInfo(
            "MOTIF_OBLIGATOIRE",
            _E,
            "CodeMotifIntervention",
            "Un code listé avec des motifs exige l'un d'eux.",
        ),
        RuleInfo(
            "MOTIF_INTERDIT",
            _E,
            "CodeMotifIntervention",
            "Un code listé sans motif n'en prend pas : le motif doit être vide.",
        ),
        RuleInfo(
            "MOTIF_INCONNU",
            _E,
            "CodeMotifIntervention",
            "Le motif doit être un motif du code dans l'Annexe B (tous tableaux confondus).",
        ),
        RuleInfo("EXPRESS_VALEUR", _E, "OptionExpress", "L'option express vaut vide, 0 ou 1."),
        RuleInfo(
            "EXPRESS_INTERDIT",
            _E,
            "OptionExpress",
            "L'option express (1) n'est permise que pour les codes cochés en Annexe B.",
        ),
        RuleInfo(
            "PRECISION_OBLIGATOIRE",
            _E,
            "PrecisionIntervention",
            "La précision est obligatoire avec un motif « Autre ».",
        ),
        RuleInfo(
            "INDEX_MANQUANT",
            _E,
            _INDEX,
            "Les sections d'index sont obligatoires pour la vérification des données de "
            "comptage (G1, 253).",
        ),
        RuleInfo(
            "INDEX_TYPE", _E, "TypeIndexConteste", "Le type d'index doit figurer dans l'Annexe C."
        ),
        RuleInfo(
            "INDEX_VALEUR",
            _E,
            "ValeurIndexReleve, ValeurIndexClient",
            "Une valeur d'index s'écrit en chiffres.",
        ),
        RuleInfo(
            "INDEX_DATE",
            _E,
            "DateIndexConteste, DateIndexClient",
            "Une date d'index (JJ/MM/AAAA, AAAA-MM-JJ ou cellule date Excel, année sur 4 "
            "chiffres) n'est pas dans le futur.",
        ),
        RuleInfo("DATE_RDV_MANQUANTE", _E, "DateRdv", "La date de rendez-vous est obligatoire."),
        RuleInfo(
            "DATE_RDV_FORMAT",
            _E,
            "DateRdv",
            "La date de rendez-vous s'écrit JJ/MM/AAAA ou AAAA-MM-JJ (ou cellule date Excel), "
            "année sur 4 chiffres.",
        ),
        RuleInfo(
            "DATE_RDV_PASSEE",
            _E,
            "DateRdv",
            "La date de rendez-vous est la date du jour ou une date ultérieure.",
        ),
        RuleInfo(
            "PLAGE_OBLIGATOIRE",
            _E,
            "PlageRdv",
            "La plage est obligatoire pour un code des tableaux 6M/1M.",
        ),
        RuleInfo(
            "PLAGE_INCONNUE", _E, "PlageRdv", "La plage doit être un code du fichier des plages."
        ),
        RuleInfo(
            "PLAGE_IGNOREE",
            _W,
            "PlageRdv",
            "Un code JJ/JM/MM est pris à la date demandée : la plage n'est pas envoyée.",
        ),
        RuleInfo(
            "TEL_FORMAT",
            _E,
            "TelephoneContact",
            "À partir de la version V8, le téléphone du contact ne contient que des chiffres.",
        ),
        RuleInfo(
            "TEL_NETTOYE",
            _W,
            "TelephoneContact",
            "Espaces, points et tirets du téléphone retirés avant envoi (version V8 et plus).",
        ),
        RuleInfo(
            "CARACTERE_INTERDIT",
            _E,
            "(tout champ)",
            "Caractère de contrôle ou invisible qui ne peut pas être envoyé (ou saut de ligne "
            "hors des champs de texte libre).",
        ),
        RuleInfo(
            "CARACTERE_RETIRE",
            _W,
            "NomContact, ComplementAdresse, PrecisionIntervention, CommentaireFournisseur, "
            "Commentaire",
            "Sauts de ligne et tabulations remplacés par une espace, caractères invisibles "
            "retirés avant envoi.",
        ),
        RuleInfo(
            "LONGUEUR", _E, "(tout champ)", "La valeur dépasse la longueur permise par OMEGA."
        ),
        RuleInfo(
            "TRONCATURE_BON",
            _W,
            "NomContact, CodeAcces, ComplementAdresse, PrecisionIntervention",
            "Le bon d'intervention du technicien tronque ce texte (15, 5, 60 et 20 caractères).",
        ),
        RuleInfo(
            "COMMENTAIRE_NON_CONSERVE",
            _W,
            "CommentaireFournisseur",
            "OMEGA n'enregistre pas le commentaire fournisseur.",
        ),
        RuleInfo(
            "REFERENCE_DOUBLON",
            _E,
            "ReferenceDemande",
            "Une référence de demande déjà utilisée plus haut dans le fichier.",
        ),
        RuleInfo(
            "REFERENCE_DEJA_UTILISEE",
            _E,
            "ReferenceDemande",
            "À l'envoi : la référence désigne déjà une autre demande (autre PCE, code ou "
            "motif) ; rien n'est envoyé.",
        ),
        RuleInfo(
            "MODIFICATIONS_NON_ENVOYEES",
            _W,
            "(champs modifiés)",
            "À l'envoi : demande déjà envoyée sous cette référence ; les champs modifiés "
            "depuis ne sont pas renvoyés (modifier la demande sur le portail).",
        ),
        RuleInfo(
            "LIGNE_EXEMPLE",
            _E,
            "ReferenceDemande",
            "La ligne d'exemple du modèle (EXEMPLE-0001) n'est jamais envoyée.",
        ),
        RuleInfo(
            "DEMANDE_DOUBLON",
            _W,
            "NumeroPCE",
            "Même PCE, code, motif et date qu'une ligne précédente du fichier.",
        ),
    )
}
RULES: Mapping[str, str] = {code: info.description for code, info in RULE_INFO.items()}


def finding(rule: str, field: str, value: str, message: str, line: int) -> Finding:
    """The finding of ``rule`` (its severity from the catalogue) on one row's field."""
    return Finding(rule, RULE_INFO[rule].severity, field, value, message, line)


def rules_markdown() -> str:
    """The rule table of docs/validation.md (code, severity, field, description)."""
    lines = ["| Code | Gravité | Champ | Description |", "|---|---|---|---|"]
    for info in RULE_INFO.values():
        lines.append(
            f"| `{info.code}` | {info.severity.value} | {info.field} | {info.description} |"
        )
    return "\n".join(lines) + "\n"
