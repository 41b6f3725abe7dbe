"""The multinomial logit on dask partitions (see :mod:`econderiv.models._dask`).

``fit`` is ``MNLogit.fit``: it reaches the data only through a few sums over
rows, which :class:`_DaskMNLogit` computes on the partitions. Böhning's
phase needs only the log-likelihood and score per pass (``X'X`` is summed
once, in the summary pass); the Newton phase sums the exact Hessian, its
first steps on the in-memory fit's strided subsample, so that the
distributed fit takes the same path as the in-memory one.

Weights (``freq_weights="w"``, ``prob_weights=``, ``importance_weights=``
naming a column) are carried by every partition and passed to the kernels:
the sums are weighted, ``X'WX`` (Böhning's bound) and the weighted category
totals (``llnull``) cost one pass when first needed, and the subsample
Hessian is scaled by the weights' total over the subsample's, as in memory.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from econderiv.models._dask import (DaskBackend, Partition, WeightsOnWorkers, _OnWorkers,
                                    _results_class_of, _weights_setup, check_rank_gram,
                                    cluster_meat, dask_class, partition_spec, summarize)


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
    """Distributed hooks of the multinomial logit: the sums over rows that
    ``MNLogit.fit``, its covariances and its diagnostics use (log-likelihood
    and score, Hessian and its strided subsample, ``X'WX``, category totals,
    the robust meats, the rows of certain fit), summed on the partitions.
    ``fit`` itself is the in-memory one."""

    _backend: DaskBackend = None
    _w_total = None         # the sum of the weights (summary pass)
    _weighted = None        # (X'WX, weighted category totals), one pass when first needed

    @property
    def wnobs(self) -> float:
        """Observations: the rows, or the sum of frequency / importance weights."""
        if self.weight_type in (None, "prob"):
            return float(self._n_rows)
        return float(self._w_total)

    def fit(self, start_params=None, method="bohning", *args, **kwargs):
        """As the in-memory ``fit`` (same optimizers, convergence rules and
        covariances; sampling weights default to Stata's HC1), every sum over
        rows computed on the partitions; ``mle_retvals["passes"]`` counts the
        passes over the data so far."""
        from econderiv.models import _optim

        if str(method).lower() in _optim.STATSMODELS_METHODS:
            raise NotImplementedError(f"method={method!r} on dask input: use 'bohning', "
                                      "'newton_trust' or 'newton_linesearch'")
        res = super().fit(start_params, method, *args, **kwargs)
        res.mle_retvals["passes"] = self._backend.passes
        return res

    # -- the sums over rows, on the partitions ----------------------------------
    def _loglike_score_beta(self, beta):
        ll, grad = self._backend.map_sum(_mn_loglike_score, beta, self.chunksize)
        return float(ll), grad

    def _hessian_beta(self, beta, stride=1):
        """The Hessian, or (``stride > 1``) that of every ``stride``-th row of
        the whole sample scaled by the rows (or the weights) over the
        subsample's: the in-memory fit's rows, picked partition by partition."""
        h, used = self._backend.map_sum(_mn_hessian, beta, stride, self._offsets)
        if stride > 1:
            total = float(self._n_rows) if self.weight_type is None else float(self._w_total)
            h = h * (total / float(used))
        return h

    def _weighted_sums(self):
        if self._weighted is None:
            self._weighted = self._backend.map_sum(_mn_weighted_sums, int(self.J))
        return self._weighted

    def _weighted_gram(self):
        return self._weighted_sums()[0]

    def _category_totals(self):
        if self.weight_type is None:
            return np.asarray(self._counts, dtype=float)
        return np.asarray(self._weighted_sums()[1], dtype=float)

    def _robust_meats(self, beta, cov_type, kw):
        """The rows' meat (one pass) or the clusters' meats: the clusters'
        score totals span partitions (a groupby, see
        :func:`econderiv.models._dask.cluster_meat`); ``kw["groups"]`` names
        one column, or two for two-way clustering."""
        def meat(codes):
            (m,) = self._backend.map_sum(_mn_score_outer, beta, self.weight_type)
            return m

        if cov_type != "cluster":
            return meat, None, None
        meats, n_groups = cluster_meat(self._backend, _mn_score_rows, (beta,), kw["groups"],
                                       beta.size)
        # one-way: (M, G); two-way: [(M1, G1), (M2, G2), (M12, G12)]
        return meat, (meats if isinstance(meats, list) else (meats, n_groups)), n_groups

    def _nonconstant_columns(self):
        return self._x_nonconstant

    def _margins_at(self, beta, method, at, effects_idx):
        n, eff, jac = self._backend.map_sum(_mn_margins, beta, method)
        return eff / float(n), jac / float(n)

    def _count_certain(self, beta):
        (n_certain,) = self._backend.map_sum(_mn_certain, beta)
        return int(n_certain)

    def loglikeobs(self, params):
        raise NotImplementedError("the per-row log-likelihood of a dask model stays on the "
                                  "workers: use loglike (the sum)")

    def score_obs(self, params):
        raise NotImplementedError("per-row scores of a dask model stay on the workers; "
                                  "robust covariances are summed there (fit(cov_type=))")


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
    "overall"``, continuous) summed over the partitions (the model's
    ``_margins_at``); the options that need the rows are refused."""

    def get_margeff(self, at="overall", method="dydx", atexog=None, dummy=False,
                    count=False):
        weighted = self.results.model.weight_type is not None
        if str(at).lower() != "overall" or (
                (dummy or count or atexog is not None) and not weighted):
            raise NotImplementedError("on dask input get_margeff averages over the rows "
                                      "(at='overall', no dummy, count or atexog)")
        # weighted dummy / count effects: the in-memory refusal
        return super().get_margeff(at, method, atexog, dummy, count)


class _DaskMNLogitResults:
    @property
    def llf(self):
        """The log-likelihood summed on the partitions (one pass; kept)."""
        if self._llf is None:
            self._llf = float(self.model.loglike(np.asarray(self.params)))
        return self._llf

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
        m.weights = WeightsOnWorkers(n, m._w_total)
    m.df_resid = m.wnobs - m.df_model - (J - 1)
    m.n_dropped = stats["n_dropped"]
    m.formula = formula
    m._results_class = dask_class(_results_class_of(cls), _DaskMNLogitResults)
    m._x_nonconstant = st["max"] > st["min"]
    return m
