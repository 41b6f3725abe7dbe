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
natural scale in ``res.ancillary``.

Layout: the kernels (likelihood, score, Hessian, predicted probabilities) are
plain array functions in :mod:`econderiv.models._bvprobit_kernels`; inputs,
fitting, covariances, tests, profile likelihood, marginal effects and the
summary come from the shared core (``_data``, ``_likelihood``, ``_inference``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodResultsWrapper

from econderiv.models import _dask, _data, _inference
from econderiv.models._bvprobit_kernels import (PREDICT_KINDS, biprobit_loglike_derivs,
                                                bivariate_prediction, fit_probit,
                                                probit_residual, scoring_athrho)
from econderiv.models._likelihood import ExactLikelihoodModel, ExactLikelihoodResults, row_blocks

__all__ = ["BivariateProbit", "BivariateProbitResults"]


class BivariateProbit(ExactLikelihoodModel):
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
        statsmodels' rule for rows with NaN ("none" and "raise" raise,
        naming the columns; "drop" drops the rows, ``model.n_dropped``).

    Notes
    -----
    Parameters are ``[beta_1, beta_2, athrho]`` named ``"<y1>:<term>"``,
    ``"<y2>:<term>"`` and ``"athrho"``, ``rho = tanh(athrho)``. The
    log-likelihood, score and Hessian are analytic (see
    :func:`econderiv.models._bvprobit_kernels.biprobit_loglike_derivs`);
    probabilities are combined in log space.
    """

    def __init__(self, endog, exog1, exog2=None, missing: str = "none", **kwargs):
        wspec = _data.pop_weights(kwargs, type(self).__name__)
        same = exog2 is None
        eq = _data.prepare_equations(endog, [exog1, exog1 if same else exog2], missing)
        if len(eq.ys) != 2:
            raise ValueError(f"endog must have two columns (the two binary outcomes), "
                             f"got {len(eq.ys)}")
        (y1, y2), (x1, x2) = eq.ys, eq.Xs
        (n1, n2), (names1, names2) = eq.ynames, eq.xnames
        _data.check_variation(y1, n1)
        _data.check_variation(y2, n2)
        _data.check_full_rank(x1, names1, f"the {n1} equation")
        if not same:
            _data.check_full_rank(x2, names2, f"the {n2} equation")
        _data.warn_perfect_prediction(y1, x1, names1, n1)
        _data.warn_perfect_prediction(y2, x2, names2, n2)
        self._y1, self._y2 = y1, y2
        self._x1 = np.ascontiguousarray(x1)
        self._x2 = self._x1 if same else np.ascontiguousarray(x2)
        self._eq_names = [n1, n2]
        self._eq_exog_names = [list(names1), list(names2)]
        self.k1, self.k2 = x1.shape[1], x2.shape[1]
        self.param_names = (_data.prefixed(n1, names1) + _data.prefixed(n2, names2)
                            + ["athrho"])
        ymat = np.column_stack([y1, y2])
        exog_sm = np.hstack([x1, x2])
        if eq.index is not None:
            ymat = pd.DataFrame(ymat, columns=[n1, n2], index=eq.index)
            exog_sm = pd.DataFrame(exog_sm, columns=self.param_names[:-1], index=eq.index)
        kwargs.pop("hasconst", None)
        super().__init__(ymat, exog_sm, missing="none", hasconst=False, **kwargs)
        self.data.param_names = self.param_names
        self.k_params = len(self.param_names)
        self.nobs = float(len(y1))
        self._nrows = len(y1)
        self.n_dropped = eq.n_dropped
        self._kept = eq.kept
        self.row_labels = eq.index
        self._rho_index = self.k_params - 1
        self.k_constant = int(_data.constant_columns(x1).sum() + _data.constant_columns(x2).sum())
        self.df_model = float(self.k1 + self.k2 - self.k_constant)
        self.df_resid = self.nobs - self.k_params
        self._design_infos = None
        self.formula = None
        self._init_weights(wspec)

    @classmethod
    def _from_dask_arrays(cls, args, kwargs):
        """The constructor given dask arrays (:func:`econderiv.models._dask.from_arrays`)."""
        return _dask.from_arrays(cls, args, kwargs)

    @classmethod
    def from_formula(cls, formula, data, subset=None, missing: str = "drop", **kwargs):
        """Two formulas, ``["y1 ~ x1 + x2", "y2 ~ x1 + x3"]``, evaluated on ``data``.

        Give both formulas even when the regressors are the same (patsy would
        read ``"y1 + y2 ~ x"`` as a sum). Rows with NaN in any used column are
        dropped (``missing="drop"``, the statsmodels default for formulas).
        ``subset`` selects rows of ``data`` by index label (or a boolean mask).
        """
        if _dask.is_dask(data):  # data larger than memory: the distributed backend
            return _dask.from_formula(cls, formula, data, missing=missing, subset=subset,
                                      **kwargs)
        if isinstance(formula, str) or len(formula) != 2:
            raise ValueError('formula must be a list of two formulas, '
                             '["y1 ~ x1 + x2", "y2 ~ x1 + x3"]')
        data = _data.subset_rows(data, subset)
        _data.formula_weights(kwargs, data)
        y1, x1, n1 = _data.lhs_design(formula[0], data, "first formula")
        y2, x2, n2 = _data.lhs_design(formula[1], data, "second formula")
        endog = pd.concat([y1.rename(n1), y2.rename(n2)], axis=1)
        model = cls(endog, x1, x2, missing=missing, **kwargs)
        model.formula = list(formula)
        model._remember_formulas(formula, [x1.design_info, x2.design_info], data)
        return model

    # -- kernel contract ----------------------------------------------------
    def _block_data(self, rows):
        return self._y1[rows], self._y2[rows], self._x1[rows], self._x2[rows]

    @staticmethod
    def _kernel(params, data, order, llobs, per_obs, weights=None):
        return biprobit_loglike_derivs(params, *data, order, llobs, per_obs, weights)

    @staticmethod
    def _partition_block_data(ys, Xs):
        """``_block_data`` of one dask partition's arrays (the two equations)."""
        return ys[0], ys[1], Xs[0], Xs[1]

    def _expected_information(self, params) -> np.ndarray:
        """Expected information ``sum_i w_i sum_c P_ic s_ic s_ic'`` over the
        four outcome cells ``c = (y1, y2)`` (the score of a cell times its
        probability; equal to ``E[-H]`` by the information identity). R's
        VGAM (``binom2.rho``) reports standard errors from this matrix
        (Fisher scoring): ``fit(cov_type="eim")`` reproduces them."""
        params = np.asarray(params, dtype=float)
        k = len(params)
        info = np.zeros((k, k))
        for sl in row_blocks(self._nrows, 65536):
            x1, x2 = self._x1[sl], self._x2[sl]
            m = x1.shape[0]
            w = None if self._w is None else self._w[sl]
            for a in (0.0, 1.0):
                for b in (0.0, 1.0):
                    ll, S, _ = biprobit_loglike_derivs(params, np.full(m, a), np.full(m, b),
                                                       x1, x2, 1, None, True)
                    p = np.exp(ll) if w is None else w * np.exp(ll)
                    info += (S.T * p) @ S
        return 0.5 * (info + info.T)

    def _equation_blocks(self):
        infos = self._design_infos or [None, None]
        return [(self._eq_names[0], 0, infos[0], self._eq_exog_names[0]),
                (self._eq_names[1], self.k1, infos[1], self._eq_exog_names[1])]

    # -- start values and the independent model -------------------------------
    def _restricted_fits(self):
        """Two univariate probits: start values and the rho = 0 log-likelihood."""
        w = self._w
        return [fit_probit(self._y1, self._x1, weights=w),
                fit_probit(self._y2, self._x2, weights=w)]

    @property
    def llf_independent(self) -> float:
        """Log-likelihood of the two separate probits (the model with rho = 0)."""
        return self.llf_restricted

    @property
    def start_params(self) -> np.ndarray:
        """Univariate probit coefficients and a one-step estimate of athrho.

        ``rho_0 = sum e1 e2 / sum (e1 e2)^2`` with ``e_j = q_j lambda(q_j
        xb_j)`` the probit generalized residuals: a scoring step from
        ``rho = 0`` (the score of rho there is ``sum e1 e2``), clipped to
        ``+-0.9``.
        """
        (b1, _, _), (b2, _, _) = self._fit_restricted()
        athrho = scoring_athrho(probit_residual(self._y1, self._x1 @ b1),
                                probit_residual(self._y2, self._x2 @ b2))
        return np.concatenate([b1, b2, [athrho]])

    def _summary_variables(self):
        return [("Dep. Variables:", [", ".join(self._eq_names)])], []

    # -- prediction -------------------------------------------------------------
    def _index_params(self, params):
        params = np.asarray(params)
        return params[:self.k1], params[self.k1:self.k1 + self.k2]

    def predict(self, params, exog1=None, exog2=None, which: str = "p11"):
        """Predicted probabilities or indices (see
        :func:`~econderiv.models._bvprobit_kernels.bivariate_prediction`).
        ``exog2=None`` with ``exog1`` given uses ``exog1`` for both equations."""
        params = np.asarray(params, dtype=float)
        x1 = self._x1 if exog1 is None else np.asarray(exog1, dtype=float)
        if exog2 is None:
            x2 = self._x2 if exog1 is None else x1
        else:
            x2 = np.asarray(exog2, dtype=float)
        b1, b2 = self._index_params(params)
        return bivariate_prediction(which, x1 @ b1, x2 @ b2, float(np.tanh(params[-1])))


class BivariateProbitResults(ExactLikelihoodResults):
    """Results of :class:`BivariateProbit`.

    Beyond the statsmodels results interface: ``llf``, ``aic``, ``bic``,
    ``rho``, ``ancillary``, ``llf_independent``, ``lr_test_rho``,
    ``wald_test_rho``, ``rho_test`` (LR, or Wald under a robust covariance),
    ``summary()``, ``predict()``, ``get_margeff()``, ``profile_loglike()``.
    """

    @property
    def llf_independent(self) -> float:
        """Log-likelihood of the two separate probits (the model with rho = 0)."""
        return self.llf_restricted

    def summary(self, alpha: float = 0.05):
        """statsmodels Summary: one block per equation, rho and the test of rho = 0."""
        m = self.model
        top_left, top_right = self.summary_header("BivariateProbit",
                                                  extra_right=[("rho:", [f"{self.rho:.4f}"])])
        k1, k2 = m.k1, m.k2
        blocks = [(m._eq_names[0], slice(0, k1), m._eq_exog_names[0]),
                  (m._eq_names[1], slice(k1, k1 + k2), m._eq_exog_names[1]),
                  ("ancillary (estimation scale)", slice(k1 + k2, k1 + k2 + 1), ["athrho"])]
        return _inference.build_summary(self, "Bivariate Probit Regression Results", top_left,
                                        top_right, blocks, self.ancillary_frame(alpha),
                                        notes=[str(self.rho_test)], alpha=alpha)

    def predict(self, exog=None, which: str = "p11"):
        """Predicted probabilities.

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
        Series (indexed like the data) for pandas input, else ndarray
        """
        m = self.model
        infos = m._design_infos or [None, None]
        index = None
        if exog is None:
            x1, x2, index = m._x1, m._x2, m.row_labels
        else:
            e1, e2 = exog if isinstance(exog, tuple) else (exog, None)
            x1, index = _data.new_design(e1, m.k1, m._eq_exog_names[0], "exog1", infos[0])
            x2, i2 = _data.new_design(e1 if e2 is None else e2, m.k2, m._eq_exog_names[1],
                                      "exog2", infos[1])
            index = i2 if index is None else index
        return _data.labelled(m.predict(np.asarray(self.params), x1, x2, which=which),
                              index, which)

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
        y1, y2 = m._eq_names

        def predict(p, xs, grad):
            b1, b2 = m._index_params(p)
            out = bivariate_prediction(which, xs[0] @ b1, xs[1] @ b2, float(np.tanh(p[-1])),
                                       grad)
            return (out[0], out[1:]) if grad else out

        labels = {"p11": f"P({y1}=1, {y2}=1)", "pmarg1": f"P({y1}=1)",
                  "pmarg2": f"P({y2}=1)", "pcond1": f"P({y1}=1 | {y2}=1)",
                  "pcond2": f"P({y2}=1 | {y1}=1)"}
        return _inference.index_margins(
            self.params, self.cov_params(), [m._x1, m._x2], m._eq_exog_names,
            lambda p: m._index_params(p), predict, which, at, dummy,
            labels.get(which, which),
            (which not in ("pmarg2", "xb2"), which not in ("pmarg1", "xb1")), variables,
            weights=m._w)


class BivariateProbitResultsWrapper(LikelihoodResultsWrapper):
    pass


wrap.populate_wrapper(BivariateProbitResultsWrapper, BivariateProbitResults)

BivariateProbit._results_class = BivariateProbitResults
BivariateProbit._wrapper_class = BivariateProbitResultsWrapper
