"""EndogenousTreatment (the treatment-effects model): kernels, fit, two-step,
effects, predictions, bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.tools.numdiff import approx_fprime

from econderiv import EndogenousTreatment
from econderiv.models import _treatment_kernels as K
from econderiv.testing import assert_derivatives, check_derivatives

VALIDATION = Path(__file__).resolve().parents[2] / "validation" / "data"


def simulate(n=600, seed=0, gamma=(-0.3, 1.0, 1.0), beta=(1.0, 0.5, 1.5), rho=0.6,
             sigma=1.3):
    rng = np.random.default_rng(seed)
    x, z, u = rng.normal(size=(3, n))
    e = sigma * (rho * u + np.sqrt(1 - rho ** 2) * rng.normal(size=n))
    Z = np.column_stack([np.ones(n), x, z])
    d = (Z @ np.asarray(gamma) + u > 0).astype(float)
    X = np.column_stack([np.ones(n), x, d])
    return X @ np.asarray(beta) + e, X, d, Z


def frame(n=600, seed=0, **kw):
    y, X, d, Z = simulate(n, seed, **kw)
    return pd.DataFrame({"y": y, "x": X[:, 1], "z": Z[:, 2], "d": d.astype(int)})


@pytest.fixture(scope="module")
def data():
    return K.TreatmentData.from_arrays(*simulate(300, seed=1))


def _points(athrhos, lnsigma=0.2):
    base = np.array([-0.2, 0.9, 1.1, 0.8, 0.4, 1.3])
    return [np.concatenate([base, [a, lnsigma]]) for a in athrhos]


# ---------------------------------------------------------------------------
# kernels: exact derivatives against numerical ones
# ---------------------------------------------------------------------------

def test_score_and_hessian_match_numerical_including_rho_near_boundary(data):
    # athrho = +-3 is rho = +-0.995; +-5 is rho = +-0.99991
    pts = _points((0.0, 0.7, -0.7, 3.0, -3.0, 5.0, -5.0))
    chk = check_derivatives(lambda p: K.loglikeobs(p, data).sum(),
                            lambda p: K.score(p, data), lambda p: K.hessian(p, data), pts)
    assert chk.grad_error < 1e-7
    assert chk.hess_error < 1e-6


def test_derivatives_with_tiny_sigma_far_tails(data):
    # sigma = 0.05 makes the residuals huge: the index is far in both tails
    pts = _points((3.0, -3.0, 0.5), lnsigma=np.log(0.05))
    for p in pts:
        assert np.isfinite(K.loglikeobs(p, data)).all()
    assert_derivatives(lambda p: K.loglikeobs(p, data).sum(), lambda p: K.score(p, data),
                       lambda p: K.hessian(p, data), pts, rtol=1e-6)


def test_weighted_kernel_sums_and_hessian(data):
    w = np.random.default_rng(5).uniform(0.2, 3.0, size=len(data.y))
    for p in _points((0.4, -2.5, 3.0)):
        ll, S, _ = K.loglike_derivs(p, data, 1, per_obs=True)
        ll_w, g, H = K.loglike_derivs(p, data, 2, weights=w)
        np.testing.assert_array_equal(ll, ll_w)  # per-row values stay unweighted
        np.testing.assert_allclose(g, w @ S, rtol=1e-12, atol=1e-10)
        chk = check_derivatives(lambda q: w @ K.loglikeobs(q, data),
                                lambda q: K.score(q, data, weights=w),
                                lambda q: K.hessian(q, data, weights=w), [p])
        assert chk.max_error < 1e-6


def test_loglikelihood_is_the_bivariate_normal_density():
    # l = log f(e) + log P(d | e) written directly with scipy
    y, X, d, Z = simulate(50, seed=3)
    p = _points((0.8,))[0]
    gamma, beta, a, t = p[:3], p[3:6], p[6], p[7]
    rho, sigma = np.tanh(a), np.exp(t)
    e = y - X @ beta
    cond = (Z @ gamma + rho * e / sigma) / np.sqrt(1 - rho ** 2)
    ref = norm.logpdf(e, scale=sigma) + np.where(d == 1, norm.logcdf(cond), norm.logcdf(-cond))
    np.testing.assert_allclose(K.loglikeobs(p, y, X, d, Z), ref, rtol=1e-12)


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    df = frame(800, seed=2)
    mod = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z")
    return df, mod, mod.fit()


def test_model_derivatives_and_convergence(fitted):
    _, mod, res = fitted
    assert res.converged
    p = np.asarray(res.params)
    assert np.max(np.abs(mod.score(p))) < 1e-6
    assert np.linalg.eigvalsh(mod.hessian(p)).max() < 0
    assert_derivatives(mod.loglike, mod.score, mod.hessian, [p, p + 0.05], rtol=1e-6)


def test_matches_r_treatreg_at_full_precision():
    ref = json.loads((VALIDATION / "treatreg_reference.json").read_text())["vignette_simulated"]
    df = pd.read_csv(VALIDATION / "treatreg_vignette.csv.gz")
    res = EndogenousTreatment.from_formula("yO ~ x + yS", df, treatment="yS ~ x + z").fit()
    coef, se = list(ref["coef"].values()), list(ref["se"].values())
    ours = ["treatment:Intercept", "treatment:x", "treatment:z", "outcome:Intercept",
            "outcome:x", "outcome:yS[T.True]"]
    np.testing.assert_allclose(res.params[ours], coef[:6], rtol=1e-6)
    np.testing.assert_allclose(res.bse[ours], se[:6], rtol=1e-5)
    np.testing.assert_allclose(res.ancillary.loc[["sigma", "rho"], "coef"], coef[6:], rtol=1e-6)
    np.testing.assert_allclose(res.ancillary.loc[["sigma", "rho"], "std err"], se[6:],
                               rtol=1e-5)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-6)


def test_recovers_parameters():
    y, X, d, Z = simulate(20000, seed=11)
    res = EndogenousTreatment(y, X, d, Z).fit()
    truth = np.array([-0.3, 1.0, 1.0, 1.0, 0.5, 1.5])
    assert np.all(np.abs(np.asarray(res.params)[:6] - truth) < 4 * np.asarray(res.bse)[:6])
    assert res.rho == pytest.approx(0.6, abs=0.06)
    assert res.sigma == pytest.approx(1.3, abs=0.05)


def test_names_treatment_column_and_counts(fitted):
    df, mod, res = fitted
    assert mod.param_names == ["treatment:Intercept", "treatment:x", "treatment:z",
                               "outcome:Intercept", "outcome:x", "outcome:d", "athrho",
                               "lnsigma"]
    assert not mod.treatment_added and mod._tcol == 2
    assert mod.nobs_treated + mod.nobs_untreated == len(df)
    assert mod.has_exclusion
    text = str(res.summary())
    for s in ("Endogenous treatment", "Treated:", "LR test of rho = 0", "ATE:", "lambda"):
        assert s in text


def test_treatment_added_when_absent_from_outcome():
    df = frame(300, seed=4)
    a = EndogenousTreatment.from_formula("y ~ x", df, treatment="d ~ x + z")
    b = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z")
    assert a.treatment_added and a.param_names[-3] == "outcome:d"
    p = np.asarray(b.fit().params)
    assert a.loglike(p) == pytest.approx(b.loglike(p), rel=1e-14)


def test_effects_predictions_and_summary_when_treatment_added():
    # the potential-outcome designs go through the formula, which lacks the
    # appended column: they failed with a matmul shape error
    df = frame(300, seed=4)
    a = EndogenousTreatment.from_formula("y ~ x", df, treatment="d ~ x + z")
    b = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z")
    for fa, fb in ((a.fit(), b.fit()), (a.fit_twostep(), b.fit_twostep())):
        np.testing.assert_allclose(fa.params, fb.params, rtol=1e-10)
        pd.testing.assert_frame_equal(fa.treatment_effects(), fb.treatment_effects(),
                                      rtol=1e-8)
        for which in ("te", "y1", "y0", "yctrt", "ycntrt", "xb", "ycond"):
            np.testing.assert_allclose(fa.predict(which=which), fb.predict(which=which),
                                       rtol=1e-8, err_msg=which)
            np.testing.assert_allclose(fa.predict(df.head(7), which=which),
                                       fb.predict(df.head(7), which=which), rtol=1e-8)
        # new data without the treatment column: the potential outcomes only
        np.testing.assert_allclose(fa.predict(df.drop(columns="d").head(7), which="y1"),
                                   fb.predict(df.drop(columns="d").head(7), which="y1"))
        np.testing.assert_allclose(fa.get_margeff().margeff, fb.get_margeff().margeff,
                                   rtol=1e-8)
        assert "ATE:" in str(fa.summary())
    # an interaction alone: d is appended and the formula still depends on it
    df["y"] += 0.5 * df.d * df.x
    c = EndogenousTreatment.from_formula("y ~ x + x:d", df, treatment="d ~ x + z").fit()
    e = EndogenousTreatment.from_formula("y ~ x + x:d + d", df, treatment="d ~ x + z").fit()
    assert c.model.treatment_added and not e.model.treatment_added
    pd.testing.assert_frame_equal(c.treatment_effects(), e.treatment_effects(), rtol=1e-6)


def test_arrays_boolean_treatment_and_no_exclusion_note():
    y, X, d, Z = simulate(300, seed=6)
    mod = EndogenousTreatment(y, X, d.astype(bool), Z[:, :2])
    assert not mod.has_exclusion
    assert "no exclusion restriction" in str(mod.fit().summary())


def test_lr_test_and_restricted_llf(fitted):
    df, mod, res = fitted
    import statsmodels.api as sm

    probit = sm.Probit(df.d, sm.add_constant(df[["x", "z"]])).fit(disp=0)
    ols = sm.OLS(df.y, sm.add_constant(df[["x", "d"]])).fit()
    assert res.llf_restricted == pytest.approx(probit.llf + ols.llf, abs=1e-6)
    assert res.lr_test_rho.statistic == pytest.approx(2 * (res.llf - res.llf_restricted))


def test_covariance_types_and_profile(fitted):
    df, mod, res = fitted
    hc0 = mod.fit(cov_type="HC0")
    cl = mod.fit(cov_type="cluster", cov_kwds={"groups": np.arange(len(df)) // 4})
    assert np.all(np.isfinite(hc0.bse)) and np.all(np.isfinite(cl.bse))
    assert not np.allclose(hc0.bse, res.bse)
    prof = res.profile_loglike(grid=[-0.5, 0.0, 0.5, 0.9])
    assert prof["llf"].max() <= res.llf + 1e-8
    gs = mod.fit(global_search=True, grid=[-0.6, 0.0, 0.3, 0.6, 0.9])
    assert gs.llf == pytest.approx(res.llf, abs=1e-8)


def test_freq_weights_equal_repeated_rows():
    df = frame(300, seed=7)
    w = np.random.default_rng(1).integers(1, 4, size=len(df))
    big = df.loc[df.index.repeat(w)].reset_index(drop=True)
    a = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z",
                                         freq_weights=w).fit()
    b = EndogenousTreatment.from_formula("y ~ x + d", big, treatment="d ~ x + z").fit()
    np.testing.assert_allclose(a.params, b.params, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-6)
    te_a, te_b = a.treatment_effects(), b.treatment_effects()
    np.testing.assert_allclose(te_a["coef"], te_b["coef"], rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# two-step
# ---------------------------------------------------------------------------

def test_twostep_is_probit_then_ols_with_signed_hazard(fitted):
    df, mod, _ = fitted
    import statsmodels.api as sm

    ts = mod.fit_twostep()
    Z = sm.add_constant(df[["x", "z"]]).to_numpy()
    probit = sm.Probit(df.d, Z).fit(disp=0)
    w = Z @ probit.params
    h = np.where(df.d == 1, norm.pdf(w) / norm.cdf(w), -norm.pdf(w) / norm.cdf(-w))
    ols = sm.OLS(df.y, np.column_stack([sm.add_constant(df[["x", "d"]]), h])).fit()
    np.testing.assert_allclose(ts.params[:3], probit.params, rtol=1e-6)
    np.testing.assert_allclose(ts.params[3:], ols.params, rtol=1e-6)
    assert ts.params.index[-1] == "lambda"
    assert ts.rho == pytest.approx(ts.lambda_ / ts.sigma)


def test_twostep_covariance_equals_the_murphy_topel_form(fitted):
    # independent construction: the second step's moment conditions
    # m(b, g) = X*'(y - X*(g) b) differentiated numerically in gamma through the
    # hazard in the residual (the derivative through the leading X*' multiplies
    # residuals of mean zero and drops out asymptotically, as in Heckman's
    # formula), and the model-based var(e | d) = sigma^2 (1 - rho^2 delta)
    df, mod, _ = fitted
    ts = mod.fit_twostep()
    y, X, d, Z = mod._y, mod._X, mod._d, mod._Z
    p = np.asarray(ts.params)
    g, b = p[:3], p[3:]
    Vg = np.asarray(ts.cov_params())[:3, :3]

    h, delta = K.signed_hazard(Z @ g, d)
    Xs = np.column_stack([X, h])

    def moments(gg):
        return Xs.T @ (y - np.column_stack([X, K.signed_hazard(Z @ gg, d)[0]]) @ b)

    A_inv = np.linalg.inv(Xs.T @ Xs)
    F = approx_fprime(g, moments, centered=True)
    rho, sigma = ts.rho, ts.sigma
    meat = (Xs.T * (sigma ** 2 * (1 - rho ** 2 * delta))) @ Xs + F @ Vg @ F.T
    V = A_inv @ meat @ A_inv
    np.testing.assert_allclose(np.asarray(ts.cov_params())[3:, 3:], V, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ts.cov_params())[3:, :3], A_inv @ F @ Vg, rtol=1e-6)


def test_twostep_errors_and_ml_start(fitted):
    df, mod, _ = fitted
    with pytest.raises(ValueError, match="not available with fit_twostep"):
        mod.fit_twostep(cov_type="opg")
    with pytest.raises(TypeError):
        mod.fit_twostep(maxiter=5)
    with pytest.raises(ValueError, match="fit_twostep"):
        mod.fit(method="twostep")
    ts = mod.fit_twostep()
    np.testing.assert_allclose(mod.start_params[:6], np.asarray(ts.params)[:6])


def test_twostep_moments_jacobian_and_robust_covariance(fitted):
    df, mod, _ = fitted
    ts = mod._twostep()
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(df))
    G, J = K.twostep_moments(ts, mod._y, mod._X, mod._d, mod._Z, w)

    def summed(theta):
        t = K.TwoStep(theta, ts.cov, ts.gamma_cov, 0.0, True, 1.0, 0.0, 0.0, None, None)
        return w @ K.twostep_moments(t, mod._y, mod._X, mod._d, mod._Z)[0]

    Jn = approx_fprime(np.asarray(ts.params), summed, centered=True)
    np.testing.assert_allclose(J, Jn, rtol=1e-5, atol=1e-5 * np.abs(J).max())
    # the moments are zero at the estimates (probit score, normal equations)
    assert np.abs(G.sum(axis=0)).max() < 1e-6 * len(df)
    hc0 = mod.fit_twostep(cov_type="HC0")
    Ji = np.linalg.inv(J := K.twostep_moments(ts, mod._y, mod._X, mod._d, mod._Z)[1])
    G0 = K.twostep_moments(ts, mod._y, mod._X, mod._d, mod._Z)[0]
    np.testing.assert_allclose(np.asarray(hc0.cov_params()), Ji @ G0.T @ G0 @ Ji.T,
                               rtol=1e-8)
    cl = mod.fit_twostep(cov_type="cluster", cov_kwds={"groups": np.arange(len(df)) // 5})
    assert np.all(np.isfinite(cl.bse)) and cl.n_groups == len(df) // 5


def test_weighted_twostep_equals_repeated_rows():
    df = frame(300, seed=8)
    f = np.random.default_rng(3).integers(1, 4, size=len(df))
    big = df.loc[df.index.repeat(f)].reset_index(drop=True)
    a = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z",
                                         freq_weights=f).fit_twostep()
    b = EndogenousTreatment.from_formula("y ~ x + d", big, treatment="d ~ x + z").fit_twostep()
    np.testing.assert_allclose(a.params, b.params, rtol=1e-7)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-6)
    assert a.rho == pytest.approx(b.rho, rel=1e-8)


# ---------------------------------------------------------------------------
# effects, predictions, margins
# ---------------------------------------------------------------------------

def test_effects_without_interaction_are_delta(fitted):
    _, _, res = fitted
    te = res.treatment_effects()
    delta, se = res.params["outcome:d"], res.bse["outcome:d"]
    for k in ("ATE", "ATET", "ATENT"):
        assert te.loc[k, "coef"] == pytest.approx(delta, rel=1e-12)
        assert te.loc[k, "std err"] == pytest.approx(se, rel=1e-10)
    assert te.loc["E[y(1) | d=1]", "coef"] == pytest.approx(res.predict(which="yctrt")[
        res.model._d == 1].mean())
    assert te.loc["E[y(0) | d=0]", "coef"] == pytest.approx(res.predict(which="ycntrt")[
        res.model._d == 0].mean())


def test_effects_with_interaction_and_their_jacobian():
    df = frame(800, seed=9)
    df["y"] += 0.5 * df.d * df.x
    mod = EndogenousTreatment.from_formula("y ~ x + d + d:x", df, treatment="d ~ x + z")
    res = mod.fit()
    te = res.treatment_effects()
    b = res.params
    treated = df.d == 1
    assert te.loc["ATE", "coef"] == pytest.approx(b["outcome:d"] + b["outcome:d:x"] * df.x.mean())
    assert te.loc["ATET", "coef"] == pytest.approx(
        b["outcome:d"] + b["outcome:d:x"] * df.x[treated].mean())
    assert te.loc["ATET", "coef"] != pytest.approx(te.loc["ATE", "coef"], rel=1e-3)
    # delta-method standard errors from the analytic Jacobian vs a numerical one
    X1, X0 = mod._potential_designs

    def values(p):
        g, beta, L, _ = res._results._structural(p)
        return K.effects(X1, X0, mod._Z, mod._d, g, beta, L)[0]

    p = np.asarray(res.params, float)
    Jn = approx_fprime(p, values, centered=True)
    se = np.sqrt(np.diag(Jn @ np.asarray(res.cov_params()) @ Jn.T))
    np.testing.assert_allclose(te["std err"], se, rtol=1e-5)


def test_twostep_effects_jacobian(fitted):
    _, mod, _ = fitted
    ts = mod.fit_twostep()
    X1, X0 = mod._potential_designs

    def values(p):
        return K.effects(X1, X0, mod._Z, mod._d, p[:3], p[3:6], p[6])[0]

    Jn = approx_fprime(np.asarray(ts.params, float), values, centered=True)
    se = np.sqrt(np.diag(Jn @ np.asarray(ts.cov_params()) @ Jn.T))
    np.testing.assert_allclose(ts.treatment_effects()["std err"], se, rtol=1e-5)


def test_predictions(fitted):
    df, mod, res = fitted
    g = res.params.iloc[:3].to_numpy()
    b = res.params.iloc[3:6].to_numpy()
    L = res.rho * res.sigma
    w = mod._Z @ g
    xb0 = b[0] + b[1] * df.x.to_numpy()
    np.testing.assert_allclose(res.predict(which="y0"), xb0)
    np.testing.assert_allclose(res.predict(which="y1"), xb0 + b[2])
    np.testing.assert_allclose(res.predict(which="yctrt"), xb0 + b[2] + L * norm.pdf(w)
                               / norm.cdf(w))
    np.testing.assert_allclose(res.predict(which="ycntrt"), xb0 - L * norm.pdf(w)
                               / norm.cdf(-w))
    ycond = np.where(df.d == 1, res.predict(which="yctrt"), res.predict(which="ycntrt"))
    np.testing.assert_allclose(res.predict(which="ycond"), ycond)
    np.testing.assert_allclose(res.predict(which="psel"), norm.cdf(w))
    # new data through the formulas (the treatment column needed only for xb, ycond)
    new = df.head(7)
    for which in ("xb", "y1", "y0", "te", "ycond", "yctrt", "ycntrt", "psel", "xbtrt"):
        np.testing.assert_allclose(res.predict(new, which=which),
                                   res.predict(which=which)[:7], rtol=1e-12)
    no_d = new.drop(columns="d")
    np.testing.assert_allclose(res.predict(no_d, which="yctrt"),
                               res.predict(which="yctrt")[:7])
    with pytest.raises(ValueError, match="observed treatment"):
        res.predict(no_d, which="xb")
    with pytest.raises(ValueError, match="which must be"):
        res.predict(which="mills")


def test_margins(fitted):
    df, mod, res = fitted
    g = res.params.iloc[:3].to_numpy()
    me = res.get_margeff("psel")
    w = mod._Z @ g
    assert me.margeff["z"] == pytest.approx(np.mean(norm.pdf(w)) * g[2], rel=1e-8)
    assert list(res.get_margeff("yctrt").margeff.index) == ["x", "z"]
    assert "d" not in res.get_margeff("xb").margeff.index
    me_c = res.get_margeff("ycond")
    assert np.all(np.isfinite(me_c.margeff_se))
    with pytest.raises(ValueError, match="at='overall'"):
        res.get_margeff("ycond", at="mean")


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def test_bad_input_errors():
    df = frame(200, seed=12)
    f, t = "y ~ x + d", "d ~ x + z"
    bad = df.assign(d=df.d * 2)
    n_bad = int((df.d == 1).sum())
    with pytest.raises(ValueError, match=rf"treatment 'd' must be binary \(0/1\): {n_bad} rows"):
        EndogenousTreatment.from_formula(f, bad, treatment=t)
    with pytest.raises(ValueError, match="no treated rows"):
        EndogenousTreatment.from_formula(f, df.assign(d=0), treatment=t)
    with pytest.raises(ValueError, match="no untreated rows"):
        EndogenousTreatment.from_formula(f, df.assign(d=1), treatment=t)
    miss = df.copy()
    miss.loc[[3, 5, 8], "y"] = np.nan
    with pytest.raises(ValueError, match=r"the outcome 'y' \(3 rows"):
        EndogenousTreatment.from_formula(f, miss, treatment=t, missing="raise")
    dropped = EndogenousTreatment.from_formula(f, miss, treatment=t)
    assert dropped.n_dropped == 3 and dropped.nobs == 197
    y, X, d, Z = simulate(100, seed=1)
    with pytest.raises(ValueError, match="same number of rows"):
        EndogenousTreatment(y[:-1], X, d, Z)
    with pytest.raises(ValueError, match="rank deficient"):
        EndogenousTreatment(y, np.column_stack([X, X[:, 1]]), d, Z)


def test_shared_fit_api_and_weight_defaults():
    df = frame(300, seed=13)
    mod = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z")
    with pytest.raises(TypeError, match="weights"):
        EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z",
                                         weights=np.ones(len(df)))
    with pytest.raises((TypeError, ValueError), match="maxiterr|maxiter"):
        mod.fit(maxiterr=5)
    opg = mod.fit(cov_type="opg")
    assert opg.cov_type == "opg" and np.all(np.isfinite(opg.bse))
    pw = EndogenousTreatment.from_formula("y ~ x + d", df, treatment="d ~ x + z",
                                          prob_weights=np.full(len(df), 2.0))
    r = pw.fit()
    assert r.cov_type == "HC1"  # Stata's vce(robust) is the default with pweights
    assert pw.fit_twostep().cov_type == "HC1"
    # constant sampling weights change nothing but the scale of the likelihood
    np.testing.assert_allclose(r.params, mod.fit().params, rtol=1e-8, atol=1e-10)
    me = r.get_margeff("psel")
    assert np.all(np.isfinite(me.margeff_se))
