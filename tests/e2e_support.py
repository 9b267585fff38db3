"""What the end-to-end tests share: a project folder with its settings file, the
``run_batch.py`` subprocess, the simulator fixture's PCEs and the result sheets read back.

``write_settings(root)`` lays out ``root/input/`` and ``root/settings.toml`` for a run
against the built-in simulator (or ``url``), with ``extra`` lines added to its
``[simulator]`` table; ``run_batch(config, *args)`` runs the real command line on it.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl

from pipeline.config import PROJECT_ROOT

RUN_BATCH = PROJECT_ROOT / "run_batch.py"
PCE_FILE = PROJECT_ROOT / "config" / "simulator" / "pce.csv"
TODAY = "2026-12-01"


def write_settings(root: Path, url: str = "simulator", extra: str = "") -> Path:
    """``root/settings.toml`` for a fast run (4 workers, short retries, no stability wait)
    against the simulator of the default fixture; creates ``root/input/``."""
    (root / "input").mkdir(exist_ok=True)
    cfg = root / "settings.toml"
    cfg.write_text(
        f"""
[omega]
url = "{url}"
dn_entreprise = "FOURNISSEUR-DEMO"
numero_cad = "CAD0000123"
login = "batch.dit"
version = "V9"
timeout_s = 5

[execution]
rate_per_s = 200
workers = 4
max_attempts = 2
max_retry_delay_s = 1
breaker_threshold = 3

[paths]
input_dir = "input"
output_dir = "output"
archive_dir = "archive"
journal = "var/journal.sqlite3"
referential_dir = "{PROJECT_ROOT / "config" / "referential"}"

[input]
stable_after_s = 0

[simulator]
pce_file = "{PCE_FILE}"
today = "{TODAY}"
seed = 7
{extra}

[[simulator.suppliers]]
dn_entreprise = "FOURNISSEUR-DEMO"
numero_cad = "CAD0000123"
etat_cad = "valide"
""",
        encoding="utf-8",
    )
    return cfg


def run_batch(
    config: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``run_batch.py --config CONFIG ARGS`` in a subprocess, the ``DIT_*`` environment
    left out, from the settings file's folder unless ``cwd`` is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIT_")}
    return subprocess.run(
        [sys.executable, str(RUN_BATCH), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=cwd or config.parent,
    )


def fixture_pce(
    freq: str, telereleve: str | None = None, *, electricity: bool = True
) -> tuple[str, str]:
    """A 14-digit PCE of the default supplier in the simulator's fixture with this
    FrequenceReleve (and Telereleve when given), and its postal code; with
    ``electricity=False``, one without an electricity appointment (RdvElec)."""
    with PCE_FILE.open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh, delimiter=";"):
            if (
                rec["NumeroCAD"] == "CAD0000123"
                and rec["FrequenceReleve"] == freq
                and (telereleve is None or rec["Telereleve"] == telereleve)
                and rec["NumeroPCE"].isdigit()
                and (electricity or rec.get("RdvElec", "0") == "0")
            ):
                return rec["NumeroPCE"], rec["CodePostal"]
    raise AssertionError(f"no PCE {freq}/{telereleve} in the fixture")


def read_sheet(path: Path, name: str = "Résultats") -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows (as header -> value) of one sheet of a workbook."""
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb[name].iter_rows(values_only=True))
    wb.close()
    header = [str(h) for h in rows[0]]
    return header, [dict(zip(header, r, strict=False)) for r in rows[1:]]
