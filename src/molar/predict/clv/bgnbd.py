"""BG/NBD: visit frequency and dropout (Fader, Hardie & Lee 2005, "Counting your customers
the easy way", Marketing Science 24(2)).

While alive a customer visits as a Poisson process with rate λ ~ Gamma(r, α); after each
visit they drop out with probability p ~ Beta(a, b). Fitted by maximum likelihood on
(frequency x, recency t_x, age T) per customer; identical rows are fitted once, weighted,
so a million patients cost what their distinct histories cost.

Time-invariant covariates z (0/1 columns: clinic, acquisition channel, age band) enter as in
Fader & Hardie (2007, "Incorporating time-invariant covariates into the Pareto/NBD and
BG/NBD models"): α_i = α·exp(−γ_λ·z_i), a_i = a·exp(γ_a·z_i), b_i = b·exp(γ_b·z_i). So
exp(γ_λ) multiplies the mean visit rate, and r, α, a, b are those of the reference group.
Each γ has a normal prior with standard deviation 1 (a factor of e either way is ordinary):
a and b of a small group are weakly identified one by one (their ratio is not), and without
it they drift to ×500 together.
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
    """BG/NBD with parameters ``r_, alpha_, a_, b_`` once fitted, and with covariates their
    coefficients ``gamma_rate_, gamma_a_, gamma_b_`` (one per column of ``covariates``)."""

    PARAMS = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.covariate_names_: tuple[str, ...] = ()
        self.gamma_rate_ = self.gamma_a_ = self.gamma_b_ = np.zeros(0)

    @staticmethod
    def log_likelihood_terms(params, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Per-row log-likelihood; ``params`` are (r, α, a, b), each a number or a per-row array."""
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        repeat = x > 0
        a4 = np.full_like(x, -np.inf)
        a_r, b_r, alpha_r = (np.broadcast_to(v, x.shape)[repeat] for v in (a, b, alpha))
        a4[repeat] = (np.log(a_r) - np.log(b_r + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha_r + t_x[repeat]))
        return a1 + a2 + np.logaddexp(a3, a4)

    @staticmethod
    def _individual(base: np.ndarray, gammas: tuple[np.ndarray, np.ndarray, np.ndarray], z: np.ndarray | None):
        r, alpha, a, b = base
        if z is None or z.shape[1] == 0:
            return r, alpha, a, b
        g_rate, g_a, g_b = gammas
        return r, alpha * np.exp(-z @ g_rate), a * np.exp(z @ g_a), b * np.exp(z @ g_b)

    def fit(self, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray,
            covariates: np.ndarray | None = None, names: tuple[str, ...] = ()) -> BetaGeoModel:
        """Fit on per-customer (x, t_x, T); ``covariates`` is an n × k 0/1 matrix named ``names``."""
        if len(frequency) == 0:
            raise ClvInputError("no customers to fit")
        if not np.any(frequency > 0):
            raise ClvInputError(
                "every customer has a single visit in the calibration period, so repeat behaviour "
                "cannot be estimated; move --calibration-end later or add more history"
            )
        k = 0 if covariates is None else covariates.shape[1]
        if k != len(names):
            raise ValueError(f"{k} covariate columns but {len(names)} names")
        rows, weights = _distinct(frequency, recency, age, *([] if covariates is None else covariates.T))
        x, t_x, T = rows[:, :3].T
        z = rows[:, 3:] if k else None

        def unpack(theta: np.ndarray):
            return np.exp(theta[:4]), (theta[4:4 + k], theta[4 + k:4 + 2 * k], theta[4 + 2 * k:])

        def negative(theta: np.ndarray) -> float:
            base, gammas = unpack(theta)
            ll = weights @ self.log_likelihood_terms(self._individual(base, gammas, z), x, t_x, T)
            return -(ll - self.penalizer * np.sum(base**2) - 0.5 * np.sum(theta[4:] ** 2)) / weights.sum()

        result = minimize(negative, np.zeros(4 + 3 * k), method="L-BFGS-B",
                          options={"ftol": 1e-11, "gtol": 1e-7, "maxiter": 1000 + 200 * k})
        if not np.all(np.isfinite(result.x)):
            raise ClvInputError("the BG/NBD fit did not converge; check the transactions for outliers")
        base, gammas = unpack(result.x)
        self.r_, self.alpha_, self.a_, self.b_ = base
        self.gamma_rate_, self.gamma_a_, self.gamma_b_ = gammas
        self.covariate_names_ = tuple(names)
        self.log_likelihood_ = float(weights @ self.log_likelihood_terms(
            self._individual(base, gammas, z), x, t_x, T))
        self.customers_ = int(weights.sum())
        return self

    @property
    def params_(self) -> np.ndarray:
        return np.array([self.r_, self.alpha_, self.a_, self.b_])

    def _params_for(self, x: np.ndarray, covariates: np.ndarray | None):
        if len(self.covariate_names_) and (covariates is None or covariates.shape != (len(x), len(self.covariate_names_))):
            raise ValueError(f"this model needs the covariates {', '.join(self.covariate_names_)} for every customer")
        r, alpha, a, b = self._individual(self.params_, (self.gamma_rate_, self.gamma_a_, self.gamma_b_),
                                          covariates if len(self.covariate_names_) else None)
        return r, *(np.broadcast_to(v, x.shape) for v in (alpha, a, b))

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, covariates: np.ndarray | None) -> np.ndarray:
        r, alpha, a, b = self._params_for(x, covariates)
        out = np.zeros_like(x, dtype=float)
        rep = x > 0
        out[rep] = a[rep] / (b[rep] + x[rep] - 1) * ((alpha[rep] + T[rep]) / (alpha[rep] + t_x[rep])) ** (r + x[rep])
        return out

    def probability_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                          covariates: np.ndarray | None = None) -> np.ndarray:
        """P(still a customer at T) given the history (eq. 5 of the paper)."""
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T, covariates))

    def expected_visits(self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                        covariates: np.ndarray | None = None) -> np.ndarray:
        """Expected visits in the next ``t`` time units given the history (eq. 10)."""
        r, alpha, a, b = self._params_for(x, covariates)
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return head * tail / (1.0 + self._odds_dead(x, t_x, T, covariates))

    @classmethod
    def from_dict(cls, stored: dict) -> BetaGeoModel:
        """The fitted model back from ``as_dict`` (for scoring without refitting)."""
        model = cls()
        model.r_, model.alpha_, model.a_, model.b_ = (stored[k] for k in ("r", "alpha", "a", "b"))
        model.log_likelihood_ = stored["log_likelihood"]
        effects = stored.get("covariates", {})
        model.covariate_names_ = tuple(effects)
        model.gamma_rate_, model.gamma_a_, model.gamma_b_ = (
            np.log(np.array([e[k] for e in effects.values()], dtype=float)) for k in ("rate", "a", "b"))
        return model

    def as_dict(self) -> dict:
        out = {"r": float(self.r_), "alpha": float(self.alpha_), "a": float(self.a_), "b": float(self.b_),
               "log_likelihood": self.log_likelihood_}
        if self.covariate_names_:
            # exp(γ): how much a level multiplies the visit rate, a and b against the reference group.
            out["covariates"] = {name: {"rate": float(np.exp(g)), "a": float(np.exp(ga)), "b": float(np.exp(gb))}
                                 for name, g, ga, gb in zip(self.covariate_names_, self.gamma_rate_,
                                                            self.gamma_a_, self.gamma_b_, strict=True)}
        return out
