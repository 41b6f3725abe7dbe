"""Probit with sample selection (Van de Ven and Van Praag 1981; Stata's ``heckprobit``).

.. math::

    s^* = z'\\gamma + u, \\quad s = 1[s^* > 0], \\qquad
    y^* = x'\\beta + e, \\quad y = 1[y^* > 0] \\text{ observed iff } s = 1,

    (u, e) \\sim N_2(0, 0, 1, 1, \\rho).

The log-likelihood has three cells::

    s = 0:          log Phi(-z'gamma)
    s = 1, y = 0:   log Phi2(z'gamma, -x'beta, -rho)
    s = 1, y = 1:   log Phi2(z'gamma,  x'beta,  rho)

with ``rho = tanh(athrho)``. The interface follows
:class:`econderiv.models.heckman.Heckman`: ``HeckProbit(endog, exog,
endog_select, exog_select)`` or ``HeckProbit.from_formula(outcome, data,
selection=...)``; parameters ``selection:<term>``, ``outcome:<term>``,
``athrho``; ``res.ancillary`` with ``rho``; the LR test of ``rho = 0``
(selection probit plus outcome probit on the selected rows) in the summary.

The kernels (log-likelihood, score, Hessian) are in
:mod:`econderiv.models._bvprobit_kernels`; predictions and marginal effects
reuse the bivariate probit's with the outcome as the first equation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults
from statsmodels.base.model import LikelihoodResultsWrapper

from econderiv.models._base import (check_binary, check_full_rank, prefixed,
                                    warn_perfect_prediction)
from econderiv.models._bvprobit_kernels import fit_probit, heckprobit_loglike_derivs
from econderiv.models.biprobit import (_BivariateResultsMixin, _CachedKernelLikelihood,
                                       _as_matrix, _constant_columns, _fit_with_restarts, _lhs_design, _make_results,
                                       _margins,
                                       _post_fit_warnings, _summary, bivariate_prediction)
from econderiv.special.normal import mills_ratio

__all__ = ["HeckProbit", "HeckProbitResults"]

# Stata's heckprobit names -> the bivariate prediction with (outcome, selection)
# as equations (1, 2).
_PREDICT = {"pmargin": "pmarg1", "p11": "p11", "p10": "p10", "p01": "p01", "p00": "p00",
            "psel": "pmarg2", "pcond": "pcond1", "xb": "xb1", "xbsel": "xb2"}


def _as_vector(x, what: str, default: str):
    """``(1-D float array, name, index or None)``."""
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise ValueError(f"{what} must be a single column, got {x.shape[1]}")
        x = x.iloc[:, 0]
    if isinstance(x, pd.Series):
        name = default if x.name is None else str(x.name)
        if x.dtype == bool:
            x = x.astype(float)
        vals = pd.to_numeric(x, errors="coerce")
        bad = vals.isna() & x.notna()
        if bad.any():
            ex = ", ".join(map(repr, pd.unique(x[bad])[:5]))
            raise ValueError(f"{what} {name!r} must be numeric 0/1: {int(bad.sum())} rows "
                             f"hold other values ({ex})")
        return vals.to_numpy(dtype=float, na_value=np.nan), name, x.index
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    return arr, default, None


def _has_exclusion(z_sel, x_sel) -> bool:
    """True if some selection regressor is outside the span of the outcome ones.

    Checked on the selected rows, where both designs are observed: each
    column of ``z`` is regressed on ``x``; a relative residual above 1e-8
    means a variable that moves selection but not the outcome index.
    """
    coef = np.linalg.lstsq(x_sel, z_sel, rcond=None)[0]
    resid = z_sel - x_sel @ coef
    scale = np.sqrt((z_sel * z_sel).sum(axis=0)) + 1e-300
    return bool(np.any(np.sqrt((resid * resid).sum(axis=0)) / scale > 1e-8))


def _nan_columns(arr, names, rows):
    bad = ~np.isfinite(arr[rows])
    return [f"{n} ({int(bad[:, j].sum())} rows)" for j, n in enumerate(names) if bad[:, j].any()]


class HeckProbit(_CachedKernelLikelihood, LikelihoodModel):
    """Probit with sample selection, fitted by exact Newton.

    Parameters
    ----------
    endog : array_like or Series (n,)
        Binary outcome ``y``; ignored (may be NaN) where ``endog_select = 0``.
    exog : array_like or DataFrame (n, k_x)
        Outcome regressors; only the selected rows must be finite.
    endog_select : array_like or Series (n,)
        Selection indicator ``s`` (0/1 or boolean).
    exog_select : array_like or DataFrame (n, k_z)
        Selection regressors. Identification other than through the
        normality of the errors needs a variable in ``z`` that is excluded
        from ``x``.
    missing : {"none", "drop", "raise"}
        Rows with NaN in ``s`` or ``z``, or in ``y`` or ``x`` where ``s = 1``,
        raise a ``ValueError`` naming the columns ("none", "raise") or are
        dropped ("drop"; the count is ``model.n_dropped``).

    Notes
    -----
    Parameters are ``selection:<z term>``..., ``outcome:<x term>``...,
    ``athrho`` (``rho = tanh(athrho)``). The score and Hessian are analytic,
    in that order; see :func:`econderiv.models._bvprobit_kernels.heckprobit_loglike_derivs`.
    """

    def __init__(self, endog, exog, endog_select, exog_select, missing: str = "none",
                 **kwargs):
        if missing not in ("none", "drop", "raise"):
            raise ValueError(f"missing must be 'none', 'drop' or 'raise', got {missing!r}")
        y, yname, iy = _as_vector(endog, "endog", "y")
        s, sname, is_ = _as_vector(endog_select, "the selection indicator", "s")
        x, xnames, ix = _as_matrix(exog, "exog")
        z, znames, iz = _as_matrix(exog_select, "exog_select", "z")
        lengths = {"endog": len(y), "exog": len(x), "endog_select": len(s),
                   "exog_select": len(z)}
        if len(set(lengths.values())) != 1:
            raise ValueError("the inputs must have the same number of rows, got "
                             + ", ".join(f"{k} {v}" for k, v in lengths.items()))
        index = next((i for i in (iy, ix, is_, iz) if i is not None), None)
        sel = s == 1
        bad_s = np.isnan(s)
        bad_z = ~np.isfinite(z).all(axis=1)
        bad_y = sel & ~np.isfinite(y)
        bad_x = sel & ~np.isfinite(x).all(axis=1)
        drop = bad_s | bad_z | bad_y | bad_x
        self.n_dropped = int(drop.sum())
        if drop.any() and missing != "drop":
            parts = []
            if bad_s.any():
                parts.append(f"the selection indicator {sname!r} ({int(bad_s.sum())} rows)")
            if bad_z.any():
                parts.append("the selection regressors: "
                             + ", ".join(_nan_columns(z, znames, bad_z)))
            if bad_y.any():
                parts.append(f"the outcome {yname!r} for {int(bad_y.sum())} selected rows "
                             f"({sname} = 1); it may be missing only where {sname} = 0")
            if bad_x.any():
                parts.append("the outcome regressors of selected rows: "
                             + ", ".join(_nan_columns(x, xnames, bad_x)))
            raise ValueError("missing (NaN or infinite) values in " + "; ".join(parts)
                             + ". Pass missing='drop' to drop those rows.")
        if drop.any():
            keep = ~drop
            y, s, x, z = y[keep], s[keep], x[keep], z[keep]
            index = index[keep] if index is not None else None
        s = check_binary(s, f"the selection indicator {sname!r}")
        sel = s == 1
        n1, n0 = int(sel.sum()), int((~sel).sum())
        if n1 == 0:
            raise ValueError(f"no selected rows: {sname!r} is 0 in all {n0} rows")
        if n0 == 0:
            raise ValueError(f"no unselected rows: {sname!r} is 1 in all {n1} rows; there is "
                             "no selection to model (use a probit)")
        y_sel = check_binary(y[sel], f"the outcome {yname!r} (selected rows)")
        if np.all(y_sel == y_sel[0]):
            raise ValueError(f"the outcome {yname!r} has no variation over the {n1} selected "
                             f"rows: all are {y_sel[0]:g}")
        x_sel = np.ascontiguousarray(x[sel])
        check_full_rank(z, znames, "the selection design (exog_select)")
        check_full_rank(x_sel, xnames, f"the outcome design (exog) over the {n1} selected rows")
        warn_perfect_prediction(s, z, znames, sname)
        warn_perfect_prediction(y_sel, x_sel, xnames, yname)
        if not _has_exclusion(z[sel], x_sel):
            warnings.warn(
                "every selection regressor is also an outcome regressor: rho is identified "
                "only by the functional form (normality) and the likelihood may be flat in "
                "it. Add to the selection equation a variable that affects selection but "
                "not the outcome.", RuntimeWarning, stacklevel=2)

        y_full = np.where(sel, y, np.nan)
        if index is not None:
            endog_sm = pd.Series(y_full, index=index, name=yname)
            exog_sm = pd.DataFrame(x, columns=xnames, index=index)
        else:
            endog_sm, exog_sm = y_full, x
        # hasconst=False: statsmodels' constant detection rejects the NaN
        # that outcome regressors may hold for unselected rows; the constants
        # are counted below.
        kwargs.pop("hasconst", None)
        super().__init__(endog_sm, exog_sm, missing="none", hasconst=False, **kwargs)
        self.endog_select = s
        self.exog_select = z
        self.endog_select_name = sname
        self.endog_name = yname
        self.exog_select_names = list(znames)
        self.row_labels = index
        self._select = sel
        self._y_sel = y_sel
        self._x = x
        self._x_sel = x_sel
        self._z = np.ascontiguousarray(z)
        self._eq_exog_names = [list(xnames), list(znames)]
        self.k_select, self.k_outcome = z.shape[1], x.shape[1]
        self.param_names = (prefixed("selection", znames) + prefixed("outcome", xnames)
                            + ["athrho"])
        self.data.param_names = self.param_names
        self.k_params = len(self.param_names)
        self.nobs = float(len(s))
        self.nobs_selected, self.nobs_unselected = n1, n0
        self.k_constant = int(_constant_columns(x_sel).sum() + _constant_columns(z).sum())
        self.df_model = float(self.k_select + self.k_outcome - self.k_constant)
        self.df_resid = self.nobs - self.k_params
        self._cache = None
        self._indep = None
        self._design_infos = None
        self.formula_select = None

    @classmethod
    def from_formula(cls, formula: str, data: pd.DataFrame, selection: str,
                     missing: str = "drop", subset=None, **kwargs) -> "HeckProbit":
        """Outcome and selection formulas (patsy, as statsmodels).

        Parameters
        ----------
        formula : str
            Outcome equation, ``"y ~ x1 + x2"``; ``y`` may be NaN where
            unselected.
        data : DataFrame
        selection : str
            Selection equation with the 0/1 indicator on the left,
            ``"s ~ x1 + x2 + z"``.
        missing : {"drop", "none", "raise"}
        subset : array_like of bool, optional
        """
        if subset is not None:
            data = data.loc[np.asarray(subset, dtype=bool)]
        if "~" not in selection or not selection.split("~", 1)[0].strip():
            raise ValueError("selection must be a formula with the selection indicator on "
                             f"the left, e.g. 's ~ z1 + z2'; got {selection!r}")
        y, x, yname = _lhs_design(formula, data)
        if y is None:
            raise ValueError(f"the outcome formula {formula!r} has no left-hand side")
        s, z, sname = _lhs_design(selection, data)
        model = cls(y.rename(yname), x, s.rename(sname), z, missing=missing, **kwargs)
        model.formula = formula
        model.formula_select = selection
        model._design_infos = [x.design_info, z.design_info]
        return model

    # -- likelihood: _CachedKernelLikelihood calls _kernel ----------------
    def _kernel(self, params, order, llobs, per_obs):
        return heckprobit_loglike_derivs(params, self._select, self._y_sel, self._z,
                                         self._x_sel, order, llobs, per_obs)

    # -- start values and the rho = 0 model --------------------------------
    def _fit_independent(self):
        if self._indep is None:
            self._indep = [fit_probit(self.endog_select, self._z),
                           fit_probit(self._y_sel, self._x_sel)]
        return self._indep

    @property
    def llf_independent(self) -> float:
        """Log-likelihood with rho = 0: selection probit + outcome probit on selected rows."""
        f1, f2 = self._fit_independent()
        return float(f1[1] + f2[1])

    @property
    def start_params(self) -> np.ndarray:
        """The two probits and a scoring step for athrho from 0 (as in BivariateProbit)."""
        (g, _, _), (b, _, _) = self._fit_independent()
        zg = self._z[self._select] @ g
        q = 2 * self._y_sel - 1
        prod = mills_ratio(zg) * q * mills_ratio(q * (self._x_sel @ b))
        den = float(prod @ prod)
        rho0 = float(np.clip(prod.sum() / den, -0.9, 0.9)) if den > 0 else 0.0
        return np.concatenate([g, b, [np.arctanh(rho0)]])

    def fit(self, start_params=None, method: str = "newton_trust", maxiter: int = 100,
            cov_type: str = "nonrobust", cov_kwds=None, disp: bool = False,
            global_search: bool = False, **kwargs):
        """Maximum likelihood (see :meth:`BivariateProbit.fit` for the arguments).

        ``global_search=True`` also starts from ``athrho`` in
        ``(-1.5, -0.5, 0.5, 1.5)`` and keeps the best converged fit; useful
        when the selection likelihood has several local maxima in rho.
        """
        mlefit = _fit_with_restarts(self, LikelihoodModel.fit, start_params, method,
                                    maxiter, disp, global_search, kwargs)
        res = _make_results(HeckProbitResults, self, mlefit, cov_type, cov_kwds)
        res.mle_retvals = mlefit.mle_retvals
        res.mle_settings = mlefit.mle_settings
        res.method = method
        _post_fit_warnings(res)
        return HeckProbitResultsWrapper(res)

    # -- prediction --------------------------------------------------------
    def _index_params(self, params):
        """(beta, gamma): outcome first, as the bivariate prediction's equation 1."""
        params = np.asarray(params)
        kz, kx = self.k_select, self.k_outcome
        return params[kz:kz + kx], params[:kz]

    def predict(self, params, exog=None, exog_select=None, which: str = "pmargin"):
        """Predictions from ``params`` (see :meth:`HeckProbitResults.predict`)."""
        if which not in _PREDICT:
            raise ValueError(f"which must be one of {tuple(_PREDICT)}, got {which!r}")
        params = np.asarray(params, dtype=float)
        x = self._x if exog is None else np.asarray(exog, dtype=float)
        z = self._z if exog_select is None else np.asarray(exog_select, dtype=float)
        b, g = self._index_params(params)
        with np.errstate(invalid="ignore"):
            return bivariate_prediction(_PREDICT[which], x @ b, z @ g, float(np.tanh(params[-1])))

    def _designs_from(self, exog, exog_select):
        """Outcome and selection designs for new data."""
        import patsy

        index = None
        if isinstance(exog, pd.DataFrame) and self._design_infos is not None:
            na = patsy.NAAction(NA_types=[])
            (x,) = patsy.build_design_matrices([self._design_infos[0]], exog, NA_action=na,
                                               return_type="dataframe")
            src = exog if exog_select is None else exog_select
            (z,) = patsy.build_design_matrices([self._design_infos[1]], src, NA_action=na,
                                               return_type="dataframe")
            return np.asarray(x, float), np.asarray(z, float), exog.index
        out = []
        for obj, k, names, what in ((exog, self.k_outcome, self._eq_exog_names[0], "exog"),
                                    (exog_select, self.k_select, self._eq_exog_names[1],
                                     "exog_select")):
            if obj is None:
                raise ValueError(f"give both exog and exog_select (or a DataFrame for a "
                                 f"formula model); {what} is missing")
            if isinstance(obj, pd.DataFrame):
                index = obj.index if index is None else index
                lack = [c for c in names if c not in obj.columns]
                if lack:
                    raise ValueError(f"{what} lacks the column(s) {lack}")
                arr = obj[names].to_numpy(dtype=float)
            else:
                arr = np.asarray(obj, dtype=float)
                arr = arr[None, :] if arr.ndim == 1 else arr
            if arr.shape[1] != k:
                raise ValueError(f"{what} has {arr.shape[1]} columns, the equation has {k} "
                                 f"({', '.join(names)})")
            out.append(arr)
        if len(out[0]) != len(out[1]):
            raise ValueError(f"exog has {len(out[0])} rows but exog_select has {len(out[1])}")
        return out[0], out[1], index


class HeckProbitResults(_BivariateResultsMixin, LikelihoodModelResults):
    """Results of :class:`HeckProbit`.

    statsmodels results interface plus ``llf``, ``aic``, ``bic``, ``rho``,
    ``ancillary``, ``llf_restricted`` (rho = 0), ``lr_test_rho``,
    ``wald_test_rho``, ``summary()``, ``predict()``, ``get_margeff()``.
    """

    def summary(self, alpha: float = 0.05):
        """statsmodels Summary: selection and outcome coefficients, rho, test of rho = 0."""
        m = self.model
        top_left = [("Dep. Variable:", [m.endog_name]),
                    ("Selection:", [m.endog_select_name]),
                    ("Model:", ["HeckProbit"]),
                    ("Method:", ["Maximum likelihood"]),
                    ("Optimizer:", [getattr(self, "method", "")]),
                    ("Converged:", [str(self.converged)]),
                    ("Covariance Type:", [self.cov_type])]
        top_right = [("No. Observations:", [f"{int(self.nobs)}"]),
                     ("Selected:", [f"{m.nobs_selected}"]),
                     ("Unselected:", [f"{m.nobs_unselected}"]),
                     ("Log-Likelihood:", [f"{self.llf:.4f}"]),
                     ("LL (rho = 0):", [f"{self.llf_independent:.4f}"]),
                     ("AIC:", [f"{self.aic:.4f}"]),
                     ("BIC:", [f"{self.bic:.4f}"])]
        return _summary(self, "Probit Model with Sample Selection", top_left, top_right,
                        self._rho_test_line(), alpha)

    def predict(self, exog=None, exog_select=None, which: str = "pmargin"):
        """Predictions at the estimation sample or at new data.

        Parameters
        ----------
        exog, exog_select : DataFrame or array_like, optional
            Outcome and selection regressors. For a formula model a
            DataFrame of raw data goes through both formulas (``exog`` alone
            serves both). None: the estimation sample (``pmargin`` etc. are
            NaN where outcome regressors are missing for unselected rows).
        which : str
            ``"pmargin"``: ``P(y=1) = Phi(x'b)`` (default, as Stata);
            ``"p11"``: ``P(y=1, s=1) = Phi2(x'b, z'g, rho)``; ``"p10"``:
            ``P(y=1, s=0)``; ``"p01"``: ``P(y=0, s=1)``; ``"p00"``;
            ``"psel"``: ``Phi(z'g)``; ``"pcond"``: ``P(y=1 | s=1) =
            Phi2(x'b, z'g, rho)/Phi(z'g)``; ``"xb"``, ``"xbsel"``.

        Returns
        -------
        Series (pandas data or a DataFrame) or ndarray
        """
        m = self.model
        if exog is None and exog_select is None:
            x, z, index = m._x, m._z, m.row_labels
        else:
            x, z, index = m._designs_from(exog, exog_select)
        p = m.predict(np.asarray(self.params), x, z, which=which)
        if index is not None and len(index) == len(p):
            return pd.Series(p, index=index, name=which)
        return p

    @property
    def llf_restricted(self) -> float:
        """Log-likelihood of the model with rho = 0 (two separate probits)."""
        return self.llf_independent

    def get_margeff(self, which: str = "pmargin", at: str = "overall", dummy: bool = False,
                    variables=None):
        """Marginal effects with delta-method standard errors.

        For a regressor with coefficient ``beta_k`` in the outcome and
        ``gamma_k`` in the selection equation (matched by name):

        * ``"pmargin"``: ``phi(x'b) beta_k``;
        * ``"pcond"``: ``dP(y=1 | s=1)/dx_k``, the direct effect through
          ``x'b`` plus the selection channel through ``z'g``;
        * ``"p11"``, ``"psel"``, ... as in :meth:`predict`.

        Averaged over the rows whose regressors are all finite (``at =
        "overall"``) or evaluated at their means (``at="mean"``);
        ``dummy=True`` gives discrete changes for 0/1 regressors;
        ``variables`` (a name or list) restricts the report.
        """
        if which not in _PREDICT or which in ("xb", "xbsel"):
            raise ValueError(f"which must be one of {[k for k in _PREDICT if k[0] == 'p']}, "
                             f"got {which!r}")
        m = self.model
        rows = np.isfinite(m._x).all(axis=1) & np.isfinite(m._z).all(axis=1)
        kind = _PREDICT[which]

        def predict(p, x, z, grad):
            b, g = m._index_params(p)
            return bivariate_prediction(kind, x @ b, z @ g, float(np.tanh(p[-1])), grad)

        labels = {"pmargin": f"P({m.endog_name}=1)",
                  "pcond": f"P({m.endog_name}=1 | {m.endog_select_name}=1)",
                  "psel": f"P({m.endog_select_name}=1)",
                  "p11": f"P({m.endog_name}=1, {m.endog_select_name}=1)",
                  "p10": f"P({m.endog_name}=1, {m.endog_select_name}=0)",
                  "p01": f"P({m.endog_name}=0, {m.endog_select_name}=1)",
                  "p00": f"P({m.endog_name}=0, {m.endog_select_name}=0)"}
        desc = labels[which]
        if not rows.all():
            desc += f" (averaged over the {int(rows.sum())} rows with complete regressors)"
        return _margins(np.asarray(self.params), np.asarray(self.cov_params()), m._x[rows],
                        m._z[rows], m._eq_exog_names[0], m._eq_exog_names[1],
                        m._index_params, predict, which, at, dummy, desc,
                        (which != "psel", which != "pmargin"), variables)


class HeckProbitResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(HeckProbitResultsWrapper, HeckProbitResults)
