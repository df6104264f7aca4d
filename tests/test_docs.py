"""Generated documentation stays true to the code."""

from __future__ import annotations

from auditor.facts import docs

from .conftest import ROOT


def test_facts_reference_is_current() -> None:
    current = (ROOT / "docs" / "facts.md").read_text(encoding="utf-8")
    assert current == docs.render(), "docs/facts.md is stale: run `python -m auditor.facts.docs > docs/facts.md`"


def test_catalog_reference_is_current() -> None:
    from auditor.rulebook import catalog

    current = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    assert current == catalog.render(), (
        "docs/catalog.md is stale: run `python -m auditor.rulebook.catalog > docs/catalog.md`"
    )


def test_cli_reference_is_current() -> None:
    from auditor import cli_docs

    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == cli_docs.render(), "docs/cli.md is stale: run `python -m auditor.cli_docs > docs/cli.md`"
