"""The finding lifecycle rules: triage transitions, waiver expiry and what a sweep does to a finding."""

from __future__ import annotations

from datetime import date

import pytest

from auditor.findings.lifecycle import TransitionError, on_sweep, triage, waiver_active

TODAY = date(2026, 7, 10)


def test_three_sweep_history_new_recurring_resolved_reopened() -> None:
    appearance, event = on_sweep(None, produced=True, evaluated=True, waived_until=None, today=TODAY)
    assert appearance == "new" and event is not None and event.to_status == "open"
    assert on_sweep("open", produced=True, evaluated=True, waived_until=None, today=TODAY) == ("recurring", None)
    appearance, event = on_sweep("open", produced=False, evaluated=True, waived_until=None, today=TODAY)
    assert appearance is None and event is not None and event.to_status == "resolved"
    appearance, event = on_sweep("resolved", produced=True, evaluated=True, waived_until=None, today=TODAY)
    assert appearance == "reopened" and event is not None and event.from_status == "resolved"


def test_a_finding_whose_subject_was_not_evaluated_stays_open() -> None:
    assert on_sweep("acknowledged", produced=False, evaluated=False, waived_until=None, today=TODAY) == (None, None)


def test_waiver_covers_its_expiry_day_and_lapses_the_day_after() -> None:
    assert waiver_active(TODAY, TODAY) and not waiver_active(date(2026, 7, 9), TODAY)
    assert on_sweep("waived", produced=True, evaluated=True, waived_until=TODAY, today=TODAY) == ("suppressed", None)
    appearance, event = on_sweep("waived", True, True, date(2026, 7, 9), TODAY)
    assert appearance == "reopened" and event is not None
    assert event.action == "waiver_expired" and "2026-07-09" in event.note  # not mistaken for a new violation


def test_false_positive_is_not_reported_again() -> None:
    assert on_sweep("false_positive", True, True, None, TODAY) == ("suppressed", None)


@pytest.mark.parametrize(
    ("status", "action", "kwargs", "message"),
    [
        ("resolved", "acknowledge", {}, "cannot acknowledge a finding that is resolved"),
        ("open", "waive", {"approver": "head of sales", "until": date(2026, 8, 1)}, "needs a reason"),
        ("open", "waive", {"reason": "relocation", "approver": "hos"}, "needs an expiry date"),
        ("open", "waive", {"reason": "relocation", "approver": "hos", "until": date(2026, 7, 9)}, "in the past"),
        ("open", "false_positive", {}, "needs a reason"),
        ("open", "reopen", {}, "cannot reopen a finding that is open"),
        ("open", "delete", {}, "unknown action"),
    ],
)
def test_illegal_transitions_are_refused_with_a_clear_message(status, action, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransitionError, match=message):
        triage(status, action, today=TODAY, **kwargs)


def test_legal_triage_transitions() -> None:
    assert triage("open", "acknowledge", today=TODAY).to_status == "acknowledged"
    waived = triage("acknowledged", "waive", today=TODAY, reason="branch relocation", approver="hos", until=TODAY)
    assert waived.to_status == "waived" and "until 2026-07-10" in waived.note
    assert triage("waived", "reopen", today=TODAY).to_status == "open"
    assert triage("open", "false_positive", today=TODAY, reason="test data").to_status == "false_positive"
    assert triage("acknowledged", "resolve", today=TODAY).to_status == "resolved"


def test_a_waived_finding_judged_and_not_found_is_resolved_by_data() -> None:
    appearance, event = on_sweep("waived", False, True, date(2026, 8, 1), TODAY)
    assert appearance is None and event is not None and (event.from_status, event.to_status) == ("waived", "resolved")


def test_a_lapsed_waiver_reopens_even_when_the_finding_was_not_judged() -> None:
    assert on_sweep("waived", False, False, TODAY, TODAY) == (None, None)
    appearance, event = on_sweep("waived", False, False, date(2026, 7, 9), TODAY)
    assert appearance is None and event is not None and event.action == "waiver_expired"
    assert "not judged" in event.note


def test_false_positive_records_its_reviewer() -> None:
    event = triage("open", "false_positive", today=TODAY, reason="shopper error", approver="qa lead")
    assert event.note == "shopper error (reviewed by qa lead)"
