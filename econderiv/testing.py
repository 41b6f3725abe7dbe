"""Numerical checks of analytic derivatives.

:func:`check_derivatives` compares an analytic gradient (and Hessian) with
numerical differentiation at a set of points and reports the worst relative
error; :func:`assert_derivatives` raises when it exceeds a tolerance. Every
model of econderiv is tested with them.

Numerical derivatives
---------------------
* ``"complex"``: the complex step ``Im f(x + i h e_k) / h`` with
  ``h = 1e-20``, exact to rounding, for functions written with operations
  that extend analytically to complex arguments.
* ``"richardson"``: central differences at steps ``h, h/2, h/4, h/8``
  combined by Richardson extrapolation (error ``O(h^8)``), with the base
  step ``h`` chosen per parameter from ``1e-1 ... 1e-6`` (times
  ``max(1, |x|)``) where successive estimates agree best; for anything
  else (``scipy.special.log_ndtr``, ``np.abs``, ... do not take complex
  input).
* ``"auto"`` (default): complex step if ``f`` accepts complex input and its
  result agrees with a central difference, else Richardson.

The Hessian is checked against the numerical Jacobian of the *analytic*
gradient (so a check of the Hessian presupposes a passing gradient).

Error measure
-------------
The error of a gradient component is ``|a_k - n_k| / max(|n_k|, floor_k)``
(``a`` analytic, ``n`` numerical), relative where the component is not
small, absolute below the floor::

    floor_k = max(1e-8 * max(1, max_j |n_j|),  1e-5 * sqrt(|f(x)| * |c_k|))

with ``c_k`` the curvature ``d^2 f / dx_k^2`` at ``x`` (a second difference
of ``f``; :data:`GRAD_FLOOR` is the ``1e-5``). The second term matters at an
optimum, where the gradient is a sum of terms that cancel and a purely
relative error measures rounding noise (it reported 1.0 at every fitted
maximum). ``sqrt(|f| |c_k|)`` is the size the gradient would have without
that cancellation: for ``f`` a sum of ``N`` contributions (a
log-likelihood) it is of the order of the sum of the contributions'
``|df_i/dx_k|``. Equivalently, the floor is the change of the gradient over
a step of ``1e-5`` natural units ``u_k = sqrt(|f| / |c_k|)`` of ``x_k``
(Hessian times step), so it does not depend on the units of ``x_k``: a
coefficient of income in dollars is treated like one in thousands. For a
log-likelihood ``1/sqrt|c_k|`` is about a standard error, so a gradient
error that passes at tolerance ``rtol`` moves the maximum by less than
``rtol * 1e-5 * sqrt(|f|)`` standard errors. A wrong gradient is therefore
still caught at a maximum, *provided the error does not vanish with the
gradient*: an additive error (a term or an observation missing, the score
of another function) is caught; a factor on the whole gradient
(``g * (1 + e)``, a wrong sign) is zero at the maximum and cannot be seen
there, so check at points away from the optimum too.

Hessian entries use ``|a - n| / max(|n|, 1e-8 * max(1, max|n|))``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["numerical_gradient", "numerical_jacobian", "check_derivatives",
           "assert_derivatives", "DerivativeCheck"]


def _richardson_column(func, x, k, hk, nsteps=4):
    """Column ``k`` of the Jacobian by central differences at ``hk / 2**j``,
    Richardson-extrapolated (error ``O(hk**(2 nsteps))``)."""
    table = []
    for j in range(nsteps):
        step = hk / 2.0**j
        e = np.zeros_like(x)
        e[k] = step
        fp = np.atleast_1d(np.asarray(func(x + e), dtype=float))
        fm = np.atleast_1d(np.asarray(func(x - e), dtype=float))
        table.append((fp - fm).ravel() / (2.0 * step))
    # Eliminate the h^2, h^4, h^6 error terms successively.
    for level in range(1, nsteps):
        factor = 4.0**level
        table = [(factor * table[i + 1] - table[i]) / (factor - 1.0)
                 for i in range(len(table) - 1)]
    return table[0]


def _richardson_jacobian(func, x, h=None):
    """Jacobian of vector-valued ``func`` by extrapolated central differences.

    The base step is chosen per coordinate: extrapolated estimates are formed
    at base steps ``10**-1 ... 10**-6`` times ``max(1, |x_k|)`` and the one
    that agrees best with its neighbour (smallest absolute difference; the
    truth is the same at every step, so an absolute difference is the error
    estimate, and a relative one would be meaningless for a derivative near
    zero, at an optimum) is kept. A fixed step fails for badly scaled
    parameters (a coefficient of income in dollars, say), where the function
    changes by orders of magnitude over a step of 1e-3.
    """
    x = np.asarray(x, dtype=float)
    f0 = np.atleast_1d(np.asarray(func(x), dtype=float))
    jac = np.empty((f0.size, x.size))
    bases = [h] if h is not None else [10.0**-e for e in range(1, 7)]
    for k in range(x.size):
        scale = max(1.0, abs(x[k]))
        with np.errstate(all="ignore"):
            if len(bases) == 1:
                jac[:, k] = _richardson_column(func, x, k, bases[0] * scale)
                continue
            # Cheap path: steps 1e-3 and 1e-4 agree for well-scaled parameters.
            c3 = _richardson_column(func, x, k, 1e-3 * scale)
            c4 = _richardson_column(func, x, k, 1e-4 * scale)
            if np.all(np.isfinite(c3)) and np.all(np.isfinite(c4)):
                size = max(float(np.max(np.abs(c4))), 1e-300)
                if float(np.max(np.abs(c3 - c4))) <= 1e-9 * size:
                    jac[:, k] = c3
                    continue
            cols = [_richardson_column(func, x, k, b * scale) for b in bases]
        diffs = []
        for i in range(len(cols) - 1):
            a, b = cols[i], cols[i + 1]
            if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
                diffs.append(np.inf)
                continue
            diffs.append(float(np.max(np.abs(a - b))))
        best = int(np.argmin(diffs))
        jac[:, k] = cols[best + 1]
    return jac


def _complex_jacobian(func, x, h=1e-20):
    x = np.asarray(x, dtype=float)
    f0 = np.atleast_1d(np.asarray(func(x.astype(complex))))
    jac = np.empty((f0.size, x.size))
    for k in range(x.size):
        xc = x.astype(complex)
        xc[k] += 1j * h
        jac[:, k] = np.atleast_1d(np.asarray(func(xc))).ravel().imag / h
    return jac


def _complex_ok(func, x) -> bool:
    """True if ``func`` takes complex input and the complex step is sane."""
    x = np.asarray(x, dtype=float)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # casting complex to real drops the imaginary part: not usable
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            jc = _complex_jacobian(func, x)
    except Exception:
        return False
    if not np.all(np.isfinite(jc)):
        return False
    # A function that silently drops the imaginary part gives zeros, which
    # at an optimum agree with a central difference; exact zeros throughout
    # are not what a complex step gives for a genuine function.
    if not np.any(jc):
        return False
    jr = _richardson_jacobian(func, x)
    scale = max(1.0, np.max(np.abs(jr)))
    return bool(np.max(np.abs(jc - jr)) <= 1e-5 * scale)


def numerical_jacobian(func: Callable, x, method: str = "auto") -> np.ndarray:
    """Jacobian of ``func`` at ``x``: one row per output, one column per input."""
    x = np.asarray(x, dtype=float)
    if method == "auto":
        method = "complex" if _complex_ok(func, x) else "richardson"
    if method == "complex":
        return _complex_jacobian(func, x)
    if method == "richardson":
        return _richardson_jacobian(func, x)
    raise ValueError(f"method must be 'auto', 'complex' or 'richardson', got {method!r}")


def numerical_gradient(func: Callable, x, method: str = "auto") -> np.ndarray:
    """Gradient of scalar ``func`` at ``x`` (1-D, in the order of ``x``)."""
    return numerical_jacobian(func, x, method=method)[0]


GRAD_FLOOR = 1e-5
"""Factor of ``sqrt(|f| |c_k|)`` in the gradient's floor (module notes)."""


def _rel_error(analytic, numerical, floor=None) -> float:
    a = np.asarray(analytic, dtype=float)
    n = np.asarray(numerical, dtype=float)
    if a.shape != n.shape:
        raise ValueError(f"analytic derivative has shape {a.shape}, expected {n.shape}")
    if not np.all(np.isfinite(a)):
        return np.inf
    if not n.size:
        return 0.0
    base = 1e-8 * max(1.0, float(np.max(np.abs(n))))
    floor = base if floor is None else np.maximum(base, floor)
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(n), floor)))


def _curvature(f, x) -> np.ndarray:
    """``|d^2 f / dx_k^2|`` by second differences, one per coordinate.

    Steps ``10**-5 ... 10**-2`` times ``max(1, |x_k|)`` are tried from the
    smallest up; the first whose second difference stands well above its
    rounding error (``4 eps |f| / h^2``) is kept. A curvature that no step
    resolves is reported as 0, which leaves the gradient's floor at its
    relative minimum (the stricter choice).
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(all="ignore"):
        f0 = float(np.real(f(x)))
    out = np.zeros(x.size)
    if not np.isfinite(f0):
        return out
    eps = np.finfo(float).eps
    for k in range(x.size):
        scale = max(1.0, abs(x[k]))
        for base in (1e-5, 1e-4, 1e-3, 1e-2):
            h = base * scale
            e = np.zeros_like(x)
            e[k] = h
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fp, fm = float(np.real(f(x + e))), float(np.real(f(x - e)))
            except Exception:
                continue
            if not (np.isfinite(fp) and np.isfinite(fm)):
                continue
            d2 = abs(fp - 2.0 * f0 + fm) / h**2
            if d2 > 100.0 * 4.0 * eps * max(abs(f0), abs(fp), abs(fm)) / h**2:
                out[k] = d2
                break
    return out


def _grad_floor(f, x) -> np.ndarray:
    """``GRAD_FLOOR * sqrt(|f(x)| |c_k|)`` (module notes)."""
    with np.errstate(all="ignore"):
        fx = abs(float(np.real(f(np.asarray(x, dtype=float)))))
    if not np.isfinite(fx):
        return np.zeros(np.size(x))
    return GRAD_FLOOR * np.sqrt(fx * _curvature(f, x))


@dataclass
class DerivativeCheck:
    """Result of :func:`check_derivatives`.

    Attributes
    ----------
    grad_error, hess_error : float
        Worst error over all points (``nan`` for the Hessian when none was
        given): relative, with an absolute floor for components near zero
        (see the module notes; a correct gradient at a fitted maximum gives
        a small error, not 1).
    worst_point : int
        Index of the point with the worst error (gradient or Hessian).
    method : str
        The numerical method actually used for the gradient.
    per_point : list of (grad_error, hess_error)
    """

    grad_error: float
    hess_error: float
    worst_point: int
    method: str
    per_point: list = field(default_factory=list)

    @property
    def max_error(self) -> float:
        return float(np.nanmax([self.grad_error, self.hess_error]))

    def __str__(self) -> str:
        return (f"DerivativeCheck(method={self.method}, grad_error={self.grad_error:.3g}, "
                f"hess_error={self.hess_error:.3g}, worst_point={self.worst_point})")


def check_derivatives(f: Callable, grad: Callable, hess: Callable | None = None,
                      points: Sequence | np.ndarray = (), method: str = "auto"
                      ) -> DerivativeCheck:
    """Compare analytic derivatives with numerical ones at several points.

    Parameters
    ----------
    f : callable
        Scalar function of a 1-D parameter vector.
    grad : callable
        Its analytic gradient, a 1-D array in parameter order.
    hess : callable, optional
        Its analytic Hessian, square, same order. Checked against the
        numerical Jacobian of ``grad``.
    points : sequence of 1-D arrays
        Parameter vectors at which to compare.
    method : {"auto", "complex", "richardson"}
        Numerical differentiation (see module notes).

    Returns
    -------
    DerivativeCheck
    """
    pts = [np.asarray(p, dtype=float) for p in points]
    if not pts:
        raise ValueError("points is empty: give at least one parameter vector")
    per_point = []
    used = method
    for p in pts:
        m = method
        if m == "auto":
            m = "complex" if _complex_ok(f, p) else "richardson"
        used = m
        g_num = numerical_gradient(f, p, method=m)
        g_err = _rel_error(np.asarray(grad(p), dtype=float).ravel(), g_num,
                           floor=_grad_floor(f, p))
        h_err = np.nan
        if hess is not None:
            h_num = numerical_jacobian(grad, p, method=method)
            h_num = 0.5 * (h_num + h_num.T)
            h_err = _rel_error(np.asarray(hess(p), dtype=float), h_num)
        per_point.append((g_err, h_err))
    errs = np.array([[g, -np.inf if np.isnan(h) else h] for g, h in per_point])
    worst = int(np.argmax(errs.max(axis=1)))
    g_all = max(g for g, _ in per_point)
    h_vals = [h for _, h in per_point if not np.isnan(h)]
    return DerivativeCheck(g_all, max(h_vals) if h_vals else np.nan, worst, used, per_point)


def assert_derivatives(f: Callable, grad: Callable, hess: Callable | None = None,
                       points: Sequence | np.ndarray = (), method: str = "auto",
                       rtol: float = 1e-6) -> DerivativeCheck:
    """:func:`check_derivatives`, raising ``AssertionError`` above ``rtol``."""
    res = check_derivatives(f, grad, hess, points, method=method)
    if not res.max_error <= rtol:
        raise AssertionError(f"analytic derivatives disagree with numerical ones: {res} "
                             f"(rtol={rtol:g})")
    return res
