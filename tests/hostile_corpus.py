"""A corpus of hostile input files, made with the real tools (openpyxl, zipfile, raw XML,
LibreOffice when ``soffice`` is installed), and what each must become.

``build_corpus(input_dir, cache)`` writes every entry into ``input_dir`` and returns
them; ``cache`` holds the slow-to-make ones (the zip bombs, the LibreOffice
conversions) between the dry and the real run. An entry's ``fate`` is what the real
run does with it: ``read`` (processed, then archived), ``rejected`` (moved to
``input/rejetes/`` with its error workbook) or ``left`` (reported and left where it is).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import openpyxl
from openpyxl.styles import Font

HEADER = ["NumeroPCE", "ReferenceDemande", "CodeLibelleIntervention", "DateRdv", "NomContact"]
ROW = ["21000000000000", "REF-X", "206", "2026-12-10", "Dupont"]

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_CT = (
    f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)


@dataclass(frozen=True)
class Entry:
    name: str  # as str (os.fsdecode of the bytes for a name that is not UTF-8)
    fate: str  # "read", "rejected" or "left"
    what: str  # what it is, for a failing assertion's message


# ----------------------------------------------------------------- raw workbooks


def _cells(row: list[str], number: int) -> str:
    out = []
    for index, value in enumerate(row):
        ref = f"{chr(65 + index)}{number}"
        out.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
    return "".join(out)


def sheet_xml(extra_rows: str = "", *, rows: int = 3, head: str = "", tail: str = "") -> str:
    body = [f'<row r="1">{_cells(HEADER, 1)}</row>']
    for n in range(2, rows + 2):
        values = [*ROW[:1], f"REF-{n}", *ROW[2:]]
        body.append(f'<row r="{n}">{_cells(values, n)}</row>')
    return (
        f'{_XML}{head}<worksheet xmlns="{_MAIN}"><sheetData>{"".join(body)}{extra_rows}'
        f"</sheetData>{tail}</worksheet>"
    )


def raw_workbook(
    path: Path,
    sheet: str | bytes | None,
    *,
    shared: str | None = None,
    sheets: str = '<sheet name="Demandes" sheetId="1" r:id="rId1"/>',
    skip: tuple[str, ...] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A minimal workbook written member by member (``sheet`` None: the part is absent)."""
    rels = f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    if shared is not None:
        rels += f'<Relationship Id="rId9" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    members = {
        "[Content_Types].xml": _CT,
        "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        f"{sheets}</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'{_XML}<Relationships xmlns="{_PKG}">{rels}</Relationships>',
    }
    if sheet is not None:
        members["xl/worksheets/sheet1.xml"] = sheet  # type: ignore[assignment]
    if shared is not None:
        members["xl/sharedStrings.xml"] = shared
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            if name not in skip:
                archive.writestr(name, data)
    return path


def openpyxl_book(path: Path, far: str | None = None, value: object = None) -> Path:
    """50 good rows under the header, and at ``far`` a bold cell (holding ``value``)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Demandes"
    sheet.append(HEADER)
    for n in range(50):
        sheet.append([ROW[0], f"REF-{n}", *ROW[2:]])
    if far:
        cell = sheet[far]
        if value is not None:
            cell.value = value
        cell.font = Font(bold=True)
    workbook.save(path)
    return path


def _bomb(path: Path, cell: bytes, megabytes: int) -> Path:
    """A small workbook whose sheet inflates to ``megabytes`` MB of XML."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CT)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr(
            "xl/workbook.xml",
            f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            '<sheet name="Demandes" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{_XML}<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
            f'Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as stream:
            stream.write(f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData><row r="1">'.encode())
            stream.write(_cells(HEADER, 1).encode() + b"</row>")
            block = cell * ((1 << 20) // len(cell))
            for _ in range(megabytes):
                stream.write(block)
            stream.write(b"</sheetData></worksheet>")
    return path


def _soffice(cache: Path) -> list[tuple[str, Path, str, str]]:
    """LibreOffice conversions: (name, file, fate, what); none without soffice."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return []
    done = cache / "soffice"
    if not done.exists():
        work = cache / "soffice-work"
        work.mkdir(exist_ok=True)
        openpyxl_book(work / "stray.xlsx", "XFD1048576")
        openpyxl_book(work / "plain.xlsx")
        profile = f"-env:UserInstallation=file://{cache / 'lo-profile'}"
        for target, source in (("ods", "plain.xlsx"), ("xls", "plain.xlsx")):
            subprocess.run(
                [
                    soffice,
                    profile,
                    "--headless",
                    "--convert-to",
                    target,
                    "--outdir",
                    str(work / target),
                    str(work / source),
                ],
                check=True,
                capture_output=True,
                timeout=180,
            )
        subprocess.run(
            [
                soffice,
                profile,
                "--headless",
                "--convert-to",
                "xlsx",
                "--outdir",
                str(work / "xlsx"),
                str(work / "stray.xlsx"),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        work.rename(done)
    return [
        (
            "lo_resave_stray.xlsx",
            done / "xlsx" / "stray.xlsx",
            "read",
            "LibreOffice re-save of a workbook with a formatted cell at XFD1048576",
        ),
        (
            "lo_ods_renamed.xlsx",
            done / "ods" / "plain.ods",
            "rejected",
            "LibreOffice .ods renamed .xlsx",
        ),
        (
            "lo_xls_renamed.xlsx",
            done / "xls" / "plain.xls",
            "rejected",
            "LibreOffice .xls renamed .xlsx",
        ),
        ("lo_xls.xls", done / "xls" / "plain.xls", "rejected", "LibreOffice .xls"),
    ]


# ----------------------------------------------------------------- the corpus


def build_corpus(folder: Path, cache: Path, outside: Path) -> list[Entry]:
    """Write the hostile entries into ``folder`` (an input/ folder); ``outside`` is a
    folder beside it that links may point to."""
    entries: list[Entry] = []

    def add(name: str, fate: str, what: str) -> Path:
        entries.append(Entry(name, fate, what))
        return folder / name

    # --- sheets whose extent or tables would make the engine abort or swap
    openpyxl_book(
        add("x01_stray_format_xfd.xlsx", "read", "formatted cell at XFD1048576"), "XFD1048576"
    )
    openpyxl_book(
        add("x02_stray_value_xfd.xlsx", "rejected", "value at XFD1048576"), "XFD1048576", "x"
    )
    openpyxl_book(
        add("x03_stray_value_cv.xlsx", "rejected", "value at CV1048576"), "CV1048576", "x"
    )
    openpyxl_book(
        add("x04_stray_format_cv.xlsx", "read", "formatted cell at CV1048576"), "CV1048576"
    )
    openpyxl_book(add("x05_stray_value_row.xlsx", "read", "value at A1048576"), "A1048576", "x")
    raw_workbook(
        add("x06_unique_count.xlsx", "rejected", "uniqueCount=4294967295"),
        sheet_xml(),
        shared=f'<sst xmlns="{_MAIN}" count="4294967295" '
        'uniqueCount="4294967295"><si><t>a</t></si></sst>',
    )
    raw_workbook(
        add("x07_empty_string_far.xlsx", "rejected", "empty str cell at XFD1048576"),
        sheet_xml('<row r="1048576"><c r="XFD1048576" t="str"><v></v></c></row>'),
    )
    raw_workbook(
        add("x08_far_cell_in_row_2.xlsx", "rejected", "cell XFD1048576 in row 2"),
        sheet_xml().replace('<row r="2">', '<row r="2"><c r="XFD1048576"><v>1</v></c>'),
    )
    raw_workbook(
        add("x09_lying_dimension.xlsx", "read", "dimension A1:XFD1048576"),
        sheet_xml().replace("<sheetData>", '<dimension ref="A1:XFD1048576"/><sheetData>'),
    )
    bombs = cache / "bombs"
    if not bombs.exists():
        work = cache / "bombs-work"
        work.mkdir(exist_ok=True)
        _bomb(work / "time.xlsx", b'<c r="A2" s="1"/>', 1200)
        _bomb(
            work / "memory.xlsx", b'<c t="inlineStr"><is><t>' + b"a" * 4000 + b"</t></is></c>", 600
        )
        work.rename(bombs)
    shutil.copy(bombs / "time.xlsx", add("x10_bomb_time.xlsx", "rejected", "zip bomb, 1.2 GB"))
    shutil.copy(
        bombs / "memory.xlsx", add("x11_bomb_memory.xlsx", "rejected", "zip bomb, 40 M cells")
    )
    # --- broken containers and parts
    add("x12_truncated.xlsx", "rejected", "truncated zip").write_bytes(
        (folder / "x01_stray_format_xfd.xlsx").read_bytes()[:3000]
    )
    add("x13_zip_magic_only.xlsx", "rejected", "PK header only").write_bytes(b"PK\x03\x04junk")
    raw_workbook(
        add("x14_no_root_rels.xlsx", "rejected", "no _rels/.rels"),
        sheet_xml(),
        skip=("_rels/.rels",),
    )
    raw_workbook(add("x15_no_sheet_part.xlsx", "rejected", "sheet part missing"), None)
    raw_workbook(
        add("x16_bad_xml.xlsx", "rejected", "cell without v/f/is"),
        sheet_xml('<row r="9"><c r="A9" t="s"><x/></c></row>'),
    )
    raw_workbook(
        add("x17_xxe.xlsx", "rejected", "external entity in a cell"),
        sheet_xml(
            '<row r="9"><c r="A9" t="inlineStr"><is><t>&xxe;</t></is></c></row>',
            head='<!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        ),
    )
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 8))
    raw_workbook(
        add("x18_billion_laughs.xlsx", "rejected", "entity expansion bomb"),
        sheet_xml(
            '<row r="9"><c r="A9" t="inlineStr"><is><t>&l7;</t></is></c></row>',
            head=f'<!DOCTYPE w [<!ENTITY l0 "ha">{laughs}]>',
        ),
    )
    raw_workbook(
        add("x19_no_sheets.xlsx", "rejected", "workbook without sheets"), sheet_xml(), sheets=""
    )
    raw_workbook(
        add("x20_shared_index_out.xlsx", "rejected", "shared string index out of range"),
        sheet_xml('<row r="9"><c r="A9" t="s"><v>999999</v></c></row>'),
        shared=f'<sst xmlns="{_MAIN}" count="1" uniqueCount="1"><si><t>a</t></si></sst>',
    )
    raw_workbook(
        add("x21_bad_ref.xlsx", "read", "cell reference ZZZZ1"),
        sheet_xml('<row r="9"><c r="ZZZZ9"><v>1</v></c></row>'),
    )
    raw_workbook(
        add("x22_row_zero.xlsx", "rejected", "row r=0"),
        sheet_xml('<row r="0"><c r="A0"><v>1</v></c></row>'),
    )
    raw_workbook(
        add("x23_huge_row_number.xlsx", "rejected", "row r=99999999999"),
        sheet_xml('<row r="99999999999"><c r="A99999999999"><v>1</v></c></row>'),
    )
    raw_workbook(
        add("x24_long_cell.xlsx", "read", "40,000-character cell"),
        sheet_xml(f'<row r="9"><c r="E9" t="inlineStr"><is><t>{"y" * 40_000}</t></is></c></row>'),
    )
    raw_workbook(
        add("x25_control_chars.xlsx", "read", "control characters in cells"),
        sheet_xml(
            '<row r="9"><c r="E9" t="inlineStr"><is><t>a&#x1b;[31mb\u202ec</t></is></c></row>'
        ),
    )
    raw_workbook(
        add("x26_stored_bzip2.xlsx", "rejected", "bzip2-compressed members"),
        sheet_xml(),
        compression=zipfile.ZIP_BZIP2,
    )
    _crc_broken(add("x27_bad_crc.xlsx", "rejected", "CRC mismatch"))
    raw_workbook(
        add("x28_not_utf8_xml.xlsx", "rejected", "sheet XML not UTF-8"),
        sheet_xml().encode("utf-8").replace(b"Dupont", b"Dup\xff\xfeont"),
    )
    raw_workbook(
        add("x29_empty_sheet.xlsx", "rejected", "empty Demandes sheet"),
        f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData/></worksheet>',
    )
    _two_sheets(
        add(
            "x30_empty_demandes_data_elsewhere.xlsx",
            "rejected",
            "empty Demandes beside a sheet with data",
        )
    )
    _wide_book(add("x31_16384_columns.xlsx", "read", "16,384 columns"))
    add("x32_zero_bytes.xlsx", "rejected", "0 bytes").write_bytes(b"")
    add("x33_text_named_xlsx.xlsx", "rejected", "text named .xlsx").write_text("bonjour\n")
    add("x34_ole_encrypted.xlsx", "rejected", "OLE2 with EncryptionInfo").write_bytes(
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le") * 8
    )
    raw_workbook(
        add("x35_empty_zip.xlsx", "rejected", "zip without members"),
        None,
        skip=(
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
        ),
    )
    _traversal(add("x36_path_traversal.xlsx", "read", "zip member named ../../evil"))
    # --- CSV
    line = ";".join([*HEADER, *(f"c{i}" for i in range(1_300_000))])
    add("c01_wide_header.csv", "read", "1.3 M columns, 10 MB line").write_text(
        line + "\n" + ";".join(ROW) + "\n"
    )
    add("c02_single_huge_cell.csv", "rejected", "one 10 MB cell").write_text("z" * 10_000_000)
    add("c03_binary.csv", "rejected", "random bytes").write_bytes(os.urandom(4096))
    add("c04_nul_bytes.csv", "rejected", "NUL bytes").write_bytes(b"a;b\x00;c\n" * 100)
    add("c05_unclosed_quote.csv", "read", "quote never closed").write_text(
        ";".join(HEADER) + '\n"' + "q" * 1_000_000 + "\n"
    )
    add("c06_utf16_no_bom.csv", "rejected", "UTF-16 without BOM").write_bytes(
        (";".join(HEADER) + "\n").encode("utf-16-le")
    )
    add("c07_long_cells.csv", "read", "40,000-character cells").write_text(
        ";".join(HEADER) + "\n" + ";".join([*ROW[:4], "w" * 40_000]) + "\n"
    )
    add("c08_zip_named_csv.csv", "rejected", "workbook named .csv").write_bytes(
        (folder / "x01_stray_format_xfd.xlsx").read_bytes()
    )
    add("c09_escape_sequences.csv", "rejected", "ANSI escapes in the header").write_text(
        "\x1b[2J\x1b[31mPCE;\u202eevil\n1;2\n"
    )
    add("c10_passwd_like.csv", "rejected", "a text file that is not a CSV").write_text(
        "daemon:x:2:2:daemon:/sbin:/sbin/nologin\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    )
    add("c11_empty.csv", "rejected", "0 bytes").write_bytes(b"")
    add("c12_blank_lines.csv", "rejected", "only separators").write_text(";;;;\n" * 200_000)
    add("c13_formula_cells.csv", "read", "formula injection").write_text(
        ";".join(HEADER) + "\n" + ";".join([*ROW[:4], "=cmd|' /C calc'!A0"]) + "\n"
    )
    # --- names
    add("n01_" + "é" * 120 + ".csv", "read", "250-byte name").write_text(_good_csv())
    bad = os.fsdecode(b"n02_caf\xe9_latin1.csv")
    add(bad, "read", "name not valid UTF-8").write_text(_good_csv())
    add("n03_new\nline.csv", "read", "line break in the name").write_text(_good_csv())
    add("n04_\x1b[31mred.csv", "read", "escape sequence in the name").write_text(_good_csv())
    add("n05_\u202efdp.csv", "read", "right-to-left override").write_text(_good_csv())
    add("-n06_dash.csv", "read", "name starting with a dash").write_text(_good_csv())
    add("n07_unknown.txt", "rejected", "unknown extension").write_text("x")
    add("n08_no_extension", "rejected", "no extension").write_text("x")
    # --- the project's own folder names, links and special files
    add("Rejetes", "left", "folder named Rejetes").mkdir()
    sub = add("s01_subfolder", "left", "sub-folder")
    sub.mkdir()
    (sub / "inside.csv").write_text(_good_csv())
    add("s02_passwd_link.csv", "left", "symlink to /etc/passwd").symlink_to("/etc/passwd")
    secret = outside / "outside.csv"
    secret.write_text(_good_csv())
    add("s03_outside_link.csv", "left", "symlink out of input/").symlink_to(secret)
    add("s04_inside_link.csv", "left", "symlink inside input/").symlink_to(
        folder / "c13_formula_cells.csv"
    )
    add("s05_dangling.xlsx", "left", "dangling symlink").symlink_to(folder / "nowhere.xlsx")
    os.mkfifo(add("s06_fifo.csv", "left", "FIFO"))
    os.mknod(add("s07_device.csv", "left", "character device"), 0o600 | 0o020000, os.makedev(1, 3))
    add("s08_dir_named.xlsx", "left", "folder named .xlsx").mkdir()
    for name, source, fate, what in _soffice(cache):
        shutil.copy(source, add(name, fate, what))
    return entries


def _good_csv() -> str:
    return ";".join(HEADER) + "\n" + ";".join(ROW) + "\n"


def _crc_broken(path: Path) -> None:
    raw_workbook(path, sheet_xml(), compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find(b"Dupont")
    data[at] = ord("X")  # stored member: the bytes change, the recorded CRC does not
    path.write_bytes(bytes(data))


def _two_sheets(path: Path) -> None:
    workbook = openpyxl.Workbook()
    empty = workbook.active
    assert empty is not None
    empty.title = "Demandes"
    data = workbook.create_sheet("Feuil2")
    data.append(HEADER)
    data.append(ROW)
    workbook.save(path)


def _wide_book(path: Path) -> None:
    header = HEADER + [f"X{i}" for i in range(16_384 - len(HEADER))]
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Demandes")
    sheet.append(header)
    sheet.append(ROW + ["v"] * (16_384 - len(ROW)))
    workbook.save(path)


def _traversal(path: Path) -> None:
    raw_workbook(path, sheet_xml())
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../../evil.txt", "never extracted")


def tree_bytes(root: Path) -> dict[bytes, int]:
    """Content of every regular file under ``root`` (links not followed) -> count."""
    found: dict[bytes, int] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            digest = hashlib.sha256(path.read_bytes()).digest()
            found[digest] = found.get(digest, 0) + 1
    return found


__all__ = ["Entry", "build_corpus", "tree_bytes"]
