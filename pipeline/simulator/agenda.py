"""The simulator's appointment agenda: working days, slot capacity and bookings.

Working days are Monday to Friday except French public holidays (metropolitan
calendar of the ``holidays`` package). Each (day, slot) has ``capacity`` places for
ordinary demands, plus :data:`EXPRESS_EXTRA` place(s) only demands with the express
option may take. Some places are pre-booked pseudo-randomly, deterministically from
the seed, the day and the slot code, so that "slot not available" paths occur
without any set-up. Days before ``today`` or after the horizon are never bookable.

The agenda is not locked by itself: its owner (the engine) calls it under its lock.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence

import holidays

EXPRESS_EXTRA = 1
DEFAULT_HORIZON_DAYS = 365
DEFAULT_FULL_RATE = 0.3
WINDOW_DAYS = 2


def french_holidays(years: Iterable[int]) -> frozenset[dt.date]:
    """French public holidays (metropolitan calendar) of the given years."""
    return frozenset(holidays.country_holidays("FR", years=list(years)).keys())


class SlotAgenda:
    """Places per (day, slot code); deterministic for a given seed and ``today``.

    ``full_rate`` is the share of slots pre-booked to full capacity; the other slots
    get between 0 and ``capacity - 1`` pre-booked places, uniformly. With
    ``prebooking=False`` the agenda starts empty.
    """

    def __init__(
        self,
        today: dt.date,
        slot_codes: Sequence[str],
        capacity: int,
        seed: int,
        *,
        horizon_days: int = DEFAULT_HORIZON_DAYS,
        full_rate: float = DEFAULT_FULL_RATE,
        prebooking: bool = True,
        holiday_dates: Iterable[dt.date] | None = None,
    ) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.today = today
        self.slot_codes: tuple[str, ...] = tuple(slot_codes)
        self.capacity = capacity
        self.seed = seed
        self.full_rate = full_rate
        self.prebooking = prebooking
        self.horizon_end = today + dt.timedelta(days=horizon_days)
        if holiday_dates is None:
            holiday_dates = french_holidays(range(today.year - 1, self.horizon_end.year + 2))
        self._holidays = frozenset(holiday_dates)
        self._prebooked: dict[tuple[dt.date, str], int] = {}
        self._taken: dict[tuple[dt.date, str], int] = {}

    # ----- days -----
    def is_working_day(self, day: dt.date) -> bool:
        """Monday to Friday and not a French public holiday."""
        return day.weekday() < 5 and day not in self._holidays

    def is_bookable_day(self, day: dt.date) -> bool:
        """A working day between today and the horizon, both included."""
        return self.today <= day <= self.horizon_end and self.is_working_day(day)

    def working_days_after(self, anchor: dt.date, count: int = WINDOW_DAYS) -> list[dt.date]:
        """The first ``count`` bookable days strictly after ``anchor`` (fewer near the horizon)."""
        day = max(anchor + dt.timedelta(days=1), self.today)
        found: list[dt.date] = []
        while len(found) < count and day <= self.horizon_end:
            if self.is_working_day(day):
                found.append(day)
            day += dt.timedelta(days=1)
        return found

    def working_days_before(self, anchor: dt.date, count: int = WINDOW_DAYS) -> list[dt.date]:
        """The last ``count`` bookable days strictly before ``anchor``, oldest first."""
        day = min(anchor - dt.timedelta(days=1), self.horizon_end)
        found: list[dt.date] = []
        while len(found) < count and day >= self.today:
            if self.is_working_day(day):
                found.append(day)
            day -= dt.timedelta(days=1)
        return sorted(found)

    # ----- places -----
    def prebooked(self, day: dt.date, code: str) -> int:
        """Places taken before the simulator started (deterministic from the seed)."""
        key = (day, code)
        cached = self._prebooked.get(key)
        if cached is not None:
            return cached
        rng = random.Random(f"{self.seed}:{day.isoformat()}:{code}")
        if not self.prebooking:
            value = 0
        elif self.capacity == 0 or rng.random() < self.full_rate:
            value = self.capacity
        else:
            value = rng.randrange(self.capacity)
        self._prebooked[key] = value
        return value

    def booked(self, day: dt.date, code: str) -> int:
        """Places taken on that day and slot: pre-booked plus accepted appointments."""
        return self.prebooked(day, code) + self._taken.get((day, code), 0)

    def taken(self, day: dt.date, code: str) -> int:
        """Places taken by appointments accepted while the simulator ran."""
        return self._taken.get((day, code), 0)

    def limit(self, *, express: bool = False) -> int:
        return self.capacity + (EXPRESS_EXTRA if express else 0)

    def is_free(self, day: dt.date, code: str, *, express: bool = False) -> bool:
        """True when an appointment may still be taken on that day and slot."""
        if code not in self.slot_codes or not self.is_bookable_day(day):
            return False
        return self.booked(day, code) < self.limit(express=express)

    def reserve(self, day: dt.date, code: str, *, express: bool = False) -> bool:
        """Take one place if one is free; False (and nothing changes) otherwise."""
        if not self.is_free(day, code, express=express):
            return False
        self._taken[(day, code)] = self._taken.get((day, code), 0) + 1
        return True

    def free_slots(
        self, days: Iterable[dt.date], *, express: bool = False
    ) -> list[tuple[dt.date, str]]:
        """Free (day, slot code) pairs of the given days, in day then slot order."""
        return [
            (day, code)
            for day in days
            for code in self.slot_codes
            if self.is_free(day, code, express=express)
        ]
