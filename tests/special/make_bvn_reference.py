"""High-precision references for the bivariate normal functions (mpmath).

Run ``python tests/special/make_bvn_reference.py`` to rewrite
``tests/special/bvn_reference.csv``; the tests read that table and also call
:func:`ref_logcdf` live at a few points.

Two independent methods, at 50 significant digits:

* ``quad_x``: ``Phi2 = int_{-inf}^{a} phi(x) Phi((b - rho x)/s) dx``, the
  integral split at the mode of its (log-concave) integrand and at a few
  multiples of its width, so that mp.quad sees smooth pieces;
* ``quad_r``: Plackett's identity ``d Phi2 / d rho = phi2`` integrated in
  ``r`` from a point where ``Phi2`` is known in closed form: from 0
  (``Phi(a) Phi(b)``) when ``rho >= 0``, from -1 (``max(0, Phi(a) + Phi(b) - 1)``)
  when ``rho < 0``; in ``theta = asin(r)`` to remove the endpoint singularity.

The table stores the two methods' log-CDF, their agreement, and the
closed-form gradient and Hessian entries of ``Phi2`` and ``log Phi2``
(those are products of ``phi``, ``Phi`` and ``phi2``, so only ``Phi2`` needs
a quadrature).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import mpmath as mp

mp.mp.dps = 50

HERE = Path(__file__).resolve().parent
TABLE = HERE / "bvn_reference.csv"


def _mpf(x):
    return mp.mpf(x)


def _phi2(a, b, r):
    s2 = (1 - r) * (1 + r)
    return mp.exp(-(a * a - 2 * r * a * b + b * b) / (2 * s2)) / (2 * mp.pi * mp.sqrt(s2))


def _integrand_log(x, a, b, r, s):
    return -x * x / 2 - mp.log(mp.sqrt(2 * mp.pi)) + mp.log(mp.ncdf((b - r * x) / s))


def quad_x(a, b, r):
    """log Phi2 by the x-integral (mpf arguments, |r| < 1, finite a, b)."""
    s = mp.sqrt((1 - r) * (1 + r))

    def dlog(x):
        c = (b - r * x) / s
        return -x - (r / s) * mp.npdf(c) / mp.ncdf(c)

    # mode of the concave log-integrand on (-inf, a]
    if dlog(a) >= 0:
        xm = a
    else:
        lo = a - 1
        while dlog(lo) < 0:
            lo = a - 2 * (a - lo)
        hi = a
        for _ in range(400):
            mid = (lo + hi) / 2
            if dlog(mid) > 0:
                lo = mid
            else:
                hi = mid
        xm = (lo + hi) / 2
    fm = _integrand_log(xm, a, b, r, s)
    # width on each side: distance at which the log-integrand has dropped by 1
    widths = []
    for side in (-1, 1):
        d = mp.mpf(2)
        while d > mp.mpf(10) ** -40:
            x = xm + side * d
            if not (side > 0 and x > a) and fm - _integrand_log(x, a, b, r, s) < 1:
                break
            d /= 2
        widths.append(d)
    # geometric break points away from the mode, so every piece is smooth
    pts = {xm}
    for side, w in zip((-1, 1), widths):
        for j in range(-6, 12):
            x = xm + side * w * mp.mpf(2) ** j
            if x < a:
                pts.add(x)
    # and around the step of Phi((b - r x)/s) at x = b/r, of width s/|r|
    if r != 0:
        xc, wc = b / r, s / abs(r)
        for k in [0] + [sg * mp.mpf(2) ** j for sg in (-1, 1) for j in range(-4, 10)]:
            x = xc + k * wc
            if x < a:
                pts.add(x)
    pts = [mp.ninf] + sorted(pts) + ([a] if xm < a else [])

    def g(x):
        return mp.exp(_integrand_log(x, a, b, r, s) - fm)

    val = mp.quad(g, pts, maxdegree=10)
    return fm + mp.log(val)


def quad_r(a, b, r):
    """log Phi2 by Plackett's identity in theta = asin(r) (mpf arguments)."""
    def logg(t):
        # log of phi2(a, b, sin t) cos t, with 1 - sin(t)^2 = cos(t)^2
        c2 = mp.cos(t) ** 2
        if c2 == 0:
            return mp.ninf
        sn = mp.sin(t)
        return -(a * a - 2 * sn * a * b + b * b) / (2 * c2) - mp.log(2 * mp.pi)

    if r >= 0:
        base = mp.ncdf(a) * mp.ncdf(b)
        t0 = mp.mpf(0)
    else:
        base = max(mp.mpf(0), mp.ncdf(a) - mp.ncdf(-b))
        t0 = -mp.pi / 2
    t1 = mp.asin(r)
    fr = sorted({mp.mpf(2) ** -j for j in range(0, 60)}
                | {1 - mp.mpf(2) ** -j for j in range(1, 60)} | {mp.mpf(0)})
    pts = [t0 + (t1 - t0) * f for f in fr]
    # mp.quad's tolerance is absolute: scale the integrand to a peak near 1
    scale = max(logg(t) for t in pts)

    def g(t):
        return mp.exp(logg(t) - scale)

    val = base + mp.exp(scale) * mp.quad(g, pts, maxdegree=8)
    return mp.log(val)


def ref_logcdf(a, b, r):
    """log Phi2 at 50 digits (quad_x), as mpf; handles the easy special cases."""
    a, b, r = _mpf(a), _mpf(b), _mpf(r)
    return quad_x(a, b, r)


def ref_derivs(a, b, r, logp):
    """Closed-form gradient/Hessian of Phi2 and of log Phi2 (mpf)."""
    a, b, r = _mpf(a), _mpf(b), _mpf(r)
    s2 = (1 - r) * (1 + r)
    s = mp.sqrt(s2)
    ca, cb = (b - r * a) / s, (a - r * b) / s
    p2 = _phi2(a, b, r)
    da = mp.npdf(a) * mp.ncdf(ca)
    db = mp.npdf(b) * mp.ncdf(cb)
    grad = [da, db, p2]
    hess = [-a * da - r * p2, p2, p2 * (r * b - a) / s2,
            -b * db - r * p2, p2 * (r * a - b) / s2,
            p2 * ((a - r * b) * (b - r * a) + r * s2) / s2 ** 2]
    P = mp.exp(logp)
    g = [x / P for x in grad]
    pairs = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    lhess = [h / P - g[i] * g[j] for h, (i, j) in zip(hess, pairs)]
    return grad, hess, g, lhess


# Points: region name, a, b, rho.
def reference_points():
    pts = []
    import random
    rng = random.Random(20261125)

    def add(region, a, b, r):
        pts.append((region, float(a), float(b), float(r)))

    for _ in range(60):  # bulk
        add("bulk", rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-0.99, 0.99))
    for _ in range(40):  # lower tail, any rho
        add("lower tail", rng.uniform(-12, -2), rng.uniform(-12, 2), rng.uniform(-0.99, 0.99))
    for _ in range(30):  # lower tail, negative rho
        add("lower tail rho<0", rng.uniform(-9, -1), rng.uniform(-9, -1), rng.uniform(-0.999, -0.3))
    for _ in range(30):  # one limit very negative, the other positive
        add("mixed", rng.uniform(-30, -3), rng.uniform(0, 8), rng.uniform(-0.999, 0.999))
    for _ in range(30):  # upper region, value near one
        add("upper", rng.uniform(1, 9), rng.uniform(1, 9), rng.uniform(-0.99, 0.99))
    for _ in range(40):  # |rho| near one
        r = 1 - 10 ** rng.uniform(-12, -1)
        add("|rho| near 1", rng.uniform(-6, 4), rng.uniform(-6, 4), r if rng.random() < 0.5 else -r)
    for _ in range(20):  # deep tail (underflowing CDF)
        add("deep tail", rng.uniform(-80, -30), rng.uniform(-80, -30), rng.uniform(-0.95, 0.95))
    # fixed cases
    add("issue", -8, -9, -0.7)
    add("deep tail", -80, -80, 0.0)
    add("deep tail", -80, -80, -0.9)
    add("deep tail", -80, -80, 0.9)
    add("deep tail", -40, -60, -0.5)
    add("|rho| near 1", 0.0, 0.0, -1 + 2.0 ** -40)
    add("|rho| near 1", -3.0, 3.0, -1 + 1e-14)
    add("|rho| near 1", 2.0, -2.0 + 1e-9, -0.999999)
    return pts


FIELDS = ["region", "a", "b", "rho", "logcdf", "cdf", "method_diff",
          "g_a", "g_b", "g_rho", "h_aa", "h_ab", "h_arho", "h_bb", "h_brho", "h_rhorho",
          "lg_a", "lg_b", "lg_rho", "lh_aa", "lh_ab", "lh_arho", "lh_bb", "lh_brho",
          "lh_rhorho"]


def _fmt(x):
    return mp.nstr(x, 25, min_fixed=1, max_fixed=0)


def main() -> int:
    rows = []
    worst = mp.mpf(0)
    for region, a, b, r in reference_points():
        am, bm, rm = _mpf(a), _mpf(b), _mpf(r)
        l1 = quad_x(am, bm, rm)
        l2 = quad_r(am, bm, rm)
        diff = abs(l1 - l2) / max(1, abs(l1))
        worst = max(worst, diff)
        grad, hess, lg, lh = ref_derivs(a, b, r, l1)
        rows.append([region, repr(a), repr(b), repr(r), _fmt(l1), _fmt(mp.exp(l1)),
                     mp.nstr(diff, 3)] + [_fmt(x) for x in grad + hess + lg + lh])
        print(f"{region:18s} {a: .4f} {b: .4f} {r: .6f}  log={mp.nstr(l1, 12):>20s}  diff={mp.nstr(diff, 3)}")
    with TABLE.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(FIELDS)
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {TABLE}; worst method disagreement {mp.nstr(worst, 3)}")
    return 0 if worst < mp.mpf(10) ** -18 else 1


if __name__ == "__main__":
    sys.exit(main())
