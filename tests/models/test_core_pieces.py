"""Core pieces: the optimizers (models/_optim), input checks (models/_data) and
the ancillary table and LR test (models/_inference)."""

import numpy as np
import pandas as pd
import pytest
from scipy import special
from statsmodels.base.model import GenericLikelihoodModel
import statsmodels.api as sm

from econderiv.models._data import (check_binary, check_finite, check_full_rank,
                                    formula_design, prefixed)
from econderiv.models._inference import ancillary_frame, lr_test
from econderiv.models._optim import FIT_FUNCS, newton_linesearch, newton_trust


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def rosenbrock_grad(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2),
                     200 * (x[1] - x[0] ** 2)])


def rosenbrock_hess(x):
    return np.array([[2 - 400 * (x[1] - 3 * x[0] ** 2), -400 * x[0]],
                     [-400 * x[0], 200.0]])


@pytest.mark.parametrize("optimizer", [newton_trust, newton_linesearch])
def test_newton_rosenbrock_from_indefinite_start(optimizer):
    # At (-1.2, 1) ... the Hessian is indefinite on part of the path.
    x, ret = optimizer(rosenbrock, rosenbrock_grad, [-1.2, 1.0], disp=False,
                       maxiter=200, hess=rosenbrock_hess)
    assert ret["converged"]
    assert x == pytest.approx([1.0, 1.0], abs=1e-8)
    assert ret["fopt"] < 1e-20


def test_newton_reports_non_convergence():
    x, ret = newton_linesearch(rosenbrock, rosenbrock_grad, [-1.2, 1.0], disp=False,
                               maxiter=2, hess=rosenbrock_hess)
    assert not ret["converged"] and ret["warnflag"] == 1


@pytest.mark.parametrize("optimizer", [newton_trust, newton_linesearch])
def test_newton_rejects_infinite_start(optimizer):
    with pytest.raises(ValueError, match="not finite at the start"):
        optimizer(lambda x: np.inf, rosenbrock_grad, [0.0, 0.0], disp=False,
                     hess=rosenbrock_hess)


class _Probit(GenericLikelihoodModel):
    def loglikeobs(self, p):
        return special.log_ndtr((2 * self.endog - 1) * (self.exog @ p))

    def score_obs(self, p):
        q = 2 * self.endog - 1
        xb = q * (self.exog @ p)
        lam = np.exp(-0.5 * xb**2 - special.log_ndtr(xb)) / np.sqrt(2 * np.pi)
        return (q * lam)[:, None] * self.exog

    def score(self, p):
        return self.score_obs(p).sum(0)

    def hessian(self, p):
        q = 2 * self.endog - 1
        xb = q * (self.exog @ p)
        lam = np.exp(-0.5 * xb**2 - special.log_ndtr(xb)) / np.sqrt(2 * np.pi)
        return (self.exog * (-lam * (xb + lam))[:, None]).T @ self.exog


def test_newton_trust_in_statsmodels_matches_probit():
    rng = np.random.default_rng(1)
    X = sm.add_constant(rng.standard_normal((400, 2)))
    y = (X @ [0.2, 1.0, -1.0] + rng.standard_normal(400) > 0).astype(float)
    res = _Probit(y, X).fit(method="newton_trust", extra_fit_funcs=FIT_FUNCS,
                            start_params=np.zeros(3), disp=False)
    ref = sm.Probit(y, X).fit(disp=False)
    assert res.mle_retvals["converged"]
    assert res.params == pytest.approx(ref.params, abs=1e-10)
    assert res.bse == pytest.approx(ref.bse, rel=1e-8)


def test_formula_design_keeps_rows_and_names():
    df = pd.DataFrame({"y": [1.0, np.nan, 0.0], "a": [1.0, 2.0, 3.0], "g": ["u", "v", "u"]},
                      index=[10, 11, 12])
    y, X, name = formula_design("y ~ a + g", df)
    assert name == "y" and list(X.columns) == ["Intercept", "g[T.v]", "a"]
    assert list(X.index) == [10, 11, 12] and np.isnan(y.loc[11])
    y0, X0, n0 = formula_design("a + g", df)
    assert y0 is None and n0 is None and X0.shape == (3, 3)
    assert prefixed("outcome", ["a", "b"]) == ["outcome:a", "outcome:b"]


def test_input_checks_name_the_culprit():
    with pytest.raises(ValueError, match=r"lfp must be binary.*2 rows.*2, 3\.5"):
        check_binary([0, 1, 2, 3.5], "lfp")
    assert check_binary(np.array([True, False]), "s").tolist() == [1.0, 0.0]
    X = np.column_stack([np.ones(6), np.arange(6.0), 2 * np.arange(6.0) + 1,
                         [0.3, -1, 2, 0.5, 0.1, -0.7]])
    with pytest.raises(ValueError, match=r"rank deficient.*\['const', 'x', 'z'\]"):
        check_full_rank(X, ["const", "x", "z", "w"], "outcome design")
    with pytest.raises(ValueError, match=r"column\(s\) \['zero'\] are all zero"):
        check_full_rank(np.column_stack([np.ones(3), np.zeros(3)]), ["c", "zero"], "X")
    check_full_rank(X[:, [0, 1, 3]], ["const", "x", "w"], "outcome design")
    with pytest.raises(ValueError, match=r"educ \(1 rows\)"):
        check_finite(np.array([[1.0, np.nan], [2.0, 3.0]]), ["age", "educ"], "selection design")


def test_ancillary_frame_delta_method_and_lr():
    cov = np.diag([0.04, 0.01])
    tab = ancillary_frame({"rho": (np.tanh(0.5), np.array([0.0, 1 - np.tanh(0.5) ** 2]))},
                          [0.2, 0.5], cov)
    # the same rho as a transform of athrho: same standard error, interval tanh(a +- z se)
    tab2 = ancillary_frame({"rho": (1, "tanh")}, [0.2, 0.5], cov)
    assert tab2.loc["rho", "std err"] == pytest.approx(tab.loc["rho", "std err"])
    assert tab2.iloc[0, 4:6].tolist() == pytest.approx(np.tanh(0.5 + np.array([-1, 1])
                                                              * 1.959963984540054 * 0.1))
    assert tab.loc["rho", "std err"] == pytest.approx(0.1 * (1 - np.tanh(0.5) ** 2))
    assert list(tab.columns) == ["coef", "std err", "z", "P>|z|", "[0.025", "0.975]"]
    t = lr_test(-100.0, -101.92, 1, "rho = 0")
    assert t.statistic == pytest.approx(3.84) and t.pvalue == pytest.approx(0.05, abs=1e-3)
