"""Strict ``YYYY-MM-DD`` date parsing, memoised per file, shared by the DateRdv rules
and the index date rules (``BAD_DATE`` stands for a value that is not such a date), and
the message that says how a date is written. Two-digit years (``15/01/27``) are refused
with a message saying so: the century would be a guess.
"""

from __future__ import annotations

import datetime
import re

from pipeline.records import date_forms

BAD_DATE = datetime.date.min
MEMO_SIZE = 100_000  # bound of the per-file date memos (distinct dates are few)


_SHORT_YEAR = re.compile(r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}")


def bad_date_message(field: str, value: str, example: datetime.date) -> str:
    """Why a date value is refused and how to write it (the reader has already turned
    JJ/MM/AAAA text and Excel date cells into AAAA-MM-JJ: what is left is not a date)."""
    if _SHORT_YEAR.fullmatch(value):
        return (
            f"{field} « {value} » refusée : l'année est sur 2 chiffres (19.. ou 20.. ?) ; "
            f"écrivez-la sur 4 chiffres : {date_forms(example)}."
        )
    return f"{field} « {value} » invalide : date attendue en {date_forms(example)}."


class StrictDates:
    """Parses the dates of one file, remembering up to ``MEMO_SIZE`` distinct values."""

    def __init__(self) -> None:
        self._dates: dict[str, datetime.date] = {}

    def parse(self, value: str) -> datetime.date:
        """Parse a strict ``YYYY-MM-DD`` date (memoised); ``BAD_DATE`` when invalid."""
        parsed = self._dates.get(value)
        if parsed is None:
            parsed = BAD_DATE
            if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
                digits = value[:4] + value[5:7] + value[8:]
                if digits.isdigit():
                    try:
                        parsed = datetime.date.fromisoformat(value)
                    except ValueError:
                        parsed = BAD_DATE
            if len(self._dates) < MEMO_SIZE:
                self._dates[value] = parsed
        return parsed
