"""The distributed backend: the row-block kernel contract over dask partitions.

Every likelihood here is a sum over rows (:mod:`econderiv.models._likelihood`).
This module maps that contract over the partitions of a dask collection, so
that the same model classes fit data that do not fit in one process:

* :func:`from_formula` (called by a family's ``from_formula`` when ``data``
  is a dask DataFrame) learns the formulas' design information once (patsy,
  on a few rows; categorical levels from the dataframe's categorical metadata
  or from one pass over the data) and describes each partition by a
  :class:`PartitionSpec`; the designs are built on the workers, partition by
  partition (:func:`build_partition`), and the family's
  ``_partition_block_data`` turns them into the kernel's data. One summary
  pass checks the data (binary outcomes, rank from ``X'X``, zero-row
  partitions, category counts) with errors naming the partition or column;
* :class:`DaskBackend` sends ``params`` to the workers; every partition
  returns its block sums (log-likelihood, score and Hessian in one pass, or
  the pieces an optimizer needs: Böhning's phase of the multinomial logit
  needs the score only, ``X'X`` summed once) and the sums are added by a tree
  reduction (:func:`tree_sum`). Only parameters and ``k x k`` matrices
  travel to the driver: no per-row array does;
* the model object is an instance of a subclass of the family's class made
  here (:func:`dask_class`: the same name, ``fit()``, results and
  ``summary()``) whose start values (distributed probits, Heckman's
  two-step), restricted fits, covariances, predictions and average marginal
  effects are the distributed twins of the in-memory ones. Per-row arrays of
  the in-memory model are :class:`_OnWorkers` placeholders that refuse to be
  read on the driver, with an error that says so.

Families: Heckman, HeckProbit and BivariateProbit are adapted here; the
multinomial logit (:mod:`econderiv.models._dask_mnlogit`), the switching and
treatment models (:mod:`econderiv.models._dask_treatment`) and the conditional
logit (:mod:`econderiv.models._dask_choice`) in their own modules, found
through :data:`FAMILY_BUILDERS`. Dask arrays given to a constructor
(``MNLogit(y, X)``) become a dask DataFrame with statsmodels' array names
(:func:`from_arrays`).

Weights: a weight column (``freq_weights="w"``) is carried by every
partition and passed to the kernels (weighted sums, unweighted per-row
outputs), as in memory.

Covariances: ``nonrobust`` (the Hessian), ``opg``, ``HC0``/``HC1`` (one pass
summing ``s_i s_i'`` on the workers) and ``cluster``, one- or two-way: the
clusters' score totals span partitions, so each partition sums its per-row
scores by cluster and a dask groupby (hash-partitioned over ``npartitions``
output partitions) adds the partitions' totals; each output partition returns
``sum_g G_g G_g'``. Its cost is one pass over the data plus a shuffle of at
most ``G x k`` totals per partition (``G`` the clusters), held in worker memory
in pieces of about ``G / npartitions`` rows; two-way clustering feeds three
groupbys (each dimension and their intersections) from the same pass. The
two-step estimators' robust covariances sum their stacked moments and
Jacobian the same way (:func:`twostep_robust_cov`).

Passes: with ``persist=False`` (the default) every evaluation re-reads the
source (parquet files), which is what data larger than the cluster's memory
need; ``persist=True`` keeps the partitions' arrays in worker memory.
:attr:`DaskBackend.passes` counts the passes. Fault tolerance is dask's: a
partition lost with a worker is recomputed from its lineage, so a fit
survives the loss of a worker at the cost of recomputing that worker's
partitions within the pass (the number of passes does not change).
"""

from __future__ import annotations

import builtins
import contextvars
import functools
import inspect
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["is_dask", "from_formula", "DaskBackend", "PartitionSpec", "EquationSpec",
           "build_partition", "tree_sum", "dask_class"]

#: partitions added per node of the reduction tree
FAN_IN = 4
_DESIGN_ROWS = 65536  # rows per block when a design is filled from columns


def is_dask(obj) -> bool:
    """Whether ``obj`` is a dask collection (without importing dask)."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr")


def _require_dask():
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
    except ImportError:  # pragma: no cover
        raise ImportError("dask input needs the optional dependencies: "
                          'pip install "econderiv[dask]"') from None


# ---------------------------------------------------------------------------
# Partition specification and the designs built on the workers
# ---------------------------------------------------------------------------

@dataclass
class EquationSpec:
    """One equation: its left-hand side (a column, or a patsy expression when
    ``lhs_formula`` is set), its right-hand side and where its rows are
    required (``None``: every row; ``j``: rows where the outcome of equation
    ``j`` is 1, as the outcome of a selection model). patsy's design
    information does not pickle: workers rebuild it from the formula and the
    spec's learning frame (:meth:`PartitionSpec.infos`)."""

    lhs: str
    lhs_formula: str | None
    rhs: str
    xnames: list
    required_where: int | None = None


@dataclass
class PartitionSpec:
    """What a worker needs to turn a partition into arrays: the equations, the
    columns used, the categorical levels, the missing rule, the family's
    ``_partition_block_data`` and the few rows (``frame``, every categorical
    level declared) from which the designs were learned."""

    equations: list
    columns: list
    categories: dict
    missing: str
    block_data: object              # the family's _partition_block_data
    frame: pd.DataFrame = None
    outcome_codes: dict | None = None   # multinomial outcome value -> code
    weights: str | None = None
    _infos: list = field(default=None, repr=False)

    def infos(self) -> list:
        """``[(lhs design info or None, rhs design info), ...]`` (built once per
        process: patsy's objects do not pickle)."""
        if self._infos is None:
            import patsy

            na = patsy.NAAction(NA_types=[])
            out = []
            for eq in self.equations:
                rhs = patsy.dmatrix(eq.rhs, self.frame, NA_action=na,
                                    return_type="dataframe").design_info
                lhs = None if eq.lhs_formula is None else patsy.dmatrix(
                    eq.lhs_formula + " - 1", self.frame, NA_action=na,
                    return_type="dataframe").design_info
                out.append((lhs, rhs))
            self._infos = out
        return self._infos

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_infos"] = None
        state.pop("rhs_infos", None)
        return state


@dataclass
class Partition:
    """One partition's arrays: ``ys`` and ``Xs`` per equation (rows kept after
    the missing rule), weights or None, and the mask of its input rows kept."""

    number: int
    ys: list
    Xs: list
    w: np.ndarray | None
    kept: np.ndarray
    n_input: int
    block_data: object
    _block: object = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.kept) if self.ys is None else len(self.ys[0])

    def block(self):
        """The kernel's data (built once per partition object)."""
        if self._block is None:
            self._block = self.block_data(self.ys, self.Xs)
        return self._block

    def rows(self, eq: int, where: int | None):
        """``(y, X, w)`` of equation ``eq`` on the rows where it is required."""
        y, X = self.ys[eq], self.Xs[eq]
        w = self.w
        if where is None:
            return y, X, w
        m = self.ys[where] == 1
        return y[m], X[m], None if w is None else w[m]


def _column_examples(values, limit=5) -> str:
    return ", ".join(repr(v) for v in list(pd.unique(values))[:limit])


def _design(info, frame):
    """The design of ``frame``: columns taken as they are when every term is
    the intercept or a numeric column (no patsy temporaries: partitions of
    millions of rows), else patsy's ``build_design_matrices``."""
    import patsy

    names = info.column_names
    if all(n == "Intercept" or (n in frame.columns and frame[n].dtype.kind in "biuf")
           for n in names):
        cols = [None if n == "Intercept" else frame[n].to_numpy(dtype=float) for n in names]
        X = np.empty((len(frame), len(names)))
        # filled in row blocks that stay in cache: column-by-column writes into
        # a row-major array of millions of rows cost 2-3x more
        for lo in range(0, len(frame), _DESIGN_ROWS):
            block = X[lo:lo + _DESIGN_ROWS]
            for j, col in enumerate(cols):
                block[:, j] = 1.0 if col is None else col[lo:lo + _DESIGN_ROWS]
        return X

    (mat,) = patsy.build_design_matrices([info], frame, NA_action=patsy.NAAction(NA_types=[]),
                                         return_type="matrix")
    return np.asarray(mat, dtype=float)


def declared_categories(frame: pd.DataFrame, categories: dict, number: int) -> pd.DataFrame:
    """``frame`` with its categorical columns set to their declared levels
    (``categories``: column -> levels); a value outside them is an error
    naming the partition and the column. Modifies ``frame``."""
    for col, levels in categories.items():
        if col not in frame.columns:
            continue
        raw = frame[col]
        bad = (raw.notna() & ~raw.isin(levels)).to_numpy()
        if bad.any():
            raise ValueError(
                f"partition {number}: column {col!r} holds {int(bad.sum())} value(s) outside "
                f"its declared categories ({_column_examples(raw[bad])}); declare every "
                f"category up front (e.g. ddf[{col!r}] = ddf[{col!r}].cat.set_categories([...])"
                ") so that every partition builds the same design")
        frame[col] = pd.Categorical(np.asarray(raw, dtype=object), categories=levels)
    return frame


def build_partition(frame: pd.DataFrame, spec: PartitionSpec, number: int) -> Partition:
    """Arrays of one partition (runs on a worker).

    Checks, naming the partition and the column at fault: columns absent,
    categorical values outside the declared levels, NaN where rows may not be
    missing (``missing`` "raise"/"none"; "drop" drops those rows).
    """
    lack = [c for c in spec.columns if c not in frame.columns]
    if lack:
        raise ValueError(f"partition {number} lacks the column(s) {lack} named by the "
                         "formulas")
    n_input = len(frame)
    if spec.categories:
        frame = declared_categories(frame[spec.columns].copy(), spec.categories, number)
    ys, Xs, bad_rows, reasons = [], [], np.zeros(n_input, dtype=bool), []
    infos = spec.infos()
    for j, eq in enumerate(spec.equations):
        lhs_info, rhs_info = infos[j]
        if spec.outcome_codes is not None and j == 0:
            raw = frame[eq.lhs]
            y = raw.map(spec.outcome_codes).to_numpy(dtype=float, na_value=np.nan)
            unknown = raw.notna().to_numpy() & np.isnan(y)
            if unknown.any():
                raise ValueError(f"partition {number}: the outcome {eq.lhs!r} holds "
                                 f"{int(unknown.sum())} value(s) not seen when its categories "
                                 f"were collected ({_column_examples(raw[unknown])})")
        elif lhs_info is None:
            y = pd.to_numeric(frame[eq.lhs].astype(float) if frame[eq.lhs].dtype == bool
                              else frame[eq.lhs], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan)
        else:
            y = _design(lhs_info, frame)[:, 0]
        X = _design(rhs_info, frame)
        ys.append(y)
        Xs.append(X)
    for j, eq in enumerate(spec.equations):
        y, X = ys[j], Xs[j]
        need = np.ones(n_input, dtype=bool)
        if eq.required_where is not None:
            s = ys[eq.required_where]
            need = s == 1
        bad_y = need & ~np.isfinite(y)
        bad_x = need & ~np.isfinite(X).all(axis=1)
        if bad_y.any():
            reasons.append(f"{eq.lhs!r} ({int(bad_y.sum())} rows)")
        if bad_x.any():
            cols = [f"{eq.xnames[k]!r} ({int(n)} rows)"
                    for k, n in enumerate((~np.isfinite(X[need])).sum(axis=0)) if n]
            reasons.extend(cols)
        bad_rows |= bad_y | bad_x
    w = None
    if spec.weights is not None:
        w = pd.to_numeric(frame[spec.weights], errors="coerce").to_numpy(float, na_value=np.nan)
        bad_w = (~np.isfinite(w) | (w < 0)) & ~bad_rows
        if bad_w.any():
            raise ValueError(f"partition {number}: the weights {spec.weights!r} are missing "
                             f"or negative in {int(bad_w.sum())} estimation rows")
    if bad_rows.any() and spec.missing != "drop":
        where = "" if all(e.required_where is None for e in spec.equations) else \
            " (outcome columns count only where the row is selected)"
        raise ValueError(f"partition {number}: missing (NaN or infinite) values in "
                         f"{', '.join(reasons)}{where}. Drop those rows first or pass "
                         "missing='drop'.")
    kept = ~bad_rows
    if bad_rows.any():
        ys = [y[kept] for y in ys]
        Xs = [X[kept] for X in Xs]
        w = None if w is None else w[kept]
    return Partition(number, ys, [np.ascontiguousarray(X) for X in Xs], w, kept, n_input,
                     spec.block_data)


# ---------------------------------------------------------------------------
# Tree reduction
# ---------------------------------------------------------------------------

def _add_parts(parts):
    """Element-wise sum of tuples (``None`` parts, from empty partitions, skipped)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    total = list(parts[0])
    for other in parts[1:]:
        for i, v in enumerate(other):
            total[i] = None if total[i] is None or v is None else total[i] + v
    return tuple(total)


def tree_sum(items, fan_in: int = FAN_IN):
    """A dask ``Delayed`` adding the tuples of ``items`` in a tree (``fan_in``
    at a node), so that the driver receives one tuple."""
    from dask import delayed

    items = list(items)
    while len(items) > 1:
        items = [delayed(_add_parts, pure=False)(items[i:i + fan_in])
                 for i in range(0, len(items), fan_in)]
    return delayed(_add_parts, pure=False)(items)


def _apply(fn, part, args):
    if part.n == 0:
        return None
    return fn(part, *args)


class DaskBackend:
    """The partitions of one model and the reductions over them.

    ``parts`` are dask ``Delayed`` partitions (:class:`Partition` objects built
    on the workers). ``persist=True`` keeps them in worker memory (the fastest
    when they fit); otherwise every pass re-reads the source (parquet files),
    which is what data larger than the cluster's memory need.
    Subclasses whose partitions are other objects set :attr:`build` (a
    function ``(frame, spec, number) -> partition``).
    """

    #: builds a partition's arrays from its frame on a worker
    build = staticmethod(build_partition)

    def __init__(self, ddf, spec: PartitionSpec, persist: bool = False):
        import dask
        from dask import delayed

        self.ddf = ddf
        self.spec = spec
        # only the columns the formulas use are read (parquet column projection)
        self.frames = ddf[list(spec.columns)].to_delayed() if spec.columns else ddf.to_delayed()
        parts = [delayed(type(self).build, pure=True)(f, spec, i)
                 for i, f in enumerate(self.frames)]
        if persist:
            parts = list(dask.persist(*parts))
        self.parts = parts
        self.persist = persist
        self.npartitions = len(parts)
        #: passes over the data (reductions over every partition) so far
        self.passes = 0
        #: ``(function name, seconds)`` of each pass, for benchmarks
        self.pass_log = []

    def map_sum(self, fn, *args):
        """``sum over partitions of fn(partition, *args)`` (a tuple of arrays),
        computed on the workers and added in a tree."""
        from dask import delayed

        start = time.perf_counter()
        leaves = [delayed(_apply, pure=False)(fn, p, args) for p in self.parts]
        out = tree_sum(leaves).compute()
        self.passes += 1
        self.pass_log.append((getattr(fn, "__name__", str(fn)), time.perf_counter() - start))
        return out


# ---------------------------------------------------------------------------
# Learning the designs once
# ---------------------------------------------------------------------------

#: the names shown for the regressors of each equation when they differ from
#: the columns of the dask DataFrame (set by :func:`from_arrays`)
_SHOWN_XNAMES = contextvars.ContextVar("econderiv_dask_shown_xnames", default=None)

_PATSY_NAMES = {"C", "I", "Q", "np", "numpy", "center", "standardize", "scale", "bs", "cr",
                "cc", "te", "Treatment", "Sum", "Poly", "Diff", "Helmert", "log", "exp"}


def _formula_columns(formula: str, columns) -> tuple[list, list]:
    """``(columns used, names that are neither columns nor functions)``."""
    import patsy
    from patsy.eval import ast_names

    desc = patsy.ModelDesc.from_formula(formula)
    names = []
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            for name in ast_names(factor.code):
                if name not in names:
                    names.append(name)
    cols = [n for n in names if n in columns]
    unknown = [n for n in names if n not in columns and n not in _PATSY_NAMES
               and not hasattr(builtins, n)]
    return cols, unknown


def shuffle_method():
    """dask's shuffle for the groupbys and distinct values here: its default
    (``p2p`` when a distributed client exists), except under a local
    scheduler chosen by configuration (``dask.config.set(scheduler=
    "synchronous")``), where ``p2p`` cannot run even if a client exists."""
    import dask

    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded",
                                              "threads", "threading", "processes",
                                              "multiprocessing"):
        return "tasks"
    return None


def _categories(ddf, cols) -> dict:
    """Levels of the categorical / string columns among ``cols``: the dask
    categorical metadata where known, else one pass collecting the values."""
    levels, to_collect = {}, []
    for c in cols:
        dt = ddf[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            if ddf[c].cat.known:
                levels[c] = list(dt.categories)
            else:
                to_collect.append(c)
        elif not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
            to_collect.append(c)
    if to_collect:
        import dask

        uniq = dask.compute(*[ddf[c].dropna().unique(shuffle_method=shuffle_method())
                              for c in to_collect])
        for c, u in zip(to_collect, uniq):
            vals = list(pd.unique(np.asarray(u, dtype=object)))
            try:
                vals = sorted(vals)
            except TypeError:
                raise ValueError(f"column {c!r} mixes value types ({_column_examples(vals)}); "
                                 "its categories cannot be ordered: declare them as a "
                                 "categorical dtype") from None
            levels[c] = vals
    return levels


def _learning_frame(ddf, cols, levels) -> pd.DataFrame:
    """A few rows with every categorical column's declared levels: patsy learns
    the design (column names, levels) from it."""
    head = ddf[cols].head(50, npartitions=1, compute=True) if cols else pd.DataFrame()
    if len(head) == 0:
        head = ddf[cols]._meta_nonempty if cols else pd.DataFrame(index=range(1))
    head = head.copy()
    for c, lv in levels.items():
        col = np.asarray(head[c], dtype=object)
        head[c] = pd.Categorical(np.where(head[c].isin(lv), col, None), categories=lv)
    return head


def _check_stateless(info, formula):
    for factor, finfo in info.factor_infos.items():
        state = getattr(factor, "_state", None) or {}
        if state.get("transforms"):
            raise ValueError(f"the formula {formula!r} uses a stateful transform "
                             f"({factor.name()}) that learns from the whole data; on dask "
                             "input compute that column first (e.g. with ddf.assign)")


def learn_equation(formula: str, ddf, frame, required_where=None, lhs_as_codes=False):
    """The :class:`EquationSpec` of ``formula`` and its design information
    (learned on ``frame``)."""
    import patsy

    lhs, rhs = formula.split("~", 1)
    lhs = lhs.strip()
    na = patsy.NAAction(NA_types=[])
    info = patsy.dmatrix(rhs, frame, NA_action=na, return_type="dataframe").design_info
    _check_stateless(info, formula)
    lhs_formula = None
    if lhs not in ddf.columns and not lhs_as_codes:
        lmat = patsy.dmatrix(lhs + " - 1", frame, NA_action=na, return_type="dataframe")
        if lmat.shape[1] != 1:
            raise ValueError(f"the left-hand side {lhs!r} must be a single numeric column")
        _check_stateless(lmat.design_info, formula)
        lhs_formula, lhs = lhs, str(lmat.columns[0])
    return EquationSpec(lhs, lhs_formula, rhs, list(info.column_names), required_where), info


def partition_spec(cls, formulas, ddf, missing, required_where=(), outcome_codes=False,
                   weights=None):
    """The :class:`PartitionSpec` of a model on ``ddf`` (checks the columns)."""
    _require_dask()
    if missing not in ("none", "drop", "raise"):
        raise ValueError(f"missing must be one of ('none', 'drop', 'raise'), got {missing!r}")
    columns, unknown = [], []
    for f in formulas:
        if "~" not in f or not f.split("~", 1)[0].strip():
            raise ValueError(f"the formula {f!r} needs a dependent variable on the left")
        cols, unk = _formula_columns(f, ddf.columns)
        columns += [c for c in cols if c not in columns]
        unknown += [u for u in unk if u not in unknown]
    if unknown:
        raise ValueError(f"the formulas name column(s) {unknown} that the dask DataFrame "
                         f"does not have (its columns: {list(ddf.columns)})")
    if weights is not None:
        if weights not in ddf.columns:
            raise ValueError(f"the weights column {weights!r} is not in the dask DataFrame")
        columns.append(weights)
    lhs0 = formulas[0].split("~", 1)[0].strip()
    cat_cols = [c for c in columns if not (outcome_codes and c == lhs0)]
    levels = _categories(ddf, cat_cols)
    frame = _learning_frame(ddf, columns, levels)
    codes = None
    if outcome_codes:
        if lhs0 not in ddf.columns:
            raise ValueError(f"the outcome {lhs0!r} must be a column of the dask DataFrame")
        codes = _outcome_codes(ddf, lhs0)
        frame = frame.copy()
    reqs = list(required_where) + [None] * (len(formulas) - len(required_where))
    learned = [learn_equation(f, ddf, frame, r, outcome_codes and j == 0)
               for j, (f, r) in enumerate(zip(formulas, reqs))]
    shown = _SHOWN_XNAMES.get()
    if shown is not None:  # models from dask arrays: statsmodels' names for array columns
        for (eq, _), names in zip(learned, shown):
            eq.xnames = list(names)
    spec = PartitionSpec([e for e, _ in learned], columns, levels, missing,
                         cls._partition_block_data, frame, codes, weights)
    spec.rhs_infos = [info for _, info in learned]  # the driver's copies (not pickled)
    return spec


def _outcome_codes(ddf, col) -> dict:
    """Value -> code of a multinomial outcome (sorted values; a categorical's
    declared order), from the metadata or one pass."""
    dt = ddf[col].dtype
    if isinstance(dt, pd.CategoricalDtype) and ddf[col].cat.known:
        vals = list(dt.categories)
    else:
        vals = sorted(pd.unique(np.asarray(
            ddf[col].dropna().unique(shuffle_method=shuffle_method()).compute(), dtype=object)))
    return {v: float(k) for k, v in enumerate(vals)}


# ---------------------------------------------------------------------------
# The summary pass: counts, Gram matrices, ranges, checks
# ---------------------------------------------------------------------------

def summarize(backend: DaskBackend, binary: list, required_where: list,
              n_categories: int = 0) -> dict:
    """One pass: rows, dropped rows, and per equation (on its required rows)
    ``X'X``, column min/max, the outcome's value counts (binary equations) or
    category counts. Raises naming the partitions with zero rows."""
    eqs = len(backend.spec.equations)

    def one(part: Partition):
        out = {"number": part.number, "n_input": part.n_input, "n": part.n,
               "n_dropped": int((~part.kept).sum()), "eqs": [],
               "w": None if part.w is None else float(part.w.sum()),
               "w_nonint": 0 if part.w is None else int(np.sum(part.w != np.round(part.w)))}
        for j in range(eqs):
            where = required_where[j]
            y, X, w = part.rows(j, where)
            q = {"n": len(y), "xtx": X.T @ X,
                 "min": X.min(axis=0) if len(y) else np.full(X.shape[1], np.inf),
                 "max": X.max(axis=0) if len(y) else np.full(X.shape[1], -np.inf),
                 "w": None if w is None else float(w.sum())}
            if binary[j]:
                ok = (y == 0) | (y == 1)
                q["n1"] = int((y == 1).sum())
                q["bad"] = int((~ok).sum())
                q["bad_examples"] = list(pd.unique(y[~ok]))[:5]
            elif n_categories:
                q["y_counts"] = np.bincount(y.astype(np.intp), minlength=n_categories)
            out["eqs"].append(q)
        return out

    import dask
    from dask import delayed

    try:
        stats = list(dask.compute(*[delayed(one, pure=False)(p) for p in backend.parts]))
    except KeyError:
        _name_partitions_lacking_columns(backend)
        raise
    backend.passes += 1
    empty = [s["number"] for s in stats if s["n_input"] == 0]
    if empty:
        raise ValueError(f"partition(s) {empty[:10]} of the dask DataFrame have zero rows "
                         f"({len(empty)} of {len(stats)}); remove them first, e.g. "
                         "ddf = ddf.repartition(npartitions=...) or rebuild the collection "
                         "without empty files")
    total = {"n": sum(s["n"] for s in stats), "n_dropped": sum(s["n_dropped"] for s in stats),
             "rows": [s["n"] for s in stats], "eqs": [],
             "w": None if stats[0]["w"] is None else sum(s["w"] for s in stats),
             "w_nonint": [s["number"] for s in stats if s["w_nonint"]]}
    for j in range(eqs):
        qs = [s["eqs"][j] for s in stats]
        t = {"n": sum(q["n"] for q in qs), "xtx": sum(q["xtx"] for q in qs),
             "w": None if qs[0]["w"] is None else sum(q["w"] for q in qs),
             "min": np.min([q["min"] for q in qs], axis=0),
             "max": np.max([q["max"] for q in qs], axis=0)}
        if binary[j]:
            t["n1"] = sum(q["n1"] for q in qs)
            bad = [(s["number"], q["bad"], q["bad_examples"]) for s, q in zip(stats, qs)
                   if q["bad"]]
            t["bad"] = bad
        elif n_categories:
            t["y_counts"] = sum(q["y_counts"] for q in qs)
        total["eqs"].append(t)
    return total


def _lacking(frame, columns, number):
    lack = [c for c in columns if c not in frame.columns]
    if lack:
        raise ValueError(f"partition {number} lacks the column(s) {lack} named by the "
                         "formulas")


def _name_partitions_lacking_columns(backend: DaskBackend):
    """After a failed projection: the partition whose columns differ."""
    import dask
    from dask import delayed

    dask.compute(*[delayed(_lacking, pure=False)(f, backend.spec.columns, i)
                   for i, f in enumerate(backend.ddf.to_delayed())])


def constant_from_range(lo, hi) -> np.ndarray:
    """Columns constant and non-zero (intercepts), from their ranges."""
    return (lo == hi) & (lo != 0)


def check_rank_gram(xtx, names, what):
    """Raise, naming the columns, when ``X'X`` is singular (rank from the
    scaled Gram matrix: pivoted Cholesky as in the multinomial logit's check)."""
    from econderiv.models._mnlogit_kernels import collinear_columns

    d = np.diag(xtx)
    zero = [names[k] for k in np.flatnonzero(d == 0)]
    if zero:
        raise ValueError(f"{what} is rank deficient: column(s) {zero} are all zero")
    if not np.all(np.isfinite(xtx)):
        bad = [names[k] for k in np.flatnonzero(~np.isfinite(d))]
        raise ValueError(f"{what} has columns whose sums of squares overflow: {bad}; "
                         "rescale them (e.g. divide by a power of 10)")
    bad = collinear_columns(xtx)
    if bad:
        raise ValueError(f"{what} is rank deficient: the column(s) "
                         f"{[names[k] for k in bad]} are linear combinations of the others; "
                         "drop them")


def check_binary_eq(t, name):
    if t["bad"]:
        num, count, ex = t["bad"][0]
        total = sum(b[1] for b in t["bad"])
        raise ValueError(f"{name} must be binary (0/1): {total} rows hold other values "
                         f"(first in partition {num}: {count} rows, e.g. "
                         f"{', '.join(f'{v:g}' for v in ex)})")


# ---------------------------------------------------------------------------
# Distributed kernels: sums the family recipes need
# ---------------------------------------------------------------------------

def _kernel_sums(part: Partition, kernel, params, order):
    w = part.w
    data = part.block()
    out = (kernel(params, data, order, None, False) if w is None
           else kernel(params, data, order, None, False, w))
    ll = out[0]
    llf = float(ll.sum() if w is None else w @ ll)
    return (np.array(llf), None if order < 1 else np.asarray(out[1]),
            None if order < 2 else np.asarray(out[2]))


def _meat_sums(part: Partition, kernel, params, weight_kind):
    """``sum_i c_i s_i s_i'`` with the weights of the meat (see
    :func:`econderiv.models._inference.covariance`)."""
    w = part.w
    S = kernel(params, part.block(), 1, None, True)[1]
    if w is None:
        return (S.T @ S,)
    if weight_kind == "freq":
        return ((S.T * w) @ S,)
    G = S * w[:, None]
    return (G.T @ G,)


def kernel_score_rows(part: Partition, kernel, params):
    """Per-row score contributions ``w_i s_i`` of a partition, ``(m, k)``."""
    S = kernel(params, part.block(), 1, None, True)[1]
    return S if part.w is None else S * part.w[:, None]


def _score_frame(frame, part: Partition, rows_fn, args, group_cols, k):
    """Per-row score contributions of a partition with its cluster column(s)
    ``g0`` (and ``g1``)."""
    cols = [f"s{i}" for i in range(k)]
    gnames = [f"g{j}" for j in range(len(group_cols))]
    if part.n == 0:
        return pd.DataFrame({**{g: pd.Series([], dtype=frame[c].dtype)
                                for g, c in zip(gnames, group_cols)},
                             **{c: pd.Series([], dtype=float) for c in cols}})
    S = rows_fn(part, *args)
    out = pd.DataFrame(S, columns=cols)
    for j, col in enumerate(group_cols):
        g = frame[col].to_numpy()[part.kept]
        if pd.isna(g).any():
            raise ValueError(f"partition {part.number}: the cluster column {col!r} is "
                             f"missing for {int(pd.isna(g).sum())} estimation rows")
        out.insert(j, gnames[j], g)
    return group_totals(out, gnames)


def group_totals(frame, gnames):
    """The score columns of ``frame`` summed within the partition by the
    cluster ids (by both, for two-way clustering: their totals still add up to
    each dimension's), so that the shuffle carries one row per cluster and
    partition."""
    return frame.groupby(gnames, sort=False, observed=True).sum().reset_index()


def _outer_of_totals(df, k):
    S = df[[f"s{i}" for i in range(k)]].to_numpy()
    return S.T @ S, np.array(len(S))


def cluster_meat(backend: DaskBackend, rows_fn, args, group_col, k: int, score_frame=None):
    """``(sum_g G_g G_g', G)`` with ``G_g`` the total of the score
    contributions ``rows_fn(partition, *args)`` over cluster ``g``. The
    clusters span partitions: the per-row contributions (computed partition by
    partition, never gathered) are summed by a dask groupby with
    ``split_out = npartitions`` (a shuffle of at most ``G x k`` totals), and
    each output partition returns ``sum_g G_g G_g'``, added in a tree.

    ``group_col`` names one column, or two for two-way clustering (Cameron,
    Gelbach and Miller): the same pass then feeds three groupbys (each
    dimension and their intersections) and the result is ``([(M1, G1), (M2,
    G2), (M12, G12)], (G1, G2))``, what
    :func:`econderiv.models._inference.covariance` takes as ``cluster_meat``.

    ``score_frame(frame, part, rows_fn, args, group_cols, k)`` builds a
    partition's frame of cluster ids ``g0`` (``g1``) and score totals
    ``s0..`` (default :func:`_score_frame`: one score row per input row; the
    conditional logit's has one per case).
    """
    import dask
    import dask.dataframe as dd
    from dask import delayed

    cols = [group_col] if isinstance(group_col, str) else list(group_col)
    if not cols or len(cols) > 2 or not all(isinstance(c, str) for c in cols):
        raise ValueError("with dask input cov_kwds['groups'] names a column of the dask "
                         "DataFrame, or a list of two columns for two-way clustering; got "
                         f"{group_col!r}")
    for c in cols:
        if c not in backend.ddf.columns:
            raise ValueError(f"cov_kwds['groups'] names the column {c!r}, which the dask "
                             f"DataFrame does not have (its columns: "
                             f"{list(backend.ddf.columns)})")
    gnames = [f"g{j}" for j in range(len(cols))]
    meta = pd.DataFrame({**{g: pd.Series([], dtype=backend.ddf[c].dtype)
                            for g, c in zip(gnames, cols)},
                         **{f"s{i}": pd.Series([], dtype=float) for i in range(k)}})
    frames = backend.ddf[cols].to_delayed()
    score_frame = _score_frame if score_frame is None else score_frame
    pieces = [delayed(score_frame, pure=False)(f, p, rows_fn, args, cols, k)
              for f, p in zip(frames, backend.parts)]
    scores = dd.from_delayed(pieces, meta=meta, verify_meta=False)
    keys = [["g0"]] if len(cols) == 1 else [["g0"], ["g1"], ["g0", "g1"]]
    split = max(1, backend.npartitions)
    sums = []
    for key in keys:
        totals = scores.groupby(key).sum(split_out=split, shuffle_method=shuffle_method())
        leaves = [delayed(_outer_of_totals, pure=False)(piece, k)
                  for piece in totals.to_delayed()]
        sums.append(tree_sum(leaves))
    # one compute: the three groupbys share the pass over the data
    sums = dask.compute(*sums)
    backend.passes += 1
    meats = [(M, int(G)) for M, G in sums]
    for c, (_, G) in zip(cols, meats):
        if G < 2:
            raise ValueError(f"cov_type='cluster' needs at least two clusters; {c!r} has {G}")
    if len(cols) == 1:
        return meats[0]
    return meats, (meats[0][1], meats[1][1])


def robust_covariance(hessian, meat, cov_type, cov_kwds, nobs, k, n_groups=None,
                      describe=False):
    """The covariance from the Hessian and a meat summed on the workers:
    :func:`econderiv.models._inference.covariance` (the same small-sample
    factors, statsmodels' default, ``correction="stata"`` or ``"none"``)."""
    from econderiv.models import _inference

    if cov_type == "cluster":
        cluster = meat if isinstance(meat, list) else (meat, int(n_groups))
    cov, desc = _inference.covariance(
        hessian, None, None, None, cov_type, cov_kwds, nobs, k, meat=lambda codes: meat,
        cluster_meat=cluster if cov_type == "cluster" else None)
    return (cov, desc) if describe else cov


# ---- univariate probit (start values, two-step, rho = 0 fits) -------------------

def _ls_sums(part: Partition, eq, where, shift):
    """``(X'WX, X'W(y - shift))`` of an equation."""
    y, X, w = part.rows(eq, where)
    if w is None:
        return X.T @ X, X.T @ (y - shift)
    return (X.T * w) @ X, X.T @ (w * (y - shift))


def _probit_sums(part: Partition, eq, where, gamma, y_override):
    from scipy.special import log_ndtr

    from econderiv.models._probit import _lam_dlam

    y, Z, w = part.rows(eq, where)
    if y_override is not None:
        y = np.full(len(y), y_override)
    q = 2.0 * y - 1.0
    xb = q * (Z @ gamma)
    lam, dlam = _lam_dlam(xb)
    ll = log_ndtr(xb)
    if w is None:
        return np.array(ll.sum()), Z.T @ (q * lam), (Z.T * dlam) @ Z
    return np.array(w @ ll), Z.T @ (w * q * lam), (Z.T * (w * dlam)) @ Z


def probit_fit(backend: DaskBackend, eq: int, where, n: float, maxiter: int = 100):
    """Probit ML on equation ``eq`` (rows where required), the distributed twin
    of :func:`econderiv.models._probit.probit_fit` (same start, same Newton):
    returns ``(gamma, cov, llf, converged)``."""
    from econderiv.models._optim import inverse_information, newton_linesearch

    ztz, zty = backend.map_sum(_ls_sums, eq, where, 0.5)
    start = 2.5 * np.linalg.solve(ztz, zty)
    memo = {}

    def at(g):
        tag = g.tobytes()
        if memo.get("tag") != tag:
            memo.clear()
            memo["tag"] = tag
            memo["v"] = backend.map_sum(_probit_sums, eq, where, np.array(g), None)
        return memo["v"]

    x, info = newton_linesearch(lambda g: -float(at(g)[0]) / n, lambda g: -at(g)[1] / n,
                                start, hess=lambda g: -at(g)[2] / n, disp=False,
                                maxiter=maxiter, kwargs={"nobs": n})
    cov = inverse_information(-n * info["Hessian"])
    if cov is None:
        cov = np.full((len(x), len(x)), np.nan)
    return x, cov, -n * float(info["fopt"]), bool(info["converged"])


def _residual_products(part: Partition, eqs, where, params):
    """``(sum e1 e2, sum (e1 e2)^2)`` of two probits' generalized residuals on
    the rows where both equations are observed."""
    from econderiv.models._bvprobit_kernels import probit_residual

    (e1, b1), (e2, b2) = zip(eqs, params)
    y1, X1, _ = part.rows(e1, where)
    y2, X2, _ = part.rows(e2, where)
    if where is not None and e1 == where:
        y1 = np.ones(len(y1))
    prod = probit_residual(y1, X1 @ b1) * probit_residual(y2, X2 @ b2)
    return np.array(prod.sum()), np.array(prod @ prod)


def scoring_athrho(sum_prod, sum_sq, bound: float = 0.9) -> float:
    """:func:`econderiv.models._bvprobit_kernels.scoring_athrho` from the sums."""
    rho0 = float(np.clip(sum_prod / sum_sq, -bound, bound)) if sum_sq > 0 else 0.0
    return float(np.arctanh(rho0))


# ---- Heckman's two-step ---------------------------------------------------------

def _twostep_first(part: Partition, gamma):
    from econderiv.special import mills_ratio, mills_ratio_deriv

    (y, s), (X, Z) = part.ys, part.Xs
    sel = s == 1
    y1, X1, Z1 = y[sel], X[sel], Z[sel]
    w1 = np.ones(len(y1)) if part.w is None else part.w[sel]
    v = Z1 @ gamma
    imr = mills_ratio(v)
    delta = -mills_ratio_deriv(v, 1)
    Xs = np.column_stack([X1, imr])
    return ((Xs.T * w1) @ Xs, Xs.T @ (w1 * y1), np.array(w1 @ delta),
            (Xs.T * (w1 * delta)) @ Xs, (Xs.T * (w1 * delta)) @ Z1, np.array(w1.sum()),
            np.array(imr.sum()), np.array(float(len(imr))))


def _twostep_second(part: Partition, gamma, coef, c_imr, imr_mean, b0):
    from econderiv.special import mills_ratio

    (y, s), (X, Z) = part.ys, part.Xs
    sel = s == 1
    y1, X1, Z1 = y[sel], X[sel], Z[sel]
    w1 = np.ones(len(y1)) if part.w is None else part.w[sel]
    imr = mills_ratio(Z1 @ gamma)
    resid = y1 - np.column_stack([X1, imr]) @ coef
    fit_l = imr - X1 @ c_imr
    e0 = y1 - X1 @ b0
    return (np.array((w1 * resid) @ resid), np.array(resid.sum()), np.array(resid @ resid),
            np.array(fit_l @ fit_l), np.array(((imr - imr_mean) ** 2).sum()),
            np.array((w1 * e0) @ e0))


def heckman_twostep(backend: DaskBackend, n_all: float):
    """Heckman's two-step on the partitions (the twin of
    :func:`econderiv.models._heckman_kernels.heckman_twostep`): a distributed
    probit, then two passes for the least squares with the inverse Mills
    ratio and the corrected covariance. Returns ``(TwoStep, extras)``; the
    TwoStep's per-row arrays (``imr``, ``delta``, ``resid``) are ``None``."""
    from econderiv.models._heckman_kernels import TwoStep

    gamma, Vg, probit_llf, probit_conv = probit_fit(backend, 1, None, n_all)
    XtX, Xty, sum_delta, XDX, XDZ, n1, sum_imr, cnt = backend.map_sum(_twostep_first, gamma)
    n1 = float(n1)
    XtX_inv = np.linalg.inv(XtX)
    coef = XtX_inv @ Xty
    kx = XtX.shape[0] - 1
    c_imr = np.linalg.solve(XtX[:kx, :kx], XtX[:kx, kx])  # the lambda column on X1
    b0 = np.linalg.solve(XtX[:kx, :kx], Xty[:kx])        # OLS of y on X1 (rho = 0)
    rss, sum_r, sum_r2, lss, tss, rss0 = backend.map_sum(
        _twostep_second, gamma, coef, c_imr, float(sum_imr) / float(cnt), b0)
    b_lambda = coef[-1]
    sigma2 = float(rss) / n1 + b_lambda ** 2 * float(sum_delta) / n1
    sigma = float(np.sqrt(sigma2))
    rho_raw = b_lambda / sigma
    rho = float(np.clip(rho_raw, -1.0, 1.0))
    if rho != rho_raw:
        sigma = abs(float(b_lambda))
    rho2 = rho * rho
    middle = (XtX - rho2 * XDX) + rho2 * XDZ @ Vg @ XDZ.T
    V_out = sigma ** 2 * XtX_inv @ middle @ XtX_inv
    V_cross = rho * sigma * XtX_inv @ XDZ @ Vg
    kz = len(gamma)
    k = kz + len(coef)
    cov = np.empty((k, k))
    cov[:kz, :kz] = Vg
    cov[kz:, kz:] = 0.5 * (V_out + V_out.T)
    cov[kz:, :kz] = V_cross
    cov[:kz, kz:] = V_cross.T
    r2 = 1.0 - float(lss) / float(tss) if float(tss) > 0 else 1.0
    ts = TwoStep(np.concatenate([gamma, coef]), cov, Vg, probit_llf, probit_conv, sigma, rho,
                 float(rho_raw), None, None, None, float(r2))
    m = float(cnt)
    resid_sd = float(np.sqrt(max(float(sum_r2) / m - (float(sum_r) / m) ** 2, 0.0)))
    return ts, {"resid_sd": resid_sd, "rss0": float(rss0), "n1": n1}


# ---------------------------------------------------------------------------
# The model classes on dask: the family's class with distributed hooks
# ---------------------------------------------------------------------------

class _OnWorkers:
    """Stands for a per-row array that stays on the workers: it has a shape
    (statsmodels reads ``exog.shape``) and refuses to be read on the driver."""

    def __init__(self, shape, what, ranges=None):
        self.shape = tuple(shape)
        self.ndim = len(self.shape)
        self.what = what
        self._ranges = ranges

    def var(self, axis=None):
        """Zero exactly for the constant columns (statsmodels' margins find the
        constant with ``exog.var(0) != 0``): the columns' ranges, from the
        summary pass, stand in for their variances."""
        if axis != 0 or self._ranges is None:
            self._refuse()
        lo, hi = self._ranges
        return hi - lo

    def __len__(self):
        return self.shape[0]

    def _refuse(self, *args, **kwargs):
        raise NotImplementedError(
            f"{self.what}: the rows of a model built from dask input stay on the workers; "
            "this operation needs them in the driver's memory. Use the model's dask methods "
            "(predict_dask, ...) or fit the in-memory model on a sample.")

    __array__ = __getitem__ = __iter__ = _refuse
    T = property(_refuse)


class WeightsOnWorkers(_OnWorkers):
    """The weights stay on the workers; their sum (from the summary pass) is
    known, for the summary's header."""

    def __init__(self, n, total):
        super().__init__((n,), "weights")
        self._total = float(total)

    def sum(self, *args, **kwargs):
        return self._total


class _DaskLikelihood:
    """Distributed hooks of an :class:`ExactLikelihoodModel` family (mixed in
    before the family's class by :func:`dask_class`)."""

    _backend: DaskBackend = None
    _pass_cache = None

    # -- the kernel contract, summed on the workers ----------------------------
    def _run(self, params, order, llobs, per_obs):
        if per_obs:
            raise NotImplementedError("per-row scores of a dask model stay on the workers; "
                                      "robust covariances are summed there (fit(cov_type=))")
        # one pass gives the value, the score and the Hessian: passes over the
        # data, not the k x k products, are what cost on large data
        params = np.asarray(params, float)
        key = params.tobytes()
        if self._pass_cache is None or self._pass_cache[0] != key:
            out = self._backend.map_sum(_kernel_sums, type(self)._kernel, params, 2)
            self._pass_cache = (key, out)
        ll, score, hess = self._pass_cache[1]
        return np.atleast_1d(ll), score, hess

    def loglike(self, params):
        return float(self._derivs(params, 0)[0][0])

    def loglikeobs(self, params):
        raise NotImplementedError("the per-row log-likelihood of a dask model stays on the "
                                  "workers: use loglike (the sum)")

    def score_obs(self, params):
        self._run(params, 1, None, True)

    score_obs_unweighted = score_obs

    # -- fit: covariances from sums on the workers -------------------------------
    def fit(self, *args, **kwargs):
        sig = inspect.signature(super().fit)
        bound = sig.bind_partial(*args, **kwargs)
        cov_type = bound.arguments.pop("cov_type", None)
        cov_kwds = bound.arguments.pop("cov_kwds", None)
        from econderiv.models import _inference

        if cov_type is None:  # as in memory: sampling weights default to Stata's HC1
            cov_type, cov_kwds = (("HC1", dict(cov_kwds or {}, correction="stata"))
                                  if self.weight_type == "prob" else ("nonrobust", cov_kwds))
        cov_type, cov_kwds = _inference.check_cov_type(cov_type, cov_kwds)
        if cov_type == "eim":
            raise NotImplementedError("cov_type='eim' is not available for dask input")
        call = dict(bound.arguments)

        extra = call.pop("kwargs", {})
        with warnings.catch_warnings():
            # the family's fit runs with the Hessian's covariance; the requested
            # one is summed on the workers below
            warnings.filterwarnings("ignore", message="cov_type='nonrobust' with prob_weights")
            res = super().fit(**call, cov_type="nonrobust", **extra)
        if cov_type != "nonrobust":
            self._set_robust(res, cov_type, cov_kwds)
        return res

    def _dask_meat(self, params):
        """``sum_i c_i s_i s_i'`` summed on the partitions (the meat's weights
        as :func:`_meat_sums`)."""
        (meat,) = self._backend.map_sum(_meat_sums, type(self)._kernel, params,
                                        self.weight_type)
        return meat

    def _dask_cluster_meat(self, params, groups):
        """:func:`cluster_meat` of the per-row scores (one or two columns)."""
        return cluster_meat(self._backend, kernel_score_rows, (type(self)._kernel, params),
                            groups, len(params))

    def _set_robust(self, res, cov_type, cov_kwds):
        r = res._results
        params = np.asarray(r.params, float)
        k = len(params)
        n_groups = None
        if cov_type == "cluster":
            meat, n_groups = self._dask_cluster_meat(params, cov_kwds["groups"])
        else:
            meat = self._dask_meat(params)
        cov, desc = robust_covariance(self.hessian(params), meat, cov_type, cov_kwds,
                                      float(self.nobs), k, n_groups, describe=True)
        if cov is None:
            cov = np.full((k, k), np.nan)
        r.normalized_cov_params = cov
        r.cov_params_default = cov
        r.cov_type = cov_type
        r.cov_kwds = dict(cov_kwds, description=desc)
        if n_groups is not None:
            r.n_groups = n_groups
        r._cache = {}
        for name in ("ancillary",):
            r.__dict__.pop(name, None)

    # -- predictions -------------------------------------------------------------
    def predict_dask(self, params, which=None, data=None):
        """Predictions on the partitions of ``data`` (default: the estimation
        data) as a dask Series, computed partition by partition with the
        in-memory model's kernel of predictions."""
        import dask.dataframe as dd
        from dask import delayed

        backend = self._backend
        params = np.asarray(params, dtype=float)
        fn = type(self)._partition_prediction
        if data is None:
            parts = backend.parts
        else:
            parts = [delayed(type(backend).build, pure=True)(f, backend.spec, i)
                     for i, f in enumerate(data.to_delayed())]
        pieces = [delayed(fn, pure=False)(p, params, which, self._prediction_context())
                  for p in parts]
        return dd.from_delayed(pieces, meta=pd.Series([], dtype=float, name=which),
                               verify_meta=False)


def dask_class(cls, mixin):
    """The family's class with the distributed hooks, under the family's name."""
    key = (cls, mixin)
    if key not in _CLASSES:
        _CLASSES[key] = type(cls.__name__, (mixin, cls),
                             {"__module__": cls.__module__, "__doc__": cls.__doc__,
                              "__init__": _init_unless_built(cls)})
    return _CLASSES[key]


def _init_unless_built(cls):
    """``cls.__init__``, skipped for a model already built by the backend:
    :func:`from_arrays` builds it in the family's ``__new__`` (``MNLogit(y,
    X)`` with dask arrays) and Python then calls ``__init__`` with the same
    arguments, which must not build it again."""

    def __init__(self, *args, **kwargs):
        if "_backend" not in self.__dict__:
            cls.__init__(self, *args, **kwargs)

    return __init__


_CLASSES: dict = {}


def _template_data(model, yname, xnames):
    """statsmodels' data object (names, wrapping of results) from one row."""
    from statsmodels.base.model import LikelihoodModel

    LikelihoodModel.__init__(model, pd.Series([0.0], name=yname),
                             pd.DataFrame(np.zeros((1, len(xnames))), columns=xnames),
                             missing="none", hasconst=False)


def _weights_setup(model, kind, stats, column):
    """Weights live in the partitions (``model._w`` stays None so that the core
    does not weight twice); ``nobs`` is their sum for frequency and importance
    weights, as in memory."""
    model._w = None
    model.weight_type = kind
    model.weights = None if kind is None else WeightsOnWorkers(stats["n"], stats["w"])
    if kind is None:
        return
    if not stats["w"] > 0:
        raise ValueError(f"the weights {column!r} are zero in all {stats['n']} estimation rows")
    if kind == "freq" and stats["w_nonint"]:
        raise ValueError(f"freq_weights must be integers (counts of identical rows); the "
                         f"column {column!r} holds other values in partition(s) "
                         f"{stats['w_nonint'][:10]}")
    if kind in ("freq", "importance"):
        model.nobs = float(stats["w"])


# ---- selection families ------------------------------------------------------

class _DaskSelection(_DaskLikelihood):
    """Distributed hooks shared by Heckman and HeckProbit."""

    def _prediction_context(self):
        return (self.k_select, self.k_outcome)


class _DaskHeckman(_DaskSelection):
    _twostep_extras = None

    def _outcome_constant_columns(self):
        return self._outcome_constant

    def _twostep(self):
        if self._twostep_cache is None:
            self._twostep_cache, self._twostep_extras = heckman_twostep(
                self._backend, self._n_probit)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        ts = self._twostep()
        rho = float(np.clip(ts.rho_untruncated, -0.99, 0.99))
        sigma = (ts.sigma if np.isfinite(ts.sigma) and ts.sigma > 0
                 else self._twostep_extras["resid_sd"])
        return np.concatenate([ts.params[:-1], [np.arctanh(rho), np.log(sigma)]])

    def fit_twostep(self, cov_type=None, cov_kwds=None, **kwargs):
        """As in memory; the robust types' stacked moments (probit score and
        the second step's normal equations) and their Jacobian are summed on
        the partitions, the cluster totals by a groupby."""
        from econderiv.models import _inference

        if cov_type is None and self.weight_type == "prob":
            cov_type, cov_kwds = "HC1", dict(cov_kwds or {}, correction="stata")
        cov_type, cov_kwds = _inference.check_cov_type(cov_type, cov_kwds)
        if cov_type == "nonrobust":
            return super().fit_twostep(cov_type="nonrobust", cov_kwds=cov_kwds, **kwargs)
        if cov_type in ("opg", "eim"):
            raise ValueError(f"cov_type={cov_type!r} is not available with fit_twostep() (it "
                             "is not a likelihood estimator); use 'nonrobust', 'HC0', 'HC1' "
                             "or 'cluster'")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="cov_type='nonrobust' with prob_weights")
            res = super().fit_twostep(cov_type="nonrobust", **kwargs)
        r = res._results
        params = np.asarray(r.params, float)
        moments = functools.partial(_heckman_twostep_moments, self.k_select)
        cov, desc, n_groups = twostep_robust_cov(self, moments, params, cov_type, cov_kwds)
        r.normalized_cov_params = r.cov_params_default = cov
        r.cov_type = cov_type
        r.cov_kwds = dict(cov_kwds, description=desc)
        r.n_groups = n_groups
        r._cache = {}
        return res

    @property
    def llf_restricted(self) -> float:
        ts = self._twostep()
        n1, rss0 = self._twostep_extras["n1"], self._twostep_extras["rss0"]
        return ts.probit_llf - 0.5 * n1 * (np.log(2 * np.pi * rss0 / n1) + 1)

    @staticmethod
    def _partition_prediction(part, params, which, ctx):
        from econderiv.models._heckman_kernels import prediction

        kz, kx = ctx
        p = np.asarray(params)
        if len(p) == kz + kx + 2:  # ML: lambda = rho sigma
            L = np.tanh(p[-2]) * np.exp(p[-1])
        else:                      # two-step: lambda is the last parameter
            L = p[-1]
        (_, _), (X, Z) = part.ys, part.Xs
        with np.errstate(invalid="ignore"):
            return pd.Series(prediction(which, X, Z, p[:kz], p[kz:kz + kx], L), name=which)


def _heckman_twostep_moments(kz, part: Partition, params):
    """The partition's stacked two-step moments and their Jacobian
    (:func:`econderiv.models._heckman_kernels.twostep_moments`), the inverse
    Mills ratio recomputed from the first step's ``gamma``."""
    from types import SimpleNamespace

    from econderiv.models._heckman_kernels import twostep_moments
    from econderiv.special import mills_ratio, mills_ratio_deriv

    (y, s), (X, Z) = part.ys, part.Xs
    sel = s == 1
    w = Z[sel] @ params[:kz]
    ts = SimpleNamespace(params=params, imr=mills_ratio(w), delta=-mills_ratio_deriv(w, 1))
    return twostep_moments(ts, y[sel], X[sel], s, Z, part.w)


def _moment_sums(part: Partition, moments, params, weight_kind):
    """``(J, meat)`` of a two-step estimator's stacked moments over a
    partition (the meat's weights as in :func:`_meat_sums`)."""
    G, J = moments(part, params)
    w = part.w
    if w is None:
        return J, G.T @ G
    if weight_kind == "freq":
        return J, (G.T * w) @ G
    Gw = G * w[:, None]
    return J, Gw.T @ Gw


def _moment_rows(part: Partition, moments, params):
    """Per-row moment contributions ``w_i g_i`` of a partition."""
    G, _ = moments(part, params)
    return G if part.w is None else G * part.w[:, None]


def twostep_robust_cov(model, moments, params, cov_type, cov_kwds):
    """The sandwich ``J^-1 M J^-T`` of a two-step estimator with ``J`` and the
    meat ``M`` summed on the partitions (``moments(part, params) -> (G, J)``:
    the partition's per-row moments and the Jacobian of their weighted sum).
    Returns ``(cov, description, n_groups)``."""
    from econderiv.models import _inference

    backend = model._backend
    params = np.asarray(params, float)
    k = len(params)
    J, meat = backend.map_sum(_moment_sums, moments, params, model.weight_type)
    cluster, n_groups = None, None
    if cov_type == "cluster":
        out = cluster_meat(backend, _moment_rows, (moments, params), cov_kwds["groups"], k)
        if isinstance(out[0], list):   # two-way: ([(M1, G1), (M2, G2), (M12, G12)], (G1, G2))
            cluster, n_groups = out
        else:
            cluster, n_groups = out, out[1]
    cov, desc = _inference.covariance(
        None, None, None, model.weight_type, cov_type, cov_kwds, float(model.nobs), k,
        bread=-np.linalg.inv(J), meat=lambda codes: meat, cluster_meat=cluster)
    return cov, desc, n_groups


def _heckman_margins(part: Partition, which, gamma, beta, L, specs, sample):
    """Row count and ``count x (effect, Jacobian, channels)`` of every
    regressor over the partition's rows with finite regressors."""
    from econderiv.models._heckman_kernels import margin

    (_, s), (X, Z) = part.ys, part.Xs
    rows = np.isfinite(X).all(axis=1) & np.isfinite(Z).all(axis=1)
    if sample == "selected":
        rows &= s == 1
    X, Z = X[rows], Z[rows]
    m = float(len(X))
    if m == 0:
        return None
    out = [np.array(m)]
    for kb, kg in specs:
        eff, J, channels = margin(which, X, Z, gamma, beta, L, kb, kg)
        out += [np.array(m * float(eff)), m * np.asarray(J, float),
                m * np.asarray(channels, float)]
    return tuple(out)


class _DaskHeckmanResults:
    """Heckman ML results on dask: predictions as dask Series, average
    marginal effects summed over the partitions."""

    def predict(self, exog=None, exog_select=None, which: str = "xb", transform: bool = True):
        """As in memory; with no new data (or a dask DataFrame) a dask Series
        computed partition by partition."""
        if exog is None and exog_select is None:
            return self.model.predict_dask(np.asarray(self.params), which)
        if is_dask(exog):
            return self.model.predict_dask(np.asarray(self.params), which, data=exog)
        return super().predict(exog, exog_select, which, transform)

    def get_margeff(self, which: str = "ycond", at: str = "overall", dummy: bool = False,
                    variables=None, sample: str = "all"):
        """Average marginal effects (``at="overall"``, continuous treatment of
        the regressors) summed over the partitions, with the delta-method
        Jacobian; the in-memory method's other options need the rows."""
        from econderiv.models import _inference

        if at != "overall" or dummy:
            raise NotImplementedError("on dask input get_margeff averages over the rows "
                                      "(at='overall', dummy=False)")
        m = self.model
        xnames, znames = list(m.exog_names), list(m.exog_select_names)
        specs = [(xnames.index(v) if v in xnames else None,
                  znames.index(v) if v in znames else None) for v in xnames + [
                      z for z in znames if z not in xnames]]
        allnames = xnames + [z for z in znames if z not in xnames]
        xconst, zconst = m._outcome_constant, m._select_constant_range
        candidates = [nm for j, nm in enumerate(xnames) if not xconst[j]]
        candidates += [nm for j, nm in enumerate(znames) if not zconst[j] and nm not in candidates]
        candidates = [nm for nm in candidates if (which != "psel" or nm in znames)
                      and (which != "xb" or nm in xnames)]
        if variables is None:
            variables = candidates
        else:
            variables = [variables] if isinstance(variables, str) else list(variables)
            unknown = [v for v in variables if v not in allnames]
            if unknown:
                raise ValueError(f"unknown variables {unknown}; terms are {sorted(allnames)}")
        gamma, beta, L, Jp = self._structural()
        sums = m._backend.map_sum(_heckman_margins, which, gamma, beta, L, specs, sample)
        n_used = float(sums[0])
        effects, jac, parts = [], [], []
        for v in variables:
            i = allnames.index(v)
            eff, J, ch = (x / n_used for x in sums[1 + 3 * i:4 + 3 * i])
            effects.append(float(eff))
            jac.append(J @ Jp)
            parts.append(tuple(ch))
        labels = {"ycond": ("direct", "selection"), "yexpected": ("conditional",
                                                                  "participation")}
        decomposition = pd.DataFrame(parts, index=variables,
                                     columns=list(labels.get(which, ("direct", "selection"))))
        y, s = m.endog_names, m.endog_select_name
        desc = {"ycond": f"E[{y} | {s} = 1]", "yexpected": f"P({s} = 1) E[{y} | {s} = 1]",
                "psel": f"P({s} = 1)", "xb": f"x'beta ({y})"}[which]
        return _inference.MarginalEffects(
            variables, effects, np.reshape(jac, (len(variables), -1)), self.cov_params(),
            which, at, desc, [], decomposition=decomposition, n_used=int(n_used))


# ---- average marginal effects (the distributed twin of _inference.index_margins) ----

def _describe_designs(designs, uses):
    """Per design: rows, column min and max, and whether each column is 0/1."""
    out = [np.array(float(len(designs[0])))]
    for x, used in zip(designs, uses):
        if not used or len(x) == 0:
            k = x.shape[1]
            out += [np.full(k, np.inf), np.full(k, -np.inf), np.zeros(k)]
            continue
        out += [x.min(axis=0), x.max(axis=0), (~np.isin(x, (0.0, 1.0))).sum(axis=0)]
    return out


def _margin_sums(designs, w, predict_fn, which, points, spec):
    """Weighted sums over the rows of each effect at each parameter point
    (``points``: ``[(betas, struct), ...]``; ``spec``: ``[(columns per design,
    dummy), ...]``), and the sum of the weights."""
    n = len(designs[0])
    out = np.zeros((len(points), len(spec)))

    def total(v):
        v = np.broadcast_to(v, (n,))
        return v.sum() if w is None else w @ v

    for i, (betas, struct) in enumerate(points):
        _, derivs = predict_fn(which, struct, designs, True)
        for k, (cols, dummy) in enumerate(spec):
            if dummy:
                hi = [x.copy() for x in designs]
                lo = [x.copy() for x in designs]
                for e, j in enumerate(cols):
                    if j is not None:
                        hi[e][:, j], lo[e][:, j] = 1.0, 0.0
                out[i, k] = total(predict_fn(which, struct, hi, False)
                                  - predict_fn(which, struct, lo, False))
                continue
            eff = 0.0
            for e, j in enumerate(cols):
                if j is not None:
                    eff = eff + derivs[e] * betas[e][j]
            out[i, k] = total(eff)
    return out, np.array(float(n if w is None else w.sum()))


def dask_index_margins(results, run, names, uses, structural, index_params, which, at,
                       dummy, description, variables, default_variables=None, at_means=None):
    """Average marginal effects summed over the partitions, as
    :func:`econderiv.models._inference.index_margins` with ``at="overall"``
    (the same terms, the same discrete changes, the same central-difference
    Jacobian: the parameter points statsmodels' ``approx_fprime`` visits are
    recorded first and evaluated in one pass).

    ``run(kind, *args)`` sums a partition function over the partitions:
    ``kind="describe"`` gives :func:`_describe_designs`' sums (min and max
    combined), ``kind="sums"`` :func:`_margin_sums` at the points.
    ``default_variables(where, describe)`` picks the reported terms when
    ``variables`` is None (default: every term). ``at_means(points, spec)``,
    when given, allows ``at="mean"``: the :func:`_margin_sums` at the
    regressors' (weighted) means, from one more pass."""
    from statsmodels.tools.numdiff import approx_fprime

    from econderiv.models import _inference

    if at not in ("overall", "mean"):
        raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
    if at == "mean" and at_means is None:
        raise NotImplementedError("on dask input this model's get_margeff averages over the "
                                  "rows (at='overall'); at='mean' is not available")
    n_eq = len(names)
    desc = run("describe")
    n_used = int(desc[0])
    where: dict = {}
    stats = []
    for e in range(n_eq):
        lo, hi, nonbinary = desc[1 + 3 * e:4 + 3 * e]
        stats.append((lo, hi, nonbinary))
        if not uses[e]:
            continue
        const = constant_from_range(lo, hi) if n_used else np.zeros(len(lo), bool)
        for j, nm in enumerate(names[e]):
            if not const[j]:
                where.setdefault(nm, [None] * n_eq)[e] = j
    if not where:
        raise ValueError("the model has no regressors other than constants")
    report = list(where)
    if variables is not None:
        variables = [variables] if isinstance(variables, str) else list(variables)
        unknown = [v for v in variables if v not in where]
        if unknown:
            raise ValueError(f"no marginal effect for {unknown}: the target {which!r} "
                             f"depends on {report}")
        report = variables
    elif default_variables is not None:
        report = default_variables(where, stats)
    spec = []
    for v in report:
        e = next(i for i, j in enumerate(where[v]) if j is not None)
        spec.append((where[v], bool(dummy) and at == "overall"
                     and stats[e][2][where[v][e]] == 0))
    params = np.asarray(results.params, dtype=float)
    visited = []

    def record(p):
        visited.append(np.array(p, dtype=float))
        return np.zeros(len(report))

    approx_fprime(params, record, centered=True)
    points = [(index_params(p), structural(p)) for p in visited]
    sums, total_w = run("sums", points, spec) if at == "overall" else at_means(points, spec)
    averages = sums / float(total_w)
    lookup = {p.tobytes(): averages[i] for i, p in enumerate(visited)}
    jac = np.atleast_2d(approx_fprime(params, lambda p: lookup[np.asarray(p).tobytes()],
                                      centered=True))
    return _inference.MarginalEffects(report, averages[0], jac, results.cov_params(), which,
                                      at, description, [v for v, (_, d) in zip(report, spec)
                                                        if d], None, n_used)


def _reduce_describe(parts, n_eq):
    """The describe pass's per-partition results combined: rows added, minima
    and maxima taken, counts of non-0/1 values (and any extra items) added."""
    parts = [p for p in parts if p is not None]
    out = [sum(p[0] for p in parts)]
    for e in range(n_eq):
        i = 1 + 3 * e
        out += [np.min([p[i] for p in parts], axis=0), np.max([p[i + 1] for p in parts], axis=0),
                sum(p[i + 2] for p in parts)]
    for i in range(1 + 3 * n_eq, len(parts[0])):
        out.append(sum(p[i] for p in parts))
    return out


def _gather(leaves):
    """Compute small per-partition results (a few ``k``-vectors each)."""
    import dask

    return list(dask.compute(*leaves))



def _margin_rows(part: Partition, selected_eq):
    """The partition's designs and weights over the rows whose regressors are
    all finite (and, with ``selected_eq``, where that equation's outcome is 1)."""
    rows = np.ones(part.n, dtype=bool)
    for X in part.Xs:
        rows &= np.isfinite(X).all(axis=1)
    if selected_eq is not None:
        rows &= part.ys[selected_eq] == 1
    return [X[rows] for X in part.Xs], None if part.w is None else part.w[rows]


def _bivariate_predict(kind, struct, designs, grad):
    """:func:`bivariate_prediction` of the two indices ``X_0 b_0``, ``X_1 b_1``
    (``struct = (b_0, b_1, rho)``), with its derivatives in them."""
    from econderiv.models._bvprobit_kernels import bivariate_prediction

    b0, b1, rho = struct
    out = bivariate_prediction(kind, designs[0] @ b0, designs[1] @ b1, rho, grad)
    return (out[0], list(out[1:])) if grad else out


def _bivariate_describe(part: Partition, selected_eq, uses):
    return tuple(_describe_designs(_margin_rows(part, selected_eq)[0], uses))


def _bivariate_margins(part: Partition, selected_eq, kind, points, spec):
    designs, w = _margin_rows(part, selected_eq)
    return _margin_sums(designs, w, _bivariate_predict, kind, points, spec)


def _design_sums(part: Partition, selected_eq):
    designs, w = _margin_rows(part, selected_eq)
    return (np.array(float(len(designs[0]) if w is None else w.sum())),
            *[(X.sum(axis=0) if w is None else w @ X) for X in designs])


def bivariate_margins(results, kind, which, at, dummy, variables, description, slices,
                      uses, selected_eq=None):
    """Average marginal effects of the two-index models (HeckProbit,
    BivariateProbit) on dask: :func:`dask_index_margins` with the partitions'
    designs in equation order (``slices[e]``: equation ``e``'s coefficients
    in params, ``params[-1]`` atanh rho); ``at="mean"`` evaluates at the
    (weighted) means from one more pass."""
    from dask import delayed

    m = results.model
    backend = m._backend

    def run(kind_of_pass, *args):
        if kind_of_pass == "describe":
            leaves = [delayed(_apply, pure=False)(_bivariate_describe, p, (selected_eq, uses))
                      for p in backend.parts]
            backend.passes += 1
            return _reduce_describe(_gather(leaves), 2)
        return backend.map_sum(_bivariate_margins, selected_eq, kind, *args)

    def at_means(points, spec):
        total, *sums = backend.map_sum(_design_sums, selected_eq)
        means = [np.atleast_2d(sm / float(total)) for sm in sums]
        return _margin_sums(means, None, _bivariate_predict, kind, points, spec)

    def structural(p):
        return (p[slice(*slices[0])], p[slice(*slices[1])], float(np.tanh(p[-1])))

    return dask_index_margins(results, run, m._eq_exog_names, uses, structural,
                              lambda p: list(structural(p)[:2]), which, at, dummy,
                              description, variables, at_means=at_means)


class _DaskHeckProbitResults:
    """HeckProbit results on dask: predictions as dask Series, average
    marginal effects summed over the partitions."""

    def predict(self, exog=None, exog_select=None, which: str = "pmargin"):
        """As in memory; with no new data (or a dask DataFrame) a dask Series
        computed partition by partition."""
        if exog is None and exog_select is None:
            return self.model.predict_dask(np.asarray(self.params), which)
        if is_dask(exog):
            return self.model.predict_dask(np.asarray(self.params), which, data=exog)
        return super().predict(exog, exog_select, which)

    def get_margeff(self, which: str = "pmargin", at: str = "overall", dummy: bool = False,
                    variables=None, sample: str = "all"):
        """As in memory (:meth:`HeckProbitResults.get_margeff`), summed over the
        partitions; ``dummy=True`` needs the rows."""
        kinds = {"pmargin": "pmarg1", "p11": "p11", "p10": "p10", "p01": "p01", "p00": "p00",
                 "psel": "pmarg2", "pcond": "pcond1"}
        if sample not in ("all", "selected"):
            raise ValueError(f"sample must be 'all' or 'selected', got {sample!r}")
        if which not in kinds:
            raise ValueError(f"which must be one of {list(kinds)}, got {which!r}")
        m = self.model
        kz, kx = m.k_select, m.k_outcome
        y, s = m.endog_name, m.endog_select_name
        labels = {"pmargin": f"P({y}=1)", "pcond": f"P({y}=1 | {s}=1)", "psel": f"P({s}=1)",
                  "p11": f"P({y}=1, {s}=1)", "p10": f"P({y}=1, {s}=0)",
                  "p01": f"P({y}=0, {s}=1)", "p00": f"P({y}=0, {s}=0)"}
        # the partitions hold (outcome, selection) designs; params are (selection, outcome)
        return bivariate_margins(self, kinds[which], which, at, dummy, variables,
                                 labels[which], [(kz, kz + kx), (0, kz)],
                                 (which != "psel", which != "pmargin"),
                                 1 if sample == "selected" else None)


class _DaskBivariateProbitResults:
    """BivariateProbit results on dask: predictions as dask Series, average
    marginal effects summed over the partitions."""

    def predict(self, exog=None, which: str = "p11"):
        """As in memory; with no new data (or a dask DataFrame) a dask Series
        computed partition by partition."""
        if exog is None:
            return self.model.predict_dask(np.asarray(self.params), which)
        if is_dask(exog):
            return self.model.predict_dask(np.asarray(self.params), which, data=exog)
        return super().predict(exog, which)

    def get_margeff(self, which: str = "p11", at: str = "overall", dummy: bool = False,
                    variables=None):
        """As in memory (:meth:`BivariateProbitResults.get_margeff`), summed
        over the partitions; ``dummy=True`` needs the rows."""
        kinds = ("p11", "p10", "p01", "p00", "pmarg1", "pmarg2", "pcond1", "pcond2", "xb1",
                 "xb2")
        if which not in kinds:
            raise ValueError(f"which must be one of {kinds}, got {which!r}")
        m = self.model
        y1, y2 = m._eq_names
        labels = {"p11": f"P({y1}=1, {y2}=1)", "pmarg1": f"P({y1}=1)",
                  "pmarg2": f"P({y2}=1)", "pcond1": f"P({y1}=1 | {y2}=1)",
                  "pcond2": f"P({y2}=1 | {y1}=1)"}
        return bivariate_margins(self, which, which, at, dummy, variables,
                                 labels.get(which, which), [(0, m.k1), (m.k1, m.k1 + m.k2)],
                                 (which not in ("pmarg2", "xb2"), which not in ("pmarg1", "xb1")))


class _DaskHeckProbit(_DaskSelection):

    def _restricted_fits(self):
        b = self._backend
        g, _, llf_g, conv_g = probit_fit(b, 1, None, self._n_probit)
        bb, _, llf_b, conv_b = probit_fit(b, 0, 1, self._n_selected_weighted)
        return [(g, llf_g, conv_g), (bb, llf_b, conv_b)]

    @property
    def start_params(self) -> np.ndarray:
        (g, _, _), (bb, _, _) = self._fit_restricted()
        sp, sq = self._backend.map_sum(_residual_products, (1, 0), 1, (g, bb))
        return np.concatenate([g, bb, [scoring_athrho(float(sp), float(sq))]])

    @staticmethod
    def _partition_prediction(part, params, which, ctx):
        from econderiv.models._bvprobit_kernels import bivariate_prediction

        kz, kx = ctx
        p = np.asarray(params)
        kinds = {"pmargin": "pmarg1", "p11": "p11", "p10": "p10", "p01": "p01", "p00": "p00",
                 "psel": "pmarg2", "pcond": "pcond1", "xb": "xb1", "xbsel": "xb2"}
        (_, _), (X, Z) = part.ys, part.Xs
        with np.errstate(invalid="ignore"):
            return pd.Series(bivariate_prediction(kinds[which], X @ p[kz:kz + kx], Z @ p[:kz],
                                                  float(np.tanh(p[-1]))), name=which)


class _DaskBivariateProbit(_DaskLikelihood):

    def _restricted_fits(self):
        b, n = self._backend, self._n_probit
        out = []
        for eq in (0, 1):
            params, _, llf, conv = probit_fit(b, eq, None, n)
            out.append((params, llf, conv))
        return out

    @property
    def start_params(self) -> np.ndarray:
        (b1, _, _), (b2, _, _) = self._fit_restricted()
        sp, sq = self._backend.map_sum(_residual_products, (0, 1), None, (b1, b2))
        return np.concatenate([b1, b2, [scoring_athrho(float(sp), float(sq))]])

    def _prediction_context(self):
        return (self.k1, self.k2)

    @staticmethod
    def _partition_prediction(part, params, which, ctx):
        from econderiv.models._bvprobit_kernels import bivariate_prediction

        k1, k2 = ctx
        p = np.asarray(params)
        (x1, x2) = part.Xs
        return pd.Series(bivariate_prediction(which, x1 @ p[:k1], x2 @ p[k1:k1 + k2],
                                              float(np.tanh(p[-1]))), name=which)


def _selection_model(cls, mixin, formula, selection, ddf, missing, binary_outcome, ancillary,
                     persist, weights, weight_kind):
    from econderiv.models import _data

    spec = partition_spec(cls, [formula, selection], ddf, missing, required_where=(1, None),
                          weights=weights)
    backend = DaskBackend(ddf, spec, persist)
    stats = summarize(backend, [binary_outcome, True], [1, None])
    (ey, es) = spec.equations
    yname, sname = ey.lhs, es.lhs
    st_out, st_sel = stats["eqs"]
    check_binary_eq(st_sel, f"the selection indicator {sname!r}")
    n, n1 = stats["n"], st_sel["n1"]
    if n1 == 0:
        raise ValueError(f"no selected rows: the selection indicator {sname!r} is 0 in all "
                         f"{n} rows, so the outcome equation cannot be estimated")
    if n1 == n:
        raise ValueError(f"no unselected rows: the selection indicator {sname!r} is 1 in all "
                         f"{n} rows; there is no selection to model")
    check_rank_gram(st_sel["xtx"], es.xnames, "the selection design (exog_select)")
    kx = len(ey.xnames)
    if n1 <= kx + 1:
        raise ValueError(f"only {n1} selected rows for {kx} outcome regressors plus the "
                         "selection correction")
    check_rank_gram(st_out["xtx"], ey.xnames,
                    f"the outcome design (exog) over the {n1} selected rows")
    if binary_outcome:
        check_binary_eq(st_out, f"the outcome {yname!r} (selected rows)")
        if st_out["n1"] in (0, st_out["n"]):
            raise ValueError(f"the outcome {yname!r} has no variation over the {n1} selected "
                             "rows; a probit equation needs both outcomes")
    Sub = dask_class(cls, mixin)
    m = Sub.__new__(Sub)
    m._backend = backend
    _template_data(m, yname, ey.xnames)
    m.endog = _OnWorkers((n,), "endog")
    m.exog = _OnWorkers((n, kx), "exog")
    for name in ("_sel", "_z", "_x", "_x0", "_y0", "endog_select", "exog_select"):
        setattr(m, name, _OnWorkers((n,), name))
    m.endog_name, m.endog_select_name = yname, sname
    m.exog_select_names = list(es.xnames)
    m._eq_exog_names = [list(ey.xnames), list(es.xnames)]
    m.row_labels, m.n_dropped, m._kept = None, stats["n_dropped"], None
    m.k_select, m.k_outcome = len(es.xnames), kx
    m.param_names = (_data.prefixed("selection", es.xnames) + _data.prefixed("outcome", ey.xnames)
                     + list(ancillary))
    m.data.param_names = m.param_names
    m.k_params = len(m.param_names)
    m._rho_index = m.k_select + m.k_outcome
    m.nobs, m._nrows = float(n), n
    m.nobs_selected, m.nobs_unselected = int(n1), int(n - n1)
    m._design_infos = list(spec.rhs_infos)
    m._formula_rhs = [formula.split("~", 1)[1], selection.split("~", 1)[1]]
    m._formula_frame = None
    m.formula, m.formula_select = formula, selection
    _weights_setup(m, weight_kind, stats, weights)
    m._n_probit = float(n if st_sel["w"] is None else st_sel["w"])
    m._n_selected_weighted = float(n1 if st_out["w"] is None else st_out["w"])
    x_const = constant_from_range(st_out["min"], st_out["max"])
    z_const = constant_from_range(st_sel["min"], st_sel["max"])
    m._outcome_constant = x_const
    m._select_constant_range = z_const
    m._restricted_cache = None
    m._derivs_cache = None
    m._blocks_cache = None
    if cls.__name__ == "Heckman" or any(c.__name__ == "Heckman" for c in cls.__mro__):
        m._excluded = any(nm not in ey.xnames for nm in es.xnames)
        m._results_class = dask_class(cls._results_class, _DaskHeckmanResults)
        m.df_model = float(kx - int(np.any(x_const)))
        m._twostep_cache = None
    else:
        m._results_class = dask_class(cls._results_class, _DaskHeckProbitResults)
        if not any(nm not in ey.xnames for nm in es.xnames):
            warnings.warn(
                "every selection regressor is also an outcome regressor: rho is identified "
                "only by the functional form (normality) and the likelihood may be flat in "
                "it. Add to the selection equation a variable that affects selection but "
                "not the outcome.", RuntimeWarning, stacklevel=_data.user_stacklevel())
        m.k_constant = int(x_const.sum() + z_const.sum())
        m.df_model = float(m.k_select + m.k_outcome - m.k_constant)
    m.df_resid = m.nobs - m.k_params
    return m


def _biprobit_model(cls, formulas, ddf, missing, persist, weights, weight_kind):
    from econderiv.models import _data

    if isinstance(formulas, str) or len(formulas) != 2:
        raise ValueError('formula must be a list of two formulas, '
                         '["y1 ~ x1 + x2", "y2 ~ x1 + x3"]')
    formulas = list(formulas)
    spec = partition_spec(cls, formulas, ddf, missing, weights=weights)
    backend = DaskBackend(ddf, spec, persist)
    stats = summarize(backend, [True, True], [None, None])
    e1, e2 = spec.equations
    n = stats["n"]
    for eq, st in zip(spec.equations, stats["eqs"]):
        check_binary_eq(st, eq.lhs)
        if st["n1"] in (0, st["n"]):
            raise ValueError(f"{eq.lhs} has no variation: all {st['n']} rows are "
                             f"{0 if st['n1'] == 0 else 1}; a probit equation needs both "
                             "outcomes")
        check_rank_gram(st["xtx"], eq.xnames, f"the {eq.lhs} equation")
    if e1.lhs == e2.lhs:
        raise ValueError(f"the outcomes have repeated names {[e1.lhs, e2.lhs]}")
    Sub = dask_class(cls, _DaskBivariateProbit)
    m = Sub.__new__(Sub)
    m._backend = backend
    m._eq_names = [e1.lhs, e2.lhs]
    m._eq_exog_names = [list(e1.xnames), list(e2.xnames)]
    m.k1, m.k2 = len(e1.xnames), len(e2.xnames)
    m.param_names = (_data.prefixed(e1.lhs, e1.xnames) + _data.prefixed(e2.lhs, e2.xnames)
                     + ["athrho"])
    _template_data(m, e1.lhs, m.param_names[:-1])
    m.data.param_names = m.param_names
    m.endog = _OnWorkers((n, 2), "endog")
    m.exog = _OnWorkers((n, m.k1 + m.k2), "exog")
    for name in ("_y1", "_y2", "_x1", "_x2"):
        setattr(m, name, _OnWorkers((n,), name))
    m.k_params = len(m.param_names)
    m.nobs, m._nrows = float(n), n
    m.n_dropped, m._kept, m.row_labels = stats["n_dropped"], None, None
    m._rho_index = m.k_params - 1
    (s1, s2) = stats["eqs"]
    m._eq_constants = [constant_from_range(s1["min"], s1["max"]),
                       constant_from_range(s2["min"], s2["max"])]
    m.k_constant = int(sum(c.sum() for c in m._eq_constants))
    m._results_class = dask_class(cls._results_class, _DaskBivariateProbitResults)
    m.df_model = float(m.k1 + m.k2 - m.k_constant)
    m.df_resid = m.nobs - m.k_params
    m._design_infos = list(spec.rhs_infos)
    m._formula_rhs = [f.split("~", 1)[1] for f in formulas]
    m._formula_frame = None
    m.formula = formulas
    _weights_setup(m, weight_kind, stats, weights)
    m.df_resid = m.nobs - m.k_params
    m._n_probit = float(n if stats["w"] is None else stats["w"])
    m._restricted_cache = None
    m._derivs_cache = None
    m._blocks_cache = None
    return m


_WEIGHT_KEYWORDS = {"freq_weights": "freq", "prob_weights": "prob",
                    "importance_weights": "importance"}


def _pop_weights(kwargs):
    given = [(k, kwargs.pop(k)) for k in list(kwargs) if k in _WEIGHT_KEYWORDS]
    given = [(k, v) for k, v in given if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of {list(_WEIGHT_KEYWORDS)}")
    if not given:
        return None, None
    key, col = given[0]
    if not isinstance(col, str):
        raise ValueError(f"with dask input {key} names a column of the dask DataFrame")
    return col, _WEIGHT_KEYWORDS[key]


# ---- dask arrays as endog / exog ------------------------------------------------

#: constructor arguments of each family that are data: (argument, equation role,
#: column prefix); roles: "lhs" j, "rhs" j, "lhs2" (two outcomes in one array)
ARRAY_ARGUMENTS = {
    "MNLogit": [("endog", "lhs", 0, "y"), ("exog", "rhs", 0, "x")],
    "Heckman": [("endog", "lhs", 0, "y"), ("exog", "rhs", 0, "x"),
                ("endog_select", "lhs", 1, "s"), ("exog_select", "rhs", 1, "z")],
    "HeckProbit": [("endog", "lhs", 0, "y"), ("exog", "rhs", 0, "x"),
                   ("endog_select", "lhs", 1, "s"), ("exog_select", "rhs", 1, "z")],
    "BivariateProbit": [("endog", "lhs2", 0, "y"), ("exog1", "rhs", 0, "x"),
                        ("exog2", "rhs", 1, "x")],
}


def has_dask_argument(args, kwargs) -> bool:
    """Whether a constructor call passes a dask collection."""
    return any(is_dask(a) for a in list(args) + list(kwargs.values()))


def _constant_columns(arrays: dict) -> dict:
    """For each 2-D array, which columns are constants (every value 1 or NaN,
    not all NaN): one pass over the arrays, for statsmodels' ``const`` name."""
    import dask
    import dask.array as da

    tests = {k: (((a == 1) | da.isnan(a)).all(axis=0), (~da.isnan(a)).any(axis=0))
             for k, a in arrays.items()}
    (out,) = dask.compute(tests)
    return {k: np.asarray(ones) & np.asarray(some) for k, (ones, some) in out.items()}


def from_arrays(cls, args, kwargs):
    """A family's model from dask arrays given to its constructor
    (``MNLogit(y, X)`` with ``y``, ``X`` dask arrays; the same for Heckman,
    HeckProbit and BivariateProbit).

    The arrays become the columns of a dask DataFrame (their row chunks
    aligned to the first array's) and the model is the one
    :func:`from_formula` builds on it, with statsmodels' names for array
    columns (``const`` for a column of ones, ``x1, x2, ...``; ``z1, ...`` for a
    selection equation). Finding the constant costs one pass over the
    arrays. Weights may be a dask array (``freq_weights=w``).
    """
    import inspect

    import dask.dataframe as dd

    _require_dask()
    names = [c.__name__ for c in cls.__mro__]
    family = next((f for f in ARRAY_ARGUMENTS if f in names), None)
    if family is None:
        raise NotImplementedError(f"{cls.__name__} does not take dask arrays; the families "
                                  f"that do: {list(ARRAY_ARGUMENTS)}")
    bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs).arguments
    extra = dict(bound.pop("kwargs", {}))
    bound.pop("self", None)
    missing = bound.pop("missing", extra.pop("missing", "none"))
    missing = "none" if missing is None else missing
    spec = ARRAY_ARGUMENTS[family]
    arrays = {}
    for arg, _, _, _ in spec:
        a = bound.pop(arg, None)
        if a is None:
            continue
        if isinstance(a, (pd.DataFrame, pd.Series, np.ndarray)) or not is_dask(a):
            raise ValueError(f"{arg} is not a dask array while other inputs are: give every "
                             "data argument as a dask array (or use from_formula with a dask "
                             "DataFrame)")
        if not hasattr(a, "chunks"):
            raise ValueError(f"{arg} is a dask {type(a).__name__}: pass dask arrays, or a dask "
                             "DataFrame to from_formula")
        a = a.astype(float)
        arrays[arg] = a[:, None] if a.ndim == 1 else a
        if arrays[arg].ndim != 2:
            raise ValueError(f"{arg} must be 1-D or 2-D, got {a.ndim} dimensions")
    weight_keys = [k for k in ("freq_weights", "prob_weights", "importance_weights")
                   if extra.get(k) is not None]
    for k in weight_keys:
        w = extra.pop(k)
        if not is_dask(w) or not hasattr(w, "chunks"):
            raise ValueError(f"{k} must be a dask array when the data are dask arrays")
        arrays["weights"] = w.astype(float).reshape(-1, 1)
        extra[k] = "weights"
    unknown = [k for k, v in list(bound.items()) + list(extra.items())
               if v is not None and k not in ("freq_weights", "prob_weights",
                                              "importance_weights")]
    if unknown:
        raise ValueError(f"argument(s) {sorted(unknown)} are not supported with dask arrays")
    rows = {k: a.shape[0] for k, a in arrays.items()}
    unknown = [k for k, r in rows.items() if np.isnan(r)]
    if unknown:
        raise ValueError(f"{unknown} have unknown chunk sizes (e.g. after boolean indexing); "
                         "call .compute_chunk_sizes() on them first")
    if len(set(rows.values())) > 1:
        raise ValueError(f"the dask arrays have different numbers of rows: {rows}")
    first = next(iter(arrays))
    chunks = arrays[first].chunks[0]
    consts = _constant_columns({k: a for k, a in arrays.items()
                                if k != "weights" and a.shape[1] > 0})
    frames, lhs, rhs_cols, shown = [], {}, {}, {}
    used = set()
    for arg, role, eq, prefix in spec:
        if arg not in arrays:
            continue
        a = arrays[arg].rechunk({0: chunks, 1: -1})
        if role in ("lhs", "lhs2"):
            k = a.shape[1]
            if role == "lhs" and k != 1:
                raise ValueError(f"{arg} must have one column, got {k}")
            if role == "lhs2" and k != 2:
                raise ValueError(f"{arg} must have two columns (the two outcomes), got {k}")
            cols = [prefix] if role == "lhs" else [f"{prefix}1", f"{prefix}2"]
            for j, c in enumerate(cols):
                lhs[eq + j] = c
        else:
            display, j = [], 0
            for is_const in consts[arg]:
                if is_const and "const" not in display:
                    display.append("const")
                else:
                    j += 1
                    display.append(f"{prefix}{j}")
            cols = [c if c not in used else f"{c}_eq{eq + 1}" for c in display]
            rhs_cols[eq], shown[eq] = cols, display
        used.update(cols)
        frames.append(dd.from_dask_array(a, columns=cols))
    if "weights" in arrays:
        frames.append(dd.from_dask_array(arrays["weights"].rechunk({0: chunks}),
                                          columns=["weights"]))
    ddf = dd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
    formulas = [f"{lhs[e]} ~ " + " + ".join(rhs_cols[e]) + " - 1" for e in sorted(rhs_cols)]
    token = _SHOWN_XNAMES.set([shown[e] for e in sorted(shown)])
    try:
        if family in ("Heckman", "HeckProbit"):
            return from_formula(cls, formulas[0], ddf, selection=formulas[1], missing=missing,
                                **extra)
        if family == "BivariateProbit":
            if len(formulas) == 1:  # exog2 omitted: both equations on exog1
                formulas.append(f"{lhs[1]} ~ " + " + ".join(rhs_cols[0]) + " - 1")
                _SHOWN_XNAMES.set([shown[0], shown[0]])
            return from_formula(cls, formulas, ddf, missing=missing, **extra)
        return from_formula(cls, formulas[0], ddf, missing=missing, **extra)
    finally:
        _SHOWN_XNAMES.reset(token)


#: family class name -> (module, builder) of the families whose dask hooks live in
#: their own module; ``builder(cls, formula, data, selection=, missing=, persist=,
#: weights=, weight_kind=, **family_keywords)`` returns the model
FAMILY_BUILDERS = {
    "MNLogit": ("econderiv.models._dask_mnlogit", "mnlogit_model"),
    "ChoiceLogit": ("econderiv.models._dask_choice", "choicelogit_model"),
    "SwitchingRegression": ("econderiv.models._dask_treatment", "switching_model"),
    "EndogenousTreatment": ("econderiv.models._dask_treatment", "treatment_model"),
}


def from_formula(cls, formula, data, selection=None, missing="drop", subset=None,
                 persist=False, **kwargs):
    """A family's model on a dask DataFrame (called by ``from_formula``).

    ``missing`` as in memory ("drop" drops incomplete rows in each
    partition, "raise"/"none" raise naming the partition and the columns);
    ``persist=True`` keeps the partitions' designs in worker memory (else
    every pass re-reads the source); weights name a column
    (``freq_weights="w"``). ``subset`` is not supported (filter the dask
    DataFrame first).
    """
    _require_dask()
    if subset is not None:
        raise ValueError("subset is not supported for dask input: filter the dask DataFrame "
                         "first (ddf[ddf.col > 0])")
    weights, kind = _pop_weights(kwargs)
    names = [c.__name__ for c in cls.__mro__]
    for family, (module, builder) in FAMILY_BUILDERS.items():
        if family in names:  # families whose dask hooks live in their own module
            import importlib

            build = getattr(importlib.import_module(module), builder)
            return build(cls, formula, data, selection=selection, missing=missing,
                         persist=persist, weights=weights, weight_kind=kind, **kwargs)
    if kwargs:
        raise ValueError(f"unknown keyword(s) for dask input: {sorted(kwargs)}")
    if "BivariateProbit" in names:
        return _biprobit_model(cls, formula, data, missing, persist, weights, kind)
    if selection is None:
        raise ValueError("the selection formula is needed (selection='s ~ z1 + z2')")
    if "Heckman" in names:
        return _selection_model(cls, _DaskHeckman, formula, selection, data, missing, False,
                                ["athrho", "lnsigma"], persist, weights, kind)
    if "HeckProbit" in names:
        return _selection_model(cls, _DaskHeckProbit, formula, selection, data, missing, True,
                                ["athrho"], persist, weights, kind)
    raise NotImplementedError(f"{cls.__name__} has no dask backend yet")


def _results_class_of(cls):
    """The family's results class (its module's ``<Name>Results``), looked up
    without importing the family module here (the layering rule)."""
    import sys

    for c in cls.__mro__:
        mod = sys.modules.get(c.__module__)
        found = getattr(mod, f"{c.__name__}Results", None)
        if found is not None:
            return found
    raise NotImplementedError(f"no results class for {cls.__name__}")
