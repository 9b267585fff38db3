"""A request's fingerprint: what a reused idempotency key is compared against.

The idempotency key (ReferenceDemande, or file hash + row) says *which* request a row
is; the fingerprint kept with each journal record says *what* that request was:

- ``identity``: NumeroPCE, CodeLibelleIntervention and CodeMotifIntervention, in clear.
  A key coming back with another identity is another request reusing the reference:
  it is refused (``REFERENCE_DEJA_UTILISEE``), never given the first request's answer.
- ``digests``: a short digest (6 hex digits of SHA-256) of every other filled field
  (date, slot, contact, index...). A key coming back with the same identity is the
  same request: it stays DEJA_TRAITEE, and the fields whose digest changed are listed
  in a ``MODIFICATIONS_NON_ENVOYEES`` warning (they were not sent). Six hex digits
  cannot be turned back into a phone number or a name (about six phone numbers share
  each digest) while a changed value goes unnoticed once in 16 million.

Records written before fingerprints were kept (schema 2) have an empty one: they are
compared with nothing, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pipeline.records import Finding, Severity

IDENTITY_FIELDS: tuple[str, ...] = (
    "NumeroPCE",
    "CodeLibelleIntervention",
    "CodeMotifIntervention",
)
_NOT_DIGESTED = frozenset({"ReferenceDemande", *IDENTITY_FIELDS})

REUSED_RULE = "REFERENCE_DEJA_UTILISEE"
CHANGES_RULE = "MODIFICATIONS_NON_ENVOYEES"


def fingerprint(values: Mapping[str, str]) -> dict[str, Any]:
    """The fingerprint of a row's cleaned values (JSON-ready)."""
    return {
        "identity": {name: values.get(name, "").strip() for name in IDENTITY_FIELDS},
        "digests": {
            name: _digest(value)
            for name, value in sorted(values.items())
            if name not in _NOT_DIGESTED and value.strip()
        },
    }


def identity_changes(kept: Mapping[str, Any], values: Mapping[str, str]) -> tuple[str, ...]:
    """The identity fields where ``values`` differ from the kept fingerprint (none when
    the record has no fingerprint)."""
    identity = kept.get("identity")
    if not isinstance(identity, Mapping):
        return ()
    return tuple(
        name
        for name in IDENTITY_FIELDS
        if str(identity.get(name, "")) != values.get(name, "").strip()
    )


def changed_fields(kept: Mapping[str, Any], values: Mapping[str, str]) -> tuple[str, ...]:
    """The other fields whose value differs from the one sent (filled, emptied or changed)."""
    digests = kept.get("digests")
    if not isinstance(digests, Mapping):
        return ()
    now = fingerprint(values)["digests"]
    names = sorted(set(digests) | set(now))
    return tuple(name for name in names if digests.get(name) != now.get(name))


def reused_reference(
    key: str,
    line: int,
    values: Mapping[str, str],
    kept: Mapping[str, Any],
    *,
    designates: str,
) -> Finding:
    """The error of a key that already designates another request (``designates`` says
    which: its NumeroDemande, PCE and creation date, or its file and row)."""
    identity = kept.get("identity", {})
    differences = ", ".join(
        f"{name} « {identity.get(name, '')} » → « {values.get(name, '')} »"
        for name in identity_changes(kept, values)
    )
    message = (
        f"ReferenceDemande « {key} » déjà utilisée pour une autre demande ({designates}) ; "
        f"cette ligne est une demande différente ({differences}) : elle n'a pas été envoyée. "
        "Donner à cette demande une référence nouvelle, puis redéposer la ligne "
        "(fichier à resoumettre)."
    )
    return Finding(REUSED_RULE, Severity.ERROR, "ReferenceDemande", key, message, line)


def unsent_changes(key: str, line: int, fields: tuple[str, ...], *, numero_demande: str) -> Finding:
    """The warning of a request already sent whose other fields changed since."""
    demand = f"La demande OMEGA n° {numero_demande}" if numero_demande else "La demande"
    message = (
        f"Demande déjà envoyée sous la référence « {key} » ; ces champs diffèrent de ce qui "
        f"a été envoyé et n'ont pas été renvoyés : {', '.join(fields)}. {demand} existe "
        "déjà : la modifier sur le portail OMEGA si nécessaire (ne pas la redéposer)."
    )
    return Finding(CHANGES_RULE, Severity.WARNING, ", ".join(fields), "", message, line)


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().encode("utf-8")).hexdigest()[:6]
