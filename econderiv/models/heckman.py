r"""Heckman (1979) sample selection model: full maximum likelihood and two-step.

Model (Tobit type 2)::

    selection  s* = z'gamma + u,   s = 1[s* > 0]
    outcome    y  = x'beta + e,    observed only when s = 1
    (u, e) ~ bivariate normal, var(u) = 1, var(e) = sigma^2, corr(u, e) = rho

* :class:`Heckman` -- the family adapter on the shared core
  (:mod:`econderiv.models._likelihood`): inputs through
  :func:`~econderiv.models._data.prepare_selection`, the row-block kernel
  :func:`econderiv.models._heckman_kernels.loglike_derivs`. ``fit()`` is full
  ML (``method=`` names the optimizer, as in every family);
  ``fit_twostep()`` is Heckman's two-step estimator with the corrected
  covariance.
* :class:`HeckmanResults` (ML) and :class:`HeckmanTwoStepResults`: equation
  blocks, ``ancillary`` (rho, sigma, lambda = rho sigma), ``summary()``,
  ``predict(which=...)``, ``get_margeff()``; ML also ``profile_loglike("rho")``
  and ``fit(global_search=True)``.
"""

from __future__ import annotations

import copy
import warnings
from functools import cached_property

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodResultsWrapper
from statsmodels.tools.numdiff import approx_fprime
from statsmodels.tools.sm_exceptions import CollinearityWarning, ConvergenceWarning

from econderiv.models import _dask, _data, _inference, _optim
from econderiv.models import _heckman_kernels as K
from econderiv.models._inference import ProfileLikelihood  # noqa: F401  (public here too)
from econderiv.models._likelihood import (ExactLikelihoodResults, SelectionLikelihoodModel,
                                          TwoStepResults, single_thread_blas)

__all__ = ["Heckman", "HeckmanResults", "HeckmanTwoStepResults", "ProfileLikelihood"]

_PREDICT = ("xb", "ycond", "yexpected", "psel", "mills", "xbsel")
_MARGINS = ("ycond", "yexpected", "psel", "xb")


class Heckman(SelectionLikelihoodModel):
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
        Outcome ``y``; ignored (may be NaN) where ``endog_select == 0``.
    exog : array_like or DataFrame, (n, k_x)
        Outcome regressors ``x`` (include a constant, or use
        :meth:`from_formula`). Only the selected rows must be finite.
    endog_select : array_like or Series, (n,)
        Selection indicator ``s``, 0/1 or boolean.
    exog_select : array_like or DataFrame, (n, k_z)
        Selection regressors ``z``; identification other than by normality
        needs a variable in ``z`` excluded from ``x``.
    missing : {"none", "drop", "raise"}
        Rows with NaN in ``s`` or ``z``, or in ``y`` or ``x`` where ``s = 1``,
        raise a ``ValueError`` naming the columns ("none", "raise") or are
        dropped ("drop"; the count is ``model.n_dropped``, with a warning
        when selected rows are dropped for a missing outcome).

    Notes
    -----
    Parameters ``selection:<z term>``..., ``outcome:<x term>``...,
    ``athrho``, ``lnsigma`` (``rho = tanh(athrho)``, ``sigma =
    exp(lnsigma)``). The score (1-D) and Hessian (square) are analytic, in
    that order (:mod:`econderiv.models._heckman_kernels`). Arrays are named
    ``const, x1, ...`` (outcome) and ``const, z1, ...`` (selection).

    Examples
    --------
    >>> from econderiv import Heckman, datasets
    >>> df = datasets.load("mroz87")
    >>> df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    >>> mod = Heckman.from_formula(
    ...     "wage ~ exper + I(exper**2) + educ + city", df,
    ...     selection="lfp ~ age + I(age**2) + faminc + kids + educ")
    >>> res = mod.fit()              # ML
    >>> two = mod.fit_twostep()      # Heckman's two-step
    """

    _other_estimators = {e: "fit_twostep()" for e in ("twostep", "two-step", "2step")}
    _other_estimators.update({e: "fit() (ML is the default; method names the optimizer)"
                              for e in ("mle", "ml")})

    def __init__(self, endog, exog, endog_select, exog_select, missing: str = "none",
                 **kwargs):
        d = self._init_selection(endog, exog, endog_select, exog_select, missing, False,
                                 ["athrho", "lnsigma"], kwargs)
        sel = self._sel
        self._excluded = d.excluded
        x1 = self._x0[sel]
        self.df_model = float(self.k_outcome - int(np.any((x1.min(axis=0) == x1.max(axis=0))
                                                          & (x1[0] != 0))))
        self.df_resid = self.nobs - self.k_params
        self._twostep_cache = None

    # -- kernel contract and the core's hooks -----------------------------------
    def _block_data(self, rows):
        return K.SelectionData.from_arrays(self._y0[rows], self._x0[rows], self._sel[rows],
                                           self._z[rows])

    @staticmethod
    def _kernel(params, data, order, llobs, per_obs, weights=None):
        return K.loglike_derivs(params, data, order, llobs, per_obs, weights)

    @classmethod
    def _from_dask(cls, *args, **kwargs):
        """``from_formula`` on a dask DataFrame (:mod:`econderiv.models._dask`)."""
        return _dask.from_formula(cls, *args, **kwargs)

    @classmethod
    def _from_dask_arrays(cls, args, kwargs):
        """The constructor given dask arrays (:func:`econderiv.models._dask.from_arrays`)."""
        return _dask.from_arrays(cls, args, kwargs)

    @staticmethod
    def _partition_block_data(ys, Xs):
        """``_block_data`` of one dask partition's arrays (outcome, selection)."""
        (y, s), (X, Z) = ys, Xs
        sel = s == 1
        return K.SelectionData.from_arrays(np.where(sel, y, 0.0),
                                           np.where(sel[:, None], X, 0.0), sel, Z)

    def _outcome_constant_columns(self) -> np.ndarray:
        """Outcome regressors constant over the selected rows (intercepts)."""
        return _data.constant_columns(self._x0[self._sel])

    def _ancillary_entries(self, params):
        """rho = tanh(athrho), sigma = exp(lnsigma), lambda = rho sigma (delta method)."""
        p = np.asarray(params, dtype=float)
        rho, sigma = np.tanh(p[-2]), np.exp(p[-1])
        grad = np.zeros(len(p))
        grad[-2:] = (1 - rho * rho) * sigma, rho * sigma
        return {"rho": (len(p) - 2, "tanh"), "sigma": (len(p) - 1, "exp"),
                "lambda": (rho * sigma, grad)}

    # -- two-step, start values ---------------------------------------------------
    def _twostep(self) -> K.TwoStep:
        if self._twostep_cache is None:
            sel = self._sel
            with single_thread_blas():
                self._twostep_cache = K.heckman_twostep(self._y0[sel], self._x0[sel],
                                                        self.endog_select, self._z,
                                                        weights=self._w)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        """ML start: the two-step estimates, rho clamped into (-0.99, 0.99)."""
        ts = self._twostep()
        rho = float(np.clip(ts.rho_untruncated, -0.99, 0.99))
        sigma = ts.sigma if np.isfinite(ts.sigma) and ts.sigma > 0 else float(np.std(ts.resid))
        return np.concatenate([ts.params[:-1], [np.arctanh(rho), np.log(sigma)]])

    def _warn_collinear_imr(self, ts: K.TwoStep) -> None:
        # Without an exclusion restriction lambda is a smooth function of the
        # outcome regressors and the correction rests on normality alone: always
        # worth a warning. With one, only when the collinearity is severe.
        if ts.imr_r2 >= 0.99 or not self._excluded:
            why = ("every selection regressor also appears in the outcome equation (no "
                   "exclusion restriction), so the correction is identified only by the "
                   "nonlinearity of the probit" if not self._excluded else
                   "the excluded selection regressors add little variation")
            warnings.warn(
                f"the inverse Mills ratio is nearly collinear with the outcome regressors "
                f"(R-squared {ts.imr_r2:.4f} of lambda on them over the selected rows, "
                f"variance inflation {1 / max(1 - ts.imr_r2, 1e-16):.0f}): {why}. rho, sigma "
                "and lambda will be poorly determined and the ML likelihood may be flat or "
                "multimodal. Add to the selection equation a variable that affects selection "
                "but not the outcome.", CollinearityWarning, stacklevel=_data.user_stacklevel())

    # -- estimators -----------------------------------------------------------------
    def fit(self, start_params=None, method: str = _optim.DEFAULT_METHOD, maxiter: int = 100,
            disp: bool = False, callback=None, cov_type: str | None = None, cov_kwds=None,
            global_search: bool = False, **kwargs):
        _optim.check_method(method, other_entry_points=self._other_estimators)
        self._warn_collinear_imr(self._twostep())
        return self._fit_ml(start_params, method, maxiter, disp, callback, cov_type, cov_kwds,
                            global_search, kwargs)

    fit.__doc__ = SelectionLikelihoodModel.fit.__doc__.replace(
        "Hessian.\n", "Hessian.\n\n        The default start is the two-step estimate (rho clamped into "
        "(-0.99, 0.99)).\n        Heckman's two-step estimator is :meth:`fit_twostep`.\n", 1)

    def fit_twostep(self, cov_type: str | None = None, cov_kwds=None,
                    **kwargs) -> "HeckmanTwoStepResults":
        """Heckman's two-step estimator: probit, then OLS with the inverse Mills ratio.

        The covariance is corrected for the estimated regressor (Greene's form,
        with the cross-covariance of the two steps). Parameters
        ``selection:...``, ``outcome:...``, ``lambda`` (the coefficient on the
        inverse Mills ratio, ``= rho sigma``); ``rho`` and ``sigma`` are the
        consistent estimators, without standard errors, as in Stata.

        With weights, the first step is a weighted probit and the second
        weighted least squares (:func:`~econderiv.models._heckman_kernels.heckman_twostep`).

        Parameters
        ----------
        cov_type : {"nonrobust", "HC0", "HC1", "cluster"}, optional
            ``"nonrobust"`` (the default without sampling weights): the
            corrected covariance, which assumes homoskedastic normal errors (as
            Stata's ``heckman, twostep``). The robust types treat the two steps
            as one stacked M-estimator (probit score and the second step's
            normal equations, :func:`~econderiv.models._heckman_kernels.twostep_moments`)
            and take the sandwich, so the first step's estimation error is
            carried into the outcome block; with ``prob_weights`` the default
            is ``"HC1"`` with Stata's ``N/(N-1)``. ``cov_kwds`` as in
            :meth:`fit`. The estimator has no optimizer: ``start_params``,
            ``maxiter``, ``method`` belong to :meth:`fit` and are errors here.
        """
        _optim.check_keywords(kwargs, (), "Heckman.fit_twostep() (closed form; "
                              "optimizer keywords belong to fit())")
        cov_type, cov_kwds, n_groups = self._cov_request(cov_type, cov_kwds, twostep=True)
        ts = self._twostep()
        self._warn_collinear_imr(ts)
        if ts.rho != ts.rho_untruncated:
            warnings.warn(
                f"the two-step estimate of rho, {ts.rho_untruncated:.4f}, is outside "
                f"[-1, 1]; it is truncated to {ts.rho:.0f} and sigma set to |lambda| "
                f"= {ts.sigma:.4g} (as Stata does). The model may be misspecified; compare "
                "with fit() (ML).", RuntimeWarning, stacklevel=_data.user_stacklevel())
        if not ts.probit_converged:
            warnings.warn("the first-step probit did not converge (separation?): check the "
                          "selection regressors", ConvergenceWarning, stacklevel=_data.user_stacklevel())
        view = copy.copy(self)  # the same model under the two-step parameter names
        view.data = copy.copy(self.data)
        view.param_names = view.data.param_names = self.param_names[:-2] + ["lambda"]
        cov, description = ts.cov, "Heckman's corrected two-step covariance (Greene)"
        if cov_type != "nonrobust":
            sel = self._sel
            G, J = K.twostep_moments(ts, self._y0[sel], self._x0[sel], self.endog_select,
                                     self._z, self._w)
            cov, description = _inference.covariance(
                None, G, self._w, self.weight_type, cov_type, cov_kwds, float(self.nobs),
                len(ts.params), bread=-np.linalg.inv(J))
        res = HeckmanTwoStepResults(view, ts.params, cov, ts)
        res.cov_type = cov_type
        res.cov_kwds = dict(cov_kwds, description=description)
        res.n_groups = n_groups
        return HeckmanTwoStepResultsWrapper(res)

    @property
    def llf_restricted(self) -> float:
        """Log-likelihood with rho = 0: probit + normal regression (ML sigma)."""
        y1, X1 = self._y0[self._sel], self._x0[self._sel]
        w1 = np.ones(len(y1)) if self._w is None else self._w[self._sel]
        sw = np.sqrt(w1)
        e = y1 - X1 @ np.linalg.lstsq(X1 * sw[:, None], y1 * sw, rcond=None)[0]
        n1 = float(w1.sum())
        return self._twostep().probit_llf - 0.5 * n1 * (np.log(2 * np.pi * (w1 * e) @ e / n1)
                                                         + 1)

    # -- designs for prediction -------------------------------------------------------
    def _new_designs(self, exog, exog_select, transform: bool):
        infos = self._design_infos if transform and self._design_infos else [None, None]
        if exog_select is None and infos[1] is not None and isinstance(exog, pd.DataFrame):
            exog_select = exog  # raw data serve both formulas
        X = Z = index = None
        if exog is not None:
            X, index = _data.new_design(exog, self.k_outcome, list(self.exog_names), "exog",
                                        infos[0])
        if exog_select is not None:
            Z, iz = _data.new_design(exog_select, self.k_select, self.exog_select_names,
                                     "exog_select", infos[1])
            index = iz if index is None else index
        if X is not None and Z is not None and len(X) != len(Z):
            raise ValueError(f"exog has {len(X)} rows but exog_select has {len(Z)}")
        return X, Z, index


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class _HeckmanResultsMixin:
    """What the ML and two-step results share: rho, sigma, lambda, the Wald
    test of the outcome slopes, predictions, marginal effects, the summary."""

    @property
    def nobs_selected(self) -> int:
        return self.model.nobs_selected

    @property
    def nobs_unselected(self) -> int:
        return self.model.nobs_unselected

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
        ``(gamma, beta, L)`` in ``params`` (rows in that order)."""
        p = np.asarray(self.params if params is None else params, dtype=float)
        kz, kx = self.model.k_select, self.model.k_outcome
        L, grad = self._lambda_spec(p)
        J = np.zeros((kz + kx + 1, len(p)))
        J[:kz + kx, :kz + kx] = np.eye(kz + kx)
        J[-1] = grad
        return p[:kz], p[kz:kz + kx], float(L), J

    @cached_property
    def wald_outcome(self):
        """Wald test that all outcome slopes are zero (``ChiSquareTest``)."""
        m = self.model
        const = m._outcome_constant_columns()
        idx = [m.k_select + j for j in range(m.k_outcome) if not const[j]]
        return _inference.wald_test_zero(self.params, self.cov_params(), idx,
                                         "outcome slopes = 0")

    def predict(self, exog=None, exog_select=None, which: str = "xb", transform: bool = True):
        """Predictions at the estimation sample or at new regressors.

        Parameters
        ----------
        exog, exog_select : array_like or DataFrame, optional
            Outcome and selection regressors. For a formula model a DataFrame
            of raw data goes through the formulas (``exog`` alone serves both
            equations). None: the estimation sample.
        which : {"xb", "ycond", "yexpected", "psel", "mills", "xbsel"}
            ``x'beta``, ``E[y | s = 1]``, ``P(s = 1) E[y | s = 1]`` (Stata's
            ``yexpected``), ``Phi(z'gamma)``, the inverse Mills ratio, ``z'gamma``
            (:func:`econderiv.models._heckman_kernels.prediction`).
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
        if exog is None and exog_select is None:
            X, Z, index = m.exog, m.exog_select, m.row_labels
        else:
            X, Z, index = m._new_designs(exog, exog_select, transform)
            if X is None and which in ("xb", "ycond", "yexpected"):
                raise ValueError(f"which={which!r} needs exog (the outcome regressors)")
            if Z is None and which != "xb":
                raise ValueError(f"which={which!r} needs exog_select (the selection "
                                 "regressors)")
        out = np.asarray(K.prediction(which, X, Z, gamma, beta, L), dtype=float)
        if index is not None and len(index) == len(out):
            return pd.Series(out, index=index, name=which)
        return out

    def get_margeff(self, which: str = "ycond", at: str = "overall", dummy: bool = False,
                    variables=None, sample: str = "all") -> _inference.MarginalEffects:
        """Marginal effects with delta-method standard errors (analytic Jacobian).

        A term's effect combines its outcome coefficient ``beta_k`` and its
        selection coefficient ``gamma_k`` (matched by name; zero where absent):
        ``"ycond"``, ``dE[y|s=1]/dx_k = beta_k - rho sigma gamma_k delta(z'gamma)``,
        is the direct effect plus the *selection channel*; formulas for
        ``"yexpected"``, ``"psel"``, ``"xb"`` in
        :func:`econderiv.models._heckman_kernels.margin`.

        Parameters
        ----------
        which : {"ycond", "yexpected", "psel", "xb"}
        at : {"overall", "mean"}
            Average of the effects over the rows, or at the regressor means.
        dummy : bool
            With ``at="overall"``, the discrete change from 0 to 1 for 0/1
            regressors (its Jacobian by central differences; the decomposition
            is then not split).
        variables : str or list of str, optional
            Terms to report (default: every non-constant term, outcome first).
        sample : {"all", "selected"}
            Rows over which to average (or take means); rows with missing
            regressors are left out.

        Returns
        -------
        MarginalEffects
            ``margeff``, ``margeff_se``, ``summary_frame()``, ``conf_int()``
            and ``decomposition`` (``ycond``: direct and selection channels;
            ``yexpected``: conditional and participation parts). Terms are
            differentiated one by one (``exper`` and ``I(exper**2)`` are
            separate); 0/1 regressors are treated as continuous unless ``dummy``.
        """
        if which not in _MARGINS:
            raise ValueError(f"which must be one of {_MARGINS}, got {which!r}")
        if at not in ("overall", "mean"):
            raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
        if sample not in ("all", "selected"):
            raise ValueError(f"sample must be 'all' or 'selected', got {sample!r}")
        m = self.model
        xnames, znames = list(m.exog_names), list(m.exog_select_names)
        X, Z = np.asarray(m.exog, float), np.asarray(m.exog_select, float)
        rows = np.isfinite(X).all(axis=1) & np.isfinite(Z).all(axis=1)
        if sample == "selected":
            rows &= m.endog_select == 1
        X, Z = X[rows], Z[rows]
        wts = None if m._w is None else m._w[rows]  # weighted averages, as Stata's margins
        n_used = int(rows.sum())
        if n_used == 0:
            raise ValueError("no rows with finite regressors to average over")
        xconst, zconst = np.all(X == X[:1], axis=0), np.all(Z == Z[:1], axis=0)
        if at == "mean":
            X = np.average(X, axis=0, weights=wts)[None, :]
            Z = np.average(Z, axis=0, weights=wts)[None, :]
            wts = None
        candidates = [n for j, n in enumerate(xnames) if not xconst[j]]
        candidates += [n for j, n in enumerate(znames) if not zconst[j] and n not in candidates]
        candidates = [n for n in candidates if (which != "psel" or n in znames)
                      and (which != "xb" or n in xnames)]
        if variables is None:
            variables = candidates
        else:
            variables = [variables] if isinstance(variables, str) else list(variables)
            unknown = [v for v in variables if v not in xnames and v not in znames]
            if unknown:
                raise ValueError(f"unknown variables {unknown}; terms are "
                                 f"{sorted(set(xnames) | set(znames))}")
        gamma, beta, L, Jp = self._structural()
        effects, jac, parts, dummies = [], [], [], []
        for v in variables:
            kb = xnames.index(v) if v in xnames else None
            kg = znames.index(v) if v in znames else None
            col = X[:, kb] if kb is not None else Z[:, kg]
            if dummy and at == "overall" and np.isin(col, (0.0, 1.0)).all():
                def change(p, kb=kb, kg=kg):
                    g, b, lam, _ = self._structural(p)
                    X1, Z1, X0, Z0 = X.copy(), Z.copy(), X.copy(), Z.copy()
                    for hi, lo, k in ((X1, X0, kb), (Z1, Z0, kg)):
                        if k is not None:
                            hi[:, k], lo[:, k] = 1.0, 0.0
                    return np.array([np.average(K.prediction(which, X1, Z1, g, b, lam)
                                                - K.prediction(which, X0, Z0, g, b, lam),
                                                weights=wts)])
                p = np.asarray(self.params, dtype=float)
                effects.append(float(change(p)[0]))
                jac.append(approx_fprime(p, change, centered=True).ravel())
                parts.append((np.nan, np.nan))
                dummies.append(v)
                continue
            eff, J, part = K.margin(which, X, Z, gamma, beta, L, kb, kg, weights=wts)
            effects.append(float(eff))
            jac.append(J @ Jp)
            parts.append(part)
        labels = {"ycond": ("direct", "selection"), "yexpected": ("conditional",
                                                                  "participation")}
        decomposition = pd.DataFrame(parts, index=variables,
                                     columns=list(labels.get(which, ("direct", "selection"))))
        y, s = m.endog_names, m.endog_select_name
        desc = {"ycond": f"E[{y} | {s} = 1]", "yexpected": f"P({s} = 1) E[{y} | {s} = 1]",
                "psel": f"P({s} = 1)", "xb": f"x'beta ({y})"}[which]
        return _inference.MarginalEffects(
            variables, effects, np.reshape(jac, (len(variables), -1)), self.cov_params(),
            which, at, desc, dummies, decomposition=decomposition, n_used=n_used)

    def _summary(self, title, method, estimation_blocks, ancillary_title, notes, alpha):
        m = self.model
        wald = self.wald_outcome
        wald_rows = [(f"Wald chi2({wald.df}):", [f"{wald.statistic:.2f}"]),
                     ("Prob > chi2:", [f"{wald.pvalue:.4f}"])]
        if isinstance(self, ExactLikelihoodResults):
            top_left, top_right = self.summary_header("Heckman", method, wald_rows)
        else:  # two-step: no likelihood
            variables, counts = m._summary_variables()
            top_left = (variables + [("Model:", ["Heckman"]), ("Method:", [method])]
                        + _inference.cov_lines(self))
            top_right = [("No. Observations:", [f"{int(self.nobs)}"])] + counts + wald_rows
        kz, kx = m.k_select, m.k_outcome
        blocks = [("outcome: " + str(m.endog_names), slice(kz, kz + kx), m.exog_names),
                  ("selection: " + m.endog_select_name, slice(0, kz), m.exog_select_names)]
        return _inference.build_summary(
            self, title, top_left, top_right,
            blocks + estimation_blocks, self.ancillary_frame(alpha), ancillary_title, notes,
            alpha)


class HeckmanResults(_HeckmanResultsMixin, ExactLikelihoodResults):
    """Results of :meth:`Heckman.fit` (maximum likelihood).

    The statsmodels results interface plus ``llf``, ``aic``, ``bic``,
    ``converged``, ``rho``, ``sigma``, ``lambda_``, ``ancillary`` (rho, sigma,
    lambda with delta-method standard errors; intervals for rho and sigma are
    tanh and exp of the estimation-scale intervals), ``llf_restricted``
    (rho = 0), ``lr_test_rho``, ``rho_test`` (LR under the nonrobust
    covariance, Wald under a robust or cluster one), ``wald_test_terms()``,
    ``summary()``, ``predict()``, ``get_margeff()``, ``profile_loglike()``
    and, after ``fit(global_search=True)``, ``global_search``.
    """

    def _lambda_spec(self, p):
        return self.model._ancillary_entries(p)["lambda"]

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """Outcome, selection and ancillary blocks, and the test of rho = 0."""
        kz, kx = self.model.k_select, self.model.k_outcome
        notes = [str(self.rho_test)]
        if self.global_search is not None:
            notes.append(f"global search over rho: {len(self.global_search)} maxima examined; "
                         "this is the highest.")
        return self._summary(title or "Heckman selection model (ML)", "MLE",
                             [("ancillary (estimation scale)", slice(kz + kx, kz + kx + 2),
                               ["athrho", "lnsigma"])], "natural scale", notes, alpha)


class HeckmanTwoStepResults(_HeckmanResultsMixin, TwoStepResults):
    """Results of :meth:`Heckman.fit_twostep`.

    Parameters ``(selection:..., outcome:..., lambda)`` with Heckman's
    corrected covariance; ``ancillary`` has rho and sigma (the consistent
    estimators, without standard errors, as Stata) and lambda; ``llf`` is
    NaN. ``summary()``, ``predict()``, ``get_margeff()`` as for ML.
    """

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """Outcome and selection blocks and lambda, rho, sigma."""
        note = ("rho and sigma are the two-step consistent estimators (no standard errors, "
                "as in Stata); lambda's standard error is corrected for the estimated "
                "inverse Mills ratio.")
        return self._summary(title or "Heckman selection model (two-step)", "Two-step", [],
                             "mills (lambda = rho sigma)", [note], alpha)


class HeckmanResultsWrapper(LikelihoodResultsWrapper):
    pass


class HeckmanTwoStepResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(HeckmanResultsWrapper, HeckmanResults)
wrap.populate_wrapper(HeckmanTwoStepResultsWrapper, HeckmanTwoStepResults)

Heckman._results_class = HeckmanResults
Heckman._wrapper_class = HeckmanResultsWrapper
