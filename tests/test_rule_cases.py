"""pytest collects every case of every rule test file in rules/tests/ (the same cases as `auditor rules test`)."""

from __future__ import annotations

import pytest

from auditor.rulebook import load_rulebook
from auditor.rulebook.testing import load_test_file, rule_test_files, run_case

from .conftest import RULES

BOOK = load_rulebook([RULES])
CASES = [
    pytest.param(spec.rule, case, id=f"{spec.rule}::{case.name}")
    for path in rule_test_files([RULES])
    for spec in [load_test_file(path)]
    for case in spec.cases
]


def test_catalog_has_no_problems() -> None:
    assert BOOK.problems == []


def test_every_rule_has_a_test_file() -> None:
    tested = {load_test_file(p).rule for p in rule_test_files([RULES])}
    assert {r.id for r in BOOK.rules} <= tested


@pytest.mark.parametrize(("rule_id", "case"), CASES)
def test_rule_case(rule_id: str, case) -> None:  # type: ignore[no-untyped-def]
    result = run_case(BOOK.by_id(rule_id), case)
    assert result.passed, result.diff()


def test_every_test_file_has_a_passing_a_failing_and_a_boundary_case() -> None:
    """The catalog's convention: a clean case, a violation, and a case marked `# Boundary:` (e.g. exactly
    at a deadline or threshold) in every rule's test file."""
    for path in rule_test_files([RULES]):
        spec = load_test_file(path)
        assert any(not case.expect for case in spec.cases), f"{path.name}: no passing case"
        assert any(case.expect for case in spec.cases), f"{path.name}: no failing case"
        assert "boundary" in path.read_text(encoding="utf-8").lower(), f"{path.name}: no boundary case"
