"""The examples on real data (examples/*, issue #10): each public data set in ../shared/data/external is
ingested through its example mapping and swept with its example rules, and every rule's findings (count and
subjects) must equal an independent computation over the source files (tests/examples_truth.py).

The rules that find nothing on the real data are also run on altered copies (tests/examples_mutations.py),
where they must fire, again exactly as the independent computation says. One run.sh is run end to end from
an empty directory. Under CI=true a missing ../shared fails instead of skipping.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from auditor.cli import main

from . import examples_mutations, examples_truth
from .conftest import ROOT, SHARED, require

EXAMPLES = ROOT / "examples"
EXTERNAL = SHARED / "data" / "external"
Findings = dict[str, list[str]]


def cli(*args: str) -> str:
    """Run an auditor command in-process; it must succeed."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def ingest(db_url: str, mapping: Path, data: Path) -> None:
    """`auditor ingest --mapping` of one file; nothing may be rejected."""
    out = cli("ingest", "--db", db_url, "--mapping", str(mapping), str(data))
    assert "refused" not in out


def findings_by_rule(db_url: str) -> Findings:
    """`auditor findings list --format json`: rule id -> sorted subjects, one per finding."""
    out: Findings = defaultdict(list)
    for finding in json.loads(cli("findings", "list", "--format", "json", "--db", db_url)):
        out[finding["rule_id"]].append(finding["subject"])
    return {rule: sorted(subjects) for rule, subjects in out.items()}


def rule_ids(example: str) -> set[str]:
    """The rule ids of an example's rules.yml."""
    return {rule["id"] for rule in YAML(typ="safe").load((EXAMPLES / example / "rules.yml").read_text())["rules"]}


def _last_timestamp_day(csv_path: Path) -> str:
    with csv_path.open(encoding="utf-8", newline="") as handle:
        return max(row["timestamp"] for row in csv.DictReader(handle))[:10]


# ------------------------------------------------------------ loading each data set as its README says


def load_bpic2012(db_url: str, data: Path, work: Path) -> tuple[str, str]:
    ingest(db_url, EXAMPLES / "bpic2012" / "mapping.yml", data)
    return "2011-09-30", "2012-03-14"


def load_hiring(db_url: str, data: Path, work: Path) -> tuple[str, str]:
    ingest(db_url, EXAMPLES / "hiring" / "mapping.yml", data)
    return "2015-01-05", "2015-01-12"


def load_crm(db_url: str, data: Path, work: Path) -> tuple[str, str]:
    for mapping, name in (("pipeline", "sales_pipeline"), ("products", "products"), ("sales_teams", "sales_teams")):
        ingest(db_url, EXAMPLES / "crm-opportunities" / f"{mapping}.yml", data / f"{name}.csv")
    return "2016-10-01", examples_truth.crm_last_day(data).isoformat()


def load_orders(db_url: str, data: Path, work: Path) -> tuple[str, str]:
    events = work / "events.csv"
    exporter = EXAMPLES / "order-management" / "ocel_events.py"
    subprocess.run([sys.executable, str(exporter), str(data), str(events)], check=True, capture_output=True)
    ingest(db_url, EXAMPLES / "order-management" / "mapping.yml", events)
    return "2023-04-01", _last_timestamp_day(events)


@dataclass(frozen=True)
class Example:
    """One example: its data, how it loads, its independent truth and (for the mutation test) its alteration."""

    name: str
    data: Path
    load: Callable[[str, Path, Path], tuple[str, str]]
    truth: Callable[[Path], examples_truth.Truth]
    mutate: Callable[[Path, Path], Path]
    fire_when_mutated: tuple[str, ...]  # rules the alteration must make fire


EXAMPLE_LIST = [
    Example(
        "bpic2012",
        EXTERNAL / "bpic2012" / "events.csv.gz",
        load_bpic2012,
        examples_truth.bpic2012,
        examples_mutations.bpic2012,
        ("BPI-001", "BPI-003", "BPI-006"),
    ),
    Example(
        "order-management",
        EXTERNAL / "order-management" / "running-example.sqlite",
        load_orders,
        examples_truth.order_management,
        examples_mutations.order_management,
        ("ORD-001", "ORD-002"),
    ),
    Example(
        "crm-opportunities",
        EXTERNAL / "crm-opportunities",
        load_crm,
        examples_truth.crm,
        examples_mutations.crm,
        ("CRM-004", "CRM-005", "CRM-006"),
    ),
    Example(
        "hiring",
        EXTERNAL / "hiring" / "events.csv.gz",
        load_hiring,
        examples_truth.hiring,
        examples_mutations.hiring,
        ("HIR-001", "HIR-002", "HIR-003", "HIR-004", "HIR-005"),
    ),
]
EXAMPLES_BY_NAME = {example.name: example for example in EXAMPLE_LIST}


def run_example(example: Example, data: Path, work: Path) -> Findings:
    """Load `data` into a fresh SQLite database in `work`, sweep it with the example's rules (one worker)."""
    db_url = f"sqlite:///{work / 'auditor.db'}"
    since, as_of = example.load(db_url, data, work)
    rules = str(EXAMPLES / example.name / "rules.yml")
    cli("sweep", "--db", db_url, "--rules", rules, "--since", since, "--as-of", as_of, "--jobs", "1")
    return findings_by_rule(db_url)


def assert_same(example: Example, engine: Findings, truth: examples_truth.Truth) -> None:
    """Every rule of the example: the engine's findings (count and subjects) equal the independent answer."""
    assert set(truth) == rule_ids(example.name), "every example rule has an independent computation"
    assert set(engine) <= set(truth)
    differences = {
        rule: (len(engine.get(rule, [])), len(expected))
        for rule, expected in truth.items()
        if engine.get(rule, []) != expected
    }
    assert not differences, f"{example.name}: rule -> (engine, independent) findings differ: {differences}"


@pytest.fixture(scope="session")
def real_data_runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Findings, examples_truth.Truth]]:
    """Per data set, computed once per test session: (the engine's findings, the independent answer)."""
    cache: dict[str, tuple[Findings, examples_truth.Truth]] = {}

    def get(name: str) -> tuple[Findings, examples_truth.Truth]:
        example = EXAMPLES_BY_NAME[name]
        require(example.data.exists(), f"{example.data} is missing (../shared beside the project)")
        if name not in cache:
            cache[name] = (
                run_example(example, example.data, tmp_path_factory.mktemp(name)),
                example.truth(example.data),
            )
        return cache[name]

    return get


# ------------------------------------------------------------ tests


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_engine_counts_equal_independent_counts_on_real_data(real_data_runs, name: str) -> None:  # type: ignore[no-untyped-def]
    engine, truth = real_data_runs(name)
    assert_same(EXAMPLES_BY_NAME[name], engine, truth)


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_readme_result_table_matches_the_independent_counts(real_data_runs, name: str) -> None:  # type: ignore[no-untyped-def]
    _, truth = real_data_runs(name)
    readme = (EXAMPLES / name / "README.md").read_text(encoding="utf-8")
    stated = {
        m[1]: int(m[2].replace(",", "")) for m in re.finditer(r"^\| ([A-Z]{3}-\d{3}) \|.*\| ([\d,]+) \|$", readme, re.M)
    }
    assert stated == {rule: len(subjects) for rule, subjects in truth.items()}


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_rules_silent_on_real_data_fire_exactly_on_altered_copies(tmp_path: Path, name: str) -> None:
    example = EXAMPLES_BY_NAME[name]
    require(example.data.exists(), f"{example.data} is missing (../shared beside the project)")
    altered_dir = tmp_path / "data"
    altered_dir.mkdir()
    altered = example.mutate(example.data, altered_dir)
    work = tmp_path / "work"
    work.mkdir()
    truth = example.truth(altered)
    assert all(truth[rule] for rule in example.fire_when_mutated), "the alteration injects these deviations"
    assert_same(example, run_example(example, altered, work), truth)


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_example_rule_cases_pass_on_engine_and_reference(tmp_path: Path, name: str) -> None:
    """The boundary cases in examples/<set>/tests/ (no external data needed)."""
    folder = EXAMPLES / name
    assert list((folder / "tests").glob("*.yml")), "every example has rule cases"
    junit = tmp_path / "cases.xml"
    result = CliRunner().invoke(
        main, ["rules", "test", "--rules", str(folder / "rules.yml"), "--junit", str(junit), str(folder / "tests")]
    )
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output and 'failures="0"' in junit.read_text(encoding="utf-8")


def test_run_sh_from_an_empty_directory_then_findings_list_prints_every_finding(tmp_path: Path) -> None:
    example = EXAMPLES_BY_NAME["order-management"]
    require(example.data.exists(), f"{example.data} is missing (../shared beside the project)")
    auditor = Path(sys.executable).parent / "auditor"
    done = subprocess.run(
        ["sh", str(EXAMPLES / example.name / "run.sh"), "--jobs", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    made = {p.name for p in tmp_path.iterdir()} - {"auditor.db.lock"}  # the sweep's lock file stays
    assert made == {"auditor.db", "events.csv"}  # a fresh database in the current directory
    listed = subprocess.run(
        [str(auditor), "findings", "list", "--format", "json"], cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    engine: Findings = defaultdict(list)
    for finding in json.loads(listed.stdout):
        engine[finding["rule_id"]].append(finding["subject"])
    assert_same(example, {rule: sorted(s) for rule, s in engine.items()}, example.truth(example.data))
