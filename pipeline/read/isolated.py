"""Workbooks read in a child process, under a memory and a time budget.

calamine (Rust) loads a sheet as one dense rectangle: a single value at ``XFD1048576``
asks for 549 GB and the allocation failure *aborts the process* (SIGABRT, no Python
exception), a lying ``uniqueCount`` in sharedStrings does the same, and a zip bomb keeps
it parsing for minutes. Nothing in-process can catch an abort, so the workbook is read
by a child process forked from a small clean server (``multiprocessing`` forkserver, with
this module and calamine preloaded): the child sets its own limits (address space =
its size at start + the memory budget; CPU time = the time budget), reads the sheet with
``xlsx_source.open_workbook`` and sends its raw rows back in pickled batches. The parent
waits for the sheet to be loaded at most the time budget, and turns every way the child
can end badly (abort, kill, CPU limit, MemoryError, no answer in time) into a
``WorkbookUnreadable`` with a French message: a file-level finding, never the end of the
night. See docs/input.md ("Budget per file") for why this and not a pre-scan.

The child's loading runs while the parent builds and validates the rows it has already
received, so on two cores the isolated read is no slower than the in-process one.
"""

from __future__ import annotations

import contextlib
import copyreg
import datetime as dt
import io
import itertools
import marshal
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from pipeline.read.cells import RawRow, to_text
from pipeline.read.xlsx_source import EmptySheet, WorkbookUnreadable, open_workbook

# Raw rows per message: large enough that pickling is done in bulk, small enough that a
# batch of a wide sheet stays a few megabytes.
BATCH_ROWS = 256
# Beyond the budget, what the interpreter itself maps before reading (libraries, malloc
# arenas of the scan thread): the child's address space limit is its size at start,
# plus the budget, plus this.
_SLACK_BYTES = 256 << 20
_POLL_S = 0.2


def _as_text(value: object) -> tuple[type[str], tuple[str]]:
    return str, (to_text(value),)


# Cell types sent as their text (what cells.to_text makes of them anyway, and all the
# row builder takes from them): they unpickle as ``str``. Pickling a date as a date
# costs four times a string.
_DATE_TYPES = frozenset({dt.date, dt.datetime, dt.time, dt.timedelta})
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH.update({kind: _as_text for kind in _DATE_TYPES})
_MARSHALLED = b"M"  # first byte of a marshalled batch (a pickle starts with 0x80)


@dataclass(frozen=True, slots=True)
class ReadBudget:
    """What reading one file may cost: memory (bytes) and time (seconds)."""

    memory_bytes: int = 1 << 30
    seconds: float = 120.0

    @property
    def memory_mb(self) -> int:
        return self.memory_bytes >> 20


class OverBudget(WorkbookUnreadable):
    """The workbook needs more memory or time than the budget allows."""


_CONTEXT: Any = None


def _context() -> Any:
    global _CONTEXT
    if _CONTEXT is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        _CONTEXT = context
        prepare_reader()
    return _CONTEXT


def prepare_reader() -> None:
    """Start the process the reading children are forked from (about 0.3 s, once per
    run); the first workbook read starts it otherwise.

    That server is a fresh interpreter started from the current folder: the folder
    holding ``pipeline`` goes first on its PYTHONPATH so that it imports this package
    wherever the run was started from."""
    from multiprocessing import forkserver

    if _CONTEXT is None:
        _context()
        return
    root = str(Path(__file__).resolve().parents[2])
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, before) if p)
    try:
        forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def open_workbook_isolated(
    path: Path,
    sheet: str,
    budget: ReadBudget,
    on_end: Callable[[float], None] | None = None,
) -> tuple[str, Iterator[RawRow], int]:
    """Like ``xlsx_source.open_workbook``, the reading done in a child process within
    ``budget``; raises WorkbookUnreadable (OverBudget when the budget is the cause).
    ``on_end`` receives the child's peak resident memory (MB) once every row is read."""
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child,
        args=(sender, str(path), sheet, budget.memory_bytes, budget.seconds),
        name="dit-batch-lecture",
        daemon=True,
    )
    with _main_hidden():
        process.start()
    sender.close()
    try:
        message = _receive(receiver, process, budget, time.monotonic() + budget.seconds)
        if message[0] == "error":
            kind = EmptySheet if message[2] == "empty" else WorkbookUnreadable
            raise kind(message[1], protected=message[2] == "protected")
        if message[0] != "head":
            raise WorkbookUnreadable("réponse inattendue du processus de lecture")
    except BaseException:
        _stop(receiver, process)
        raise
    return message[1], _stream(receiver, process, budget, on_end), message[2]


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Start a child without it importing the main script again (multiprocessing's
    default, for spawn-like starts): the child needs only this module, which its fork
    server has already imported, and importing ``run_batch.py`` would cost each file
    the whole command-line stack (about 0.5 s, more on a loaded machine)."""
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = dict(main.__dict__)
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        for key in ("__file__", "__spec__"):
            if key in saved:
                main.__dict__[key] = saved[key]


def _receive(
    receiver: Connection, process: Any, budget: ReadBudget, deadline: float | None
) -> tuple[Any, ...]:
    """The child's next message; its death or silence past ``deadline`` as an exception."""
    while True:
        wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if wait <= 0:
            raise OverBudget(_too_slow(budget))
        try:
            if receiver.poll(wait):
                data = receiver.recv_bytes()
                if data[:1] == _MARSHALLED:  # rows without special cells (the bulk)
                    lines, cells = marshal.loads(memoryview(data)[1:])
                    return "rows", zip(lines, cells, itertools.repeat(None))
                message: tuple[Any, ...] = pickle.loads(data)
                return message
        except (EOFError, OSError):
            process.join(5)
            raise _death(process.exitcode, budget) from None
        if not process.is_alive() and not receiver.poll(0):
            raise _death(process.exitcode, budget)


def _stream(
    receiver: Connection,
    process: Any,
    budget: ReadBudget,
    on_end: Callable[[float], None] | None,
) -> Iterator[RawRow]:
    """The rows the child sends, until its end mark. The time budget applied to loading
    the sheet; from here on the child's CPU limit bounds it (it waits while the caller
    validates and sends rows, which is not reading time)."""
    try:
        while True:
            message = _receive(receiver, process, budget, None)
            if message[0] == "rows":
                yield from message[1]
            elif message[0] == "end":
                if on_end is not None:
                    on_end(message[1])
                return
            else:
                raise WorkbookUnreadable(str(message[1]))
    finally:
        _stop(receiver, process)


def _stop(receiver: Connection, process: Any) -> None:
    receiver.close()
    if process.is_alive():
        process.kill()
    process.join(5)


def _too_slow(budget: ReadBudget) -> str:
    return (
        f"lecture arrêtée au bout de {budget.seconds:g} s, la durée maximale de lecture "
        "d'un fichier ([input] max_read_s) : le classeur est trop gros ou anormal (archive "
        "compressée à l'extrême ?) ; enregistrez-le à nouveau depuis Excel, ou découpez-le"
    )


def _too_big(budget: ReadBudget) -> str:
    return (
        f"le classeur demande plus de mémoire que les {budget.memory_mb} Mo permis pour lire "
        "un fichier ([input] max_memory_mb) : une cellule remplie très loin des données "
        "(par exemple en XFD1048576) ou une table anormale agrandit la feuille ; supprimez "
        "les lignes et colonnes vides au-delà des données, enregistrez et redéposez"
    )


def _death(exitcode: int | None, budget: ReadBudget) -> WorkbookUnreadable:
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        if number == signal.SIGXCPU:
            return OverBudget(_too_slow(budget))
        if number in (signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS):
            return OverBudget(_too_big(budget))
        name = signal.Signals(number).name if number in signal.valid_signals() else number
        return WorkbookUnreadable(f"la lecture du classeur s'est arrêtée net (signal {name})")
    return WorkbookUnreadable(
        f"la lecture du classeur s'est arrêtée net (code de sortie {exitcode})"
    )


# ------------------------------------------------------------------- in the child


def _child(sender: Connection, path: str, sheet: str, memory: int, seconds: float) -> None:
    _quiet_stderr()
    _limit(memory, seconds)
    try:
        try:
            name, rows, height = open_workbook(Path(path), sheet)
        except WorkbookUnreadable as exc:
            kind = "protected" if exc.protected else ""
            sender.send(("error", str(exc), "empty" if isinstance(exc, EmptySheet) else kind))
            return
        sender.send(("head", name, height))
        batch: list[RawRow] = []
        for raw in rows:
            batch.append(raw)
            if len(batch) == BATCH_ROWS:
                sender.send_bytes(_encoded(batch))
                batch = []
        if batch:
            sender.send_bytes(_encoded(batch))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sender.send(("end", peak))
    except MemoryError:
        os.abort()  # the parent reports it as over the memory budget
    except (BrokenPipeError, ConnectionResetError):
        pass  # the parent stopped reading (the file was given up): nothing to say
    except Exception as exc:
        sender.send(("error", f"lecture interrompue ({type(exc).__name__})", ""))


def _encoded(batch: list[RawRow]) -> bytes:
    """A batch of raw rows as bytes. Without special cells (nearly always): ``marshal``
    of the row numbers and the cells, dates as their text — four times cheaper to load
    than a pickle, and loading is on the caller's side, the busy one. With special
    cells (dataclasses): a pickle."""
    if any(special for _, _, special in batch):
        return _dumps(("rows", batch))
    lines = [line for line, _, _ in batch]
    cells = _dates_as_text([raw for _, raw, _ in batch])
    try:
        return _MARSHALLED + marshal.dumps((lines, cells))
    except ValueError:  # a cell type marshal does not know: the general way
        return _dumps(("rows", batch))


def _dates_as_text(raws: list[Any]) -> list[Any]:
    """The rows with their date-like cells as text; column by column (one ``map`` per
    column of one type) when the rows have one width."""
    width = len(raws[0]) if raws else 0
    if not width or any(len(raw) != width for raw in raws):
        return [[_text_if_date(v) for v in raw] for raw in raws]
    columns: list[Any] = list(zip(*raws, strict=False))
    for index, column in enumerate(columns):
        kinds = set(map(type, column))
        if not kinds.isdisjoint(_DATE_TYPES):
            one = len(kinds) == 1
            columns[index] = list(map(to_text if one else _text_if_date, column))
    return list(zip(*columns, strict=False))


def _text_if_date(value: object) -> object:
    return to_text(value) if value.__class__ in _DATE_TYPES else value


def _dumps(message: tuple[Any, ...]) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(message)
    return buffer.getvalue()


def _quiet_stderr() -> None:
    """The engine's own abort message and backtrace are not for the operator's console."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _limit(memory: int, seconds: float) -> None:
    with open("/proc/self/statm", "rb") as stream:
        pages = int(stream.read().split()[0])
    size = pages * os.sysconf("SC_PAGE_SIZE")
    ceiling = size + memory + _SLACK_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    cpu = max(1, int(seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
