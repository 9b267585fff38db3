"""Shared fixtures: an OMEGA simulator over real HTTP on a free loopback port.

``simulator``: one per test module (its demands accumulate across that module's tests).
``simulator_factory(**kwargs)``: a fresh one per call, stopped when the test ends; the
keywords are those of ``pipeline.simulator.start_simulator``.
Both use today = SIM_TODAY, seed = SIM_SEED and check every answer against the XSD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.simulator import RunningSimulator, start_simulator

SIM_TODAY = date(2026, 12, 1)
SIM_SEED = 42

SimulatorFactory = Callable[..., RunningSimulator]


def start_test_simulator(**kwargs: Any) -> RunningSimulator:
    """A simulator with the test defaults (default settings, environment ignored)."""
    settings = kwargs.pop("settings", None) or load_settings(DEFAULT_CONFIG, environ={})
    kwargs.setdefault("today", SIM_TODAY)
    kwargs.setdefault("seed", SIM_SEED)
    kwargs.setdefault("validate_responses", True)
    return start_simulator(settings, **kwargs)


@pytest.fixture(scope="module")
def simulator() -> Iterator[RunningSimulator]:
    """One in-process simulator shared by the tests of a module."""
    with start_test_simulator() as running:
        yield running


@pytest.fixture
def simulator_factory() -> Iterator[SimulatorFactory]:
    """Start fresh simulators (``factory(fault_rate=..., closed=True, ...)``) for one test."""
    started: list[RunningSimulator] = []

    def factory(**kwargs: Any) -> RunningSimulator:
        running = start_test_simulator(**kwargs)
        started.append(running)
        return running

    yield factory
    for running in started:
        running.stop()
