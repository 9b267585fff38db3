"""Deciding what a row needs when its key reaches the journal: new, resumed or already done.

:class:`KeyClaims` holds the logic behind ``Journal.claim`` and ``Journal.record_final``:
it finds the record that decides a key's fate (its *anchor*), then, in the same
transaction, starts a fresh record, reopens an unfinished or deferred one, writes a
DEJA_TRAITEE pointer record to the earlier one (see ``pipeline.execute.journal``), or
refuses a row that reuses the key for another request (``journal_identity``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from pipeline.execute.journal_identity import (
    changed_fields,
    identity_changes,
    reused_reference,
    unsent_changes,
)
from pipeline.execute.journal_records import Claim, ClaimKind, Job, JournalRecord, State
from pipeline.execute.journal_rows import RowStore, dump_cells, dump_fingerprint, dump_values
from pipeline.records import Finding, RowOutcome, Status

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

        - the key still designates another request (a demand, an A_VERIFIER, a row
          REPORTEE or unfinished) whose identity (PCE, code, motif: see
          ``journal_identity``) differs from this row's: REFUSED, a REJET_VALIDATION
          record carrying a ``REFERENCE_DEJA_UTILISEE`` finding is written, nothing is
          sent and the other request keeps the key;
        - the key already led to a demand (a status holding one, or a NumeroDemande) or to
          A_VERIFIER: a DEJA_TRAITEE record pointing to it is written (ALREADY_DONE), with
          a ``MODIFICATIONS_NON_ENVOYEES`` warning when other fields changed since;
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
            if _binds_key(anchor) and identity_changes(anchor.fingerprint, job.values):
                outcome = RowOutcome(Status.REJET_VALIDATION, processed_at=self._stamp())
                return self._refuse(job, anchor, outcome, run_id, now)
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

    def record_final(
        self, job: Job, outcome: RowOutcome, *, run_id: str, duplicate_in_file: bool = False
    ) -> RowOutcome:
        """Journal a row that ends without any call (e.g. REJET_VALIDATION).

        The row keeps its own outcome; it never takes another row's. Only the very
        request that already led to a demand (same key, same identity), dropped again
        (its dates may now be past), reads DEJA_TRAITEE; and never the second row of a
        reference used twice in its file (``duplicate_in_file``). When the key still
        designates another request, the rejected row is journaled without deciding the
        key's fate (``decides`` = 0), and a different identity adds the
        ``REFERENCE_DEJA_UTILISEE`` finding.
        """
        now = self._now()
        with self._rows.tx():
            anchor = self._rows.anchor(job.key)
            if anchor is None or not _binds_key(anchor):
                record = self._rows.insert(job, run_id, now)
                self._rows.write_final(record.id, outcome, now, create_unknown=False)
                return outcome
            if identity_changes(anchor.fingerprint, job.values):
                return self._refuse(job, anchor, outcome, run_id, now).outcome or outcome
            if not duplicate_in_file and anchor.state is State.FINAL and _holds_demand(anchor):
                claim = self._already_done(job, anchor, run_id, now)
                assert claim.outcome is not None
                return claim.outcome
            record = self._rows.insert(job, run_id, now, decides=False)
            self._rows.write_final(record.id, outcome, now, create_unknown=False)
            return outcome

    def _refuse(
        self, job: Job, anchor: JournalRecord, outcome: RowOutcome, run_id: str, now: str
    ) -> Claim:
        """Journal ``outcome`` (REJET_VALIDATION) plus the reused-reference finding for a
        row whose key designates another request; the other request keeps the key."""
        finding = reused_reference(
            job.key, job.line, job.values, anchor.fingerprint, designates=self._designation(anchor)
        )
        details = [d for d in (outcome.detail, finding.describe()) if d]
        refused = replace(
            outcome,
            status=Status.REJET_VALIDATION,
            detail="; ".join(details),
            findings=(*outcome.findings, finding),
        )
        record = self._rows.insert(job, run_id, now, decides=False)
        self._rows.write_final(record.id, refused, now, create_unknown=False)
        return Claim(ClaimKind.REFUSED, self._rows.get(record.id), refused, earlier=anchor)

    def _designation(self, anchor: JournalRecord) -> str:
        """The request a key designates, as a business user can look it up."""
        pce = str(anchor.fingerprint.get("identity", {}).get("NumeroPCE", "")) or "inconnu"
        if anchor.numero_demande:
            row = self._conn.execute(
                "SELECT MIN(finished_at) FROM calls WHERE row_id = ? AND operation = ?"
                " AND outcome = 'answer'",
                (anchor.id, "CreerDemandeDIT"),
            ).fetchone()
            created = (row[0] or anchor.updated_at)[:10]
            return f"demande OMEGA n° {anchor.numero_demande}, PCE {pce}, créée le {created}"
        state = anchor.status.label if anchor.status is not None else "envoi en cours"
        return f"PCE {pce}, {anchor.source} ligne {anchor.line} : {state}"

    def _reopen(self, anchor: JournalRecord, job: Job, run_id: str, now: str) -> JournalRecord:
        old_file_id = self._rows.file_id_of(anchor.id)
        self._conn.execute(
            "UPDATE rows SET run_id = ?, source = ?, file_sha256 = ?, line = ?, values_json = ?,"
            " cells_json = ?, file_id = ?, fingerprint_json = ?, state = ?, status = NULL,"
            " numero_demande = '',"
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
                dump_fingerprint(job.values),
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
        changed = changed_fields(anchor.fingerprint, job.values)
        findings: tuple[Finding, ...] = ()
        if changed:
            note = unsent_changes(job.key, job.line, changed, numero_demande=anchor.numero_demande)
            findings = (note,)
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
            processed_at=self._stamp(),
            detail=" ; ".join(parts),
            findings=findings,
        )
        pointer = self._rows.insert(job, run_id, now)
        self._conn.execute("UPDATE rows SET previous_id = ? WHERE id = ?", (anchor.id, pointer.id))
        self._rows.write_final(pointer.id, outcome, now, create_unknown=False)
        return Claim(ClaimKind.ALREADY_DONE, self._rows.get(pointer.id), outcome, earlier=anchor)

    def _now(self) -> str:
        return self._clock().isoformat(timespec="milliseconds")

    def _stamp(self) -> str:
        return self._clock().isoformat(timespec="seconds")


def _binds_key(record: JournalRecord) -> bool:
    """True while a record's request holds its key: it exists or may exist in OMEGA
    (demand, A_VERIFIER), or is still to be sent (REPORTEE, unfinished)."""
    return (
        record.state is not State.FINAL
        or _holds_demand(record)
        or (record.status not in _REPROCESSABLE)
    )


def _holds_demand(record: JournalRecord) -> bool:
    status = record.status
    return bool(record.numero_demande) or (status is not None and status.holds_demand)
