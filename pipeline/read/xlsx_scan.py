"""What the fast XLSX engine (calamine) does not tell: error cells and formulas
saved without a computed value (both come back from it as empty strings).

``special_cells`` streams the sheet's XML part out of the zip and looks for cells
typed ``t="e"`` (``#REF!``, ``#N/A``...) and for ``<f>`` formulas whose ``<v>`` is
missing or empty. It only runs its regular expression on the stretches of XML that
contain such a marker, so on an ordinary file it costs one decompression pass.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from pipeline.read.cells import SpecialCell
from pipeline.read.rules import ReadRule

_CHUNK = 1 << 20
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF = re.compile(rb"""\br\s*=\s*["']([A-Z]+)(\d+)["']""")
_ERROR_TYPE = re.compile(rb"""\bt\s*=\s*["']e["']""")
_FORMULA = re.compile(rb"<(?:\w+:)?f\b")
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?v>)", re.S)
_FORMULA_TEXT = re.compile(rb"<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
# Plain substring tests (fast, C speed) for "a cell of this stretch may matter".
# "f>" ends <f>, </f>, </x:f>; "f t=" starts a shared formula (<f t="shared" .../>).
_MARKERS = (b"f>", b"f t=", b't="e"', b"t='e'")
_ROW_CLOSE = re.compile(rb"</(?:\w+:)?row>")

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))

SpecialCells = dict[tuple[int, int], SpecialCell]  # (Excel row, 0-based column) -> cell


def sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding the named worksheet's XML, or None if it cannot be found."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter(f"{_NS_PKG_REL}Relationship")}
    wanted = unicodedata.normalize("NFC", sheet_name)
    for sheet in workbook.iter(f"{_NS_MAIN}sheet"):
        if unicodedata.normalize("NFC", sheet.get("name", "")) != wanted:
            continue
        target = targets.get(sheet.get(f"{_NS_REL}id"), "")
        if not target:
            return None
        if target.startswith("/"):
            return target.lstrip("/")
        return posixpath.normpath(posixpath.join("xl", target))
    return None


def special_cells(path: Path, sheet_name: str) -> SpecialCells:
    """Error cells and formulas without value of one sheet (empty if none or unknown)."""
    found: SpecialCells = {}
    with zipfile.ZipFile(path) as archive:
        part = sheet_part(archive, sheet_name)
        if part is None:
            return found
        with archive.open(part) as stream:
            carry = b""
            while chunk := stream.read(_CHUNK):
                block = carry + chunk
                cut = _last_row_end(block)
                if cut < 0:
                    carry = block
                    continue
                head, carry = block[:cut], block[cut:]
                if _has_marker(head):
                    _scan(head, found)
            if _has_marker(carry):
                _scan(carry, found)
    return found


def _has_marker(block: bytes) -> bool:
    return any(marker in block for marker in _MARKERS)


def _last_row_end(block: bytes) -> int:
    """Offset just after the last closing row tag of ``block``, or -1."""
    end = len(block)
    while True:
        pos = block.rfind(b"row>", 0, end)
        if pos < 0:
            return -1
        start = block.rfind(b"<", 0, pos)
        if start >= 0 and _ROW_CLOSE.fullmatch(block, start, pos + 4):
            return pos + 4
        end = pos


def _scan(block: bytes, found: SpecialCells) -> None:
    for match in _CELL.finditer(block):
        attributes, body = match.group(1), match.group(2) or b""
        ref = _REF.search(attributes)
        if ref is None:
            continue  # a cell without reference cannot be placed; calamine shows it empty
        key = (int(ref.group(2)), _column_index(ref.group(1)))
        reference = (ref.group(1) + ref.group(2)).decode("ascii")
        value = _VALUE.search(body)
        cached = _decode(value.group(1)) if value else ""
        if _ERROR_TYPE.search(attributes):
            found[key] = SpecialCell(ReadRule.CELLULE_ERREUR, cached or "#ERREUR", reference)
        elif _FORMULA.search(body) and not cached:
            formula = _FORMULA_TEXT.search(body)
            text = _decode(formula.group(1)) if formula else ""
            found[key] = SpecialCell(
                ReadRule.FORMULE_SANS_VALEUR, f"={text}" if text else "=?", reference
            )


def _column_index(letters: bytes) -> int:
    index = 0
    for char in letters:
        index = index * 26 + (char - 64)
    return index - 1


def _decode(text: bytes | None) -> str:
    if not text:
        return ""
    decoded = text.decode("utf-8", errors="replace")
    for entity, char in _ENTITIES:
        decoded = decoded.replace(entity, char)
    return decoded
