"""OMEGA's shipped service descriptions, parsed once per process and shared read-only.

``load_wsdl_documents`` parses the DIT and RDV WSDLs (and omega.xsd) from the package,
never from the network, and computes zeep's lazily cached type properties before the
documents are shared between the clients of several threads (docs/client.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from zeep import Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from pipeline.contract import DIT_WSDL, RDV_WSDL

__all__ = ["WsdlDocuments", "load_wsdl_documents"]

# zeep's own annotations are partial (Document expects a Transport *class*): call through Any.
_zeep_document: Any = Document


@dataclass(frozen=True)
class WsdlDocuments:
    """The two parsed service descriptions; read-only once built."""

    dit: Any  # zeep.wsdl.Document
    rdv: Any


_WSDL_LOCK = threading.Lock()
_WSDL_DOCUMENTS: WsdlDocuments | None = None


def load_wsdl_documents() -> WsdlDocuments:
    """Parse the shipped DIT and RDV WSDLs (and omega.xsd) once per process, offline."""
    global _WSDL_DOCUMENTS
    with _WSDL_LOCK:
        if _WSDL_DOCUMENTS is None:
            loader = _LocalOnlyTransport()  # type: ignore[no-untyped-call]
            dit = _zeep_document(str(DIT_WSDL), loader, settings=Settings())
            rdv = _zeep_document(str(RDV_WSDL), loader, settings=Settings())
            for document in (dit, rdv):
                _warm_up(document)
            _WSDL_DOCUMENTS = WsdlDocuments(dit=dit, rdv=rdv)
        return _WSDL_DOCUMENTS


# ----- private helpers ------------------------------------------------------------------


class _LocalOnlyTransport(Transport):
    """Loads the shipped contract files; refuses anything on the network."""

    def load(self, url: str) -> bytes:
        if urlparse(url).scheme not in ("", "file"):
            raise ValueError(f"contrat OMEGA : chargement réseau refusé ({url})")
        path = Path(url.removeprefix("file://"))
        return path.read_bytes()


def _warm_up(document: Document) -> None:
    """Compute zeep's lazily cached type properties now, in one thread, before sharing."""
    for binding in document.bindings.values():
        for operation in binding._operations.values():
            for message in (operation.input, operation.output):
                if message is not None:
                    message.signature(as_output=message is operation.output)
