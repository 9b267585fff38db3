"""Deciding what a row needs when its key reaches the journal: new, resumed or already done.

:class:`KeyClaims` holds the logic behind ``Journal.claim`` and ``Journal.record_final``:
it finds the record that decides a key's fate (its *anchor*), then, in the same
transaction, starts a fresh record, reopens an unfinished or deferred one, or writes a
DEJA_TRAITEE pointer record to the earlier one (see ``pipeline.execute.journal``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pipeline.execute.journal_records import Claim, ClaimKind, Job, JournalRecord, State
from pipeline.execute.journal_rows import RowStore, dump_cells, dump_values
from pipeline.records import RowOutcome, Status

# Statuses after which a key is processed again when it comes back (no demand exists).
_REPROCESSABLE = frozenset(
    {Status.REJET_VALIDATION, Status.NON_RECEVABLE, Status.REFUS_OMEGA, Status.ERREUR_TECHNIQUE}
)


class KeyClaims:
    """Claims rows by key and journals rows that end without a call (see Journal)."""

    def __init__(self, rows: RowStore, clock: Callable[[], datetime]) -> None:
        self._rows = rows
        self._conn = rows.conn
        self._clock = clock

    def claim(self, job: Job, *, run_id: str) -> Claim:
        """Decide, atomically, what a row with this key needs (see ClaimKind).

        - the key already led to a demand (a status holding one, or a NumeroDemande) or to
          A_VERIFIER: a DEJA_TRAITEE record pointing to it is written (ALREADY_DONE);
          never resent blindly: only the demand tracking reopens an unanswered creation
          (``Journal.reopen``, see reconcile.py); an A_VERIFIER whose appointment step was
          lost and is marked resumable is RESUMEd in state ``slot``;
        - an unfinished record of an earlier run, or one left REPORTEE: RESUME it (a
          REPORTEE, pending or verified record restarts at pending with the new values;
          create_sent/created/slot keep the values sent);
        - no record, or the last one ended without a demand: a NEW record.
        """
        now = self._now()
        with self._rows.tx():
            anchor = self._rows.anchor(job.key)
            if anchor is None:
                return Claim(ClaimKind.NEW, self._rows.insert(job, run_id, now))
            if anchor.state is State.FINAL:
                if anchor.status is Status.REPORTEE:
                    return Claim(ClaimKind.RESUME, self._reopen(anchor, job, run_id, now))
                if anchor.resumable_appointment:
                    # The appointment dialogue goes on by NumeroDemande (spec 2.1.5).
                    self._conn.execute(
                        "UPDATE rows SET run_id = ?, state = ?, status = NULL, updated_at = ?"
                        " WHERE id = ?",
                        (run_id, State.SLOT.value, now, anchor.id),
                    )
                    return Claim(ClaimKind.RESUME, self._rows.get(anchor.id))
                if _holds_demand(anchor) or anchor.status not in _REPROCESSABLE:
                    return self._already_done(job, anchor, run_id, now)
                return Claim(ClaimKind.NEW, self._rows.insert(job, run_id, now), earlier=anchor)
            if anchor.state in (State.PENDING, State.VERIFIED):
                return Claim(ClaimKind.RESUME, self._reopen(anchor, job, run_id, now))
            self._conn.execute(
                "UPDATE rows SET run_id = ?, updated_at = ? WHERE id = ?", (run_id, now, anchor.id)
            )
            return Claim(ClaimKind.RESUME, self._rows.get(anchor.id))

    def record_final(self, job: Job, outcome: RowOutcome, *, run_id: str) -> RowOutcome:
        """Journal a row that ends without any call (e.g. REJET_VALIDATION).

        A key that already led to a demand gets DEJA_TRAITEE instead, so a file dropped
        again (whose dates may now be past) still says what became of its rows.
        """
        now = self._now()
        with self._rows.tx():
            anchor = self._rows.anchor(job.key)
            if anchor is not None and anchor.state is State.FINAL and _holds_demand(anchor):
                claim = self._already_done(job, anchor, run_id, now)
                assert claim.outcome is not None
                return claim.outcome
            record = self._rows.insert(job, run_id, now)
            self._rows.write_final(record.id, outcome, now, create_unknown=False)
            return outcome

    def _reopen(self, anchor: JournalRecord, job: Job, run_id: str, now: str) -> JournalRecord:
        old_file_id = self._rows.file_id_of(anchor.id)
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
                dump_values(job.values),
                dump_cells(job.cells),
                self._rows.file_id(job),
                State.PENDING.value,
                now,
                anchor.id,
            ),
        )
        self._rows.drop_file_if_unused(old_file_id)
        return self._rows.get(anchor.id)

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
        pointer = self._rows.insert(job, run_id, now)
        self._conn.execute("UPDATE rows SET previous_id = ? WHERE id = ?", (anchor.id, pointer.id))
        self._rows.write_final(pointer.id, outcome, now, create_unknown=False)
        return Claim(ClaimKind.ALREADY_DONE, self._rows.get(pointer.id), outcome, earlier=anchor)

    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds")


def _holds_demand(record: JournalRecord) -> bool:
    status = record.status
    return bool(record.numero_demande) or (status is not None and status.holds_demand)
