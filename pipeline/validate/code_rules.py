"""Rules on the intervention asked for: the Annexe B code, its motif (and the precision
a motif « Autre » requires), and the express option the code may allow.

``CodeRules`` is what the row screen needs to know about one code, looked up once per
file; ``CodeMotifChecker`` decides the exact finding for a value that fails the screen.
Every answer comes from the referential: no code lists here.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.records import Finding
from pipeline.referential import Referential
from pipeline.validate.rule_catalogue import finding

_EXPRESS_VALUES = frozenset({"", "0", "1"})


@dataclass(frozen=True, slots=True)
class CodeRules:
    """What the row rules need to know about one Annexe B code, looked up once."""

    plain_motifs: frozenset[str]  # motifs valid as such ('' for a code without motifs)
    precision: frozenset[str]  # motifs labelled "Autre": PrecisionIntervention required
    requires_slot: bool
    index_required: bool


def code_rules(referential: Referential, code: str) -> CodeRules:
    """The ``CodeRules`` of one Annexe B code."""
    motifs = referential.motif_codes(code)
    return CodeRules(
        plain_motifs=motifs or frozenset({""}),
        precision=frozenset(m for m in motifs if referential.precision_required(code, m)),
        requires_slot=referential.requires_slot(code),
        index_required=referential.index_required(code),
    )


def check_code(code: str, line: int, out: list[Finding]) -> None:
    """Report a code missing from the row or from Annexe B."""
    if not code:
        message = "CodeLibelleIntervention obligatoire : un code de l'Annexe B attendu."
        out.append(finding("CODE_MANQUANT", "CodeLibelleIntervention", code, message, line))
    else:
        message = (
            f"CodeLibelleIntervention « {code} » inconnu : un code de l'Annexe B attendu "
            "(ex. Z8, 34, 206)."
        )
        out.append(finding("CODE_INCONNU", "CodeLibelleIntervention", code, message, line))


class CodeMotifChecker:
    """The motif, precision and express rules of the codes of one referential."""

    def __init__(self, referential: Referential) -> None:
        self._ref = referential
        self.by_code = {
            code: code_rules(referential, code) for code, _ in referential.all_couples()
        }
        self._express_list = ", ".join(
            sorted({c for c, _ in referential.all_couples() if referential.express_allowed(c)})
        )
        self._motif_lists: dict[str, str] = {}

    def _motif_list(self, code: str) -> str:
        listed = self._motif_lists.get(code)
        if listed is None:
            listed = ", ".join(sorted(self._ref.motif_codes(code)))
            self._motif_lists[code] = listed
        return listed

    def check_motif(
        self, code: str, motif: str, precision: str, line: int, out: list[Finding]
    ) -> None:
        """Report the motif of a known code (missing, forbidden, unknown) or its precision."""
        field = "CodeMotifIntervention"
        allowed = self._ref.motif_codes(code)
        if not allowed:
            if motif:
                label = self._ref.interventions(code)[0].label
                message = (
                    f"CodeMotifIntervention « {motif} » interdit : le code {code} ({label}) "
                    "ne prend pas de motif, laisser vide."
                )
                out.append(finding("MOTIF_INTERDIT", field, motif, message, line))
            return
        if not motif:
            message = (
                f"CodeMotifIntervention obligatoire pour le code {code} : "
                f"un de {self._motif_list(code)} attendu."
            )
            out.append(finding("MOTIF_OBLIGATOIRE", field, motif, message, line))
            return
        if motif not in allowed:
            message = (
                f"CodeMotifIntervention « {motif} » non prévu pour le code {code} : "
                f"un de {self._motif_list(code)} attendu."
            )
            out.append(finding("MOTIF_INCONNU", field, motif, message, line))
            return
        if not precision and self._ref.precision_required(code, motif):
            message = (
                f"PrecisionIntervention obligatoire avec le motif {motif} « Autre » du code "
                f"{code} : décrire l'intervention demandée."
            )
            out.append(
                finding("PRECISION_OBLIGATOIRE", "PrecisionIntervention", precision, message, line)
            )

    def check_express(self, code: str, express: str, line: int, out: list[Finding]) -> None:
        """Report an OptionExpress other than ''/0/1, or 1 for a code without express."""
        if express not in _EXPRESS_VALUES:
            message = f"OptionExpress « {express} » invalide : vide, 0 ou 1 attendu."
            out.append(finding("EXPRESS_VALEUR", "OptionExpress", express, message, line))
        elif express == "1" and code and not self._ref.express_allowed(code):
            message = (
                f"OptionExpress « 1 » non autorisée pour le code {code} : l'option express "
                f"n'existe que pour {self._express_list} (laisser vide ou 0)."
            )
            out.append(finding("EXPRESS_INTERDIT", "OptionExpress", express, message, line))
