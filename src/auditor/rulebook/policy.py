"""The organisation's policy file: per-rule param overrides and the holiday calendar.

`policy.yml`::

    params:
      MAT-001: {tat_days: 10}
    holidays: [2026-12-25, 2026-12-26]

or the same in TOML (`auditor.toml` / `policy.toml`)::

    holidays = [2026-12-25]
    [params.MAT-001]
    tat_days = 10

Finding settings: ``timezone`` (IANA name; the organisation's calendar day
decides waiver expiry and overdue findings, default UTC) and ``due_days``
(days to fix a finding by severity, default critical 7, high 14, medium 30,
low 90).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


def known_zone(value: str) -> str:
    """`value` if it names an IANA time zone; ValueError otherwise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file and the problem."""


class _PolicySchema(BaseModel):
    model_config = ConfigDict(extra="ignore")  # auditor.toml holds other settings too
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    timezone: str = "UTC"
    due_days: dict[str, int] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("due_days")
    @classmethod
    def _severities(cls, value: dict[str, int]) -> dict[str, int]:
        for severity, days in value.items():
            if severity not in DEFAULT_DUE_DAYS:
                raise ValueError(f"unknown severity {severity!r} (known: {', '.join(DEFAULT_DUE_DAYS)})")
            if days < 1:
                raise ValueError(f"{severity}: days to fix must be at least 1")
        return value


DEFAULT_DUE_DAYS: dict[str, int] = {"critical": 7, "high": 14, "medium": 30, "low": 90}
"""Days an owner has to fix a finding, by severity, unless the policy says otherwise."""


@dataclass(frozen=True)
class Policy:
    """Param overrides by rule id, non-working days, the organisation's time zone and days to fix findings."""

    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    source: str = "policy"
    timezone: str = "UTC"
    due_days: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_DUE_DAYS))

    def today(self) -> date:
        """Today's date in the organisation's time zone."""
        return datetime.now(ZoneInfo(self.timezone)).date()


def load_policy(path: Path | None) -> Policy:
    """Read a policy file (YAML or TOML by extension); no file means no overrides."""
    if path is None:
        return Policy()
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else YAML(typ="safe").load(text)
    except (OSError, tomllib.TOMLDecodeError, YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read policy: {exc}") from None
    try:
        spec = _PolicySchema.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        raise PolicyError(f"{path}: {problems}") from None
    return Policy(
        spec.params, frozenset(spec.holidays), str(path), spec.timezone, {**DEFAULT_DUE_DAYS, **spec.due_days}
    )
