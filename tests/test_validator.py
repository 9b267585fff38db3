"""Tests of pipeline.validate.validator: every rule, valid and invalid, on the referential."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.records import CANONICAL_FIELDS, RequestRow, Severity
from pipeline.referential import Referential, load_referential
from pipeline.validate.rule_catalogue import RULE_INFO, RULES, rules_markdown
from pipeline.validate.validator import FileValidator

TODAY = datetime.date(2025, 5, 12)


@pytest.fixture(scope="module")
def ref() -> Referential:
    return load_referential()


@pytest.fixture
def validator(ref: Referential) -> FileValidator:
    return FileValidator(ref, today=TODAY, version="V9")


def make_row(line: int = 2, /, **values: str) -> RequestRow:
    """A valid Z8 request (6M, motif 19, slot M1), overridden by ``values``."""
    base = dict.fromkeys(CANONICAL_FIELDS, "")
    base.update(
        NumeroPCE="12345678901234",
        CodeLibelleIntervention="Z8",
        CodeMotifIntervention="19",
        DateRdv="2025-05-20",
        PlageRdv="M1",
    )
    base.update(values)
    return RequestRow(line=line, cells=tuple(base.values()), values=base)


def rules(validator: FileValidator, **values: str) -> list[str]:
    return [f.rule for f in validator.check(make_row(**values))]


INDEX_OK = {
    "TypeIndexConteste": "02",
    "ValeurIndexReleve": "12345",
    "DateIndexConteste": "2025-04-01",
    "ValeurIndexClient": "12000",
    "DateIndexClient": "2025-05-12",
}


def test_valid_row_has_no_finding(validator: FileValidator) -> None:
    """A complete, correct row gives no finding at all."""
    assert validator.check(make_row()) == []


def test_finding_carries_line_field_value_and_french_message(validator: FileValidator) -> None:
    """A finding names the Excel line, the field, the value and what is expected."""
    (finding,) = validator.check(make_row(7, NumeroPCE="ABC"))
    assert finding.rule == "PCE_FORMAT" and finding.severity is Severity.ERROR
    assert finding.line == 7 and finding.field == "NumeroPCE" and finding.value == "ABC"
    assert "« ABC »" in finding.message and "14 chiffres" in finding.message


@pytest.mark.parametrize(
    ("pce", "expected"),
    [
        ("12345678901234", []),
        ("GI123456", []),
        ("", ["PCE_MANQUANT"]),
        ("1234567890123", ["PCE_FORMAT"]),
        ("123456789012345", ["PCE_FORMAT"]),
        ("GI12345", ["PCE_FORMAT"]),
        ("gi123456", ["PCE_FORMAT"]),
        ("1234567890123A", ["PCE_FORMAT"]),
        ("１２３４５６７８９０１２３４", ["PCE_FORMAT"]),
    ],
)
def test_pce_format(validator: FileValidator, pce: str, expected: list[str]) -> None:
    """NumeroPCE is 14 ASCII digits or "GI" + 6 digits, and is required."""
    assert rules(validator, NumeroPCE=pce) == expected


@pytest.mark.parametrize(
    ("postal", "expected"),
    [
        ("", []),
        ("75001", []),
        ("20000", []),
        ("20220", []),
        ("2A000", ["CP_FORMAT"]),
        ("7500", ["CP_FORMAT"]),
        ("750011", ["CP_FORMAT"]),
    ],
)
def test_postal_code(validator: FileValidator, postal: str, expected: list[str]) -> None:
    """CodePostal is optional, 5 digits when given (Corsica 20xxx is fine, 2A is not)."""
    assert rules(validator, CodePostal=postal) == expected


def test_code_required_and_known(validator: FileValidator) -> None:
    """CodeLibelleIntervention is required and must be an Annexe B code."""
    assert rules(validator, CodeLibelleIntervention="", CodeMotifIntervention="") == [
        "CODE_MANQUANT"
    ]
    assert rules(validator, CodeLibelleIntervention="Q1", CodeMotifIntervention="") == [
        "CODE_INCONNU"
    ]


def test_unknown_code_skips_code_dependent_rules(validator: FileValidator) -> None:
    """An unknown code is reported once; motif, express and slot rules do not pile up."""
    found = rules(
        validator, CodeLibelleIntervention="Q1", CodeMotifIntervention="77", OptionExpress="1"
    )
    assert found == ["CODE_INCONNU"]


def test_motif_required(validator: FileValidator) -> None:
    """A code listed with motifs needs one; the message lists them."""
    (finding,) = validator.check(make_row(CodeMotifIntervention=""))
    assert finding.rule == "MOTIF_OBLIGATOIRE"
    assert "01, 19" in finding.message


def test_motif_forbidden_for_code_without_motif(validator: FileValidator) -> None:
    """A motif given for 37 (listed without motif) is an error."""
    assert rules(validator, CodeLibelleIntervention="37", CodeMotifIntervention="17") == [
        "MOTIF_INTERDIT"
    ]
    assert rules(validator, CodeLibelleIntervention="37", CodeMotifIntervention="") == []


def test_motif_unknown_for_code(validator: FileValidator) -> None:
    """A motif not listed for the code is an error (34 no longer takes 05)."""
    assert rules(validator, CodeLibelleIntervention="34", CodeMotifIntervention="05") == [
        "MOTIF_INCONNU"
    ]
    assert rules(validator, CodeLibelleIntervention="34", CodeMotifIntervention="23") == []


def test_y9_motif_20_valid_offline(validator: FileValidator) -> None:
    """Y9 motif 20 exists in the télérelevé/1M table, so it passes offline."""
    assert rules(validator, CodeLibelleIntervention="Y9", CodeMotifIntervention="20") == []


def test_c3_motif_01_needs_precision(validator: FileValidator) -> None:
    """C3 motif 01 "Autre" (télérelevé/1M table) is known offline and needs a precision."""
    assert rules(validator, CodeLibelleIntervention="C3", CodeMotifIntervention="01") == [
        "PRECISION_OBLIGATOIRE"
    ]


def test_precision_for_motif_autre(validator: FileValidator) -> None:
    """35 motif 01 "Autre" needs PrecisionIntervention; 34 motif 01 does not."""
    assert rules(validator, CodeLibelleIntervention="35", CodeMotifIntervention="01") == [
        "PRECISION_OBLIGATOIRE"
    ]
    assert (
        rules(
            validator,
            CodeLibelleIntervention="35",
            CodeMotifIntervention="01",
            PrecisionIntervention="Fuite",
        )
        == []
    )
    assert rules(validator, CodeLibelleIntervention="34", CodeMotifIntervention="01") == []


@pytest.mark.parametrize(
    ("code", "motif", "express", "expected"),
    [
        ("Z8", "19", "1", []),
        ("Z8", "19", "0", []),
        ("Z8", "19", "", []),
        ("36", "17", "1", ["EXPRESS_INTERDIT"]),
        ("36", "17", "0", []),
        ("243", "", "1", []),
        ("206", "", "1", []),
        ("208", "", "1", ["EXPRESS_INTERDIT"]),
        ("Z8", "19", "oui", ["EXPRESS_VALEUR"]),
        ("Z8", "19", "2", ["EXPRESS_VALEUR"]),
    ],
)
def test_express(
    validator: FileValidator, code: str, motif: str, express: str, expected: list[str]
) -> None:
    """OptionExpress is '', 0 or 1, and 1 only for Z8, 206, 207, 243."""
    found = rules(
        validator,
        CodeLibelleIntervention=code,
        CodeMotifIntervention=motif,
        OptionExpress=express,
    )
    assert [r for r in found if r != "PLAGE_IGNOREE"] == expected


def test_g1_missing_index_is_an_error(validator: FileValidator) -> None:
    """G1 without index sections gives one INDEX_MANQUANT per missing field."""
    findings = validator.check(make_row(CodeLibelleIntervention="G1", CodeMotifIntervention=""))
    assert [f.rule for f in findings] == ["INDEX_MANQUANT"] * 5
    assert {f.field for f in findings} == set(INDEX_OK)
    assert all(f.is_error for f in findings)


def test_g1_and_253_with_index_ok(validator: FileValidator) -> None:
    """G1 and 253 with complete, valid index sections pass."""
    assert (
        rules(validator, CodeLibelleIntervention="G1", CodeMotifIntervention="", **INDEX_OK) == []
    )
    assert (
        rules(
            validator,
            CodeLibelleIntervention="253",
            CodeMotifIntervention="",
            PlageRdv="",
            **INDEX_OK,
        )
        == []
    )


def test_g1_partial_index(validator: FileValidator) -> None:
    """A G1 row missing only DateIndexClient names that one field."""
    index = dict(INDEX_OK, DateIndexClient="")
    findings = validator.check(
        make_row(CodeLibelleIntervention="G1", CodeMotifIntervention="", **index)
    )
    assert [(f.rule, f.field) for f in findings] == [("INDEX_MANQUANT", "DateIndexClient")]


def test_r9_without_index_is_fine(validator: FileValidator) -> None:
    """R9 (without displacement) does not require index sections."""
    assert rules(validator, CodeLibelleIntervention="R9", CodeMotifIntervention="") == []


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("TypeIndexConteste", "07", "INDEX_TYPE"),
        ("TypeIndexConteste", "2", "INDEX_TYPE"),
        ("ValeurIndexReleve", "12 345", "INDEX_VALEUR"),
        ("ValeurIndexClient", "12a", "INDEX_VALEUR"),
        ("DateIndexConteste", "01/04/2025", "INDEX_DATE"),
        ("DateIndexConteste", "2025-02-30", "INDEX_DATE"),
        ("DateIndexClient", "2025-05-13", "INDEX_DATE"),
    ],
)
def test_index_values(validator: FileValidator, field: str, value: str, rule: str) -> None:
    """Index type among Annexe C, values in digits, dates valid and not in the future."""
    index = dict(INDEX_OK, **{field: value})
    findings = validator.check(
        make_row(CodeLibelleIntervention="G1", CodeMotifIntervention="", **index)
    )
    assert [(f.rule, f.field, f.value) for f in findings] == [(rule, field, value)]


def test_index_values_checked_even_when_not_required(validator: FileValidator) -> None:
    """Index values given for another code are still checked, since they would be sent."""
    assert rules(validator, DateIndexClient="demain") == ["INDEX_DATE"]


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2025-05-12", []),
        ("2026-01-31", []),
        ("", ["DATE_RDV_MANQUANTE"]),
        ("12/05/2025", ["DATE_RDV_FORMAT"]),
        ("20250520", ["DATE_RDV_FORMAT"]),
        ("2025-02-29", ["DATE_RDV_FORMAT"]),
        ("2025-5-20", ["DATE_RDV_FORMAT"]),
        ("2025-05-11", ["DATE_RDV_PASSEE"]),
    ],
)
def test_date_rdv(validator: FileValidator, date: str, expected: list[str]) -> None:
    """DateRdv is required, a real YYYY-MM-DD date, today or later."""
    assert rules(validator, DateRdv=date) == expected


def test_slot_rules(validator: FileValidator) -> None:
    """A 6M/1M code needs a known slot; an unknown slot is refused."""
    assert rules(validator, PlageRdv="") == ["PLAGE_OBLIGATOIRE"]
    assert rules(validator, PlageRdv="XX") == ["PLAGE_INCONNUE"]
    assert rules(validator, PlageRdv="A6") == []


def test_slot_ignored_for_jj_code(validator: FileValidator) -> None:
    """A slot given for a JJ/JM/MM code is a warning and is not sent."""
    row = make_row(CodeLibelleIntervention="206", CodeMotifIntervention="", PlageRdv="M1")
    (finding,) = validator.check(row)
    assert finding.rule == "PLAGE_IGNOREE" and finding.severity is Severity.WARNING
    assert validator.cleaned_values(row)["PlageRdv"] == ""
    no_slot = make_row(CodeLibelleIntervention="206", CodeMotifIntervention="", PlageRdv="")
    assert validator.check(no_slot) == []


def test_phone_cleaned_with_warning(validator: FileValidator) -> None:
    """From V8, spaces, dots and dashes are removed (warning) and the cleaned value is sent."""
    row = make_row(TelephoneContact="06 12.34-56\u00a078")
    (finding,) = validator.check(row)
    assert finding.rule == "TEL_NETTOYE" and finding.severity is Severity.WARNING
    assert "0612345678" in finding.message
    assert validator.cleaned_values(row)["TelephoneContact"] == "0612345678"
    assert rules(validator, TelephoneContact="0612345678") == []


def test_phone_with_letters_is_an_error(validator: FileValidator) -> None:
    """From V8, a phone with letters or '+' is an error."""
    assert rules(validator, TelephoneContact="06 12 AB 56 78") == ["TEL_FORMAT"]
    assert rules(validator, TelephoneContact="+33612345678") == ["TEL_FORMAT"]


def test_phone_free_before_v8(ref: Referential) -> None:
    """Before V8 the phone is sent as typed and not checked for digits."""
    old = FileValidator(ref, today=TODAY, version="V7")
    row = make_row(TelephoneContact="06 12 34 56 78")
    assert old.check(row) == []
    assert old.cleaned_values(row)["TelephoneContact"] == "06 12 34 56 78"


def test_bad_version_is_a_french_error(ref: Referential) -> None:
    """An unreadable NumeroVersion is refused with a French message."""
    with pytest.raises(ValueError, match="NumeroVersion"):
        FileValidator(ref, today=TODAY, version="latest")


def test_lengths_from_contract(validator: FileValidator) -> None:
    """A value longer than the contract allows is an error (ReferenceDemande: 35)."""
    (finding,) = validator.check(make_row(ReferenceDemande="R" * 36))
    assert finding.rule == "LONGUEUR" and finding.field == "ReferenceDemande"
    assert "35" in finding.message
    assert rules(validator, ReferenceDemande="R" * 35) == []


def test_lengths_use_contract_names(validator: FileValidator) -> None:
    """Canonical names map to contract names (NomContact -> Nom, 100 characters)."""
    found = validator.check(make_row(NomContact="N" * 101))
    assert [(f.rule, f.field) for f in found] == [("LONGUEUR", "NomContact")]


def test_lengths_use_cleaned_phone(validator: FileValidator) -> None:
    """A phone that fits once cleaned is not too long (20 characters for Telephone)."""
    assert rules(validator, TelephoneContact="06 12 34 56 78 90 12 34") == ["TEL_NETTOYE"]


def test_custom_max_lengths(ref: Referential) -> None:
    """max_lengths may be injected; a format finding is not doubled by LONGUEUR."""
    short = FileValidator(ref, today=TODAY, version="V9", max_lengths={"Commentaire": 3})
    assert [f.rule for f in short.check(make_row(Commentaire="abcd"))] == ["LONGUEUR"]
    assert [f.rule for f in short.check(make_row(NumeroPCE="1" * 30))] == ["PCE_FORMAT"]
    one = FileValidator(ref, today=TODAY, version="V9", max_lengths={})
    assert one.check(make_row(Commentaire="x" * 1000)) == []


@pytest.mark.parametrize(
    ("field", "limit"),
    [("NomContact", 15), ("CodeAcces", 5), ("ComplementAdresse", 60)],
)
def test_voucher_truncation_warning(validator: FileValidator, field: str, limit: int) -> None:
    """Texts longer than the voucher keeps get a TRONCATURE_BON warning, not at the limit."""
    assert rules(validator, **{field: "x" * limit}) == []
    (finding,) = validator.check(make_row(**{field: "x" * (limit + 1)}))
    assert finding.rule == "TRONCATURE_BON" and finding.severity is Severity.WARNING
    assert f"{limit} caractères" in finding.message


def test_voucher_truncation_of_precision(validator: FileValidator) -> None:
    """A precision longer than 20 characters is truncated on the voucher (warning)."""
    found = rules(
        validator,
        CodeLibelleIntervention="35",
        CodeMotifIntervention="01",
        PrecisionIntervention="Compteur qui fait du bruit",
    )
    assert found == ["TRONCATURE_BON"]


def test_supplier_comment_not_stored(validator: FileValidator) -> None:
    """CommentaireFournisseur gets a warning: OMEGA does not store it."""
    (finding,) = validator.check(make_row(CommentaireFournisseur="pour info"))
    assert finding.rule == "COMMENTAIRE_NON_CONSERVE" and not finding.is_error


def test_reference_duplicate_names_first_line(validator: FileValidator) -> None:
    """The same ReferenceDemande twice: an error on the second row naming the first line."""
    assert validator.check(make_row(2, ReferenceDemande="REF-1")) == []
    validator.check(make_row(3, ReferenceDemande="REF-2", NumeroPCE="GI000001"))
    found = validator.check(make_row(9, ReferenceDemande="REF-1", NumeroPCE="GI000002"))
    assert [f.rule for f in found] == ["REFERENCE_DOUBLON"]
    assert found[0].is_error and "ligne 2" in found[0].message and found[0].line == 9


def test_request_duplicate_warns_naming_first_line(validator: FileValidator) -> None:
    """An identical request (PCE, code, motif, date) is a warning naming the first line."""
    assert validator.check(make_row(4)) == []
    (finding,) = validator.check(make_row(5, PlageRdv="A1"))
    assert finding.rule == "DEMANDE_DOUBLON" and finding.severity is Severity.WARNING
    assert "ligne 4" in finding.message
    assert validator.check(make_row(6, DateRdv="2025-05-21")) == []


def test_state_is_per_validator(ref: Referential) -> None:
    """A new FileValidator (new file) does not remember the previous file's rows."""
    first = FileValidator(ref, today=TODAY, version="V9")
    first.check(make_row(ReferenceDemande="R1"))
    second = FileValidator(ref, today=TODAY, version="V9")
    assert second.check(make_row(ReferenceDemande="R1")) == []
    assert second.finish() == []


def test_missing_fields_in_values_are_empty(validator: FileValidator) -> None:
    """A row whose values lack some canonical fields is read as if they were empty."""
    row = RequestRow(line=2, cells=(), values={"NumeroPCE": "12345678901234"})
    found = [f.rule for f in validator.check(row)]
    assert found == ["CODE_MANQUANT", "DATE_RDV_MANQUANTE"]


def test_cleaned_values_keep_other_fields(validator: FileValidator) -> None:
    """cleaned_values returns every field, unchanged where nothing needs cleaning."""
    row = make_row(NomContact="Dupont")
    cleaned = validator.cleaned_values(row)
    assert cleaned == dict(row.values)
    assert cleaned is not row.values


def test_rules_table_is_complete(validator: FileValidator) -> None:
    """Every rule code has a description, and docs/validation.md carries the current table."""
    assert set(RULES) == set(RULE_INFO)
    assert all(RULES[code] for code in RULES)
    doc = (PROJECT_ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    assert rules_markdown() in doc


def test_referential_drives_rules(tmp_path: Path) -> None:
    """A code added to the data files is accepted without code change."""
    source = PROJECT_ROOT / "config" / "referential"
    target = tmp_path / "ref"
    target.mkdir()
    for item in source.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    with (target / "annexe_b_interventions.csv").open("a", encoding="utf-8") as out:
        out.write("JJ/JM/MM;299;Nouvelle prestation;oui;non;;\n")
    custom = FileValidator(load_referential(target), today=TODAY, version="V9")
    found = rules(
        custom, CodeLibelleIntervention="299", CodeMotifIntervention="", OptionExpress="1"
    )
    assert found == ["PLAGE_IGNOREE"]


def test_short_pce_says_how_many_digits_are_missing(validator: FileValidator) -> None:
    """A 13-digit PCE is PCE_FORMAT, saying one digit is missing and how to keep zeros."""
    (found,) = validator.check(make_row(NumeroPCE="2345678901234"))
    assert found.rule == "PCE_FORMAT"
    assert "il en manque 1 (14 attendus)" in found.message
    assert "format Texte" in found.message


def test_control_characters_are_refused_and_line_breaks_in_free_text_cleaned(
    validator: FileValidator,
) -> None:
    """A control character (BEL) is CARACTERE_INTERDIT naming field, position and code
    point; a line break in ComplementAdresse is CARACTERE_RETIRE and sent as a space; a
    line break in ReferenceDemande is an error; a non-breaking space is no finding."""
    bell = make_row(NomContact="Du\x07pont")
    (found,) = validator.check(bell)
    assert (found.rule, found.field, found.is_error) == ("CARACTERE_INTERDIT", "NomContact", True)
    assert "U+0007" in found.message and "position 3" in found.message
    assert found.value == "Du\\x07pont"
    address = make_row(3, ComplementAdresse="Bât. B\nescalier 2\t\u200b")
    (warning,) = [f for f in validator.check(address) if f.rule != "DEMANDE_DOUBLON"]
    assert (warning.rule, warning.is_error) == ("CARACTERE_RETIRE", False)
    assert validator.cleaned_values(address)["ComplementAdresse"] == "Bât. B escalier 2"
    reference = make_row(4, ReferenceDemande="REF\n9")
    assert [f.rule for f in validator.check(reference)] == ["CARACTERE_INTERDIT", "DEMANDE_DOUBLON"]
    nbsp = make_row(5, NomContact="M.\u00a0Dupont", DateRdv="2025-05-21")
    assert validator.check(nbsp) == []
