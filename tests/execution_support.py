"""Helpers shared by the execution tests: rows, settings, a scriptable simulator engine.

``ScriptedEngine`` wraps the simulator's real engine: the HTTP/SOAP/XSD layers and the
business rules stay real, a test only adds "something happens just before this call"
(another supplier takes a slot, OMEGA closes) or rewrites one answer into a variant the
engine never gives on its own (DmdOk, DmdOkDP at creation).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conftest import SIM_SEED, SIM_TODAY, start_test_simulator

from pipeline.config import DEFAULT_CONFIG, Settings, load_settings
from pipeline.execute.executor import Executor, Job
from pipeline.execute.journal import Journal
from pipeline.referential import load_referential
from pipeline.simulator import CallRecord, RunningSimulator
from pipeline.simulator.agenda import SlotAgenda
from pipeline.simulator.engine import Engine, build_engine

PCE_6M = "11000000000001"  # 6M non télérelevé, 75011
PCE_6M_B = "11000000000002"  # 6M non télérelevé, 69003
PCE_JJ = "21000000000001"  # JJ, 93200
PCE_UNKNOWN = "99999999999999"
PCE_OTHER_SUPPLIER = "91000000000001"
SHA = "c0ffee" * 10 + "abcd"
NOW = dt.datetime(2026, 12, 1, 2, 0, 0)


def clock() -> dt.datetime:
    return NOW


def exec_settings(tmp_path: Path, **execution: Any) -> Settings:
    """Default settings, journal under tmp_path, no real waiting (high rate limit)."""
    base = load_settings(DEFAULT_CONFIG, environ={})
    defaults: dict[str, Any] = {
        "rate_per_s": 1000.0,
        "workers": 4,
        "max_attempts": 3,
        "breaker_threshold": 5,
    }
    defaults.update(execution)
    return replace(
        base,
        execution=replace(base.execution, **defaults),
        paths=replace(base.paths, journal=tmp_path / "var" / "journal.sqlite3"),
    )


def row(
    ref: str,
    pce: str = PCE_6M,
    code: str = "34",
    motif: str = "23",
    date: str = "2026-12-10",
    plage: str = "M1",
    **more: str,
) -> dict[str, str]:
    values = {
        "NumeroPCE": pce,
        "ReferenceDemande": ref,
        "CodeLibelleIntervention": code,
        "CodeMotifIntervention": motif,
        "DateRdv": date,
        "PlageRdv": plage,
        "NomContact": "Client Test",
        "TelephoneContact": "0102030405",
    }
    values.update(more)
    return values


def job(values: Mapping[str, str], line: int = 2, source: str = "demandes.csv") -> Job:
    return Job(values["ReferenceDemande"] or f"{SHA[:16]}:{line}", source, SHA, line, values)


def jj_row(ref: str, **more: str) -> dict[str, str]:
    return row(ref, pce=PCE_JJ, code="206", motif="", plage="", **more)


Hook = Callable[[Mapping[str, Any]], None]
Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class ScriptedEngine:
    """The real engine, with hooks before and answer rewrites after chosen operations."""

    inner: Engine
    before: dict[str, deque[Hook]] = field(default_factory=dict)
    after: dict[str, deque[Rewrite]] = field(default_factory=dict)
    every_before: dict[str, Hook] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self.inner.closed = value

    @property
    def maintenance(self) -> bool:
        return self.inner.maintenance

    @maintenance.setter
    def maintenance(self, value: bool) -> None:
        self.inner.maintenance = value

    @property
    def agenda(self) -> SlotAgenda:
        return self.inner.agenda

    def on_next(self, operation: str, hook: Hook) -> None:
        self.before.setdefault(operation, deque()).append(hook)

    def rewrite_next(self, operation: str, rewrite: Rewrite) -> None:
        self.after.setdefault(operation, deque()).append(rewrite)

    def handle(
        self, operation: str, request: Mapping[str, Any], *, peer_dn: str | None = None
    ) -> dict[str, Any]:
        if operation in self.every_before:
            self.every_before[operation](request)
        hooks = self.before.get(operation)
        if hooks:
            hooks.popleft()(request)
        answer = self.inner.handle(operation, request, peer_dn=peer_dn)
        rewrites = self.after.get(operation)
        if rewrites:
            answer = rewrites.popleft()(answer)
        return answer

    def demandes(self) -> list[dict[str, Any]]:
        return self.inner.demandes()

    def fill(self, day: str, plage: str) -> None:
        """Another supplier takes every place left on that day and slot."""
        target = dt.date.fromisoformat(day)
        while self.agenda.reserve(target, plage, express=True):
            pass


@dataclass
class Harness:
    """A simulator (scripted engine), a journal file and the server-side call log."""

    tmp_path: Path
    sim: RunningSimulator
    engine: ScriptedEngine
    calls: list[CallRecord]
    settings: Settings
    sleeps: list[float] = field(default_factory=list)
    run_number: itertools.count[int] = field(default_factory=itertools.count)

    def executor(self, journal: Journal, **kwargs: Any) -> Executor:
        settings = kwargs.pop("settings", self.settings)
        return Executor(
            settings,
            journal,
            self.sim.base_url,
            clock=clock,
            sleep=self.sleeps.append,
            **kwargs,
        )

    def journal(self) -> Journal:
        return Journal(self.settings.paths.journal, clock=clock)

    def run(self, jobs: list[Job], **kwargs: Any) -> dict[str, Any]:
        """One run (fresh executor, like one nightly batch) over ``jobs``."""
        with self.journal() as journal:
            return self.executor(journal, **kwargs).run(jobs)

    def ops(self) -> list[str]:
        return [c.operation for c in self.calls]

    def demandes(self, reference: str | None = None) -> list[dict[str, Any]]:
        found = self.engine.demandes()
        if reference is None:
            return found
        return [d for d in found if d.get("ReferenceDemande") == reference]


def start_harness(tmp_path: Path, capacity: int | None = None, **sim_kwargs: Any) -> Harness:
    """A fresh simulator (scripted engine) and a journal under ``tmp_path``; ``capacity``
    replaces the settings' places per slot."""
    settings = exec_settings(tmp_path)
    if capacity is not None:
        simulator = replace(settings.simulator, capacity_per_slot=capacity)
        settings = replace(settings, simulator=simulator)
    inner = build_engine(settings.simulator, load_referential(), today=SIM_TODAY, seed=SIM_SEED)
    engine = ScriptedEngine(inner)
    calls: list[CallRecord] = []
    sim = start_test_simulator(engine=engine, on_call=calls.append, **sim_kwargs)
    return Harness(tmp_path, sim, engine, calls, settings)


def reuse_harness(shared: Harness, tmp_path: Path) -> Harness:
    """The shared simulator for one more test: hooks, faults and call log reset, new journal."""
    shared.engine.before.clear()
    shared.engine.after.clear()
    shared.engine.every_before.clear()
    shared.engine.closed = shared.engine.maintenance = False
    shared.sim.faults.clear()
    shared.calls.clear()
    return Harness(tmp_path, shared.sim, shared.engine, shared.calls, exec_settings(tmp_path))


def harness_fixture(tmp_path: Path) -> Iterator[Harness]:
    harness = start_harness(tmp_path)
    try:
        yield harness
    finally:
        harness.sim.stop()


def free_slots(agenda: SlotAgenda, start: dt.date, count: int = 1) -> list[tuple[str, str]]:
    """The first ``count`` free (day, slot) pairs from ``start`` on, in agenda order."""
    found: list[tuple[str, str]] = []
    day = start
    while len(found) < count:
        if agenda.is_bookable_day(day):
            for code in agenda.slot_codes:
                if agenda.is_free(day, code):
                    found.append((day.isoformat(), code))
                    if len(found) == count:
                        break
        day += dt.timedelta(days=1)
    return found


def full_slot(agenda: SlotAgenda, start: dt.date) -> tuple[str, str]:
    """A bookable (day, slot) that is already full."""
    day = start
    while True:
        if agenda.is_bookable_day(day):
            for code in agenda.slot_codes:
                if not agenda.is_free(day, code):
                    return day.isoformat(), code
        day += dt.timedelta(days=1)
