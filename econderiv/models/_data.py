"""One path from arrays, pandas or formulas to aligned design matrices.

Every family builds its designs here, so that names, missing-value rules,
index alignment and input checks are the same everywhere:

* :func:`as_matrix`, :func:`as_vector`: array-like or pandas input to float
  arrays with names (arrays get statsmodels' names ``const, x1, x2, ...``,
  the counter skipping the constant) and the pandas index;
* :func:`align_inputs`: pandas inputs are matched by index label, never
  silently by position;
* :func:`formula_design`, :func:`lhs_design`, :func:`subset_rows`,
  :func:`new_design`: formulas through patsy (statsmodels' engine), ``subset=``
  by index label, designs for prediction on new data;
* :func:`prepare_selection`, :func:`prepare_equations`: the multi-equation
  inputs of the selection and bivariate models, with statsmodels'
  ``missing=`` rules per equation (a regressor of an equation may be missing
  where that equation is not observed);
* checks that name the column or count at fault: :func:`check_binary`,
  :func:`check_variation`, :func:`check_full_rank`, :func:`check_magnitude`,
  :func:`has_exclusion`, :func:`warn_perfect_prediction`;
* observation weights with Stata's meanings (:func:`pop_weights`,
  :func:`prepare_weights`, :class:`Weights`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "MISSING",
    "user_stacklevel",
    "prefixed",
    "as_matrix",
    "as_vector",
    "align_inputs",
    "formula_design",
    "lhs_design",
    "subset_rows",
    "new_design",
    "labelled",
    "constant_columns",
    "nan_columns",
    "check_missing_rule",
    "check_finite",
    "check_binary",
    "check_variation",
    "check_full_rank",
    "check_magnitude",
    "has_exclusion",
    "warn_perfect_prediction",
    "SelectionInputs",
    "prepare_selection",
    "EquationInputs",
    "prepare_equations",
    "WEIGHT_KEYWORDS",
    "Weights",
    "pop_weights",
    "weights_from_data",
    "formula_weights",
    "prepare_weights",
]

MISSING = ("none", "drop", "raise")
_PACKAGE_DIR = __file__.rsplit("/models/", 1)[0]


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first frame outside
    econderiv (the user's line), however deep in the package it is issued;
    call it from the function that calls ``warnings.warn``."""
    import sys

    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level
#: beyond this magnitude squares overflow and designs cannot be used as given
_HUGE = 1e150


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------

def prefixed(prefix: str, names: Sequence[str]) -> list[str]:
    """``["prefix:name", ...]``, the parameter naming convention."""
    return [f"{prefix}:{n}" for n in names]


def _array_names(arr: np.ndarray, prefix: str) -> list[str]:
    """statsmodels' names for array columns: ``const`` for the first column of
    ones, ``{prefix}1, {prefix}2, ...`` for the others."""
    names, j = [], 0
    for col in arr.T:
        # NaN compares unequal: a constant with missing values is a column of 1 or NaN
        if "const" not in names and col.size and (col[0] == 1.0 or np.isnan(col[0])) \
                and np.all((col == 1.0) | np.isnan(col)) \
                and not np.all(np.isnan(col)):
            names.append("const")
        else:
            j += 1
            names.append(f"{prefix}{j}")
    return names


def as_matrix(x, what: str, prefix: str = "x"):
    """``(array (n, k) float, names, index or None)`` from array-like or pandas."""
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        names = [str(c) for c in x.columns]
        bad = [n for n, dt in zip(names, x.dtypes)
               if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))]
        if bad:
            raise ValueError(f"{what} has non-numeric column(s) {bad}; encode them as 0/1 "
                             "dummies or use from_formula with C(...)")
        return x.to_numpy(dtype=float, na_value=np.nan), names, x.index
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numeric: {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got {arr.ndim} dimensions")
    return arr, _array_names(arr, prefix), None


def as_vector(x, what: str, default: str):
    """``(1-D float array, name, index or None)``; booleans become 0/1 and
    non-numeric values are an error naming the count."""
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise ValueError(f"{what} must be a single column, got {x.shape[1]} columns")
        x = x.iloc[:, 0]
    if isinstance(x, pd.Series):
        name = default if x.name is None else str(x.name)
        if x.dtype == bool or (x.dtype == object and x.map(type).eq(bool).all()):
            x = x.astype(float)
        vals = pd.to_numeric(x, errors="coerce")
        bad = vals.isna() & x.notna()
        if bad.any():
            ex = ", ".join(map(repr, pd.unique(x[bad])[:5]))
            raise ValueError(f"{what} {name!r} must be numeric: {int(bad.sum())} rows hold "
                             f"other values ({ex})")
        return vals.to_numpy(dtype=float, na_value=np.nan), name, x.index
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    return arr, default, None


def align_inputs(inputs: Sequence[tuple[str, np.ndarray, pd.Index | None]]):
    """Check lengths and match pandas inputs by index label.

    ``inputs`` are ``(what, array, index or None)``. Inputs whose indexes
    hold the same labels in another order are reordered to the first pandas
    input's order; different labels or duplicated labels in a different
    order are an error (rows are never paired silently by position). Returns
    ``(arrays, index or None)``.
    """
    lengths = {what: len(arr) for what, arr, _ in inputs}
    if len(set(lengths.values())) != 1:
        raise ValueError("the inputs must have the same number of rows, got "
                         + ", ".join(f"{k} {v}" for k, v in lengths.items()))
    ref = next(((what, idx) for what, _, idx in inputs if idx is not None), None)
    out = []
    for what, arr, idx in inputs:
        if idx is None or ref is None or idx.equals(ref[1]):
            out.append(arr)
            continue
        if not (idx.is_unique and ref[1].is_unique):
            raise ValueError(f"the pandas indexes of {ref[0]} and {what} differ and hold "
                             "duplicate labels, so rows cannot be matched; reset the indexes "
                             "or pass arrays")
        if len(idx.symmetric_difference(ref[1])):
            raise ValueError(f"the pandas indexes of {ref[0]} and {what} hold different "
                             "labels; align the inputs first (e.g. with .reindex) or pass "
                             "arrays")
        out.append(arr[idx.get_indexer(ref[1])])
    return out, None if ref is None else ref[1]


# ---------------------------------------------------------------------------
# Formulas
# ---------------------------------------------------------------------------

def subset_rows(data: pd.DataFrame, subset) -> pd.DataFrame:
    """Rows of ``data`` selected by ``subset``: index labels, or a boolean mask
    (a boolean Series is aligned by index label, a boolean array by position
    and must have one entry per row)."""
    if subset is None:
        return data
    if isinstance(subset, pd.Series) and subset.dtype == bool:
        if not subset.index.equals(data.index):
            subset = subset.reindex(data.index, fill_value=False)
        return data.loc[subset.to_numpy()]
    arr = np.asarray(subset)
    if arr.dtype == bool:
        if len(arr) != len(data):
            raise ValueError(f"a boolean subset needs one entry per row of data ({len(data)}), "
                             f"got {len(arr)}")
        return data.loc[arr]
    labels = list(subset)
    missing = pd.Index(labels).difference(data.index)
    if len(missing):
        raise ValueError(f"subset holds {len(missing)} labels that are not in the index of "
                         f"data (e.g. {list(missing[:3])})")
    return data.loc[labels]


def formula_design(formula: str, data: pd.DataFrame):
    """Evaluate ``"y ~ x1 + x2"`` with patsy (the engine statsmodels uses).

    Returns ``(y, X, yname)`` over *all* rows of ``data``: rows are not
    dropped here, so several equations stay aligned; missing values remain as
    NaN for the caller's ``missing`` rule. ``y`` is ``None`` for a one-sided
    formula; ``X.design_info`` serves predictions on new data.
    """
    import patsy

    lhs, rhs = formula.split("~", 1) if "~" in formula else ("", formula)
    na = patsy.NAAction(NA_types=[])
    X = patsy.dmatrix(rhs, data, NA_action=na, return_type="dataframe")
    X.index = data.index
    if not lhs.strip():
        return None, X, None
    ymat = patsy.dmatrix(lhs.strip() + " - 1", data, NA_action=na, return_type="dataframe")
    if ymat.shape[1] != 1:
        raise ValueError(f"the left-hand side {lhs.strip()!r} must be a single numeric "
                         f"column, got {list(ymat.columns)}")
    y = ymat.iloc[:, 0]
    y.index = data.index
    return y, X, str(ymat.columns[0])


def lhs_design(formula: str, data: pd.DataFrame, what: str = "formula"):
    """``(y, X, yname)`` of a two-sided formula; a left-hand side that is a
    column of ``data`` is taken as is (so a boolean or string indicator stays
    one column, checked later with a message naming it)."""
    if "~" not in formula or not formula.split("~", 1)[0].strip():
        raise ValueError(f"the {what} {formula!r} needs a dependent variable on the left, "
                         "e.g. 'y ~ x1 + x2'")
    lhs = formula.split("~", 1)[0].strip()
    if lhs in data.columns:
        _, X, _ = formula_design(formula.split("~", 1)[1], data)
        return data[lhs].rename(lhs), X, lhs
    y, X, name = formula_design(formula, data)
    return y.rename(name), X, name


def new_design(exog, k: int, names: Sequence[str], what: str, design_info=None):
    """Regressor matrix of one equation for prediction on new data.

    A DataFrame goes through the equation's formula (``design_info``) or is
    matched by column names; arrays must have ``k`` columns. Returns
    ``(array, index or None)``.
    """
    if isinstance(exog, pd.DataFrame):
        if design_info is not None:
            import patsy
            (mat,) = patsy.build_design_matrices([design_info], exog,
                                                 NA_action=patsy.NAAction(NA_types=[]),
                                                 return_type="dataframe")
            return np.asarray(mat, dtype=float), exog.index
        lack = [c for c in names if c not in exog.columns]
        if lack:
            raise ValueError(f"{what} lacks the column(s) {lack}")
        return exog[list(names)].to_numpy(dtype=float), exog.index
    index = exog.index if isinstance(exog, pd.Series) else None
    arr = np.asarray(exog, dtype=float)
    arr = arr[None, :] if arr.ndim == 1 else arr
    if arr.shape[1] != k:
        raise ValueError(f"{what} has {arr.shape[1]} columns, the equation has {k} "
                         f"({', '.join(names)})")
    return arr, index


def labelled(values: np.ndarray, index, name: str):
    """A Series with the data's index when there is one of the right length
    (pandas in, pandas out), else the array."""
    if index is not None and len(index) == len(values):
        return pd.Series(values, index=index, name=name)
    return values


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

def constant_columns(x: np.ndarray) -> np.ndarray:
    """Boolean mask of columns that are constant and non-zero (intercepts)."""
    if x.shape[0] == 0:
        return np.zeros(x.shape[1], dtype=bool)
    return np.all(x == x[:1], axis=0) & (x[0] != 0)


def nan_columns(x: np.ndarray, names: Sequence[str], rows=None) -> list[str]:
    """``["name (k rows)", ...]`` for the columns of ``x[rows]`` holding NaN or inf."""
    x = np.asarray(x, dtype=float)
    x = x.reshape(len(x), -1)
    bad = ~np.isfinite(x if rows is None else x[rows])
    return [f"{names[j]} ({int(bad[:, j].sum())} rows)" for j in range(x.shape[1])
            if bad[:, j].any()]


def check_missing_rule(missing: str) -> str:
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    return missing


def check_finite(x: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise naming the columns of ``x`` that hold NaN or inf."""
    cols = nan_columns(x, names)
    if cols:
        raise ValueError(f"{what} has NaN or infinite values in: {', '.join(cols)}; "
                         "drop those rows or pass missing='drop'")


def check_binary(y, name: str) -> np.ndarray:
    """``y`` as a float 0/1 array, or raise naming ``name`` and the count."""
    arr = np.asarray(y)
    if arr.dtype == bool:
        return arr.astype(float)
    arr = np.asarray(arr, dtype=float)
    bad = ~np.isin(arr, (0.0, 1.0))
    if bad.any():
        examples = ", ".join(f"{v:g}" for v in pd.unique(arr[bad])[:5])
        raise ValueError(f"{name} must be binary (0/1): {int(bad.sum())} rows hold other "
                         f"values ({examples})")
    return arr


def check_variation(y: np.ndarray, name: str) -> None:
    """Raise when a binary outcome takes one value only."""
    if y.size == 0:
        raise ValueError(f"{name} has no rows")
    if np.all(y == y[0]):
        raise ValueError(f"{name} has no variation: all {y.size} rows are {y[0]:g}; "
                         "a probit equation needs both outcomes")


def check_magnitude(x: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise naming the columns whose values are too large to square
    (``|x| > 1e150``): such data give overflow, not estimates."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    with np.errstate(invalid="ignore"):
        big = np.nanmax(np.where(np.isfinite(x), np.abs(x), 0.0), axis=0, initial=0.0)
    bad = [f"{names[j]} (up to {big[j]:.3g})" for j in range(x.shape[1]) if big[j] > _HUGE]
    if bad:
        raise ValueError(f"{what} has values too large to compute with in: {', '.join(bad)}; "
                         "check the data for coding errors or rescale these columns "
                         "(e.g. divide by a power of 10)")


def check_full_rank(x: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise if the columns of ``x`` are linearly dependent, naming them."""
    x = np.asarray(x, dtype=float)
    if x.shape[0] < x.shape[1]:
        raise ValueError(f"{what} has {x.shape[1]} columns but only {x.shape[0]} rows")
    with np.errstate(over="ignore"):
        scale = np.sqrt((x * x).sum(axis=0))
    if not np.all(np.isfinite(scale)):  # squares overflow: name the columns
        check_magnitude(x, names, what)
        bad = [names[j] for j in np.flatnonzero(~np.isfinite(scale))]
        raise ValueError(f"{what} has columns whose sums of squares overflow: {bad}; "
                         "rescale them (e.g. divide by a power of 10)")
    zero = scale == 0
    if zero.any():
        cols = [names[j] for j in np.flatnonzero(zero)]
        raise ValueError(f"{what} is rank deficient: column(s) {cols} are all zero")
    xs = x / scale
    # xs = QR: R has the singular values and right singular vectors of xs
    _, s, vt = np.linalg.svd(np.linalg.qr(xs, mode="r"))
    tol = s[0] * max(x.shape) * np.finfo(float).eps * 1e3
    null = vt[s <= tol]
    if null.size:
        involved = sorted({names[j] for row in null for j in np.flatnonzero(np.abs(row) > 1e-6)})
        raise ValueError(f"{what} is rank deficient (rank {int((s > tol).sum())} of "
                         f"{x.shape[1]}): the columns {involved} are linearly dependent; "
                         "drop one of them")


def has_exclusion(z_sel: np.ndarray, x_sel: np.ndarray, tol: float = 1e-8) -> bool:
    """True if some selection regressor lies outside the span of the outcome
    regressors over the selected rows (relative residual above ``tol`` when
    each column of ``z`` is regressed on ``x``): an exclusion restriction."""
    coef = np.linalg.lstsq(x_sel, z_sel, rcond=None)[0]
    resid = z_sel - x_sel @ coef
    scale = np.sqrt((z_sel * z_sel).sum(axis=0)) + 1e-300
    return bool(np.any(np.sqrt((resid * resid).sum(axis=0)) / scale > tol))


def warn_perfect_prediction(y, x: np.ndarray, names: Sequence[str], yname: str) -> list[str]:
    """Warn when a single regressor predicts a binary outcome perfectly.

    For each non-constant column: complete separation (a threshold on the
    column splits the rows with ``y = 0`` from those with ``y = 1``) and, for
    columns with two values, quasi-complete separation (one value occurs with
    one outcome only). Separation by a combination of regressors is not
    detected here. Returns the messages (also issued as one ``RuntimeWarning``).
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    messages: list[str] = []
    pos = y == 1
    if pos.all() or not pos.any():
        return messages
    for j, name in enumerate(names):
        col = x[:, j]
        lo, hi = col.min(), col.max()
        if lo == hi:
            continue
        c1, c0 = col[pos], col[~pos]
        if c0.max() < c1.min() or c1.max() < c0.min():
            messages.append(f"{name!r} separates {yname} completely (a threshold on it "
                            f"predicts every {yname} exactly)")
            continue
        if np.all((col == lo) | (col == hi)):
            for v in (lo, hi):
                at = col == v
                ys = y[at]
                if ys.min() == ys.max():
                    messages.append(f"{name!r} == {v:g} predicts {yname} = {ys[0]:g} "
                                    f"perfectly ({int(at.sum())} rows)")
    if messages:
        warnings.warn(
            "perfect prediction: " + "; ".join(messages) + ". The maximum-likelihood "
            "estimate of such a coefficient is infinite and the fit will not converge "
            "properly: drop the regressor (and the rows it predicts), or combine categories.",
            RuntimeWarning, stacklevel=user_stacklevel())
    return messages


# ---------------------------------------------------------------------------
# Multi-equation inputs
# ---------------------------------------------------------------------------

@dataclass
class SelectionInputs:
    """Selection-model inputs after the missing rule and the checks.

    ``y`` (n,) holds NaN where ``s = 0``; ``X`` (n, k_x) may hold NaN where
    ``s = 0``; ``kept`` is the mask of input rows kept (``n_dropped`` of them
    were dropped under ``missing="drop"``).
    """

    y: np.ndarray
    X: np.ndarray
    s: np.ndarray
    Z: np.ndarray
    yname: str
    sname: str
    xnames: list
    znames: list
    index: pd.Index
    kept: np.ndarray
    n_dropped: int
    excluded: bool = field(default=True)

    @property
    def selected(self) -> np.ndarray:
        return self.s == 1


def prepare_selection(endog, exog, endog_select, exog_select, missing: str = "none",
                      binary_outcome: bool = False) -> SelectionInputs:
    """Validate and align the four inputs of a selection model.

    Rows with NaN in ``s`` or ``z``, or in ``y`` or ``x`` where ``s = 1``
    raise a ``ValueError`` naming the columns (``missing`` "none" or "raise")
    or are dropped ("drop"), with a warning when selected rows are dropped
    for a missing outcome (the selection equation's sample changes). ``y``
    and ``x`` may be anything where ``s = 0``.
    """
    check_missing_rule(missing)
    y, yname, iy = as_vector(endog, "the outcome", "y")
    s, sname, is_ = as_vector(endog_select, "the selection indicator", "s")
    X, xnames, ix = as_matrix(exog, "exog", "x")
    Z, znames, iz = as_matrix(exog_select, "exog_select", "z")
    (y, X, s, Z), index = align_inputs([("endog", y, iy), ("exog", X, ix),
                                        ("endog_select", s, is_), ("exog_select", Z, iz)])
    index = pd.RangeIndex(len(y)) if index is None else index
    sel = s == 1
    bad_s = np.isnan(s)
    bad_z = ~np.isfinite(Z).all(axis=1)
    bad_y = sel & ~np.isfinite(y)
    bad_x = sel & ~np.isfinite(X).all(axis=1)
    drop = bad_s | bad_z | bad_y | bad_x
    n_dropped = int(drop.sum())
    if n_dropped and missing != "drop":
        parts = []
        if bad_s.any():
            parts.append(f"the selection indicator {sname!r} ({int(bad_s.sum())} rows)")
        if bad_z.any():
            parts.append("the selection regressors: " + ", ".join(nan_columns(Z, znames, bad_z)))
        if bad_y.any():
            parts.append(f"the outcome {yname!r} for {int(bad_y.sum())} selected rows "
                         f"({sname} = 1); it may be missing only where {sname} = 0")
        if bad_x.any():
            parts.append("the outcome regressors of selected rows: "
                         + ", ".join(nan_columns(X, xnames, bad_x)))
        raise ValueError("missing (NaN or infinite) values in " + "; ".join(parts)
                         + ". Pass missing='drop' to drop those rows.")
    n_sel_dropped = int((bad_y & ~bad_s & ~bad_z).sum())
    if n_sel_dropped:
        warnings.warn(
            f"{n_sel_dropped} selected rows ({sname} = 1) have a missing outcome {yname!r} "
            "and were dropped (missing='drop'): the selection equation is estimated without "
            f"them. If the outcome is unobserved there, code {sname} = 0 for those rows.",
            RuntimeWarning, stacklevel=user_stacklevel())
    kept = ~drop
    if n_dropped:
        y, s, X, Z, index = y[kept], s[kept], X[kept], Z[kept], index[kept]
    s = check_binary(s, f"the selection indicator {sname!r}")
    sel = s == 1
    n1, n0 = int(sel.sum()), int((~sel).sum())
    if n1 == 0:
        raise ValueError(f"no selected rows: the selection indicator {sname!r} is 0 in all "
                         f"{n0} rows, so the outcome equation cannot be estimated")
    if n0 == 0:
        raise ValueError(f"no unselected rows: the selection indicator {sname!r} is 1 in all "
                         f"{n1} rows; there is no selection to model")
    check_magnitude(y[sel], [yname], "the outcome")
    check_full_rank(Z, znames, "the selection design (exog_select)")
    X1 = X[sel]
    if n1 <= X.shape[1] + 1:
        raise ValueError(f"only {n1} selected rows for {X.shape[1]} outcome regressors plus "
                         "the selection correction")
    check_full_rank(X1, xnames, f"the outcome design (exog) over the {n1} selected rows")
    if binary_outcome:
        y1 = check_binary(y[sel], f"the outcome {yname!r} (selected rows)")
        check_variation(y1, f"the outcome {yname!r} over the {n1} selected rows")
    y = np.where(sel, y, np.nan)
    return SelectionInputs(y, X, s, Z, yname, sname, list(xnames), list(znames), index,
                           kept, n_dropped, has_exclusion(Z[sel], X1))


@dataclass
class EquationInputs:
    """Inputs of a system of equations observed on the same rows."""

    ys: list
    Xs: list
    ynames: list
    xnames: list
    index: pd.Index | None
    kept: np.ndarray
    n_dropped: int


def prepare_equations(endog, exogs: Sequence, missing: str = "none",
                      what: Sequence[str] = ("exog1", "exog2")) -> EquationInputs:
    """Outcomes (an ``(n, m)`` array or DataFrame) and one design per equation,
    aligned, with statsmodels' ``missing`` rule over all of them."""
    check_missing_rule(missing)
    ymat, ynames, yindex = as_matrix(endog, "endog", "y")
    if yindex is None:
        ynames = [f"y{j + 1}" for j in range(ymat.shape[1])]
    if len(set(ynames)) != len(ynames):
        raise ValueError(f"the outcomes have repeated names {ynames}")
    mats = [as_matrix(x, w) for x, w in zip(exogs, what)]
    arrays, index = align_inputs([("endog", ymat, yindex)]
                                 + [(w, m[0], m[2]) for w, m in zip(what, mats)])
    ymat, xs = arrays[0], arrays[1:]
    xnames = [m[1] for m in mats]
    bad = ~np.isfinite(ymat).all(axis=1)
    for x in xs:
        bad |= ~np.isfinite(x).all(axis=1)
    if bad.any() and missing != "drop":
        cols = nan_columns(ymat, ynames)
        for x, names in zip(xs, xnames):
            cols += [c for c in nan_columns(x, names) if c not in cols]
        raise ValueError(f"{int(bad.sum())} rows have missing (NaN or infinite) values in: "
                         + ", ".join(cols) + ". Pass missing='drop' to drop those rows.")
    kept = ~bad
    if bad.any():
        ymat, xs = ymat[kept], [x[kept] for x in xs]
        index = index[kept] if index is not None else None
    ys = [check_binary(ymat[:, j], ynames[j]) for j in range(ymat.shape[1])]
    return EquationInputs(ys, xs, list(ynames), xnames, index, kept, int(bad.sum()))


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

#: constructor keyword -> weight type, with Stata's meanings
WEIGHT_KEYWORDS = {"freq_weights": "freq", "prob_weights": "prob",
                   "importance_weights": "importance"}


@dataclass
class Weights:
    """Validated observation weights over the estimation rows.

    ``kind`` is ``"freq"`` (Stata's fweight: each row stands for ``w_i``
    identical rows; integers; ``nobs = sum w``), ``"prob"`` (pweight: the
    inverse of the row's sampling probability; ``nobs`` is the number of
    rows and the covariance is a sandwich) or ``"importance"`` (iweight: the
    log-likelihood is ``sum w_i l_i`` and nothing more is implied; ``nobs =
    sum w``, as Stata reports it).
    """

    values: np.ndarray
    kind: str
    keyword: str

    @property
    def nobs(self) -> float:
        return float(len(self.values)) if self.kind == "prob" else float(self.values.sum())


def pop_weights(kwargs: dict, where: str):
    """Take the weight keywords out of a constructor's ``kwargs``.

    Returns ``(keyword, value)`` or ``None``; more than one kind, or
    ``weights=`` (whose meaning differs between statsmodels' models), is an
    error that says which keywords exist.
    """
    if "weights" in kwargs:
        raise TypeError(f"{where} takes freq_weights=, prob_weights= or importance_weights= "
                        "(Stata's fweight, pweight and iweight), not weights=")
    given = [(k, kwargs.pop(k)) for k in list(WEIGHT_KEYWORDS) if k in kwargs]
    given = [(k, v) for k, v in given if v is not None]
    if len(given) > 1:
        raise ValueError(f"{where}: give one kind of weights, got {[k for k, _ in given]}")
    return given[0] if given else None


def weights_from_data(spec, data: pd.DataFrame):
    """In ``from_formula``, a weight given as a column name is that column."""
    if spec is None:
        return None
    key, value = spec
    if isinstance(value, str):
        if value not in data.columns:
            raise KeyError(f"{key}={value!r}: no such column in data"
                           f"{_closest_column(value, data.columns)}")
        value = data[value]
    return key, value


def formula_weights(kwargs: dict, data: pd.DataFrame) -> None:
    """In ``from_formula``: a weight keyword given as a column name becomes
    that column of ``data`` (in place)."""
    for key in WEIGHT_KEYWORDS:
        if isinstance(kwargs.get(key), str):
            kwargs[key] = weights_from_data((key, kwargs[key]), data)[1]


def _closest_column(name, columns) -> str:
    import difflib

    near = difflib.get_close_matches(str(name), [str(c) for c in columns], n=1, cutoff=0.5)
    return f" (did you mean {near[0]!r}?)" if near else ""


def prepare_weights(spec, nobs: int, kept=None, row_labels=None) -> Weights | None:
    """Validate weights and align them to the ``nobs`` estimation rows.

    ``spec`` is ``(keyword, values)`` from :func:`pop_weights`. As for
    cluster groups, the values may be given for the estimation rows (length
    ``nobs``) or for every input row before rows with missing values were
    dropped: a pandas Series is then aligned by index label to
    ``row_labels``, an array by the mask ``kept``. Negative, NaN or infinite
    weights, all-zero weights, a wrong length (both lengths are named) and
    non-integer frequency weights are errors.
    """
    if spec is None:
        return None
    key, value = spec
    kind = WEIGHT_KEYWORDS[key]
    if isinstance(value, pd.DataFrame):
        if value.shape[1] != 1:
            raise ValueError(f"{key} must be one column, got {value.shape[1]}")
        value = value.iloc[:, 0]
    if isinstance(value, pd.Series) and row_labels is not None \
            and not value.index.equals(pd.Index(row_labels)):
        # pandas weights are matched by label, never by position
        if not value.index.is_unique:
            raise ValueError(f"the index of {key} has duplicate labels; give {key} for the "
                             f"{nobs} estimation rows as an array")
        absent = pd.Index(row_labels).difference(value.index)
        if len(absent):
            raise ValueError(f"{key} has no entry for {len(absent)} estimation rows "
                             f"(e.g. index {list(absent[:3])})")
        value = value.reindex(row_labels)
    try:
        w = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{key} must be numeric: {exc}") from None
    w = w.squeeze() if w.ndim > 1 else w
    if w.ndim != 1:
        raise ValueError(f"{key} must be 1-D, got shape {np.shape(value)}")
    if len(w) != nobs:
        if kept is not None and len(w) == len(kept) and len(kept) != nobs:
            w = w[np.asarray(kept, dtype=bool)]
        else:
            extra = (f" (or the {len(kept)} rows of the data before missing rows were "
                     "dropped)" if kept is not None and len(kept) != nobs else "")
            raise ValueError(f"{key} has {len(w)} entries but the model has {nobs} "
                             f"estimation rows{extra}")
    bad = ~np.isfinite(w)
    if bad.any():
        raise ValueError(f"{key} is NaN or infinite in {int(bad.sum())} estimation rows "
                         f"(first at position {int(np.argmax(bad))})")
    if (w < 0).any():
        raise ValueError(f"{key} is negative in {int((w < 0).sum())} rows (first at position "
                         f"{int(np.argmax(w < 0))}, value {w[np.argmax(w < 0)]:g})")
    if not (w > 0).any():
        raise ValueError(f"{key} are zero in all {nobs} estimation rows")
    if kind == "freq" and np.any(w != np.round(w)):
        i = int(np.argmax(w != np.round(w)))
        raise ValueError(f"freq_weights must be integers (Stata's fweight: a count of "
                         f"identical rows); position {i} holds {w[i]:g}. For sampling "
                         "weights use prob_weights=, for other non-integer weights "
                         "importance_weights=")
    return Weights(np.ascontiguousarray(w), kind, key)
