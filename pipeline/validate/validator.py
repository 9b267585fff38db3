"""Offline validation of input rows before anything is sent to OMEGA (pure, no I/O).

``FileValidator.check(row)`` returns the findings of one row; the validator is
stateful per file (it remembers earlier rows' ReferenceDemande and request
signatures), so use one instance per input file and feed the rows in order. It does
not touch ``row.findings``: the caller appends what it gets.

``FileValidator.cleaned_values(row)`` gives the values to send: the contact phone
without spaces, dots and dashes (NumeroVersion >= V8) and no PlageRdv for a JJ/JM/MM
code (taken at the requested date). Everything else is sent as read.

Every code-dependent rule asks the referential (Annexe B/C, slots): no code lists here.
Rule codes are stable; ``RULES`` maps each to its French description and
``rules_markdown()`` renders the table of docs/validation.md.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import gt, itemgetter
from typing import Any

from pipeline.contract import field_max_lengths
from pipeline.records import CANONICAL_FIELDS, EXAMPLE_REFERENCE, Finding, RequestRow, Severity
from pipeline.referential import Referential


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule code means: its severity, the field it looks at, a French description."""

    code: str
    severity: Severity
    field: str
    description: str


_E, _W = Severity.ERROR, Severity.WARNING
_INDEX = "TypeIndexConteste, ValeurIndexReleve, DateIndexConteste, ValeurIndexClient, "
_INDEX += "DateIndexClient"
RULE_INFO: Mapping[str, RuleInfo] = {
    info.code: info
    for info in (
        RuleInfo("PCE_MANQUANT", _E, "NumeroPCE", "Le numéro de PCE est obligatoire."),
        RuleInfo(
            "PCE_FORMAT", _E, "NumeroPCE", "Le PCE a 14 chiffres, ou « GI » suivi de 6 chiffres."
        ),
        RuleInfo(
            "CP_FORMAT", _E, "CodePostal", "Le code postal, facultatif, a 5 chiffres (Corse : 20…)."
        ),
        RuleInfo(
            "CODE_MANQUANT",
            _E,
            "CodeLibelleIntervention",
            "Le code d'intervention est obligatoire.",
        ),
        RuleInfo(
            "CODE_INCONNU",
            _E,
            "CodeLibelleIntervention",
            "Le code d'intervention doit figurer dans l'Annexe B.",
        ),
        RuleInfo(
            "MOTIF_OBLIGATOIRE",
            _E,
            "CodeMotifIntervention",
            "Un code listé avec des motifs exige l'un d'eux.",
        ),
        RuleInfo(
            "MOTIF_INTERDIT",
            _E,
            "CodeMotifIntervention",
            "Un code listé sans motif n'en prend pas : le motif doit être vide.",
        ),
        RuleInfo(
            "MOTIF_INCONNU",
            _E,
            "CodeMotifIntervention",
            "Le motif doit être un motif du code dans l'Annexe B (tous tableaux confondus).",
        ),
        RuleInfo("EXPRESS_VALEUR", _E, "OptionExpress", "L'option express vaut vide, 0 ou 1."),
        RuleInfo(
            "EXPRESS_INTERDIT",
            _E,
            "OptionExpress",
            "L'option express (1) n'est permise que pour les codes cochés en Annexe B.",
        ),
        RuleInfo(
            "PRECISION_OBLIGATOIRE",
            _E,
            "PrecisionIntervention",
            "La précision est obligatoire avec un motif « Autre ».",
        ),
        RuleInfo(
            "INDEX_MANQUANT",
            _E,
            _INDEX,
            "Les sections d'index sont obligatoires pour la vérification des données de "
            "comptage (G1, 253).",
        ),
        RuleInfo(
            "INDEX_TYPE", _E, "TypeIndexConteste", "Le type d'index doit figurer dans l'Annexe C."
        ),
        RuleInfo(
            "INDEX_VALEUR",
            _E,
            "ValeurIndexReleve, ValeurIndexClient",
            "Une valeur d'index s'écrit en chiffres.",
        ),
        RuleInfo(
            "INDEX_DATE",
            _E,
            "DateIndexConteste, DateIndexClient",
            "Une date d'index est une date AAAA-MM-JJ qui n'est pas dans le futur.",
        ),
        RuleInfo("DATE_RDV_MANQUANTE", _E, "DateRdv", "La date de rendez-vous est obligatoire."),
        RuleInfo("DATE_RDV_FORMAT", _E, "DateRdv", "La date de rendez-vous s'écrit AAAA-MM-JJ."),
        RuleInfo(
            "DATE_RDV_PASSEE",
            _E,
            "DateRdv",
            "La date de rendez-vous est la date du jour ou une date ultérieure.",
        ),
        RuleInfo(
            "PLAGE_OBLIGATOIRE",
            _E,
            "PlageRdv",
            "La plage est obligatoire pour un code des tableaux 6M/1M.",
        ),
        RuleInfo(
            "PLAGE_INCONNUE", _E, "PlageRdv", "La plage doit être un code du fichier des plages."
        ),
        RuleInfo(
            "PLAGE_IGNOREE",
            _W,
            "PlageRdv",
            "Un code JJ/JM/MM est pris à la date demandée : la plage n'est pas envoyée.",
        ),
        RuleInfo(
            "TEL_FORMAT",
            _E,
            "TelephoneContact",
            "À partir de la version V8, le téléphone du contact ne contient que des chiffres.",
        ),
        RuleInfo(
            "TEL_NETTOYE",
            _W,
            "TelephoneContact",
            "Espaces, points et tirets du téléphone retirés avant envoi (version V8 et plus).",
        ),
        RuleInfo(
            "LONGUEUR", _E, "(tout champ)", "La valeur dépasse la longueur permise par OMEGA."
        ),
        RuleInfo(
            "TRONCATURE_BON",
            _W,
            "NomContact, CodeAcces, ComplementAdresse, PrecisionIntervention",
            "Le bon d'intervention du technicien tronque ce texte (15, 5, 60 et 20 caractères).",
        ),
        RuleInfo(
            "COMMENTAIRE_NON_CONSERVE",
            _W,
            "CommentaireFournisseur",
            "OMEGA n'enregistre pas le commentaire fournisseur.",
        ),
        RuleInfo(
            "REFERENCE_DOUBLON",
            _E,
            "ReferenceDemande",
            "Une référence de demande déjà utilisée plus haut dans le fichier.",
        ),
        RuleInfo(
            "LIGNE_EXEMPLE",
            _E,
            "ReferenceDemande",
            "La ligne d'exemple du modèle (EXEMPLE-0001) n'est jamais envoyée.",
        ),
        RuleInfo(
            "DEMANDE_DOUBLON",
            _W,
            "NumeroPCE",
            "Même PCE, code, motif et date qu'une ligne précédente du fichier.",
        ),
    )
}
RULES: Mapping[str, str] = {code: info.description for code, info in RULE_INFO.items()}

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
_INDEX_FIELDS = (
    "TypeIndexConteste",
    "ValeurIndexReleve",
    "DateIndexConteste",
    "ValeurIndexClient",
    "DateIndexClient",
)
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
_INDEX_VALUES = itemgetter(*(_POSITION[name] for name in _INDEX_FIELDS))
_NO_INDEX = ("",) * len(_INDEX_FIELDS)
_EMPTY_ROW = dict.fromkeys(CANONICAL_FIELDS, "")
_EXPRESS_VALUES = frozenset({"", "0", "1"})
_BAD_DATE = datetime.date.min
_MEMO_SIZE = 100_000  # bound of the per-file date memos (distinct dates are few)


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
        self._ref = referential
        self._today = today
        try:
            self._digits_only_phone = int(version.strip().upper().removeprefix("V")) >= 8
        except ValueError:
            raise ValueError(f"NumeroVersion « {version} » invalide (attendu : V6 à V9)") from None
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
        self._plain_limits = _length_screen(tuple(plain.items()), by_position=True)
        self._codes = {
            code: _code_rules(referential, code) for code, _ in referential.all_couples()
        }
        self._slot_codes = frozenset(s.code for s in referential.slots if s.code)
        self._slot_list = ", ".join(s.code for s in referential.slots)
        self._index_list = ", ".join(t.code for t in referential.index_types)
        self._express_list = ", ".join(
            sorted({c for c, _ in referential.all_couples() if referential.express_allowed(c)})
        )
        self._dates: dict[str, datetime.date] = {}
        self._good_dates: set[str] = set()  # DateRdv values already found fine
        self._motif_lists: dict[str, str] = {}
        self._references: dict[str, int] = {}
        self._signatures: dict[tuple[str, str, str, str], int] = {}

    # ------------------------------------------------------------------ public

    def check(self, row: RequestRow) -> list[Finding]:
        """Findings of one row (in field order); remembers the row for the duplicate rules.

        Each rule first runs an inline test that a plain value passes (one lookup or a
        few ``str`` methods); only a value that fails it goes through the rule's method,
        which decides the exact finding. A row without findings costs no method call.
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
            self._check_pce(pce, line, out)
        if postal and not (len(postal) == 5 and postal.isdigit() and postal.isascii()):
            self._check_postal(postal, line, out)
        if reference:
            first = self._references.setdefault(reference, line)
            if first != line:
                self._duplicate_reference(reference, first, line, out)
            if reference == EXAMPLE_REFERENCE:
                self._example_row(reference, line, out)
        if supplier_comment:
            self._check_supplier_comment(supplier_comment, line, out)
        rules = self._codes.get(code)
        if rules is None:
            self._check_code(code, line, out)
        elif motif not in rules.plain_motifs or (not precision and motif in rules.precision):
            self._check_motif(code, motif, precision, line, out)
        known = code if rules is not None else ""  # unknown: code-dependent rules skip
        if express and express != "0":
            self._check_express(known, express, line, out)
        if (rules is not None and rules.index_required) or _INDEX_VALUES(every) != _NO_INDEX:
            self._check_index(known, values, line, out)
        if date_rdv not in self._good_dates:
            self._check_date_rdv(date_rdv, line, out)
        if rules is not None and not rules.requires_slot:
            if plage:
                self._check_slot(known, plage, line, out)
        elif plage not in self._slot_codes:
            self._check_slot(known, plage, line, out)
        if phone and not (phone.isdigit() and phone.isascii()):
            phone = self._check_phone(phone, line, out)
        getter, limits = self._plain_limits
        if any(map(gt, map(len, getter(every)), limits)):
            self._check_lengths(values, phone, line, out)
        if pce and code:
            key = (pce, code, motif, date_rdv)
            first = self._signatures.setdefault(key, line)
            if first != line:
                self._duplicate_request(key, first, line, out)
        return out

    def finish(self) -> list[Finding]:
        """Cross-row findings left at the end of the file: none (check() reports them)."""
        return []

    def cleaned_values(self, row: RequestRow) -> dict[str, str]:
        """The values to send for this row (phone cleaned, JJ/JM/MM slot dropped)."""
        values = dict(row.values)
        phone = values.get("TelephoneContact", "")
        if phone and self._digits_only_phone and not phone.isdigit():
            values["TelephoneContact"] = _strip_separators(phone)
        rules = self._codes.get(values.get("CodeLibelleIntervention", ""))
        if rules is not None and not rules.requires_slot:
            values["PlageRdv"] = ""
        return values

    # ------------------------------------------------------------------ rules

    def _check_pce(self, pce: str, line: int, out: list[Finding]) -> None:
        if not pce:
            out.append(
                _finding(
                    "PCE_MANQUANT",
                    "NumeroPCE",
                    pce,
                    "NumeroPCE obligatoire : 14 chiffres, ou « GI » suivi de 6 chiffres.",
                    line,
                )
            )
            return
        if pce.isascii() and (
            (len(pce) == 14 and pce.isdigit())
            or (len(pce) == 8 and pce.startswith("GI") and pce[2:].isdigit())
        ):
            return
        out.append(
            _finding(
                "PCE_FORMAT",
                "NumeroPCE",
                pce,
                f"NumeroPCE « {pce} » invalide : 14 chiffres, ou « GI » suivi de 6 chiffres, "
                "attendus.",
                line,
            )
        )

    def _check_postal(self, postal: str, line: int, out: list[Finding]) -> None:
        message = (
            f"CodePostal « {postal} » invalide : 5 chiffres attendus, ou vide "
            "(Corse : 20xxx, jamais 2A/2B)."
        )
        out.append(_finding("CP_FORMAT", "CodePostal", postal, message, line))

    def _duplicate_reference(
        self, reference: str, first: int, line: int, out: list[Finding]
    ) -> None:
        out.append(
            _finding(
                "REFERENCE_DOUBLON",
                "ReferenceDemande",
                reference,
                f"ReferenceDemande « {reference} » déjà utilisée ligne {first} : "
                "une référence différente par demande attendue.",
                line,
            )
        )

    def _example_row(self, reference: str, line: int, out: list[Finding]) -> None:
        message = (
            f"ReferenceDemande « {reference} » : c'est la ligne d'exemple du modèle, elle "
            "n'est pas envoyée ; la supprimer ou la remplacer par une vraie demande."
        )
        out.append(_finding("LIGNE_EXEMPLE", "ReferenceDemande", reference, message, line))

    def _check_supplier_comment(self, comment: str, line: int, out: list[Finding]) -> None:
        message = (
            "CommentaireFournisseur n'est pas enregistré par OMEGA : utiliser plutôt "
            "Commentaire ou ReferenceDemande pour le suivi."
        )
        out.append(
            _finding("COMMENTAIRE_NON_CONSERVE", "CommentaireFournisseur", comment, message, line)
        )

    def _check_code(self, code: str, line: int, out: list[Finding]) -> None:
        """Report a code missing from the row or from Annexe B."""
        if not code:
            message = "CodeLibelleIntervention obligatoire : un code de l'Annexe B attendu."
            out.append(_finding("CODE_MANQUANT", "CodeLibelleIntervention", code, message, line))
        else:
            message = (
                f"CodeLibelleIntervention « {code} » inconnu : un code de l'Annexe B attendu "
                "(ex. Z8, 34, 206)."
            )
            out.append(_finding("CODE_INCONNU", "CodeLibelleIntervention", code, message, line))

    def _motif_list(self, code: str) -> str:
        listed = self._motif_lists.get(code)
        if listed is None:
            listed = ", ".join(sorted(self._ref.motif_codes(code)))
            self._motif_lists[code] = listed
        return listed

    def _check_motif(
        self, code: str, motif: str, precision: str, line: int, out: list[Finding]
    ) -> None:
        field = "CodeMotifIntervention"
        allowed = self._ref.motif_codes(code)
        if not allowed:
            if motif:
                label = self._ref.interventions(code)[0].label
                message = (
                    f"CodeMotifIntervention « {motif} » interdit : le code {code} ({label}) "
                    "ne prend pas de motif, laisser vide."
                )
                out.append(_finding("MOTIF_INTERDIT", field, motif, message, line))
            return
        if not motif:
            message = (
                f"CodeMotifIntervention obligatoire pour le code {code} : "
                f"un de {self._motif_list(code)} attendu."
            )
            out.append(_finding("MOTIF_OBLIGATOIRE", field, motif, message, line))
            return
        if motif not in allowed:
            message = (
                f"CodeMotifIntervention « {motif} » non prévu pour le code {code} : "
                f"un de {self._motif_list(code)} attendu."
            )
            out.append(_finding("MOTIF_INCONNU", field, motif, message, line))
            return
        if not precision and self._ref.precision_required(code, motif):
            message = (
                f"PrecisionIntervention obligatoire avec le motif {motif} « Autre » du code "
                f"{code} : décrire l'intervention demandée."
            )
            out.append(
                _finding("PRECISION_OBLIGATOIRE", "PrecisionIntervention", precision, message, line)
            )

    def _check_express(self, code: str, express: str, line: int, out: list[Finding]) -> None:
        if express not in _EXPRESS_VALUES:
            message = f"OptionExpress « {express} » invalide : vide, 0 ou 1 attendu."
            out.append(_finding("EXPRESS_VALEUR", "OptionExpress", express, message, line))
        elif express == "1" and code and not self._ref.express_allowed(code):
            message = (
                f"OptionExpress « 1 » non autorisée pour le code {code} : l'option express "
                f"n'existe que pour {self._express_list} (laisser vide ou 0)."
            )
            out.append(_finding("EXPRESS_INTERDIT", "OptionExpress", express, message, line))

    def _check_index(
        self, code: str, values: Mapping[str, str], line: int, out: list[Finding]
    ) -> None:
        get = values.get
        if code and self._ref.index_required(code):
            for name in _INDEX_FIELDS:
                if not get(name, ""):
                    message = (
                        f"{name} obligatoire pour le code {code} (vérification des données "
                        "de comptage : sections IndexConteste et IndexClient complètes)."
                    )
                    out.append(_finding("INDEX_MANQUANT", name, "", message, line))
        kind = get("TypeIndexConteste", "")
        if kind and not self._ref.is_index_type(kind):
            message = (
                f"TypeIndexConteste « {kind} » inconnu : un type de l'Annexe C attendu "
                f"({self._index_list})."
            )
            out.append(_finding("INDEX_TYPE", "TypeIndexConteste", kind, message, line))
        for name in ("ValeurIndexReleve", "ValeurIndexClient"):
            value = get(name, "")
            if value and not (value.isascii() and value.isdigit()):
                message = f"{name} « {value} » invalide : un index en chiffres attendu."
                out.append(_finding("INDEX_VALEUR", name, value, message, line))
        for name in ("DateIndexConteste", "DateIndexClient"):
            value = get(name, "")
            if not value:
                continue
            parsed = self._date(value)
            if parsed is _BAD_DATE:
                message = f"{name} « {value} » invalide : date AAAA-MM-JJ attendue."
            elif parsed > self._today:
                message = (
                    f"{name} « {value} » est dans le futur : date du jour "
                    f"({self._today.isoformat()}) ou antérieure attendue."
                )
            else:
                continue
            out.append(_finding("INDEX_DATE", name, value, message, line))

    def _check_date_rdv(self, value: str, line: int, out: list[Finding]) -> None:
        if not value:
            message = "DateRdv obligatoire : date AAAA-MM-JJ du premier rendez-vous souhaité."
            out.append(_finding("DATE_RDV_MANQUANTE", "DateRdv", value, message, line))
            return
        parsed = self._date(value)
        if parsed is _BAD_DATE:
            message = f"DateRdv « {value} » invalide : date AAAA-MM-JJ attendue (ex. 2025-03-17)."
            out.append(_finding("DATE_RDV_FORMAT", "DateRdv", value, message, line))
        elif parsed < self._today:
            message = (
                f"DateRdv « {value} » est passée : date du jour ({self._today.isoformat()}) "
                "ou ultérieure attendue."
            )
            out.append(_finding("DATE_RDV_PASSEE", "DateRdv", value, message, line))
        elif len(self._good_dates) < _MEMO_SIZE:
            self._good_dates.add(value)

    def _check_slot(self, code: str, plage: str, line: int, out: list[Finding]) -> None:
        if code and not self._ref.requires_slot(code):
            if plage:
                message = (
                    f"PlageRdv « {plage} » ignorée : le code {code} (JJ/JM/MM) est pris à la "
                    "date demandée, sans plage."
                )
                out.append(_finding("PLAGE_IGNOREE", "PlageRdv", plage, message, line))
            return
        if not plage:
            if code:
                message = (
                    f"PlageRdv obligatoire pour le code {code} (PCE 6M ou 1M) : "
                    f"un de {self._slot_list} attendu."
                )
                out.append(_finding("PLAGE_OBLIGATOIRE", "PlageRdv", plage, message, line))
        elif self._ref.slot(plage) is None:
            message = f"PlageRdv « {plage} » inconnue : un de {self._slot_list} attendu."
            out.append(_finding("PLAGE_INCONNUE", "PlageRdv", plage, message, line))

    def _check_phone(self, phone: str, line: int, out: list[Finding]) -> str:
        """Check the contact phone; return the value that would be sent."""
        if not phone or not self._digits_only_phone or (phone.isdigit() and phone.isascii()):
            return phone
        cleaned = _strip_separators(phone)
        if not (cleaned.isascii() and cleaned.isdigit()):
            message = (
                f"TelephoneContact « {phone} » invalide : chiffres uniquement attendus "
                "(NumeroVersion V8 et plus)."
            )
            out.append(_finding("TEL_FORMAT", "TelephoneContact", phone, message, line))
            return phone
        message = (
            f"TelephoneContact « {phone} » : espaces, points et tirets retirés, "
            f"« {cleaned} » sera envoyé."
        )
        out.append(_finding("TEL_NETTOYE", "TelephoneContact", phone, message, line))
        return cleaned

    def _check_lengths(
        self, values: Mapping[str, str], phone: str, line: int, out: list[Finding]
    ) -> None:
        reported: set[str] = set()
        if not _fits(values, self._contract_limits):
            # Slow path, rare: some value is too long (the cleaned phone may fit).
            reported = {f.field for f in out}
            for name, limit in self._lengths:
                value = phone if name == "TelephoneContact" else values.get(name, "")
                if len(value) > limit and name not in reported:
                    reported.add(name)
                    message = f"{name} trop long ({len(value)} caractères) : {limit} au plus."
                    out.append(_finding("LONGUEUR", name, value, message, line))
        for name, limit in _VOUCHER_LIMITS:
            value = values.get(name, "")
            if len(value) > limit and name not in reported:
                message = (
                    f"{name} ({len(value)} caractères) sera tronqué à {limit} caractères "
                    f"sur le bon d'intervention du technicien : « {value[:limit]} »."
                )
                out.append(_finding("TRONCATURE_BON", name, value, message, line))

    def _duplicate_request(
        self, key: tuple[str, str, str, str], first: int, line: int, out: list[Finding]
    ) -> None:
        message = (
            f"Même demande que la ligne {first} (PCE {key[0]}, code {key[1]}, motif et "
            "date identiques) : vérifier qu'il ne s'agit pas d'un doublon."
        )
        out.append(_finding("DEMANDE_DOUBLON", "NumeroPCE", key[0], message, line))

    def _date(self, value: str) -> datetime.date:
        """Parse a strict ``YYYY-MM-DD`` date (memoised); ``_BAD_DATE`` when invalid."""
        parsed = self._dates.get(value)
        if parsed is None:
            parsed = _BAD_DATE
            if len(value) == 10 and value[4] == "-" and value[7] == "-" and value.isascii():
                digits = value[:4] + value[5:7] + value[8:]
                if digits.isdigit():
                    try:
                        parsed = datetime.date.fromisoformat(value)
                    except ValueError:
                        parsed = _BAD_DATE
            if len(self._dates) < _MEMO_SIZE:
                self._dates[value] = parsed
        return parsed


Validator = FileValidator


@dataclass(frozen=True, slots=True)
class _CodeRules:
    """What the row rules need to know about one Annexe B code, looked up once."""

    plain_motifs: frozenset[str]  # motifs valid as such ('' for a code without motifs)
    precision: frozenset[str]  # motifs labelled "Autre": PrecisionIntervention required
    requires_slot: bool
    index_required: bool


def _code_rules(referential: Referential, code: str) -> _CodeRules:
    motifs = referential.motif_codes(code)
    return _CodeRules(
        plain_motifs=motifs or frozenset({""}),
        precision=frozenset(m for m in motifs if referential.precision_required(code, m)),
        requires_slot=referential.requires_slot(code),
        index_required=referential.index_required(code),
    )


# (getter of some fields' values, their limits): what _fits compares in one C-level
# pass. The getter takes a row's values mapping, or (by_position) their tuple in
# CANONICAL_FIELDS order.
_LengthScreen = tuple[Callable[[Any], tuple[str, ...]], tuple[int, ...]]


def _length_screen(limits: tuple[tuple[str, int], ...], *, by_position: bool) -> _LengthScreen:
    # itemgetter of one key returns a bare value: add a sentinel entry with an
    # unbounded limit so it always returns a tuple.
    names = [name for name, _ in limits] or ["NumeroPCE"]
    keys = [_POSITION[name] for name in names] if by_position else names
    return itemgetter(*keys, keys[0]), (*(limit for _, limit in limits), 1 << 30, 1 << 30)


def _fits(values: Mapping[str, str], screen: _LengthScreen) -> bool:
    """True when no value exceeds its limit (checked in C, without a Python loop)."""
    getter, limits = screen
    try:
        found = getter(values)
    except KeyError:
        return False  # a field is absent from values: let the slow path look
    return not any(map(gt, map(len, found), limits))


def _finding(rule: str, field: str, value: str, message: str, line: int) -> Finding:
    return Finding(rule, RULE_INFO[rule].severity, field, value, message, line)


def _strip_separators(phone: str) -> str:
    """The phone without spaces (any kind, non-breaking included), dots and dashes."""
    return "".join(phone.split()).replace(".", "").replace("-", "")


def rules_markdown() -> str:
    """The rule table of docs/validation.md (code, severity, field, description)."""
    lines = ["| Code | Gravité | Champ | Description |", "|---|---|---|---|"]
    for info in RULE_INFO.values():
        lines.append(
            f"| `{info.code}` | {info.severity.value} | {info.field} | {info.description} |"
        )
    return "\n".join(lines) + "\n"
