"""Rule test files: `rules/tests/<RULE-ID>.yml`, named cases of facts in and exact findings out.

Every case runs through the durable_rules engine AND the reference
evaluator; both must produce exactly the expected findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML

from auditor.engine.evaluate import evaluate
from auditor.engine.facts import EngineFact
from auditor.engine.reference import reference_evaluate
from auditor.engine.window import SweepWindow
from auditor.facts import model_for, parse_fact
from auditor.rulebook.loader import Rule


class ExpectedFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str
    occurrence: str = ""


class CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    as_of: date
    since: date | None = None
    facts: list[dict[str, Any]]
    expect: list[ExpectedFinding]


class RuleTestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str
    cases: list[CaseSpec] = Field(min_length=1)


@dataclass
class CaseResult:
    """Outcome of one case: expected vs what the engine and the reference produced."""

    rule_id: str
    name: str
    source: str
    expected: list[tuple[str, str]]
    engine: list[tuple[str, str]] = field(default_factory=list)
    reference: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.engine == self.expected and self.reference == self.expected

    def diff(self) -> str:
        """Readable expected-vs-actual lines."""
        if self.error:
            return f"    error: {self.error}"
        lines = []
        for label, actual in (("engine", self.engine), ("reference", self.reference)):
            missing = sorted(set(self.expected) - set(actual))
            extra = sorted(set(actual) - set(self.expected))
            for subject, occ in missing:
                lines.append(f"    - expected, {label} did not find: {subject} {occ}".rstrip())
            for subject, occ in extra:
                lines.append(f"    + {label} found, not expected: {subject} {occ}".rstrip())
        return "\n".join(lines)


def rule_test_files(paths: list[Path]) -> list[Path]:
    """Rule test files under the given paths (a catalog dir means its `tests/` folder)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            folder = path / "tests" if (path / "tests").is_dir() else path
            out.extend(sorted(folder.glob("*.yml")))
        elif path.exists():
            out.append(path)
    return out


def load_test_file(path: Path) -> RuleTestFile:
    """Parse and validate one rule test file."""
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    try:
        return RuleTestFile.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None


def run_case(rule: Rule, case: CaseSpec, source: str = "") -> CaseResult:
    """Run one case through both evaluators."""
    expected = sorted((e.subject, e.occurrence) for e in case.expect)
    result = CaseResult(rule.id, case.name, source, expected)
    try:
        facts = [EngineFact.from_model(i, parse_fact(raw)) for i, raw in enumerate(case.facts, start=1)]
    except ValidationError as exc:
        result.error = f"invalid fact in case: {exc.errors(include_url=False)[0]}"
        return result
    since = case.since or min((_as_date(f.values[model_for(f.kind).time_field]) for f in facts), default=case.as_of)
    window = SweepWindow(as_of=case.as_of, since=since)
    evaluation = evaluate([rule], facts, window)
    if evaluation.errors:
        result.error = evaluation.errors[0].error
        return result
    result.engine = sorted((f.subject, f.occurrence) for f in evaluation.findings)
    reference = reference_evaluate([rule], facts, case.as_of, since)
    result.reference = sorted((f.subject, f.occurrence) for f in reference.findings)
    return result


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def run_rule_tests(rules: list[Rule], paths: list[Path]) -> list[CaseResult]:
    """Run every case of every test file; a file for an unknown rule is an error result."""
    by_id = {r.id: r for r in rules}
    results: list[CaseResult] = []
    for path in rule_test_files(paths):
        spec = load_test_file(path)
        rule = by_id.get(spec.rule)
        if rule is None:
            results.append(
                CaseResult(spec.rule, "(file)", str(path), [], error=f"no rule {spec.rule!r} in the rulebook")
            )
            continue
        for case in spec.cases:
            results.append(run_case(rule, case, str(path)))
    return results


def write_junit(results: list[CaseResult], path: Path) -> None:
    """Write results as JUnit XML (one testsuite per rule) for CI systems."""
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name="auditor rules test")
    by_rule: dict[str, list[CaseResult]] = {}
    for result in results:
        by_rule.setdefault(result.rule_id, []).append(result)
    for rule_id, cases in sorted(by_rule.items()):
        failures = sum(not c.passed for c in cases)
        suite = ET.SubElement(root, "testsuite", name=rule_id, tests=str(len(cases)), failures=str(failures))
        for case in cases:
            element = ET.SubElement(suite, "testcase", classname=rule_id, name=case.name, file=case.source)
            if not case.passed:
                failure = ET.SubElement(element, "failure", message="findings differ from the expected")
                failure.text = case.diff()
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
