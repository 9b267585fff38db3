"""The input template workbook business teams fill in (``run_batch.py template PATH``).

Sheet ``Demandes``: the canonical headers (``records.CANONICAL_FIELDS``) with a comment
on each explaining the field, drop-down lists (Excel data validation) for the codes,
motifs, slots, index types and OptionExpress, columns formatted as text (Excel keeps
leading zeros) except the dates, and one example row that passes validation.
Sheet ``Référentiel``: Annexe B (one line per code and motif, per table), Annexe C,
the slot codes with their hours, and the lists the drop-downs point to when they are
too long to be written inline (Excel's 255-character limit).

The file is written atomically next to its destination and never replaces an
existing file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import holidays
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.contract import field_max_lengths
from pipeline.records import CANONICAL_FIELDS, EXAMPLE_REFERENCE, REQUIRED_COLUMNS
from pipeline.referential import Category, Referential
from pipeline.report.field_help import field_comment
from pipeline.report.publish import temp_path

SHEET_REQUESTS = "Demandes"
SHEET_REFERENTIAL = "Référentiel"
VALIDATED_ROWS = 20_000  # drop-downs and formats cover rows 2..VALIDATED_ROWS+1
INLINE_LIST_MAX = 255  # Excel's limit on an inline list formula
EXAMPLE_DAYS_AHEAD = 30
DATE_FORMAT = "dd/mm/yyyy"
DATE_COLUMNS = frozenset({"DateRdv", "DateIndexConteste", "DateIndexClient"})

_MIN_WIDTHS = {"NumeroPCE": 17, "CodePostal": 11}  # 14 digits, 5 digits, filter button
_REQUIRED_FILL = PatternFill("solid", fgColor="FFD966")
_HEADER_FILL = PatternFill("solid", fgColor="BDD7EE")
_EXAMPLE_FONT = Font(italic=True, color="808080")
_BOLD = Font(bold=True)


class TemplateError(Exception):
    """The template cannot be written; the message says why, in French."""


class TemplateExistsError(TemplateError):
    """The destination already exists: the template never replaces a file."""


def write_template(path: Path, referential: Referential, *, today: dt.date | None = None) -> Path:
    """Write the template workbook at ``path`` (.xlsx, must not exist); return its path.

    ``today`` dates the example row (a working day about a month later); default: today.
    """
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise TemplateError(f"Le modèle doit être un fichier .xlsx : « {path.name} »")
    if path.exists():
        raise TemplateExistsError(
            f"Le fichier « {path} » existe déjà : choisissez un autre nom (il n'est jamais "
            "remplacé)"
        )
    workbook = build_template(referential, today=today or dt.date.today())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_new(workbook, path)
    except FileExistsError:
        raise TemplateExistsError(
            f"Le fichier « {path} » existe déjà : choisissez un autre nom (il n'est jamais "
            "remplacé)"
        ) from None
    except OSError as exc:
        raise TemplateError(
            f"Impossible d'écrire le modèle « {path} » : {exc.strerror or exc}"
        ) from exc
    return path


def build_template(referential: Referential, *, today: dt.date) -> Workbook:
    """The template as an in-memory workbook (``write_template`` saves it)."""
    workbook = Workbook()
    requests = workbook.active
    assert requests is not None
    requests.title = SHEET_REQUESTS
    reference = workbook.create_sheet(SHEET_REFERENTIAL)
    lists = _write_referential(reference, referential)
    _write_headers(requests, today)
    _write_example(requests, referential, today)
    _add_validations(requests, lists)
    return workbook


def example_row(referential: Referential, today: dt.date) -> dict[str, str | dt.date]:
    """The example request: a JJ special reading (206, no motif, no slot) a month ahead."""
    code = "206"
    if not referential.is_known_code(code):  # an edited referential: take any JJ code
        jj = [c for c, m in referential.couples(Category.JJ_JM_MM) if not m]
        code = jj[0] if jj else ""
    return {
        "NumeroPCE": "12345678901234",
        "CodePostal": "75011",
        "ReferenceDemande": EXAMPLE_REFERENCE,
        "TelephoneFournisseur": "0102030405",
        "Commentaire": "Ligne d'exemple : remplacez-la par vos demandes",
        "CodeLibelleIntervention": code,
        "OptionExpress": "0",
        "DateRdv": _working_day(today + dt.timedelta(days=EXAMPLE_DAYS_AHEAD)),
        "NomContact": "Mme Martin",
        "TelephoneContact": "0612345678",
        "CodeAcces": "1234A",
        "ComplementAdresse": "Bâtiment B, 2e étage",
    }


def _working_day(day: dt.date) -> dt.date:
    """The first day from ``day`` that is neither a weekend nor a French public holiday."""
    closed_days = set(holidays.country_holidays("FR", years=range(day.year, day.year + 2)))
    while day.weekday() >= 5 or day in closed_days:
        day += dt.timedelta(days=1)
    return day


# ---------------------------------------------------------------- Demandes sheet


def _write_headers(sheet: Worksheet, today: dt.date) -> None:
    lengths = field_max_lengths()
    for column, field in enumerate(CANONICAL_FIELDS, start=1):
        cell = sheet.cell(row=1, column=column, value=field)
        cell.font = _BOLD
        cell.fill = _REQUIRED_FILL if field in REQUIRED_COLUMNS else _HEADER_FILL
        comment = Comment(field_comment(field, lengths, today), "dit-batch")
        comment.width = 320
        comment.height = 170
        cell.comment = comment
        letter = get_column_letter(column)
        dimension = sheet.column_dimensions[letter]
        dimension.width = max(len(field) + 4, 14, _MIN_WIDTHS.get(field, 0))
        # Text format so Excel keeps what is typed ("06000", "04"); dates stay dates.
        dimension.number_format = DATE_FORMAT if field in DATE_COLUMNS else "@"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(CANONICAL_FIELDS))}1"
    sheet.print_title_rows = "1:1"
    print_landscape(sheet, pages_wide=2)


def print_landscape(sheet: Any, *, pages_wide: int = 0, scale: int | None = None) -> None:
    """A4 landscape, ``pages_wide`` pages wide (0: at ``scale`` per cent), as long as needed."""
    setup = sheet.page_setup
    setup.orientation = "landscape"
    setup.paperSize = 9  # A4
    if pages_wide:
        setup.fitToWidth = pages_wide
        setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
    elif scale is not None:
        setup.scale = scale
    sheet.page_margins.left = sheet.page_margins.right = 0.4


def _write_example(sheet: Worksheet, referential: Referential, today: dt.date) -> None:
    example = example_row(referential, today)
    for column, field in enumerate(CANONICAL_FIELDS, start=1):
        value = example.get(field, "")
        cell = sheet.cell(row=2, column=column, value=value if value != "" else None)
        cell.font = _EXAMPLE_FONT
        cell.number_format = DATE_FORMAT if field in DATE_COLUMNS else "@"
    note = Comment(
        "Ligne d'exemple, valide : remplacez-la par vos demandes ou supprimez-la avant "
        "de déposer le fichier (sinon elle serait envoyée).",
        "dit-batch",
    )
    note.width = 300
    note.height = 90
    sheet.cell(row=2, column=1).comment = note


def _add_validations(sheet: Worksheet, lists: dict[str, str]) -> None:
    add_validations(sheet, lists, CANONICAL_FIELDS)


def add_validations(sheet: Any, lists: dict[str, str], columns: Sequence[str]) -> None:
    """The drop-downs of the list fields, in the columns where ``columns`` puts them."""
    prompts = {
        "CodeLibelleIntervention": "Code intervention inconnu : choisissez un code de la "
        "liste (feuille Référentiel).",
        "CodeMotifIntervention": "Code motif inconnu : choisissez un motif de la liste "
        "(feuille Référentiel).",
        "OptionExpress": "OptionExpress : 1 (oui), 0 ou vide (non).",
        "TypeIndexConteste": "Type d'index inconnu : 01 à 06 (Annexe C, feuille Référentiel).",
        "PlageRdv": "Plage inconnue : choisissez un code de la liste (feuille Référentiel).",
    }
    for field, formula in lists.items():
        if field not in columns:
            continue
        column = get_column_letter(list(columns).index(field) + 1)
        validation = DataValidation(
            type="list",
            formula1=formula,
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Valeur non prévue",
            error=prompts[field],
        )
        validation.add(f"{column}2:{column}{VALIDATED_ROWS + 1}")
        sheet.data_validations.append(validation)


# ---------------------------------------------------------------- Référentiel sheet


def _write_table(
    sheet: Worksheet, first_column: int, title: Sequence[str], rows: Iterable[Sequence[str]]
) -> int:
    """Write a header + rows block from ``first_column``; return the last row written."""
    for offset, text in enumerate(title):
        cell = sheet.cell(row=1, column=first_column + offset, value=text)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        width = max(len(text) + 2, 10)
        sheet.column_dimensions[get_column_letter(first_column + offset)].width = width
    last = 1
    for last, values in enumerate(rows, start=2):
        for offset, text in enumerate(values):
            cell = sheet.cell(row=last, column=first_column + offset, value=text or None)
            cell.number_format = "@"
    return last


def _list_formula(sheet: Worksheet, column: int, values: Sequence[str], last_row: int) -> str:
    """An inline list when it fits Excel's limit, else a range of the Référentiel sheet."""
    inline = ",".join(values)
    if len(inline) + 2 <= INLINE_LIST_MAX:
        return f'"{inline}"'
    letter = get_column_letter(column)
    return f"'{sheet.title}'!${letter}$2:${letter}${last_row}"


def referential_sheet(referential: Referential) -> tuple[Worksheet, dict[str, str]]:
    """A Référentiel sheet (in a scratch workbook) and the drop-down formula of each list."""
    sheet = Workbook().create_sheet(SHEET_REFERENTIAL)
    return sheet, _write_referential(sheet, referential)


def _write_referential(sheet: Worksheet, referential: Referential) -> dict[str, str]:
    """Fill the Référentiel sheet; return the drop-down formula of each list field."""
    annexe_b: list[tuple[str, ...]] = []
    codes: dict[str, str] = {}
    motifs: dict[str, str] = {}
    for category in Category:
        for code in dict.fromkeys(c for c, _ in referential.couples(category)):
            item = referential.intervention(category, code)
            if item is None:
                continue
            codes.setdefault(code, item.label)
            head = (
                category.value,
                code,
                item.label,
                "oui" if item.express_allowed else "",
                "oui" if item.index_required else "",
            )
            if not item.motifs:
                annexe_b.append((*head, "", ""))
            for motif in item.motifs:
                motifs.setdefault(motif.code, motif.label)
                annexe_b.append((*head, motif.code, motif.label))
    _write_table(
        sheet,
        1,
        (
            "Annexe B – Tableau",
            "CodeLibelleIntervention",
            "Libellé de la prestation",
            "Option express autorisée",
            "Index obligatoire",
            "CodeMotifIntervention",
            "Motif de l'intervention",
        ),
        annexe_b,
    )
    index_types = [(t.code, t.label) for t in referential.index_types]
    index_last = _write_table(
        sheet, 9, ("Annexe C – Code du type d'index", "Libellé du type d'index"), index_types
    )
    slots = [(s.code, s.label, s.heure_min, s.heure_max) for s in referential.slots]
    slot_last = _write_table(
        sheet, 12, ("Code plage (PlageRdv)", "Libellé", "Heure début", "Heure fin"), slots
    )
    code_list = list(codes)
    codes_last = _write_table(
        sheet,
        17,
        ("Liste des codes intervention", "Libellé"),
        [(c, codes[c]) for c in code_list],
    )
    motif_list = sorted(motifs)
    motifs_last = _write_table(sheet, 20, ("Liste des codes motif",), [(m,) for m in motif_list])
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["C"].width = 60
    sheet.column_dimensions["G"].width = 45
    print_landscape(sheet, pages_wide=1)
    return {
        "CodeLibelleIntervention": _list_formula(sheet, 17, code_list, codes_last),
        "CodeMotifIntervention": _list_formula(sheet, 20, motif_list, motifs_last),
        "OptionExpress": '"0,1"',
        "TypeIndexConteste": _list_formula(sheet, 9, [c for c, _ in index_types], index_last),
        "PlageRdv": _list_formula(sheet, 12, [s[0] for s in slots], slot_last),
    }


# ---------------------------------------------------------------- atomic write


def _save_new(workbook: Workbook, path: Path) -> None:
    """Save to a temporary file beside ``path``, then link it in place without replacing."""
    temp = temp_path(path.parent)  # umask permissions, as the result workbooks
    try:
        with temp.open("wb") as stream:
            workbook.save(stream)
            stream.flush()
            os.fsync(stream.fileno())
        try:
            os.link(temp, path)  # atomic, and fails if path exists
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            if path.exists():  # file systems without hard links: check, then rename
                raise FileExistsError(errno.EEXIST, "exists", str(path)) from None
            os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
