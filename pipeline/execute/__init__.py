"""Execute stage: each valid row driven through the OMEGA dialogue exactly once.

Public face: ``Executor`` (workers, shared rate limit, circuit breaker; ``run(jobs)``,
``record_rejected``, ``deferred_jobs``), ``Journal`` and ``JournalError`` (the SQLite
journal that makes each row exactly-once and resumable), ``Job`` and
``idempotency_key``. Private to the stage: the zeep client (``client``, ``answers``,
``demande``, ``transport``, ``wsdl``), the failure classification (``errors``), SOAP
logging (``soaplog``), the per-row dialogue (``dialogue`` and ``dialogue_*``) and the
journal's parts (``journal_*``). ``reconcile_tracking`` settles the unknown outcomes of earlier
runs from demand-tracking exports (``Reconciliation``, ``Waiting``).
"""

from pipeline.execute.executor import Executor
from pipeline.execute.journal import Job, Journal, JournalError, idempotency_key
from pipeline.execute.reconcile import Reconciliation, Waiting, reconcile_tracking

__all__ = [
    "Executor",
    "Job",
    "Journal",
    "JournalError",
    "Reconciliation",
    "Waiting",
    "idempotency_key",
    "reconcile_tracking",
]
