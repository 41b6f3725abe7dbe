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
        (2.0, -1.0, 0.999), (-2.0, -2.5, 0.8), (0.1, -0.2, -0.93), (1.5, 1.5, -0.999)]


@pytest.mark.parametrize("a,b,rho", LIVE)
def test_live_mpmath_bulk(a, b, rho):
    from make_bvn_reference import ref_logcdf
    ref = mp.exp(ref_logcdf(a, b, rho))
    got = bvn_cdf(a, b, rho)
    assert abs(got - ref) <= 1e-16 + 1e-16 * ref
    assert abs(bvn_logcdf(a, b, rho) - mp.log(ref)) <= 1e-14 * max(1, abs(mp.log(ref)))


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


@settings(max_examples=300, deadline=None)
@given(finite, finite, corr)
def test_property_bounds_and_monotone(a, b, rho):
    p = bvn_cdf(a, b, rho)
    assert 0.0 <= p <= min(sc.ndtr(a), sc.ndtr(b)) + 1e-16
    assert p >= max(0.0, sc.ndtr(a) + sc.ndtr(b) - 1) - 1e-15
    assert bvn_cdf(a + 0.5, b, rho) >= p - 2e-16
    d_a, d_b, d_r = bvn_cdf_grad(a, b, rho)
    assert d_a >= 0 and d_b >= 0 and d_r >= 0


@settings(max_examples=200, deadline=None)
@given(finite, finite, st.floats(-0.999, 0.999))
def test_property_rho_monotone_and_symmetric(a, b, rho):
    assert bvn_cdf(a, b, rho) == bvn_cdf(b, a, rho)
    assert bvn_cdf(a, b, min(rho + 0.001, 1.0)) >= bvn_cdf(a, b, rho) - 1e-16
