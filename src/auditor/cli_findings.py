"""`auditor findings ...` and `auditor sweeps ...`: list, show and triage findings; list and compare sweeps."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from auditor.cli_options import Busy, Refused, console, db_option, policy_option, read_policy
from auditor.findings.actor import default_actor
from auditor.findings.lifecycle import TransitionError
from auditor.findings.query import FindingFilter, NoSweepError, list_findings
from auditor.rulebook import SEVERITY_ORDER
from auditor.store import open_database
from auditor.store.lock import DatabaseBusyError

STATUSES = ("open", "acknowledged", "resolved", "waived", "false_positive")
SEVERITIES = tuple(sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__))
DAY = click.DateTime(["%Y-%m-%d"])

actor_option = click.option("--actor", help="Who does this (recorded on every event; default: the OS user).")
format_option = click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
keys_argument = click.argument("keys", nargs=-1, required=True, metavar="KEY...")


def _guarded(call: Callable[[], Any]) -> Any:
    """Run a library call, turning refusals into clear CLI errors (exit 2, or 75 when a sweep runs)."""
    from auditor.findings.triage import UnknownFindingError

    try:
        return call()
    except (TransitionError, UnknownFindingError, NoSweepError) as exc:
        raise Refused(str(exc).strip("'\"")) from None
    except DatabaseBusyError as exc:
        raise Busy(str(exc)) from None


@click.group()
def findings() -> None:
    """List, show and triage findings (every change is recorded as an event)."""


@findings.command("list")
@click.option("--sweep", "sweep_id", type=int, help="Sweep id (default: the latest).")
@click.option("--all", "tracked", is_flag=True, help="Every finding ever found, as last seen (incl. resolved ones).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Current status (repeatable).")
@click.option("--severity", "severities", multiple=True, type=click.Choice(SEVERITIES), help="Repeatable.")
@click.option("--area", "areas", multiple=True, help="Process area, e.g. sales_material (repeatable).")
@click.option("--rule", "rules", multiple=True, help="Rule id or pattern, e.g. MAT-* (repeatable).")
@click.option("--region", "regions", multiple=True, help="Region of the accountable person (repeatable).")
@click.option("--branch", "branches", multiple=True, help="Branch of the accountable person (repeatable).")
@click.option("--manager", "managers", multiple=True, help="A manager's own findings and their team's (repeatable).")
@click.option("--new-since-last", "new_only", is_flag=True, help="Only findings new in this sweep.")
@click.option("--overdue", "overdue_only", is_flag=True, help="Only open or acknowledged findings past their due date.")
@format_option
@policy_option
@db_option
def findings_list(
    sweep_id: int | None,
    tracked: bool,
    fmt: str,
    policy: Path | None,
    db_url: str | None,
    **filters: Any,
) -> None:
    """List a sweep's findings with their current status, most severe first (all of them, no paging)."""
    wanted = FindingFilter(**{k: v for k, v in filters.items()})
    today = read_policy(policy).today()
    sweep_row, rows = _guarded(
        lambda: list_findings(open_database(db_url), sweep_id, wanted, tracked=tracked, today=today)
    )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if fmt == "csv":
        _write_csv(rows)
        return
    scope = "All tracked findings" if tracked else f"Findings of sweep {sweep_row.id} (as of {sweep_row.as_of})"
    table = Table(title=f"{scope}: {len(rows)}")
    for name in ("severity", "status", "seen", "rule", "subject", "period", "owner", "due", "message", "key"):
        table.add_column(name, overflow="fold")
    for row in rows:
        due = (row["due_on"] or "") + (" overdue" if row["overdue"] else "")
        table.add_row(
            row["severity"],
            row["status"],
            row["appearance"] if not tracked else f"last {row['last_seen']}",
            row["rule_id"],
            row["subject"],
            row["occurrence"],
            row["owner"],
            due,
            row["message"],
            row["key"],
        )
    console.print(table)


def _write_csv(rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["key"])
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "evidence": " ".join(map(str, row["evidence"]))})


@findings.command("show")
@click.argument("key")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@policy_option
@db_option
def findings_show(key: str, fmt: str, policy: Path | None, db_url: str | None) -> None:
    """Show one finding (by key or a unique start of it): message, owner, due date, evidence facts and history."""
    from auditor.findings.history import show_finding

    today = read_policy(policy).today()
    f = _guarded(lambda: show_finding(open_database(db_url), key, today))
    if fmt == "json":
        click.echo(json.dumps(f, indent=2, ensure_ascii=False, default=str))
        return
    click.echo(f"{f['key']}  [{f['severity']}] {f['rule_id']} {f['title']}")
    click.echo(f"  status     {f['status']}" + ("  (overdue)" if f["overdue"] else ""))
    click.echo(f"  owner      {f['owner']}, due {f['due_on'] or '-'}")
    click.echo(f"  subject    {f['subject']}" + (f"  occurrence {f['occurrence']}" if f["occurrence"] else ""))
    where = ", ".join(f"{k} {f[k]}" for k in ("person_id", "branch", "region", "manager_id") if f[k])
    if where:
        click.echo(f"  where      {where}")
    click.echo(
        f"  seen       first in sweep {f['first_seen_sweep']} ({f['first_seen']}), "
        f"last in sweep {f['last_seen_sweep']} ({f['last_seen']}), open for {f['age']} sweep(s)"
    )
    click.echo(f"  message    {f['message']}")
    if f["remediation"]:
        click.echo(f"  remedy     {f['remediation'].strip()}")
    click.echo("Evidence:")
    for fact in f["evidence_facts"]:
        payload = ", ".join(f"{k}={v}" for k, v in fact["payload"].items() if v not in (None, "", {}))
        click.echo(f"  #{fact['row_id']} {fact['kind']} {fact['natural_id']} (v{fact['version']}): {payload}")
    click.echo("History:")
    for e in f["history"]:
        sweep = f" (sweep {e['sweep_id']})" if e["sweep_id"] else ""
        click.echo(f"  {e['at']}  {e['actor']}  {e['action']}: {e['from'] or '-'} -> {e['to']}{sweep}  {e['note']}")
    for w in f["waivers"]:
        click.echo(f"Waiver: {w['text']}" + ("" if w["active"] else " (expired)"))


def _triage_command(name: str, action: str, summary: str, needs_reason: bool = False) -> None:
    @findings.command(name, help=summary)
    @keys_argument
    @click.option(
        "--note",
        "--reason",
        "reason",
        default="",
        help="Why (recorded on the event)." + (" Required." if needs_reason else ""),
    )
    @actor_option
    @policy_option
    @db_option
    def command(keys: tuple[str, ...], reason: str, actor: str | None, policy: Path | None, db_url: str | None) -> None:
        from auditor.findings.triage import apply_action

        today = read_policy(policy).today()
        changes = _guarded(
            lambda: apply_action(
                open_database(db_url), keys, action, actor=actor or default_actor(), today=today, reason=reason
            )
        )
        _print_changes(changes)


_triage_command("ack", "acknowledge", "Acknowledge open findings: someone is working on them.")
_triage_command(
    "resolve",
    "resolve",
    "Resolve open or acknowledged findings by hand (a later sweep that finds them again reopens them).",
)
_triage_command("reopen", "reopen", "Reopen resolved, waived or false-positive findings.")


@findings.command("false-positive")
@keys_argument
@click.option("--reason", default="", help="Why the finding is wrong. Required.")
@click.option("--reviewer", default=None, help="Who reviewed it (default: the actor).")
@actor_option
@policy_option
@db_option
def findings_false_positive(
    keys: tuple[str, ...], reason: str, reviewer: str | None, actor: str | None, policy: Path | None, db_url: str | None
) -> None:
    """Mark findings as false positives; later sweeps that find them again keep them suppressed."""
    from auditor.findings.triage import apply_action

    who = actor or default_actor()
    today = read_policy(policy).today()
    changes = _guarded(
        lambda: apply_action(
            open_database(db_url),
            keys,
            "false_positive",
            actor=who,
            today=today,
            reason=reason,
            approver=reviewer or who,
        )
    )
    _print_changes(changes)


@findings.command("waive")
@click.argument("keys", nargs=-1, metavar="[KEY...]")
@click.option("--until", type=DAY, help="Last day the waiver covers (inclusive, organisation's time zone). Required.")
@click.option("--reason", default="", help="Why. Required.")
@click.option("--approver", default="", help="Who approved the waiver. Required.")
@click.option("--rule", "rule_pattern", help="Instead of keys: waive findings of rules matching this pattern.")
@click.option("--subject", "subject_pattern", help="Instead of keys: ... whose subject matches this pattern.")
@click.option("--branch", help="Instead of keys: ... in this branch (e.g. during a relocation).")
@actor_option
@policy_option
@db_option
def findings_waive(
    keys: tuple[str, ...],
    until: Any,
    reason: str,
    approver: str,
    rule_pattern: str | None,
    subject_pattern: str | None,
    branch: str | None,
    actor: str | None,
    policy: Path | None,
    db_url: str | None,
) -> None:
    """Waive findings until a day: given keys, or every finding (now and in later sweeps) matching a pattern.

    When the waiver lapses, the next sweep that finds the finding again reopens
    it with a `waiver_expired` event (not as a new violation).
    """
    from auditor.findings.triage import apply_action, waive_pattern

    pattern = rule_pattern is not None or subject_pattern is not None or branch is not None
    if bool(keys) == pattern:
        raise Refused("give finding keys, or a pattern (--rule, --subject, --branch), not both")
    day: date | None = until.date() if until else None
    who = actor or default_actor()
    today = read_policy(policy).today()
    engine = open_database(db_url)
    if keys:
        changes = _guarded(
            lambda: apply_action(
                engine, keys, "waive", actor=who, today=today, reason=reason, approver=approver, until=day
            )
        )
    else:
        waiver, changes = _guarded(
            lambda: waive_pattern(
                engine,
                rule=rule_pattern or "*",
                subject=subject_pattern or "*",
                branch=branch,
                until=day,
                reason=reason,
                approver=approver,
                actor=who,
                today=today,
            )
        )
        click.echo(f"Granted {waiver.describe()}")
    _print_changes(changes)


@findings.command("assign")
@keys_argument
@click.option("--owner", help="New owner.")
@click.option("--due", type=DAY, help="New due date.")
@actor_option
@db_option
def findings_assign(keys: tuple[str, ...], owner: str | None, due: Any, actor: str | None, db_url: str | None) -> None:
    """Give findings a new owner and/or due date."""
    from auditor.findings.triage import assign

    changes = _guarded(
        lambda: assign(
            open_database(db_url), keys, actor=actor or default_actor(), owner=owner, due_on=due.date() if due else None
        )
    )
    _print_changes(changes)


def _print_changes(changes: list[Any]) -> None:
    for change in changes:
        click.echo(f"{change.key}: {change.from_status} -> {change.to_status}  {change.note}".rstrip())
    click.echo(f"{len(changes)} finding(s) changed.")


@click.group()
def sweeps() -> None:
    """List sweeps and compare two of them."""


@sweeps.command("list")
@format_option
@db_option
def sweeps_list(fmt: str, db_url: str | None) -> None:
    """Every sweep, newest first: status, window, and new / recurring / reopened / resolved counts."""
    from auditor.findings.history import list_sweeps

    rows = list_sweeps(open_database(db_url))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title=f"{len(rows)} sweep(s)", box=box.SIMPLE_HEAD)
    columns = {
        "id": "id",
        "as_of": "as of",
        "status": "status",
        "findings": "findings",
        "new": "new",
        "recurring": "recurring",
        "reopened": "reopened",
        "resolved": "resolved",
        "suppressed": "waived/fp",
        "engine_errors": "errors",
        "actor": "by",
    }
    for header in columns.values():
        table.add_column(header)
    for row in rows:
        table.add_row(*(str(row[c]) if row[c] is not None else "" for c in columns))
    console.print(table)
    for row in rows:
        if row["failure"]:
            click.echo(f"sweep {row['id']} failed: {row['failure']}")


@sweeps.command("diff")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@db_option
def sweeps_diff(a: int, b: int, fmt: str, db_url: str | None) -> None:
    """What changed from sweep A to sweep B: findings added, findings gone (and why), how many stayed."""
    from auditor.findings.history import diff_sweeps

    diff = _guarded(lambda: diff_sweeps(open_database(db_url), a, b))
    if fmt == "json":
        click.echo(json.dumps(diff, indent=2, ensure_ascii=False))
        return
    click.echo(
        f"Sweep {a} (as of {diff['a']['as_of']}) -> sweep {b} (as of {diff['b']['as_of']}): "
        f"{len(diff['added'])} added, {len(diff['removed'])} gone, {diff['kept']} in both."
    )
    for title, items in (("Added", diff["added"]), ("Gone", diff["removed"])):
        if not items:
            continue
        table = Table(title=title)
        for name in ("severity", "rule", "subject", "period", "change", "message"):
            table.add_column(name, overflow="fold")
        for f in items:
            table.add_row(f["severity"], f["rule_id"], f["subject"], f["occurrence"], f["change"], f["message"])
        console.print(table)
