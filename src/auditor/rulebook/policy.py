"""The organisation's policy file: per-rule param overrides and the holiday calendar.

`policy.yml`::

    params:
      MAT-001: {tat_days: 10}
    holidays: [2026-12-25, 2026-12-26]

or the same in TOML (`auditor.toml` / `policy.toml`)::

    holidays = [2026-12-25]
    [params.MAT-001]
    tat_days = 10
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the file and the problem."""


class _PolicySchema(BaseModel):
    model_config = ConfigDict(extra="ignore")  # auditor.toml holds other settings too
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    """Param overrides by rule id, and non-working days for business-day durations."""

    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    source: str = "policy"


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
    return Policy(spec.params, frozenset(spec.holidays), str(path))
