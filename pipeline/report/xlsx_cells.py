"""Cell-level helpers of the streamed sheets: text cleaning, escaping, style ids, row heights.

Every string goes through :func:`clean_text`: characters XML 1.0 forbids become a
visible U+FFFD, and text longer than a cell can hold is cut with a marker. Strings
are always stored as text (``t="inlineStr"``); those that a spreadsheet would
read as a formula when edited (leading ``= + - @``, tab, CR) also get the
``quotePrefix`` style, so re-typing the cell keeps it text.

Spreadsheets do not size rows from their wrapped text when they open a file (LibreOffice
let multi-line cells spill over the next rows): each row that needs more than one line
gets an explicit height, from its tallest cell's line count (line breaks, then the text
cut at about the column width in characters), capped at :data:`MAX_ROW_LINES` lines.

The sheets themselves are in :mod:`pipeline.report.xlsx_sheet`, the workbook package
in :mod:`pipeline.report.xlsx_stream`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
TRUNCATION_MARK = "… [tronqué]"
ILLEGAL_MARK = "\ufffd"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# Characters XML 1.0 cannot hold (C0 controls but tab/LF/CR, surrogates, U+FFFE/F).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text that needs a second look: characters to clean or escape, line breaks (wrap), a
# formula trigger or a space at the start, a space at the end (kept with xml:space).
SPECIAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff&<>\r\n]")
SPACES = frozenset(c for c in map(chr, range(0x3001)) if c.isspace())
CARE_FIRST = SPACES | frozenset("=+-@")

LINE_HEIGHT_PT = 15.0  # one line of the default font (Calibri 11), as Excel sizes it
MAX_ROW_LINES = 15  # taller rows are capped (the cell still holds everything)
# The <row> attributes for a row of n lines (n = 0 or 1: the default height).
ROW_HEIGHTS = tuple(
    f' ht="{n * LINE_HEIGHT_PT:g}" customHeight="1"' if n > 1 else ""
    for n in range(MAX_ROW_LINES + 1)
)


def clean_text(value: str) -> str:
    """The text a cell can hold: illegal XML characters replaced, over-long text cut."""
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub(ILLEGAL_MARK, value)
    if len(value) > MAX_CELL_CHARS:
        value = value[: MAX_CELL_CHARS - len(TRUNCATION_MARK)] + TRUNCATION_MARK
    return value


def looks_like_formula(value: str) -> bool:
    """True when a spreadsheet would take this text for a formula if it were typed in."""
    return value.startswith(FORMULA_TRIGGERS)


def line_count(value: str, per_line: int) -> int:
    """Lines a wrapped cell shows: each line break starts a line, long lines wrap.

    ``per_line`` is the number of characters that fit on a line (about the column
    width); the count stops growing at :data:`MAX_ROW_LINES`.
    """
    if len(value) <= per_line:  # no line wraps: one line per line break
        return min(value.count("\n") + 1, MAX_ROW_LINES)
    if "\n" not in value:
        return min((len(value) - 1) // per_line + 1, MAX_ROW_LINES)
    lines = 0
    for part in value.split("\n"):
        lines += -(-len(part) // per_line) or 1
        if lines >= MAX_ROW_LINES:
            return MAX_ROW_LINES
    return lines


def string_cell(ref: str, value: str, style: StyleSet, wrap_at: int) -> tuple[str, int]:
    """One text cell, with everything that needs care: cleaning, escaping, quote, spaces.

    Returns the cell's XML and the number of lines it shows.
    """
    value = clean_text(value)
    wrap = "\n" in value or len(value) > wrap_at
    if value.startswith(FORMULA_TRIGGERS):
        s = style.wrap_quote if wrap else style.quote
    else:
        s = style.wrap if wrap else style.plain
    space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
    xml = f'<c r="{ref}" s="{s}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>'
    return xml, line_count(value, wrap_at) if wrap else 1


_EPOCH = datetime(1899, 12, 30)


@functools.lru_cache(maxsize=8192)
def excel_serial(value: date) -> str:
    """The spreadsheet serial number of a date or naive date-time (days since 1899-12-30)."""
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - _EPOCH
        return repr(delta.days + delta.seconds / 86400)
    return str((value - _EPOCH.date()).days)


def _xml_text(value: str) -> str:
    """Escape already-cleaned text for element content (CR kept as a character reference)."""
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


@dataclass(frozen=True, slots=True)
class StyleSet:
    """Style ids of one look in its variants (wrapped text, quote prefix, both, dates).

    ``date`` and ``stamp`` show a date or date-time cell as JJ/MM/AAAA (HH:MM:SS); 0 when
    the look was registered without them (dates then fall back to ``plain``).
    """

    plain: int
    wrap: int
    quote: int
    wrap_quote: int
    date: int = 0
    stamp: int = 0
