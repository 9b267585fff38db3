"""The CreerDemandeDIT request body: one cleaned input row as OMEGA's ``Demande`` element."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["build_demande"]


def build_demande(values: Mapping[str, str]) -> dict[str, Any]:
    """The RequeteWSCreerDIT/Demande structure; empty optional fields and groups omitted."""

    def v(name: str) -> str | None:
        text = (values.get(name) or "").strip()
        return text or None

    def group(**fields: str | None) -> dict[str, str] | None:
        kept = {k: val for k, val in fields.items() if val is not None}
        return kept or None

    donnees_type = {
        "CodeLibelleIntervention": v("CodeLibelleIntervention"),
        "CodeMotifIntervention": v("CodeMotifIntervention"),
        "OptionExpress": v("OptionExpress"),
        "IndexConteste": group(
            TypeIndex=v("TypeIndexConteste"),
            ValeurIndexReleve=v("ValeurIndexReleve"),
            DateIndexConteste=v("DateIndexConteste"),
        ),
        "IndexClient": group(
            ValeurIndexClient=v("ValeurIndexClient"), DateIndexClient=v("DateIndexClient")
        ),
        "PrecisionIntervention": v("PrecisionIntervention"),
    }
    demande: dict[str, Any] = {
        "TypeDemande": "DIT",
        "NumeroPCE": v("NumeroPCE"),
        "CodePostal": v("CodePostal"),
        "DonneesFournisseur": group(
            ReferenceDemande=v("ReferenceDemande"),
            TelephoneFournisseur=v("TelephoneFournisseur"),
            GroupeAppartenance=v("GroupeAppartenance"),
            CommentaireFournisseur=v("CommentaireFournisseur"),
        ),
        "Commentaire": v("Commentaire"),
        "DonneesTypeDemande": {k: val for k, val in donnees_type.items() if val is not None},
        "RdvDemande": {
            k: val for k, val in (("Date", v("DateRdv")), ("Plage", v("PlageRdv"))) if val
        },
        "ContactIntervention": group(
            Nom=v("NomContact"),
            Telephone=v("TelephoneContact"),
            CodeAcces=v("CodeAcces"),
            ComplementAdresse=v("ComplementAdresse"),
        ),
    }
    return {k: val for k, val in demande.items() if val is not None}
