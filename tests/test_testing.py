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


# --- at a maximum: the absolute floor for gradient components near zero ----

def _probit_functions(x, q):
    """Probit log-likelihood, score and Hessian for the design ``x``, ``q = 2y - 1``."""
    def f(b):
        return float(np.sum(special.log_ndtr(q * (x @ b))))

    def g(b):
        z = q * (x @ b)
        lam = np.exp(-0.5 * z**2 - special.log_ndtr(z)) / np.sqrt(2 * np.pi)
        return x.T @ (q * lam)

    def h(b):
        z = q * (x @ b)
        lam = np.exp(-0.5 * z**2 - special.log_ndtr(z)) / np.sqrt(2 * np.pi)
        return -(x.T * (lam * (z + lam))) @ x

    return f, g, h


def _probit_problem(n=400, seed=0):
    """A probit log-likelihood with an income regressor in raw dollars, and
    its maximum (Newton to convergence)."""
    rng = np.random.default_rng(seed)
    income = rng.uniform(2e3, 9e4, n)
    x = np.column_stack([np.ones(n), rng.normal(size=n), income])
    y = (x @ np.array([0.2, -0.7, 1e-5]) + rng.normal(size=n) > 0).astype(float)
    q = 2 * y - 1
    f, g, h = _probit_functions(x, q)
    b = np.zeros(3)
    for _ in range(50):
        step = np.linalg.solve(h(b), g(b))
        b = b - step
        if np.max(np.abs(step) / (1e-12 + np.abs(b))) < 1e-14:
            break
    return f, g, h, b, x, q


def test_correct_gradient_at_a_maximum_reports_a_small_error():
    # Before the floor, a relative error of a near-zero score was rounding
    # noise over rounding noise: 1.0 at every fitted maximum.
    f, g, h, b, _, _ = _probit_problem()
    assert np.max(np.abs(g(b))) < 1e-6       # it is a maximum
    res = check_derivatives(f, g, h, [b])
    assert res.grad_error < 1e-7, res
    assert res.hess_error < 1e-7, res
    assert_derivatives(f, g, h, [b], rtol=1e-6)


def test_wrong_gradient_at_a_maximum_is_flagged():
    # An off-by-one bug: the score omits the last observation. At the
    # maximum the true gradient is ~0, the wrong one is minus that
    # observation's score: an error the floor must not hide.
    f, g, h, b, x, q = _probit_problem()

    def bad_grad(bb):
        z = q[:-1] * (x[:-1] @ bb)
        lam = np.exp(-0.5 * z**2 - special.log_ndtr(z)) / np.sqrt(2 * np.pi)
        return x[:-1].T @ (q[:-1] * lam)

    res = check_derivatives(f, bad_grad, None, [b])
    assert res.grad_error > 1e-3, res
    with pytest.raises(AssertionError, match="disagree"):
        assert_derivatives(f, bad_grad, None, [b])

    # a small additive error, 1e-8 of the observations' total |score| in one
    # component, is still far above the noise
    scale = np.abs(x).sum(axis=0)

    def slightly_bad_grad(bb):
        out = g(bb)
        out[1] += 1e-8 * scale[1]
        return out

    assert check_derivatives(f, slightly_bad_grad, None, [b]).grad_error > 1e-5


def test_floor_does_not_depend_on_units_of_a_parameter():
    # income in dollars or in thousands of dollars: the same error at the max
    f, g, h, b, x, q = _probit_problem()
    e1 = check_derivatives(f, g, None, [b], method="richardson").grad_error
    x2 = x.copy()
    x2[:, 2] /= 1e3
    f2, g2, _ = _probit_functions(x2, q)
    c = b * np.array([1.0, 1.0, 1e3])
    e2 = check_derivatives(f2, g2, None, [c], method="richardson").grad_error
    assert e1 < 1e-7 and e2 < 1e-7


def test_fitted_heckman_maximum_public_api():
    # The case of issue 9: check_derivatives at a fitted maximum of a model
    # reported grad_error = 1.0 (and the step search picked a step 10 orders
    # too large for the faminc coefficient, income in dollars).
    from econderiv import Heckman, datasets

    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    sel = "lfp ~ age + I(age**2) + faminc + kids + educ"
    model = Heckman.from_formula("wage ~ exper + I(exper**2) + educ + city", df, selection=sel)
    p = np.asarray(model.fit().params)
    res = check_derivatives(model.loglike, model.score, None, [p])
    assert res.grad_error < 1e-7, res
    # the score of the sample without its first (working) woman: wrong at p
    other = Heckman.from_formula("wage ~ exper + I(exper**2) + educ + city", df.iloc[1:],
                                 selection=sel)
    bad = check_derivatives(model.loglike, other.score, None, [p])
    assert bad.grad_error > 1e-3, bad


def test_complex_step_is_not_trusted_when_the_imaginary_part_is_dropped_at_a_minimum():
    # At a minimum a function that drops the imaginary part gives a complex
    # step of exactly zero, which agrees with the (near-zero) central
    # difference; auto must still fall back to Richardson.
    def g(x):
        return np.real(np.sum((np.asarray(x) - 1.0) ** 2))

    res = check_derivatives(g, lambda x: 2 * (np.asarray(x) - 1.0), None,
                            [np.array([1.0, 1.0])])
    assert res.method == "richardson"
    assert res.grad_error < 1e-6, res


def test_readme_checking_derivatives_example_runs():
    # README's "### Checking derivatives" code block, executed as written.
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Checking derivatives", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "no python block under '### Checking derivatives' in README.md"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md:Checking derivatives", "exec"), namespace)
    check = namespace["check"]
    assert check.grad_error < 1e-6 and check.hess_error < 1e-6
