"""Probit with sample selection (Van de Ven and Van Praag 1981; Stata's ``heckprobit``).

.. math::

    s^* = z'\\gamma + u, \\quad s = 1[s^* > 0], \\qquad
    y^* = x'\\beta + e, \\quad y = 1[y^* > 0] \\text{ observed iff } s = 1,

    (u, e) \\sim N_2(0, 0, 1, 1, \\rho).

The log-likelihood has three cells::

    s = 0:          log Phi(-z'gamma)
    s = 1, y = 0:   log Phi2(z'gamma, -x'beta, -rho)
    s = 1, y = 1:   log Phi2(z'gamma,  x'beta,  rho)

with ``rho = tanh(athrho)``. The interface is the selection family's:
``HeckProbit(endog, exog, endog_select, exog_select)`` or
``HeckProbit.from_formula(outcome, data, selection=...)``; parameters
``selection:<term>``, ``outcome:<term>``, ``athrho``; ``res.ancillary`` with
``rho``; the test of ``rho = 0`` in the summary.

The kernels (log-likelihood, score, Hessian, predicted probabilities) are in
:mod:`econderiv.models._bvprobit_kernels`; everything else is the shared core.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodResultsWrapper

from econderiv.models import _dask, _data, _inference
from econderiv.models._bvprobit_kernels import (bivariate_prediction, fit_probit,
                                                heckprobit_loglike_derivs, probit_residual,
                                                scoring_athrho)
from econderiv.models._likelihood import ExactLikelihoodResults, SelectionLikelihoodModel

__all__ = ["HeckProbit", "HeckProbitResults"]

# Stata's heckprobit names -> the bivariate prediction with (outcome, selection)
# as equations (1, 2).
_PREDICT = {"pmargin": "pmarg1", "p11": "p11", "p10": "p10", "p01": "p01", "p00": "p00",
            "psel": "pmarg2", "pcond": "pcond1", "xb": "xb1", "xbsel": "xb2"}


class HeckProbit(SelectionLikelihoodModel):
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
    in that order; see
    :func:`econderiv.models._bvprobit_kernels.heckprobit_loglike_derivs`.
    """

    def __init__(self, endog, exog, endog_select, exog_select, missing: str = "none",
                 **kwargs):
        d = self._init_selection(endog, exog, endog_select, exog_select, missing, True,
                                 ["athrho"], kwargs)
        sel = self._sel
        y_sel, x_sel = self._y0[sel], self._x0[sel]
        _data.warn_perfect_prediction(d.s, d.Z, d.znames, d.sname)
        _data.warn_perfect_prediction(y_sel, x_sel, d.xnames, d.yname)
        if not d.excluded:
            warnings.warn(
                "every selection regressor is also an outcome regressor: rho is identified "
                "only by the functional form (normality) and the likelihood may be flat in "
                "it. Add to the selection equation a variable that affects selection but "
                "not the outcome.", RuntimeWarning, stacklevel=_data.user_stacklevel())
        self.k_constant = int(_data.constant_columns(x_sel).sum()
                              + _data.constant_columns(d.Z).sum())
        self.df_model = float(self.k_select + self.k_outcome - self.k_constant)
        self.df_resid = self.nobs - self.k_params

    # -- kernel contract ----------------------------------------------------
    def _block_data(self, rows):
        sel = self._sel[rows]
        return sel, self._y0[rows][sel], self._z[rows], self._x0[rows][sel]

    @staticmethod
    def _kernel(params, data, order, llobs, per_obs, weights=None):
        return heckprobit_loglike_derivs(params, *data, order, llobs, per_obs, weights)

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
        return sel, np.where(sel, y, 0.0)[sel], np.ascontiguousarray(Z), \
            np.where(sel[:, None], X, 0.0)[sel]

    # -- start values and the rho = 0 model --------------------------------
    def _restricted_fits(self):
        """Selection probit and outcome probit on the selected rows (rho = 0)."""
        sel = self._sel
        w = self._w
        return [fit_probit(self.endog_select, self._z, weights=w),
                fit_probit(self._y0[sel], self._x0[sel], weights=None if w is None else w[sel])]

    @property
    def start_params(self) -> np.ndarray:
        """The two probits and a scoring step for athrho from 0 (as in BivariateProbit)."""
        (g, _, _), (b, _, _) = self._fit_restricted()
        sel = self._sel
        athrho = scoring_athrho(probit_residual(1.0, self._z[sel] @ g),
                                probit_residual(self._y0[sel], self._x0[sel] @ b))
        return np.concatenate([g, b, [athrho]])

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
            return bivariate_prediction(_PREDICT[which], x @ b, z @ g,
                                        float(np.tanh(params[-1])))


class HeckProbitResults(ExactLikelihoodResults):
    """Results of :class:`HeckProbit`.

    statsmodels results interface plus ``llf``, ``aic``, ``bic``, ``rho``,
    ``ancillary``, ``llf_restricted`` (rho = 0), ``lr_test_rho``,
    ``wald_test_rho``, ``rho_test``, ``summary()``, ``predict()``,
    ``get_margeff()``, ``profile_loglike()``.
    """

    @property
    def llf_independent(self) -> float:
        """Log-likelihood of the two separate probits (the model with rho = 0)."""
        return self.llf_restricted

    def summary(self, alpha: float = 0.05):
        """statsmodels Summary: outcome and selection blocks, rho, test of rho = 0."""
        m = self.model
        top_left, top_right = self.summary_header("HeckProbit")
        kz, kx = m.k_select, m.k_outcome
        blocks = [("outcome: " + m.endog_name, slice(kz, kz + kx), m._eq_exog_names[0]),
                  ("selection: " + m.endog_select_name, slice(0, kz), m.exog_select_names),
                  ("ancillary (estimation scale)", slice(kz + kx, kz + kx + 1), ["athrho"])]
        return _inference.build_summary(self, "Probit Model with Sample Selection", top_left,
                                        top_right, blocks, self.ancillary_frame(alpha),
                                        notes=[str(self.rho_test)], alpha=alpha)

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
            infos = m._design_infos or [None, None]
            if exog is None or (exog_select is None and not isinstance(exog, pd.DataFrame)):
                raise ValueError("give both exog and exog_select (or a DataFrame for both "
                                 "equations)")
            x, index = _data.new_design(exog, m.k_outcome, m._eq_exog_names[0], "exog",
                                        infos[0])
            z, iz = _data.new_design(exog if exog_select is None else exog_select, m.k_select,
                                     m.exog_select_names, "exog_select", infos[1])
            if len(x) != len(z):
                raise ValueError(f"exog has {len(x)} rows but exog_select has {len(z)}")
            index = iz if index is None else index
        return _data.labelled(m.predict(np.asarray(self.params), x, z, which=which),
                              index, which)

    def get_margeff(self, which: str = "pmargin", at: str = "overall", dummy: bool = False,
                    variables=None, sample: str = "all"):
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
        ``variables`` (a name or list) restricts the report; ``sample=
        "selected"`` averages over the selected rows only.
        """
        if sample not in ("all", "selected"):
            raise ValueError(f"sample must be 'all' or 'selected', got {sample!r}")
        if which not in _PREDICT or which in ("xb", "xbsel"):
            raise ValueError(f"which must be one of {[k for k in _PREDICT if k[0] == 'p']}, "
                             f"got {which!r}")
        m = self.model
        rows = np.isfinite(m._x).all(axis=1) & np.isfinite(m._z).all(axis=1)
        if sample == "selected":
            rows &= m._sel
        kind = _PREDICT[which]

        def predict(p, xs, grad):
            b, g = m._index_params(p)
            out = bivariate_prediction(kind, xs[0] @ b, xs[1] @ g, float(np.tanh(p[-1])), grad)
            return (out[0], out[1:]) if grad else out

        y, s = m.endog_name, m.endog_select_name
        labels = {"pmargin": f"P({y}=1)", "pcond": f"P({y}=1 | {s}=1)", "psel": f"P({s}=1)",
                  "p11": f"P({y}=1, {s}=1)", "p10": f"P({y}=1, {s}=0)",
                  "p01": f"P({y}=0, {s}=1)", "p00": f"P({y}=0, {s}=0)"}
        desc = labels[which]
        if not rows.all():
            desc += f" (averaged over the {int(rows.sum())} rows with complete regressors)"
        return _inference.index_margins(
            self.params, self.cov_params(), [m._x[rows], m._z[rows]], m._eq_exog_names,
            lambda p: m._index_params(p), predict, which, at, dummy, desc,
            (which != "psel", which != "pmargin"), variables,
            weights=None if m._w is None else m._w[rows])


class HeckProbitResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(HeckProbitResultsWrapper, HeckProbitResults)

HeckProbit._results_class = HeckProbitResults
HeckProbit._wrapper_class = HeckProbitResultsWrapper
