"""Rules on the appointment asked for: the DateRdv (required, ``YYYY-MM-DD``, not past)
and the PlageRdv (required for a 6M/1M code, a code of the slots file, ignored for a
JJ/JM/MM code, which is taken at the requested date).
"""

from __future__ import annotations

import datetime

from pipeline.records import Finding, date_forms, example_appointment
from pipeline.referential import Referential
from pipeline.validate.dates import BAD_DATE, MEMO_SIZE, StrictDates, bad_date_message
from pipeline.validate.rule_catalogue import finding


class AppointmentChecker:
    """The DateRdv and PlageRdv rules of one file.

    ``good_dates`` (DateRdv values already found fine) and ``slot_codes`` are what the
    row screen tests inline; the methods run only for a value that fails it.
    """

    def __init__(self, referential: Referential, today: datetime.date, dates: StrictDates) -> None:
        self._ref = referential
        self._today = today
        self._dates = dates
        self.slot_codes = frozenset(s.code for s in referential.slots if s.code)
        self._slot_list = ", ".join(s.code for s in referential.slots)
        self.good_dates: set[str] = set()  # DateRdv values already found fine

    def check_date_rdv(self, value: str, line: int, out: list[Finding]) -> None:
        """Report a missing, malformed or past DateRdv; remember a good one."""
        if not value:
            message = (
                "DateRdv obligatoire : la date du premier rendez-vous souhaité, "
                f"{date_forms(example_appointment(self._today))}."
            )
            out.append(finding("DATE_RDV_MANQUANTE", "DateRdv", value, message, line))
            return
        parsed = self._dates.parse(value)
        if parsed is BAD_DATE:
            message = bad_date_message("DateRdv", value, example_appointment(self._today))
            out.append(finding("DATE_RDV_FORMAT", "DateRdv", value, message, line))
        elif parsed < self._today:
            message = (
                f"DateRdv « {value} » est passée : date du jour ({self._today:%d/%m/%Y}) "
                "ou ultérieure attendue."
            )
            out.append(finding("DATE_RDV_PASSEE", "DateRdv", value, message, line))
        elif len(self.good_dates) < MEMO_SIZE:
            self.good_dates.add(value)

    def check_slot(self, code: str, plage: str, line: int, out: list[Finding]) -> None:
        """Report the PlageRdv of a row (``code`` is '' when unknown)."""
        if code and not self._ref.requires_slot(code):
            if plage:
                message = (
                    f"PlageRdv « {plage} » ignorée : le code {code} (JJ/JM/MM) est pris à la "
                    "date demandée, sans plage."
                )
                out.append(finding("PLAGE_IGNOREE", "PlageRdv", plage, message, line))
            return
        if not plage:
            if code:
                message = (
                    f"PlageRdv obligatoire pour le code {code} (PCE 6M ou 1M) : "
                    f"un de {self._slot_list} attendu."
                )
                out.append(finding("PLAGE_OBLIGATOIRE", "PlageRdv", plage, message, line))
        elif self._ref.slot(plage) is None:
            message = f"PlageRdv « {plage} » inconnue : un de {self._slot_list} attendu."
            out.append(finding("PLAGE_INCONNUE", "PlageRdv", plage, message, line))
