"""The derivative checker must find wrong derivatives, and pass right ones."""

import numpy as np
import pytest
from scipy import special

from econderiv.testing import (assert_derivatives, check_derivatives,
                               numerical_gradient, numerical_jacobian)


def f(x):
    return np.sum(np.exp(x[0]) * np.sin(x[1]) + x[0] ** 3 * x[1])


def grad(x):
    return np.array([np.exp(x[0]) * np.sin(x[1]) + 3 * x[0] ** 2 * x[1],
                     np.exp(x[0]) * np.cos(x[1]) + x[0] ** 3])


def hess(x):
    return np.array([[np.exp(x[0]) * np.sin(x[1]) + 6 * x[0] * x[1],
                      np.exp(x[0]) * np.cos(x[1]) + 3 * x[0] ** 2],
                     [np.exp(x[0]) * np.cos(x[1]) + 3 * x[0] ** 2,
                      -np.exp(x[0]) * np.sin(x[1])]])


POINTS = [np.array([0.3, -1.2]), np.array([-2.0, 0.5]), np.array([1.5, 2.5])]


def test_correct_derivatives_pass_with_complex_step():
    res = check_derivatives(f, grad, hess, POINTS)
    assert res.method == "complex"
    assert res.grad_error < 1e-13
    assert res.hess_error < 1e-12


def test_richardson_is_accurate():
    res = check_derivatives(f, grad, hess, POINTS, method="richardson")
    assert res.grad_error < 1e-9
    assert res.hess_error < 1e-9


def test_wrong_gradient_is_caught():
    def bad_grad(x):
        g = grad(x)
        g[1] *= 1 + 1e-5
        return g

    res = check_derivatives(f, bad_grad, None, POINTS)
    assert res.grad_error > 5e-6
    with pytest.raises(AssertionError, match="disagree"):
        assert_derivatives(f, bad_grad, None, POINTS, rtol=1e-7)


def test_wrong_hessian_is_caught():
    def bad_hess(x):
        h = hess(x)
        h[0, 1] = h[1, 0] = h[0, 1] * 1.001
        return h

    res = check_derivatives(f, grad, bad_hess, POINTS)
    assert res.hess_error > 1e-4
    assert res.worst_point in (0, 1, 2)


def test_auto_falls_back_for_non_analytic_functions():
    # log_ndtr does not take complex input: auto must use Richardson.
    def g(x):
        return float(np.sum(special.log_ndtr(x)))

    def dg(x):
        return np.exp(-0.5 * x**2 - special.log_ndtr(x)) / np.sqrt(2 * np.pi)

    res = check_derivatives(g, dg, None, [np.array([-30.0, -5.0]), np.array([0.0, 3.0])])
    assert res.method == "richardson"
    assert res.grad_error < 1e-8


def test_function_dropping_imaginary_part_is_not_trusted():
    # np.real() silently kills the complex step; auto must notice.
    def g(x):
        return np.real(np.sum(np.asarray(x) ** 2))

    num = numerical_gradient(g, [1.0, -2.0])
    assert num == pytest.approx([2.0, -4.0], rel=1e-8)


def test_jacobian_layout_and_errors():
    jac = numerical_jacobian(lambda x: np.array([x[0] * x[1], x[0] ** 2, 3.0]), [2.0, 5.0])
    assert jac.shape == (3, 2)
    assert jac == pytest.approx(np.array([[5.0, 2.0], [4.0, 0.0], [0.0, 0.0]]), abs=1e-9)
    with pytest.raises(ValueError, match="points is empty"):
        check_derivatives(f, grad, hess, [])
    with pytest.raises(ValueError, match="method"):
        numerical_jacobian(f, [1.0, 2.0], method="forward")


def test_badly_scaled_parameter():
    # A coefficient on a regressor in raw dollars: f changes by orders of
    # magnitude over a step of 1e-3 in b. The step search must cope.
    income = np.array([1250.0, 7083.3, 4166.7, 2500.0])

    def g(b):
        return float(np.sum(np.logaddexp(0.0, b[0] + b[1] * income)))

    def dg(b):
        p = 1.0 / (1.0 + np.exp(-(b[0] + b[1] * income)))
        return np.array([p.sum(), (p * income).sum()])

    res = check_derivatives(g, dg, None, [np.array([0.3, -2e-4]), np.array([-1.0, 5e-4])],
                            method="richardson")
    assert res.grad_error < 1e-8
