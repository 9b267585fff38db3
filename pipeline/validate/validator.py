"""Offline validation of input rows before anything is sent to OMEGA (pure, no I/O).

``FileValidator.check(row)`` returns the findings of one row; the validator is
stateful per file (it remembers earlier rows' ReferenceDemande and request
signatures), so use one instance per input file and feed the rows in order. It does
not touch ``row.findings``: the caller appends what it gets.

``FileValidator.cleaned_values(row)`` gives the values to send: the contact phone
without spaces, dots and dashes (NumeroVersion >= V8), no PlageRdv for a JJ/JM/MM
code (taken at the requested date), and the free-text fields without line breaks, tabs
or invisible format characters (``text_rules``). Everything else is sent as read.

Every code-dependent rule asks the referential (Annexe B/C, slots): no code lists here.
Rule codes are stable; ``RULES`` maps each to its French description and
``rules_markdown()`` renders the table of docs/validation.md (both in
``rule_catalogue``).

``check`` holds the inline screen of every rule; the exact findings are decided by the
rule families, one module each: ``identity_rules`` (PCE, postal code, example row,
duplicates across rows), ``code_rules`` (code, motif, precision, express),
``index_rules``, ``appointment_rules`` (DateRdv, PlageRdv, with the date parser of
``dates``), ``contact_rules`` (phone), ``text_rules`` (control and invisible
characters) and ``length_rules`` (lengths, voucher, supplier comment).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from operator import gt, itemgetter

from pipeline.records import CANONICAL_FIELDS, EXAMPLE_REFERENCE, Finding, RequestRow
from pipeline.referential import Referential
from pipeline.validate.appointment_rules import AppointmentChecker
from pipeline.validate.code_rules import CodeMotifChecker, check_code
from pipeline.validate.contact_rules import check_phone, strip_separators
from pipeline.validate.dates import StrictDates
from pipeline.validate.identity_rules import (
    check_pce,
    check_postal,
    duplicate_reference,
    duplicate_request,
    example_row,
)
from pipeline.validate.index_rules import INDEX_FIELDS, IndexChecker
from pipeline.validate.length_rules import LengthChecker, check_supplier_comment
from pipeline.validate.text_rules import check_characters, cleaned_free_text, is_plain

# check() reads a row's values as one tuple in CANONICAL_FIELDS order, then picks
# fields by position (no hashing): the fields it unpacks, and the index fields.
_ALL_VALUES = itemgetter(*CANONICAL_FIELDS)
_POSITION = {name: i for i, name in enumerate(CANONICAL_FIELDS)}
_USED_FIELDS = itemgetter(
    *(
        _POSITION[name]
        for name in (
            "NumeroPCE",
            "CodePostal",
            "ReferenceDemande",
            "CommentaireFournisseur",
            "CodeLibelleIntervention",
            "CodeMotifIntervention",
            "OptionExpress",
            "PrecisionIntervention",
            "DateRdv",
            "PlageRdv",
            "TelephoneContact",
        )
    )
)
_INDEX_VALUES = itemgetter(*(_POSITION[name] for name in INDEX_FIELDS))
_NO_INDEX = ("",) * len(INDEX_FIELDS)
_EMPTY_ROW = dict.fromkeys(CANONICAL_FIELDS, "")


class FileValidator:
    """Checks the rows of one input file against the spec's rules and the referential."""

    def __init__(
        self,
        referential: Referential,
        *,
        today: datetime.date,
        version: str,
        max_lengths: Mapping[str, int] | None = None,
    ) -> None:
        try:
            self._digits_only_phone = int(version.strip().upper().removeprefix("V")) >= 8
        except ValueError:
            raise ValueError(f"NumeroVersion « {version} » invalide (attendu : V6 à V9)") from None
        # The rule families; check() tests inline what their screens need.
        self._length_checker = LengthChecker(max_lengths)
        self._plain_limits = self._length_checker.plain_limits
        self._code_checker = CodeMotifChecker(referential)
        self._codes = self._code_checker.by_code
        dates = StrictDates()  # one date memo for DateRdv and the index dates
        self._index_checker = IndexChecker(referential, today, dates)
        self._appointments = AppointmentChecker(referential, today, dates)
        self._slot_codes = self._appointments.slot_codes
        self._good_dates = self._appointments.good_dates  # DateRdv values already found fine
        # The per-file memory of the cross-row rules.
        self._references: dict[str, int] = {}
        self._signatures: dict[tuple[str, str, str, str], int] = {}

    # ------------------------------------------------------------------ public

    def check(self, row: RequestRow) -> list[Finding]:
        """Findings of one row (in field order); remembers the row for the duplicate rules.

        Each rule first runs an inline test that a plain value passes (one lookup or a
        few ``str`` methods); only a value that fails it goes through the rule's
        function (in its rule family module), which decides the exact finding. A row
        without findings costs no method call.
        """
        values = row.values
        if tuple(values) == CANONICAL_FIELDS:  # the reader's dict: read it in order
            every = tuple(values.values())
        else:
            try:
                every = _ALL_VALUES(values)
            except KeyError:  # the reader gives every canonical field; be lenient anyway
                values = {**_EMPTY_ROW, **values}
                every = _ALL_VALUES(values)
        fields = _USED_FIELDS(every)
        pce, postal, reference, supplier_comment, code, motif = fields[:6]
        express, precision, date_rdv, plage, phone = fields[6:]
        line = row.line
        out: list[Finding] = []

        if not (len(pce) == 14 and pce.isdigit() and pce.isascii()):
            check_pce(pce, line, out)
        if postal and not (len(postal) == 5 and postal.isdigit() and postal.isascii()):
            check_postal(postal, line, out)
        if reference:
            first = self._references.setdefault(reference, line)
            if first != line:
                duplicate_reference(reference, first, line, out)
            if reference == EXAMPLE_REFERENCE:
                example_row(reference, line, out)
        if supplier_comment:
            check_supplier_comment(supplier_comment, line, out)
        rules = self._codes.get(code)
        if rules is None:
            check_code(code, line, out)
        elif motif not in rules.plain_motifs or (not precision and motif in rules.precision):
            self._code_checker.check_motif(code, motif, precision, line, out)
        known = code if rules is not None else ""  # unknown: code-dependent rules skip
        if express and express != "0":
            self._code_checker.check_express(known, express, line, out)
        if (rules is not None and rules.index_required) or _INDEX_VALUES(every) != _NO_INDEX:
            self._index_checker.check(known, values, line, out)
        if date_rdv not in self._good_dates:
            self._appointments.check_date_rdv(date_rdv, line, out)
        if rules is not None and not rules.requires_slot:
            if plage:
                self._appointments.check_slot(known, plage, line, out)
        elif plage not in self._slot_codes:
            self._appointments.check_slot(known, plage, line, out)
        if phone and not (phone.isdigit() and phone.isascii()):
            phone = check_phone(phone, self._digits_only_phone, line, out)
        if not is_plain(every):
            check_characters(values, line, out)
        getter, limits = self._plain_limits
        if any(map(gt, map(len, getter(every)), limits)):
            self._length_checker.check(values, phone, line, out)
        if pce and code:
            key = (pce, code, motif, date_rdv)
            first = self._signatures.setdefault(key, line)
            if first != line:
                duplicate_request(key, first, line, out)
        return out

    def finish(self) -> list[Finding]:
        """Cross-row findings left at the end of the file: none (check() reports them)."""
        return []

    def cleaned_values(self, row: RequestRow) -> dict[str, str]:
        """The values to send for this row (phone cleaned, JJ/JM/MM slot dropped)."""
        values = dict(row.values)
        phone = values.get("TelephoneContact", "")
        if phone and self._digits_only_phone and not phone.isdigit():
            values["TelephoneContact"] = strip_separators(phone)
        rules = self._codes.get(values.get("CodeLibelleIntervention", ""))
        if rules is not None and not rules.requires_slot:
            values["PlageRdv"] = ""
        cleaned_free_text(values)
        return values


Validator = FileValidator
