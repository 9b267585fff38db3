"""Configuration: ``config/settings.toml`` plus environment overrides.

Relative paths in a settings file are resolved against the folder that holds that
file, so the tool behaves the same whatever the current directory (cron).

Environment variables override the ``[omega]`` keys that are credentials or
installation-specific: ``DIT_OMEGA_URL``, ``DIT_OMEGA_DN_ENTREPRISE``,
``DIT_OMEGA_NUMERO_CAD``, ``DIT_OMEGA_LOGIN``, ``DIT_OMEGA_CERT_FILE``,
``DIT_OMEGA_KEY_FILE``, ``DIT_OMEGA_CA_FILE``. ``DIT_CONFIG`` names the settings file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "settings.toml"
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


@dataclass(frozen=True, slots=True)
class PathSettings:
    input_dir: Path = PROJECT_ROOT / "input"
    output_dir: Path = PROJECT_ROOT / "output"
    archive_dir: Path = PROJECT_ROOT / "archive"
    journal: Path = PROJECT_ROOT / "var" / "journal.sqlite3"
    referential_dir: Path = PROJECT_ROOT / "config" / "referential"


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
    pce_file: Path = PROJECT_ROOT / "config" / "simulator" / "pce.csv"
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


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read a settings file (default: ``$DIT_CONFIG`` or ``config/settings.toml``)."""
    env = os.environ if environ is None else environ
    if path is None:
        path = Path(env["DIT_CONFIG"]) if env.get("DIT_CONFIG") else DEFAULT_CONFIG
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
    omega_raw = dict(raw.get("omega", {}))
    for f in fields(OmegaSettings):
        value = env.get(ENV_PREFIX + f.name.upper())
        if value:
            omega_raw[f.name] = value
    omega = _section(OmegaSettings, omega_raw, "omega")
    execution = _section(ExecutionSettings, raw.get("execution", {}), "execution")
    paths = _section(PathSettings, raw.get("paths", {}), "paths", base_dir)
    input_settings = _section(InputSettings, raw.get("input", {}), "input")
    sim_raw = dict(raw.get("simulator", {}))
    suppliers_raw = sim_raw.pop("suppliers", [])
    simulator = _section(SimulatorSettings, sim_raw, "simulator", base_dir)
    try:
        suppliers = tuple(Supplier(**{k: str(v) for k, v in s.items()}) for s in suppliers_raw)
    except TypeError as exc:
        raise ConfigError(f"[simulator] suppliers : entrée invalide ({exc})") from exc
    if not suppliers and omega.dn_entreprise:
        suppliers = (Supplier(omega.dn_entreprise, omega.numero_cad),)
    simulator = replace(simulator, suppliers=suppliers)
    settings = Settings(omega, execution, paths, input_settings, simulator, source)
    _check(settings)
    return settings


def _section(cls: Any, raw: Mapping[str, Any], name: str, base_dir: Path | None = None) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"[{name}] clé(s) inconnue(s) : {', '.join(unknown)}")
    values: dict[str, Any] = {}
    defaults = cls()
    for key, value in raw.items():
        default = getattr(defaults, key)
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
