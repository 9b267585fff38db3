"""The SQLite journal: states, idempotency keys, what a returning key becomes, durability."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipeline.execute.journal import (
    CallEntry,
    ClaimKind,
    Job,
    Journal,
    JournalError,
    State,
    idempotency_key,
)
from pipeline.records import RowOutcome, Status

SHA = "ab" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 2, 0, 0)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "var" / "journal.sqlite3", clock=FakeClock()) as j:
        yield j


def _job(key: str = "REF-1", line: int = 2, **values: str) -> Job:
    vals = {"NumeroPCE": "12345678901234", "ReferenceDemande": key, "NomContact": "Dupont"}
    vals.update(values)
    return Job(key, "demandes.csv", SHA, line, vals)


def _call(op: str = "CreerDemandeDIT", attempts: int = 1) -> CallEntry:
    return CallEntry(op, "t0", "t1", "answer", "T", "DmdOkDD", ("ok",), attempts)


def test_idempotency_key_is_reference_or_file_hash_and_line() -> None:
    """The key is ReferenceDemande when filled, else the file hash prefix and the row number."""
    assert idempotency_key({"ReferenceDemande": " R-9 "}, SHA, 7) == "R-9"
    assert idempotency_key({"ReferenceDemande": ""}, SHA, 7) == f"{SHA[:16]}:7"
    assert idempotency_key({}, SHA, 12) == f"{SHA[:16]}:12"


def test_journal_is_one_wal_file_in_created_parent_dirs(tmp_path: Path) -> None:
    """The journal creates its folder and uses WAL mode."""
    path = tmp_path / "a" / "b" / "j.sqlite3"
    with Journal(path, clock=FakeClock()):
        pass
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_steps_and_calls_are_persisted_across_reopen(tmp_path: Path) -> None:
    """Each committed step, the NumeroDemande and the calls survive closing the journal."""
    path = tmp_path / "j.sqlite3"
    with Journal(path, clock=FakeClock()) as j:
        claim = j.claim(_job(), run_id="r1")
        assert claim.kind is ClaimKind.NEW and claim.record.state is State.PENDING
        rid = claim.record.id
        j.advance(rid, State.VERIFIED, call=_call("VerifierRecevabiliteDIT"))
        j.advance(rid, State.CREATE_SENT)
        j.advance(rid, State.CREATED, numero_demande="D1", dialogue={"a": 1}, call=_call())
    with Journal(path, clock=FakeClock()) as j:
        record = j.get(rid)
        assert record.state is State.CREATED
        assert record.numero_demande == "D1"
        assert record.dialogue == {"a": 1}
        assert record.attempts == 2
        assert [c.operation for c in j.calls(rid)] == ["VerifierRecevabiliteDIT", "CreerDemandeDIT"]
        assert record.values["NomContact"] == "Dupont"


def test_final_outcome_sums_attempts_and_drops_contact_values(journal: Journal) -> None:
    """A final record carries the total attempts and no longer keeps the row's values."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.advance(rid, State.VERIFIED, call=_call("VerifierRecevabiliteDIT", attempts=3))
    outcome = journal.finish(
        rid, RowOutcome(Status.DATE_DEMANDEE, numero_demande="D1"), call=_call()
    )
    assert outcome.attempts == 4
    assert outcome.numero_demande == "D1"
    assert journal.get(rid).values == {}


@pytest.mark.parametrize(
    "status", [Status.RDV_PROGRAMME, Status.DATE_DEMANDEE, Status.PRISE_EN_COMPTE]
)
def test_key_that_led_to_a_demand_is_already_done(journal: Journal, status: Status) -> None:
    """A returning key whose record holds a demand becomes DEJA_TRAITEE with its number."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(
        rid, RowOutcome(status, numero_demande="D7", date_rdv="2026-12-03", plage_rdv="M1")
    )
    claim = journal.claim(_job(line=9), run_id="r2")
    assert claim.kind is ClaimKind.ALREADY_DONE
    assert claim.outcome is not None
    assert claim.outcome.status is Status.DEJA_TRAITEE
    assert claim.outcome.numero_demande == "D7"
    assert claim.outcome.date_rdv == "2026-12-03"
    assert "D7" in claim.outcome.detail and status.label in claim.outcome.detail
    # a third drop still points at the original outcome, not at the pointer
    again = journal.claim(_job(line=11), run_id="r3")
    assert again.kind is ClaimKind.ALREADY_DONE
    assert again.earlier is not None and again.earlier.id == rid


def test_a_verifier_key_is_already_done_until_the_tracking_reopens_it(journal: Journal) -> None:
    """A_VERIFIER blocks the key (never a blind resend); only ``reopen`` (the tracking
    proved the demand absent) sends it again, with its values."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.A_VERIFIER), create_unknown=True)
    assert journal.claim(_job(), run_id="r2").kind is ClaimKind.ALREADY_DONE
    assert journal.open_records() == []
    assert [r.id for r in journal.unsettled_records()] == [rid]
    journal.reopen(rid, State.PENDING, run_id="r3")
    (reopened,) = journal.open_records()
    assert reopened.id == rid and reopened.values["NomContact"] == "Dupont"
    claim = journal.claim(_job(), run_id="r3")
    assert claim.kind is ClaimKind.RESUME and claim.record.id == rid
    assert claim.record.state is State.PENDING and not claim.record.create_unknown


def test_a_verifier_with_numero_demande_is_never_reopened(journal: Journal) -> None:
    """An A_VERIFIER that holds a NumeroDemande (not marked resumable) stays done."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.A_VERIFIER, numero_demande="D2"))
    claim = journal.claim(_job(), run_id="r2")
    assert claim.kind is ClaimKind.ALREADY_DONE
    assert claim.outcome is not None and claim.outcome.numero_demande == "D2"


@pytest.mark.parametrize(
    "status",
    [Status.REJET_VALIDATION, Status.NON_RECEVABLE, Status.REFUS_OMEGA, Status.ERREUR_TECHNIQUE],
)
def test_key_that_ended_without_demand_is_processed_again(journal: Journal, status: Status) -> None:
    """A corrected row with the same key gets a fresh record with its new values."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(status))
    claim = journal.claim(_job(CodePostal="75001"), run_id="r2")
    assert claim.kind is ClaimKind.NEW and claim.record.id != rid
    assert claim.earlier is not None and claim.earlier.id == rid
    assert claim.record.values["CodePostal"] == "75001"


def test_reportee_row_is_reopened_and_listed_for_next_run(journal: Journal) -> None:
    """A REPORTEE record keeps its values, is listed as open, and is resumed in place."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.REPORTEE))
    (open_record,) = journal.open_records()
    assert open_record.id == rid and open_record.values["NomContact"] == "Dupont"
    assert open_record.job() == _job()
    claim = journal.claim(open_record.job(), run_id="r2")
    assert claim.kind is ClaimKind.RESUME and claim.record.id == rid
    assert claim.record.state is State.PENDING and claim.record.outcome is None


@pytest.mark.parametrize("state", [State.CREATE_SENT, State.CREATED, State.SLOT])
def test_unfinished_record_after_creation_is_resumed_as_is(journal: Journal, state: State) -> None:
    """A record left after CreerDemandeDIT went out is resumed with its state and values."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.advance(rid, state, numero_demande="" if state is State.CREATE_SENT else "D3")
    assert [r.id for r in journal.open_records()] == [rid]
    claim = journal.claim(_job(NomContact="Autre"), run_id="r2")
    assert claim.kind is ClaimKind.RESUME and claim.record.id == rid
    assert claim.record.state is state
    assert claim.record.values["NomContact"] == "Dupont"
    assert claim.record.run_id == "r2"


def test_a_lost_appointment_step_marked_resumable_is_resumed_in_slot(journal: Journal) -> None:
    """A_VERIFIER with a NumeroDemande and a resumable dialogue keeps its values, is
    listed for the next run and resumed in state slot with its number and dialogue."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.advance(rid, State.CREATED, numero_demande="D4")
    dialogue = {"date": "2026-12-10", "plage": "MA", "resumable": True}
    journal.finish(rid, RowOutcome(Status.A_VERIFIER, numero_demande="D4"), dialogue=dialogue)
    (listed,) = journal.open_records()
    assert listed.id == rid and listed.values["NomContact"] == "Dupont"
    claim = journal.claim(_job(), run_id="r2")
    assert claim.kind is ClaimKind.RESUME and claim.record.state is State.SLOT
    assert claim.record.numero_demande == "D4" and claim.record.dialogue["resumable"]


def test_rejected_row_of_a_done_key_says_already_done(journal: Journal) -> None:
    """A row rejected by validation whose key already led to a demand reads DEJA_TRAITEE."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.RDV_PROGRAMME, numero_demande="D9"))
    outcome = journal.record_final(
        _job(), RowOutcome(Status.REJET_VALIDATION, detail="date passée"), run_id="r2"
    )
    assert outcome.status is Status.DEJA_TRAITEE and outcome.numero_demande == "D9"
    fresh = journal.record_final(
        _job("REF-2"), RowOutcome(Status.REJET_VALIDATION, detail="x"), run_id="r2"
    )
    assert fresh.status is Status.REJET_VALIDATION
    record = journal.latest("REF-2")
    assert record is not None and record.status is Status.REJET_VALIDATION


def test_concurrent_threads_each_get_their_own_record(journal: Journal) -> None:
    """Many worker threads claiming and finishing rows at once lose nothing."""

    def work(start: int) -> None:
        for i in range(start, start + 50):
            rid = journal.claim(_job(f"K{i}"), run_id="r").record.id
            journal.advance(rid, State.VERIFIED, call=_call("VerifierRecevabiliteDIT"))
            journal.finish(rid, RowOutcome(Status.PRISE_EN_COMPTE, numero_demande=f"D{i}"))

    threads = [threading.Thread(target=work, args=(n * 50,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = list(journal.all_records())
    assert len(records) == 400
    assert {r.key for r in records} == {f"K{i}" for i in range(400)}
    assert all(r.status is Status.PRISE_EN_COMPTE and r.attempts == 1 for r in records)


def test_unknown_schema_version_is_a_french_error(tmp_path: Path) -> None:
    """A journal written by a future version is refused with a clear message."""
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JournalError, match="version de schéma 99"):
        Journal(path, clock=FakeClock())


def test_unusable_journal_path_is_a_french_error(tmp_path: Path) -> None:
    """A journal path under a regular file gives JournalError, not a traceback."""
    blocker = tmp_path / "fichier"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="inutilisable"):
        Journal(blocker / "journal.sqlite3", clock=FakeClock())


def test_a_damaged_journal_is_refused_when_opened(tmp_path: Path) -> None:
    """Pages damaged past the first ones: refused at open (every page is checked), in
    French, with what to do; never sqlite3's DatabaseError later in the night."""
    path = tmp_path / "j.sqlite3"
    with Journal(path, clock=FakeClock()) as journal:
        for i in range(400):
            journal.claim(_job(f"REF-{i:04d}", line=i + 2, NomContact="x" * 200), run_id="r")
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek((size // 4096 // 2) * 4096)
        fh.write(b"\x00\xff" * 2048)
    with pytest.raises(JournalError, match="journal endommagé : restaurez la sauvegarde"):
        Journal(path, clock=FakeClock())


# ----- the row's original columns (headers and cells), schema 2 ----------------------

HEADERS = ("Commentaire interne", "N° PCE", "Réf. demande", "Nom contact")


def _job_with_cells(key: str, line: int, comment: str = "clé chez gardien") -> Job:
    cells = (comment, "12345678901234", key, "  Dupont ")
    return Job(key, "demandes.csv", SHA, line, _job(key, line).values, HEADERS, cells)


def _files_rows(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT file_sha256, headers_json FROM files").fetchall()
    finally:
        conn.close()


def test_headers_and_cells_are_kept_with_the_values_and_headers_once_per_file(
    tmp_path: Path,
) -> None:
    """A REPORTEE row keeps its file's header row and its own cells across reopen; the
    header row is stored once for all rows of the file."""
    path = tmp_path / "j.sqlite3"
    with Journal(path, clock=FakeClock()) as j:
        for line, key in ((2, "R-1"), (3, "R-2")):
            rid = j.claim(_job_with_cells(key, line), run_id="r1").record.id
            j.finish(rid, RowOutcome(Status.REPORTEE))
    assert _files_rows(path) == [(SHA, json.dumps(list(HEADERS), ensure_ascii=False))]
    with Journal(path, clock=FakeClock()) as j:
        jobs = [r.job() for r in j.open_records()]
    assert jobs == [_job_with_cells("R-1", 2), _job_with_cells("R-2", 3)]
    assert jobs[0].headers == HEADERS and jobs[0].cells[3] == "  Dupont "


def test_headers_and_cells_are_cleared_with_the_values(tmp_path: Path) -> None:
    """Once a row's values are cleared, so are its cells; the file's header row goes when
    the last record holding it does (a rejected row keeps none at all)."""
    path = tmp_path / "j.sqlite3"
    with Journal(path, clock=FakeClock()) as j:
        first = j.claim(_job_with_cells("R-1", 2), run_id="r1").record.id
        second = j.claim(_job_with_cells("R-2", 3), run_id="r1").record.id
        j.finish(first, RowOutcome(Status.DATE_DEMANDEE, numero_demande="D1"))
        cleared = j.get(first)
        assert (cleared.values, cleared.headers, cleared.cells) == ({}, (), ())
        assert j.get(second).cells and _files_rows(path)  # still needed by R-2
        j.finish(second, RowOutcome(Status.REFUS_OMEGA))
        assert _files_rows(path) == []
        rejected = j.record_final(
            _job_with_cells("R-3", 4), RowOutcome(Status.REJET_VALIDATION), run_id="r1"
        )
        assert rejected.status is Status.REJET_VALIDATION
        assert all(r.cells == () and r.headers == () for r in j.all_records())
        assert _files_rows(path) == []


def test_reopened_row_takes_the_new_headers_and_cells(journal: Journal) -> None:
    """A REPORTEE key sent again from a corrected file is reopened with that file's cells."""
    rid = journal.claim(_job_with_cells("R-1", 2), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.REPORTEE))
    claim = journal.claim(_job_with_cells("R-1", 2, comment="nouveau code"), run_id="r2")
    assert claim.kind is ClaimKind.RESUME and claim.record.id == rid
    assert claim.record.cells[0] == "nouveau code" and claim.record.headers == HEADERS


_SCHEMA_1 = """
CREATE TABLE rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, run_id TEXT NOT NULL,
    source TEXT NOT NULL, file_sha256 TEXT NOT NULL, line INTEGER NOT NULL,
    values_json TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL, status TEXT,
    numero_demande TEXT NOT NULL DEFAULT '', type_retour TEXT NOT NULL DEFAULT '',
    code_retour TEXT NOT NULL DEFAULT '', messages_json TEXT NOT NULL DEFAULT '[]',
    date_rdv TEXT NOT NULL DEFAULT '', plage_rdv TEXT NOT NULL DEFAULT '',
    heure_min TEXT NOT NULL DEFAULT '', heure_max TEXT NOT NULL DEFAULT '',
    presence_client TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '', dialogue_json TEXT NOT NULL DEFAULT '{}',
    create_unknown INTEGER NOT NULL DEFAULT 0, previous_id INTEGER REFERENCES rows(id),
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, processed_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rows_by_key ON rows(key, id);
CREATE INDEX rows_open ON rows(state, status);
CREATE TABLE calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, row_id INTEGER NOT NULL REFERENCES rows(id),
    operation TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL, type_retour TEXT NOT NULL DEFAULT '',
    code_retour TEXT NOT NULL DEFAULT '', messages_json TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX calls_by_row ON calls(row_id, id);
PRAGMA user_version = 1;
"""


def test_schema_1_journal_is_migrated_and_its_deferred_rows_still_open(tmp_path: Path) -> None:
    """A journal written before cells were kept opens, gains the new columns, lists its
    REPORTEE row without headers or cells, and keeps them for rows journaled afterwards."""
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    values = json.dumps(dict(_job("OLD-1").values), sort_keys=True)
    conn.execute(
        "INSERT INTO rows (key, run_id, source, file_sha256, line, values_json, state, status,"
        " created_at, updated_at) VALUES ('OLD-1', 'r0', 'demandes.csv', ?, 2, ?, 'final',"
        " 'REPORTEE', 't', 't')",
        (SHA, values),
    )
    conn.commit()
    conn.close()
    with Journal(path, clock=FakeClock()) as j:
        (old,) = j.open_records()
        assert old.job() == _job("OLD-1")
        rid = j.claim(_job_with_cells("NEW-1", 3), run_id="r1").record.id
        assert j.get(rid).cells == _job_with_cells("NEW-1", 3).cells
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        columns = [r[1] for r in conn.execute("PRAGMA table_info(rows)")]
        assert columns[-4:] == ["cells_json", "file_id", "fingerprint_json", "decides"]
    finally:
        conn.close()
    with Journal(path, clock=FakeClock()) as j:  # a migrated file opens again as is
        assert j.get(rid).headers == HEADERS


def _created(journal: Journal, job: Job, numero: str = "D9") -> int:
    rid = journal.claim(job, run_id="r1").record.id
    call = CallEntry("CreerDemandeDIT", "2026-11-28T02:00:05", "2026-11-28T02:00:06", "answer")
    journal.advance(rid, State.CREATED, numero_demande=numero, call=call)
    journal.finish(rid, RowOutcome(Status.DATE_DEMANDEE, numero_demande=numero))
    return rid


def test_reused_reference_with_another_pce_is_refused_and_the_demand_keeps_it(
    journal: Journal,
) -> None:
    """A key that led to a demand, coming back for another PCE, is REJET_VALIDATION with
    REFERENCE_DEJA_UTILISEE naming the demand; the demand still decides the key."""
    rid = _created(journal, _job(CodeLibelleIntervention="34", CodeMotifIntervention="23"))
    other = _job(line=5, NumeroPCE="13000000000003", CodeLibelleIntervention="34")
    claim = journal.claim(other, run_id="r2")
    assert claim.kind is ClaimKind.REFUSED and claim.outcome is not None
    assert claim.outcome.status is Status.REJET_VALIDATION
    assert claim.outcome.numero_demande == ""
    (finding,) = claim.outcome.findings
    assert finding.rule == "REFERENCE_DEJA_UTILISEE" and finding.is_error and finding.line == 5
    assert "D9" in finding.message and "12345678901234" in finding.message
    assert "créée le 2026-11-28" in finding.message and "13000000000003" in finding.message
    anchor = journal.latest("REF-1")
    assert anchor is not None and anchor.id == rid
    again = journal.claim(
        _job(line=7, CodeLibelleIntervention="34", CodeMotifIntervention="23"), run_id="r3"
    )
    assert again.kind is ClaimKind.ALREADY_DONE


def test_same_request_with_another_date_is_already_done_with_a_warning(journal: Journal) -> None:
    """Same key and identity, other date and phone: DEJA_TRAITEE, and a warning lists the
    fields that were not sent and says to change the demand on the portal."""
    _created(journal, _job(DateRdv="2026-12-15"))
    claim = journal.claim(
        _job(line=3, DateRdv="2026-12-20", TelephoneContact="0612345678"), run_id="r2"
    )
    assert claim.kind is ClaimKind.ALREADY_DONE and claim.outcome is not None
    (warning,) = claim.outcome.findings
    assert warning.rule == "MODIFICATIONS_NON_ENVOYEES" and not warning.is_error
    assert warning.field == "DateRdv, TelephoneContact"
    assert "portail" in warning.message and "D9" in warning.message
    unchanged = journal.claim(_job(line=4, DateRdv="2026-12-15"), run_id="r3")
    assert unchanged.outcome is not None and unchanged.outcome.findings == ()


def test_second_row_of_a_duplicated_reference_never_takes_the_first_rows_outcome(
    journal: Journal,
) -> None:
    """A row rejected as REFERENCE_DOUBLON stays REJET_VALIDATION although the first row
    of the reference holds a demand, and does not take the key from it."""
    rid = _created(journal, _job())
    rejected = RowOutcome(Status.REJET_VALIDATION, detail="[REFERENCE_DOUBLON] ligne 2")
    outcome = journal.record_final(_job(line=3), rejected, run_id="r2", duplicate_in_file=True)
    assert outcome.status is Status.REJET_VALIDATION and outcome.numero_demande == ""
    anchor = journal.latest("REF-1")
    assert anchor is not None and anchor.id == rid
    assert journal.claim(_job(), run_id="r2").kind is ClaimKind.ALREADY_DONE


def test_rejected_row_of_another_request_gets_its_own_outcome_and_the_reuse_error(
    journal: Journal,
) -> None:
    """A rejected row whose key belongs to a demand for another PCE is REJET_VALIDATION,
    its own findings kept, plus REFERENCE_DEJA_UTILISEE."""
    _created(journal, _job())
    rejected = RowOutcome(Status.REJET_VALIDATION, detail="[DATE_RDV_PASSEE] x")
    outcome = journal.record_final(_job(line=4, NumeroPCE="13000000000003"), rejected, run_id="r2")
    assert outcome.status is Status.REJET_VALIDATION
    assert [f.rule for f in outcome.findings] == ["REFERENCE_DEJA_UTILISEE"]
    assert outcome.detail.startswith("[DATE_RDV_PASSEE] x; [REFERENCE_DEJA_UTILISEE]")


def test_deferred_row_keeps_its_key_against_another_request(journal: Journal) -> None:
    """A REPORTEE row's key reused for another PCE is refused; the deferred row stays open."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.REPORTEE))
    claim = journal.claim(_job(line=8, NumeroPCE="13000000000003"), run_id="r2")
    assert claim.kind is ClaimKind.REFUSED and claim.outcome is not None
    assert "demandes.csv ligne 2" in claim.outcome.findings[0].message
    assert [r.id for r in journal.open_records()] == [rid]


def test_key_that_ended_without_demand_takes_a_new_identity(journal: Journal) -> None:
    """After NON_RECEVABLE (no demand), the corrected PCE under the same reference is sent."""
    rid = journal.claim(_job(), run_id="r1").record.id
    journal.finish(rid, RowOutcome(Status.NON_RECEVABLE))
    claim = journal.claim(_job(NumeroPCE="13000000000003"), run_id="r2")
    assert claim.kind is ClaimKind.NEW


def test_record_written_before_fingerprints_is_compared_with_nothing(tmp_path: Path) -> None:
    """A demand journaled by a schema-1 journal (no fingerprint) still answers its key
    DEJA_TRAITEE, whatever PCE comes back: there is nothing to compare with."""
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1)
    conn.execute(
        "INSERT INTO rows (key, run_id, source, file_sha256, line, state, status,"
        " numero_demande, created_at, updated_at) VALUES ('OLD-2', 'r0', 'demandes.csv', ?,"
        " 2, 'final', 'DATE_DEMANDEE', 'D1', 't', 't')",
        (SHA,),
    )
    conn.commit()
    conn.close()
    with Journal(path, clock=FakeClock()) as j:
        claim = j.claim(_job("OLD-2", NumeroPCE="13000000000003"), run_id="r1")
        assert claim.kind is ClaimKind.ALREADY_DONE and claim.outcome is not None
        assert claim.outcome.numero_demande == "D1" and claim.outcome.findings == ()
