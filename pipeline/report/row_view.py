"""What one Résultats row says, cell by cell: the result in words, what to do, the moved
appointment, OMEGA's codes with their words, real dates.

Pure functions of a (row, outcome) pair and the referential (the words of OMEGA's codes
come from ``config/referential/codes_omega.csv``); :mod:`pipeline.report.results_book`
writes what they return.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pipeline.records import RequestRow, RowOutcome, Status
from pipeline.referential import Referential, ReferentialError, load_referential
from pipeline.report.layout import MOVED_ADVICE, ROW_ACTION, STATUS_ADVICE

# Input fields that hold a date: written back as real date cells.
DATE_FIELDS = ("DateRdv", "DateIndexConteste", "DateIndexClient")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ISO_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def french_dates(text: str) -> str:
    """ISO dates written in a text become JJ/MM/AAAA, as the business writes them."""
    return _ISO_DATE.sub(r"\3/\2/\1", text) if "-" in text else text


@functools.lru_cache(maxsize=8192)  # a file holds few distinct dates
def as_date(text: str) -> date | str:
    """A real date for an ISO ``AAAA-MM-JJ`` text, else the text unchanged."""
    if len(text) == 10 and _ISO_TEXT.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return text
    return text


@functools.lru_cache(maxsize=8192)  # rows processed in the same second share one
def as_stamp(text: str) -> datetime | str:
    """A real (local, naive) date-time for an ISO time stamp, else the text unchanged."""
    if not text:
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def date_cells(cells: Sequence[str], date_indexes: Iterable[int]) -> list[str | date]:
    """The input's cells, the date columns as real dates where they hold an ISO date."""
    values: list[str | date] = list(cells)
    for index in date_indexes:
        if index < len(values):
            values[index] = as_date(cells[index])
    return values


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w[\w-]*", text.casefold()) if len(w) > 2}


def result_text(row: RequestRow, outcome: RowOutcome, words: CodeWords | None = None) -> str:
    """The Résultat cell: the status in words, and the outcome's explanation once.

    The explanation (``RowOutcome.detail``) replaces the label when it already says
    every word of it ("Rendez-vous programmé le …", "Enregistrée à la date demandée
    (…)"), and is left out for a rejected row whose findings already say why (they are
    in the Anomalies column). A code OMEGA appended (codeErreur) is followed by its words.
    """
    label = outcome.status.label
    detail = french_dates(outcome.detail.strip())
    if not detail or detail == label:
        return label
    if outcome.status is Status.REJET_VALIDATION and row.findings:
        return label
    if words is not None:
        detail = words.decorate(detail)
    if _words(label) - {"demande"} <= _words(detail):
        return detail
    return f"{label}\n{detail}"


def moved_appointment(row: RequestRow, outcome: RowOutcome) -> str:
    """'' when the appointment obtained is the one requested, else what was requested.

    Only an appointment OMEGA programmed can be moved: its date differs from DateRdv, or
    its slot from PlageRdv (a slot the row did not send, JJ/JM/MM, does not count).
    """
    if outcome.status is not Status.RDV_PROGRAMME or not outcome.date_rdv:
        return ""
    asked_day = row.get("DateRdv")
    asked_slot = row.get("PlageRdv").strip().upper()
    if any(f.rule == "PLAGE_IGNOREE" for f in row.findings):
        asked_slot = ""
    day_moved = bool(asked_day) and asked_day != outcome.date_rdv
    slot_moved = bool(asked_slot and outcome.plage_rdv) and asked_slot != outcome.plage_rdv
    if not (day_moved or slot_moved):
        return ""
    asked = french_dates(asked_day) + (f" {asked_slot}" if asked_slot else "")
    what = " et ".join(
        part for part, moved in (("date", day_moved), ("plage", slot_moved)) if moved
    )
    return f"Oui ({what}) : demandé le {asked.strip()}"


def row_action(outcome: RowOutcome, moved: str) -> str:
    """The Que faire cell: one short instruction for this row."""
    if moved:
        obtained = french_dates(outcome.date_rdv)
        slot = f" ({outcome.plage_rdv}, {outcome.heure_min}-{outcome.heure_max})"
        if not outcome.plage_rdv:
            slot = ""
        return (
            f"Prévenir le client : rendez-vous le {obtained}{slot}, pas celui demandé."
            if obtained
            else MOVED_ADVICE
        )
    status = outcome.status
    return ROW_ACTION.get(status) or STATUS_ADVICE.get(status, status.label)


def with_words(code: str, words: str) -> str:
    """``code — words`` when the words are known, the code alone otherwise."""
    return f"{code} — {words}" if code and words else code


@dataclass(frozen=True)
class CodeWords:
    """The words of OMEGA's codes, from the referential (``codes_omega.csv``)."""

    presence: Mapping[str, str]
    dialogue: Mapping[str, str]
    code_retour: Mapping[str, str]
    errors: Mapping[str, str]

    @classmethod
    def of(cls, referential: Referential | None) -> CodeWords:
        if referential is None:
            try:
                referential = load_referential()
            except ReferentialError:
                return cls({}, {}, {}, {})
        errors = {
            **referential.code_labels("codeMessageOMEGA"),
            **referential.code_labels("codeErreur"),
        }
        return cls(
            referential.code_labels("PresenceClient"),
            referential.code_labels("TypeRetourDialogue"),
            referential.code_labels("CodeRetour"),
            errors,
        )

    def messages(self, messages: Iterable[str]) -> str:
        """OMEGA's messages, one a line, each code OMEGA appended followed by its words."""
        return "\n".join(self.decorate(m) for m in messages)

    def decorate(self, text: str) -> str:
        """``text`` followed by the words of each known code it holds."""
        for code in [c for c in self.errors if c in text]:
            if re.search(rf"(?<![A-Z_]){re.escape(code)}(?![A-Z_])", text):
                text = f"{text} ({code} : {self.errors[code]})"
        return text
