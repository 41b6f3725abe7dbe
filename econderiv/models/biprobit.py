"""Bivariate probit: two binary outcomes with correlated normal errors.

.. math::

    y_1^* = x_1'\\beta_1 + e_1, \\quad y_2^* = x_2'\\beta_2 + e_2, \\quad
    (e_1, e_2) \\sim N_2(0, 0, 1, 1, \\rho), \\quad y_j = 1[y_j^* > 0],

    \\ell_i = \\log \\Phi_2(q_{1i} x_{1i}'\\beta_1,\\; q_{2i} x_{2i}'\\beta_2,\\;
    q_{1i} q_{2i} \\rho), \\qquad q_{ji} = 2 y_{ji} - 1.

The two equations may have different regressors (seemingly unrelated) and
``y2`` may be a regressor of the ``y1`` equation (the recursive bivariate
probit): the likelihood is the same. ``rho`` is estimated as
``athrho = atanh(rho)``, as Stata's ``biprobit`` does, and reported on its
natural scale in ``res.ancillary`` (delta method).

Layout: the derivative kernels are plain array functions in
:mod:`econderiv.models._bvprobit_kernels`; :class:`BivariateProbit` adapts
them to statsmodels; :class:`BivariateProbitResults` owns the summary,
predictions and marginal effects. The helpers for designs, predictions and
marginal effects defined here are shared with
:mod:`econderiv.models.heckprobit`.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import special as sc
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults
from statsmodels.base.model import LikelihoodResultsWrapper
from functools import cached_property as cache_readonly
from statsmodels.tools.numdiff import approx_fprime
from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

from econderiv.models._base import (NEWTON_FIT_FUNCS, ancillary_frame, check_binary,
                                    check_finite, check_full_rank, formula_design, lr_test,
                                    prefixed, warn_boundary_rho, warn_perfect_prediction)
from econderiv.models._bvprobit_kernels import (_bvn, athrho_terms,
                                                biprobit_loglike_derivs, fit_probit)
from econderiv.special.normal import mills_ratio

__all__ = ["BivariateProbit", "BivariateProbitResults", "MarginalEffects"]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


# ---------------------------------------------------------------------------
# Designs and input handling (shared with heckprobit)
# ---------------------------------------------------------------------------

def _as_matrix(x, what: str, default_prefix: str = "x"):
    """``(array (n, k) float, names, index or None)`` from array-like or pandas input."""
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        names = [str(c) for c in x.columns]
        bad = [n for n, dt in zip(names, x.dtypes)
               if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))]
        if bad:
            raise ValueError(f"{what} has non-numeric column(s) {bad}; encode them as 0/1 "
                             "dummies or use from_formula with C(...)")
        return x.to_numpy(dtype=float, na_value=np.nan), names, x.index
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got {arr.ndim} dimensions")
    names = []
    for j in range(arr.shape[1]):
        col = arr[:, j]
        names.append("const" if col.size and np.all(col == 1.0) else f"{default_prefix}{j + 1}")
    return arr, names, None


def _constant_columns(x: np.ndarray) -> np.ndarray:
    """Boolean mask of columns that are constant and non-zero (intercepts)."""
    if x.shape[0] == 0:
        return np.zeros(x.shape[1], dtype=bool)
    return np.all(x == x[:1], axis=0) & (x[0] != 0)


def _apply_missing(missing: str, blocks: Sequence[tuple[np.ndarray, list, str]],
                   required=None) -> np.ndarray:
    """Rows to keep under statsmodels' ``missing`` rule.

    ``blocks`` are ``(array, names, what)``; ``required`` optionally gives a
    boolean row mask per block (rows where that block must be finite).
    Returns a boolean mask of rows kept. ``"none"`` keeps all rows and lets
    :func:`check_finite` raise, naming the columns.
    """
    n = blocks[0][0].shape[0]
    bad = np.zeros(n, dtype=bool)
    for j, (arr, _, _) in enumerate(blocks):
        rows_bad = ~np.isfinite(arr).all(axis=1)
        if required is not None and required[j] is not None:
            rows_bad &= required[j]
        bad |= rows_bad
    if missing == "drop":
        return ~bad
    if missing == "raise" and bad.any():
        cols = [f"{names[j]} ({int(c)} rows)" for arr, names, _ in blocks
                for j, c in enumerate((~np.isfinite(arr)).sum(axis=0)) if c]
        raise ValueError(f"{int(bad.sum())} rows have missing values (missing='raise'): "
                         + ", ".join(dict.fromkeys(cols)))
    if missing not in ("none", "raise", "drop"):
        raise ValueError(f"missing must be 'none', 'drop' or 'raise', got {missing!r}")
    return np.ones(n, dtype=bool)


def _check_variation(y: np.ndarray, name: str) -> None:
    if y.size == 0:
        raise ValueError(f"{name} has no rows")
    if np.all(y == y[0]):
        raise ValueError(f"{name} has no variation: all {y.size} rows are {y[0]:g}; "
                         "a probit equation needs both outcomes")


def _lhs_design(formula: str, data: pd.DataFrame):
    """``(y, X, yname)`` of a formula; a left-hand side that is a column of
    ``data`` is taken as is (so boolean indicators stay one column)."""
    lhs = formula.split("~", 1)[0].strip() if "~" in formula else ""
    if lhs and lhs in data.columns:
        _, x, _ = formula_design(formula.split("~", 1)[1], data)
        col = data[lhs]
        return (col.astype(float) if col.dtype == bool else col).rename(lhs), x, lhs
    return formula_design(formula, data)


def _new_design(model, exog, eq: int):
    """Regressor matrix of equation ``eq`` (0 or 1) for new data."""
    infos = getattr(model, "_design_infos", None)
    if isinstance(exog, pd.DataFrame):
        if infos is not None:
            import patsy
            (mat,) = patsy.build_design_matrices([infos[eq]], exog, NA_action=patsy.NAAction(
                NA_types=[]), return_type="dataframe")
            return np.asarray(mat, dtype=float)
        names = model._eq_exog_names[eq]
        missing = [c for c in names if c not in exog.columns]
        if missing:
            raise ValueError(f"exog lacks the column(s) {missing} of equation {eq + 1}")
        return exog[names].to_numpy(dtype=float)
    arr = np.asarray(exog, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    k = len(model._eq_exog_names[eq])
    if arr.shape[1] != k:
        raise ValueError(f"equation {eq + 1} needs {k} columns, got {arr.shape[1]}")
    return arr


# ---------------------------------------------------------------------------
# Predictions on the bivariate normal (shared with heckprobit)
# ---------------------------------------------------------------------------

PREDICT_KINDS = ("p11", "p10", "p01", "p00", "pmarg1", "pmarg2", "pcond1", "pcond2",
                 "xb1", "xb2")


def _logphi(x):
    return -0.5 * x * x - _LOG_SQRT_2PI


def bivariate_prediction(which: str, xb1, xb2, rho: float, grad: bool = False):
    """A probability of the bivariate probit and its derivatives in the indices.

    Parameters
    ----------
    which : str
        ``"p11" = P(y1=1, y2=1) = Phi2(xb1, xb2, rho)``, ``"p10"``, ``"p01"``,
        ``"p00"`` (``P(y1=j, y2=k) = Phi2(q1 xb1, q2 xb2, q1 q2 rho)``),
        ``"pmarg1" = Phi(xb1)``, ``"pmarg2" = Phi(xb2)``,
        ``"pcond1" = P(y1=1 | y2=1) = Phi2(xb1, xb2, rho) / Phi(xb2)``,
        ``"pcond2" = P(y2=1 | y1=1)``, ``"xb1"``, ``"xb2"``.
    xb1, xb2 : ndarray
        Linear predictors.
    rho : float
    grad : bool
        Also return ``dP/dxb1`` and ``dP/dxb2``.

    Returns
    -------
    p or (p, dp_dxb1, dp_dxb2)
        The joint cell derivative is ``dP/dxb1 = q1 phi(xb1)
        Phi(q2 (xb2 - rho xb1)/s)``, ``s = sqrt(1 - rho^2)``; the conditional
        probabilities are formed as differences of logs.
    """
    bvn = _bvn()
    xb1 = np.asarray(xb1, dtype=float)
    xb2 = np.asarray(xb2, dtype=float)
    s = np.sqrt((1.0 - rho) * (1.0 + rho))
    zero = np.zeros(np.broadcast(xb1, xb2).shape)
    if which in ("xb1", "xb2"):
        p = xb1 + zero if which == "xb1" else xb2 + zero
        return (p, zero + (which == "xb1"), zero + (which == "xb2")) if grad else p
    if which in ("pmarg1", "pmarg2"):
        x = xb1 if which == "pmarg1" else xb2
        p = sc.ndtr(x) + zero
        if not grad:
            return p
        d = np.exp(_logphi(x)) + zero
        return (p, d, zero) if which == "pmarg1" else (p, zero, d)
    if which in ("p11", "p10", "p01", "p00"):
        q1 = 1.0 if which[1] == "1" else -1.0
        q2 = 1.0 if which[2] == "1" else -1.0
        p = bvn.bvn_cdf(q1 * xb1, q2 * xb2, q1 * q2 * rho)
        if not grad:
            return p
        d1 = q1 * np.exp(_logphi(xb1) + sc.log_ndtr(q2 * (xb2 - rho * xb1) / s))
        d2 = q2 * np.exp(_logphi(xb2) + sc.log_ndtr(q1 * (xb1 - rho * xb2) / s))
        return p, d1, d2
    if which in ("pcond1", "pcond2"):
        # P(y_a = 1 | y_b = 1) with a the target equation and b the condition.
        xa, xc = (xb1, xb2) if which == "pcond1" else (xb2, xb1)
        log_den = sc.log_ndtr(xc)
        p = np.exp(bvn.bvn_logcdf(xa, xc, rho) - log_den)
        if not grad:
            return p
        da = np.exp(_logphi(xa) + sc.log_ndtr((xc - rho * xa) / s) - log_den)
        dc = np.exp(_logphi(xc) + sc.log_ndtr((xa - rho * xc) / s) - log_den) \
            - p * mills_ratio(xc)
        return (p, da, dc) if which == "pcond1" else (p, dc, da)
    raise ValueError(f"which must be one of {PREDICT_KINDS}, got {which!r}")


# ---------------------------------------------------------------------------
# Marginal effects (shared with heckprobit)
# ---------------------------------------------------------------------------

class MarginalEffects:
    """Marginal effects on a predicted probability with delta-method standard errors.

    Attributes
    ----------
    margeff : Series
        ``dP/dx`` (or the discrete change ``P(x=1) - P(x=0)`` for dummies when
        ``dummy=True``), averaged over the sample (``at="overall"``) or at the
        regressor means (``at="mean"``).
    margeff_se : Series
        Delta-method standard errors, ``sqrt(J V J')`` with ``J`` the
        Jacobian of the effects in the parameters (central differences of
        the analytic effect) and ``V`` the parameter covariance of the fit.
    """

    def __init__(self, which, at, names, values, jacobian, cov, dummies, description):
        self.which = which
        self.at = at
        self.dummies = list(dummies)
        self.description = description
        self.jacobian = jacobian
        self.cov = jacobian @ cov @ jacobian.T
        se = np.sqrt(np.clip(np.diag(self.cov), 0, None))
        self.margeff = pd.Series(values, index=names, name="dy/dx")
        self.margeff_se = pd.Series(se, index=names, name="std err")

    @property
    def tvalues(self):
        return self.margeff / self.margeff_se

    @property
    def pvalues(self):
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.margeff.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({0: self.margeff - q * self.margeff_se,
                             1: self.margeff + q * self.margeff_se})

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        ci = self.conf_int(alpha)
        return pd.DataFrame({
            "dy/dx": self.margeff, "std err": self.margeff_se, "z": self.tvalues,
            "P>|z|": self.pvalues, f"[{alpha / 2:g}": ci[0], f"{1 - alpha / 2:g}]": ci[1]})

    def summary(self, alpha: float = 0.05) -> str:
        lines = [f"Marginal effects on {self.description}",
                 f"at: {self.at}" + (f"; discrete change for {self.dummies}" if self.dummies
                                     else ""),
                 "Delta-method standard errors", "",
                 self.summary_frame(alpha).to_string(float_format=lambda v: f"{v:.6g}")]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def _margins(params, cov, x1, x2, names1, names2, index_params, predict, which, at,
             dummy, description, equations=(True, True), subset=None):
    """Average (or at-means) marginal effects of every non-constant regressor.

    ``index_params(params) -> (beta1, beta2)`` gives the coefficients of the
    two indices ``xb1 = x1 beta1``, ``xb2 = x2 beta2`` whose probability
    ``predict(params, x1, x2, grad) -> (p, dp/dxb1, dp/dxb2)`` is the target. A
    variable appearing in both equations moves both indices:
    ``dP/dv = dP/dxb1 beta1_v + dP/dxb2 beta2_v``. ``equations`` says which
    indices the target depends on (regressors of the others are left out);
    ``subset`` optionally names the variables to report.
    """
    if at not in ("overall", "mean"):
        raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
    const1, const2 = _constant_columns(x1), _constant_columns(x2)
    variables: dict[str, list] = {}
    for j, n in enumerate(names1):
        if not const1[j] and equations[0]:
            variables.setdefault(n, [None, None])[0] = j
    for j, n in enumerate(names2):
        if not const2[j] and equations[1]:
            variables.setdefault(n, [None, None])[1] = j
    if not variables:
        raise ValueError("the model has no regressors other than constants")
    if at == "mean":
        x1 = x1.mean(axis=0, keepdims=True)
        x2 = x2.mean(axis=0, keepdims=True)
    names = list(variables)
    if subset is not None:
        subset = [subset] if isinstance(subset, str) else list(subset)
        unknown = [v for v in subset if v not in variables]
        if unknown:
            raise ValueError(f"no marginal effect for {unknown}: the target {which!r} "
                             f"depends on {names}")
        names = subset
    is_dummy = {}
    for v in names:
        j1, j2 = variables[v]
        col = x1[:, j1] if j1 is not None else x2[:, j2]
        is_dummy[v] = bool(dummy) and at == "overall" and bool(np.isin(col, (0.0, 1.0)).all())

    def effects(p):
        b1, b2 = index_params(p)
        out = np.empty(len(names))
        _, d1, d2 = predict(p, x1, x2, True)
        for i, v in enumerate(names):
            j1, j2 = variables[v]
            if is_dummy[v]:
                hi1, lo1, hi2, lo2 = x1.copy(), x1.copy(), x2.copy(), x2.copy()
                if j1 is not None:
                    hi1[:, j1], lo1[:, j1] = 1.0, 0.0
                if j2 is not None:
                    hi2[:, j2], lo2[:, j2] = 1.0, 0.0
                out[i] = np.mean(predict(p, hi1, hi2, False) - predict(p, lo1, lo2, False))
                continue
            e = 0.0
            if j1 is not None:
                e = e + d1 * b1[j1]
            if j2 is not None:
                e = e + d2 * b2[j2]
            out[i] = np.mean(e)
        return out

    params = np.asarray(params, dtype=float)
    values = effects(params)
    jac = np.atleast_2d(approx_fprime(params, effects, centered=True))
    dummies = [v for v in names if is_dummy[v]]
    return MarginalEffects(which, at, names, values, jac, np.asarray(cov), dummies,
                           description)


# ---------------------------------------------------------------------------
# Summary (shared with heckprobit)
# ---------------------------------------------------------------------------

def _summary(results, title, top_left, top_right, test_line, alpha=0.05):
    from statsmodels.iolib.summary import Summary
    from statsmodels.iolib.table import SimpleTable

    smry = Summary()
    smry.add_table_2cols(results, gleft=top_left, gright=top_right, title=title)
    names = list(results.model.param_names)
    smry.add_table_params(results, yname=None, xname=names, alpha=alpha, use_t=False)
    anc = results.ancillary_frame(alpha)
    data = [[f"{v:.4f}" if np.isfinite(v) else "nan" for v in row]
            for row in anc.to_numpy()]
    smry.tables.append(SimpleTable(data, headers=list(anc.columns), stubs=list(anc.index),
                                   title="Ancillary parameters (delta method)"))
    smry.add_extra_txt([test_line])
    return smry


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

class _CachedKernelLikelihood:
    """statsmodels likelihood methods on a cached derivative kernel.

    Subclasses define ``_kernel(params, order, llobs, per_obs)`` returning
    ``(llobs, score, hessian)`` (score per observation when ``per_obs``) and
    set ``self._cache = None`` in ``__init__``.
    """

    def _derivs(self, params, order):
        """Kernel output at ``params``, cached: statsmodels asks for the value,
        score and Hessian at the same point in separate calls. A request of
        order 1 or 2 computes both (the Hessian is cheap given the gradient)
        and reuses a cached log-likelihood at the same point."""
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        c = self._cache
        same = c is not None and c[0] == key
        if same and c[1] >= order:
            return c[2]
        want = 0 if order == 0 else 2
        out = self._kernel(params, want, c[2][0] if same else None, False)
        self._cache = (key, want, out)
        return out

    def loglikeobs(self, params):
        """Per-observation log-likelihood (the model's class notes give the formula)."""
        return self._derivs(params, 0)[0]

    def loglike(self, params):
        """Total log-likelihood."""
        return float(self.loglikeobs(params).sum())

    def score_obs(self, params):
        """Per-observation gradient, (n, k) in params order."""
        params = np.asarray(params, dtype=float)
        c = self._cache
        llobs = c[2][0] if c is not None and c[0] == params.tobytes() else None
        return self._kernel(params, 1, llobs, True)[1]

    def score(self, params):
        """Gradient of the log-likelihood, 1-D in params order."""
        return self._derivs(params, 1)[1]

    def hessian(self, params):
        """Analytic Hessian of the log-likelihood, (k, k) in params order."""
        return self._derivs(params, 2)[2]

    def information(self, params):
        """Observed information ``-hessian``."""
        return -self.hessian(params)


class BivariateProbit(_CachedKernelLikelihood, LikelihoodModel):
    """Bivariate probit (seemingly unrelated or recursive), fitted by exact Newton.

    Parameters
    ----------
    endog : array_like (n, 2)
        The two binary (0/1) outcomes ``y1``, ``y2``; DataFrame column names
        name the equations.
    exog1 : array_like (n, k1)
        Regressors of the ``y1`` equation (add a constant yourself, as in
        statsmodels). ``y2`` may be one of them (recursive model).
    exog2 : array_like (n, k2), optional
        Regressors of the ``y2`` equation; ``None`` uses ``exog1``.
    missing : {"none", "drop", "raise"}
        statsmodels' rule for rows with NaN.

    Notes
    -----
    Parameters are ``[beta_1, beta_2, athrho]`` named ``"<y1>:<term>"``,
    ``"<y2>:<term>"`` and ``"athrho"``, ``rho = tanh(athrho)``. The
    log-likelihood, score and Hessian are analytic (see
    :mod:`econderiv.models._bvprobit_kernels`); probabilities are combined in
    log space, so the log-likelihood stays finite where a probability is tiny.
    """

    def __init__(self, endog, exog1, exog2=None, missing: str = "none", **kwargs):
        ymat, ynames, yindex = _as_matrix(endog, "endog", "y")
        if ymat.shape[1] != 2:
            raise ValueError(f"endog must have two columns (the two binary outcomes), "
                             f"got {ymat.shape[1]}")
        if yindex is None:
            ynames = ["y1", "y2"]
        if ynames[0] == ynames[1]:
            raise ValueError(f"the two outcomes have the same name {ynames[0]!r}")
        x1, names1, index1 = _as_matrix(exog1, "exog1")
        if exog2 is None:
            x2, names2, index2 = x1, names1, index1
        else:
            x2, names2, index2 = _as_matrix(exog2, "exog2")
        for arr, what in ((x1, "exog1"), (x2, "exog2")):
            if arr.shape[0] != ymat.shape[0]:
                raise ValueError(f"{what} has {arr.shape[0]} rows but endog has "
                                 f"{ymat.shape[0]}")
        keep = _apply_missing(missing, [(ymat, ynames, "endog"), (x1, names1, "exog1"),
                                        (x2, names2, "exog2")])
        index = next((ix for ix in (yindex, index1, index2) if ix is not None), None)
        if not keep.all():
            ymat, x1 = ymat[keep], x1[keep]
            x2 = x1 if exog2 is None else x2[keep]
            index = index[keep] if index is not None else None
        self._keep = keep
        check_finite(ymat, ynames, "endog")
        check_finite(x1, names1, f"the regressors of {ynames[0]}")
        check_finite(x2, names2, f"the regressors of {ynames[1]}")
        y1 = check_binary(ymat[:, 0], ynames[0])
        y2 = check_binary(ymat[:, 1], ynames[1])
        _check_variation(y1, ynames[0])
        _check_variation(y2, ynames[1])
        check_full_rank(x1, names1, f"the {ynames[0]} equation")
        if exog2 is not None:
            check_full_rank(x2, names2, f"the {ynames[1]} equation")
        warn_perfect_prediction(y1, x1, names1, ynames[0])
        warn_perfect_prediction(y2, x2, names2, ynames[1])

        self._y1, self._y2 = y1, y2
        self._x1 = np.ascontiguousarray(x1)
        self._x2 = self._x1 if exog2 is None else np.ascontiguousarray(x2)
        self._eq_names = list(ynames)
        self._eq_exog_names = [list(names1), list(names2)]
        self.k1, self.k2 = x1.shape[1], x2.shape[1]
        self.param_names = (prefixed(ynames[0], names1) + prefixed(ynames[1], names2)
                            + ["athrho"])
        if index is not None:
            endog_sm = pd.DataFrame(ymat, columns=ynames, index=index)
            exog_sm = pd.DataFrame(np.hstack([x1, x2]), columns=self.param_names[:-1],
                                   index=index)
        else:
            endog_sm, exog_sm = ymat, np.hstack([x1, x2])
        super().__init__(endog_sm, exog_sm, missing="none", **kwargs)
        self.data.param_names = self.param_names
        self.k_params = len(self.param_names)
        self.nobs = float(ymat.shape[0])
        self.k_constant = int(_constant_columns(x1).sum() + _constant_columns(x2).sum())
        self.df_model = float(self.k1 + self.k2 - self.k_constant)
        self.df_resid = self.nobs - self.k_params
        self._cache = None
        self._indep = None

    @classmethod
    def from_formula(cls, formula, data, subset=None, missing: str = "drop",
                     **kwargs):
        """Two formulas, ``["y1 ~ x1 + x2", "y2 ~ x1 + x3"]``, evaluated on ``data``.

        Give both formulas even when the regressors are the same (patsy would
        read ``"y1 + y2 ~ x"`` as a sum). Rows with NaN in any used column are
        dropped (``missing="drop"``, the statsmodels default for formulas).
        ``subset`` selects rows of ``data`` first.
        """
        if isinstance(formula, str) or len(formula) != 2:
            raise ValueError('formula must be a list of two formulas, '
                             '["y1 ~ x1 + x2", "y2 ~ x1 + x3"]')
        if subset is not None:
            data = data.loc[subset]
        y1, x1, n1 = _lhs_design(formula[0], data)
        y2, x2, n2 = _lhs_design(formula[1], data)
        if y1 is None or y2 is None:
            raise ValueError("both formulas need a dependent variable (y ~ ...)")
        endog = pd.concat([y1.rename(n1), y2.rename(n2)], axis=1)
        model = cls(endog, x1, x2, missing=missing, **kwargs)
        model.formula = list(formula)
        model._design_infos = [x1.design_info, x2.design_info]
        return model

    # -- likelihood: _CachedKernelLikelihood calls _kernel ----------------
    def _kernel(self, params, order, llobs, per_obs):
        return biprobit_loglike_derivs(params, self._y1, self._y2, self._x1, self._x2, order,
                                       llobs, per_obs)

    # -- start values and the independent model ---------------------------
    def _fit_independent(self):
        """Two univariate probits: start values and the rho = 0 log-likelihood."""
        if self._indep is None:
            self._indep = [fit_probit(y, x) for y, x in ((self._y1, self._x1),
                                                         (self._y2, self._x2))]
        return self._indep

    @property
    def llf_independent(self) -> float:
        """Log-likelihood of the two separate probits (the model with rho = 0)."""
        f1, f2 = self._fit_independent()
        return float(f1[1] + f2[1])

    @property
    def start_params(self) -> np.ndarray:
        """Univariate probit coefficients and a one-step estimate of athrho.

        ``rho_0 = sum e1 e2 / sum (e1 e2)^2`` with ``e_j = q_j lambda(q_j
        xb_j)`` the probit generalized residuals: a scoring step from
        ``rho = 0`` (the score of rho there is ``sum e1 e2``), clipped to
        ``+-0.9``.
        """
        f1, f2 = self._fit_independent()
        b1, b2 = f1[0], f2[0]
        q1, q2 = 2 * self._y1 - 1, 2 * self._y2 - 1
        e1 = q1 * mills_ratio(q1 * (self._x1 @ b1))
        e2 = q2 * mills_ratio(q2 * (self._x2 @ b2))
        prod = e1 * e2
        den = float(prod @ prod)
        rho0 = float(np.clip(prod.sum() / den, -0.9, 0.9)) if den > 0 else 0.0
        return np.concatenate([b1, b2, [np.arctanh(rho0)]])

    # -- fitting ----------------------------------------------------------
    def fit(self, start_params=None, method: str = "newton_trust", maxiter: int = 100,
            cov_type: str = "nonrobust", cov_kwds=None, disp: bool = False,
            global_search: bool = False, **kwargs):
        """Maximum likelihood.

        Parameters
        ----------
        start_params : array_like, optional
            Default :attr:`start_params` (univariate probits).
        method : str
            ``"newton_trust"`` (safeguarded Newton with the exact Hessian) or
            any statsmodels optimizer (``"bfgs"``, ``"newton"``, ...).
        maxiter : int
        cov_type : {"nonrobust", "HC0", "cluster", ...}
            As in statsmodels; ``"cluster"`` needs ``cov_kwds={"groups": g}``.
        cov_kwds : dict, optional
        disp : bool
            Print optimizer messages.
        global_search : bool
            Also start from ``athrho`` in ``(-1.5, -0.5, 0.5, 1.5)`` and keep
            the best converged fit (for likelihoods with several maxima).

        Returns
        -------
        BivariateProbitResults
        """
        mlefit = _fit_with_restarts(self, LikelihoodModel.fit, start_params, method,
                                    maxiter, disp, global_search, kwargs)
        res = _make_results(BivariateProbitResults, self, mlefit, cov_type, cov_kwds)
        res.mle_retvals = mlefit.mle_retvals
        res.mle_settings = mlefit.mle_settings
        res.method = method
        _post_fit_warnings(res)
        return BivariateProbitResultsWrapper(res)

    # -- prediction -------------------------------------------------------
    def predict(self, params, exog1=None, exog2=None, which: str = "p11"):
        """Predicted probabilities or indices (see :func:`bivariate_prediction`).

        ``exog1``/``exog2`` default to the estimation sample; ``exog2=None``
        with ``exog1`` given uses ``exog1`` for both equations when the model
        was built with the same regressors.
        """
        params = np.asarray(params, dtype=float)
        x1 = self._x1 if exog1 is None else np.asarray(exog1, dtype=float)
        if exog2 is None:
            x2 = self._x2 if exog1 is None else x1
        else:
            x2 = np.asarray(exog2, dtype=float)
        b1, b2 = self._index_params(params)
        rho = float(np.tanh(params[-1]))
        return bivariate_prediction(which, x1 @ b1, x2 @ b2, rho)

    def _index_params(self, params):
        params = np.asarray(params)
        return params[:self.k1], params[self.k1:self.k1 + self.k2]


_BLAS_CONTROLLER = None


@contextmanager
def _single_thread_blas():
    """Pin BLAS to one thread during a fit.

    The products here are tall and thin (n x k with k ~ 10): a second BLAS
    thread gains nothing, and where the cores are shared with other
    processes multi-threaded OpenBLAS stalls (a fit at n = 100,000 took
    1.3 s instead of 0.6 s on a loaded 2-core machine). Needs threadpoolctl;
    without it nothing changes.
    """
    global _BLAS_CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    with _BLAS_CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def _fit_with_restarts(model, base_fit, start_params, method, maxiter, disp, global_search,
                       kwargs):
    """``LikelihoodModel.fit`` from the default start and optionally a grid of athrho."""
    with _single_thread_blas():
        return _fit_with_restarts_inner(model, base_fit, start_params, method, maxiter, disp,
                                        global_search, kwargs)


def _fit_with_restarts_inner(model, base_fit, start_params, method, maxiter, disp,
                             global_search, kwargs):
    if method == "newton_trust":
        kwargs.setdefault("extra_fit_funcs", NEWTON_FIT_FUNCS)
    starts = [np.asarray(model.start_params if start_params is None else start_params,
                         dtype=float)]
    if global_search:
        for a in (-1.5, -0.5, 0.5, 1.5):
            s = starts[0].copy()
            s[-1] = a
            starts.append(s)
    best = None
    for s in starts:
        with warnings.catch_warnings():
            # Reported once, for the fit kept, by _post_fit_warnings.
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", HessianInversionWarning)
            try:
                fit = base_fit(model, start_params=s, method=method, maxiter=maxiter,
                               disp=disp, warn_convergence=False, **dict(kwargs))
            except (ValueError, np.linalg.LinAlgError):
                if len(starts) == 1:
                    raise
                continue
        ok = bool(fit.mle_retvals.get("converged", False)) if isinstance(
            fit.mle_retvals, dict) else True
        llf = model.loglike(fit.params)
        key = (ok, llf)
        if best is None or key > best[0]:
            best = (key, fit)
    if best is None:
        raise RuntimeError("no start value gave a finite log-likelihood")
    return best[1]


def _make_results(cls, model, mlefit, cov_type, cov_kwds):
    """Results with the requested covariance; NaN covariance (and a warning
    from :func:`_post_fit_warnings`) when the Hessian is singular."""
    cov = mlefit.normalized_cov_params
    if cov is None:
        k = len(mlefit.params)
        return cls(model, mlefit.params, np.full((k, k), np.nan), cov_type="nonrobust",
                   use_t=False)
    return cls(model, mlefit.params, cov, cov_type=cov_type, cov_kwds=cov_kwds or {},
               use_t=False)


def _post_fit_warnings(res):
    retvals = res.mle_retvals
    if isinstance(retvals, dict) and not retvals.get("converged", True):
        warnings.warn(
            "the maximum-likelihood optimizer did not converge (see res.mle_retvals). "
            "Try maxiter=..., other start_params, global_search=True, or check the "
            "regressors for perfect prediction.", ConvergenceWarning, stacklevel=3)
    if not np.all(np.isfinite(res.bse)):
        warnings.warn("the Hessian is singular or not negative definite at the estimate: "
                      "standard errors are unavailable (NaN). Usual causes: a regressor that "
                      "predicts an outcome perfectly (coefficients drifting to infinity; see "
                      "the perfect-prediction warning), a model identified only weakly (no "
                      "exclusion restriction), or rho on the boundary. Drop the offending "
                      "regressor or rows, or try global_search=True.",
                      RuntimeWarning, stacklevel=3)
    warn_boundary_rho(res.rho, "rho")


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class _BivariateResultsMixin:
    """Ancillary table, tests of rho = 0 and shared accessors."""

    @cache_readonly
    def llf(self):
        return self.model.loglike(self.params)

    @cache_readonly
    def aic(self):
        return -2.0 * self.llf + 2.0 * self.model.k_params

    @cache_readonly
    def bic(self):
        return -2.0 * self.llf + np.log(self.nobs) * self.model.k_params

    @property
    def nobs(self):
        return self.model.nobs

    @property
    def df_model(self):
        return self.model.df_model

    @property
    def df_resid(self):
        return self.model.df_resid

    @cache_readonly
    def rho(self) -> float:
        """``tanh(athrho)``."""
        return float(np.tanh(np.asarray(self.params)[-1]))

    def ancillary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """``rho`` (and ``athrho``) with delta-method standard errors."""
        p = np.asarray(self.params)
        cov = np.asarray(self.cov_params())
        rho, drho = athrho_terms(p[-1])
        grad = np.zeros(len(p))
        grad[-1] = drho
        return ancillary_frame({"rho": (rho, grad)}, cov, alpha)

    @cache_readonly
    def ancillary(self) -> pd.DataFrame:
        """``rho`` on its natural scale: coefficient, delta-method std err, z, p, interval."""
        return self.ancillary_frame()

    @cache_readonly
    def llf_independent(self) -> float:
        """Log-likelihood of the restricted model rho = 0 (separate probits)."""
        return self.model.llf_independent

    @cache_readonly
    def lr_test_rho(self):
        """LR test of rho = 0 against the separate probits: chi2(1)."""
        return lr_test(self.llf, self.llf_independent, 1, "rho = 0")

    @cache_readonly
    def wald_test_rho(self):
        """Wald test of athrho = 0 with the fit's covariance: ``(statistic, pvalue)``."""
        p = np.asarray(self.params)[-1]
        v = float(np.asarray(self.cov_params())[-1, -1])
        stat = p * p / v
        return float(stat), float(stats.chi2.sf(stat, 1))

    def _rho_test_line(self) -> str:
        if self.cov_type == "nonrobust":
            t = self.lr_test_rho
            return (f"LR test of rho = 0: chi2(1) = {t.statistic:.4g}, "
                    f"Prob > chi2 = {t.pvalue:.4f}")
        stat, pval = self.wald_test_rho
        return (f"Wald test of rho = 0 ({self.cov_type} covariance): chi2(1) = {stat:.4g}, "
                f"Prob > chi2 = {pval:.4f}")

    @property
    def converged(self) -> bool:
        r = getattr(self, "mle_retvals", None)
        return bool(r.get("converged", True)) if isinstance(r, dict) else True

    def profile_loglike(self, param: str = "rho", grid=None, maxiter: int = 100):
        """Profile log-likelihood of rho: the maximum over the coefficients on a grid.

        Parameters
        ----------
        param : {"rho"}
        grid : array_like, optional
            Values strictly inside (-1, 1). Default: every 0.05 in
            [-0.95, 0.95] and +-0.975, +-0.99, +-0.995.
        maxiter : int
            Newton iterations per grid point.

        Returns
        -------
        DataFrame
            Columns ``rho``, ``llf``, ``converged`` and the maximising
            coefficients; the sweep starts at the estimate and moves outwards,
            each point starting from its neighbour's solution. Where the
            profile is flat, rho is weakly identified; ``llf >= self.llf -
            chi2_1(0.95)/2`` marks the LR confidence interval. The table has a
            ``plot()`` method (shared with :class:`econderiv.models.heckman.Heckman`).
        """
        from econderiv.models._base import newton_trust

        if param != "rho":
            raise ValueError(f"profile_loglike supports param='rho', got {param!r}")
        if grid is None:
            grid = np.r_[-0.995, -0.99, -0.975, np.round(np.arange(-0.95, 0.951, 0.05), 2),
                         0.975, 0.99, 0.995]
        grid = np.sort(np.asarray(grid, dtype=float))
        if np.any(np.abs(grid) >= 1):
            raise ValueError("grid values of rho must lie strictly inside (-1, 1)")
        model = self.model
        n = model.nobs
        p_hat = np.asarray(self.params, dtype=float)
        rows = {}

        def solve(r, start):
            a = np.arctanh(r)

            def full(b):
                return np.append(b, a)

            b, ret = newton_trust(lambda b: -model.loglike(full(b)) / n,
                                  lambda b: -model.score(full(b))[:-1] / n, start,
                                  disp=False, maxiter=maxiter,
                                  hess=lambda b: -model.hessian(full(b))[:-1, :-1] / n)
            return b, model.loglike(full(b)), bool(ret["converged"])

        for side in (grid[grid >= self.rho], grid[grid < self.rho][::-1]):
            start = p_hat[:-1]
            for r in side:
                with np.errstate(all="ignore"):
                    b, llf, ok = solve(r, start)
                rows[r] = (llf, ok, b)
                if ok:
                    start = b
        names = list(model.param_names[:-1])
        data = [[r, rows[r][0], rows[r][1], *rows[r][2]] for r in grid]
        frame = pd.DataFrame(data, columns=["rho", "llf", "converged", *names])
        try:
            from econderiv.models.heckman import ProfileLikelihood
            frame = ProfileLikelihood(frame)
        except ImportError:  # plotting helper unavailable; the table stands alone
            pass
        frame.attrs.update(mle_rho=self.rho, mle_llf=self.llf)
        return frame


class BivariateProbitResults(_BivariateResultsMixin, LikelihoodModelResults):
    """Results of :class:`BivariateProbit`.

    Beyond the statsmodels results interface (``params``, ``bse``,
    ``tvalues``, ``pvalues``, ``conf_int()``, ``cov_params()``, ``t_test``,
    ``wald_test``): ``llf``, ``aic``, ``bic``, ``rho``, ``ancillary``,
    ``llf_independent``, ``lr_test_rho``, ``wald_test_rho``, ``summary()``,
    ``predict()``, ``get_margeff()``.
    """

    def summary(self, alpha: float = 0.05):
        """statsmodels Summary with the coefficient tables, rho and the test of rho = 0."""
        m = self.model
        top_left = [("Dep. Variables:", [", ".join(m._eq_names)]),
                    ("Model:", ["BivariateProbit"]),
                    ("Method:", ["Maximum likelihood"]),
                    ("Optimizer:", [getattr(self, "method", "")]),
                    ("Converged:", [str(self.converged)]),
                    ("Covariance Type:", [self.cov_type])]
        top_right = [("No. Observations:", [f"{int(self.nobs)}"]),
                     ("Log-Likelihood:", [f"{self.llf:.4f}"]),
                     ("LL (rho = 0):", [f"{self.llf_independent:.4f}"]),
                     ("AIC:", [f"{self.aic:.4f}"]),
                     ("BIC:", [f"{self.bic:.4f}"]),
                     ("rho:", [f"{self.rho:.4f}"])]
        return _summary(self, "Bivariate Probit Regression Results", top_left, top_right,
                        self._rho_test_line(), alpha)

    def predict(self, exog=None, which: str = "p11"):
        """Predicted probabilities (see :func:`bivariate_prediction` for ``which``).

        Parameters
        ----------
        exog : DataFrame, tuple ``(exog1, exog2)`` or None
            New data. A DataFrame goes through the model's formulas (or is
            matched by column names); ``None`` predicts for the estimation
            sample.
        which : str
            ``"p11"``, ``"p10"``, ``"p01"``, ``"p00"``, ``"pmarg1"``,
            ``"pmarg2"``, ``"pcond1"`` (``P(y1=1 | y2=1)``), ``"pcond2"``,
            ``"xb1"``, ``"xb2"``.

        Returns
        -------
        Series (pandas input or a DataFrame ``exog``) or ndarray
        """
        m = self.model
        index = None
        if exog is None:
            x1, x2 = m._x1, m._x2
            index = getattr(m.data, "row_labels", None)
        elif isinstance(exog, tuple):
            x1 = _new_design(m, exog[0], 0)
            x2 = _new_design(m, exog[1] if exog[1] is not None else exog[0], 1)
        else:
            x1, x2 = _new_design(m, exog, 0), _new_design(m, exog, 1)
            if isinstance(exog, pd.DataFrame):
                index = exog.index
        p = m.predict(np.asarray(self.params), x1, x2, which=which)
        if index is not None:
            return pd.Series(p, index=index, name=which)
        return p

    def get_margeff(self, which: str = "p11", at: str = "overall", dummy: bool = False,
                    variables=None):
        """Marginal effects of the regressors on a predicted probability.

        Parameters
        ----------
        which : str
            ``"p11"`` (default, ``P(y1=1, y2=1)``), ``"pmarg1"``, ``"pmarg2"``,
            ``"pcond1"``, ... (as in :meth:`predict`).
        at : {"overall", "mean"}
            Average of the observation effects, or the effect at the means.
        dummy : bool
            Discrete change ``P(x=1) - P(x=0)`` for 0/1 regressors (with
            ``at="overall"``).
        variables : str or list of str, optional
            Regressors to report (default: every non-constant regressor the
            target depends on).

        Returns
        -------
        MarginalEffects
            ``summary_frame()``, ``margeff``, ``margeff_se`` (delta method).
        """
        if which not in PREDICT_KINDS:
            raise ValueError(f"which must be one of {PREDICT_KINDS}, got {which!r}")
        m = self.model

        def predict(p, x1, x2, grad):
            b1, b2 = m._index_params(p)
            return bivariate_prediction(which, x1 @ b1, x2 @ b2, float(np.tanh(p[-1])), grad)

        labels = {"p11": f"P({m._eq_names[0]}=1, {m._eq_names[1]}=1)",
                  "pmarg1": f"P({m._eq_names[0]}=1)", "pmarg2": f"P({m._eq_names[1]}=1)",
                  "pcond1": f"P({m._eq_names[0]}=1 | {m._eq_names[1]}=1)",
                  "pcond2": f"P({m._eq_names[1]}=1 | {m._eq_names[0]}=1)"}
        return _margins(np.asarray(self.params), np.asarray(self.cov_params()), m._x1, m._x2,
                        m._eq_exog_names[0], m._eq_exog_names[1], m._index_params, predict,
                        which, at, dummy, labels.get(which, which),
                        (which not in ("pmarg2", "xb2"), which not in ("pmarg1", "xb1")),
                        variables)


class BivariateProbitResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(BivariateProbitResultsWrapper, BivariateProbitResults)
