"""Logging: structlog events to a JSON-lines file and a readable console, personal data masked.

    configure_logging(log_file=output_dir / "logs" / "run-20240501-020000.jsonl", verbosity=0)
    log = structlog.get_logger(__name__)
    log.info("omega_call", operation="CreerDemandeDIT", duration_ms=412, outcome="ok")

One processor chain, declared once (``_SHARED`` then a two-step tail per sink), runs
for structlog events and for records of the standard ``logging`` module alike
(zeep, urllib3...), through structlog's ``ProcessorFormatter``:

- file: one JSON object per line (UTF-8), ``timestamp`` in ISO 8601 with the local
  offset, ``level``, ``logger``, ``event`` and the event's own keys; INFO and above
  (DEBUG too with ``verbosity > 0``);
- console (stderr by default): ``timestamp [level] event key=value``, INFO by
  default, WARNING when ``verbosity < 0``, DEBUG when ``verbosity > 0``; the
  per-call/per-row events of ``CONSOLE_SKIP_EVENTS`` only with ``verbosity > 0``.
  Lines go through ``tqdm.write`` so that they never break a progress bar.

An exception (``log.exception(...)``, ``exc_info=``) is written in full to the file
(``exception``: the traceback, chained causes included); the console shows only its
one-line summary at the end of the event's line, ``exception='ValueError: message'``
(:func:`exception_summary`), never a traceback or a stack: console output is what
cron mails to the operator, the details are in the log file.

Masking (:func:`mask_personal_data`, last step before rendering, on every key and
nested mapping/list value):

- contact names (keys ``NomContact``, ``Nom``, ``contact``, ``nom_client``...):
  ``"Dupont"`` -> ``"Du***"``;
- phone numbers (any key containing ``telephone``/``phone``, ``tel``, ``mobile``...):
  ``"0612345678"`` -> ``"06******78"``;
- credentials (``password``, ``secret``, ``token``, ``authorization``, ``cookie``,
  ``key``, ``cert``, ``login``, ``Utilisateur``, ``passphrase``, and any key
  containing ``password``/``secret``/``token``): the value is replaced by
  ``[masqué]``. Paths such as ``cert_file``/``key_file`` and the supplier's
  identifiers ``DNEntreprise``/``NumeroCAD`` (in every request and in
  settings.toml, needed to diagnose OMEGA refusals) stay readable;
- in every string value (messages, exceptions, SOAP excerpts): French phone numbers
  (``06 12 34 56 78``, ``+33 6...``, ``0033...``) and the text of the XML elements
  ``Nom``, ``Telephone``, ``TelephoneFournisseur``, ``Login``, ``Password`` are masked,
  and so are the user information of a URL (``https://user:pass@host`` ->
  ``https://[masqué]@host``) and the local part of an e-mail address (``du***@example.com``).
  Names written into free text cannot be recognised: pass them under a key.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Collection, Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, ExcInfo, Processor, WrappedLogger

from pipeline.log_sinks import ConsoleHandler, SafeFileHandler, SkipEvents

MASK = "[masqué]"
# Per-call and per-row events: in the file always, on the console only with -v.
CONSOLE_SKIP_EVENTS = frozenset({"omega_call", "row_outcome"})
NOISY_LIBRARIES = ("zeep", "urllib3", "requests", "cheroot", "filelock")
SUMMARY_MAX_CHARS = 300  # an exception's one-line summary on the console is cut beyond

_NAME_KEYS = frozenset(
    {
        "nomcontact",
        "contactnom",
        "nom",
        "contact",
        "contactname",
        "nomclient",
        "prenom",
        "fullname",
        "personname",
    }
)
_PHONE_KEYS = frozenset({"tel", "mobile", "portable", "gsm", "fax"})
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "motdepasse",
        "secret",
        "token",
        "authorization",
        "auth",
        "cookie",
        "setcookie",
        "apikey",
        "key",
        "privatekey",
        "keypem",
        "cert",
        "certificate",
        "certpem",
        "login",
        "utilisateur",
        "user",
        "username",
        "credentials",
        "passphrase",
    }
)
_SECRET_PARTS = ("password", "secret", "token", "passphrase", "motdepasse")

_PHONE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)33[\s.\-]?(?:\(0\)[\s.\-]?)?|0)[1-9](?:[\s.\-]?\d{2}){4}(?!\d)"
)
_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@]+@")
_EMAIL = re.compile(r"(?<![\w.+\-])([\w.+\-]+)@([\w\-]+(?:\.[\w\-]+)+)")
_XML_PERSONAL = re.compile(
    r"<((?:[\w.-]+:)?(?:Nom|Telephone|TelephoneFournisseur|Login|Password))(\s[^>]*)?>"
    r"([^<]*)</\1>"
)

_handlers: list[logging.Handler] = []
_saved_levels: dict[str, int] = {}
_saved_root_level: int | None = None


@lru_cache(maxsize=512)
def _kind(key: str) -> str:
    """How a key's value is masked: 'name', 'phone', 'secret' or '' (not by key)."""
    k = re.sub(r"[^a-z]", "", key.casefold())
    if k in _SECRET_KEYS or any(part in k for part in _SECRET_PARTS):
        return "secret"
    if k in _PHONE_KEYS or "telephone" in k or "phone" in k:
        return "phone"
    if k in _NAME_KEYS:
        return "name"
    return ""


def mask_name(value: object) -> str:
    """``"Dupont"`` -> ``"Du***"`` (two first letters kept)."""
    text = str(value).strip()
    return (text[:2] if len(text) > 2 else "") + "***" if text else ""


def mask_phone(value: object) -> str:
    """``"06 12 34 56 78"`` -> ``"06******78"``: two first and two last digits kept."""
    digits = re.sub(r"\D", "", str(value))
    if not digits:
        return "***" if str(value).strip() else ""
    if len(digits) < 6:
        return "*" * len(digits)
    return digits[:2] + "*" * (len(digits) - 4) + digits[-2:]


def mask_text(text: str) -> str:
    """Mask phone numbers and personal XML elements inside free text."""
    if "@" in text:
        text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
        text = _EMAIL.sub(lambda m: mask_name(m.group(1)) + "@" + m.group(2), text)
    if "<" in text:
        text = _XML_PERSONAL.sub(_mask_xml, text)
    if any(c.isdigit() for c in text):
        text = _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    return text


def _mask_xml(match: re.Match[str]) -> str:
    tag, attrs, content = match.group(1), match.group(2) or "", match.group(3)
    local = tag.rsplit(":", 1)[-1]
    if local in ("Login", "Password"):
        masked = MASK
    elif local.startswith("Telephone"):
        masked = mask_phone(content)
    else:
        masked = mask_name(content)
    return f"<{tag}{attrs}>{masked}</{tag}>"


def _mask_value(key: str, value: Any, depth: int = 0) -> Any:
    kind = _kind(key)
    if kind == "secret":
        return MASK if value not in (None, "") else value
    if kind == "phone" and value not in (None, ""):
        return mask_phone(value)
    if kind == "name" and value not in (None, ""):
        return mask_name(value)
    if isinstance(value, str):
        return mask_text(value)
    if depth < 4:
        if isinstance(value, Mapping):
            return {k: _mask_value(str(k), v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(_mask_value("", v, depth + 1) for v in value)
    return value


def mask_personal_data(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask contact names, phone numbers and credentials (see module doc)."""
    for key, value in list(event_dict.items()):
        if key.startswith("_") or value is None or isinstance(value, bool | int | float):
            continue
        event_dict[key] = _mask_value(key, value)
    return event_dict


def _timestamp(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """ISO 8601 local time with its offset, to the millisecond."""
    event_dict.setdefault(
        "timestamp", datetime.now().astimezone().isoformat(timespec="milliseconds")
    )
    return event_dict


# The chain, declared once: shared steps, then each sink's renderer.
_SHARED: tuple[Processor, ...] = (
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.PositionalArgumentsFormatter(),
    _timestamp,
    structlog.processors.StackInfoRenderer(),
)
_FILE_TAIL: tuple[Processor, ...] = (
    structlog.processors.format_exc_info,  # one string, masked like any text (no locals)
    mask_personal_data,
    structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
)


def exception_summary(exc: BaseException) -> str:
    """One line for an exception: its type (module-qualified unless built in) and message.

    Line breaks and runs of spaces in the message become one space; beyond
    ``SUMMARY_MAX_CHARS`` characters the line is cut and ends with ``…``.
    """
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):
        name = f"{kind.__module__}.{name}"
    try:
        message = " ".join(str(exc).split())
    except Exception:  # a broken __str__ must not break logging
        message = "(message illisible)"
    text = f"{name}: {message}" if message else name
    if len(text) > SUMMARY_MAX_CHARS:
        text = text[: SUMMARY_MAX_CHARS - 1] + "…"
    return text


def _one_line_exception(sio: TextIO, exc_info: ExcInfo) -> None:
    """ConsoleRenderer's exception formatter: the summary on the event's line, masked."""
    sio.write(" exception=" + repr(mask_text(exception_summary(exc_info[1]))))


def _drop_stack(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Console: no multi-line stack (``stack_info=True``); the file keeps it."""
    event_dict.pop("stack", None)
    return event_dict


def _console_tail(colors: bool) -> tuple[Processor, ...]:
    # exc_info is left to the renderer, whose exception formatter writes the one-line
    # summary (format_exc_info would turn it into the full traceback).
    return (
        _drop_stack,
        mask_personal_data,
        structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=_one_line_exception),
    )


def console_level(verbosity: int) -> int:
    """WARNING when quiet (< 0), INFO by default, DEBUG when verbose (> 0)."""
    if verbosity < 0:
        return logging.WARNING
    return logging.DEBUG if verbosity > 0 else logging.INFO


def log_file_path(log_dir: Path, started: datetime) -> Path:
    """``<log_dir>/run-<YYYYMMDD-HHMMSS>.jsonl``."""
    return log_dir / f"run-{started:%Y%m%d-%H%M%S}.jsonl"


def configure_logging(
    *,
    log_file: Path | None,
    verbosity: int = 0,
    console_stream: TextIO = sys.stderr,
    console_skip_events: Collection[str] = CONSOLE_SKIP_EVENTS,
    console: bool = True,
) -> None:
    """Send structlog and standard logging to ``log_file`` (JSON lines) and the console.

    ``console=False``: the file only (the command line prints its own French summary).

    Events named in ``console_skip_events`` (one per OMEGA call or per row: hundreds of
    thousands a night) go to the file only, unless ``verbosity > 0`` or they are
    warnings or worse.
    """
    global _saved_root_level
    reset_logging()
    SafeFileHandler.problem = ""
    level = console_level(verbosity)
    file_level = logging.DEBUG if verbosity > 0 else logging.INFO
    colors = bool(getattr(console_stream, "isatty", lambda: False)())

    def formatter(tail: tuple[Processor, ...]) -> structlog.stdlib.ProcessorFormatter:
        return structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=list(_SHARED),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )

    handlers: list[logging.Handler] = []
    if console:
        screen = ConsoleHandler(console_stream)
        screen.setLevel(level)
        screen.setFormatter(formatter(_console_tail(colors)))
        if verbosity <= 0 and console_skip_events:
            screen.addFilter(SkipEvents(frozenset(console_skip_events)))
        handlers.append(screen)
    if log_file is not None:
        # A log folder that cannot be written (full, read-only) leaves the console only,
        # said once on stderr and in :func:`log_file_problem`; never a traceback.
        file_handler = SafeFileHandler.open(log_file, console_stream)
        if file_handler is not None:
            file_handler.setLevel(file_level)
            file_handler.setFormatter(formatter(_FILE_TAIL))
            handlers.append(file_handler)

    root = logging.getLogger()
    _saved_root_level = root.level
    root.setLevel(min((h.level for h in handlers), default=logging.WARNING))
    for handler in handlers:
        root.addHandler(handler)
        _handlers.append(handler)
    for name in NOISY_LIBRARIES:
        lib = logging.getLogger(name)
        _saved_levels[name] = lib.level
        lib.setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def log_file_problem() -> str:
    """Why the run log is missing or incomplete (French), or '' when it is whole."""
    return SafeFileHandler.problem


def reset_logging() -> None:
    """Undo :func:`configure_logging` (handlers closed, levels and structlog restored)."""
    global _saved_root_level
    root = logging.getLogger()
    for handler in _handlers:
        root.removeHandler(handler)
        handler.close()
    _handlers.clear()
    for name, level in _saved_levels.items():
        logging.getLogger(name).setLevel(level)
    _saved_levels.clear()
    if _saved_root_level is not None:
        root.setLevel(_saved_root_level)
        _saved_root_level = None
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
