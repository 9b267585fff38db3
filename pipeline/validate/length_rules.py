"""Rules on what OMEGA keeps of a row's text: values longer than the contract allows
(LONGUEUR), text the technician's voucher truncates (TRONCATURE_BON), and the supplier
comment OMEGA does not record (COMMENTAIRE_NON_CONSERVE).

``LengthChecker.plain_limits`` is the one screen the row check runs inline for both
the contract and the voucher limits; ``LengthChecker.check`` runs only when it fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import gt, itemgetter
from typing import Any

from pipeline.contract import field_max_lengths
from pipeline.records import CANONICAL_FIELDS, Finding
from pipeline.validate.rule_catalogue import finding

# Canonical field -> element name in the contract, where they differ.
_CONTRACT_NAMES = {
    "NomContact": "Nom",
    "TelephoneContact": "Telephone",
    "TypeIndexConteste": "TypeIndex",
    "DateRdv": "Date",
    "PlageRdv": "Plage",
}
# What the technician's voucher keeps of the contact (READING.md, ObservationDisco).
_VOUCHER_LIMITS = (
    ("NomContact", 15),
    ("CodeAcces", 5),
    ("ComplementAdresse", 60),
    ("PrecisionIntervention", 20),
)
_POSITION = {name: i for i, name in enumerate(CANONICAL_FIELDS)}

# (getter of some fields' values, their limits): what _fits compares in one C-level
# pass. The getter takes a row's values mapping, or (by_position) their tuple in
# CANONICAL_FIELDS order.
LengthScreen = tuple[Callable[[Any], tuple[str, ...]], tuple[int, ...]]


def _length_screen(limits: tuple[tuple[str, int], ...], *, by_position: bool) -> LengthScreen:
    # itemgetter of one key returns a bare value: add a sentinel entry with an
    # unbounded limit so it always returns a tuple.
    names = [name for name, _ in limits] or ["NumeroPCE"]
    keys = [_POSITION[name] for name in names] if by_position else names
    return itemgetter(*keys, keys[0]), (*(limit for _, limit in limits), 1 << 30, 1 << 30)


def _fits(values: Mapping[str, str], screen: LengthScreen) -> bool:
    """True when no value exceeds its limit (checked in C, without a Python loop)."""
    getter, limits = screen
    try:
        found = getter(values)
    except KeyError:
        return False  # a field is absent from values: let the slow path look
    return not any(map(gt, map(len, found), limits))


class LengthChecker:
    """The contract and voucher length rules, for the contract's field lengths."""

    def __init__(self, max_lengths: Mapping[str, int] | None = None) -> None:
        lengths = field_max_lengths() if max_lengths is None else max_lengths
        self._lengths = tuple(
            (name, lengths[_CONTRACT_NAMES.get(name, name)])
            for name in CANONICAL_FIELDS
            if _CONTRACT_NAMES.get(name, name) in lengths
        )
        self._contract_limits = _length_screen(self._lengths, by_position=False)
        # A value within both its contract length and its voucher limit needs neither
        # the LONGUEUR nor the TRONCATURE_BON rule: one screen for both.
        plain = dict(self._lengths)
        for name, limit in _VOUCHER_LIMITS:
            plain[name] = min(limit, plain.get(name, limit))
        self.plain_limits = _length_screen(tuple(plain.items()), by_position=True)

    def check(self, values: Mapping[str, str], phone: str, line: int, out: list[Finding]) -> None:
        """Report the values too long for the contract or truncated on the voucher.

        ``phone`` is the contact phone as it would be sent (cleaned); a field that
        already has a finding in ``out`` gets no LONGUEUR/TRONCATURE_BON on top.
        """
        reported: set[str] = set()
        if not _fits(values, self._contract_limits):
            # Slow path, rare: some value is too long (the cleaned phone may fit).
            reported = {f.field for f in out}
            for name, limit in self._lengths:
                value = phone if name == "TelephoneContact" else values.get(name, "")
                if len(value) > limit and name not in reported:
                    reported.add(name)
                    message = f"{name} trop long ({len(value)} caractères) : {limit} au plus."
                    out.append(finding("LONGUEUR", name, value, message, line))
        for name, limit in _VOUCHER_LIMITS:
            value = values.get(name, "")
            if len(value) > limit and name not in reported:
                message = (
                    f"{name} ({len(value)} caractères) sera tronqué à {limit} caractères "
                    f"sur le bon d'intervention du technicien : « {value[:limit]} »."
                )
                out.append(finding("TRONCATURE_BON", name, value, message, line))


def check_supplier_comment(comment: str, line: int, out: list[Finding]) -> None:
    """Report a CommentaireFournisseur: OMEGA does not record it."""
    message = (
        "CommentaireFournisseur n'est pas enregistré par OMEGA : utiliser plutôt "
        "Commentaire ou ReferenceDemande pour le suivi."
    )
    out.append(
        finding("COMMENTAIRE_NON_CONSERVE", "CommentaireFournisseur", comment, message, line)
    )
