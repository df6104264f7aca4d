"""Settings shared by the CLI commands: where the rules, policy and reports live."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_rules_path() -> Path:
    """`./rules` when present, else the catalog shipped beside the package."""
    local = Path("rules")
    return local if local.is_dir() else PROJECT_ROOT / "rules"


POLICY_FILES = ("policy.yml", "policy.yaml", "policy.toml", "auditor.toml")


def default_policy_path() -> Path | None:
    """The first of policy.yml, policy.yaml, policy.toml, auditor.toml in the working directory."""
    for name in POLICY_FILES:
        if Path(name).exists():
            return Path(name)
    return None


DEFAULT_REPORTS = Path("reports")
