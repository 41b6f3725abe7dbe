r"""Switching regression (Tobit type 5, endogenous switching): ML and Lee's two-step.

Model::

    selection  s* = z'gamma + u,   s = 1[s* > 0]
    regime 0   y0 = x0'beta0 + e0,  observed when s = 0
    regime 1   y1 = x1'beta1 + e1,  observed when s = 1
    (u, e_r) bivariate normal, var(u) = 1, var(e_r) = sigma_r^2, corr(u, e_r) = rho_r

* :class:`SwitchingRegression` -- the family adapter on the shared core
  (:mod:`econderiv.models._likelihood`), kernel
  :func:`econderiv.models._switching_kernels.loglike_derivs`. ``fit()`` is
  full ML (``method=`` names the optimizer, as in every family; default start
  the two-step estimate); ``fit_twostep()`` is Lee's (1978) two-step estimator
  with the corrected covariance.
* :class:`SwitchingResults` (ML) and :class:`SwitchingTwoStepResults`:
  equation blocks, ``ancillary`` (rho0, sigma0, rho1, sigma1, lambda0 =
  rho0 sigma0, lambda1), ``summary()``, ``predict(which=...)`` (each
  regime's mean given either regime), ``treatment_effects()`` (ATE, ATT,
  ATU with delta-method standard errors), ``get_margeff()``; ML also
  ``profile_loglike`` and ``fit(global_search=True)`` over (rho0, rho1).
"""

from __future__ import annotations

import copy
import warnings
from functools import cached_property

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModel, \
    LikelihoodResultsWrapper
from statsmodels.tools.sm_exceptions import CollinearityWarning, ConvergenceWarning

from econderiv.models import _data, _inference, _optim
from econderiv.models import _switching_kernels as K
from econderiv.models._likelihood import (ExactLikelihoodModel, ExactLikelihoodResults,
                                          TwoStepResults,
                                          single_thread_blas)

__all__ = ["SwitchingRegression", "SwitchingResults", "SwitchingTwoStepResults"]

_MARGINS = ("y1_s1", "y1_s0", "y0_s0", "y0_s1", "xb0", "xb1", "psel", "te", "tt", "tu")


def _outcomes(endog):
    """``endog`` as one vector observed in both regimes, or a pair ``(y0, y1)``
    (a 2-tuple/list, a 2-column DataFrame or an ``(n, 2)`` array). Returns
    ``[(values, name, index), (values, name, index)]``."""
    if isinstance(endog, (tuple, list)) and len(endog) == 2 and np.ndim(endog[0]) >= 1:
        pair = list(endog)
    elif isinstance(endog, pd.DataFrame) and endog.shape[1] == 2:
        pair = [endog.iloc[:, 0], endog.iloc[:, 1]]
    elif not isinstance(endog, (pd.Series, pd.DataFrame)) and np.ndim(endog) == 2 \
            and np.shape(endog)[1] == 2:
        arr = np.asarray(endog)
        pair = [arr[:, 0], arr[:, 1]]
    else:
        one = _data.as_vector(endog, "the outcome", "y")
        return [one, one]
    return [_data.as_vector(y, f"the regime-{r} outcome", f"y{r}") for r, y in enumerate(pair)]


def prepare_switching(endog, exog0, exog1, endog_select, exog_select, missing: str = "none"):
    """Validate and align the inputs of the switching regression.

    Rows with NaN in ``s`` or ``z``, or in ``y_r`` or ``x_r`` where regime
    ``r`` is observed, raise a ``ValueError`` naming the columns ("none",
    "raise") or are dropped ("drop", with a warning when rows are dropped for
    a missing outcome). ``y_r`` and ``x_r`` may be anything where the other
    regime is observed. Returns a dict of arrays, names and counts.
    """
    _data.check_missing_rule(missing)
    (y0, y0name, iy0), (y1, y1name, iy1) = _outcomes(endog)
    s, sname, is_ = _data.as_vector(endog_select, "the selection indicator", "s")
    X0, x0names, ix0 = _data.as_matrix(exog0, "exog0", "x")
    X1, x1names, ix1 = _data.as_matrix(exog1, "exog1", "x")
    Z, znames, iz = _data.as_matrix(exog_select, "exog_select", "z")
    (y0, y1, X0, X1, s, Z), index = _data.align_inputs(
        [("the regime-0 outcome", y0, iy0), ("the regime-1 outcome", y1, iy1),
         ("exog0", X0, ix0), ("exog1", X1, ix1), ("endog_select", s, is_),
         ("exog_select", Z, iz)])
    index = pd.RangeIndex(len(s)) if index is None else index
    known = ~np.isnan(s)
    odd = known & (s != 0) & (s != 1)
    if odd.any():  # before the missing-value rules, whose messages assume 0/1
        _data.check_binary(s[known], f"the selection indicator {sname!r}")
    sel, unsel = known & (s == 1), known & (s == 0)
    bad_s, bad_z = ~known, ~np.isfinite(Z).all(axis=1)
    bad = {"y0": unsel & ~np.isfinite(y0), "x0": unsel & ~np.isfinite(X0).all(axis=1),
           "y1": sel & ~np.isfinite(y1), "x1": sel & ~np.isfinite(X1).all(axis=1)}
    drop = bad_s | bad_z | bad["y0"] | bad["x0"] | bad["y1"] | bad["x1"]
    n_dropped = int(drop.sum())
    if n_dropped and missing != "drop":
        parts = []
        if bad_s.any():
            parts.append(f"the selection indicator {sname!r} ({int(bad_s.sum())} rows)")
        if bad_z.any():
            parts.append("the selection regressors: "
                         + ", ".join(_data.nan_columns(Z, znames, bad_z)))
        for r, (yname, X, names) in enumerate(((y0name, X0, x0names), (y1name, X1, x1names))):
            if bad[f"y{r}"].any():
                parts.append(f"the regime-{r} outcome {yname!r} for {int(bad[f'y{r}'].sum())} "
                             f"rows of regime {r} ({sname} = {r}); it may be missing only "
                             f"where {sname} = {1 - r}")
            if bad[f"x{r}"].any():
                parts.append(f"the regime-{r} regressors of rows with {sname} = {r}: "
                             + ", ".join(_data.nan_columns(X, names, bad[f"x{r}"])))
        raise ValueError("missing (NaN or infinite) values in " + "; ".join(parts)
                         + ". Pass missing='drop' to drop those rows.")
    n_outcome_dropped = int(((bad["y0"] | bad["y1"]) & ~bad_s & ~bad_z).sum())
    if n_outcome_dropped:
        warnings.warn(
            f"{n_outcome_dropped} rows have a missing outcome in their own regime and were "
            "dropped (missing='drop'): the selection equation is estimated without them.",
            RuntimeWarning, stacklevel=_data.user_stacklevel())
    kept = ~drop
    if n_dropped:
        y0, y1, X0, X1, s, Z, index = (a[kept] for a in (y0, y1, X0, X1, s, Z, index))
    s = _data.check_binary(s, f"the selection indicator {sname!r}")
    sel = s == 1
    for r, rows in ((0, ~sel), (1, sel)):
        if not rows.any():
            raise ValueError(
                f"regime {r} has no observations: the selection indicator {sname!r} is "
                f"{1 - r} in all {len(s)} rows, so the regime-{r} outcome equation cannot be "
                "estimated (a switching regression needs both regimes)")
    _data.check_full_rank(Z, znames, "the selection design (exog_select)")
    for r, rows, y, X, names, yname in ((0, ~sel, y0, X0, x0names, y0name),
                                        (1, sel, y1, X1, x1names, y1name)):
        nr = int(rows.sum())
        if nr <= X.shape[1] + 1:
            raise ValueError(f"only {nr} rows in regime {r} for {X.shape[1]} outcome "
                             "regressors plus the selection correction")
        _data.check_magnitude(y[rows], [yname], f"the regime-{r} outcome")
        _data.check_full_rank(X[rows], names, f"the regime-{r} outcome design over its "
                                              f"{nr} rows")
    return dict(y0=np.where(~sel, y0, np.nan), y1=np.where(sel, y1, np.nan), X0=X0, X1=X1,
                s=s, Z=Z, y0name=y0name, y1name=y1name, sname=sname, x0names=list(x0names),
                x1names=list(x1names), znames=list(znames), index=index, kept=kept,
                n_dropped=n_dropped,
                excluded=(_data.has_exclusion(Z[~sel], X0[~sel]),
                          _data.has_exclusion(Z[sel], X1[sel])))


class SwitchingRegression(ExactLikelihoodModel):
    r"""Switching regression: Tobit type 5, the endogenous switching regression.

    The name says what the model does: a selection equation *switches* each
    observation between two regression regimes (Maddala 1983, ch. 8.3,
    "switching regression models with endogenous switching"; Amemiya's
    "Tobit type 5"; R sampleSelection's "tobit 5 model (switching
    regression model)"; Stata's community ``movestay``).

    .. math::

        s_i^* = z_i'\gamma + u_i,\quad s_i = 1[s_i^* > 0],\qquad
        y_{0i} = x_{0i}'\beta_0 + e_{0i} \text{ if } s_i = 0,\quad
        y_{1i} = x_{1i}'\beta_1 + e_{1i} \text{ if } s_i = 1,

    :math:`(u, e_r)` bivariate normal, :math:`var(u) = 1`,
    :math:`var(e_r) = \sigma_r^2`, :math:`corr(u, e_r) = \rho_r`. Log-likelihood
    (:mod:`econderiv.models._switching_kernels`)::

        s = 1:  log Phi((z'gamma + rho1 u1) / sqrt(1 - rho1^2)) + log phi(u1) - log sigma1
        s = 0:  log Phi(-(z'gamma + rho0 u0) / sqrt(1 - rho0^2)) + log phi(u0) - log sigma0
        u_r = (y_r - x_r'beta_r) / sigma_r

    Parameters
    ----------
    endog : array_like, Series, DataFrame or pair
        The outcome. Either **one** vector ``y`` observed in both regimes
        (``y0 = y`` where ``s = 0``, ``y1 = y`` where ``s = 1``: the usual
        case, e.g. a wage of union and non-union workers), or **two**: a pair
        ``(y0, y1)``, a two-column DataFrame or an ``(n, 2)`` array, of which
        ``y0`` is read only where ``s = 0`` and ``y1`` only where ``s = 1``
        (each may be NaN elsewhere, as in R sampleSelection's
        ``list(yo1 ~ ..., yo2 ~ ...)``).
    exog0, exog1 : array_like or DataFrame
        Outcome regressors of regime 0 and regime 1 (include a constant, or
        use :meth:`from_formula`); each needs to be finite only in its regime.
    endog_select : array_like or Series
        Regime indicator ``s``, 0/1 or boolean.
    exog_select : array_like or DataFrame
        Selection regressors ``z``; identification other than by normality
        needs a variable in ``z`` excluded from ``x0`` and ``x1``.
    missing : {"none", "drop", "raise"}
        Rows with NaN in ``s`` or ``z``, or in an outcome or its regressors
        where its regime is observed, raise a ``ValueError`` naming the
        columns ("none", "raise") or are dropped ("drop").
    freq_weights, prob_weights, importance_weights : array_like, optional
        Observation weights (one kind at most) with Stata's meanings (the
        core's weights, as every family).

    Notes
    -----
    Parameters ``selection:<z term>``, ``outcome0:<x0 term>``,
    ``outcome1:<x1 term>``, ``athrho0``, ``lnsigma0``, ``athrho1``,
    ``lnsigma1`` (``rho_r = tanh(athrho_r)``, ``sigma_r = exp(lnsigma_r)``),
    score and Hessian analytic in that order. ``corr(e0, e1)`` is not
    identified (the outcomes are never observed together) and does not enter
    any prediction here.

    Examples
    --------
    >>> from econderiv import SwitchingRegression
    >>> mod = SwitchingRegression.from_formula(
    ...     ["y0 ~ x0", "y1 ~ x1"], df, selection="s ~ z + x0")   # doctest: +SKIP
    >>> res = mod.fit()                # ML, started from the two-step estimate
    >>> two = mod.fit_twostep()        # Lee's two-step
    >>> res.treatment_effects()        # ATE, ATT, ATU with standard errors
    """

    _other_estimators = {e: "fit_twostep()" for e in ("twostep", "two-step", "2step")}
    _other_estimators.update({e: "fit() (ML is the default; method names the optimizer)"
                              for e in ("mle", "ml")})

    def __init__(self, endog, exog0, exog1, endog_select, exog_select, missing: str = "none",
                 **kwargs):
        wspec = _data.pop_weights(kwargs, type(self).__name__)
        with single_thread_blas():
            d = prepare_switching(endog, exog0, exog1, endog_select, exog_select, missing)
        sel = d["s"] == 1
        self._sel = sel
        self._z = np.ascontiguousarray(d["Z"])
        self._X0, self._X1 = d["X0"], d["X1"]
        self._y0, self._y1 = d["y0"], d["y1"]
        kwargs.pop("hasconst", None)
        y = np.where(sel, d["y1"], d["y0"])  # the observed outcome
        yname = d["y0name"] if d["y0name"] == d["y1name"] else f"{d['y0name']}|{d['y1name']}"
        LikelihoodModel.__init__(self, pd.Series(y, index=d["index"], name=yname), None,
                                 missing="none", hasconst=False, **kwargs)
        self.endog_select, self.exog_select = d["s"], d["Z"]
        self.exog0, self.exog1 = d["X0"], d["X1"]
        self.endog0_name, self.endog1_name = d["y0name"], d["y1name"]
        self.endog_select_name = d["sname"]
        self.exog0_names, self.exog1_names = d["x0names"], d["x1names"]
        self.exog_select_names = d["znames"]
        self.row_labels, self.n_dropped, self._kept = d["index"], d["n_dropped"], d["kept"]
        self.k_select, self.k_outcome0, self.k_outcome1 = (d["Z"].shape[1], d["X0"].shape[1],
                                                           d["X1"].shape[1])
        self._excluded = d["excluded"]
        kz, k0, k1 = self.k_select, self.k_outcome0, self.k_outcome1
        self.param_names = (_data.prefixed("selection", d["znames"])
                            + _data.prefixed("outcome0", d["x0names"])
                            + _data.prefixed("outcome1", d["x1names"])
                            + ["athrho0", "lnsigma0", "athrho1", "lnsigma1"])
        self.data.param_names = self.param_names
        self.k_params = len(self.param_names)
        self._athrho_indices = (kz + k0 + k1, kz + k0 + k1 + 2)
        self.nobs, self._nrows = float(len(sel)), len(sel)
        self.nobs_regime0, self.nobs_regime1 = int((~sel).sum()), int(sel.sum())
        self.df_model = float(k0 + k1 - 2)
        self.df_resid = self.nobs - self.k_params
        self._design_infos = None
        self.formula = self.formula_select = None
        self._twostep_cache = None
        self._init_weights(wspec)

    @classmethod
    def from_formula(cls, formula=None, data: pd.DataFrame = None, selection: str = None,
                     missing: str = "drop", subset=None, outcome=None, **kwargs):
        """Build the model from outcome and selection formulas (patsy, as statsmodels).

        Parameters
        ----------
        formula : list of two str, or str
            ``["y0 ~ x1 + x2", "y1 ~ x1 + x3"]``: regime 0's equation, then
            regime 1's. The left-hand sides may be one column (observed in
            both regimes) or two columns (each read only in its regime). A
            single string is the same equation in both regimes (different
            coefficients). ``outcome=`` is an alias.
        data : DataFrame
        selection : str
            Selection equation with the 0/1 (or boolean) regime indicator on
            the left, ``"s ~ x1 + z"``.
        missing : {"drop", "none", "raise"}
            ``"drop"`` (statsmodels' formula default) drops incomplete rows,
            where an outcome and its regressors are needed only in their
            regime; "none" and "raise" raise naming the columns.
        subset : index labels or boolean mask, optional
        **kwargs
            Passed to the constructor (weights may name a column of ``data``).
        """
        if outcome is not None:
            if formula is not None:
                raise ValueError("give the outcome equations as formula= or outcome=, not both")
            formula = outcome
        if formula is None or data is None or selection is None:
            raise ValueError("from_formula needs the outcome formulas, data and selection=")
        from econderiv.models import _dask

        if _dask.is_dask(data):  # data larger than memory: the distributed backend
            return _dask.from_formula(cls, formula, data, selection=selection, missing=missing,
                                      subset=subset, **kwargs)
        formulas = [formula, formula] if isinstance(formula, str) else list(formula)
        if len(formulas) != 2 or not all(isinstance(f, str) for f in formulas):
            raise ValueError("formula must be a list of two formulas (regime 0, regime 1) or "
                             f"one formula for both regimes, got {formula!r}")
        data = _data.subset_rows(data, subset)
        _data.formula_weights(kwargs, data)
        (y0, X0, n0), (y1, X1, n1) = (_data.lhs_design(f, data, f"regime-{r} outcome formula")
                                      for r, f in enumerate(formulas))
        s, Z, sname = _data.lhs_design(selection, data, "selection formula")
        endog = y0.rename(n0) if n0 == n1 else (y0.rename(n0), y1.rename(n1))
        model = cls(endog, X0, X1, s.rename(sname), Z, missing=missing, **kwargs)
        model.formula, model.formula_select = list(formulas), selection
        model._remember_formulas(formulas + [selection],
                                 [X0.design_info, X1.design_info, Z.design_info], data)
        return model

    # -- kernel contract and the core's hooks ---------------------------------------
    def _block_data(self, rows):
        return K.SwitchingData.from_arrays(self._y0[rows], self._X0[rows], self._y1[rows],
                                           self._X1[rows], self._sel[rows], self._z[rows])

    @staticmethod
    def _kernel(params, data, order, llobs, per_obs, weights=None):
        return K.loglike_derivs(params, data, order, llobs, per_obs, weights)

    def _correlation_indices(self) -> tuple:
        return self._athrho_indices

    def _cold_start(self):
        """The profile likelihood's second start: the two-step with rho0 = rho1 = 0."""
        start = np.array(self.start_params, dtype=float)
        start[list(self._athrho_indices)] = 0.0
        return start

    def _ancillary_entries(self, params):
        """rho_r = tanh(athrho_r), sigma_r = exp(lnsigma_r), lambda_r = rho_r sigma_r."""
        p = np.asarray(params, dtype=float)
        out = {}
        for r, i in enumerate(self._athrho_indices):
            out[f"rho{r}"] = (i, "tanh")
            out[f"sigma{r}"] = (i + 1, "exp")
        for r, i in enumerate(self._athrho_indices):
            rho, sigma = np.tanh(p[i]), np.exp(p[i + 1])
            grad = np.zeros(len(p))
            grad[i:i + 2] = (1 - rho * rho) * sigma, rho * sigma
            out[f"lambda{r}"] = (rho * sigma, grad)
        return out

    def _equation_blocks(self):
        infos = self._design_infos or [None, None, None]  # regime 0, regime 1, selection
        kz, k0 = self.k_select, self.k_outcome0
        return [("selection", 0, infos[2], self.exog_select_names),
                ("outcome0", kz, infos[0], self.exog0_names),
                ("outcome1", kz + k0, infos[1], self.exog1_names)]

    def _summary_variables(self):
        s = self.endog_select_name
        return ([("Dep. Variables:", [f"{self.endog0_name}, {self.endog1_name}"]),
                 ("Selection:", [s])],
                [(f"Regime 0 ({s}=0):", [f"{self.nobs_regime0}"]),
                 (f"Regime 1 ({s}=1):", [f"{self.nobs_regime1}"])])

    # -- two-step, start values, the model with rho0 = rho1 = 0 ---------------------------
    def _twostep(self) -> K.SwitchingTwoStep:
        if self._twostep_cache is None:
            sel = self._sel
            with single_thread_blas():
                self._twostep_cache = K.switching_twostep(
                    self._y0[~sel], self._X0[~sel], self._y1[sel], self._X1[sel],
                    self.endog_select, self._z, weights=self._w)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        """ML start: the two-step estimates, each rho clamped into (-0.95, 0.95)."""
        ts = self._twostep()
        anc = []
        for reg in ts.regimes:
            rho = float(np.clip(reg.rho_untruncated, -0.95, 0.95))
            sigma = reg.sigma if np.isfinite(reg.sigma) and reg.sigma > 0 else \
                float(np.std(reg.resid))
            anc += [np.arctanh(rho), np.log(sigma)]
        return np.concatenate([ts.params[:-2], anc])

    def _restricted_fits(self) -> list:
        """ML with rho0 = rho1 = 0 (the probit and the two regressions apart)."""
        start = self._cold_start()
        x, llf, ok = _inference.fit_with_fixed(self, list(self._athrho_indices), 0.0, start)
        return [(x, llf, ok)]

    def _warn_collinear_imr(self, ts: K.SwitchingTwoStep) -> None:
        for r, reg in enumerate(ts.regimes):
            if reg.imr_r2 >= 0.99 or not self._excluded[r]:
                why = ("every selection regressor also appears in its outcome equation (no "
                       "exclusion restriction), so the correction is identified only by the "
                       "nonlinearity of the probit" if not self._excluded[r] else
                       "the excluded selection regressors add little variation")
                warnings.warn(
                    f"regime {r}: the inverse Mills ratio is nearly collinear with the outcome "
                    f"regressors (R-squared {reg.imr_r2:.4f} over the regime's rows): {why}. "
                    f"rho{r} and sigma{r} will be poorly determined and the ML likelihood may "
                    "be flat or multimodal (try fit(global_search=True)). Add to the "
                    "selection equation a variable that does not enter the outcomes.",
                    CollinearityWarning, stacklevel=_data.user_stacklevel())

    # -- estimators -------------------------------------------------------------------
    def fit(self, start_params=None, method: str = _optim.DEFAULT_METHOD, maxiter: int = 100,
            disp: bool = False, callback=None, cov_type=None, cov_kwds=None,
            global_search: bool = False, **kwargs):
        _optim.check_method(method, other_entry_points=self._other_estimators)
        self._warn_collinear_imr(self._twostep())
        return self._fit_ml(start_params, method, maxiter, disp, callback, cov_type, cov_kwds,
                            global_search, kwargs)

    fit.__doc__ = ExactLikelihoodModel.fit.__doc__.replace(
        "Hessian.\n", "Hessian.\n\n        The default start is Lee's two-step estimate (each "
        "rho clamped into\n        (-0.95, 0.95)); ``global_search=True`` profiles (rho0, "
        "rho1) jointly\n        on a grid (default 11 x 11 points, ``grid=`` the values of "
        "each) and\n        restarts from every local maximum of the profile. Lee's two-step "
        "estimator\n        is :meth:`fit_twostep`.\n", 1)

    def fit_twostep(self, cov_type=None, cov_kwds=None, **kwargs) -> "SwitchingTwoStepResults":
        """Lee's (1978) two-step estimator: probit, then OLS in each regime with
        its own inverse Mills ratio.

        ``lambda1 = phi(z'g)/Phi(z'g)`` (rows with ``s = 1``), ``lambda0 =
        -phi(z'g)/(1 - Phi(z'g))`` (rows with ``s = 0``); their coefficients
        estimate ``rho_r sigma_r``. Parameters ``selection:...``,
        ``outcome0:...``, ``outcome1:...``, ``lambda0``, ``lambda1``;
        ``rho_r``, ``sigma_r`` are the consistent estimators, without standard
        errors (as Stata's ``heckman, twostep``). With weights, the probit is
        weighted and the second steps are weighted least squares.

        Parameters
        ----------
        cov_type : {"nonrobust", "HC0", "HC1", "cluster"}, optional
            ``"nonrobust"`` (the default without sampling weights):
            Heckman's correction in Greene's form for each regime, including
            the probit's estimation error and the covariances it induces
            between the blocks (:mod:`econderiv.models._switching_kernels`);
            it assumes homoskedastic normal errors. The robust types treat
            the two steps as one stacked M-estimator (probit score and both
            regimes' normal equations,
            :func:`~econderiv.models._switching_kernels.twostep_moments`) and
            take the sandwich; with ``prob_weights`` the default is ``"HC1"``
            with Stata's ``N/(N-1)``. ``cov_kwds`` as in :meth:`fit`.
        """
        _optim.check_keywords(kwargs, (), "SwitchingRegression.fit_twostep() (closed form; "
                              "optimizer keywords belong to fit())")
        cov_type, cov_kwds, n_groups = self._cov_request(cov_type, cov_kwds, twostep=True)
        ts = self._twostep()
        self._warn_collinear_imr(ts)
        for r, reg in enumerate(ts.regimes):
            if reg.rho != reg.rho_untruncated:
                warnings.warn(
                    f"the two-step estimate of rho{r}, {reg.rho_untruncated:.4f}, is outside "
                    f"[-1, 1]; it is truncated to {reg.rho:.0f} and sigma{r} set to "
                    f"|lambda{r}| = {reg.sigma:.4g} (as Stata does). Compare with fit() (ML).",
                    RuntimeWarning, stacklevel=_data.user_stacklevel())
        if not ts.probit_converged:
            warnings.warn("the first-step probit did not converge (separation?): check the "
                          "selection regressors", ConvergenceWarning,
                          stacklevel=_data.user_stacklevel())
        view = copy.copy(self)  # the same model under the two-step parameter names
        view.data = copy.copy(self.data)
        view.param_names = view.data.param_names = self.param_names[:-4] + ["lambda0",
                                                                            "lambda1"]
        cov, description = ts.cov, ("two-step covariance corrected for the estimated inverse "
                                    "Mills ratios (Heckman/Greene, per regime)")
        if cov_type != "nonrobust":
            sel = self._sel
            G, J = K.twostep_moments(ts.params, self._y0[~sel], self._X0[~sel], self._y1[sel],
                                     self._X1[sel], self.endog_select, self._z, self._w)
            cov, description = _inference.covariance(
                None, G, self._w, self.weight_type, cov_type, cov_kwds, float(self.nobs),
                len(ts.params), bread=-np.linalg.inv(J))
        res = SwitchingTwoStepResults(view, ts.params, cov, ts)
        res.cov_type = cov_type
        res.cov_kwds = dict(cov_kwds, description=description)
        res.n_groups = n_groups
        return SwitchingTwoStepResultsWrapper(res)

    # -- designs for prediction -------------------------------------------------------
    def _designs(self, exog, exog0, exog1, exog_select, transform: bool):
        """``(X0, X1, Z, index)`` for prediction: the estimation sample, or new
        data (``exog``: raw data for every formula of a formula model)."""
        if exog is None and exog0 is None and exog1 is None and exog_select is None:
            return self._X0, self._X1, self._z, self.row_labels
        infos = self._design_infos if transform and self._design_infos else [None] * 3
        if exog is not None:
            if not (isinstance(exog, pd.DataFrame) and infos[0] is not None):
                raise ValueError("exog= (raw data for every equation) needs a formula model "
                                 "and a DataFrame; otherwise pass exog0, exog1, exog_select")
            exog0 = exog if exog0 is None else exog0
            exog1 = exog if exog1 is None else exog1
            exog_select = exog if exog_select is None else exog_select
        out, index = [], None
        for x, k, names, what, info in (
                (exog0, self.k_outcome0, self.exog0_names, "exog0", infos[0]),
                (exog1, self.k_outcome1, self.exog1_names, "exog1", infos[1]),
                (exog_select, self.k_select, self.exog_select_names, "exog_select", infos[2])):
            if x is None:
                out.append(None)
                continue
            arr, ix = _data.new_design(x, k, names, what, info)
            out.append(arr)
            index = ix if index is None else index
        lengths = {len(a) for a in out if a is not None}
        if len(lengths) > 1:
            raise ValueError(f"the new designs have different numbers of rows: {sorted(lengths)}")
        return out[0], out[1], out[2], index


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

_NEEDS = {"xb0": (0,), "xb1": (1,), "xbsel": (2,), "psel": (2,), "y0_s0": (0, 2),
          "y0_s1": (0, 2), "y1_s0": (1, 2), "y1_s1": (1, 2), "te": (0, 1),
          "tt": (0, 1, 2), "tu": (0, 1, 2)}


class _SwitchingResultsMixin:
    """What the ML and two-step results share: rho, sigma, predictions,
    treatment effects, marginal effects, the summary."""

    @property
    def nobs_regime0(self) -> int:
        return self.model.nobs_regime0

    @property
    def nobs_regime1(self) -> int:
        return self.model.nobs_regime1

    @property
    def rho0(self) -> float:
        return float(self.ancillary.loc["rho0", "coef"])

    @property
    def rho1(self) -> float:
        return float(self.ancillary.loc["rho1", "coef"])

    @property
    def sigma0(self) -> float:
        return float(self.ancillary.loc["sigma0", "coef"])

    @property
    def sigma1(self) -> float:
        return float(self.ancillary.loc["sigma1", "coef"])

    @property
    def rho(self):
        raise AttributeError("a switching regression has two correlations: rho0 and rho1")

    def _structural(self, params=None):
        """``(gamma, beta0, beta1, L0, L1, J)``: ``L_r = rho_r sigma_r`` and ``J``
        the Jacobian of ``(gamma, beta0, beta1, L0, L1)`` in ``params``."""
        p = np.asarray(self.params if params is None else params, dtype=float)
        m = self.model
        kz, k0, k1 = m.k_select, m.k_outcome0, m.k_outcome1
        k = kz + k0 + k1
        (L0, g0), (L1, g1) = self._lambda_specs(p)
        J = np.zeros((k + 2, len(p)))
        J[:k, :k] = np.eye(k)
        J[k], J[k + 1] = g0, g1
        return p[:kz], p[kz:kz + k0], p[kz + k0:k], float(L0), float(L1), J

    def predict(self, exog=None, which: str = "y1_s1", transform: bool = True, *,
                exog0=None, exog1=None, exog_select=None):
        """Predictions at the estimation sample or at new regressors.

        Parameters
        ----------
        exog : DataFrame, optional
            Raw data for every equation of a formula model. Otherwise give
            the designs ``exog0``, ``exog1``, ``exog_select`` (those the
            prediction needs). None of them: the estimation sample.
        which : str
            ===========  ====================================================
            ``y1_s1``    ``E[y1 | s = 1] = x1'b1 + rho1 sigma1 lambda(w)``
            ``y1_s0``    ``E[y1 | s = 0] = x1'b1 - rho1 sigma1 lambda(-w)``
            ``y0_s0``    ``E[y0 | s = 0] = x0'b0 - rho0 sigma0 lambda(-w)``
            ``y0_s1``    ``E[y0 | s = 1] = x0'b0 + rho0 sigma0 lambda(w)``
            ``xb0``      ``E[y0] = x0'b0`` (unconditional)
            ``xb1``      ``E[y1] = x1'b1``
            ``psel``     ``P(s = 1) = Phi(w)``;  ``xbsel``: ``w = z'gamma``
            ``te``       ``E[y1 - y0] = x1'b1 - x0'b0``
            ``tt``       ``E[y1 - y0 | s = 1]`` (effect on the treated)
            ``tu``       ``E[y1 - y0 | s = 0]`` (on the untreated)
            ===========  ====================================================

            with ``lambda`` the inverse Mills ratio
            (:func:`econderiv.models._switching_kernels.prediction`).
            ``y0_s1`` and ``y1_s0`` are the counterfactual means.
        transform : bool
            Pass DataFrame input through the formulas (formula models).

        Returns
        -------
        Series indexed like the data (the estimation sample or pandas input),
        else ndarray. Rows whose needed regressors are missing are NaN.
        """
        if which not in K.PREDICTIONS:
            raise ValueError(f"which must be one of {K.PREDICTIONS}, got {which!r}")
        X0, X1, Z, index = self.model._designs(exog, exog0, exog1, exog_select, transform)
        designs = (X0, X1, Z)
        lack = [("exog0", "exog1", "exog_select")[e] for e in _NEEDS[which] if designs[e] is None]
        if lack:
            raise ValueError(f"which={which!r} needs {lack}")
        gamma, b0, b1, L0, L1, _ = self._structural()
        out = np.asarray(K.prediction(which, X0, X1, Z, gamma, b0, b1, L0, L1), dtype=float)
        return _data.labelled(out, index, which)

    def treatment_effects(self, alpha: float = 0.05) -> pd.DataFrame:
        """Treatment effects of regime 1 against regime 0, with delta-method
        standard errors (analytic gradients).

        Rows: ``ATE`` (mean of ``x1'b1 - x0'b0`` over the sample), ``ATT``
        (mean of ``E[y1 - y0 | s = 1]`` over the rows with ``s = 1``), ``ATU``
        (mean of ``E[y1 - y0 | s = 0]`` over the rows with ``s = 0``), and the
        potential-outcome means ``E[y0]``, ``E[y1]`` (means of ``x_r'b_r``).
        Averages use the rows where ``x0``, ``x1`` and ``z`` are all finite
        (``n`` column, a row count); with weights (any type) they are
        weighted means, as Stata's ``margins`` and :meth:`get_margeff`. The
        standard errors treat the regressors as fixed (conditional on the
        sample), as Stata's ``margins`` does by default.
        """
        m = self.model
        X0, X1, Z, s = m._X0, m._X1, m._z, m.endog_select
        ok = np.isfinite(X0).all(axis=1) & np.isfinite(X1).all(axis=1)
        if not ok.any():
            raise ValueError("no rows with both regimes' regressors finite: treatment effects "
                             "need x0 and x1 at the same rows")
        X0, X1, Z, s = X0[ok], X1[ok], Z[ok], s[ok]
        w = None if m._w is None else m._w[ok]
        gamma, b0, b1, L0, L1, J = self._structural()
        entries, counts = {}, []
        for name, which, rows in (("ATE", "ate", np.ones(len(s), bool)),
                                  ("ATT", "att", s == 1), ("ATU", "atu", s == 0)):
            if not rows.any():
                continue
            val, grad = K.treatment_effect(which, X0, X1, Z, s, gamma, b0, b1, L0, L1, w)
            entries[name] = (val, grad @ J)
            counts.append(int(rows.sum()))
        kz, k0 = m.k_select, m.k_outcome0
        for r, X, sl in ((0, X0, slice(kz, kz + k0)), (1, X1, slice(kz + k0, kz + k0 + len(b1)))):
            g = np.zeros(J.shape[0])
            g[sl] = np.average(X, axis=0, weights=w)
            entries[f"E[y{r}]"] = (float(g[sl] @ (b0 if r == 0 else b1)), g @ J)
            counts.append(len(s))
        frame = _inference.ancillary_frame(entries, self.params, self.cov_params(), alpha)
        frame["n"] = counts
        return frame

    def get_margeff(self, which: str = "y1_s1", at: str = "overall", dummy: bool = False,
                    variables=None) -> _inference.MarginalEffects:
        """Marginal effects on a prediction with delta-method standard errors.

        A term's effect adds its channels through every index it enters
        (matched by name): e.g. for ``"y1_s1"``, ``dE[y1 | s=1]/dv = b1_v +
        rho1 sigma1 lambda'(w) gamma_v``, the direct effect plus the selection
        channel. ``which`` is one of ``predict``'s (``"y1_s1"``, ``"y1_s0"``,
        ``"y0_s0"``, ``"y0_s1"``, ``"xb0"``, ``"xb1"``, ``"psel"``, ``"te"``,
        ``"tt"``, ``"tu"``); ``at`` ``"overall"`` (average over the rows with
        the needed regressors finite) or ``"mean"``; ``dummy=True`` gives
        the discrete change 0 -> 1 for 0/1 regressors. The Jacobian for the
        delta method is by central differences of the analytic effects
        (:func:`econderiv.models._inference.index_margins`).
        """
        if which not in _MARGINS:
            raise ValueError(f"which must be one of {_MARGINS}, got {which!r}")
        m = self.model
        uses = [e in _NEEDS[which] for e in (2, 0, 1)]  # designs: z, x0, x1
        designs = [m._z, m._X0, m._X1]
        rows = np.ones(m._nrows, bool)
        for used, X in zip(uses, designs):
            if used:
                rows &= np.isfinite(X).all(axis=1)
        designs = [X[rows] for X in designs]

        def index_params(p):
            g, b0, b1, _, _, _ = self._structural(p)
            return [g, b0, b1]

        def predict(p, ds, grad):
            g, b0, b1, L0, L1, _ = self._structural(p)
            Z, X0, X1 = ds
            if not grad:
                return K.prediction(which, X0, X1, Z, g, b0, b1, L0, L1)
            val, (dw, dx0, dx1), _ = K.prediction(which, X0, X1, Z, g, b0, b1, L0, L1,
                                                  grad=True)
            return val, [dw, dx0, dx1]

        y0, y1, s = m.endog0_name, m.endog1_name, m.endog_select_name
        desc = {"y1_s1": f"E[{y1} | {s} = 1]", "y1_s0": f"E[{y1} | {s} = 0]",
                "y0_s0": f"E[{y0} | {s} = 0]", "y0_s1": f"E[{y0} | {s} = 1]",
                "xb0": f"E[{y0}]", "xb1": f"E[{y1}]", "psel": f"P({s} = 1)",
                "te": f"E[{y1} - {y0}]", "tt": f"E[{y1} - {y0} | {s} = 1]",
                "tu": f"E[{y1} - {y0} | {s} = 0]"}[which]
        return _inference.index_margins(
            self.params, self.cov_params(), designs,
            [m.exog_select_names, m.exog0_names, m.exog1_names], index_params, predict, which,
            at, dummy, desc, uses, variables,
            weights=None if m._w is None else m._w[rows])  # weighted, as Stata's margins

    def _summary(self, title, method, estimation_blocks, ancillary_title, notes, alpha):
        m = self.model
        if isinstance(self, ExactLikelihoodResults):
            restricted = [("LL (rho0=rho1=0):", [f"{self.llf_restricted:.4f}"])]
            top_left, top_right = self.summary_header("Switching regression", method,
                                                      restricted)
        else:
            variables, counts = m._summary_variables()
            top_left = (variables + [("Model:", ["Switching regression"]),
                                     ("Method:", [method])] + _inference.cov_lines(self))
            top_right = [("No. Observations:", [f"{int(self.nobs)}"])] + counts
        kz, k0, k1 = m.k_select, m.k_outcome0, m.k_outcome1
        s = m.endog_select_name
        blocks = [(f"outcome0: {m.endog0_name} ({s}=0)", slice(kz, kz + k0), m.exog0_names),
                  (f"outcome1: {m.endog1_name} ({s}=1)", slice(kz + k0, kz + k0 + k1),
                   m.exog1_names),
                  (f"selection: {s}", slice(0, kz), m.exog_select_names)]
        return _inference.build_summary(self, title, top_left, top_right,
                                        blocks + estimation_blocks, self.ancillary_frame(alpha),
                                        ancillary_title, notes, alpha)


class SwitchingResults(_SwitchingResultsMixin, ExactLikelihoodResults):
    """Results of :meth:`SwitchingRegression.fit` (maximum likelihood).

    The statsmodels results interface plus ``llf``, ``aic``, ``bic``,
    ``converged``, ``rho0``, ``rho1``, ``sigma0``, ``sigma1``,
    ``ancillary`` (rho0, sigma0, rho1, sigma1, lambda0 = rho0 sigma0,
    lambda1, delta-method standard errors), ``llf_restricted`` (rho0 = rho1
    = 0), ``lr_test_rho`` / ``wald_test_rho`` / ``rho_test`` (chi2(2)),
    ``predict()``, ``treatment_effects()``, ``get_margeff()``,
    ``profile_loglike()``, ``summary()`` and, after
    ``fit(global_search=True)``, ``global_search``.
    """

    def _lambda_specs(self, p):
        anc = self.model._ancillary_entries(p)
        return anc["lambda0"], anc["lambda1"]

    @property
    def lr_test_rho(self):
        """Likelihood-ratio test of rho0 = rho1 = 0: chi2(2)."""
        return _inference.lr_test(self.llf, self.llf_restricted, 2, "rho0 = rho1 = 0")

    @property
    def wald_test_rho(self):
        """Wald test of athrho0 = athrho1 = 0 with the fit's covariance: chi2(2)."""
        return _inference.wald_test_zero(self.params, self.cov_params(),
                                         list(self.model._athrho_indices), "rho0 = rho1 = 0")

    @property
    def rho_test(self):
        """LR test of rho0 = rho1 = 0 under the model-based covariance, Wald
        under a robust or cluster one (as Stata)."""
        return self.lr_test_rho if self.cov_type == "nonrobust" else self.wald_test_rho

    def profile_loglike(self, param="rho1", grid=None, maxiter: int = 100):
        """Profile log-likelihood of ``"rho0"`` or ``"rho1"`` (the maximum over
        every other parameter, the other correlation included, on a grid; see
        :func:`~econderiv.models._inference.profile_correlation`), or of both
        jointly (``param=("rho0", "rho1")``, on the product grid)."""
        names = [param] if isinstance(param, str) else list(param)
        if not names or any(n not in ("rho0", "rho1") for n in names) or len(set(names)) < len(
                names):
            raise ValueError(f"param must be 'rho0', 'rho1' or ('rho0', 'rho1'), got {param!r}")
        idx = [self.model._athrho_indices[int(n[-1])] for n in names]
        key = (tuple(names), None if grid is None else tuple(np.ravel(grid)))
        if key not in self._profile_cache:
            p = np.asarray(self.params, float)
            prof = _inference.profile_correlation(self.model, idx[0] if len(idx) == 1 else idx,
                                                  p, grid, maxiter, self.model._cold_start())
            if len(idx) == 1:
                prof = prof.rename(columns={"rho": names[0]})
            prof.attrs.update({f"mle_{n}": float(np.tanh(p[i])) for n, i in zip(names, idx)},
                              mle_llf=self.llf)
            self._profile_cache[key] = prof
        return self._profile_cache[key]

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """Outcome, selection and ancillary blocks, and the test of rho0 = rho1 = 0."""
        m = self.model
        k = m.k_select + m.k_outcome0 + m.k_outcome1
        notes = [str(self.rho_test)]
        if self.global_search is not None:
            notes.append(f"global search over (rho0, rho1): {len(self.global_search)} maxima "
                         "examined; this is the highest.")
        return self._summary(title or "Switching regression (Tobit type 5, ML)", "MLE",
                             [("ancillary (estimation scale)", slice(k, k + 4),
                               ["athrho0", "lnsigma0", "athrho1", "lnsigma1"])],
                             "natural scale", notes, alpha)


class SwitchingTwoStepResults(_SwitchingResultsMixin, TwoStepResults):
    """Results of :meth:`SwitchingRegression.fit_twostep`.

    Parameters ``(selection:..., outcome0:..., outcome1:..., lambda0,
    lambda1)`` with the corrected covariance; ``ancillary`` has rho0,
    sigma0, rho1, sigma1 (consistent estimators, no standard errors) and
    lambda0, lambda1; ``llf`` is NaN. ``predict()``, ``treatment_effects()``,
    ``get_margeff()``, ``summary()`` as for ML.
    """

    def _correction_terms(self):
        return [(str(r), reg.rho, reg.sigma) for r, reg in enumerate(self.twostep.regimes)]

    def _lambda_specs(self, p):
        out = []
        for j in (2, 1):
            grad = np.zeros(len(p))
            grad[-j] = 1.0
            out.append((p[-j], grad))
        return out

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """Outcome and selection blocks and lambda, rho, sigma of each regime."""
        note = ("rho and sigma are the two-step consistent estimators (no standard errors, "
                "as in Stata); the standard errors are corrected for the estimated inverse "
                "Mills ratios (lambda0 = -phi/(1 - Phi) for s = 0, lambda1 = phi/Phi for s = 1).")
        return self._summary(title or "Switching regression (Tobit type 5, two-step)",
                             "Two-step", [], "mills (lambda_r = rho_r sigma_r)", [note], alpha)


class SwitchingResultsWrapper(LikelihoodResultsWrapper):
    pass


class SwitchingTwoStepResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(SwitchingResultsWrapper, SwitchingResults)
wrap.populate_wrapper(SwitchingTwoStepResultsWrapper, SwitchingTwoStepResults)

SwitchingRegression._results_class = SwitchingResults
SwitchingRegression._wrapper_class = SwitchingResultsWrapper
