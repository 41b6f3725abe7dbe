"""Systems of derivative relations: ODE coefficients of several measured states.

:class:`DerivativeSystem` estimates ``theta`` in

    x_k^(m_k)(t) = sum_j theta_kj g_kj(x_1, ..., x_K, their derivatives, u, t),
    k = 1..K,

from noisy samples of every ``x_k``, each at its own times and with its own
noise variance. Terms are products of factors: a derivative ``x_l^(d)``
(``d < m_l``), a power or ``sign``/``abs`` of one, a held input ``u`` or the
constant (``hare:lynx`` is the product of two states).

Why a sibling class rather than :class:`~econderiv.DerivativeRegression`
grown a dimension: that class is built around one sampled signal (one time
axis, one residual scale, one state block), and every one of its methods
(the ARMAX discretisation, the Fourier band, the integral sandwich) is
written for a scalar output. A system changes each of these at once: ragged
sampling (one time axis per state), one noise variance per state (a weighted
problem), cross-equation product terms, stacked residuals. It shares the
kernels that do not depend on the output's dimension (the ZOH matrix
exponential, the discrete recursion, the cumulative trapezoid and its
adjoint, from :mod:`._derivreg_kernels`) and keeps its own in
:mod:`._derivsys_kernels`; neither class imports the other.

Methods (``fit(method=...)``):

``"oe"``
    Output error: ``theta``, the initial state and one noise variance per
    state by Gaussian ML (iterated weighted nonlinear least squares,
    Levenberg-Marquardt on the stacked residuals ``(y_k - x_k(t)) / sigma_k``
    with the exact Jacobian from the forward sensitivity equations,
    integrated with the states: block matrix exponentials for a linear system
    on a grid with few distinct steps, else a compiled adaptive
    Dormand-Prince 5(4) integration of states and sensitivities together).
    ``measurement="log"`` fits ``log y_k = log x_k(t) + e`` (lognormal
    multiplicative noise) with the ODE in levels.
``"integral"``
    Each equation integrated ``m_k`` times on the union of the sampling
    times (other states linearly interpolated), the initial conditions as
    polynomial nuisance regressors, OLS per equation; the covariance is the
    exact sandwich of the integrated measurement noise across all
    equations.

``"arimax"``, ``"fourier"`` and ``"fd"`` exist for one equation only
(:class:`~econderiv.DerivativeRegression`); a system asks for them with a
``ValueError`` that says so.
"""

from __future__ import annotations

import re
import warnings
from math import factorial

import numpy as np
import pandas as pd
from scipy import linalg, optimize
from statsmodels.base import wrapper as wrap

from econderiv.models import _derivsys_kernels as KS
from econderiv.models._data import user_stacklevel
from econderiv.models._optim import check_keywords, check_maxiter, closest
from econderiv.models._timeseries import (
    DerivativeResults,
    DerivativeResultsWrapper,
    as_seconds,
    check_increasing,
    model_data,
)

__all__ = ["DerivativeSystem", "DerivativeSystemResults"]

METHODS = ("oe", "integral")
SINGLE_EQUATION_METHODS = ("arimax", "fourier", "fd")
FIT_KEYWORDS = {
    "oe": ("start_params", "x0", "maxiter", "measurement"),
    "integral": (),
}
MEASUREMENTS = ("additive", "log")

METHOD_NOTES = {
    "oe": (
        "Output error: theta, the initial state and one noise variance per state "
        "maximise the Gaussian likelihood of the measurements around the exact ODE "
        "solution (iterated weighted least squares, Levenberg-Marquardt with exact "
        "sensitivities). Each variance is RSS_k / (n_k - leverage_k), the "
        "leverage-corrected (unbiased in the linear case) estimate; the covariance is "
        "(J' W J)^-1 from the exact Jacobian. No process noise."),
    "integral": (
        "Each equation integrated m_k times from the first sample time on the union "
        "of the sampling times (other states interpolated linearly, derivatives of "
        "the data inside nonlinear terms by numpy.gradient), unknown initial "
        "conditions as polynomial nuisance regressors, OLS per equation. The "
        "covariance is the exact sandwich of the integrated measurement noise "
        "(L_k e) across equations, the noise variances from the simulated path. "
        "Consistent for small noise; slight errors-in-variables and quadrature bias."),
}


def _deriv_name(d, name):
    return name if d == 0 else f"D{d}.{name}"


_LHS = re.compile(r"\s*D(\d+)\((\w+)\)\s*")
_DER = re.compile(r"D(\d+)\((\w+)\)")


# ---------------------------------------------------------------------------
# Formula parsing
# ---------------------------------------------------------------------------

def _split_formula(formula, i):
    if not isinstance(formula, str):
        raise TypeError(f"formula {i + 1} must be a string like 'D1(x) ~ x + u', got "
                        f"{type(formula).__name__}")
    lhs, sep, rhs = formula.partition("~")
    if not sep:
        raise ValueError(f"formula {i + 1} ({formula!r}) has no '~'")
    mt = _LHS.fullmatch(lhs)
    if not mt:
        raise ValueError(f"formula {i + 1}: left side {lhs.strip()!r} must be Dm(name) "
                         "with m >= 1, e.g. D1(hare)")
    order = int(mt.group(1))
    if order < 1:
        raise ValueError(f"formula {i + 1}: the order on the left must be >= 1, got D0")
    return mt.group(2), order, rhs


def _rhs_terms(rhs):
    """Terms of a right side and whether the constant is kept."""
    const = True
    rhs = re.sub(r"-\s*1\b", "+ -1", rhs)
    terms = []
    for raw in rhs.split("+"):
        term = raw.replace(" ", "")
        if not term:
            continue
        if term in ("-1", "0"):
            const = False
        elif term != "1":
            terms.append(term)
    return terms, const


def parse_system(formulas, exog_names):
    """Turn formulas into a :class:`~._derivsys_kernels.SystemSpec`.

    Returns ``(spec, param_names, equation_names)``. Factors inside a term
    are joined by ``:`` (or ``*``, which here is also the product, not
    patsy's ``a + b + a:b``): a state ``x`` or ``Dd(x)`` (``d`` below the
    order of ``x``'s own equation), a power ``x^p`` / ``Dd(x)^p``,
    ``sign(...)``, ``abs(...)`` of one, or an input column.
    """
    if isinstance(formulas, str):
        formulas = [formulas]
    formulas = list(formulas)
    if not formulas:
        raise ValueError("give at least one formula")
    heads = [_split_formula(f, i) for i, f in enumerate(formulas)]
    names = [h[0] for h in heads]
    orders = [h[1] for h in heads]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"state(s) {dup} have more than one equation; give one formula per "
                         "state")
    clash = sorted(set(names) & set(exog_names))
    if clash:
        raise ValueError(f"{clash} are states (left sides) and also input columns")
    offsets = np.concatenate([[0], np.cumsum(orders)[:-1]]).astype(int)
    pos = {n: k for k, n in enumerate(names)}

    def state_factor(expr, fi, where):
        mt = _DER.fullmatch(expr)
        if mt:
            d, nm = int(mt.group(1)), mt.group(2)
        else:
            d, nm = 0, expr
        if nm not in pos:
            raise KeyError(nm)
        k = pos[nm]
        if d >= orders[k]:
            raise ValueError(f"{where}: D{d}({nm}) is not below the order {orders[k]} of "
                             f"{nm}'s equation (the state holds {nm} .. "
                             f"D{orders[k] - 1}({nm}))")
        return k, d, offsets[k] + d

    def factor(expr, where):
        mt = re.fullmatch(r"(sign|abs)\((.+)\)", expr)
        try:
            if mt:
                k, d, idx = state_factor(mt.group(2), None, where)
                f, df = KS.FUNCS[mt.group(1)]
                return KS.Factor(f"{mt.group(1)}({_deriv_name(d, names[k])})", "state", idx,
                                 f, df, k, d)
            mt = re.fullmatch(r"(.+)\^(\d+)", expr)
            if mt:
                p = int(mt.group(2))
                if p < 1:
                    raise ValueError(f"{where}: power must be >= 1 in {expr!r}")
                try:
                    k, d, idx = state_factor(mt.group(1), None, where)
                except KeyError:
                    if mt.group(1) in exog_names:
                        raise ValueError(f"{where}: powers of inputs ({expr!r}) are not "
                                         "supported; add the transformed column to the "
                                         "data") from None
                    raise
                lab = _deriv_name(d, names[k])
                if p == 1:
                    return KS.Factor(lab, "state", idx, None, None, k, d)
                return KS.power_factor(f"{lab}^{p}", idx, p, k, d)
            k, d, idx = state_factor(expr, None, where)
            return KS.Factor(_deriv_name(d, names[k]), "state", idx, None, None, k, d)
        except KeyError:
            bare = _DER.sub(r"\2", expr)
            bare = re.sub(r"^(sign|abs)\((.+)\)$", r"\2", bare).split("^")[0]
            if expr in exog_names:
                return KS.Factor(expr, "input", exog_names.index(expr))
            raise ValueError(
                f"{where}: unknown name {bare!r}: it is neither a state with an equation "
                f"({', '.join(names)}) nor an input column"
                f"{' (' + ', '.join(exog_names) + ')' if exog_names else ''}"
                f"{closest(bare, list(names) + list(exog_names))}") from None

    terms, pnames, eqnames = [], [], []
    for k, (f, (name, order, rhs)) in enumerate(zip(formulas, heads)):
        eq = _deriv_name(order, name)
        eqnames.append(eq)
        where = f"formula {k + 1} ({f.strip()!r})"
        raw, const = _rhs_terms(rhs)
        eq_terms = []
        for tm in raw:
            if tm == "const":
                continue
            parts = [p for p in re.split(r"[:*]", tm)]
            if any(not p for p in parts):
                raise ValueError(f"{where}: cannot read the term {tm!r}")
            facs = tuple(factor(p, where) for p in parts)
            eq_terms.append(KS.Term(":".join(fc.label for fc in facs), facs))
        if const:
            eq_terms.append(KS.Term("const", ()))
        seen = [t.name for t in eq_terms]
        dupt = sorted({s for s in seen if seen.count(s) > 1})
        if dupt:
            raise ValueError(f"{where}: term(s) {dupt} appear twice")
        if not eq_terms:
            raise ValueError(f"{where}: the right side has no term")
        terms.append(eq_terms)
        pnames += [f"{eq}:{t.name}" for t in eq_terms]
    spec = KS.SystemSpec(names, orders, terms, len(exog_names))
    return spec, pnames, eqnames


# ---------------------------------------------------------------------------
# Data: one union time grid, ragged observations
# ---------------------------------------------------------------------------

def _time_raw(v):
    """The raw time values of one state's entry (before conversion)."""
    return pd.Index(v.index) if isinstance(v, pd.Series) else pd.Index(np.asarray(v[0]).ravel())


def _series_of(names, endog, time):
    """``({state: (seconds, values)}, TimeAxis, row index)`` from a DataFrame
    (+ time) or a dict; datetimes/timedeltas become seconds on one axis."""
    out = {}
    if isinstance(endog, dict):
        if time is not None:
            raise ValueError("with endog as a dict, give each state's times in it "
                             "({name: Series indexed by time} or {name: (time, values)}) "
                             "and leave time=None")
        for nm in names:
            if nm not in endog:
                raise ValueError(f"state {nm!r} has an equation but no data in endog "
                                 f"(keys: {list(endog)})")
            v = endog[nm]
            if not isinstance(v, pd.Series) and len(v) != 2:
                raise ValueError(f"endog[{nm!r}] must be a Series indexed by time or a "
                                 "pair (time, values)")
        # one axis for all states: datetimes in seconds since the earliest sample
        raw = pd.Index(np.concatenate([np.asarray(_time_raw(endog[nm])) for nm in names]))
        _, axis, _ = as_seconds(raw.sort_values() if raw.notna().all() else raw,
                                "the states' times")
        for nm in names:
            v = endog[nm]
            what = f"the times of {nm!r}"
            tt = axis.to_seconds(_time_raw(v), what)
            yy = np.asarray(v if isinstance(v, pd.Series) else v[1], float).ravel()
            if yy.size != tt.size:
                raise ValueError(f"state {nm!r}: {tt.size} times but {yy.size} values")
            out[nm] = (tt, yy)
        return out, axis
    if not isinstance(endog, pd.DataFrame):
        raise TypeError("endog must be a pandas DataFrame with one column per state (NaN "
                        "where a state is not sampled) or a dict {state: Series indexed by "
                        "time}")
    if time is None:
        raise ValueError("give time (a column of endog's rows) with a DataFrame endog")
    tt, axis, _ = as_seconds(time, "time")
    if tt.size != len(endog):
        raise ValueError(f"time has {tt.size} values but endog has {len(endog)} rows")
    if isinstance(time, pd.Series) and not time.index.equals(endog.index):
        raise ValueError("time and endog have different indexes; align them (rows are "
                         "matched by index label, never by position)")
    for nm in names:
        if nm not in endog:
            raise ValueError(f"state {nm!r} has an equation but no column in the data "
                             f"(columns: {list(endog.columns)})")
        y = np.asarray(endog[nm], float)
        keep = np.isfinite(y)
        out[nm] = (tt[keep], y[keep])
    return out, axis


class DerivativeSystem:
    """Estimate ``theta`` in ``x_k^(m_k) = sum_j theta_kj g_kj``, ``k = 1..K``.

    Parameters
    ----------
    endog : pandas.DataFrame or dict
        One column per state (NaN where a state was not sampled at that row's
        time), with ``time``; or ``{state: Series indexed by time}`` /
        ``{state: (time, values)}`` for states sampled at their own times.
    time : array_like, optional
        Sample times of the rows of a DataFrame ``endog``.
    formulas : sequence of str
        One per state, ``"D1(hare) ~ hare + hare:lynx - 1"``; see
        :meth:`from_formula`.
    exog : pandas.DataFrame, optional
        Inputs, held between samples (zero-order hold). With a DataFrame
        ``endog`` its rows are endog's rows; with a dict ``endog`` it is
        indexed by time and evaluated at each sample time as its last value
        at or before that time.

    Notes
    -----
    Parameters are named ``"equation:term"`` (``"D1.hare:hare:lynx"``), in
    the order of the formulas and of the terms inside each, the constant last.
    Initial states ``x_k(t0), D1.x_k(t0), ...`` at the first sample time are
    nuisance parameters (``results.nuisance``); so are the noise variances
    (``results.sigma``).
    """

    def __init__(self, endog, time=None, formulas=None, exog=None):
        if formulas is None:
            raise ValueError("give the equations as formulas, e.g. "
                             "['D1(x) ~ x + y', 'D1(y) ~ x + y']")
        if exog is not None and not isinstance(exog, (pd.DataFrame, pd.Series)):
            raise TypeError("exog must be a pandas DataFrame (named input columns)")
        if isinstance(exog, pd.Series):
            exog = exog.to_frame()
        exog_names = [] if exog is None else [str(c) for c in exog.columns]
        spec, pnames, eqnames = parse_system(formulas, exog_names)
        self.formulas = [formulas] if isinstance(formulas, str) else list(formulas)
        self.spec = spec
        self.param_names = pnames
        self.equation_names = eqnames
        self.state_names = spec.names
        self.exog_names = exog_names
        self.k_params = len(pnames)
        self.state_vector_names = [_deriv_name(d, nm) for nm, m in zip(spec.names, spec.orders)
                                   for d in range(m)]

        series, self.time_axis = _series_of(spec.names, endog, time)
        for nm, (tt, yy) in series.items():
            try:
                check_increasing(tt, "t")
            except ValueError as exc:
                raise ValueError(f"the times of {nm!r}: {exc}") from None
        grid = np.unique(np.concatenate([tt for tt, _ in series.values()]))
        self.time = grid
        obs_state, obs_row, yv = [], [], []
        for k, nm in enumerate(spec.names):
            tt, yy = series[nm]
            obs_state.append(np.full(tt.size, k))
            obs_row.append(np.searchsorted(grid, tt))
            yv.append(yy)
        self.obs_state = np.concatenate(obs_state).astype(int)
        self.obs_row = np.concatenate(obs_row).astype(int)
        self.obs_y = np.concatenate(yv)
        self.nobs_state = pd.Series([int(np.sum(self.obs_state == k)) for k in
                                     range(len(spec.names))], index=spec.names)
        self.nobs = int(self.obs_y.size)

        # inputs on the union grid (held)
        if exog is None:
            u = np.zeros((grid.size, 0))
        elif isinstance(endog, pd.DataFrame):
            if not exog.index.equals(endog.index):
                raise ValueError("exog and endog have different indexes; align them (rows "
                                 "are matched by index label, never by position)")
            tt = as_seconds(time, "time")[0]
            order = np.argsort(tt, kind="stable")
            ts, us = tt[order], np.asarray(exog, float)[order]
            first = np.concatenate([[True], np.diff(ts) > 0])
            u = us[first][np.searchsorted(ts[first], grid)]
        else:
            te = self.time_axis.to_seconds(pd.Index(exog.index), "the index (time) of exog")
            try:
                check_increasing(te, "t")
            except ValueError as exc:
                raise ValueError(f"the index (time) of exog: {exc}") from None
            j = np.searchsorted(te, grid, side="right") - 1
            if np.any(j < 0):
                raise ValueError(f"exog starts at t={te[0]:g}, after the first sample time "
                                 f"{grid[0]:g}: inputs are needed from the first sample on")
            u = np.asarray(exog, float)[j]
        for i, nm in enumerate(exog_names):
            bad = np.flatnonzero(~np.isfinite(u[:, i]))
            if bad.size:
                raise ValueError(f"exog column {nm!r} has {bad.size} missing or non-finite "
                                 f"values at sample times (first at t={grid[bad[0]]:g})")
        self.exog = u
        self.inputs = KS.held_inputs(u, grid.size)

        for k, nm in enumerate(spec.names):
            need = spec.orders[k] + 2
            if self.nobs_state[nm] < need:
                raise ValueError(f"too few samples of {nm!r}: {self.nobs_state[nm]}; an "
                                 f"order-{spec.orders[k]} equation needs at least {need} "
                                 "(its initial conditions and a noise variance)")
        n_free = self.k_params + spec.n_states + len(spec.names)
        if self.nobs <= n_free:
            raise ValueError(f"too few samples: {self.nobs} measurements for {self.k_params} "
                             f"coefficients, {spec.n_states} initial conditions and "
                             f"{len(spec.names)} noise variances; need more than {n_free}")
        # statsmodels' results machinery reads the parameter names from here
        self.data = model_data(pd.Series(self.obs_y, name=", ".join(spec.names)), pnames)
        self._data_attr = []

    # hooks of the shared derivative results (econderiv.models._timeseries)
    @property
    def endog_names(self):
        return list(self.state_names)

    def equation_terms(self):
        """``[(lhs, [(parameter name, regressor), ...])]``, one per equation."""
        out, j = [], 0
        for eq, terms in zip(self.equation_names, self.spec.terms):
            pairs = []
            for tm in terms:
                pairs.append((self.param_names[j], "" if tm.kind == "const" else tm.name))
                j += 1
            out.append((eq, pairs))
        return out

    @staticmethod
    def method_note(method):
        return METHOD_NOTES[method]

    # ------------------------------------------------------------------
    @classmethod
    def from_formula(cls, formulas, data, time):
        """Build the system from one formula per state.

        ``formulas``: ``["D1(hare) ~ hare + hare:lynx - 1", "D1(lynx) ~ lynx +
        hare:lynx - 1"]``. Left side ``Dm(x)``, ``x`` a column of ``data``
        (NaN where not sampled). On the right, terms joined by ``+``; a term
        is a product of factors joined by ``:`` (or ``*``, also a product
        here): states ``x``, ``Dd(x)`` (``d`` below ``x``'s order),
        ``x^p``, ``sign(Dd(x))``, ``abs(x)``, or input columns of ``data``.
        The constant is included unless ``- 1`` or ``0`` is given, as in
        patsy and :class:`~econderiv.DerivativeRegression`. ``time`` is a
        column name or an array of the rows' times.
        """
        if isinstance(formulas, str):
            formulas = [formulas]
        if not isinstance(data, pd.DataFrame):
            raise TypeError("data must be a pandas DataFrame")
        heads = [_split_formula(f, i) for i, f in enumerate(formulas)]
        states = [h[0] for h in heads]
        for nm in states:
            if nm not in data:
                raise ValueError(f"column {nm!r} (left side of a formula) is not in data; "
                                 f"columns: {list(data.columns)}{closest(nm, data.columns)}")
        inputs = []
        for _, _, rhs in heads:
            for tm in _rhs_terms(rhs)[0]:
                for p in re.split(r"[:*]", tm):
                    if p in data and p not in states and p not in inputs and p != time:
                        inputs.append(p)
        t = data[time] if isinstance(time, str) else time
        if isinstance(time, str) and time not in data:
            raise ValueError(f"time column {time!r} is not in data")
        exog = data[inputs] if inputs else None
        return cls(data[states], t, formulas, exog=exog)

    # ------------------------------------------------------------------
    def fit(self, method="oe", **kwargs):
        """Estimate the coefficients.

        Parameters
        ----------
        method : {"oe", "integral"}
            See the module notes (``summary()`` states each method's
            assumptions).
        **kwargs
            ``"oe"``: ``start_params`` (theta; default the ``"integral"``
            estimate), ``x0`` (the initial state, in the order of
            ``state_vector_names``), ``maxiter`` (Levenberg-Marquardt
            iterations per weighting pass, default 200), ``measurement``
            (``"additive"``: ``y = x + e``; ``"log"``: ``log y = log x + e``).
            ``"integral"``: none.

        Returns
        -------
        DerivativeSystemResults
        """
        if method in SINGLE_EQUATION_METHODS:
            raise ValueError(f"method {method!r} is available for one equation only "
                             "(DerivativeRegression); a system is fitted by 'oe' (output "
                             "error, any system, any sampling) or 'integral'")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}"
                             f"{closest(method, METHODS)}")
        check_keywords(kwargs, FIT_KEYWORDS[method],
                       f"DerivativeSystem.fit(method={method!r})")
        if "maxiter" in kwargs:
            kwargs["maxiter"] = check_maxiter(kwargs["maxiter"])
        return DerivativeSystemResultsWrapper(getattr(self, f"_fit_{method}")(**kwargs))

    # ------------------------------------------------------------------
    # simulation and output error
    def simulate_states(self, theta, s0, time=None, exog=None, sensitivities=False):
        """States (and sensitivities) on ``time`` (default the sample grid)."""
        if time is None:
            t, w = self.time, self.inputs
        else:
            t = self.time_axis.to_seconds(time, "time")
            check_increasing(t, "time")
            if exog is None:
                if self.exog.shape[1]:
                    if t.size == self.time.size and np.allclose(t, self.time):
                        w = self.inputs
                    else:
                        raise ValueError("give exog (one row per time) for times other "
                                         "than the model's")
                else:
                    w = KS.held_inputs(None, t.size)
            else:
                u = np.asarray(exog, float).reshape(t.size, -1)
                if u.shape[1] != self.exog.shape[1]:
                    raise ValueError(f"exog needs {self.exog.shape[1]} columns "
                                     f"({self.exog_names}), got {u.shape[1]}")
                w = KS.held_inputs(u, t.size)
        return KS.simulate(self.spec, np.asarray(theta, float), np.asarray(s0, float), t, w,
                           sensitivities)

    def output_error(self, params_full, log_scale=False):
        """Stacked residuals and their Jacobian at ``(theta, s0)``.

        One row per measurement (states in formula order, each in time
        order); columns: theta, then the initial state. Residuals are
        ``y - x_k(t)`` (or ``log y - log x_k(t)``), the Jacobian ``d resid /
        d params`` from the exact sensitivities.
        """
        p = self.k_params
        y = np.log(self.obs_y) if log_scale else self.obs_y
        return KS.output_residuals(self.spec, params_full[:p], params_full[p:], self.time,
                                   self.inputs, self.obs_state, self.obs_row, y, log_scale)

    def _guarded(self, v, log_scale):
        try:
            with np.errstate(over="raise", invalid="raise"):
                return self.output_error(v, log_scale)
        except (FloatingPointError, linalg.LinAlgError, ValueError):
            big = 1e6 * (np.std(self.obs_y) + 1.0)
            return (np.full(self.nobs, big), np.zeros((self.nobs, v.size)))

    def _initial_guess(self):
        """Initial state from local polynomial fits to each state's first samples."""
        out = []
        for k, nm in enumerate(self.state_names):
            m = self.spec.orders[k]
            sel = self.obs_state == k
            tt = self.time[self.obs_row[sel]] - self.time[0]
            yy = self.obs_y[sel]
            # a short window: a longer one extrapolates a curved start badly
            n = min(yy.size, 2 * m + 1)
            deg = min(m, n - 1)
            c = np.polynomial.polynomial.polyfit(tt[:n], yy[:n], deg)
            out += [factorial(d) * c[d] if d <= deg else 0.0 for d in range(m)]
        return np.array(out)

    def fit_initial_state(self, theta, s0=None, log_scale=False):
        """The initial state whose solution (``theta`` fixed) is closest to the data."""
        p = self.k_params
        s0 = self._initial_guess() if s0 is None else np.asarray(s0, float)
        if self.spec.is_linear and not log_scale:
            r, J = self._guarded(np.concatenate([theta, s0]), False)
            return s0 - np.linalg.lstsq(J[:, p:], r, rcond=None)[0]

        def both(s):
            return self._guarded(np.concatenate([theta, s]), log_scale)

        sol = optimize.least_squares(lambda s: both(s)[0], s0, jac=lambda s: both(s)[1][:, p:],
                                     method="lm", x_scale="jac")
        return sol.x

    def _fit_oe(self, start_params=None, x0=None, maxiter=200, measurement="additive"):
        if measurement not in MEASUREMENTS:
            raise ValueError(f"measurement must be one of {MEASUREMENTS}, got "
                             f"{measurement!r}")
        log_scale = measurement == "log"
        if log_scale and np.any(self.obs_y <= 0):
            i = int(np.flatnonzero(self.obs_y <= 0)[0])
            raise ValueError(f"measurement='log' needs positive data; "
                             f"{self.state_names[self.obs_state[i]]!r} has "
                             f"{self.obs_y[i]!r}")
        p, ns, K = self.k_params, self.spec.n_states, len(self.state_names)
        if start_params is None:
            try:
                theta0 = np.asarray(self._fit_integral().params)
            except Exception as exc:  # pragma: no cover - depends on data
                raise ValueError("could not get starting values from method 'integral' "
                                 f"({exc}); pass start_params") from exc
        else:
            theta0 = np.asarray(start_params, float).ravel()
            if theta0.size != p:
                raise ValueError(f"start_params has {theta0.size} values, expected {p} "
                                 f"({self.param_names})")
            if not np.all(np.isfinite(theta0)):
                raise ValueError("start_params has missing or non-finite values")
        if x0 is None:
            s0 = self.fit_initial_state(theta0, log_scale=log_scale)
        else:
            s0 = np.asarray(x0, float).ravel()
            if s0.size != ns:
                raise ValueError(f"x0 has {s0.size} values, expected {ns} "
                                 f"({self.state_vector_names})")
        v = np.concatenate([theta0, s0])
        r, J = self._guarded(v, log_scale)
        if not np.any(J):
            raise ValueError("the system cannot be simulated from the start values (the "
                             "solution blows up or fails); pass start_params and x0")
        sigma = self._sigma_from(r, J)

        status, nfev, done = 0, 0, False
        for _ in range(30):
            wt = 1.0 / sigma[self.obs_state]
            cache = {}

            def both(x):
                key = x.tobytes()
                if key not in cache:
                    cache.clear()
                    rr, JJ = self._guarded(x, log_scale)
                    cache[key] = (rr * wt, JJ * wt[:, None])
                return cache[key]

            sol = optimize.least_squares(lambda x: both(x)[0], v, jac=lambda x: both(x)[1],
                                         method="lm", x_scale="jac",
                                         max_nfev=maxiter * (v.size + 1), xtol=1e-12,
                                         ftol=1e-12, gtol=1e-10)
            v, status, nfev = sol.x, sol.status, nfev + sol.nfev
            r, J = self._guarded(v, log_scale)
            new = self._sigma_from(r, J)
            done = np.max(np.abs(new / sigma - 1)) < 1e-6
            sigma = new
            if done:
                break
        if not done:
            warnings.warn("the noise variances did not settle in 30 weighting passes (the "
                          "fit may sit between two weightings); try x0 and start_params "
                          "from this fit, or measurement='log' for multiplicative noise",
                          RuntimeWarning, stacklevel=user_stacklevel())
        if status <= 0:
            warnings.warn(f"output-error fit did not converge ({sol.message}); try "
                          "start_params (e.g. from another method), x0, or a larger maxiter",
                          RuntimeWarning, stacklevel=user_stacklevel())
        wt = 1.0 / sigma[self.obs_state]
        Jw = J * wt[:, None]
        cov = _inv_psd(Jw.T @ Jw)
        rss = np.array([float(r[self.obs_state == k] @ r[self.obs_state == k])
                        for k in range(K)])
        nk = self.nobs_state.to_numpy()
        llf = float(-0.5 * np.sum(nk * (np.log(2 * np.pi * rss / nk) + 1)))
        if log_scale:  # density of y, not of log y
            llf -= float(np.sum(np.log(self.obs_y)))
        nuis_se = np.sqrt(np.diag(cov)[p:])
        return DerivativeSystemResults(
            self, "oe", v[:p], cov[:p, :p], sigma=sigma, resid=r,
            nuisance=([f"{s}(t0)" for s in self.state_vector_names], v[p:], nuis_se),
            initial_state=v[p:], llf=llf, df_resid=self.nobs - p - ns - K,
            info={"nfev": nfev, "status": int(status), "measurement": measurement,
                  "cov_full": cov})

    def _sigma_from(self, r, J):
        """Noise scale per state: ``sqrt(RSS_k / (n_k - leverage_k))``.

        The leverages are the diagonal of the weighted hat matrix (weights
        from the current scales: one pass from equal weights is enough).
        """
        K = len(self.state_names)
        nk = self.nobs_state.to_numpy()
        rss = np.array([float(r[self.obs_state == k] @ r[self.obs_state == k])
                        for k in range(K)])
        s = np.sqrt(rss / nk)
        s = np.where(s > 0, s, 1.0)
        Jw = J / s[self.obs_state][:, None]
        try:
            info = Jw.T @ Jw
            lev = np.einsum("ij,ij->i", Jw @ np.linalg.pinv(info), Jw)
        except np.linalg.LinAlgError:  # pragma: no cover
            lev = np.zeros(self.nobs)
        levk = np.array([lev[self.obs_state == k].sum() for k in range(K)])
        dof = np.maximum(nk - levk, 1.0)
        out = np.sqrt(rss / dof)
        return np.where(out > 0, out, np.finfo(float).tiny)

    # ------------------------------------------------------------------
    # integral form
    def _integral_operators(self):
        t = self.time
        interp = []
        for k in range(len(self.state_names)):
            sel = self.obs_state == k
            interp.append(KS.interpolation_matrix(t[self.obs_row[sel]], t))
        return interp, KS.gradient_matrix(t)

    def integral_design(self):
        """Per equation: ``(rows, y, X, Z)`` of the integrated equation.

        Integrating equation ``k`` ``m_k`` times from ``t0``:
        ``x_k(t) = sum_j theta_kj I^(m_k)[g_kj](t) + sum_{i<m_k} c_i (t-t0)^i/i!``,
        with ``I^m[x_l^(d)] = I^(m-d)[x_l]`` up to the polynomial, the
        states on the union grid by linear interpolation of their samples,
        ``I^m`` the cumulative trapezoid (exact for held inputs).
        """
        return [d[:4] for d in self._integral_parts()[0]]

    def _integral_parts(self):
        spec, t = self.spec, self.time
        interp, grad = self._integral_operators()
        vals = [interp[k] @ self.obs_y[self.obs_state == k] for k in range(len(spec.names))]
        parts = []
        for k, eq in enumerate(spec.terms):
            m = spec.orders[k]
            sel = self.obs_state == k
            rows = self.obs_row[sel]
            y = self.obs_y[sel]
            cols, lin = [], []
            for tm in eq:
                kind = tm.kind
                if kind == "const":
                    cols.append((t[rows] - t[0])**m / factorial(m))
                    lin.append(None)
                elif kind == "input":
                    cols.append(KS.held_integral(self.exog[:, tm.factors[0].index], t, m)[rows])
                    lin.append(None)
                elif kind == "state":
                    f = tm.factors[0]
                    r = m - f.deriv
                    v = vals[f.state]
                    if r >= 0:
                        cols.append(KS.qpow(v, t, r)[rows])
                    else:
                        for _ in range(-r):
                            v = grad @ v
                        cols.append(v[rows])
                    lin.append(("state", f.state, r))
                else:
                    fv, slopes = [], []
                    for f in tm.factors:
                        if f.kind == "input":
                            fv.append(self.exog[:, f.index])
                            slopes.append(None)
                        else:
                            v = vals[f.state]
                            for _ in range(f.deriv):
                                v = grad @ v
                            fv.append(f.value(v))
                            slopes.append(f.slope(v))
                    h = np.prod(fv, axis=0)
                    cols.append(KS.qpow(h, t, m)[rows])
                    coef = []
                    for i, f in enumerate(tm.factors):
                        if f.kind != "state":
                            continue
                        others = np.prod([fv[j] for j in range(len(fv)) if j != i], axis=0) \
                            if len(fv) > 1 else 1.0
                        coef.append((f.state, f.deriv, others * slopes[i]))
                    lin.append(("nonlinear", m, coef))
            X = np.column_stack(cols)
            Z = KS.poly_columns(t[rows], m, t[0])
            parts.append((rows, y, X, Z, lin))
        return parts, interp, grad

    def _noise_adjoint(self, k, part, theta_k, W, interp, grad):
        """``L_k' W``: the integrated-equation error of equation ``k`` is
        ``L_k e`` (``e`` the stacked measurement noise); returns the stacked
        ``(nobs, q)`` array."""
        t = self.time
        rows, _, _, _, lin = part
        out = np.zeros((self.nobs, W.shape[1]))
        out[self.obs_state == k] += W
        V = np.zeros((t.size, W.shape[1]))
        V[rows] = W
        for c, spec_j in zip(theta_k, lin):
            if spec_j is None:
                continue
            if spec_j[0] == "state":
                _, l, r = spec_j
                if r >= 0:
                    g = KS.qpow_adjoint(V, t, r)
                else:
                    g = V
                    for _ in range(-r):
                        g = grad.T @ g
                out[self.obs_state == l] -= c * (interp[l].T @ g)
            else:
                _, m, coef = spec_j
                g0 = KS.qpow_adjoint(V, t, m)
                for l, d, cf in coef:
                    g = cf[:, None] * g0
                    for _ in range(d):
                        g = grad.T @ g
                    out[self.obs_state == l] -= c * (interp[l].T @ g)
        return out

    def _fit_integral(self):
        parts, interp, grad = self._integral_parts()
        spec = self.spec
        thetas, nuis, resid_all, bread, XZs = [], [], [], [], []
        for k, (rows, y, X, Z, _) in enumerate(parts):
            XZ = np.column_stack([X, Z])
            names = [f"{self.equation_names[k]}:{t.name}" for t in spec.terms[k]]
            _check_rank(XZ, names + [f"(t-t0)^{i}/{i}!" for i in range(spec.orders[k])],
                        self.equation_names[k])
            b = np.linalg.lstsq(XZ, y, rcond=None)[0]
            thetas.append(b[:X.shape[1]])
            nuis.append(b[X.shape[1]:])
            resid_all.append(y - XZ @ b)
            bread.append(_inv_psd(XZ.T @ XZ))
            XZs.append(XZ)
        theta = np.concatenate(thetas)
        # noise scales from the simulated path (the integrated errors are L e)
        sigma = None
        try:
            s0 = self.fit_initial_state(theta)
            r, J = self.output_error(np.concatenate([theta, s0]))
            if np.all(np.isfinite(r)):
                sigma = self._sigma_from(r, J)
        except Exception:  # pragma: no cover - e.g. an unstable estimate
            s0 = None
        if sigma is None:  # pragma: no cover
            sigma = np.array([np.std(rr) for rr in resid_all])
            warnings.warn("the integral estimate cannot be simulated; noise scales from "
                          "the integrated residuals (too large: the standard errors are "
                          "conservative)", RuntimeWarning, stacklevel=user_stacklevel())
        var = sigma[self.obs_state]**2
        C = []
        for k, part in enumerate(parts):
            C.append(self._noise_adjoint(k, part, thetas[k], XZs[k], interp, grad) @ bread[k])
        qs = [c.shape[1] for c in C]
        off = np.concatenate([[0], np.cumsum(qs)])
        full = np.zeros((off[-1], off[-1]))
        for a in range(len(C)):
            for b in range(a, len(C)):
                blk = C[a].T @ (var[:, None] * C[b])
                full[off[a]:off[a + 1], off[b]:off[b + 1]] = blk
                full[off[b]:off[b + 1], off[a]:off[a + 1]] = blk.T
        pidx = np.concatenate([np.arange(off[k], off[k] + len(spec.terms[k]))
                               for k in range(len(C))])
        nidx = np.concatenate([np.arange(off[k] + len(spec.terms[k]), off[k + 1])
                               for k in range(len(C))])
        cov = full[np.ix_(pidx, pidx)]
        nnames = [f"{self.equation_names[k]}:ic.(t-t0)^{i}/{i}!"
                  for k in range(len(C)) for i in range(spec.orders[k])]
        return DerivativeSystemResults(
            self, "integral", theta, cov, sigma=sigma,
            resid=np.concatenate(resid_all),
            nuisance=(nnames, np.concatenate(nuis), np.sqrt(np.diag(full)[nidx])),
            initial_state=s0, llf=np.nan, df_resid=self.nobs - sum(qs),
            info={})


def _inv_psd(a):
    try:
        c = linalg.cho_factor(a)
        return linalg.cho_solve(c, np.eye(a.shape[0]))
    except linalg.LinAlgError:
        warnings.warn("information matrix is singular: the coefficients are not identified "
                      "by these data (is a state or input constant?)", RuntimeWarning,
                      stacklevel=user_stacklevel())
        return np.linalg.pinv(a)


def _check_rank(X, names, eq):
    s = np.linalg.svd(X / np.maximum(np.linalg.norm(X, axis=0), 1e-300), compute_uv=False)
    if s[-1] < 1e-10 * s[0]:
        raise ValueError(f"equation {eq}: the integrated regressors ({', '.join(names)}) are "
                         "collinear: the coefficients are not identified (is a state or "
                         "input constant or zero?)")


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class DerivativeSystemResults(DerivativeResults):
    """Results of :meth:`DerivativeSystem.fit` on the derivative families'
    shared statsmodels results (:class:`~._timeseries.DerivativeResults`).

    ``params``, ``bse``, ``tvalues``, ``pvalues`` (normal), ``conf_int()``,
    ``cov_params()``, ``t_test``, ``wald_test``, ``f_test``, ``save``,
    ``summary()`` (a statsmodels ``Summary``; ``summary_col`` works) as in
    statsmodels; ``llf``, ``aic``, ``bic`` for ``"oe"`` (Gaussian measurement
    likelihood, counting theta, the initial state and the noise variances).

    Attributes
    ----------
    sigma : pandas.Series
        Measurement-noise scale per state (on the log scale for
        ``measurement="log"``).
    nuisance : pandas.DataFrame
        Initial state (``"oe"``) or integration constants (``"integral"``).
    resid : pandas.Series
        ``"oe"``: ``y - x(t)`` (or on the log scale) of the stacked
        measurements, indexed by (state, time); ``"integral"``: the
        integrated equations' residuals, indexed likewise.
    """

    def __init__(self, model, method, params, cov, sigma, resid, nuisance, initial_state,
                 llf, df_resid, info):
        idx = pd.MultiIndex.from_arrays(
            [np.asarray(model.state_names)[model.obs_state],
             model.time_axis.values(model.time[model.obs_row])], names=["state", "time"])
        resid = pd.Series(np.asarray(resid, float), index=idx, name="resid")
        k_llf = model.k_params + model.spec.n_states + len(model.state_names)
        super().__init__(model, method, params, cov, scale=np.nan, df_resid=df_resid,
                         resid=resid, llf=llf, k_llf=k_llf, nuisance=nuisance, info=info,
                         cov_type="nonrobust" if method == "oe" else "measurement",
                         cov_description=METHOD_NOTES[method])
        self.use_t = False
        self.sigma = pd.Series(np.asarray(sigma, float), index=model.state_names,
                               name="sigma")
        self._initial_state = None if initial_state is None else np.asarray(initial_state,
                                                                             float)

    def _header(self):
        left, right = super()._header()
        noise = ", ".join(f"{s} {v:.4g}" for s, v in self.sigma.items())
        right = [("Noise sd:", [noise]) if r[0] == "Residual sd:" else r for r in right]
        if self.method == "oe":
            meas = ("Measurement:", [self.info.get("measurement", "additive")])
            blank = [i for i, r in enumerate(left) if r[0] == " "]
            if blank:
                left[blank[0]] = meas
            else:
                left.append(meas)
                right.append((" ", [" "]))
        return left, right

    def summary(self, alpha=0.05, title=None):
        """statsmodels ``Summary``: header, the equations named and fitted, the
        coefficients, the nuisance parameters and the method's assumptions."""
        return super().summary(alpha, title or "System of derivative relations")

    @property
    def initial_state(self):
        """Initial state at the first sample time used by :meth:`simulate`."""
        if self._initial_state is None:
            log_scale = self.info.get("measurement") == "log"
            self._initial_state = self.model.fit_initial_state(np.asarray(self.params),
                                                               log_scale=log_scale)
        return pd.Series(self._initial_state, index=self.model.state_vector_names)

    def simulate(self, time=None, exog=None, x0=None):
        """Integrate the fitted system: every component of the state.

        ``time`` (default the sample grid) starts where ``x0`` is given
        (default :attr:`initial_state`, at the first sample time); ``exog``
        (one row per time) is needed with new times when the system has
        inputs. Returns a DataFrame indexed by time.
        """
        mod = self.model
        s0 = self.initial_state.to_numpy() if x0 is None else np.asarray(x0, float).ravel()
        if s0.size != mod.spec.n_states:
            raise ValueError(f"x0 needs {mod.spec.n_states} values "
                             f"({mod.state_vector_names})")
        t = mod.time if time is None else mod.time_axis.to_seconds(time, "time")
        states, _ = mod.simulate_states(np.asarray(self.params), s0, time, exog)
        return pd.DataFrame(states, index=pd.Index(mod.time_axis.values(t), name="time"),
                            columns=mod.state_vector_names)

    def predict(self, time=None, exog=None, x0=None):
        """The fitted paths of the measured states ``x_k`` (DataFrame by time)."""
        sim = self.simulate(time, exog, x0)
        return sim[self.model.state_names]

    @property
    def fittedvalues(self):
        """``x_k(t)`` at each measurement (indexed as :attr:`resid`)."""
        mod = self.model
        sim = self.simulate().to_numpy()
        pos = np.asarray(mod.spec.offsets)[mod.obs_state]
        return pd.Series(sim[mod.obs_row, pos], index=self.resid.index, name="fitted")

    def __repr__(self):
        return (f"<DerivativeSystemResults method={self.method!r} "
                f"params={dict(pd.Series(np.asarray(self.params), index=self.model.param_names).round(6))}>")


class DerivativeSystemResultsWrapper(DerivativeResultsWrapper):
    pass


wrap.populate_wrapper(DerivativeSystemResultsWrapper, DerivativeSystemResults)
