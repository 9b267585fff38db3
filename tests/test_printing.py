"""The template and the resubmission workbook printed by LibreOffice: A4 landscape, a
sensible number of pages, the header (and the reason and PCE) on every page."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from office_support import pdf_pages

from pipeline.read import header_columns
from pipeline.records import CANONICAL_FIELDS, RequestRow, RowOutcome, Status
from pipeline.referential import load_referential
from pipeline.report.template import write_template
from pipeline.report.workbooks import RunInfo, write_resubmission

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="LibreOffice (soffice) or poppler-utils (pdftotext) not installed",
)
NOW = dt.datetime(2026, 12, 1, 2, 30)


def test_template_prints_its_demandes_sheet_on_two_landscape_pages(tmp_path: Path) -> None:
    """The template's 22 columns print on 2 A4 landscape pages (was 23 pages of 1 to 3
    columns), then the Référentiel one page wide."""
    path = write_template(tmp_path / "modele.xlsx", load_referential(), today=NOW.date())
    heads, sizes = pdf_pages(path, tmp_path)
    demandes = [h for h in heads if not h.startswith("Annexe B")]
    assert len(demandes) == 2
    assert demandes[0].startswith("NumeroPCE CodePostal")
    assert len(heads) - len(demandes) == 1  # Référentiel
    assert len(sizes) == len(heads) and all(w > h for w, h in sizes)


def test_resubmission_prints_three_pages_wide_with_reason_and_pce_on_each(
    tmp_path: Path,
) -> None:
    """The resubmission workbook prints A4 landscape, three pages wide (was 10 portrait
    pages), each page under the header, MotifResoumission and NumeroPCE."""
    headers = CANONICAL_FIELDS
    rows = []
    for line in range(2, 40):
        values = {"NumeroPCE": f"110000000000{line:02d}", "ReferenceDemande": f"R-{line}"}
        cells = tuple(values.get(h, "") for h in headers)
        rows.append((RequestRow(line, cells, values), RowOutcome(Status.ERREUR_TECHNIQUE)))
    run = RunInfo("lot.xlsx", "ab" * 32, NOW, NOW, "https://omega.example/ws", "V9", dry_run=False)
    path = write_resubmission(
        tmp_path, headers, rows, run, now=NOW, columns=header_columns(headers)
    )
    assert path is not None
    heads, sizes = pdf_pages(path, tmp_path)
    demandes = [h for h in heads if h.startswith("MotifResoumission NumeroPCE")]
    assert len(set(demandes)) == 3  # three page widths (pages down: as the rows need)
    assert len(demandes) <= 6  # 38 two-line rows: at most two pages down
    assert len(heads) == len(demandes) + 1  # + Référentiel
    assert len(sizes) == len(heads) and all(w > h for w, h in sizes)
