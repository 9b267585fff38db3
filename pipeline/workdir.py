"""``dit-batch init DIR``: a working folder laid out from the shipped defaults (settings,
referential, simulator fixture, the sample), so that an installed ``dit-batch`` runs
outside the checkout. Never replaces a file that exists.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipeline.config import DEFAULTS_DIR, SAMPLE_FILE


def lay_out_workdir(target: Path) -> list[tuple[Path, bool]]:
    """Lay out a working folder: ``config/`` (settings, referential, simulator fixture,
    copied from the shipped defaults), ``input/`` (with the sample, dated two minutes
    back so that the next run takes it), ``output/``, ``archive/`` and ``samples/``.

    Returns each path with True when created, False when it already existed: nothing
    that exists is ever replaced.
    """
    done: list[tuple[Path, bool]] = []
    copies = [
        (src, target / "config" / src.relative_to(DEFAULTS_DIR))
        for src in sorted(DEFAULTS_DIR.rglob("*"))
        if src.is_file() and src.suffix in (".toml", ".csv", ".md") and "__" not in src.name
    ]
    copies += [
        (SAMPLE_FILE, target / "samples" / SAMPLE_FILE.name),
        (SAMPLE_FILE, target / "input" / SAMPLE_FILE.name),
    ]
    for folder in ("input", "output", "archive"):
        path = target / folder
        done.append((path, not path.exists()))
        path.mkdir(parents=True, exist_ok=True)
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            with dst.open("xb") as out:  # never replaces a file
                out.write(src.read_bytes())
        except FileExistsError:
            done.append((dst, False))
            continue
        done.append((dst, True))
        if dst.parent.name == "input":
            settled = time.time() - 120  # older than [input] stable_after_s
            os.utime(dst, (settled, settled))
    return done
