"""Rules on the contact's phone: from NumeroVersion V8 on, OMEGA takes digits only, so
spaces, dots and dashes are stripped before sending (TEL_NETTOYE) and anything else is
refused (TEL_FORMAT).
"""

from __future__ import annotations

from pipeline.records import Finding
from pipeline.validate.rule_catalogue import finding


def strip_separators(phone: str) -> str:
    """The phone without spaces (any kind, non-breaking included), dots and dashes."""
    return "".join(phone.split()).replace(".", "").replace("-", "")


def check_phone(phone: str, digits_only: bool, line: int, out: list[Finding]) -> str:
    """Check the contact phone; return the value that would be sent.

    ``digits_only`` is whether the NumeroVersion (V8 and later) wants digits only.
    """
    if not phone or not digits_only or (phone.isdigit() and phone.isascii()):
        return phone
    cleaned = strip_separators(phone)
    if not (cleaned.isascii() and cleaned.isdigit()):
        message = (
            f"TelephoneContact « {phone} » invalide : OMEGA n'accepte que des chiffres dans "
            "le téléphone du contact (règle de la version d'échange V8 et suivantes, "
            "celle de ce traitement)."
        )
        out.append(finding("TEL_FORMAT", "TelephoneContact", phone, message, line))
        return phone
    message = (
        f"TelephoneContact « {phone} » : espaces, points et tirets retirés, "
        f"« {cleaned} » sera envoyé."
    )
    out.append(finding("TEL_NETTOYE", "TelephoneContact", phone, message, line))
    return cleaned
