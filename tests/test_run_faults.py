"""Causes that concern the whole run stop it once, clearly (exit 2), through a real
``run_batch.py``: a URL missing its ``/omega`` path (HTTP 404), a closed port, and OMEGA
refusing the supplier's identity ("Etat du CAD invalide", "Le login doit être
renseigné.", "Habilitation incorrecte"). Every unsent row is REPORTEE, the file stays
in input/, one French message names the setting to check, and once the setting is
fixed the next run sends every row exactly once.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from e2e_support import read_sheet, run_batch, write_settings
from stop_support import by_reference, simulator_process, write_rows

ROWS = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_stopped_once(root: Path, setting: str) -> str:
    """Run, and check the run stopped on a run-level fault naming ``setting``."""
    proc = run_batch(root / "settings.toml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and "Logging error" not in out
    assert proc.stdout.count("PASSAGE ARRÊTÉ") == 1
    [stop_line] = [line for line in proc.stdout.splitlines() if "PASSAGE ARRÊTÉ" in line]
    assert f"Vérifiez le réglage {setting}" in stop_line, stop_line
    assert (root / "input" / "nuit.csv").exists()  # kept for the next run
    book = max((root / "output").glob("nuit_resultats_*.xlsx"), key=lambda p: p.stat().st_mtime)
    _, rows = read_sheet(book)
    assert len(rows) == ROWS and {r["Statut"] for r in rows} == {"REPORTEE"}
    return stop_line


@pytest.mark.timeout(240)
def test_url_without_its_path_and_closed_port_stop_the_run_then_the_fix_sends_each_row_once(
    tmp_path: Path,
) -> None:
    with simulator_process() as base_url:
        refs = write_rows(tmp_path / "input" / "nuit.csv", ROWS)
        write_settings(tmp_path, url=base_url.removesuffix("/omega"))
        line = _assert_stopped_once(tmp_path, "[omega] url")
        assert "HTTP 404" in line
        assert by_reference(base_url) == {}

        write_settings(tmp_path, url=f"http://127.0.0.1:{_free_port()}/omega")
        line = _assert_stopped_once(tmp_path, "[omega] url (serveur injoignable)")
        assert "connexion refusée" in line

        write_settings(tmp_path, url=base_url)
        proc = run_batch(tmp_path / "settings.toml")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        sent = by_reference(base_url)
        assert {r: sent[r] for r in refs} == dict.fromkeys(refs, 1)
        assert not (tmp_path / "input" / "nuit.csv").exists()


@pytest.mark.parametrize(
    ("change", "setting", "message"),
    [
        (('etat_cad = "valide"', 'etat_cad = "suspendu"'), "numero_cad", "Etat du CAD"),
        (('login = "batch.dit"', 'login = ""'), "[omega] login", "login doit être"),
        (
            (
                'dn_entreprise = "FOURNISSEUR-DEMO"\nnumero_cad',
                'dn_entreprise = "INCONNU"\nnumero_cad',
            ),
            "dn_entreprise",
            "Habilitation incorrecte",
        ),
    ],
)
def test_identity_refusals_stop_the_run_naming_the_setting(
    tmp_path: Path, change: tuple[str, str], setting: str, message: str
) -> None:
    """The built-in simulator told by its suppliers table (or the request) to refuse
    the caller: one stop, exit 2, rows REPORTEE — never NON_RECEVABLE / REFUS_OMEGA."""
    write_rows(tmp_path / "input" / "nuit.csv", ROWS)
    config = write_settings(tmp_path)
    text = config.read_text(encoding="utf-8")
    assert change[0] in text
    config.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    line = _assert_stopped_once(tmp_path, setting if setting.startswith("[") else "[omega]")
    assert setting in line and message in line


class _NotOmega(BaseHTTPRequestHandler):
    """A web server that is not OMEGA: a portal page, a refused method or login."""

    status = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<!DOCTYPE html><html><body>Portail</body></html>"
        self.send_response(self.status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("status", "setting", "shown"),
    [
        (200, "[omega] url", "text/html"),
        (405, "[omega] url", "HTTP 405"),
        (401, "le certificat client", "HTTP 401"),
        (403, "le certificat client", "HTTP 403"),
    ],
)
def test_a_web_server_that_is_not_omega_stops_the_run(
    tmp_path: Path, status: int, setting: str, shown: str
) -> None:
    """An HTML page, a refused method or a refused login where OMEGA's SOAP service was
    expected: exit 2 naming the setting, rows REPORTEE, the file kept."""
    handler = type("Handler", (_NotOmega,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        write_rows(tmp_path / "input" / "nuit.csv", ROWS)
        write_settings(tmp_path, url=f"http://127.0.0.1:{server.server_port}/omega")
        line = _assert_stopped_once(tmp_path, setting)
        assert shown in line
    finally:
        server.shutdown()
        server.server_close()
