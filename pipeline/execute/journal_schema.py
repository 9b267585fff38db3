"""The journal file's SQLite schema: opening it, migrating it, and its transactions.

:func:`open_connection` opens (or creates) the file in WAL mode with the pragmas the
journal relies on, checks its schema version and brings an older file to the current
schema (:data:`SCHEMA_VERSION`); :class:`Transaction` is the ``BEGIN IMMEDIATE`` ...
``COMMIT`` block every write of the journal runs in, under the journal's lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType

from pipeline.stopping import storage_cause

# 2: rows.cells_json, rows.file_id, table files; 3: rows.fingerprint_json, rows.decides
SCHEMA_VERSION = 3
# How long a step waits for a lock held by another process (a backup, an sqlite3 shell)
# before the run stops on it: short, the operator is told at once.
BUSY_TIMEOUT_MS = 3_000


class JournalError(Exception):
    """The journal file cannot be used (the message says why, in French).

    Raised by a step that could not be committed, ``after_creation`` and
    ``numero_demande`` say what the dialogue knew of OMEGA when it failed (set by the
    dialogue on its way up): True/the number when a demand may exist.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.after_creation = False
        self.numero_demande = ""


@contextmanager
def storage_guard(path: Path) -> Iterator[None]:
    """SQLite and file-system errors become a French ``JournalError`` naming the file."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise JournalError(f"Journal {path} : {storage_cause(exc)}") from exc


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
    file_id         INTEGER REFERENCES files(id),
    fingerprint_json TEXT NOT NULL DEFAULT '{}',
    decides         INTEGER NOT NULL DEFAULT 1
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
    ("fingerprint_json", "TEXT NOT NULL DEFAULT '{}'"),
    ("decides", "INTEGER NOT NULL DEFAULT 1"),
)
_FILE_INDEX = "CREATE INDEX IF NOT EXISTS rows_by_file ON rows(file_id)"


def open_connection(path: Path, lock: threading.RLock) -> sqlite3.Connection:
    """The journal file's connection, shared by the worker threads (``lock`` guards it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(path),
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"Journal {path} : le mode WAL est indisponible ({mode})")
        # FULL: a committed step survives a power cut, not only a killed process.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not 0 <= version <= SCHEMA_VERSION:
            raise JournalError(
                f"Journal {path} : version de schéma {version} inconnue "
                f"(attendue : {SCHEMA_VERSION})"
            )
        conn.executescript(_SCHEMA)
        _migrate(conn, lock)
        # A file damaged past its first pages opens fine: look at every page now rather
        # than fail in the middle of the night's sending.
        check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if str(check).lower() != "ok":
            detail = " ".join(str(check).split())
            raise sqlite3.DatabaseError(f"database disk image is malformed ({detail})")
    except (sqlite3.Error, OSError) as exc:
        raise JournalError(f"Journal {path} inutilisable : {storage_cause(exc)}") from exc
    return conn


def _migrate(conn: sqlite3.Connection, lock: threading.RLock) -> None:
    """Bring an older journal file to the current schema, in one transaction.

    Schema 1 -> 2: ``rows`` gains ``cells_json`` and ``file_id`` (records written before
    have none: their deferred rows are reported with the canonical columns).
    Schema 2 -> 3: ``rows`` gains ``fingerprint_json`` (the request's identity, see
    ``journal_identity``; records written before have none and are compared with
    nothing) and ``decides`` (0 for a record that must not decide its key's fate: a
    rejected row whose key belongs to another request; every older record decides).
    """
    with Transaction(conn, lock):
        present = {r[1] for r in conn.execute("PRAGMA table_info(rows)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in present:
                conn.execute(f"ALTER TABLE rows ADD COLUMN {name} {declaration}")
        conn.execute(_FILE_INDEX)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class Transaction:
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
            if not self._outer:
                return
            if exc_type is None:
                try:
                    self._conn.execute("COMMIT")
                    return
                except sqlite3.Error:
                    self._rollback()  # SQLite may keep the failed transaction open
                    raise
            self._rollback()
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        """Roll back what is open; a rollback that fails too (disk gone) changes nothing
        committed, and the error that matters is the first one."""
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
