"""Bivariate normal CDF, log-CDF, density and derivatives.

References: ``bvn_reference.csv`` (made by ``make_bvn_reference.py`` with
mpmath at 50 digits by two independent quadratures), a few live mpmath
values, closed forms and identities, and numerical differentiation of every
analytic derivative with :func:`econderiv.testing.check_derivatives`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special as sc

from econderiv.special import (bvn_cdf, bvn_cdf_grad, bvn_cdf_hess, bvn_logcdf,
                               bvn_logcdf_grad, bvn_logcdf_hess, bvn_pdf)
from econderiv.testing import check_derivatives

HERE = Path(__file__).resolve().parent
TABLE = HERE / "bvn_reference.csv"
mp.mp.dps = 50


def _load_table():
    if not TABLE.exists():
        return []
    with TABLE.open() as fh:
        return list(csv.DictReader(fh))


ROWS = _load_table()


# ---------------------------------------------------------------------------
# closed forms and identities
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rho", [-0.999999, -0.9, -0.5, -0.1, 0.0, 0.2, 0.7, 0.95, 0.9999999])
def test_sheppard_orthant(rho):
    # Sheppard (1898): Phi2(0, 0, rho) = 1/4 + asin(rho) / (2 pi)
    ref = mp.mpf(1) / 4 + mp.asin(mp.mpf(rho)) / (2 * mp.pi)
    got = bvn_cdf(0.0, 0.0, rho)
    assert abs(got - float(ref)) <= 1e-16
    assert abs(got - ref) / ref < 1e-13


def test_independence_and_symmetry():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 2, 500), rng.normal(0, 2, 500)
    np.testing.assert_allclose(bvn_cdf(a, b, 0.0), sc.ndtr(a) * sc.ndtr(b), rtol=1e-14, atol=1e-17)
    rho = rng.uniform(-1, 1, 500)
    np.testing.assert_array_equal(bvn_cdf(a, b, rho), bvn_cdf(b, a, rho))


def _ndtr_mp(x):
    return np.array([float(mp.ncdf(v)) for v in np.atleast_1d(x)])


def test_marginals_and_infinities():
    a = np.array([-30.0, -5.0, -1.0, 0.0, 0.5, 3.0, 9.0])
    for rho in (-1.0, -0.8, 0.0, 0.3, 0.99, 1.0):
        np.testing.assert_allclose(bvn_cdf(a, np.inf, rho), _ndtr_mp(a), rtol=1e-15)
        np.testing.assert_allclose(bvn_cdf(np.inf, a, rho), _ndtr_mp(a), rtol=1e-15)
        assert np.all(bvn_cdf(a, -np.inf, rho) == 0.0)
        assert np.all(bvn_cdf(-np.inf, a, rho) == 0.0)
        assert bvn_cdf(np.inf, np.inf, rho) == 1.0
        np.testing.assert_allclose(bvn_logcdf(a, np.inf, rho), sc.log_ndtr(a), rtol=1e-14)


def test_rectangles_sum_to_one():
    rng = np.random.default_rng(2)
    a, b, rho = rng.normal(0, 1.5, 400), rng.normal(0, 1.5, 400), rng.uniform(-1, 1, 400)
    p_ll = bvn_cdf(a, b, rho)
    p_lu = bvn_cdf(a, -b, -rho)       # P(X <= a, Y > b)
    p_ul = bvn_cdf(-a, b, -rho)       # P(X > a, Y <= b)
    p_uu = bvn_cdf(-a, -b, rho)       # P(X > a, Y > b)
    np.testing.assert_allclose(p_ll + p_lu + p_ul + p_uu, 1.0, rtol=0, atol=4e-16)
    np.testing.assert_allclose(p_ll + p_lu, sc.ndtr(a), rtol=0, atol=4e-16)


def test_degenerate_correlations():
    a = np.array([-30.0, -2.0, -0.5, 0.0, 1.0, 2.0, 30.0])
    b = np.array([-1.0, -2.5, 0.5, 0.0, -1.0, 3.0, -29.0])
    np.testing.assert_allclose(bvn_cdf(a, b, 1.0), _ndtr_mp(np.minimum(a, b)), rtol=1e-15, atol=0)
    with mp.workdps(250):
        ref = np.array([float(max(0, mp.ncdf(x) - mp.ncdf(-y))) for x, y in zip(a, b)])
    np.testing.assert_allclose(bvn_cdf(a, b, -1.0), ref, rtol=1e-14, atol=0)
    assert ref[-1] > 1e-186  # P(29 <= X <= 30), lost by 1 - 1 in naive arithmetic
    # a small probability at rho = -1 is not lost to cancellation: P(8 <= X <= 9)
    ref = float(mp.ncdf(-8) - mp.ncdf(-9))
    assert abs(bvn_cdf(9.0, -8.0, -1.0) / ref - 1) < 1e-13
    # continuity of the limits
    for r in (1.0, -1.0):
        near = r * (1 - 1e-13)
        np.testing.assert_allclose(bvn_cdf(a, b, near), bvn_cdf(a, b, r), atol=1e-6)


def test_bad_input_gives_nan():
    assert math.isnan(bvn_cdf(np.nan, 0.0, 0.5))
    assert math.isnan(bvn_cdf(0.0, np.nan, 0.5))
    assert math.isnan(bvn_cdf(0.0, 0.0, np.nan))
    for rho in (1.0000001, -1.5, np.inf):
        assert math.isnan(bvn_cdf(0.0, 0.0, rho))
        assert math.isnan(bvn_logcdf(0.0, 0.0, rho))
        assert math.isnan(bvn_pdf(0.0, 0.0, rho))
        assert all(math.isnan(x) for x in bvn_cdf_grad(0.0, 0.0, rho))
        assert all(math.isnan(x) for x in bvn_cdf_hess(0.0, 0.0, rho))
        assert all(math.isnan(x) for x in bvn_logcdf_grad(0.0, 0.0, rho))


def test_broadcasting_and_scalars():
    out = bvn_cdf(np.zeros((3, 1)), np.zeros((1, 4)), 0.5)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, 1 / 3, rtol=1e-15)
    assert np.ndim(bvn_cdf(0.0, 0.0, 0.5)) == 0
    assert isinstance(bvn_cdf(0.0, 0.0, 0.5), float)
    g = bvn_cdf_grad([0.0, 1.0], 0.5, [[0.1], [0.2]])
    assert len(g) == 3 and all(x.shape == (2, 2) for x in g)
    h = bvn_logcdf_hess([0.0, 1.0], 0.5, 0.1)
    assert len(h) == 6 and all(x.shape == (2,) for x in h)
    assert bvn_cdf([], [], []).shape == (0,)
    # integer and list input
    assert bvn_cdf(0, 0, 0) == 0.25


def test_extreme_arguments():
    """Huge, tiny and subnormal limits, rho one ulp from +-1: finite, consistent."""
    vals = [-1e300, -1e10, -1e4, -500.0, -40.0, -8.0, -1.0, -5e-324, 0.0, 1e-300, 1.0, 8.0,
            40.0, 1e4, 1e300]
    rhos = [-1.0, -1 + 2.0**-53, -0.999999, -0.7, 0.0, 0.3, 0.925, 1 - 2.0**-53, 1.0]
    a, b, rho = (x.ravel() for x in np.meshgrid(vals, vals, rhos, indexing="ij"))
    p, lp = bvn_cdf(a, b, rho), bvn_logcdf(a, b, rho)
    assert np.all((p >= 0) & (p <= 1))
    assert not np.any(np.isnan(lp)) and np.all(lp <= 0)
    pos = p > 1e-300
    np.testing.assert_allclose(np.log(p[pos]), lp[pos], rtol=1e-12, atol=1e-15)
    # deep values: log Phi2(-40, -40, -1 + 2^-53) ~ -(a + b)^2 / (4 (1 + rho))
    assert bvn_logcdf(-40.0, -40.0, -1 + 2.0**-53) == pytest.approx(-6400 / (4 * 2.0**-53), rel=1e-6)
    g = np.array(bvn_cdf_grad(a, b, rho))
    assert not np.any(np.isnan(g))
    off_line = (np.abs(rho) < 1) | ((rho == 1) & (a != b)) | ((rho == -1) & (a != -b))
    h = np.array(bvn_cdf_hess(a, b, rho))
    assert not np.any(np.isnan(h[:, off_line]))
    lg = np.array(bvn_logcdf_grad(a, b, rho))
    assert not np.any(np.isnan(lg[:, np.isfinite(lp) & off_line]))


def test_pdf():
    rng = np.random.default_rng(3)
    a, b, rho = rng.normal(0, 2, 50), rng.normal(0, 2, 50), rng.uniform(-0.999, 0.999, 50)
    for x, y, r in zip(a, b, rho):
        ref = mp.exp(-(mp.mpf(x) ** 2 - 2 * mp.mpf(r) * x * y + mp.mpf(y) ** 2)
                     / (2 * (1 - mp.mpf(r) ** 2))) / (2 * mp.pi * mp.sqrt(1 - mp.mpf(r) ** 2))
        assert abs(bvn_pdf(x, y, r) / ref - 1) < 1e-12
    assert bvn_pdf(1.0, 2.0, 1.0) == 0.0 and bvn_pdf(1.0, 1.0, 1.0) == np.inf


# ---------------------------------------------------------------------------
# against mpmath
# ---------------------------------------------------------------------------

LIVE = [(1.0, 2.0, 0.3), (-1.0, 0.5, -0.6), (0.5, 0.7, 0.95), (-0.3, 1.2, -0.97),
        (2.0, -1.0, 0.999), (-2.0, -2.5, 0.8), (-4.0, -5.0, -0.5), (-7.0, -3.0, 0.6)]


def _live_logcdf(a, b, r):
    """A lighter, independent live reference: Plackett's identity at 30 digits.

    Phi2 = Phi(a) Phi(b) + int_0^r phi2 dr' (r >= 0), or
    max(0, Phi(a) - Phi(-b)) + int_{-1}^r phi2 dr' (r < 0), in theta = asin(r'),
    with the integrand scaled to its largest sampled value.
    """
    with mp.workdps(30):
        a, b, r = mp.mpf(a), mp.mpf(b), mp.mpf(r)

        def logg(t):
            c2 = mp.cos(t) ** 2
            if c2 == 0:
                return mp.ninf
            return -(a * a - 2 * mp.sin(t) * a * b + b * b) / (2 * c2) - mp.log(2 * mp.pi)

        if r >= 0:
            base, t0 = mp.ncdf(a) * mp.ncdf(b), mp.mpf(0)
        else:
            base, t0 = max(mp.mpf(0), mp.ncdf(a) - mp.ncdf(-b)), -mp.pi / 2
        t1 = mp.asin(r)
        pts = [t0 + (t1 - t0) * f for f in (0, mp.mpf(1) / 64, mp.mpf(1) / 8, mp.mpf(1) / 2,
                                            mp.mpf(7) / 8, mp.mpf(63) / 64, 1)]
        scale = max(logg(t) for t in pts)
        val = mp.quad(lambda t: mp.exp(logg(t) - scale), pts)
        return mp.log(base + mp.exp(scale) * val)


@pytest.mark.parametrize("a,b,rho", LIVE)
def test_live_mpmath(a, b, rho):
    ref_log = _live_logcdf(a, b, rho)
    ref = mp.exp(ref_log)
    got = bvn_cdf(a, b, rho)
    assert abs(got - ref) <= 1e-16 + 1e-12 * ref
    assert abs(bvn_logcdf(a, b, rho) - ref_log) <= 1e-12 * max(1, abs(ref_log))


# ---------------------------------------------------------------------------
# against the shipped mpmath table (make_bvn_reference.py)
# ---------------------------------------------------------------------------

def test_table_is_there_and_verified():
    assert len(ROWS) >= 250
    # the two independent mpmath quadratures agree far below what is tested
    assert max(float(r["method_diff"]) for r in ROWS) < 1e-18
    assert {r["region"] for r in ROWS} >= {"bulk", "lower tail", "lower tail rho<0", "mixed",
                                           "upper", "|rho| near 1", "deep tail", "issue"}


def _cols(names):
    return np.array([[float(r[k]) for k in names] for r in ROWS])


def _abr():
    x = _cols(["a", "b", "rho"])
    return x[:, 0], x[:, 1], x[:, 2]


def _ref(name):
    return [mp.mpf(r[name]) for r in ROWS]


def test_cdf_against_table():
    a, b, rho = _abr()
    got = bvn_cdf(a, b, rho)
    for g, r, ref in zip(got, ROWS, _ref("logcdf")):
        p = mp.exp(ref)
        assert abs(g - p) <= 1e-15, r
        if p >= 1e-300:
            assert abs(g - p) <= 1e-10 * p, (r, float(abs(g - p) / p))


def test_logcdf_against_table():
    a, b, rho = _abr()
    got = bvn_logcdf(a, b, rho)
    for g, r, ref in zip(got, ROWS, _ref("logcdf")):
        # relative error of log Phi2, and of Phi2 itself where |log Phi2| < 1
        assert abs(g - ref) <= 1e-10 * max(1, abs(ref)), (r, float(g - ref))


def test_issue_value_and_deep_tail():
    # a = -8, b = -9, rho = -0.7: about 6.1e-109 (Genz's absolute scheme gives 6e-39)
    row = next(r for r in ROWS if r["region"] == "issue")
    ref = mp.exp(mp.mpf(row["logcdf"]))
    assert abs(bvn_cdf(-8.0, -9.0, -0.7) / ref - 1) < 1e-12
    assert float(ref) == pytest.approx(6.0839961204031606e-109, rel=1e-15)
    # a = b = -80: log values of thousands below zero, finite and accurate
    deep = [r for r in ROWS if r["region"] == "deep tail"]
    assert min(float(r["logcdf"]) for r in deep) < -5000
    for r in deep:
        got = bvn_logcdf(float(r["a"]), float(r["b"]), float(r["rho"]))
        assert np.isfinite(got)
        assert abs(got / float(r["logcdf"]) - 1) < 1e-12


GRAD = ["g_a", "g_b", "g_rho"]
HESS = ["h_aa", "h_ab", "h_arho", "h_bb", "h_brho", "h_rhorho"]
LGRAD = ["lg_a", "lg_b", "lg_rho"]
LHESS = ["lh_aa", "lh_ab", "lh_arho", "lh_bb", "lh_brho", "lh_rhorho"]


def _entry_errors(got, names, floor_rel):
    """Relative error per entry; floor at floor_rel times the row's largest entry."""
    worst = []
    for i, r in enumerate(ROWS):
        refs = [mp.mpf(r[k]) for k in names]
        scale = max(abs(x) for x in refs)
        if scale < mp.mpf("1e-300"):
            continue
        for j, ref in enumerate(refs):
            err = abs(mp.mpf(float(got[j][i])) - ref) / max(abs(ref), scale * floor_rel)
            worst.append((float(err), r["region"], r["a"], r["b"], r["rho"], names[j]))
    return worst


def test_cdf_gradient_against_table():
    a, b, rho = _abr()
    errs = _entry_errors(bvn_cdf_grad(a, b, rho), GRAD, mp.mpf("1e-300"))
    assert max(errs)[0] < 1e-10, max(errs)


def test_cdf_hessian_against_table():
    a, b, rho = _abr()
    # entries that pass through zero (e.g. d2/da2 = 0 on a curve) are
    # measured against 1e-6 of the largest entry at that point
    errs = _entry_errors(bvn_cdf_hess(a, b, rho), HESS, mp.mpf("1e-6"))
    assert max(errs)[0] < 1e-10, max(errs)


# exp(log phi + log Phi - log Phi2) inherits the absolute error of log Phi2,
# about 1e-16 |log Phi2|; the log-derivative tests take the rows with
# |log Phi2| < 1e5 (all but a few points at rho within 1e-4 of -1, where
# log Phi2 reaches -9e11).
LOG_OK = [i for i, r in enumerate(ROWS) if abs(float(r["logcdf"])) < 1e5]


def test_logcdf_gradient_against_table():
    left_out = [r for i, r in enumerate(ROWS) if i not in set(LOG_OK)]
    assert all(r["region"] == "|rho| near 1" and float(r["rho"]) < -0.9999 for r in left_out)
    a, b, rho = _abr()
    errs = _entry_errors(bvn_logcdf_grad(a, b, rho), LGRAD, mp.mpf("1e-300"))
    keep = {(ROWS[i]["a"], ROWS[i]["b"], ROWS[i]["rho"]) for i in LOG_OK}
    errs = [e for e in errs if e[2:5] in keep]
    assert max(errs)[0] < 1e-10, max(errs)


def test_logcdf_hessian_against_table():
    # H/Phi2 - g g^T cancels terms of size (1 + |g|)^2 (a^2 in the deep
    # tail) down to O(1): the error is measured against that size
    a, b, rho = _abr()
    got = bvn_logcdf_hess(a, b, rho)
    worst = 0.0
    for i in LOG_OK:
        r = ROWS[i]
        size = (1 + max(abs(float(r[k])) for k in LGRAD)) ** 2
        err = max(abs(float(got[j][i]) - float(r[k])) for j, k in enumerate(LHESS))
        worst = max(worst, err / size)
    assert worst < 1e-10


# ---------------------------------------------------------------------------
# derivatives: numerical checks
# ---------------------------------------------------------------------------

DERIV_POINTS = [np.array(p) for p in
                [(0.2, 0.3, 0.4), (-1.0, 0.5, -0.6), (1.3, -0.7, 0.9), (-2.0, -1.5, 0.7),
                 (0.5, 2.5, -0.3), (-0.4, -0.4, 0.97), (1.0, -0.8, -0.95), (-3.0, 1.0, 0.1)]]


# Richardson differences of a function of size ~1 resolve a derivative
# component to ~1e-13 absolute; check_derivatives floors the relative error
# at 1e-8, so 1e-6 is what numerical differentiation can confirm here. The
# tight (1e-10) comparison is against the closed forms in mpmath below.
def _check(f, g, h, points, rtol):
    res = check_derivatives(f, g, h, points, method="richardson")
    assert res.grad_error < rtol, res
    assert res.hess_error < rtol, res


def test_cdf_derivatives_numerically():
    _check(lambda p: bvn_cdf(*p), lambda p: np.array(bvn_cdf_grad(*p)),
           lambda p: _sym(bvn_cdf_hess(*p)), DERIV_POINTS, 1e-6)


def test_logcdf_derivatives_numerically():
    _check(lambda p: bvn_logcdf(*p), lambda p: np.array(bvn_logcdf_grad(*p)),
           lambda p: _sym(bvn_logcdf_hess(*p)), DERIV_POINTS, 1e-6)


TAIL_POINTS = [np.array(p) for p in
               [(-8.0, -9.0, -0.7), (-30.0, -28.0, 0.3), (-6.0, -5.5, 0.95), (-4.0, 4.2, -0.9),
                (-45.0, -50.0, -0.5), (-3.0, -3.0, -0.99)]]


def test_logcdf_derivatives_numerically_in_the_tails():
    # differentiating the relative-accuracy log-CDF numerically checks both
    # the tail integral (smoothness, consistency) and the log-derivatives
    res = check_derivatives(lambda p: bvn_logcdf(*p), lambda p: np.array(bvn_logcdf_grad(*p)),
                            lambda p: _sym(bvn_logcdf_hess(*p)), TAIL_POINTS, method="richardson")
    assert res.grad_error < 1e-6, res
    assert res.hess_error < 1e-6, res


def _sym(h6):
    aa, ab, ar, bb, br, rr = h6
    return np.array([[aa, ab, ar], [ab, bb, br], [ar, br, rr]])


def test_seed_case_common_mean():
    """X ~ N(mu, s1^2), Y ~ N(mu, s2^2), corr rho: d/dmu P(X <= x, Y <= y)."""
    x, y = 1.0, 0.5
    for mu, s1, s2, rho in [(0.3, 1.5, 0.8, 0.6), (-1.0, 0.5, 2.0, -0.4), (2.0, 1.0, 1.0, 0.95)]:
        def prob(m):
            return bvn_cdf((x - m[0]) / s1, (y - m[0]) / s2, rho)

        def dprob(m):
            d_a, d_b, _ = bvn_cdf_grad((x - m[0]) / s1, (y - m[0]) / s2, rho)
            return np.array([-(d_a / s1 + d_b / s2)])

        res = check_derivatives(prob, dprob, None, [np.array([mu])], method="richardson")
        assert res.grad_error < 1e-9, res
        # and against mpmath: d/dmu = -(phi(a) Phi(c_a)/s1 + phi(b) Phi(c_b)/s2)
        a, b = (x - mp.mpf(mu)) / s1, (y - mp.mpf(mu)) / s2
        s = mp.sqrt(1 - mp.mpf(rho) ** 2)
        ref = -(mp.npdf(a) * mp.ncdf((b - rho * a) / s) / s1
                + mp.npdf(b) * mp.ncdf((a - rho * b) / s) / s2)
        assert abs(dprob([mu])[0] / ref - 1) < 1e-12


# ---------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------

finite = st.floats(-12, 12, allow_nan=False)
corr = st.floats(-1, 1, allow_nan=False)
tail = st.floats(-30, 0, allow_nan=False)


def _ndtr(x):
    return float(mp.ncdf(x))


@settings(max_examples=300, deadline=None)
@given(finite, finite, corr)
def test_property_bounds_and_monotone(a, b, rho):
    p = bvn_cdf(a, b, rho)
    # Frechet bounds, relative in the tails
    assert 0.0 <= p <= min(_ndtr(a), _ndtr(b)) * (1 + 1e-12)
    assert p >= (max(0.0, float(mp.ncdf(a) - mp.ncdf(-b))) if rho > -1 else 0.0) * (1 - 1e-12) - 1e-300
    assert bvn_cdf(a + 0.5, b, rho) >= p * (1 - 1e-13)
    d_a, d_b, d_r = bvn_cdf_grad(a, b, rho)
    assert d_a >= 0 and d_b >= 0 and d_r >= 0


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.floats(-0.999, 0.999))
def test_property_rho_monotone_and_symmetric(a, b, rho):
    assert bvn_cdf(a, b, rho) == bvn_cdf(b, a, rho)
    assert bvn_logcdf(a, b, rho) == bvn_logcdf(b, a, rho)
    assert bvn_cdf(a, b, min(rho + 0.001, 1.0)) >= bvn_cdf(a, b, rho) * (1 - 1e-13)


@settings(max_examples=200, deadline=None)
@given(tail, finite, st.floats(-0.9999, 0.9999))
def test_property_split_of_marginal_is_relatively_exact(a, b, rho):
    # P(X <= a, Y <= b) + P(X <= a, Y > b) = Phi(a), both terms positive, so
    # relative accuracy of each shows up here even where Phi(a) ~ 1e-198
    lo, hi = bvn_cdf(a, b, rho), bvn_cdf(a, -b, -rho)
    pa = _ndtr(a)
    assert abs((lo + hi) / pa - 1) < 1e-11
    llo, lhi = bvn_logcdf(a, b, rho), bvn_logcdf(a, -b, -rho)
    assert abs(np.logaddexp(llo, lhi) - float(mp.log(mp.ncdf(a)))) < 1e-11 * max(1, abs(a) ** 2)


@settings(max_examples=100, deadline=None)
@given(st.floats(-60, -30), st.floats(-60, -30), st.floats(-0.95, 0.95))
def test_property_logcdf_deep_tail_split(a, b, rho):
    # the CDF underflows here; the log-CDF must still satisfy the identity
    la = float(mp.log(mp.ncdf(a)))
    both = np.logaddexp(bvn_logcdf(a, b, rho), bvn_logcdf(a, -b, -rho))
    assert np.isfinite(bvn_logcdf(a, b, rho))
    assert abs(both - la) < 1e-13 * abs(la)
