"""The simulator's PCE referential: a ';'-separated UTF-8 file, one PCE per line.

Required columns ``NumeroPCE;CodePostal;FrequenceReleve;Telereleve;NumeroCAD``;
optional ``RdvElec`` (0 to 3 electricity appointments already taken in the same
premises, empty = 0), ``Departement`` (the PCE's department when its postal code's
range is not enough: two digits, 2A, 2B or a three-digit overseas one; empty = from
the postal code), ``Reponse`` (the answer CreerDemandeDIT gives for this PCE, for tests
and QA: empty = the normal dialogue, ``dialogue-interrompu``, ``relance`` or
``message:<codeMessageOMEGA>``, see :data:`RESPONSES`) and ``Commentaire`` (free text
for people, ignored).
Any other column is refused so that a typo in a header cannot go unnoticed.
Every problem is reported in French with the file, the line, the field and the value.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import ConfigError

REQUIRED_COLUMNS: tuple[str, ...] = (
    "NumeroPCE",
    "CodePostal",
    "FrequenceReleve",
    "Telereleve",
    "NumeroCAD",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("RdvElec", "Departement", "Reponse", "Commentaire")
# Reponse column: the Annexe A answer CreerDemandeDIT gives for the PCE (the demand is
# recorded in every case, as OMEGA records it before answering).
RESPONSES: dict[str, str] = {
    "dialogue-interrompu": "A / DmdKo « Dialogue interrompu suite à un problème technique… »",
    "relance": "T / DmdOk « Votre demande a été prise en compte » (opération de relance)",
    "message:": "P / Message « …analyser le message lié au code suivant : » + le code donné",
}
FREQUENCES: tuple[str, ...] = ("6M", "1M", "JJ", "JM", "MM")
MAX_RDV_ELEC = 3
MAX_REPORTED_ERRORS = 20

_PCE_RE = re.compile(r"(?:[0-9]{14}|GI[0-9]{6})")
_POSTAL_RE = re.compile(r"[0-9]{5}")
_DEPARTEMENT_RE = re.compile(r"(?:[0-9]{2,3}|2A|2B)")
_MESSAGE_CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


class PceFileError(ConfigError):
    """The PCE file cannot be used; ``errors`` holds one French message per problem."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        shown = list(self.errors[:MAX_REPORTED_ERRORS])
        if len(self.errors) > MAX_REPORTED_ERRORS:
            shown.append(f"... et {len(self.errors) - MAX_REPORTED_ERRORS} autre(s) erreur(s)")
        super().__init__("\n".join(shown))


@dataclass(frozen=True, slots=True)
class Pce:
    """One PCE known to the simulator, with its holder (NumeroCAD) and reading frequency."""

    numero: str
    code_postal: str
    frequence_releve: str
    telereleve: bool
    numero_cad: str
    rdv_elec: int = 0
    departement_declare: str = ""  # the Departement column, when the file states it
    reponse: str = ""  # the Reponse column: the forced CreerDemandeDIT answer

    @property
    def departement(self) -> str:
        return self.departement_declare or departement(self.code_postal)


def departement(code_postal: str) -> str:
    """The department a postal code belongs to: its first two characters, except in
    Corsica, whose postal codes all start with 20: 200xx and 201xx are Corse-du-Sud
    (2A), 202xx to 206xx Haute-Corse (2B). A code written 2A…/2B… is read as such."""
    code = code_postal.strip().upper()
    dep = code[:2]
    if dep == "20" and code[2:3].isdigit():
        return "2A" if code[2] in "01" else "2B" if code[2] in "23456" else "20"
    return dep


def load_pce_file(path: Path) -> dict[str, Pce]:
    """Read and check the PCE file; raise :class:`PceFileError` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise PceFileError([f"Fichier des PCE introuvable : {path}"]) from exc
    except UnicodeDecodeError as exc:
        raise PceFileError([f"Fichier des PCE {path} : encodage invalide (UTF-8 attendu)"]) from exc
    except OSError as exc:
        raise PceFileError([f"Fichier des PCE illisible : {path} ({exc})"]) from exc
    return parse_pce_lines(text.splitlines(), source=str(path))


def parse_pce_lines(lines: Iterable[str], *, source: str) -> dict[str, Pce]:
    """Parse the lines of a PCE file (header first); ``source`` names it in messages."""
    rows = list(csv.reader(lines, delimiter=";"))
    errors: list[str] = []
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise PceFileError([f"Fichier des PCE {source} : ligne 1 : en-tête absent"])
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    doubled = sorted({c for c in header if header.count(c) > 1})
    if missing:
        errors.append(
            f"Fichier des PCE {source} : ligne 1 : colonne(s) obligatoire(s) absente(s) : "
            + ", ".join(missing)
        )
    if unknown:
        errors.append(
            f"Fichier des PCE {source} : ligne 1 : colonne(s) inconnue(s) : "
            + ", ".join(repr(c) for c in unknown)
            + f" (attendu : {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})"
        )
    if doubled:
        errors.append(
            f"Fichier des PCE {source} : ligne 1 : colonne(s) en double : " + ", ".join(doubled)
        )
    if errors:
        raise PceFileError(errors)

    pces: dict[str, Pce] = {}
    for line_no, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            errors.append(
                f"Fichier des PCE {source} : ligne {line_no} : {len(cells)} valeurs pour "
                f"{len(header)} colonnes"
            )
            continue
        values = {name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(header)}
        pce = _parse_row(values, line_no, source, errors)
        if pce is None:
            continue
        if pce.numero in pces:
            errors.append(
                f"Fichier des PCE {source} : ligne {line_no} : champ NumeroPCE : "
                f"valeur {pce.numero!r} déjà présente plus haut dans le fichier"
            )
            continue
        pces[pce.numero] = pce
    if errors:
        raise PceFileError(errors)
    return pces


def _parse_row(values: dict[str, str], line_no: int, source: str, errors: list[str]) -> Pce | None:
    before = len(errors)

    def fault(field: str, why: str) -> None:
        errors.append(
            f"Fichier des PCE {source} : ligne {line_no} : champ {field} : "
            f"valeur {values.get(field, '')!r} {why}"
        )

    numero = values["NumeroPCE"]
    if not _PCE_RE.fullmatch(numero):
        fault("NumeroPCE", "invalide (14 chiffres ou GI suivi de 6 chiffres attendus)")
    code_postal = values["CodePostal"]
    if not _POSTAL_RE.fullmatch(code_postal):
        fault("CodePostal", "invalide (5 chiffres attendus)")
    frequence = values["FrequenceReleve"].upper()
    if frequence not in FREQUENCES:
        fault("FrequenceReleve", f"inconnue (attendu : {', '.join(FREQUENCES)})")
    telereleve = values["Telereleve"]
    if telereleve not in ("0", "1"):
        fault("Telereleve", "invalide (attendu : 0 ou 1)")
    numero_cad = values["NumeroCAD"]
    if not numero_cad:
        fault("NumeroCAD", "vide (le CAD titulaire du PCE est obligatoire)")
    rdv_text = values.get("RdvElec", "")
    rdv_elec = 0
    if rdv_text:
        if rdv_text.isdigit() and int(rdv_text) <= MAX_RDV_ELEC:
            rdv_elec = int(rdv_text)
        else:
            fault("RdvElec", f"invalide (nombre entier de 0 à {MAX_RDV_ELEC} attendu)")
    declared = values.get("Departement", "").upper()
    if declared and not _DEPARTEMENT_RE.fullmatch(declared):
        fault("Departement", "invalide (2 chiffres, 2A, 2B ou 3 chiffres attendus, ou vide)")
    reponse = values.get("Reponse", "")
    code = reponse.removeprefix("message:")
    if (
        reponse
        and reponse not in RESPONSES
        and not (reponse.startswith("message:") and _MESSAGE_CODE_RE.fullmatch(code))
    ):
        fault("Reponse", "inconnue (attendu : vide, dialogue-interrompu, relance ou message:CODE)")
    if len(errors) > before:
        return None
    return Pce(
        numero,
        code_postal,
        frequence,
        telereleve == "1",
        numero_cad,
        rdv_elec,
        departement_declare=declared,
        reponse=reponse,
    )
