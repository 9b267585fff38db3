"""Throughput of the OMEGA simulator over real HTTP (prints figures, asserts nothing).

Starts ``python -m pipeline.simulator --port 0 --quiet`` as a subprocess (so the server
has its own interpreter and GIL), then drives it for ``--seconds`` with ``--clients``
threads, each repeating a whole dialogue with prepared SOAP bodies over keep-alive
connections: VerifierRecevabiliteDIT, CreerDemandeDIT (6M PCE, random date), AccepterRdv
on the first slot offered, and now and then a JJ CreerDemandeDIT (DmdOkDD).
Prints calls/s sustained, latency percentiles and the server's peak memory (VmHWM).

    python bench/simulator.py [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.simulator.pce import load_pce_file  # noqa: E402

TODAY = dt.date(2026, 12, 1)
NS = "urn:dit-batch:omega:v9"
IDENT = (
    "<o:DNEntreprise>FOURNISSEUR-DEMO</o:DNEntreprise><o:NumeroCAD>CAD0000123</o:NumeroCAD>"
    "<o:Utilisateur><o:Login>bench</o:Login></o:Utilisateur><o:NumeroVersion>V9</o:NumeroVersion>"
)
VERIFIER = (
    "<o:RequeteWSVerifierRecevabiliteDIT>{ident}<o:NumeroPCE>{pce}</o:NumeroPCE>"
    "</o:RequeteWSVerifierRecevabiliteDIT>"
)
CREER = (
    "<o:RequeteWSCreerDIT>{ident}<o:Demande><o:TypeDemande>DIT</o:TypeDemande>"
    "<o:NumeroPCE>{pce}</o:NumeroPCE><o:DonneesTypeDemande>"
    "<o:CodeLibelleIntervention>{code}</o:CodeLibelleIntervention></o:DonneesTypeDemande>"
    "<o:RdvDemande><o:Date>{day}</o:Date>{plage}</o:RdvDemande></o:Demande></o:RequeteWSCreerDIT>"
)
ACCEPTER = (
    "<o:RequeteWSAccepterRdv>{ident}<o:NumeroDemande>{numero}</o:NumeroDemande>"
    "<o:Date>{day}</o:Date><o:Plage>{plage}</o:Plage></o:RequeteWSAccepterRdv>"
)
NUMERO = re.compile(rb"NumeroDemande>([^<]+)<")
SLOT = re.compile(rb"<tns:Date>([0-9-]+)</tns:Date><tns:(?:Plage|PlageHoraire)>([^<]+)<")
HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


def envelope(payload: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><s:Envelope '
        f'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:o="{NS}"><s:Body>'
        f"{payload}</s:Body></s:Envelope>"
    ).encode()


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0

    def add(self, seconds: float, ok: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if not ok:
                self.errors += 1


def worker(base: str, seed: int, until: float, stats: Stats) -> None:
    rng = random.Random(seed)
    pces = load_pce_file(ROOT / "config" / "simulator" / "pce.csv")
    six_m = [
        p
        for p in pces.values()
        if p.numero_cad == "CAD0000123" and p.frequence_releve in ("6M", "1M")
    ]
    jj = [p for p in pces.values() if p.numero_cad == "CAD0000123" and p.frequence_releve == "JJ"]
    http = requests.Session()
    http.trust_env = False

    def call(service: str, payload: str) -> bytes:
        started = time.perf_counter()
        response = http.post(
            f"{base}/{service}", data=envelope(payload), headers=HEADERS, timeout=30
        )
        stats.add(time.perf_counter() - started, response.status_code == 200)
        return response.content

    while time.monotonic() < until:
        pce = rng.choice(six_m).numero
        call("DIT", VERIFIER.format(ident=IDENT, pce=pce))
        day = TODAY + dt.timedelta(days=rng.randrange(2, 300))
        plage = f"<o:Plage>{rng.choice(['M1', 'M3', 'A2', 'A5'])}</o:Plage>"
        answer = call("DIT", CREER.format(ident=IDENT, pce=pce, code="S6", day=day, plage=plage))
        numero, slot = NUMERO.search(answer), SLOT.search(answer)
        if numero and slot:
            call(
                "RDV",
                ACCEPTER.format(
                    ident=IDENT,
                    numero=numero.group(1).decode(),
                    day=slot.group(1).decode(),
                    plage=slot.group(2).decode(),
                ),
            )
        if rng.random() < 0.25:
            call(
                "DIT",
                CREER.format(ident=IDENT, pce=rng.choice(jj).numero, code="206", day=day, plage=""),
            )


def peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.simulator",
            "--port",
            "0",
            "--quiet",
            "--today",
            TODAY.isoformat(),
            "--seed",
            "42",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        base = first.split(" : ", 1)[1].strip()
        print(
            f"simulateur : {base} (pid {server.pid}), {args.clients} clients, {args.seconds:.0f} s"
        )
        memory_idle = peak_memory_kib(server.pid)
        cpu_before = cpu_seconds(server.pid)
        stats = Stats()
        started = time.monotonic()
        until = started + args.seconds
        threads = [
            threading.Thread(target=worker, args=(base, i, until, stats))
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        demandes = requests.get(base.replace("/omega", "/admin/demandes"), timeout=30).json()
        lat = sorted(stats.latencies)
        count = len(lat)
        q = statistics.quantiles(lat, n=100) if count > 1 else [0.0] * 99
        print(f"appels : {count} en {elapsed:.1f} s -> {count / elapsed:.0f} appels/s soutenus")
        print(f"erreurs HTTP : {stats.errors}")
        print(
            f"latence : p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms"
        )
        print(f"demandes enregistrées : {len(demandes)}")
        print(f"CPU du serveur : {cpu:.1f} s ({cpu / elapsed * 100:.0f} % d'un cœur)")
        print(
            f"mémoire du serveur (VmHWM) : {memory_idle / 1024:.1f} Mio au repos, "
            f"{peak_memory_kib(server.pid) / 1024:.1f} Mio au pic"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
