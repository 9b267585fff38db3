"""A stray far cell costs nothing: the reader on a 100,000-row workbook with one formatted
cell at XFD1048576 (and its dimension saying A1:XFD1048576, as Excel writes it) against
the same workbook without it.

    python bench/stray_cell.py [--rows 100000] [--repeat 3]

The workbook is bench/read_validate.py's (laid out as Excel saves it); the stray copy
differs by one ``<row r="1048576"><c r="XFD1048576" s="1"/></row>`` and the dimension.
Each case runs in its own process, the two alternating (the machine may be shared);
best wall and CPU time of ``--repeat`` runs; peak resident memory of the run's process
and of the process the workbook is read in (pipeline/read/isolated.py). Goal (issue
11): same rows, time and memory within 20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHEET = "xl/worksheets/sheet1.xml"


def make_stray(source: Path, target: Path) -> None:
    """``source`` with one formatted cell at XFD1048576 and the dimension Excel gives it."""
    with (
        zipfile.ZipFile(source) as archive,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in archive.infolist():
            data = archive.read(info.filename)
            if info.filename == SHEET:
                data = data.replace(
                    b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>', 1
                ).replace(
                    b"</sheetData>",
                    b'<row r="1048576"><c r="XFD1048576" s="1"/></row></sheetData>',
                    1,
                )
            out.writestr(info, data)


def measure(path: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from pipeline.read import open_input, prepare_reader

    prepare_reader()  # once per run, not per file
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    info, rows = open_input(path, max_bytes=1 << 30)
    count = sum(1 for _ in rows)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    assert not info.unreadable, info.findings
    return {
        "rows": count,
        "seconds": seconds,
        "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_mb": after.ru_maxrss / 1024,
        "reader_mb": info.read_peak_mb or 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--make-stray", type=Path, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    if args.make_stray:
        make_stray(*args.make_stray)
        return 0
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"charge machine (1, 5, 15 min) : {load}")
        generator = [sys.executable, str(ROOT / "bench" / "read_validate.py")]
        subprocess.run(
            [*generator, "--generate", str(folder), "--rows", str(args.rows)], check=True
        )
        plain, stray = folder / "excel.xlsx", folder / "stray.xlsx"
        # In a child process: a measured child inherits its parent's peak memory (Linux
        # keeps ru_maxrss across fork/exec), so this parent must stay small.
        subprocess.run(
            [sys.executable, __file__, "--make-stray", str(plain), str(stray)], check=True
        )
        runs: dict[str, list[dict[str, float]]] = {"sans": [], "avec XFD1048576": []}
        for _ in range(args.repeat):
            for label, path in (("sans", plain), ("avec XFD1048576", stray)):
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", str(path)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(
            f"{'cellule lointaine':18} {'lignes':>7} {'mur':>7} {'CPU':>7} {'pic':>7} "
            f"{'pic lecture':>12}"
        )
        best: dict[str, dict[str, float]] = {}
        for label, results in runs.items():
            b = dict(min(results, key=lambda r: r["seconds"]))
            b["cpu"] = min(r["cpu"] for r in results)
            b["peak_mb"] = max(r["peak_mb"] for r in results)
            b["reader_mb"] = max(r["reader_mb"] for r in results)
            best[label] = b
            print(
                f"{label:18} {int(b['rows']):>7} {b['seconds']:>6.2f}s {b['cpu']:>6.2f}s "
                f"{b['peak_mb']:>5.0f}Mo {b['reader_mb']:>10.0f}Mo"
            )
        a, b = best["sans"], best["avec XFD1048576"]
        print(
            f"écart : lignes {'identiques' if a['rows'] == b['rows'] else 'DIFFÉRENTES'}, "
            f"temps {100 * (b['seconds'] / a['seconds'] - 1):+.0f} %, "
            f"mémoire de lecture {100 * (b['reader_mb'] / a['reader_mb'] - 1):+.0f} %"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
