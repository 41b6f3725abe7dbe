"""Scalar numba kernels for the bivariate normal distribution (private).

Everything here works on plain floats; :mod:`econderiv.special.bvn` broadcasts
the arguments, flattens them to contiguous float64 arrays and calls the loop
kernels at the bottom of this file, so each kernel is compiled for exactly one
signature (lazily, on first use, and cached on disk).

Notation: ``Phi2(a, b, r) = P(X <= a, Y <= b)`` for a standard bivariate
normal pair with correlation ``r``; ``s = sqrt(1 - r**2)`` computed as
``sqrt((1 - r)(1 + r))`` (exact factors when ``|r| >= 1/2``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_PI = math.pi
_TWOPI = 2.0 * math.pi
_SQRT1_2 = math.sqrt(0.5)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_LOG_SQRT2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2PI = math.log(2.0 * math.pi)
_NAN = math.nan
_INF = math.inf

# Gauss-Legendre rules on [-1, 1] for the absolute-accuracy algorithm.
_X6, _W6 = np.polynomial.legendre.leggauss(6)
_X12, _W12 = np.polynomial.legendre.leggauss(12)
_X20, _W20 = np.polynomial.legendre.leggauss(20)


# ---------------------------------------------------------------------------
# univariate normal pieces
# ---------------------------------------------------------------------------

@njit(cache=True)
def _exp_half_square(x):
    """exp(-x**2/2) without the error of rounding x**2 (26-bit split of x)."""
    if abs(x) >= 8192.0:
        return math.exp(-0.5 * x * x)
    hi = math.floor(x * 8192.0 + 0.5) / 8192.0
    lo = x - hi
    return math.exp(-0.5 * hi * hi) * math.exp(-(hi * lo + 0.5 * lo * lo))


@njit(cache=True)
def _mills_cf_tail(u):
    """t with Phi(-u)/phi(u) = 1/(u + t), u >= 5 (Laplace's continued fraction).

    Evaluated backwards from a depth that converges it to rounding (checked
    against mpmath for u = 5 ... 40).
    """
    if u >= 12.0:
        n = 10
    elif u >= 8.0:
        n = 16
    else:
        n = 25
    t = 0.0
    for k in range(n, 0, -1):
        t = k / (u + t)
    return t


@njit(cache=True)
def ndtr(x):
    """Phi(x) to a few ulp relative accuracy (erfc above -5, continued fraction below)."""
    if x >= -5.0:
        return 0.5 * math.erfc(-x * _SQRT1_2)
    u = -x
    return _exp_half_square(u) / (_SQRT2PI * (u + _mills_cf_tail(u)))


@njit(cache=True)
def npdf(x):
    return math.exp(-0.5 * x * x) / _SQRT2PI


@njit(cache=True)
def log_ndtr(x):
    """log Phi(x), relative accuracy ~1e-15 over the whole real line."""
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT1_2))
    if x > -5.0:
        return math.log(0.5 * math.erfc(-x * _SQRT1_2))
    u = -x
    # Phi(-u) = phi(u) / (u + t)
    return -0.5 * u * u - _LOG_SQRT2PI - math.log(u + _mills_cf_tail(u))


@njit(cache=True)
def inv_mills(x):
    """phi(x)/Phi(x), accurate for all x (~ -x for x << 0)."""
    if x > -5.0:
        return npdf(x) / ndtr(x)
    u = -x
    return u + _mills_cf_tail(u)


# ---------------------------------------------------------------------------
# Genz (2004) / Drezner-Wesolowsky: absolute accuracy ~1e-16
# ---------------------------------------------------------------------------

@njit(cache=True)
def _genz_upper(h, k, r):
    """P(X > h, Y > k) for finite h, k and |r| < 1 (absolute error ~1e-16).

    For |r| < 0.925 Plackett's identity d Phi2 / dr = phi2 integrated in
    theta = asin(r) (Drezner and Wesolowsky 1990); else the expansion of
    Genz (2004) about |r| = 1, whose remainder is integrated numerically.
    """
    ar = abs(r)
    if ar < 0.3:
        xs = _X6
        ws = _W6
    elif ar < 0.75:
        xs = _X12
        ws = _W12
    else:
        xs = _X20
        ws = _W20
    n = xs.shape[0]
    hk = h * k
    if ar < 0.925:
        hs = 0.5 * (h * h + k * k)
        asr = math.asin(r)
        acc = 0.0
        for i in range(n):
            sn = math.sin(0.5 * asr * (1.0 + xs[i]))
            acc += ws[i] * math.exp((sn * hk - hs) / ((1.0 - sn) * (1.0 + sn)))
        return acc * asr / (4.0 * _PI) + ndtr(-h) * ndtr(-k)
    if r < 0.0:
        k = -k
        hk = -hk
    one_m = 1.0 - ar
    as_ = one_m * (1.0 + ar)
    a = math.sqrt(as_)
    bs = (h - k) * (h - k)
    c = (4.0 - hk) / 8.0
    d = (12.0 - hk) / 16.0
    bvn = a * math.exp(-0.5 * (bs / as_ + hk)) * (
        1.0 - c * (bs - as_) * (1.0 - d * bs / 5.0) / 3.0 + c * d * as_ * as_ / 5.0)
    if hk > -160.0:
        b = math.sqrt(bs)
        bvn -= (math.exp(-0.5 * hk) * _SQRT2PI * ndtr(-b / a) * b
                * (1.0 - c * bs * (1.0 - d * bs / 5.0) / 3.0))
    half = 0.5 * a
    for i in range(n):
        x = half * (1.0 + xs[i])
        xx = x * x
        rs = math.sqrt((1.0 - x) * (1.0 + x))
        e = -0.5 * (bs / xx + hk)
        if e > -100.0:
            bvn += half * ws[i] * math.exp(e) * (
                math.exp(-hk * (1.0 - rs) / (2.0 * (1.0 + rs))) / rs
                - (1.0 + c * xx * (1.0 + d * xx)))
    bvn = -bvn / _TWOPI
    if r > 0.0:
        return bvn + ndtr(-max(h, k))
    bvn = -bvn
    if k > h:
        if h < 0.0:
            bvn += ndtr(k) - ndtr(h)
        else:
            bvn += ndtr(-h) - ndtr(-k)
    return bvn


# ---------------------------------------------------------------------------
# helpers shared by value and derivatives
# ---------------------------------------------------------------------------

@njit(cache=True)
def _one_minus_r2(r):
    return (1.0 - r) * (1.0 + r)


@njit(cache=True)
def _cond_arg(a, b, r, s):
    """(b - r a)/s with the cancellation of b - r a for r -> +-1 avoided."""
    if r >= 0.0:
        num = (b - a) + (1.0 - r) * a
    else:
        num = (b + a) - (1.0 + r) * a
    return num / s


@njit(cache=True)
def log_pdf2(a, b, r):
    """log phi2(a, b, r) for |r| < 1, finite a, b."""
    s2 = _one_minus_r2(r)
    # a^2 - 2 r a b + b^2 = (a - b)^2 + 2 (1 - r) a b: exact-ish as r -> 1
    if r >= 0.0:
        q = (a - b) * (a - b) + 2.0 * (1.0 - r) * a * b
    else:
        q = (a + b) * (a + b) - 2.0 * (1.0 + r) * a * b
    return -0.5 * q / s2 - _LOG_2PI - 0.5 * math.log(s2)


@njit(cache=True)
def _degenerate_cdf(a, b, r):
    """Phi2 at r = +-1 (a, b not NaN)."""
    if r > 0.0:
        return ndtr(min(a, b))
    # P(X <= a, -X <= b) = P(-b <= X <= a)
    if a <= -b:
        return 0.0
    if a <= 0.0:
        return ndtr(a) - ndtr(-b)
    if -b >= 0.0:
        return ndtr(-(-b)) - ndtr(-a)
    return 1.0 - ndtr(-a) - ndtr(-b)


@njit(cache=True)
def cdf_abs(a, b, r):
    """Phi2 with absolute accuracy ~1e-16 for all inputs (NaN rules applied)."""
    if math.isnan(a) or math.isnan(b) or math.isnan(r) or abs(r) > 1.0:
        return _NAN
    if a == -_INF or b == -_INF:
        return 0.0
    if a == _INF:
        return ndtr(b)
    if b == _INF:
        return ndtr(a)
    if abs(r) == 1.0:
        return _degenerate_cdf(a, b, r)
    v = _genz_upper(-a, -b, r)
    return min(max(v, 0.0), 1.0)


# ---------------------------------------------------------------------------
# loop kernels (one signature each: float64 1-D arrays)
# ---------------------------------------------------------------------------

@njit(cache=True)
def loop_cdf(a, b, r, out):
    for i in range(a.shape[0]):
        out[i] = cdf_value(a[i], b[i], r[i])


@njit(cache=True)
def loop_logcdf(a, b, r, out):
    for i in range(a.shape[0]):
        out[i] = logcdf_value(a[i], b[i], r[i])


@njit(cache=True)
def loop_pdf(a, b, r, out):
    for i in range(a.shape[0]):
        out[i] = pdf_value(a[i], b[i], r[i])


@njit(cache=True)
def pdf_value(a, b, r):
    if math.isnan(a) or math.isnan(b) or math.isnan(r) or abs(r) > 1.0:
        return _NAN
    if math.isinf(a) or math.isinf(b):
        return 0.0
    if abs(r) == 1.0:
        # singular distribution on a line: density 0 off it, +inf on it
        on = (a == b) if r > 0.0 else (a == -b)
        return _INF if on else 0.0
    return math.exp(log_pdf2(a, b, r))


@njit(cache=True)
def cdf_value(a, b, r):
    return cdf_abs(a, b, r)


@njit(cache=True)
def logcdf_value(a, b, r):
    if math.isnan(a) or math.isnan(b) or math.isnan(r) or abs(r) > 1.0:
        return _NAN
    if a == -_INF or b == -_INF:
        return -_INF
    if a == _INF:
        return log_ndtr(b)
    if b == _INF:
        return log_ndtr(a)
    if r == 1.0:
        return log_ndtr(min(a, b))
    v = cdf_abs(a, b, r)
    if v > 0.5:
        # log(1 - P(X > a or Y > b)); the union probability has no cancellation
        comp = ndtr(-a) + ndtr(-b) - cdf_abs(-a, -b, r)
        return math.log1p(-comp)
    if v > 0.0:
        return math.log(v)
    return -_INF


@njit(cache=True)
def _grad_parts(a, b, r):
    """(d_a, d_b, d_r, phi2) of Phi2 for finite a, b and |r| < 1."""
    s = math.sqrt(_one_minus_r2(r))
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    da = npdf(a) * ndtr(ca)
    db = npdf(b) * ndtr(cb)
    p2 = math.exp(log_pdf2(a, b, r))
    return da, db, p2


@njit(cache=True)
def grad_value(a, b, r, out3):
    """Write (d_a, d_b, d_r) of Phi2 into out3."""
    if math.isnan(a) or math.isnan(b) or math.isnan(r) or abs(r) > 1.0:
        out3[0] = _NAN
        out3[1] = _NAN
        out3[2] = _NAN
        return
    out3[0] = 0.0
    out3[1] = 0.0
    out3[2] = 0.0
    if a == -_INF or b == -_INF:
        return
    if a == _INF and b == _INF:
        return
    if a == _INF:
        out3[1] = npdf(b)
        return
    if b == _INF:
        out3[0] = npdf(a)
        return
    if abs(r) == 1.0:
        _degenerate_grad(a, b, r, out3)
        return
    da, db, p2 = _grad_parts(a, b, r)
    out3[0] = da
    out3[1] = db
    out3[2] = p2


@njit(cache=True)
def _degenerate_grad(a, b, r, out3):
    """One-sided limits r -> +-1 of the gradient (d_r infinite on the line)."""
    if r > 0.0:
        # Phi(min(a, b))
        if a < b:
            out3[0] = npdf(a)
        elif b < a:
            out3[1] = npdf(b)
        else:
            out3[0] = 0.5 * npdf(a)
            out3[1] = 0.5 * npdf(b)
            out3[2] = _INF
    else:
        # P(-b <= X <= a)
        if a > -b:
            out3[0] = npdf(a)
            out3[1] = npdf(b)
        elif a == -b:
            out3[0] = 0.5 * npdf(a)
            out3[1] = 0.5 * npdf(b)
            out3[2] = _INF


@njit(cache=True)
def hess_value(a, b, r, out6):
    """Write (aa, ab, ar, bb, br, rr) of Phi2 into out6."""
    for j in range(6):
        out6[j] = 0.0
    if math.isnan(a) or math.isnan(b) or math.isnan(r) or abs(r) > 1.0:
        for j in range(6):
            out6[j] = _NAN
        return
    if a == -_INF or b == -_INF:
        return
    if a == _INF and b == _INF:
        return
    if a == _INF:
        out6[3] = -b * npdf(b)
        return
    if b == _INF:
        out6[0] = -a * npdf(a)
        return
    if abs(r) == 1.0:
        g = np.empty(3)
        _degenerate_grad(a, b, r, g)
        if g[2] == _INF:
            for j in range(6):
                out6[j] = _NAN
            return
        out6[0] = -a * g[0]
        out6[3] = -b * g[1]
        return
    s2 = _one_minus_r2(r)
    da, db, p2 = _grad_parts(a, b, r)
    out6[0] = -a * da - r * p2
    out6[1] = p2
    out6[2] = p2 * (r * b - a) / s2
    out6[3] = -b * db - r * p2
    out6[4] = p2 * (r * a - b) / s2
    # (a - r b)(b - r a) + r s^2, with the differences formed without cancellation
    s = math.sqrt(s2)
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    out6[5] = p2 * (ca * cb + r) / s2


@njit(cache=True)
def loop_grad(a, b, r, da, db, dr):
    g = np.empty(3)
    for i in range(a.shape[0]):
        grad_value(a[i], b[i], r[i], g)
        da[i] = g[0]
        db[i] = g[1]
        dr[i] = g[2]


@njit(cache=True)
def loop_hess(a, b, r, h):
    g = np.empty(6)
    for i in range(a.shape[0]):
        hess_value(a[i], b[i], r[i], g)
        for j in range(6):
            h[j, i] = g[j]


# ---------------------------------------------------------------------------
# derivatives of log Phi2
# ---------------------------------------------------------------------------

@njit(cache=True)
def loggrad_value(a, b, r, out3):
    """Write (d_a, d_b, d_r) of log Phi2 into out3; returns log Phi2.

    d_a log Phi2 = exp(log phi(a) + log Phi(c_a) - log Phi2), and so on, so
    nothing is formed that may underflow.
    """
    L = logcdf_value(a, b, r)
    if math.isnan(L) or L == -_INF:
        out3[0] = _NAN
        out3[1] = _NAN
        out3[2] = _NAN
        return L
    out3[0] = 0.0
    out3[1] = 0.0
    out3[2] = 0.0
    if a == _INF and b == _INF:
        return L
    if a == _INF:
        out3[1] = inv_mills(b)
        return L
    if b == _INF:
        out3[0] = inv_mills(a)
        return L
    if abs(r) == 1.0:
        _degenerate_grad(a, b, r, out3)
        p = math.exp(L)
        for j in range(3):
            out3[j] = out3[j] / p
        return L
    s = math.sqrt(_one_minus_r2(r))
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    out3[0] = math.exp(-0.5 * a * a - _LOG_SQRT2PI + log_ndtr(ca) - L)
    out3[1] = math.exp(-0.5 * b * b - _LOG_SQRT2PI + log_ndtr(cb) - L)
    out3[2] = math.exp(log_pdf2(a, b, r) - L)
    return L


@njit(cache=True)
def loghess_value(a, b, r, out6):
    """Write the six second partials of log Phi2 (aa, ab, ar, bb, br, rr)."""
    g = np.empty(3)
    L = loggrad_value(a, b, r, g)
    if math.isnan(L) or L == -_INF or abs(r) == 1.0:
        for j in range(6):
            out6[j] = _NAN
        if abs(r) == 1.0 and not math.isnan(g[0]) and g[2] == 0.0:
            # off the singular line: only the univariate curvature survives
            out6[0] = -a * g[0] - g[0] * g[0]
            out6[3] = -b * g[1] - g[1] * g[1]
            out6[1] = -g[0] * g[1]
            out6[2] = 0.0
            out6[4] = 0.0
            out6[5] = 0.0
        return
    ga = g[0]
    gb = g[1]
    gr = g[2]
    if a == _INF or b == _INF:
        for j in range(6):
            out6[j] = 0.0
        if a == _INF and b != _INF:
            out6[3] = -b * gb - gb * gb
        elif b == _INF and a != _INF:
            out6[0] = -a * ga - ga * ga
        return
    s2 = _one_minus_r2(r)
    s = math.sqrt(s2)
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    out6[0] = -a * ga - r * gr - ga * ga
    out6[1] = gr - ga * gb
    out6[2] = gr * (r * b - a) / s2 - ga * gr
    out6[3] = -b * gb - r * gr - gb * gb
    out6[4] = gr * (r * a - b) / s2 - gb * gr
    out6[5] = gr * (ca * cb + r) / s2 - gr * gr


@njit(cache=True)
def loop_loggrad(a, b, r, da, db, dr):
    g = np.empty(3)
    for i in range(a.shape[0]):
        loggrad_value(a[i], b[i], r[i], g)
        da[i] = g[0]
        db[i] = g[1]
        dr[i] = g[2]


@njit(cache=True)
def loop_loghess(a, b, r, h):
    g = np.empty(6)
    for i in range(a.shape[0]):
        loghess_value(a[i], b[i], r[i], g)
        for j in range(6):
            h[j, i] = g[j]
