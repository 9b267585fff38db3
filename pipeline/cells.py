"""Turning one raw input row into a ``RequestRow``: every value as the text the user meant.

- Numbers come back without ``.0`` or exponent (``21234567890123``, not ``2.1e+13``).
- Excel date cells become ``YYYY-MM-DD``; French dates typed as text in a date
  column (``15/06/2025``) too.
- Surrounding spaces (non-breaking ones included) are trimmed.
- Leading zeros that Excel drops from numbers are restored, with a warning, for the
  fields listed in ``ZERO_PADDED`` (14-digit PCE, 5-digit postal code, 10-digit
  phones, 2-digit codes), and only when the missing count is plausible.
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
from operator import itemgetter
from typing import Any

from pipeline.read_rules import ReadRule, column_letter
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
    how = "sans ses zéros" if isinstance(raw, str) else "enregistrée comme un nombre"
    return Finding(
        ReadRule.ZEROS_RESTAURES,
        Severity.WARNING,
        field,
        text,
        f"Ligne {line}, colonne « {header} » : valeur {how} ({text}), "
        f"zéro(s) de tête restauré(s) : {padded}. Vérifiez la valeur ; pour l'éviter, "
        "mettez la colonne au format Texte",
        line,
    )


_NUMBER_START = frozenset("0123456789+-")


@dataclass(frozen=True, slots=True)
class SpecialCell:
    """A cell whose value the engine could not give: an error (#REF!) or a formula
    saved without its computed value."""

    rule: ReadRule
    text: str  # what the user sees in the cell ("#REF!", or the formula)
    reference: str  # "E12"


class RowBuilder:
    """Builds RequestRows for one file, from its header row and field columns."""

    def __init__(self, headers: Sequence[str], columns: Mapping[str, int]) -> None:
        self.width = len(headers)
        self.headers = tuple(headers)
        self.columns = dict(columns)
        self._field_of = {index: field for field, index in columns.items()}
        # Missing fields read the '' appended after the last cell.
        self._pick = itemgetter(*(columns.get(f, self.width) for f in CANONICAL_FIELDS))
        present = [(f, i) for f, i in columns.items()]
        self._dates = tuple(f for f, _ in present if f in DATE_FIELDS)
        self._identifiers = tuple(
            (f, i, self.headers[i]) for f, i in present if f in IDENTIFIER_FIELDS
        )
        self._zeros = tuple(
            (f, i, self.headers[i], *ZERO_PADDED[f]) for f, i in present if f in ZERO_PADDED
        )

    def build(
        self,
        line: int,
        raw: Sequence[RawCell],
        special: Mapping[int, SpecialCell] | None = None,
        *,
        text_only: bool = False,
    ) -> RequestRow | None:
        """The row's record, or None for a blank row (nothing but empty cells).

        ``text_only``: every raw value is a ``str`` (CSV), a faster path.
        """
        if text_only:
            texts = list(map(_STR.strip, raw))  # type: ignore[arg-type]
        else:
            convert = _CONVERTERS.get
            texts = [
                v.strip() if v.__class__ is _STR else (convert(v.__class__) or to_text)(v)
                for v in raw
            ]
        if special:
            for index, cell in special.items():
                if index >= len(texts):
                    texts.extend([""] * (index + 1 - len(texts)))
                texts[index] = cell.text
        if not any(texts):
            return None
        width = self.width
        findings: list[Finding] = []
        if len(texts) > width:
            extra = [(i, t) for i, t in enumerate(texts[width:], start=width) if t]
            if extra:
                findings.append(self._no_header(line, extra))
            del texts[width:]
        elif len(texts) < width:
            texts.extend([""] * (width - len(texts)))
        cells = tuple(texts)
        texts.append("")
        values = dict(zip(CANONICAL_FIELDS, self._pick(texts), strict=True))
        for field in self._dates:
            value = values[field]
            if value and not (len(value) == 10 and value[4] == "-"):
                values[field] = iso_date(value)
        for field, index, header in self._identifiers:
            value = values[field]
            if (
                value
                and value[0] in _NUMBER_START
                and (len(value) > EXCEL_MAX_DIGITS or "e" in value or "E" in value)
                and _is_rounded(value, raw[index] if index < len(raw) else value)
            ):
                findings.append(_rounded_finding(field, header, value, line))
        for field, index, header, full, fewest in self._zeros:
            value = values[field]
            if fewest <= len(value) < full and value.isdigit() and value.isascii():
                padded = value.zfill(full)
                raw_value = raw[index] if index < len(raw) else value
                findings.append(_zeros_finding(field, header, value, padded, raw_value, line))
                values[field] = padded
        if special:
            findings.extend(
                self._special(line, index, cell)
                for index, cell in sorted(special.items())
                if index < width
            )
        return RequestRow(line, cells, values, findings)

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
