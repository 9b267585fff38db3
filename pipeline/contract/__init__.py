"""The OMEGA contract shipped with dit-batch: WSDL + XSD written from the spec.

``DIT_WSDL`` and ``RDV_WSDL`` are the paths of the two service descriptions;
``XSD`` the schema both import. ``field_max_lengths()`` gives the maxLength the
contract allows for each request element, so the validator never hard-codes them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent
DIT_WSDL = HERE / "dit.wsdl"
RDV_WSDL = HERE / "rdv.wsdl"
XSD = HERE / "omega.xsd"
NAMESPACE = "urn:dit-batch:omega:v9"
_XS = "{http://www.w3.org/2001/XMLSchema}"


@cache
def field_max_lengths() -> dict[str, int]:
    """maxLength per element name of RequeteWSCreerDIT (leaf names are unique there)."""
    tree = etree.parse(str(XSD))
    lengths_by_type: dict[str, int] = {}
    for simple in tree.iter(f"{_XS}simpleType"):
        name = simple.get("name")
        max_length = simple.find(f"{_XS}restriction/{_XS}maxLength")
        if name and max_length is not None:
            lengths_by_type[name] = int(max_length.get("value", "0"))
    root = tree.find(f"{_XS}element[@name='RequeteWSCreerDIT']")
    assert root is not None
    result: dict[str, int] = {}
    for element in root.iter(f"{_XS}element"):
        type_name = (element.get("type") or "").removeprefix("tns:")
        if type_name in lengths_by_type:
            result[element.get("name", "")] = lengths_by_type[type_name]
    return result
