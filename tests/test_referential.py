"""Tests of pipeline.referential: the shipped data pinned against the spec, and errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.referential import (
    INDEX_TYPES_FILE,
    INTERVENTIONS_FILE,
    SLOTS_FILE,
    Category,
    Referential,
    ReferentialError,
    load_referential,
)

SHIPPED = PROJECT_ROOT / "config" / "referential"


@pytest.fixture(scope="module")
def ref() -> Referential:
    return load_referential()


def motifs(ref: Referential, category: Category, code: str) -> set[str]:
    item = ref.intervention(category, code)
    assert item is not None
    return {m.code for m in item.motifs}


def copy_referential(tmp_path: Path) -> Path:
    target = tmp_path / "referential"
    shutil.copytree(SHIPPED, target)
    return target


def test_default_directory_is_shipped_and_cached(ref: Referential) -> None:
    """The default load reads config/referential once and returns the same object after."""
    assert load_referential() is ref
    assert load_referential(SHIPPED) is ref


def test_code_34_motifs_in_both_6m_tables(ref: Referential) -> None:
    """Code 34 takes only 01 "Dysfonctionnement de comptage", 23, 24 and 25."""
    for category in (Category.SIX_M, Category.SIX_M_TLRV_1M):
        assert motifs(ref, category, "34") == {"01", "23", "24", "25"}
    assert ref.motif_label("34", "01") == "Dysfonctionnement de comptage"
    assert ref.motif_label("34", "25") == "Remplacement d'un compteur détérioré"


def test_code_35_keeps_its_motifs(ref: Referential) -> None:
    """Code 35 keeps 01 "Autre", 03, 04, 05, 06 and 07."""
    assert motifs(ref, Category.SIX_M, "35") == {"01", "03", "04", "05", "06", "07"}
    assert ref.motif_label("35", "01") == "Autre"


def test_y9_per_table(ref: Referential) -> None:
    """Y9 has 01, 16, 18 in the 6M table and adds 20 in the télérelevé/1M table."""
    assert motifs(ref, Category.SIX_M, "Y9") == {"01", "16", "18"}
    assert motifs(ref, Category.SIX_M_TLRV_1M, "Y9") == {"01", "16", "18", "20"}
    assert ref.motif_label("Y9", "20") == "Suspicion d'erreur de coefficient"
    assert ("Y9", "20") in ref.all_couples()
    assert ("Y9", "20") not in ref.couples(Category.SIX_M)


def test_c3_per_table(ref: Referential) -> None:
    """C3 has 08-15 (no 11) in both 6M tables and 01 "Autre" only in the télérelevé/1M one."""
    base = {"08", "09", "10", "12", "13", "14", "15"}
    assert motifs(ref, Category.SIX_M, "C3") == base
    assert motifs(ref, Category.SIX_M_TLRV_1M, "C3") == base | {"01"}


def test_express_only_for_the_crossed_codes(ref: Referential) -> None:
    """The express option is allowed for Z8, 206, 207 and 243 and nothing else."""
    crossed = {
        item.code
        for category in Category
        for code, _ in ref.couples(category)
        if (item := ref.intervention(category, code)) and item.express_allowed
    }
    assert crossed == {"Z8", "206", "207", "243"}
    assert ref.express_allowed("Z8") and not ref.express_allowed("36")


def test_index_sections_for_g1_and_253_only(ref: Referential) -> None:
    """Index sections are required for G1 and 253, not for R9 or A7."""
    assert ref.index_required("G1") and ref.index_required("253")
    assert not ref.index_required("R9") and not ref.index_required("A7")
    required = {c for cat in Category for c, _ in ref.couples(cat) if ref.index_required(c)}
    assert required == {"G1", "253"}


def test_6m_table_holds_r9_a7_b9(ref: Referential) -> None:
    """The 6M non télérelevé table lists R9, A7 and B9 without motifs."""
    for code in ("R9", "A7", "B9"):
        item = ref.intervention(Category.SIX_M, code)
        assert item is not None and item.motifs == ()
    assert ref.intervention(Category.SIX_M_TLRV_1M, "R9") is None


def test_jj_code(ref: Referential) -> None:
    """206 is a JJ/JM/MM code, without motif or slot, with express allowed."""
    (item,) = ref.interventions("206")
    assert item.category is Category.JJ_JM_MM
    assert item.label == "Relevé spécial avec déplacement"
    assert item.motifs == () and item.express_allowed
    assert not ref.requires_slot("206")
    assert ref.requires_slot("Z8") and ref.requires_slot("R9")
    assert ("206", "") in ref.couples(Category.JJ_JM_MM)


def test_precision_required_only_for_motif_autre(ref: Referential) -> None:
    """Motif 01 needs a precision when labelled "Autre" (35, C3) but not for 34."""
    assert ref.precision_required("35", "01")
    assert ref.precision_required("C3", "01")
    assert not ref.precision_required("34", "01")
    assert not ref.precision_required("35", "03")


def test_slots(ref: Referential) -> None:
    """Twelve slot codes of at most 4 characters, in day order, within 9h-12h and 14h-17h."""
    assert len(ref.slots) == 12
    assert all(len(s.code) <= 4 for s in ref.slots)
    starts = [s.heure_min for s in ref.slots]
    assert starts == sorted(starts)
    for s in ref.slots:
        assert ("09:00" <= s.heure_min < s.heure_max <= "12:00") or (
            "14:00" <= s.heure_min < s.heure_max <= "17:00"
        )
    first = ref.slots[0]
    assert ref.slot(first.code) is first and ref.slot("ZZZZ") is None


def test_annexe_c(ref: Referential) -> None:
    """Annexe C has the six index types 01 to 06."""
    assert [t.code for t in ref.index_types] == ["01", "02", "03", "04", "05", "06"]
    assert ref.index_types[1].label == "Cyclique"


def test_unknown_code(ref: Referential) -> None:
    """An unknown code is known nowhere and has no couple."""
    assert not ref.is_known_code("ZZ")
    assert ref.interventions("ZZ") == ()
    assert ref.motif_label("ZZ", "01") is None


@pytest.mark.parametrize(
    ("frequence", "telereleve", "expected"),
    [
        ("6M", False, Category.SIX_M),
        ("6M", True, Category.SIX_M_TLRV_1M),
        ("1M", False, Category.SIX_M_TLRV_1M),
        ("jj", False, Category.JJ_JM_MM),
        ("JM", True, Category.JJ_JM_MM),
        ("MM", False, Category.JJ_JM_MM),
    ],
)
def test_category_for(frequence: str, telereleve: bool, expected: Category) -> None:
    """A PCE's reading frequency and remote reading pick its Annexe B table."""
    assert Referential.category_for(frequence, telereleve) is expected


def test_category_for_unknown_frequency() -> None:
    """An unknown reading frequency is a clear French ValueError."""
    with pytest.raises(ValueError, match="Fréquence de relève inconnue"):
        Referential.category_for("2M", False)


def test_malformed_express_names_file_line_value(tmp_path: Path) -> None:
    """A bad OptionExpress cell gives a French error naming file, line and value."""
    directory = copy_referential(tmp_path)
    path = directory / INTERVENTIONS_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(";non;non;", ";peut-être;non;", 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReferentialError) as caught:
        load_referential(directory)
    message = str(caught.value)
    assert INTERVENTIONS_FILE in message and "ligne 4" in message
    assert "peut-être" in message and "OptionExpress" in message
    assert caught.value.line == 4


def test_malformed_slot_hour(tmp_path: Path) -> None:
    """A slot hour that is not HH:MM is refused with the line and value."""
    directory = copy_referential(tmp_path)
    path = directory / SLOTS_FILE
    path.write_text(
        "CodePlage;LibellePlage;HeureMin;HeureMax\nM1;Matin;9h;10:00\n", encoding="utf-8"
    )
    with pytest.raises(ReferentialError, match=r"ligne 2.*« 9h ».*HH:MM"):
        load_referential(directory)


def test_wrong_header_and_missing_file(tmp_path: Path) -> None:
    """A wrong header or a missing file is a ReferentialError, not a traceback."""
    directory = copy_referential(tmp_path)
    (directory / INDEX_TYPES_FILE).write_text("Code,Libelle\n01,Cyclique\n", encoding="utf-8")
    with pytest.raises(ReferentialError, match="en-tête attendu"):
        load_referential(directory)
    (directory / INDEX_TYPES_FILE).unlink()
    with pytest.raises(ReferentialError, match="introuvable"):
        load_referential(directory)


def test_wrong_column_count(tmp_path: Path) -> None:
    """A row with a missing ';' names its line and the expected column count."""
    directory = copy_referential(tmp_path)
    path = directory / INTERVENTIONS_FILE
    with path.open("a", encoding="utf-8") as out:
        out.write("JJ/JM/MM;299;Libellé;non\n")
    with pytest.raises(ReferentialError, match="7 colonnes"):
        load_referential(directory)


def test_inconsistent_code_rows(tmp_path: Path) -> None:
    """Two rows of one code in one table that disagree on the express option are refused."""
    directory = copy_referential(tmp_path)
    path = directory / INTERVENTIONS_FILE
    with path.open("a", encoding="utf-8") as out:
        out.write("JJ/JM/MM;206;Relevé spécial avec déplacement;non;non;;\n")
    with pytest.raises(ReferentialError, match="différent de la ligne"):
        load_referential(directory)


def test_excel_saved_file_is_read(tmp_path: Path) -> None:
    """A file saved by Excel (Windows-1252, leading zeros dropped) still reads the same."""
    directory = copy_referential(tmp_path)
    path = directory / INDEX_TYPES_FILE
    text = path.read_text(encoding="utf-8").replace("\n01;", "\n1;")
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    ref = load_referential(directory)
    assert ref.index_types[0].code == "01"
    assert ref.index_types[4].label == "Relève Spéciale"
