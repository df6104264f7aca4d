"""Load rule files (YAML) into resolved rules; every problem is reported with file, line and rule id."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from auditor.rulebook.policy import Policy
from auditor.rulebook.templates import TEMPLATES, Check, Resolver, RuleError
from auditor.yaml_lines import line_at, line_of, plain

Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}
MESSAGE_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
COMMON_CONTEXT = frozenset({"params", "sweep", "subject", "occurrence", "rule"})


class RuleSchema(BaseModel):
    """The keys of one rule in a rule file."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=80)
    title: str = Field(min_length=1)
    area: str | None = None
    severity: Severity
    owner: str = Field(min_length=1)
    rationale: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    check: dict[str, Any]
    message: str = Field(min_length=1)
    remediation: str = ""


class RuleFileSchema(BaseModel):
    """A rule file: one process area and its rules."""

    model_config = ConfigDict(extra="forbid")
    area: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """A loaded, validated rule with its params resolved (defaults + policy)."""

    id: str
    title: str
    area: str
    severity: str
    owner: str
    rationale: str
    remediation: str
    message: str
    params: dict[str, Any]
    check: Check
    source: str
    line: int

    @property
    def template(self) -> str:
        return self.check.template


@dataclass(frozen=True)
class Problem:
    """One error found while loading rules."""

    source: str
    line: int
    rule_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{where}{rule}: {self.message}"


@dataclass
class Rulebook:
    """All rules loaded from a set of files, plus the problems found."""

    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    digest: str = ""
    policy: Policy = field(default_factory=Policy)

    def by_id(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


class RulebookError(ValueError):
    """Raised when rules have problems and cannot be used."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def rule_files(paths: list[Path]) -> list[Path]:
    """Expand directories into their `*.yml`/`*.yaml` files (not `tests/`), sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.glob("*.y*ml") if p.suffix in (".yml", ".yaml")))
        else:
            out.append(path)
    return out


def load_rulebook(paths: list[Path], policy: Policy | None = None) -> Rulebook:
    """Load and validate every rule file; problems are collected, not raised."""
    book = Rulebook(policy=policy or Policy())
    overrides = book.policy.params
    seen: dict[str, Problem] = {}
    digest = hashlib.sha256()
    for path in rule_files(paths):
        text = path.read_text(encoding="utf-8")
        digest.update(path.name.encode() + b"\0" + text.encode())
        for rule_or_problem in _load_file(path, text, overrides):
            if isinstance(rule_or_problem, Problem):
                book.problems.append(rule_or_problem)
                continue
            rule = rule_or_problem
            if rule.id in seen:
                first = seen[rule.id]
                book.problems.append(
                    Problem(
                        rule.source,
                        rule.line,
                        rule.id,
                        f"duplicate rule id (first defined at {first.source}:{first.line})",
                    )
                )
                continue
            seen[rule.id] = Problem(rule.source, rule.line, rule.id, "")
            book.rules.append(rule)
    for rule_id in sorted(set(overrides) - set(seen)):
        book.problems.append(
            Problem(book.policy.source, 1, rule_id, "policy sets params for a rule that does not exist")
        )
    digest.update(repr((sorted(overrides.items()), sorted(book.policy.holidays))).encode())
    book.digest = digest.hexdigest()
    return book


def _line_at(node: Any, dotted: str) -> int:
    """Best line for a dotted path like `check.within.trigger.where` inside a rule node."""
    return line_at(node, dotted.split("."))


def _load_file(path: Path, text: str, policy: dict[str, dict[str, Any]]):  # type: ignore[no-untyped-def]
    source = str(path)
    try:
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        yield Problem(source, line, None, f"not valid YAML: {getattr(exc, 'problem', exc)}")
        return
    try:
        RuleFileSchema.model_validate(plain(data))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            if err["loc"] and err["loc"][0] == "rules" and len(err["loc"]) > 2:
                continue
            loc = ".".join(str(p) for p in err["loc"])
            yield Problem(
                source, _line_at(data, loc) if isinstance(data, CommentedMap) else 1, None, f"{loc}: {err['msg']}"
            )
        if not isinstance(data, CommentedMap) or not isinstance(data.get("rules"), CommentedSeq):
            return
    area = data.get("area") if isinstance(data.get("area"), str) else "unknown"
    for node in data.get("rules", []):
        yield from _load_rule(source, node, area, policy)


def _load_rule(source: str, node: Any, area: str, policy: dict[str, dict[str, Any]]):  # type: ignore[no-untyped-def]
    line = line_of(node)
    rule_id = node.get("id") if isinstance(node, CommentedMap) else None
    rule_id = rule_id if isinstance(rule_id, str) else None
    try:
        raw = RuleSchema.model_validate(plain(node))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in err["loc"])
            yield Problem(source, _line_at(node, loc), rule_id, f"{loc}: {err['msg']}")
        return
    problems = []
    params = dict(raw.params)
    overrides = policy.get(raw.id, {})
    for name, value in overrides.items():
        if name not in params:
            problems.append(Problem(source, line, raw.id, f"policy sets unknown param {name!r}"))
        else:
            params[name] = value
    if len(raw.check) != 1:
        names = ", ".join(sorted(TEMPLATES))
        yield Problem(source, _line_at(node, "check"), raw.id, f"check must name exactly one template ({names})")
        return
    ((template_name, body),) = raw.check.items()
    template = TEMPLATES.get(template_name)
    if template is None:
        names = ", ".join(sorted(TEMPLATES))
        yield Problem(
            source, _line_at(node, "check"), raw.id, f"unknown check template {template_name!r} (known: {names})"
        )
        return
    check = None
    try:
        spec = template.schema.model_validate(body)
        check = template.resolve(spec, Resolver(params))
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = "check." + template_name + "." + ".".join(str(p) for p in err["loc"])
            problems.append(Problem(source, _line_at(node, loc), raw.id, f"{loc}: {err['msg']}"))
    except RuleError as exc:
        problems.append(Problem(source, _line_at(node, exc.path), raw.id, f"{exc.path}: {exc}"))
    allowed = COMMON_CONTEXT | template.context
    try:
        parsed = MESSAGE_ENV.parse(raw.message)
        unknown = sorted(meta.find_undeclared_variables(parsed) - allowed)
        if unknown:
            problems.append(
                Problem(
                    source,
                    _line_at(node, "message"),
                    raw.id,
                    f"message uses unknown variable(s) {', '.join(unknown)} (available: {', '.join(sorted(allowed))})",
                )
            )
    except TemplateSyntaxError as exc:
        problems.append(Problem(source, _line_at(node, "message") + exc.lineno - 1, raw.id, f"message: {exc.message}"))
    if problems or check is None:
        yield from problems
        return
    rule = Rule(
        id=raw.id,
        title=raw.title,
        area=raw.area or area,
        severity=raw.severity,
        owner=raw.owner,
        rationale=raw.rationale.strip(),
        remediation=raw.remediation.strip(),
        message=raw.message.strip(),
        params=params,
        check=check,
        source=source,
        line=line,
    )
    compile_problem = _compile_problem(rule)
    if compile_problem:
        yield Problem(source, _line_at(node, "check"), raw.id, compile_problem)
        return
    yield rule


def _compile_problem(rule: Rule) -> str | None:
    """Why durable_rules cannot run this rule, or None."""
    from auditor.engine.compiler import CompileError, compile_rule  # the engine depends on this module
    from auditor.engine.window import SweepWindow

    try:
        compile_rule(rule, SweepWindow(as_of=date(2000, 1, 31), since=date(2000, 1, 1)))
    except CompileError as exc:
        return f"check: {exc}"
    return None


def render_message(rule: Rule, context: dict[str, Any]) -> str:
    """Render a rule's message with the finding's context (sandboxed, strict)."""
    template = _message_template(rule.message)
    return " ".join(template.render(rule=rule, params=rule.params, **context).split())


@functools.lru_cache(maxsize=512)
def _message_template(text: str) -> Any:
    """A message template compiled once (compiling took longer than rendering, per finding)."""
    return MESSAGE_ENV.from_string(text)
