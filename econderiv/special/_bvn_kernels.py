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
from llvmlite import ir as _llvm_ir
from numba import njit
from numba.core import types as _nb_types
from numba.extending import intrinsic

_PI = math.pi
_TWOPI = 2.0 * math.pi
_SQRT1_2 = math.sqrt(0.5)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_LOG_SQRT2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_2PI = math.log(2.0 * math.pi)
_NAN = math.nan
_INF = math.inf

# ---------------------------------------------------------------------------
# exp for the Gauss-Legendre sums: inlinable, so that LLVM vectorises it
# ---------------------------------------------------------------------------

@intrinsic
def _bits_as_float(typingctx, x):
    """Reinterpret the bits of an int64 as a float64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _llvm_ir.DoubleType())
    return _nb_types.float64(_nb_types.int64), codegen


@intrinsic
def _float_as_bits(typingctx, x):
    """Reinterpret the bits of a float64 as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], _llvm_ir.IntType(64))
    return _nb_types.int64(_nb_types.float64), codegen


_SHIFTER = 6755399441055744.0   # 1.5 * 2**52: adding it rounds to an integer
_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238    # 0x3FE62E42FEE00000: k * _LN2_HI is exact
_LN2_LO = 1.9082149292705877e-10
(_EX2, _EX3, _EX4, _EX5, _EX6, _EX7, _EX8, _EX9, _EX10, _EX11, _EX12,
 _EX13) = [1.0 / math.factorial(j) for j in range(2, 14)]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exp_gl(x):
    """exp(x) within one ulp for -708 <= x <= 709; exp(-708) ~ 3e-308 below.

    Only used for the Gauss-Legendre node terms of _genz_upper, sums with
    absolute accuracy, where the clamp changes nothing. It has no calls and no
    branches, so the node loops that use it are vectorised (4 doubles per
    AVX2 instruction) -- libm's exp is an opaque call and is not.
    x = k ln2 + r (Cody-Waite, |r| <= ln2/2), exp(r) = 1 + (r + r^2 S(r))
    with S the Taylor polynomial to r^11 (truncation < 4e-18 relative).
    """
    x = max(x, -708.0)
    t = x * _INV_LN2 + _SHIFTER
    kf = t - _SHIFTER
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    s = (((_EX2 + _EX3 * r) + (_EX4 + _EX5 * r) * r2)
         + ((_EX6 + _EX7 * r) + (_EX8 + _EX9 * r) * r2) * r4
         + ((_EX10 + _EX11 * r) + (_EX12 + _EX13 * r) * r2) * r8)
    p = 1.0 + (r + r2 * s)
    k = _float_as_bits(t) - _float_as_bits(_SHIFTER)
    return p * _bits_as_float((k + 1023) << 52)


# Gauss-Legendre rules on [-1, 1] for the absolute-accuracy algorithm.
_X6, _W6 = np.polynomial.legendre.leggauss(6)
_X12, _W12 = np.polynomial.legendre.leggauss(12)
_X20, _W20 = np.polynomial.legendre.leggauss(20)


# ---------------------------------------------------------------------------
# univariate normal pieces
# ---------------------------------------------------------------------------

@njit(cache=True, nogil=True, error_model="numpy")
def _exp_half_square(x):
    """exp(-x**2/2) without the error of rounding x**2 (26-bit split of x)."""
    if abs(x) >= 8192.0:
        return math.exp(-0.5 * x * x)
    hi = math.floor(x * 8192.0 + 0.5) / 8192.0
    lo = x - hi
    return math.exp(-0.5 * hi * hi) * math.exp(-(hi * lo + 0.5 * lo * lo))


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def ndtr(x):
    """Phi(x) to a few ulp relative accuracy (erfc above -5, continued fraction below)."""
    if x >= -5.0:
        return 0.5 * math.erfc(-x * _SQRT1_2)
    u = -x
    return _exp_half_square(u) / (_SQRT2PI * (u + _mills_cf_tail(u)))


@njit(cache=True, nogil=True, error_model="numpy")
def npdf(x):
    return math.exp(-0.5 * x * x) / _SQRT2PI


@njit(cache=True, nogil=True, error_model="numpy")
def log_ndtr(x):
    """log Phi(x) over the whole real line.

    log(erfc) down to x = -37 (relative error of Phi about 1.1e-16 x^2 from
    rounding the argument, at most 1.5e-13), the continued fraction below.
    """
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT1_2))
    if x > -37.0:
        return math.log(0.5 * math.erfc(-x * _SQRT1_2))
    u = -x
    # Phi(-u) = phi(u) / (u + t)
    return -0.5 * u * u - _LOG_SQRT2PI - math.log(u + _mills_cf_tail(u))


@njit(cache=True, nogil=True, error_model="numpy")
def inv_mills(x):
    """phi(x)/Phi(x), accurate for all x (~ -x for x << 0)."""
    if x > -5.0:
        return npdf(x) / ndtr(x)
    if x > -37.0:
        return math.exp(-0.5 * x * x - _LOG_SQRT2PI - log_ndtr(x))
    u = -x
    return u + _mills_cf_tail(u)


_XD, _WD = np.polynomial.legendre.leggauss(12)


@njit(cache=True, nogil=True, error_model="numpy")
def log_ndtr_diff(hi, lo):
    """log(Phi(hi) - Phi(lo)) for lo < hi, without cancellation.

    A short interval (at most one local scale 1/max(1, |x|)) is integrated
    directly with Gauss-Legendre, phi varying there by a factor below e^2;
    otherwise Phi(lo)/Phi(hi) (or the upper-tail ratio) is at most about
    e^-1 and the difference is formed in log space.
    """
    if not lo < hi:
        return -_INF
    width = hi - lo
    scale = max(1.0, max(abs(hi), abs(lo)))
    if width * scale <= 1.0:
        mid = 0.5 * (hi + lo)
        half = 0.5 * width
        acc = 0.0
        for i in range(_XD.shape[0]):
            d = half * _XD[i]
            # phi(mid + d) / phi(mid) = exp(-d (2 mid + d)/2)
            acc += _WD[i] * math.exp(-0.5 * d * (2.0 * mid + d))
        return -0.5 * mid * mid - _LOG_SQRT2PI + math.log(acc * half)
    if hi <= 0.0:
        lh = log_ndtr(hi)
        return lh + math.log1p(-math.exp(log_ndtr(lo) - lh))
    if lo >= 0.0:
        ll = log_ndtr(-lo)
        return ll + math.log1p(-math.exp(log_ndtr(-hi) - ll))
    return math.log1p(-(ndtr(lo) + ndtr(-hi)))


_SIN_COEF = np.array([(-1.0) ** k / math.factorial(2 * k + 1) for k in range(11)])


@njit(cache=True, nogil=True, error_model="numpy")
def _sin_small(x):
    """sin(x) for |x| <= 1.2 by its Taylor polynomial to x^21 (error < 1e-20).

    Several times cheaper than a general sin; the Gauss-Legendre nodes of
    the Genz scheme only need angles up to asin(0.925) = 1.18.
    """
    # Estrin's scheme: a short dependency chain instead of Horner's 11 steps
    c = _SIN_COEF
    z = x * x
    z2 = z * z
    z4 = z2 * z2
    q0 = (c[0] + c[1] * z) + (c[2] + c[3] * z) * z2
    q1 = (c[4] + c[5] * z) + (c[6] + c[7] * z) * z2
    q2 = (c[8] + c[9] * z) + c[10] * z2
    return x * ((q0 + q1 * z4) + q2 * (z4 * z4))


@njit(cache=True, nogil=True, error_model="numpy")
def ndtr_diff(hi, lo):
    """Phi(hi) - Phi(lo) (0 if lo >= hi) with relative accuracy."""
    if not lo < hi:
        return 0.0
    if (hi - lo) * max(1.0, max(abs(hi), abs(lo))) <= 1.0:
        return math.exp(log_ndtr_diff(hi, lo))
    # otherwise the ratio of the two terms is below ~e^-1: no cancellation
    if hi <= 0.0:
        return ndtr(hi) - ndtr(lo)
    if lo >= 0.0:
        return ndtr(-lo) - ndtr(-hi)
    return 1.0 - ndtr(lo) - ndtr(-hi)


# ---------------------------------------------------------------------------
# Genz (2004) / Drezner-Wesolowsky: absolute accuracy ~1e-16
# ---------------------------------------------------------------------------

# Size of the scratch buffer of _genz_upper: four rows of the largest rule.
# The loop kernels allocate it once per call and pass it down, so that the
# node loops are split into passes without calls or branches (sin
# polynomial, divisions, square roots, _exp_gl), which LLVM vectorises,
# and a plain sum in node order.
WORK = 4 * 20


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _theta_sum(xs, ws, asr, hk, hs, work):
    """Gauss-Legendre sum of the Drezner-Wesolowsky integrand over theta.

    Inlined with a global (frozen) node array, so the trip count is a
    compile-time constant; one copy per rule. The terms are formed in a
    vectorised pass (the exponents are <= 0: hs >= |hk|) and summed in node
    order.
    """
    n = xs.shape[0]
    for i in range(n):
        sn = _sin_small(0.5 * asr * (1.0 + xs[i]))
        work[i] = ws[i] * _exp_gl((sn * hk - hs) / ((1.0 - sn) * (1.0 + sn)))
    acc = 0.0
    for i in range(n):
        acc += work[i]
    return acc


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _near_one_sum(xs, ws, a, bs, hk, c, d, bvn, work):
    """Add the numerically integrated remainder of Genz's |r| -> 1 expansion to bvn.

    As in _theta_sum: the terms in a vectorised pass, then summed in node
    order. e <= 0 always (for hk < 0, bs/xx >= (h - k)^2 >= 4|hk|); where a
    term is kept (e > -100, so |hk| < 67) the second exponent is below 34.
    Terms with e <= -100 are computed (possibly as garbage) and dropped.
    """
    n = xs.shape[0]
    half = 0.5 * a
    for i in range(n):
        x = half * (1.0 + xs[i])
        xx = x * x
        rs = math.sqrt((1.0 - x) * (1.0 + x))
        e = -0.5 * (bs / xx + hk)
        term = half * ws[i] * _exp_gl(e) * (
            _exp_gl(-hk * (1.0 - rs) / (2.0 * (1.0 + rs))) / rs
            - (1.0 + c * xx * (1.0 + d * xx)))
        work[i] = term if e > -100.0 else 0.0
    for i in range(n):
        bvn += work[i]
    return bvn


@njit(cache=True, nogil=True, error_model="numpy")
def _genz_upper(h, k, r, work):
    """P(X > h, Y > k) for finite h, k and |r| < 1 (absolute error ~1e-16).

    For |r| < 0.925 Plackett's identity d Phi2 / dr = phi2 integrated in
    theta = asin(r) (Drezner and Wesolowsky 1990) with 6, 12 or 20
    Gauss-Legendre nodes for |r| below 0.3, 0.75, 0.925; else the expansion
    of Genz (2004) about |r| = 1, whose remainder is integrated numerically
    (20 nodes). Each rule has its own loop (see _theta_sum); ``work`` is a
    scratch array of at least WORK elements.
    """
    ar = abs(r)
    hk = h * k
    if ar < 0.925:
        hs = 0.5 * (h * h + k * k)
        asr = math.asin(r)
        if ar < 0.3:
            acc = _theta_sum(_X6, _W6, asr, hk, hs, work)
        elif ar < 0.75:
            acc = _theta_sum(_X12, _W12, asr, hk, hs, work)
        else:
            acc = _theta_sum(_X20, _W20, asr, hk, hs, work)
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
    bvn = _near_one_sum(_X20, _W20, a, bs, hk, c, d, bvn, work)
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

@njit(cache=True, nogil=True, error_model="numpy")
def _one_minus_r2(r):
    return (1.0 - r) * (1.0 + r)


@njit(cache=True, nogil=True, error_model="numpy")
def _cond_arg(a, b, r, s):
    """(b - r a)/s with the cancellation of b - r a for r -> +-1 avoided."""
    if r >= 0.0:
        num = (b - a) + (1.0 - r) * a
    else:
        num = (b + a) - (1.0 + r) * a
    return num / s


@njit(cache=True, nogil=True, error_model="numpy")
def log_pdf2(a, b, r):
    """log phi2(a, b, r) for |r| < 1, finite a, b."""
    s2 = _one_minus_r2(r)
    # a^2 - 2 r a b + b^2 = (a - b)^2 + 2 (1 - r) a b: exact-ish as r -> 1
    if r >= 0.0:
        q = (a - b) * (a - b) + 2.0 * (1.0 - r) * a * b
    else:
        q = (a + b) * (a + b) - 2.0 * (1.0 + r) * a * b
    return -0.5 * q / s2 - _LOG_2PI - 0.5 * math.log(s2)


@njit(cache=True, nogil=True, error_model="numpy")
def _degenerate_logcdf(a, b, r):
    """log Phi2 at r = +-1 (a, b finite)."""
    if r > 0.0:
        return log_ndtr(min(a, b))
    # P(X <= a, -X <= b) = P(-b <= X <= a)
    return log_ndtr_diff(a, -b)


# Below this value the Genz result (absolute error ~1e-16) is replaced by the
# relative-accuracy x-integral; above it Genz's relative error is < ~1e-11.
_TAIL = 1e-5


@njit(cache=True, nogil=True, error_model="numpy")
def cdf_abs(a, b, r, work):
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
        if r > 0.0:
            return ndtr(min(a, b))
        return ndtr_diff(a, -b)
    v = _genz_upper(-a, -b, r, work)
    return min(max(v, 0.0), 1.0)


# ---------------------------------------------------------------------------
# loop kernels (one signature each: float64 1-D arrays)
# ---------------------------------------------------------------------------

_HUGE = 1e154  # beyond this x**2 overflows; Phi(x) is 0 or 1 to any precision


@njit(cache=True, nogil=True, error_model="numpy")
def _clamp(x):
    if x > _HUGE:
        return _INF
    if x < -_HUGE:
        return -_INF
    return x


@njit(cache=True, nogil=True, error_model="numpy")
def loop_cdf(a, b, r, out):
    # Two passes with the same result as cdf_value point by point: the hot
    # loop (Genz's scheme) stays free of the large, rarely taken
    # relative-accuracy code, which runs in a second loop on the values
    # below _TAIL only.
    work = np.empty(WORK)
    n = a.shape[0]
    for i in range(n):
        x = _clamp(a[i])
        y = _clamp(b[i])
        if y < x:
            t = x
            x = y
            y = t
        out[i] = cdf_abs(x, y, r[i], work)
    for i in range(n):
        if out[i] < _TAIL:
            out[i] = cdf_value(_clamp(a[i]), _clamp(b[i]), r[i], work)


@njit(cache=True, nogil=True, error_model="numpy")
def loop_logcdf(a, b, r, out):
    work = np.empty(WORK)
    for i in range(a.shape[0]):
        out[i] = logcdf_value(_clamp(a[i]), _clamp(b[i]), r[i], work)


@njit(cache=True, nogil=True, error_model="numpy")
def loop_pdf(a, b, r, out):
    for i in range(a.shape[0]):
        out[i] = pdf_value(_clamp(a[i]), _clamp(b[i]), r[i])


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def cdf_value(a, b, r, work):
    if b < a:
        # Phi2 is symmetric in (a, b); a fixed order makes it so bitwise
        t = a
        a = b
        b = t
    v = cdf_abs(a, b, r, work)
    if v < _TAIL and abs(r) < 1.0 and not (math.isinf(a) or math.isinf(b)):
        return math.exp(tail_logcdf(a, b, r))
    return v


@njit(cache=True, nogil=True, error_model="numpy")
def logcdf_value(a, b, r, work):
    if math.isnan(a) or math.isnan(b) or math.isnan(r) or abs(r) > 1.0:
        return _NAN
    if a == -_INF or b == -_INF:
        return -_INF
    if a == _INF:
        return log_ndtr(b)
    if b == _INF:
        return log_ndtr(a)
    if abs(r) == 1.0:
        return _degenerate_logcdf(a, b, r)
    if b < a:
        t = a
        a = b
        b = t
    v = _genz_upper(-a, -b, r, work)
    if v > 0.99:
        # log(1 - P(X > a or Y > b)); the union probability has no cancellation
        # (below 0.99, log(v) has a relative error under ~1e-14 anyway)
        comp = ndtr(-a) + ndtr(-b) - cdf_value(-a, -b, r, work)
        return math.log1p(-comp)
    if v >= _TAIL:
        return math.log(v)
    return tail_logcdf(a, b, r)


@njit(cache=True, nogil=True, error_model="numpy")
def _grad_parts(a, b, r):
    """(d_a, d_b, d_r, phi2) of Phi2 for finite a, b and |r| < 1."""
    s = math.sqrt(_one_minus_r2(r))
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    da = npdf(a) * ndtr(ca)
    db = npdf(b) * ndtr(cb)
    p2 = math.exp(log_pdf2(a, b, r))
    return da, db, p2


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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
        g = np.zeros(3)
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
    # c_a = (b - r a)/s and c_b = (a - r b)/s formed without cancellation:
    # (r b - a)/s^2 = -c_b/s, and (a - r b)(b - r a) + r s^2 = s^2 (c_a c_b + r)
    s = math.sqrt(s2)
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    out6[0] = -a * da - r * p2
    out6[1] = p2
    out6[2] = -p2 * cb / s
    out6[3] = -b * db - r * p2
    out6[4] = -p2 * ca / s
    out6[5] = p2 * (ca * cb + r) / s2


@njit(cache=True, nogil=True, error_model="numpy")
def loop_grad(a, b, r, da, db, dr):
    g = np.empty(3)
    for i in range(a.shape[0]):
        grad_value(_clamp(a[i]), _clamp(b[i]), r[i], g)
        da[i] = g[0]
        db[i] = g[1]
        dr[i] = g[2]


@njit(cache=True, nogil=True, error_model="numpy")
def loop_hess(a, b, r, h):
    g = np.empty(6)
    for i in range(a.shape[0]):
        hess_value(_clamp(a[i]), _clamp(b[i]), r[i], g)
        for j in range(6):
            h[j, i] = g[j]


# ---------------------------------------------------------------------------
# derivatives of log Phi2
# ---------------------------------------------------------------------------

@njit(cache=True, nogil=True, error_model="numpy")
def loggrad_value(a, b, r, out3, work):
    """Write (d_a, d_b, d_r) of log Phi2 into out3; returns log Phi2.

    d_a log Phi2 = exp(log phi(a) + log Phi(c_a) - log Phi2), and so on, so
    nothing is formed that may underflow.
    """
    L = logcdf_value(a, b, r, work)
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
        # one-sided limits, in log space (Phi2 may underflow)
        if r > 0.0:
            if a < b:
                out3[0] = inv_mills(a)
            elif b < a:
                out3[1] = inv_mills(b)
            else:
                out3[0] = 0.5 * inv_mills(a)
                out3[1] = 0.5 * inv_mills(b)
                out3[2] = _INF
        else:
            # log(Phi(a) - Phi(-b)), a > -b here since L is finite
            out3[0] = math.exp(-0.5 * a * a - _LOG_SQRT2PI - L)
            out3[1] = math.exp(-0.5 * b * b - _LOG_SQRT2PI - L)
        return L
    s = math.sqrt(_one_minus_r2(r))
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    out3[0] = math.exp(-0.5 * a * a - _LOG_SQRT2PI + log_ndtr(ca) - L)
    out3[1] = math.exp(-0.5 * b * b - _LOG_SQRT2PI + log_ndtr(cb) - L)
    out3[2] = math.exp(log_pdf2(a, b, r) - L)
    return L


@njit(cache=True, nogil=True, error_model="numpy")
def loghess_value(a, b, r, out6, g, work):
    """Write the six second partials of log Phi2 (aa, ab, ar, bb, br, rr).

    g (3 elements) and work (WORK elements) are scratch arrays.
    """
    L = loggrad_value(a, b, r, g, work)
    for j in range(6):
        out6[j] = 0.0
    if math.isnan(L) or L == -_INF:
        for j in range(6):
            out6[j] = _NAN
        return
    ga = g[0]
    gb = g[1]
    gr = g[2]
    if a == _INF or b == _INF:
        # log Phi of the other argument, or 0 when both are infinite
        if a == _INF and b != _INF:
            out6[3] = -b * gb - gb * gb
        elif b == _INF and a != _INF:
            out6[0] = -a * ga - ga * ga
        return
    if abs(r) == 1.0:
        if gr == _INF:
            for j in range(6):
                out6[j] = _NAN
            return
        # log Phi(min(a, b)) or log(Phi(a) - Phi(-b)): no rho curvature
        out6[0] = -a * ga - ga * ga
        out6[1] = -ga * gb
        out6[3] = -b * gb - gb * gb
        return
    s2 = _one_minus_r2(r)
    s = math.sqrt(s2)
    ca = _cond_arg(a, b, r, s)
    cb = _cond_arg(b, a, r, s)
    out6[0] = -a * ga - r * gr - ga * ga
    out6[1] = gr - ga * gb
    out6[2] = -gr * cb / s - ga * gr
    out6[3] = -b * gb - r * gr - gb * gb
    out6[4] = -gr * ca / s - gb * gr
    out6[5] = gr * (ca * cb + r) / s2 - gr * gr


@njit(cache=True, nogil=True, error_model="numpy")
def loop_loggrad(a, b, r, da, db, dr):
    g = np.empty(3)
    work = np.empty(WORK)
    for i in range(a.shape[0]):
        loggrad_value(_clamp(a[i]), _clamp(b[i]), r[i], g, work)
        da[i] = g[0]
        db[i] = g[1]
        dr[i] = g[2]


@njit(cache=True, nogil=True, error_model="numpy")
def loop_loghess(a, b, r, h):
    g = np.empty(6)
    g3 = np.empty(3)
    work = np.empty(WORK)
    for i in range(a.shape[0]):
        loghess_value(_clamp(a[i]), _clamp(b[i]), r[i], g, g3, work)
        for j in range(6):
            h[j, i] = g[j]


# ---------------------------------------------------------------------------
# relative accuracy: log Phi2 from the x-integral (any finite a, b, |r| < 1)
# ---------------------------------------------------------------------------
#
# Phi2(a, b, r) = int_{-inf}^{a} phi(x) Phi(c0 + c1 x) dx, c0 = b/s, c1 = -r/s.
# The log-integrand f(x) = -x^2/2 + log Phi(c0 + c1 x) (+ const) is concave
# (f'' <= -1). We find its maximum x* on (-inf, a], its local width w there,
# and the distances on either side at which f has dropped by _DROP (Newton on
# the convex drop function, started outside the root so that it converges
# monotonically), then integrate exp(f - f*) by Gauss-Legendre in u with
# x = x* + w sinh(u): linear near the mode, geometric in the tails, so one
# rule fits Gaussian and exponential shapes alike.

_XT, _WT = np.polynomial.legendre.leggauss(32)
_DROP = 40.0


@njit(cache=True, nogil=True, error_model="numpy")
def _fprime(delta, xs, n0, r, s):
    """f'(x) and f''(x) at x = x* + delta (f'' clipped to <= -1, its exact bound)."""
    x = xs + delta
    c = (n0 - r * delta) / s
    c1 = -r / s
    if c < -37.0:
        # m = u + t with u = -c: c + m = t exactly, no cancellation
        t = _mills_cf_tail(-c)
        m = -c + t
        cm = t
    else:
        m = inv_mills(c)
        cm = c + m
    d1 = -x + c1 * m
    d2 = -1.0 - c1 * c1 * m * cm
    if not d2 <= -1.0:
        d2 = -1.0
    return d1, d2


@njit(cache=True, nogil=True, error_model="numpy")
def _drop(delta, xs, fs, n0, r, s):
    """f(x*) - f(x* + delta) (>= 0 away from the mode).

    n0 = b - r x* is formed once without cancellation, so the conditional
    argument (n0 - r delta)/s keeps its accuracy as |r| -> 1.
    """
    # x^2/2 - xs^2/2 = delta (2 xs + delta)/2, with delta exact
    return 0.5 * delta * (2.0 * xs + delta) - _dlog_ndtr(n0 / s, -r * delta / s, fs)


@njit(cache=True, nogil=True, error_model="numpy")
def _dlog_ndtr(cs, dc, fs):
    """log Phi(cs + dc) - log Phi(cs), with fs = log Phi(cs).

    Far in the lower tail both logs are about -c^2/2, huge; there the
    difference is formed from Phi(-u) = phi(u)/(u + t):
    -dc (2 cs + dc)/2 - log((u + t)/(us + ts)).
    """
    c = cs + dc
    if c < -37.0 and cs < -37.0:
        us = -cs
        uc = -c
        ts = _mills_cf_tail(us)
        tc = _mills_cf_tail(uc)
        return -0.5 * dc * (2.0 * cs + dc) - math.log1p((-dc + (tc - ts)) / (us + ts))
    return log_ndtr(c) - fs


@njit(cache=True, nogil=True, error_model="numpy")
def _side(sign, limit, w0, xs, fs, n0, r, s):
    """int_0^limit exp(f(x* + sign d) - f(x*)) dd for one side of the mode.

    The scale w of the map d = w sinh(u) is the distance at which f has
    dropped by 1 (to within a factor 2); the upper end is the distance at
    which it has dropped by _DROP, or limit.
    """
    if not limit > 0.0:
        return 0.0
    # w: first distance (halving or doubling from w0) with a drop >= 1
    d = min(w0, limit)
    dr = _drop(sign * d, xs, fs, n0, r, s)
    it = 0
    while dr >= 1.0 and it < 2000:
        dn = 0.5 * d
        drn = _drop(sign * dn, xs, fs, n0, r, s)
        if drn < 1.0:
            break
        d = dn
        dr = drn
        it += 1
    it = 0
    while dr < 1.0 and d < limit and it < 2000:
        d = min(2.0 * d, limit)
        dr = _drop(sign * d, xs, fs, n0, r, s)
        it += 1
    w = d
    # end: the concavity bound, then Newton from above on drop(d) = _DROP
    if dr < _DROP:
        if d >= limit:
            ext = limit
        else:
            d = d * _DROP / dr
            if d >= limit:
                d = limit
            dr = _drop(sign * d, xs, fs, n0, r, s)
            ext = d
    else:
        ext = d
    if dr > _DROP:
        for _ in range(40):
            if dr <= 1.25 * _DROP:
                break
            g, _h = _fprime(sign * d, xs, n0, r, s)
            slope = -sign * g
            if not slope > 0.0:
                break
            d = d - (dr - _DROP) / slope
            dr = _drop(sign * d, xs, fs, n0, r, s)
        ext = d
    U = math.asinh(ext / w)
    half = 0.5 * U
    # While Phi(c) is representable the integrand is formed as a ratio
    # Phi(c)/Phi(c*), which saves a logarithm per node.
    use_ratio = fs > -700.0
    inv_ps = 0.0
    if use_ratio:
        inv_ps = 1.0 / math.exp(fs)
    acc = 0.0
    for i in range(_XT.shape[0]):
        eu = math.exp(half * (1.0 + _XT[i]))
        inv = 1.0 / eu
        # sinh and cosh from one exponential
        delta = sign * w * 0.5 * (eu - inv)
        c = (n0 - r * delta) / s
        g = 0.5 * delta * (2.0 * xs + delta)
        if use_ratio and c > -37.0 and g > -700.0:
            val = math.exp(-g) * (0.5 * math.erfc(-c * _SQRT1_2)) * inv_ps
        else:
            val = math.exp(-g + _dlog_ndtr(n0 / s, -r * delta / s, fs))
        acc += _WT[i] * val * 0.5 * (eu + inv)
    return acc * half * w


@njit(cache=True, nogil=True, error_model="numpy")
def _numerator(b, r, x):
    """b - r x without the cancellation of r -> +-1 (exact factor 1 -+ r)."""
    if r >= 0.0:
        return (b - x) + (1.0 - r) * x
    return (b + x) - (1.0 + r) * x


@njit(cache=True, nogil=True, error_model="numpy")
def tail_logcdf(a, b, r):
    """log Phi2(a, b, r) with relative accuracy, finite a, b, |r| < 1.

    The x-integral is accurate when its integrand has a single scale. Two
    reductions keep it so:

    * r < 0 and a + b > 0: Phi2(a, b, r) = [Phi(a) - Phi(-b)] + Phi2(-a, -b, r),
      two positive terms (the step of the conditional probability would
      otherwise sit inside the range of integration);
    * r > 0, a <= b and Phi((b - r a)/s) not ~1: Phi(a) - P(X <= a, Y > b),
      whose integrand has one scale, when that subtracted probability is
      below Phi(a)/2.
    """
    if r == 0.0:
        return log_ndtr(a) + log_ndtr(b)
    if r < 0.0 and a + b > 0.0:
        return _logaddexp(log_ndtr_diff(a, -b), _xint_logcdf(-a, -b, r))
    if b < a:
        t = a
        a = b
        b = t
    if r > 0.0:
        s = math.sqrt(_one_minus_r2(r))
        # two scales only when the conditional step is sharp next to the
        # normal tail and not already saturated at the endpoint
        if s * max(1.0, abs(a)) < 0.5 and _numerator(b, r, a) / s < 8.5:
            q = _xint_logcdf(a, -b, -r)
            la = log_ndtr(a)
            if q < la - 0.6931471805599453:
                return la + math.log1p(-math.exp(q - la))
    return _xint_logcdf(a, b, r)


@njit(cache=True, nogil=True, error_model="numpy")
def _logaddexp(x, y):
    if x < y:
        t = x
        x = y
        y = t
    if y == -_INF:
        return x
    return x + math.log1p(math.exp(y - x))


@njit(cache=True, nogil=True, error_model="numpy")
def _xint_logcdf(a, b, r):
    """log Phi2 by the x-integral (see the section notes)."""
    if b < a:
        t = a
        a = b
        b = t
    s = math.sqrt(_one_minus_r2(r))
    xs = a
    n0 = _numerator(b, r, xs)
    d1, d2 = _fprime(0.0, xs, n0, r, s)
    if d1 >= 0.0:
        w = 2.0 / (d1 + math.sqrt(d1 * d1 - 2.0 * d2))
    else:
        # Newton for f'(x) = 0 on (-inf, a), kept inside a bracket
        hi = a
        lo = -_INF
        x = a
        for _ in range(200):
            step = -d1 / d2
            xn = x + step
            if d1 < 0.0:
                hi = x
            else:
                lo = x
            if not (xn > lo and xn < hi):
                if lo == -_INF:
                    xn = hi - 2.0 * (abs(hi) + 1.0)
                else:
                    xn = 0.5 * (lo + hi)
            x = xn
            d1, d2 = _fprime(0.0, x, _numerator(b, r, x), r, s)
            # the split need not sit exactly at the mode
            if abs(step) * math.sqrt(-d2) < 1e-3:
                break
        xs = x
        n0 = _numerator(b, r, xs)
        w = 1.0 / math.sqrt(-d2)
    fs = log_ndtr(n0 / s)
    total = _side(-1.0, _INF, w, xs, fs, n0, r, s)
    if a > xs:
        total += _side(1.0, a - xs, w, xs, fs, n0, r, s)
    return -0.5 * xs * xs - _LOG_SQRT2PI + fs + math.log(total)
