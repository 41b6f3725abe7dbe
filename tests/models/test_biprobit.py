"""BivariateProbit: exact derivatives, recovery, statsmodels integration, bad input."""

import warnings

import mpmath
import numpy as np
import pandas as pd
import pytest
from scipy import special as sc
from statsmodels.discrete.discrete_model import Probit
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from econderiv.models._data import warn_perfect_prediction
from econderiv.models._bvprobit_kernels import (athrho_terms, bivariate_cells,
                                                biprobit_loglike_derivs, logphi2_derivatives)
from econderiv.models.biprobit import BivariateProbit, bivariate_prediction
from econderiv.special.bvn import bvn_logcdf_hess
from econderiv.testing import check_derivatives


def simulate(n, rho, seed, b1=(0.3, 0.5, -0.4, 0.3), b2=(-0.2, 0.6, 0.5)):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "x3": rng.normal(size=n), "d": (rng.random(n) < 0.4).astype(float)})
    e1 = rng.normal(size=n)
    e2 = rho * e1 + np.sqrt(1 - rho**2) * rng.normal(size=n)
    df["y1"] = (b1[0] + b1[1] * df.x1 + b1[2] * df.x2 + b1[3] * df.d + e1 > 0).astype(float)
    df["y2"] = (b2[0] + b2[1] * df.x1 + b2[2] * df.x3 + e2 > 0).astype(float)
    return df


FORMULAS = ["y1 ~ x1 + x2 + d", "y2 ~ x1 + x3"]

TRUE = np.array([0.3, 0.5, -0.4, 0.3, -0.2, 0.6, 0.5])


@pytest.fixture(scope="module")
def small_model():
    return BivariateProbit.from_formula(FORMULAS, simulate(400, 0.4, 1))


@pytest.fixture(scope="module")
def fitted():
    return BivariateProbit.from_formula(FORMULAS, simulate(3000, 0.5, 2)).fit()


def _check(model, points, rtol_g=1e-6, rtol_h=1e-6):
    res = check_derivatives(model.loglike, model.score, model.hessian, points,
                            method="richardson")
    assert res.grad_error < rtol_g, res
    assert res.hess_error < rtol_h, res
    return res


# -- derivatives ---------------------------------------------------------------

@pytest.mark.parametrize("athrho", [0.02, 0.7, -1.2, 3.0, -3.0])
def test_score_and_hessian_match_numerical(small_model, athrho):
    # athrho = +-3 is rho = +-0.995. (At rho = 0 exactly the beta1-beta2
    # block vanishes identically, which a relative check cannot judge; see
    # the next test.)
    p = np.append(TRUE, athrho)
    _check(small_model, [p, p + 0.1 * np.sin(np.arange(len(p)))])


def test_cross_equation_block_vanishes_at_rho_zero(small_model):
    # At rho = 0, d2 log Phi2/da db = g_r - g_a g_b = 0: the equations decouple.
    p = np.append(TRUE, 0.0)
    h = small_model.hessian(p)
    assert np.max(np.abs(h[:4, 4:7])) < 1e-10 * np.max(np.abs(h))
    assert np.max(np.abs(h[:4, :4])) > 1.0


@pytest.mark.parametrize("scale", [2.5, 6.0, 15.0])
@pytest.mark.parametrize("athrho", [0.5, -0.5, 2.0])
def test_derivatives_with_extreme_linear_predictors(small_model, scale, athrho):
    # Coefficients scaled up: |xb| reaches 20-60, probabilities of observed
    # cells fall far below 1e-100 for some rows.
    p = np.append(scale * TRUE, athrho)
    ll = small_model.loglikeobs(p)
    assert np.all(np.isfinite(ll)) and ll.min() < (-8 if scale < 5 else -50)
    _check(small_model, [p])


def test_log_hessian_formulas_match_bvn_logcdf_hess():
    rng = np.random.default_rng(3)
    a, b = rng.normal(scale=3, size=(2, 200))
    for alpha in (-2.5, -0.3, 0.0, 0.8, 2.5):
        r, c = athrho_terms(alpha)
        _, _, h = logphi2_derivatives(a, b, r, c, 2)
        ref = bvn_logcdf_hess(a, b, r)
        for mine, theirs in zip(h, ref):
            np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-12)


def test_kernel_cells_against_quadrature():
    # log Phi2 by mpmath quadrature (50 digits) for a few cells, some tiny.
    mpmath.mp.dps = 50
    cases = [(-8.0, 1.0, 1.0, -1.0, 0.6), (2.0, -9.0, -1.0, 1.0, 0.3),
             (-12.0, -3.0, 1.0, 1.0, -0.4), (0.5, 0.2, -1.0, -1.0, 0.95)]
    for xb1, xb2, q1, q2, rho in cases:
        a, b, r = q1 * xb1, q2 * xb2, q1 * q2 * rho
        s = mpmath.sqrt(1 - mpmath.mpf(r) ** 2)
        f = lambda t: mpmath.npdf(t) * mpmath.ncdf((b - r * t) / s)
        # The mass sits just below t = a: split the range there.
        pts = [a - 40, a - 10, a - 3, a - 1, a - 0.3, a - 0.1, a - 0.01, a]
        ref = float(mpmath.log(mpmath.quad(f, pts)))
        got = bivariate_cells(np.array([xb1]), np.array([xb2]), q1, q2,
                              np.arctanh(rho), order=0).ll[0]
        assert got == pytest.approx(ref, rel=1e-9)


def test_score_obs_sums_to_score_and_hessian_symmetric(small_model):
    p = np.append(TRUE, 0.4)
    np.testing.assert_allclose(small_model.score_obs(p).sum(0), small_model.score(p))
    h = small_model.hessian(p)
    np.testing.assert_allclose(h, h.T)
    assert small_model.score_obs(p).shape == (400, 8)


def test_kernel_order_and_cached_llobs_agree():
    df = simulate(200, -0.3, 4)
    y1, y2 = df.y1.to_numpy(), df.y2.to_numpy()
    x1 = np.column_stack([np.ones(200), df.x1, df.x2])
    x2 = np.column_stack([np.ones(200), df.x3])
    p = np.array([0.1, 0.4, -0.2, 0.3, 0.5, -0.4])
    full = biprobit_loglike_derivs(p, y1, y2, x1, x2, 2)
    reuse = biprobit_loglike_derivs(p, y1, y2, x1, x2, 2, llobs=full[0])
    for a, b in zip(full, reuse):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(biprobit_loglike_derivs(p, y1, y2, x1, x2, 0)[0], full[0])


# -- recovery and fit ----------------------------------------------------------

@pytest.mark.parametrize("rho,seed", [(-0.9, 11), (0.0, 12), (0.9, 13)])
def test_recovers_known_parameters(rho, seed):
    res = BivariateProbit.from_formula(FORMULAS, simulate(6000, rho, seed)).fit()
    assert res.converged
    est = np.asarray(res.params)
    truth = np.append(TRUE, np.arctanh(rho))
    z = (est - truth) / np.asarray(res.bse)
    assert np.all(np.abs(z) < 4), z
    assert abs(res.rho - rho) < 4 * res.ancillary.loc["rho", "std err"]
    # At the optimum: Newton decrement g' H^-1 g (the predicted gain) ~ 0.
    g = res.model.score(est)
    assert -g @ np.linalg.solve(res.model.hessian(est), g) < 1e-10


def test_recursive_model_recovers_effect_of_y2():
    rng = np.random.default_rng(21)
    n, rho = 8000, 0.5
    x1, x2, z = rng.normal(size=(3, n))
    e1 = rng.normal(size=n)
    e2 = rho * e1 + np.sqrt(1 - rho**2) * rng.normal(size=n)
    y2 = (0.2 + 0.7 * z + 0.4 * x1 + e2 > 0).astype(float)
    y1 = (-0.3 + 0.8 * y2 + 0.5 * x1 - 0.4 * x2 + e1 > 0).astype(float)
    df = pd.DataFrame(dict(y1=y1, y2=y2, x1=x1, x2=x2, z=z))
    res = BivariateProbit.from_formula(["y1 ~ y2 + x1 + x2", "y2 ~ z + x1"], df).fit()
    truth = np.array([-0.3, 0.8, 0.5, -0.4, 0.2, 0.7, 0.4, np.arctanh(rho)])
    z_scores = (np.asarray(res.params) - truth) / np.asarray(res.bse)
    assert np.all(np.abs(z_scores) < 4), z_scores


def test_params_names_and_pandas(fitted):
    names = ["y1:Intercept", "y1:x1", "y1:x2", "y1:d", "y2:Intercept", "y2:x1", "y2:x3",
             "athrho"]
    assert list(fitted.params.index) == names
    assert list(fitted.bse.index) == names
    assert list(fitted.conf_int().index) == names
    assert fitted.cov_params().shape == (8, 8)
    anc = fitted.ancillary
    assert list(anc.index) == ["rho"]
    rho = np.tanh(fitted.params["athrho"])
    assert anc.loc["rho", "coef"] == pytest.approx(rho)
    assert anc.loc["rho", "std err"] == pytest.approx((1 - rho**2) * fitted.bse["athrho"])


def test_array_input_matches_formula(fitted):
    m = fitted.model
    arr = BivariateProbit(np.column_stack([m._y1, m._y2]), m._x1, m._x2).fit()
    np.testing.assert_allclose(arr.params, np.asarray(fitted.params), rtol=1e-8)
    assert isinstance(arr.params, np.ndarray)
    assert arr.model.param_names[0] == "y1:const"


def test_independent_model_and_lr_test(fitted):
    m = fitted.model
    ll = sum(Probit(y, x).fit(disp=0).llf for y, x in ((m._y1, m._x1), (m._y2, m._x2)))
    assert fitted.llf_independent == pytest.approx(ll, rel=1e-10)
    t = fitted.lr_test_rho
    assert t.statistic == pytest.approx(2 * (fitted.llf - ll))
    assert t.df == 1 and t.pvalue < 1e-10
    text = str(fitted.summary())
    assert "LR test of rho = 0" in text and "athrho" in text and "rho" in text


def test_start_params_are_univariate_probits(fitted):
    m = fitted.model
    sp = m.start_params
    ref = Probit(m._y1, m._x1).fit(disp=0).params
    np.testing.assert_allclose(sp[:4], ref, rtol=1e-6)
    assert -0.9 <= np.tanh(sp[-1]) <= 0.9


def test_aic_bic_llf(fitted):
    k = 8
    assert fitted.llf == pytest.approx(fitted.model.loglike(np.asarray(fitted.params)))
    assert fitted.aic == pytest.approx(-2 * fitted.llf + 2 * k)
    assert fitted.bic == pytest.approx(-2 * fitted.llf + np.log(3000) * k)


def test_robust_and_cluster_covariances(fitted):
    m = fitted.model
    p = np.asarray(fitted.params)
    s = m.score_obs(p)
    hinv = np.linalg.inv(-m.hessian(p))
    sandwich = hinv @ (s.T @ s) @ hinv
    r = m.fit(cov_type="HC0")
    np.testing.assert_allclose(np.asarray(r.cov_params()), sandwich, rtol=1e-6)
    assert "Wald test of rho = 0" in str(r.summary())
    groups = np.arange(3000) // 3
    rc = m.fit(cov_type="cluster", cov_kwds={"groups": groups})
    g = np.zeros((1000, s.shape[1]))
    np.add.at(g, groups, s)
    G, n, k = 1000, 3000, 8
    corr = G / (G - 1) * (n - 1) / (n - k)
    np.testing.assert_allclose(np.asarray(rc.cov_params()), corr * hinv @ (g.T @ g) @ hinv,
                               rtol=1e-6)


def test_other_optimizer_agrees(fitted):
    r = fitted.model.fit(method="bfgs", maxiter=500, gtol=1e-8)
    np.testing.assert_allclose(np.asarray(r.params), np.asarray(fitted.params), atol=1e-4)


def test_t_test_and_wald_test_work(fitted):
    t = fitted.t_test("y1:x1 = 0")
    assert t.tvalue.item() == pytest.approx(fitted.tvalues["y1:x1"])
    w = fitted.wald_test("athrho = 0", scalar=True)
    assert w.statistic == pytest.approx(fitted.wald_test_rho.statistic)


# -- predictions and marginal effects -------------------------------------------

def test_predicted_cells_are_coherent(fitted):
    p = {w: fitted.predict(which=w).to_numpy()
         for w in ("p11", "p10", "p01", "p00", "pmarg1", "pmarg2", "pcond1", "pcond2")}
    np.testing.assert_allclose(p["p11"] + p["p10"] + p["p01"] + p["p00"], 1.0, atol=1e-13)
    np.testing.assert_allclose(p["p11"] + p["p10"], p["pmarg1"], atol=1e-13)
    np.testing.assert_allclose(p["p11"] + p["p01"], p["pmarg2"], atol=1e-13)
    np.testing.assert_allclose(p["pcond1"], p["p11"] / p["pmarg2"], rtol=1e-10)
    np.testing.assert_allclose(p["pcond2"], p["p11"] / p["pmarg1"], rtol=1e-10)
    xb1 = fitted.predict(which="xb1").to_numpy()
    np.testing.assert_allclose(sc.ndtr(xb1), p["pmarg1"])


def test_predict_new_data_through_formulas(fitted):
    df = simulate(3000, 0.5, 2)
    new = df.iloc[:7]
    for w in ("p11", "pcond1", "xb2"):
        np.testing.assert_allclose(fitted.predict(new, which=w).to_numpy(),
                                   fitted.predict(which=w).to_numpy()[:7])
    with pytest.raises(ValueError, match="which must be one of"):
        fitted.predict(which="p22")


@pytest.mark.parametrize("which", ["p11", "p10", "p00", "pmarg1", "pmarg2", "pcond1",
                                   "pcond2"])
def test_index_derivatives_of_predictions(which):
    rng = np.random.default_rng(5)
    xb1, xb2 = rng.normal(scale=1.5, size=(2, 50))
    rho = -0.6
    _, d1, d2 = bivariate_prediction(which, xb1, xb2, rho, grad=True)
    h = 1e-6
    n1 = (bivariate_prediction(which, xb1 + h, xb2, rho)
          - bivariate_prediction(which, xb1 - h, xb2, rho)) / (2 * h)
    n2 = (bivariate_prediction(which, xb1, xb2 + h, rho)
          - bivariate_prediction(which, xb1, xb2 - h, rho)) / (2 * h)
    np.testing.assert_allclose(d1, n1, atol=1e-8)
    np.testing.assert_allclose(d2, n2, atol=1e-8)


def test_marginal_effects_match_finite_differences_of_data(fitted):
    df = simulate(3000, 0.5, 2)
    for which in ("p11", "pmarg2", "pcond1"):
        me = fitted.get_margeff(which=which)
        h = 1e-5
        for var in ("x1", "x3"):
            up, dn = df.copy(), df.copy()
            up[var] += h
            dn[var] -= h
            num = np.mean(fitted.predict(up, which=which) - fitted.predict(dn, which=which))
            assert me.margeff[var] == pytest.approx(num / (2 * h), rel=1e-6)
    m1 = fitted.get_margeff(which="pmarg1")
    assert "x3" not in m1.margeff.index  # not in the y1 equation


def test_marginal_effects_at_mean_and_standard_errors(fitted):
    me = fitted.get_margeff(which="pmarg1", at="mean")
    m = fitted.model
    b = np.asarray(fitted.params)[:4]
    xbar = m._x1.mean(0)
    phi = np.exp(-0.5 * (xbar @ b) ** 2) / np.sqrt(2 * np.pi)
    assert me.margeff["x2"] == pytest.approx(phi * b[2], rel=1e-12)
    # Delta method by hand for d(phi(xbar b) b_2)/d b.
    grad = -phi * (xbar @ b) * xbar * b[2]
    grad[2] += phi
    cov = np.asarray(fitted.cov_params())[:4, :4]
    assert me.margeff_se["x2"] == pytest.approx(np.sqrt(grad @ cov @ grad), rel=1e-5)
    frame = me.summary_frame()
    assert list(frame.columns[:4]) == ["dy/dx", "std err", "z", "P>|z|"]


def test_dummy_discrete_change(fitted):
    me = fitted.get_margeff(which="p11", dummy=True)
    df = simulate(3000, 0.5, 2)
    hi, lo = df.assign(d=1.0), df.assign(d=0.0)
    ref = np.mean(fitted.predict(hi) - fitted.predict(lo))
    assert me.margeff["d"] == pytest.approx(ref, rel=1e-12)
    assert me.dummies == ["d"]


# -- bad input -------------------------------------------------------------------

def test_non_binary_outcome_names_column():
    df = simulate(200, 0.2, 6)
    df.loc[3, "y2"] = 2.0
    with pytest.raises(ValueError, match=r"y2 must be binary.*1 rows"):
        BivariateProbit.from_formula(FORMULAS, df)


def test_constant_outcome_is_an_error():
    df = simulate(200, 0.2, 6)
    df["y1"] = 1.0
    with pytest.raises(ValueError, match="y1 has no variation"):
        BivariateProbit.from_formula(FORMULAS, df)


def test_rank_deficiency_names_columns():
    df = simulate(200, 0.2, 6)
    df["x4"] = 2 * df.x1 - df.x2
    with pytest.raises(ValueError, match=r"rank deficient.*'x1'.*'x2'.*'x4'"):
        BivariateProbit.from_formula(["y1 ~ x1 + x2 + x4", "y2 ~ x3"], df)


def test_missing_values_dropped_or_named():
    df = simulate(300, 0.2, 6)
    df.loc[[1, 5], "x3"] = np.nan
    m = BivariateProbit.from_formula(FORMULAS, df)
    assert m.nobs == 298
    with pytest.raises(ValueError, match=r"2 rows have missing \(NaN or infinite\) values in: x3 \(2 rows\)"):
        BivariateProbit.from_formula(FORMULAS, df, missing="raise")
    x1 = df[["x1", "x2"]].assign(const=1.0)
    with pytest.raises(ValueError, match=r"x3 \(2 rows\)"):
        BivariateProbit(df[["y1", "y2"]], x1, df[["x3"]].assign(const=1.0))


def test_shape_errors():
    df = simulate(100, 0.2, 6)
    with pytest.raises(ValueError, match="two columns"):
        BivariateProbit(df[["y1"]], df[["x1"]])
    with pytest.raises(ValueError, match="got endog 100, exog1 99"):
        BivariateProbit(df[["y1", "y2"]], df[["x1"]].iloc[:99])
    with pytest.raises(ValueError, match="list of two formulas"):
        BivariateProbit.from_formula("y1 ~ x1", df)


def test_perfect_prediction_warns_naming_regressor():
    df = simulate(500, 0.3, 7)
    df.loc[df.d == 1, "y1"] = 1.0
    with pytest.warns(RuntimeWarning, match=r"'d' == 1 predicts y1 = 1 perfectly"):
        BivariateProbit.from_formula(FORMULAS, df)


def test_complete_separation_warns():
    y = np.array([0, 0, 0, 1, 1, 1.0])
    x = np.column_stack([np.ones(6), [1, 2, 3, 4, 5, 6.0]])
    with pytest.warns(RuntimeWarning, match="'x' separates y completely"):
        msgs = warn_perfect_prediction(y, x, ["const", "x"], "y")
    assert len(msgs) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_perfect_prediction(np.array([0, 1, 0, 1.0]),
                                       np.array([[1.0], [2], [3], [4]]), ["x"], "y") == []


def test_boundary_rho_warns():
    # y2 == y1: the errors are perfectly correlated and rho runs to 1.
    df = simulate(800, 0.9, 8)
    df["y2"] = df["y1"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        BivariateProbit.from_formula(["y1 ~ x1 + x2", "y2 ~ x1 + x3"], df).fit(maxiter=60)
    messages = [str(w.message) for w in caught]
    assert any("boundary" in m and "global_search=True" in m for m in messages)
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)


def test_predict_with_arrays(fitted):
    m = fitted.model
    p = fitted.predict((m._x1[:4], m._x2[:4]), which="p01")
    np.testing.assert_allclose(p, fitted.predict(which="p01").to_numpy()[:4])
    with pytest.raises(ValueError, match="exog1 has 3 columns, the equation has 4"):
        fitted.predict((m._x1[:4, :3], m._x2[:4]))


def test_profile_loglike_of_rho(fitted):
    prof = fitted.profile_loglike(grid=[0.0, fitted.rho, 0.9])
    llf = dict(zip(prof.rho, prof.llf))
    assert llf[0.0] == pytest.approx(fitted.llf_independent, abs=1e-6)
    assert llf[fitted.rho] == pytest.approx(fitted.llf, abs=1e-8)
    assert llf[0.9] < fitted.llf - 10


def test_margeff_variables_subset(fitted):
    full = fitted.get_margeff(which="pcond1")
    sub = fitted.get_margeff(which="pcond1", variables=["x3", "x1"])
    assert list(sub.margeff.index) == ["x3", "x1"]
    np.testing.assert_allclose(sub.margeff, full.margeff[["x3", "x1"]])
    np.testing.assert_allclose(sub.margeff_se, full.margeff_se[["x3", "x1"]])
    with pytest.raises(ValueError, match=r"no marginal effect for \['x3'\]"):
        fitted.get_margeff(which="pmarg1", variables="x3")
