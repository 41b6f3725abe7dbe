"""Inverse Mills ratio and its derivatives against mpmath and identities."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econderiv.special import mills_ratio, mills_ratio_deriv
from econderiv.testing import numerical_gradient

mp.mp.dps = 50


def _reference(x: float):
    xm = mp.mpf(x)
    lam = mp.npdf(xm) / mp.ncdf(xm)
    d1 = -lam * (xm + lam)
    d2 = lam * ((xm + lam) * (xm + 2 * lam) - 1)
    return lam, d1, d2


# x from -1e4 to where the ratio leaves the normal floating-point range.
GRID = np.concatenate([-np.logspace(4, -4, 120), [0.0], np.linspace(1e-3, 37.4, 120)])


def _rel(a, ref):
    return float(abs(mp.mpf(float(a)) - ref) / abs(ref))


@pytest.mark.parametrize("x", GRID)
def test_against_mpmath(x):
    lam, d1, d2 = _reference(x)
    assert _rel(mills_ratio(x), lam) < 2e-15
    assert _rel(mills_ratio_deriv(x, 1), d1) < 1e-13
    if abs(d2) > 1e-300:
        assert _rel(mills_ratio_deriv(x, 2), d2) < 1e-11


def test_naive_formula_fails_where_ours_does_not():
    # The point of the continued fraction: at x = -1e4 the naive
    # -lambda (x + lambda) breaks Sampford's bound and the naive second
    # derivative has no correct digit.
    x = -1e4
    lam = mills_ratio(x)
    naive1 = -lam * (x + lam)
    naive2 = lam * ((x + lam) * (x + 2 * lam) - 1)
    _, d1, d2 = _reference(x)
    assert naive1 < -1.0 or _rel(naive1, d1) > 1e-9
    assert _rel(naive2, d2) > 1e-2
    assert -1.0 < mills_ratio_deriv(x, 1) and _rel(mills_ratio_deriv(x, 1), d1) < 1e-15
    assert _rel(mills_ratio_deriv(x, 2), d2) < 1e-12


def test_broadcasting_and_special_values():
    x = np.array([[np.nan, -np.inf], [np.inf, 0.0]])
    lam = mills_ratio(x)
    assert lam.shape == (2, 2)
    assert np.isnan(lam[0, 0]) and lam[0, 1] == np.inf and lam[1, 0] == 0.0
    assert lam[1, 1] == pytest.approx(np.sqrt(2 / np.pi), rel=1e-15)
    d1 = mills_ratio_deriv(x, 1)
    assert np.isnan(d1[0, 0]) and d1[0, 1] == -1.0 and d1[1, 0] == 0.0
    assert np.isscalar(mills_ratio(1.0)) or np.ndim(mills_ratio(1.0)) == 0
    assert np.isnan(mills_ratio_deriv(np.nan, 2))


def test_bad_order():
    with pytest.raises(ValueError, match="n must be 1 or 2"):
        mills_ratio_deriv(0.0, n=3)


@pytest.mark.parametrize("x", [-50.0, -7.0, -2.5, -1.0, 0.3, 4.0, 12.0])
def test_derivatives_numerically(x):
    d1 = numerical_gradient(lambda v: mills_ratio(v[0]), [x], method="richardson")[0]
    d2 = numerical_gradient(lambda v: mills_ratio_deriv(v[0], 1), [x], method="richardson")[0]
    assert d1 == pytest.approx(mills_ratio_deriv(x, 1), rel=1e-8, abs=1e-300)
    assert d2 == pytest.approx(mills_ratio_deriv(x, 2), rel=1e-6, abs=1e-300)


@settings(max_examples=400, deadline=None)
@given(st.floats(min_value=-1e4, max_value=37.0, allow_nan=False))
def test_sampford_bounds(x):
    # Sampford (1953): -1 < lambda'(x) < 0 for every real x.
    d1 = mills_ratio_deriv(x, 1)
    assert -1.0 < d1 < 0.0


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e4, max_value=30.0, allow_nan=False))
def test_second_derivative_positive(x):
    # lambda is strictly convex (lambda'' > 0) wherever representable.
    d2 = mills_ratio_deriv(x, 2)
    assert d2 > 0.0
