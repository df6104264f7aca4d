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
