"""OMEGA simulator: the contract served over real HTTP(S), backed by an in-memory engine.

``start_simulator(settings, ...)`` runs it in a background thread (tests, the batch's
``url = "simulator"`` mode); ``python -m pipeline.simulator`` runs it from the command
line. The HTTP/SOAP layer lives in ``server.py``/``soap.py``, fault injection in
``faults.py``, the business rules in ``engine.py``. See docs/simulator-server.md.
"""

from pipeline.simulator.faults import ALL_KINDS, ANY_OPERATION, FaultKind, FaultPlan
from pipeline.simulator.server import (
    MAX_BODY_BYTES,
    CallRecord,
    RunningSimulator,
    SimulatorError,
    TlsConfig,
    start_simulator,
)

__all__ = [
    "ALL_KINDS",
    "ANY_OPERATION",
    "MAX_BODY_BYTES",
    "CallRecord",
    "FaultKind",
    "FaultPlan",
    "RunningSimulator",
    "SimulatorError",
    "TlsConfig",
    "start_simulator",
]
