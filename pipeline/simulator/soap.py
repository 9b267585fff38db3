"""SOAP 1.1 plumbing of the simulator: safe parsing, XSD validation, dicts <-> XML, faults.

Pure functions over bytes and lxml elements; no HTTP here (see ``server.py``).

Parsing never resolves anything: no DTD is loaded, no entity is substituted, no
network is touched, and a document that carries a DOCTYPE (hence any entity
declaration) is refused outright.

Validation uses one ``lxml.etree.XMLSchema`` per thread: a schema object keeps the
last validation's ``error_log`` on itself, so a shared one would mix the errors of two
concurrent requests. The XSD text is read once; each worker thread compiles its own
schema from it the first time it validates (a few milliseconds, once per thread).

Compilations never overlap (``_COMPILE_LOCK``), and the server compiles one in the
starting thread (:func:`prepare`) before any worker exists: libxml2 builds its table of
XSD built-in types lazily, without locking, on the first schema compilation of the
process (``xmlSchemaInitTypes``). Two first compilations at once can corrupt that
table: the compilation fails (``XMLSchemaParseError: Internal error:
xmlSchemaPValAttrNodeValue, the given type is not a built-in type``) or a schema is
built that later loops forever while validating.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from pipeline.contract import NAMESPACE, XSD

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"

# operation -> (request element, response element), per service endpoint.
DIT_OPERATIONS: dict[str, tuple[str, str]] = {
    "VerifierRecevabiliteDIT": (
        "RequeteWSVerifierRecevabiliteDIT",
        "ReponseWSVerifierRecevabiliteDIT",
    ),
    "CreerDemandeDIT": ("RequeteWSCreerDIT", "ReponseWSCreerDIT"),
}
RDV_OPERATIONS: dict[str, tuple[str, str]] = {
    op: (f"RequeteWS{op}", f"ReponseWS{op}")
    for op in (
        "ProposerDatePlage",
        "AccepterRdv",
        "DemanderPrecSuiv",
        "AbandonnerRdv",
        "AbandonnerDemande",
    )
}
SERVICES: dict[str, dict[str, tuple[str, str]]] = {"DIT": DIT_OPERATIONS, "RDV": RDV_OPERATIONS}
MAX_REPORTED_ERRORS = 5


class SoapFault(Exception):
    """A request the simulator refuses with a SOAP 1.1 fault (``code`` = Client/Server...)."""

    def __init__(self, message: str, code: str = "Client") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed, valid request: which operation, its element, and its content as a dict."""

    operation: str
    response_element: str
    element: etree._Element
    data: dict[str, Any]


_local = threading.local()
_XSD_BYTES = XSD.read_bytes()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=False,
        )
        _local.parser = parser
    return parser


_COMPILE_LOCK = threading.Lock()


def _compile() -> etree.XMLSchema:
    """A new compiled contract schema (call with ``_COMPILE_LOCK`` held)."""
    doc = etree.fromstring(_XSD_BYTES, etree.XMLParser(no_network=True, load_dtd=False))
    return etree.XMLSchema(etree.ElementTree(doc))


def schema() -> etree.XMLSchema:
    """This thread's compiled contract schema (compiled on first use, one thread at a time)."""
    compiled: etree.XMLSchema | None = getattr(_local, "schema", None)
    if compiled is None:
        with _COMPILE_LOCK:
            compiled = _compile()
        _local.schema = compiled
    return compiled


def prepare() -> None:
    """Compile the calling thread's schema now: call it before starting worker threads.

    The first compilation of the process also initialises libxml2's XSD built-in types,
    which is not thread-safe; doing it here, before any concurrent request, keeps it out
    of reach of other threads. Raises ``etree.XMLSchemaParseError`` if omega.xsd is not
    a usable schema.
    """
    schema()


def parse_request(body: bytes, service: str) -> SoapRequest:
    """Parse and validate a SOAP 1.1 request for ``service`` ("DIT" or "RDV").

    Raises SoapFault (Client, or VersionMismatch for a SOAP 1.2 envelope) with a
    French message naming what is wrong.
    """
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SoapFault("Requête refusée : les déclarations DOCTYPE/ENTITY sont interdites.")
    if not body.strip():
        raise SoapFault("Requête vide : une enveloppe SOAP 1.1 est attendue.")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise SoapFault(f"XML mal formé : {exc}") from None
    tree = root.getroottree()
    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SoapFault("Requête refusée : les déclarations DOCTYPE/ENTITY sont interdites.")
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in (SOAP_ENV, SOAP12_ENV):
        raise SoapFault("Le corps de la requête n'est pas une enveloppe SOAP (Envelope attendu).")
    if qname.namespace == SOAP12_ENV:
        raise SoapFault(
            "Enveloppe SOAP 1.2 non prise en charge : ce service parle SOAP 1.1.",
            code="VersionMismatch",
        )
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None:
        raise SoapFault("Enveloppe SOAP sans élément Body.")
    children = [c for c in body_el if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault(f"Le Body SOAP doit contenir un seul élément (trouvé : {len(children)}).")
    element = children[0]
    el_name = etree.QName(element)
    operations = SERVICES[service]
    by_element = {req: (op, resp) for op, (req, resp) in operations.items()}
    if el_name.namespace != NAMESPACE or el_name.localname not in by_element:
        expected = ", ".join(by_element)
        raise SoapFault(
            f"Opération inconnue pour le service {service} : {el_name.localname} "
            f"(espace de noms {el_name.namespace or 'aucun'}) ; attendu : {expected} "
            f"dans {NAMESPACE}."
        )
    validate(element)
    operation, response_element = by_element[el_name.localname]
    return SoapRequest(operation, response_element, element, element_to_dict(element))


def validate(element: etree._Element) -> None:
    """Validate a request (or response) element against the contract XSD, or SoapFault."""
    compiled = schema()
    if compiled.validate(element):
        return
    log: Any = compiled.error_log
    errors = [_describe(error) for error in log]
    shown = errors[:MAX_REPORTED_ERRORS]
    if len(errors) > len(shown):
        shown.append(f"… et {len(errors) - len(shown)} autre(s) erreur(s)")
    raise SoapFault("Requête non conforme au contrat (XSD) : " + " ; ".join(shown))


_NS = re.compile(r"\{[^}]*\}")
_PREFIX = re.compile(r"(^|/)[A-Za-z_][\w.-]*:")
_ELEMENT = re.compile(r"^Element '([^']*)'(?:, attribute '([^']*)')?: ")
_TRANSLATIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\[facet 'maxLength'\] The value has a length of '(\d+)'; .* length of '(\d+)'"
        ),
        r"longueur \1 supérieure au maximum autorisé (\2)",
    ),
    (
        re.compile(
            r"\[facet 'minLength'\] The value has a length of '(\d+)'; .* length of '(\d+)'"
        ),
        r"longueur \1 inférieure au minimum autorisé (\2)",
    ),
    (
        re.compile(r"\[facet 'pattern'\] The value '(.*)' is not accepted by the pattern '(.*)'"),
        r"valeur '\1' au format incorrect (motif attendu : \2)",
    ),
    (
        re.compile(r"\[facet 'enumeration'\] The value '(.*)' is not an element of the set (.*)\."),
        r"valeur '\1' non autorisée (valeurs possibles : \2)",
    ),
    (
        re.compile(r"This element is not expected\. Expected is (?:one of )?\( (.*) \)\."),
        r"élément inattendu à cet endroit (attendu : \1)",
    ),
    (re.compile(r"This element is not expected\."), "élément inattendu à cet endroit"),
    (
        re.compile(r"Missing child element\(s\)\. Expected is (?:one of )?\( (.*) \)\."),
        r"élément(s) obligatoire(s) manquant(s) : \1",
    ),
    (
        re.compile(r"Character content other than whitespace is not allowed.*"),
        "texte non autorisé dans cet élément (il ne contient que des sous-éléments)",
    ),
    (
        re.compile(r"Element content is not allowed, because the content type is a simple type.*"),
        "sous-élément non autorisé dans un champ simple",
    ),
    (
        re.compile(r"The attribute '(.*)' is not allowed\."),
        r"attribut '\1' non autorisé",
    ),
    (
        re.compile(r"No matching global declaration available for the validation root\."),
        "élément inconnu du contrat",
    ),
)


def _describe(error: Any) -> str:
    """One libxml validation error as 'Element (path) : cause' in French."""
    message = str(error.message)
    element = ""
    match = _ELEMENT.match(message)
    if match:
        element = _NS.sub("", match.group(1))
        if match.group(2):
            element += f"@{match.group(2)}"
        message = message[match.end() :]
    message = _NS.sub("", message)
    for pattern, replacement in _TRANSLATIONS:
        if pattern.search(message):
            message = pattern.sub(replacement, message)
            break
    path = _PREFIX.sub(r"\1", str(error.path or ""))
    path = path.lstrip("/")
    where = element or path or "?"
    if element and "/" in path and path.rsplit("/", 1)[-1] == element:
        where = f"{element} ({path})"
    return f"{where} : {message.strip().rstrip('.')}"


def element_to_dict(element: etree._Element) -> dict[str, Any]:
    """The children of ``element`` as a dict (local names; leaf -> text or ''; repeated -> list)."""
    result: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        key = etree.QName(child).localname
        has_children = any(isinstance(c.tag, str) for c in child)
        value: Any = element_to_dict(child) if has_children else (child.text or "").strip()
        if key in result:
            existing = result[key]
            if isinstance(existing, list):
                existing.append(value)
            else:
                result[key] = [existing, value]
        else:
            result[key] = value
    return result


def _fill(parent: etree._Element, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            child = etree.SubElement(parent, f"{{{NAMESPACE}}}{key}")
            if isinstance(item, Mapping):
                _fill(child, item)
            elif isinstance(item, bool):
                child.text = "1" if item else "0"
            else:
                child.text = str(item)


def response_element(name: str, data: Mapping[str, Any]) -> etree._Element:
    """The response element ``name`` (contract namespace) built from the engine's dict."""
    element = etree.Element(f"{{{NAMESPACE}}}{name}", nsmap={"tns": NAMESPACE})
    _fill(element, data)
    return element


def envelope(payload: etree._Element) -> bytes:
    """``payload`` wrapped in a SOAP 1.1 envelope, serialized as UTF-8 with declaration."""
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "tns": NAMESPACE})
    body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
    body.append(payload)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


def fault(code: str, message: str) -> bytes:
    """A SOAP 1.1 fault envelope (``code``: Client, Server, VersionMismatch)."""
    element = etree.Element(f"{{{SOAP_ENV}}}Fault")
    code_el = etree.SubElement(element, "faultcode")
    code_el.text = f"soap:{code}"
    string_el = etree.SubElement(element, "faultstring")
    string_el.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    string_el.text = message
    return envelope(element)
