"""The execution journal: one SQLite file (WAL) that makes every row exactly-once and resumable.

Each input row handed to the executor becomes a *record*, identified by the row's
idempotency key (see :func:`idempotency_key`). A record moves through these states,
each one committed before the OMEGA call that needs it and after that call's answer::

    pending -> verified -> create_sent -> created -> slot -> final
                                 \\-> final                 (REPORTEE, NON_RECEVABLE...)

``create_sent`` is written *before* CreerDemandeDIT goes out: a record found in that
state by a later run may have created a demand, so it is never sent again blindly.
``created`` holds OMEGA's NumeroDemande; ``slot`` holds the appointment dialogue in
progress (``dialogue`` JSON, owned by ``pipeline.execute.dialogue``). ``final`` holds the
outcome (``records.Status`` and everything OMEGA said). Every OMEGA call is also kept
in the ``calls`` table (operation, codes, messages, attempts, timestamps).

A key can come back (file dropped again, corrected row, deferred row): :meth:`Journal.claim`
decides, in one transaction, whether the row is already done (DEJA_TRAITEE, a pointer
record is written), resumes an unfinished record, starts a fresh record, or refuses a
row whose key still designates a request with another identity (PCE, code, motif: the
``fingerprint_json`` each record keeps, see ``journal_identity``). A record with
``decides`` = 0 (a row refused or rejected while its key designated another request)
is never the one that decides its key's fate.

The row's values are stored (JSON) while a later run may still need to send them
(unfinished, REPORTEE, or A_VERIFIER after an unknown CreerDemandeDIT outcome) and
cleared once the record is final otherwise: the journal keeps no contact data it no
longer needs. The row's original cells (``cells_json``) and its file's header row (the
``files`` table, one entry per file hash and header row, referenced by ``file_id``) are
kept and cleared with the values: they let a later run write the deferred rows back in
the business's own columns. A ``files`` entry is deleted as soon as no record refers
to it any more.

Thread safety: one connection shared by the worker threads, every operation under a
lock; ``busy_timeout`` covers other processes reading the file.

The journal is split in sibling modules, imported one way (journal -> claims -> rows ->
records, schema): ``journal_records`` (the record types), ``journal_schema`` (the SQLite
schema, its migrations and transactions), ``journal_rows`` (the row codec and the
statements shared by claims and steps) and ``journal_claims`` (deciding what a row needs
when its key comes in). This module holds :class:`Journal`, the class other code uses.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.execute.journal_claims import KeyClaims
from pipeline.execute.journal_records import (
    CallEntry,
    Claim,
    ClaimKind,
    Job,
    JournalRecord,
    State,
    idempotency_key,
)
from pipeline.execute.journal_rows import SELECT_ROWS, RowStore, decode_record
from pipeline.execute.journal_schema import (
    JournalError,
    Transaction,
    open_connection,
    storage_guard,
)
from pipeline.records import RowOutcome, Status

# The journal's public face within the execute stage: the record types are re-exported.
__all__ = [
    "CallEntry",
    "Claim",
    "ClaimKind",
    "Job",
    "Journal",
    "JournalError",
    "JournalRecord",
    "State",
    "idempotency_key",
]


class Journal:
    """The SQLite journal; see the module docstring. Use as a context manager or close()."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._conn = open_connection(path, self._lock)
        self._rows = RowStore(self._conn, self._lock)
        self._claims = KeyClaims(self._rows, clock)

    # ----- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        # Closing a journal whose disk failed: what is committed stays.
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()

    def unsend_creations(self, record_ids: Iterable[int], *, timeout_s: float = 2.0) -> int:
        """Put records left in ``create_sent`` whose request never left the process back
        to ``verified`` (a hard stop); returns how many. Gives up, changing nothing,
        when the journal is not free within ``timeout_s`` (or is in the middle of a
        transaction of the calling thread, which the signal interrupted)."""
        ids = list(record_ids)
        if not ids or not self._lock.acquire(timeout=timeout_s):
            return 0
        try:
            if self._conn.in_transaction:
                # The signal interrupted this very thread inside a transaction that will
                # never commit: a change made in it would be lost with it.
                return 0
            with storage_guard(self.path), Transaction(self._conn, self._lock):
                marks = ", ".join("?" for _ in ids)
                cursor = self._conn.execute(
                    "UPDATE rows SET state = ?, updated_at = ?"
                    f" WHERE state = ? AND id IN ({marks})",
                    (State.VERIFIED.value, self._now(), State.CREATE_SENT.value, *ids),
                )
                return cursor.rowcount
        finally:
            self._lock.release()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----- deciding what to do with a row ---------------------------------------------
    def claim(self, job: Job, *, run_id: str) -> Claim:
        """Decide, atomically, what a row with this key needs (see ClaimKind).

        The cases are described in :meth:`KeyClaims.claim`.
        """
        with storage_guard(self.path):
            return self._claims.claim(job, run_id=run_id)

    def record_final(
        self, job: Job, outcome: RowOutcome, *, run_id: str, duplicate_in_file: bool = False
    ) -> RowOutcome:
        """Journal a row that ends without any call (e.g. REJET_VALIDATION).

        The same request that already led to a demand, dropped again, gets DEJA_TRAITEE
        instead; any other row keeps its own outcome (see :meth:`KeyClaims.record_final`).
        """
        with storage_guard(self.path):
            return self._claims.record_final(
                job, outcome, run_id=run_id, duplicate_in_file=duplicate_in_file
            )

    # ----- steps ----------------------------------------------------------------------
    def advance(
        self,
        record_id: int,
        state: State,
        *,
        numero_demande: str | None = None,
        dialogue: Mapping[str, Any] | None = None,
        call: CallEntry | None = None,
    ) -> None:
        """Commit a step (and the call whose answer led to it) before going on."""
        now = self._now()
        with storage_guard(self.path), Transaction(self._conn, self._lock):
            sets = ["state = ?", "updated_at = ?"]
            params: list[Any] = [state.value, now]
            if numero_demande is not None:
                sets.append("numero_demande = ?")
                params.append(numero_demande)
            if dialogue is not None:
                sets.append("dialogue_json = ?")
                params.append(json.dumps(dict(dialogue), ensure_ascii=False))
            if call is not None:
                sets.append("attempts = attempts + ?")
                params.append(call.attempts)
                self._rows.insert_call(record_id, call)
            params.append(record_id)
            self._conn.execute(f"UPDATE rows SET {', '.join(sets)} WHERE id = ?", params)

    def log_call(self, record_id: int, call: CallEntry) -> None:
        """Keep a call whose answer does not change the record's state."""
        with storage_guard(self.path), Transaction(self._conn, self._lock):
            self._rows.insert_call(record_id, call)
            self._conn.execute(
                "UPDATE rows SET attempts = attempts + ?, updated_at = ? WHERE id = ?",
                (call.attempts, self._now(), record_id),
            )

    def finish(
        self,
        record_id: int,
        outcome: RowOutcome,
        *,
        call: CallEntry | None = None,
        create_unknown: bool = False,
        dialogue: Mapping[str, Any] | None = None,
    ) -> RowOutcome:
        """Commit the final outcome; returns it with ``attempts`` = the record's total.

        ``dialogue`` replaces the record's dialogue in the same transaction; a dialogue
        marked ``resumable`` keeps the row's values (the next run resumes it)."""
        now = self._now()
        with storage_guard(self.path), Transaction(self._conn, self._lock):
            if dialogue is not None:
                self._conn.execute(
                    "UPDATE rows SET dialogue_json = ? WHERE id = ?",
                    (json.dumps(dict(dialogue), ensure_ascii=False), record_id),
                )
            if call is not None:
                self._rows.insert_call(record_id, call)
                self._conn.execute(
                    "UPDATE rows SET attempts = attempts + ? WHERE id = ?",
                    (call.attempts, record_id),
                )
            keep = bool(dialogue and dialogue.get("resumable"))
            self._rows.write_final(
                record_id, outcome, now, create_unknown=create_unknown, keep_values=keep
            )
            record = self._rows.get(record_id)
        assert record.outcome is not None
        return record.outcome

    # ----- reading --------------------------------------------------------------------
    def get(self, record_id: int) -> JournalRecord:
        with storage_guard(self.path), self._lock:
            return self._rows.get(record_id)

    def history(self, key: str) -> list[JournalRecord]:
        """Every record of a key, oldest first."""
        with storage_guard(self.path), self._lock:
            rows = self._conn.execute(
                f"{SELECT_ROWS} WHERE r.key = ? ORDER BY r.id", (key,)
            ).fetchall()
            return [decode_record(r) for r in rows]

    def latest(self, key: str) -> JournalRecord | None:
        """The record that decides a key's fate (its last record that is not DEJA_TRAITEE)."""
        with storage_guard(self.path), self._lock:
            return self._rows.anchor(key)

    def calls(self, record_id: int) -> list[CallEntry]:
        with storage_guard(self.path), self._lock:
            rows = self._conn.execute(
                "SELECT operation, started_at, finished_at, outcome, type_retour, code_retour,"
                " messages_json, attempts FROM calls WHERE row_id = ? ORDER BY id",
                (record_id,),
            ).fetchall()
        return [
            CallEntry(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7])
            for r in rows
        ]

    def open_records(self) -> list[JournalRecord]:
        """Records a later run must pick up (latest of their key): unfinished, REPORTEE,
        or A_VERIFIER with a lost appointment step marked resumable."""
        with storage_guard(self.path), self._lock:
            rows = self._conn.execute(
                f"{SELECT_ROWS} WHERE (r.status IS NULL OR r.status != ?) AND r.id = ("
                " SELECT MAX(id) FROM rows WHERE key = r.key AND decides = 1 AND"
                " (status IS NULL OR status != ?)) ORDER BY r.source, r.line, r.id",
                (Status.DEJA_TRAITEE.value, Status.DEJA_TRAITEE.value),
            ).fetchall()
        result = []
        for record in map(decode_record, rows):
            if (
                record.state is not State.FINAL
                or record.status is Status.REPORTEE
                or record.resumable_appointment
            ):
                result.append(record)
        return result

    def unsettled_records(self) -> list[JournalRecord]:
        """Rows the demand tracking may settle (latest of their key): CreerDemandeDIT sent
        without an answer (``create_sent``, or A_VERIFIER with ``create_unknown``), and
        A_VERIFIER rows holding a NumeroDemande; not those a tracking export already
        settled (``dialogue.settled_by``)."""
        with self._lock:
            rows = self._conn.execute(
                f"{SELECT_ROWS} WHERE (r.state = ? OR r.status = ?) AND r.id = ("
                " SELECT MAX(id) FROM rows WHERE key = r.key AND"
                " (status IS NULL OR status != ?)) ORDER BY r.source, r.line, r.id",
                (State.CREATE_SENT.value, Status.A_VERIFIER.value, Status.DEJA_TRAITEE.value),
            ).fetchall()
        return [r for r in map(decode_record, rows) if not r.dialogue.get("settled_by")]

    def reopen(
        self,
        record_id: int,
        state: State,
        *,
        run_id: str,
        numero_demande: str = "",
        dialogue: Mapping[str, Any] | None = None,
        call: CallEntry | None = None,
    ) -> None:
        """Reopen a record at ``state`` (values kept): the tracking proved its demand
        absent (``pending``: sent again) or waiting for an appointment (``created``)."""
        now = self._now()
        with Transaction(self._conn, self._lock):
            self._conn.execute(
                "UPDATE rows SET run_id = ?, state = ?, status = NULL, create_unknown = 0,"
                " numero_demande = ?, type_retour = '', code_retour = '', messages_json = '[]',"
                " detail = '', dialogue_json = ?, processed_at = '', updated_at = ? WHERE id = ?",
                (
                    run_id,
                    state.value,
                    numero_demande,
                    json.dumps(dict(dialogue or {}), ensure_ascii=False),
                    now,
                    record_id,
                ),
            )
            if call is not None:
                self._rows.insert_call(record_id, call)

    def all_records(self) -> Iterator[JournalRecord]:
        with storage_guard(self.path), self._lock:
            rows = self._conn.execute(f"{SELECT_ROWS} ORDER BY r.id").fetchall()
        return map(decode_record, rows)

    # ----- internals ------------------------------------------------------------------
    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds")
