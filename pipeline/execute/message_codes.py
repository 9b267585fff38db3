"""The meanings of OMEGA's codeMessageOMEGA, and reading the code out of an answer.

Annexe A appends a codeMessageOMEGA to some messages (« …pour poursuivre analyser le
message lié au code suivant : » + code, or the DmdOkDD variant « …pour confirmer le
rendez-vous : » + code). The codes are listed in GRDF's « Guide d'implémentation des
Web Services », which is not public: the supplier copies them into
``config/referential/codes_message_omega.csv`` (``CodeMessageOMEGA;Signification``,
shipped empty). A code with a meaning there is shown with it; any other code is shown
as it came, saying where to add its meaning.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.config import ConfigError

MESSAGE_CODES_FILE = "codes_message_omega.csv"
HEADER = ("CodeMessageOMEGA", "Signification")
_CODE_MARKERS = ("lié au code suivant :", "pour confirmer le rendez-vous :")


def load_message_codes(directory: Path) -> Mapping[str, str]:
    """The code -> meaning table of ``directory`` (empty when the file is absent)."""
    path = directory / MESSAGE_CODES_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Référentiel : {path} illisible ({exc})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # saved by Excel
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        raise ConfigError(f"Référentiel : {path} ligne 1 : en-tête « {';'.join(HEADER)} » attendu")
    meanings: dict[str, str] = {}
    for line, cells in enumerate(rows[1:], start=2):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            raise ConfigError(
                f"Référentiel : {path} ligne {line} : un code et sa signification attendus"
            )
        if cells[0] in meanings:
            raise ConfigError(f"Référentiel : {path} ligne {line} : code {cells[0]} en double")
        meanings[cells[0]] = cells[1]
    return meanings


def message_code(messages: Sequence[str]) -> str:
    """The codeMessageOMEGA an answer's messages carry ('' when none)."""
    for message in messages:
        for marker in _CODE_MARKERS:
            _, found, code = message.partition(marker)
            if found and code.strip():
                return code.strip()
    return ""


def describe_code(code: str, meanings: Mapping[str, str]) -> str:
    """« code OMEGA X : meaning », or where to record the meaning when it is unknown."""
    meaning = meanings.get(code)
    if meaning:
        return f"code OMEGA {code} : {meaning}"
    return (
        f"code OMEGA {code} (signification non renseignée : l'ajouter à "
        f"config/referential/{MESSAGE_CODES_FILE} depuis le guide d'implémentation GRDF)"
    )
