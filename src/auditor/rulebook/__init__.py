"""Rule files: schema, expression language, check templates, loading."""

from auditor.rulebook.loader import (
    SEVERITY_ORDER,
    Problem,
    Rule,
    Rulebook,
    RulebookError,
    load_rulebook,
    render_message,
)
from auditor.rulebook.policy import Policy, PolicyError, load_policy

__all__ = [
    "SEVERITY_ORDER",
    "Problem",
    "Rule",
    "Rulebook",
    "RulebookError",
    "Policy",
    "PolicyError",
    "load_policy",
    "load_rulebook",
    "render_message",
]
