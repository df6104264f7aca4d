"""Rule files: schema, expression language, check templates, loading."""

from auditor.rulebook.loader import (
    SEVERITY_ORDER,
    Problem,
    Rule,
    Rulebook,
    RulebookError,
    load_policy,
    load_rulebook,
    render_message,
)

__all__ = [
    "SEVERITY_ORDER",
    "Problem",
    "Rule",
    "Rulebook",
    "RulebookError",
    "load_policy",
    "load_rulebook",
    "render_message",
]
