"""Template workbook: written once, read back with openpyxl and with our own reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.read.reader import open_input
from pipeline.records import CANONICAL_FIELDS
from pipeline.referential import (
    Category,
    Intervention,
    Motif,
    Referential,
    load_referential,
)
from pipeline.report.template import (
    SHEET_REFERENTIAL,
    TemplateError,
    TemplateExistsError,
    write_template,
)
from pipeline.validate.validator import FileValidator

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def referential() -> Referential:
    return load_referential()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, referential: Referential) -> Path:
    return write_template(tmp_path_factory.mktemp("t") / "modele.xlsx", referential, today=TODAY)


def list_values(workbook_path: Path, field: str) -> list[str]:
    """The values the drop-down of ``field``'s column offers (inline list or sheet range)."""
    workbook = load_workbook(workbook_path)
    sheet = workbook["Demandes"]
    letter = get_column_letter(CANONICAL_FIELDS.index(field) + 1)
    (validation,) = [
        v
        for v in sheet.data_validations.dataValidation
        if any(r.min_col == r.max_col == CANONICAL_FIELDS.index(field) + 1 for r in v.sqref.ranges)
    ]
    assert validation.type == "list"
    assert f"{letter}2:{letter}" in str(validation.sqref)
    formula = validation.formula1 or ""
    if formula.startswith('"'):
        return formula.strip('"').split(",")
    sheet_name, cells = formula.split("!")
    source = workbook[sheet_name.strip("'")]
    return [str(c.value) for (c,) in source[cells.replace("$", "")]]


def test_headers_are_the_canonical_fields_with_comments(template: Path) -> None:
    """Row 1 of Demandes holds every canonical field, each with an explanatory French comment."""
    workbook = load_workbook(template)
    assert workbook.sheetnames == ["Demandes", SHEET_REFERENTIAL]
    sheet = workbook["Demandes"]
    headers = [c.value for c in sheet[1]]
    assert headers == list(CANONICAL_FIELDS)
    for cell in sheet[1]:
        assert cell.comment is not None
        assert cell.comment.text.startswith(str(cell.value))
        assert len(cell.comment.text) > len(str(cell.value)) + 20
    assert "OBLIGATOIRE" in sheet["A1"].comment.text  # NumeroPCE
    assert "14 caractères au plus" in sheet["A1"].comment.text


def test_dropdowns_offer_the_referential_lists(template: Path, referential: Referential) -> None:
    """Codes, motifs, slots, index types and OptionExpress each offer the right drop-down list."""
    codes = list(dict.fromkeys(c for c, _ in sorted(referential.all_couples())))
    motifs = {m for _, m in referential.all_couples() if m}
    assert set(list_values(template, "CodeLibelleIntervention")) == set(codes)
    assert set(list_values(template, "CodeMotifIntervention")) == motifs
    assert list_values(template, "PlageRdv") == [s.code for s in referential.slots]
    assert list_values(template, "TypeIndexConteste") == [t.code for t in referential.index_types]
    assert list_values(template, "OptionExpress") == ["0", "1"]


def test_long_lists_point_to_the_referential_sheet(tmp_path: Path) -> None:
    """A code list longer than Excel's 255-character inline limit is a range of Référentiel."""
    many = [
        Intervention(f"{i:03d}", f"Prestation {i}", Category.JJ_JM_MM, False, False, ())
        for i in range(100, 200)
    ]
    six_m = Intervention("Z8", "Relevé spécial", Category.SIX_M, True, False, (Motif("19", "V"),))
    base = load_referential()
    ref = Referential([*many, six_m], base.slots, base.index_types)
    path = write_template(tmp_path / "long.xlsx", ref, today=TODAY)
    workbook = load_workbook(path)
    formulas = {v.formula1 for v in workbook["Demandes"].data_validations.dataValidation}
    assert any(f and f.startswith(f"'{SHEET_REFERENTIAL}'!") for f in formulas)
    values = list_values(path, "CodeLibelleIntervention")
    assert len(values) == 101 and "150" in values and "Z8" in values


def test_referential_sheet_lists_annexes_b_and_c_and_slots(
    template: Path, referential: Referential
) -> None:
    """Référentiel holds one Annexe B line per table/code/motif, Annexe C and slot hours."""
    sheet: Worksheet = load_workbook(template)[SHEET_REFERENTIAL]
    annexe_b = [
        tuple("" if v is None else str(v) for v in row)
        for row in sheet.iter_rows(min_row=2, max_col=7, values_only=True)
        if row[0]
    ]
    expected = sum(len(referential.couples(c)) for c in Category)
    assert len(annexe_b) == expected
    assert ("JJ/JM/MM", "206", "Relevé spécial avec déplacement", "oui", "", "", "") in annexe_b
    g1 = [r for r in annexe_b if r[1] == "G1"]
    assert g1 and all(r[4] == "oui" for r in g1)
    z8 = {r[5] for r in annexe_b if r[1] == "Z8"}
    assert z8 == {"19", "01"}
    annexe_c = [
        (str(a), str(b))
        for a, b in sheet.iter_rows(min_row=2, min_col=9, max_col=10, values_only=True)
        if a
    ]
    assert annexe_c == [(t.code, t.label) for t in referential.index_types]
    slots = [
        tuple(str(v) for v in row)
        for row in sheet.iter_rows(min_row=2, min_col=12, max_col=15, values_only=True)
        if row[0]
    ]
    assert slots == [(s.code, s.label, s.heure_min, s.heure_max) for s in referential.slots]


def test_example_row_reads_and_validates_cleanly(template: Path, referential: Referential) -> None:
    """The example row reads back and breaks no rule except being the example (never sent)."""
    info, rows = open_input(template, max_bytes=10 * 1024 * 1024)
    assert not info.findings
    (row,) = list(rows)
    assert row.line == 2 and row.findings == []
    assert row.values["CodeLibelleIntervention"] == "206"
    date_rdv = dt.date.fromisoformat(row.values["DateRdv"])
    assert TODAY + dt.timedelta(days=30) <= date_rdv <= TODAY + dt.timedelta(days=40)
    assert date_rdv.weekday() < 5
    validator = FileValidator(referential, today=TODAY, version="V9")
    assert [f.rule for f in validator.check(row)] == ["LIGNE_EXEMPLE"]
    row.values = {**row.values, "ReferenceDemande": "MA-REF-1"}  # a real request like it
    assert FileValidator(referential, today=TODAY, version="V9").check(row) == []


def test_code_columns_are_text_so_excel_keeps_leading_zeros(template: Path) -> None:
    """Code, PCE and phone columns are formatted as Text; date columns as dates."""
    sheet = load_workbook(template)["Demandes"]
    for field in ("NumeroPCE", "CodePostal", "CodeMotifIntervention", "TelephoneContact"):
        letter = get_column_letter(CANONICAL_FIELDS.index(field) + 1)
        assert sheet.column_dimensions[letter].number_format == "@"
    letter = get_column_letter(CANONICAL_FIELDS.index("DateRdv") + 1)
    assert sheet.column_dimensions[letter].number_format == "dd/mm/yyyy"


def test_existing_file_is_never_replaced(tmp_path: Path, referential: Referential) -> None:
    """Writing over an existing file raises TemplateExistsError and leaves it untouched."""
    path = tmp_path / "modele.xlsx"
    path.write_bytes(b"mon fichier")
    with pytest.raises(TemplateExistsError, match="existe déjà"):
        write_template(path, referential, today=TODAY)
    assert path.read_bytes() == b"mon fichier"
    assert issubclass(TemplateExistsError, TemplateError)


def test_only_xlsx_and_no_temporary_file_left(tmp_path: Path, referential: Referential) -> None:
    """A non-.xlsx name is refused; a successful write leaves only the template in its folder."""
    with pytest.raises(TemplateError, match=r"\.xlsx"):
        write_template(tmp_path / "modele.csv", referential, today=TODAY)
    path = write_template(tmp_path / "sous" / "modele.xlsx", referential, today=TODAY)
    assert sorted(p.name for p in path.parent.iterdir()) == ["modele.xlsx"]
    assert not (tmp_path / "modele.csv").exists()
