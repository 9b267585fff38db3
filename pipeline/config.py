"""Configuration: ``settings.toml`` plus environment overrides.

The settings file used is, in this order (``find_settings``): ``--config PATH``; the
file ``DIT_CONFIG`` names; ``config/settings.toml`` in the current folder (a working
folder laid out by ``dit-batch init DIR``); in a checkout, the checkout's
``config/settings.toml``. An installed package ships its default settings, referential
and sample as package data (``pipeline/defaults/``, ``pipeline/sample/``), which
``pipeline.workdir.lay_out_workdir`` copies into a new working folder.

Relative paths in a settings file are resolved against the folder that holds that
file, so the tool behaves the same whatever the current directory (cron).

Environment variables override the ``[omega]`` keys that are credentials or
installation-specific: ``DIT_OMEGA_URL``, ``DIT_OMEGA_DN_ENTREPRISE``,
``DIT_OMEGA_NUMERO_CAD``, ``DIT_OMEGA_LOGIN``, ``DIT_OMEGA_CERT_FILE``,
``DIT_OMEGA_KEY_FILE``, ``DIT_OMEGA_CA_FILE``. ``DIT_CONFIG`` names the settings file.

A settings file is checked strictly, so a typo never runs silently on defaults: an
unknown section or key is refused with the nearest valid names suggested, each value
must have its key's exact TOML type (an integer key takes an integer, never ``4.5``; a
decimal key takes an integer or a decimal; text and paths take strings; switches take
``true``/``false``), each section is a table and each ``[[simulator.suppliers]]`` entry
a table. Environment values, which are always text, are converted instead.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
_CHECKOUT_CONFIG = PROJECT_ROOT / "config"
_IN_CHECKOUT = (_CHECKOUT_CONFIG / "settings.toml").is_file()
# The shipped defaults: the checkout's config/, or the installed package's copy of it.
DEFAULTS_DIR = _CHECKOUT_CONFIG if _IN_CHECKOUT else Path(__file__).resolve().parent / "defaults"
SAMPLE_FILE = (
    PROJECT_ROOT / "samples" if _IN_CHECKOUT else Path(__file__).resolve().parent / "sample"
) / "demandes_exemple.csv"
DEFAULT_CONFIG = DEFAULTS_DIR / "settings.toml"
WORKDIR_CONFIG = Path("config") / "settings.toml"  # in the current folder
ENV_PREFIX = "DIT_OMEGA_"
SIMULATOR_URL = "simulator"
VERSIONS = ("V6", "V7", "V8", "V9")
SLOT_POLICIES = ("premier-creneau", "date-demandee")


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why (in French)."""


@dataclass(frozen=True, slots=True)
class OmegaSettings:
    url: str = SIMULATOR_URL
    dn_entreprise: str = ""
    numero_cad: str = ""
    login: str = ""
    version: str = "V9"
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    timeout_s: float = 60.0
    log_soap: bool = False

    @property
    def uses_simulator(self) -> bool:
        return self.url == SIMULATOR_URL


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    rate_per_s: float = 10.0
    workers: int = 4
    max_attempts: int = 4
    max_retry_delay_s: float = 120.0
    breaker_threshold: int = 5
    slot_policy: str = "premier-creneau"
    max_slot_tries: int = 3
    max_resume_runs: int = 3  # runs that may resume a lost appointment step, per row
    tracking_margin_s: float = 300.0  # an export settles an attempt this long after it
    stop_grace_s: float = 20.0
    coordinate_slots: bool = True


@dataclass(frozen=True, slots=True)
class PathSettings:
    input_dir: Path = PROJECT_ROOT / "input"
    output_dir: Path = PROJECT_ROOT / "output"
    archive_dir: Path = PROJECT_ROOT / "archive"
    journal: Path = PROJECT_ROOT / "var" / "journal.sqlite3"
    tracking_dir: Path = PROJECT_ROOT / "input" / "suivi"
    referential_dir: Path = DEFAULTS_DIR / "referential"


@dataclass(frozen=True, slots=True)
class InputSettings:
    max_file_mb: float = 50.0
    stable_after_s: float = 60.0
    # Per-file reading budget (see docs/input.md): a workbook needing more memory or
    # more time to load is refused with a file-level finding, the night goes on.
    max_memory_mb: float = 1024.0
    max_read_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Supplier:
    dn_entreprise: str
    numero_cad: str
    etat_cad: str = "valide"


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    pce_file: Path = DEFAULTS_DIR / "simulator" / "pce.csv"
    today: str = ""
    seed: int = 42
    latency_ms: int = 0
    fault_rate: float = 0.0
    capacity_per_slot: int = 2
    closed: bool = False
    maintenance: bool = False
    suppliers: tuple[Supplier, ...] = ()


@dataclass(frozen=True, slots=True)
class Settings:
    omega: OmegaSettings = field(default_factory=OmegaSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    input: InputSettings = field(default_factory=InputSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    source: Path | None = None


def find_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path:
    """The settings file to use: ``path``, ``$DIT_CONFIG``, ``./config/settings.toml``,
    then (in a checkout only) the checkout's; ConfigError saying how to get one."""
    env = os.environ if environ is None else environ
    if path is not None:
        return path
    if env.get("DIT_CONFIG"):
        return Path(env["DIT_CONFIG"])
    here = Path.cwd() if cwd is None else cwd
    if (here / WORKDIR_CONFIG).is_file():
        return here / WORKDIR_CONFIG
    if _IN_CHECKOUT:
        return DEFAULT_CONFIG
    raise ConfigError(
        f"aucun fichier de configuration : ni --config, ni DIT_CONFIG, ni "
        f"config/settings.toml dans le dossier courant ({here}). Créez un dossier de "
        "travail avec « dit-batch init DOSSIER », puis lancez dit-batch depuis ce dossier."
    )


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file ``find_settings`` designates."""
    env = os.environ if environ is None else environ
    path = find_settings(path, env)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"Fichier de configuration introuvable : {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Fichier de configuration illisible : {path} ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Fichier de configuration invalide : {path} ({exc})") from exc
    return settings_from_mapping(raw, base_dir=path.resolve().parent, environ=env, source=path)


def settings_from_mapping(
    raw: Mapping[str, Any],
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Settings:
    """Build Settings from a parsed TOML mapping; relative paths against ``base_dir``."""
    env = {} if environ is None else environ
    _refuse_unknown("", raw, _SECTIONS)
    tables = {name: _table(raw, name) for name in _SECTIONS}
    omega_raw = dict(tables["omega"])
    from_env = set()
    for f in fields(OmegaSettings):
        value = env.get(ENV_PREFIX + f.name.upper())
        if value:
            omega_raw[f.name] = value
            from_env.add(f.name)
    omega = _section(OmegaSettings, omega_raw, "omega", from_env=from_env)
    execution = _section(ExecutionSettings, tables["execution"], "execution")
    paths = _section(PathSettings, tables["paths"], "paths", base_dir)
    if "tracking_dir" not in tables["paths"]:  # the tracking exports follow input/
        paths = replace(paths, tracking_dir=paths.input_dir / "suivi")
    input_settings = _section(InputSettings, tables["input"], "input")
    sim_raw = dict(tables["simulator"])
    suppliers_raw = sim_raw.pop("suppliers", [])
    simulator = _section(SimulatorSettings, sim_raw, "simulator", base_dir)
    suppliers = _suppliers(suppliers_raw)
    if not suppliers and omega.dn_entreprise:
        suppliers = (Supplier(omega.dn_entreprise, omega.numero_cad),)
    simulator = replace(simulator, suppliers=suppliers)
    settings = Settings(omega, execution, paths, input_settings, simulator, source)
    _check(settings)
    return settings


_SECTIONS = ("omega", "execution", "paths", "input", "simulator")
_SUPPLIER_KEYS = ("dn_entreprise", "numero_cad", "etat_cad")
# The TOML types a key of each default's type accepts, and how to name them in French.
_TOML_TYPES: tuple[tuple[type, tuple[type, ...], str], ...] = (
    (bool, (bool,), "true ou false"),
    (int, (int,), "un nombre entier"),
    (float, (int, float), "un nombre"),
    (Path, (str,), "un chemin entre guillemets"),
    (str, (str,), "un texte entre guillemets"),
)


def _refuse_unknown(where: str, raw: Mapping[str, Any], valid: Sequence[str]) -> None:
    """Refuse the keys of ``raw`` not in ``valid``, suggesting the nearest valid names."""
    unknown = sorted(set(raw) - set(valid))
    if not unknown:
        return
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=2, cutoff=0.6)
        hint = f" (vouliez-vous dire {' ou '.join(close)} ?)" if close else ""
        parts.append(f"« {key} »{hint}")
    kind = "section(s)" if not where else "clé(s)"
    prefix = f"{where} " if where else ""
    raise ConfigError(
        f"{prefix}{kind} inconnue(s) : {', '.join(parts)} ; valides : {', '.join(valid)}"
    )


def _table(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] : une section [{name}] est attendue, pas {value!r}")
    return value


def _suppliers(raw: Any) -> tuple[Supplier, ...]:
    """The ``[[simulator.suppliers]]`` entries, each a table of the three text keys."""
    if not isinstance(raw, list):
        raise ConfigError(
            "[simulator] suppliers : une liste d'entrées [[simulator.suppliers]] est attendue"
        )
    suppliers = []
    for number, entry in enumerate(raw, start=1):
        where = f"[[simulator.suppliers]] n° {number}"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"{where} : une table (dn_entreprise = ..., numero_cad = ..., etat_cad = ...) "
                f"est attendue, pas {entry!r}"
            )
        _refuse_unknown(where, entry, _SUPPLIER_KEYS)
        missing = [k for k in _SUPPLIER_KEYS[:2] if k not in entry]
        if missing:
            raise ConfigError(f"{where} : clé(s) obligatoire(s) absente(s) : {', '.join(missing)}")
        for key, value in entry.items():
            if not isinstance(value, str):
                raise ConfigError(f"{where} {key} : un texte entre guillemets est attendu")
        suppliers.append(Supplier(**entry))
    return tuple(suppliers)


def _section(
    cls: Any,
    raw: Mapping[str, Any],
    name: str,
    base_dir: Path | None = None,
    *,
    from_env: set[str] | frozenset[str] = frozenset(),
) -> Any:
    known = [f.name for f in fields(cls)]
    if name == "simulator":
        known.remove("suppliers")
    _refuse_unknown(f"[{name}]", raw, known)
    values: dict[str, Any] = {}
    defaults = cls()
    for key, value in raw.items():
        default = getattr(defaults, key)
        if key not in from_env:  # a TOML value: its type must be the key's own
            _check_type(name, key, value, default)
        try:
            if isinstance(default, Path):
                p = Path(str(value)).expanduser()
                values[key] = (
                    p
                    if p.is_absolute() or base_dir is None
                    else Path(os.path.normpath(base_dir / p))
                )
            elif isinstance(default, bool):
                values[key] = _boolean(value)
            elif isinstance(default, int):
                values[key] = int(value)
            elif isinstance(default, float):
                values[key] = float(value)
            else:
                values[key] = str(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[{name}] {key} : valeur invalide {value!r}") from exc
    return cls(**values)


def _check_type(section: str, key: str, value: Any, default: Any) -> None:
    for kind, accepted, label in _TOML_TYPES:
        if isinstance(default, kind):
            ok = isinstance(value, accepted) and not (kind is not bool and isinstance(value, bool))
            if not ok:
                raise ConfigError(
                    f"[{section}] {key} : {label} est attendu, pas {value!r} (dans le fichier de "
                    "configuration)"
                )
            return


def _boolean(value: Any) -> bool:
    """TOML booleans as they are; environment strings such as "true", "0", "oui"."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "oui", "vrai", "on"):
        return True
    if text in ("0", "false", "no", "non", "faux", "off", ""):
        return False
    raise ValueError(value)


def _check(s: Settings) -> None:
    if s.omega.version not in VERSIONS:
        raise ConfigError(
            f"[omega] version : {s.omega.version!r} inconnue (attendu : {', '.join(VERSIONS)})"
        )
    if s.omega.timeout_s <= 0 or s.omega.timeout_s >= 300:
        raise ConfigError("[omega] timeout_s : doit être compris entre 0 et 300 secondes")
    if s.execution.rate_per_s <= 0:
        raise ConfigError("[execution] rate_per_s : doit être positif")
    if s.execution.workers < 1 or s.execution.max_attempts < 1:
        raise ConfigError("[execution] workers et max_attempts : au moins 1")
    if s.execution.max_resume_runs < 0 or s.execution.tracking_margin_s < 0:
        raise ConfigError("[execution] max_resume_runs et tracking_margin_s : positifs ou nuls")
    if not 0 <= s.execution.stop_grace_s <= 80:
        raise ConfigError(
            "[execution] stop_grace_s : doit être compris entre 0 et 80 secondes "
            "(systemd arrête le service de force après 90 s)"
        )
    if s.execution.slot_policy not in SLOT_POLICIES:
        raise ConfigError(
            f"[execution] slot_policy : {s.execution.slot_policy!r} inconnue "
            f"(attendu : {', '.join(SLOT_POLICIES)})"
        )
    if s.input.max_memory_mb < 64 or s.input.max_read_s <= 0:
        raise ConfigError(
            "[input] max_memory_mb et max_read_s : au moins 64 Mo, et une durée positive"
        )
    if s.simulator.today:
        try:
            date.fromisoformat(s.simulator.today)
        except ValueError as exc:
            raise ConfigError(
                f"[simulator] today : {s.simulator.today!r} n'est pas une date AAAA-MM-JJ"
            ) from exc
    if not s.omega.uses_simulator:
        url = urlsplit(s.omega.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"[omega] url : « {s.omega.url} » n'est pas une adresse http(s)://… "
                "(ou « simulator » pour le simulateur intégré)"
            )
    for key in ("cert_file", "key_file", "ca_file"):
        value = getattr(s.omega, key)
        if value and not (Path(value).is_file() and os.access(value, os.R_OK)):
            raise ConfigError(f"[omega] {key} : fichier introuvable ou illisible : {value}")
    if not s.omega.uses_simulator:
        missing = [k for k in ("dn_entreprise", "numero_cad", "login") if not getattr(s.omega, k)]
        if missing:
            raise ConfigError(f"[omega] clé(s) obligatoire(s) vide(s) : {', '.join(missing)}")
