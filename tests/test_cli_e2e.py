"""The nightly run end to end: ``run_batch.py`` as a subprocess against the simulator."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from e2e_support import RUN_BATCH, TODAY, fixture_pce, run_batch, write_settings

HEADER = [
    "NumeroPCE",
    "ReferenceDemande",
    "CodeLibelleIntervention",
    "CodeMotifIntervention",
    "PrecisionIntervention",
    "DateRdv",
    "PlageRdv",
    "NomContact",
    "TelephoneContact",
    "Colonne métier",
]


@dataclass
class Project:
    root: Path
    config: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_batch(self.config, *args, cwd=self.root)

    def write_csv(self, name: str, rows: list[list[str]]) -> Path:
        path = self.input / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter=";")
            writer.writerow(HEADER)
            writer.writerows(rows)
        return path

    def results(self, stem: str) -> list[Path]:
        return sorted(self.output.glob(f"{stem}_resultats_*.xlsx"))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "input").mkdir()
    return Project(tmp_path, write_settings(tmp_path))


def _rows_by_ref(path: Path) -> dict[str, dict[str, Any]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb["Résultats"]
    it = ws.iter_rows(values_only=True)
    header = [str(h) for h in next(it)]
    out = {}
    for values in it:
        rec = dict(zip(header, values, strict=False))
        out[str(rec["ReferenceDemande"])] = rec
    wb.close()
    return out


def _sample_rows() -> list[list[str]]:
    jj, six_m = fixture_pce("JJ", "1")[0], fixture_pce("6M", "0")[0]
    return [
        [jj, "REF-JJ", "206", "", "", "2026-12-10", "", "Dupont", "0612345678", "lot A"],
        [six_m, "REF-6M", "Z8", "19", "", "2026-12-10", "M1", "Durand", "06 12 34 56 78", "x"],
        ["123", "REF-BAD", "206", "", "", "2026-12-10", "", "", "", "=1+1"],
    ]


def test_nightly_run_processes_reports_and_archives(project: Project) -> None:
    """A file is validated, sent, reported with every row explained, and archived."""
    src = project.write_csv("demandes.csv", _sample_rows())
    original = src.read_bytes()
    proc = project.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    [result] = project.results("demandes")
    rows = _rows_by_ref(result)
    assert rows["REF-JJ"]["Statut"] == "DATE_DEMANDEE"
    assert rows["REF-JJ"]["NumeroDemande"]
    assert rows["REF-6M"]["Statut"] in {"RDV_PROGRAMME", "DATE_DEMANDEE"}
    assert rows["REF-BAD"]["Statut"] == "REJET_VALIDATION"
    assert "PCE" in str(rows["REF-BAD"]["Anomalies"])
    assert rows["REF-BAD"]["Colonne métier"] == "=1+1"  # echoed, as text
    resub = sorted(project.output.glob("demandes_a_resoumettre_*.xlsx"))
    assert len(resub) == 1
    assert not src.exists()
    archived = project.archive / TODAY / "demandes.csv"
    assert archived.read_bytes() == original
    assert "demandes.csv" in proc.stdout and "DATE_DEMANDEE" in proc.stdout
    logs = list((project.output / "logs").glob("run-*.jsonl"))
    assert logs
    text = logs[0].read_text(encoding="utf-8")
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(e.get("event") == "run_finished" for e in events)
    assert "0612345678" not in text and "Dupont" not in text


def test_same_file_dropped_again_is_not_sent_twice(project: Project) -> None:
    """Rows whose key already led to a demand come back DEJA_TRAITEE with the demand number."""
    project.write_csv("lot.csv", _sample_rows()[:1])
    assert project.run().returncode == 0
    first = _rows_by_ref(project.results("lot")[0])["REF-JJ"]
    project.write_csv("lot.csv", _sample_rows()[:1])
    proc = project.run()
    assert proc.returncode == 0, proc.stderr
    second_path = [p for p in project.results("lot") if p != project.results("lot")[0]]
    second = _rows_by_ref(second_path[-1])["REF-JJ"]
    assert second["Statut"] == "DEJA_TRAITEE"
    assert second["NumeroDemande"] == first["NumeroDemande"]
    assert (project.archive / TODAY / "lot-2.csv").exists()


def test_dry_run_sends_nothing_and_moves_nothing(project: Project) -> None:
    """--dry-run validates and reports but leaves the input in place and calls nothing."""
    src = project.write_csv("essai.csv", _sample_rows())
    proc = project.run("--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert src.exists()
    rows = _rows_by_ref(project.results("essai")[0])
    assert rows["REF-JJ"]["Statut"] == "VALIDE"
    assert rows["REF-BAD"]["Statut"] == "REJET_VALIDATION"
    assert not (project.root / "var" / "journal.sqlite3").exists()


def test_unreadable_file_is_rejected_and_others_still_run(project: Project) -> None:
    """A corrupt workbook goes to input/rejetes with an explanation; the next file is processed."""
    (project.input / "a_casse.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    project.write_csv("b_bon.csv", _sample_rows()[:1])
    proc = project.run()
    assert proc.returncode == 0, proc.stderr
    assert (project.input / "rejetes" / "a_casse.xlsx").exists()
    assert project.results("a_casse") and project.results("b_bon")
    assert "Traceback" not in proc.stderr + proc.stdout


def test_closed_service_defers_rows_to_next_run(tmp_path: Path) -> None:
    """OMEGA closed: rows end REPORTEE (exit 4) and the next run sends them without the file."""
    (tmp_path / "input").mkdir()
    closed = Project(tmp_path, write_settings(tmp_path, extra="closed = true"))
    closed.write_csv("nuit.csv", _sample_rows()[:2])
    proc = closed.run()
    assert proc.returncode == 4, proc.stdout + proc.stderr
    rows = _rows_by_ref(closed.results("nuit")[0])
    assert {r["Statut"] for r in rows.values()} == {"REPORTEE"}
    reopened = Project(tmp_path, write_settings(tmp_path))
    proc = reopened.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resumed = sorted(reopened.output.glob("nuit_reprise_resultats_*.xlsx"))
    assert len(resumed) == 1
    statuses = {r["Statut"] for r in _rows_by_ref(resumed[0]).values()}
    assert statuses <= {"DATE_DEMANDEE", "RDV_PROGRAMME"}


def test_configuration_error_exit_code(tmp_path: Path) -> None:
    """A broken settings file stops the run with exit code 2 and a French message."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[omega]\nversion = 'V1'\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(RUN_BATCH), "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "configuration" in proc.stderr and "Traceback" not in proc.stderr


def test_concurrent_run_exits_at_once(project: Project) -> None:
    """While another process holds the run lock, a second run exits with code 3."""
    lock = project.root / "var" / "dit-batch.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time\nfrom filelock import FileLock\n"
            "l=FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        proc = project.run()
        assert proc.returncode == 3
        assert "déjà en cours" in proc.stderr
    finally:
        holder.kill()
        holder.wait()


def test_template_command_writes_once(tmp_path: Path) -> None:
    """`run_batch.py template` writes the template and refuses to overwrite it."""
    target = tmp_path / "modele.xlsx"
    run: Callable[[], subprocess.CompletedProcess[str]] = lambda: subprocess.run(  # noqa: E731
        [sys.executable, str(RUN_BATCH), "template", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    first = run()
    assert first.returncode == 0, first.stderr
    assert target.exists()
    before = target.read_bytes()
    second = run()
    assert second.returncode == 2
    assert target.read_bytes() == before


def test_lost_answer_ends_a_verifier_with_exit_5(tmp_path: Path) -> None:
    """A CreerDemandeDIT whose answer is lost ends A_VERIFIER (exit 5) and is never re-sent."""
    from pipeline.config import load_settings
    from pipeline.simulator import FaultKind, start_simulator

    (tmp_path / "input").mkdir()
    with start_simulator(load_settings(environ={}), today=TODAY, seed=7, slow_ms=4000) as sim:
        proj = Project(tmp_path, write_settings(tmp_path, url=sim.base_url))
        cfg = proj.config.read_text(encoding="utf-8").replace("timeout_s = 5", "timeout_s = 1")
        proj.config.write_text(cfg, encoding="utf-8")
        sim.faults.force("CreerDemandeDIT", FaultKind.SLOW)
        proj.write_csv("perdu.csv", _sample_rows()[:1])
        proc = proj.run()
        assert proc.returncode == 5, proc.stdout + proc.stderr
        row = _rows_by_ref(proj.results("perdu")[0])["REF-JJ"]
        assert row["Statut"] == "A_VERIFIER"
        assert "suivi" in str(row["Résultat"]) + str(row["MessageRetour"])
        creations = [d for d in sim.engine.demandes() if d.get("ReferenceDemande") == "REF-JJ"]
        assert len(creations) == 1  # it arrived once; the batch did not send it again

        proj.write_csv("perdu.csv", _sample_rows()[:1])
        again = proj.run()
        # Still unknown until a tracking export says: exit 5, the summary names the export.
        assert again.returncode == 5, again.stdout + again.stderr
        assert "attendent un export du suivi" in again.stdout
        rows = sorted(proj.results("perdu"))
        assert _rows_by_ref(rows[-1])["REF-JJ"]["Statut"] == "DEJA_TRAITEE"
        creations = [d for d in sim.engine.demandes() if d.get("ReferenceDemande") == "REF-JJ"]
        assert len(creations) == 1


def test_limit_processes_part_and_keeps_the_file(project: Project) -> None:
    """--limit N sends at most N rows; the file stays in input/ for the rest."""
    src = project.write_csv("gros.csv", _sample_rows()[:2])
    proc = project.run("--limit", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    statuses = sorted(str(r["Statut"]) for r in _rows_by_ref(project.results("gros")[0]).values())
    assert statuses[1] == "REPORTEE" and statuses[0] in {"DATE_DEMANDEE", "RDV_PROGRAMME"}
    assert src.exists()
    proc = project.run()
    assert proc.returncode == 0
    latest = _rows_by_ref(sorted(project.results("gros"))[-1])
    assert "DEJA_TRAITEE" in {r["Statut"] for r in latest.values()}
    assert not src.exists()


def test_soap_exchanges_logged_for_support_without_personal_data(project: Project) -> None:
    """With log_soap on, the run log holds each SOAP exchange, contact data redacted."""
    cfg = project.config.read_text(encoding="utf-8")
    project.config.write_text(cfg.replace("timeout_s = 5", "timeout_s = 5\nlog_soap = true"))
    project.write_csv("soap.csv", _sample_rows()[:1])
    assert project.run().returncode == 0
    [log_file] = list((project.output / "logs").glob("run-*.jsonl"))
    text = log_file.read_text(encoding="utf-8")
    soap = [e for e in map(json.loads, text.splitlines()) if "soap" in str(e.get("logger", ""))]
    assert any("CreerDemandeDIT" in json.dumps(e) for e in soap)
    assert "Dupont" not in text and "0612345678" not in text and "batch.dit" not in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--bogus"], "arguments inconnus"), (["--limit", "abc"], "valeur invalide")],
)
def test_command_line_errors_are_french(args: list[str], needle: str) -> None:
    """Usage errors are explained in French with exit code 2, never argparse's English."""
    proc = subprocess.run(
        [sys.executable, str(RUN_BATCH), *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert needle in proc.stderr and "utilisation" in proc.stderr
    assert "unrecognized" not in proc.stderr and "invalid int" not in proc.stderr


def test_technical_errors_have_their_own_exit_code(tmp_path: Path) -> None:
    """Rows that failed technically (ERREUR_TECHNIQUE) make the run exit 6, not 0."""
    from pipeline.config import load_settings
    from pipeline.simulator import FaultKind, start_simulator

    (tmp_path / "input").mkdir()
    with start_simulator(load_settings(environ={}), today=TODAY, seed=7) as sim:
        proj = Project(tmp_path, write_settings(tmp_path, url=sim.base_url))
        sim.faults.force("VerifierRecevabiliteDIT", FaultKind.HTTP_503, FaultKind.HTTP_503)
        proj.write_csv("tech.csv", _sample_rows()[:1])
        proc = proj.run()
    assert proc.returncode == 6, proc.stdout + proc.stderr
    row = _rows_by_ref(proj.results("tech")[0])["REF-JJ"]
    assert row["Statut"] == "ERREUR_TECHNIQUE"
    assert "erreur technique" in proc.stdout
