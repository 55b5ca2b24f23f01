"""Erlang C against its closed form worked by hand (M/M/c, A = λ·s offered load):
C(c, A) = (A^c/c! · c/(c−A)) / (Σ_{k<c} A^k/k! + A^c/c! · c/(c−A)), mean wait = C · s / (c − A)."""

from __future__ import annotations

import math

import pytest

from molar.operations.staffing import doctors_needed, mean_wait_minutes


def test_two_erlangs_on_three_doctors_wait_four_ninths_of_an_hour_over_one():
    # A = 2 visits/hour × 60 min; C(3, 2) = (8/6 · 3) / (1 + 2 + 2 + 4) = 4/9; wait = 4/9 · 60 / 1 min.
    assert mean_wait_minutes(2.0, 60, 3) == pytest.approx(4 / 9 * 60, rel=1e-9)


def test_more_doctors_than_needed_and_too_few():
    # C(4, 2) = (16/24 · 2) / (1 + 2 + 2 + 8/6 + 16/24 · 2) = 4/23; wait = 4/23 · 60 / 2 = 5.217 min.
    assert mean_wait_minutes(2.0, 60, 4) == pytest.approx(4 / 23 * 30, rel=1e-9)
    assert mean_wait_minutes(2.0, 60, 2) == math.inf
    assert mean_wait_minutes(0.0, 60, 1) == 0.0


def test_fewest_doctors_for_a_target_wait():
    assert doctors_needed(2.0, 60, 30) == 3      # 26.7 min ≤ 30
    assert doctors_needed(2.0, 60, 6) == 4       # 5.2 min ≤ 6
    assert doctors_needed(2.0, 60, 5) == 5       # 5.2 > 5; five doctors wait 1.2 min
    assert doctors_needed(0.0, 30, 10) == 0
