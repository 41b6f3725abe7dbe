"""Kernels of :class:`econderiv.DerivativeRegression`: plain array functions.

The equation is

    x^(m)(t) = sum_j theta_j g_j(t),

with regressors ``g_j`` of three kinds: lower derivatives ``x^(k)``
(``k < m``), inputs ``w(t)`` (exogenous columns, then a constant ``1``) held
constant between samples (zero-order hold: the value at sample ``n`` acts on
``[t_n, t_{n+1})``), and known nonlinear functions ``f(x^(k))``.

The state is ``s = (x, x', ..., x^(m-1))`` so that

    ds/dt = S s + e_m * (theta . g(s, w)),

with ``S`` the shift matrix (``S[i, i+1] = 1``) and ``e_m`` the last unit
vector. Everything here is free of pandas and statsmodels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial
from typing import Callable

import numba
import numpy as np
from scipy import linalg
from scipy.integrate import solve_ivp


# ---------------------------------------------------------------------------
# Equation specification
# ---------------------------------------------------------------------------

@dataclass
class NonlinearTerm:
    """A known function ``f(x^(k))`` of one derivative of ``x``.

    ``func`` and ``deriv`` map arrays to arrays (``deriv`` is ``df/dx^(k)``,
    used by the output-error sensitivities).
    """

    name: str
    k: int
    func: Callable[[np.ndarray], np.ndarray]
    deriv: Callable[[np.ndarray], np.ndarray]


@dataclass
class EquationSpec:
    """Which terms appear on the right of ``x^(m) = sum_j theta_j g_j``.

    Parameter order: ``derivs`` terms, exog columns, constant, nonlinear.
    """

    order: int
    derivs: tuple
    n_exog: int
    const: bool
    nonlinear: list = field(default_factory=list)

    @property
    def n_inputs(self) -> int:
        """Columns of ``w``: exog columns, then the constant."""
        return self.n_exog + int(self.const)

    @property
    def n_params(self) -> int:
        return len(self.derivs) + self.n_inputs + len(self.nonlinear)

    @property
    def is_linear(self) -> bool:
        return not self.nonlinear

    def split(self, theta):
        """``(deriv coefs, input coefs (exog then const), nonlinear coefs)``."""
        theta = np.asarray(theta)
        nd, ni = len(self.derivs), self.n_inputs
        return theta[:nd], theta[nd:nd + ni], theta[nd + ni:]

    def system_matrices(self, theta):
        """``A`` (m x m) and ``B`` (m x n_inputs) of the linear part.

        ``ds/dt = A s + B w`` when there are no nonlinear terms.
        """
        m = self.order
        td, ti, _ = self.split(theta)
        dtype = np.result_type(np.asarray(theta).dtype, float)
        A = np.zeros((m, m), dtype=dtype)
        A[np.arange(m - 1), np.arange(1, m)] = 1.0
        for c, k in zip(td, self.derivs):
            A[m - 1, k] += c
        B = np.zeros((m, self.n_inputs), dtype=dtype)
        B[m - 1, :] = ti
        return A, B


@dataclass
class Estimate:
    """What a method's fit (:mod:`._derivreg_arimax`, :mod:`._derivreg_fourier`)
    hands to the adapter, which builds the results object from it.

    ``params`` and ``cov``: theta in parameter order and its covariance;
    ``resid``: the method's residuals, one per sample, or ``None``;
    ``scale``, ``df_resid``: residual variance and degrees of freedom;
    ``nuisance``: ``(names, values, standard errors)`` or ``None``;
    ``info``: method details (``summary()`` shows some, and ``info["notes"]``);
    ``extra``: further method-specific arrays.
    """

    params: np.ndarray
    cov: np.ndarray
    resid: np.ndarray | None = None
    scale: float = np.nan
    df_resid: float = np.nan
    nuisance: tuple | None = None
    info: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def build_inputs(exog, n, const):
    """``w``: exog columns then a column of ones when ``const``."""
    cols = [] if exog is None else [np.asarray(exog, float).reshape(n, -1)]
    if const:
        cols.append(np.ones((n, 1)))
    return np.hstack(cols) if cols else np.zeros((n, 0))


# ---------------------------------------------------------------------------
# Finite differences and integrals
# ---------------------------------------------------------------------------

def fornberg_weights(offsets, order):
    """Finite-difference weights for derivatives 0..order at 0 on ``offsets``.

    Returns ``W`` with ``W[d] @ f(offsets) ~= f^(d)(0)`` (unit spacing;
    divide by ``h**d``). Fornberg (1988), Math. Comp. 51, 699-706.
    """
    z = np.asarray(offsets, float)
    n = z.size
    c = np.zeros((order + 1, n))
    c1, c4 = 1.0, z[0]
    c[0, 0] = 1.0
    for i in range(1, n):
        mn = min(i, order)
        c2, c5, c4 = 1.0, c4, z[i]
        for j in range(i):
            c3 = z[i] - z[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[k, i] = c1 * (k * c[k - 1, i - 1] - c5 * c[k, i - 1]) / c2
                c[0, i] = -c1 * c5 * c[0, i - 1] / c2
            for k in range(mn, 0, -1):
                c[k, j] = (c4 * c[k, j] - k * c[k - 1, j]) / c3
            c[0, j] = c4 * c[0, j] / c3
        c1 = c2
    return c


def central_differences(x, h, order):
    """Derivatives 0..order of uniformly sampled ``x`` at interior samples.

    Uses the centred stencil ``-p..p`` with ``p = (order + 1) // 2`` (the
    narrowest centred stencil that determines the ``order``-th derivative).
    Returns ``(D, idx)``: ``D[:, d]`` estimates ``x^(d)`` at samples ``idx``.
    """
    p = (order + 1) // 2
    offs = np.arange(-p, p + 1)
    W = fornberg_weights(offs, order)
    n = x.size
    idx = np.arange(p, n - p)
    D = np.empty((idx.size, order + 1))
    for d in range(order + 1):
        acc = np.zeros(idx.size)
        for j, o in enumerate(offs):
            if W[d, j] != 0.0:
                acc += W[d, j] * x[p + o: n - p + o]
        D[:, d] = acc / h**d
    return D, idx


def cumtrapz0(y, t):
    """Cumulative trapezoid integral from ``t[0]`` (starts at 0)."""
    out = np.zeros_like(y, dtype=float)
    out[1:] = np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(t))
    return out


def integrate_sampled(y, t, times):
    """``times``-fold integral of a continuous signal sampled at ``t``."""
    out = np.asarray(y, float)
    for _ in range(times):
        out = cumtrapz0(out, t)
    return out


def differentiate_sampled(y, t, k):
    """``k``-th derivative of a signal sampled at ``t`` by ``k`` passes of
    ``numpy.gradient`` (second-order differences, one-sided at the ends)."""
    out = y
    for _ in range(k):
        out = np.gradient(out, t)
    return out


def cumtrapz0_adjoint(v, t):
    """``Q' v`` for the cumulative-trapezoid operator ``Q`` of :func:`cumtrapz0`.

    ``Q[n, j] = h_j/2 [1 <= j <= n] + h_{j+1}/2 [j + 1 <= n]`` with
    ``h_j = t_j - t_{j-1}``, so ``(Q'v)_j = h_j/2 R_j + h_{j+1}/2 R_{j+1}``
    with ``R_j = sum_{n >= j} v_n``.
    """
    v = np.asarray(v, float)
    h = np.diff(t)
    R = np.cumsum(v[::-1], axis=0)[::-1]
    out = np.zeros_like(v)
    out[1:] += 0.5 * h.reshape((-1,) + (1,) * (v.ndim - 1)) * R[1:]
    out[:-1] += 0.5 * h.reshape((-1,) + (1,) * (v.ndim - 1)) * R[1:]
    return out


def integral_noise_adjoint(spec, theta, y, t, X):
    """``L' X`` where ``L`` maps measurement noise to integral-equation error.

    With ``y = x + e`` the integrated equation's error is
    ``eps = L e``, ``L = I - sum_k theta_k Q^(m-k) - sum_nl theta_nl Q^m
    diag(f'(y))`` (nonlinear terms in ``x`` itself; terms in a derivative
    are left out), ``Q`` the cumulative trapezoid. Used for the
    covariance ``s^2 (X'X)^-1 (L'X)'(L'X) (X'X)^-1``.
    """
    m = spec.order
    td, _, tn = spec.split(theta)
    out = np.array(X, float, copy=True)
    powers = {}

    def qpow(k):
        if k not in powers:
            v = X
            for _ in range(k):
                v = cumtrapz0_adjoint(v, t)
            powers[k] = v
        return powers[k]

    for c, k in zip(td, spec.derivs):
        out -= c * qpow(m - k)
    for c, term in zip(tn, spec.nonlinear):
        if term.k == 0:
            out -= c * term.deriv(y)[:, None] * qpow(m)
    return out


def integrate_held(u, t, times):
    """``times``-fold integral of a zero-order-hold input (exact first step)."""
    if times == 0:
        return np.asarray(u, float)
    first = np.zeros(u.size)
    first[1:] = np.cumsum(u[:-1] * np.diff(t))
    # Later integrals: the first is piecewise linear, so the trapezoid is
    # exact for the second integral at the samples.
    return integrate_sampled(first, t, times - 1)


# ---------------------------------------------------------------------------
# Linear equations: exact discretisation with sensitivities
# ---------------------------------------------------------------------------

def zoh_discretise(M, N, h):
    """``F = exp(M h)``, ``G = int_0^h exp(M s) ds N`` via one block expm."""
    n, q = N.shape
    big = np.zeros((n + q, n + q), dtype=np.result_type(M, N))
    big[:n, :n] = M
    big[:n, n:] = N
    E = linalg.expm(big * h)
    return E[:n, :n], E[:n, n:]


#: up to this many distinct steps, one block ``expm`` each; beyond, the
#: steps share a few exponentials (:func:`zoh_discretise_steps`)
FEW_STEPS = 8


def zoh_discretise_steps(M, N, steps, radius=0.5, degree=14):
    """:func:`zoh_discretise` for many steps at once: ``F[i] = exp(M h_i)``,
    ``G[i] = int_0^h_i exp(M s) ds N`` (views of :func:`zoh_transition_rows`).
    """
    n = M.shape[0]
    E = zoh_transition_rows(M, N, steps, radius, degree)
    return E[:, :, :n], E[:, :, n:]


def zoh_transition_rows(M, N, steps, radius=0.5, degree=14):
    """``[F_i, G_i]`` (``S x n x (n + q)``) for every step ``h_i``: the first
    ``n`` rows of ``exp(Z h_i)``, ``Z = [[M, N], [0, 0]]`` (from
    :func:`zoh_taylor_plan`, or one ``expm`` per step)."""
    n, q = N.shape
    steps = np.asarray(steps, dtype=float)
    plan = zoh_taylor_plan(M, N, steps, radius, degree)
    if plan is not None:
        Q, bins, delta = plan
        d = Q.shape[1] - 1
        E = np.empty((steps.size, n, n + q), dtype=Q.dtype)
        order = np.argsort(bins, kind="stable")
        bounds = np.searchsorted(bins[order], np.arange(Q.shape[0] + 1))
        for b in range(Q.shape[0]):
            sel = order[bounds[b]:bounds[b + 1]]
            E[sel] = (_powers_of(delta[sel], d) @ Q[b].reshape(d + 1, -1)).reshape(-1, n,
                                                                                  n + q)
        return E
    E = np.empty((max(steps.size, 1), n, n + q), dtype=np.result_type(M, N))
    for i, h in enumerate(steps):
        E[i, :, :n], E[i, :, n:] = zoh_discretise(M, N, h)
    return E


def zoh_taylor_plan(M, N, steps, radius=0.5, degree=14):
    """Shared exponentials for many steps: ``(Q, bins, delta)`` or ``None``.

    With ``Z = [[M, N], [0, 0]]``, ``exp(Z h)`` holds ``F = exp(M h)`` and
    ``G = int_0^h exp(M s) ds N``. The steps are grouped in bins of width
    ``2 radius / ||Z||_1`` around centres ``c``; since ``Z`` commutes with
    itself,

        exp(Z h) = exp(Z c) sum_{j <= d} Z^j (h - c)^j / j!,

    whose truncation error is at most ``rho^(d+1) e^rho / (d+1)!`` relative
    to ``||exp(Z c)||``, ``rho = ||Z|| max |h - c| <= radius``; ``d`` is the
    lowest degree (at most ``degree``) that brings it below 1e-17. Returns
    the first ``n`` rows of ``exp(Z c_b) Z^j / j!`` as ``Q[b, j]`` (``B x
    (d+1) x n x (n+q)``), each step's bin and ``delta = h - c``. One
    ``expm`` per bin then serves every step of the bin: irregular sampling
    (every step distinct) costs about what a uniform grid costs. Unlike an
    eigendecomposition of ``M`` this needs no diagonalisable matrix (the
    sensitivity system, a motor's integrator and a held constant make ``Z``
    defective). ``None`` (use one ``expm`` per step) with at most
    :data:`FEW_STEPS` steps, or when the bins would be more than half the
    steps (steps spread over many multiples of ``1/||Z||``).
    """
    n, q = N.shape
    steps = np.asarray(steps, dtype=float)
    S = steps.size
    k = n + q
    dtype = np.result_type(M, N)
    Z = np.zeros((k, k), dtype=dtype)
    Z[:n, :n] = M
    Z[:n, n:] = N
    norm = float(np.max(np.sum(np.abs(Z), axis=0))) if k else 0.0
    if S <= FEW_STEPS or norm == 0 or not np.isfinite(norm):
        return None
    width = 2.0 * radius / norm
    lo = float(steps.min())
    labels, bins = np.unique(np.floor((steps - lo) / width).astype(np.int64),
                             return_inverse=True)
    if labels.size > S // 2:
        return None
    # centre each bin on its own steps' range (clustered steps: tiny |h - c|)
    lo_b = np.full(labels.size, np.inf)
    hi_b = np.full(labels.size, -np.inf)
    np.minimum.at(lo_b, bins, steps)
    np.maximum.at(hi_b, bins, steps)
    centres = 0.5 * (lo_b + hi_b)
    delta = steps - centres[bins]
    rho = norm * float(np.max(np.abs(delta)))
    d, bound = 0, rho * np.exp(rho)
    while bound > 1e-17 and d < degree:
        d += 1
        bound *= rho / (d + 1)
    powers = np.empty((d + 1, k, k), dtype=dtype)
    powers[0] = np.eye(k)
    for j in range(1, d + 1):
        powers[j] = powers[j - 1] @ Z / j
    Q = np.empty((labels.size, d + 1, n, k), dtype=dtype)
    for b, centre in enumerate(centres):
        Q[b] = linalg.expm(Z * centre)[:n] @ powers
    return Q, bins.astype(np.int64), delta


def _powers_of(d, degree):
    """``[1, d, d^2, ..., d^degree]`` per entry of ``d`` (a Vandermonde matrix)."""
    V = np.empty((d.size, degree + 1))
    V[:, 0] = 1.0
    for j in range(1, degree + 1):
        np.multiply(V[:, j - 1], d, out=V[:, j])
    return V


def sensitivity_system(spec: EquationSpec, theta):
    """Augmented linear system for the state and its sensitivities.

    The augmented state is ``z = (s, S_1, ..., S_p, P_1, ..., P_m)`` where
    ``S_j = ds/dtheta_j`` and ``P_i = ds/ds0_i``. Differentiating
    ``ds/dt = A s + B w`` gives

        dS_j/dt = A S_j + e_m g_j(t),    dP_i/dt = A P_i,

    with ``g_j = s_k`` for a derivative term (a coupling inside ``M``) and
    ``g_j = w_j`` for an input term (a column of ``N``). Returns ``(M, N)``
    with ``dz/dt = M z + N w``.
    """
    m = spec.order
    p = spec.n_params
    A, B = spec.system_matrices(theta)
    nb = 1 + p + m
    n = m * nb
    M = np.zeros((n, n), dtype=A.dtype)
    N = np.zeros((n, spec.n_inputs), dtype=A.dtype)
    for b in range(nb):
        M[b * m:(b + 1) * m, b * m:(b + 1) * m] = A
    N[:m] = B
    nd = len(spec.derivs)
    for j, k in enumerate(spec.derivs):
        M[(1 + j) * m + m - 1, k] = 1.0
    for i in range(spec.n_inputs):
        N[(1 + nd + i) * m + m - 1, i] = 1.0
    return M, N


@numba.njit(cache=True)
def _lti_recursion_rows(E, idx, w, z0):
    """``z[k+1] = E[idx[k]] (z[k], w[k])`` with ``E[i] = [F_i, G_i]``; all ``z``."""
    n = z0.shape[0]
    N = w.shape[0]
    q = w.shape[1]
    Z = np.empty((N, n))
    Z[0] = z0
    for k in range(N - 1):
        Ei = E[idx[k]]
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += Ei[i, j] * Z[k, j]
            for j in range(q):
                acc += Ei[i, n + j] * w[k, j]
            Z[k + 1, i] = acc
    return Z


@numba.njit(cache=True)
def _lti_recursion_taylor_sparse(vals, rows, cols, bins, delta, w, z0):
    """``z[k+1] = E_k (z[k], w[k])`` with ``E_k = sum_j Q[bins[k], j] delta[k]^j``
    (:func:`zoh_taylor_plan`), each entry's polynomial in ``delta[k]``
    evaluated by Horner's rule without forming ``E_k``; returns all ``z``.

    Only the nonzero entries are visited: ``vals[b, j, e]`` is entry ``e``
    (row ``rows[e]``, column ``cols[e]`` of ``[F, G]``) of ``Q[b, j]``. The
    sensitivity system is block-triangular and its exponential keeps the
    zeros exactly (32 of 168 entries are nonzero for the motor)."""
    n = z0.shape[0]
    N = w.shape[0]
    q = w.shape[1]
    d = vals.shape[1] - 1
    nnz = rows.shape[0]
    Z = np.empty((N, n))
    Z[0] = z0
    v = np.empty(n + q)
    acc = np.empty(n)
    for k in range(N - 1):
        Vb = vals[bins[k]]
        dk = delta[k]
        for j in range(n):
            v[j] = Z[k, j]
            acc[j] = 0.0
        for j in range(q):
            v[n + j] = w[k, j]
        for e in range(nnz):
            c = Vb[d, e]
            for jj in range(d - 1, -1, -1):
                c = c * dk + Vb[jj, e]
            acc[rows[e]] += c * v[cols[e]]
        for j in range(n):
            Z[k + 1, j] = acc[j]
    return Z


@numba.njit(cache=True)
def _lti_recursion(F, G, idx, w, z0):
    """``z[k+1] = F[idx[k]] z[k] + G[idx[k]] w[k]``; returns all ``z``."""
    n = z0.shape[0]
    N = w.shape[0]
    q = w.shape[1]
    Z = np.empty((N, n))
    Z[0] = z0
    for k in range(N - 1):
        Fi = F[idx[k]]
        Gi = G[idx[k]]
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += Fi[i, j] * Z[k, j]
            for j in range(q):
                acc += Gi[i, j] * w[k, j]
            Z[k + 1, i] = acc
    return Z


def step_classes(t, rtol=1e-9):
    """Distinct sampling steps and, per interval, the index of its step."""
    h = np.diff(t)
    if h.size == 0:
        return np.array([]), np.zeros(0, np.int64)
    scale = np.max(np.abs(h))
    key = np.round(h / (rtol * scale)).astype(np.int64)
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return h[first], inv.astype(np.int64)


def simulate_linear(spec: EquationSpec, theta, s0, t, w, sensitivities=False):
    """Exact solution at the samples of a linear equation with ZOH inputs.

    Returns the states ``(N, m)`` and, when ``sensitivities``, the Jacobian
    of ``x(t_n)`` with respect to ``(theta, s0)`` as an ``(N, p + m)`` array.
    """
    m = spec.order
    p = spec.n_params
    steps, idx = step_classes(t)
    if sensitivities:
        M, Nm = sensitivity_system(spec, theta)
    else:
        M, Nm = spec.system_matrices(theta)
    n = M.shape[0]
    z0 = np.zeros(n)
    z0[:m] = s0
    if sensitivities:
        for i in range(m):
            z0[(1 + p + i) * m + i] = 1.0
    w = np.ascontiguousarray(w, float)
    plan = zoh_taylor_plan(M, Nm, steps)
    if plan is None:
        Z = _lti_recursion_rows(zoh_transition_rows(M, Nm, steps), idx, w, z0)
    else:
        Q, bins, delta = plan
        # the exact zeros of the block-triangular system are skipped
        rows, cols = np.nonzero(np.any(Q != 0, axis=(0, 1)))
        vals = np.ascontiguousarray(Q[:, :, rows, cols])
        Z = _lti_recursion_taylor_sparse(vals, rows.astype(np.int64), cols.astype(np.int64),
                                         bins[idx], delta[idx], w, z0)
    states = Z[:, :m]
    if not sensitivities:
        return states, None
    jac = Z[:, m::m][:, :p + m]
    return states, jac


# ---------------------------------------------------------------------------
# Nonlinear equations: numerically integrated sensitivity equations
# ---------------------------------------------------------------------------

def _nonlinear_rhs(spec: EquationSpec, theta, wseg, sensitivities):
    m = spec.order
    p = spec.n_params
    td, ti, tn = spec.split(theta)
    nd, ni = len(spec.derivs), spec.n_inputs
    input_part = float(ti @ wseg) if ni else 0.0

    def regressors(s):
        g = np.empty(p)
        g[:nd] = [s[k] for k in spec.derivs]
        g[nd:nd + ni] = wseg
        g[nd + ni:] = [term.func(np.asarray(s[term.k])) for term in spec.nonlinear]
        return g

    def drift(s):
        acc = input_part
        for c, k in zip(td, spec.derivs):
            acc += c * s[k]
        for c, term in zip(tn, spec.nonlinear):
            acc += c * term.func(np.asarray(s[term.k]))
        return acc

    def rhs(_t, y):
        s = y[:m]
        ds = np.empty(m)
        ds[:m - 1] = s[1:]
        ds[m - 1] = drift(s)
        if not sensitivities:
            return ds
        # Jacobian of the drift with respect to the state.
        grad = np.zeros(m)
        for c, k in zip(td, spec.derivs):
            grad[k] += c
        for c, term in zip(tn, spec.nonlinear):
            grad[term.k] += c * term.deriv(np.asarray(s[term.k]))
        Sm = y[m:].reshape(m, p + m)
        dS = np.empty_like(Sm)
        dS[:m - 1] = Sm[1:]
        dS[m - 1] = grad @ Sm
        dS[m - 1, :p] += regressors(s)
        return np.concatenate([ds, dS.ravel()])

    return rhs


def input_segments(w):
    """Start indices of runs over which every input column is constant."""
    if w.shape[1] == 0 or w.shape[0] < 2:
        return np.array([0])
    change = np.any(w[1:] != w[:-1], axis=1)
    return np.concatenate([[0], np.flatnonzero(change) + 1])


def simulate_nonlinear(spec: EquationSpec, theta, s0, t, w, sensitivities=False,
                       rtol=1e-9, atol=1e-11):
    """Solution (and sensitivities) of a nonlinear equation at the samples.

    The ODE and its sensitivity equations

        dS/dt = J_s(s) S + e_m g(s, w)^T,   dP/dt = J_s(s) P,

    are integrated with ``solve_ivp`` (DOP853) piece by piece between the
    samples where an input changes (the inputs are held, so the right-hand
    side is smooth on each piece). For non-smooth terms such as
    ``sign(x')`` the sensitivity ignores the jump at a switching time (the
    derivative of ``sign`` is taken as 0).
    """
    m = spec.order
    p = spec.n_params
    n = t.size
    starts = input_segments(w)
    ends = np.concatenate([starts[1:], [n - 1]])
    y0 = np.zeros(m + (m * (p + m) if sensitivities else 0))
    y0[:m] = s0
    if sensitivities:
        Sm = np.zeros((m, p + m))
        Sm[:, p:] = np.eye(m)
        y0[m:] = Sm.ravel()
    out = np.empty((n, y0.size))
    out[0] = y0
    for a, b in zip(starts, ends):
        if b <= a:
            continue
        rhs = _nonlinear_rhs(spec, theta, w[a], sensitivities)
        sol = solve_ivp(rhs, (t[a], t[b]), out[a], method="DOP853",
                        t_eval=t[a:b + 1], rtol=rtol, atol=atol)
        if not sol.success or sol.y.shape[1] != b - a + 1:
            raise FloatingPointError(f"ODE integration failed near t={t[a]:g}: "
                                     f"{sol.message}")
        out[a:b + 1] = sol.y.T
    states = out[:, :m]
    if not sensitivities:
        return states, None
    jac = out[:, m:].reshape(n, m, p + m)[:, 0, :]
    return states, jac


def simulate(spec, theta, s0, t, w, sensitivities=False):
    """Dispatch to :func:`simulate_linear` or :func:`simulate_nonlinear`."""
    if spec.is_linear:
        return simulate_linear(spec, theta, s0, t, w, sensitivities)
    return simulate_nonlinear(spec, theta, s0, t, w, sensitivities)


# ---------------------------------------------------------------------------
# Exact discretisation: continuous (theta) -> discrete ARMAX coefficients
# ---------------------------------------------------------------------------

def discrete_coefficients(spec: EquationSpec, theta, h):
    """Coefficients of the exact discrete transfer-function model.

    With zero-order-hold inputs, ``x_n`` sampled every ``h`` obeys

        x_n = sum_{l=1}^m phi_l x_{n-l} + sum_i sum_{l=1}^m beta_{i,l} w_{i,n-l},

    where ``1 - sum phi_l z^-l`` is ``det(I - Phi z^-1)``, ``Phi = exp(A h)``,
    and for each input column the numerator follows from
    ``C adj(zI - Phi) Gamma_i = det(zI - Phi + Gamma_i C) - det(zI - Phi)``.
    The constant's lags are summed into one intercept ``c`` (its input is
    always 1). Returns ``[phi_1..phi_m, beta_{exog...}, c]``.
    """
    m = spec.order
    A, B = spec.system_matrices(theta)
    Phi, Gam = zoh_discretise(A, B, h)
    C = np.zeros(m)
    C[0] = 1.0
    den = np.poly(Phi)
    phi = -den[1:]
    out = [phi]
    for i in range(spec.n_inputs):
        num = np.poly(Phi - np.outer(Gam[:, i], C)) - den
        beta = num[1:]
        if spec.const and i == spec.n_inputs - 1:
            out.append(np.array([beta.sum()]))
        else:
            out.append(beta)
    return np.concatenate(out)


# ---------------------------------------------------------------------------
# Frequency domain
# ---------------------------------------------------------------------------

def fourier_transforms(x, u, h, nfreq):
    """Continuous-time Fourier transforms of the record at ``omega_k = 2 pi k / T``.

    The record is ``x_0..x_N`` (``T = N h``). ``X(omega_k) = int_0^T x e^{-i omega t} dt``
    by the trapezoid rule (the DFT of ``x_0..x_{N-1}`` plus the end
    correction ``h (x_N - x_0) / 2``); for held inputs the transform is
    exact: ``U = sum_n u_n e^{-i omega n h} (1 - e^{-i omega h}) / (i omega)``.
    Returns ``(omega, X, U)`` for ``k = 1..nfreq``.
    """
    N = x.size - 1
    T = N * h
    k = np.arange(1, nfreq + 1)
    omega = 2 * np.pi * k / T
    X = h * np.fft.rfft(x[:N])[k] + 0.5 * h * (x[N] - x[0])
    if u.shape[1]:
        Uf = np.fft.rfft(u[:N], axis=0)[k]
        hold = (1 - np.exp(-1j * omega * h)) / (1j * omega)
        U = Uf * hold[:, None]
    else:
        U = np.zeros((k.size, 0), complex)
    return omega, X, U


def transient_columns(omega, order):
    """``(i omega)^j``, ``j = 0..order-1``: the boundary (leakage) terms."""
    iw = 1j * omega
    return np.column_stack([iw**j for j in range(order)])


def poly_columns(t, order):
    """``(t - t0)^i / i!``, ``i = 0..order-1``: unknown initial conditions."""
    tt = t - t[0]
    return np.column_stack([tt**i / factorial(i) for i in range(order)])
