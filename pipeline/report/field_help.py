"""What each column of the input template means: the header comments of the template and
of the resubmission workbook, written from the spec's field tables (chapter 3.3.1)."""

from __future__ import annotations

from datetime import date

from pipeline.records import REQUIRED_COLUMNS, date_forms, example_appointment

# Contract element names where they differ from the canonical field name.
_CONTRACT_NAMES = {
    "TypeIndexConteste": "TypeIndex",
    "PlageRdv": "Plage",
    "NomContact": "Nom",
    "TelephoneContact": "Telephone",
}

# What each column means, from the spec's field tables (chapter 3.3.1) and READING.md.
FIELD_HELP: dict[str, str] = {
    "NumeroPCE": "Numéro du PCE concerné par la demande : 14 chiffres (ou GI suivi de "
    "6 chiffres). Saisir en texte pour garder les zéros de tête.",
    "CodePostal": "Code postal où est situé le PCE (facultatif, 5 chiffres). Permet à OMEGA "
    "de détecter une erreur de saisie du PCE : le département doit être celui du PCE.",
    "ReferenceDemande": "Votre référence de la demande (SI fournisseur), reprise dans le "
    "suivi des demandes. Elle doit être unique dans le fichier.",
    "TelephoneFournisseur": "Téléphone du fournisseur (facultatif).",
    "GroupeAppartenance": "Groupe d'appartenance du fournisseur (facultatif).",
    "CommentaireFournisseur": "Commentaire fournisseur : OMEGA ne l'enregistre pas. "
    "Préférez Commentaire.",
    "Commentaire": "Observation libre concernant la demande (facultatif).",
    "CodeLibelleIntervention": "Code de l'intervention demandée (Annexe B, voir la feuille "
    "Référentiel) : 2 caractères pour les PCE 6M/1M (ex. Z8, 34), 3 chiffres pour les PCE "
    "JJ/JM/MM (ex. 206). Obligatoire.",
    "CodeMotifIntervention": "Code motif de l'intervention (Annexe B) : obligatoire pour les "
    "codes qui ont des motifs, vide pour les autres (ex. G1, 253, 206).",
    "OptionExpress": "Option express : 1 = oui, 0 ou vide = non. Autorisée seulement pour "
    "Z8, 206, 207 et 243 (Annexe B).",
    "TypeIndexConteste": "Type de l'index contesté (Annexe C, 01 à 06). Obligatoire pour la "
    "vérification des données de comptage (G1, 253), vide sinon.",
    "ValeurIndexReleve": "Valeur de l'index contesté par le client (nombre). Obligatoire pour "
    "G1 et 253.",
    "DateIndexConteste": "Date de l'index contesté, aujourd'hui ou avant : {dates}. "
    "Obligatoire pour G1 et 253.",
    "ValeurIndexClient": "Valeur de l'index relevé par le client (nombre). Obligatoire pour "
    "G1 et 253.",
    "DateIndexClient": "Date de l'index client, aujourd'hui ou avant : {dates}. Obligatoire "
    "pour G1 et 253.",
    "PrecisionIntervention": "Précisions pour le technicien. Obligatoire avec un motif 01 "
    "« Autre ». Le bon d'intervention n'en montre que les 20 premiers caractères.",
    "DateRdv": "Date du rendez-vous souhaité, aujourd'hui ou plus tard : {dates}.",
    "PlageRdv": "Créneau horaire souhaité (voir la feuille Référentiel). Obligatoire pour les "
    "PCE 6M et 1M ; les demandes JJ/JM/MM sont prises à la date demandée, sans plage.",
    "NomContact": "Nom ou raison sociale du contact sur place. Le bon d'intervention n'en "
    "montre que 15 caractères.",
    "TelephoneContact": "Téléphone du contact sur place : chiffres uniquement (ex. 0612345678).",
    "CodeAcces": "Code d'accès au local du PCE (le bon d'intervention n'en montre que "
    "5 caractères).",
    "ComplementAdresse": "Précisions pour accéder au local du PCE (le bon d'intervention n'en "
    "montre que 60 caractères).",
}


def field_comment(field: str, lengths: dict[str, int], today: date | None = None) -> str:
    """The comment of a field's header: its name, what it holds, its length, if required.

    Date fields say how a date is written (``records.date_forms``) with an example
    computed from ``today`` (default: today): a month ahead for DateRdv, today for an
    index date.
    """
    text = FIELD_HELP.get(field, "")
    if "{dates}" in text:
        day = today or date.today()
        example = example_appointment(day) if field == "DateRdv" else day
        text = text.replace("{dates}", date_forms(example))
    limit = lengths.get(_CONTRACT_NAMES.get(field, field))
    if limit:
        text += f" ({limit} caractères au plus.)"
    if field in REQUIRED_COLUMNS:
        text = "OBLIGATOIRE. " + text
    return f"{field}\n{text}"
