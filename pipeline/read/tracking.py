"""Demand-tracking exports (OMEGA portal's "suivi des demandes", or a publication) read
into a ``TrackingExport``: when it was taken, and each demand's number, reference, state.

The export is read with the request files' machinery (``reader.open_raw``: extension,
size, encodings, delimiters, workbooks; ``cells.to_text``; ``headers.normalise`` and the
request fields' aliases), only its columns differ: at least ``NumeroDemande`` and
``ReferenceDemande``; ``NumeroPCE``, the intervention code and motif, the state and the
dates when present.

When the export was taken is read from its **file name** and only from there
(``suivi_demandes_20261201-083000.csv``, ``suivi 2026-12-01 08h30.xlsx``...): a copy
or a download changes a file's modification time, and an old export that looked new
would make rows look absent, hence sent twice. A name without a date and time is a
file-level error (SUIVI_SANS_HORODATAGE): the export is not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

from pipeline.read.cells import RawRow, date_text, to_text
from pipeline.read.headers import ALIASES, normalise
from pipeline.read.reader import InputFile, describe_error, open_raw
from pipeline.read.rules import ReadRule, file_error
from pipeline.records import DemandState, Finding, Severity, TrackedDemand, TrackingExport

# Tracking field -> other spellings (normalised before comparison, as request headers).
TRACKING_ALIASES: Mapping[str, tuple[str, ...]] = {
    "NumeroDemande": (
        "N° demande",
        "Numéro demande",
        "Numéro de demande",
        "Num demande",
        "N° DIT",
        "Numéro DIT",
        "Demande",
    ),
    "ReferenceDemande": ALIASES["ReferenceDemande"] + ("Référence externe",),
    "NumeroPCE": ALIASES["NumeroPCE"],
    "CodeLibelleIntervention": ALIASES["CodeLibelleIntervention"],
    "CodeMotifIntervention": ALIASES["CodeMotifIntervention"],
    "Etat": ("État", "État demande", "État de la demande", "Libellé état", "LibelleEtat"),
    "DateDemandee": ("Date demandée", "Date souhaitée", "Date RDV demandée"),
    "DateProgrammee": ("Date programmée", "Date RDV", "Date de RDV", "Date intervention"),
    "PlageHoraire": ("Plage", "Plage programmée", "Plage RDV", "Créneau"),
    "HeureMin": ("Heure min", "Heure début"),
    "HeureMax": ("Heure max", "Heure fin"),
}
REQUIRED = ("NumeroDemande", "ReferenceDemande")
_INDEX = {
    normalise(spelling): name
    for name, spellings in TRACKING_ALIASES.items()
    for spelling in (name, *spellings)
}
# State words as portals and publications write them (normalised) -> state.
_STATES: Mapping[str, DemandState] = {
    normalise(text): state
    for state, texts in {
        DemandState.ATTENTE_RDV: ("en attente de RDV", "attente RDV", "ATT_RDV"),
        DemandState.RDV_PROGRAMME: ("RDV programmé", "RDV_PROG", "rendez-vous programmé"),
        DemandState.EN_COURS: ("En cours de traitement", "EN_COURS", "En cours", "Prise en compte"),
        DemandState.ABANDONNEE: ("Demande abandonnée", "ABANDON", "Abandonnée"),
        DemandState.REFUSEE: (
            "Demande non validée",
            "Demande impossible – PCE inconnu",
            "Demande impossible - PCE inconnu",
            "Refusée",
            "22",
            "23",
        ),
    }.items()
    for text in texts
}
_STAMP = re.compile(
    r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T _.-]?(\d{2})[hH:._-]?(\d{2})(?:[mM:._-]?(\d{2}))?(?!\d)"
)
_DATE_FIELDS = ("DateDemandee", "DateProgrammee")


def taken_at_from_name(name: str) -> datetime | None:
    """The date and time written in an export's file name (the last one), or None."""
    for match in reversed(list(_STAMP.finditer(Path(name).stem))):
        year, month, day, hour, minute, second = match.groups()
        try:
            return datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
            )
        except ValueError:
            continue
    return None


def open_tracking(path: Path, *, max_bytes: int) -> TrackingExport:
    """Read one tracking export; never raises for a bad file (findings say what is wrong)."""
    path = Path(path)
    taken_at = taken_at_from_name(path.name)
    try:
        info, raw_rows = open_raw(path, max_bytes=max_bytes, sheet="Suivi")
        if raw_rows is None:
            return TrackingExport(path.name, taken_at, findings=tuple(info.findings))
        return _read(info, raw_rows, taken_at)
    except Exception as exc:  # never a traceback for a bad file
        finding = file_error(
            path, ReadRule.FICHIER_ILLISIBLE, f"lecture impossible ({describe_error(exc)})"
        )
        return TrackingExport(path.name, taken_at, findings=(finding,))


def _read(info: InputFile, raw_rows: Iterator[RawRow], taken_at: datetime | None) -> TrackingExport:
    path = info.path
    findings: list[Finding] = []
    if taken_at is None:
        findings.append(
            file_error(
                path,
                ReadRule.SUIVI_SANS_HORODATAGE,
                "le nom du fichier ne dit pas quand l'export a été extrait : renommez-le avec "
                "la date et l'heure de l'extraction (par exemple "
                "suivi_demandes_20261201-0830.csv) ; la date de modification du fichier ne "
                "suffit pas (une copie la change)",
                value=path.name,
            )
        )
    columns: dict[str, int] = {}
    demands: list[TrackedDemand] = []
    seen: dict[str, int] = {}
    try:
        for line, raw, _special in raw_rows:
            texts = [to_text(v) for v in raw]
            if not any(texts):
                continue
            if not columns:
                columns = _columns(path, texts, findings)
                if not columns:
                    break
                continue
            demand = _demand(path, line, texts, columns, findings)
            if demand is None:
                continue
            if demand.numero_demande in seen:
                findings.append(
                    _row_finding(
                        path,
                        line,
                        ReadRule.SUIVI_NUMERO_DOUBLON,
                        "NumeroDemande",
                        demand.numero_demande,
                        f"demande déjà listée ligne {seen[demand.numero_demande]} : ligne ignorée",
                        Severity.ERROR,
                    )
                )
                continue
            seen[demand.numero_demande] = line
            demands.append(demand)
    finally:
        close = getattr(raw_rows, "close", None)
        if close is not None:
            close()
    if not columns and not any(f.is_error for f in findings):
        findings.append(
            file_error(path, ReadRule.FICHIER_VIDE, "le fichier est vide (aucune ligne d'en-tête)")
        )
    return TrackingExport(
        path.name, taken_at, tuple(demands), frozenset(columns), tuple(info.findings + findings)
    )


def _columns(path: Path, headers: list[str], findings: list[Finding]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, header in enumerate(headers):
        name = _INDEX.get(normalise(header))
        if name is not None and name not in columns:
            columns[name] = index
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        found = ", ".join(f"« {h} »" for h in headers if h) or "aucune"
        findings.append(
            file_error(
                path,
                ReadRule.COLONNES_MANQUANTES,
                f"export du suivi des demandes sans la ou les colonne(s) {', '.join(missing)} "
                f"(colonnes trouvées : {found}) : l'export n'est pas utilisé",
                field=", ".join(missing),
                value=" | ".join(headers),
            )
        )
        return {}
    return columns


def _demand(
    path: Path, line: int, texts: list[str], columns: Mapping[str, int], findings: list[Finding]
) -> TrackedDemand | None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return texts[index] if index is not None and index < len(texts) else ""

    numero, reference = cell("NumeroDemande"), cell("ReferenceDemande")
    if not numero:
        findings.append(
            _row_finding(
                path,
                line,
                ReadRule.SUIVI_NUMERO_VIDE,
                "NumeroDemande",
                "",
                f"NumeroDemande vide (référence « {reference} ») : ligne ignorée",
                Severity.ERROR,
            )
        )
        return None
    if not reference:
        findings.append(
            _row_finding(
                path,
                line,
                ReadRule.SUIVI_REFERENCE_VIDE,
                "ReferenceDemande",
                "",
                f"demande {numero} sans ReferenceDemande : retrouvée seulement par son numéro",
            )
        )
    state_text = cell("Etat")
    state = _STATES.get(normalise(state_text), DemandState.INCONNU)
    if state is DemandState.INCONNU and "Etat" in columns:
        known = ", ".join(f"« {s.value} »" for s in DemandState if s is not DemandState.INCONNU)
        findings.append(
            _row_finding(
                path,
                line,
                ReadRule.SUIVI_ETAT_INCONNU,
                "Etat",
                state_text,
                f"état « {state_text} » de la demande {numero} non reconnu (attendu : {known}) "
                ": la demande existe, la ligne reste à vérifier",
            )
        )
    dates: dict[str, str] = {}
    for name in _DATE_FIELDS:
        value = date_text(cell(name))
        if value and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            findings.append(
                _row_finding(
                    path,
                    line,
                    ReadRule.SUIVI_DATE_INVALIDE,
                    name,
                    value,
                    f"date « {value} » illisible pour la demande {numero} (attendu : "
                    "JJ/MM/AAAA ou AAAA-MM-JJ) : ignorée",
                )
            )
            value = ""
        dates[name] = value
    pce = cell("NumeroPCE")
    if pce.isdigit() and 12 <= len(pce) < 14:  # zeros lost to a number cell (as cells.py)
        pce = pce.zfill(14)
    return TrackedDemand(
        numero_demande=numero,
        reference=reference,
        state=state,
        state_text=state_text,
        numero_pce=pce,
        code=cell("CodeLibelleIntervention"),
        motif=cell("CodeMotifIntervention"),
        date_demandee=dates["DateDemandee"],
        date_programmee=dates["DateProgrammee"],
        plage=cell("PlageHoraire"),
        heure_min=cell("HeureMin"),
        heure_max=cell("HeureMax"),
        line=line,
    )


def _row_finding(
    path: Path,
    line: int,
    rule: ReadRule,
    field: str,
    value: str,
    message: str,
    severity: Severity = Severity.WARNING,
) -> Finding:
    return Finding(
        rule, severity, field, value, f"Fichier « {path.name} », ligne {line} : {message}", line
    )
