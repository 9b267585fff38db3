"""What the stop tests share: a simulator in its own process, a file of valid rows, the
``run_batch.py`` process started in the background, and the demands OMEGA holds.

The simulator runs apart from the batch (``python -m pipeline.simulator``) so that the
batch can be signalled, killed or starved of disk while OMEGA keeps its demands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from e2e_support import PCE_FILE, RUN_BATCH, TODAY, fixture_pce

ROOT = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DIT_")}
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    return e


@contextmanager
def simulator_process(*options: str) -> Iterator[str]:
    """A simulator process (the default suppliers, the fixture's PCEs); yields its base URL."""
    command = [
        sys.executable,
        "-m",
        "pipeline.simulator",
        *("--port", "0", "--today", TODAY, "--pce-file", str(PCE_FILE), "--quiet"),
        *options,
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env(), start_new_session=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "http://" in first, first
        yield first.split(" : ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def demands(base_url: str) -> list[dict[str, Any]]:
    root = base_url.removesuffix("/omega")
    result: list[dict[str, Any]] = requests.get(f"{root}/admin/demandes", timeout=10).json()
    return result


def by_reference(base_url: str) -> Counter[str]:
    return Counter(str(d.get("ReferenceDemande")) for d in demands(base_url))


def write_rows(path: Path, count: int, prefix: str = "STOP") -> list[str]:
    """``count`` valid rows (JJ rows: 2 calls each; every third one a 6M row with its
    slot dialogue), references ``<prefix>-000``...; returns the references."""
    jj, jj_cp = fixture_pce("JJ", electricity=False)
    six, six_cp = fixture_pce("6M", electricity=False)
    lines = [
        "NumeroPCE;CodePostal;ReferenceDemande;CodeLibelleIntervention;"
        "CodeMotifIntervention;DateRdv;PlageRdv;NomContact;TelephoneContact"
    ]
    refs = []
    for i in range(count):
        ref = f"{prefix}-{i:03d}"
        refs.append(ref)
        day = f"2026-12-{8 + i % 20:02d}"
        if i % 3 == 2:
            lines.append(f"{six};{six_cp};{ref};Z8;19;{day};M1;Client Test;0600000000")
        else:
            lines.append(f"{jj};{jj_cp};{ref};206;;{day};;Client Test;0600000000")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    old = time.time() - 120
    os.utime(path, (old, old))
    return refs


def start_batch(config: Path, *args: str) -> subprocess.Popen[str]:
    """``run_batch.py --config CONFIG ARGS`` in the background (its own session)."""
    return subprocess.Popen(
        [sys.executable, str(RUN_BATCH), "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=config.parent,
    )


def wait_for_demands(base_url: str, count: int, timeout_s: float = 60) -> None:
    """Until the simulator holds at least ``count`` demands (the batch is mid-run)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(demands(base_url)) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"moins de {count} demandes après {timeout_s} s")
