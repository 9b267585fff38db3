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
record is written), resumes an unfinished record, or starts a fresh record.

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
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.records import RowOutcome, Status

SCHEMA_VERSION = 2  # 2: rows.cells_json, rows.file_id, table files
BUSY_TIMEOUT_MS = 30_000


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

    @property
    def status(self) -> Status | None:
        return None if self.outcome is None else self.outcome.status

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


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    record: JournalRecord
    outcome: RowOutcome | None = None  # set for ALREADY_DONE
    earlier: JournalRecord | None = field(default=None)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    source          TEXT NOT NULL,
    file_sha256     TEXT NOT NULL,
    line            INTEGER NOT NULL,
    values_json     TEXT NOT NULL DEFAULT '{}',
    state           TEXT NOT NULL,
    status          TEXT,
    numero_demande  TEXT NOT NULL DEFAULT '',
    type_retour     TEXT NOT NULL DEFAULT '',
    code_retour     TEXT NOT NULL DEFAULT '',
    messages_json   TEXT NOT NULL DEFAULT '[]',
    date_rdv        TEXT NOT NULL DEFAULT '',
    plage_rdv       TEXT NOT NULL DEFAULT '',
    heure_min       TEXT NOT NULL DEFAULT '',
    heure_max       TEXT NOT NULL DEFAULT '',
    presence_client TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    detail          TEXT NOT NULL DEFAULT '',
    dialogue_json   TEXT NOT NULL DEFAULT '{}',
    create_unknown  INTEGER NOT NULL DEFAULT 0,
    previous_id     INTEGER REFERENCES rows(id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    processed_at    TEXT NOT NULL DEFAULT '',
    cells_json      TEXT NOT NULL DEFAULT '[]',
    file_id         INTEGER REFERENCES files(id)
);
CREATE INDEX IF NOT EXISTS rows_by_key ON rows(key, id);
CREATE INDEX IF NOT EXISTS rows_open ON rows(state, status);
CREATE TABLE IF NOT EXISTS files (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    file_sha256  TEXT NOT NULL,
    headers_json TEXT NOT NULL,
    UNIQUE (file_sha256, headers_json)
);
CREATE TABLE IF NOT EXISTS calls (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    row_id        INTEGER NOT NULL REFERENCES rows(id),
    operation     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    type_retour   TEXT NOT NULL DEFAULT '',
    code_retour   TEXT NOT NULL DEFAULT '',
    messages_json TEXT NOT NULL DEFAULT '[]',
    attempts      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS calls_by_row ON calls(row_id, id);
"""

# Columns added to ``rows`` after schema 1, appended in this order by the migration (a
# fresh journal declares them last too, so ``SELECT *`` reads the same layout).
_ADDED_COLUMNS = (
    ("cells_json", "TEXT NOT NULL DEFAULT '[]'"),
    ("file_id", "INTEGER REFERENCES files(id)"),
)
_FILE_INDEX = "CREATE INDEX IF NOT EXISTS rows_by_file ON rows(file_id)"

# A record with its file's header row (NULL when not kept).
_SELECT_ROWS = "SELECT r.*, f.headers_json FROM rows r LEFT JOIN files f ON f.id = r.file_id"

# Statuses after which a key is processed again when it comes back (no demand exists).
_REPROCESSABLE = frozenset(
    {Status.REJET_VALIDATION, Status.NON_RECEVABLE, Status.REFUS_OMEGA, Status.ERREUR_TECHNIQUE}
)


class JournalError(Exception):
    """The journal file cannot be used (the message says why, in French)."""


class Journal:
    """The SQLite journal; see the module docstring. Use as a context manager or close()."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime]) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30
            )
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"Journal {path} : le mode WAL est indisponible ({mode})")
            # FULL: a committed step survives a power cut, not only a killed process.
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if not 0 <= version <= SCHEMA_VERSION:
                raise JournalError(
                    f"Journal {path} : version de schéma {version} inconnue "
                    f"(attendue : {SCHEMA_VERSION})"
                )
            self._conn.executescript(_SCHEMA)
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(f"Journal {path} inutilisable : {exc}") from exc

    def _migrate(self) -> None:
        """Bring an older journal file to the current schema, in one transaction.

        Schema 1 -> 2: ``rows`` gains ``cells_json`` and ``file_id`` (records written before
        have none: their deferred rows are reported with the canonical columns).
        """
        with self._tx():
            present = {r[1] for r in self._conn.execute("PRAGMA table_info(rows)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in present:
                    self._conn.execute(f"ALTER TABLE rows ADD COLUMN {name} {declaration}")
            self._conn.execute(_FILE_INDEX)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ----- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._conn.close()

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
    def claim(self, job: Job, *, run_id: str, retry_unknown: bool = False) -> Claim:
        """Decide, atomically, what a row with this key needs (see ClaimKind).

        - the key already led to a demand (a status holding one, or a NumeroDemande) or to
          A_VERIFIER: a DEJA_TRAITEE record pointing to it is written (ALREADY_DONE);
          with ``retry_unknown``, an A_VERIFIER left by an unanswered CreerDemandeDIT
          (no NumeroDemande) is reopened instead;
        - an unfinished record of an earlier run, or one left REPORTEE: RESUME it (a
          REPORTEE, pending or verified record restarts at pending with the new values;
          create_sent/created/slot keep the values sent); with ``retry_unknown`` a
          create_sent record restarts at pending;
        - no record, or the last one ended without a demand: a NEW record.
        """
        now = self._now()
        with self._tx():
            anchor = self._anchor(job.key)
            if anchor is None:
                return Claim(ClaimKind.NEW, self._insert(job, run_id, now))
            if anchor.state is State.FINAL:
                unknown = anchor.create_unknown and not anchor.numero_demande
                if anchor.status is Status.REPORTEE or (
                    retry_unknown and anchor.status is Status.A_VERIFIER and unknown
                ):
                    return Claim(ClaimKind.RESUME, self._reopen(anchor, job, run_id, now))
                if self._holds_demand(anchor) or anchor.status not in _REPROCESSABLE:
                    return self._already_done(job, anchor, run_id, now)
                return Claim(ClaimKind.NEW, self._insert(job, run_id, now), earlier=anchor)
            if anchor.state in (State.PENDING, State.VERIFIED) or (
                retry_unknown and anchor.state is State.CREATE_SENT
            ):
                return Claim(ClaimKind.RESUME, self._reopen(anchor, job, run_id, now))
            self._conn.execute(
                "UPDATE rows SET run_id = ?, updated_at = ? WHERE id = ?", (run_id, now, anchor.id)
            )
            return Claim(ClaimKind.RESUME, self._get(anchor.id))

    def record_final(self, job: Job, outcome: RowOutcome, *, run_id: str) -> RowOutcome:
        """Journal a row that ends without any call (e.g. REJET_VALIDATION).

        A key that already led to a demand gets DEJA_TRAITEE instead, so a file dropped
        again (whose dates may now be past) still says what became of its rows.
        """
        now = self._now()
        with self._tx():
            anchor = self._anchor(job.key)
            if anchor is not None and anchor.state is State.FINAL and self._holds_demand(anchor):
                claim = self._already_done(job, anchor, run_id, now)
                assert claim.outcome is not None
                return claim.outcome
            record = self._insert(job, run_id, now)
            self._write_final(record.id, outcome, now, create_unknown=False)
            return outcome

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
        with self._tx():
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
                self._insert_call(record_id, call)
            params.append(record_id)
            self._conn.execute(f"UPDATE rows SET {', '.join(sets)} WHERE id = ?", params)

    def log_call(self, record_id: int, call: CallEntry) -> None:
        """Keep a call whose answer does not change the record's state."""
        with self._tx():
            self._insert_call(record_id, call)
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
    ) -> RowOutcome:
        """Commit the final outcome; returns it with ``attempts`` = the record's total."""
        now = self._now()
        with self._tx():
            if call is not None:
                self._insert_call(record_id, call)
                self._conn.execute(
                    "UPDATE rows SET attempts = attempts + ? WHERE id = ?",
                    (call.attempts, record_id),
                )
            self._write_final(record_id, outcome, now, create_unknown=create_unknown)
            record = self._get(record_id)
        assert record.outcome is not None
        return record.outcome

    # ----- reading --------------------------------------------------------------------
    def get(self, record_id: int) -> JournalRecord:
        with self._lock:
            return self._get(record_id)

    def history(self, key: str) -> list[JournalRecord]:
        """Every record of a key, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"{_SELECT_ROWS} WHERE r.key = ? ORDER BY r.id", (key,)
            ).fetchall()
            return [_record(r) for r in rows]

    def latest(self, key: str) -> JournalRecord | None:
        """The record that decides a key's fate (its last record that is not DEJA_TRAITEE)."""
        with self._lock:
            return self._anchor(key)

    def calls(self, record_id: int) -> list[CallEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT operation, started_at, finished_at, outcome, type_retour, code_retour,"
                " messages_json, attempts FROM calls WHERE row_id = ? ORDER BY id",
                (record_id,),
            ).fetchall()
        return [
            CallEntry(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])), r[7])
            for r in rows
        ]

    def open_records(self, *, include_unknown: bool = False) -> list[JournalRecord]:
        """Records a later run must pick up: unfinished or REPORTEE (latest of their key).

        With ``include_unknown``, also A_VERIFIER records left by an unanswered
        CreerDemandeDIT (no NumeroDemande), for an operator's explicit --retry-unknown.
        """
        with self._lock:
            rows = self._conn.execute(
                f"{_SELECT_ROWS} WHERE (r.status IS NULL OR r.status != ?) AND r.id = ("
                " SELECT MAX(id) FROM rows WHERE key = r.key AND"
                " (status IS NULL OR status != ?)) ORDER BY r.source, r.line, r.id",
                (Status.DEJA_TRAITEE.value, Status.DEJA_TRAITEE.value),
            ).fetchall()
        result = []
        for record in map(_record, rows):
            if (
                record.state is not State.FINAL
                or record.status is Status.REPORTEE
                or (
                    include_unknown
                    and record.status is Status.A_VERIFIER
                    and record.create_unknown
                    and not record.numero_demande
                )
            ):
                result.append(record)
        return result

    def all_records(self) -> Iterator[JournalRecord]:
        with self._lock:
            rows = self._conn.execute(f"{_SELECT_ROWS} ORDER BY r.id").fetchall()
        return map(_record, rows)

    # ----- internals ------------------------------------------------------------------
    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds")

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn, self._lock)

    def _get(self, record_id: int) -> JournalRecord:
        row = self._conn.execute(f"{_SELECT_ROWS} WHERE r.id = ?", (record_id,)).fetchone()
        if row is None:
            raise KeyError(record_id)
        return _record(row)

    def _anchor(self, key: str) -> JournalRecord | None:
        row = self._conn.execute(
            f"{_SELECT_ROWS} WHERE r.key = ? AND (r.status IS NULL OR r.status != ?)"
            " ORDER BY r.id DESC LIMIT 1",
            (key, Status.DEJA_TRAITEE.value),
        ).fetchone()
        return None if row is None else _record(row)

    @staticmethod
    def _holds_demand(record: JournalRecord) -> bool:
        status = record.status
        return bool(record.numero_demande) or (status is not None and status.holds_demand)

    def _insert(self, job: Job, run_id: str, now: str) -> JournalRecord:
        cursor = self._conn.execute(
            "INSERT INTO rows (key, run_id, source, file_sha256, line, values_json, cells_json,"
            " file_id, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.key,
                run_id,
                job.source,
                job.file_sha256,
                job.line,
                _dump_values(job.values),
                _dump_cells(job.cells),
                self._file_id(job),
                State.PENDING.value,
                now,
                now,
            ),
        )
        assert cursor.lastrowid is not None
        return self._get(cursor.lastrowid)

    def _reopen(self, anchor: JournalRecord, job: Job, run_id: str, now: str) -> JournalRecord:
        old_file_id = self._file_id_of(anchor.id)
        self._conn.execute(
            "UPDATE rows SET run_id = ?, source = ?, file_sha256 = ?, line = ?, values_json = ?,"
            " cells_json = ?, file_id = ?, state = ?, status = NULL, numero_demande = '',"
            " type_retour = '', code_retour = '', messages_json = '[]', date_rdv = '',"
            " plage_rdv = '', heure_min = '', heure_max = '', presence_client = '', detail = '',"
            " dialogue_json = '{}',"
            " processed_at = '', updated_at = ? WHERE id = ?",
            (
                run_id,
                job.source,
                job.file_sha256,
                job.line,
                _dump_values(job.values),
                _dump_cells(job.cells),
                self._file_id(job),
                State.PENDING.value,
                now,
                anchor.id,
            ),
        )
        self._drop_file_if_unused(old_file_id)
        return self._get(anchor.id)

    def _already_done(self, job: Job, anchor: JournalRecord, run_id: str, now: str) -> Claim:
        earlier = anchor.outcome
        assert earlier is not None
        when = earlier.processed_at[:10] or anchor.updated_at[:10]
        parts = [
            f"Déjà traitée le {when} ({anchor.source}, ligne {anchor.line}) : "
            f"{earlier.status.label}"
        ]
        if anchor.numero_demande:
            parts.append(f"demande OMEGA n° {anchor.numero_demande}")
        if earlier.detail:
            parts.append(earlier.detail)
        outcome = RowOutcome(
            Status.DEJA_TRAITEE,
            type_retour=earlier.type_retour,
            code_retour=earlier.code_retour,
            messages=earlier.messages,
            numero_demande=anchor.numero_demande,
            date_rdv=earlier.date_rdv,
            plage_rdv=earlier.plage_rdv,
            heure_min=earlier.heure_min,
            heure_max=earlier.heure_max,
            presence_client=earlier.presence_client,
            attempts=0,
            processed_at=self._clock().isoformat(timespec="seconds"),
            detail=" ; ".join(parts),
        )
        pointer = self._insert(job, run_id, now)
        self._conn.execute("UPDATE rows SET previous_id = ? WHERE id = ?", (anchor.id, pointer.id))
        self._write_final(pointer.id, outcome, now, create_unknown=False)
        return Claim(ClaimKind.ALREADY_DONE, self._get(pointer.id), outcome, earlier=anchor)

    def _write_final(
        self, record_id: int, outcome: RowOutcome, now: str, *, create_unknown: bool
    ) -> None:
        keep_values = outcome.status is Status.REPORTEE or create_unknown
        old_file_id = None if keep_values else self._file_id_of(record_id)
        self._conn.execute(
            "UPDATE rows SET state = ?, status = ?, type_retour = ?, code_retour = ?,"
            " messages_json = ?, numero_demande = CASE WHEN ? != '' THEN ? ELSE numero_demande"
            " END, date_rdv = ?, plage_rdv = ?, heure_min = ?, heure_max = ?,"
            " presence_client = ?, detail = ?, create_unknown = ?, processed_at = ?,"
            " updated_at = ?, values_json = CASE WHEN ? THEN values_json ELSE '{}' END,"
            " cells_json = CASE WHEN ? THEN cells_json ELSE '[]' END,"
            " file_id = CASE WHEN ? THEN file_id ELSE NULL END"
            " WHERE id = ?",
            (
                State.FINAL.value,
                outcome.status.value,
                outcome.type_retour,
                outcome.code_retour,
                json.dumps(list(outcome.messages), ensure_ascii=False),
                outcome.numero_demande,
                outcome.numero_demande,
                outcome.date_rdv,
                outcome.plage_rdv,
                outcome.heure_min,
                outcome.heure_max,
                outcome.presence_client,
                outcome.detail,
                int(create_unknown),
                outcome.processed_at or now,
                now,
                int(keep_values),
                int(keep_values),
                int(keep_values),
                record_id,
            ),
        )
        self._drop_file_if_unused(old_file_id)

    def _file_id(self, job: Job) -> int | None:
        """The ``files`` entry holding the job's header row (created if needed), or None."""
        if not job.headers:
            return None
        headers = _dump_cells(job.headers)
        self._conn.execute(
            "INSERT OR IGNORE INTO files (file_sha256, headers_json) VALUES (?, ?)",
            (job.file_sha256, headers),
        )
        row = self._conn.execute(
            "SELECT id FROM files WHERE file_sha256 = ? AND headers_json = ?",
            (job.file_sha256, headers),
        ).fetchone()
        return int(row[0])

    def _file_id_of(self, record_id: int) -> int | None:
        row = self._conn.execute("SELECT file_id FROM rows WHERE id = ?", (record_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def _drop_file_if_unused(self, file_id: int | None) -> None:
        """Delete a header row no record refers to any more (same retention as values)."""
        if file_id is not None:
            self._conn.execute(
                "DELETE FROM files WHERE id = ? AND NOT EXISTS"
                " (SELECT 1 FROM rows WHERE file_id = ?)",
                (file_id, file_id),
            )

    def _insert_call(self, record_id: int, call: CallEntry) -> None:
        self._conn.execute(
            "INSERT INTO calls (row_id, operation, started_at, finished_at, outcome, type_retour,"
            " code_retour, messages_json, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record_id,
                call.operation,
                call.started_at,
                call.finished_at,
                call.outcome,
                call.type_retour,
                call.code_retour,
                json.dumps(list(call.messages), ensure_ascii=False),
                call.attempts,
            ),
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK``) under the journal's lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock
        self._outer = False

    def __enter__(self) -> None:
        self._lock.acquire()
        self._outer = not self._conn.in_transaction
        if self._outer:
            self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._outer:
                self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            self._lock.release()


def _dump_values(values: Mapping[str, str]) -> str:
    return json.dumps(dict(values), ensure_ascii=False, sort_keys=True)


def _dump_cells(cells: Sequence[str]) -> str:
    return json.dumps(list(cells), ensure_ascii=False)


def _record(row: Sequence[Any]) -> JournalRecord:
    (
        id_,
        key,
        run_id,
        source,
        file_sha256,
        line,
        values_json,
        state,
        status,
        numero_demande,
        type_retour,
        code_retour,
        messages_json,
        date_rdv,
        plage_rdv,
        heure_min,
        heure_max,
        presence_client,
        attempts,
        detail,
        dialogue_json,
        create_unknown,
        previous_id,
        created_at,
        updated_at,
        processed_at,
        cells_json,
        _file_id,
        headers_json,
    ) = row
    outcome = None
    if status is not None:
        outcome = RowOutcome(
            Status(status),
            type_retour=type_retour,
            code_retour=code_retour,
            messages=tuple(json.loads(messages_json)),
            numero_demande=numero_demande,
            date_rdv=date_rdv,
            plage_rdv=plage_rdv,
            heure_min=heure_min,
            heure_max=heure_max,
            presence_client=presence_client,
            attempts=attempts,
            processed_at=processed_at,
            detail=detail,
        )
    return JournalRecord(
        id=id_,
        key=key,
        run_id=run_id,
        source=source,
        file_sha256=file_sha256,
        line=line,
        values=json.loads(values_json),
        state=State(state),
        numero_demande=numero_demande,
        dialogue=json.loads(dialogue_json),
        attempts=attempts,
        create_unknown=bool(create_unknown),
        previous_id=previous_id,
        created_at=created_at,
        updated_at=updated_at,
        outcome=outcome,
        headers=tuple(json.loads(headers_json)) if headers_json else (),
        cells=tuple(json.loads(cells_json)),
    )
