r"""Heckman (1979) sample selection model: two-step and full maximum likelihood.

Model (Tobit type 2)::

    selection  s* = z'gamma + u,   s = 1[s* > 0]
    outcome    y  = x'beta + e,    observed only when s = 1
    (u, e) ~ bivariate normal, var(u) = 1, var(e) = sigma^2, corr(u, e) = rho

* :class:`Heckman` -- the model: arrays or pandas, or
  :meth:`Heckman.from_formula` with the selection equation as a keyword.
  ``fit(method="mle")`` (default) maximises the exact likelihood with its
  analytic score and Hessian (:mod:`econderiv.models._heckman_kernels`);
  ``fit(method="twostep")`` is Heckman's two-step estimator with the
  corrected covariance.
* :class:`HeckmanResults` -- statsmodels-style results with the equation
  blocks, ``ancillary`` (rho, sigma, lambda = rho sigma), ``summary()``,
  ``predict(which=...)``, ``get_margeff()``, ``profile_loglike("rho")``.

The interface (shared by the sample-selection family)
-----------------------------------------------------
``Model(endog, exog, endog_select, exog_select, missing=...)``;
``Model.from_formula(outcome_formula, data, selection=selection_formula)``;
parameters named ``selection:<term>``, ``outcome:<term>``, then the
ancillary parameters on their estimation scale (``athrho``, ``lnsigma``);
``res.ancillary`` reports them on the natural scale with delta-method
standard errors; ``res.predict(exog, exog_select, which=...)``;
``res.get_margeff(which=..., at=...)``; ``res.profile_loglike("rho")`` and
``fit(global_search=True)``.

The derivative kernels (log-likelihood per observation, score, Hessian)
are in :mod:`econderiv.models._heckman_kernels`.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import ndtr

from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults, \
    LikelihoodResultsWrapper
import statsmodels.base.wrapper as wrap
from functools import cached_property as cache_readonly
from statsmodels.tools.sm_exceptions import CollinearityWarning, ConvergenceWarning

from econderiv.models import _heckman_kernels as K
from econderiv.models._base import (
    ancillary_frame, check_binary, check_full_rank, formula_design, lr_test,
    newton_trust, prefixed, warn_boundary_rho,
)
from econderiv.special import mills_ratio, mills_ratio_deriv

__all__ = ["Heckman", "HeckmanResults", "HeckmanMargins", "ProfileLikelihood"]

_MISSING = ("none", "drop", "raise")
_PREDICT = ("xb", "ycond", "yexpected", "psel", "mills", "xbsel")
_BOUNDARY_RHO = 0.999


# ---------------------------------------------------------------------------
# Optimizer: trust region with the exact Hessian, polished by Newton
# ---------------------------------------------------------------------------

def _trust_newton(f, score, start_params, fargs=(), kwargs=None, disp=False, maxiter=100,
                  callback=None, retall=False, full_output=True, hess=None):
    """Minimise by scipy's ``trust-exact`` (exact Hessian, More-Sorensen
    subproblem), then finish with :func:`~econderiv.models._base.newton_trust`.

    A trust region copes with the indefinite Hessians met far from the
    optimum (poor starts, outcomes in levels) in a few iterations where a
    line-searched modified Newton crawls; the final Newton iterations give the
    tight convergence test (Newton decrement with a negative definite
    Hessian). Signature of statsmodels' ``extra_fit_funcs``.
    """
    kwargs = {} if kwargs is None else dict(kwargs)
    x0 = np.asarray(start_params, dtype=float)
    nit = 0
    allvecs = [x0.copy()]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = optimize.minimize(f, x0, args=fargs, jac=score, hess=hess, method="trust-exact",
                                  callback=callback,
                                  options={"maxiter": maxiter, "gtol": kwargs.get("gtol", 1e-9)})
        if np.all(np.isfinite(r.x)) and np.isfinite(r.fun) and r.fun <= f(x0, *fargs):
            x0 = r.x
            nit = int(r.nit)
            allvecs.append(x0.copy())
    except (np.linalg.LinAlgError, ValueError):
        pass
    x, info = newton_trust(f, score, x0, fargs=fargs, kwargs=kwargs, disp=False,
                           maxiter=max(maxiter - nit, 1), callback=callback, hess=hess)
    info["iterations"] += nit
    if retall:
        info["allvecs"] = allvecs + [x.copy()]
    if disp:
        state = "converged" if info["converged"] else "did NOT converge"
        print(f"trust_newton {state}: f = {info['fopt']:.10g}, iterations = {info['iterations']}")
    return x, info


_FIT_FUNCS = {"trust_newton": _trust_newton}


# ---------------------------------------------------------------------------
# Input handling
# ---------------------------------------------------------------------------

def _as_frame(x, what: str, prefix: str) -> pd.DataFrame:
    if isinstance(x, pd.DataFrame):
        return x
    if isinstance(x, pd.Series):
        return x.to_frame()
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got {arr.ndim} dimensions")
    arr = arr.astype(float)
    names = []
    j = 0
    for col in arr.T:
        finite = col[np.isfinite(col)]
        if finite.size and np.all(finite == 1.0) and "const" not in names:
            names.append("const")
        else:
            j += 1
            names.append(f"{prefix}{j}")
    return pd.DataFrame(arr, columns=names)


def _as_series(x, what: str, default: str) -> pd.Series:
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise ValueError(f"{what} must be a single column, got {x.shape[1]} columns")
        x = x.iloc[:, 0]
    if isinstance(x, pd.Series):
        return x.rename(default if x.name is None else x.name)
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    return pd.Series(arr, name=default)


def _nan_columns(frame: pd.DataFrame, rows: np.ndarray) -> list[str]:
    bad = ~np.isfinite(frame.to_numpy(dtype=float)[rows])
    return [f"{c} ({int(bad[:, j].sum())} rows)" for j, c in enumerate(frame.columns)
            if bad[:, j].any()]


def _prepare(endog, exog, endog_select, exog_select, missing: str):
    """Validate and align the four inputs; returns pandas objects and dropped count."""
    if missing not in _MISSING:
        raise ValueError(f"missing must be one of {_MISSING}, got {missing!r}")
    y = _as_series(endog, "endog", "y")
    s = _as_series(endog_select, "endog_select", "s")
    X = _as_frame(exog, "exog", "x")
    Z = _as_frame(exog_select, "exog_select", "z")
    lengths = {"endog": len(y), "exog": len(X), "endog_select": len(s),
               "exog_select": len(Z)}
    if len(set(lengths.values())) != 1:
        raise ValueError("the inputs must have the same number of rows, got "
                         + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    given = [(name, obj.index) for name, obj, raw in
             (("endog", y, endog), ("exog", X, exog), ("endog_select", s, endog_select),
              ("exog_select", Z, exog_select)) if isinstance(raw, (pd.Series, pd.DataFrame))]
    for name, idx in given[1:]:
        if not idx.equals(given[0][1]):
            raise ValueError(f"the pandas indexes of {given[0][0]} and {name} differ; rows "
                             "are matched by position, so align them first (e.g. with "
                             ".reindex) or pass arrays")
    index = given[0][1] if given else None
    index = pd.RangeIndex(len(y)) if index is None else index
    y, s, X, Z = (obj.set_axis(index) for obj in (y, s, X, Z))
    if s.dtype == bool or s.dtype == object and s.map(type).eq(bool).all():
        s = s.astype(float)
    s_num = pd.to_numeric(s, errors="coerce")
    s_bad = s_num.isna() & s.notna()
    if s_bad.any():
        ex = ", ".join(map(repr, pd.unique(s[s_bad])[:5]))
        raise ValueError(f"the selection indicator {s.name!r} must be binary (0/1): "
                         f"{int(s_bad.sum())} rows hold other values ({ex})")
    s = s_num.astype(float)
    y = pd.to_numeric(y, errors="coerce").astype(float) if y.dtype == object else y.astype(float)
    X = X.astype(float)
    Z = Z.astype(float)

    s_nan = s.isna().to_numpy()
    z_nan = ~np.isfinite(Z.to_numpy()).all(axis=1)
    sel = (s == 1).to_numpy()
    y_nan = sel & ~np.isfinite(y.to_numpy())
    x_nan = sel & ~np.isfinite(X.to_numpy()).all(axis=1)
    drop = s_nan | z_nan | y_nan | x_nan
    n_dropped = int(drop.sum())
    if n_dropped and missing != "drop":
        parts = []
        if s_nan.any():
            parts.append(f"the selection indicator {s.name!r} ({int(s_nan.sum())} rows)")
        if z_nan.any():
            parts.append("the selection regressors: " + ", ".join(_nan_columns(Z, z_nan)))
        if y_nan.any():
            parts.append(f"the outcome {y.name!r} for {int(y_nan.sum())} selected rows "
                         f"({s.name} = 1); the outcome may be missing only where "
                         f"{s.name} = 0")
        if x_nan.any():
            parts.append("the outcome regressors of selected rows: "
                         + ", ".join(_nan_columns(X, x_nan)))
        raise ValueError("missing (NaN or infinite) values in " + "; ".join(parts)
                         + ". Pass missing='drop' to drop those rows.")
    if n_dropped:
        keep = ~drop
        y, s, X, Z = y[keep], s[keep], X[keep], Z[keep]
    s_arr = check_binary(s.to_numpy(), f"the selection indicator {s.name!r}")
    n1 = int(s_arr.sum())
    n0 = len(s_arr) - n1
    if n1 == 0:
        raise ValueError(f"no selected rows: the selection indicator {s.name!r} is 0 in all "
                         f"{n0} rows, so the outcome equation cannot be estimated")
    if n0 == 0:
        raise ValueError(f"no unselected rows: the selection indicator {s.name!r} is 1 in all "
                         f"{n1} rows; there is no selection to model (use OLS)")
    check_full_rank(Z.to_numpy(), list(Z.columns), "the selection design (exog_select)")
    sel = s_arr == 1
    X1 = X.to_numpy()[sel]
    if n1 <= X.shape[1] + 1:
        raise ValueError(f"only {n1} selected rows for {X.shape[1]} outcome regressors plus "
                         "the selection correction")
    check_full_rank(X1, list(X.columns),
                    f"the outcome design (exog) over the {n1} selected rows")
    return y, X, pd.Series(s_arr, index=s.index, name=s.name), Z, n_dropped


def _lhs_series(formula: str, data: pd.DataFrame, missing: str):
    lhs = formula.split("~", 1)[0].strip()
    if not lhs:
        raise ValueError(f"the formula {formula!r} has no left-hand side")
    if lhs in data.columns:
        return data[lhs].rename(lhs)
    y, _, name = formula_design(lhs + " ~ 1", data, missing)
    return y.rename(name)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------

class Heckman(LikelihoodModel):
    r"""Heckman sample selection model (Tobit type 2).

    .. math::

        s_i^* = z_i'\gamma + u_i,\quad s_i = 1[s_i^* > 0],\qquad
        y_i = x_i'\beta + e_i \text{ observed iff } s_i = 1,

    with :math:`(u_i, e_i)` bivariate normal, :math:`var(u) = 1`,
    :math:`var(e) = \sigma^2`, :math:`corr = \rho`. Log-likelihood::

        s_i = 0:  log Phi(-z'gamma)
        s_i = 1:  log Phi((z'gamma + rho u_i) / sqrt(1 - rho^2))
                  - u_i^2/2 - log sigma - log(2 pi)/2,   u_i = (y_i - x'beta)/sigma

    Parameters
    ----------
    endog : array_like or Series, (n,)
        Outcome ``y``. Its values where ``endog_select == 0`` are ignored
        (they may be NaN).
    exog : array_like or DataFrame, (n, k_x)
        Outcome regressors ``x`` (include a constant yourself, or use
        :meth:`from_formula`). Only the selected rows must be finite.
    endog_select : array_like or Series, (n,)
        Selection indicator ``s``, 0/1 or boolean.
    exog_select : array_like or DataFrame, (n, k_z)
        Selection regressors ``z``. For identification other than by the
        normality of the errors, ``z`` should contain at least one variable
        excluded from ``x``.
    missing : {"none", "drop", "raise"}
        Rows with NaN in ``s`` or ``z``, or in ``y`` or ``x`` where ``s = 1``,
        raise a ``ValueError`` naming the columns ("none", "raise") or are
        dropped ("drop"; the number is ``model.n_dropped``).

    Attributes
    ----------
    k_select, k_outcome : int
        Columns of ``z`` and ``x``.
    nobs, nobs_selected, nobs_unselected : int
    exog_select_names : list of str
    param_names : list of str
        ``selection:<z term>``..., ``outcome:<x term>``..., ``athrho``,
        ``lnsigma`` (the ML parameters; ``rho = tanh(athrho)``,
        ``sigma = exp(lnsigma)``).

    Notes
    -----
    Parameter vectors given to :meth:`loglike`, :meth:`score`,
    :meth:`hessian` are on the estimation scale, in ``param_names`` order.
    The score is the 1-D gradient and the Hessian the square matrix in that
    order, both analytic (:mod:`econderiv.models._heckman_kernels`).
    Array inputs are named ``const``/``x1``... (outcome) and
    ``const``/``z1``... (selection); pandas inputs keep their names, and
    results are always pandas.

    Examples
    --------
    >>> from econderiv import Heckman, datasets
    >>> df = datasets.load("mroz87")
    >>> df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    >>> mod = Heckman.from_formula(
    ...     "wage ~ exper + I(exper**2) + educ + city", df,
    ...     selection="lfp ~ age + I(age**2) + faminc + kids + educ")
    >>> res = mod.fit()                      # ML
    >>> res2 = mod.fit(method="twostep")     # Heckman's two-step
    """

    def __init__(self, endog, exog, endog_select, exog_select, missing: str = "none",
                 **kwargs):
        y, X, s, Z, n_dropped = _prepare(endog, exog, endog_select, exog_select, missing)
        super().__init__(y, X, missing="none", **kwargs)
        self.n_dropped = n_dropped
        self.endog_select = s.to_numpy()
        self.exog_select = Z.to_numpy()
        self.endog_select_name = str(s.name)
        self.exog_select_names = [str(c) for c in Z.columns]
        self.row_labels = y.index
        self.k_select = Z.shape[1]
        self.k_outcome = X.shape[1]
        self.k_params = self.k_select + self.k_outcome + 2
        self.nobs = float(len(y))
        self.nobs_selected = int(self.endog_select.sum())
        self.nobs_unselected = int(len(y) - self.nobs_selected)
        self._sd = K.SelectionData.from_arrays(self.endog, self.exog, self.endog_select,
                                               self.exog_select)
        self.param_names = (prefixed("selection", self.exog_select_names)
                            + prefixed("outcome", self.exog_names) + ["athrho", "lnsigma"])
        self.data.param_names = self.param_names
        self.df_model = float(self.k_outcome - self._outcome_has_const())
        self.df_resid = self.nobs - self.k_params
        self.formula_select = None
        self._design_info = None
        self._design_info_select = None
        self._twostep_cache = None

    # -- construction ------------------------------------------------------

    @classmethod
    def from_formula(cls, formula: str, data: pd.DataFrame, selection: str,
                     missing: str = "drop", subset=None, **kwargs) -> "Heckman":
        """Build the model from two formulas (patsy, as statsmodels).

        Parameters
        ----------
        formula : str
            Outcome equation, e.g. ``"wage ~ exper + I(exper**2) + educ"``.
        data : DataFrame
        selection : str
            Selection equation, e.g. ``"lfp ~ age + faminc + kids"``; its
            left-hand side is the 0/1 (or boolean) selection indicator.
        missing : {"drop", "none", "raise"}
            As in :class:`Heckman`; ``"drop"`` (the statsmodels formula
            default) drops incomplete rows, where the outcome and its
            regressors are needed only for selected rows.
        subset : array_like of bool, optional
            Rows of ``data`` to use.
        """
        import patsy

        if subset is not None:
            data = data.loc[np.asarray(subset, dtype=bool)]
        if "~" not in selection:
            raise ValueError("selection must be a formula with the selection indicator on "
                             f"the left, e.g. 'lfp ~ age + educ'; got {selection!r}")
        y, X, yname = formula_design(formula, data, missing)
        if y is None:
            raise ValueError(f"the outcome formula {formula!r} has no left-hand side")
        _, Z, _ = formula_design(selection.split("~", 1)[1], data, missing)
        s = _lhs_series(selection, data, missing)
        mod = cls(y.rename(yname), X, s, Z, missing=missing, **kwargs)
        na = patsy.NAAction(NA_types=[])
        mod.formula = formula
        mod.formula_select = selection
        mod._design_info = patsy.dmatrix(formula.split("~", 1)[1], data,
                                         NA_action=na).design_info
        mod._design_info_select = patsy.dmatrix(selection.split("~", 1)[1], data,
                                                NA_action=na).design_info
        return mod

    # -- likelihood --------------------------------------------------------

    def loglike(self, params) -> float:
        """Total log-likelihood (see the class notes)."""
        return K.loglike(params, self._sd)

    def loglikeobs(self, params) -> np.ndarray:
        """Log-likelihood per observation, shape (nobs,)."""
        return K.loglikeobs(params, self._sd)

    def score(self, params) -> np.ndarray:
        """Analytic gradient, shape (k_params,), in ``param_names`` order."""
        return K.score(params, self._sd)

    def score_obs(self, params) -> np.ndarray:
        """Analytic per-observation score, shape (nobs, k_params)."""
        return K.score_obs(params, self._sd)

    def hessian(self, params) -> np.ndarray:
        """Analytic Hessian, shape (k_params, k_params), ``param_names`` order."""
        return K.hessian(params, self._sd)

    def information(self, params) -> np.ndarray:
        """Observed information, minus the Hessian."""
        return -self.hessian(params)

    # -- helpers -----------------------------------------------------------

    def _outcome_has_const(self) -> bool:
        X1 = self._sd.X1
        return bool(np.any(np.all(X1 == X1[:1], axis=0) & (X1[0] != 0)))

    def _twostep(self) -> K.TwoStep:
        if self._twostep_cache is None:
            self._twostep_cache = K.heckman_twostep(self._sd.y1, self._sd.X1,
                                                    self.endog_select, self.exog_select)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        """ML start: the two-step estimates, rho clamped into (-0.99, 0.99)."""
        ts = self._twostep()
        kz, kx = self.k_select, self.k_outcome
        rho = float(np.clip(ts.rho_untruncated, -0.99, 0.99))
        sigma = ts.sigma if np.isfinite(ts.sigma) and ts.sigma > 0 else float(np.std(ts.resid))
        return np.concatenate([ts.params[:kz + kx], [np.arctanh(rho), np.log(sigma)]])

    def _exclusion_restriction(self) -> bool:
        """True if some selection regressor is not in the span of the outcome ones."""
        X1, Z1 = self._sd.X1, self._sd.Z1
        coef = np.linalg.lstsq(X1, Z1, rcond=None)[0]
        resid = Z1 - X1 @ coef
        scale = np.sqrt((Z1 * Z1).sum(axis=0)) + 1e-300
        return bool(np.any(np.sqrt((resid * resid).sum(axis=0)) / scale > 1e-6))

    def _warn_collinear_imr(self, ts: K.TwoStep) -> None:
        excluded = self._exclusion_restriction()
        r2 = ts.imr_r2
        # Without an exclusion restriction lambda is a smooth function of the
        # outcome regressors and the correction rests on normality alone: always
        # worth a warning. With one, only when the collinearity is severe.
        if r2 >= 0.99 or not excluded:
            why = ("every selection regressor also appears in the outcome equation (no "
                   "exclusion restriction), so the correction is identified only by the "
                   "nonlinearity of the probit" if not excluded else
                   "the excluded selection regressors add little variation")
            warnings.warn(
                f"the inverse Mills ratio is nearly collinear with the outcome regressors "
                f"(R-squared {r2:.4f} of lambda on them over the selected rows, variance "
                f"inflation {1 / max(1 - r2, 1e-16):.0f}): {why}. rho, sigma and lambda "
                "will be poorly determined and the ML likelihood may be flat or multimodal. "
                "Add to the selection equation a variable that affects selection but not "
                "the outcome.", CollinearityWarning, stacklevel=4)

    # -- fitting -----------------------------------------------------------

    def fit(self, start_params=None, method: str = "mle", maxiter: int = 100,
            cov_type: str = "nonrobust", cov_kwds: dict | None = None, disp: bool = False,
            global_search: bool = False, grid=None, optimizer: str = "trust_newton",
            **kwargs) -> "HeckmanResults":
        """Estimate the model.

        Parameters
        ----------
        start_params : array_like, optional
            ML start on the estimation scale (``param_names`` order). Default:
            the two-step estimates with rho clamped into (-0.99, 0.99).
        method : {"mle", "twostep"}
            Full maximum likelihood, or Heckman's two-step estimator
            (probit, then OLS with the inverse Mills ratio; covariance
            corrected for the estimated regressor as in Greene, with the
            cross-covariance of the two steps).
        maxiter : int
            Iterations of the optimizer (ML).
        cov_type : {"nonrobust", "HC0", "cluster"}
            ML only: inverse observed information, sandwich with the analytic
            scores, or cluster-robust (``cov_kwds={"groups": ...}``; statsmodels'
            CRV1 small-sample factor, ``use_correction=False`` to drop it).
        cov_kwds : dict, optional
        disp : bool
            Print the optimizer's convergence message.
        global_search : bool
            ML only. After the local maximum, profile the log-likelihood over
            a grid of rho (:meth:`HeckmanResults.profile_loglike`), restart the
            full ML from every local maximum of the profile, and return the
            highest maximum found (``res.global_search`` lists them).
        grid : array_like, optional
            Grid of rho for ``global_search``.
        optimizer : str
            ``"trust_newton"`` (default: scipy's ``trust-exact`` with the
            exact Hessian, finished by Newton steps), ``"newton_trust"``
            (line-searched modified Newton), or any ``LikelihoodModel.fit``
            method ("bfgs", "newton", ...).

        Returns
        -------
        HeckmanResults
        """
        method = method.lower()
        if method in ("twostep", "two-step", "2step"):
            if cov_type != "nonrobust":
                raise ValueError(
                    f"cov_type={cov_type!r} is not available with method='twostep': "
                    "Heckman's corrected covariance assumes homoskedastic normal errors "
                    "(as Stata's heckman, twostep). Use method='mle' with a robust cov_type.")
            if global_search:
                raise ValueError("global_search applies to method='mle'")
            return self._fit_twostep()
        if method not in ("mle", "ml"):
            raise ValueError(f"method must be 'mle' or 'twostep', got {method!r}")
        ts = self._twostep()
        self._warn_collinear_imr(ts)
        res = self._fit_mle(start_params, maxiter, cov_type, cov_kwds, disp, optimizer,
                            **kwargs)
        if global_search:
            res = self._global_search(res, grid, maxiter, cov_type, cov_kwds, optimizer,
                                      **kwargs)
        res._warn_fit_diagnostics()
        return res

    def _fit_mle(self, start_params, maxiter, cov_type, cov_kwds, disp, optimizer, **kwargs):
        start = self.start_params if start_params is None else np.asarray(start_params, float)
        if start.shape != (self.k_params,):
            raise ValueError(f"start_params must have {self.k_params} elements "
                             f"({', '.join(self.param_names)}), got shape {start.shape}")
        if not np.isfinite(self.loglike(start)):
            raise ValueError("the log-likelihood is not finite at start_params; give start "
                             "values with a positive sigma and finite coefficients")
        fit_funcs = {"trust_newton": _trust_newton, "newton_trust": newton_trust}
        with warnings.catch_warnings():
            # statsmodels' own messages are replaced by ours, which say what to try
            warnings.simplefilter("ignore", ConvergenceWarning)
            from statsmodels.tools.sm_exceptions import HessianInversionWarning
            warnings.simplefilter("ignore", HessianInversionWarning)
            if optimizer in fit_funcs:
                kwargs = dict(kwargs, extra_fit_funcs=fit_funcs)
            mlefit = super().fit(start_params=start, method=optimizer, maxiter=maxiter,
                                 disp=disp, warn_convergence=False, **kwargs)
        res = HeckmanResults(self, mlefit.params, mlefit.normalized_cov_params,
                             method="mle", cov_type=cov_type,
                             cov_kwds={} if cov_kwds is None else cov_kwds)
        res.mle_retvals = mlefit.mle_retvals
        res.mle_settings = mlefit.mle_settings
        res.start_params = start
        return HeckmanResultsWrapper(res)

    def _fit_twostep(self) -> "HeckmanResults":
        ts = self._twostep()
        self._warn_collinear_imr(ts)
        if ts.rho != ts.rho_untruncated:
            warnings.warn(
                f"the two-step estimate of rho, {ts.rho_untruncated:.4f}, is outside "
                f"[-1, 1]; it is truncated to {ts.rho:.0f} and sigma set to |lambda| "
                f"= {ts.sigma:.4g} (as Stata does). The model may be misspecified; compare "
                "with method='mle'.", RuntimeWarning, stacklevel=3)
        if not ts.probit_converged:
            warnings.warn("the first-step probit did not converge (separation?): check the "
                          "selection regressors", ConvergenceWarning, stacklevel=3)
        view = copy.copy(self)
        view.data = copy.copy(self.data)
        names = (prefixed("selection", self.exog_select_names)
                 + prefixed("outcome", self.exog_names) + ["lambda"])
        view.data.param_names = names
        view.param_names = names
        res = HeckmanResults(view, ts.params, ts.cov, method="twostep", twostep=ts)
        return HeckmanResultsWrapper(res)

    # -- profile likelihood and global search --------------------------------

    def _fit_fixed_athrho(self, athrho: float, start: np.ndarray, maxiter: int = 100):
        """Maximise over all parameters but athrho (fixed); returns (params, llf, ok)."""
        k = self.k_params
        free = np.r_[0:k - 2, k - 1]
        n = self.nobs

        def full(p):
            x = np.empty(k)
            x[free] = p
            x[k - 2] = athrho
            return x

        f = lambda p: -self.loglike(full(p)) / n
        g = lambda p: -self.score(full(p))[free] / n
        h = lambda p: -self.hessian(full(p))[np.ix_(free, free)] / n
        p0 = np.asarray(start, float)[free]
        with np.errstate(all="ignore"):
            if not np.isfinite(f(p0)):
                return full(p0), -np.inf, False
            p, info = _trust_newton(f, g, p0, maxiter=maxiter, hess=h)
        x = full(p)
        return x, self.loglike(x), bool(info["converged"])

    def _profile_rho(self, grid, center: np.ndarray, maxiter: int = 100) -> "ProfileLikelihood":
        grid = np.unique(np.asarray(_default_rho_grid() if grid is None else grid, float))
        if np.any(np.abs(grid) >= 1) or grid.size == 0:
            raise ValueError("the rho grid must lie strictly inside (-1, 1)")
        ts = self._twostep()
        kz, kx = self.k_select, self.k_outcome
        cold = np.concatenate([ts.params[:kz + kx], [0.0, np.log(ts.sigma)]])
        rho_c = float(np.tanh(center[-2]))
        order_up = [i for i in range(grid.size) if grid[i] >= rho_c]
        order_dn = [i for i in range(grid.size) if grid[i] < rho_c][::-1]
        rows: dict[int, tuple] = {}
        for path in (order_up, order_dn):
            warm = center.copy()
            for i in path:
                a = float(np.arctanh(grid[i]))
                best = None
                for start in (warm, cold):
                    st = start.copy()
                    st[-2] = a
                    x, llf, ok = self._fit_fixed_athrho(a, st, maxiter)
                    if best is None or llf > best[1]:
                        best = (x, llf, ok)
                rows[i] = best
                warm = best[0]
        recs = []
        for i in range(grid.size):
            x, llf, ok = rows[i]
            recs.append([grid[i], llf, ok] + list(x))
        frame = ProfileLikelihood(recs, columns=["rho", "llf", "converged"]
                                  + list(self.param_names))
        return frame

    def _global_search(self, res, grid, maxiter, cov_type, cov_kwds, optimizer, **kwargs):
        prof = self._profile_rho(grid, np.asarray(res.params, float), maxiter)
        prof.attrs.update(mle_rho=float(np.tanh(res.params.iloc[-2])), mle_llf=res.llf)
        llf = prof["llf"].to_numpy()
        # local maxima of the profile over the grid (endpoints included)
        peaks = [i for i in range(len(llf))
                 if (i == 0 or llf[i] >= llf[i - 1]) and (i == len(llf) - 1 or llf[i] >= llf[i + 1])]
        candidates = [(float("nan"), res)]
        for i in peaks:
            if llf[i] <= res.llf + 1e-6:
                continue
            start = prof.iloc[i][list(self.param_names)].to_numpy(float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    r = self._fit_mle(start, maxiter, cov_type, cov_kwds, False, optimizer,
                                      **kwargs)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            candidates.append((float(prof["rho"].iloc[i]), r))
        rows = []
        for start_rho, r in candidates:
            rows.append({"start_rho": start_rho, "rho": float(np.tanh(r.params.iloc[-2])),
                         "llf": r.llf, "converged": r.converged,
                         "max_abs_score": float(np.max(np.abs(self.score(np.asarray(r.params))))),
                         "hessian_negdef": r._hessian_negdef})
        table = pd.DataFrame(rows)
        # the highest genuine maximum (converged, negative definite Hessian)
        ok = table["converged"] & table["hessian_negdef"]
        pick = table["llf"].where(ok, -np.inf).idxmax() if ok.any() else table["llf"].idxmax()
        best = candidates[int(pick)][1]
        table["chosen"] = table.index == pick
        best._results.global_search = table
        prof.attrs.update(mle_rho=float(np.tanh(best.params.iloc[-2])), mle_llf=best.llf)
        best._results._profile_cache[("rho", None if grid is None else tuple(np.ravel(grid)))] = prof
        if int(pick) != 0:
            warnings.warn(
                f"global_search: the local maximum reached from the start (llf "
                f"{res.llf:.4f}, rho {float(np.tanh(res.params.iloc[-2])):.4f}) is not the "
                f"highest; returning the maximum with llf {best.llf:.4f}, rho "
                f"{float(np.tanh(best.params.iloc[-2])):.4f}. See res.global_search.",
                RuntimeWarning, stacklevel=3)
        return best

    # -- prediction --------------------------------------------------------

    def _designs_from(self, exog, exog_select, transform: bool):
        """Outcome and selection designs for prediction (None keeps the model's)."""
        import patsy

        X = Z = None
        index = None
        if exog is not None and transform and self._design_info is not None \
                and isinstance(exog, pd.DataFrame):
            na = patsy.NAAction(NA_types=[])
            (X,) = patsy.build_design_matrices([self._design_info], exog, NA_action=na,
                                               return_type="dataframe")
            if exog_select is None:
                exog_select = exog
            index = exog.index
        elif exog is not None:
            X = exog
        if exog_select is not None and transform and self._design_info_select is not None \
                and isinstance(exog_select, pd.DataFrame):
            na = patsy.NAAction(NA_types=[])
            (Z,) = patsy.build_design_matrices([self._design_info_select], exog_select,
                                               NA_action=na, return_type="dataframe")
            index = exog_select.index if index is None else index
        elif exog_select is not None:
            Z = exog_select
        for obj in (X, Z):
            if index is None and isinstance(obj, (pd.DataFrame, pd.Series)):
                index = obj.index
        if X is not None:
            X = np.asarray(X, float)
            X = X[None, :] if X.ndim == 1 else X
            if X.shape[1] != self.k_outcome:
                raise ValueError(f"exog has {X.shape[1]} columns, the outcome equation has "
                                 f"{self.k_outcome} ({', '.join(self.exog_names)})")
        if Z is not None:
            Z = np.asarray(Z, float)
            Z = Z[None, :] if Z.ndim == 1 else Z
            if Z.shape[1] != self.k_select:
                raise ValueError(f"exog_select has {Z.shape[1]} columns, the selection "
                                 f"equation has {self.k_select} "
                                 f"({', '.join(self.exog_select_names)})")
        if X is not None and Z is not None and len(X) != len(Z):
            raise ValueError(f"exog has {len(X)} rows but exog_select has {len(Z)}")
        return X, Z, index


def _default_rho_grid() -> np.ndarray:
    """Every 0.05 in [-0.95, 0.95], plus +-0.975, +-0.99, +-0.995."""
    core = np.round(np.linspace(-0.95, 0.95, 39), 10)
    edge = np.array([0.975, 0.99, 0.995])
    return np.unique(np.concatenate([core, edge, -edge]))


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class HeckmanResults(LikelihoodModelResults):
    """Results of :class:`Heckman` (ML or two-step).

    Parameters are on the estimation scale: ML ``(selection:..., outcome:...,
    athrho, lnsigma)``; two-step ``(selection:..., outcome:..., lambda)``
    where ``lambda`` is the coefficient on the inverse Mills ratio
    (``= rho sigma``). ``ancillary`` gives rho, sigma and lambda on their
    natural scale.

    Attributes
    ----------
    method : {"mle", "twostep"}
    llf : float
        Log-likelihood (NaN for the two-step estimator).
    rho, sigma, lambda_ : float
    ancillary : DataFrame
        Indexed ``rho``, ``sigma``, ``lambda``: coefficient, delta-method
        standard error, z, p, interval (two-step: rho and sigma are the
        consistent estimators, without standard errors, as in Stata).
    lr_test_rho : LRTest
        ML: likelihood-ratio test of rho = 0 against separate probit and OLS.
    converged : bool
    global_search : DataFrame or None
        After ``fit(global_search=True)``, the maxima found.
    """

    def __init__(self, model, params, normalized_cov_params, method="mle", twostep=None,
                 **kwargs):
        self.method = method
        self._twostep_results = twostep
        self.nobs = model.nobs
        self.nobs_selected = model.nobs_selected
        self.nobs_unselected = model.nobs_unselected
        self.df_model = model.df_model
        self.df_resid = model.df_resid
        self.k_params = len(params)
        self.global_search = None
        self._profile_cache = {}
        self.mle_retvals = None
        if normalized_cov_params is None:  # singular Hessian: no standard errors
            normalized_cov_params = np.full((len(params), len(params)), np.nan)
        super().__init__(model, params, normalized_cov_params, scale=1.0, **kwargs)
        if method == "twostep":
            self.cov_type = "nonrobust"
            self.cov_kwds = {"description": "Heckman's two-step covariance, corrected for "
                                            "the estimated inverse Mills ratio"}

    # -- scalars -----------------------------------------------------------

    @cache_readonly
    def llf(self) -> float:
        if self.method == "twostep":
            return np.nan
        return self.model.loglike(self.params)

    @cache_readonly
    def aic(self) -> float:
        """``-2 llf + 2 k``."""
        return -2.0 * self.llf + 2.0 * self.k_params

    @cache_readonly
    def bic(self) -> float:
        """``-2 llf + k log(nobs)``."""
        return -2.0 * self.llf + np.log(self.nobs) * self.k_params

    @property
    def converged(self) -> bool:
        if self.method == "twostep":
            return bool(self._twostep_results.probit_converged)
        return bool(self.mle_retvals and self.mle_retvals.get("converged", False))

    @cache_readonly
    def _hessian_negdef(self) -> bool:
        if self.method == "twostep":
            return True
        H = self.model.hessian(self.params)
        return bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).max() < 0)

    def _structural(self):
        """``(gamma, beta, L)`` with ``L = rho sigma`` and the Jacobian of
        ``(gamma, beta, L)`` with respect to ``params`` (rows in that order)."""
        p = np.asarray(self.params, float)
        kz, kx = self.model.k_select, self.model.k_outcome
        gamma, beta = p[:kz], p[kz:kz + kx]
        J = np.zeros((kz + kx + 1, len(p)))
        J[:kz + kx, :kz + kx] = np.eye(kz + kx)
        if self.method == "twostep":
            L = p[-1]
            J[-1, -1] = 1.0
        else:
            rho, sigma = np.tanh(p[-2]), np.exp(p[-1])
            L = rho * sigma
            J[-1, -2] = (1 - rho * rho) * sigma
            J[-1, -1] = L
        return gamma, beta, float(L), J

    @property
    def rho(self) -> float:
        return float(self.ancillary.loc["rho", "coef"])

    @property
    def sigma(self) -> float:
        return float(self.ancillary.loc["sigma", "coef"])

    @property
    def lambda_(self) -> float:
        return float(self.ancillary.loc["lambda", "coef"])

    @cache_readonly
    def ancillary(self) -> pd.DataFrame:
        p = np.asarray(self.params, float)
        cov = np.asarray(self.cov_params())
        k = len(p)
        if self.method == "twostep":
            ts = self._twostep_results
            e = np.zeros(k)
            e[-1] = 1.0
            frame = ancillary_frame({"rho": (ts.rho, np.full(k, np.nan)),
                                     "sigma": (ts.sigma, np.full(k, np.nan)),
                                     "lambda": (p[-1], e)}, cov)
            return frame
        rho, sigma = np.tanh(p[-2]), np.exp(p[-1])
        g_rho = np.zeros(k)
        g_rho[-2] = 1 - rho * rho
        g_sig = np.zeros(k)
        g_sig[-1] = sigma
        g_lam = np.zeros(k)
        g_lam[-2] = (1 - rho * rho) * sigma
        g_lam[-1] = rho * sigma
        return ancillary_frame({"rho": (rho, g_rho), "sigma": (sigma, g_sig),
                                "lambda": (rho * sigma, g_lam)}, cov)

    @cache_readonly
    def llf_restricted(self) -> float:
        """Log-likelihood with rho = 0: probit + normal regression (ML sigma)."""
        ts = self.model._twostep()
        sd = self.model._sd
        beta = np.linalg.lstsq(sd.X1, sd.y1, rcond=None)[0]
        e = sd.y1 - sd.X1 @ beta
        n1 = len(e)
        ll_ols = -0.5 * n1 * (np.log(2 * np.pi * (e @ e) / n1) + 1.0)
        return ts.probit_llf + ll_ols

    @cache_readonly
    def lr_test_rho(self):
        """LR test of independent equations (rho = 0), chi2(1), as Stata prints it."""
        if self.method == "twostep":
            return None
        return lr_test(self.llf, self.llf_restricted, 1, "indep. eqns. (rho = 0)")

    @cache_readonly
    def wald_outcome(self):
        """Wald chi2 that all outcome slopes are zero: (stat, df, pvalue)."""
        kz, kx = self.model.k_select, self.model.k_outcome
        X1 = self.model._sd.X1
        const = np.all(X1 == X1[:1], axis=0)
        idx = [kz + j for j in range(kx) if not const[j]]
        if not idx:
            return (np.nan, 0, np.nan)
        b = np.asarray(self.params, float)[idx]
        V = np.asarray(self.cov_params())[np.ix_(idx, idx)]
        stat = float(b @ np.linalg.solve(V, b))
        return stat, len(idx), float(stats.chi2.sf(stat, len(idx)))

    # -- diagnostics -------------------------------------------------------

    def _warn_fit_diagnostics(self) -> None:
        if self.method != "mle":
            return
        rho = float(np.tanh(np.asarray(self.params)[-2]))
        g = self.model.score(np.asarray(self.params, float))
        if not self.converged:
            it = self.mle_retvals.get("iterations") if self.mle_retvals else None
            warnings.warn(
                f"the ML optimizer did not converge after {it} iterations (max |score| "
                f"{np.max(np.abs(g)):.3g}, rho {rho:.4f}). Try maxiter=500, "
                "global_search=True, start_params from fit(method='twostep'), or rescale "
                "regressors with large magnitudes.", ConvergenceWarning, stacklevel=3)
        elif not self._hessian_negdef:
            warnings.warn(
                "the Hessian at the ML solution is not negative definite: this is not a "
                "strict maximum (flat likelihood or rho at the boundary); standard errors "
                "are unreliable. Try global_search=True or an exclusion restriction.",
                ConvergenceWarning, stacklevel=3)
        if abs(rho) >= _BOUNDARY_RHO or (abs(rho) >= 0.99 and not
                                          (self.converged and self._hessian_negdef)):
            warn_boundary_rho(rho, threshold=0.0)

    # -- prediction --------------------------------------------------------

    def predict(self, exog=None, exog_select=None, which: str = "xb", transform: bool = True):
        """Predictions at the estimation sample or at new regressors.

        Parameters
        ----------
        exog, exog_select : array_like or DataFrame, optional
            Outcome and selection regressors. For a model built by
            :meth:`Heckman.from_formula`, a DataFrame of raw data is passed
            through the formulas (``exog`` alone serves both equations). None:
            the estimation sample.
        which : {"xb", "ycond", "yexpected", "psel", "mills", "xbsel"}
            ``"xb"``: ``x'beta``; ``"ycond"``: ``E[y | s = 1] = x'beta +
            rho sigma lambda(z'gamma)``; ``"yexpected"``: ``P(s = 1) E[y | s =
            1]`` (Stata's ``yexpected``, y taken as 0 when unselected);
            ``"psel"``: ``Phi(z'gamma)``; ``"mills"``: ``lambda(z'gamma) =
            phi/Phi``; ``"xbsel"``: the selection index ``z'gamma``.
        transform : bool
            Apply the formulas to DataFrame input (formula models).

        Returns
        -------
        Series (indexed like the data) of predictions.
        """
        if which not in _PREDICT:
            raise ValueError(f"which must be one of {_PREDICT}, got {which!r}")
        gamma, beta, L, _ = self._structural()
        model = self.model
        if exog is None and exog_select is None:
            X, Z = model.exog, model.exog_select
            index = model.row_labels
        else:
            X, Z, index = model._designs_from(exog, exog_select, transform)
            if X is None and which in ("xb", "ycond", "yexpected"):
                raise ValueError(f"which={which!r} needs exog (the outcome regressors)")
            if Z is None and which in ("ycond", "yexpected", "psel", "mills", "xbsel"):
                raise ValueError(f"which={which!r} needs exog_select (the selection "
                                 "regressors)")
        with np.errstate(invalid="ignore"):
            if which == "xb":
                out = X @ beta
            else:
                w = Z @ gamma
                if which == "xbsel":
                    out = w
                elif which == "psel":
                    out = ndtr(w)
                elif which == "mills":
                    out = mills_ratio(w)
                else:
                    out = X @ beta + L * mills_ratio(w)
                    if which == "yexpected":
                        out = ndtr(w) * out
        out = np.asarray(out, float)
        if index is None or len(index) != len(out):
            index = pd.RangeIndex(len(out))
        return pd.Series(out, index=index, name=which)

    # -- marginal effects --------------------------------------------------

    def get_margeff(self, which: str = "ycond", at: str = "overall", variables=None,
                    sample: str = "all") -> "HeckmanMargins":
        r"""Marginal effects with delta-method standard errors.

        For a regressor with coefficient ``beta_k`` in the outcome equation
        and ``gamma_k`` in the selection equation (zero where absent; terms
        are matched by name), ``w = z'gamma``, ``L = rho sigma``,
        ``delta(w) = lambda(w)(lambda(w) + w)``:

        * ``"ycond"``: ``dE[y|s=1]/dx_k = beta_k - L gamma_k delta(w)`` --
          the direct effect plus the *selection channel*;
        * ``"yexpected"``: ``d{Phi(w) E[y|s=1]}/dx_k = Phi(w) beta_k +
          phi(w) gamma_k (x'beta - L w)``;
        * ``"psel"``: ``phi(w) gamma_k``;  ``"xb"``: ``beta_k``.

        Parameters
        ----------
        which : {"ycond", "yexpected", "psel", "xb"}
        at : {"overall", "mean"}
            Average of the effects over the rows, or the effect at the means
            of the regressors.
        variables : list of str, optional
            Terms to report (default: every non-constant term of either
            equation, outcome terms first).
        sample : {"all", "selected"}
            Rows over which to average (or take means).

        Returns
        -------
        HeckmanMargins
            ``margeff``, ``margeff_se``, ``summary_frame()``, and
            ``decomposition`` (``ycond``: direct and selection channels;
            ``yexpected``: conditional and participation parts).

        Notes
        -----
        The Jacobian for the delta method is analytic. Derivatives are
        taken term by term (``exper`` and ``I(exper**2)`` are separate
        terms) and dummies are treated as continuous.
        """
        if which not in ("ycond", "yexpected", "psel", "xb"):
            raise ValueError(f"which must be 'ycond', 'yexpected', 'psel' or 'xb', got {which!r}")
        if at not in ("overall", "mean"):
            raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
        if sample not in ("all", "selected"):
            raise ValueError(f"sample must be 'all' or 'selected', got {sample!r}")
        model = self.model
        xnames, znames = list(model.exog_names), list(model.exog_select_names)
        X, Z = np.asarray(model.exog, float), np.asarray(model.exog_select, float)
        rows = np.isfinite(X).all(axis=1) & np.isfinite(Z).all(axis=1)
        if sample == "selected":
            rows &= model.endog_select == 1
        X, Z = X[rows], Z[rows]
        n_used = int(rows.sum())
        if n_used == 0:
            raise ValueError("no rows with finite regressors to average over")
        # constant columns have no marginal effect
        xconst = np.all(X == X[:1], axis=0)
        zconst = np.all(Z == Z[:1], axis=0)
        if at == "mean":
            X, Z = X.mean(axis=0, keepdims=True), Z.mean(axis=0, keepdims=True)
        candidates = [n for j, n in enumerate(xnames) if not xconst[j]]
        candidates += [n for j, n in enumerate(znames) if not zconst[j] and n not in candidates]
        if which == "psel":
            candidates = [n for n in candidates if n in znames]
        if which == "xb":
            candidates = [n for n in candidates if n in xnames]
        if variables is None:
            variables = candidates
        else:
            variables = [variables] if isinstance(variables, str) else list(variables)
            unknown = [v for v in variables if v not in xnames and v not in znames]
            if unknown:
                raise ValueError(f"unknown variables {unknown}; terms are "
                                 f"{sorted(set(xnames) | set(znames))}")
        gamma, beta, L, Jp = self._structural()
        kz, kx = len(gamma), len(beta)
        w = Z @ gamma
        m = X @ beta
        delta = -mills_ratio_deriv(w, 1)
        ddelta = -mills_ratio_deriv(w, 2)
        Phi, phi = ndtr(w), stats.norm.pdf(w)
        effects, jac, parts = [], [], []
        for v in variables:
            kb = xnames.index(v) if v in xnames else None
            kg = znames.index(v) if v in znames else None
            b = beta[kb] if kb is not None else 0.0
            g = gamma[kg] if kg is not None else 0.0
            Js = np.zeros(kz + kx + 1)  # d effect / d(gamma, beta, L)
            if which == "xb":
                eff = b
                if kb is not None:
                    Js[kz + kb] = 1.0
                part = (b, 0.0)
            elif which == "psel":
                eff = np.mean(phi * g)
                Js[:kz] = np.mean((-g * w * phi)[:, None] * Z, axis=0)
                Js[kg] += np.mean(phi)
                part = (0.0, eff)
            elif which == "ycond":
                sel_part = -L * g * np.mean(delta)
                eff = b + sel_part
                if kb is not None:
                    Js[kz + kb] = 1.0
                Js[:kz] = -L * g * np.mean(ddelta[:, None] * Z, axis=0)
                if kg is not None:
                    Js[kg] += -L * np.mean(delta)
                Js[-1] = -g * np.mean(delta)
                part = (b, sel_part)
            else:  # yexpected
                c = m - L * w
                cond_part = np.mean(Phi * (b - L * g * delta))
                eff = np.mean(Phi * b + phi * g * c)
                if kb is not None:
                    Js[kz + kb] += np.mean(Phi)
                Js[kz:kz + kx] += g * np.mean(phi[:, None] * X, axis=0)
                Js[:kz] += np.mean((phi * b - g * phi * (w * c + L))[:, None] * Z, axis=0)
                if kg is not None:
                    Js[kg] += np.mean(phi * c)
                Js[-1] = -g * np.mean(phi * w)
                part = (cond_part, eff - cond_part)
            effects.append(float(eff))
            jac.append(Js @ Jp)
            parts.append(part)
        jac = np.array(jac).reshape(len(variables), -1)
        cov = jac @ np.asarray(self.cov_params()) @ jac.T
        labels = {"ycond": ("direct", "selection"), "yexpected": ("conditional", "participation"),
                  "psel": ("direct", "selection"), "xb": ("direct", "selection")}[which]
        decomposition = pd.DataFrame(parts, index=variables, columns=list(labels))
        return HeckmanMargins(pd.Series(effects, index=variables, name="dy/dx"), cov, jac,
                              which, at, decomposition, n_used)

    # -- profile likelihood ------------------------------------------------

    def profile_loglike(self, param: str = "rho", grid=None, maxiter: int = 100
                        ) -> "ProfileLikelihood":
        """Profile log-likelihood: the maximum over all other parameters on a grid.

        Parameters
        ----------
        param : {"rho"}
        grid : array_like, optional
            Values of rho strictly inside (-1, 1). Default: every 0.05 in
            [-0.95, 0.95] and +-0.975, +-0.99, +-0.995.
        maxiter : int
            Iterations per grid point.

        Returns
        -------
        ProfileLikelihood
            A DataFrame with columns ``rho``, ``llf``, ``converged`` and the
            maximising parameters (``athrho`` among them), and a ``plot()``
            method. Each point is maximised from the neighbouring solution
            (sweeping out from the estimate) and from the two-step estimates,
            keeping the better, so that other modes are found.
        """
        if param != "rho":
            raise ValueError(f"profile_loglike supports param='rho', got {param!r}")
        key = (param, None if grid is None else tuple(np.ravel(grid)))
        if key not in self._profile_cache:
            center = np.asarray(self.model.start_params if self.method == "twostep"
                                else self.params, float)
            prof = self.model._profile_rho(grid, center, maxiter)
            if self.method == "mle":
                prof.attrs.update(mle_rho=self.rho, mle_llf=self.llf)
            self._profile_cache[key] = prof
        return self._profile_cache[key]

    # -- summary -----------------------------------------------------------

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """statsmodels Summary: one block per equation, the ancillary block and,
        for ML, the LR test of independent equations (rho = 0)."""
        from statsmodels.iolib.summary import Summary, summary_params

        model = self.model
        is_ml = self.method == "mle"
        wald, wdf, wp = self.wald_outcome
        top_left = [("Dep. Variable:", [str(model.endog_names)]),
                    ("Selection:", [model.endog_select_name]),
                    ("Model:", ["Heckman"]),
                    ("Method:", ["MLE" if is_ml else "Two-step"]),
                    ("Date:", None), ("Time:", None),
                    ("Covariance Type:", [self.cov_type])]
        top_right = [("No. Observations:", [f"{int(self.nobs)}"]),
                     ("Selected:", [f"{self.nobs_selected}"]),
                     ("Nonselected:", [f"{self.nobs_unselected}"]),
                     (f"Wald chi2({wdf}):", [f"{wald:.2f}"]),
                     ("Prob > chi2:", [f"{wp:.4f}"])]
        if is_ml:
            top_right += [("Log-Likelihood:", [f"{self.llf:.3f}"]),
                          ("converged:", [str(self.converged)])]
        else:
            top_right += [("", [""]), ("", [""])]
        smry = Summary()
        if title is None:
            title = ("Heckman selection model" + (" (ML)" if is_ml else " (two-step)"))
        smry.add_table_2cols(self, gleft=top_left, gright=top_right, title=title)
        p = np.asarray(self.params, float)
        bse = np.asarray(self.bse, float)
        tv = np.asarray(self.tvalues, float)
        pv = np.asarray(self.pvalues, float)
        ci = np.asarray(self.conf_int(alpha), float)
        kz, kx = model.k_select, model.k_outcome
        blocks = [("outcome: " + str(model.endog_names), slice(kz, kz + kx), model.exog_names),
                  ("selection: " + model.endog_select_name, slice(0, kz),
                   model.exog_select_names)]
        if is_ml:
            blocks.append(("ancillary (estimation scale)", slice(kz + kx, kz + kx + 2),
                           ["athrho", "lnsigma"]))
        for name, sl, xn in blocks:
            tab = summary_params((self, p[sl], bse[sl], tv[sl], pv[sl], ci[sl]),
                                 yname=name, xname=list(xn), alpha=alpha, use_t=False)
            smry.tables.append(_label_table(tab, name))
        anc = self.ancillary
        anc_ci = anc.iloc[:, 4:6].to_numpy()
        tab = summary_params((self, anc["coef"].to_numpy(), anc["std err"].to_numpy(),
                              anc["z"].to_numpy(), anc["P>|z|"].to_numpy(), anc_ci),
                             yname="ancillary", xname=list(anc.index), alpha=alpha,
                             use_t=False)
        smry.tables.append(_label_table(tab, "natural scale" if is_ml
                                        else "mills (lambda = rho sigma)"))
        notes = []
        if is_ml:
            lr = self.lr_test_rho
            notes.append(f"LR test of indep. eqns. (rho = 0):   chi2(1) = {lr.statistic:.2f}   "
                         f"Prob > chi2 = {lr.pvalue:.4f}")
        else:
            notes.append("rho and sigma are the two-step consistent estimators "
                         "(no standard errors, as in Stata); lambda's standard error is "
                         "corrected for the estimated inverse Mills ratio.")
        if self.global_search is not None:
            notes.append(f"global search over rho: {len(self.global_search)} maxima examined; "
                         "this is the highest.")
        smry.add_extra_txt(notes)
        return smry

    def __repr__(self) -> str:
        return f"<HeckmanResults method={self.method} nobs={int(self.nobs)}>"


def _label_table(table, label: str):
    """Put the block's name in the empty top-left cell of a parameter table."""
    cell = table[0][0]
    cell.data = label
    cell.datatype = "header"
    return table


class HeckmanResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(HeckmanResultsWrapper, HeckmanResults)


# ---------------------------------------------------------------------------
# Marginal effects and profile likelihood containers
# ---------------------------------------------------------------------------

class HeckmanMargins:
    """Marginal effects of a Heckman model (see :meth:`HeckmanResults.get_margeff`).

    Attributes
    ----------
    margeff : Series
    margeff_se : Series
    margeff_cov : DataFrame
    jacobian : ndarray
        d margeff / d params (one row per effect), for the delta method.
    decomposition : DataFrame
        The two channels summing to the effect.
    which, at : str
    n_used : int
    """

    def __init__(self, margeff, cov, jacobian, which, at, decomposition, n_used):
        self.margeff = margeff
        names = list(margeff.index)
        self.margeff_cov = pd.DataFrame(cov, index=names, columns=names)
        self.margeff_se = pd.Series(np.sqrt(np.clip(np.diag(cov), 0, None)), index=names,
                                    name="std err")
        self.jacobian = jacobian
        self.which = which
        self.at = at
        self.decomposition = decomposition
        self.n_used = n_used

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """dy/dx, std err, z, P>|z|, interval, and the two channels."""
        q = stats.norm.ppf(1 - alpha / 2)
        z = self.margeff / self.margeff_se
        frame = pd.DataFrame({
            "dy/dx": self.margeff, "std err": self.margeff_se, "z": z,
            "P>|z|": 2 * stats.norm.sf(np.abs(z)),
            f"[{alpha / 2:g}": self.margeff - q * self.margeff_se,
            f"{1 - alpha / 2:g}]": self.margeff + q * self.margeff_se})
        return frame.join(self.decomposition)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        return self.summary_frame(alpha).iloc[:, 4:6]

    def summary(self, alpha: float = 0.05) -> str:
        head = (f"Heckman marginal effects: d {self.which} / dx, "
                f"{'average over' if self.at == 'overall' else 'at the means of'} "
                f"{self.n_used} rows")
        return head + "\n" + self.summary_frame(alpha).to_string(float_format=lambda v: f"{v:.6g}")

    def __repr__(self) -> str:
        return self.summary()


class ProfileLikelihood(pd.DataFrame):
    """Profile log-likelihood table (a DataFrame) with a :meth:`plot` method.

    Columns: ``rho``, ``llf`` (the maximum over the other parameters at that
    rho), ``converged``, and the maximising parameters (``athrho`` fixed).
    ``attrs`` may hold ``mle_rho`` and ``mle_llf``.
    """

    def plot(self, ax=None, level: float = 0.95, **kwargs):
        """Plot llf against rho, marking the ML estimate and the LR interval cut-off.

        The horizontal line ``max llf - chi2_1(level) / 2`` meets the profile
        at the ends of the likelihood-ratio confidence interval for rho.
        Extra keyword arguments go to ``ax.plot``. Returns the axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        frame = pd.DataFrame(self)
        ok = np.isfinite(frame["llf"].to_numpy(float))
        kwargs.setdefault("marker", ".")
        ax.plot(frame["rho"][ok], frame["llf"][ok], **kwargs)
        top = float(frame["llf"][ok].max())
        mle_llf = self.attrs.get("mle_llf")
        if mle_llf is not None and np.isfinite(mle_llf):
            top = max(top, mle_llf)
            ax.plot([self.attrs["mle_rho"]], [mle_llf], "o", color="C3", label="ML estimate")
        ax.axhline(top - stats.chi2.ppf(level, 1) / 2, color="0.5", ls="--", lw=0.8,
                   label=f"{level:.0%} LR cut-off")
        ax.set_xlabel("rho")
        ax.set_ylabel("profile log-likelihood")
        ax.legend(loc="best")
        return ax
