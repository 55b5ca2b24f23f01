"""Properties of the three attribution models on any set of paths."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from molar.marketing.attribution import first_touch, last_touch, markov

CHANNELS = st.sampled_from(["meituan", "dianping", "douyin", "xiaohongshu", "referral", "walk_in"])
PATHS = st.lists(st.tuples(st.lists(CHANNELS, min_size=1, max_size=5), st.booleans()), min_size=1, max_size=40)


@given(PATHS)
@example([(["douyin", "douyin"], True), (["meituan"], False)])
def test_every_model_hands_out_exactly_the_conversions(paths):
    conversions = sum(conv for _, conv in paths)
    credit, effects = markov(paths)
    for model in (first_touch(paths), last_touch(paths), credit):
        assert sum(model.values()) == pytest.approx(conversions)
        assert all(v >= -1e-9 for v in model.values())
    assert all(-1e-9 <= e <= 1 + 1e-9 for e in effects.values())


@given(st.lists(st.tuples(CHANNELS, st.booleans()), min_size=1, max_size=40))
def test_on_one_touch_paths_markov_credits_each_channel_its_own_conversions(touches):
    """Removing a channel loses exactly the conversions its paths made, so the three models agree."""
    paths = [([c], conv) for c, conv in touches]
    credit, _ = markov(paths)
    last = last_touch(paths)
    assert first_touch(paths) == last
    assert {c: v for c, v in credit.items() if v > 1e-9} == pytest.approx(last)
