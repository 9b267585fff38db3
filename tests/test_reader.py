"""Reader: real files written by openpyxl and by the csv module, read back as RequestRows."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook

from pipeline.read.headers import ALIASES, canonical_field, normalise
from pipeline.read.reader import SUPPORTED_SUFFIXES, InputFile, ReadRule, open_input
from pipeline.records import CANONICAL_FIELDS, RequestRow, Severity

MAX = 10 * 1024 * 1024
HEADER = ["NumeroPCE", "CodePostal", "CodeLibelleIntervention", "CodeMotifIntervention", "DateRdv"]
ROW = ["21234567890123", "75011", "Z8", "19", "2030-06-17"]


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[object]],
    *,
    title: str = "Demandes",
    before: Sequence[str] = (),
) -> Path:
    """An .xlsx whose sheet ``title`` holds ``rows``; ``before`` sheets come first."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    for name in before:
        workbook.create_sheet(name, 0)
    first.title = title
    for row in rows:
        first.append(list(row))
    workbook.save(path)
    return path


def write_csv(
    path: Path,
    rows: Sequence[Sequence[str]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ";",
) -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


def read(path: Path, **kwargs: object) -> tuple[InputFile, list[RequestRow]]:
    info, rows = open_input(path, max_bytes=kwargs.pop("max_bytes", MAX), **kwargs)  # type: ignore[arg-type]
    return info, list(rows)


def rules(findings: Sequence[object]) -> list[str]:
    return [str(f.rule) for f in findings]  # type: ignore[attr-defined]


def patch_sheet_xml(path: Path, old: str, new: str) -> None:
    """Rewrite the first worksheet's XML in place (to craft what openpyxl cannot write)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    xml = members["xl/worksheets/sheet1.xml"].decode()
    assert re.search(old, xml), xml
    members["xl/worksheets/sheet1.xml"] = re.sub(old, new, xml).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


# ---------------------------------------------------------------- XLSX values


def test_xlsx_rows_are_text_with_excel_line_numbers(tmp_path: Path) -> None:
    """Values come back trimmed, every canonical field present, rows numbered as in Excel."""
    path = write_xlsx(
        tmp_path / "a.xlsx",
        [HEADER, ROW, [None] * 5, ["  12345678901234 ", "", "206", None, "2030-06-18"]],
    )
    info, rows = read(path)
    assert not info.findings and not info.unreadable
    assert info.headers == tuple(HEADER)
    assert info.columns["DateRdv"] == 4
    assert [r.line for r in rows] == [2, 4]
    assert rows[0].cells == tuple(ROW)
    assert set(rows[0].values) == set(CANONICAL_FIELDS)
    assert rows[0].values["ReferenceDemande"] == ""
    assert rows[1].values["NumeroPCE"] == "12345678901234"
    assert rows[1].values["CodeMotifIntervention"] == ""
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_xlsx_numbers_keep_every_digit_and_lose_their_decimal_point(tmp_path: Path) -> None:
    """A PCE stored as a number reads as its 14 digits, not 2.1e+13 nor 21234567890123.0."""
    header = [*HEADER, "ValeurIndexReleve", "ValeurIndexClient"]
    path = write_xlsx(
        tmp_path / "n.xlsx",
        [header, [21234567890123, 75011, "Z8", 19, "2030-06-17", 12345.0, 1234.5]],
    )
    _info, rows = read(path)
    values = rows[0].values
    assert values["NumeroPCE"] == "21234567890123"
    assert values["CodePostal"] == "75011"
    assert values["CodeMotifIntervention"] == "19"
    assert values["ValeurIndexReleve"] == "12345"
    assert values["ValeurIndexClient"] == "1234.5"
    assert rows[0].findings == []


def test_xlsx_leading_zeros_restored_with_a_warning(tmp_path: Path) -> None:
    """Postal code 6000, phone 612345678, a 13-digit PCE, motif 4 get zeros back, with warnings."""
    header = [*HEADER, "TelephoneContact", "TypeIndexConteste"]
    path = write_xlsx(
        tmp_path / "z.xlsx",
        [header, [2345678901234, 6000, "Z8", 1, "2030-06-17", 612345678, 2]],
    )
    _info, rows = read(path)
    row = rows[0]
    assert row.values["NumeroPCE"] == "02345678901234"
    assert row.values["CodePostal"] == "06000"
    assert row.values["TelephoneContact"] == "0612345678"
    assert row.values["CodeMotifIntervention"] == "01"
    assert row.values["TypeIndexConteste"] == "02"
    assert row.cells[1] == "6000"  # the echo shows what the file holds
    zeros = [f for f in row.findings if f.rule == ReadRule.ZEROS_RESTAURES]
    assert {f.field for f in zeros} == {
        "NumeroPCE",
        "CodePostal",
        "TelephoneContact",
        "CodeMotifIntervention",
        "TypeIndexConteste",
    }
    assert all(f.severity is Severity.WARNING and f.line == 2 for f in zeros)
    postal = next(f for f in zeros if f.field == "CodePostal")
    assert "06000" in postal.message and "CodePostal" in postal.message


def test_implausibly_short_numbers_are_not_padded(tmp_path: Path) -> None:
    """A 3-digit postal code or an 8-digit PCE is left as is for the validator to reject."""
    path = write_xlsx(tmp_path / "s.xlsx", [HEADER, [12345678, 750, "Z8", 19, "2030-06-17"]])
    _info, rows = read(path)
    assert rows[0].values["NumeroPCE"] == "12345678"
    assert rows[0].values["CodePostal"] == "750"
    assert rows[0].findings == []


def test_numbers_excel_already_rounded_are_errors(tmp_path: Path) -> None:
    """A 17-digit reference stored as a number has lost digits: an error, not a silent value."""
    header = [*HEADER, "ReferenceDemande"]
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [header, [*ROW, 12345678901234567]],
    )
    _info, rows = read(path)
    (finding,) = rows[0].findings
    assert finding.rule == ReadRule.NOMBRE_TRONQUE
    assert finding.severity is Severity.ERROR and finding.field == "ReferenceDemande"


def test_xlsx_date_cells_become_iso_dates(tmp_path: Path) -> None:
    """Date and midnight datetime cells read as YYYY-MM-DD; a French date typed as text too."""
    header = [*HEADER, "DateIndexConteste", "DateIndexClient"]
    path = write_xlsx(
        tmp_path / "d.xlsx",
        [
            header,
            [*ROW[:4], dt.date(2030, 6, 17), dt.datetime(2024, 1, 5), "05/02/2024"],
        ],
    )
    _info, rows = read(path)
    values = rows[0].values
    assert values["DateRdv"] == "2030-06-17"
    assert values["DateIndexConteste"] == "2024-01-05"
    assert values["DateIndexClient"] == "2024-02-05"


def test_impossible_text_date_is_left_for_the_validator(tmp_path: Path) -> None:
    """31/02/2030 is not turned into anything: the validator reports it as typed."""
    path = write_xlsx(tmp_path / "d.xlsx", [HEADER, [*ROW[:4], "31/02/2030"]])
    _info, rows = read(path)
    assert rows[0].values["DateRdv"] == "31/02/2030"


def test_formula_cached_value_is_read(tmp_path: Path) -> None:
    """A formula saved with its computed value (as Excel saves) reads as that value."""
    path = write_xlsx(tmp_path / "f.xlsx", [HEADER, [*ROW[:3], "=10+9", ROW[4]]])
    patch_sheet_xml(path, r"<f>10\+9</f><v\s*/?>(</v>)?", "<f>10+9</f><v>19</v>")
    _info, rows = read(path)
    assert rows[0].values["CodeMotifIntervention"] == "19"
    assert rows[0].findings == []


def test_formula_without_cached_value_is_a_clear_row_error(tmp_path: Path) -> None:
    """A formula never computed (file from a program) gives an error naming the field and cell."""
    path = write_xlsx(tmp_path / "f.xlsx", [[*HEADER, "Notes"], [*ROW[:3], "=10+9", ROW[4], "=A2"]])
    info, rows = read(path)
    assert not info.unreadable
    by_field = {f.field: f for f in rows[0].findings}
    motif = by_field["CodeMotifIntervention"]
    assert motif.rule == ReadRule.FORMULE_SANS_VALEUR and motif.severity is Severity.ERROR
    assert "D2" in motif.message and "formule" in motif.message
    notes = by_field["Notes"]  # a column we do not send: only a warning
    assert notes.severity is Severity.WARNING
    assert rows[0].values["CodeMotifIntervention"] == "=10+9"


def test_error_cells_are_row_errors_naming_the_field(tmp_path: Path) -> None:
    """#REF! and #N/A cells become CELLULE_ERREUR errors; the echo shows the error text."""
    path = write_xlsx(
        tmp_path / "e.xlsx",
        [HEADER, ["#REF!", *ROW[1:]], [ROW[0], ROW[1], "#N/A", *ROW[3:]]],
    )
    _info, rows = read(path)
    first, second = rows
    (ref,) = first.findings
    assert ref.rule == ReadRule.CELLULE_ERREUR and ref.field == "NumeroPCE"
    assert ref.severity is Severity.ERROR and ref.line == 2 and ref.value == "#REF!"
    assert first.cells[0] == "#REF!"
    (na,) = second.findings
    assert na.field == "CodeLibelleIntervention" and "#N/A" in na.message


def test_sheet_named_demandes_is_preferred(tmp_path: Path) -> None:
    """With several sheets, the one named Demandes is read even when it is not first."""
    path = write_xlsx(tmp_path / "s.xlsx", [HEADER, ROW], before=["Notice", "Autre"])
    _info, rows = read(path)
    assert rows[0].values["NumeroPCE"] == ROW[0]


def test_first_visible_sheet_without_demandes(tmp_path: Path) -> None:
    """Without a Demandes sheet, the first visible sheet is read (a hidden one is skipped)."""
    workbook = Workbook()
    hidden = workbook.active
    assert hidden is not None
    hidden.title = "Caché"
    hidden.append(["rien"])
    hidden.sheet_state = "hidden"
    sheet = workbook.create_sheet("Feuil2")
    sheet.append(HEADER)
    sheet.append(ROW)
    path = tmp_path / "v.xlsx"
    workbook.save(path)
    info, rows = read(path)
    assert not info.findings
    assert len(rows) == 1


def test_merged_cells_hidden_rows_and_offset_table_do_not_break_reading(tmp_path: Path) -> None:
    """A table starting at C3 with merged, hidden rows and columns reads with Excel numbering."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Demandes"
    for offset, value in enumerate(HEADER):
        sheet.cell(row=3, column=3 + offset, value=value)
    for offset, value in enumerate(ROW):
        sheet.cell(row=4, column=3 + offset, value=value)
        sheet.cell(row=6, column=3 + offset, value=value)
    sheet.merge_cells("C5:D5")
    sheet["C5"] = "fusion"
    sheet.row_dimensions[6].hidden = True
    sheet.column_dimensions["D"].hidden = True
    path = tmp_path / "m.xlsx"
    workbook.save(path)
    info, rows = read(path)
    assert not info.unreadable
    assert [r.line for r in rows] == [4, 5, 6]
    assert info.headers[:3] == ("", "", "NumeroPCE")  # columns A and B are empty
    assert info.columns["NumeroPCE"] == 2
    assert rows[1].cells[2:4] == ("fusion", "")


def test_values_beyond_the_last_header_are_reported(tmp_path: Path) -> None:
    """A value in a column without header is dropped with a warning, never silently."""
    path = write_xlsx(tmp_path / "x.xlsx", [HEADER, [*ROW, None, "perdu ?"]])
    info, rows = read(path)
    assert len(info.headers) == len(HEADER)
    assert len(rows[0].cells) == len(HEADER)
    (finding,) = rows[0].findings
    assert finding.rule == ReadRule.CELLULE_SANS_ENTETE and "G" in finding.message


def test_thousand_columns_are_read(tmp_path: Path) -> None:
    """A sheet with 1,000 columns keeps every header and cell; the known ones are mapped."""
    header = HEADER + [f"Colonne {i}" for i in range(995)]
    row = ROW + [str(i) for i in range(995)]
    path = write_xlsx(tmp_path / "wide.xlsx", [header, row])
    info, rows = read(path)
    assert len(info.headers) == 1000 and len(rows[0].cells) == 1000
    assert rows[0].values["DateRdv"] == ROW[4]
    assert rows[0].cells[-1] == "994"


def test_long_cells_are_kept_whole(tmp_path: Path) -> None:
    """A 100,000-character CSV cell and a 32,767-character XLSX cell (Excel's limit) are kept."""
    text = "é" * 100_000
    path = write_csv(tmp_path / "long.csv", [[*HEADER, "Commentaire"], [*ROW, text]])
    _info, rows = read(path)
    assert rows[0].values["Commentaire"] == text
    path = write_xlsx(tmp_path / "long.xlsx", [[*HEADER, "Commentaire"], [*ROW, text[:32767]]])
    _info, rows = read(path)
    assert len(rows[0].values["Commentaire"]) == 32767


# ---------------------------------------------------------------- CSV


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_csv_encodings_and_delimiters_are_detected(
    tmp_path: Path, encoding: str, delimiter: str
) -> None:
    """Each encoding (UTF-8, with BOM, Windows-1252, UTF-16) and delimiter reads the same."""
    header = ["Numéro PCE", "Code postal", "Code intervention", "Motif", "Date RDV", "Nom contact"]
    row = [*ROW, "Lefèvre, Hélène"]
    path = write_csv(tmp_path / "f.csv", [header, row], encoding=encoding, delimiter=delimiter)
    info, rows = read(path)
    assert not info.findings
    assert info.headers == tuple(header)
    assert rows[0].values["NomContact"] == "Lefèvre, Hélène"
    assert rows[0].values["NumeroPCE"] == ROW[0]
    assert rows[0].line == 2


def test_french_excel_csv_export_just_works(tmp_path: Path) -> None:
    """Excel's "CSV (séparateur: point-virgule)": cp1252, ';', CRLF, JJ/MM/AAAA, zeros lost."""
    content = (
        "NumeroPCE;CodePostal;CodeLibelleIntervention;CodeMotifIntervention;DateRdv;"
        "ComplementAdresse\r\n"
        "21234567890123;6000;Z8;19;17/06/2030;Bâtiment é\r\n"
        ";;;;;\r\n"
        "2,12346E+13;75011;206;;18/06/2030;\r\n"
    )
    path = tmp_path / "export.csv"
    path.write_bytes(content.encode("cp1252"))
    info, rows = read(path)
    assert not info.findings
    first, second = rows
    assert first.values["CodePostal"] == "06000"
    assert first.values["DateRdv"] == "2030-06-17"
    assert first.values["ComplementAdresse"] == "Bâtiment é"
    assert rules(first.findings) == ["ZEROS_RESTAURES"]
    assert second.line == 4
    assert rules(second.findings) == ["NOMBRE_TRONQUE"]


def test_cp1252_detected_even_far_into_the_file(tmp_path: Path) -> None:
    """A Windows-1252 file that is plain ASCII for its first megabyte is still decoded right."""
    rows_out = [HEADER] + [ROW] * 35_000 + [["12345678901234", "75011", "Z8", "19", "é"]]
    path = write_csv(tmp_path / "late.csv", rows_out, encoding="cp1252")
    assert path.stat().st_size > 1 << 20
    _info, rows = read(path)
    assert rows[-1].values["DateRdv"] == "é"


def test_csv_quoted_newlines_count_as_one_excel_row(tmp_path: Path) -> None:
    """A quoted cell with a line break is one record; numbering follows records, as Excel shows."""
    path = write_csv(
        tmp_path / "q.csv", [[*HEADER, "Commentaire"], [*ROW, "ligne 1\nligne 2; encore"], ROW]
    )
    _info, rows = read(path)
    assert [r.line for r in rows] == [2, 3]
    assert rows[0].values["Commentaire"] == "ligne 1\nligne 2; encore"


def test_csv_excel_sep_line_is_honoured(tmp_path: Path) -> None:
    """A first line ``sep=,`` names the delimiter and is not the header."""
    path = tmp_path / "sep.csv"
    path.write_text("sep=,\n" + ",".join(HEADER) + "\n" + ",".join(ROW) + "\n", encoding="utf-8")
    info, rows = read(path)
    assert info.headers == tuple(HEADER)
    assert rows[0].line == 2


def test_blank_lines_above_the_header_keep_excel_numbering(tmp_path: Path) -> None:
    """Blank rows before the header and between rows are skipped but counted."""
    path = write_csv(tmp_path / "b.csv", [[], HEADER, ROW, ["", "", ""], ROW])
    _info, rows = read(path)
    assert [r.line for r in rows] == [3, 5]


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("N° PCE", "NumeroPCE"),
        ("numéro pce", "NumeroPCE"),
        ("PCE", "NumeroPCE"),
        ("numero_pce", "NumeroPCE"),
        ("Code postal", "CodePostal"),
        ("CP", "CodePostal"),
        ("Référence", "ReferenceDemande"),
        ("Code intervention", "CodeLibelleIntervention"),
        ("CODE-LIBELLE.INTERVENTION", "CodeLibelleIntervention"),
        ("Motif", "CodeMotifIntervention"),
        ("Date RDV", "DateRdv"),
        ("Date de rendez-vous", "DateRdv"),
        ("Plage", "PlageRdv"),
        ("Créneau", "PlageRdv"),
        ("Nom contact", "NomContact"),
        ("Téléphone contact", "TelephoneContact"),
        ("  Code d'accès ", "CodeAcces"),
        ("Type index", "TypeIndexConteste"),
        ("Date", None),
        ("Nom", None),
        ("Remarques internes", None),
    ],
)
def test_header_matching(header: str, field: str | None) -> None:
    """Headers match case-, accent-, space- and punctuation-insensitively, aliases included."""
    assert canonical_field(header) == field


def test_every_canonical_name_and_alias_is_unambiguous() -> None:
    """The alias table maps each normalised spelling to exactly one field."""
    seen: dict[str, str] = {}
    for field in CANONICAL_FIELDS:
        for spelling in (field, *ALIASES.get(field, ())):
            assert seen.setdefault(normalise(spelling), field) == field, spelling
    assert set(ALIASES) <= set(CANONICAL_FIELDS)


def test_unknown_columns_are_kept(tmp_path: Path) -> None:
    """Columns we do not use stay in headers and cells, in the file's order."""
    path = write_xlsx(tmp_path / "u.xlsx", [["Agence", *HEADER], ["Lyon", *ROW]])
    info, rows = read(path)
    assert info.headers[0] == "Agence" and info.columns["NumeroPCE"] == 1
    assert rows[0].cells[0] == "Lyon"


def test_missing_required_columns_is_a_file_error(tmp_path: Path) -> None:
    """Without NumeroPCE and DateRdv the file is unreadable; the message lists missing and found."""
    path = write_csv(tmp_path / "m.csv", [["PCEX", "Code intervention"], ["1", "Z8"]])
    info, rows = read(path)
    assert info.unreadable and rows == []
    (finding,) = [f for f in info.findings if f.is_error]
    assert finding.rule == ReadRule.COLONNES_MANQUANTES and finding.line is None
    (unknown,) = [f for f in info.findings if not f.is_error]  # PCEX: which field?
    assert unknown.rule == ReadRule.ENTETE_INCONNUE and "PCEX" in unknown.message
    assert "NumeroPCE" in finding.message and "DateRdv" in finding.message
    assert "« PCEX »" in finding.message and "m.csv" in finding.message


def test_two_columns_for_one_field_is_a_file_error(tmp_path: Path) -> None:
    """ "Date RDV" and "DateRdv" in one file: which to send is unknown, so the file is refused."""
    path = write_csv(tmp_path / "d.csv", [[*HEADER, "Date RDV"], [*ROW, "2030-01-01"]])
    info, rows = read(path)
    assert info.unreadable and rows == []
    assert rules(info.findings) == ["ENTETE_DOUBLON"]
    assert "Date RDV" in info.findings[0].message


# ---------------------------------------------------------------- bad input


def single_error(info: InputFile, rule: ReadRule) -> str:
    assert info.unreadable
    (finding,) = info.findings
    assert finding.rule == rule and finding.line is None and finding.is_error
    assert f"« {info.path.name} »" in finding.message
    return finding.message


def test_empty_files_are_unreadable(tmp_path: Path) -> None:
    """0-byte files, blank CSVs and empty sheets give FICHIER_VIDE."""
    (tmp_path / "zero.csv").write_bytes(b"")
    (tmp_path / "zero.xlsx").write_bytes(b"")
    (tmp_path / "blank.csv").write_bytes(b"\xef\xbb\xbf\r\n ; ;\r\n\r\n")
    write_xlsx(tmp_path / "empty.xlsx", [])
    for name in ("zero.csv", "zero.xlsx", "blank.csv", "empty.xlsx"):
        info, rows = read(tmp_path / name)
        single_error(info, ReadRule.FICHIER_VIDE)
        assert rows == []


def test_header_only_file_is_a_warning_with_no_rows(tmp_path: Path) -> None:
    """A header without data rows is not an error: a warning says there is nothing to do."""
    for path in (
        write_csv(tmp_path / "h.csv", [HEADER, [""] * 5]),
        write_xlsx(tmp_path / "h.xlsx", [HEADER]),
    ):
        info, rows = read(path)
        assert not info.unreadable and rows == []
        (finding,) = info.findings
        assert finding.rule == ReadRule.AUCUNE_LIGNE and finding.severity is Severity.WARNING


def test_binary_file_named_csv(tmp_path: Path) -> None:
    """Binary bytes in a .csv are refused; a workbook renamed .csv is recognised as such."""
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(256)) * 10)
    info, _rows = read(path)
    assert "binaire" in single_error(info, ReadRule.FICHIER_ILLISIBLE)
    renamed = tmp_path / "classeur.csv"
    renamed.write_bytes(write_xlsx(tmp_path / "w.xlsx", [HEADER, ROW]).read_bytes())
    info, _rows = read(renamed)
    assert ".xlsx" in single_error(info, ReadRule.FICHIER_ILLISIBLE)


def test_unknown_extension(tmp_path: Path) -> None:
    """Only .xlsx, .xlsm and .csv are read; .xls gets a hint to save as .xlsx."""
    for name in ("demandes.txt", "demandes.xls", "demandes"):
        path = tmp_path / name
        path.write_text("x")
        info, rows = read(path)
        message = single_error(info, ReadRule.EXTENSION_INCONNUE)
        assert ".xlsx, .xlsm, .csv" in message and rows == []
    info, _rows = read(tmp_path / "demandes.xls")
    assert "97-2003" in info.findings[0].message
    assert SUPPORTED_SUFFIXES == (".xlsx", ".xlsm", ".csv")


def test_uppercase_xlsm_is_read(tmp_path: Path) -> None:
    """Suffixes are case-insensitive and .xlsm workbooks are read like .xlsx."""
    path = write_xlsx(tmp_path / "a.xlsx", [HEADER, ROW])
    macro = path.rename(tmp_path / "DEMANDES.XLSM")
    info, rows = read(macro)
    assert not info.findings and len(rows) == 1


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    """A file above max_bytes is refused before being read; the message gives both sizes."""
    path = write_csv(tmp_path / "big.csv", [HEADER] + [ROW] * 2000)
    info, rows = read(path, max_bytes=1000)
    message = single_error(info, ReadRule.FICHIER_TROP_GROS)
    assert "Mo" in message and rows == []


def test_corrupt_and_fake_workbooks(tmp_path: Path) -> None:
    """A truncated workbook, text named .xlsx and a zip that is no workbook are unreadable."""
    good = write_xlsx(tmp_path / "good.xlsx", [HEADER, ROW]).read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.xlsx").write_text("NumeroPCE;DateRdv\n1;2\n")
    with zipfile.ZipFile(tmp_path / "zip.xlsx", "w") as archive:
        archive.writestr("readme.txt", "pas un classeur")
    for name in ("cut.xlsx", "text.xlsx", "zip.xlsx"):
        info, rows = read(tmp_path / name)
        single_error(info, ReadRule.FICHIER_ILLISIBLE)
        assert rows == []


def _ole2(*streams: str) -> bytes:
    """An OLE2 (compound file) header with directory entry names, as Office writes them."""
    names = b"".join(s.encode("utf-16-le").ljust(64, b"\0") + b"\0" * 64 for s in streams)
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + names


def test_password_protected_workbook(tmp_path: Path) -> None:
    """An encrypted .xlsx (OLE2 container with EncryptionInfo) gives FICHIER_PROTEGE."""
    path = tmp_path / "secret.xlsx"
    path.write_bytes(_ole2("Root Entry", "EncryptionInfo", "EncryptedPackage"))
    info, _rows = read(path)
    assert "mot de passe" in single_error(info, ReadRule.FICHIER_PROTEGE)
    old = tmp_path / "ancien.xlsx"
    old.write_bytes(_ole2("Root Entry", "Workbook"))
    info, _rows = read(old)
    assert "97-2003" in single_error(info, ReadRule.FICHIER_ILLISIBLE)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    """A path that is absent or a folder gives a French file-level error, no exception."""
    info, _rows = read(tmp_path / "absent.csv")
    assert "introuvable" in single_error(info, ReadRule.FICHIER_ILLISIBLE)
    (tmp_path / "dossier.csv").mkdir()
    info, _rows = read(tmp_path / "dossier.csv")
    single_error(info, ReadRule.FICHIER_ILLISIBLE)


def test_original_file_is_never_modified(tmp_path: Path) -> None:
    """Reading a workbook and a CSV to the end leaves bytes and modification time unchanged."""
    paths = [
        write_xlsx(tmp_path / "a.xlsx", [HEADER, ROW, ["#REF!", *ROW[1:]]]),
        write_csv(tmp_path / "a.csv", [HEADER, ROW], encoding="cp1252"),
    ]
    for path in paths:
        os.utime(path, (1_000_000_000, 1_000_000_000))
        before = (path.read_bytes(), path.stat().st_mtime_ns)
        _info, rows = read(path)
        assert rows
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_lone_formula_row_is_still_reported(tmp_path: Path) -> None:
    """A row holding nothing but an uncomputed formula is reported, not skipped as blank."""
    path = write_xlsx(tmp_path / "lone.xlsx", [HEADER, ROW, [None, None, None, "=1+1"]])
    _info, rows = read(path)
    assert [r.line for r in rows] == [2, 3]
    assert rules(rows[1].findings) == ["FORMULE_SANS_VALEUR"]
    assert rows[1].findings[0].field == "CodeMotifIntervention"


def test_sheet_can_be_named_by_the_caller(tmp_path: Path) -> None:
    """``sheet=`` picks another sheet by name (case and accents ignored)."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "Demandes"
    first.append(["rien"])
    other = workbook.create_sheet("Dépôt Avril")
    other.append(HEADER)
    other.append(ROW)
    path = tmp_path / "named.xlsx"
    workbook.save(path)
    info, rows = read(path, sheet="depot avril")
    assert not info.findings and len(rows) == 1


def test_short_csv_rows_are_padded(tmp_path: Path) -> None:
    """A CSV record with fewer cells than headers gets empty cells, one per header."""
    path = write_csv(tmp_path / "short.csv", [[*HEADER, "NomContact"], ROW[:3]])
    _info, rows = read(path)
    assert rows[0].cells == (*ROW[:3], "", "", "")
    assert rows[0].values["DateRdv"] == ""


def test_row_count_is_known_before_reading_for_progress(tmp_path: Path) -> None:
    """The number of data rows is known up front (progress total and ETA), CSV and XLSX."""
    from openpyxl import Workbook

    csv_path = tmp_path / "n.csv"
    csv_path.write_text(
        "NumeroPCE;CodeLibelleIntervention;DateRdv\n"
        + "".join(f"1100000000000{i};206;2026-12-10\n" for i in range(7)),
        encoding="utf-8",
    )
    info, rows = open_input(csv_path, max_bytes=10**7)
    assert info.rows_hint == 7 == len(list(rows))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["NumeroPCE", "CodeLibelleIntervention", "DateRdv"])
    for i in range(5):
        sheet.append([f"1100000000000{i}", "206", "2026-12-10"])
    xlsx_path = tmp_path / "n.xlsx"
    book.save(xlsx_path)
    info, rows = open_input(xlsx_path, max_bytes=10**7)
    assert info.rows_hint == 5 == len(list(rows))


# ---------------------------------------------------------------- batches


def test_rows_read_in_batches_keep_lines_values_and_findings(tmp_path: Path) -> None:
    """Rows read several batches at a time keep their Excel line, values and own findings."""
    from pipeline.read.reader import BATCH_ROWS

    count = 3 * BATCH_ROWS + 5
    records: list[list[str]] = [HEADER]
    for i in range(count):
        records.append([f"2100000000{i:04d}", "75011", "Z8", "19", "17/06/2030"])
    records[BATCH_ROWS] = [""] * 5  # a blank record at a batch boundary
    records[-1] = ["2,12346E+13", "6000", "4", "19", "2030-06-18"]
    info, rows = read(write_csv(tmp_path / "big.csv", records))
    assert not info.findings
    assert len(rows) == count - 1
    assert rows[BATCH_ROWS - 2].line == BATCH_ROWS and rows[BATCH_ROWS - 1].line == BATCH_ROWS + 2
    assert all(r.values["DateRdv"] == "2030-06-17" for r in rows[:-1])
    assert not any(r.findings for r in rows[:-1])
    last = rows[-1]
    assert last.line == count + 1
    assert last.values["CodePostal"] == "06000" and last.values["CodeLibelleIntervention"] == "04"
    assert rules(last.findings) == ["NOMBRE_TRONQUE", "ZEROS_RESTAURES", "ZEROS_RESTAURES"]


def test_workbook_column_mixing_cell_types_reads_each_cell_as_typed(tmp_path: Path) -> None:
    """A column holding numbers, text and dates in turn gives each row its own text."""
    from pipeline.read.reader import BATCH_ROWS

    header = [*HEADER, "Commentaire"]
    cycle: list[object] = [12345.0, "  texte ", dt.date(2030, 6, 17), 1234.5, True, None]
    data = [
        [21234567890123, 75011, "Z8", 19, dt.date(2030, 6, 17), cycle[i % len(cycle)]]
        for i in range(2 * BATCH_ROWS)
    ]
    _info, rows = read(write_xlsx(tmp_path / "mixed.xlsx", [header, *data]))
    expected = ["12345", "texte", "2030-06-17", "1234.5", "VRAI", ""]
    assert [r.values["Commentaire"] for r in rows] == [
        expected[i % len(expected)] for i in range(2 * BATCH_ROWS)
    ]
    assert {r.values["NumeroPCE"] for r in rows} == {"21234567890123"}
    assert {r.values["CodeMotifIntervention"] for r in rows} == {"19"}


def test_source_breaking_half_way_keeps_the_rows_read_before(tmp_path: Path) -> None:
    """If the rows' source fails mid-file, the rows before are delivered, then a file error."""
    from pipeline.read.cells import RawRow, RowBuilder
    from pipeline.read.reader import _rows

    def source() -> Iterator[RawRow]:
        for line in range(2, 12):
            yield line, ["21234567890123", "75011", "Z8", "19", "2030-06-17"], None
        raise OSError("disque débranché")

    info = InputFile(tmp_path / "x.csv")
    builder = RowBuilder(HEADER, {name: i for i, name in enumerate(HEADER)})
    rows = list(_rows(info, builder, source(), True))
    assert [r.line for r in rows] == list(range(2, 12))
    assert rules(info.findings) == ["FICHIER_ILLISIBLE"]
    assert "lecture interrompue" in info.findings[0].message


def test_short_pce_typed_as_text_is_never_padded(tmp_path: Path) -> None:
    """A 13- or 12-digit PCE in a CSV or an XLSX text cell stays as typed (the validator
    refuses it), while a 4-digit postal code and a 9-digit phone get their zero back
    with a warning that says the value was text, not a number."""
    header = [*HEADER, "TelephoneContact"]
    csv_rows = [header, ["2345678901234", "6000", "Z8", "19", "2030-06-17", "612345678"]]
    csv_rows.append(["345678901234", "75011", "Z8", "19", "2030-06-17", ""])
    xlsx_rows: list[list[object]] = [
        list(header),
        ["2345678901234", "6000", "Z8", "19", "2030-06-17"],
    ]
    xlsx_rows.append([2345678901234, 75011, "Z8", 19, "2030-06-17"])  # a number cell
    _, from_csv = read(write_csv(tmp_path / "t.csv", csv_rows))
    _, from_xlsx = read(write_xlsx(tmp_path / "t.xlsx", xlsx_rows))
    assert [r.values["NumeroPCE"] for r in from_csv] == ["2345678901234", "345678901234"]
    assert from_xlsx[0].values["NumeroPCE"] == "2345678901234"
    assert from_xlsx[1].values["NumeroPCE"] == "02345678901234"  # a number: zero restored
    assert from_csv[0].values["CodePostal"] == "06000"
    assert from_csv[0].values["TelephoneContact"] == "0612345678"
    text_zeros = [f for f in from_csv[0].findings if f.rule == ReadRule.ZEROS_RESTAURES]
    assert {f.field for f in text_zeros} == {"CodePostal", "TelephoneContact"}
    assert all("comme un nombre" not in f.message for f in text_zeros)
    assert "4 chiffre(s) au lieu de 5" in text_zeros[0].message
    assert not any(f.field == "NumeroPCE" for r in from_csv for f in r.findings)
    number_zero = [f for f in from_xlsx[1].findings if f.field == "NumeroPCE"]
    assert number_zero and "enregistrée comme un nombre" in number_zero[0].message
