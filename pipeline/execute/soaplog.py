"""Support logging of SOAP exchanges, with personal data and credentials redacted.

``SoapLogPlugin`` is a zeep plugin: it serialises each envelope going out or
coming in, blanks the text of every element named in ``REDACTED`` (whatever its
namespace prefix), masks all but the last four characters of a ``NumeroPCE`` and
quoted values in a fault's text, and logs the result on the structlog logger
``omega.soap``. The raw envelope is never handed to a logger.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from lxml import etree
from zeep import Plugin

LOGGER_NAME = "omega.soap"
MASK = "***"

# Elements whose whole text is personal data, free text that may hold some, or a credential.
REDACTED: frozenset[str] = frozenset(
    {
        "DNEntreprise",
        "NumeroCAD",
        "Login",
        "TelephoneFournisseur",
        "CommentaireFournisseur",
        "Commentaire",
        "PrecisionIntervention",
        "Nom",
        "Telephone",
        "CodeAcces",
        "ComplementAdresse",
        "ValeurIndexReleve",
        "ValeurIndexClient",
    }
)
# Elements kept recognisable for support (last 4 characters) but not whole.
PARTIAL: frozenset[str] = frozenset({"NumeroPCE"})
# Free-text error elements: a server may quote the offending value there; quotes are masked.
QUOTING: frozenset[str] = frozenset({"faultstring", "detail"})
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|&quot;.*?&quot;|&apos;.*?&apos;")

_ELEMENT = re.compile(
    r"<(?P<prefix>[\w.-]+:)?(?P<name>[\w.-]+)(?P<attrs>\s[^<>]*)?>(?P<text>[^<]*)</(?P=prefix)?(?P=name)>"
)


def redact_xml(xml: str) -> str:
    """The XML text with the values of ``REDACTED`` elements masked and ``PARTIAL`` ones cut."""

    def mask(match: re.Match[str]) -> str:
        name, text = match["name"], match["text"]
        if name in REDACTED and text:
            text = MASK
        elif name in PARTIAL and text:
            text = MASK + text[-4:] if len(text) > 4 else MASK
        elif name in QUOTING and text:
            text = _QUOTED.sub(MASK, text)
        else:
            return match[0]
        prefix = match["prefix"] or ""
        return f"<{prefix}{name}{match['attrs'] or ''}>{text}</{prefix}{name}>"

    return _ELEMENT.sub(mask, xml)


class SoapLogPlugin(Plugin):
    """Logs every SOAP envelope, redacted, on ``omega.soap`` (event soap.request/soap.response)."""

    def egress(
        self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any
    ) -> tuple[Any, Any]:
        _log("soap.request", operation, envelope)
        return envelope, http_headers

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        _log("soap.response", operation, envelope)
        return envelope, http_headers


def _log(event: str, operation: Any, envelope: Any) -> None:
    text = etree.tostring(envelope, encoding="unicode")
    # Looked up at each call so that structlog configuration changes (tests) apply.
    structlog.get_logger(LOGGER_NAME).info(
        event,
        logger=LOGGER_NAME,
        operation=getattr(operation, "name", str(operation)),
        xml=redact_xml(text),
    )
