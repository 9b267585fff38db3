"""Return codes and messages of the simulated OMEGA, as data.

Texts of Annexe A are copied verbatim. The codes OMEGA appends to some of them
(codeErreur, codeChamp, codeCohérence, codeMessageOMEGA) are not public: the values
below are the simulator's own, documented with their meaning in
docs/simulator-engine.md, which shows the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# ----- TypeRetourDialogue -----
POURSUIVRE = "P"
ABANDONNE = "A"
TERMINE = "T"

# ----- CodeRetour (Annexe A) -----
DMD_OK_DP = "DmdOkDP"
DMD_OK_DD = "DmdOkDD"
DMD_OK = "DmdOk"
MESSAGE = "Message"
DATE_PLAGE_H = "DatePlageH"
LISTE_DP = "ListeDP"
DMD_KO = "DmdKo"

# ----- MessageRetour (Annexe A, verbatim) -----
MSG_RDV_PROGRAMME = "Le rendez-vous a été programmé avec succès."
MSG_DATE_DEMANDEE = (
    "Le rendez-vous a été enregistré à la date demandée, un technicien rappellera le client "
    "pour confirmer le rendez-vous."
)
MSG_DATE_DEMANDEE_CODE = (
    "Le rendez-vous a été enregistré à la date demandée, un technicien rappellera le client "
    "pour confirmer le rendez-vous : "
)
MSG_PRISE_EN_COMPTE = "Votre demande a été prise en compte"
MSG_POURSUIVRE_CODE = (
    "Le rendez-vous a été enregistré à la date demandée, pour poursuivre analyser le message "
    "lié au code suivant : "
)
MSG_RECEVABLE = "Demande recevable"
MSG_DATE_PLAGE_DISPONIBLE = (
    "La date et la plage horaire demandées sont disponibles. Confirmez le rendez-vous."
)
MSG_LISTE_DP = (
    "La date et la plage horaire demandées ne sont pas disponibles. Choisissez une nouvelle "
    "date et ou plage horaire dans la liste."
)
MSG_HABILITATION = "Habilitation incorrecte"
MSG_FERME = (
    "Ce service est actuellement indisponible. Veuillez renouveler votre demande pendant les "
    "heures d'ouverture du système OMEGA"
)
MSG_MAINTENANCE = (
    "Ce service est actuellement indisponible suite à une opération de maintenance. Veuillez "
    "renouveler votre demande ultérieurement"
)
MSG_DEPARTEMENT = (
    "La commune du PCE n'est pas dans le même département que le code postal saisi : merci de "
    "corriger le PCE et/ou le code postal"
)
MSG_ETAT_CAD = "Etat du CAD invalide"
MSG_LOGIN = "Le login doit être renseigné."
MSG_ABANDONNEE = "Demande abandonnée"
MSG_PCE_INCONNU = "Numéro de PCE incorrect ou inconnu"
MSG_DIALOGUE_INTERROMPU = (
    "Dialogue interrompu suite à un problème technique, vérifiez l'état de la demande sur le "
    "portail ou les publications OMEGA."
)
MSG_NON_RECEVABLE = "Demande non recevable : "
MSG_DONNEE_INCORRECTE = "Donnée incorrecte : "
MSG_TELEPHONE = "Champ numéro de téléphone incorrect : caractères numériques uniquement"


def with_code(message: str, code: str) -> str:
    """``message + codeErreur`` (Annexe A); the simulator adds a separator when the text has none.

    "Demande non recevable : X", "Numéro de PCE incorrect ou inconnu : X",
    "Dialogue interrompu ... OMEGA. (X)".
    """
    if message.endswith(": "):
        return f"{message}{code}"
    if message.endswith("."):
        return f"{message} ({code})"
    return f"{message} : {code}"


def donnee_incorrecte(champ: str, coherence: str) -> str:
    """``"Donnée incorrecte : " + codeChamp + " / " + codeCohérence`` (Annexe A)."""
    return f"{MSG_DONNEE_INCORRECTE}{champ} / {coherence}"


# ----- codeErreur (appended to the receivability / dialogue messages) -----
ERREUR_PCE_INCONNU = "PCE_INCONNU"
ERREUR_PCE_NON_TITULAIRE = "PCE_NON_TITULAIRE"
ERREUR_DEPARTEMENT = "DEPARTEMENT"
ERREUR_DEMANDE_INCONNUE = "DEMANDE_INCONNUE"
ERREUR_ETAT_DEMANDE = "ETAT_DEMANDE"
ERREUR_INCIDENT = "INCIDENT_TECHNIQUE"

CODES_ERREUR: dict[str, str] = {
    ERREUR_PCE_INCONNU: "Le PCE n'existe pas dans le référentiel des PCE.",
    ERREUR_PCE_NON_TITULAIRE: "Le PCE est rattaché au CAD d'un autre fournisseur.",
    ERREUR_DEPARTEMENT: (
        "Le code postal saisi n'est pas dans le département du PCE (gardé sur la demande 23 "
        "seulement : le message de l'Annexe A ne porte pas de code)."
    ),
    ERREUR_DEMANDE_INCONNUE: "Aucune demande ne porte ce NumeroDemande.",
    ERREUR_INCIDENT: (
        "CreerDemandeDIT interrompue par un incident d'OMEGA après l'enregistrement de la "
        "demande (réponse forcée par la colonne Reponse du fichier des PCE) : la demande "
        "figure dans le suivi."
    ),
    ERREUR_ETAT_DEMANDE: (
        "La demande n'est plus « en attente de RDV » (rendez-vous déjà programmé, demande "
        "enregistrée à date demandée ou abandonnée) : l'opération n'est plus possible."
    ),
}

# ----- codeMessageOMEGA (appended to the DmdOkDD message) -----
MESSAGE_AUCUN_CRENEAU = "AUCUN_CRENEAU"

CODES_MESSAGE_OMEGA: dict[str, str] = {
    MESSAGE_AUCUN_CRENEAU: (
        "Aucun créneau libre jusqu'à l'horizon de l'agenda : la demande est enregistrée à la "
        "date demandée."
    ),
}


# ----- codeChamp / codeCohérence ("Donnée incorrecte : <champ> / <cohérence>") -----
@dataclass(frozen=True, slots=True)
class Champ:
    """A codeChamp: the request element it names and the batch input column it comes from."""

    code: str
    element: str
    column: str


CHAMPS: dict[str, Champ] = {
    c.code: c
    for c in (
        Champ("VERSION", "NumeroVersion", ""),
        Champ("TYPE_DEMANDE", "Demande/TypeDemande", ""),
        Champ(
            "CODE_INTERVENTION",
            "Demande/DonneesTypeDemande/CodeLibelleIntervention",
            "CodeLibelleIntervention",
        ),
        Champ("MOTIF", "Demande/DonneesTypeDemande/CodeMotifIntervention", "CodeMotifIntervention"),
        Champ("OPTION_EXPRESS", "Demande/DonneesTypeDemande/OptionExpress", "OptionExpress"),
        Champ(
            "PRECISION",
            "Demande/DonneesTypeDemande/PrecisionIntervention",
            "PrecisionIntervention",
        ),
        Champ(
            "INDEX_TYPE",
            "Demande/DonneesTypeDemande/IndexConteste/TypeIndex",
            "TypeIndexConteste",
        ),
        Champ(
            "INDEX_VALEUR",
            "Demande/DonneesTypeDemande/IndexConteste/ValeurIndexReleve",
            "ValeurIndexReleve",
        ),
        Champ(
            "INDEX_DATE",
            "Demande/DonneesTypeDemande/IndexConteste/DateIndexConteste",
            "DateIndexConteste",
        ),
        Champ(
            "INDEX_CLIENT_VALEUR",
            "Demande/DonneesTypeDemande/IndexClient/ValeurIndexClient",
            "ValeurIndexClient",
        ),
        Champ(
            "INDEX_CLIENT_DATE",
            "Demande/DonneesTypeDemande/IndexClient/DateIndexClient",
            "DateIndexClient",
        ),
        Champ("DATE_RDV", "Demande/RdvDemande/Date (ou Date des opérations de RDV)", "DateRdv"),
        Champ("PLAGE", "Demande/RdvDemande/Plage", "PlageRdv"),
    )
}


class Coherence(StrEnum):
    """codeCohérence: which business rule the field breaks."""

    OBLIGATOIRE = "OBLIGATOIRE"
    INTERDIT = "INTERDIT"
    INCONNU = "INCONNU"
    CATEGORIE = "CATEGORIE"
    NON_AUTORISE = "NON_AUTORISE"
    FORMAT = "FORMAT"
    DATE_PASSEE = "DATE_PASSEE"
    DATE_FUTURE = "DATE_FUTURE"
    HORS_HORIZON = "HORS_HORIZON"


COHERENCES: dict[Coherence, str] = {
    Coherence.OBLIGATOIRE: "Donnée obligatoire dans ce cas, absente ou vide.",
    Coherence.INTERDIT: "Donnée interdite dans ce cas, doit être vide.",
    Coherence.INCONNU: "Valeur absente du référentiel (Annexe B, Annexe C, plages, versions).",
    Coherence.CATEGORIE: (
        "Code d'intervention connu mais absent du tableau de l'Annexe B de la catégorie du PCE."
    ),
    Coherence.NON_AUTORISE: "Option non autorisée pour ce code d'intervention (Annexe B).",
    Coherence.FORMAT: "Valeur mal formée (date inexistante, index non numérique...).",
    Coherence.DATE_PASSEE: "Date antérieure à la date du jour.",
    Coherence.DATE_FUTURE: "Date postérieure à la date du jour (un index relevé est passé).",
    Coherence.HORS_HORIZON: "Date au-delà de l'horizon de l'agenda des rendez-vous.",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One "Donnée incorrecte" of CreerDemandeDIT: a (codeChamp, codeCohérence) couple."""

    champ: str
    coherence: Coherence
    rule: str

    @property
    def message(self) -> str:
        return donnee_incorrecte(self.champ, self.coherence.value)


# Every couple the engine can answer, with the rule it stands for (the documented table).
FAULTS: tuple[Fault, ...] = (
    Fault("VERSION", Coherence.INCONNU, "NumeroVersion autre que V6, V7, V8 ou V9."),
    Fault("TYPE_DEMANDE", Coherence.INCONNU, "TypeDemande différent de « DIT »."),
    Fault("CODE_INTERVENTION", Coherence.OBLIGATOIRE, "CodeLibelleIntervention vide."),
    Fault("CODE_INTERVENTION", Coherence.INCONNU, "Code absent des trois tableaux de l'Annexe B."),
    Fault(
        "CODE_INTERVENTION",
        Coherence.CATEGORIE,
        "Code absent du tableau de l'Annexe B de la catégorie du PCE (6M non télérelevé, "
        "6M télérelevé et 1M, JJ/JM/MM).",
    ),
    Fault("MOTIF", Coherence.OBLIGATOIRE, "Le code d'intervention exige un motif ; motif vide."),
    Fault(
        "MOTIF",
        Coherence.INTERDIT,
        "Le code d'intervention ne prend pas de motif (ex. vérification des données de "
        "comptage) ; motif renseigné.",
    ),
    Fault("MOTIF", Coherence.INCONNU, "Motif absent de la liste du code dans l'Annexe B."),
    Fault(
        "OPTION_EXPRESS",
        Coherence.NON_AUTORISE,
        "OptionExpress à 1 pour un code qui ne l'autorise pas (seuls Z8, 206, 207, 243).",
    ),
    Fault(
        "PRECISION",
        Coherence.OBLIGATOIRE,
        "Motif 01 « Autre » sans PrecisionIntervention.",
    ),
    Fault("INDEX_TYPE", Coherence.OBLIGATOIRE, "G1/253 : type de l'index contesté vide."),
    Fault("INDEX_TYPE", Coherence.INCONNU, "G1/253 : type d'index hors Annexe C (01 à 06)."),
    Fault("INDEX_VALEUR", Coherence.OBLIGATOIRE, "G1/253 : valeur de l'index contesté vide."),
    Fault("INDEX_VALEUR", Coherence.FORMAT, "G1/253 : valeur de l'index contesté non numérique."),
    Fault("INDEX_DATE", Coherence.OBLIGATOIRE, "G1/253 : date de l'index contesté vide."),
    Fault("INDEX_DATE", Coherence.FORMAT, "G1/253 : date de l'index contesté inexistante."),
    Fault("INDEX_DATE", Coherence.DATE_FUTURE, "G1/253 : date de l'index contesté à venir."),
    Fault("INDEX_CLIENT_VALEUR", Coherence.OBLIGATOIRE, "G1/253 : valeur de l'index client vide."),
    Fault(
        "INDEX_CLIENT_VALEUR", Coherence.FORMAT, "G1/253 : valeur de l'index client non numérique."
    ),
    Fault("INDEX_CLIENT_DATE", Coherence.OBLIGATOIRE, "G1/253 : date de l'index client vide."),
    Fault("INDEX_CLIENT_DATE", Coherence.FORMAT, "G1/253 : date de l'index client inexistante."),
    Fault("INDEX_CLIENT_DATE", Coherence.DATE_FUTURE, "G1/253 : date de l'index client à venir."),
    Fault("DATE_RDV", Coherence.FORMAT, "Date de rendez-vous inexistante (ex. 2025-02-30)."),
    Fault("DATE_RDV", Coherence.DATE_PASSEE, "Date de rendez-vous antérieure à aujourd'hui."),
    Fault(
        "DATE_RDV",
        Coherence.HORS_HORIZON,
        "Date de rendez-vous au-delà de l'horizon de l'agenda (365 jours).",
    ),
    Fault("PLAGE", Coherence.OBLIGATOIRE, "PCE 6M ou 1M : Plage vide."),
    Fault("PLAGE", Coherence.INCONNU, "Code de plage absent du référentiel des plages."),
)

_FAULT_INDEX: dict[tuple[str, Coherence], Fault] = {(f.champ, f.coherence): f for f in FAULTS}


def fault(champ: str, coherence: Coherence) -> Fault:
    """The documented fault for this couple (KeyError for an undocumented one)."""
    if champ not in CHAMPS:
        raise KeyError(champ)
    return _FAULT_INDEX[(champ, coherence)]
