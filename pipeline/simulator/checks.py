"""Business rules the simulated OMEGA applies to a CreerDemandeDIT request, and the
PresenceClient rule. Pure functions over the request mapping and the referential.

Each broken rule gives one Annexe A message: "Donnée incorrecte : <codeChamp> /
<codeCohérence>" (see :mod:`pipeline.simulator.codes`), or the dedicated telephone
message. Every rule is checked, so a request gets all its faults at once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.referential import Category, Referential
from pipeline.simulator import codes
from pipeline.simulator.codes import Coherence

SUPPORTED_VERSIONS: tuple[str, ...] = ("V6", "V7", "V8", "V9")
TELEPHONE_DIGITS_FROM = 8  # "Si NumeroVersion >= V8, seuls les caractères numériques"
SYNCHRO_AFTER = 4  # RetourSynchroInterventions "retournée si NumeroVersion > V4"

_VERSION_RE = re.compile(r"V([0-9]{1,2})")
_INDEX_VALUE_RE = re.compile(r"[0-9]+(?:[.,][0-9]+)?")

# PresenceClient: PNO without a visit, PO when the meter is removed, replaced or fitted,
# PS otherwise. A (code, motif) couple may override the code's rule.
PRESENCE_NON_OBLIGATOIRE = frozenset({"V8", "R9", "A7", "B9", "207", "249", "250"})
PRESENCE_OBLIGATOIRE = frozenset(
    {"34", "35", "37", "U7", "S6", "208", "209", "217", "218", "232", "244", "245", "252"}
)
PRESENCE_PAR_COUPLE: dict[tuple[str, str], str] = {("Y9", "16"): "PNO"}


def presence_client(code: str, motif: str) -> str:
    """PO, PNO or PS for an intervention code and motif (the simulator's rule)."""
    override = PRESENCE_PAR_COUPLE.get((code, motif))
    if override:
        return override
    if code in PRESENCE_NON_OBLIGATOIRE:
        return "PNO"
    if code in PRESENCE_OBLIGATOIRE:
        return "PO"
    return "PS"


def text(node: Any, *path: str) -> str:
    """The text at ``path`` in a nested request mapping; '' when absent or not a leaf."""
    for key in path:
        if not isinstance(node, Mapping):
            return ""
        node = node.get(key)
    return node.strip() if isinstance(node, str) else ""


def version_number(version: str) -> int | None:
    """The number of a NumeroVersion ("V9" -> 9), None when malformed."""
    match = _VERSION_RE.fullmatch(version.strip())
    return int(match.group(1)) if match else None


def parse_date(value: str) -> dt.date | None:
    """An ISO ``YYYY-MM-DD`` date, None when it does not exist."""
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def rdv_date_fault(value: str, today: dt.date, horizon_end: dt.date) -> Coherence | None:
    """Why an appointment date cannot be used (FORMAT, DATE_PASSEE, HORS_HORIZON), or None."""
    day = parse_date(value)
    if day is None:
        return Coherence.FORMAT
    if day < today:
        return Coherence.DATE_PASSEE
    if day > horizon_end:
        return Coherence.HORS_HORIZON
    return None


def check_demande(
    demande: Mapping[str, Any],
    *,
    version: str,
    category: Category,
    referential: Referential,
    today: dt.date,
    horizon_end: dt.date,
) -> list[str]:
    """Every Annexe A fault message of the ``Demande`` of a CreerDemandeDIT (empty = OK).

    The PCE itself (exists, held by the caller, department) is checked before, by the
    engine; ``category`` is that PCE's Annexe B table.
    """
    messages: list[str] = []

    def add(champ: str, coherence: Coherence) -> None:
        messages.append(codes.fault(champ, coherence).message)

    if version.strip() not in SUPPORTED_VERSIONS:
        add("VERSION", Coherence.INCONNU)
    if text(demande, "TypeDemande") != "DIT":
        add("TYPE_DEMANDE", Coherence.INCONNU)

    donnees = demande.get("DonneesTypeDemande")
    code = text(donnees, "CodeLibelleIntervention")
    motif = text(donnees, "CodeMotifIntervention")
    intervention = None
    if not code:
        add("CODE_INTERVENTION", Coherence.OBLIGATOIRE)
    elif not referential.is_known_code(code):
        add("CODE_INTERVENTION", Coherence.INCONNU)
    else:
        intervention = referential.intervention(category, code)
        if intervention is None:
            add("CODE_INTERVENTION", Coherence.CATEGORIE)
    if intervention is not None:
        motifs = {m.code for m in intervention.motifs}
        if motifs and not motif:
            add("MOTIF", Coherence.OBLIGATOIRE)
        elif motifs and motif not in motifs:
            add("MOTIF", Coherence.INCONNU)
        elif not motifs and motif:
            add("MOTIF", Coherence.INTERDIT)
        elif (
            motif
            and referential.precision_required(code, motif)
            and not text(donnees, "PrecisionIntervention")
        ):
            add("PRECISION", Coherence.OBLIGATOIRE)
        if text(donnees, "OptionExpress") == "1" and not intervention.express_allowed:
            add("OPTION_EXPRESS", Coherence.NON_AUTORISE)
        if intervention.index_required:
            _check_index(donnees, referential, today, add)

    rdv_fault = rdv_date_fault(text(demande, "RdvDemande", "Date"), today, horizon_end)
    if rdv_fault is not None:
        add("DATE_RDV", rdv_fault)
    if category is not Category.JJ_JM_MM:
        plage = text(demande, "RdvDemande", "Plage")
        if not plage:
            add("PLAGE", Coherence.OBLIGATOIRE)
        elif referential.slot(plage) is None:
            add("PLAGE", Coherence.INCONNU)

    number = version_number(version)
    telephone = text(demande, "ContactIntervention", "Telephone")
    if (
        number is not None
        and number >= TELEPHONE_DIGITS_FROM
        and telephone
        and not (telephone.isascii() and telephone.isdigit())
    ):
        messages.append(codes.MSG_TELEPHONE)
    return messages


def _check_index(
    donnees: Any,
    referential: Referential,
    today: dt.date,
    add: Callable[[str, Coherence], None],
) -> None:
    """IndexConteste and IndexClient sections of G1/253, complete and consistent."""
    type_index = text(donnees, "IndexConteste", "TypeIndex")
    if not type_index:
        add("INDEX_TYPE", Coherence.OBLIGATOIRE)
    elif not referential.is_index_type(type_index):
        add("INDEX_TYPE", Coherence.INCONNU)
    for champ_valeur, champ_date, section, valeur, date in (
        ("INDEX_VALEUR", "INDEX_DATE", "IndexConteste", "ValeurIndexReleve", "DateIndexConteste"),
        (
            "INDEX_CLIENT_VALEUR",
            "INDEX_CLIENT_DATE",
            "IndexClient",
            "ValeurIndexClient",
            "DateIndexClient",
        ),
    ):
        value = text(donnees, section, valeur)
        if not value:
            add(champ_valeur, Coherence.OBLIGATOIRE)
        elif not _INDEX_VALUE_RE.fullmatch(value):
            add(champ_valeur, Coherence.FORMAT)
        date_text = text(donnees, section, date)
        day = parse_date(date_text)
        if not date_text:
            add(champ_date, Coherence.OBLIGATOIRE)
        elif day is None:
            add(champ_date, Coherence.FORMAT)
        elif day > today:
            add(champ_date, Coherence.DATE_FUTURE)
