"""The cadence period spans an incremental sweep looks up by moment (engine/incremental.py `_Spans`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.engine.incremental import _Spans

bounds = st.tuples(st.integers(0, 200), st.integers(0, 60)).map(lambda b: (b[0], b[0] + b[1]))
spans = st.lists(bounds, max_size=40).map(lambda pairs: [(low, high, f"P{i}") for i, (low, high) in enumerate(pairs)])


@given(spans, st.lists(st.integers(-10, 270), min_size=1, max_size=20))
def test_the_spans_holding_a_moment_are_every_span_whose_bounds_hold_it(given_spans, moments):
    """Overlapping, nested and out-of-order spans alike: the look-up finds what trying every span finds."""
    looked_up = _Spans(given_spans)
    for moment in moments:
        expected = sorted(span for span in given_spans if span[0] <= moment <= span[1])
        assert sorted(looked_up.holding(moment)) == expected


@given(spans, st.integers(-10, 270))
def test_a_moment_is_held_when_some_span_holds_it(given_spans, moment):
    assert _Spans(given_spans).holds(moment) == any(low <= moment <= high for low, high, _ in given_spans)
