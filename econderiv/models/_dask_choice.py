"""The conditional logit (ChoiceLogit) on dask partitions (see :mod:`econderiv.models._dask`).

The likelihood is a sum over cases (choice situations). Wide data (one row
per case) are row-separable as they stand. In long data (one row per case
and alternative) a case spans several rows, and a partition can evaluate
only the cases whose rows it holds entirely, so every case must lie within
one partition. That is checked before anything else: one pass reads the case
column only (each partition's first and last case id and whether its ids are
sorted); when the partitions are sorted by case and their ranges do not
overlap (``ddf.set_index(case)``, parquet files written by case) that settles
it, otherwise a dask groupby over each partition's distinct case ids (a
shuffle of at most one id per case and partition) finds the cases seen in
two partitions and the error names them and the partitions.

Each partition turns its rows into the padded case arrays of the in-memory
model (the family's own ``wide_to_long``, design and ``_CaseArrays`` code,
looked up through the model class: a family module is not imported here),
with the same missing-value rule, and sums the kernels of
:mod:`econderiv.models._choicelogit_kernels` over blocks of cases. One
summary pass returns the counts, the identification checks and Böhning's
bound ``B = sum_i w_i X_i' A_{J_i} X_i`` (computed once); each step of the
Böhning phase is one pass returning the log-likelihood and score only, each
Newton step one pass returning the Hessian too, so the fit takes the in-memory
fit's path. Robust covariances: ``HC0``/``HC1`` sum ``s_i s_i'`` over the
cases on the workers; one-way ``cluster`` sums the cases' scores by cluster
with a dask groupby (a cluster id must be constant within a case).

Predictions: choice probabilities as a dask DataFrame (one row per case);
predicted shares and elasticities are averages over the cases, summed on the
partitions. The Hausman-McFadden test refits on the partitions' case arrays
without the dropped alternative (transformed on the workers).
"""

from __future__ import annotations

import sys
import uuid
import warnings
from dataclasses import dataclass, field, replace
from itertools import pairwise
from types import SimpleNamespace

import numpy as np
import pandas as pd

from econderiv.models._choicelogit_kernels import (
    ChoiceBound,
    bohning_matrix,
    choicelogit_loglike_derivs,
    constant_within_cases,
    mean_elasticities,
    probabilities,
)
from econderiv.models._dask import (
    DaskBackend,
    _categories,
    _check_stateless,
    _column_examples,
    _DaskLikelihood,
    _design,
    _formula_columns,
    _learning_frame,
    _name_partitions_lacking_columns,
    _OnWorkers,
    _require_dask,
    _results_class_of,
    _weights_setup,
    WeightsOnWorkers,
    cluster_meat,
    dask_class,
    declared_categories,
    group_totals,
    is_dask,
    shuffle_method,
    tree_sum,
)

_BLOCK_BYTES = 16 * 2**20  # bytes targeted per block of cases (as the in-memory model)


def _family_module(cls):
    """The module defining ChoiceLogit (its data helpers), without importing it
    here (the layering rule: the class passed in has imported it)."""
    for c in cls.__mro__:
        if c.__name__ == "ChoiceLogit":
            return sys.modules[c.__module__]
    raise TypeError(f"{cls.__name__} is not a ChoiceLogit")


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


# ---------------------------------------------------------------------------
# What a worker needs, and the arrays of one partition
# ---------------------------------------------------------------------------

#: design information by ChoiceSpec.key, per process
_INFOS: dict = {}


@dataclass
class ChoiceSpec:
    """How a partition becomes case arrays: the formula's parts, the case,
    alternative and choice columns (long) or the ``varying`` map (wide), the
    declared alternatives, the categorical levels and the family's helpers.
    patsy's design information does not pickle: workers rebuild it from the
    learning ``frame`` (long rows with every categorical level declared)."""

    lhs: str
    alt_part: str
    case_part: str | None
    case: str | None
    case_in_index: bool
    alternative: str | None
    varying: dict | None
    wide_alternatives: list | None      # what wide_to_long gets (as in memory)
    alternatives: list                  # positions of the case arrays
    base: int
    xnames: list
    znames: list
    columns: list
    categories: dict
    missing: str
    weights: str | None
    frame: pd.DataFrame
    helpers: tuple                      # (wide_to_long, _designs, _CaseArrays)
    block_rows: int
    predict: bool = False
    key: str = ""                       # names the formula's designs in a worker's cache
    _infos: tuple = field(default=None, repr=False)

    def infos(self):
        """``(alternative part, case part)`` design information: learned once
        per process (a task's spec arrives unpickled, without it)."""
        if self._infos is None:
            cached = _INFOS.get(self.key) if self.key else None
            if cached is None:
                cached = self.helpers[1](self.alt_part, self.case_part, self.frame)[3]
                if self.key:
                    _INFOS[self.key] = cached
            self._infos = cached
        return self._infos

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_infos"] = None
        return state


@dataclass
class ChoicePartition:
    """One partition's cases: ``X (m, J, p)``, ``Z (m, q)``, ``avail``, ``y``,
    case weights or None, the case labels, and for every long row kept its
    input row (``src_rows``) and its case (``case_codes``)."""

    number: int
    X: np.ndarray
    Z: np.ndarray
    avail: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    case_labels: object
    src_rows: np.ndarray
    case_codes: np.ndarray
    n_input: int
    n_long: int
    n_dropped: int
    n_unavailable: int
    base: int
    block_rows: int

    @property
    def n(self) -> int:
        return len(self.y)

    def blocks(self):
        """``(kernel data, weights)`` over blocks of cases (bounded temporaries)."""
        for lo in range(0, self.n, self.block_rows):
            sl = slice(lo, lo + self.block_rows)
            yield ((self.X[sl], self.Z[sl], self.avail[sl], self.y[sl], self.base),
                   None if self.w is None else self.w[sl])

    def per_case(self, values, what: str):
        """A column given per input row as one value per case (constant within
        a case, else an error naming the partition and the case)."""
        v = np.asarray(values)[self.src_rows]
        out = np.empty(self.n, dtype=v.dtype)
        out[self.case_codes] = v
        back = out[self.case_codes]
        differ = ~((back == v) | (pd.isna(back) & pd.isna(v)))
        if differ.any():
            i = int(self.case_codes[np.flatnonzero(differ)[0]])
            raise ValueError(f"partition {self.number}: {what} must be constant within a case; "
                             f"it varies within case {_plain(self.case_labels[i])!r}")
        return out


def _empty_partition(spec: ChoiceSpec, number: int, n_input: int) -> ChoicePartition:
    J, p, q = len(spec.alternatives), len(spec.xnames), len(spec.znames)
    return ChoicePartition(number, np.zeros((0, J, p)), np.zeros((0, q)),
                           np.zeros((0, J), bool), np.zeros(0, np.int64), None, pd.Index([]),
                           np.zeros(0, np.int64), np.zeros(0, np.int64), n_input, 0, 0, 0,
                           spec.base, spec.block_rows)


def _declared(frame, spec: ChoiceSpec, number: int):
    """Categorical columns with their declared levels (values outside them: an
    error naming the partition and the column)."""
    return declared_categories(frame, spec.categories, number)


def _alternatives(values, alternatives):
    """``(labels as a Categorical over the declared alternatives, position
    codes)``; code -1 for a value not declared (or missing). The case arrays
    index a Categorical by its codes: several times faster than labels."""
    try:
        with warnings.catch_warnings():
            # pandas deprecates values outside the categories: those take the path below
            warnings.simplefilter("error")
            cat = pd.Categorical(values, categories=alternatives)
        return cat, cat.codes
    except (Warning, ValueError, TypeError):
        found = pd.Categorical(values)
        where = pd.Index(alternatives).get_indexer(found.categories)
        codes = np.where(found.codes >= 0, where[found.codes], -1)
        return pd.Categorical.from_codes(codes, categories=alternatives), codes


def _without_intercept(info) -> list:
    return [k for k, name in enumerate(info.column_names) if name != "Intercept"]


def _case_values(frame, spec: ChoiceSpec):
    return np.asarray(frame.index if spec.case_in_index else frame[spec.case])


def build_choice_partition(frame: pd.DataFrame, spec: ChoiceSpec,
                           number: int) -> ChoicePartition:
    """The case arrays of one partition (runs on a worker), with the in-memory
    model's missing rule; errors name the partition and the column."""
    wide_to_long, _, CaseArrays = spec.helpers
    lack = [c for c in spec.columns if c not in frame.columns]
    if lack:
        raise ValueError(f"partition {number} lacks the column(s) {lack} named by the "
                         "formula")
    n_input = len(frame)
    if n_input == 0:
        return _empty_partition(spec, number, 0)
    frame = _declared(frame[spec.columns].copy() if spec.categories else frame, spec, number)
    if spec.varying is not None:   # wide: one row per case; case ids are row positions
        labels = frame.index
        choice = None if spec.predict else spec.lhs
        if choice is not None:
            raw = frame[choice]
            unknown = raw.notna().to_numpy() & ~raw.isin(spec.alternatives).to_numpy()
            if unknown.any():
                raise ValueError(f"partition {number}: the choice column {choice!r} holds "
                                 f"{int(unknown.sum())} value(s) that are not declared "
                                 f"alternatives {spec.alternatives} "
                                 f"({_column_examples(raw[unknown])})")
        long = wide_to_long(frame.reset_index(drop=True), choice, spec.varying,
                            spec.wide_alternatives)
        for col, levels in spec.categories.items():   # wide_to_long drops the dtype
            if col in long.columns:
                long[col] = pd.Categorical(np.asarray(long[col], dtype=object),
                                           categories=levels)
        case = long["case"].to_numpy()
        alt, codes = _alternatives(long["alternative"], spec.alternatives)
        if (codes < 0).any():
            raise ValueError(f"partition {number}: varying names alternatives that are not "
                             f"declared ({_column_examples(long['alternative'][codes < 0])}; "
                             f"declared: {spec.alternatives})")
        src = case.astype(np.int64)
        chosen = None if choice is None else long["chosen"].to_numpy(dtype=float)
    else:
        long = frame
        case = _case_values(frame, spec)
        if pd.isna(case).any():
            raise ValueError(f"partition {number}: the case id {spec.case!r} is missing "
                             f"(NaN) in {int(pd.isna(case).sum())} rows")
        raw = frame[spec.alternative]
        alt, codes = _alternatives(raw, spec.alternatives)
        if (codes < 0).any() and raw.isna().any():
            raise ValueError(f"partition {number}: the alternative column "
                             f"{spec.alternative!r} is missing (NaN) in "
                             f"{int(raw.isna().sum())} rows")
        unknown = codes < 0
        if unknown.any():
            raise ValueError(f"partition {number}: the alternative column {spec.alternative!r} "
                             f"holds {int(unknown.sum())} row(s) of alternatives not declared "
                             f"({_column_examples(raw[unknown])}; declared: "
                             f"{spec.alternatives}); pass alternatives=[...] with every "
                             "alternative, or declare them as the column's categories")
        src = np.arange(n_input, dtype=np.int64)
        chosen = None
        if not spec.predict:
            c = frame[spec.lhs]
            chosen = pd.to_numeric(c.astype(float) if c.dtype == bool else c,
                                   errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    # the family's designs (_designs), with numeric columns taken as they are
    xinfo, zinfo = spec.infos()
    xalt = _design(xinfo, long)[:, _without_intercept(xinfo)]
    zc = (np.zeros((len(long), 0)) if zinfo is None
          else _design(zinfo, long)[:, _without_intercept(zinfo)])
    if spec.znames[:1] == ["Intercept"]:
        zc = np.hstack([np.ones((len(long), 1)), zc])
    n_dropped = n_unavailable = 0
    if spec.missing == "drop":
        bad_x = ~np.isfinite(xalt).all(axis=1)
        bad_case_row = ~np.isfinite(zc).all(axis=1)
        if chosen is not None:
            bad_case_row |= np.isnan(chosen) | (bad_x & (chosen == 1))
        # as in memory: a NaN attribute makes that alternative unavailable; a NaN
        # case regressor or choice, or a chosen alternative without attributes,
        # drops the case
        lost = pd.unique(case[bad_case_row])
        in_lost = np.isin(case, lost)
        keep = ~in_lost & ~bad_x
        n_dropped = len(lost)
        n_unavailable = int((bad_x & ~in_lost).sum())
        if not keep.all():
            xalt, zc, case, alt, src = xalt[keep], zc[keep], case[keep], alt[keep], src[keep]
            chosen = None if chosen is None else chosen[keep]
    for what, arr, names in (("attribute", xalt, spec.xnames), ("case regressor", zc,
                                                                 spec.znames)):
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = "rows" if spec.varying is None else "rows of the long data"
            cols = [f"{names[k]!r} ({int(n)} {rows})" for k, n in enumerate(bad.sum(axis=0))
                    if n]
            raise ValueError(f"partition {number}: missing (NaN or infinite) values in the "
                             f"{what}(s) {', '.join(cols)}. Drop those rows first or pass "
                             "missing='drop'")
    if chosen is not None and np.isnan(chosen).any():
        raise ValueError(f"partition {number}: the chosen indicator {spec.lhs!r} is missing in "
                         f"{int(np.isnan(chosen).sum())} rows; pass missing='drop' to drop "
                         "those cases")
    try:
        d = CaseArrays(xalt, zc, case, alt, chosen, spec.alternatives, spec.xnames,
                       spec.znames)
    except ValueError as err:
        raise ValueError(f"partition {number}: {err}") from None
    labels_out = (labels[np.asarray(d.case_labels, dtype=np.int64)]
                  if spec.varying is not None else d.case_labels)
    part = ChoicePartition(number, d.X, d.Z, d.avail, d.y, None, labels_out, src,
                           d.case_codes.astype(np.int64), n_input, len(case), n_dropped,
                           n_unavailable, spec.base, spec.block_rows)
    if spec.weights is not None:
        w = pd.to_numeric(frame[spec.weights], errors="coerce").to_numpy(float,
                                                                         na_value=np.nan)
        if len(src) and (~np.isfinite(w[src]) | (w[src] < 0)).any():
            bad = np.unique(src[~np.isfinite(w[src]) | (w[src] < 0)])
            raise ValueError(f"partition {number}: the weights {spec.weights!r} are missing "
                             f"or negative in {len(bad)} estimation rows")
        part.w = part.per_case(w, f"the weights {spec.weights!r}")
    return part


# ---------------------------------------------------------------------------
# The backend and the checks of the collection
# ---------------------------------------------------------------------------

class ChoiceBackend(DaskBackend):
    """:class:`~econderiv.models._dask.DaskBackend` whose partitions are case
    arrays (:func:`build_choice_partition`)."""

    build = staticmethod(build_choice_partition)


def _case_extent(frame, spec: ChoiceSpec, number: int):
    ids = _case_values(frame, spec)
    if len(ids) == 0:
        return {"number": number, "n": 0}
    s = pd.Series(ids)
    if s.isna().any():
        raise ValueError(f"partition {number}: the case id {spec.case!r} is missing (NaN) in "
                         f"{int(s.isna().sum())} rows")
    try:
        ordered = bool(s.is_monotonic_increasing)
    except TypeError:  # ids of mixed types: the groupby decides
        ordered = False
    return {"number": number, "n": len(ids), "first": ids[0], "last": ids[-1],
            "sorted": ordered}


def _case_table(frame, spec: ChoiceSpec, number: int, dtype):
    ids = pd.unique(pd.Series(_case_values(frame, spec), dtype=dtype))
    return pd.DataFrame({"case": pd.Series(ids, dtype=dtype),
                         "part": np.full(len(ids), number, dtype=np.int64)})


def _split_cases(table):
    split = table[table["count"] > 1]
    examples = [(_plain(c), int(r["min"]), int(r["max"])) for c, r in split.head(3).iterrows()]
    return np.array(len(split)), examples


def check_cases_within_partitions(ddf, spec: ChoiceSpec, what: str = "the data"):
    """Raise when a case's rows lie in more than one partition (module
    docstring: one pass over the case column, and a groupby of the distinct
    case ids per partition unless the partitions are sorted and disjoint).
    Also raises naming the partitions with zero rows. Returns the passes."""
    import dask
    import dask.dataframe as dd
    from dask import delayed

    # only the case column is read (with a set index, any column brings it)
    frames = ddf[[spec.columns[0] if spec.case_in_index else spec.case]].to_delayed()
    try:
        ext = list(dask.compute(*[delayed(_case_extent, pure=False)(f, spec, i)
                                  for i, f in enumerate(frames)]))
    except KeyError:  # a partition whose columns differ from the collection's
        _name_partitions_lacking_columns(SimpleNamespace(ddf=ddf, spec=spec))
        raise
    empty = [e["number"] for e in ext if e["n"] == 0]
    if empty:
        raise ValueError(f"partition(s) {empty[:10]} of the dask DataFrame have zero rows "
                         f"({len(empty)} of {len(ext)}); remove them first, e.g. "
                         "ddf = ddf.repartition(npartitions=...) or rebuild the collection "
                         "without empty files")
    try:
        disjoint = all(e["sorted"] for e in ext) and all(
            bool(a["last"] < b["first"]) for a, b in pairwise(ext))
    except TypeError:  # case ids that do not order
        disjoint = False
    if disjoint or len(ext) == 1:
        return 1
    dtype = ddf.index.dtype if spec.case_in_index else ddf[spec.case].dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    meta = pd.DataFrame({"case": pd.Series([], dtype=dtype),
                         "part": pd.Series([], dtype=np.int64)})
    table = dd.from_delayed([delayed(_case_table, pure=False)(f, spec, i, dtype)
                             for i, f in enumerate(frames)], meta=meta, verify_meta=False)
    counts = table.groupby("case")["part"].agg(["min", "max", "count"],
                                               split_out=max(1, len(ext)),
                                               shuffle_method=shuffle_method())
    n_split, examples = tree_sum([delayed(_split_cases, pure=False)(piece)
                                  for piece in counts.to_delayed()]).compute()
    if int(n_split):
        c, lo, hi = examples[0]
        where = f"index {spec.case!r}" if spec.case_in_index else f"column {spec.case!r}"
        raise ValueError(
            f"{int(n_split)} case(s) of {what} have rows in two or more partitions (e.g. case "
            f"{c!r}, {where}, in partitions {lo} and {hi}): the conditional logit's "
            "likelihood is a sum over cases, and a case is evaluated within one partition. "
            f"Put each case's rows in one partition: ddf = ddf.set_index({spec.case!r}) "
            f"(sorts by case), ddf = ddf.shuffle(on={spec.case!r}), or write the parquet "
            "files partitioned by case")
    return 2


# ---------------------------------------------------------------------------
# Sums over the partitions' cases
# ---------------------------------------------------------------------------

def _choice_sums(part: ChoicePartition, params, order):
    """``(sum w_i l_i, sum w_i s_i, sum w_i H_i)`` (order 1: no Hessian)."""
    ll, score, hess = 0.0, None, None
    for data, w in part.blocks():
        l_i, s, h = choicelogit_loglike_derivs(params, *data, order, None, False, w)
        ll += float(l_i.sum() if w is None else w @ l_i)
        score = s if score is None else score + s
        if order >= 2:
            hess = h if hess is None else hess + h
    return np.array(ll), score, hess


def _choice_score_sums(part: ChoicePartition, params):
    """A pass of Böhning's phase: ``(sum w_i l_i, sum w_i s_i, None)``."""
    return _choice_sums(part, params, 1)


def _choice_hessian_sums(part: ChoicePartition, params):
    """A pass of Newton's phase: the log-likelihood, score and Hessian sums."""
    return _choice_sums(part, params, 2)


def _choice_meat(part: ChoicePartition, params, weight_kind):
    """``sum_i c_i s_i s_i'`` with the meat's weights (as
    :func:`econderiv.models._dask._meat_sums`)."""
    out = 0.0
    for data, w in part.blocks():
        S = choicelogit_loglike_derivs(params, *data, 1, None, True)[1]
        if w is None:
            out = out + S.T @ S
        elif weight_kind == "freq":
            out = out + (S.T * w) @ S
        else:
            G = S * w[:, None]
            out = out + G.T @ G
    return (out,)


def _choice_score_rows(part: ChoicePartition, params):
    """Per-case score contributions ``w_i s_i`` of a partition."""
    return np.vstack([choicelogit_loglike_derivs(params, *data, 1, None, True)[1]
                      * (1.0 if w is None else w[:, None]) for data, w in part.blocks()])


def _choice_score_frame(frame, part: ChoicePartition, rows_fn, args, group_cols, k):
    """The partition's score totals by cluster (a cluster id per case; for
    :func:`econderiv.models._dask.cluster_meat`)."""
    cols = [f"s{i}" for i in range(k)]
    gnames = [f"g{j}" for j in range(len(group_cols))]
    if part.n == 0:
        return pd.DataFrame({**{g: pd.Series([], dtype=frame[c].dtype)
                                for g, c in zip(gnames, group_cols)},
                             **{c: pd.Series([], dtype=float) for c in cols}})
    out = pd.DataFrame(rows_fn(part, *args), columns=cols)
    for j, col in enumerate(group_cols):
        raw = frame[col].to_numpy()
        missing = pd.isna(raw[part.src_rows])
        if missing.any():
            raise ValueError(f"partition {part.number}: the cluster column {col!r} is "
                             f"missing in {int(missing.sum())} estimation rows")
        out.insert(j, gnames[j], part.per_case(raw, f"the cluster column {col!r}"))
    return group_totals(out, gnames)


def _choice_stats(part: ChoicePartition, n_alt: int):
    """The summary pass: counts, Böhning's bound, the attributes that vary
    within some case, chosen and available counts per alternative."""
    p = part.X.shape[2]
    bound = None
    for (X, Z, avail, _, base), w in part.blocks():
        b = bohning_matrix(X, Z, avail, base, w)
        bound = b if bound is None else bound + b
    varies = (~constant_within_cases(part.X, part.avail) if p and part.n
              else np.zeros(p, dtype=bool))
    w = part.w
    return {"number": part.number, "n_input": part.n_input, "n": part.n, "n_long": part.n_long,
            "n_dropped": part.n_dropped, "n_unavailable": part.n_unavailable, "bound": bound,
            "varies": varies, "chosen": np.bincount(part.y, minlength=n_alt),
            "offered": part.avail.sum(axis=0),
            "w": None if w is None else float(w.sum()),
            "w_nonint": 0 if w is None else int(np.sum(w != np.round(w)))}


def _choice_probabilities(part: ChoicePartition, params, alternatives):
    P = np.vstack([probabilities(params, X, Z, avail, base)
                   for (X, Z, avail, _, base), _ in part.blocks()]) if part.n else \
        np.zeros((0, len(alternatives)))
    P = np.where(part.avail, P, np.nan)
    return pd.DataFrame(P, index=part.case_labels, columns=alternatives)


def _share_sums(part: ChoicePartition, params, weighted=True):
    tot, wsum = 0.0, 0.0
    for (X, Z, avail, _, base), w in part.blocks():
        w = w if weighted else None
        P = probabilities(params, X, Z, avail, base)
        tot = tot + (P.sum(axis=0) if w is None else w @ P)
        wsum += float(len(P) if w is None else w.sum())
    return tot, np.array(wsum)


def _elasticity_sums(part: ChoicePartition, params, attr):
    """Sums over cases of the elasticities and of their Jacobian, and the
    counts of cases offering both alternatives (the in-memory averages'
    numerators and denominators)."""
    out = None
    for (X, Z, avail, _, base), _ in part.blocks():
        E, jac = mean_elasticities(params, X, Z, avail, base, attr)
        cnt = (avail[:, :, None] & avail[:, None, :]).sum(axis=0)
        some = cnt > 0
        piece = (np.where(some, E * cnt, 0.0), cnt,
                 np.where(some[:, :, None], jac * cnt[:, :, None], 0.0))
        out = piece if out is None else tuple(a + b for a, b in zip(out, piece))
    return out


def _without_alternative(part: ChoicePartition, j: int) -> ChoicePartition:
    """The partition without alternative ``j``: cases that chose it dropped,
    cases left with fewer than two alternatives dropped (as in memory). Its
    rows are not mapped back to the input rows (no cluster column)."""
    keep = np.flatnonzero(part.y != j)
    others = [k for k in range(part.avail.shape[1]) if k != j]
    avail = part.avail[keep][:, others]
    keep = keep[avail.sum(axis=1) >= 2]
    y = part.y[keep]
    empty = np.zeros(0, np.int64)
    return ChoicePartition(part.number, part.X[keep][:, others], part.Z[keep],
                           part.avail[keep][:, others], y - (y > j),
                           None if part.w is None else part.w[keep], part.case_labels[keep],
                           empty, empty, part.n_input, int(part.avail[keep][:, others].sum()),
                           0, 0, part.base - int(part.base > j), part.block_rows)


def _attribute_sums(part: ChoicePartition):
    return part.X.sum(axis=0), part.avail.sum(axis=0), part.Z.sum(axis=0), np.array(part.n)


# ---------------------------------------------------------------------------
# The model and results on dask
# ---------------------------------------------------------------------------

class _DaskChoiceLogit(_DaskLikelihood):
    """Distributed hooks of the conditional logit: every sum over cases on the
    partitions (log-likelihood and score for Böhning's phase; with the
    Hessian for Newton's), the bound summed once, covariances and
    predictions on the workers; the IIA test's restricted model from the
    partitions' case arrays."""

    _backend: ChoiceBackend = None

    def _run(self, params, order, llobs, per_obs):
        if per_obs:
            raise NotImplementedError("per-case scores of a dask model stay on the workers; "
                                      "robust covariances are summed there (fit(cov_type=))")
        params = np.asarray(params, float)
        key = params.tobytes()
        if self._pass_cache is None or self._pass_cache[0] != key:
            self._pass_cache = (key, self._backend.map_sum(_choice_hessian_sums, params))
        ll, score, hess = self._pass_cache[1]
        return np.atleast_1d(ll), score, hess

    def _loglike_score(self, params):
        """One pass of Böhning's phase: the log-likelihood and the score only."""
        ll, score, _ = self._backend.map_sum(_choice_score_sums, np.asarray(params, float))
        return float(ll), score

    def bohning_bound(self) -> np.ndarray:
        """``B``, summed over the partitions in the summary pass."""
        return self._bound

    @property
    def bohning(self) -> ChoiceBound:
        return self._bohning[1]

    def fit(self, *args, **kwargs):
        """As the in-memory ``fit`` (Böhning's phase, then Newton), every sum
        over cases computed on the partitions; ``mle_retvals["passes"]``
        counts the passes over the data."""
        res = super().fit(*args, **kwargs)
        r = res._results
        if isinstance(r.mle_retvals, dict):
            r.mle_retvals = dict(r.mle_retvals, passes=self._backend.passes)
        return res

    def _dask_meat(self, params):
        (meat,) = self._backend.map_sum(_choice_meat, params, self.weight_type)
        return meat

    def _dask_cluster_meat(self, params, groups):
        return cluster_meat(self._backend, _choice_score_rows, (params,), groups, len(params),
                            score_frame=_choice_score_frame)

    # -- predictions -------------------------------------------------------------
    def _prediction_parts(self, data):
        """The partitions of the estimation data, or of new dask data (checked
        as the estimation data: cases within partitions, declared
        alternatives)."""
        from dask import delayed

        if data is None:
            return self._backend.parts
        spec = self._backend.spec
        cols = [c for c in spec.columns if c not in (spec.lhs, spec.weights)]
        spec = replace(spec, predict=True, weights=None, missing="raise", columns=cols,
                       _infos=None)
        lack = [c for c in cols if c not in data.columns]
        if lack:
            raise ValueError(f"the new data lack the column(s) {lack}")
        if spec.varying is None:
            check_cases_within_partitions(data, spec, "the new data")
        return [delayed(build_choice_partition, pure=True)(f, spec, i)
                for i, f in enumerate(data[cols].to_delayed())]

    def predict_dask(self, params, which="probabilities", data=None):
        """Choice probabilities (cases x alternatives, NaN where unavailable)
        as a dask DataFrame, partition by partition, at the estimation data
        or at new dask data."""
        import dask.dataframe as dd
        from dask import delayed

        if which not in (None, "probabilities"):
            raise ValueError(f"which must be 'probabilities', got {which!r}")
        params = np.asarray(params, float)
        pieces = [delayed(_choice_probabilities, pure=False)(p, params, self.alternatives)
                  for p in self._prediction_parts(data)]
        meta = pd.DataFrame({a: pd.Series([], dtype=float) for a in self.alternatives},
                            columns=self.alternatives)
        return dd.from_delayed(pieces, meta=meta, verify_meta=False)

    def probabilities(self, params, data=None):
        """As in memory; at the estimation data or new dask data a dask
        DataFrame (one row per case), at new pandas data a DataFrame."""
        if data is None or is_dask(data):
            return self.predict_dask(params, data=data)
        return super().probabilities(params, data)

    def _drop_alternative(self, alt):
        """The model on the choice sets without ``alt`` (cases that chose it
        dropped), for the IIA test: the partitions' case arrays transformed on
        the workers, then the summary pass of a new model (as in memory)."""
        from dask import delayed

        j = self.alternatives.index(alt)
        b = self._backend
        spec = replace(b.spec, alternatives=[a for a in b.spec.alternatives if a != alt],
                       base=b.spec.base - int(b.spec.base > j), _infos=None)
        sub = ChoiceBackend.__new__(ChoiceBackend)
        sub.__dict__.update(ddf=b.ddf, spec=spec, frames=b.frames, persist=b.persist,
                            npartitions=b.npartitions, passes=0, pass_log=[],
                            parts=[delayed(_without_alternative, pure=True)(p, j)
                                   for p in b.parts])
        stats = _summarize(sub, len(spec.alternatives))
        return _build_model(self._family_class, sub, spec, stats, self.asc, spec.weights,
                            self.weight_type, self.formula)


class _DaskChoiceLogitResults:
    """ChoiceLogit results on dask: probabilities as a dask DataFrame, predicted
    shares and elasticities as averages summed over the partitions."""

    def predicted_shares(self, data=None) -> pd.Series:
        """The (weighted) mean probability of each alternative over the cases
        (unavailable counts as 0), summed on the partitions; new data (dask
        or pandas) are averaged unweighted, as in memory."""
        m = self.model
        params = np.asarray(self.params, float)
        if data is not None and not is_dask(data):
            return super().predicted_shares(data)
        if data is None:
            tot, wsum = m._backend.map_sum(_share_sums, params)
        else:
            from dask import delayed

            from econderiv.models._dask import _apply

            tot, wsum = tree_sum([delayed(_apply, pure=False)(_share_sums, p, (params, False))
                                  for p in m._prediction_parts(data)]).compute()
        return pd.Series(tot / float(wsum), index=m.alternatives, name="share")

    def elasticities(self, attribute: str, at: str = "overall", stderr: bool = False):
        """As in memory (:meth:`ChoiceLogitResults.elasticities`), the averages
        over cases (``at="overall"``) or the attributes' means (``at="mean"``)
        summed on the partitions."""
        m = self.model
        if attribute not in m.alt_names:
            raise ValueError(f"{attribute!r} is not an alternative-specific attribute "
                             f"({m.alt_names})")
        k = m.alt_names.index(attribute)
        params = np.asarray(self.params, float)
        if at == "overall":
            sum_E, cnt, sum_jac = m._backend.map_sum(_elasticity_sums, params, k)
            with np.errstate(invalid="ignore", divide="ignore"):
                E = np.where(cnt > 0, sum_E / cnt, np.nan)
                jac = sum_jac / cnt[:, :, None]
            jac[cnt == 0] = np.nan
        elif at == "mean":
            xsum, cnt, zsum, n = m._backend.map_sum(_attribute_sums)
            X = (xsum / np.maximum(cnt, 1)[:, None])[None]
            Z = (zsum / float(n))[None]
            E, jac = mean_elasticities(params, X, Z, (cnt > 0)[None], m.base, k)
        else:
            raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
        idx = pd.Index(m.alternatives, name="P of")
        cols = pd.Index(m.alternatives, name=f"{attribute} of")
        frame = pd.DataFrame(E, index=idx, columns=cols)
        if not stderr:
            return frame
        V = np.asarray(self.cov_params(), float)
        se = np.sqrt(np.clip(np.einsum("jca,ab,jcb->jc", jac, V, jac), 0, None))
        return frame, pd.DataFrame(se, index=idx, columns=cols)


# ---------------------------------------------------------------------------
# from_formula on a dask DataFrame
# ---------------------------------------------------------------------------

def _sorted(values):
    values = list(values)
    try:
        return sorted(values)
    except TypeError:
        return values


def _unique_values(ddf, col) -> list:
    return list(pd.unique(np.asarray(
        ddf[col].dropna().unique(shuffle_method=shuffle_method()).compute(), dtype=object)))


def choicelogit_model(cls, formula, ddf, selection=None, missing="raise", persist=False,
                      weights=None, weight_kind=None, case=None, alternative=None,
                      varying=None, alternatives=None, base=None, **kwargs):
    """The conditional logit on the dask DataFrame ``ddf`` (``from_formula``;
    the keywords as in memory). Long data: ``case`` (a column, or the index
    after ``ddf.set_index(case)``) and ``alternative`` columns, every case's
    rows within one partition; wide data: ``varying``."""
    _require_dask()
    if selection is not None:
        raise ValueError("ChoiceLogit has no selection equation")
    if kwargs:
        raise ValueError(f"unknown keyword(s) for ChoiceLogit on dask input: {sorted(kwargs)}")
    if missing not in ("none", "drop", "raise"):
        raise ValueError(f"missing must be one of ('none', 'drop', 'raise'), got {missing!r}")
    mod = _family_module(cls)
    helpers = (mod.wide_to_long, mod._designs, mod._CaseArrays)
    lhs, alt_part, case_part = mod._split_formula(formula)
    columns = list(ddf.columns)
    if lhs not in columns:
        raise ValueError(f"the left side {lhs!r} must be a column of the dask DataFrame "
                         f"(its columns: {columns})")
    wide = varying is not None
    case_in_index = False
    if wide:
        maps = {a: (dict(c) if isinstance(c, dict) else list(c)) for a, c in varying.items()}
        used = [c for cols in maps.values() for c in (cols.values() if isinstance(cols, dict)
                                                       else cols)]
        lack = [c for c in used if c not in columns]
        if lack:
            raise ValueError(f"varying names column(s) {lack} that the dask DataFrame does not "
                             "have")
        known = columns + [a for a in maps if a not in columns]
        needed = [lhs] + used
        case = alternative = None
    else:
        if case is None or alternative is None:
            raise ValueError("long data need case= and alternative= (column names); wide "
                             "data need varying=")
        case_in_index = case not in columns and ddf.index.name == case
        for c in ([] if case_in_index else [case]) + [alternative]:
            if c not in columns:
                raise ValueError(f"column {c!r} is not in the dask DataFrame (its columns: "
                                 f"{columns})")
        known = columns
        needed = [lhs, alternative] + ([] if case_in_index else [case])
    used_cols, unknown = [], []
    for piece in (alt_part, case_part):
        if piece:
            cols, unk = _formula_columns(f"{lhs} ~ {piece}", known)
            used_cols += [c for c in cols if c not in used_cols]
            unknown += [u for u in unk if u not in unknown]
    if unknown:
        raise ValueError(f"the formula names column(s) {unknown} that the dask DataFrame does "
                         f"not have (its columns: {columns})")
    design_cols = [c for c in used_cols if c in columns and c not in needed]
    cols = needed + design_cols + ([weights] if weights is not None and weights not in
                                   needed + design_cols else [])
    if weights is not None and weights not in columns:
        raise ValueError(f"the weights column {weights!r} is not in the dask DataFrame")
    levels = _categories(ddf, [c for c in design_cols if c not in (lhs, alternative)])
    # the alternatives: declared (alternatives=, a categorical's categories) or one pass
    if wide:
        first = next(iter(maps.values()))
        wide_alts = (list(alternatives) if alternatives is not None else
                     None if isinstance(first, dict) else _sorted(_unique_values(ddf, lhs)))
        offered = wide_alts if wide_alts is not None else list(first)
        alts = list(alternatives) if alternatives is not None else _sorted(offered)
    else:
        wide_alts = None
        dt = ddf[alternative].dtype
        if alternatives is not None:
            alts = list(alternatives)
        elif isinstance(dt, pd.CategoricalDtype) and ddf[alternative].cat.known:
            alts = _sorted(dt.categories)
        else:
            alts = _sorted(_unique_values(ddf, alternative))
    if len(alts) < 2:
        raise ValueError(f"a choice needs at least 2 alternatives, got {alts}")
    if base is not None and base not in alts:
        raise ValueError(f"base {base!r} is not an alternative ({alts})")
    base_pos = 0 if base is None else alts.index(base)
    with warnings.catch_warnings():  # a first partition shorter than the rows asked for
        warnings.filterwarnings("ignore", message="Insufficient elements for `head`")
        head = _learning_frame(ddf, cols, levels)
    if wide:
        long_head = helpers[0](head.reset_index(drop=True), lhs, varying, wide_alts)
        for c, lv in levels.items():
            if c in long_head.columns:
                long_head[c] = pd.Categorical(np.asarray(long_head[c], dtype=object),
                                              categories=lv)
        if len(long_head) == 0:
            raise ValueError("the first rows of the wide data offer no alternative with "
                             "complete attributes; the design cannot be learned")
    else:
        long_head = head
    xa, asc, zc, infos = helpers[1](alt_part, case_part, long_head)
    for info in infos:
        if info is not None:
            _check_stateless(info, formula)
    xnames = list(xa.columns)
    znames = (["Intercept"] if asc else []) + ([] if zc is None else list(zc.columns))
    J, p, q = len(alts), len(xnames), len(znames)
    per_case = max(1, J * (3 * p + 4) + (J * J + q * q + q) * 2) * 8
    spec = ChoiceSpec(lhs, alt_part, case_part, case, case_in_index, alternative,
                      varying if wide else None, wide_alts, alts, base_pos, xnames, znames,
                      cols, levels, missing, weights, long_head, helpers,
                      max(256, getattr(mod, "_BLOCK_BYTES", _BLOCK_BYTES) // per_case),
                      key=uuid.uuid4().hex)
    case_passes = 0 if wide else check_cases_within_partitions(ddf, spec)
    backend = ChoiceBackend(ddf, spec, persist)
    backend.passes += case_passes
    stats = _summarize(backend, J)
    model = _build_model(cls, backend, spec, stats, asc, weights, weight_kind, formula)
    model._design_infos = list(infos)
    model._spec = {"case": case, "alternative": alternative,
                   "wide": {"choice": lhs, "varying": varying} if wide else None,
                   "alt_part": alt_part, "case_part": case_part}
    return model


def _summarize(backend: ChoiceBackend, n_alt: int) -> dict:
    import dask
    from dask import delayed

    try:
        stats = list(dask.compute(*[delayed(_choice_stats, pure=False)(p, n_alt)
                                    for p in backend.parts]))
    except KeyError:  # a partition whose columns differ from the collection's
        _name_partitions_lacking_columns(backend)
        raise
    backend.passes += 1
    empty = [s["number"] for s in stats if s["n_input"] == 0]
    if empty:
        raise ValueError(f"partition(s) {empty[:10]} of the dask DataFrame have zero rows "
                         f"({len(empty)} of {len(stats)}); remove them first, e.g. "
                         "ddf = ddf.repartition(npartitions=...) or rebuild the collection "
                         "without empty files")
    total = {key: sum(s[key] for s in stats)
             for key in ("n", "n_long", "n_dropped", "n_unavailable", "chosen", "offered")}
    total["bound"] = sum(s["bound"] for s in stats if s["bound"] is not None)
    total["varies"] = np.any([s["varies"] for s in stats], axis=0)
    total["w"] = None if stats[0]["w"] is None else sum(s["w"] for s in stats)
    total["w_nonint"] = [s["number"] for s in stats if s["w_nonint"]]
    total["rows"] = [s["n"] for s in stats]
    return total


def _build_model(cls, backend, spec: ChoiceSpec, stats, asc, weights, weight_kind, formula):
    from statsmodels.base.model import LikelihoodModel

    from econderiv.models._choicelogit_kernels import nonbase
    from econderiv.models._mnlogit_kernels import collinear_columns

    n = int(stats["n"])
    alts, xnames, znames = spec.alternatives, spec.xnames, spec.znames
    J, p = len(alts), len(xnames)
    if n == 0:
        raise ValueError("no cases left to fit (every case was dropped for missing values)")
    never = [alts[j] for j in np.flatnonzero(stats["offered"] == 0)]
    if never:
        raise ValueError(f"alternative(s) {never} are declared but never available in any "
                         "case; remove them from alternatives= (or the categories of "
                         f"{spec.alternative!r})")
    const = ~stats["varies"] if p else np.zeros(0, bool)
    if const.any():
        bad = [xnames[k] for k in np.flatnonzero(const)]
        raise ValueError(f"alternative-specific attribute(s) {bad} do not vary over the "
                         "alternatives of any case: their coefficients are not identified "
                         "(a constant within every case cancels from the choice "
                         "probabilities). Drop them, or interact them with the "
                         "alternatives as case-specific regressors ('| x').")
    Sub = dask_class(cls, _DaskChoiceLogit)
    m = Sub.__new__(Sub)
    m._backend = backend
    m.alternatives = list(alts)
    m.base = spec.base
    m.base_alternative = alts[spec.base]
    m.alt_names, m.case_names = list(xnames), list(znames)
    m.asc = asc
    m.param_names = list(xnames) + [f"{alts[j]}:{z}" for j in nonbase(J, spec.base)
                                    for z in znames]
    m.k_params = len(m.param_names)
    m.nobs, m._nrows = float(n), n
    m.row_labels, m._kept, m._long_keep = None, None, None
    m.block_rows = spec.block_rows
    LikelihoodModel.__init__(m, pd.Series([0.0], name="chosen"), None, missing="none",
                             hasconst=False)
    m.data.param_names = m.param_names
    m.endog = _OnWorkers((n,), "endog")
    for name, shape in (("_X", (n, J, p)), ("_Z", (n, len(znames))), ("_avail", (n, J)),
                        ("_y", (n,)), ("_case_codes", (int(stats["n_long"]),))):
        setattr(m, name, _OnWorkers(shape, name))
    m.k_constant = int(asc)
    m.df_model = float(m.k_params - (J - 1) * int(asc))
    m.n_dropped, m.n_unavailable, m.n_long = (int(stats["n_dropped"]),
                                              int(stats["n_unavailable"]),
                                              int(stats["n_long"]))
    m._derivs_cache = m._blocks_cache = m._pass_cache = None
    m._restricted_cache = None
    _weights_setup(m, weight_kind, {"n": n, "w": stats["w"], "w_nonint": stats["w_nonint"]},
                   weights)
    if weight_kind is not None:
        m.weights = WeightsOnWorkers(n, stats["w"])
    m.df_resid = m.nobs - m.k_params
    B = stats["bound"]
    bad = collinear_columns(B)
    bound = None
    if not bad:
        try:
            bound = ChoiceBound(B)
        except np.linalg.LinAlgError:
            bad = [m.k_params - 1]
    if bad:
        names = [m.param_names[k] for k in bad]
        raise ValueError(f"the model is not identified: parameter(s) {names} are linear "
                         "combinations of earlier ones over the choice sets (a regressor "
                         "collinear with others, or a case-specific regressor that is "
                         "constant); drop the offending regressor")
    m._bound = B
    m._bohning = (None, bound)
    m.formula = formula
    m._formula_frame_long = None
    m._results_class = dask_class(_results_class_of(cls), _DaskChoiceLogitResults)
    m._chosen_counts = stats["chosen"]
    m._family_class = cls
    return m


__all__ = [
    "ChoiceBackend",
    "ChoicePartition",
    "ChoiceSpec",
    "build_choice_partition",
    "check_cases_within_partitions",
    "choicelogit_model",
]
