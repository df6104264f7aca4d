"""Generate docs/cli.md from every command's `--help` (`python -m auditor.cli_docs > docs/cli.md`)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from auditor.cli import main

HEADER = """# Command line reference

Generated from `auditor ... --help` by `python -m auditor.cli_docs > docs/cli.md`;
a test fails when this page and the code disagree.

## Exit status

| status | meaning |
|---|---|
| 0 | done |
| 1 | a check failed: `rules check` / `rules test` found problems; or `sweep` / `run` with `--fail-on SEVERITY`: |
|   | findings of that severity or worse appeared (new, or reopened: found again after being resolved or after |
|   | their waiver lapsed; recurring findings do not count) |
| 2 | usage or input error: a bad option (e.g. `--period` with `--as-of`), an unreadable or refused file, rule, |
|   | policy or auditor.toml problems (a password in it), a period not over yet, a triage action the lifecycle |
|   | refuses, `init` over existing files (nothing changed) |
| 3 | the sweep finished but some partitions could not be evaluated (engine errors are stored and shown in the |
|   | report; `run` still writes the report and sends the digests) |
| 4 | `run` / `digest`: the sweep and report are done but some owner digests could not be sent |
|   | (`auditor digest --sweep N` sends them again) |
| 75 | another sweep is running on this database; try again later (nothing changed) |

When several apply to `sweep` or `run`, the first of 3, 4, 1 wins. Settings come from the command line,
then the environment, then `auditor.toml` (`--config FILE`, `$AUDITOR_CONFIG` or the working directory),
then the defaults; see [operations.md](operations.md).
"""


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        path = [*prefix, name]
        out.append(path)
        if isinstance(command, click.Group):
            out.extend(_commands(command, path))
    return out


def render() -> str:
    """The whole page: the exit statuses, then every command's help text."""
    runner = CliRunner()
    parts = [HEADER]
    for path in [[], *_commands(main, [])]:
        result = runner.invoke(main, [*path, "--help"], prog_name="auditor", terminal_width=100)
        title = " ".join(["auditor", *path])
        parts.append(f"## `{title}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
