"""codeMessageOMEGA: the supplier's table of meanings and the code read from an answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, ConfigError
from pipeline.execute.message_codes import describe_code, load_message_codes, message_code


def test_shipped_table_is_empty_and_an_absent_one_too(tmp_path: Path) -> None:
    """The referential ships the header only; a folder without the file has no meanings."""
    assert load_message_codes(PROJECT_ROOT / "config" / "referential") == {}
    assert load_message_codes(tmp_path) == {}


def test_code_is_read_from_either_annexe_a_message_and_described() -> None:
    """The code after « …code suivant : » or « …confirmer le rendez-vous : » is shown with
    its meaning, or with where to record it."""
    poursuivre = "…pour poursuivre analyser le message lié au code suivant : X12"
    assert message_code([poursuivre]) == "X12"
    assert message_code(["…un technicien rappellera le client pour confirmer le rendez-vous : Y"])
    assert message_code(["Demande recevable"]) == ""
    assert describe_code("X12", {"X12": "à rappeler"}) == "code OMEGA X12 : à rappeler"
    assert "codes_message_omega.csv" in describe_code("X12", {})


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("Code;Sens\n", "ligne 1 : en-tête"),
        ("CodeMessageOMEGA;Signification\nX1\n", "ligne 2 : un code et sa signification"),
        ("CodeMessageOMEGA;Signification\nX1;a\nX1;b\n", "ligne 3 : code X1 en double"),
    ],
)
def test_malformed_table_is_a_configuration_error(
    tmp_path: Path, content: str, needle: str
) -> None:
    """A broken table stops the run as a configuration error naming file and line."""
    (tmp_path / "codes_message_omega.csv").write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_message_codes(tmp_path)
