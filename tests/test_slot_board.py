"""The run's slot board: alone (threads, no OMEGA), then many workers against the
simulator over real HTTP on a contended calendar."""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from execution_support import Harness, full_slot, job, row, start_harness

from pipeline.execute.slot_board import Knowledge, SlotBoard
from pipeline.records import RowOutcome, Status

A, B, C = ("2026-12-10", "M1"), ("2026-12-10", "M2"), ("2026-12-11", "M1")


# ----- the board alone ------------------------------------------------------------------
def test_uncoordinated_board_takes_the_first_slot_and_learns_nothing() -> None:
    board = SlotBoard(coordinate=False)
    board.hold(1, A)
    pick = board.pick(2, [A, B], 0)
    assert pick is not None and pick.slot == A and pick.sure
    board.settle(1, A, filled=True, refused=False)
    assert board.knowledge(A, 0) is Knowledge.FREE


def test_a_slot_held_by_another_worker_is_passed_over_for_the_next_free_one() -> None:
    board = SlotBoard()
    first, second = board.owner(), board.owner()
    assert board.pick(first, [A, B], 0) == board.pick(first, [A, B], 0)  # own hold is no bar
    pick = board.pick(second, [A, B], 0)
    assert pick is not None and (pick.slot, pick.sure) == (B, True)


def test_filled_since_listed_is_unsure_until_omega_lists_it_again() -> None:
    board = SlotBoard()
    asked = board.stamp()
    board.hold(1, A)
    board.settle(1, A, filled=True, refused=False)
    assert board.knowledge(A, asked) is Knowledge.UNSURE
    pick = board.pick(2, [A, B], asked)
    assert pick is not None and pick.slot == B  # another free slot fits: not chased
    fresh = board.stamp()  # a later answer, asked after the booking, lists A again
    board.listed([A], fresh)
    assert board.knowledge(A, asked) is Knowledge.FREE


def test_refused_since_listed_is_taken_and_never_picked() -> None:
    board = SlotBoard()
    asked = board.stamp()
    board.hold(1, A)
    board.settle(1, A, filled=False, refused=True)
    assert board.knowledge(A, asked) is Knowledge.TAKEN
    assert board.pick(2, [A], asked) is None  # the list is spent for this run
    pick = board.pick(2, [A, C], asked)
    assert pick is not None and pick.slot == C
    assert board.knowledge(A, board.stamp()) is Knowledge.FREE  # a newer list may say free


def test_only_held_slots_left_waits_for_the_holder_then_lets_omega_decide() -> None:
    board = SlotBoard()
    asked = board.stamp()
    board.hold(1, A)
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(board.pick(2, [A], asked)))
    waiter.start()
    time.sleep(0.1)
    assert not got  # still waiting for worker 1's AccepterRdv
    board.settle(1, A, filled=True, refused=False)
    waiter.join(5)
    assert got and got[0].slot == A and not got[0].sure  # a probe: maybe a place is left
    assert board.counts.waits == 1 and board.counts.probes == 1


def test_waiting_is_bounded() -> None:
    board = SlotBoard(hold_wait_s=0.05)
    board.hold(1, A)
    pick = board.pick(2, [A], 0)
    assert pick is not None and pick.slot == A and not pick.sure


def test_asking_for_a_requested_slot_waits_for_the_worker_asking_for_it() -> None:
    board = SlotBoard()
    board.ask(1, A)
    done = threading.Event()

    def second() -> None:
        board.ask(2, A)
        done.set()

    threading.Thread(target=second).start()
    assert not done.wait(0.1)
    board.settle(1, A, filled=False, refused=True)  # OMEGA answered worker 1 with a list
    assert done.wait(5)
    assert board.knowledge(A, -1, owner=2) is Knowledge.TAKEN  # worker 2 does not hold it


def test_a_list_shows_every_free_slot_of_its_days_so_one_left_out_is_taken() -> None:
    board = SlotBoard()
    old = board.stamp()
    board.listed([A, B, C], old)
    board.hold(1, A)
    board.settle(1, A, filled=True, refused=False)
    assert board.knowledge(A, old) is Knowledge.UNSURE
    board.listed([B, C], board.stamp())  # asked after the booking, A's day without A
    assert board.knowledge(A, old) is Knowledge.TAKEN
    assert board.knowledge(B, old) is Knowledge.FREE


def test_the_earliest_day_wins_over_a_free_slot_of_a_later_day() -> None:
    """premier-creneau: a slot of an earlier day only filled since listed is tried
    (OMEGA decides) before a free slot of a later day; on the same day, the free one."""
    board = SlotBoard(fresh_wait_s=0.01)
    asked = board.stamp()
    board.hold(1, A)
    board.settle(1, A, filled=True, refused=False)
    pick = board.pick(2, [A, C], asked)
    assert pick is not None and (pick.slot, pick.sure) == (A, False)
    board.settle(2, A, filled=False, refused=False)
    pick = board.pick(3, [A, B, C], asked)
    assert pick is not None and (pick.slot, pick.sure) == (B, True)


def test_rows_asking_for_the_same_slot_go_at_most_same_request_at_a_time() -> None:
    board = SlotBoard(same_request=2)
    board.ask(1, A)
    board.settle(1, A, filled=False, refused=True)  # OMEGA listed other slots to row 1
    board.ask(2, A)  # a second row may go: one other is still choosing
    third = threading.Event()

    def ask_third() -> None:
        board.ask(3, A)
        third.set()

    threading.Thread(target=ask_third).start()
    assert not third.wait(0.1)
    board.done(1)  # row 1 has its outcome
    assert third.wait(5)


def test_a_collision_with_this_runs_own_booking_is_not_one_of_max_slot_tries(
    tmp_path: Path,
) -> None:
    """The only slot offered was filled by a worker of this run after the list was asked
    for: it is tried (OMEGA may have a place left), and its loss is not one of the
    ``max_slot_tries`` that lead to the requested date: the next slot is taken."""
    h = start_harness(tmp_path)
    execution = replace(h.settings.execution, max_slot_tries=1, workers=1)
    day, plage = full_slot(h.engine.agenda, dt.date(2026, 12, 10))
    values = row("OWN-1", date=day, plage=plage)
    try:
        with h.journal() as journal:
            executor = h.executor(journal, settings=replace(h.settings, execution=execution))
            board = executor.slot_board

            def booked_by_this_run(answer: dict[str, Any]) -> dict[str, Any]:
                objet = answer["ReponseCreerDemandeObjet"]
                first = objet["ListeDatePlage"][0]
                objet["ListeDatePlage"] = [first]
                h.engine.fill(first["Date"], first["Plage"])
                board.hold(999, (first["Date"], first["Plage"]))
                board.settle(999, (first["Date"], first["Plage"]), filled=True, refused=False)
                return answer

            h.engine.rewrite_next("CreerDemandeDIT", booked_by_this_run)
            outcome = executor.run([job(values)])["OWN-1"]
    finally:
        h.sim.stop()
    ops = [c.operation for c in h.calls]
    assert ops == ["VerifierRecevabiliteDIT", "CreerDemandeDIT", "AccepterRdv", "AccepterRdv"]
    assert outcome.status is Status.RDV_PROGRAMME
    assert board.counts.probes == 1


def test_a_row_waiting_for_its_requested_slot_sends_nothing_once_the_breaker_opened(
    tmp_path: Path,
) -> None:
    h = start_harness(tmp_path)
    values = row("WAIT-1", date="2026-12-10", plage="M1")
    try:
        with h.journal() as journal:
            executor = h.executor(journal)
            executor.slot_board.hold_wait_s = 0.5
            executor.slot_board.ask(999, ("2026-12-10", "M1"))  # another worker asks for it
            timer = threading.Timer(0.2, executor.breaker.unavailable)
            timer.start()
            outcome = executor.run([job(values)])["WAIT-1"]
            timer.join()
    finally:
        h.sim.stop()
    assert [c.operation for c in h.calls] == ["VerifierRecevabiliteDIT"]
    assert outcome.status is Status.REPORTEE


@pytest.mark.parametrize("express", [False, True])
def test_what_omega_lists_to_an_express_demand_is_not_taken_as_free_for_the_others(
    tmp_path: Path, express: bool
) -> None:
    """An express demand may take one place more than the others: its lists are not
    shared. Ordinary rows' lists are: a slot this run filled earlier is free again once
    an answer asked for after that booking lists it."""
    h = start_harness(tmp_path)
    day, plage = full_slot(h.engine.agenda, dt.date(2026, 12, 10))
    h.engine.fill(day, plage)  # the express place too
    values = row("EXP-1", code="Z8", motif="19", date=day, plage=plage)
    if express:
        values["OptionExpress"] = "1"
    seen: list[tuple[str, str]] = []

    def capture(answer: dict[str, Any]) -> dict[str, Any]:
        liste = answer["ReponseCreerDemandeObjet"].get("ListeDatePlage", [])
        seen.extend((s["Date"], s["Plage"]) for s in liste)
        return answer

    h.engine.rewrite_next("CreerDemandeDIT", capture)
    try:
        with h.journal() as journal:
            executor = h.executor(journal)
            board = executor.slot_board
            start = dt.date.fromisoformat(day)
            for days in range(1, 15):  # this run "booked" in every slot of the next days
                for code in h.engine.agenda.slot_codes:
                    slot = ((start + dt.timedelta(days=days)).isoformat(), code)
                    board.hold(999, slot)
                    board.settle(999, slot, filled=True, refused=False)
            outcome = executor.run([job(values)])["EXP-1"]
    finally:
        h.sim.stop()
    assert outcome.status is Status.RDV_PROGRAMME and seen
    expected = Knowledge.UNSURE if express else Knowledge.FREE
    assert {board.knowledge(slot, 0) for slot in seen[1:]} == {expected}


# ----- many workers against the simulator -----------------------------------------------
DAYS = ["2026-12-10", "2026-12-11", "2026-12-14", "2026-12-15", "2026-12-16"]
PCES = [f"110000000000{i:02d}" for i in range(1, 13)]


def _contended_rows(prefix: str, per_day: int = 12) -> list[dict[str, str]]:
    """Rows of 6M PCEs all asking for M1, a block of ``per_day`` rows per working day."""
    return [
        row(f"{prefix}-{i:03d}", pce=PCES[i % len(PCES)], date=DAYS[i // per_day], plage="M1")
        for i in range(per_day * len(DAYS))
    ]


def _run(
    tmp_path: Path,
    rows: list[dict[str, str]],
    *,
    workers: int,
    coordinate: bool,
    capacity: int = 2,
) -> tuple[Harness, dict[str, RowOutcome], int, int]:
    """A fresh simulator (same seed: same calendar), 20 ms per call when workers race;
    the outcomes, the calls the batch counted and the calls its journal recorded."""
    h = start_harness(tmp_path, latency_ms=20 if workers > 1 else 0, capacity=capacity)
    execution = replace(h.settings.execution, workers=workers, coordinate_slots=coordinate)
    settings = replace(h.settings, execution=execution)
    counted = collections.Counter[str]()
    lock = threading.Lock()

    def on_call(record: Any) -> None:
        with lock:
            counted[record.operation] += 1

    try:
        with h.journal() as journal:
            executor = h.executor(journal, settings=settings, on_call=on_call)
            outcomes = executor.run([job(values, line=i + 2) for i, values in enumerate(rows)])
            journaled = sum(
                call.attempts
                for record in journal.all_records()
                for call in journal.calls(record.id)
            )
    finally:
        h.sim.stop()
    return h, outcomes, sum(counted.values()), journaled


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same rows on the same calendar: one worker with and without the board, 16
    coordinated workers; and with one place per slot, one worker and 16 workers."""
    rows = _contended_rows("R")
    found: dict[str, Any] = {}
    for name, workers, coordinate, capacity in (
        ("one", 1, True, 2),
        ("one-uncoordinated", 1, False, 2),
        ("many", 16, True, 2),
        ("one-cap1", 1, True, 1),
        ("many-cap1", 16, True, 1),
    ):
        found[name] = _run(
            tmp_path_factory.mktemp(name),
            rows,
            workers=workers,
            coordinate=coordinate,
            capacity=capacity,
        )
    return found


@pytest.mark.parametrize("name", ["many", "many-cap1"])
def test_many_workers_never_give_a_slot_over_capacity(runs: dict[str, Any], name: str) -> None:
    h, outcomes, _, _ = runs[name]
    agenda = h.engine.agenda
    booked = collections.Counter(
        (o.date_rdv, o.plage_rdv) for o in outcomes.values() if o.status is Status.RDV_PROGRAMME
    )
    assert booked
    for (day, plage), count in booked.items():
        date = dt.date.fromisoformat(day)
        assert agenda.taken(date, plage) == count
        assert agenda.prebooked(date, plage) + count <= agenda.capacity


def test_every_call_is_counted_by_the_batch_the_journal_and_omega(runs: dict[str, Any]) -> None:
    for name in ("one", "many", "many-cap1"):
        h, outcomes, counted, journaled = runs[name]
        assert counted == journaled == len(h.calls)
        assert len(outcomes) == 12 * len(DAYS)


@pytest.mark.parametrize("suffix", ["", "-cap1"])
def test_no_row_is_worse_off_with_many_workers_than_with_one(
    runs: dict[str, Any], suffix: str
) -> None:
    """Same calendar: the k-th earliest appointment with 16 coordinated workers is no
    later than with one worker, and no row ends at its requested date."""

    def dates(outcomes: dict[str, RowOutcome]) -> list[str]:
        return sorted(o.date_rdv for o in outcomes.values() if o.status is Status.RDV_PROGRAMME)

    one, many = runs["one" + suffix][1], runs["many" + suffix][1]
    assert {o.status for o in many.values()} == {Status.RDV_PROGRAMME}
    assert len(dates(many)) >= len(dates(one))
    assert all(m <= s for m, s in zip(dates(many), dates(one), strict=False))


def test_with_one_worker_the_board_changes_nothing(runs: dict[str, Any]) -> None:
    coordinated, plain = runs["one"], runs["one-uncoordinated"]

    def fate(outcomes: dict[str, RowOutcome]) -> dict[str, tuple[str, str, str]]:
        return {k: (o.status.value, o.date_rdv, o.plage_rdv) for k, o in outcomes.items()}

    assert fate(coordinated[1]) == fate(plain[1])
    assert [c.operation for c in coordinated[0].calls] == [c.operation for c in plain[0].calls]


def test_many_coordinated_workers_need_no_fallback_and_no_extra_dialogue_call(
    runs: dict[str, Any],
) -> None:
    """Each 6M row: receivability, creation, AccepterRdv; never DemanderPrecSuiv,
    ProposerDatePlage or AbandonnerRdv; every AccepterRdv beyond one per row is one
    OMEGA answered without booking (a loss the run could not know of)."""
    h, outcomes, _, _ = runs["many"]
    ops = collections.Counter(c.operation for c in h.calls)
    assert ops["VerifierRecevabiliteDIT"] == ops["CreerDemandeDIT"] == len(outcomes)
    assert ops["DemanderPrecSuiv"] == ops["AbandonnerRdv"] == ops["ProposerDatePlage"] == 0
    lost = [c for c in h.calls if c.operation == "AccepterRdv" and c.code_retour != "DmdOkDP"]
    assert ops["AccepterRdv"] == len(outcomes) + len(lost)
