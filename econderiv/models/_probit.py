"""Univariate probit: log-likelihood, score, Hessian and ML fit.

Shared by the selection models (first step, rho = 0 model) and the bivariate
probit models (start values, rho = 0 model). With ``q = 2 s - 1``::

    l(gamma)  = sum log Phi(q z'gamma)
    score     = Z' (q lambda(q z'gamma))
    hessian   = Z' diag(lambda'(q z'gamma)) Z

with ``lambda`` the inverse Mills ratio (accurate in the far tails, see
:mod:`econderiv.special.normal`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

from econderiv.models._optim import inverse_information, newton_linesearch
from econderiv.special import mills_ratio, mills_ratio_deriv

__all__ = ["probit_loglike", "probit_score", "probit_hessian", "probit_fit"]


def _lam_dlam(x):
    """``lambda(x)`` and ``lambda'(x)`` sharing one evaluation of the ratio.

    ``lambda' = -lambda (x + lambda)`` is accurate for ``x >= -2`` (the
    convention of :mod:`econderiv.special.normal`); below, the continued
    fraction of :func:`mills_ratio_deriv` avoids the cancellation.
    """
    lam = mills_ratio(x)
    with np.errstate(invalid="ignore"):
        dlam = -lam * (x + lam)
    far = x < -2.0
    if far.any():
        dlam[far] = mills_ratio_deriv(x[far], 1)
    return lam, dlam



def _probit_ratios(gamma, s, Z):
    q = 2.0 * np.asarray(s, dtype=float) - 1.0
    return _lam_dlam(q * (Z @ gamma)), q


def probit_loglike(gamma, s, Z) -> float:
    """``sum_i log Phi(q_i z_i'gamma)`` with ``q_i = 2 s_i - 1``."""
    q = 2.0 * np.asarray(s, dtype=float) - 1.0
    return float(log_ndtr(q * (Z @ gamma)).sum())


def probit_score(gamma, s, Z) -> np.ndarray:
    """``Z' (q lambda(q z'gamma))``, shape (k_z,)."""
    q = 2.0 * np.asarray(s, dtype=float) - 1.0
    return Z.T @ (q * mills_ratio(q * (Z @ gamma)))


def probit_hessian(gamma, s, Z) -> np.ndarray:
    """``Z' diag(lambda'(q z'gamma)) Z`` (``q^2 = 1``), negative definite."""
    (_, dlam), _ = _probit_ratios(gamma, s, Z)
    return (Z.T * dlam) @ Z


def probit_fit(s, Z, maxiter: int = 100, weights=None):
    """Probit ML by safeguarded Newton with the exact Hessian.

    With ``weights`` the log-likelihood is ``sum_i w_i log Phi(q_i z_i'gamma)``.
    Returns ``(gamma, cov, llf, converged)``; ``cov`` is the inverse of the
    negative (weighted) Hessian.
    """
    s = np.asarray(s, dtype=float)
    Z = np.asarray(Z, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    n = len(s) if w is None else float(w.sum())
    q = 2.0 * s - 1.0
    qw = q if w is None else q * w
    memo = {}

    def ratios(g):
        # the score and Hessian at a point share lambda and lambda'
        tag = g.tobytes()
        if memo.get("tag") != tag:
            memo.clear()
            memo["tag"] = tag
            lam, dlam = _lam_dlam(q * (Z @ g))
            memo["r"] = (lam, dlam if w is None else w * dlam)
        return memo["r"]

    def loglike(g):
        ll = log_ndtr(q * (Z @ g))
        return float(ll.sum() if w is None else w @ ll)

    def score(g):
        return -(Z.T @ (qw * ratios(g)[0])) / n

    def hess(g):
        return -((Z.T * ratios(g)[1]) @ Z) / n

    # start from the scaled linear probability model (Amemiya's 2.5 rule)
    Zs = Z if w is None else Z * np.sqrt(w)[:, None]
    ys = s - 0.5 if w is None else (s - 0.5) * np.sqrt(w)
    start = 2.5 * np.linalg.lstsq(Zs, ys, rcond=None)[0]
    x, info = newton_linesearch(lambda g: -loglike(g) / n, score, start,
                                hess=hess, disp=False, maxiter=maxiter,
                                kwargs={"nobs": n})
    # the objective is -llf / n: its Hessian times -n is the log-likelihood's
    cov = inverse_information(-n * info["Hessian"])  # None: separation
    if cov is None:
        cov = np.full((Z.shape[1], Z.shape[1]), np.nan)
    return x, cov, -n * float(info["fopt"]), bool(info["converged"])
