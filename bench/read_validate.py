"""Read + validate benchmark: 100,000-row XLSX and CSV, our path against a baseline.

    python bench/read_validate.py [--rows 100000] [--repeat 3]
        [--with-openpyxl] [--keep DIR] [--against OTHER_CHECKOUT]

Generates the files in a temporary folder (an .xlsx laid out as Excel saves it, with
shared strings, numbers and date cells; the same rows as a French Excel CSV export;
with ``--with-openpyxl`` also an .xlsx written by openpyxl), then measures each case
in its own subprocess, so peak memory (``ru_maxrss``) is that case's alone; best wall
and CPU time of ``--repeat`` runs (the machine may be shared). The clock starts once
the modules are imported (ours and the baseline's alike: interpreter start-up and
imports are not the file's work); loading the referential is timed.

- ``read``: ``reader.open_input`` only, every row pulled;
- ``ours``: ``reader.open_input`` + ``validator.FileValidator.check`` on every row,
  streaming (nothing kept), as the reader is meant to be used;
- ``ours-keep``: the same, keeping every row and its cleaned values in lists: what a
  caller that does not stream would cost (``pipeline/run.py`` streams in chunks of
  1,000 rows; ``bench/dry_run.py`` measures it);
- ``baseline``: a plain row-by-row openpyxl ``read_only`` loop turning each row into
  text (XLSX), and a plain ``csv.reader`` loop (CSV) — no validation in either.

Goals (issue 3): XLSX 100k rows < 5 s, CSV < 2 s, peak < 400 MB, XLSX >= 5x faster than
the openpyxl baseline. Prints one line per case and the ratios.

``--against DIR`` also measures the ``read``/``ours``/``ours-keep`` cases with the
``pipeline`` package of another checkout (e.g. ``git worktree add OTHER_CHECKOUT HEAD~3``),
each of its runs right after the same run here, so that both see the same machine
load: the fair way to compare two versions on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The canonical columns (pipeline.records.CANONICAL_FIELDS), spelled out here so that a
# measuring child imports the ``pipeline`` package of the checkout it measures only.
CANONICAL_FIELDS: tuple[str, ...] = (
    "NumeroPCE",
    "CodePostal",
    "ReferenceDemande",
    "TelephoneFournisseur",
    "GroupeAppartenance",
    "CommentaireFournisseur",
    "Commentaire",
    "CodeLibelleIntervention",
    "CodeMotifIntervention",
    "OptionExpress",
    "TypeIndexConteste",
    "ValeurIndexReleve",
    "DateIndexConteste",
    "ValeurIndexClient",
    "DateIndexClient",
    "PrecisionIntervention",
    "DateRdv",
    "PlageRdv",
    "NomContact",
    "TelephoneContact",
    "CodeAcces",
    "ComplementAdresse",
)

TODAY = dt.date(2025, 6, 2)
CODES = [("206", ""), ("Z8", "19"), ("34", "23"), ("V8", "09"), ("G1", ""), ("36", "17")]
SLOTS = ["M1", "M2", "A1", "A3", ""]


def _date_cell(day: dt.date, typed: bool) -> object:
    """A date cell in a workbook, the text a French Excel CSV export shows otherwise."""
    return day if typed else day.strftime("%d/%m/%Y")


def _row(i: int, rng: random.Random, *, typed: bool) -> list[object]:
    code, motif = CODES[i % len(CODES)]
    day = TODAY + dt.timedelta(days=10 + i % 200)
    index = code == "G1"
    values: dict[str, object] = {
        "NumeroPCE": (21_000_000_000_000 + i) if typed and i % 2 else f"{21_000_000_000_000 + i}",
        "CodePostal": (6000 + i % 900) if typed and i % 3 == 0 else f"{75000 + i % 900:05d}",
        "ReferenceDemande": f"REF-{i:07d}",
        "TelephoneFournisseur": "0102030405",
        "Commentaire": "Demande générée pour le banc d'essai, avec des accents é è à",
        "CodeLibelleIntervention": code,
        "CodeMotifIntervention": motif,
        "OptionExpress": "0",
        "TypeIndexConteste": "02" if index else "",
        "ValeurIndexReleve": "12345" if index else "",
        "DateIndexConteste": _date_cell(TODAY - dt.timedelta(days=30), typed) if index else "",
        "ValeurIndexClient": "12350" if index else "",
        "DateIndexClient": (TODAY - dt.timedelta(days=3)).isoformat() if index else "",
        "DateRdv": _date_cell(day, typed),
        "PlageRdv": SLOTS[i % len(SLOTS)] if code not in ("206",) else "",
        "NomContact": rng.choice(["Dupont", "Martin", "Bernard", "Lefèvre"]),
        "TelephoneContact": "06 12 34 56 78" if i % 10 == 0 else "0612345678",
        "CodeAcces": "1234",
        "ComplementAdresse": "Bâtiment B",
    }
    return [values.get(f, "") for f in CANONICAL_FIELDS]


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_OOXML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    f'{_XML}<Types xmlns="{_PKG}/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_OOXML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_OOXML}.worksheet+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_OOXML}.styles+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_OOXML}.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_DOC}">'
    '<sheets><sheet name="Demandes" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_DOC}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{_DOC}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs></styleSheet>"
)
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _excel_like_xlsx(path: Path, rows: int) -> None:
    """An .xlsx laid out as Excel saves it: shared strings, numbers, date serials."""
    from xml.sax.saxutils import escape

    from openpyxl.utils import get_column_letter

    letters = [get_column_letter(i + 1) for i in range(len(CANONICAL_FIELDS))]
    strings: dict[str, int] = {}
    parts: list[str] = []

    def cell(ref: str, value: object) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, dt.date):
            return f'<c r="{ref}" s="1"><v>{(value - _EXCEL_EPOCH).days}</v></c>'
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value}</v></c>'
        index = strings.setdefault(str(value), len(strings))
        return f'<c r="{ref}" t="s"><v>{index}</v></c>'

    rng = random.Random(42)
    all_rows = [list(CANONICAL_FIELDS)] + [_row(i, rng, typed=True) for i in range(rows)]
    for number, values in enumerate(all_rows, start=1):
        cells = "".join(cell(f"{c}{number}", v) for c, v in zip(letters, values, strict=True))
        parts.append(f'<row r="{number}">{cells}</row>')
    sheet = f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>{"".join(parts)}</sheetData></worksheet>'
    shared = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
    sst = (
        f'{_XML}<sst xmlns="{_MAIN}" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/styles.xml", _STYLES)
        archive.writestr("xl/sharedStrings.xml", sst)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)


def _openpyxl_xlsx(path: Path, rows: int) -> None:
    """The same rows written by openpyxl (inline strings: a larger, slower sheet)."""
    from openpyxl import Workbook

    rng = random.Random(42)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Demandes")
    sheet.append(list(CANONICAL_FIELDS))
    for i in range(rows):
        sheet.append([v if v != "" else None for v in _row(i, rng, typed=True)])
    workbook.save(path)


def _csv(path: Path, rows: int) -> None:
    """The same rows as French Excel exports them: cp1252, ';', dates JJ/MM/AAAA."""
    rng = random.Random(42)
    with path.open("w", encoding="cp1252", newline="") as stream:
        writer = csv.writer(stream, delimiter=";")
        writer.writerow(CANONICAL_FIELDS)
        for i in range(rows):
            writer.writerow(_row(i, rng, typed=False))


def generate(folder: Path, rows: int, *, with_openpyxl: bool) -> None:
    """Write excel.xlsx, export.csv (and openpyxl.xlsx) with the same rows."""
    _excel_like_xlsx(folder / "excel.xlsx", rows)
    _csv(folder / "export.csv", rows)
    if with_openpyxl:
        _openpyxl_xlsx(folder / "openpyxl.xlsx", rows)


# ---------------------------------------------------------------- measured cases


def _stages() -> tuple[Any, Any]:
    """``open_input`` and ``FileValidator`` of the ``pipeline`` on ``sys.path``: from the
    stage folders, or from the flat modules of a checkout made before them (--against)."""
    try:
        read = importlib.import_module("pipeline.read")
        validate = importlib.import_module("pipeline.validate")
    except ImportError:
        read = importlib.import_module("pipeline.reader")
        validate = importlib.import_module("pipeline.validator")
    return read.open_input, validate.FileValidator


def _ours(path: Path, *, validate: bool, keep: bool) -> int:
    from pipeline.referential import load_referential

    open_input, FileValidator = _stages()
    referential = load_referential()
    validator = None
    if validate:
        validator = FileValidator(referential, today=TODAY, version="V9")
    info, rows = open_input(path, max_bytes=1 << 30)
    assert not info.unreadable, info.findings
    kept_rows: list[object] = []
    kept_values: list[dict[str, str]] = []
    count = 0
    for row in rows:
        if validator is not None:
            row.findings.extend(validator.check(row))
            if keep:
                kept_values.append(validator.cleaned_values(row))
        if keep:
            kept_rows.append(row)
        count += 1
    return count


def _baseline(path: Path) -> int:
    count = 0
    if path.suffix == ".csv":
        with path.open(encoding="cp1252", newline="") as stream:
            reader = csv.reader(stream, delimiter=";")
            next(reader)
            for record in reader:
                [c.strip() for c in record]
                count += 1
        return count
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    sheet = workbook["Demandes"]
    rows = sheet.iter_rows(values_only=True)
    next(rows)
    for values in rows:
        ["" if v is None else str(v).strip() for v in values]
        count += 1
    workbook.close()
    return count


def measure(case: str, path: Path, root: Path = ROOT) -> dict[str, float]:
    """Run one case in this process, with the ``pipeline`` package of ``root``; wall
    and CPU seconds, peak resident memory."""
    sys.path.insert(0, str(root))
    if case == "baseline":
        import openpyxl  # noqa: F401
    else:
        _stages()
        from pipeline.records import CANONICAL_FIELDS as canonical

        assert canonical == CANONICAL_FIELDS, "bench/read_validate.py: update CANONICAL_FIELDS"
        # The process workbooks are read in is started once per run, not per file.
        prepare = getattr(importlib.import_module("pipeline.read"), "prepare_reader", None)
        if prepare is not None:
            prepare()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if case == "baseline":
        count = _baseline(path)
    else:
        count = _ours(path, validate=case != "read", keep=case == "ours-keep")
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "rows": count,
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": after.ru_maxrss / 1024,
        "start_mb": before.ru_maxrss / 1024,
    }


def _run_case(case: str, path: Path, roots: list[Path], repeat: int) -> list[dict[str, float]]:
    """Per root: best of ``repeat`` runs, each in a fresh process (the machine may be
    shared); the roots' runs alternate, so they see the same load."""
    runs: list[list[dict[str, float]]] = [[] for _ in roots]
    for _ in range(repeat):
        for root, root_runs in zip(roots, runs, strict=True):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", case, str(path), "--root", str(root)],
                check=True,
                capture_output=True,
                text=True,
            )
            root_runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    bests = []
    for root_runs in runs:
        best = dict(min(root_runs, key=lambda r: r["seconds"]))
        best["cpu"] = min(r["cpu"] for r in root_runs)
        best["peak_mb"] = max(r["peak_mb"] for r in root_runs)
        bests.append(best)
    return bests


CASES = ("read", "ours", "ours-keep", "baseline")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case, best kept (3)")
    parser.add_argument(
        "--with-openpyxl",
        action="store_true",
        help="also measure an .xlsx written by openpyxl (inline strings; slow baseline)",
    )
    parser.add_argument(
        "--against", type=Path, help="another checkout whose pipeline is measured alongside"
    )
    parser.add_argument("--measure", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]), args.root)))
        return 0
    if args.generate:
        generate(args.generate, args.rows, with_openpyxl=args.with_openpyxl)
        return 0
    with tempfile.TemporaryDirectory() as temp:
        folder = args.keep or Path(temp)
        print(f"charge machine (1, 5, 15 min) : {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        # In a child process: a measured child inherits its parent's peak memory
        # (Linux keeps ru_maxrss across fork/exec), so this parent must stay small.
        command = [sys.executable, __file__, "--generate", str(folder), "--rows", str(args.rows)]
        subprocess.run(command + ["--with-openpyxl"] * args.with_openpyxl, check=True)
        files = [("XLSX", folder / "excel.xlsx"), ("CSV", folder / "export.csv")]
        if args.with_openpyxl:
            files.append(("XLSX-openpyxl", folder / "openpyxl.xlsx"))
        sizes = ", ".join(f"{kind} {path.stat().st_size / 1e6:.1f} Mo" for kind, path in files)
        print(f"{args.rows} lignes générées en {time.perf_counter() - started:.1f} s : {sizes}")
        roots = [ROOT] + ([args.against.resolve()] if args.against else [])
        if args.against:
            print(f"version comparée (« réf. ») : {roots[1]}")
        print(
            f"{'fichier':13} {'cas':16} {'lignes':>7} {'mur':>7} {'CPU':>7} "
            f"{'lignes/s':>9} {'pic':>7}"
        )
        results: dict[tuple[str, str], dict[str, float]] = {}
        for kind, path in files:
            for case in CASES:
                measured = roots[:1] if case == "baseline" else roots
                bests = _run_case(case, path, measured, args.repeat)
                for root, r in zip(measured, bests, strict=True):
                    label = case if root == ROOT else f"{case} (réf.)"
                    results[(kind, label)] = r
                    print(
                        f"{kind:13} {label:16} {r['rows']:>7.0f} {r['seconds']:>6.2f}s "
                        f"{r['cpu']:>6.2f}s {r['rows'] / r['seconds']:>9.0f} "
                        f"{r['peak_mb']:>5.0f}Mo"
                    )
        print(f"charge machine (1, 5, 15 min) : {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(
            f"(pic = mémoire résidente maximale du processus, dont ~"
            f"{results[(files[0][0], 'read')]['start_mb']:.0f} Mo d'interpréteur et modules)"
        )
        for kind, _path in files:
            read, ours, base = (results[(kind, c)] for c in ("read", "ours", "baseline"))
            if kind == "CSV":
                print(
                    f"CSV : lecture+validation = {ours['seconds'] / base['seconds']:.1f} fois "
                    "le temps d'une simple boucle csv.reader (sans conversion ni validation)"
                )
                continue
            print(
                f"{kind} : plus rapide que la référence openpyxl de "
                f"{base['seconds'] / read['seconds']:.1f}x en lecture seule, "
                f"{base['seconds'] / ours['seconds']:.1f}x en lecture+validation "
                f"(temps CPU : {base['cpu'] / read['cpu']:.1f}x et "
                f"{base['cpu'] / ours['cpu']:.1f}x)"
            )
        if args.against:
            for kind, _path in files:
                for case in ("read", "ours", "ours-keep"):
                    here, there = results[(kind, case)], results[(kind, f"{case} (réf.)")]
                    print(
                        f"{kind} {case} : {here['seconds']:.2f} s contre {there['seconds']:.2f} s "
                        f"pour la réf. ({here['seconds'] / there['seconds'] - 1:+.0%} ; "
                        f"CPU {here['cpu'] / there['cpu'] - 1:+.0%})"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
