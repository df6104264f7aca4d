"""The cadence period spans an incremental sweep looks up by moment (engine/incremental.py `_Spans`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.engine.incremental import _members_for, _Spans

bounds = st.tuples(st.integers(0, 200), st.integers(0, 60)).map(lambda b: (b[0], b[0] + b[1]))
spans = st.lists(bounds, max_size=40).map(lambda pairs: [(low, high, f"P{i}") for i, (low, high) in enumerate(pairs)])


@given(spans, st.lists(st.integers(-10, 270), min_size=1, max_size=20))
def test_the_spans_holding_a_moment_are_every_span_whose_bounds_hold_it(given_spans, moments):
    """Overlapping, nested and out-of-order spans alike: the look-up finds what trying every span finds."""
    looked_up = _Spans(given_spans)
    for moment in moments:
        expected = sorted(span for span in given_spans if span[0] <= moment <= span[1])
        assert sorted(looked_up.holding(moment)) == expected


@given(spans, st.dictionaries(st.integers(1, 60), st.none() | st.integers(-10, 270), max_size=30))
def test_a_partition_judged_for_some_periods_keeps_the_members_that_can_count_for_them(given_spans, times):
    """Members without an expected time always; expected facts only when a chosen period's span holds their time."""
    ids = sorted(times)
    kept = _members_for(ids, times, given_spans)
    assert kept == [i for i in ids if times[i] is None or any(lo <= times[i] <= hi for lo, hi, _ in given_spans)]
