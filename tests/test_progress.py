"""Progress: a bar on a terminal, periodic structlog events otherwise (cron)."""

from __future__ import annotations

import io

from structlog.testing import capture_logs

from pipeline.progress import Progress
from pipeline.records import Status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_terminal_decision_uses_isatty() -> None:
    """A terminal gets a bar, anything else log events, and disabled means nothing at all."""
    assert Progress(stream=io.StringIO(), isatty=lambda: True).mode == "bar"
    assert Progress(stream=io.StringIO(), isatty=lambda: False).mode == "log"
    assert Progress(stream=io.StringIO()).mode == "log"  # StringIO is not a terminal
    assert Progress(stream=io.StringIO(), isatty=lambda: True, enabled=False).mode == "off"


def test_periodic_events_when_not_a_terminal() -> None:
    """Without a terminal, a progress event every interval with done/total/rate/ETA."""
    clock = FakeClock()
    progress = Progress(stream=io.StringIO(), isatty=lambda: False, clock=clock, interval_s=60)
    with capture_logs() as logs:
        progress.start_file("demandes.xlsx", total=100)
        clock.now += 30
        progress.advance(10, status=Status.RDV_PROGRAMME)  # 30 s: not yet
        clock.now += 30
        progress.advance(10, status="REJET_VALIDATION")  # 60 s: report
        clock.now += 20
        progress.advance(5, status=Status.RDV_PROGRAMME)  # 80 s: not yet
        clock.now += 40
        progress.advance(5)  # 120 s: report
        progress.finish_file()
        progress.close()
    assert [e["event"] for e in logs] == [
        "file_progress_start",
        "progress",
        "progress",
        "file_progress_done",
    ]
    assert logs[0]["file"] == "demandes.xlsx" and logs[0]["total"] == 100
    first = logs[1]
    assert (first["done"], first["total"], first["percent"]) == (20, 100, 20.0)
    assert first["rate_per_s"] == round(20 / 60, 2)
    assert first["eta_s"] == 240.0  # 80 rows left at 1/3 row per second
    assert first["statuses"] == {"RDV_PROGRAMME": 10, "REJET_VALIDATION": 10}
    assert (logs[2]["done"], logs[2]["elapsed_s"]) == (30, 120.0)
    assert logs[3]["done"] == 30 and logs[3]["statuses"]["RDV_PROGRAMME"] == 15


def test_unknown_total_has_no_eta() -> None:
    """When the row count is unknown, percent and ETA are left out (None)."""
    clock = FakeClock()
    progress = Progress(stream=io.StringIO(), isatty=lambda: False, clock=clock, interval_s=1)
    with capture_logs() as logs:
        progress.start_file("flux.csv", total=None)
        clock.now += 2
        progress.advance(4)
    assert logs[-1]["percent"] is None and logs[-1]["eta_s"] is None
    assert logs[-1]["rate_per_s"] == 2.0


def test_bar_on_a_terminal() -> None:
    """On a terminal, one tqdm bar per file shows rows done/total and the status families."""
    stream = io.StringIO()
    progress = Progress(stream=stream, isatty=lambda: True)
    with capture_logs() as logs:
        progress.start_file("demandes.xlsx", total=3)
        progress.advance(status=Status.RDV_PROGRAMME)
        progress.advance(2, status=Status.REJET_VALIDATION)
        progress.finish_file()
        progress.start_file("autre.csv", total=1)
        progress.advance()
        progress.close()
        progress.close()  # idempotent
    out = stream.getvalue()
    assert "demandes.xlsx" in out and "3/3" in out and "autre.csv" in out and "1/1" in out
    assert "traité 1" in out and "à corriger 2" in out
    assert logs == []  # the bar replaces the log events


def test_disabled_is_silent() -> None:
    """A disabled Progress neither draws nor logs."""
    stream = io.StringIO()
    progress = Progress(stream=stream, isatty=lambda: True, enabled=False)
    with capture_logs() as logs:
        progress.start_file("demandes.xlsx", total=3)
        progress.advance(3)
        progress.finish_file()
        progress.close()
    assert stream.getvalue() == "" and logs == []
