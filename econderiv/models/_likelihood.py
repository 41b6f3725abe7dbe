"""Base likelihood model over a row-block kernel contract.

Every likelihood here is a sum over rows. A family supplies two things:

* ``_block_data(rows)``: the kernel's data for a contiguous ``slice`` of rows
  (plain arrays; no reference to the model, so that a distributed backend
  can build the same thing from a data partition);
* ``_kernel(params, data, order, llobs, per_obs, weights)``: a plain
  function of arrays returning ``(llobs, score, hessian)`` for that block:
  the per-row log-likelihood ``(m,)``, the score (``(k,)`` summed over the
  block, or ``(m, k)`` when ``per_obs``) and, for ``order == 2``, the
  ``(k, k)`` Hessian summed over the block (else ``None``). ``llobs``, when
  given, is the block's log-likelihood already computed at ``params``.
  ``weights`` is ``None`` or the block's row weights ``(m,)``: the per-row
  outputs (``llobs``, the ``per_obs`` score rows) are unweighted, the sums
  (score, Hessian) are weighted, ``sum_i w_i s_i`` and ``sum_i w_i H_i``.

:class:`RowBlockLikelihood` sums the blocks (in parallel threads with BLAS
pinned to one thread when the data are large), caches the result by
``params`` (statsmodels asks for the value, score and Hessian at one point in
separate calls) and provides statsmodels' ``loglike``, ``loglikeobs``,
``score``, ``score_obs``, ``hessian`` and ``information``. With weights,
``loglikeobs`` and ``score_obs`` are the weighted contributions ``w_i l_i``
and ``w_i s_i`` (so that they sum to ``loglike`` and ``score``).

:func:`block_sum`, :func:`row_blocks` and :func:`single_thread_blas` are the
engine, also used by the multinomial logit's own block drivers.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["RowBlockLikelihood", "ExactLikelihoodModel", "SelectionLikelihoodModel",
           "ExactLikelihoodResults", "TwoStepResults", "block_sum", "parallel_map", "add_tuples", "row_blocks",
           "single_thread_blas", "n_threads", "N_THREADS", "PARALLEL_MIN_ROWS", "FIT_KEYWORDS"]

#: worker threads for block sums (None: the CPUs available, at most 8)
N_THREADS: int | None = None
#: below this many rows per thread, blocks are summed in the calling thread
PARALLEL_MIN_ROWS = 4096

try:  # pragma: no cover - threadpoolctl is a dependency
    from threadpoolctl import ThreadpoolController as _Controller
except ImportError:  # pragma: no cover
    _Controller = None

_CONTROLLER = None
_EXECUTOR: ThreadPoolExecutor | None = None


def n_threads() -> int:
    """Threads used by :func:`block_sum` (``N_THREADS`` or the CPUs, at most 8)."""
    if _Controller is None:
        return 1
    if N_THREADS is not None:
        return max(1, int(N_THREADS))
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        ncpu = os.cpu_count() or 1
    return max(1, min(8, ncpu))


@contextmanager
def single_thread_blas():
    """Pin BLAS to one thread.

    The products here are tall and thin (n x k with k ~ 10): a second BLAS
    thread gains nothing, and where the cores are shared with other
    processes (or with our own block threads) multi-threaded OpenBLAS stalls.
    """
    global _CONTROLLER
    if _Controller is None:  # pragma: no cover
        yield
        return
    if _CONTROLLER is None:
        _CONTROLLER = _Controller()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def row_blocks(n: int, rows: int, start: int = 0):
    """Contiguous slices of at most ``rows`` rows covering ``start:n``."""
    rows = max(1, int(rows))
    for lo in range(start, n, rows):
        yield slice(lo, min(n, lo + rows))


def _add(a, b):
    if a is None or b is None:
        return None
    return a + b


def add_tuples(parts):
    """Element-wise sum of tuples of arrays (``None`` entries stay ``None``)."""
    total = parts[0]
    for other in parts[1:]:
        total = tuple(_add(x, y) for x, y in zip(total, other))
    return total


def parallel_map(fn: Callable, items) -> list:
    """``[fn(item) for item in items]`` on the block threads (one thread when
    there is one item or one CPU), with BLAS pinned to one thread; results in
    the order of ``items``."""
    global _EXECUTOR
    items = list(items)
    k = min(n_threads(), len(items))
    with single_thread_blas():
        if k <= 1:
            return [fn(item) for item in items]
        if _EXECUTOR is None or _EXECUTOR._max_workers < k:
            _EXECUTOR = ThreadPoolExecutor(max_workers=k, thread_name_prefix="econderiv")
        return list(_EXECUTOR.map(fn, items))


def block_sum(part: Callable[[int, int], tuple], n: int, min_rows: int = PARALLEL_MIN_ROWS):
    """``sum(part(lo, hi))`` over contiguous row ranges, one per thread.

    ``part(lo, hi)`` returns a tuple of arrays (or ``None`` entries) for rows
    ``lo:hi``; the tuples are added element-wise in row order, so the result
    does not depend on the number of threads beyond rounding.
    """
    k = min(n_threads(), max(1, n // max(1, min_rows)))
    edges = np.linspace(0, n, k + 1).astype(int)
    return add_tuples(parallel_map(lambda ab: part(int(ab[0]), int(ab[1])),
                                   zip(edges[:-1], edges[1:])))


class RowBlockLikelihood:
    """statsmodels likelihood methods over the row-block kernel contract.

    Mix in before ``statsmodels.base.model.LikelihoodModel``. Subclasses
    define ``_block_data(rows)`` and ``_kernel(params, data, order, llobs,
    per_obs)`` (see the module docstring) and ``_nrows`` (rows in the
    estimation sample). ``block_rows`` sets the block size (default: one
    block per thread).
    """

    block_rows: int | None = None
    _derivs_cache = None
    _blocks_cache = None
    #: row weights over the estimation rows (None: unweighted)
    _w: np.ndarray | None = None

    # -- blocks ----------------------------------------------------------
    def _blocks(self):
        """``[(slice, data, weights), ...]`` covering the sample, built once."""
        if self._blocks_cache is None:
            n = int(self._nrows)
            k = min(n_threads(), max(1, n // PARALLEL_MIN_ROWS))
            rows = self.block_rows or -(-n // k)
            w = self._w
            self._blocks_cache = [(sl, self._block_data(sl), None if w is None else w[sl])
                                  for sl in row_blocks(n, rows)]
        return self._blocks_cache

    def _reset_blocks(self) -> None:
        self._blocks_cache = None
        self._derivs_cache = None

    def _run(self, params, order, llobs, per_obs):
        """The kernel over every block, summed (the per-row outputs stacked)."""
        def one(block):
            sl, data, w = block
            return self._kernel(params, data, order, None if llobs is None else llobs[sl],
                                per_obs, w)

        outs = parallel_map(one, self._blocks())
        if len(outs) == 1:
            return outs[0]
        ll = np.concatenate([o[0] for o in outs])
        if per_obs:
            return (ll, np.vstack([o[1] for o in outs]),) + add_tuples([o[2:] for o in outs])
        return (ll,) + add_tuples([o[1:] for o in outs])

    def _derivs(self, params, order):
        """Kernel sums at ``params``, cached by value: a request of order 1 or
        2 computes both (the Hessian is cheap given the gradient) and reuses a
        cached log-likelihood at the same point."""
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        c = self._derivs_cache
        same = c is not None and c[0] == key
        if same and c[1] >= order:
            return c[2]
        want = 0 if order == 0 else 2
        out = self._run(params, want, c[2][0] if same else None, False)
        self._derivs_cache = (key, want, out)
        return out

    # -- statsmodels' likelihood methods -----------------------------------
    def loglikeobs(self, params):
        """Per-row contribution to the log-likelihood, ``w_i l_i`` (``l_i``
        unweighted), shape ``(rows,)``."""
        ll = self._derivs(params, 0)[0]
        return ll if self._w is None else self._w * ll

    def loglike(self, params):
        """Total log-likelihood, ``sum_i w_i l_i``."""
        ll = self._derivs(params, 0)[0]
        return float(np.sum(ll) if self._w is None else self._w @ ll)

    def score_obs_unweighted(self, params):
        """Per-row gradient of ``l_i`` (weights not applied), ``(rows, k_params)``."""
        params = np.asarray(params, dtype=float)
        c = self._derivs_cache
        llobs = c[2][0] if c is not None and c[0] == params.tobytes() else None
        return self._run(params, 1, llobs, True)[1]

    def score_obs(self, params):
        """Per-row contribution to the gradient, ``w_i s_i``, ``(rows, k_params)``
        in ``param_names`` order."""
        S = self.score_obs_unweighted(params)
        return S if self._w is None else S * self._w[:, None]

    def score(self, params):
        """Gradient of the log-likelihood, 1-D in ``param_names`` order."""
        return self._derivs(params, 1)[1]

    def hessian(self, params):
        """Analytic Hessian, ``(k_params, k_params)`` in ``param_names`` order."""
        return self._derivs(params, 2)[2]

    def information(self, params):
        """Observed information, ``-hessian``."""
        return -self.hessian(params)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_derivs_cache"] = None
        state["_blocks_cache"] = None
        return state


# ---------------------------------------------------------------------------
# The base model and results of the likelihood families
# ---------------------------------------------------------------------------

from functools import cached_property  # noqa: E402

from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults  # noqa: E402

from econderiv.models import _data, _inference, _optim  # noqa: E402

#: keywords every likelihood family's ``fit`` accepts
FIT_KEYWORDS = ("start_params", "method", "maxiter", "disp", "callback", "cov_type",
                "cov_kwds", "use_t", "tol", "gtol", "full_output", "retall", "skip_hessian",
                "global_search", "grid")


class ExactLikelihoodModel(RowBlockLikelihood, LikelihoodModel):
    """A statsmodels ``LikelihoodModel`` with exact row-block derivatives and
    the package's one ``fit``.

    Subclasses set ``_results_class`` and ``_wrapper_class``, define the
    kernel contract (:class:`RowBlockLikelihood`), ``start_params``, and,
    for a model with a correlation, ``_rho_index`` (position of ``athrho`` in
    the parameters; enables ``global_search``) and optionally
    ``_cold_start()`` (a second start for the profile likelihood). They set
    ``_kept`` (mask of input rows used) and ``row_labels`` for clustering
    groups given on the input rows.
    """

    _results_class = None
    _wrapper_class = None

    def __new__(cls, *args, **kwargs):
        # dask arrays as endog/exog select the distributed backend, which the
        # family provides as ``_from_dask_arrays`` (the core does not import it)
        if any(type(a).__module__.split(".")[0] == "dask"
               for a in list(args) + list(kwargs.values())):
            build = getattr(cls, "_from_dask_arrays", None)
            if build is None:
                raise NotImplementedError(f"{cls.__name__} does not take dask arrays; pass "
                                          "numpy/pandas data, or a dask DataFrame to "
                                          "from_formula if the family supports it")
            return build(args, kwargs)
        return super().__new__(cls)
    _rho_index: int | None = None
    _kept = None
    row_labels = None
    _formula_frame = None
    _formula_rhs = ()

    def _correlation_indices(self) -> tuple:
        """Positions of every correlation's ``athrho`` (global search, boundary
        warnings): ``(_rho_index,)``; a model with several correlations
        overrides it."""
        return () if self._rho_index is None else (self._rho_index,)

    def _cold_start(self):
        """A second start for the profile likelihood: ``start_params`` with
        rho = 0 (the equations fitted apart)."""
        if self._rho_index is None:
            return None
        start = np.array(self.start_params, dtype=float)
        start[self._rho_index] = 0.0
        return start

    # -- the restricted model (rho = 0) ------------------------------------------
    _restricted_cache = None

    def _restricted_fits(self) -> list:
        """The equations fitted apart (rho = 0): ``[(params, llf, converged), ...]``."""
        raise NotImplementedError

    def _fit_restricted(self) -> list:
        if self._restricted_cache is None:
            self._restricted_cache = self._restricted_fits()
        return self._restricted_cache

    @property
    def llf_restricted(self) -> float:
        """Log-likelihood with rho = 0: the sum over the equations fitted apart."""
        return float(sum(fit[1] for fit in self._fit_restricted()))

    # -- fitting ----------------------------------------------------------
    def fit(self, start_params=None, method: str = _optim.DEFAULT_METHOD, maxiter: int = 100,
            disp: bool = False, callback=None, cov_type: str | None = None, cov_kwds=None,
            global_search: bool = False, **kwargs):
        """Maximum likelihood with the exact score and Hessian.

        Parameters
        ----------
        start_params : array_like, optional
            Start on the estimation scale, ``param_names`` order (default:
            ``model.start_params``).
        method : str
            The optimizer: ``"newton_trust"`` (default: trust-region Newton
            with the exact Hessian, finished by Newton steps),
            ``"newton_linesearch"``, or one of statsmodels' (``"newton"``,
            ``"bfgs"``, ``"lbfgs"``, ``"nm"``, ...).
        maxiter : int
            Iterations of the optimizer (at least 1).
        disp : bool
            Print the optimizer's convergence message.
        callback : callable, optional
            ``callback(params)`` after each iteration.
        cov_type : {"nonrobust", "opg", "eim", "HC0", "HC1", "cluster"}, optional
            Inverse observed information (the default; with ``prob_weights``
            the default is Stata's ``vce(robust)``: ``"HC1"`` with
            ``correction="stata"``), the outer product of the scores (Stata's
            ``vce(opg)``, BHHH), the expected information (models with a
            closed form, e.g. the bivariate probit: R VGAM's standard errors),
            the sandwich with the analytic scores (``HC1`` times ``N/(N-k)``,
            or ``N/(N-1)`` with ``cov_kwds={"correction": "stata"}``), or
            cluster-robust with ``cov_kwds={"groups": g}``: one column, or two
            for two-way clustering; the factor ``G/(G-1) (N-1)/(N-k)``
            (statsmodels' default), ``G/(G-1)`` (``correction="stata"``, as
            Stata's ML commands) or none (``"none"``). ``groups`` may be given
            for the estimation rows or for every input row (aligned like the
            data). See :func:`econderiv.models._inference.covariance`.
        cov_kwds : dict, optional
        global_search : bool
            Models with a correlation: profile the log-likelihood over a grid
            of rho, restart from every local maximum of the profile and keep
            the highest maximum (``res.global_search`` lists those examined).
        **kwargs
            ``tol`` (Newton decrement, default 1e-12), ``gtol`` (relative
            gradient, default 1e-8), ``grid`` (rho grid of the global search),
            ``use_t``, ``full_output``, ``retall``, ``skip_hessian``, and the
            keywords of a statsmodels optimizer. Anything else is an error.

        Returns
        -------
        Results (statsmodels results, wrapped: pandas in, pandas out)
        """
        return self._fit_ml(start_params, method, maxiter, disp, callback, cov_type,
                            cov_kwds, global_search, kwargs)

    def _fit_ml(self, start_params, method, maxiter, disp, callback, cov_type, cov_kwds,
                global_search, kwargs):
        method = _optim.check_method(method, other_entry_points=getattr(
            self, "_other_estimators", None))
        maxiter = _optim.check_maxiter(maxiter)
        own = _optim.OPTIMIZER_KWARGS.get(method, _optim.STATSMODELS_METHOD_KWARGS.get(method, ()))
        _optim.check_keywords(kwargs, set(FIT_KEYWORDS) | set(own),
                              f"{type(self).__name__}.fit(method={method!r})")
        kwargs = dict(kwargs)
        grid = kwargs.pop("grid", None)
        use_t = kwargs.pop("use_t", None)
        rho_indices = self._correlation_indices()
        if global_search and not rho_indices:
            raise ValueError(f"{type(self).__name__} has no correlation to search over")
        cov_type, cov_kwds, n_groups = self._cov_request(cov_type, cov_kwds)
        if cov_type == "nonrobust" and self.weight_type == "prob":
            warnings.warn("cov_type='nonrobust' with prob_weights: the inverse Hessian of a "
                          "sampling-weighted likelihood is not a valid covariance (Stata "
                          "does not allow it). Use the default (HC1 with Stata's factor) or "
                          "'cluster'.", RuntimeWarning, stacklevel=_data.user_stacklevel())
        start = self.start_params if start_params is None else np.asarray(start_params, float)
        start = np.asarray(start, dtype=float)
        if start.shape != (self.k_params,):
            raise ValueError(f"start_params must have {self.k_params} elements "
                             f"({', '.join(self.param_names)}), got shape {start.shape}")
        if not np.all(np.isfinite(start)):
            raise ValueError("start_params holds NaN or infinite values")
        if not np.isfinite(self.loglike(start)):
            given = "at start_params" if start_params is not None else (
                "at the default start values (check the data: extreme values or a "
                "degenerate design)")
            raise ValueError(f"the log-likelihood is not finite {given}")

        def fit_once(s):
            return self._fit_once(s, method, maxiter, disp, callback, cov_type, cov_kwds,
                                  use_t, kwargs)

        res = fit_once(start)
        if global_search:
            best, table, prof = _inference.global_search(
                self, res, rho_indices[0] if len(rho_indices) == 1 else rho_indices,
                fit_once, grid, maxiter, self._cold_start())
            best._results.global_search = table
            best._results._profile_cache[("rho", None if grid is None
                                          else tuple(np.ravel(grid)))] = prof
            res = best
        if cov_type == "cluster":
            res._results.n_groups = n_groups
        res._results._post_fit_warnings()
        return res

    def _fit_once(self, start, method, maxiter, disp, callback, cov_type, cov_kwds, use_t,
                  kwargs):
        from statsmodels.tools.sm_exceptions import ConvergenceWarning, HessianInversionWarning

        opt = dict(kwargs)
        opt.pop("skip_hessian", None)
        if method in _optim.FIT_FUNCS:
            opt["nobs"] = self.nobs  # statsmodels minimises -llf / nobs
        with warnings.catch_warnings(), single_thread_blas():
            # reported once, with advice, by the results' _post_fit_warnings
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", HessianInversionWarning)
            if method in _optim.FIT_FUNCS:
                opt["extra_fit_funcs"] = _optim.FIT_FUNCS
            mlefit = LikelihoodModel.fit(self, start_params=start, method=method,
                                         maxiter=maxiter, disp=disp, callback=callback,
                                         skip_hessian=True, warn_convergence=False, **opt)
        params = np.asarray(mlefit.params, dtype=float)
        cov, description = self._covariance(params, cov_type, cov_kwds)
        k = len(params)
        if cov is None:
            cov = np.full((k, k), np.nan)
        res = self._results_class(self, params, cov, use_t=bool(use_t))
        res.cov_type = cov_type
        res.cov_kwds = dict(cov_kwds, description=description)
        res.mle_retvals = mlefit.mle_retvals
        res.mle_settings = mlefit.mle_settings
        res.method = method
        return self._wrapper_class(res)

    def _cov_request(self, cov_type, cov_kwds, twostep: bool = False):
        """``(cov_type, cov_kwds, n_groups)``: the request checked, Stata's
        ``vce(robust)`` as the default with sampling weights, cluster groups as
        codes over the estimation rows. ``twostep``: a two-step estimator,
        which has no information matrix ("opg", "eim")."""
        if cov_type is None and self.weight_type == "prob":
            cov_type, cov_kwds = "HC1", dict(cov_kwds or {}, correction="stata")
        cov_type, cov_kwds = _inference.check_cov_type(cov_type, cov_kwds)
        if twostep and cov_type in ("opg", "eim"):
            raise ValueError(f"cov_type={cov_type!r} is not available with fit_twostep() (it "
                             "is not a likelihood estimator); use 'nonrobust', 'HC0', 'HC1' "
                             "or 'cluster'")
        n_groups = None
        if cov_type == "cluster":
            codes, n_groups = _inference.cluster_codes(cov_kwds["groups"], int(self._nrows),
                                                       self._kept, self.row_labels)
            cov_kwds = dict(cov_kwds, groups=codes)
        return cov_type, cov_kwds, n_groups

    def _covariance(self, params, cov_type: str, cov_kwds: dict):
        """``(cov or None, description)`` at ``params`` (see
        :func:`~econderiv.models._inference.covariance`)."""
        with warnings.catch_warnings():
            from statsmodels.tools.sm_exceptions import HessianInversionWarning

            if cov_type != "nonrobust":  # the nonrobust case warns once, at the user's line
                warnings.simplefilter("ignore", HessianInversionWarning)
            scores = (None if cov_type in ("nonrobust", "eim")
                      else self.score_obs_unweighted(params))
            eim = getattr(self, "_expected_information", None)
            return _inference.covariance(
                self.hessian(params), scores, self._w, self.weight_type, cov_type, cov_kwds,
                float(self.nobs), len(params),
                None if eim is None else (lambda: eim(params)))

    # -- weights ------------------------------------------------------------
    weights = None
    weight_type = None

    def _init_weights(self, spec) -> None:
        """Validate and attach weights (``spec`` from
        :func:`~econderiv.models._data.pop_weights`), after the family's
        constructor has set ``_nrows``, ``_kept`` and ``row_labels``. Frequency
        and importance weights set ``nobs`` to their sum."""
        w = _data.prepare_weights(spec, int(self._nrows), self._kept, self.row_labels)
        self._reset_blocks()
        if w is None:
            self.weights = self._w = self.weight_type = None
            return
        self.weights = self._w = w.values
        self.weight_type = w.kind
        self.nobs = w.nobs
        if getattr(self, "df_resid", None) is not None:
            self.df_resid = self.nobs - self.k_params

    # -- pickling: patsy's design information is rebuilt from the formula ---
    def __getstate__(self):
        state = super().__getstate__()
        if state.get("_design_infos") is not None:
            state["_design_infos"] = None
            state["_rebuild_design"] = True
        return state

    def __setstate__(self, state):
        rebuild = state.pop("_rebuild_design", False)
        self.__dict__.update(state)
        if rebuild and self._formula_frame is not None:
            from econderiv.models._data import formula_design
            self._design_infos = [formula_design(f, self._formula_frame)[1].design_info
                                  for f in self._formula_rhs]

    def _ancillary_entries(self, params) -> dict:
        """Natural-scale ancillary parameters for ``res.ancillary`` (see
        :func:`~econderiv.models._inference.ancillary_frame`): rho = tanh(athrho)."""
        return {} if self._rho_index is None else {"rho": (self._rho_index, "tanh")}

    def _summary_variables(self) -> tuple[list, list]:
        """Header rows naming the dependent variables (left) and the row counts
        beyond ``No. Observations`` (right) of the summary."""
        return [("Dep. Variable:", [str(self.endog_names)])], []

    def _remember_formulas(self, formulas, design_infos, data) -> None:
        """Keep what prediction on new data and unpickling need: the equations'
        design information, their right-hand sides and the data (not copied),
        from which patsy's design information is rebuilt after unpickling."""
        self._design_infos = list(design_infos)
        self._formula_rhs = [f.split("~", 1)[1] for f in formulas]
        self._formula_frame = data


class SelectionLikelihoodModel(ExactLikelihoodModel):
    """Base of the selection families: ``s = 1[z'gamma + u > 0]`` decides
    whether the outcome ``y`` (with regressors ``x``) is observed.

    The constructor shape is ``Model(endog, exog, endog_select, exog_select,
    missing="none")``; :meth:`from_formula` takes the selection equation as a
    keyword. Parameters are ``selection:<term>``, ``outcome:<term>``, then
    the ancillary ones (``athrho`` first).
    """

    @classmethod
    def from_formula(cls, formula: str, data: pd.DataFrame, selection: str,
                     missing: str = "drop", subset=None, **kwargs):
        """Build the model from outcome and selection formulas (patsy, as statsmodels).

        Parameters
        ----------
        formula : str
            Outcome equation, ``"y ~ x1 + x2"``; ``y`` (and its regressors) may
            be NaN where the row is not selected.
        data : DataFrame
        selection : str
            Selection equation with the 0/1 (or boolean) indicator on the
            left, ``"s ~ x1 + z"``.
        missing : {"drop", "none", "raise"}
            ``"drop"`` (statsmodels' formula default) drops incomplete rows,
            where the outcome and its regressors are needed only for selected
            rows; "none" and "raise" raise naming the columns.
        subset : index labels or boolean mask, optional
            Rows of ``data`` to use (a boolean Series is aligned by label).
        **kwargs
            Passed to the constructor.
        """
        from econderiv.models import _data

        if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):
            # data larger than memory: the family's distributed backend
            # (econderiv.models._dask, imported by the family: the core does not)
            if getattr(cls, "_from_dask", None) is None:
                raise NotImplementedError(f"{cls.__name__} has no dask backend yet")
            return cls._from_dask(formula, data, selection=selection, missing=missing,
                                  subset=subset, **kwargs)
        data = _data.subset_rows(data, subset)
        _data.formula_weights(kwargs, data)
        y, x, yname = _data.lhs_design(formula, data, "outcome formula")
        s, z, sname = _data.lhs_design(selection, data, "selection formula")
        model = cls(y.rename(yname), x, s.rename(sname), z, missing=missing, **kwargs)
        model.formula, model.formula_select = formula, selection
        model._remember_formulas([formula, selection], [x.design_info, z.design_info], data)
        return model

    def _equation_blocks(self):
        infos = self._design_infos or [None, None]  # formulas: outcome, then selection
        return [("selection", 0, infos[1], self.exog_select_names),
                ("outcome", self.k_select, infos[0], self._eq_exog_names[0])]

    def _summary_variables(self):
        return ([("Dep. Variable:", [self.endog_name]),
                 ("Selection:", [self.endog_select_name])],
                [("Selected:", [f"{self.nobs_selected}"]),
                 ("Unselected:", [f"{self.nobs_unselected}"])])

    def _init_selection(self, endog, exog, endog_select, exog_select, missing: str,
                        binary_outcome: bool, ancillary: list, kwargs: dict):
        """The shared constructor of the selection families (``s`` decides
        whether ``y`` is observed): inputs through
        :func:`~econderiv.models._data.prepare_selection`, statsmodels' data,
        names ``selection:``, ``outcome:`` then ``ancillary`` (``athrho``
        first), counts. Returns the prepared inputs for the family's own checks.
        """
        from econderiv.models import _data

        wspec = _data.pop_weights(kwargs, type(self).__name__)
        with single_thread_blas():  # tall thin designs: a second BLAS thread only stalls
            d = _data.prepare_selection(endog, exog, endog_select, exog_select, missing,
                                        binary_outcome=binary_outcome)
        sel = d.selected
        self._sel = sel
        self._z = np.ascontiguousarray(d.Z)
        self._x = d.X
        self._x0 = np.ascontiguousarray(np.where(sel[:, None], d.X, 0.0))  # 0: never read
        self._y0 = np.where(sel, d.y, 0.0)
        kwargs.pop("hasconst", None)
        # hasconst=False: statsmodels' constant detection rejects the NaN that
        # outcome regressors may hold for unselected rows
        LikelihoodModel.__init__(self, pd.Series(d.y, index=d.index, name=d.yname),
                                 pd.DataFrame(d.X, columns=d.xnames, index=d.index),
                                 missing="none", hasconst=False, **kwargs)
        self.endog_select, self.exog_select = d.s, d.Z
        self.endog_name, self.endog_select_name = d.yname, d.sname
        self.exog_select_names = list(d.znames)
        self._eq_exog_names = [list(d.xnames), list(d.znames)]
        self.row_labels, self.n_dropped, self._kept = d.index, d.n_dropped, d.kept
        self.k_select, self.k_outcome = d.Z.shape[1], d.X.shape[1]
        self.param_names = (_data.prefixed("selection", d.znames)
                            + _data.prefixed("outcome", d.xnames) + list(ancillary))
        self.data.param_names = self.param_names
        self.k_params = len(self.param_names)
        self._rho_index = self.k_select + self.k_outcome
        self.nobs, self._nrows = float(len(d.s)), len(d.s)
        self.nobs_selected, self.nobs_unselected = int(sel.sum()), int((~sel).sum())
        self._design_infos = None
        self.formula = self.formula_select = None
        self._init_weights(wspec)
        return d


class ExactLikelihoodResults(LikelihoodModelResults):
    """Results of an :class:`ExactLikelihoodModel`.

    statsmodels' interface (``params``, ``bse``, ``tvalues``, ``pvalues``,
    ``conf_int()``, ``cov_params()``, ``t_test``, ``wald_test``,
    ``wald_test_terms`` by equation) plus ``llf``, ``aic``, ``bic``,
    ``converged``, ``ancillary`` (natural-scale parameters with delta-method
    standard errors and transformed intervals) and ``profile_loglike``.
    """

    global_search = None
    method = None
    mle_retvals = None
    n_groups = None

    def __init__(self, model, params, normalized_cov_params, **kwargs):
        self._profile_cache = {}
        super().__init__(model, params, normalized_cov_params, scale=1.0, **kwargs)

    @cached_property
    def llf(self) -> float:
        return float(self.model.loglike(np.asarray(self.params, float)))

    @cached_property
    def aic(self) -> float:
        """``-2 llf + 2 k``."""
        return -2.0 * self.llf + 2.0 * len(self.params)

    @cached_property
    def bic(self) -> float:
        """``-2 llf + k log(nobs)``."""
        return -2.0 * self.llf + np.log(self.nobs) * len(self.params)

    @property
    def nobs(self):
        return self.model.nobs

    @property
    def df_model(self):
        return self.model.df_model

    @property
    def df_resid(self):
        return self.model.df_resid

    @property
    def converged(self) -> bool:
        r = self.mle_retvals
        return bool(r.get("converged", True)) if isinstance(r, dict) else True

    @cached_property
    def hessian_negdef(self) -> bool:
        """Whether the Hessian at the estimate is negative definite (a strict maximum)."""
        H = self.model.hessian(np.asarray(self.params, float))
        return bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).max() < 0)

    # -- the correlation (models with ``_rho_index``) ----------------------------
    @property
    def rho(self) -> float:
        """``tanh(athrho)``."""
        return float(np.tanh(np.asarray(self.params)[self.model._rho_index]))

    @cached_property
    def llf_restricted(self) -> float:
        """Log-likelihood of the model with rho = 0 (the equations fitted apart)."""
        return float(self.model.llf_restricted)

    @property
    def lr_test_rho(self):
        """Likelihood-ratio test of rho = 0: chi2(1)."""
        return _inference.lr_test(self.llf, self.llf_restricted, 1, "rho = 0")

    @property
    def wald_test_rho(self):
        """Wald test of athrho = 0 with the fit's covariance: chi2(1)."""
        return _inference.wald_test_zero(self.params, self.cov_params(),
                                         [self.model._rho_index], "rho = 0")

    @property
    def rho_test(self):
        """The test of rho = 0 that the covariance type allows: LR under the
        model-based covariance, Wald under a robust or cluster one (as Stata)."""
        return _inference.correlation_test(self, self.llf_restricted, self.model._rho_index,
                                           "rho = 0")

    # -- ancillary parameters and tests -------------------------------------
    def ancillary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Natural-scale ancillary parameters: coefficient, delta-method std
        err, z, p and the interval (transformed from the estimation scale)."""
        return _inference.ancillary_frame(self.model._ancillary_entries(self.params),
                                          self.params, self.cov_params(), alpha)

    @cached_property
    def ancillary(self) -> pd.DataFrame:
        return self.ancillary_frame()

    def wald_test_terms(self, skip_single=False, extra_constraints=None, combine_terms=None,
                        scalar=True):
        """Wald tests that each term of each equation is zero, labelled
        ``"equation:term"`` (statsmodels' version labels outcome terms but
        tests the first parameters)."""
        if skip_single or extra_constraints or combine_terms:
            raise NotImplementedError("skip_single, extra_constraints and combine_terms are "
                                      "not supported for multi-equation models")
        return _inference.wald_test_terms(self, self.model._equation_blocks(), scalar)

    def profile_loglike(self, param: str = "rho", grid=None, maxiter: int = 100):
        """Profile log-likelihood of rho: the maximum over the other parameters
        on a grid (default: every 0.05 in [-0.95, 0.95] and +-0.975, +-0.99,
        +-0.995), sweeping outwards from the estimate. Returns a
        :class:`~econderiv.models._inference.ProfileLikelihood` (a DataFrame
        with ``plot()``); ``llf >= max - chi2_1(0.95)/2`` marks the LR interval."""
        if param != "rho" or self.model._rho_index is None:
            raise ValueError(f"profile_loglike supports param='rho' for models with a "
                             f"correlation, got {param!r}")
        key = (param, None if grid is None else tuple(np.ravel(grid)))
        if key not in self._profile_cache:
            prof = _inference.profile_correlation(self.model, self.model._rho_index,
                                                  np.asarray(self.params, float), grid,
                                                  maxiter, self.model._cold_start())
            prof.attrs.update(mle_rho=float(np.tanh(np.asarray(self.params)[
                self.model._rho_index])), mle_llf=self.llf)
            self._profile_cache[key] = prof
        return self._profile_cache[key]

    def summary_header(self, model_name: str, method: str = "Maximum likelihood",
                       extra_right=()) -> tuple[list, list]:
        """The left and right header rows every family's summary starts with:
        variables, model, method, optimizer, convergence, covariance (and
        clusters); observations, counts, log-likelihood (and with rho = 0),
        AIC, BIC."""
        variables, counts = self.model._summary_variables()
        left = variables + [("Model:", [model_name]), ("Method:", [method]),
                            ("Optimizer:", [str(self.method)]),
                            ("Converged:", [str(self.converged)])] + _inference.cov_lines(self)
        right = [("No. Observations:", [f"{int(self.nobs)}"])] + counts
        pseudo = self.model.weight_type == "prob"  # a pseudo-likelihood, as Stata says
        right += [("Log pseudo-LL:" if pseudo else "Log-Likelihood:", [f"{self.llf:.4f}"])]
        if self.model._rho_index is not None:
            right += [("LL (rho = 0):", [f"{self.llf_restricted:.4f}"])]
        right += [("AIC:", [f"{self.aic:.4f}"]), ("BIC:", [f"{self.bic:.4f}"])]
        return left, right + list(extra_right)

    # -- diagnostics ----------------------------------------------------------
    def _post_fit_warnings(self) -> None:
        from statsmodels.tools.sm_exceptions import ConvergenceWarning

        if not self.converged:
            it = self.mle_retvals.get("iterations") if isinstance(self.mle_retvals, dict) \
                else None
            g = self.model.score(np.asarray(self.params, float))
            warnings.warn(
                f"the maximum-likelihood optimizer did not converge after {it} iterations "
                f"(max |score| {np.max(np.abs(g)):.3g}). Try maxiter=500, other "
                "start_params, global_search=True, rescaling regressors with large "
                "magnitudes, or check the regressors for perfect prediction.",
                ConvergenceWarning, stacklevel=_data.user_stacklevel())
        if not np.all(np.isfinite(np.asarray(self.bse, float))):
            warnings.warn(
                "the Hessian is singular or not negative definite at the estimate: standard "
                "errors are unavailable (NaN). Usual causes: a regressor that predicts an "
                "outcome perfectly, a model identified only weakly (no exclusion "
                "restriction), or a correlation on the boundary. Drop the offending "
                "regressor or rows, or try global_search=True.", RuntimeWarning,
                stacklevel=_data.user_stacklevel())
        for idx in self.model._correlation_indices():
            rho = float(np.tanh(np.asarray(self.params)[idx]))
            name = str(self.model.param_names[idx]).replace("athrho", "rho")
            # a genuine interior maximum may lie close to +-1 (Greene's global
            # maximum: 0.993); warn there only when it is not a strict maximum
            strict = self.converged and self.hessian_negdef
            if abs(rho) >= 0.999 or (abs(rho) >= 0.99 and not strict):
                advice = ("" if self.global_search is not None else
                          "Try global_search=True, other start_params, or ")
                warnings.warn(
                    f"{name} = {rho:.6f} is at or near the boundary +-1: the likelihood may have "
                    "no interior maximum (weak exclusion restrictions or a misspecified "
                    f"model). {advice or 'Try '}an exclusion restriction.", RuntimeWarning,
                    stacklevel=_data.user_stacklevel())


class TwoStepResults(LikelihoodModelResults):
    """Results of a two-step estimator: a probit, then least squares with one
    correction term per selected regime (Heckman, the treatment-effects and
    switching models).

    statsmodels' interface with ``llf``, ``aic`` and ``bic`` NaN (there is
    no likelihood), ``converged`` from the first-step probit, Wald tests by
    equation, and ``ancillary``: the consistent estimators of each rho and
    sigma (no standard errors, as Stata) and each correction coefficient
    lambda, the last parameters. ``twostep`` is the estimator's record, with
    ``rho``, ``sigma`` and ``probit_converged``; a model with several
    corrections overrides :meth:`_correction_terms`.
    """

    method = "twostep"
    n_groups = None
    llf = aic = bic = float("nan")
    wald_test_terms = ExactLikelihoodResults.wald_test_terms

    def __init__(self, model, params, cov, twostep):
        self.twostep = twostep
        self.nobs, self.df_model, self.df_resid = model.nobs, model.df_model, model.df_resid
        super().__init__(model, params, cov, scale=1.0)
        self.cov_type = "nonrobust"
        self.cov_kwds = {}

    @property
    def converged(self) -> bool:
        """Whether the first-step probit converged."""
        return bool(self.twostep.probit_converged)

    def _correction_terms(self) -> list:
        """``[(suffix, rho, sigma), ...]``, one per correction, in the order of
        the lambda parameters."""
        return [("", self.twostep.rho, self.twostep.sigma)]

    def _lambda_spec(self, p):
        grad = np.zeros(len(p))
        grad[-1] = 1.0
        return p[-1], grad

    def ancillary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        p = np.asarray(self.params, dtype=float)
        none = np.full(len(p), np.nan)
        terms = self._correction_terms()
        entries = {}
        for suffix, rho, sigma in terms:
            entries[f"rho{suffix}"] = (rho, none)
            entries[f"sigma{suffix}"] = (sigma, none)
        for i, (suffix, _, _) in enumerate(terms):
            j = len(p) - len(terms) + i
            grad = np.zeros(len(p))
            grad[j] = 1.0
            entries[f"lambda{suffix}"] = (p[j], grad)
        return _inference.ancillary_frame(entries, p, self.cov_params(), alpha)

    @cached_property
    def ancillary(self) -> pd.DataFrame:
        return self.ancillary_frame()
