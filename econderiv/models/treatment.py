r"""Linear regression with an endogenous binary treatment: full ML and two-step.

Model (Maddala 1983, sec. 5.7; Stata's ``etregress``; R sampleSelection's
``treatReg``)::

    treatment  d* = z'gamma + u,   d = 1[d* > 0]
    outcome    y  = x'beta + delta d + e     (y observed on every row)
    (u, e) ~ bivariate normal, var(u) = 1, var(e) = sigma^2, corr(u, e) = rho

* :class:`EndogenousTreatment` -- the family adapter on the shared core
  (:mod:`econderiv.models._likelihood`), kernel
  :func:`econderiv.models._treatment_kernels.loglike_derivs`. ``fit()`` is ML
  (``method=`` names the optimizer); ``fit_twostep()`` is Maddala's two-step
  with the corrected covariance (Stata's ``etregress, twostep``).
* :class:`EndogenousTreatmentResults` (ML) and
  :class:`EndogenousTreatmentTwoStepResults`: ``ancillary`` (rho, sigma,
  lambda = rho sigma), ``treatment_effects()`` (ATE, ATET, ATENT and the
  potential-outcome means, delta-method standard errors), ``predict(which=)``,
  ``get_margeff()``, ``summary()``; ML also ``profile_loglike("rho")`` and
  ``fit(global_search=True)``.
"""

from __future__ import annotations

import copy
import warnings
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModel, \
    LikelihoodResultsWrapper
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from econderiv.models import _data, _inference, _optim
from econderiv.models import _treatment_kernels as K
from econderiv.models._likelihood import (ExactLikelihoodModel, ExactLikelihoodResults,
                                          TwoStepResults,
                                          single_thread_blas)

__all__ = ["EndogenousTreatment", "EndogenousTreatmentResults",
           "EndogenousTreatmentTwoStepResults"]

_PREDICT = ("xb", "y1", "y0", "te", "ycond", "yctrt", "ycntrt", "psel", "xbtrt")
_MARGINS = ("xb", "ycond", "yctrt", "ycntrt", "psel")


def _treatment_column(X, xnames, d, dname):
    """Index of the outcome column that is the treatment indicator, or None.

    A column named ``dname`` (or patsy's ``dname[T.1]``, ``dname[T.True]``)
    equal to ``d`` on every row; failing that, any column equal to ``d``.
    """
    equal = [j for j in range(X.shape[1]) if np.array_equal(X[:, j], d)]
    named = [j for j in equal if xnames[j] == dname or xnames[j].startswith(dname + "[")]
    return (named or equal or [None])[0]


class EndogenousTreatment(ExactLikelihoodModel):
    r"""Linear regression with an endogenous binary treatment (the
    treatment-effects model).

    .. math::

        d_i = 1[z_i'\gamma + u_i > 0],\qquad y_i = x_i'\beta + \delta d_i + e_i,

    :math:`(u_i, e_i)` bivariate normal, :math:`var(u) = 1`,
    :math:`var(e) = \sigma^2`, :math:`corr = \rho`. Log-likelihood of a row,
    ``q = 2d - 1``, ``r = (y - x'beta)/sigma``::

        l = log Phi(q (z'gamma + rho r) / sqrt(1 - rho^2)) - r^2/2 - log sigma - log(2 pi)/2

    The name says what the model is. Stata calls it ``etregress``
    ("endogenous treatment-effects regression") and R sampleSelection
    ``treatReg``; ``TreatmentEffects`` would collide in meaning with
    statsmodels' ``statsmodels.treatment.TreatmentEffect``, whose estimators
    (IPW, regression adjustment) assume the treatment is exogenous given the
    regressors; here it is not, and the correlation ``rho`` is the point.

    Parameters
    ----------
    endog : array_like or Series, (n,)
        Outcome ``y``, observed on every row (treated and untreated).
    exog : array_like or DataFrame, (n, k_x)
        Outcome regressors ``x`` including the treatment indicator: the
        column named like ``endog_treatment`` (or patsy's ``d[T.True]``) or,
        failing that, a column equal to it. When no column is, the indicator
        is appended as the last outcome regressor (``model.treatment_added``).
        Interactions of the treatment with other regressors are allowed with
        :meth:`from_formula` (the potential outcomes are then rebuilt through
        the formula); with arrays only the one column is switched.
    endog_treatment : array_like or Series, (n,)
        The treatment ``d``, 0/1 or boolean.
    exog_treatment : array_like or DataFrame, (n, k_z)
        Treatment regressors ``z``; identification other than by normality
        needs a variable in ``z`` excluded from ``x`` (``model.has_exclusion``).
    missing : {"none", "drop", "raise"}
        Rows with NaN in any input raise a ``ValueError`` naming the columns
        ("none", "raise") or are dropped ("drop"; ``model.n_dropped``).
    freq_weights, prob_weights, importance_weights : array_like, optional
        Row weights (Stata's fweight, pweight, iweight; at most one).

    Notes
    -----
    Parameters ``treatment:<z term>``..., ``outcome:<x term>``...,
    ``athrho``, ``lnsigma`` (``rho = tanh(athrho)``, ``sigma =
    exp(lnsigma)``). Score (1-D) and Hessian (square) are analytic
    (:mod:`econderiv.models._treatment_kernels`, formulas there).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from econderiv import EndogenousTreatment
    >>> rng = np.random.default_rng(0)
    >>> n = 2000
    >>> df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    >>> u, e = rng.multivariate_normal([0, 0], [[1, .5], [.5, 1]], size=n).T
    >>> df["d"] = (df.x + df.z + u > 0).astype(int)
    >>> df["y"] = 1 + df.x + 2 * df.d + e
    >>> mod = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z")
    >>> res = mod.fit()
    >>> te = res.treatment_effects()     # ATE, ATET, potential-outcome means
    """

    _other_estimators = {e: "fit_twostep()" for e in ("twostep", "two-step", "2step")}
    _other_estimators.update({e: "fit() (ML is the default; method names the optimizer)"
                              for e in ("mle", "ml")})

    def __init__(self, endog, exog, endog_treatment, exog_treatment, missing: str = "none",
                 **kwargs):
        wspec = _data.pop_weights(kwargs, type(self).__name__)
        _data.check_missing_rule(missing)
        y, yname, iy = _data.as_vector(endog, "the outcome", "y")
        d, dname, id_ = _data.as_vector(endog_treatment, "the treatment", "d")
        X, xnames, ix = _data.as_matrix(exog, "exog", "x")
        Z, znames, iz = _data.as_matrix(exog_treatment, "exog_treatment", "z")
        (y, X, d, Z), index = _data.align_inputs(
            [("endog", y, iy), ("exog", X, ix), ("endog_treatment", d, id_),
             ("exog_treatment", Z, iz)])
        index = pd.RangeIndex(len(y)) if index is None else index
        bad = {"y": ~np.isfinite(y), "d": np.isnan(d), "x": ~np.isfinite(X).all(axis=1),
               "z": ~np.isfinite(Z).all(axis=1)}
        drop = bad["y"] | bad["d"] | bad["x"] | bad["z"]
        if drop.any() and missing != "drop":
            parts = []
            if bad["y"].any():
                parts.append(f"the outcome {yname!r} ({int(bad['y'].sum())} rows; the model "
                             "needs the outcome on every row, treated and untreated)")
            if bad["d"].any():
                parts.append(f"the treatment {dname!r} ({int(bad['d'].sum())} rows)")
            if bad["x"].any():
                parts.append("the outcome regressors: " + ", ".join(_data.nan_columns(X, xnames)))
            if bad["z"].any():
                parts.append("the treatment regressors: "
                             + ", ".join(_data.nan_columns(Z, znames)))
            raise ValueError("missing (NaN or infinite) values in " + "; ".join(parts)
                             + ". Pass missing='drop' to drop those rows.")
        kept = ~drop
        if drop.any():
            y, d, X, Z, index = y[kept], d[kept], X[kept], Z[kept], index[kept]
        d = _data.check_binary(d, f"the treatment {dname!r}")
        n1, n0 = int((d == 1).sum()), int((d == 0).sum())
        if n1 == 0:
            raise ValueError(f"no treated rows: the treatment {dname!r} is 0 in all {n0} rows")
        if n0 == 0:
            raise ValueError(f"no untreated rows: the treatment {dname!r} is 1 in all {n1} "
                             "rows; there is no comparison group")
        j = _treatment_column(X, xnames, d, dname)
        self.treatment_added = j is None
        if j is None:
            X = np.column_stack([X, d])
            xnames = list(xnames) + [dname]
            j = X.shape[1] - 1
        self._tcol = j
        _data.check_magnitude(y, [yname], "the outcome")
        _data.check_full_rank(Z, znames, "the treatment design (exog_treatment)")
        _data.check_full_rank(X, xnames, "the outcome design (exog, with the treatment)")
        others = np.delete(X, j, axis=1)
        self.has_exclusion = bool(others.shape[1] == 0 or _data.has_exclusion(Z, others))
        kwargs.pop("hasconst", None)
        LikelihoodModel.__init__(self, pd.Series(y, index=index, name=yname),
                                 pd.DataFrame(X, columns=xnames, index=index),
                                 missing="none", hasconst=False, **kwargs)
        self._y, self._X, self._d, self._Z = y, np.ascontiguousarray(X), d, np.ascontiguousarray(Z)
        self.endog_treatment, self.exog_treatment = d, Z
        self.endog_name, self.endog_treatment_name = yname, dname
        self.exog_treatment_names = list(znames)
        self.row_labels, self.n_dropped, self._kept = index, int(drop.sum()), kept
        self.k_treat, self.k_outcome = Z.shape[1], X.shape[1]
        self.param_names = (_data.prefixed("treatment", znames)
                            + _data.prefixed("outcome", xnames) + ["athrho", "lnsigma"])
        self.data.param_names = self.param_names
        self.k_params = len(self.param_names)
        self._rho_index = self.k_treat + self.k_outcome
        self.nobs, self._nrows = float(len(y)), len(y)
        self.nobs_treated, self.nobs_untreated = n1, n0
        self.df_model = float(self.k_outcome - int(_data.constant_columns(X).any()))
        self.df_resid = self.nobs - self.k_params
        self._design_infos = None
        self.formula = self.formula_treatment = None
        self._twostep_cache = None
        self._init_weights(wspec)

    @classmethod
    def from_formula(cls, formula: str, data: pd.DataFrame, treatment: str,
                     missing: str = "drop", subset=None, **kwargs):
        """Build the model from outcome and treatment formulas (patsy, as statsmodels).

        Parameters
        ----------
        formula : str
            Outcome equation with the treatment indicator among the regressors,
            ``"y ~ x1 + x2 + d"`` (interactions such as ``d:x1`` allowed). If
            the indicator is not there it is added as the last regressor.
        data : DataFrame
        treatment : str
            Treatment equation, the 0/1 (or boolean) indicator on the left:
            ``"d ~ x1 + z"``.
        missing : {"drop", "none", "raise"}
            ``"drop"`` (statsmodels' formula default) drops incomplete rows;
            "none" and "raise" raise naming the columns.
        subset : index labels or boolean mask, optional
        **kwargs
            Passed to the constructor (weights may name a column of ``data``).
        """
        from econderiv.models import _dask

        if _dask.is_dask(data):  # data larger than memory: the distributed backend
            return _dask.from_formula(cls, formula, data, missing=missing, subset=subset,
                                      treatment=treatment, **kwargs)
        data = _data.subset_rows(data, subset)
        _data.formula_weights(kwargs, data)
        y, x, yname = _data.lhs_design(formula, data, "outcome formula")
        d, z, dname = _data.lhs_design(treatment, data, "treatment formula")
        model = cls(y.rename(yname), x, d.rename(dname), z, missing=missing, **kwargs)
        model.formula, model.formula_treatment = formula, treatment
        model._remember_formulas([formula, treatment], [x.design_info, z.design_info], data)
        return model

    # -- kernel contract and the core's hooks -------------------------------------
    def _block_data(self, rows):
        return K.TreatmentData.from_arrays(self._y[rows], self._X[rows], self._d[rows],
                                           self._Z[rows])

    @staticmethod
    def _kernel(params, data, order, llobs, per_obs, weights=None):
        return K.loglike_derivs(params, data, order, llobs, per_obs, weights)

    def _ancillary_entries(self, params):
        """rho = tanh(athrho), sigma = exp(lnsigma), lambda = rho sigma (delta method)."""
        p = np.asarray(params, dtype=float)
        rho, sigma = np.tanh(p[-2]), np.exp(p[-1])
        grad = np.zeros(len(p))
        grad[-2:] = (1 - rho * rho) * sigma, rho * sigma
        return {"rho": (len(p) - 2, "tanh"), "sigma": (len(p) - 1, "exp"),
                "lambda": (rho * sigma, grad)}

    def _restricted_fits(self):
        """rho = 0: the probit and the regression fitted apart, here as the ML
        fit with athrho fixed at 0 (so that weights are honoured)."""
        x, llf, ok = _inference.fit_with_fixed(self, self._rho_index, 0.0,
                                               self._cold_start())
        return [(x, llf, ok)]

    def _equation_blocks(self):
        infos = self._design_infos or [None, None]
        return [("treatment", 0, infos[1], self.exog_treatment_names),
                ("outcome", self.k_treat, infos[0], list(self.exog_names))]

    def _summary_variables(self):
        return ([("Dep. Variable:", [self.endog_name]),
                 ("Treatment:", [self.endog_treatment_name])],
                [("Treated:", [f"{self.nobs_treated}"]),
                 ("Untreated:", [f"{self.nobs_untreated}"])])

    # -- two-step, start values ---------------------------------------------------
    def _twostep(self) -> K.TwoStep:
        if self._twostep_cache is None:
            with single_thread_blas():
                self._twostep_cache = K.treatment_twostep(self._y, self._X, self._d, self._Z,
                                                          weights=self._w)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        """ML start: the two-step estimates, rho clamped into (-0.95, 0.95)."""
        ts = self._twostep()
        rho = float(np.clip(ts.rho_untruncated, -0.95, 0.95))
        sigma = ts.sigma if np.isfinite(ts.sigma) and ts.sigma > 0 else float(np.std(ts.resid))
        return np.concatenate([ts.params[:-1], [np.arctanh(rho), np.log(sigma)]])

    # -- estimators -----------------------------------------------------------------
    def fit(self, start_params=None, method: str = _optim.DEFAULT_METHOD, maxiter: int = 100,
            disp: bool = False, callback=None, cov_type=None, cov_kwds=None,
            global_search: bool = False, **kwargs):
        _optim.check_method(method, other_entry_points=self._other_estimators)
        return self._fit_ml(start_params, method, maxiter, disp, callback, cov_type, cov_kwds,
                            global_search, kwargs)

    fit.__doc__ = ExactLikelihoodModel.fit.__doc__.replace(
        "Hessian.\n", "Hessian.\n\n        The default start is the two-step estimate (rho clamped into "
        "(-0.95, 0.95)).\n        Maddala's two-step estimator is :meth:`fit_twostep`.\n", 1)

    def fit_twostep(self, cov_type=None, cov_kwds=None, **kwargs):
        """Maddala's two-step estimator (Stata's ``etregress, twostep``).

        Probit of the treatment, then OLS of ``y`` on the outcome regressors
        (with the treatment) and the signed hazard ``h`` (``lambda(z'g)`` for
        the treated, ``-lambda(-z'g)`` for the untreated), with the covariance
        corrected for the estimated regressor (formulas in
        :mod:`econderiv.models._treatment_kernels`). Parameters
        ``treatment:...``, ``outcome:...``, ``lambda`` (the coefficient on
        ``h``, ``= rho sigma``); ``rho`` and ``sigma`` are the consistent
        estimators, without standard errors, as in Stata. With weights, a
        weighted probit and weighted least squares.

        Parameters
        ----------
        cov_type : {"nonrobust", "HC0", "HC1", "cluster"}, optional
            ``"nonrobust"`` (the default without sampling weights): the
            corrected covariance, which assumes homoskedastic normal errors.
            The robust types treat the two steps as one stacked M-estimator
            (:func:`~econderiv.models._treatment_kernels.twostep_moments`) and
            take the sandwich; with ``prob_weights`` the default is ``"HC1"``
            with Stata's ``N/(N-1)``. ``cov_kwds`` as in :meth:`fit`.
        """
        _optim.check_keywords(kwargs, (), "EndogenousTreatment.fit_twostep() (closed form; "
                              "optimizer keywords belong to fit())")
        cov_type, cov_kwds, n_groups = self._cov_request(cov_type, cov_kwds, twostep=True)
        ts = self._twostep()
        if ts.rho != ts.rho_untruncated:
            warnings.warn(
                f"the two-step estimate of rho, {ts.rho_untruncated:.4f}, is outside "
                f"[-1, 1]; it is truncated to {ts.rho:.0f} and sigma set to |lambda| "
                f"= {ts.sigma:.4g} (as Stata does). The model may be misspecified; compare "
                "with fit() (ML).", RuntimeWarning, stacklevel=_data.user_stacklevel())
        if not ts.probit_converged:
            warnings.warn("the first-step probit did not converge (separation?): check the "
                          "treatment regressors", ConvergenceWarning,
                          stacklevel=_data.user_stacklevel())
        view = copy.copy(self)  # the same model under the two-step parameter names
        view.data = copy.copy(self.data)
        view.param_names = view.data.param_names = self.param_names[:-2] + ["lambda"]
        cov, description = ts.cov, "Maddala's two-step covariance, corrected for the hazard"
        if cov_type != "nonrobust":
            G, J = K.twostep_moments(ts, self._y, self._X, self._d, self._Z, self._w)
            cov, description = _inference.covariance(
                None, G, self._w, self.weight_type, cov_type, cov_kwds, float(self.nobs),
                len(ts.params), bread=-np.linalg.inv(J))
        res = EndogenousTreatmentTwoStepResults(view, ts.params, cov, ts)
        res.cov_type = cov_type
        res.cov_kwds = dict(cov_kwds, description=description)
        res.n_groups = n_groups
        return EndogenousTreatmentTwoStepResultsWrapper(res)

    # -- designs: potential outcomes, new data ---------------------------------------
    def _switched(self, X, raw, value: int):
        """The outcome design with the treatment set to ``value`` on every row:
        through the formula when the model has one and the raw rows are at
        hand (interactions follow), else by switching the treatment column."""
        info = self._design_infos[0] if self._design_infos else None
        dname = self.endog_treatment_name
        if info is not None and raw is not None and dname in raw.columns:
            frame = raw.copy()
            col = raw[dname]
            frame[dname] = bool(value) if col.dtype == bool else value
            out, _ = self._formula_outcome_design(frame, info)
            return out
        out = np.array(X, dtype=float, copy=True)
        out[:, self._tcol] = value
        return out

    def _formula_outcome_design(self, frame, info):
        """``(X, index)``: raw rows through the outcome formula, with the
        treatment column of ``frame`` appended when the model appended it
        (the formula then does not make that column)."""
        names = list(self.exog_names)
        if not self.treatment_added:
            return _data.new_design(frame, self.k_outcome, names, "exog", info)
        X, index = _data.new_design(frame, self.k_outcome - 1, names[:-1], "exog", info)
        d = frame[self.endog_treatment_name].to_numpy(dtype=float)
        return np.column_stack([X, d]), index

    def _raw_rows(self):
        f = self._formula_frame
        return None if f is None else f.loc[np.asarray(self._kept, bool)]

    @cached_property
    def _potential_designs(self):
        raw = self._raw_rows()
        return self._switched(self._X, raw, 1), self._switched(self._X, raw, 0)

    def _new_designs(self, exog, exog_treatment, transform: bool):
        """``(X, X1, X0, Z, d, index)`` for new data (``None`` where not given)."""
        infos = self._design_infos if transform and self._design_infos else [None, None]
        raw = exog if (infos[0] is not None and isinstance(exog, pd.DataFrame)) else None
        if exog_treatment is None and infos[1] is not None and isinstance(exog, pd.DataFrame):
            exog_treatment = exog  # raw data serve both formulas
        X = X1 = X0 = Z = d = index = None
        if exog is not None:
            if raw is not None and self.endog_treatment_name not in raw.columns:
                # the outcome formula needs the treatment column: build at d = 0 and 1
                tmp = raw.assign(**{self.endog_treatment_name: 0})
                X0, index = self._formula_outcome_design(tmp, infos[0])
                X1 = self._switched(X0, tmp, 1)
            else:
                X, index = (self._formula_outcome_design(raw, infos[0]) if raw is not None
                            else _data.new_design(exog, self.k_outcome, list(self.exog_names),
                                                  "exog"))
                d = X[:, self._tcol]
                X1, X0 = self._switched(X, raw, 1), self._switched(X, raw, 0)
        if exog_treatment is not None:
            Z, iz = _data.new_design(exog_treatment, self.k_treat, self.exog_treatment_names,
                                     "exog_treatment", infos[1])
            index = iz if index is None else index
        if X1 is not None and Z is not None and len(X1) != len(Z):
            raise ValueError(f"exog has {len(X1)} rows but exog_treatment has {len(Z)}")
        return X, X1, X0, Z, d, index


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class _TreatmentResultsMixin:
    """What the ML and two-step results share."""

    @property
    def nobs_treated(self) -> int:
        return self.model.nobs_treated

    @property
    def nobs_untreated(self) -> int:
        return self.model.nobs_untreated

    @property
    def rho(self) -> float:
        return float(self.ancillary.loc["rho", "coef"])

    @property
    def sigma(self) -> float:
        return float(self.ancillary.loc["sigma", "coef"])

    @property
    def lambda_(self) -> float:
        return float(self.ancillary.loc["lambda", "coef"])

    def _structural(self, params=None):
        """``(gamma, beta, L, J)``: ``L = rho sigma`` and ``J`` the Jacobian of
        ``(gamma, beta, L)`` in ``params``."""
        p = np.asarray(self.params if params is None else params, dtype=float)
        kz, kx = self.model.k_treat, self.model.k_outcome
        L, grad = self._lambda_spec(p)
        J = np.zeros((kz + kx + 1, len(p)))
        J[:kz + kx, :kz + kx] = np.eye(kz + kx)
        J[-1] = grad
        return p[:kz], p[kz:kz + kx], float(L), J

    @cached_property
    def wald_outcome(self):
        """Wald test that all outcome slopes (the treatment's included) are zero."""
        m = self.model
        const = _data.constant_columns(m._X)
        idx = [m.k_treat + j for j in range(m.k_outcome) if not const[j]]
        return _inference.wald_test_zero(self.params, self.cov_params(), idx,
                                         "outcome slopes = 0")

    def treatment_effects(self, alpha: float = 0.05) -> pd.DataFrame:
        """Average treatment effects and potential-outcome means over the
        estimation sample, with delta-method standard errors (the regressors
        taken as given, as Stata's ``margins`` by default).

        Rows (:func:`econderiv.models._treatment_kernels.effects`): ``ATE``,
        ``ATET`` (on the treated), ``ATENT`` (on the untreated), ``E[y(1)]``,
        ``E[y(0)]`` and the potential-outcome means within each group,
        ``E[y(j) | d=1] = mean x(j)'beta + rho sigma mean lambda(z'g)`` and
        ``E[y(j) | d=0] = mean x(j)'beta - rho sigma mean lambda(-z'g)``.
        Both potential outcomes share the error ``e``, so the selection terms
        cancel in the effects: ATET = ATE = ``delta`` unless the outcome
        equation interacts the treatment with other regressors. Weighted fits
        use weighted means.

        Returns
        -------
        DataFrame with ``coef``, ``std err``, ``z``, ``P>|z|`` and the interval.
        """
        m = self.model
        gamma, beta, L, Jp = self._structural()
        X1, X0 = m._potential_designs
        vals, J = K.effects(X1, X0, m._Z, m._d, gamma, beta, L, m.weights)
        cov = J @ Jp @ np.asarray(self.cov_params(), float) @ (J @ Jp).T
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        z = vals / se
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"coef": vals, "std err": se, "z": z,
                             "P>|z|": 2 * stats.norm.sf(np.abs(z)),
                             f"[{alpha / 2:g}": vals - q * se,
                             f"{1 - alpha / 2:g}]": vals + q * se}, index=list(K.EFFECTS))

    @property
    def ate(self) -> float:
        """Average treatment effect (see :meth:`treatment_effects`)."""
        return float(self.treatment_effects().loc["ATE", "coef"])

    @property
    def atet(self) -> float:
        """Average treatment effect on the treated."""
        return float(self.treatment_effects().loc["ATET", "coef"])

    def predict(self, exog=None, exog_treatment=None, which: str = "xb",
                transform: bool = True):
        """Predictions at the estimation sample or at new regressors.

        Parameters
        ----------
        exog, exog_treatment : array_like or DataFrame, optional
            Outcome regressors (with the treatment column) and treatment
            regressors. For a formula model a DataFrame of raw data goes
            through the formulas (``exog`` alone serves both equations; the
            treatment column is needed only for ``"xb"`` and ``"ycond"``).
            None: the estimation sample.
        which : str
            ``"xb"`` ``x'beta`` at the observed treatment; ``"y1"``, ``"y0"``
            the potential-outcome means ``x(1)'beta``, ``x(0)'beta``; ``"te"``
            their difference; ``"yctrt"`` ``E[y | d = 1] = x(1)'beta + rho
            sigma lambda(z'g)``; ``"ycntrt"`` ``E[y | d = 0] = x(0)'beta - rho
            sigma lambda(-z'g)``; ``"ycond"`` ``E[y | d]`` at the observed
            treatment; ``"psel"`` ``P(d = 1) = Phi(z'g)``; ``"xbtrt"`` ``z'g``.
        transform : bool
            Pass DataFrame input through the formulas (formula models).

        Returns
        -------
        Series indexed like the data (pandas input or the estimation sample),
        else ndarray.
        """
        if which not in _PREDICT:
            raise ValueError(f"which must be one of {_PREDICT}, got {which!r}")
        gamma, beta, L, _ = self._structural()
        m = self.model
        if exog is None and exog_treatment is None:
            X1, X0 = m._potential_designs
            X, Z, d, index = m._X, m._Z, m._d, m.row_labels
        else:
            X, X1, X0, Z, d, index = m._new_designs(exog, exog_treatment, transform)
            needs_x = which in ("xb", "y1", "y0", "te", "ycond", "yctrt", "ycntrt")
            if needs_x and X1 is None:
                raise ValueError(f"which={which!r} needs exog (the outcome regressors)")
            if which in ("xb", "ycond") and X is None:
                raise ValueError(f"which={which!r} needs the observed treatment "
                                 f"{m.endog_treatment_name!r} in exog")
            if which in ("ycond", "yctrt", "ycntrt", "psel", "xbtrt") and Z is None:
                raise ValueError(f"which={which!r} needs exog_treatment (the treatment "
                                 "regressors)")
        out = np.asarray(K.prediction(which, X, X1, X0, Z, d, gamma, beta, L), dtype=float)
        return _data.labelled(out, index, which)

    def get_margeff(self, which: str = "yctrt", at: str = "overall", dummy: bool = False,
                    variables=None) -> _inference.MarginalEffects:
        """Marginal effects of the regressors (other than the treatment) on a
        prediction, with delta-method standard errors.

        A term's effect combines its outcome coefficient and its treatment
        coefficient (matched by name): for ``"yctrt"``, ``dE[y | d=1]/dx_k =
        beta_k + rho sigma gamma_k lambda'(z'g)``; ``"ycntrt"`` likewise with
        ``-lambda(-z'g)``; ``"ycond"`` at the observed treatment; ``"psel"``
        ``phi(z'g) gamma_k``; ``"xb"`` ``beta_k``. The treatment's own effect
        is :meth:`treatment_effects`.

        Parameters
        ----------
        which : {"yctrt", "ycntrt", "ycond", "psel", "xb"}
        at : {"overall", "mean"}
            Average of the effects over the rows, or at the regressor means
            (not for ``"ycond"``, which depends on each row's treatment).
        dummy : bool
            With ``at="overall"``, discrete changes for 0/1 regressors.
        variables : str or list of str, optional
            Terms to report (default: every non-constant term but the treatment).
        """
        if which not in _MARGINS:
            raise ValueError(f"which must be one of {_MARGINS}, got {which!r}")
        if which == "ycond" and at == "mean":
            raise ValueError("which='ycond' depends on each row's treatment: use "
                             "at='overall', or 'yctrt' / 'ycntrt' at the means")
        m = self.model
        X1, X0 = m._potential_designs
        xnames, znames = list(m.exog_names), list(m.exog_treatment_names)
        X = {"xb": m._X, "ycond": m._X, "yctrt": X1, "ycntrt": X0, "psel": None}[which]
        q = (2.0 * m._d - 1.0)[:, None]
        designs = [m._Z if X is None else X, m._Z, q]
        names = [znames if X is None else xnames, znames, ["_q"]]
        uses = {"xb": [True, False, False], "psel": [False, True, False]}.get(
            which, [True, True, False])
        if variables is None:
            # every non-constant term but the treatment and its interactions
            moves = set(np.array(xnames)[np.any(X1 != X0, axis=0)])
            variables = []
            for e in (0, 1):
                if uses[e]:
                    const = _data.constant_columns(designs[e]) | np.all(designs[e] == 0, axis=0)
                    variables += [n for j, n in enumerate(names[e]) if not const[j]
                                  and n not in moves and n not in variables]

        def index_params(p):
            gamma, beta, _, _ = self._structural(p)
            return [gamma if X is None else beta, gamma, np.zeros(1)]

        def predict(p, ds, grad):
            gamma, beta, L, _ = self._structural(p)
            xb = ds[0] @ (gamma if X is None else beta)
            w = ds[1] @ gamma
            if which == "xb":
                val, dx, dw = xb, np.ones_like(xb), np.zeros_like(xb)
            elif which == "psel":
                val, dx, dw = stats.norm.cdf(w), np.zeros_like(w), stats.norm.pdf(w)
            else:
                sign = {"yctrt": np.ones_like(w), "ycntrt": -np.ones_like(w)}.get(
                    which, ds[2][:, 0] if ds[2].shape[0] == len(w) else np.ones_like(w))
                lam = sign * K.mills_ratio(sign * w)
                val = xb + L * lam
                dx, dw = np.ones_like(xb), L * K.mills_ratio_deriv(sign * w, 1)
            return (val, [dx, dw, np.zeros_like(w)]) if grad else val

        gamma, beta, L, _ = self._structural()
        y, dn = m.endog_name, m.endog_treatment_name
        desc = {"xb": f"x'beta ({y})", "ycond": f"E[{y} | {dn}]",
                "yctrt": f"E[{y} | {dn} = 1]", "ycntrt": f"E[{y} | {dn} = 0]",
                "psel": f"P({dn} = 1)"}[which]
        return _inference.index_margins(np.asarray(self.params, float), self.cov_params(),
                                        designs, names, index_params, predict, which, at,
                                        dummy, desc, uses=uses, variables=variables,
                                        weights=m.weights)

    def _summary(self, title, method, estimation_blocks, ancillary_title, notes, alpha):
        m = self.model
        wald = self.wald_outcome
        wald_rows = [(f"Wald chi2({wald.df}):", [f"{wald.statistic:.2f}"]),
                     ("Prob > chi2:", [f"{wald.pvalue:.4f}"])]
        if isinstance(self, ExactLikelihoodResults):
            top_left, top_right = self.summary_header("Endogenous treatment", method,
                                                      wald_rows)
        else:
            variables, counts = m._summary_variables()
            top_left = (variables + [("Model:", ["Endogenous treatment"]),
                                     ("Method:", [method])] + _inference.cov_lines(self))
            top_right = [("No. Observations:", [f"{int(self.nobs)}"])] + counts + wald_rows
        kz, kx = m.k_treat, m.k_outcome
        blocks = [("outcome: " + str(m.endog_names), slice(kz, kz + kx), m.exog_names),
                  ("treatment: " + m.endog_treatment_name, slice(0, kz),
                   m.exog_treatment_names)]
        te = self.treatment_effects(alpha).loc[["ATE", "ATET"]]
        notes = list(notes) + [f"{k}: {r['coef']:.4f} (std err {r['std err']:.4f})"
                               for k, r in te.iterrows()]
        if not m.has_exclusion:
            notes.append("no exclusion restriction: every treatment regressor is also in the "
                         "outcome equation, so rho is identified by normality alone.")
        return _inference.build_summary(self, title, top_left, top_right,
                                        blocks + estimation_blocks, self.ancillary_frame(alpha),
                                        ancillary_title, notes, alpha)


class EndogenousTreatmentResults(_TreatmentResultsMixin, ExactLikelihoodResults):
    """Results of :meth:`EndogenousTreatment.fit` (maximum likelihood).

    The statsmodels results interface plus ``llf``, ``aic``, ``bic``,
    ``converged``, ``rho``, ``sigma``, ``lambda_``, ``ancillary``,
    ``llf_restricted`` (rho = 0), ``lr_test_rho``, ``rho_test``,
    ``treatment_effects()``, ``ate``, ``atet``, ``summary()``, ``predict()``,
    ``get_margeff()``, ``profile_loglike()`` and, after
    ``fit(global_search=True)``, ``global_search``.
    """

    def _lambda_spec(self, p):
        return self.model._ancillary_entries(p)["lambda"]

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """Outcome, treatment and ancillary blocks, the test of rho = 0, ATE and ATET."""
        kz, kx = self.model.k_treat, self.model.k_outcome
        notes = [str(self.rho_test)]
        if self.global_search is not None:
            notes.append(f"global search over rho: {len(self.global_search)} maxima examined; "
                         "this is the highest.")
        return self._summary(title or "Endogenous treatment regression (ML)", "MLE",
                             [("ancillary (estimation scale)", slice(kz + kx, kz + kx + 2),
                               ["athrho", "lnsigma"])], "natural scale", notes, alpha)


class EndogenousTreatmentTwoStepResults(_TreatmentResultsMixin, TwoStepResults):
    """Results of :meth:`EndogenousTreatment.fit_twostep`.

    Parameters ``(treatment:..., outcome:..., lambda)`` with the corrected
    covariance; ``ancillary`` has rho and sigma (consistent estimators, no
    standard errors, as Stata) and lambda; ``llf`` is NaN.
    """

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """Outcome and treatment blocks and lambda, rho, sigma."""
        note = ("rho and sigma are the two-step consistent estimators (no standard errors, "
                "as in Stata); lambda's standard error is corrected for the estimated hazard.")
        return self._summary(title or "Endogenous treatment regression (two-step)",
                             "Two-step", [], "hazard (lambda = rho sigma)", [note], alpha)


class EndogenousTreatmentResultsWrapper(LikelihoodResultsWrapper):
    pass


class EndogenousTreatmentTwoStepResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(EndogenousTreatmentResultsWrapper, EndogenousTreatmentResults)
wrap.populate_wrapper(EndogenousTreatmentTwoStepResultsWrapper,
                      EndogenousTreatmentTwoStepResults)

EndogenousTreatment._results_class = EndogenousTreatmentResults
EndogenousTreatment._wrapper_class = EndogenousTreatmentResultsWrapper
