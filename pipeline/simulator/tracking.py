"""The simulator's demand tracking as a download, in the format the batch reads back.

``GET /admin/demandes.csv`` gives what a supplier exports from OMEGA's portal (its
demand tracking): one ``;``-separated UTF-8 line per demand, French headers, the state
as the portal words it. The file name (``Content-Disposition``) carries the moment the
export was taken, ``suivi_demandes_AAAAMMJJ-HHMMSS.csv``: that is how the batch knows
which unanswered creations the export can settle (docs/execution.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.simulator.demands import Etat

# Export column -> key of the /admin/demandes JSON record.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("NumeroDemande", "NumeroDemande"),
    ("ReferenceDemande", "ReferenceDemande"),
    ("NumeroPCE", "NumeroPCE"),
    ("CodeLibelleIntervention", "CodeLibelleIntervention"),
    ("CodeMotifIntervention", "CodeMotifIntervention"),
    ("Etat", "LibelleEtat"),
    ("DateDemandee", "DateDemandee"),
    ("PlageDemandee", "PlageDemandee"),
    ("DateProgrammee", "DateProgrammee"),
    ("PlageHoraire", "PlageHoraire"),
    ("HeureMin", "HeureMin"),
    ("HeureMax", "HeureMax"),
)
NAME_FORMAT = "suivi_demandes_%Y%m%d-%H%M%S.csv"
# Receivability refusals are recorded by the simulator but are not demands a portal lists.
_NOT_LISTED = frozenset({Etat.PCE_INCONNU.code})


def export_name(taken_at: dt.datetime) -> str:
    return taken_at.strftime(NAME_FORMAT)


def tracking_csv(demandes: Sequence[Mapping[str, Any]]) -> bytes:
    """The demands as the portal's tracking export (UTF-8 with BOM, so Excel opens it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([name for name, _ in COLUMNS])
    for demande in demandes:
        if demande.get("Etat") in _NOT_LISTED:
            continue
        writer.writerow([str(demande.get(key, "") or "") for _, key in COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
