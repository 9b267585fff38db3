"""What this run knows of OMEGA's calendar, shared by its workers (thread-safe).

Without it, workers that read the same ListeDP all accept its first slot and all but
the slot's last places lose: a wasted AccepterRdv each, and after ``max_slot_tries``
such losses a row that falls back to its requested date although the calendar had room.
The board tells a worker what the run knows of each slot of its list, against the
moment that list was asked for:

- *held*: another worker of this run is about to accept it (its AccepterRdv, or the
  CreerDemandeDIT that asked for it, is in flight);
- *filled since listed*: this run booked a place in it after the freshest answer that
  listed it free was asked for (OMEGA does not say how many places a slot has left, so
  it may be full now; a later answer that lists it again says it is not);
- *taken since listed*: OMEGA refused it to a worker of this run (an AccepterRdv that
  did not book it, a CreerDemandeDIT that asked for it and got a list) or left it out
  of a list showing its day (a list holds every vacant slot of the days it shows: "pour
  toutes les plages horaires", spec, ReponseCreerDemandeObjet), after
  the freshest answer that listed it free was asked for;
- otherwise *free*.

The choice (``pick``), policy "premier-creneau" kept: the day is the earliest one with
a slot not taken since listed; on that day, the first free slot in list order. When
that day has none, the worker waits for the other workers holding slots of that day,
then briefly for a fresher list of that day from another worker, then tries the first
slot only filled since listed: OMEGA decides. Slots taken since listed count as tried
by the run (no DemanderPrecSuiv while another slot of the list is untried).

The requested slot (``ask``, before CreerDemandeDIT): a worker waits while another one
asks for or accepts the same slot, so that OMEGA's DatePlageH is not promised to many
rows at once for one place; and at most ``same_request`` rows asking for the same slot
are choosing at once, so that the lists OMEGA gives the next ones already carry their
bookings (rows of a file sorted by date otherwise all read the same list).

OMEGA's word stays the truth: the board only keeps a worker from a call the run
already knows would likely fail. With one worker, a row's list is always asked for
after every earlier booking and refusal of the run and nobody else holds anything, so
the board changes no choice: the results are those of a run without it. Every wait is
bounded (``hold_wait_s``, ``fresh_wait_s``); no worker waits while holding a slot.

Knowledge lives in memory for the executor's life (one night) and is never journaled:
the next run starts knowing nothing. Moments are the board's own event counter
(``stamp()``), not the clock: an answer asked for at stamp ``s`` reflects every booking
and refusal numbered ``s`` or less.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

Slot = tuple[str, str]  # (date YYYY-MM-DD, plage code)

DEFAULT_HOLD_WAIT_S = 30.0
DEFAULT_FRESH_WAIT_S = 0.5
DEFAULT_SAME_REQUEST = 2
MAX_LIST = 24  # ListeDatePlage's maximum length in the contract


class Knowledge(Enum):
    FREE = "free"  # nothing known against it since it was listed
    HELD = "held"  # another worker is about to accept it
    UNSURE = "unsure"  # filled by this run since it was listed: maybe full
    TAKEN = "taken"  # refused by OMEGA to this run since it was listed


@dataclass(frozen=True, slots=True)
class Pick:
    """The slot a worker is to accept, held for it until ``settle``."""

    slot: Slot
    sure: bool  # False: the run filled it since it was listed (a probe, OMEGA decides)


@dataclass(slots=True)
class BoardCounts:
    """What the board did during the run (figures for the benchmark and the tests)."""

    picks: int = 0
    skipped: int = 0  # picks that passed over an earlier slot of the list
    probes: int = 0  # picks of a slot only filled since listed
    waits: int = 0  # waits for another worker's CreerDemandeDIT or AccepterRdv
    filled: int = 0
    refused: int = 0


@dataclass(slots=True)
class _Entry:
    listed: int = -1  # stamp of the freshest answer that listed it free
    unlisted: int = -1  # stamp of the freshest answer that showed its day without it
    filled: int = -1  # event number of this run's latest booking in it
    refused: int = -1  # event number of OMEGA's latest refusal of it to this run
    holders: set[int] = field(default_factory=set)


class SlotBoard:
    """The run-wide board; ``coordinate=False`` gives the uncoordinated choice (the
    first slot of the list, nothing waited for), kept for comparison."""

    def __init__(
        self,
        *,
        coordinate: bool = True,
        hold_wait_s: float = DEFAULT_HOLD_WAIT_S,
        fresh_wait_s: float = DEFAULT_FRESH_WAIT_S,
        same_request: int = DEFAULT_SAME_REQUEST,
    ) -> None:
        self.coordinate = coordinate
        self.same_request = max(1, same_request)
        self.hold_wait_s = hold_wait_s
        self.fresh_wait_s = fresh_wait_s
        self.counts = BoardCounts()
        self._cond = threading.Condition()
        self._events = 0
        self._slots: dict[Slot, _Entry] = {}
        self._asking: dict[Slot, set[int]] = {}  # rows that asked for it, still choosing
        self._asked: dict[int, Slot] = {}
        self._held: dict[int, set[Slot]] = {}  # what each row holds
        self._by_day: dict[str, set[Slot]] = {}
        self._owners = itertools.count(1)

    # ----- identities and moments -------------------------------------------------------
    def owner(self) -> int:
        """A token for one row's dialogue (who holds what)."""
        with self._cond:
            return next(self._owners)

    def stamp(self) -> int:
        """The moment a call that may answer a list is sent."""
        with self._cond:
            return self._events

    # ----- what OMEGA said ------------------------------------------------------------
    def listed(self, slots: Iterable[Slot], stamp: int) -> None:
        """OMEGA listed these slots free in an answer asked for at ``stamp``. A list
        holds every free slot of the days it shows (the last one excepted when the list
        has the contract's maximum length): a slot of those days it leaves out was full."""
        if not self.coordinate:
            return
        shown = list(slots)
        days = {day for day, _ in shown}
        if len(shown) >= MAX_LIST and shown:
            days.discard(max(days))
        with self._cond:
            for slot in shown:
                entry = self._entry(slot)
                entry.listed = max(entry.listed, stamp)
            present = set(shown)
            for day in days:
                for slot in self._by_day.get(day, ()):
                    if slot not in present:
                        entry = self._slots[slot]
                        entry.unlisted = max(entry.unlisted, stamp)
            self._cond.notify_all()

    def hold(self, owner: int, slot: Slot) -> None:
        """``owner`` is about to accept ``slot`` (idempotent)."""
        if not self.coordinate:
            return
        with self._cond:
            self._hold(owner, slot)

    def settle(self, owner: int, slot: Slot, *, filled: bool, refused: bool) -> None:
        """``owner``'s AccepterRdv on ``slot`` ended: booked, refused as taken, or neither
        (no answer: nothing learned)."""
        if not self.coordinate:
            return
        with self._cond:
            entry = self._entry(slot)
            self._release(owner, slot)
            if filled or refused:
                self._events += 1
                if filled:
                    entry.filled = self._events
                    self.counts.filled += 1
                else:
                    entry.refused = self._events
                    self.counts.refused += 1
            self._cond.notify_all()

    def ask(self, owner: int, requested: Slot) -> None:
        """Before ``owner``'s CreerDemandeDIT for ``requested``: wait, at most
        ``hold_wait_s``, while another worker asks for or accepts the same slot (its
        answer will say whether a place is left), or while ``same_request`` other rows
        that asked for it are still choosing their slot (their bookings are then in the
        list OMEGA gives this one); then hold it unless the run knows it taken. The hold
        ends with ``settle`` (after CreerDemandeDIT, or AccepterRdv after DatePlageH),
        the row's place among those asking with ``done``."""
        if not self.coordinate:
            return
        with self._cond:
            deadline = time.monotonic() + self.hold_wait_s
            waited = False
            asking = self._asking.setdefault(requested, set())
            while (
                self._knowledge(owner, requested, -1) is Knowledge.HELD
                or len(asking - {owner}) >= self.same_request
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                waited = True
                self._cond.wait(remaining)
            self.counts.waits += waited
            asking.add(owner)
            self._asked[owner] = requested
            if self._knowledge(owner, requested, -1) is not Knowledge.TAKEN:
                self._hold(owner, requested)

    def done(self, owner: int) -> None:
        """``owner``'s row has its outcome: it holds nothing and asks for nothing."""
        if not self.coordinate:
            return
        with self._cond:
            requested = self._asked.pop(owner, None)
            if requested is not None:
                self._asking.get(requested, set()).discard(owner)
            for slot in self._held.pop(owner, set()):
                self._entry(slot).holders.discard(owner)
            self._cond.notify_all()

    # ----- the choice ------------------------------------------------------------------
    def pick(self, owner: int, offered: Sequence[Slot], stamp: int) -> Pick | None:
        """The slot of ``offered`` (from an answer asked for at ``stamp``) that ``owner``
        should accept, now held for it; None when the run knows every one refused since
        listed.

        The day is the earliest one with a slot the run does not know taken: the row
        gets the earliest date it can (premier-creneau). On that day, the first free
        slot in list order; when there is none, wait (at most ``hold_wait_s``) for the
        other workers holding slots of that day, then try the first slot only filled
        since listed (OMEGA decides whether a place is left)."""
        if not offered:
            return None
        if not self.coordinate:
            return Pick(offered[0], True)
        with self._cond:
            self.counts.picks += 1
            deadline = time.monotonic() + self.hold_wait_s
            fresh_deadline = time.monotonic() + self.fresh_wait_s
            waited = False
            while True:
                known = [(slot, self._knowledge(owner, slot, stamp)) for slot in offered]
                live = [i for i, (_, k) in enumerate(known) if k is not Knowledge.TAKEN]
                if not live:
                    return None
                day = min(offered[i][0] for i in live)
                today = [(i, known[i][1]) for i in live if offered[i][0] == day]
                chosen = self._first(today, Knowledge.FREE)
                if chosen is None and self._first(today, Knowledge.HELD) is not None:
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        waited = True
                        self._cond.wait(remaining)
                        continue
                if chosen is None and self._first(today, Knowledge.UNSURE) is not None:
                    # A fresher list of that day from another worker may settle it.
                    remaining = min(deadline, fresh_deadline) - time.monotonic()
                    if remaining > 0:
                        waited = True
                        self._cond.wait(remaining)
                        continue
                if chosen is None:
                    chosen = self._first(today, Knowledge.UNSURE)
                if chosen is None:  # waited long enough: OMEGA decides
                    chosen = self._first(today, Knowledge.HELD)
                assert chosen is not None
                self.counts.waits += waited
                sure = known[chosen][1] is Knowledge.FREE
                self.counts.probes += not sure
                self.counts.skipped += chosen > 0
                slot = offered[chosen]
                self._hold(owner, slot)
                return Pick(slot, sure)

    def knowledge(self, slot: Slot, stamp: int, owner: int = 0) -> Knowledge:
        """What the run knows of ``slot`` against an answer asked for at ``stamp``."""
        with self._cond:
            return self._knowledge(owner, slot, stamp)

    # ----- internals -------------------------------------------------------------------
    def _knowledge(self, owner: int, slot: Slot, stamp: int) -> Knowledge:
        entry = self._slots.get(slot)
        if entry is None:
            return Knowledge.FREE
        if entry.holders - {owner}:
            return Knowledge.HELD
        fresh = max(stamp, entry.listed)
        if entry.refused > fresh or entry.unlisted > fresh:
            return Knowledge.TAKEN
        if entry.filled > fresh:
            return Knowledge.UNSURE
        return Knowledge.FREE

    @staticmethod
    def _first(known: Sequence[tuple[int, Knowledge]], wanted: Knowledge) -> int | None:
        """The index (into the list) of the first slot known as ``wanted``."""
        return next((i for i, k in known if k is wanted), None)

    def _hold(self, owner: int, slot: Slot) -> None:
        self._entry(slot).holders.add(owner)
        self._held.setdefault(owner, set()).add(slot)

    def _release(self, owner: int, slot: Slot) -> None:
        self._entry(slot).holders.discard(owner)
        held = self._held.get(owner)
        if held is not None:
            held.discard(slot)
            if not held:
                del self._held[owner]

    def _entry(self, slot: Slot) -> _Entry:
        entry = self._slots.get(slot)
        if entry is None:
            entry = self._slots[slot] = _Entry()
            self._by_day.setdefault(slot[0], set()).add(slot)
        return entry
