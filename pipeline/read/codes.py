"""Codes typed loosely: ``z8``, ``m2``, `` 2 06`` are read as ``Z8``, ``M2``, ``206``.

The referential's codes (intervention, motif, slot, index type) are upper-case letters
and digits without spaces, so a code typed in lower case or with stray spaces can only
mean its upper-case, space-free form: it is read that way, with a CODE_NORMALISE
warning that shows both, never silently.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.read.rules import ReadRule
from pipeline.records import Finding, Severity

CODE_FIELDS = frozenset(
    {"CodeLibelleIntervention", "CodeMotifIntervention", "PlageRdv", "TypeIndexConteste"}
)


def normalise_codes(
    column: Sequence[str],
    field: str,
    header: str,
    lines: Sequence[int],
    findings: Sequence[list[Finding]],
) -> Sequence[str]:
    """The column with each code upper-cased and without spaces; a warning per change."""
    joined = "".join(column)
    if joined == joined.upper() and not any(c.isspace() for c in joined):
        return column  # the common case: every code already as the referential has it
    fixed = list(column)
    for r, value in enumerate(column):
        code = "".join(value.split()).upper()
        if code != value:
            fixed[r] = code
            findings[r].append(
                Finding(
                    ReadRule.CODE_NORMALISE,
                    Severity.WARNING,
                    field,
                    value,
                    f"Ligne {lines[r]}, colonne « {header} » : « {value} » lu « {code} » "
                    "(codes en majuscules, sans espaces)",
                    lines[r],
                )
            )
    return fixed
