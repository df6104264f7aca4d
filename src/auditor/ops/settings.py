"""`auditor.toml`: where the database, rules, policy and reports are, owners' addresses and how digests are sent.

Precedence for every setting: command-line option > environment > auditor.toml > built-in default.
Secrets never live in the file: a `password` key (anywhere) or a database URL with a password is refused;
the SMTP password comes from AUDITOR_SMTP_PASSWORD, the database's from AUDITOR_DATABASE_URL (or PGPASSWORD).
The file's top-level keys `timezone`, `holidays`, `params` and `due_days` are the organisation's policy
(see auditor.rulebook.policy), unless `[paths] policy` or a policy file beside it holds the policy instead.
"""

from __future__ import annotations

import os
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

CONFIG_FILE = "auditor.toml"
CONFIG_ENV = "AUDITOR_CONFIG"
SMTP_PASSWORD_ENV = "AUDITOR_SMTP_PASSWORD"
POLICY_KEYS = frozenset({"params", "holidays", "timezone", "due_days"})
POLICY_BESIDE = ("policy.yml", "policy.yaml", "policy.toml")
SMTP_ENV = {
    "host": "AUDITOR_SMTP_HOST",
    "port": "AUDITOR_SMTP_PORT",
    "tls": "AUDITOR_SMTP_TLS",
    "user": "AUDITOR_SMTP_USER",
}
DIGEST_ENV = {"sender": "AUDITOR_DIGEST_FROM", "report_url": "AUDITOR_REPORT_URL"}
SCHEDULER_ENV = "AUDITOR_SCHEDULER"


class SettingsError(ValueError):
    """auditor.toml cannot be used; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatabaseSettings(_Strict):
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if url.password:
            raise ValueError(
                "the URL holds a password; keep secrets out of the file: set AUDITOR_DATABASE_URL in the "
                "environment (or PGPASSWORD for PostgreSQL) instead"
            )
        return value


class PathSettings(_Strict):
    rules: list[Path] = Field(default_factory=list)
    policy: Path | None = None
    reports: Path | None = None


class SmtpSettings(_Strict):
    """How digests are sent; the password only ever comes from AUDITOR_SMTP_PASSWORD."""

    host: str = "localhost"
    port: int | None = None
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    timeout: float = 30.0

    @property
    def resolved_port(self) -> int:
        """The port, or the usual one for the TLS mode (465 ssl, 587 starttls, 25 none)."""
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.tls]

    @staticmethod
    def password() -> str | None:
        """The SMTP password from the environment (None: log in without one, or not at all)."""
        return os.environ.get(SMTP_PASSWORD_ENV) or None


class DigestSettings(_Strict):
    sender: str | None = Field(default=None, alias="from")
    report_url: str | None = None  # e.g. https://intranet/audit/{sweep}/index.html; else the report is attached
    attach_report: bool = True
    subject_prefix: str = "[auditor]"

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class ClusterSettings(_Strict):
    """Where sweeps evaluate: a Dask scheduler's address (docs/scaling.md), else local worker processes."""

    scheduler: str | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    owners: dict[str, str] = Field(default_factory=dict)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)

    @field_validator("owners")
    @classmethod
    def _addresses(cls, value: dict[str, str]) -> dict[str, str]:
        for owner, address in value.items():
            if "@" not in parseaddr(address)[1]:
                raise ValueError(f"owner {owner!r}: {address!r} is not an e-mail address")
        return value


class Settings(BaseModel):
    """The settings in force: auditor.toml (if any) with the environment applied over it."""

    model_config = ConfigDict(frozen=True)
    source: Path | None = None
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    owners: dict[str, str] = Field(default_factory=dict)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)

    @property
    def base(self) -> Path:
        """Relative paths in the file are relative to the file's folder."""
        return self.source.parent if self.source else Path(".")

    def rules_paths(self) -> tuple[Path, ...]:
        """Rule files or folders from `[paths] rules` (empty: the built-in default)."""
        return tuple(self.base / p for p in self.paths.rules)

    def policy_path(self) -> Path | None:
        """`[paths] policy`, else a policy.yml/.yaml/.toml beside the file, else the file itself (None: no file)."""
        if self.source is None:
            return None
        if self.paths.policy is not None:
            return self.base / self.paths.policy
        beside = [self.base / name for name in POLICY_BESIDE if (self.base / name).exists()]
        return beside[0] if beside else self.source

    def reports_dir(self, default: Path) -> Path:
        """`[paths] reports`, else the given default."""
        return self.base / self.paths.reports if self.paths.reports else default

    def address(self, owner: str) -> str | None:
        """An owner's e-mail address: from `[owners]`, or the owner itself when it is an address."""
        if owner in self.owners:
            return self.owners[owner]
        return owner if "@" in parseaddr(owner)[1] and " " not in owner.strip() else None


def find_config(explicit: Path | None = None) -> Path | None:
    """`--config`, else $AUDITOR_CONFIG, else ./auditor.toml when present (None: no file, defaults apply)."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path(CONFIG_FILE)
    return local if local.is_file() else None


def load_settings(path: Path | None) -> Settings:
    """Read auditor.toml (None: no file) and apply the environment's SMTP, digest and cluster settings over it."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path}: cannot read settings: {exc}") from None
        _refuse_secrets(path, data)
    policy_keys = POLICY_KEYS & data.keys()
    own = {k: v for k, v in data.items() if k not in POLICY_KEYS}
    _apply_env(own)
    try:
        spec = _File.model_validate(own)
    except ValidationError as exc:
        raise SettingsError(f"{path or CONFIG_FILE}: {_problems(exc)}") from None
    settings = Settings(source=path, **dict(spec))
    policy = settings.policy_path()
    if policy_keys and policy is not None and policy != path:
        keys = ", ".join(sorted(policy_keys))
        raise SettingsError(
            f"{path}: policy settings ({keys}) found here but the policy in use is {policy}; keep them in one place"
        )
    return settings


def _refuse_secrets(path: Path, data: dict[str, Any], where: str = "") -> None:
    for key, value in data.items():
        name = f"{where}.{key}" if where else key
        if "password" in key.lower() or "secret" in key.lower():
            raise SettingsError(
                f"{path}: {name}: passwords are never read from the file; set {SMTP_PASSWORD_ENV} "
                "(SMTP) or AUDITOR_DATABASE_URL (database) in the environment instead"
            )
        if isinstance(value, dict):
            _refuse_secrets(path, value, name)


def _apply_env(data: dict[str, Any]) -> None:
    for table, names in (("smtp", SMTP_ENV), ("digest", DIGEST_ENV), ("cluster", {"scheduler": SCHEDULER_ENV})):
        for key, var in names.items():
            if os.environ.get(var):
                section = data.setdefault(table, {})
                if isinstance(section, dict):
                    section["from" if key == "sender" else key] = os.environ[var]


def _problems(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in errors)
