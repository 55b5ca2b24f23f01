"""Gamma-Gamma: spend per visit (Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42; note
"The Gamma-Gamma model of monetary value", Fader & Hardie 2013).

A customer's visit amounts are Gamma(p, ν) with ν ~ Gamma(q, γ); fitted on the mean amount
``m`` of each repeat customer's ``x`` repeat visits. Assumes spend is independent of frequency.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

from molar.predict.clv.data import ClvInputError


class GammaGammaModel:
    """Gamma-Gamma with parameters ``p_, q_, v_`` (ν's scale γ) once fitted."""

    def fit(self, frequency: np.ndarray, monetary: np.ndarray) -> GammaGammaModel:
        keep = (frequency > 0) & (monetary > 0)
        x, m = frequency[keep], monetary[keep]
        if len(x) < 2:
            raise ClvInputError("fewer than two customers with a paid repeat visit: spend per visit cannot be fitted")

        def negative(log_params: np.ndarray) -> float:
            return -self._log_likelihood(np.exp(log_params), x, m) / len(x)

        result = minimize(negative, np.zeros(3), method="L-BFGS-B", options={"ftol": 1e-11, "gtol": 1e-7, "maxiter": 1000})
        self.p_, self.q_, self.v_ = np.exp(result.x)
        self.log_likelihood_ = float(self._log_likelihood(np.array([self.p_, self.q_, self.v_]), x, m))
        self.customers_ = int(len(x))
        # With q <= 1 the population mean spend is infinite; fall back to the fitted customers' mean.
        self.population_mean_ = float(self.p_ * self.v_ / (self.q_ - 1)) if self.q_ > 1 else float(m.mean())
        return self

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
        p, q, v = params
        return float(np.sum(
            gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(v + m * x)
        ))

    def expected_spend(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """Expected amount per future visit; the population mean for customers without repeats."""
        p, q, v = self.p_, self.q_, self.v_
        x = np.asarray(frequency, dtype=float)
        m = np.where(x > 0, monetary, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            conditional = p * (v + x * m) / (p * x + q - 1)
        return np.where(x > 0, conditional, self.population_mean_)

    def as_dict(self) -> dict[str, float]:
        return {"p": float(self.p_), "q": float(self.q_), "v": float(self.v_), "log_likelihood": self.log_likelihood_,
                "population_mean": self.population_mean_}

    @classmethod
    def from_dict(cls, stored: dict) -> GammaGammaModel:
        """The fitted model back from ``as_dict`` (for scoring without refitting)."""
        model = cls()
        model.p_, model.q_, model.v_ = stored["p"], stored["q"], stored["v"]
        model.log_likelihood_ = stored["log_likelihood"]
        model.population_mean_ = stored["population_mean"]
        return model
