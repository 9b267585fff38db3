"""Speed of the validator alone: 100 000 typical rows (python bench/bench_validator.py).

Rows are built in memory first (not timed); then ``FileValidator.check`` and
``cleaned_values`` run over all of them, best CPU time of ``REPEAT`` runs with a
fresh validator each time (the machine may be shared). Rows read from a file cost
a little more per row (fresh strings to hash): ``bench/read_validate.py`` measures
that path.
"""

from __future__ import annotations

import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.records import CANONICAL_FIELDS, RequestRow
from pipeline.referential import load_referential
from pipeline.validate import FileValidator

ROWS = 100_000
REPEAT = 5


def make_rows(count: int) -> list[RequestRow]:
    """Rows cycling over a 6M code with motif, a precision, an index check and a JJ code."""
    kinds = [
        {"CodeLibelleIntervention": "Z8", "CodeMotifIntervention": "19", "PlageRdv": "M1"},
        {
            "CodeLibelleIntervention": "35",
            "CodeMotifIntervention": "01",
            "PrecisionIntervention": "Compteur bruyant",
            "PlageRdv": "A2",
        },
        {
            "CodeLibelleIntervention": "G1",
            "PlageRdv": "M3",
            "TypeIndexConteste": "02",
            "ValeurIndexReleve": "12345",
            "DateIndexConteste": "2025-01-01",
            "ValeurIndexClient": "12000",
            "DateIndexClient": "2025-01-02",
        },
        {"CodeLibelleIntervention": "206"},
    ]
    rows = []
    for i in range(count):
        values = dict.fromkeys(CANONICAL_FIELDS, "")
        values.update(
            NumeroPCE=f"{i:014d}",
            CodePostal="75001",
            ReferenceDemande=f"REF-{i}",
            DateRdv=f"2025-06-{1 + i % 28:02d}",
            NomContact="Jean Dupont",
            TelephoneContact="06 12 34 56 78" if i % 2 else "0612345678",
        )
        values.update(kinds[i % len(kinds)])
        rows.append(RequestRow(i + 2, tuple(values.values()), values))
    return rows


def main() -> None:
    rows = make_rows(ROWS)
    referential = load_referential()
    checking = cleaning = float("inf")
    findings = 0
    for _ in range(REPEAT):
        validator = FileValidator(referential, today=datetime.date(2025, 5, 1), version="V9")
        start = time.process_time()
        findings = sum(len(validator.check(row)) for row in rows)
        checking = min(checking, time.process_time() - start)
        start = time.process_time()
        for row in rows:
            validator.cleaned_values(row)
        cleaning = min(cleaning, time.process_time() - start)
    print(
        f"{ROWS} lignes, meilleur de {REPEAT} (temps CPU) : check {checking:.2f} s "
        f"({checking / ROWS * 1e6:.1f} µs/ligne, {findings} constats) ; "
        f"cleaned_values {cleaning:.2f} s ({cleaning / ROWS * 1e6:.1f} µs/ligne)"
    )


if __name__ == "__main__":
    main()
