"""Multinomial logit: statsmodels' ``MNLogit`` with exact block-summed
derivatives, Böhning's bound and block-summed marginal effects.

This module is the statsmodels adapter and its results. The likelihood,
score, Hessian, robust-covariance meats, Böhning's bound and the marginal
effects with their Jacobian are plain array functions in
:mod:`econderiv.models._mnlogit_kernels` (formulas there); the optimizer
(``fit_bohning``: MM, L-BFGS on the bound, Newton finish) and the optimizer
registry are in :mod:`econderiv.models._optim`; covariance-type checks and
cluster codes in :mod:`econderiv.models._inference`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg
from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults
from statsmodels.discrete import discrete_margins as smm
from statsmodels.discrete import discrete_model as smd
from statsmodels.tools._decorators import cache_readonly
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from econderiv.models import _dask, _data, _inference, _optim
from econderiv.models._likelihood import row_blocks, single_thread_blas
from econderiv.models._mnlogit_kernels import (DEFAULT_CHUNK_ROWS, BohningBound, _as_beta,
                                               _log_softmax_rest, bohning_bound,
                                               collinear_columns, column_scale_problems, gram,
                                               mnlogit_block, mnlogit_cluster_meat,
                                               mnlogit_hessian, mnlogit_loglike_score,
                                               mnlogit_loglikeobs, mnlogit_margins,
                                               mnlogit_score_outer)
from econderiv.models._optim import fit_bohning
from econderiv.models._mnlogit_path import penalized_path

__all__ = [
    "MNLogit",
    "MNLogitResults",
    "MNLogitMargins",
    # re-exported from the kernels and the optimizer module
    "BohningBound",
    "bohning_bound",
    "mnlogit_block",
    "mnlogit_loglike_score",
    "mnlogit_hessian",
    "mnlogit_score_outer",
    "mnlogit_cluster_meat",
    "fit_bohning",
]

#: the optimizers of MNLogit.fit besides statsmodels' ones
OWN_METHODS = ("bohning", "newton_trust", "newton_linesearch")
#: fit keywords every econderiv likelihood family accepts
SHARED_FIT_KEYWORDS = ("start_params", "method", "maxiter", "disp", "callback", "cov_type",
                       "cov_kwds", "use_t", "tol", "gtol", "full_output", "retall",
                       "skip_hessian")
#: keywords of MNLogit.fit_regularized(method="bohning") and regularization_path
_PATH_KEYWORDS = ("L1_wt", "penalty", "symmetric", "standardize", "penalty_factor",
                  "tol", "accelerate", "screen")



#: statsmodels' descriptions of its robust covariances
_STATSMODELS_DESCRIPTIONS = {
    "HC0": "Standard Errors are heteroscedasticity robust (HC0)",
    "HC1": "Standard Errors are heteroscedasticity robust (HC1)",
    "cluster": "Standard Errors are robust to cluster correlation (CRV1)",
}


class MNLogitMargins(smm.DiscreteMargins):
    """statsmodels' ``DiscreteMargins`` computed by row blocks.

    For ``at`` in "overall", "mean", "median", "zero" with continuous
    treatment of the regressors (``dummy=False``, ``count=False``, no
    ``atexog``), the effects (``dydx``, ``eydx``, ``dyex``, ``eyex``) and the
    exact Jacobian of the delta method come from
    :func:`~econderiv.models._mnlogit_kernels.mnlogit_margins`: memory beyond
    the data is O(block) (statsmodels' code holds several complex
    ``n x p x J`` arrays per parameter perturbation, about 31 KB per row at
    p = 10, J = 5). Other options (``dummy``, ``count``, ``atexog``,
    ``at="all"``) are statsmodels' code. ``dyex``/``eyex`` multiply each
    effect by its own regressor ``x_ik``; statsmodels' multinomial code
    broadcasts the ``(n, p, J)`` effects against ``(n, p)`` regressors and
    fails (or, when ``p == J``, multiplies by the wrong column).
    """

    def get_margeff(self, at="overall", method="dydx", atexog=None, dummy=False,
                    count=False):
        at, method = at.lower(), method.lower()
        if dummy or count or atexog is not None or at == "all":
            if self.results.model.weight_type is not None and at in ("overall", "mean"):
                raise NotImplementedError(
                    "weighted averages of marginal effects with dummy, count or atexog are "
                    "not implemented (statsmodels' code averages unweighted); use the "
                    "default continuous effects")
            return super().get_margeff(at, method, atexog, dummy, count)
        self._reset()
        smm._check_margeff_args(at, method)
        self.margeff_options = dict(method=method, at=at)
        self.dummy_idx = self.count_idx = None
        results = self.results
        model = results.model
        beta = np.asarray(results.params).reshape(int(model.K), -1, order="F")
        effects_idx = model._nonconstant_columns()
        eff, jac = model._margins_at(beta, method, at, effects_idx)
        cov = jac @ np.asarray(results.cov_params()) @ jac.T
        keep = np.tile(effects_idx, eff.shape[1])
        k = int(effects_idx.sum())
        self.margeff = eff[effects_idx]
        self.margeff_cov = cov[np.ix_(keep, keep)]
        self.margeff_se = np.sqrt(np.diag(self.margeff_cov)).reshape(k, -1, order="F")


def _nonconstant_columns(exog) -> np.ndarray:
    """Columns with more than one value (statsmodels: ``exog.var(0) != 0``),
    found block by block."""
    lo = np.full(exog.shape[1], np.inf)
    hi = np.full(exog.shape[1], -np.inf)
    for sl in row_blocks(exog.shape[0], 4 * DEFAULT_CHUNK_ROWS):
        np.minimum(lo, exog[sl].min(axis=0), out=lo)
        np.maximum(hi, exog[sl].max(axis=0), out=hi)
    return hi > lo


def _column_means(exog, weights=None) -> np.ndarray:
    total = np.zeros(exog.shape[1])
    for sl in row_blocks(exog.shape[0], 4 * DEFAULT_CHUNK_ROWS):
        total += (exog[sl].sum(axis=0) if weights is None else weights[sl] @ exog[sl])
    return total / (exog.shape[0] if weights is None else float(np.sum(weights)))


class MNLogitResults(smd.MultinomialResults):
    """statsmodels' ``MultinomialResults`` with a closed-form ``llnull`` and
    block-summed marginal effects.

    The constant-only multinomial logit is maximised by the sample shares,
    so ``llnull = sum_j n_j log(n_j / n)`` exactly, from the category counts
    stored at fit time (statsmodels refits a null model). ``llf`` and
    ``llnull`` survive ``remove_data()``, so ``summary()`` works after it. ``llf`` is ``model.loglikeobs(params).sum()``, so the
    two agree to the last bit, as in statsmodels.
    """

    @cache_readonly
    def llnull(self):
        counts = np.asarray(self._category_counts, dtype=float)
        counts = counts[counts > 0]
        return float(np.sum(counts * np.log(counts / counts.sum())))

    _llf = None

    @property
    def llf(self):
        """``model.loglikeobs(params).sum()``, kept through ``remove_data()``."""
        if self._llf is None:
            self._llf = float(self.model.loglikeobs(self.params).sum())
        return self._llf

    def summary(self, *args, **kwargs):
        """statsmodels' summary; a post-selection refit
        (``MNLogitPath.refit``) carries its warning note."""
        smry = super().summary(*args, **kwargs)
        lines = []
        if self.model.weight_type is not None:
            kind = {"freq": "frequency", "prob": "sampling (prob)",
                    "importance": "importance"}[self.model.weight_type]
            lines.append(f"Weights: {kind}, sum {float(np.sum(self.model.weights)):.6g}; "
                         f"No. Observations counts {'rows' if kind.startswith('s') else 'the weights'}.")
        desc = (self.cov_kwds or {}).get("details")
        if self.cov_type != "nonrobust" and desc:
            groups = getattr(self, "n_groups", None)
            extra = "" if groups is None else f"; clusters: {groups}"
            lines.append(f"Covariance ({self.cov_type}): {desc}{extra}.")
        note = getattr(self, "post_selection_note", None)
        if note:
            lines.append(note)
        if lines:
            smry.add_extra_txt(lines)
        return smry

    def remove_data(self):
        """As statsmodels, after computing ``llf`` from the data (``llnull``
        needs only the stored category counts)."""
        _ = self.llf
        super().remove_data()

    def get_margeff(self, at="overall", method="dydx", atexog=None, dummy=False,
                    count=False):
        """Marginal effects as statsmodels' ``get_margeff`` (same arguments and
        return type), computed by row blocks with the exact delta-method
        Jacobian; see :class:`MNLogitMargins` for the options that fall back
        to statsmodels' code."""
        return MNLogitMargins(self, (at, method, atexog, dummy, count))


class MNLogit(smd.MNLogit):
    __doc__ = """Multinomial logit: statsmodels' ``MNLogit`` with exact chunked
    derivatives and Böhning's bound.

    A drop-in replacement for :class:`statsmodels.discrete.discrete_model.MNLogit`:
    same constructor, ``from_formula``, params layout ``p x (J-1)`` (first
    category is the base), and statsmodels' ``MultinomialResults``
    (``summary``, ``get_margeff``, ``predict``, ``cov_params``, ``t_test``...).

    What changes
    ------------
    * ``loglike``, ``score``, ``hessian``, ``loglike_and_score``, ``cdf``
      (so ``predict``), ``loglikeobs`` and ``score_obs`` use a stable
      softmax (no overflow for large linear predictors); ``loglike``,
      ``score`` and ``hessian`` are sums over row blocks (``chunksize``),
      the Hessian built from symmetric packed ``X' diag(w) X`` products.
      Every ``method`` of ``fit`` benefits ("newton" included).
    * ``fit(method="bohning")`` (the default): Böhning's bound as the
      curvature model of an L-BFGS method, finished by exact Newton steps;
      ``accelerate=False`` gives the plain monotone MM iteration.
    * ``cov_type`` "HC0", "HC1" and "cluster" are computed block by block
      without the ``n x p(J-1)`` score matrix. HC0 and cluster (CRV1, with
      statsmodels' small-sample factors) equal statsmodels' values; HC1 is
      HC0 times ``n / (n - k)`` (statsmodels' discrete models return the HC0
      matrix under the name "HC1").
    * ``llnull`` is exact (closed form, from the category counts; it
      survives ``remove_data()``).
    * ``get_margeff`` is computed by row blocks with the exact delta-method
      Jacobian (O(block) memory; see :class:`MNLogitMargins`).
    * ``from_formula`` also accepts a string or categorical outcome.
    * Bad input (NaN/inf, a constant outcome, collinear regressors, values so
      large that ``X'X`` overflows) raises a ``ValueError`` naming the
      columns or counts at fault; non-convergence
      and (quasi-)separation give warnings with advice.

    Parameters
    ----------
    endog, exog, check_rank, missing : as statsmodels' MNLogit
    chunksize : int, optional
        Rows per block for the log-likelihood and score (default 4096).
        The Hessian uses blocks sized for about 8 MB of temporaries per thread.

    Notes
    -----
    ``loglikeobs`` keeps statsmodels' layout: an ``n x J`` array
    ``d_ij log P_ij`` (sum over axis 1 for per-observation values).
    """

    def __new__(cls, *args, **kwargs):
        if _dask.has_dask_argument(args, kwargs):  # dask arrays: the distributed backend
            return _dask.from_arrays(cls, args, kwargs)
        return super().__new__(cls)

    def __init__(self, endog, exog, check_rank=True, chunksize=None, **kwargs):
        self.chunksize = chunksize
        wspec = _data.pop_weights(kwargs, "MNLogit")
        if kwargs.get("missing", "none") in (None, "none"):
            _precheck(endog, exog)
        super().__init__(endog, exog, check_rank=check_rank, **kwargs)
        self._init_keys.append("chunksize")
        self._validate()
        self._init_weights(wspec)

    #: the results class of ``fit`` (the distributed model's adds its own methods)
    _results_class = MNLogitResults

    # -- weights ---------------------------------------------------------------
    _w = None
    weights = None
    weight_type = None

    def _init_weights(self, spec) -> None:
        """Frequency, sampling or importance weights (see
        :func:`econderiv.models._data.prepare_weights`), aligned like the data;
        the log-likelihood, score, Hessian and Böhning's bound are weighted
        sums, and ``nobs`` is the sum of frequency or importance weights."""
        n = self.exog.shape[0]
        kept, labels = self._kept_rows()
        w = _data.prepare_weights(spec, n, kept, labels)
        if w is None:
            return
        self.weights = self._w = w.values
        self.weight_type = w.kind
        self._bohning = None
        setattr(self, w.keyword, w.values)
        self._init_keys.append(w.keyword)
        self.df_resid = w.nobs - self.df_model - (self.J - 1)

    @property
    def wnobs(self) -> float:
        """Observations: the rows, or the sum of frequency / importance weights."""
        n = float(self.exog.shape[0])
        if self._w is None or self.weight_type == "prob":
            return n
        return float(self._w.sum())

    def initialize(self):
        """As statsmodels' ``MultinomialModel.initialize``, with the rank of
        ``exog`` from the chunked ``X'X`` (statsmodels runs a full-size QR,
        slow and memory-hungry for millions of rows). ``X'X`` is kept for
        Böhning's bound. With ``check_rank`` a rank-deficient ``exog`` is an
        error naming the dependent columns."""
        names = list(self.exog_names) if self.exog_names is not None else None
        self._xtx = gram(self.exog)
        scale = column_scale_problems(self.exog, self._xtx, names)
        if scale:
            raise ValueError(
                f"exog has values too large for double precision: {'; '.join(scale)}. "
                "X'X (and the likelihood's products) overflow; rescale those columns "
                "(e.g. divide by a power of ten) or check them for data errors.")
        p = self.exog.shape[1]
        if self._check_rank:
            bad = collinear_columns(self._xtx)
            if bad:
                which = ", ".join(repr(names[k]) if names else str(k) for k in bad)
                raise ValueError(
                    f"exog is rank deficient (rank {p - len(bad)} < {p} columns): "
                    f"column(s) {which} are linear combinations of earlier columns or "
                    "all zero; the coefficients are not identified. Drop them.")
        rank = p
        self.df_model = float(rank - 1)
        self.df_resid = float(self.exog.shape[0] - rank)
        self.endog = self.endog.argmax(1)
        self.J = self.wendog.shape[1]
        self.K = self.exog.shape[1]
        self.df_model *= self.J - 1
        self.df_resid = self.exog.shape[0] - self.df_model - (self.J - 1)

    @classmethod
    def from_formula(cls, formula, data, subset=None, drop_cols=None, *args, **kwargs):
        """As statsmodels' ``from_formula``; the outcome may also be a string or
        categorical column (statsmodels needs numeric codes). Its categories are
        ordered as ``pd.Categorical`` orders them (sorted, or the declared order
        of an ordered categorical); the first is the base. The category labels
        appear in the parameter names. A dask DataFrame selects the distributed
        backend (:mod:`econderiv.models._dask`)."""
        if _dask.is_dask(data):  # data larger than memory: the distributed backend
            return _dask.from_formula(cls, formula, data, subset=subset, **kwargs)
        lhs = formula.split("~", 1)[0].strip() if isinstance(formula, str) else None
        labels = None
        if (lhs is not None and isinstance(data, pd.DataFrame) and lhs in data.columns
                and not pd.api.types.is_numeric_dtype(data[lhs])):
            cat = pd.Categorical(data[lhs])
            codes = cat.codes.astype(float)
            codes[codes < 0] = np.nan
            data = data.copy()
            data[lhs] = codes
            labels = [str(c) for c in cat.categories]
        if isinstance(data, pd.DataFrame):
            _data.formula_weights(kwargs, data)
        mod = super().from_formula(formula, data, subset, drop_cols, *args, **kwargs)
        if labels is not None:
            mod._ynames_map = {k: labels[int(v)] for k, v in mod._ynames_map.items()}
            ynames = [mod._ynames_map[k] for k in range(int(mod.J))]
            mod.data.cov_names = pd.MultiIndex.from_product(
                (ynames[1:], mod.data.xnames), names=(mod.endog_names, None))
        return mod

    # -- input checks --------------------------------------------------------
    def _validate(self):
        x = self.exog
        if x is None or x.ndim != 2:
            raise ValueError("exog must be a 2-D array (n observations x p regressors)")
        if x.shape[0] != self.wendog.shape[0]:
            raise ValueError(f"endog has {self.wendog.shape[0]} rows but exog has "
                             f"{x.shape[0]}")
        rowsum = self.wendog.sum(axis=1)
        nbad = int(np.sum(rowsum != 1))
        if nbad:
            raise ValueError(f"endog is missing (NaN) or not a single category in {nbad} "
                             "row(s); drop those rows or use missing='drop'")
        if self.J < 2:
            raise ValueError(f"endog has {int(self.J)} distinct value(s); a multinomial "
                             "logit needs at least 2 categories")

    # -- the bound -----------------------------------------------------------
    @property
    def bohning(self) -> BohningBound:
        """The fixed Böhning bound of this design (X'X factored once)."""
        if getattr(self, "_bohning", None) is None:
            xtx = getattr(self, "_xtx", None)
            if self.weight_type is not None:
                xtx = self._weighted_gram()  # X'WX
            self._bohning = BohningBound(gram(self.exog) if xtx is None else xtx,
                                         int(self.J), names=list(self.exog_names))
        return self._bohning

    def bohning_bound(self) -> np.ndarray:
        """Böhning's bound ``B`` (square, params order): ``-hessian(b) <= B``."""
        return self.bohning.matrix()

    # -- derivatives ---------------------------------------------------------
    @staticmethod
    def _partition_block_data(ys, Xs):
        """The kernels' data of one dask partition: ``(exog, category codes)``."""
        return Xs[0], ys[0].astype(np.intp)

    def _beta(self, params):
        return _as_beta(params, int(self.K), int(self.J))

    def cdf(self, X):
        """Category probabilities from the ``(n, J-1)`` linear predictors.

        ``P_ij = exp(eta_ij) / sum_k exp(eta_ik)`` with ``eta_i0 = 0``,
        computed with the row maximum subtracted (no overflow).
        """
        x = np.asarray(X)
        if x.ndim == 1:
            x = x[None, :]
        shift = np.maximum(x.max(axis=1), 0.0)
        e = np.exp(x - shift[:, None])
        base = np.exp(-shift)
        denom = base + e.sum(axis=1)
        return np.column_stack((base / denom, e / denom[:, None]))

    def loglike(self, params):
        """Log-likelihood ``sum_i [eta_{i,y_i} - log sum_k exp(eta_ik)]``."""
        return self.loglike_and_score(params)[0]

    def score(self, params):
        """Score ``d log L / d beta_j = sum_i (d_ij - P_ij) x_i``, flat params order."""
        return self.loglike_and_score(params)[1]

    def loglike_and_score(self, params):
        """Log-likelihood and score in one pass over the data (block by block)."""
        ll, grad = self._loglike_score_beta(self._beta(params))
        return ll, grad.ravel(order="F")

    def hessian(self, params):
        """Exact Hessian, ``-sum_i P_ij (1{j=l} - P_il) x_i x_i'`` per block (j, l).

        Square ``(p(J-1), p(J-1))`` in params order; symmetric by construction;
        summed over row blocks.
        """
        return self._hessian_beta(self._beta(params))

    def loglikeobs(self, params):
        """``d_ij log P_ij``, an ``n x J`` array as in statsmodels (stable);
        times ``w_i`` with weights (the contributions to ``loglike``)."""
        out = mnlogit_loglikeobs(self.exog, self.endog, self._beta(params), self.chunksize)
        return out if self._w is None else out * self._w[:, None]

    def score_obs(self, params):
        """Per-observation scores ``(d_ij - P_ij) x_i``, ``n x p(J-1)`` (stable).

        The robust covariances of :meth:`fit` never form this matrix.
        """
        beta = self._beta(params)
        eta = self.exog @ beta
        _, prob = _log_softmax_rest(eta)
        resid = self.wendog[:, 1:] - prob
        if self._w is not None:  # contributions w_i s_i to the score
            resid = resid * self._w[:, None]
        return (resid[:, :, None] * self.exog[:, None, :]).reshape(len(eta), -1)

    # -- the sums over rows ------------------------------------------------------
    # fit, its covariances and its diagnostics reach the data only through these
    # (the distributed model, econderiv.models._dask_mnlogit, sums them on the
    # partitions of a dask DataFrame)
    def _loglike_score_beta(self, beta):
        """``(log-likelihood, gradient (p, J-1))``, weighted sums."""
        return mnlogit_loglike_score(self.exog, self.endog, beta, self.chunksize,
                                     weights=self._w)

    def _hessian_beta(self, beta, stride: int = 1):
        """The Hessian or, with ``stride > 1``, that of the rows ``0, stride,
        2 stride, ...`` scaled to the sample (by the rows, or the weights, of
        the sample over those of the subsample)."""
        X, y, w = self.exog, self.endog, self._w
        if stride == 1:
            return mnlogit_hessian(X, y, beta, weights=w)
        n = X.shape[0]
        w_sub = None if w is None else w[::stride]
        scale = n / len(range(0, n, stride)) if w is None else float(w.sum() / w_sub.sum())
        return mnlogit_hessian(X[::stride], y[::stride], beta, weights=w_sub) * scale

    def _weighted_gram(self) -> np.ndarray:
        """``X'WX`` (Böhning's bound of the weighted likelihood)."""
        return gram(self.exog, weights=self._w)

    def _category_totals(self) -> np.ndarray:
        """Rows (or weights) per category (``llnull``)."""
        return np.bincount(self.endog, weights=self._w, minlength=int(self.J))

    def _robust_meats(self, beta, cov_type, kw):
        """``(meat, cluster_meat, n_groups)`` for
        :func:`econderiv.models._inference.covariance`: ``meat(codes)`` sums
        the rows' (``codes`` None) or the clusters' outer products block by
        block; ``kw["groups"]`` becomes the cluster codes."""
        w, kind = self._w, self.weight_type
        X, y = self.exog, self.endog
        n_groups = None
        if cov_type == "cluster":
            kept, labels = self._kept_rows()
            codes, n_groups = _inference.cluster_codes(kw["groups"], X.shape[0], kept=kept,
                                                       row_labels=labels)
            kw["groups"] = codes

        def meat(codes):
            if codes is not None:
                return mnlogit_cluster_meat(X, y, beta, codes, weights=w)
            # frequency weights: w_i s_i s_i'; sampling / importance: (w_i s_i)(w_i s_i)'
            mult = None if w is None else (w if kind == "freq" else w * w)
            return mnlogit_score_outer(X, y, beta, weights=mult)

        return meat, None, n_groups

    def _nonconstant_columns(self) -> np.ndarray:
        return _nonconstant_columns(self.exog)

    def _margins_at(self, beta, method, at, effects_idx):
        """Effects ``(p, J)`` and their Jacobian (:func:`mnlogit_margins`)
        averaged over the rows (``at="overall"``; weighted averages with
        weights, as Stata's ``margins``) or at one point."""
        exog, w = self.exog, self._w
        if at != "overall":
            if at == "median":
                point = np.median(exog, axis=0)
            elif at == "mean":
                point = _column_means(exog, w)
            else:  # zero: the constant stays at one
                point = (~effects_idx).astype(float)
            exog = point[None, :]
        return mnlogit_margins(exog, beta, method, weights=w if at == "overall" else None)

    def _count_certain(self, beta) -> int:
        """Rows whose observed category has a fitted probability within 1e-8 of 1."""
        n_certain = 0
        for sl in row_blocks(self.exog.shape[0], DEFAULT_CHUNK_ROWS):
            eta = self.exog[sl] @ beta
            lse, _ = _log_softmax_rest(eta)
            yc = self.endog[sl]
            eta_obs = np.where(yc > 0, eta[np.arange(len(yc)), np.maximum(yc - 1, 0)], 0.0)
            n_certain += int(np.sum(eta_obs - lse > -1e-8))
        return n_certain

    # -- fitting -------------------------------------------------------------
    def fit(self, start_params=None, method="bohning", maxiter=None, full_output=True,
            disp=False, callback=None, retall=False, cov_type=None, cov_kwds=None,
            use_t=None, tol=None, gtol=None, skip_hessian=False, accelerate=True, **kwargs):
        """Fit the multinomial logit by maximum likelihood.

        Parameters
        ----------
        start_params : array_like, optional
            Flat (statsmodels order) or ``p x (J-1)``; default zeros.
        method : str
            The optimizer. "bohning" (default): Böhning's bound as the
            curvature model of an L-BFGS method, finished by exact Newton
            steps (see ``accelerate``); the fit ends with a Newton step taken
            after the decrement criterion is met, so it sits at Newton
            precision. "newton_trust", "newton_linesearch": econderiv's
            safeguarded Newton methods (``econderiv.models._optim``).
            statsmodels' names ("newton", "bfgs", "lbfgs", "nm", "cg",
            "ncg", "powell", "basinhopping", "minimize") run statsmodels'
            optimizers on this class's exact block-summed derivatives.
        maxiter : int, optional
            A positive integer. Default 500 (accelerated Böhning), 10000
            (plain MM), 100 (econderiv's Newton methods), 35 (statsmodels'
            methods, as statsmodels).
        disp : bool
            Print a convergence message (default False, as every econderiv
            family).
        callback : callable, optional
            ``callback(params)`` after every iteration.
        retall : bool
            Store the iterates in ``mle_retvals["allvecs"]``.
        cov_type : {"nonrobust", "HC0", "HC1", "cluster"}
            "cluster" needs ``cov_kwds={"groups": ...}`` (an array or Series
            for the estimation rows, or for all rows before rows with missing
            values were dropped; ``use_correction``, ``df_correction`` as
            statsmodels). HC0, HC1 and cluster are computed block by block,
            never forming the ``n x p(J-1)`` score matrix.
        cov_kwds : dict, optional
        use_t : bool, optional
            Student t instead of normal inference.
        tol : float, optional
            "bohning", "newton_trust", "newton_linesearch": converged when the
            Newton decrement ``g'(-H)^{-1}g`` of the log-likelihood is at
            most ``tol`` (default 1e-12; every coefficient is then within
            about 1e-6 standard errors of the maximum before the final Newton
            step; Stata's ``nrtolerance`` default is 1e-5). Plain MM measures
            ``g'B^{-1}g``, a lower bound. statsmodels' "newton" and
            "minimize" take their own ``tol``.
        gtol : float, optional
            When no step can increase the log-likelihood at working
            precision, the fit has converged if the relative gradient
            ``max_i |g_i| max(|b_i|, 1) / max(|llf|, 1)`` is at most ``gtol``
            (default 1e-8). statsmodels' "bfgs" and "cg" take their own
            ``gtol``.
        full_output : bool
            As statsmodels (always True in effect).
        skip_hessian : bool
            Do not compute the covariance.
        accelerate : bool
            Only for "bohning". True: L-BFGS preconditioned by the bound with
            a monotone line search, then exact Newton steps. False: plain MM
            ``beta <- beta + B^{-1} g`` (the log-likelihood never decreases;
            linear convergence, can need thousands of iterations).
        **kwargs
            The keywords of the statsmodels optimizer named by ``method``
            (for example ``m``, ``pgtol``, ``factr`` for "lbfgs"), and
            statsmodels' ``warn_convergence``. Any other keyword is an error
            that lists the valid ones.

        Returns
        -------
        MNLogitResults (wrapped like statsmodels' MultinomialResults)
            ``mle_retvals`` has ``iterations``, ``converged``, and for
            "bohning" ``gradient_norm``, ``criterion``, ``fcalls``, ``hcalls``,
            ``hcalls_subsample``, ``llf_path``, ``phase_iterations`` and
            ``message``.

        Notes
        -----
        With "bohning" the covariance is the inverse of the exact Hessian at
        the iterate before the final Newton step (as statsmodels' "newton"
        does): it differs from the Hessian at the estimate by the order of
        that step, at most about 1e-6 standard errors.
        """
        method = _optim.check_method(method, own=OWN_METHODS)
        extra = _optim.STATSMODELS_METHOD_KWARGS.get(method, ())
        _optim.check_keywords(kwargs, SHARED_FIT_KEYWORDS + ("accelerate", "warn_convergence")
                              + tuple(k for k in extra if k not in ("tol", "gtol")),
                              f"MNLogit.fit(method={method!r})")
        if maxiter is not None:
            maxiter = _optim.check_maxiter(maxiter)
        if cov_type is None and self.weight_type == "prob":
            cov_type, cov_kwds = "HC1", dict(cov_kwds or {}, correction="stata")
        cov_type, cov_kwds = _inference.check_cov_type(cov_type, cov_kwds)
        if method != "bohning" and accelerate is not True:
            raise ValueError("accelerate applies only to method='bohning'")
        k = int(self.K) * (int(self.J) - 1)
        if start_params is None:
            start_params = np.zeros(k)
        else:
            start_params = np.asarray(start_params, dtype=float)
            if start_params.ndim == 2:
                start_params = self._beta(start_params).ravel(order="F")
            if start_params.size != k:
                raise ValueError(f"start_params has {start_params.size} entries, expected "
                                 f"p * (J - 1) = {k}")
        warn_convergence = kwargs.pop("warn_convergence", True)
        # small dense algebra (p(J-1) square) is fastest on one BLAS thread;
        # the row-block kernels run in their own threads
        with single_thread_blas():
            if method == "bohning":
                mlefit = self._fit_bohning(
                    start_params, maxiter, disp, callback, retall, accelerate,
                    1e-12 if tol is None else float(tol),
                    _optim.DEFAULT_GTOL if gtol is None else float(gtol), skip_hessian,
                    warn_convergence)
            else:
                opts = self._optimizer_options(method, extra, tol, gtol)
                mlefit = LikelihoodModel.fit(
                    self, start_params=start_params, method=method,
                    maxiter=(35 if method in _optim.STATSMODELS_METHODS else 100)
                    if maxiter is None else maxiter,
                    full_output=full_output, disp=disp,
                    callback=callback if callback is not None else (lambda *a: None),
                    retall=retall, skip_hessian=skip_hessian,
                    warn_convergence=warn_convergence, **opts, **kwargs,
                    **({} if method in _optim.STATSMODELS_METHODS
                       else {"extra_fit_funcs": _optim.FIT_FUNCS, "nobs": self.wnobs}))
            mlefit.params = mlefit.params.reshape(int(self.K), -1, order="F")
            res = self._results_class(self, mlefit)
            res._category_counts = self._category_totals()
            res.nobs = self.wnobs
            if use_t is not None:
                res.use_t = use_t
            self._set_cov(res, cov_type, cov_kwds, use_t)
            self._check_separation(res)
        return smd.MultinomialResultsWrapper(res)

    @staticmethod
    def _optimizer_options(method, extra, tol, gtol) -> dict:
        """``tol``/``gtol`` for the optimizers that take them; an error, not
        silence, for those that do not."""
        takes = (("tol", "gtol") if method in _optim.OPTIMIZER_KWARGS
                 else tuple(k for k in ("tol", "gtol") if k in extra))
        opts = {}
        for name, value in (("tol", tol), ("gtol", gtol)):
            if value is None:
                continue
            if name not in takes:
                raise ValueError(f"{name} does not apply to method={method!r}; its keywords "
                                 f"are {', '.join(extra) or 'none'}")
            opts[name] = value
        return opts

    def _fit_bohning(self, start, maxiter, disp, callback, retall, accelerate, tol, gtol,
                     skip_hessian, warn_convergence):
        bound = self.bohning
        allvecs = [start.copy()] if retall else None

        def cb(beta):
            flat = beta.ravel(order="F")
            if allvecs is not None:
                allvecs.append(flat.copy())
            if callback is not None:
                callback(flat)

        # for large n the first Newton/chord steps use the Hessian of an
        # evenly strided subsample (>= 20,000 rows and 100 per parameter),
        # scaled to n; convergence is certified with the full Hessian
        n = self.exog.shape[0]
        stride = n // max(20000, 100 * bound.n_params)
        approx = None
        if stride >= 2:
            def approx(b):
                return self._hessian_beta(b, stride)

        out = fit_bohning(self._loglike_score_beta, bound, self._beta(start),
                          hessian=self._hessian_beta, hessian_approx=approx,
                          accelerate=accelerate, maxiter=maxiter, tol=tol, gtol=gtol,
                          callback=cb)
        beta = out["params"]
        cov = None
        if not skip_hessian:
            # the Hessian of the last Newton iterate (before the final step)
            # or, when there is none, a fresh one at the estimate
            hess = out["hessian"]
            if hess is None:
                hess = self._hessian_beta(beta)
                out["hcalls"] += 1
            cov = _optim.inverse_information(hess, stacklevel=5)
        retvals = {
            "fopt": -out["llf"] / self.wnobs,
            "iterations": out["iterations"],
            "fcalls": out["fcalls"],
            "hcalls": out["hcalls"],
            "hcalls_subsample": out.get("hcalls_approx", 0),
            "converged": out["converged"],
            "warnflag": 0 if out["converged"] else 1,
            "gradient_norm": out["gradient_norm"],
            "score": out["grad"].ravel(order="F"),
            "criterion": out["criterion"],
            "llf_path": np.asarray(out["llf_path"]),
            "phase_iterations": out["phase_iterations"],
            "message": out["message"],
            "hessian_at": None if out["hessian_at"] is None
            else out["hessian_at"].ravel(order="F"),
        }
        if allvecs is not None:
            retvals["allvecs"] = allvecs
        settings = {"optimizer": "bohning", "accelerate": accelerate, "tol": tol, "gtol": gtol,
                    "maxiter": maxiter, "start_params": start, "disp": disp,
                    "callback": callback, "chunksize": self.chunksize}
        mlefit = LikelihoodModelResults(self, beta.ravel(order="F"), cov, scale=1.0)
        mlefit.mle_retvals = retvals
        mlefit.mle_settings = settings
        if disp:
            state = "converged" if out["converged"] else "did NOT converge"
            print(f"Böhning ({'accelerated' if accelerate else 'plain MM'}) {state}: "
                  f"{out['message']}\n         Current function value: {retvals['fopt']:.6f}"
                  f"\n         Iterations: {out['iterations']}  (log-likelihood/score "
                  f"evaluations: {out['fcalls']}, Hessians: {out['hcalls']})")
        if warn_convergence and not out["converged"]:
            hint = ("raise maxiter, or use accelerate=True" if not accelerate else
                    "raise maxiter, rescale regressors with very different magnitudes, "
                    "or check for separation (coefficients drifting to +-infinity)")
            warnings.warn(f"Böhning multinomial logit did not converge after "
                          f"{out['iterations']} iterations ({out['message']}; criterion "
                          f"{out['criterion']:.2e} > tol {tol:.1e}); {hint}. Check "
                          "mle_retvals.", ConvergenceWarning, stacklevel=4)
        return mlefit

    # -- penalized fits --------------------------------------------------------
    def fit_regularized(self, start_params=None, method="bohning", maxiter=None,
                        full_output=1, disp=False, callback=None, alpha=None, **kwargs):
        """Penalized maximum likelihood: group lasso, lasso, ridge and elastic net
        on Böhning's bound (``method="bohning"``, the default), or statsmodels'
        element-wise L1 (``method="l1"`` or ``"l1_cvxopt_cp"``, its code and
        keywords unchanged).

        An estimator of the same model with another criterion gets its own entry
        point on the model, as statsmodels' ``fit_regularized`` (and econderiv's
        ``fit_twostep``): it shares the data, formulas, category labels and
        checks of ``MNLogit``, and the refit of a selected model is an ordinary
        ``MNLogit`` fit. A separate estimator class would duplicate them.

        Objective (``method="bohning"``; glmnet's multinomial objective and
        statsmodels' ``elastic_net`` scaling: the log-likelihood divided by n)::

            -loglik(a, beta)/n + alpha * sum_k pf_k [L1_wt R(s_k beta_k)
                                                    + (1 - L1_wt)/2 s_k^2 ||beta_k||_2^2]

        over the intercepts ``a`` (unpenalized) and the rows ``beta_k`` of the
        non-constant regressors; ``R`` is ``||.||_2`` (``penalty="group"``: a
        regressor is in or out of every equation) or ``||.||_1``
        (``"elementwise"``); ``s_k`` is the regressor's standard deviation
        (divisor n) with ``standardize=True`` (glmnet's default), else 1;
        ``pf_k`` the penalty factors. ``alpha`` is glmnet's ``lambda`` and
        ``L1_wt`` glmnet's ``alpha``. statsmodels' ``fit_regularized(method="l1",
        alpha=a)`` minimizes ``-loglik + sum a_i |b_i|`` over the J-1 contrasts:
        the same as ``symmetric=False, penalty="elementwise", L1_wt=1,
        standardize=False`` with ``alpha = a / n``.

        Parameters
        ----------
        alpha : float or decreasing sequence of floats
            The penalty (>= 0, finite). A sequence is fitted as a path with warm
            starts; :meth:`regularization_path` chooses the sequence itself.
        maxiter : int, optional
            Passes over the data per penalty (default 10000).
        **kwargs
            ``L1_wt`` (1: lasso, 0: ridge; default 1), ``penalty`` ("group",
            default, or "elementwise"), ``symmetric`` (default True: all J
            categories' coefficients, glmnet's parameterization, which makes the
            fit independent of the base category; False: the J-1 contrasts with
            category 0, statsmodels'), ``standardize`` (default True),
            ``penalty_factor`` (one per non-constant regressor, or a Series by
            name; not rescaled), ``tol`` (largest KKT violation accepted,
            default 1e-7), ``accelerate`` (default True: proximal Newton steps
            with a line search while the strong set is small, momentum in the
            MM steps; False: the plain monotone MM), ``screen`` (strong rule,
            default True). The
            algorithm and certificate: :mod:`econderiv.models._mnlogit_penalty`.

        Returns
        -------
        MNLogitPath
            ``params`` (statsmodels' layout, at the only penalty), ``coef()``,
            ``selected()``, ``predict()``, ``refit()`` (post-selection),
            ``summary_frame()`` (deviance, df, objective, KKT violation per
            penalty), ``plot()``. ``method="l1"``: statsmodels' results.
        """
        if method in ("l1", "l1_cvxopt_cp"):
            return super().fit_regularized(
                start_params=start_params, method=method,
                maxiter="defined_by_method" if maxiter is None else maxiter,
                full_output=full_output, disp=disp, callback=callback,
                alpha=0 if alpha is None else alpha, **kwargs)
        if method != "bohning":
            raise ValueError(f"method must be 'bohning', 'l1' or 'l1_cvxopt_cp', got "
                             f"{method!r}")
        if alpha is None:
            raise ValueError("alpha (the penalty) is required; regularization_path() "
                             "chooses a sequence of penalties itself")
        if start_params is not None or callback is not None:
            raise ValueError("start_params and callback are not used by method='bohning' "
                             "(each path starts at the intercept-only fit and continues "
                             "with warm starts)")
        _optim.check_keywords(kwargs, _PATH_KEYWORDS, "MNLogit.fit_regularized")
        return self._penalized_path(alphas=alpha, maxiter=maxiter, **kwargs)

    def regularization_path(self, n_alphas=100, alpha_min_ratio=None, alphas=None,
                            cv=None, seed=0, **kwargs):
        """The penalized fits from the smallest penalty that zeros every penalized
        regressor down to ``alpha_min_ratio`` times it, with warm starts, the
        strong rule with a KKT re-check and a KKT certificate per penalty; and,
        with ``cv=K``, K-fold cross-validation of the deviance.

        Parameters
        ----------
        n_alphas : int
            Penalties, log-spaced (default 100, as glmnet).
        alpha_min_ratio : float, optional
            Smallest penalty over the largest (glmnet's default: 1e-4 when
            n > p, else 1e-2).
        alphas : decreasing sequence, optional
            The penalties themselves (then ``n_alphas`` is ignored).
        cv : int, optional
            Number of folds; the path is refitted on each training part and
            scored by held-out deviance (``path.cv``: ``cvm``, ``cvsd``,
            ``alpha_min``, ``alpha_1se``, ``plot()``).
        seed : int
            Seed of the random fold assignment.
        **kwargs
            ``L1_wt``, ``penalty``, ``symmetric``, ``standardize``,
            ``penalty_factor``, ``tol``, ``maxiter``, ``accelerate``, ``screen``
            as :meth:`fit_regularized` (objective stated there).

        Returns
        -------
        MNLogitPath
        """
        _optim.check_keywords(kwargs, _PATH_KEYWORDS + ("maxiter",),
                              "MNLogit.regularization_path")
        return self._penalized_path(alphas=alphas, n_alphas=n_alphas,
                                    alpha_min_ratio=alpha_min_ratio, cv=cv, seed=seed,
                                    **kwargs)

    def _penalized_path(self, maxiter=None, **kwargs):
        if getattr(self, "_w", None) is not None:
            raise NotImplementedError("penalized fits do not take weights yet; fit the "
                                      "unweighted model")
        return penalized_path(self, maxiter=10000 if maxiter is None else maxiter, **kwargs)

    # -- covariance ----------------------------------------------------------
    def _set_cov(self, res, cov_type, cov_kwds, use_t):
        """Every covariance of :func:`econderiv.models._inference.covariance`,
        with the meats summed block by block (the ``n x p(J-1)`` score matrix
        is never formed). The expected information equals the observed one
        here (the Hessian does not involve the outcome)."""
        if cov_type in ("nonrobust", "eim"):
            res.cov_type = cov_type
            res.cov_kwds = {"description": "Standard Errors assume that the covariance "
                            "matrix of the errors is correctly specified."}
            if self.weight_type == "prob":
                warnings.warn("cov_type='nonrobust' with prob_weights: the inverse Hessian of "
                              "a sampling-weighted likelihood is not a valid covariance "
                              "(Stata does not allow it). Use the default (HC1 with Stata's "
                              "factor) or 'cluster'.", RuntimeWarning,
                              stacklevel=_data.user_stacklevel())
            return
        if res.normalized_cov_params is None and cov_type != "opg":
            raise ValueError(f"cov_type={cov_type!r} needs the inverse Hessian, which is not "
                             "available (skip_hessian=True or a singular Hessian)")
        kw = dict(cov_kwds)
        beta = np.asarray(res.params).reshape(int(self.K), -1, order="F")
        bread = res.normalized_cov_params  # (-H)^{-1}
        k = int(self.K) * (int(self.J) - 1)
        meat, cluster_meat, n_groups = self._robust_meats(beta, cov_type, kw)
        cov, description = _inference.covariance(
            None, None, self._w, self.weight_type, cov_type, kw, self.wnobs, k,
            bread=None if bread is None else np.asarray(bread), meat=meat,
            cluster_meat=cluster_meat)
        use_t_now = res.use_t if use_t is None else use_t
        res.cov_type = cov_type
        # statsmodels' description (a drop-in replacement); ours, with the factor, in "details"
        res.cov_kwds = {"use_t": use_t_now, "details": description,
                        "description": _STATSMODELS_DESCRIPTIONS.get(cov_type, description)}
        if "correction" in kw:
            res.cov_kwds["correction"] = kw["correction"]
        adjust_df = False
        if cov_type == "cluster":
            res.cov_kwds.update(groups=cov_kwds["groups"],
                                use_correction=kw.get("use_correction", True))
            adjust_df = kw.get("df_correction", None) is not False
            res.n_groups = n_groups
            if adjust_df:
                res.df_resid_inference = int(np.min(n_groups)) - 1
        res.cov_kwds["adjust_df"] = adjust_df
        res.cov_kwds["scaling_factor"] = None
        if cov is None:
            cov = np.full((k, k), np.nan)
        res.cov_params_default = cov
        res.use_t = use_t_now

    def _kept_rows(self):
        """(mask of the original rows kept after missing-value handling, or
        None; index labels of the estimation rows, or None)."""
        data = self.data
        labels = getattr(data, "row_labels", None)
        missing = getattr(data, "missing_row_idx", None)
        kept = None
        if missing is not None and len(missing):
            kept = np.ones(self.exog.shape[0] + len(missing), dtype=bool)
            kept[np.asarray(missing)] = False
        return kept, labels

    # -- diagnostics ---------------------------------------------------------
    def _check_separation(self, res):
        """Warn when the data look (quasi-)separated.

        Two signals: observations whose fitted probability of the observed
        category is within 1e-8 of 1 or of some other category within 1e-10
        of 0 with coefficients growing, and (the decisive one) a negative
        Hessian that is nearly singular relative to Böhning's bound (smallest
        generalised eigenvalue of (-H, B) below 1e-7): along the separating
        direction the curvature vanishes as the coefficients diverge.
        """
        try:
            bound = self.bohning
        except ValueError:
            return
        beta = np.asarray(res.params).reshape(int(self.K), -1, order="F")
        cov = res.normalized_cov_params
        if cov is None:
            # no Hessian (skip_hessian=True, or it was singular: warned already)
            lam_min = np.inf
        else:
            # generalised eigenvalues of (-H, B): 1 / eigenvalues of ((-H)^-1, B^-1)
            try:
                ev = linalg.eigh(np.asarray(cov), linalg.inv(bound.matrix()),
                                 eigvals_only=True)
                lam_min = 1.0 / float(np.max(ev))
            except (linalg.LinAlgError, ValueError):
                lam_min = 0.0
        retvals = getattr(res, "mle_retvals", {}) or {}
        if lam_min >= 1e-7 and retvals.get("converged", True):
            return
        n_certain = self._count_certain(beta)
        if lam_min < 1e-7 or n_certain > 0:
            flat = beta.ravel(order="F")
            idx = np.argsort(-np.abs(flat))[:5]
            names = self._param_labels()
            big = ", ".join(f"{names[i]} = {flat[i]:.3g}" for i in idx)
            curv = ("not computed" if cov is None else f"{lam_min:.1e}")
            warnings.warn(
                "The multinomial logit looks (quasi-)separated: "
                f"{n_certain} observation(s) have a fitted probability of their observed "
                "category within 1e-8 of 1, and the smallest curvature of the "
                f"log-likelihood relative to Böhning's bound is {curv}; some "
                "coefficients drift to +-infinity and the MLE may not exist. Largest "
                f"coefficients: {big}. Try: merging sparse categories, dropping the "
                "regressor(s) that predict a category perfectly, or "
                "fit_regularized(alpha=...).", PerfectSeparationWarning, stacklevel=4)

    def _param_labels(self):
        ynames = smd.MultinomialResults._maybe_convert_ynames_int(dict(self._ynames_map))
        ynames = [ynames[key] for key in range(int(self.J))]
        return [f"{yn}:{xn}" for yn in ynames[1:] for xn in self.exog_names]


def _precheck(endog, exog):
    """Clear errors for NaN/inf, length mismatches and a constant outcome
    before statsmodels' data handling (whose messages name no column)."""
    names = list(exog.columns) if isinstance(exog, pd.DataFrame) else None
    x = np.asarray(exog)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(endog)
    if len(y) != len(x):
        raise ValueError(f"endog has {len(y)} rows but exog has {len(x)}")
    if x.ndim == 2 and x.dtype.kind in "fc":
        bad = np.zeros(x.shape[1], dtype=np.int64)
        for sl in row_blocks(x.shape[0], 4 * DEFAULT_CHUNK_ROWS):
            bad += (~np.isfinite(x[sl])).sum(axis=0)
        if bad.any():
            cols = ", ".join(f"{names[k]!r} ({bad[k]} rows)" if names else
                             f"column {k} ({bad[k]} rows)" for k in np.flatnonzero(bad))
            raise ValueError(f"exog has NaN or infinite values in {cols}; drop those rows "
                             "or pass missing='drop'")
    if y.ndim == 1:
        if y.dtype.kind in "fc":
            nnan = int(np.sum(~np.isfinite(y)))
            if nnan:
                raise ValueError(f"endog is NaN or infinite in {nnan} row(s); drop those "
                                 "rows or pass missing='drop'")
        n_values = len(pd.unique(y))
        if n_values < 2:
            raise ValueError(f"endog has {n_values} distinct value(s); a multinomial logit "
                             "needs at least 2 categories")
