"""The business referential: Annexe B (interventions and motifs), Annexe C (index
types), the time-slot codes and the words of OMEGA's codes, read from editable CSV files
in ``config/referential/`` (';'-separated UTF-8 with a header row, see the README.md next
to them), once per directory; a file that cannot be used raises ``ReferentialError``
(French message: file, line, value).

Every rule that depends on the intervention code (motifs, express option, index
sections, slot) is answered here from the data, so the validator holds no code lists.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.config import PathSettings

INTERVENTIONS_FILE = "annexe_b_interventions.csv"
INDEX_TYPES_FILE = "annexe_c_types_index.csv"
SLOTS_FILE = "plages.csv"
CODE_LABELS_FILE = "codes_omega.csv"  # optional: the words of OMEGA's codes

_INTERVENTION_HEADER = (
    "Tableau",
    "CodeLibelleIntervention",
    "LibellePrestation",
    "OptionExpress",
    "IndexObligatoire",
    "CodeMotifIntervention",
    "MotifIntervention",
)
_INDEX_HEADER = ("CodeTypeIndex", "LibelleTypeIndex")
_SLOT_HEADER = ("CodePlage", "LibellePlage", "HeureMin", "HeureMax")
_CODE_LABEL_HEADER = ("Famille", "Code", "Libelle")
_YES_NO = {"oui": True, "non": False}
_OTHER_LABEL = "autre"
_NO_MOTIFS: frozenset[str] = frozenset()
_SLOT_CODE_MAX = 4  # RdvDemande/Plage is Texte4 in the contract


class Category(StrEnum):
    """The three tables of Annexe B, named as the spec names them."""

    SIX_M = "6M non télérelevé"
    SIX_M_TLRV_1M = "6M télérelevé et 1M"
    JJ_JM_MM = "JJ/JM/MM"


class ReferentialError(Exception):
    """A referential file cannot be used; the message says file, line and value (French)."""

    def __init__(self, path: Path, line: int | None, value: str, reason: str) -> None:
        where = f"{path}" if line is None else f"{path}, ligne {line}"
        shown = f" : valeur « {value} »" if value else ""
        super().__init__(f"Référentiel invalide ({where}){shown} : {reason}")
        self.path = path
        self.line = line
        self.value = value
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Motif:
    code: str
    label: str


@dataclass(frozen=True, slots=True)
class Intervention:
    """One code of one Annexe B table, with the motifs that table lists for it."""

    code: str
    label: str
    category: Category
    express_allowed: bool
    index_required: bool
    motifs: tuple[Motif, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    """A time-slot code (``Plage``) with its hour range, ``HH:MM``."""

    code: str
    label: str
    heure_min: str
    heure_max: str


@dataclass(frozen=True, slots=True)
class IndexType:
    code: str
    label: str


class Referential:
    """Read-only view of Annexe B, Annexe C and the slot codes, with indexes per code."""

    def __init__(
        self,
        interventions: Iterable[Intervention],
        slots: Iterable[Slot],
        index_types: Iterable[IndexType],
        code_labels: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        self._code_labels = {(kind, code): label for kind, code, label in code_labels}
        self._by_key: dict[tuple[Category, str], Intervention] = {}
        by_code: dict[str, list[Intervention]] = {}
        for item in interventions:
            self._by_key[(item.category, item.code)] = item
            by_code.setdefault(item.code, []).append(item)
        self._by_code = {code: tuple(items) for code, items in by_code.items()}
        self._couples = {
            category: tuple(
                (item.code, motif.code)
                for item in self._by_key.values()
                if item.category is category
                for motif in (item.motifs or (Motif("", ""),))
            )
            for category in Category
        }
        self._all_couples = frozenset(c for cs in self._couples.values() for c in cs)
        self._motif_labels: dict[tuple[str, str], str] = {}
        self._precision: set[tuple[str, str]] = set()
        for item in self._by_key.values():
            for motif in item.motifs:
                self._motif_labels.setdefault((item.code, motif.code), motif.label)
                if motif.label.strip().casefold() == _OTHER_LABEL:
                    self._precision.add((item.code, motif.code))
        self._motif_codes = {
            code: frozenset(m.code for item in items for m in item.motifs)
            for code, items in self._by_code.items()
        }
        self._express = frozenset(i.code for i in self._by_key.values() if i.express_allowed)
        self._index = frozenset(i.code for i in self._by_key.values() if i.index_required)
        self._slot_codes = frozenset(
            i.code for i in self._by_key.values() if i.category is not Category.JJ_JM_MM
        )
        self.slots: tuple[Slot, ...] = tuple(
            sorted(slots, key=lambda s: (s.heure_min, s.heure_max))
        )
        self._slots = {s.code: s for s in self.slots}
        self.index_types: tuple[IndexType, ...] = tuple(index_types)
        self._index_type_codes = frozenset(t.code for t in self.index_types)

    def code_labels(self, kind: str) -> dict[str, str]:
        """The known codes of ``kind`` (PresenceClient, TypeRetourDialogue, CodeRetour,
        codeErreur, codeMessageOMEGA) with their words."""
        return {code: label for (k, code), label in self._code_labels.items() if k == kind}

    def intervention(self, category: Category, code: str) -> Intervention | None:
        """The code as the given table lists it, or None when that table lacks it."""
        return self._by_key.get((category, code))

    def interventions(self, code: str) -> tuple[Intervention, ...]:
        """The code in every table it appears in (empty when unknown)."""
        return self._by_code.get(code, ())

    def is_known_code(self, code: str) -> bool:
        return code in self._by_code

    def couples(self, category: Category) -> tuple[tuple[str, str], ...]:
        """(code, motif) couples of one table; a code without motifs gives (code, "")."""
        return self._couples[category]

    def all_couples(self) -> frozenset[tuple[str, str]]:
        """Union of the three tables' couples (the offline check)."""
        return self._all_couples

    def motif_label(self, code: str, motif: str) -> str | None:
        return self._motif_labels.get((code, motif))

    def motif_codes(self, code: str) -> frozenset[str]:
        """Motifs of the code over every table it appears in (empty: takes no motif)."""
        return self._motif_codes.get(code, _NO_MOTIFS)

    def precision_required(self, code: str, motif: str) -> bool:
        """True when this code's motif is labelled "Autre" (PrecisionIntervention needed)."""
        return (code, motif) in self._precision

    def express_allowed(self, code: str) -> bool:
        return code in self._express

    def index_required(self, code: str) -> bool:
        """True for "Vérification des données de comptage" (G1, 253)."""
        return code in self._index

    def requires_slot(self, code: str) -> bool:
        """True when the code belongs to a 6M/1M table (a Plage is needed)."""
        return code in self._slot_codes

    def slot(self, code: str) -> Slot | None:
        return self._slots.get(code)

    def is_index_type(self, code: str) -> bool:
        return code in self._index_type_codes

    @staticmethod
    def category_for(frequence_releve: str, telereleve: bool) -> Category:
        """The Annexe B table of a PCE from its reading frequency and remote reading."""
        frequency = frequence_releve.strip().upper()
        if frequency == "6M":
            return Category.SIX_M_TLRV_1M if telereleve else Category.SIX_M
        if frequency == "1M":
            return Category.SIX_M_TLRV_1M
        if frequency in {"JJ", "JM", "MM"}:
            return Category.JJ_JM_MM
        raise ValueError(
            f"Fréquence de relève inconnue : « {frequence_releve} » "
            "(attendu : 6M, 1M, JJ, JM ou MM)"
        )


def default_directory() -> Path:
    """The referential folder of the default settings (``config/referential``)."""
    return PathSettings().referential_dir


def load_referential(directory: Path | None = None) -> Referential:
    """Read the referential files of ``directory`` (once: later calls reuse the result)."""
    return _load(Path(directory or default_directory()).resolve())


@functools.cache
def _load(directory: Path) -> Referential:
    return Referential(
        _read_interventions(directory / INTERVENTIONS_FILE),
        _read_slots(directory / SLOTS_FILE),
        _read_index_types(directory / INDEX_TYPES_FILE),
        _read_code_labels(directory / CODE_LABELS_FILE),
    )


# ---------------------------------------------------------------- file reading


def _rows(path: Path, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """Data rows (line number, stripped cells) of a ';' CSV whose header is ``header``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ReferentialError(path, None, "", "fichier introuvable") from None
    except OSError as exc:
        raise ReferentialError(path, None, "", f"fichier illisible ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # French Excel saves "CSV (séparateur : point-virgule)" in Windows-1252.
        text = raw.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    found = next(reader, None)
    if found is None or tuple(c.strip() for c in found) != header:
        raise ReferentialError(
            path,
            1,
            ";".join(found or []),
            f"en-tête attendu : {';'.join(header)}",
        )
    data_rows = 0
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ReferentialError(
                path,
                line,
                ";".join(cells),
                f"{len(header)} colonnes séparées par « ; » attendues, {len(cells)} trouvées",
            )
        data_rows += 1
        yield line, [c.strip() for c in cells]
    if not data_rows:
        raise ReferentialError(path, None, "", "aucune ligne de données")


def _read_code_labels(path: Path) -> list[tuple[str, str, str]]:
    """(kind, code, label) of ``codes_omega.csv``; none when the file is absent."""
    if not path.exists():
        return []
    return [(kind, code, label) for _, (kind, code, label) in _rows(path, _CODE_LABEL_HEADER)]


def _two_digits(value: str) -> str:
    """Restore the leading zero Excel drops from numeric codes ("4" -> "04")."""
    return value.zfill(2) if value.isdigit() and len(value) == 1 else value


def _yes_no(path: Path, line: int, column: str, value: str) -> bool:
    try:
        return _YES_NO[value.casefold()]
    except KeyError:
        raise ReferentialError(
            path, line, value, f"{column} : « oui » ou « non » attendu"
        ) from None


def _read_interventions(path: Path) -> list[Intervention]:
    heads: dict[tuple[Category, str], tuple[str, bool, bool, int]] = {}
    motifs: dict[tuple[Category, str], list[Motif]] = {}
    for line, (table, code, label, express, index, motif, motif_label) in _rows(
        path, _INTERVENTION_HEADER
    ):
        try:
            category = Category(table)
        except ValueError:
            tables = ", ".join(f"« {c.value} »" for c in Category)
            raise ReferentialError(path, line, table, f"Tableau : {tables} attendu") from None
        code = _two_digits(code)
        if not (code.isascii() and code.isalnum() and 2 <= len(code) <= 3):
            raise ReferentialError(
                path, line, code, "CodeLibelleIntervention : 2 ou 3 lettres ou chiffres attendus"
            )
        if not label:
            raise ReferentialError(path, line, code, "LibellePrestation vide")
        head = (label, _yes_no(path, line, "OptionExpress", express))
        head_full = (*head, _yes_no(path, line, "IndexObligatoire", index), line)
        key = (category, code)
        known = heads.setdefault(key, head_full)
        if known[:3] != head_full[:3]:
            raise ReferentialError(
                path,
                line,
                code,
                "libellé, OptionExpress ou IndexObligatoire différent de la ligne "
                f"{known[3]} pour le même code dans le même tableau",
            )
        listed = motifs.setdefault(key, [])
        motif = _two_digits(motif)
        if not motif:
            if motif_label:
                raise ReferentialError(path, line, motif_label, "motif sans CodeMotifIntervention")
            if listed:
                raise ReferentialError(
                    path, line, code, "ligne sans motif pour un code qui a des motifs"
                )
            if known[3] != line:
                raise ReferentialError(path, line, code, "code en double dans le même tableau")
            continue
        if not (motif.isdigit() and len(motif) == 2):
            raise ReferentialError(path, line, motif, "CodeMotifIntervention : 2 chiffres attendus")
        if not motif_label:
            raise ReferentialError(path, line, motif, "MotifIntervention vide")
        if any(m.code == motif for m in listed):
            raise ReferentialError(path, line, motif, f"motif en double pour le code {code}")
        if not listed and known[3] != line:
            raise ReferentialError(path, line, code, "motif pour un code déclaré sans motif")
        listed.append(Motif(motif, motif_label))
    return [
        Intervention(code, label, category, express, index, tuple(motifs[(category, code)]))
        for (category, code), (label, express, index, _line) in heads.items()
    ]


def _read_index_types(path: Path) -> list[IndexType]:
    result: dict[str, IndexType] = {}
    for line, (code, label) in _rows(path, _INDEX_HEADER):
        code = _two_digits(code)
        if not (code.isdigit() and len(code) == 2):
            raise ReferentialError(path, line, code, "CodeTypeIndex : 2 chiffres attendus")
        if not label:
            raise ReferentialError(path, line, code, "LibelleTypeIndex vide")
        if code in result:
            raise ReferentialError(path, line, code, "CodeTypeIndex en double")
        result[code] = IndexType(code, label)
    return list(result.values())


def _hour(path: Path, line: int, column: str, value: str) -> str:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value)
    if match:
        return f"{int(match[1]):02d}:{match[2]}"
    raise ReferentialError(path, line, value, f"{column} : heure HH:MM attendue (ex. 09:30)")


def _read_slots(path: Path) -> list[Slot]:
    result: dict[str, Slot] = {}
    for line, (code, label, heure_min, heure_max) in _rows(path, _SLOT_HEADER):
        if not (code.isascii() and code.isalnum() and len(code) <= _SLOT_CODE_MAX):
            raise ReferentialError(
                path, line, code, f"CodePlage : 1 à {_SLOT_CODE_MAX} lettres ou chiffres attendus"
            )
        if not label:
            raise ReferentialError(path, line, code, "LibellePlage vide")
        start = _hour(path, line, "HeureMin", heure_min)
        end = _hour(path, line, "HeureMax", heure_max)
        if start >= end:
            raise ReferentialError(
                path, line, f"{heure_min}-{heure_max}", "HeureMin doit précéder HeureMax"
            )
        if code in result:
            raise ReferentialError(path, line, code, "CodePlage en double")
        result[code] = Slot(code, label, start, end)
    return list(result.values())
