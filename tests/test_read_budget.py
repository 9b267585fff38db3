"""The reader's budget and limits: workbooks read in a child process within a memory and
time budget (pipeline/read/isolated.py), output limits (columns, cell length), bounded
and printable names and excerpts."""

from __future__ import annotations

import os
from pathlib import Path

from hostile_corpus import HEADER, ROW, openpyxl_book, raw_workbook, sheet_xml

from pipeline.lifecycle import fit_name, scan_input
from pipeline.read import ReadBudget, open_input
from pipeline.read.reader import MAX_INPUT_COLUMNS
from pipeline.read.rules import ReadRule
from pipeline.records import display_name, printable
from pipeline.report.layout import RESULT_COLUMNS
from pipeline.report.publish import safe_stem

SMALL = ReadBudget(memory_bytes=256 << 20, seconds=20)


def test_a_formatted_cell_at_xfd1048576_is_read_as_if_absent(tmp_path: Path) -> None:
    plain, _ = open_input(openpyxl_book(tmp_path / "plain.xlsx"), max_bytes=1 << 30, budget=SMALL)
    info, rows = open_input(
        openpyxl_book(tmp_path / "stray.xlsx", "XFD1048576"), max_bytes=1 << 30, budget=SMALL
    )
    got = list(rows)
    assert not info.unreadable and info.findings == []
    assert len(got) == 50 and got[0].get("ReferenceDemande") == "REF-0"
    assert info.headers == plain.headers
    assert info.read_peak_mb is not None and info.read_peak_mb < 256


def test_a_value_at_xfd1048576_is_over_budget_in_french(tmp_path: Path) -> None:
    info, rows = open_input(
        openpyxl_book(tmp_path / "far.xlsx", "XFD1048576", "x"), max_bytes=1 << 30, budget=SMALL
    )
    assert list(rows) == []
    (finding,) = info.findings
    assert finding.rule == ReadRule.BUDGET_DEPASSE and finding.is_error
    assert finding.message.startswith("Fichier « far.xlsx » : le classeur demande plus de")
    assert "256 Mo" in finding.message and "max_memory_mb" in finding.message


def test_a_lying_shared_strings_count_is_over_budget(tmp_path: Path) -> None:
    path = raw_workbook(
        tmp_path / "count.xlsx",
        sheet_xml(),
        shared='<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'count="4294967295" uniqueCount="4294967295"><si><t>a</t></si></sst>',
    )
    info, _rows = open_input(path, max_bytes=1 << 30, budget=SMALL)
    assert [f.rule for f in info.findings] == [ReadRule.BUDGET_DEPASSE]


def test_a_sheet_too_slow_to_load_is_over_the_time_budget(tmp_path: Path) -> None:
    """A sheet of 150 MB of empty cells (1 MB zipped) against a 0.3 s budget."""
    path = raw_workbook(
        tmp_path / "slow.xlsx",
        sheet_xml('<row r="9">' + '<c r="A9" s="1"/>' * 9_000_000 + "</row>"),
    )
    info, _rows = open_input(path, max_bytes=1 << 30, budget=ReadBudget(256 << 20, 0.3))
    (finding,) = info.findings
    assert finding.rule == ReadRule.BUDGET_DEPASSE
    assert "0.3 s" in finding.message and "max_read_s" in finding.message


def test_engine_errors_are_french_first(tmp_path: Path) -> None:
    path = raw_workbook(
        tmp_path / "bad.xlsx", sheet_xml('<row r="9"><c r="A9" t="s"><x/></c></row>')
    )
    info, _rows = open_input(path, max_bytes=1 << 30, budget=SMALL)
    (finding,) = info.findings
    french, _, detail = finding.message.partition("(détail technique : ")
    assert "mal formé" in french and "feuille « Demandes »" in french
    assert "Expecting" in detail


def test_too_many_columns_are_left_out_and_said_so(tmp_path: Path) -> None:
    assert MAX_INPUT_COLUMNS + len(RESULT_COLUMNS) <= 16_384
    path = tmp_path / "wide.csv"
    extra = [f"c{i}" for i in range(20_000)]
    path.write_text(";".join([*HEADER, *extra]) + "\n" + ";".join([*ROW, *extra]) + "\n")
    info, rows = open_input(path, max_bytes=1 << 30)
    (row,) = list(rows)
    assert len(info.headers) == MAX_INPUT_COLUMNS and len(row.cells) == MAX_INPUT_COLUMNS
    # the extra columns match no field (issue 12's warning): a bounded number of findings
    rules = [f.rule for f in info.findings]
    assert set(rules) == {ReadRule.COLONNES_EXCEDENTAIRES, ReadRule.ENTETE_INCONNUE}
    assert len(rules) <= 12 and rules[0] is ReadRule.COLONNES_EXCEDENTAIRES
    assert not row.findings  # no per-row warning for the columns left out
    assert "laissées de côté" in info.findings[0].message


def test_a_cell_longer_than_excel_holds_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(";".join(HEADER) + "\n" + ";".join([*ROW[:4], "w" * 40_000]) + "\n")
    _info, rows = open_input(path, max_bytes=1 << 30)
    (row,) = list(rows)
    assert [f.rule for f in row.findings] == [ReadRule.CELLULE_TROP_LONGUE]
    assert "40000 caractères" in row.findings[0].message


def test_names_and_excerpts_are_printable_and_bounded() -> None:
    name = os.fsdecode(b"caf\xe9\n\x1b[31m.csv")
    assert display_name(name) == "caf\\xe9\\n\\x1b[31m.csv"
    assert len(display_name("é" * 300)) == 120
    assert printable("Bâtiment\u00a0B") == "Bâtiment\u00a0B"
    assert printable("\u202eevil") == "\\u202eevil"
    assert len(safe_stem("é" * 200).encode()) <= 150 and safe_stem("é" * 200).endswith(
        safe_stem("é" * 200)[-9:]
    )
    assert safe_stem(os.fsdecode(b"caf\xe9")) == "caf_xe9"
    long = "n" * 300 + ".csv"
    fitted = fit_name(long)
    assert len(fitted.encode()) <= 200 and fitted.endswith(".csv") and fitted.startswith("nnn")
    assert fit_name("court.csv") == "court.csv"


def test_links_folders_and_special_files_are_reported_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "ok.csv").write_text("x")
    (folder / "lien.csv").symlink_to("/etc/passwd")
    (folder / "sous-dossier").mkdir()
    os.mkfifo(folder / "tube.csv")
    (folder / "rejetes").mkdir()  # our own folder: not reported
    found = {
        c.path.name: c.skip_reason for c in scan_input(folder, stable_after_s=0, now=lambda: 1e12)
    }
    assert found["ok.csv"] == ""
    assert "lien symbolique" in found["lien.csv"]
    assert "dossier" in found["sous-dossier"]
    assert "fichier spécial" in found["tube.csv"]
    assert "rejetes" not in found
