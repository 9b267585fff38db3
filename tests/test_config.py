"""Settings: the shipped defaults, relative paths, environment overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import DEFAULT_CONFIG, PROJECT_ROOT, ConfigError, load_settings


def test_default_settings_have_the_documented_keys() -> None:
    """The shipped settings.toml targets the simulator with the V9 contract and sane limits."""
    s = load_settings(DEFAULT_CONFIG, environ={})
    assert s.omega.uses_simulator and s.omega.version == "V9"
    assert s.omega.dn_entreprise and s.omega.numero_cad and s.omega.login
    assert 0 < s.omega.timeout_s < 300
    assert s.execution.rate_per_s > 0 and s.execution.workers >= 1
    assert s.paths.input_dir == PROJECT_ROOT / "input"
    assert s.paths.tracking_dir == PROJECT_ROOT / "input" / "suivi"
    assert s.execution.tracking_margin_s == 300 and s.execution.max_resume_runs == 3
    assert s.simulator.pce_file == PROJECT_ROOT / "config" / "simulator" / "pce.csv"
    assert any(
        sup.dn_entreprise == s.omega.dn_entreprise and sup.numero_cad == s.omega.numero_cad
        for sup in s.simulator.suppliers
    )


def test_relative_paths_follow_the_settings_file(tmp_path: Path) -> None:
    """A relative path is resolved against the folder of the settings file, not the cwd."""
    cfg = tmp_path / "conf" / "s.toml"
    cfg.parent.mkdir()
    cfg.write_text('[paths]\ninput_dir = "../in"\njournal = "/abs/j.db"\n', encoding="utf-8")
    s = load_settings(cfg, environ={})
    assert s.paths.input_dir == tmp_path / "in"
    assert s.paths.journal == Path("/abs/j.db")
    assert s.paths.tracking_dir == tmp_path / "in" / "suivi"  # follows input_dir by default


def test_environment_overrides_credentials(tmp_path: Path) -> None:
    """DIT_OMEGA_* variables win over the file, so secrets need not be written in it."""
    cert = tmp_path / "cert.pem"
    cert.write_text("not checked here", encoding="utf-8")
    s = load_settings(
        DEFAULT_CONFIG,
        environ={"DIT_OMEGA_LOGIN": "ops.user", "DIT_OMEGA_CERT_FILE": str(cert)},
    )
    assert s.omega.login == "ops.user"
    assert s.omega.cert_file == str(cert)


@pytest.mark.parametrize("key", ["CERT_FILE", "KEY_FILE", "CA_FILE"])
def test_missing_certificate_file_stops_before_any_call(key: str) -> None:
    """A certificate path that does not exist is a configuration error, not row failures."""
    with pytest.raises(ConfigError, match=key.lower()):
        load_settings(DEFAULT_CONFIG, environ={f"DIT_OMEGA_{key}": "/nonexistent/x.pem"})


@pytest.mark.parametrize("url", ["pas une url", "ftp://omega.example", "https://"])
def test_malformed_url_is_a_configuration_error(url: str) -> None:
    """A mistyped OMEGA URL is refused up front instead of failing every row."""
    with pytest.raises(ConfigError, match="url"):
        load_settings(DEFAULT_CONFIG, environ={"DIT_OMEGA_URL": url})


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[omega]\nversion = 'V99'\n", "version"),
        ("[omega]\nunknown_key = 1\n", "unknown_key"),
        ("[execution]\nworkers = 'many'\n", "workers"),
        ("[omega]\nurl = 'https://omega.example'\n", "dn_entreprise"),
        ("[execution]\nslot_policy = 'random'\n", "slot_policy"),
        ("not toml at all [", "invalide"),
    ],
)
def test_bad_settings_give_a_french_message(tmp_path: Path, content: str, needle: str) -> None:
    """Every bad setting is refused with a message naming the key."""
    cfg = tmp_path / "s.toml"
    cfg.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg, environ={})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing settings file is reported, not a traceback."""
    with pytest.raises(ConfigError, match="introuvable"):
        load_settings(tmp_path / "none.toml", environ={})


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("0", False), ("oui", True)])
def test_boolean_settings_from_the_environment(text: str, expected: bool) -> None:
    """A boolean given as an environment string is read as meant, "false" included."""
    s = load_settings(DEFAULT_CONFIG, environ={"DIT_OMEGA_LOG_SOAP": text})
    assert s.omega.log_soap is expected


def test_bad_boolean_is_refused() -> None:
    """A boolean that is neither yes nor no is a configuration error naming the key."""
    with pytest.raises(ConfigError, match="log_soap"):
        load_settings(DEFAULT_CONFIG, environ={"DIT_OMEGA_LOG_SOAP": "peut-être"})


def _load(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(text, encoding="utf-8")
    load_settings(cfg, environ={})


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("[executon]\nworkers = 2\n", ["section(s) inconnue(s)", "« executon »", "execution ?"]),
        ("[path]\ninput_dir = 'in'\n", ["« path »", "vouliez-vous dire paths"]),
        ("[execution]\nworker = 2\n", ["[execution] clé(s)", "« worker »", "workers"]),
        ("[execution]\nmax_attempts = 4.5\n", ["max_attempts", "un nombre entier", "4.5"]),
        ("[execution]\nworkers = '4'\n", ["workers", "un nombre entier"]),
        ("[execution]\nworkers = true\n", ["workers", "un nombre entier"]),
        ("[omega]\nlog_soap = 'oui'\n", ["log_soap", "true ou false"]),
        ("[omega]\nlogin = 42\n", ["login", "un texte"]),
        ("[paths]\njournal = 3\n", ["journal", "un chemin"]),
        ("omega = 'simulator'\n", ["[omega]", "une section [omega] est attendue"]),
        ("[simulator]\nsuppliers = ['FOURNISSEUR-DEMO']\n", ["suppliers]] n° 1", "une table"]),
        ("[simulator]\nsuppliers = 'x'\n", ["[simulator] suppliers", "liste"]),
        ("[[simulator.suppliers]]\ndn_entreprise = 'X'\n", ["n° 1", "numero_cad"]),
        (
            "[[simulator.suppliers]]\ndn_entreprise = 'X'\nnumero_cad = 'C'\netat = 'valide'\n",
            ["« etat »", "etat_cad"],
        ),
    ],
)
def test_settings_file_is_checked_strictly(tmp_path: Path, text: str, needles: list[str]) -> None:
    """Unknown sections and keys (with the nearest valid names), inexact types and
    malformed tables are configuration errors, never silent defaults or a traceback."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    for needle in needles:
        assert needle in str(caught.value)


def test_integer_is_accepted_where_a_decimal_is_meant(tmp_path: Path) -> None:
    """rate_per_s = 10 (an integer) is a valid decimal; the environment stays text."""
    cfg = tmp_path / "s.toml"
    cfg.write_text("[execution]\nrate_per_s = 10\n[omega]\ntimeout_s = 30\n", encoding="utf-8")
    s = load_settings(cfg, environ={"DIT_OMEGA_TIMEOUT_S": "20", "DIT_OMEGA_LOG_SOAP": "oui"})
    assert s.execution.rate_per_s == 10.0 and s.omega.timeout_s == 20.0 and s.omega.log_soap
