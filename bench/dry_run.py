"""Dry-run benchmark: read -> validate -> result workbook for a 100,000-row file.

    python bench/dry_run.py [--rows 100000] [--repeat 3] [--also 10000]
        [--keep DIR] [--against OTHER_CHECKOUT]

Generates the files of ``bench/read_validate.py`` (an .xlsx laid out as Excel saves
it, and the same rows as a French Excel CSV export) in a temporary folder, then
runs the whole dry run in-process, as ``run_batch.py --dry-run`` does
(``BatchRun(settings, dry_run=True).execute()``: scan of ``input/``, reading,
validation, result and resubmission workbooks; nothing remote, nothing moved), one
file per run, each run in a fresh child process so that its peak resident memory
(``ru_maxrss``) is its own. Best wall time of ``--repeat`` runs; peak is the highest.

The orchestrator streams rows in chunks of 1,000 through validation and into the
report writer: ``--also 10000`` measures a tenth of the rows too, to show how the
peak memory grows (or not) with the file.

``--against DIR`` also runs each measurement with the ``pipeline`` package of another
checkout, right after the same run here (same machine load), to compare versions.

Settings: ``[omega] url = "simulator"`` (a dry run starts nothing),
``[simulator] today`` = the generated data's date (the rows' dates stay in the
future, as in a real file), ``[input] stable_after_s = 0``, paths in the temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "bench" / "read_validate.py"
TODAY = "2025-06-02"  # read_validate.TODAY: the generated rows are dated after it
FILES = (("XLSX", "excel.xlsx"), ("CSV", "export.csv"))


def measure(source: Path, work: Path, root: Path = ROOT) -> dict[str, float]:
    """One dry run of ``source`` alone in an input folder under ``work``, in this
    process, with the ``pipeline`` package (and referential) of ``root``."""
    sys.path.insert(0, str(root))
    from pipeline.config import settings_from_mapping
    from pipeline.records import Status
    from pipeline.run import BatchRun

    input_dir = work / "input"
    input_dir.mkdir(parents=True)
    try:
        os.link(source, input_dir / source.name)  # same bytes, no copy
    except OSError:
        shutil.copyfile(source, input_dir / source.name)
    settings = settings_from_mapping(
        {
            "omega": {"url": "simulator"},
            "paths": {
                "input_dir": str(input_dir),
                "output_dir": str(work / "output"),
                "archive_dir": str(work / "archive"),
                "journal": str(work / "journal.sqlite3"),
                "referential_dir": str(root / "config" / "referential"),
            },
            "input": {"stable_after_s": 0, "max_file_mb": 500},
            "simulator": {"today": TODAY, "pce_file": str(root / "config/simulator/pce.csv")},
        },
        base_dir=work,
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    summary = BatchRun(settings, dry_run=True).execute()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    (result,) = summary.files
    assert result.output is not None and not result.error, result
    return {
        "rows": result.rows,
        "seconds": seconds,
        "cpu": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "peak_mb": after.ru_maxrss / 1024,
        "start_mb": before.ru_maxrss / 1024,
        "output_mb": result.output.stat().st_size / 1e6,
        "rejected": result.counts[Status.REJET_VALIDATION],
    }


def _run(source: Path, roots: list[Path], repeat: int) -> list[dict[str, float]]:
    """Per root: best of ``repeat`` runs, each in a fresh process and a fresh folder;
    the roots' runs alternate, so they see the same machine load."""
    runs: list[list[dict[str, float]]] = [[] for _ in roots]
    for _ in range(repeat):
        for root, root_runs in zip(roots, runs, strict=True):
            with tempfile.TemporaryDirectory(prefix="dry-run-") as work:
                done = subprocess.run(
                    [sys.executable, __file__, "--measure", str(source), work, "--root", str(root)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
            root_runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    bests = []
    for root_runs in runs:
        best = dict(min(root_runs, key=lambda r: r["seconds"]))
        best["cpu"] = min(r["cpu"] for r in root_runs)
        best["peak_mb"] = max(r["peak_mb"] for r in root_runs)
        bests.append(best)
    return bests


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per case, best kept (3)")
    parser.add_argument(
        "--also",
        type=int,
        action="append",
        default=[],
        metavar="ROWS",
        help="also measure files of this many rows (memory growth)",
    )
    parser.add_argument("--keep", type=Path, help="write the generated files here and keep them")
    parser.add_argument(
        "--against", type=Path, help="another checkout whose pipeline is measured alongside"
    )
    parser.add_argument("--measure", nargs=2, metavar=("FILE", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]), args.root)))
        return 0
    with tempfile.TemporaryDirectory(prefix="dry-run-files-") as temp:
        folder = args.keep or Path(temp)
        print(f"charge machine (1, 5, 15 min) : {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        roots = [ROOT] + ([args.against.resolve()] if args.against else [])
        if args.against:
            print(f"version comparée (« réf. ») : {roots[1]}")
        print(
            f"{'fichier':13} {'lignes':>7} {'rejets':>7} {'mur':>7} {'CPU':>7} {'lignes/s':>9} "
            f"{'pic':>7} {'classeur':>9}"
        )
        for rows in sorted({args.rows, *args.also}):
            sized = folder / str(rows)
            sized.mkdir(parents=True, exist_ok=True)
            # In a child process: Linux keeps ru_maxrss across fork/exec, so this
            # parent must stay small for the children's peaks to be their own.
            generate = [sys.executable, str(GENERATOR), "--generate", str(sized)]
            subprocess.run([*generate, "--rows", str(rows)], check=True)
            for kind, name in FILES:
                for root, r in zip(roots, _run(sized / name, roots, args.repeat), strict=True):
                    label = kind if root == ROOT else f"{kind} (réf.)"
                    print(
                        f"{label:13} {r['rows']:>7.0f} {r['rejected']:>7.0f} "
                        f"{r['seconds']:>6.2f}s {r['cpu']:>6.2f}s {r['rows'] / r['seconds']:>9.0f} "
                        f"{r['peak_mb']:>5.0f}Mo {r['output_mb']:>7.1f}Mo"
                    )
            if not args.keep:
                shutil.rmtree(sized)
        print(f"charge machine (1, 5, 15 min) : {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print("(pic = mémoire résidente maximale du processus, interpréteur et modules compris)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
