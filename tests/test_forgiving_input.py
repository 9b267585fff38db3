"""Forgiving where safe, explicit always: loose codes read with a warning, unknown headers
named with the closest field, dates told one way in messages and template comments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import load_workbook

from pipeline.read import open_input
from pipeline.read.rules import ReadRule
from pipeline.records import RequestRow, date_forms, example_appointment
from pipeline.referential import load_referential
from pipeline.report.template import write_template
from pipeline.validate import FileValidator

TODAY = dt.date(2026, 12, 1)


def read_csv(path: Path, lines: list[str]) -> tuple[list[RequestRow], list[str]]:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    info, rows = open_input(path, max_bytes=1_000_000)
    return list(rows), [f"{f.rule}: {f.message}" for f in info.findings]


def validate(row: RequestRow, today: dt.date = TODAY) -> list[str]:
    validator = FileValidator(load_referential(), today=today, version="V9")
    return [f"{f.rule}: {f.message}" for f in validator.check(row)]


def test_lowercase_codes_and_slots_are_read_upper_case_with_a_warning(tmp_path: Path) -> None:
    """z8 / m2 / ' 35 ' are read Z8 / M2 / 35, each with a CODE_NORMALISE warning, and pass."""
    rows, _ = read_csv(
        tmp_path / "l.csv",
        [
            "NumeroPCE;CodeLibelleIntervention;CodeMotifIntervention;DateRdv;PlageRdv",
            "11000000000001;z8;;2026-12-10;m2",
            "11000000000002;Z8;;2026-12-10;M 2",
        ],
    )
    first, second = rows
    assert (first.get("CodeLibelleIntervention"), first.get("PlageRdv")) == ("Z8", "M2")
    assert second.get("PlageRdv") == "M2"
    assert [f.rule for f in first.findings] == [ReadRule.CODE_NORMALISE] * 2
    assert "« z8 » lu « Z8 »" in first.findings[0].message
    assert all(not f.is_error for f in first.findings)
    assert not [m for m in validate(first) if "INCONNU" in m]
    assert first.cells[1] == "z8"  # the echo keeps what was typed


def test_unknown_header_is_named_with_the_closest_field(tmp_path: Path) -> None:
    """A 'Téléphone' column is not sent; a warning says so and suggests TelephoneContact."""
    _, findings = read_csv(
        tmp_path / "t.csv",
        [
            "NumeroPCE;CodeLibelleIntervention;DateRdv;Téléphone;MotifResoumission",
            "11000000000001;206;2026-12-10;0612345678;ancien motif",
        ],
    )
    [warning] = findings  # the reason column of a resubmission file is not reported
    assert warning.startswith("ENTETE_INCONNUE: ")
    assert "« Téléphone » (D)" in warning and "n'est pas envoyée" in warning
    assert "Vouliez-vous dire TelephoneContact" in warning


def test_two_digit_year_is_refused_with_a_message_saying_so() -> None:
    """15/01/27 is refused: the message says the year has 2 digits and shows the forms."""
    row = RequestRow(2, (), {"NumeroPCE": "11000000000001", "CodeLibelleIntervention": "206"})
    row.values = {**row.values, "DateRdv": "15/01/27"}
    [message] = [m for m in validate(row) if m.startswith("DATE_RDV_FORMAT")]
    assert "l'année est sur 2 chiffres" in message
    assert date_forms(example_appointment(TODAY)) in message


def test_french_dates_are_accepted(tmp_path: Path) -> None:
    """15/01/2027 (and 15.01.2027) typed as text are read as dates and pass."""
    rows, _ = read_csv(
        tmp_path / "d.csv",
        [
            "NumeroPCE;CodeLibelleIntervention;DateRdv",
            "11000000000001;206;15/01/2027",
            "11000000000002;206;15.01.2027",
        ],
    )
    assert [r.get("DateRdv") for r in rows] == ["2027-01-15", "2027-01-15"]
    assert not [m for r in rows for m in validate(r) if "DATE" in m]


def test_date_examples_are_computed_from_today_never_in_the_past() -> None:
    """The example in the messages is a month after the validator's today, JJ/MM/AAAA."""
    for today in (dt.date(2026, 12, 1), dt.date(2031, 6, 30)):
        row = RequestRow(2, (), {"NumeroPCE": "11000000000001", "DateRdv": "demain"})
        [message] = [m for m in validate(row, today) if m.startswith("DATE_RDV_FORMAT")]
        example = today + dt.timedelta(days=30)
        assert f"ex. {example:%d/%m/%Y}" in message
        assert "AAAA-MM-JJ" in message and "cellule date Excel" in message


def test_template_comments_tell_the_dates_as_the_messages_do(tmp_path: Path) -> None:
    """The DateRdv and index date comments of the template use the same phrase."""
    path = write_template(tmp_path / "m.xlsx", load_referential(), today=TODAY)
    ws = load_workbook(path)["Demandes"]
    comments = {c.value: str(c.comment.text) for c in ws[1] if c.comment}
    assert date_forms(example_appointment(TODAY)) in comments["DateRdv"]
    assert date_forms(TODAY) in comments["DateIndexClient"]
