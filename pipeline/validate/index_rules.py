"""Rules on the index sections (IndexConteste, IndexClient): required for the codes
that check metering data (G1, 253), an Annexe C index type, values in digits, dates
that are not in the future.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from pipeline.records import Finding
from pipeline.referential import Referential
from pipeline.validate.dates import BAD_DATE, StrictDates, bad_date_message
from pipeline.validate.rule_catalogue import finding

INDEX_FIELDS = (
    "TypeIndexConteste",
    "ValeurIndexReleve",
    "DateIndexConteste",
    "ValeurIndexClient",
    "DateIndexClient",
)


class IndexChecker:
    """The index rules of one file (its referential, its day, its date memo)."""

    def __init__(self, referential: Referential, today: datetime.date, dates: StrictDates) -> None:
        self._ref = referential
        self._today = today
        self._dates = dates
        self._index_list = ", ".join(t.code for t in referential.index_types)

    def check(self, code: str, values: Mapping[str, str], line: int, out: list[Finding]) -> None:
        """Report the index findings of a row (``code`` is '' when unknown)."""
        get = values.get
        if code and self._ref.index_required(code):
            for name in INDEX_FIELDS:
                if not get(name, ""):
                    message = (
                        f"{name} obligatoire pour le code {code} (vérification des données "
                        "de comptage : sections IndexConteste et IndexClient complètes)."
                    )
                    out.append(finding("INDEX_MANQUANT", name, "", message, line))
        kind = get("TypeIndexConteste", "")
        if kind and not self._ref.is_index_type(kind):
            message = (
                f"TypeIndexConteste « {kind} » inconnu : un type de l'Annexe C attendu "
                f"({self._index_list})."
            )
            out.append(finding("INDEX_TYPE", "TypeIndexConteste", kind, message, line))
        for name in ("ValeurIndexReleve", "ValeurIndexClient"):
            value = get(name, "")
            if value and not (value.isascii() and value.isdigit()):
                message = f"{name} « {value} » invalide : un index en chiffres attendu."
                out.append(finding("INDEX_VALEUR", name, value, message, line))
        for name in ("DateIndexConteste", "DateIndexClient"):
            value = get(name, "")
            if not value:
                continue
            parsed = self._dates.parse(value)
            if parsed is BAD_DATE:
                message = bad_date_message(name, value, self._today)
            elif parsed > self._today:
                message = (
                    f"{name} « {value} » est dans le futur : date du jour "
                    f"({self._today:%d/%m/%Y}) ou antérieure attendue."
                )
            else:
                continue
            out.append(finding("INDEX_DATE", name, value, message, line))
