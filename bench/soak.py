"""Soak: several simulated nights in a row over a faulty OMEGA (prints figures, asserts nothing).

    python bench/soak.py [--nights 4] [--rows 60] [--fault-rate 0.12] [--plan normal,...]

The simulator runs in its own process (``python -m pipeline.simulator``) injecting, on
a share of the calls, transient faults (HTTP 503, reset before the request reached
OMEGA) and lost answers after OMEGA processed the request (reset-after, slow beyond
the client's timeout, soap:Server fault). Each night is a real ``run_batch.py``
process: a new request file is dropped in ``input/`` (the first ``--nights`` nights),
the night runs, then — as the supply team would the next morning — the demand
tracking is downloaded from the simulator (``GET /admin/demandes.csv``) into
``input/suivi/``, named after the moment it was taken, and the night's resubmission
workbooks (rows ERREUR_TECHNIQUE) are dropped back into ``input/``. Recovery nights (no new file)
follow until every row has a final status, or ``--max-extra`` of them.

Printed: rows, OMEGA calls (HTTP attempts, from the journal), duplicates (references
with more than one demand in the simulator's tracking: must be 0), rows lost (input
rows without a final outcome in the journal: must be 0), rows left to check, nights
needed, and each night's exit code and wall time.

Night kinds (``--plan``, one name per night, ``normal`` when the plan is shorter; the
default plan is ``normal,sigterm,disk-full,disk-full-output``):

- ``normal``: ``run_batch.py`` runs to its end;
- ``sigterm``: ``run_batch.py`` is started with ``subprocess.Popen`` and sent SIGTERM
  once the simulator holds a few of the night's demands (rows in flight); its exit code
  (8 expected) is recorded;
- ``disk-full``: the journal is copied onto a small tmpfs mounted for the night
  (``mount -t tmpfs``, root only), filled so that the run hits ENOSPC mid-night (exit 7
  expected); afterwards, as an operator who frees space would, the journal files are
  copied back to ``var/`` and the tmpfs unmounted;
- ``disk-full-output``: the same with the output folder (its workbooks and logs copied
  back to ``output/`` afterwards).

Without root, the disk-full kinds say so and run the night as ``normal``. To add a kind:
write a function ``(Soak, Night) -> NightResult`` (``soak.write_settings(...)`` takes
``[paths]`` overrides, ``soak.batch_process()`` is the night's command line) and add it
to ``NIGHT_KINDS``. The counters need nothing else: they read the journal and the
simulator at the end.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PCE_6M = [f"110000000000{i:02d}" for i in range(1, 13)]
PCE_JJ = [f"2{k}00000000000{i}" for k in (1, 2, 3) for i in (1, 2, 4)]
PLAGES = ["M1", "M2", "M3", "M4", "M5", "M6", "A1", "A2", "A3", "A4", "A5", "A6"]
RESUBMISSION = re.compile(r"_a_resoumettre_\d{8}-\d{6}(-\d+)?\.xlsx$")
FAULTS = "http-503,reset-before,reset-after,slow,server-fault"
FINAL_OK = {"RDV_PROGRAMME", "DATE_DEMANDEE", "PRISE_EN_COMPTE", "NON_RECEVABLE", "REFUS_OMEGA"}
HEADER = ["NumeroPCE", "ReferenceDemande", "CodeLibelleIntervention", "CodeMotifIntervention"]
HEADER += ["DateRdv", "PlageRdv", "NomContact"]


@dataclass
class Night:
    number: int
    kind: str
    new_file: str | None  # request file dropped before the night, None for recovery
    new_references: list[str] = field(default_factory=list)  # that file's references


@dataclass
class NightResult:
    exit_code: int
    seconds: float
    note: str = ""


@dataclass
class Soak:
    workdir: Path
    base_url: str
    today: dt.date
    margin_s: float
    references: list[str] = field(default_factory=list)
    redropped: set[str] = field(default_factory=set)

    # ----- the project folder ----------------------------------------------------------
    def write_settings(self, **paths: str) -> Path:
        """settings.toml for a night (``paths`` overrides ``[paths]`` keys, e.g. a tmpfs)."""
        folders = {
            "input_dir": "input",
            "output_dir": "output",
            "archive_dir": "archive",
            "journal": "var/journal.sqlite3",
            "tracking_dir": "input/suivi",
            "referential_dir": str(ROOT / "config" / "referential"),
        } | paths
        lines = "\n".join(f'{k} = "{v}"' for k, v in folders.items())
        config = self.workdir / "settings.toml"
        config.write_text(
            f"""[omega]
url = "{self.base_url}"
dn_entreprise = "FOURNISSEUR-DEMO"
numero_cad = "CAD0000123"
login = "batch.dit"
timeout_s = 1

[execution]
rate_per_s = 100
workers = 4
max_attempts = 3
max_retry_delay_s = 1
breaker_threshold = 6
tracking_margin_s = {self.margin_s}

[paths]
{lines}

[input]
stable_after_s = 0
""",
            encoding="utf-8",
        )
        return config

    def drop_requests(self, name: str, count: int, first: int) -> list[str]:
        (self.workdir / "input").mkdir(parents=True, exist_ok=True)
        with (self.workdir / "input" / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(HEADER)
            for i in range(first, first + count):
                day = (self.today + dt.timedelta(days=7 + (i * 3) % 200)).isoformat()
                ref = f"SOAK-{i:05d}"
                self.references.append(ref)
                if i % 2 == 0:
                    pce, code, motif, plage = PCE_6M[i % 12], "34", "23", PLAGES[i % 12]
                else:
                    pce, code, motif, plage = PCE_JJ[i % 9], "206", "", ""
                writer.writerow([pce, ref, code, motif, day, plage, "Soak"])
        return self.references[-count:]

    def redrop_resubmissions(self) -> int:
        """The team's morning: every new resubmission workbook dropped back in input/
        (ERREUR_TECHNIQUE rows are resubmitted this way, README)."""
        count = 0
        for book in sorted((self.workdir / "output").glob("*_a_resoumettre_*.xlsx")):
            if RESUBMISSION.search(book.name) and book.name not in self.redropped:
                self.redropped.add(book.name)
                shutil.copy2(book, self.workdir / "input" / book.name)
                count += 1
        return count

    def batch_process(self) -> list[str]:
        """The command line of one night (for a kind that drives the process itself)."""
        return [
            sys.executable,
            str(ROOT / "run_batch.py"),
            "--config",
            str(self.workdir / "settings.toml"),
            "-q",
        ]

    def download_tracking(self) -> Path:
        """The morning's export of the demand tracking, named when it was taken."""
        base = self.base_url.rsplit("/omega", 1)[0]
        with urllib.request.urlopen(f"{base}/admin/demandes.csv", timeout=30) as answer:
            body = answer.read()
        folder = self.workdir / "input" / "suivi"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"suivi_demandes_{dt.datetime.now():%Y%m%d-%H%M%S}.csv"
        path.write_bytes(body)
        return path

    # ----- the counters -----------------------------------------------------------------
    def journal_state(self) -> tuple[dict[str, str], int]:
        """Each key's deciding status (state when unfinished), and HTTP attempts made."""
        path = self.workdir / "var" / "journal.sqlite3"
        if not path.exists():
            return {}, 0
        db = sqlite3.connect(path)
        statuses = dict(
            db.execute(
                "SELECT key, COALESCE(status, state) FROM rows r WHERE id = (SELECT MAX(id)"
                " FROM rows WHERE key = r.key AND (status IS NULL OR status != 'DEJA_TRAITEE'))"
            ).fetchall()
        )
        (calls,) = db.execute(
            "SELECT COALESCE(SUM(attempts), 0) FROM calls WHERE operation != 'SuiviDemandes'"
        ).fetchone()
        db.close()
        return statuses, int(calls)

    def demands_by_reference(self) -> Counter[str]:
        base = self.base_url.rsplit("/omega", 1)[0]
        with urllib.request.urlopen(f"{base}/admin/demandes", timeout=30) as answer:
            demandes = json.loads(answer.read())
        mine = set(self.references)
        return Counter(
            str(d["ReferenceDemande"]) for d in demandes if d.get("ReferenceDemande") in mine
        )


def normal_night(soak: Soak, night: Night) -> NightResult:
    soak.write_settings()
    started = time.perf_counter()
    proc = subprocess.run(soak.batch_process(), capture_output=True, text=True, cwd=soak.workdir)
    note = "traceback!" if "Traceback" in proc.stderr else ""
    return NightResult(proc.returncode, time.perf_counter() - started, note)


SIGTERM_AFTER_DEMANDS = 5  # demands of the night's new file OMEGA holds before the signal


def sigterm_night(soak: Soak, night: Night) -> NightResult:
    """SIGTERM while rows are in flight: once the simulator holds a few demands of the
    night's new file (of any row on a recovery night)."""
    soak.write_settings()
    watched = set(night.new_references or soak.references)

    def held_now() -> int:
        return sum(n for ref, n in soak.demands_by_reference().items() if ref in watched)

    before = held_now()
    started = time.perf_counter()
    proc = subprocess.Popen(
        soak.batch_process(),
        cwd=soak.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    held = before
    while proc.poll() is None and time.perf_counter() - started < 60:
        held = held_now()
        if held - before >= SIGTERM_AFTER_DEMANDS:
            break
        time.sleep(0.05)
    signalled = time.perf_counter()
    sent = proc.poll() is None
    if sent:
        proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    ended = time.perf_counter()
    note = (
        f"SIGTERM after {signalled - started:.1f} s ({held - before} new demands), "
        f"stopped {ended - signalled:.2f} s later"
        if sent
        else "ended before the signal could be sent"
    )
    if "Traceback" in stderr:
        note += " traceback!"
    return NightResult(proc.returncode, ended - started, note)


TMPFS_SIZE = "8m"
# Bytes left free on the tmpfs, so that ENOSPC comes mid-night: the journal's WAL grows
# by a few KiB per committed step; a night's log is ~50 KB for 60 rows.
TMPFS_LEFT = {"journal": 1_500_000, "output": 30_000}


@contextmanager
def small_disk(soak: Soak) -> Iterator[Path | str]:
    """A small tmpfs mounted for the night, filled but TMPFS_LEFT bytes; yields its
    path, or the reason it could not be mounted. Unmounted afterwards (its content is
    to be copied back by the caller before)."""
    if os.geteuid() != 0:
        yield "not root: a tmpfs can only be mounted by root"
        return
    mount = soak.workdir / "disk"
    mount.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        yield f"tmpfs not mounted: {done.stderr.strip()}"
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` but ``leave`` bytes; returns the filler (to delete to free space)."""
    stat = os.statvfs(disk)
    filler = disk / ".remplissage"
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler


def disk_full_night(soak: Soak, night: Night, what: str = "journal") -> NightResult:
    """The journal (or the output folder) on a small full tmpfs for the night; then the
    operator frees space: its content copied back where the next nights expect it."""
    with small_disk(soak) as disk:
        if isinstance(disk, str):
            result = normal_night(soak, night)
            result.note = f"disk-full skipped ({disk}), ran as normal {result.note}".strip()
            return result
        home = soak.workdir / ("var" if what == "journal" else "output")
        home.mkdir(parents=True, exist_ok=True)
        target = disk / what
        if what == "journal":
            target.mkdir()
            for path in home.glob("journal.sqlite3*"):
                shutil.copy2(path, target / path.name)
            soak.write_settings(journal=str(target / "journal.sqlite3"))
        else:
            shutil.copytree(home, target)
            soak.write_settings(output_dir=str(target))
        filler = fill(disk, TMPFS_LEFT[what])
        started = time.perf_counter()
        proc = subprocess.run(
            soak.batch_process(), capture_output=True, text=True, cwd=soak.workdir
        )
        seconds = time.perf_counter() - started
        stop = [x for x in proc.stdout.splitlines() if x.startswith("PASSAGE ARRÊTÉ")]
        note = f"{what} on a full {TMPFS_SIZE} tmpfs: " + (
            "« disque plein »" if any("disque plein" in x for x in stop) else "no disk-full stop"
        )
        if "Traceback" in proc.stderr or "Logging error" in proc.stderr:
            note += " traceback!"
        filler.unlink()  # the operator frees space, puts the files back where they live
        if what == "journal":
            for path in home.glob("journal.sqlite3*"):
                path.unlink()
            for path in target.glob("journal.sqlite3*"):
                shutil.copy2(path, home / path.name)
        else:
            shutil.copytree(target, home, dirs_exist_ok=True)
        soak.write_settings()
    return NightResult(proc.returncode, seconds, note)


NIGHT_KINDS: dict[str, Callable[[Soak, Night], NightResult]] = {
    "normal": normal_night,
    "sigterm": sigterm_night,
    "disk-full": disk_full_night,
    "disk-full-output": lambda soak, night: disk_full_night(soak, night, "output"),
}
DEFAULT_PLAN = "normal,sigterm,disk-full,disk-full-output"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=4, help="nights with a new request file")
    parser.add_argument("--rows", type=int, default=60, help="rows per request file")
    parser.add_argument("--fault-rate", type=float, default=0.12)
    parser.add_argument("--max-extra", type=int, default=4, help="recovery nights at most")
    parser.add_argument(
        "--plan", default=DEFAULT_PLAN, help=f"night kinds, comma-separated ({DEFAULT_PLAN})"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed)")
    args = parser.parse_args()
    today = dt.date.today()
    plan = [k for k in args.plan.split(",") if k]
    unknown = sorted(set(plan) - set(NIGHT_KINDS))
    if unknown:
        parser.error(
            f"unknown night kind(s): {', '.join(unknown)} (known: {', '.join(NIGHT_KINDS)})"
        )
    margin_s = 3.0
    options = (
        f"--port 0 --today {today} --seed {args.seed} --fault-rate {args.fault_rate}"
        f" --faults {FAULTS} --slow-ms 2000 --threads 32"
    )
    sim = subprocess.Popen(
        [sys.executable, "-m", "pipeline.simulator", *options.split(), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert sim.stdout is not None
    base_url = sim.stdout.readline().split(" : ", 1)[1].strip()
    try:
        tmp = tempfile.mkdtemp(prefix="dit-soak-")
        soak = Soak(Path(tmp), base_url, today, margin_s)
        run(soak, args, plan)
        if args.keep:
            print(f"work folder kept: {tmp}")
        else:
            shutil.rmtree(tmp)
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def run(soak: Soak, args: argparse.Namespace, plan: list[str]) -> None:
    print(
        f"Soak: {args.nights} night(s) of {args.rows} rows, fault rate {args.fault_rate} "
        f"({FAULTS}), client timeout 1 s, slow answers 2 s, tracking margin {soak.margin_s:g} s"
    )
    needed = 0
    number = 0
    while True:
        number += 1
        new = number <= args.nights
        kind = plan[number - 1] if number <= len(plan) else "normal"
        night = Night(number, kind, f"nuit{number}.csv" if new else None)
        if night.new_file:
            first = (number - 1) * args.rows
            night.new_references = soak.drop_requests(night.new_file, args.rows, first)
        result = NIGHT_KINDS[kind](soak, night)
        time.sleep(max(soak.margin_s, 2.0) + 1.1)  # slow answers processed; names in seconds
        export = soak.download_tracking()
        redropped = soak.redrop_resubmissions()
        statuses, calls = soak.journal_state()
        open_rows = sum(1 for r in soak.references if statuses.get(r) not in FINAL_OK)
        print(
            f"  night {number} ({kind}{', new file' if new else ', recovery'}): exit "
            f"{result.exit_code}, {result.seconds:.1f} s, {open_rows} row(s) not final yet"
            f"{' ' + result.note if result.note else ''}; export {export.name}, "
            f"{redropped} resubmission file(s) dropped again"
        )
        needed = number
        if (number >= args.nights and open_rows == 0) or number >= args.nights + args.max_extra:
            break
    statuses, calls = soak.journal_state()
    demands = soak.demands_by_reference()
    duplicates = sum(n - 1 for n in demands.values() if n > 1)
    lost = sum(
        1
        for r in soak.references
        if r not in statuses
        or statuses[r] in ("pending", "verified", "create_sent", "created", "slot")
    )
    left = Counter(statuses.get(r, "absent") for r in soak.references)
    print(f"rows: {len(soak.references)}")
    print(f"calls: {calls} (HTTP attempts, retries included)")
    print(f"duplicates: {duplicates} (references with more than one demand in the simulator)")
    print(f"rows lost: {lost} (no final outcome in the journal)")
    print(f"rows to check (A_VERIFIER) at the end: {left['A_VERIFIER']}")
    print(f"final statuses: {dict(sorted(left.items()))}")
    print(f"nights needed: {needed} (the last one settled the rest, or the limit was reached)")


if __name__ == "__main__":
    main()
