"""How records sit in the journal's tables: the row codec and the shared SQL steps.

:class:`RowStore` owns the connection and lock the journal shares between worker
threads, and the statements both the claims (``journal_claims``) and the steps
(``Journal``) run inside their transactions: reading a record or a key's anchor,
inserting a record, writing its final outcome, keeping a call, and the ``files``
entries holding the header rows. :func:`decode_record` turns a ``rows`` row (as
:data:`SELECT_ROWS` reads it) into a :class:`JournalRecord`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.execute.journal_identity import fingerprint
from pipeline.execute.journal_records import CallEntry, Job, JournalRecord, State
from pipeline.execute.journal_schema import Transaction
from pipeline.records import RowOutcome, Status

# A record with its file's header row (NULL when not kept).
SELECT_ROWS = "SELECT r.*, f.headers_json FROM rows r LEFT JOIN files f ON f.id = r.file_id"


class RowStore:
    """The journal's connection and lock, and the row-level statements run under them."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self.conn = conn
        self.lock = lock

    def tx(self) -> Transaction:
        return Transaction(self.conn, self.lock)

    def get(self, record_id: int) -> JournalRecord:
        row = self.conn.execute(f"{SELECT_ROWS} WHERE r.id = ?", (record_id,)).fetchone()
        if row is None:
            raise KeyError(record_id)
        return decode_record(row)

    def anchor(self, key: str) -> JournalRecord | None:
        row = self.conn.execute(
            f"{SELECT_ROWS} WHERE r.key = ? AND (r.status IS NULL OR r.status != ?)"
            " AND r.decides = 1 ORDER BY r.id DESC LIMIT 1",
            (key, Status.DEJA_TRAITEE.value),
        ).fetchone()
        return None if row is None else decode_record(row)

    def insert(self, job: Job, run_id: str, now: str, *, decides: bool = True) -> JournalRecord:
        cursor = self.conn.execute(
            "INSERT INTO rows (key, run_id, source, file_sha256, line, values_json, cells_json,"
            " file_id, state, created_at, updated_at, fingerprint_json, decides)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job.key,
                run_id,
                job.source,
                job.file_sha256,
                job.line,
                dump_values(job.values),
                dump_cells(job.cells),
                self.file_id(job),
                State.PENDING.value,
                now,
                now,
                dump_fingerprint(job.values),
                int(decides),
            ),
        )
        assert cursor.lastrowid is not None
        return self.get(cursor.lastrowid)

    def write_final(
        self,
        record_id: int,
        outcome: RowOutcome,
        now: str,
        *,
        create_unknown: bool,
        keep_values: bool = False,
    ) -> None:
        keep_values = keep_values or outcome.status is Status.REPORTEE or create_unknown
        old_file_id = None if keep_values else self.file_id_of(record_id)
        self.conn.execute(
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
        self.drop_file_if_unused(old_file_id)

    def file_id(self, job: Job) -> int | None:
        """The ``files`` entry holding the job's header row (created if needed), or None."""
        if not job.headers:
            return None
        headers = dump_cells(job.headers)
        self.conn.execute(
            "INSERT OR IGNORE INTO files (file_sha256, headers_json) VALUES (?, ?)",
            (job.file_sha256, headers),
        )
        row = self.conn.execute(
            "SELECT id FROM files WHERE file_sha256 = ? AND headers_json = ?",
            (job.file_sha256, headers),
        ).fetchone()
        return int(row[0])

    def file_id_of(self, record_id: int) -> int | None:
        row = self.conn.execute("SELECT file_id FROM rows WHERE id = ?", (record_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def drop_file_if_unused(self, file_id: int | None) -> None:
        """Delete a header row no record refers to any more (same retention as values)."""
        if file_id is not None:
            self.conn.execute(
                "DELETE FROM files WHERE id = ? AND NOT EXISTS"
                " (SELECT 1 FROM rows WHERE file_id = ?)",
                (file_id, file_id),
            )

    def insert_call(self, record_id: int, call: CallEntry) -> None:
        self.conn.execute(
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


def dump_values(values: Mapping[str, str]) -> str:
    return json.dumps(dict(values), ensure_ascii=False, sort_keys=True)


def dump_fingerprint(values: Mapping[str, str]) -> str:
    return json.dumps(fingerprint(values), ensure_ascii=False, sort_keys=True)


def dump_cells(cells: Sequence[str]) -> str:
    return json.dumps(list(cells), ensure_ascii=False)


def decode_record(row: Sequence[Any]) -> JournalRecord:
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
        fingerprint_json,
        decides,
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
        fingerprint=json.loads(fingerprint_json),
        decides=bool(decides),
    )
