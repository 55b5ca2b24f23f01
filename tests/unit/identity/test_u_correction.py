"""u without the true matches among random pairs (``linker.corrected_u``), the levels whose
u is only a bound, and the order check that ignores them."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from molar.identity.linker import corrected_u

FACTOR = 20.0
# d log u / d log u_obs ≤ 1 + 2·ln(20 / 2) = 1 + 2·2.302585 = 5.605 (worked out by hand
# from the documented shape: exact below r = ½, geometric from ½ down to 1/20 at r = 1)
SENSITIVITY = 5.61


@given(
    u_observed=st.floats(1e-9, 0.5),
    prior=st.floats(1e-8, 1e-2),
    m=st.floats(1e-3, 1.0),
    change=st.floats(1e-4, 0.5),
)
# measured on the 20K chain (seed 7): the own-phone level with and without 1 % of the
# records — u_obs 2.0e-5 and 2.35e-5 (+17 %), λ 3.54e-5, m 0.543; subtracting moved u
# from 1.0e-6 to 4.3e-6 (+330 %)
@example(u_observed=2.0e-5, prior=3.54e-5, m=0.543, change=0.175)
def test_corrected_u_moves_at_most_a_bounded_multiple_of_the_observed_u(u_observed, prior, m, change):
    before, _ = corrected_u(u_observed, prior, m, FACTOR)
    after, _ = corrected_u(u_observed * (1 + change), prior, m, FACTOR)
    assert after > 0 and before > 0
    assert abs(math.log(after / before)) <= SENSITIVITY * math.log(1 + change) + 1e-9


@pytest.mark.parametrize(("u_observed", "prior", "m"), [(1e-3, 1e-4, 0.9), (4.19e-5, 3.54e-5, 0.43),
                                                         (0.5, 1e-6, 0.9)])
def test_the_subtraction_holds_while_matches_are_at_most_half_of_the_agreeing_pairs(u_observed, prior, m):
    u, bound = corrected_u(u_observed, prior, m, FACTOR)
    assert u == pytest.approx((u_observed - prior * m) / (1 - prior))   # u_obs = λm + (1 − λ)u
    assert not bound


@pytest.mark.parametrize("share", [1.0, 1.3, 40.0])
def test_when_matches_explain_every_agreeing_pair_u_is_the_largest_correction_and_only_a_bound(share):
    prior, m = 1e-5, 0.5
    u_observed = prior * m / share
    u, bound = corrected_u(u_observed, prior, m, FACTOR)
    assert u == pytest.approx(u_observed / FACTOR / (1 - prior))
    assert bound


def test_correction_factor_below_two_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        corrected_u(1e-5, 1e-5, 0.5, 1.5)
