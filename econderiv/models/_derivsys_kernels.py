"""Kernels of :class:`econderiv.models.derivsystem.DerivativeSystem`: array functions.

The system is

    x_k^(m_k)(t) = sum_j theta_kj g_kj(t),    k = 1..K,

with terms ``g_kj`` that are products of factors: a function ``f`` of one
derivative ``x_l^(d)`` (``d < m_l``; identity, power, ``sign``, ``abs``) or
an exogenous input ``u_i`` held constant between samples (zero-order hold).
A term with no factor is the constant ``1``.

The state stacks one block per equation, ``s = (x_1, ..., x_1^(m_1-1), x_2,
...)``, so that

    ds/dt = S s + sum_k e_{last(k)} (theta_k . g_k(s, u)),

``S`` the shift inside each block and ``last(k)`` the position of
``x_k^(m_k-1)``. Sensitivities ``Z = ds/d(theta, s0)`` obey

    dZ/dt = J(s, u) Z + E(s, u),    Z(t0) = [0 | I],

``J = S + sum_k e_{last(k)} theta_k . dg_k/ds`` and ``E[last(k), j] =
g_kj`` for the parameters ``j`` of equation ``k``. A linear system (every
term one state, one input or the constant) sampled with few distinct steps
is solved exactly with block matrix exponentials (the kernels of
:mod:`._derivreg_kernels`); otherwise the state and sensitivities are
integrated together by a compiled adaptive Dormand-Prince 5(4) scheme
(relative tolerance 1e-9), whose steps end at every sample time so that held
inputs may jump there.

The integral-form operators (interpolation of one state's samples onto the
union grid, ``numpy.gradient`` as a sparse matrix, cumulative trapezoid and
its adjoint) are here too. Everything is free of pandas and statsmodels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from math import factorial

import numba
import numpy as np
from scipy import sparse

from econderiv.models._derivreg_kernels import (
    _lti_recursion,
    cumtrapz0,
    cumtrapz0_adjoint,
    step_classes,
    zoh_discretise,
)


# ---------------------------------------------------------------------------
# Factor functions (module level so that models pickle)
# ---------------------------------------------------------------------------

def _power(v, p):
    return v**p


def _power_deriv(v, p):
    return p * v**(p - 1)


def _zero_like(v):
    return np.zeros_like(v)


def _drag(v):
    return v * np.abs(v)


def _drag_deriv(v):
    return 2 * np.abs(v)


FUNCS = {
    # name: (func, derivative); power handled by _power with partial
    "sign": (np.sign, _zero_like),
    "abs": (np.abs, np.sign),
    "drag": (_drag, _drag_deriv),
}


@dataclass
class Factor:
    """One factor of a term: ``func(s[index])`` (``kind == "state"``) or the
    held input ``u[index]`` (``kind == "input"``). ``func is None`` is the
    identity. ``state``/``deriv`` name the state equation and derivative
    order of a state factor (for the integral form)."""

    label: str
    kind: str
    index: int
    func: object = None
    dfunc: object = None
    state: int = -1
    deriv: int = 0

    @property
    def is_identity(self) -> bool:
        return self.func is None

    def value(self, v):
        return v if self.func is None else self.func(v)

    def slope(self, v):
        return np.ones_like(v) if self.func is None else self.dfunc(v)


def power_factor(label, index, p, state, deriv):
    return Factor(label, "state", index, partial(_power, p=p), partial(_power_deriv, p=p),
                  state, deriv)


@dataclass
class Term:
    """A product of factors; no factor is the constant ``1``."""

    name: str
    factors: tuple = ()

    @property
    def kind(self) -> str:
        """``"state"`` (one identity state factor), ``"input"`` (one identity
        input factor), ``"const"``, or ``"nonlinear"``."""
        if not self.factors:
            return "const"
        if len(self.factors) == 1 and self.factors[0].is_identity:
            return self.factors[0].kind
        return "nonlinear"

    def value(self, s, u):
        """``g(s, u)``; ``s`` (..., n_states), ``u`` (..., n_exog)."""
        out = np.ones(np.shape(s)[:-1])
        for f in self.factors:
            v = s[..., f.index] if f.kind == "state" else u[..., f.index]
            out = out * f.value(v)
        return out

    def grad(self, s, u):
        """``dg/ds`` at one point (``s`` 1-D): a vector over the states."""
        out = np.zeros(s.shape[-1])
        vals = [f.value(s[f.index] if f.kind == "state" else u[f.index]) for f in self.factors]
        for i, f in enumerate(self.factors):
            if f.kind != "state":
                continue
            others = np.prod([vals[j] for j in range(len(vals)) if j != i]) if len(vals) > 1 \
                else 1.0
            out[f.index] += others * f.slope(s[f.index])
        return out


@dataclass
class SystemSpec:
    """Orders and terms of each equation; parameters ordered by equation."""

    names: list
    orders: list
    terms: list                  # one list of Term per equation
    n_exog: int = 0
    offsets: list = field(init=False)

    def __post_init__(self):
        self.offsets = list(np.concatenate([[0], np.cumsum(self.orders)[:-1]]).astype(int))

    @property
    def n_states(self) -> int:
        return int(sum(self.orders))

    @property
    def n_params(self) -> int:
        return sum(len(t) for t in self.terms)

    @property
    def is_linear(self) -> bool:
        return all(tm.kind != "nonlinear" for eq in self.terms for tm in eq)

    def last(self, k) -> int:
        return self.offsets[k] + self.orders[k] - 1

    def flat_terms(self):
        """``[(equation, term)]`` in parameter order."""
        return [(k, tm) for k, eq in enumerate(self.terms) for tm in eq]

    def system_matrices(self, theta):
        """``A`` (n_s x n_s), ``B`` (n_s x (n_exog + 1)) with ``ds/dt = A s + B [u, 1]``.

        Only for linear systems; the last input column is the constant.
        """
        ns = self.n_states
        dtype = np.result_type(np.asarray(theta).dtype, float)
        A = np.zeros((ns, ns), dtype=dtype)
        B = np.zeros((ns, self.n_exog + 1), dtype=dtype)
        for k, m in enumerate(self.orders):
            o = self.offsets[k]
            A[np.arange(o, o + m - 1), np.arange(o + 1, o + m)] = 1.0
        for j, (k, tm) in enumerate(self.flat_terms()):
            row = self.last(k)
            kind = tm.kind
            if kind == "state":
                A[row, tm.factors[0].index] += theta[j]
            elif kind == "input":
                B[row, tm.factors[0].index] += theta[j]
            elif kind == "const":
                B[row, self.n_exog] += theta[j]
            else:
                raise ValueError(f"term {tm.name!r} is nonlinear")
        return A, B


def held_inputs(u, n):
    """``[u, 1]``: the exog columns then the constant's column of ones."""
    u = np.zeros((n, 0)) if u is None else np.asarray(u, float).reshape(n, -1)
    return np.hstack([u, np.ones((n, 1))])


# ---------------------------------------------------------------------------
# Linear systems: exact discretisation with sensitivities
# ---------------------------------------------------------------------------

def sensitivity_system(spec: SystemSpec, theta):
    """Augmented linear system ``dz/dt = M z + N [u, 1]`` for
    ``z = (s, dS/dtheta_1, ..., dS/dtheta_P, dS/ds0_1, ..., dS/ds0_ns)``.

    ``dS_j/dt = A S_j + e_last g_j``: a coupling to ``s`` inside ``M`` for a
    state term, a column of ``N`` for an input or the constant.
    """
    ns, p = spec.n_states, spec.n_params
    A, B = spec.system_matrices(theta)
    nb = 1 + p + ns
    M = np.zeros((ns * nb, ns * nb), dtype=A.dtype)
    N = np.zeros((ns * nb, B.shape[1]), dtype=A.dtype)
    for b in range(nb):
        M[b * ns:(b + 1) * ns, b * ns:(b + 1) * ns] = A
    N[:ns] = B
    for j, (k, tm) in enumerate(spec.flat_terms()):
        row = (1 + j) * ns + spec.last(k)
        kind = tm.kind
        if kind == "state":
            M[row, tm.factors[0].index] = 1.0
        elif kind == "input":
            N[row, tm.factors[0].index] = 1.0
        else:
            N[row, spec.n_exog] = 1.0
    return M, N


def simulate_linear(spec: SystemSpec, theta, s0, t, w, sensitivities=False):
    """Exact states ``(n, n_s)`` at ``t`` (inputs ``w = [u, 1]`` held) and,
    when ``sensitivities``, ``ds/d(theta, s0)`` as ``(n, n_s, P + n_s)``."""
    ns, p = spec.n_states, spec.n_params
    steps, idx = step_classes(t)
    M, Nm = sensitivity_system(spec, theta) if sensitivities else spec.system_matrices(theta)
    n = M.shape[0]
    F = np.empty((max(steps.size, 1), n, n))
    G = np.empty((max(steps.size, 1), n, Nm.shape[1]))
    for i, h in enumerate(steps):
        F[i], G[i] = zoh_discretise(M, Nm, h)
    z0 = np.zeros(n)
    z0[:ns] = s0
    if sensitivities:
        for i in range(ns):
            z0[(1 + p + i) * ns + i] = 1.0
    Z = _lti_recursion(F, G, idx, np.ascontiguousarray(w, float), z0)
    states = Z[:, :ns]
    if not sensitivities:
        return states, None
    # block b of z holds column b-1 of the sensitivity matrix
    jac = Z[:, ns:].reshape(t.size, p + ns, ns).transpose(0, 2, 1)
    return states, jac


# ---------------------------------------------------------------------------
# Nonlinear systems: state and sensitivity equations integrated together
# ---------------------------------------------------------------------------

#: factor codes of the compiled right-hand side
_CODE = {None: 0, "power": 1, "sign": 2, "abs": 3}


def encode(spec: SystemSpec):
    """The terms as flat integer/float tables for the compiled right-hand side.

    Returns ``(rows, fstart, fkind, findex, fcode, fpow, shift_to, shift_from)``:
    term ``j`` adds to ``ds[rows[j]]`` and has factors ``fstart[j]:fstart[j+1]``;
    a factor is a state (``fkind 0``) or an input (``1``) at ``findex``, with
    ``fcode`` 0 identity, 1 power ``fpow``, 2 ``sign``, 3 ``abs``.
    """
    rows, fstart, fkind, findex, fcode, fpow = [], [0], [], [], [], []
    for k, tm in spec.flat_terms():
        rows.append(spec.last(k))
        for f in tm.factors:
            fkind.append(0 if f.kind == "state" else 1)
            findex.append(f.index)
            if f.func is None:
                code, p = 0, 1.0
            elif isinstance(f.func, partial):
                code, p = 1, float(f.func.keywords["p"])
            elif f.func is np.sign:
                code, p = 2, 0.0
            elif f.func is np.abs:
                code, p = 3, 0.0
            else:  # pragma: no cover - the parser makes no other factor
                raise ValueError(f"factor {f.label!r} has no compiled form")
            fcode.append(code)
            fpow.append(p)
        fstart.append(len(fkind))
    shift_from = [i + 1 for k, m in enumerate(spec.orders)
                  for i in range(spec.offsets[k], spec.offsets[k] + m - 1)]
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return (as_int(rows), as_int(fstart), as_int(fkind), as_int(findex), as_int(fcode),
            np.asarray(fpow, float), as_int([i - 1 for i in shift_from]), as_int(shift_from))


@numba.njit(cache=True)
def _factor(code, p, v):
    """Value and slope of one factor at ``v``."""
    if code == 0:
        return v, 1.0
    if code == 1:
        return v**p, p * v**(p - 1.0)
    if code == 2:
        return np.sign(v), 0.0
    return np.abs(v), np.sign(v)


@numba.njit(cache=True)
def _system_rhs(y, theta, u, ns, sens, rows, fstart, fkind, findex, fcode, fpow,
                shift_to, shift_from):
    """``ds/dt`` and, when ``sens``, ``dZ/dt = J Z + E`` (``Z`` row-major
    ``(ns, P + ns)`` after the state)."""
    P = theta.shape[0]
    out = np.zeros(y.shape[0])
    for i in range(shift_to.shape[0]):
        out[shift_to[i]] = y[shift_from[i]]
    g = np.empty(P)
    J = np.zeros((ns, ns))
    for i in range(shift_to.shape[0]):
        J[shift_to[i], shift_from[i]] = 1.0
    for j in range(P):
        a, b = fstart[j], fstart[j + 1]
        nf = b - a
        vals = np.empty(nf)
        slopes = np.empty(nf)
        gj = 1.0
        for f in range(a, b):
            v = y[findex[f]] if fkind[f] == 0 else u[findex[f]]
            val, sl = _factor(fcode[f], fpow[f], v)
            vals[f - a] = val
            slopes[f - a] = sl
            gj *= val
        g[j] = gj
        out[rows[j]] += theta[j] * gj
        if sens:
            for f in range(a, b):
                if fkind[f] != 0:
                    continue
                others = 1.0
                for f2 in range(a, b):
                    if f2 != f:
                        others *= vals[f2 - a]
                J[rows[j], findex[f]] += theta[j] * others * slopes[f - a]
    if sens:
        nc = P + ns
        for i in range(ns):
            for c in range(nc):
                acc = 0.0
                for l in range(ns):
                    if J[i, l] != 0.0:
                        acc += J[i, l] * y[ns + l * nc + c]
                out[ns + i * nc + c] = acc
        for j in range(P):
            out[ns + rows[j] * nc + j] += g[j]
    return out


# Dormand-Prince 5(4) tableau
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = np.array([
    [0, 0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0],
    [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]])
_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
_E = _B - np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200,
                    187 / 2100, 1 / 40])


@numba.njit(cache=True)
def _integrate(y0, t, seg_start, U, theta, ns, sens, rtol, atol, max_steps, rows, fstart,
               fkind, findex, fcode, fpow, shift_to, shift_from, C, Acoef, Bcoef, Ecoef):
    """Adaptive Dormand-Prince 5(4) through the sample times ``t``.

    ``U[i]`` is the input held on ``[t_i, t_{i+1})``; steps end at every
    sample time (the input may jump there). Returns ``(Y, ok)``.
    """
    n = t.shape[0]
    d = y0.shape[0]
    Y = np.empty((n, d))
    Y[0] = y0
    y = y0.copy()
    K = np.empty((7, d))
    h = 0.0
    steps = 0
    for i in range(n - 1):
        t0, t1 = t[i], t[i + 1]
        u = U[i]
        tt = t0
        if h <= 0.0:
            h = 0.01 * (t1 - t0)
        K[0] = _system_rhs(y, theta, u, ns, sens, rows, fstart, fkind, findex, fcode, fpow,
                           shift_to, shift_from)
        while tt < t1:
            last = False
            hs = h
            if tt + hs >= t1:
                hs = t1 - tt
                last = True
            for s in range(1, 7):
                ys = y.copy()
                for r in range(s):
                    if Acoef[s, r] != 0.0:
                        ys += hs * Acoef[s, r] * K[r]
                K[s] = _system_rhs(ys, theta, u, ns, sens, rows, fstart, fkind, findex,
                                   fcode, fpow, shift_to, shift_from)
            ynew = y.copy()
            err = np.zeros(d)
            for s in range(7):
                ynew += hs * Bcoef[s] * K[s]
                err += hs * Ecoef[s] * K[s]
            acc = 0.0
            for q in range(d):
                sc = atol + rtol * max(abs(y[q]), abs(ynew[q]))
                acc += (err[q] / sc)**2
            en = np.sqrt(acc / d)
            if not np.isfinite(en):
                return Y, False
            steps += 1
            if steps > max_steps:
                return Y, False
            if en <= 1.0:
                tt = t1 if last else tt + hs
                y = ynew
                K[0] = K[6]
                fac = 5.0 if en == 0.0 else min(5.0, max(0.2, 0.9 * en**-0.2))
                if not last or fac < 1.0:
                    h = hs * fac
            else:
                h = hs * max(0.2, 0.9 * en**-0.2)
                if h < 1e-14 * max(1.0, abs(tt)):
                    return Y, False
        Y[i + 1] = y
    return Y, True


def simulate_nonlinear(spec: SystemSpec, theta, s0, t, w, sensitivities=False,
                       rtol=1e-9, atol=1e-12, max_steps=200_000):
    """States (and sensitivities, ``(n, n_s, P + n_s)``) by a compiled
    adaptive Dormand-Prince 5(4) integration of the state and sensitivity
    equations together; steps end at every sample time (inputs are held).

    For non-smooth factors (``sign``) the sensitivity ignores the jump at a
    switching time. Raises ``FloatingPointError`` when the solution blows up.
    """
    ns, p = spec.n_states, spec.n_params
    theta = np.asarray(theta, float)
    n = t.size
    y0 = np.zeros(ns + (ns * (p + ns) if sensitivities else 0))
    y0[:ns] = s0
    if sensitivities:
        Z0 = np.zeros((ns, p + ns))
        Z0[:, p:] = np.eye(ns)
        y0[ns:] = Z0.ravel()
    U = np.ascontiguousarray(w[:, :spec.n_exog], float)
    if U.shape[1] == 0:
        U = np.zeros((n, 1))
    code = spec.__dict__.get("_code")
    if code is None:  # the tables depend on the spec only: built once
        code = spec.__dict__["_code"] = encode(spec)
    Y, ok = _integrate(y0, np.asarray(t, float), 0, U, theta, ns, bool(sensitivities), rtol,
                       atol, max_steps, *code, _C, _A, _B, _E)
    if not ok:
        raise FloatingPointError("the ODE solution blows up or needs too many steps")
    states = Y[:, :ns]
    if not sensitivities:
        return states, None
    return states, Y[:, ns:].reshape(n, ns, p + ns)


#: a linear system sampled with more distinct steps than this is integrated
#: (one block matrix exponential per distinct step costs more than the
#: compiled integration of the whole record)
MAX_EXPM_STEPS = 16


def simulate(spec, theta, s0, t, w, sensitivities=False):
    """Dispatch to :func:`simulate_linear` (linear, few distinct steps) or
    :func:`simulate_nonlinear`."""
    if spec.is_linear and step_classes(t)[0].size <= MAX_EXPM_STEPS:
        return simulate_linear(spec, np.asarray(theta, float), s0, t, w, sensitivities)
    return simulate_nonlinear(spec, theta, s0, t, w, sensitivities)


# ---------------------------------------------------------------------------
# Output error: stacked residuals and their Jacobian
# ---------------------------------------------------------------------------

def output_residuals(spec, theta, s0, t, w, obs_state, obs_row, y, log_scale=False):
    """Residuals ``y - x_k(t)`` (or ``log y - log x_k(t)``) of the stacked
    observations and their Jacobian ``-d x / d(theta, s0)`` (one row per
    observation).

    ``obs_state[i]`` is the equation (state) of observation ``i`` and
    ``obs_row[i]`` its position on the union time grid ``t``.
    """
    states, jac = simulate(spec, theta, s0, t, w, sensitivities=True)
    pos = np.asarray(spec.offsets)[obs_state]
    x = states[obs_row, pos]
    J = jac[obs_row, pos, :]
    if log_scale:
        if np.any(x <= 0):
            raise FloatingPointError("the simulated path is not positive: the log "
                                     "measurement model needs x > 0")
        return y - np.log(x), -J / x[:, None]
    return y - x, -J


# ---------------------------------------------------------------------------
# Integral form: linear operators on the sampled data
# ---------------------------------------------------------------------------

def interpolation_matrix(t_obs, t_grid):
    """Sparse ``(len(t_grid), len(t_obs))`` linear interpolation, constant
    beyond the first and last samples (as ``numpy.interp``)."""
    n = t_obs.size
    j = np.clip(np.searchsorted(t_obs, t_grid, side="right") - 1, 0, n - 2)
    h = t_obs[j + 1] - t_obs[j]
    a = np.clip((t_grid - t_obs[j]) / h, 0.0, 1.0)
    rows = np.arange(t_grid.size)
    return sparse.csr_matrix((np.concatenate([1 - a, a]),
                              (np.concatenate([rows, rows]), np.concatenate([j, j + 1]))),
                             shape=(t_grid.size, n))


def gradient_matrix(t):
    """Sparse matrix of ``numpy.gradient(f, t)`` (second order inside,
    first-order one-sided at the ends)."""
    n = t.size
    h = np.diff(t)
    h1, h2 = h[:-1], h[1:]
    i = np.arange(1, n - 1)
    rows = np.concatenate([[0, 0], np.repeat(i, 3), [n - 1, n - 1]])
    cols = np.concatenate([[0, 1], np.stack([i - 1, i, i + 1], 1).ravel(), [n - 2, n - 1]])
    inner = np.stack([-h2 / (h1 * (h1 + h2)), (h2 - h1) / (h1 * h2),
                      h1 / (h2 * (h1 + h2))], 1).ravel()
    vals = np.concatenate([[-1 / h[0], 1 / h[0]], inner, [-1 / h[-1], 1 / h[-1]]])
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def qpow(v, t, r):
    """``Q^r v`` (``r``-fold cumulative trapezoid from ``t[0]``)."""
    for _ in range(r):
        v = cumtrapz0(v, t)
    return v


def qpow_adjoint(v, t, r):
    """``(Q')^r v``."""
    for _ in range(r):
        v = cumtrapz0_adjoint(v, t)
    return v


def held_integral(u, t, r):
    """``r``-fold integral of a held input (exact first step)."""
    if r == 0:
        return np.asarray(u, float)
    first = np.zeros(u.size)
    first[1:] = np.cumsum(u[:-1] * np.diff(t))
    return qpow(first, t, r - 1)


def poly_columns(t, order, t0):
    """``(t - t0)^i / i!``, ``i = 0..order-1``: unknown initial conditions."""
    tt = t - t0
    return np.column_stack([tt**i / factorial(i) for i in range(order)])
