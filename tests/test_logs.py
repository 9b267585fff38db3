"""Logging: JSON lines file, console levels, and masking of personal data and credentials."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from pipeline.logs import (
    MASK,
    SUMMARY_MAX_CHARS,
    configure_logging,
    exception_summary,
    log_file_path,
    mask_personal_data,
    mask_phone,
    mask_text,
    reset_logging,
)

PERSONAL = ("Dupont", "Martin", "0612345678", "06 12 34 56 78", "0145454545", "s3cret", "batch.dit")


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    reset_logging()
    yield
    reset_logging()


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_masking_by_key() -> None:
    """Contact names and phone numbers are partly masked, credentials fully, by key name."""
    with capture_logs(processors=[mask_personal_data]) as logs:
        structlog.get_logger().info(
            "row",
            NomContact="Dupont",
            nom="Martin",
            TelephoneContact="06 12 34 56 78",
            telephone_fournisseur="0145454545",
            phone="+33612345678",
            login="batch.dit",
            password="s3cret",
            Authorization="Basic abc",
            db_password="x",
            key="-----BEGIN PRIVATE KEY-----",
            cert_file="/etc/dit/cert.pem",
            DNEntreprise="FOURNISSEUR-DEMO",
            NumeroPCE="01234567890123",
            attempts=3,
        )
    event = logs[0]
    assert event["NomContact"] == "Du***" and event["nom"] == "Ma***"
    assert event["TelephoneContact"] == "06******78"
    assert event["telephone_fournisseur"] == "01******45"
    assert event["phone"] == "33*******78"
    for key in ("login", "password", "Authorization", "db_password", "key"):
        assert event[key] == MASK, key
    assert event["cert_file"] == "/etc/dit/cert.pem"  # a path, not a secret
    assert event["DNEntreprise"] == "FOURNISSEUR-DEMO"
    assert event["NumeroPCE"] == "01234567890123" and event["attempts"] == 3


def test_masking_nested_values() -> None:
    """Mappings and lists inside an event are masked too."""
    with capture_logs(processors=[mask_personal_data]) as logs:
        structlog.get_logger().info(
            "row",
            values={
                "NomContact": "Dupont",
                "TelephoneContact": "0612345678",
                "CodePostal": "75001",
            },
            calls=[{"Telephone": "0612345678"}, "appeler le 0612345678"],
        )
    assert logs[0]["values"] == {
        "NomContact": "Du***",
        "TelephoneContact": "06******78",
        "CodePostal": "75001",
    }
    assert logs[0]["calls"] == [{"Telephone": "06******78"}, "appeler le 06******78"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tel 06 12 34 56 78.", "tel 06******78."),
        ("tel 06.12.34.56.78", "tel 06******78"),
        ("tel 06-12-34-56-78", "tel 06******78"),
        ("+33 6 12 34 56 78", "33*******78"),
        ("0033612345678", "00*********78"),
        ("+33 (0)1 45 45 45 45", "33********45"),
        ("PCE 01234567890123 inchangé", "PCE 01234567890123 inchangé"),
        (
            "demande DIT000000123, le 2026-12-03 à 09:00",
            "demande DIT000000123, le 2026-12-03 à 09:00",
        ),
        ("montant 1234567890", "montant 1234567890"),
    ],
)
def test_phone_numbers_in_free_text(text: str, expected: str) -> None:
    """French phone numbers are masked inside any text; PCE numbers, dates and ids are not."""
    assert mask_text(text) == expected


def test_personal_xml_elements_in_text() -> None:
    """SOAP excerpts in a message lose the contact name, phone and login they carry."""
    xml = (
        "<ns0:ContactIntervention><ns0:Nom>Dupont</ns0:Nom><ns0:Telephone>0612345678"
        "</ns0:Telephone></ns0:ContactIntervention><Login>batch.dit</Login>"
    )
    masked = mask_text(xml)
    assert "Dupont" not in masked and "0612345678" not in masked and "batch.dit" not in masked
    assert "<ns0:Nom>Du***</ns0:Nom>" in masked
    assert "<ns0:Telephone>06******78</ns0:Telephone>" in masked
    assert f"<Login>{MASK}</Login>" in masked


def test_credentials_in_urls() -> None:
    """User and password written into a URL, and e-mail addresses, never reach the log."""
    assert mask_text("endpoint https://batch:s3cret@omega.example/ws ok") == (
        f"endpoint https://{MASK}@omega.example/ws ok"
    )
    assert mask_text("écrire à jean.dupont@example.com.") == "écrire à je***@example.com."


def test_mask_phone_short_and_empty() -> None:
    """Short or odd phone values never show their digits."""
    assert mask_phone("12345") == "*****"
    assert mask_phone("inconnu") == "***"
    assert mask_phone("") == ""


def test_json_lines_file(tmp_path: Path) -> None:
    """The log file holds one JSON object per line with an ISO timestamp and no personal data."""
    log_file = log_file_path(tmp_path / "logs", datetime(2026, 12, 1, 2, 0, 0))
    assert log_file.name == "run-20261201-020000.jsonl"
    configure_logging(log_file=log_file, verbosity=0, console_stream=io.StringIO())
    log = structlog.get_logger("pipeline.test")
    log.info(
        "omega_call",
        operation="CreerDemandeDIT",
        duration_ms=412,
        outcome="ok",
        NomContact="Dupont",
        TelephoneContact="06 12 34 56 78",
        message="Contact joignable au 0145454545",
    )
    log.debug("not in the file by default")
    logging.getLogger("zeep.transports").warning("HTTP 500 for <Nom>Martin</Nom> 0612345678")
    logging.getLogger("zeep.transports").info("zeep chatter is kept out")
    try:
        raise ValueError("mot de passe s3cret refusé pour 0612345678")
    except ValueError:
        log.exception("call_failed", password="s3cret", login="batch.dit")
    reset_logging()

    text = log_file.read_text(encoding="utf-8")
    events = read_jsonl(log_file)
    assert [e["event"] for e in events][:1] == ["omega_call"]
    assert len(events) == 3
    for event in events:
        datetime.fromisoformat(str(event["timestamp"]))
        assert event["level"] in ("info", "warning", "error")
    call = events[0]
    assert (call["operation"], call["duration_ms"], call["outcome"]) == (
        "CreerDemandeDIT",
        412,
        "ok",
    )
    assert call["logger"] == "pipeline.test"
    assert events[1]["logger"] == "zeep.transports"
    assert "ValueError" in str(events[2]["exception"])
    for secret in ("Dupont", "0612345678", "06 12 34 56 78", "0145454545", "batch.dit"):
        assert secret not in text, secret
    assert "Martin" not in text  # inside a <Nom> element
    # A name written into free text cannot be recognised: only phone numbers are.
    assert "s3cret" not in json.dumps(events[2].get("password"))


def test_verbose_file_gets_debug(tmp_path: Path) -> None:
    """With -v the file also receives DEBUG events."""
    log_file = tmp_path / "run.jsonl"
    configure_logging(log_file=log_file, verbosity=1, console_stream=io.StringIO())
    structlog.get_logger().debug("detail", step=1)
    reset_logging()
    assert [e["event"] for e in read_jsonl(log_file)] == ["detail"]


@pytest.mark.parametrize(
    ("verbosity", "shown"),
    [
        (-1, ["avertissement"]),
        (0, ["info", "avertissement"]),
        (1, ["debug", "info", "avertissement"]),
    ],
)
def test_console_levels(verbosity: int, shown: list[str]) -> None:
    """Console shows WARNING when quiet, INFO by default, DEBUG when verbose."""
    console = io.StringIO()
    configure_logging(log_file=None, verbosity=verbosity, console_stream=console)
    log = structlog.get_logger()
    log.debug("debug")
    log.info("info")
    log.warning("avertissement")
    lines = console.getvalue().splitlines()
    assert [next(w for w in shown if w in line) for line in lines] == shown


def test_per_call_events_stay_off_the_console_by_default(tmp_path: Path) -> None:
    """Per-call and per-row events reach the file always, the console only with -v."""
    for verbosity, on_console in ((0, False), (1, True)):
        console = io.StringIO()
        log_file = tmp_path / f"run{verbosity}.jsonl"
        configure_logging(log_file=log_file, verbosity=verbosity, console_stream=console)
        log = structlog.get_logger()
        log.info("omega_call", operation="CreerDemandeDIT", duration_ms=12.5)
        log.info("row_outcome", line=2, status="RDV_PROGRAMME")
        log.warning("omega_call", operation="CreerDemandeDIT", outcome="timeout")
        log.info("file_done", rows=1)
        reset_logging()
        shown = console.getvalue()
        assert ("duration_ms" in shown) is on_console and ("line=2" in shown) is on_console
        assert "outcome=timeout" in shown and "file_done" in shown
        assert len(read_jsonl(log_file)) == 4


def test_console_is_readable_and_masked() -> None:
    """Console lines are key=value text, not JSON, with the same masking."""
    console = io.StringIO()
    configure_logging(log_file=None, console_stream=console)
    structlog.get_logger().info("file_done", file="demandes.xlsx", NomContact="Dupont", rows=3)
    line = console.getvalue().strip()
    assert "file_done" in line and "file=demandes.xlsx" in line and "rows=3" in line
    assert "NomContact=Du***" in line and "Dupont" not in line
    assert not line.startswith("{")


def test_reset_detaches_the_file(tmp_path: Path) -> None:
    """After reset_logging nothing more reaches the log file and the root logger is restored."""
    root_handlers = list(logging.getLogger().handlers)
    log_file = tmp_path / "run.jsonl"
    configure_logging(log_file=log_file, console_stream=io.StringIO())
    structlog.get_logger().info("one")
    reset_logging()
    structlog.get_logger().info("two")
    assert [e["event"] for e in read_jsonl(log_file)] == ["one"]
    assert logging.getLogger().handlers == root_handlers


def test_concurrent_events_stay_one_per_line(tmp_path: Path) -> None:
    """Events logged from several worker threads never share or split a line."""
    log_file = tmp_path / "run.jsonl"
    configure_logging(log_file=log_file, console_stream=io.StringIO(), verbosity=-1)

    def work(n: int) -> None:
        log = structlog.get_logger()
        for i in range(200):
            log.info("row_outcome", worker=n, i=i, detail="x" * 200)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reset_logging()
    events = read_jsonl(log_file)
    assert len(events) == 800
    assert {(e["worker"], e["i"]) for e in events} == {(n, i) for n in range(4) for i in range(200)}


def test_personal_constants_cover_the_test_data() -> None:
    """The values the tests hunt for are the ones they log (guards the tests themselves)."""
    assert "Dupont" in PERSONAL and "0612345678" in PERSONAL


class OmegaDown(Exception):
    """An exception type of a project module (the summary names its module)."""


def _read_the_file(name: str) -> None:
    raise ValueError(f"{name} illisible\nrappeler le 06 12 34 56 78")


def test_console_shows_one_line_per_exception_and_the_file_the_traceback(tmp_path: Path) -> None:
    """Console: the event and 'Type: message' on one line, no traceback; the file: all of it."""
    console = io.StringIO()
    log_file = tmp_path / "run.jsonl"
    configure_logging(log_file=log_file, console_stream=console)
    log = structlog.get_logger("pipeline.run")
    try:
        try:
            _read_the_file("demandes.xlsx")
        except ValueError as exc:
            raise OmegaDown("OMEGA ne répond pas") from exc
    except OmegaDown:
        log.exception("file_failed", file="demandes.xlsx")
    try:
        _read_the_file("lot.csv")
    except ValueError:
        logging.getLogger("zeep.transports").exception("transport_failed")
    log.info("file_done", file="lot.csv")
    reset_logging()

    lines = console.getvalue().splitlines()
    assert len(lines) == 3, lines
    failed, foreign, done = lines
    assert "file_failed" in failed and "file=demandes.xlsx" in failed
    assert failed.endswith(f"exception='{OmegaDown.__module__}.OmegaDown: OMEGA ne répond pas'")
    assert "transport_failed" in foreign
    assert foreign.endswith("exception='ValueError: lot.csv illisible rappeler le 06******78'")
    assert "file_done" in done and "exception" not in done
    shown = console.getvalue()
    assert "Traceback" not in shown and "_read_the_file" not in shown and 'File "' not in shown

    events = {str(e["event"]): e for e in read_jsonl(log_file)}
    trace = str(events["file_failed"]["exception"])
    assert trace.startswith("Traceback (most recent call last):")
    assert "in _read_the_file" in trace  # the frames, down to where it was raised
    assert "ValueError: demandes.xlsx illisible" in trace  # the cause is kept
    assert "OmegaDown: OMEGA ne répond pas" in trace
    assert "06 12 34 56 78" not in trace and "06******78" in trace  # still masked
    foreign_trace = str(events["transport_failed"]["exception"])
    assert "Traceback" in foreign_trace and "in _read_the_file" in foreign_trace


def test_console_leaves_out_stacks() -> None:
    """A stack_info=True event prints its line on the console, without the stack."""
    console = io.StringIO()
    configure_logging(log_file=None, console_stream=console)
    structlog.get_logger().warning("slow_call", stack_info=True)
    assert console.getvalue().count("\n") == 1 and "slow_call" in console.getvalue()


def test_exception_summary() -> None:
    """One line: built-in types bare, others with their module, message flattened and capped."""
    assert exception_summary(ValueError("a\n  b\tc")) == "ValueError: a b c"
    assert exception_summary(KeyError("x")) == "KeyError: 'x'"
    assert exception_summary(TimeoutError()) == "TimeoutError"
    assert exception_summary(OmegaDown("down")) == f"{OmegaDown.__module__}.OmegaDown: down"
    long = exception_summary(ValueError("x" * 1000))
    assert len(long) == SUMMARY_MAX_CHARS and long.endswith("…")

    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert exception_summary(Broken()).endswith("Broken: (message illisible)")
