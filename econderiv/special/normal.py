"""Inverse Mills ratio and its derivatives, accurate over the whole real line.

The inverse Mills ratio is ``lambda(x) = phi(x) / Phi(x)`` with ``phi`` and
``Phi`` the standard normal density and distribution function; it is the
correction term of Heckman's selection model (``E[u | u > -x] = lambda(x)``).

Numerics
--------
For ``x >= 0`` the ratio is ``phi(x) / ndtr(x)`` (no cancellation). For
``x < 0`` it is ``sqrt(2/pi) / erfcx(-x / sqrt(2))``, which never forms the
tiny ``Phi(x)``.

The derivatives ``lambda' = -lambda (x + lambda)`` and
``lambda'' = lambda ((x + lambda)(x + 2 lambda) - 1)`` cancel
catastrophically for ``x << 0``, where ``lambda ~ -x``. There we use the
tails of Laplace's continued fraction for ``u = -x``::

    lambda(-u) = u + t1,   t_k = k / (u + t_{k+1}),

so ``x + lambda = t1`` exactly, ``lambda' = -1 + t1 (t2 - t1)`` and
``lambda'' = 2 lambda t1**2 (t3 - t2) / (u + t3)``; each is formed from
positive tails with at most a mild cancellation.
"""

from __future__ import annotations

import numpy as np
from scipy import special as sc

__all__ = ["mills_ratio", "mills_ratio_deriv"]

_SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
# Below -_CF_START the continued fraction is used for the derivatives. Its
# convergence slows as u = -x falls: evaluated backwards from a fixed depth it
# is converged to rounding with 300 terms for u >= 2 and 120 for u >= 6.
_CF_START = 2.0
_CF_DEEP = 6.0


def _exp_half_square(x: np.ndarray) -> np.ndarray:
    """exp(-x**2 / 2) without the rounding error of forming x**2.

    x = hi + lo with hi holding 26 bits, so hi*hi is exact; the error of a
    rounded x**2 would be amplified by x**2 / 2 in the exponential.
    """
    hi = np.round(x * 2.0**13) / 2.0**13
    hi = np.where(np.abs(x) < 2.0**13, hi, x)
    lo = x - hi
    return np.exp(-0.5 * hi * hi) * np.exp(-(hi * lo + 0.5 * lo * lo))


def _ratio(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = _ratio_unguarded(x)
    out[x == np.inf] = 0.0
    out[x == -np.inf] = np.inf
    return out


def _ratio_unguarded(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    pos = x >= 0
    xp = x[pos]
    out[pos] = _INV_SQRT_2PI * _exp_half_square(xp) / sc.ndtr(xp)
    out[~pos] = _SQRT_2_OVER_PI / sc.erfcx(-x[~pos] / np.sqrt(2.0))
    return out


def _cf_tails(u: np.ndarray, depth: int = 3) -> list[np.ndarray]:
    """Tails t_1..t_depth of Laplace's continued fraction at ``u > 0``."""
    t = np.zeros_like(u)
    tails: list[np.ndarray] = []
    terms = 300 if np.any(u < _CF_DEEP) else 120
    for k in range(terms, 0, -1):
        t = k / (u + t)
        if k <= depth:
            tails.append(t)
    return tails[::-1]


def mills_ratio(x):
    r"""Inverse Mills ratio :math:`\lambda(x) = \phi(x) / \Phi(x)`.

    Parameters
    ----------
    x : array_like
        Real argument; broadcasting as a ufunc.

    Returns
    -------
    ndarray or float
        ``phi(x)/Phi(x)`` to about 1e-15 relative over the whole double
        range: ``lambda(x) ~ -x`` as ``x -> -inf`` and ``lambda(x) ~ phi(x)``
        as ``x -> +inf`` (underflowing to 0 past ``x ~ 38.6``). NaN gives NaN.
    """
    x = np.asarray(x, dtype=float)
    out = _ratio(np.atleast_1d(x).ravel()).reshape(x.shape)
    return out[()] if out.ndim == 0 else out


def mills_ratio_deriv(x, n: int = 1):
    r"""Derivatives of the inverse Mills ratio.

    .. math::

        \lambda'(x) = -\lambda(x)\,(x + \lambda(x)), \qquad
        \lambda''(x) = \lambda(x)\,[(x + \lambda(x))(x + 2\lambda(x)) - 1].

    Parameters
    ----------
    x : array_like
        Real argument; broadcasting as a ufunc.
    n : {1, 2}
        Order of the derivative.

    Returns
    -------
    ndarray or float
        Relative accuracy about 1e-13 over the whole range, including
        ``x << 0`` where the formulas above cancel (see the module notes).
        The first derivative satisfies Sampford's bounds
        ``-1 < lambda'(x) < 0`` wherever it is representable.
    """
    if n not in (1, 2):
        raise ValueError(f"n must be 1 or 2, got {n!r}")
    x = np.asarray(x, dtype=float)
    flat = np.atleast_1d(x).ravel()
    with np.errstate(all="ignore"):
        out = _deriv(flat, n)
    out[flat == np.inf] = 0.0
    out[flat == -np.inf] = -1.0 if n == 1 else 0.0
    out = out.reshape(x.shape)
    return out[()] if out.ndim == 0 else out


def _deriv(flat: np.ndarray, n: int) -> np.ndarray:
    out = np.empty_like(flat)
    far = flat < -_CF_START
    near = ~far

    xn = flat[near]
    lam = _ratio(xn)
    s = xn + lam
    if n == 1:
        out[near] = -lam * s
    else:
        out[near] = lam * (s * (xn + 2.0 * lam) - 1.0)

    u = -flat[far]
    if u.size:
        t1, t2, t3 = _cf_tails(u)
        if n == 1:
            out[far] = -1.0 + t1 * (t2 - t1)
        else:
            lam_far = u + t1
            out[far] = 2.0 * lam_far * t1 * t1 * (t3 - t2) / (u + t3)
    return out
