"""HeckProbit: exact derivatives, recovery, interface, bad input."""

import numpy as np
import pandas as pd
import pytest
from scipy import special as sc
from statsmodels.discrete.discrete_model import Probit

from econderiv.models.heckprobit import HeckProbit
from econderiv.special.bvn import bvn_logcdf
from econderiv.testing import check_derivatives

GAMMA = np.array([0.3, 0.5, 0.8])     # selection: Intercept, x1, z
BETA = np.array([-0.2, 0.6, -0.5])    # outcome: Intercept, x1, x2


def simulate(n, rho, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "z": rng.normal(size=n)})
    u = rng.normal(size=n)
    e = rho * u + np.sqrt(1 - rho**2) * rng.normal(size=n)
    df["s"] = (GAMMA[0] + GAMMA[1] * df.x1 + GAMMA[2] * df.z + u > 0).astype(float)
    y = (BETA[0] + BETA[1] * df.x1 + BETA[2] * df.x2 + e > 0).astype(float)
    df["y"] = np.where(df.s == 1, y, np.nan)
    return df


OUTCOME, SELECTION = "y ~ x1 + x2", "s ~ x1 + z"



@pytest.fixture(scope="module")
def small_model():
    return HeckProbit.from_formula(OUTCOME, simulate(500, -0.5, 1), selection=SELECTION)


@pytest.fixture(scope="module")
def fitted():
    return HeckProbit.from_formula(OUTCOME, simulate(4000, -0.6, 2),
                                   selection=SELECTION).fit()


def _check(model, points, rtol=1e-6):
    res = check_derivatives(model.loglike, model.score, model.hessian, points,
                            method="richardson")
    assert res.grad_error < rtol and res.hess_error < rtol, res


@pytest.mark.parametrize("athrho", [0.02, 0.8, -1.0, 3.0, -3.0])
def test_score_and_hessian_match_numerical(small_model, athrho):
    p = np.concatenate([GAMMA, BETA, [athrho]])
    _check(small_model, [p, p + 0.1 * np.cos(np.arange(len(p)))])


@pytest.mark.parametrize("scale,athrho", [(2.5, 0.5), (2.5, -0.5), (6.0, 0.5), (6.0, -0.5),
                                          (15.0, 0.5), (15.0, -0.5)])
def test_derivatives_with_extreme_linear_predictors(small_model, scale, athrho):
    p = np.concatenate([scale * GAMMA, scale * BETA, [athrho]])
    ll = small_model.loglikeobs(p)
    assert np.all(np.isfinite(ll)) and ll.min() < (-8 if scale < 5 else -50)
    _check(small_model, [p])


def test_loglike_is_the_three_cells(small_model):
    p = np.concatenate([GAMMA, BETA, [0.4]])
    m = small_model
    zg = m.exog_select @ GAMMA
    xb = m._x @ BETA
    rho = np.tanh(0.4)
    s = m.endog_select == 1
    y = np.asarray(m.endog)
    ref = np.where(~s, sc.log_ndtr(-zg), 0.0)
    y1 = s & (y == 1)
    y0 = s & (y == 0)
    ref[y1] = bvn_logcdf(zg[y1], xb[y1], rho)
    ref[y0] = bvn_logcdf(zg[y0], -xb[y0], -rho)
    np.testing.assert_allclose(m.loglikeobs(p), ref, rtol=1e-14)
    assert m.score_obs(p).shape == (500, 7)
    # Unselected rows carry no information on beta or athrho.
    np.testing.assert_array_equal(m.score_obs(p)[~s][:, 3:], 0.0)


@pytest.mark.parametrize("rho,seed", [(-0.9, 31), (0.0, 32), (0.9, 33)])
def test_recovers_known_parameters(rho, seed):
    res = HeckProbit.from_formula(OUTCOME, simulate(8000, rho, seed),
                                  selection=SELECTION).fit()
    assert res.converged
    truth = np.concatenate([GAMMA, BETA, [np.arctanh(rho)]])
    z = (np.asarray(res.params) - truth) / np.asarray(res.bse)
    assert np.all(np.abs(z) < 4), z


def test_names_ancillary_and_lr_test(fitted):
    names = ["selection:Intercept", "selection:x1", "selection:z", "outcome:Intercept",
             "outcome:x1", "outcome:x2", "athrho"]
    assert list(fitted.params.index) == names
    rho = np.tanh(fitted.params["athrho"])
    assert fitted.ancillary.loc["rho", "coef"] == pytest.approx(rho)
    assert fitted.ancillary.loc["rho", "std err"] == pytest.approx(
        (1 - rho**2) * fitted.bse["athrho"])
    m = fitted.model
    s = m.endog_select == 1
    ll0 = (Probit(m.endog_select, m.exog_select).fit(disp=0).llf
           + Probit(np.asarray(m.endog)[s], m._x[s]).fit(disp=0).llf)
    assert fitted.llf_restricted == pytest.approx(ll0, rel=1e-10)
    assert fitted.lr_test_rho.statistic == pytest.approx(2 * (fitted.llf - ll0))
    text = str(fitted.summary())
    assert "LR test of rho = 0" in text and "Selected:" in text
    assert m.nobs_selected + m.nobs_unselected == 4000


def test_predictions_are_coherent(fitted):
    p = {w: fitted.predict(which=w).to_numpy()
         for w in ("p11", "p10", "p01", "p00", "pmargin", "psel", "pcond")}
    np.testing.assert_allclose(p["p11"] + p["p10"] + p["p01"] + p["p00"], 1, atol=1e-13)
    np.testing.assert_allclose(p["p11"] + p["p10"], p["pmargin"], atol=1e-13)
    np.testing.assert_allclose(p["p11"] + p["p01"], p["psel"], atol=1e-13)
    np.testing.assert_allclose(p["pcond"], p["p11"] / p["psel"], rtol=1e-10)
    new = simulate(4000, -0.6, 2).iloc[:5]
    np.testing.assert_allclose(fitted.predict(new, which="pcond").to_numpy(), p["pcond"][:5])
    xb = fitted.predict(which="xb").to_numpy()
    np.testing.assert_allclose(sc.ndtr(xb), p["pmargin"])


def test_marginal_effects(fitted):
    df = simulate(4000, -0.6, 2)
    h = 1e-5
    for which in ("pcond", "pmargin", "psel"):
        me = fitted.get_margeff(which=which)
        for var in me.margeff.index:
            up, dn = df.copy(), df.copy()
            up[var] += h
            dn[var] -= h
            num = np.mean(fitted.predict(up, which=which) - fitted.predict(dn, which=which))
            assert me.margeff[var] == pytest.approx(num / (2 * h), rel=1e-6)
    assert list(fitted.get_margeff("pmargin").margeff.index) == ["x1", "x2"]
    assert list(fitted.get_margeff("psel").margeff.index) == ["x1", "z"]
    assert set(fitted.get_margeff("pcond").margeff.index) == {"x1", "x2", "z"}
    assert np.all(fitted.get_margeff("pcond").margeff_se > 0)


def test_robust_covariance(fitted):
    r = fitted.model.fit(cov_type="HC0")
    m = fitted.model
    p = np.asarray(r.params)
    s = m.score_obs(p)
    hinv = np.linalg.inv(-m.hessian(p))
    np.testing.assert_allclose(np.asarray(r.cov_params()), hinv @ s.T @ s @ hinv, rtol=1e-6)
    assert "Wald test of rho = 0" in str(r.summary())


def test_array_interface_matches_formula(fitted):
    df = simulate(4000, -0.6, 2)
    x = np.column_stack([np.ones(4000), df.x1, df.x2])
    z = np.column_stack([np.ones(4000), df.x1, df.z])
    r = HeckProbit(df.y.to_numpy(), x, df.s.to_numpy(), z).fit()
    np.testing.assert_allclose(r.params, np.asarray(fitted.params), rtol=1e-8)
    assert r.model.param_names[0] == "selection:const"


# -- bad input ----------------------------------------------------------------

def test_outcome_missing_for_selected_rows_is_named():
    df = simulate(300, 0.3, 3)
    i = df.index[df.s == 1][:2]
    df.loc[i, "y"] = np.nan
    with pytest.raises(ValueError, match=r"the outcome 'y' for 2 selected rows"):
        HeckProbit.from_formula(OUTCOME, df, selection=SELECTION, missing="none")
    # dropping selected rows changes the selection equation's sample: warned, with the count
    with pytest.warns(RuntimeWarning, match=r"2 selected rows \(s = 1\) have a missing outcome"):
        m = HeckProbit.from_formula(OUTCOME, df, selection=SELECTION)
    assert m.n_dropped == 2 and m.nobs == 298


def test_outcome_regressors_may_be_missing_when_unselected():
    df = simulate(600, 0.3, 3)
    df.loc[df.s == 0, "x2"] = np.nan
    m = HeckProbit.from_formula(OUTCOME, df, selection=SELECTION)
    assert m.nobs == 600
    r = m.fit()
    assert np.isnan(r.predict(which="pmargin")[df.s == 0]).all()
    assert np.isfinite(r.predict(which="psel")).all()
    me = r.get_margeff("pcond")
    assert "rows with complete regressors" in me.description


def test_non_binary_outcome_and_selection():
    df = simulate(300, 0.3, 4)
    df.loc[df.index[df.s == 1][0], "y"] = 3.0
    with pytest.raises(ValueError, match=r"the outcome 'y' \(selected rows\) must be binary"):
        HeckProbit.from_formula(OUTCOME, df, selection=SELECTION)
    df = simulate(300, 0.3, 4)
    df.loc[0, "s"] = 0.5
    with pytest.raises(ValueError, match=r"selection indicator 's'.*must be binary"):
        HeckProbit.from_formula(OUTCOME, df, selection=SELECTION)


def test_no_selected_or_unselected_rows():
    df = simulate(300, 0.3, 4)
    df["s"] = 1.0
    df["y"] = (df.x1 > 0).astype(float)
    with pytest.raises(ValueError, match="no unselected rows"):
        HeckProbit.from_formula(OUTCOME, df, selection=SELECTION)
    df["s"] = 0.0
    with pytest.raises(ValueError, match="no selected rows"):
        HeckProbit.from_formula(OUTCOME, df, selection=SELECTION)


def test_rank_deficiency_over_selected_rows_names_columns():
    df = simulate(400, 0.3, 5)
    df["w"] = np.where(df.s == 1, 1.0, df.x1)  # constant on the selected rows
    with pytest.raises(ValueError, match=r"outcome design.*selected rows.*'Intercept'.*'w'"):
        HeckProbit.from_formula("y ~ x1 + w", df, selection=SELECTION)


def test_warnings_for_identification_and_separation():
    df = simulate(600, 0.3, 6)
    with pytest.warns(RuntimeWarning, match="only by the functional form"):
        HeckProbit.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + x2")
    df["d"] = (df.x2 > 1).astype(float)
    df.loc[(df.s == 1) & (df.d == 1), "y"] = 0.0
    with pytest.warns(RuntimeWarning, match=r"'d' == 1 predicts y = 0 perfectly"):
        HeckProbit.from_formula("y ~ x1 + d", df, selection=SELECTION)


def test_predict_with_arrays(fitted):
    m = fitted.model
    p = fitted.predict(m._x[:3], m.exog_select[:3], which="p01")
    np.testing.assert_allclose(p, fitted.predict(which="p01").to_numpy()[:3])
    with pytest.raises(ValueError, match="give both exog and exog_select"):
        fitted.predict(m._x[:3])


def test_profile_loglike_of_rho(fitted):
    prof = fitted.profile_loglike(grid=[-0.5, 0.0, fitted.rho, 0.4])
    assert list(prof.columns[:3]) == ["rho", "llf", "converged"]
    assert prof.converged.all()
    llf = dict(zip(prof.rho, prof.llf))
    # At rho = 0 the maximum is the two separate probits; at the estimate, the fit.
    assert llf[0.0] == pytest.approx(fitted.llf_restricted, abs=1e-6)
    assert llf[fitted.rho] == pytest.approx(fitted.llf, abs=1e-8)
    assert prof.llf.max() <= fitted.llf + 1e-8
    with pytest.raises(ValueError, match="strictly inside"):
        fitted.profile_loglike(grid=[1.0])


def test_exclusion_restriction_detected_by_span_not_names():
    df = simulate(600, 0.3, 8)
    x = np.column_stack([np.ones(600), df.x1, df.x2])
    z_same = np.column_stack([np.ones(600), df.x1 + df.x2, df.x1])  # in span(x)
    with pytest.warns(RuntimeWarning, match="only by the functional form"):
        HeckProbit(df.y, x, df.s, z_same)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HeckProbit(df.y, x, df.s, np.column_stack([np.ones(600), df.x1, df.z]))


def test_global_search_never_worse(small_model):
    base = small_model.fit()
    best = small_model.fit(global_search=True)
    assert best.converged
    assert best.llf >= base.llf - 1e-9
    np.testing.assert_allclose(np.asarray(best.params), np.asarray(base.params), atol=1e-5)
