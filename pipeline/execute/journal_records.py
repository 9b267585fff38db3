"""The journal's record types: what a row, a record, an OMEGA call and a claim look like.

A :class:`Job` is one input row handed to the executor, keyed by :func:`idempotency_key`;
a :class:`JournalRecord` is that row as the journal stores it, moving through the
:class:`State` values described in ``pipeline.execute.journal``; a :class:`CallEntry` is
one OMEGA call kept in the ``calls`` table; a :class:`Claim` is what
``Journal.claim`` decided for a row (see :class:`ClaimKind`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.records import RowOutcome, Status


class State(StrEnum):
    """Where a record stands in the dialogue; see the module docstring."""

    PENDING = "pending"
    VERIFIED = "verified"
    CREATE_SENT = "create_sent"
    CREATED = "created"
    SLOT = "slot"
    FINAL = "final"


@dataclass(frozen=True)
class Job:
    """One valid input row to send: its idempotency key, origin and cleaned values.

    ``headers`` and ``cells`` are the input file's header row and the row's own cells
    (``InputFile.headers``, ``RequestRow.cells``), kept so a later run can report the row
    in the business's columns; empty for a row journaled before they were kept.
    """

    key: str
    source: str
    file_sha256: str
    line: int
    values: Mapping[str, str]
    headers: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()


def idempotency_key(values: Mapping[str, str], file_sha256: str, line: int) -> str:
    """The row's ReferenceDemande when filled, else ``<first 16 hex of the file hash>:<line>``.

    A supplier reference identifies the request whatever file carries it; without one,
    the same row of the same file content (dropped again) gets the same key, while any
    change to the file gives new keys.
    """
    reference = values.get("ReferenceDemande", "").strip()
    return reference if reference else f"{file_sha256[:16]}:{line}"


@dataclass(frozen=True)
class CallEntry:
    """One OMEGA call as the journal keeps it (no request data, only what OMEGA answered)."""

    operation: str
    started_at: str
    finished_at: str
    outcome: str  # "answer" | "business_fault" | "transient" | "unavailable" | "unknown"
    type_retour: str = ""
    code_retour: str = ""
    messages: tuple[str, ...] = ()
    attempts: int = 1


@dataclass(frozen=True)
class JournalRecord:
    """A record as stored; ``outcome`` is set once ``state`` is final."""

    id: int
    key: str
    run_id: str
    source: str
    file_sha256: str
    line: int
    values: Mapping[str, str]
    state: State
    numero_demande: str
    dialogue: Mapping[str, Any]
    attempts: int
    create_unknown: bool
    previous_id: int | None
    created_at: str
    updated_at: str
    outcome: RowOutcome | None = None
    headers: tuple[str, ...] = ()  # the file's header row; () once cleared or never kept
    cells: tuple[str, ...] = ()  # the row's original cells; () once cleared or never kept
    fingerprint: Mapping[str, Any] = field(default_factory=dict)  # see journal_identity
    decides: bool = True  # False: a rejected row that must not decide its key's fate

    @property
    def status(self) -> Status | None:
        return None if self.outcome is None else self.outcome.status

    @property
    def resumable_appointment(self) -> bool:
        """An A_VERIFIER row holding a NumeroDemande whose appointment step was lost, that
        the next run resumes (the dialogue marked it so, within its bound per row)."""
        return (
            self.status is Status.A_VERIFIER
            and bool(self.numero_demande)
            and bool(self.dialogue.get("resumable"))
            and not self.dialogue.get("settled_by")
        )

    def job(self) -> Job:
        return Job(
            self.key,
            self.source,
            self.file_sha256,
            self.line,
            dict(self.values),
            self.headers,
            self.cells,
        )


class ClaimKind(StrEnum):
    NEW = "new"  # fresh record in state pending
    RESUME = "resume"  # an earlier record to continue from its state (reopened if final)
    ALREADY_DONE = "already_done"  # a DEJA_TRAITEE record was written; outcome is final
    REFUSED = "refused"  # the key designates another request: REJET_VALIDATION, not sent


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    record: JournalRecord
    outcome: RowOutcome | None = None  # set for ALREADY_DONE and REFUSED
    earlier: JournalRecord | None = field(default=None)
