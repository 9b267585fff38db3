"""Strict ``YYYY-MM-DD`` date parsing, memoised per file, shared by the DateRdv rules
and the index date rules (``BAD_DATE`` stands for a value that is not such a date).
"""

from __future__ import annotations

import datetime

BAD_DATE = datetime.date.min
MEMO_SIZE = 100_000  # bound of the per-file date memos (distinct dates are few)


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
