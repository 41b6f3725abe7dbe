"""The multinomial logit on dask partitions (see :mod:`econderiv.models._dask`).

Böhning's phase needs only the log-likelihood and score per pass (``X'X`` is
summed once, in the summary pass); the Newton phase sums the exact Hessian,
its first steps on the in-memory fit's strided subsample, so that the
distributed fit takes the same path as the in-memory one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from econderiv.models._dask import (DaskBackend, Partition, _OnWorkers, _results_class_of,
                                    _weights_setup, check_rank_gram, cluster_meat, dask_class,
                                    partition_spec, summarize)


class _WeightsOnWorkers(_OnWorkers):
    """The weights stay on the workers; their sum (summary pass) is known."""

    def __init__(self, n, total):
        super().__init__((n,), "weights")
        self._total = total

    def sum(self, axis=None, out=None, **kwargs):
        return self._total


def _mn_loglike_score(part: Partition, beta, chunk):
    from econderiv.models._mnlogit_kernels import mnlogit_loglike_score

    X, y = part.block()
    ll, grad = mnlogit_loglike_score(X, y, beta, chunk, weights=part.w)
    return np.array(ll), grad


def _mn_hessian(part: Partition, beta, stride, offsets):
    """The (weighted) Hessian of the partition, or of the rows ``0, stride,
    2 stride, ...`` of the whole sample that fall in it (the in-memory fit's
    subsample), with the rows' count or weight (the subsample's share)."""
    from econderiv.models._mnlogit_kernels import mnlogit_hessian

    X, y = part.block()
    w = part.w
    if stride > 1:
        first = (-offsets[part.number]) % stride
        X, y = X[first::stride], y[first::stride]
        w = None if w is None else w[first::stride]
        if len(y) == 0:
            return np.zeros((beta.size, beta.size)), np.array(0.0)
    used = float(len(y)) if w is None else float(w.sum())
    return mnlogit_hessian(X, y, beta, weights=w), np.array(used)


def _mn_score_outer(part: Partition, beta, weight_kind):
    """``sum_i c_i s_i s_i'``: ``c_i = w_i`` for frequency weights (a row
    stands for ``w_i`` rows), ``w_i^2`` for the contributions ``w_i s_i`` of
    sampling and importance weights (as in memory)."""
    from econderiv.models._mnlogit_kernels import mnlogit_score_outer

    X, y = part.block()
    w = part.w
    mult = None if w is None else (w if weight_kind == "freq" else w * w)
    return (mnlogit_score_outer(X, y, beta, weights=mult),)


def _mn_score_rows(part: Partition, beta):
    """Per-row score contributions ``w_i s_i`` (``s_i`` without weights)."""
    from econderiv.models._mnlogit_kernels import _log_softmax_rest

    X, y = part.block()
    _, prob = _log_softmax_rest(X @ beta)
    resid = -prob
    rows = np.flatnonzero(y > 0)
    resid[rows, y[rows] - 1] += 1.0
    if part.w is not None:
        resid *= part.w[:, None]
    return (resid[:, :, None] * X[:, None, :]).reshape(len(y), -1)


def _mn_weighted_sums(part: Partition, n_categories):
    """``X'WX`` (Böhning's bound of the weighted likelihood) and the weighted
    category totals (``llnull``)."""
    X, y = part.block()
    w = part.w
    return (X.T * w) @ X, np.bincount(y, weights=w, minlength=n_categories)


def _mn_certain(part: Partition, beta):
    from econderiv.models._mnlogit_kernels import _log_softmax_rest

    X, y = part.block()
    eta = X @ beta
    lse, _ = _log_softmax_rest(eta)
    eta_obs = np.where(y > 0, eta[np.arange(len(y)), np.maximum(y - 1, 0)], 0.0)
    return (np.array(int(np.sum(eta_obs - lse > -1e-8))),)


class _DaskMNLogit:
    """Distributed hooks of the multinomial logit: the log-likelihood and score
    (Böhning's phase needs only these, with ``X'X`` summed once), the Hessian
    (Newton phase; its first steps on the in-memory fit's strided subsample)
    and the covariances, summed on the workers."""

    _backend: DaskBackend = None
    _w_total = None         # the sum of the weights (summary pass)
    _weighted = None        # (X'WX, weighted category totals), one pass when first needed

    @property
    def wnobs(self) -> float:
        """Observations: the rows, or the sum of frequency / importance weights."""
        if self.weight_type in (None, "prob"):
            return float(self._n_rows)
        return float(self._w_total)

    def _weighted_sums(self):
        if self._weighted is None:
            self._weighted = self._backend.map_sum(_mn_weighted_sums, int(self.J))
        return self._weighted

    @property
    def bohning(self):
        """Böhning's bound from ``X'X`` (summary pass) or, with weights,
        ``X'WX`` (one pass when first needed), as in memory."""
        if self._bohning is None:
            from econderiv.models._mnlogit_kernels import BohningBound

            xtx = self._xtx if self.weight_type is None else self._weighted_sums()[0]
            self._bohning = BohningBound(xtx, int(self.J), names=list(self.exog_names))
        return self._bohning

    def _category_totals(self):
        if self.weight_type is None:
            return np.asarray(self._counts, dtype=float)
        return np.asarray(self._weighted_sums()[1], dtype=float)

    def loglike_and_score(self, params):
        beta = self._beta(params)
        ll, grad = self._backend.map_sum(_mn_loglike_score, beta, self.chunksize)
        return float(ll), grad.ravel(order="F")

    def hessian(self, params):
        return self._hessian_beta(self._beta(params))

    def _hessian_beta(self, beta, stride=1):
        """The Hessian, or (``stride > 1``) that of every ``stride``-th row of
        the whole sample scaled by the rows (or the weights) over the
        subsample's, as the in-memory fit's first Newton steps."""
        h, used = self._backend.map_sum(_mn_hessian, beta, stride, self._offsets)
        if stride > 1:
            total = float(self._n_rows) if self.weight_type is None else float(self._w_total)
            h = h * (total / float(used))
        return h

    def loglikeobs(self, params):
        raise NotImplementedError("the per-row log-likelihood of a dask model stays on the "
                                  "workers: use loglike (the sum)")

    def score_obs(self, params):
        raise NotImplementedError("per-row scores of a dask model stay on the workers; "
                                  "robust covariances are summed there (fit(cov_type=))")

    def fit(self, start_params=None, method="bohning", maxiter=None, full_output=True,
            disp=False, callback=None, retall=False, cov_type=None, cov_kwds=None,
            use_t=None, tol=None, gtol=None, skip_hessian=False, accelerate=True, **kwargs):
        """As the in-memory ``fit`` (same optimizers, convergence rules and
        covariances; sampling weights default to Stata's HC1), every sum over
        rows computed on the partitions."""
        from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults
        from statsmodels.discrete import discrete_model as smd

        from econderiv.models import _inference, _optim

        method = _optim.check_method(method, own=("bohning", "newton_trust",
                                                  "newton_linesearch"))
        if method not in ("bohning", "newton_trust", "newton_linesearch"):
            raise NotImplementedError(f"method={method!r} on dask input: use 'bohning', "
                                      "'newton_trust' or 'newton_linesearch'")
        _optim.check_keywords(kwargs, ("warn_convergence",), f"MNLogit.fit(method={method!r})")
        if maxiter is not None:
            maxiter = _optim.check_maxiter(maxiter)
        if cov_type is None and self.weight_type == "prob":
            cov_type, cov_kwds = "HC1", dict(cov_kwds or {}, correction="stata")
        cov_type, cov_kwds = _inference.check_cov_type(cov_type, cov_kwds)
        if cov_type == "eim":
            cov_type = "nonrobust"
        K, J = int(self.K), int(self.J)
        k = K * (J - 1)
        start = np.zeros(k) if start_params is None else np.asarray(start_params, float)
        if start.ndim == 2:
            start = self._beta(start).ravel(order="F")
        if start.size != k:
            raise ValueError(f"start_params has {start.size} entries, expected p * (J - 1) "
                             f"= {k}")
        tol = 1e-12 if tol is None else float(tol)
        gtol = _optim.DEFAULT_GTOL if gtol is None else float(gtol)
        n = int(self._n_rows)
        if method == "bohning":
            bound = self.bohning
            stride = n // max(20000, 100 * bound.n_params)
            approx = None
            if stride >= 2:
                def approx(b):
                    return self._hessian_beta(b, stride)

            out = _optim.fit_bohning(
                lambda b: self._ll_score_beta(b), bound, self._beta(start),
                hessian=self._hessian_beta, hessian_approx=approx, accelerate=accelerate,
                maxiter=maxiter, tol=tol, gtol=gtol,
                callback=None if callback is None else (lambda b: callback(b.ravel(order="F"))))
            beta = out["params"]
            hess = out["hessian"]
            params = beta.ravel(order="F")
            retvals = {"fopt": -out["llf"] / self.wnobs, "iterations": out["iterations"],
                       "fcalls": out["fcalls"], "hcalls": out["hcalls"],
                       "hcalls_subsample": out.get("hcalls_approx", 0),
                       "converged": out["converged"], "warnflag": 0 if out["converged"] else 1,
                       "gradient_norm": out["gradient_norm"], "criterion": out["criterion"],
                       "llf_path": np.asarray(out["llf_path"]),
                       "phase_iterations": out["phase_iterations"], "message": out["message"]}
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mle = LikelihoodModel.fit(self, start_params=start, method=method,
                                          maxiter=100 if maxiter is None else maxiter,
                                          disp=disp, callback=callback, skip_hessian=True,
                                          tol=tol, gtol=gtol, extra_fit_funcs=_optim.FIT_FUNCS,
                                          nobs=self.wnobs)
            params = np.asarray(mle.params, float)
            retvals = dict(mle.mle_retvals)
            hess = None
        retvals["passes"] = self._backend.passes
        cov = None
        if not skip_hessian:
            if hess is None:
                hess = self.hessian(params)
            cov = _optim.inverse_information(hess)
        mlefit = LikelihoodModelResults(self, params, cov, scale=1.0)
        mlefit.mle_retvals = retvals
        mlefit.mle_settings = {"optimizer": method, "tol": tol, "gtol": gtol,
                               "maxiter": maxiter, "start_params": start}
        mlefit.params = mlefit.params.reshape(K, -1, order="F")
        res = self._results_class(self, mlefit)
        res._category_counts = self._category_totals()
        res.nobs = self.wnobs
        res._llf = float(self.loglike(params))  # the in-memory llf sums loglikeobs
        if use_t is not None:
            res.use_t = use_t
        self._set_cov_dask(res, cov_type, cov_kwds, use_t)
        self._check_separation_dask(res, retvals["converged"])
        if not retvals["converged"] and kwargs.get("warn_convergence", True):
            from statsmodels.tools.sm_exceptions import ConvergenceWarning

            warnings.warn(f"the multinomial logit did not converge on the partitions after "
                          f"{retvals.get('iterations')} iterations; raise maxiter or check "
                          "for separation", ConvergenceWarning, stacklevel=2)
        return smd.MultinomialResultsWrapper(res)

    def _check_separation_dask(self, res, converged):
        """The in-memory fit's separation signals: the curvature relative to
        Böhning's bound and (only then) one pass counting the rows whose
        observed category has a fitted probability within 1e-8 of 1."""
        from scipy import linalg
        from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

        cov = res.normalized_cov_params
        lam_min = np.inf
        if cov is not None:
            try:
                ev = linalg.eigh(np.asarray(cov), linalg.inv(self.bohning.matrix()),
                                 eigvals_only=True)
                lam_min = 1.0 / float(np.max(ev))
            except (linalg.LinAlgError, ValueError):
                lam_min = 0.0
        if lam_min >= 1e-7 and converged:
            return
        beta = np.asarray(res.params).reshape(int(self.K), -1, order="F")
        (n_certain,) = self._backend.map_sum(_mn_certain, beta)
        if lam_min < 1e-7 or int(n_certain) > 0:
            warnings.warn(
                f"The multinomial logit looks (quasi-)separated: {int(n_certain)} row(s) have "
                "a fitted probability of their observed category within 1e-8 of 1 and the "
                f"smallest curvature relative to Böhning's bound is {lam_min:.1e}; some "
                "coefficients drift to +-infinity and the MLE may not exist. Try merging "
                "sparse categories or dropping the regressors that predict a category.",
                PerfectSeparationWarning, stacklevel=3)

    def _ll_score_beta(self, beta):
        ll, grad = self._backend.map_sum(_mn_loglike_score, beta, self.chunksize)
        return float(ll), grad

    def _set_cov_dask(self, res, cov_type, cov_kwds, use_t):
        from econderiv.models import _data, _inference

        res.cov_type = cov_type
        if cov_type == "nonrobust":
            res.cov_kwds = {"description": "Standard Errors assume that the covariance "
                            "matrix of the errors is correctly specified."}
            if self.weight_type == "prob":
                warnings.warn("cov_type='nonrobust' with prob_weights: the inverse Hessian of "
                              "a sampling-weighted likelihood is not a valid covariance "
                              "(Stata does not allow it). Use the default (HC1 with Stata's "
                              "factor) or 'cluster'.", RuntimeWarning,
                              stacklevel=_data.user_stacklevel())
            return
        if res.normalized_cov_params is None:
            raise ValueError(f"cov_type={cov_type!r} needs the inverse Hessian, which is not "
                             "available (skip_hessian=True or a singular Hessian)")
        beta = np.asarray(res.params).reshape(int(self.K), -1, order="F")
        k = beta.size
        n_groups = None
        if cov_type == "cluster":
            meat, n_groups = cluster_meat(self._backend, _mn_score_rows, (beta,),
                                          cov_kwds["groups"], k)
            res.n_groups = n_groups
            if cov_kwds.get("df_correction", None) is not False:
                res.df_resid_inference = int(np.min(n_groups)) - 1
        else:
            (meat,) = self._backend.map_sum(_mn_score_outer, beta, self.weight_type)
        A = -np.linalg.inv(np.asarray(res.normalized_cov_params))
        cov, details = _inference.covariance(
            A, None, None, self.weight_type, cov_type, cov_kwds, self.wnobs, k,
            meat=lambda codes: meat,
            # two-way clustering: a list of three (meat, clusters)
            cluster_meat=None if cov_type != "cluster" else
            meat if isinstance(meat, list) else (meat, n_groups))
        res.cov_kwds = dict(cov_kwds, description=cov_type, details=details)
        res.cov_params_default = cov
        res.use_t = res.use_t if use_t is None else use_t


def _mn_margins(part: Partition, beta, method):
    from econderiv.models._mnlogit_kernels import mnlogit_margins

    X, _ = part.block()
    w = part.w
    m = float(len(X)) if w is None else float(w.sum())
    if m == 0:  # every weight zero: nothing to add
        return None
    eff, jac = mnlogit_margins(X, beta, method, weights=w)
    return np.array(m), m * eff, m * jac


class _DaskMNLogitMargins:
    """statsmodels' margins of a dask MNLogit: average effects (``at=
    "overall"``, continuous) summed over the partitions."""

    def get_margeff(self, at="overall", method="dydx", atexog=None, dummy=False,
                    count=False):
        from statsmodels.discrete import discrete_margins as smm

        at, method = at.lower(), method.lower()
        if (dummy or count or atexog is not None) and self.results.model.weight_type:
            raise NotImplementedError(
                "weighted averages of marginal effects with dummy, count or atexog are "
                "not implemented (statsmodels' code averages unweighted); use the "
                "default continuous effects")
        if at != "overall" or dummy or count or atexog is not None:
            raise NotImplementedError("on dask input get_margeff averages over the rows "
                                      "(at='overall', no dummy, count or atexog)")
        self._reset()
        smm._check_margeff_args(at, method)
        self.margeff_options = dict(method=method, at=at)
        self.dummy_idx = self.count_idx = None
        results = self.results
        model = results.model
        beta = np.asarray(results.params).reshape(int(model.K), -1, order="F")
        n, eff, jac = model._backend.map_sum(_mn_margins, beta, method)
        eff, jac = eff / float(n), jac / float(n)
        effects_idx = model._x_nonconstant
        cov = jac @ np.asarray(results.cov_params()) @ jac.T
        keep = np.tile(effects_idx, eff.shape[1])
        k = int(effects_idx.sum())
        self.margeff = eff[effects_idx]
        self.margeff_cov = cov[np.ix_(keep, keep)]
        self.margeff_se = np.sqrt(np.diag(self.margeff_cov)).reshape(k, -1, order="F")


class _DaskMNLogitResults:
    def get_margeff(self, at="overall", method="dydx", atexog=None, dummy=False,
                    count=False):
        """Average marginal effects summed over the partitions (see
        ``MNLogitResults.get_margeff``; ``at="overall"`` only)."""
        import sys

        base = getattr(sys.modules[type(self).__mro__[2].__module__], "MNLogitMargins")
        return dask_class(base, _DaskMNLogitMargins)(self, (at, method, atexog, dummy, count))


def mnlogit_model(cls, formula, ddf, selection=None, missing="drop", persist=False,
                  weights=None, weight_kind=None, **kwargs):
    """The multinomial logit on the dask DataFrame ``ddf`` (``from_formula``)."""
    if selection is not None:
        raise ValueError("MNLogit has no selection equation")
    if kwargs:
        raise ValueError(f"unknown keyword(s) for dask input: {sorted(kwargs)}")
    if weights is not None and weights in ddf.columns and not (
            pd.api.types.is_numeric_dtype(ddf[weights].dtype)
            or pd.api.types.is_bool_dtype(ddf[weights].dtype)):
        raise ValueError(f"{weight_kind}_weights {weights!r} must be numeric (dtype "
                         f"{ddf[weights].dtype})")
    spec = partition_spec(cls, [formula], ddf, missing, outcome_codes=True, weights=weights)
    codes = spec.outcome_codes
    J = len(codes)
    backend = DaskBackend(ddf, spec, persist)
    stats = summarize(backend, [False], [None], n_categories=J)
    (eq,) = spec.equations
    st = stats["eqs"][0]
    counts = st["y_counts"]
    labels = list(codes)
    if J < 2 or (counts == 0).any():
        absent = [labels[j] for j in np.flatnonzero(counts == 0)]
        raise ValueError(f"the outcome {eq.lhs!r} has {int((counts > 0).sum())} observed "
                         f"categor{'y' if (counts > 0).sum() == 1 else 'ies'}"
                         + (f"; declared but absent: {absent}" if absent else "")
                         + "; a multinomial logit needs at least 2, each observed")
    xnames = list(eq.xnames)
    K = len(xnames)
    check_rank_gram(st["xtx"], xnames, "exog")
    numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in labels)
    # a small in-memory model of the same class supplies statsmodels' names
    y_t = np.repeat(np.asarray(labels if numeric else np.arange(J, dtype=float)), K)
    X_t = np.tile(np.eye(K), (J, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = cls(pd.Series(y_t, name=eq.lhs), pd.DataFrame(X_t, columns=xnames))
    if not numeric:
        m._ynames_map = {k: str(labels[int(v)]) for k, v in m._ynames_map.items()}
        ynames = [m._ynames_map[j] for j in range(J)]
        m.data.cov_names = pd.MultiIndex.from_product((ynames[1:], m.data.xnames),
                                                      names=(m.endog_names, None))
    m.__class__ = dask_class(cls, _DaskMNLogit)
    m._backend = backend
    n = stats["n"]
    m._n_rows = n
    m._counts = counts
    m._offsets = np.concatenate([[0], np.cumsum(stats["rows"])[:-1]]).astype(np.int64)
    m.exog = _OnWorkers((n, K), "exog", (st["min"], st["max"]))
    m.endog = _OnWorkers((n,), "endog")
    m.wendog = _OnWorkers((n, J), "wendog")
    m._xtx = st["xtx"]
    m._bohning = None
    m.df_model = float((K - 1) * (J - 1))
    _weights_setup(m, weight_kind, stats, weights)
    if weight_kind is not None:
        m.__dict__.pop("nobs", None)  # as in memory: wnobs, not nobs, counts the weights
        m._w_total = float(stats["w"])
        m.weights = _WeightsOnWorkers(n, m._w_total)
    m.df_resid = m.wnobs - m.df_model - (J - 1)
    m.n_dropped = stats["n_dropped"]
    m.formula = formula
    m._results_class = dask_class(_results_class_of(cls), _DaskMNLogitResults)
    m._x_nonconstant = st["max"] > st["min"]
    return m
