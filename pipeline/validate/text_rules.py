"""Rules on the characters of a cell: what cannot be sent, and what is harmlessly cleaned.

Every canonical field is sent to OMEGA inside an XML message. A cell holding a control
character (Cc: the C0 and C1 ranges, DEL), half of a surrogate pair or a Unicode
non-character cannot be sent at all (XML refuses most of them) and is invisible in
Excel: ``CARACTERE_INTERDIT``, an error naming the field, the position and the code
point. Resending could never help, so the row is rejected before sending rather than
failing on the wire.

Line breaks and tabs (Alt+Entrée in an Excel cell, a paste from a mail) and invisible
format characters (Cf: zero-width space, soft hyphen, byte order mark...) are harmless in
the free-text fields of :data:`FREE_TEXT`: they are replaced by one space (line breaks,
tabs) or removed (format characters) before sending, with the ``CARACTERE_RETIRE``
warning. In any other field (PCE, codes, dates, phones, reference...) they are an error:
an identifier with an invisible character is not the identifier the user sees.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from pipeline.records import CANONICAL_FIELDS, Finding
from pipeline.validate.rule_catalogue import finding

FREE_TEXT: frozenset[str] = frozenset(
    {"NomContact", "ComplementAdresse", "PrecisionIntervention", "CommentaireFournisseur"}
    | {"Commentaire"}
)
_BREAKS = frozenset("\t\n\r\u2028\u2029\x85")  # line breaks and tabs: become a space
_BREAK_RUN = re.compile("[\t\n\r\u2028\u2029\x85]+")


def is_plain(every: tuple[str, ...]) -> bool:
    """The screen: True when no value of the row holds a non-printable character."""
    return "".join(every).isprintable()


def _kind(char: str) -> str:
    """'' for an ordinary character, 'break', 'format' or 'forbidden'."""
    if char in _BREAKS:
        return "break"
    category = unicodedata.category(char)
    if category in ("Cc", "Cs") or (category == "Cn" and (ord(char) & 0xFFFE) == 0xFFFE):
        return "forbidden"
    if category == "Cf":
        return "format"
    return ""


def check_characters(values: Mapping[str, str], line: int, out: list[Finding]) -> None:
    """Report the fields holding characters that cannot be sent, or that are cleaned."""
    for field in CANONICAL_FIELDS:
        value = values.get(field, "")
        if not value or value.isprintable():
            continue
        found = [(i, c, _kind(c)) for i, c in enumerate(value, start=1)]
        found = [item for item in found if item[2]]
        if not found:
            continue  # non-printable only by Python's reading (e.g. a non-breaking space)
        hard = [item for item in found if item[2] == "forbidden" or field not in FREE_TEXT]
        shown = value.encode("unicode_escape").decode("ascii")
        if hard:
            position, char, _ = hard[0]
            message = (
                f"Champ {field} : caractère invisible U+{ord(char):04X} "
                f"({unicodedata.name(char, 'caractère de contrôle')}) en position {position}"
                f"{f' (et {len(hard) - 1} autre(s))' if len(hard) > 1 else ''} : il ne peut "
                "pas être envoyé à OMEGA. Ressaisir la cellule au clavier (ne pas la coller "
                "depuis un autre logiciel)."
            )
            out.append(finding("CARACTERE_INTERDIT", field, shown, message, line))
            continue
        cleaned = clean_text(value)
        message = (
            f"Champ {field} : saut(s) de ligne, tabulation(s) ou caractère(s) invisible(s) "
            f"retiré(s) avant envoi ; « {cleaned} » sera envoyé."
        )
        out.append(finding("CARACTERE_RETIRE", field, shown, message, line))


def clean_text(value: str) -> str:
    """A free-text value as sent: line breaks and tabs as one space, format characters out."""
    spaced = _BREAK_RUN.sub(" ", value)
    return "".join(c for c in spaced if unicodedata.category(c) != "Cf").strip()


def cleaned_free_text(values: dict[str, str]) -> None:
    """Clean, in place, the free-text fields holding only harmless characters."""
    for field in FREE_TEXT:
        value = values.get(field, "")
        if value and not value.isprintable():
            values[field] = clean_text(value)
