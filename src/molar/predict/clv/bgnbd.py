"""BG/NBD: visit frequency and dropout (Fader, Hardie & Lee 2005, "Counting your customers
the easy way", Marketing Science 24(2)).

While alive a customer visits as a Poisson process with rate λ ~ Gamma(r, α); after each
visit they drop out with probability p ~ Beta(a, b). Fitted by maximum likelihood on
(frequency x, recency t_x, age T) per customer; identical rows are fitted once, weighted,
so a million patients cost what their distinct histories cost.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from molar.predict.clv.data import ClvInputError


def _distinct(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return rows, counts.astype(float)


class BetaGeoModel:
    """BG/NBD with parameters ``r_, alpha_, a_, b_`` once fitted."""

    PARAMS = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    @staticmethod
    def log_likelihood_terms(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        a4 = np.full_like(x, -np.inf)
        a4[repeat] = (np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat]))
        return a1 + a2 + np.logaddexp(a3, a4)

    def fit(self, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> BetaGeoModel:
        if len(frequency) == 0:
            raise ClvInputError("no customers to fit")
        if not np.any(frequency > 0):
            raise ClvInputError(
                "every customer has a single visit in the calibration period, so repeat behaviour "
                "cannot be estimated; move --calibration-end later or add more history"
            )
        rows, weights = _distinct(frequency, recency, age)
        x, t_x, T = rows.T

        def negative(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            ll = weights @ self.log_likelihood_terms(params, x, t_x, T)
            return -(ll - self.penalizer * np.sum(params**2)) / weights.sum()

        result = minimize(negative, np.zeros(4), method="L-BFGS-B", options={"ftol": 1e-11, "gtol": 1e-7, "maxiter": 1000})
        if not np.all(np.isfinite(result.x)):
            raise ClvInputError("the BG/NBD fit did not converge; check the transactions for outliers")
        self.r_, self.alpha_, self.a_, self.b_ = np.exp(result.x)
        self.log_likelihood_ = float(weights @ self.log_likelihood_terms(self.params_, x, t_x, T))
        self.customers_ = int(weights.sum())
        return self

    @property
    def params_(self) -> np.ndarray:
        return np.array([self.r_, self.alpha_, self.a_, self.b_])

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.params_
        out = np.zeros_like(x, dtype=float)
        repeat = x > 0
        out[repeat] = a / (b + x[repeat] - 1) * ((alpha + T[repeat]) / (alpha + t_x[repeat])) ** (r + x[repeat])
        return out

    def probability_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still a customer at T) given the history (eq. 5 of the paper)."""
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def expected_visits(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Expected visits in the next ``t`` time units given the history (eq. 10)."""
        r, alpha, a, b = self.params_
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return head * tail / (1.0 + self._odds_dead(x, t_x, T))

    def as_dict(self) -> dict[str, float]:
        return {"r": float(self.r_), "alpha": float(self.alpha_), "a": float(self.a_), "b": float(self.b_),
                "log_likelihood": self.log_likelihood_}
