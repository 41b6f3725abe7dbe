"""Shared machinery of the likelihood models.

* :func:`newton_trust` -- a safeguarded Newton optimizer with the exact
  Hessian (eigenvalue-modified when indefinite) and a backtracking line
  search, in the signature statsmodels' ``LikelihoodModel.fit`` accepts
  through ``extra_fit_funcs``.
* Design helpers for multi-equation formulas: :func:`formula_design`,
  :func:`prefixed`, :func:`check_binary`, :func:`check_full_rank`.
* Ancillary parameters reported on their natural scale with delta-method
  standard errors: :func:`ancillary_frame`, and the transforms of the
  estimation-scale parameters :func:`rho_from_athrho`,
  :func:`sigma_from_lnsigma`.
* :func:`lr_test` for nested likelihood-ratio tests.

Covariance types (``"nonrobust"``, ``"HC0"``, ``"cluster"``) come from
statsmodels' ``get_robustcov_results``, which uses the models' analytic
``score_obs`` and ``hessian``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "newton_trust",
    "NEWTON_FIT_FUNCS",
    "formula_design",
    "prefixed",
    "check_binary",
    "check_full_rank",
    "check_finite",
    "ancillary_frame",
    "rho_from_athrho",
    "sigma_from_lnsigma",
    "LRTest",
    "lr_test",
    "warn_boundary_rho",
    "warn_perfect_prediction",
]


# ---------------------------------------------------------------------------
# Optimizer
# ---------------------------------------------------------------------------

def _modified_newton_direction(g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, bool]:
    """Descent direction ``-H^{-1} g`` for minimisation.

    When ``H`` is not positive definite its eigenvalues are replaced by
    their absolute values, floored at ``1e-8`` times the largest, which keeps
    the Newton step where the curvature is right and reverses the uphill
    components where it is wrong. Returns ``(direction, H_was_pd)``.
    """
    h = 0.5 * (h + h.T)
    try:
        c = np.linalg.cholesky(h)
        d = -np.linalg.solve(c.T, np.linalg.solve(c, g))
        return d, True
    except np.linalg.LinAlgError:
        pass
    w, v = np.linalg.eigh(h)
    if not np.all(np.isfinite(w)):
        return -g, False
    floor = 1e-8 * max(np.max(np.abs(w)), 1e-300)
    w = np.maximum(np.abs(w), floor)
    return -(v @ ((v.T @ g) / w)), False


def newton_trust(f: Callable, score: Callable, start_params, fargs=(), kwargs=None,
                 disp: bool = True, maxiter: int = 100, callback=None, retall: bool = False,
                 full_output: bool = True, hess: Callable | None = None):
    """Minimise ``f`` by safeguarded Newton steps with the exact Hessian.

    Each iteration takes the (modified) Newton direction ``d = -H^{-1} g``
    and backtracks ``t = 1, 1/2, 1/4, ...`` until the Armijo condition
    ``f(x + t d) <= f(x) + 1e-4 t g'd`` holds with a finite value. Converged
    when the Newton decrement ``g' H^{-1} g`` is below ``tol`` (default
    ``1e-18``, on statsmodels' per-observation scale) with ``H`` positive
    definite, or when a full line search no longer changes ``f`` at a point
    with a small gradient.

    The signature is the one statsmodels' ``LikelihoodModel.fit`` uses for
    ``extra_fit_funcs``; ``f``, ``score`` and ``hess`` are the objective
    (minus the mean log-likelihood), its gradient and Hessian. ``kwargs`` may
    hold ``tol`` and ``gtol``.
    """
    kwargs = {} if kwargs is None else kwargs
    tol = kwargs.get("tol", 1e-18)
    gtol = kwargs.get("gtol", 1e-6)
    if hess is None:
        raise ValueError("newton_trust needs the analytic Hessian")
    x = np.asarray(start_params, dtype=float).copy()
    fx = f(x, *fargs)
    if not np.isfinite(fx):
        raise ValueError("the log-likelihood is not finite at the start values; "
                         "give start_params where every observation has positive probability")
    history = [x.copy()]
    converged = False
    iterations = 0
    g = np.asarray(score(x, *fargs), dtype=float)
    for iterations in range(1, maxiter + 1):
        h = np.asarray(hess(x, *fargs), dtype=float)
        d, pd_ok = _modified_newton_direction(g, h)
        slope = float(g @ d)
        if pd_ok and -slope < tol:
            converged = True
            iterations -= 1
            break
        if slope >= 0:  # not a descent direction (numerical trouble)
            d, slope = -g, -float(g @ g)
        t = 1.0
        accepted = False
        for _ in range(60):
            xn = x + t * d
            with np.errstate(all="ignore"):
                fn = f(xn, *fargs)
            if np.isfinite(fn) and fn <= fx + 1e-4 * t * slope:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            # No decrease is possible at working precision: at the optimum if
            # the gradient is small, else stuck.
            converged = pd_ok and float(np.max(np.abs(g))) < gtol
            iterations -= 1
            break
        x, fx = xn, fn
        g = np.asarray(score(x, *fargs), dtype=float)
        history.append(x.copy())
        if callback is not None:
            callback(x)
    if disp:
        state = "converged" if converged else "did NOT converge"
        print(f"newton_trust {state}: f = {fx:.10g}, iterations = {iterations}")
    retvals = None
    if full_output:
        retvals = {
            "fopt": fx,
            "iterations": iterations,
            "score": g,
            "Hessian": np.asarray(hess(x, *fargs), dtype=float),
            "warnflag": 0 if converged else 1,
            "converged": converged,
        }
        if retall:
            retvals["allvecs"] = history
    return x, retvals


NEWTON_FIT_FUNCS = {"newton_trust": newton_trust}
"""Pass as ``extra_fit_funcs`` to ``LikelihoodModel.fit(method="newton_trust")``."""


# ---------------------------------------------------------------------------
# Designs and input checks
# ---------------------------------------------------------------------------

def prefixed(prefix: str, names: Sequence[str]) -> list[str]:
    """``["prefix:name", ...]``, the parameter naming convention."""
    return [f"{prefix}:{n}" for n in names]


def formula_design(formula: str, data: pd.DataFrame, missing: str = "drop"
                   ) -> tuple[pd.Series | None, pd.DataFrame, str | None]:
    """Evaluate ``"y ~ x1 + x2"`` with patsy (the engine statsmodels uses).

    Returns ``(y, X, yname)`` over *all* rows of ``data``: rows are not
    dropped here, so that several equations stay aligned; missing values
    remain as NaN for the caller's ``missing`` rule. ``y`` is ``None`` for a
    one-sided formula. ``missing`` is accepted for signature symmetry.
    """
    import patsy

    if "~" in formula:
        lhs, rhs = formula.split("~", 1)
    else:
        lhs, rhs = "", formula
    na = patsy.NAAction(NA_types=[])  # keep NaN rows; callers apply `missing`
    X = patsy.dmatrix(rhs, data, NA_action=na, return_type="dataframe")
    y = None
    yname = None
    if lhs.strip():
        ymat = patsy.dmatrix(lhs.strip() + " - 1", data, NA_action=na,
                             return_type="dataframe")
        if ymat.shape[1] != 1:
            raise ValueError(f"the left-hand side {lhs.strip()!r} must be a single "
                             f"numeric column, got {list(ymat.columns)}")
        yname = ymat.columns[0]
        y = ymat.iloc[:, 0]
    X.index = data.index
    if y is not None:
        y.index = data.index
    return y, X, yname


def check_finite(x: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise naming the columns of ``x`` that hold NaN or inf."""
    x = np.asarray(x, dtype=float)
    x2 = x.reshape(len(x), -1)
    bad = ~np.isfinite(x2)
    if bad.any():
        cols = [f"{names[j]} ({int(bad[:, j].sum())} rows)"
                for j in range(x2.shape[1]) if bad[:, j].any()]
        raise ValueError(f"{what} has NaN or infinite values in: {', '.join(cols)}; "
                         "drop those rows or pass missing='drop'")


def check_binary(y, name: str) -> np.ndarray:
    """Return ``y`` as a float 0/1 array or raise naming ``name`` and the count."""
    arr = np.asarray(y)
    if arr.dtype == bool:
        return arr.astype(float)
    arr = np.asarray(arr, dtype=float)
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        examples = ", ".join(f"{v:g}" for v in pd.unique(arr[bad])[:5])
        raise ValueError(f"{name} must be binary (0/1): {int(bad.sum())} rows hold other "
                         f"values ({examples})")
    return arr


def check_full_rank(x: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise if the columns of ``x`` are linearly dependent, naming them."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] < x.shape[1]:
        raise ValueError(f"{what} has {x.shape[1]} columns but only {x.shape[0]} rows")
    scale = np.sqrt((x * x).sum(axis=0))
    zero = scale == 0
    if zero.any():
        cols = [names[j] for j in np.flatnonzero(zero)]
        raise ValueError(f"{what} is rank deficient: column(s) {cols} are all zero")
    xs = x / scale
    # xs = QR: R has the singular values and right singular vectors of xs,
    # at a fraction of the cost of the SVD of a tall matrix
    _, s, vt = np.linalg.svd(np.linalg.qr(xs, mode="r"))
    tol = s[0] * max(x.shape) * np.finfo(float).eps * 1e3
    null = vt[s <= tol]
    if null.size:
        involved = sorted({names[j] for row in null for j in np.flatnonzero(np.abs(row) > 1e-6)})
        raise ValueError(f"{what} is rank deficient (rank {int((s > tol).sum())} of "
                         f"{x.shape[1]}): the columns {involved} are linearly dependent; "
                         "drop one of them")


# ---------------------------------------------------------------------------
# Ancillary parameters and tests
# ---------------------------------------------------------------------------

def rho_from_athrho(athrho: float) -> tuple[float, float]:
    """``rho = tanh(athrho)`` and its derivative ``1 - rho**2``."""
    r = float(np.tanh(athrho))
    return r, 1.0 - r * r


def sigma_from_lnsigma(lnsigma: float) -> tuple[float, float]:
    """``sigma = exp(lnsigma)`` and its derivative ``sigma``."""
    s = float(np.exp(lnsigma))
    return s, s


def ancillary_frame(estimates: Mapping[str, tuple[float, np.ndarray]], cov: np.ndarray,
                    alpha: float = 0.05) -> pd.DataFrame:
    """Delta-method table for functions of the parameters.

    Parameters
    ----------
    estimates : mapping name -> (value, gradient)
        ``value = g(params)`` and ``gradient = dg/dparams`` (1-D, in params
        order). The standard error is ``sqrt(grad' cov grad)``.
    cov : (k, k) array
        Covariance of the parameters.
    alpha : float
        Confidence intervals are ``value +- z_{1-alpha/2} se`` on the natural
        scale.

    Returns
    -------
    DataFrame indexed by name with columns ``coef``, ``std err``, ``z``,
    ``P>|z|``, ``[0.025``, ``0.975]`` (labels follow ``alpha``).
    """
    q = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for name, (value, grad) in estimates.items():
        grad = np.asarray(grad, dtype=float)
        var = float(grad @ cov @ grad)
        se = np.sqrt(var) if var >= 0 else np.nan
        z = value / se if se > 0 else np.nan
        p = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan
        rows.append((value, se, z, p, value - q * se, value + q * se))
    lo, hi = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
    return pd.DataFrame(rows, index=list(estimates),
                        columns=["coef", "std err", "z", "P>|z|", lo, hi])


@dataclass
class LRTest:
    """Likelihood-ratio test of a restricted model."""

    statistic: float
    df: int
    pvalue: float
    description: str = ""

    def __str__(self) -> str:
        return (f"LR test of {self.description}: chi2({self.df}) = {self.statistic:.2f}, "
                f"Prob > chi2 = {self.pvalue:.4f}")


def lr_test(llf_full: float, llf_restricted: float, df: int, description: str = "") -> LRTest:
    """``2 (llf_full - llf_restricted) ~ chi2(df)`` under the restriction."""
    stat = max(0.0, 2.0 * (llf_full - llf_restricted))
    return LRTest(stat, df, float(stats.chi2.sf(stat, df)), description)


def warn_boundary_rho(rho: float, what: str = "rho", threshold: float = 0.99) -> None:
    """Warn when a correlation estimate is at or near the boundary +-1."""
    if abs(rho) >= threshold:
        warnings.warn(
            f"{what} = {rho:.6f} is at or near the boundary +-1: the likelihood may have no "
            "interior maximum (weak exclusion restrictions or a misspecified model). Try "
            "global_search=True, other start_params, or an exclusion restriction.",
            RuntimeWarning, stacklevel=3)


def warn_perfect_prediction(y, x: np.ndarray, names: Sequence[str], yname: str) -> list[str]:
    """Warn when a single regressor predicts a binary outcome perfectly.

    For each non-constant column of ``x`` two cases are detected:

    * complete separation: a threshold on the column splits the rows with
      ``y = 0`` from those with ``y = 1`` (the MLE of its coefficient is
      infinite);
    * for columns with two distinct values (dummies), quasi-complete
      separation: one of the two values occurs with one outcome only.

    Separation by a combination of regressors is not detected here.
    Returns the messages (also issued as one ``RuntimeWarning``).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    messages = []
    pos = y == 1
    if pos.all() or not pos.any():
        return messages
    for j, name in enumerate(names):
        col = x[:, j]
        lo, hi = col.min(), col.max()
        if lo == hi:
            continue
        c1, c0 = col[pos], col[~pos]
        if c0.max() < c1.min() or c1.max() < c0.min():
            messages.append(f"{name!r} separates {yname} completely (a threshold on it "
                            f"predicts every {yname} exactly)")
            continue
        # Two distinct values (lo and hi)? An O(n) test, no sort.
        if np.all((col == lo) | (col == hi)):
            for v in (lo, hi):
                at = col == v
                ys = y[at]
                if ys.min() == ys.max():
                    messages.append(f"{name!r} == {v:g} predicts {yname} = {ys[0]:g} "
                                    f"perfectly ({int(at.sum())} rows)")
    if messages:
        warnings.warn(
            "perfect prediction: " + "; ".join(messages) + ". The maximum-likelihood "
            "estimate of such a coefficient is infinite and the fit will not converge "
            "properly: drop the regressor (and the rows it predicts), or combine categories.",
            RuntimeWarning, stacklevel=3)
    return messages
