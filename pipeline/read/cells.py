"""Turning raw input rows into ``RequestRow``s: every value as the text the user meant.

- Numbers come back without ``.0`` or exponent (``21234567890123``, not ``2.1e+13``).
- Excel date cells become ``YYYY-MM-DD``; French dates typed as text in a date
  column (``15/06/2025``) too.
- Surrounding spaces (non-breaking ones included) are trimmed.
- Leading zeros that Excel drops from numbers are restored, with a warning, for the
  fields listed in ``ZERO_PADDED`` (14-digit PCE, 5-digit postal code, 10-digit
  phones, 2-digit codes), and only when the missing count is plausible. In text (CSV,
  XLSX text cell) only where the format proves the lost zero (a 4-digit postal code,
  a 9-digit phone, a 1-digit code); never for a PCE (``NUMBER_ONLY_ZEROS``): a short
  PCE typed as text may as well miss any other digit, the validator refuses it.
- An identifier Excel already rounded (scientific notation, more than 15 digits) is
  an error: the digits are gone and cannot be restored.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from pipeline.read.codes import CODE_FIELDS, normalise_codes
from pipeline.read.rules import ReadRule, column_letter
from pipeline.records import CANONICAL_FIELDS, Finding, RequestRow, Severity

# Field -> (full width, fewest digits a value may have to get zeros back).
ZERO_PADDED: Mapping[str, tuple[int, int]] = {
    "NumeroPCE": (14, 12),
    "CodePostal": (5, 4),
    "TelephoneFournisseur": (10, 9),
    "TelephoneContact": (10, 9),
    "CodeLibelleIntervention": (2, 1),
    "CodeMotifIntervention": (2, 1),
    "TypeIndexConteste": (2, 1),
}
# Zeros restored only from a number cell (see the module docstring).
NUMBER_ONLY_ZEROS: frozenset[str] = frozenset({"NumeroPCE"})
DATE_FIELDS: frozenset[str] = frozenset({"DateRdv", "DateIndexConteste", "DateIndexClient"})
# Identifiers whose digits matter one by one: a rounded number there is lost data.
IDENTIFIER_FIELDS: frozenset[str] = frozenset(
    {"NumeroPCE", "CodePostal", "ReferenceDemande", "TelephoneFournisseur", "TelephoneContact"}
)
EXCEL_MAX_DIGITS = 15  # Excel keeps 15 significant digits of a number

_FRENCH_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_ISO_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})[ T]00:00(?::00(?:\.0+)?)?")
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")

RawCell = object


def to_text(value: object) -> str:
    """The text of one cell value as the user sees it (trimmed)."""
    convert = _CONVERTERS.get(value.__class__)
    if convert is not None:
        return convert(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return _bool_text(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return _datetime_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _time_text(value)
    return str(value).strip()


def _bool_text(value: bool) -> str:
    return "VRAI" if value else "FAUX"


def _float_text(value: float) -> str:
    if value.is_integer():
        return str(int(value))
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    text = format(value, f".{EXCEL_MAX_DIGITS}g")
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def _datetime_text(value: dt.datetime) -> str:
    if not (value.hour or value.minute or value.second or value.microsecond):
        return value.date().isoformat()
    return value.strftime("%Y-%m-%d %H:%M" if not value.second else "%Y-%m-%d %H:%M:%S")


def _time_text(value: dt.time) -> str:
    return value.strftime("%H:%M" if not value.second else "%H:%M:%S")


# Exact-type fast paths of to_text (calamine gives these types only). Dates repeat a
# lot in a file: cached, they cost one lookup and share one string per date.
_CONVERTERS: dict[type, Callable[[Any], str]] = {
    str: str.strip,
    float: _float_text,
    int: str,
    bool: _bool_text,
    dt.date: functools.lru_cache(maxsize=4096)(dt.date.isoformat),
    dt.datetime: _datetime_text,
    dt.time: _time_text,
    dt.timedelta: str,
}
_STR = str


@functools.lru_cache(maxsize=4096)
def iso_date(text: str) -> str:
    """A date typed as text in a date column, as ``YYYY-MM-DD`` when it is one."""
    match = _FRENCH_DATE.fullmatch(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        try:
            return dt.date(year, month, day).isoformat()
        except ValueError:
            return text  # the validator says the date is invalid
    match = _ISO_DATETIME.fullmatch(text)
    return match.group(1) if match else text


def _is_rounded(text: str, raw: RawCell) -> bool:
    """True for a number Excel rounded: scientific notation, or a number of 16+ digits."""
    if isinstance(raw, float | int) and not isinstance(raw, bool):
        return abs(raw) >= 10**EXCEL_MAX_DIGITS or bool(_SCIENTIFIC.fullmatch(text))
    return bool(_SCIENTIFIC.fullmatch(text))


def _rounded_finding(field: str, header: str, text: str, line: int) -> Finding:
    return Finding(
        ReadRule.NOMBRE_TRONQUE,
        Severity.ERROR,
        field,
        text,
        f"Ligne {line}, colonne « {header} » : « {text} » est un nombre arrondi par "
        "Excel (notation scientifique ou plus de 15 chiffres) : les chiffres exacts "
        "sont perdus. Ressaisissez la valeur dans une colonne au format Texte",
        line,
    )


def _zeros_finding(
    field: str, header: str, text: str, padded: str, raw: RawCell, line: int
) -> Finding:
    if isinstance(raw, str):
        how = f"{len(text)} chiffre(s) au lieu de {len(padded)} ({text})"
        avoid = "n'ouvrez pas le CSV dans Excel avant de le déposer, ou importez-le "
        avoid += "avec la colonne au format Texte"
    else:
        how, avoid = f"enregistrée comme un nombre ({text})", "mettez la colonne au format Texte"
    message = f"Ligne {line}, colonne « {header} » : valeur {how}, zéro(s) de tête "
    message += f"restauré(s) : {padded}. Vérifiez la valeur ; pour l'éviter, {avoid}"
    return Finding(ReadRule.ZEROS_RESTAURES, Severity.WARNING, field, text, message, line)


_NUMBER_START = frozenset("0123456789+-")


@dataclass(frozen=True, slots=True)
class SpecialCell:
    """A cell whose value the engine could not give: an error (#REF!) or a formula
    saved without its computed value."""

    rule: ReadRule
    text: str  # what the user sees in the cell ("#REF!", or the formula)
    reference: str  # "E12"


# One raw row as a source gives it: Excel row number, cell values, special cells by
# 0-based column (None when there are none).
RawRow = tuple[int, Sequence[RawCell], Mapping[int, SpecialCell] | None]


class RowBuilder:
    """Builds RequestRows for one file, from its header row and field columns.

    Rows are built a batch at a time (``build_rows``), column by column: a workbook
    column holding one cell type is converted by one C-level ``map`` (``str.strip``,
    cached date texts, integral floats), dates go through a cached conversion, and
    each identifier or zero-padded column is screened as a whole (exponent letters,
    lengths), so only the cells a screen flags run Python code of their own. Per row
    there is little left but its cells tuple, its values dict and its ``RequestRow``:
    about 10 % less time than row by row for a CSV, 15 % for a workbook (the
    measurement is in docs/input.md). Hot ``zip`` calls pass ``strict=False``: their
    inputs have equal lengths by construction, and the check costs time per row.
    """

    def __init__(self, headers: Sequence[str], columns: Mapping[str, int]) -> None:
        self.width = len(headers)
        self.headers = tuple(headers)
        self.columns = dict(columns)
        self._field_of = {index: field for field, index in columns.items()}
        # Position of each canonical field in the row, None when the file lacks it.
        self._canonical = tuple(columns.get(f) for f in CANONICAL_FIELDS)
        slot = {field: k for k, field in enumerate(CANONICAL_FIELDS)}
        # (slot in the canonical values, column index, header), in column order.
        present = [(f, slot[f], i, self.headers[i]) for f, i in columns.items()]
        self._dates = tuple(k for f, k, _, _ in present if f in DATE_FIELDS)
        self._identifiers = tuple(item for item in present if item[0] in IDENTIFIER_FIELDS)
        self._codes = tuple(item for item in present if item[0] in CODE_FIELDS)
        # ... plus full width, fewest digits, and the lengths a value may be restored from.
        zeros = []
        for item in present:
            if item[0] in ZERO_PADDED:
                full, fewest = ZERO_PADDED[item[0]]
                zeros.append((*item, full, fewest, frozenset(range(fewest, full))))
        self._zeros = tuple(zeros)

    def build_rows(self, batch: Sequence[RawRow], *, text_only: bool = False) -> list[RequestRow]:
        """The records of consecutive raw rows, in order, blank rows left out.

        ``text_only``: every raw value is a ``str`` (CSV), a faster path. Findings of
        a row come in this order: value without header, rounded numbers, restored
        zeros, error cells and formulas without value.
        """
        texts: Sequence[Sequence[str]]
        if text_only:
            strip = _STR.strip
            texts = [list(map(strip, cast(Sequence[str], raw))) for _, raw, _ in batch]
        else:
            texts = _texts([raw for _, raw, _ in batch])
        width = self.width
        lines: list[int] = []
        raws: list[Sequence[RawCell]] = []
        rows: list[tuple[str, ...]] = []
        findings: list[list[Finding]] = []
        specials: list[tuple[int, int, Mapping[int, SpecialCell]]] = []
        # Row by row: special cells, blank rows, width.
        for (line, raw, special), row in zip(batch, texts, strict=False):
            if special:
                row = list(row)
                for index, cell in special.items():
                    if index >= len(row):
                        row.extend([""] * (index + 1 - len(row)))
                    row[index] = cell.text
            if not any(row):
                continue
            found: list[Finding] = []
            if len(row) != width:
                row = list(row)
                if len(row) > width:
                    extra = [(i, t) for i, t in enumerate(row[width:], start=width) if t]
                    if extra:
                        found.append(self._no_header(line, extra))
                    del row[width:]
                else:
                    row.extend([""] * (width - len(row)))
            if special:
                specials.append((len(rows), line, special))
            lines.append(line)
            raws.append(raw)
            rows.append(tuple(row))
            findings.append(found)
        if not rows:
            return []
        # Column by column: the canonical fields.
        columns = list(zip(*rows, strict=False))
        blank = ("",) * len(rows)
        values: list[Sequence[str]] = [
            blank if index is None else columns[index] for index in self._canonical
        ]
        for k in self._dates:
            values[k] = tuple(map(date_text, values[k]))
        for field, k, _, header in self._codes:
            values[k] = normalise_codes(values[k], field, header, lines, findings)
        for field, k, index, header in self._identifiers:
            column = values[k]
            joined = "".join(column)  # no exponent letter and short: nothing was rounded
            if "e" in joined or "E" in joined or max(map(len, column)) > EXCEL_MAX_DIGITS:
                for r, value in enumerate(column):
                    if (
                        value
                        and value[0] in _NUMBER_START
                        and (len(value) > EXCEL_MAX_DIGITS or "e" in value or "E" in value)
                        and _is_rounded(value, _raw_cell(raws[r], index, value))
                    ):
                        findings[r].append(_rounded_finding(field, header, value, lines[r]))
        for field, k, index, header, full, fewest, restorable in self._zeros:
            column = values[k]
            number_only = field in NUMBER_ONLY_ZEROS
            if restorable.isdisjoint(map(len, column)) or (number_only and text_only):
                continue  # every value empty, at full width, too short, or text
            padded_column = list(column)
            for r, value in enumerate(column):
                if fewest <= len(value) < full and value.isdigit() and value.isascii():
                    padded = value.zfill(full)
                    raw_value = _raw_cell(raws[r], index, value)
                    if number_only and isinstance(raw_value, str):
                        continue
                    findings[r].append(
                        _zeros_finding(field, header, value, padded, raw_value, lines[r])
                    )
                    padded_column[r] = padded
            values[k] = padded_column
        for r, line, special in specials:
            findings[r].extend(
                self._special(line, index, cell)
                for index, cell in sorted(special.items())
                if index < width
            )
        return [
            RequestRow(line, row, dict(zip(CANONICAL_FIELDS, row_values, strict=False)), found)
            for line, row, row_values, found in zip(
                lines, rows, zip(*values, strict=False), findings, strict=False
            )
        ]

    def _special(self, line: int, index: int, cell: SpecialCell) -> Finding:
        header = self.headers[index] or column_letter(index)
        field = self._field_of.get(index)
        # A problem in a column we do not send only deserves a warning.
        severity = Severity.ERROR if field else Severity.WARNING
        if cell.rule is ReadRule.CELLULE_ERREUR:
            message = (
                f"Ligne {line}, colonne « {header} » (cellule {cell.reference}) : la cellule "
                f"affiche l'erreur Excel {cell.text} ; corrigez la formule ou saisissez la valeur"
            )
        else:
            message = (
                f"Ligne {line}, colonne « {header} » (cellule {cell.reference}) : formule sans "
                "valeur calculée (fichier produit par un programme et jamais recalculé) ; "
                "ouvrez et enregistrez le fichier dans Excel, ou remplacez la formule par sa valeur"
            )
        return Finding(cell.rule, severity, field or header, cell.text, message, line)

    def _no_header(self, line: int, extra: list[tuple[int, str]]) -> Finding:
        where = ", ".join(column_letter(i) for i, _ in extra)
        shown = extra[0][1]
        shown = shown if len(shown) <= 50 else shown[:50] + "…"
        return Finding(
            ReadRule.CELLULE_SANS_ENTETE,
            Severity.WARNING,
            "",
            shown,
            f"Ligne {line} : valeur(s) dans une colonne sans en-tête ({where}), ignorée(s) : "
            "donnez un nom à la colonne pour la garder",
            line,
        )


def _raw_cell(raw: Sequence[RawCell], index: int, text: str) -> RawCell:
    """The raw value of one cell (its text when the raw row is shorter)."""
    return raw[index] if index < len(raw) else text


@functools.lru_cache(maxsize=4096)
def date_text(text: str) -> str:
    """The text of a date field: ``YYYY-MM-DD`` when it is a date typed another way."""
    if text and not (len(text) == 10 and text[4] == "-"):
        return iso_date(text)
    return text


def _texts(raws: Sequence[Sequence[RawCell]]) -> Sequence[Sequence[str]]:
    """The text of every cell of consecutive raw rows (workbook values of any type).

    Rows of one width are converted column by column: a column of one type goes
    through one ``map`` of its converter, C-level for text, integers, integral
    floats and (cached) dates. A column mixing types, or rows of different widths,
    take the cell-by-cell path.
    """
    width = len(raws[0]) if raws else 0
    if not width or any(len(raw) != width for raw in raws):
        return [_row_texts(raw) for raw in raws]
    columns = map(_column_texts, zip(*raws, strict=False))
    return list(zip(*columns, strict=False))


def _row_texts(raw: Sequence[RawCell]) -> list[str]:
    """The texts of cells of any types, one by one (exact-type dispatch)."""
    convert = _CONVERTERS.get
    return [v.strip() if v.__class__ is _STR else (convert(v.__class__) or to_text)(v) for v in raw]


def _column_texts(column: Sequence[RawCell]) -> Sequence[str]:
    """The texts of one column's cells: one ``map`` when they are all of one type."""
    kinds = set(map(type, column))
    if len(kinds) != 1:
        return _row_texts(column)
    kind = kinds.pop()
    if kind is float:
        floats = cast(Sequence[float], column)
        if all(map(float.is_integer, floats)):
            return tuple(map(str, map(int, floats)))
    return tuple(map(_CONVERTERS.get(kind) or to_text, column))
