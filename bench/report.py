"""Benchmark: writing a 100,000-row result workbook (target: < 10 s, peak memory < 400 MB).

    python bench/report.py [--rows 100000] [--baseline-rows N] [--no-baseline]

Each scenario runs in a fresh child process so that its maximum RSS is its own:
1. ``stream``: ``pipeline.report.workbooks.write_results``, timed without tracemalloc, then run
   again under tracemalloc for the peak of Python allocations (tracemalloc slows
   Python allocation several times over, so it never runs during the timed pass);
   ``stream-both``: ``write_reports`` (result + resubmission workbooks, one pass).
2. ``openpyxl-normal`` (the baseline): openpyxl's ordinary (not write-only) mode
   writing the same Résultats rows with the same per-row fill.
3. ``openpyxl-write-only``: openpyxl's write-only mode, same rows and styles, for
   reference (what streaming with openpyxl alone would cost).

Rows and outcomes come from a generator (nothing pre-built in memory): realistic
cells for the 22 template columns, ~10 % rejected rows with findings, multi-line
messages, some values that look like formulas. Generating them is timed apart.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.records import (  # noqa: E402
    CANONICAL_FIELDS,
    Finding,
    RequestRow,
    RowOutcome,
    Severity,
    Status,
)

_CYCLE = (
    Status.RDV_PROGRAMME,
    Status.RDV_PROGRAMME,
    Status.RDV_PROGRAMME,
    Status.DATE_DEMANDEE,
    Status.PRISE_EN_COMPTE,
    Status.REJET_VALIDATION,
    Status.REFUS_OMEGA,
    Status.REPORTEE,
    Status.A_VERIFIER,
    Status.ERREUR_TECHNIQUE,
)


def synthetic(rows: int) -> Iterator[tuple[RequestRow, RowOutcome]]:
    """Lazily yield ``rows`` realistic (row, outcome) pairs."""
    for i in range(rows):
        line = i + 2
        status = _CYCLE[i % len(_CYCLE)]
        values = {
            "NumeroPCE": f"{10_000_000_000_000 + i * 7919:014d}",
            "CodePostal": f"{75001 + i % 20:05d}",
            "ReferenceDemande": f"REF-2024-{i:07d}",
            "TelephoneFournisseur": "0140000000",
            "GroupeAppartenance": "",
            "CommentaireFournisseur": "",
            "Commentaire": "Client absent le matin" if i % 3 == 0 else "",
            "CodeLibelleIntervention": "Z8" if i % 2 else "34",
            "CodeMotifIntervention": "" if i % 2 else "01",
            "OptionExpress": "0",
            "TypeIndexConteste": "",
            "ValeurIndexReleve": "",
            "DateIndexConteste": "",
            "ValeurIndexClient": "",
            "DateIndexClient": "",
            "PrecisionIntervention": "=SOMME(A1)" if i % 97 == 0 else "",
            "DateRdv": "2024-06-12",
            "PlageRdv": "M1",
            "NomContact": f"Dupont-{i % 1000}",
            "TelephoneContact": f"06{i % 100_000_000:08d}",
            "CodeAcces": "A12B" if i % 4 == 0 else "",
            "ComplementAdresse": "Bâtiment B, 3e étage" if i % 5 == 0 else "",
        }
        findings: list[Finding] = []
        if status is Status.REJET_VALIDATION:
            findings.append(
                Finding(
                    "PCE_FORMAT",
                    Severity.ERROR,
                    "NumeroPCE",
                    values["NumeroPCE"],
                    "Le NumeroPCE doit compter 14 chiffres.",
                    line,
                )
            )
        row = RequestRow(line, tuple(values[f] for f in CANONICAL_FIELDS), values, findings)
        done = status in (Status.RDV_PROGRAMME, Status.DATE_DEMANDEE, Status.PRISE_EN_COMPTE)
        outcome = RowOutcome(
            status=status,
            type_retour="DmdOkRdv" if done else "",
            code_retour="200" if done else ("105" if status is Status.REFUS_OMEGA else ""),
            messages=("Demande créée", "Rendez-vous accepté") if done else (),
            numero_demande=f"DIT{i:09d}" if done else "",
            date_rdv="2024-06-12" if done else "",
            plage_rdv="M1" if done else "",
            heure_min="09:00" if done else "",
            heure_max="10:00" if done else "",
            presence_client="O" if done else "",
            attempts=1 if status is not Status.REJET_VALIDATION else 0,
            processed_at="2024-06-01T02:00:00+02:00",
        )
        yield row, outcome


def _run_stream(rows: int, out: Path, *, resubmission: bool) -> None:
    from pipeline.report import RunInfo, write_reports, write_results

    now = datetime.now(UTC)
    run = RunInfo("bench.xlsx", "0" * 64, now, now, "http://127.0.0.1:8089/omega", "V9", False)
    if resubmission:
        write_reports(out, CANONICAL_FIELDS, synthetic(rows), run)
    else:
        write_results(out, CANONICAL_FIELDS, synthetic(rows), run)


def _baseline_rows(ws: object, rows: int, write_only: bool) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, PatternFill

    from pipeline.report.layout import FAMILY_COLOURS, RESULT_COLUMNS

    fills = {f: PatternFill("solid", fgColor=c) for f, c in FAMILY_COLOURS.items()}
    wrap = Alignment(vertical="top", wrap_text=True)
    sheet: object = ws
    sheet.append([*CANONICAL_FIELDS, *RESULT_COLUMNS])  # type: ignore[attr-defined]
    for n, (row, o) in enumerate(synthetic(rows), start=2):
        values = [
            *row.cells,
            o.status.value,
            o.status.label,
            o.type_retour,
            o.code_retour,
            "\n".join(o.messages),
            o.numero_demande,
            o.date_rdv,
            o.plage_rdv,
            o.heure_min,
            o.heure_max,
            o.presence_client,
            "\n".join(f.describe() for f in row.findings),
            o.attempts,
            o.processed_at,
        ]
        fill = fills[o.status.family]
        if write_only:
            cells = []
            for v in values:
                c = WriteOnlyCell(ws, v or None)  # type: ignore[arg-type]
                c.fill = fill
                if isinstance(v, str) and "\n" in v:
                    c.alignment = wrap
                cells.append(c)
            sheet.append(cells)  # type: ignore[attr-defined]
        else:
            sheet.append([v or None for v in values])  # type: ignore[attr-defined]
            for col in range(1, len(values) + 1):  # ws.cell: O(1); ws[n] would be O(cells)
                c = sheet.cell(row=n, column=col)  # type: ignore[attr-defined]
                c.fill = fill
                if isinstance(c.value, str) and "\n" in c.value:
                    c.alignment = wrap


def _run_openpyxl(rows: int, out: Path, write_only: bool) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet("Résultats") if write_only else wb.active
    _baseline_rows(ws, rows, write_only)
    wb.save(out / "baseline.xlsx")


SCENARIOS: dict[str, Callable[[int, Path], None]] = {
    "stream": lambda rows, out: _run_stream(rows, out, resubmission=False),
    "stream-both": lambda rows, out: _run_stream(rows, out, resubmission=True),
    "openpyxl-normal": lambda rows, out: _run_openpyxl(rows, out, write_only=False),
    "openpyxl-write-only": lambda rows, out: _run_openpyxl(rows, out, write_only=True),
}


def _child(scenario: str, rows: int, traced: bool) -> dict[str, float]:
    """Run one scenario in this process and measure it."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        cpu = time.process_time()
        SCENARIOS[scenario](rows, out)
        seconds = time.perf_counter() - start
        cpu_s = time.process_time() - cpu
        size = sum(p.stat().st_size for p in out.iterdir())
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = {
            "seconds": seconds,
            "cpu_seconds": cpu_s,
            "maxrss_mb": rss / 1024,
            "rss_before_mb": rss_before / 1024,
            "size_mb": size / 1e6,
        }
    if traced:
        with tempfile.TemporaryDirectory() as tmp:
            tracemalloc.start()
            SCENARIOS[scenario](rows, Path(tmp))
            result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
    return result


def _spawn(scenario: str, rows: int, traced: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", scenario, "--rows", str(rows)]
    if traced:
        cmd.append("--traced")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=None, help="default: --rows")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--with-write-only", action="store_true", help="also openpyxl write-only")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip the (slow) traced second run"
    )
    parser.add_argument("--child", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.rows, args.traced)))
        return 0

    gen_start = time.perf_counter()
    for _ in synthetic(args.rows):
        pass
    gen_s = time.perf_counter() - gen_start
    print(f"rows: {args.rows:,}  (generating them alone: {gen_s:.2f} s)")
    print(f"python {sys.version.split()[0]}")
    ours = _spawn("stream", args.rows, traced=not args.no_tracemalloc)
    _print("write_results (pipeline.report.workbooks)", args.rows, ours)
    peak = max(ours["maxrss_mb"], ours.get("traced_peak_mb", 0.0))
    ok = ours["seconds"] < 10 and peak < 400
    print(f"  target < 10 s and < 400 MB: {'OK' if ok else 'NOT MET'}")
    both = _spawn("stream-both", args.rows, traced=False)
    _print("write_reports (results + resubmission, one pass)", args.rows, both)
    base_rows = args.baseline_rows or args.rows
    others = [] if args.no_baseline else ["openpyxl-normal"]
    if args.with_write_only:
        others.append("openpyxl-write-only")
    for name in others:
        res = _spawn(name, base_rows, traced=False)
        _print(f"{name} (baseline)", base_rows, res)
        ours_rate = args.rows / ours["seconds"]
        base_rate = base_rows / res["seconds"]
        print(
            f"  ratio: write_results is {ours_rate / base_rate:.1f}x faster (rows/s); "
            f"baseline max RSS / write_results max RSS = {res['maxrss_mb'] / ours['maxrss_mb']:.1f}"
        )
    return 0


def _print(name: str, rows: int, r: dict[str, float]) -> None:
    traced = f", tracemalloc peak {r['traced_peak_mb']:.1f} MB" if "traced_peak_mb" in r else ""
    print(
        f"{name}: {r['seconds']:.2f} s wall ({r['cpu_seconds']:.2f} s CPU), "
        f"{rows / r['seconds']:,.0f} rows/s, max RSS {r['maxrss_mb']:.0f} MB "
        f"(interpreter+imports {r['rss_before_mb']:.0f} MB){traced}, files {r['size_mb']:.1f} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
