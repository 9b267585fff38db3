"""Installing and running outside the checkout: package data, configuration discovery,
``dit-batch init``, a French-only console, the simulator's help, file permissions."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from e2e_support import RUN_BATCH

from pipeline import config
from pipeline.config import PROJECT_ROOT, ConfigError, find_settings

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIT_")}
    return subprocess.run(
        [sys.executable, str(RUN_BATCH), *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=cwd,
    )


def test_every_package_and_default_file_is_in_the_distribution() -> None:
    """pyproject lists every pipeline package, and its package data covers every file of
    config/ and the sample, so an installed dit-batch has its settings and referential."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    found = {
        ".".join(p.parent.relative_to(PROJECT_ROOT).parts)
        for p in (PROJECT_ROOT / "pipeline").rglob("__init__.py")
    }
    assert found <= packages, found - packages
    dirs = setuptools["package-dir"]
    assert (dirs["pipeline.defaults"], dirs["pipeline.sample"]) == ("config", "samples")
    data = setuptools["package-data"]
    for package, folder in (("pipeline.defaults", "config"), ("pipeline.sample", "samples")):
        root = PROJECT_ROOT / folder
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(root)
                assert any(relative.match(pattern) for pattern in data[package]), relative


def test_configuration_is_found_the_documented_way(tmp_path: Path) -> None:
    """--config, then DIT_CONFIG, then ./config/settings.toml, then the checkout's."""
    given, named = tmp_path / "a.toml", tmp_path / "b.toml"
    (tmp_path / "config").mkdir()
    local = tmp_path / "config" / "settings.toml"
    local.write_text("", encoding="utf-8")
    env = {"DIT_CONFIG": str(named)}
    assert find_settings(given, env, tmp_path) == given
    assert find_settings(None, env, tmp_path) == named
    assert find_settings(None, {}, tmp_path) == local
    assert find_settings(None, {}, tmp_path / "config") == config.DEFAULT_CONFIG  # checkout


def test_installed_without_a_working_folder_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed (no checkout config), with no configuration anywhere: a French message
    that names the three places and 'dit-batch init'."""
    monkeypatch.setattr(config, "_IN_CHECKOUT", False)
    with pytest.raises(ConfigError) as caught:
        find_settings(None, {}, tmp_path)
    message = str(caught.value)
    assert "--config" in message and "DIT_CONFIG" in message
    assert "config/settings.toml" in message and "dit-batch init DOSSIER" in message


def test_init_lays_out_a_working_folder_that_runs_the_sample(tmp_path: Path) -> None:
    """'init DIR' then a run from DIR, with no --config: the sample goes through, the
    console is the French summary only (the events are in the log file)."""
    made = run("init", "travail", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    work = tmp_path / "travail"
    for part in (
        "config/settings.toml",
        "config/referential/annexe_b_interventions.csv",
        "config/referential/codes_omega.csv",
        "config/simulator/pce.csv",
        "input/demandes_exemple.csv",
        "samples/demandes_exemple.csv",
    ):
        assert (work / part).is_file(), part
    assert (work / "output").is_dir() and (work / "archive").is_dir()

    first = run(cwd=work)

    assert first.returncode == 0, first.stdout + first.stderr
    assert "demandes_exemple.csv : 8 ligne(s)" in first.stdout
    assert list((work / "output").glob("demandes_exemple_resultats_*.xlsx"))
    assert list((work / "archive").rglob("demandes_exemple.csv"))
    console = first.stdout + first.stderr
    assert not re.search(r"\[(info|warning|debug)\s*\]|run_started|\{\"", console), console
    log = next((work / "output" / "logs").glob("run-*.jsonl")).read_text(encoding="utf-8")
    assert '"event": "run_started"' in log

    # The README's "run it again": the sample deposited once more comes back DEJA_TRAITEE.
    again = work / "input" / "demandes_exemple.csv"
    again.write_bytes((work / "samples" / "demandes_exemple.csv").read_bytes())
    os.utime(again, (again.stat().st_mtime - 120, again.stat().st_mtime - 120))
    second = run(cwd=work)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "DEJA_TRAITEE 6" in second.stdout


def test_init_never_replaces_what_exists(tmp_path: Path) -> None:
    """A second 'init' leaves an edited settings file as it is, and says so."""
    assert run("init", "w", cwd=tmp_path).returncode == 0
    settings = tmp_path / "w" / "config" / "settings.toml"
    settings.write_text("# edited\n", encoding="utf-8")
    second = run("init", "w", cwd=tmp_path)
    assert second.returncode == 0
    assert settings.read_text(encoding="utf-8") == "# edited\n"
    assert "config/settings.toml : déjà présent, laissé tel quel" in second.stdout


def test_verbose_console_shows_the_event_names(tmp_path: Path) -> None:
    """-v shows the log events on the console as well."""
    assert run("init", "w", cwd=tmp_path).returncode == 0
    proc = run("-v", "--dry-run", cwd=tmp_path / "w")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run_started" in proc.stderr


def test_template_and_results_get_the_same_permissions(tmp_path: Path) -> None:
    """The template is created with the umask's permissions, as the result workbooks."""
    assert run("init", "w", cwd=tmp_path).returncode == 0
    work = tmp_path / "w"
    assert run("template", "modele.xlsx", cwd=work).returncode == 0
    assert run(cwd=work).returncode == 0
    [result] = (work / "output").glob("*_resultats_*.xlsx")
    mode = stat.S_IMODE((work / "modele.xlsx").stat().st_mode)
    assert mode == stat.S_IMODE(result.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_simulator_help_is_french() -> None:
    """python -m pipeline.simulator --help: usage, options and every help text in French."""
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.simulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert proc.returncode == 0
    text = proc.stdout
    assert text.startswith("utilisation : ") and "\noptions :\n" in text
    assert "usage:" not in text and "show this help" not in text
    assert "--threads N           fils de traitement" in text
