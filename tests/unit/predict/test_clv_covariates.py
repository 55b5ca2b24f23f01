"""BG/NBD with time-invariant covariates, on customers simulated here from the model's own
story (Gamma visit rates, Beta dropout after each visit) with known covariate effects: the
fit recovers them, finds none where there is none, and predicts each group's holdout visits."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import numpy as np
import pytest
from typer.testing import CliRunner

from molar.cli import app
from molar.predict.clv import BetaGeoModel

R, ALPHA, A, B = 0.6, 8.0, 0.9, 3.0
CALIBRATION, HOLDOUT = 52.0, 52.0


def simulate(n: int, rate_multiplier: np.ndarray, seed: int, times: list | None = None):
    """(x, t_x, T, holdout visits) per customer; customer i visits ``rate_multiplier[i]`` times
    as often as the reference group (α divided by it) and drops out alike. As in the paper,
    dropout can follow a repeat visit, never the first one. ``times`` collects each
    customer's visit times (weeks after their first) when given."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(R, 1.0 / (ALPHA / rate_multiplier), n)
    p = rng.beta(A, B, n)
    age = rng.uniform(13.0, CALIBRATION, n)       # first visits spread over the calibration year
    x, t_x, held = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        t, end = 0.0, age[i] + HOLDOUT
        mine = [0.0]
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > end:
                break
            if t <= age[i]:
                x[i] += 1
                t_x[i] = t
            else:
                held[i] += 1
            mine.append(t)
            if rng.random() < p[i]:                # dropped out after this repeat visit
                break
        if times is not None:
            times.append(mine)
    return x, t_x, age, held


@pytest.fixture(scope="module")
def customers():
    rng = np.random.default_rng(7)
    n = 12_000
    clinic_b = (rng.random(n) < 0.4).astype(float)          # clinic B patients visit twice as often
    noise = (rng.random(n) < 0.5).astype(float)              # a column that has nothing to do with it
    x, t_x, T, held = simulate(n, np.where(clinic_b == 1, 2.0, 1.0), seed=11)
    return x, t_x, T, held, clinic_b, noise


def test_the_fit_recovers_a_known_rate_effect_and_no_effect_on_dropout(customers):
    x, t_x, T, _, clinic_b, _ = customers
    model = BetaGeoModel().fit(x, t_x, T, clinic_b[:, None], ("clinic=B",))
    effect = model.as_dict()["covariates"]["clinic=B"]
    assert effect["rate"] == pytest.approx(2.0, rel=0.15)
    assert model.r_ == pytest.approx(R, rel=0.2) and model.alpha_ == pytest.approx(ALPHA, rel=0.25)
    # a and b are weakly identified one by one; the mean dropout chance a / (a + b) is not
    mean_dropout = A / (A + B)
    a_b, b_b = model.a_ * effect["a"], model.b_ * effect["b"]
    assert model.a_ / (model.a_ + model.b_) == pytest.approx(mean_dropout, rel=0.2)
    assert a_b / (a_b + b_b) == pytest.approx(mean_dropout, rel=0.2)


def test_a_column_without_effect_gets_none_and_does_not_improve_the_likelihood(customers):
    x, t_x, T, _, clinic_b, noise = customers
    plain = BetaGeoModel().fit(x, t_x, T)
    with_noise = BetaGeoModel().fit(x, t_x, T, noise[:, None], ("noise",))
    with_clinic = BetaGeoModel().fit(x, t_x, T, clinic_b[:, None], ("clinic=B",))
    assert with_noise.as_dict()["covariates"]["noise"]["rate"] == pytest.approx(1.0, abs=0.1)
    # likelihood-ratio statistic on 3 extra parameters: noise stays below χ²(3) at 1 %, the clinic far above
    assert 2 * (with_noise.log_likelihood_ - plain.log_likelihood_) < 11.34
    assert 2 * (with_clinic.log_likelihood_ - plain.log_likelihood_) > 100


def test_covariates_predict_each_group_s_holdout_visits(customers):
    x, t_x, T, held, clinic_b, _ = customers
    z = clinic_b[:, None]
    fitted = BetaGeoModel().fit(x, t_x, T, z, ("clinic=B",))
    predicted = fitted.expected_visits(HOLDOUT, x, t_x, T, z)
    for group in (0.0, 1.0):
        members = clinic_b == group
        assert predicted[members].sum() == pytest.approx(held[members].sum(), rel=0.1)
    alive = fitted.probability_alive(x, t_x, T, z)
    assert alive.shape == x.shape and np.all((alive > 0) & (alive <= 1))


def test_a_covariate_model_refuses_to_score_without_its_covariates(customers):
    x, t_x, T, _, clinic_b, _ = customers
    model = BetaGeoModel().fit(x[:2000], t_x[:2000], T[:2000], clinic_b[:2000, None], ("clinic=B",))
    with pytest.raises(ValueError, match="needs the covariates clinic=B"):
        model.expected_visits(10.0, x, t_x, T)


def test_clv_fit_takes_covariate_columns_and_reports_the_model_without_them(tmp_path):
    rng = np.random.default_rng(3)
    n = 6_000
    clinic = np.where(rng.random(n) < 0.4, "C02", "C01")
    times: list[list[float]] = []
    _, _, age, _ = simulate(n, np.where(clinic == "C02", 2.0, 1.0), seed=5, times=times)
    end = date(2025, 12, 31)
    path = tmp_path / "visits.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["patient", "day", "paid", "clinic", "channel"])
        for i, visits in enumerate(times):
            first = end - timedelta(days=round(age[i] * 7))
            for k, t in enumerate(visits):
                # the channel is only known on the first visit; later rows leave it blank
                w.writerow([f"P{i}", first + timedelta(days=round(t * 7)), 100, clinic[i], "wechat" if k == 0 else ""])
    result = CliRunner().invoke(app, ["clv", "fit", str(path), "--customer", "patient", "--date", "day",
                                      "--amount", "paid", "--calibration-end", end.isoformat(),
                                      "--covariate", "clinic", "--covariate", "channel", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out["bgnbd"]["covariates"]) == {"clinic=C02"}          # one channel level: the reference only
    assert out["bgnbd"]["covariates"]["clinic=C02"]["rate"] == pytest.approx(2.0, rel=0.2)
    plain = out["without_covariates"]
    assert plain["extra_parameters"] == 3 and plain["p_value"] < 1e-6
    assert plain["log_likelihood"] < out["bgnbd"]["log_likelihood"]


def test_a_missing_or_too_fine_covariate_is_one_message(tmp_path):
    path = tmp_path / "t.csv"
    rows = ["patient,day,paid,age"] + [f"P{i},2025-0{1 + i % 5}-0{d},10,{20 + i}" for i in range(40) for d in (1, 8)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = ["clv", "fit", str(path), "--customer", "patient", "--date", "day", "--amount", "paid",
            "--calibration-end", "2025-06-30"]
    for covariate, message in (("clinic", "covariate column(s) clinic not found; the file has patient, day, paid, age"),
                               ("age", "covariate 'age' has 40 levels; group it into at most 30")):
        result = CliRunner().invoke(app, [*base, "--covariate", covariate])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
