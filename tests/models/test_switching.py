"""Switching regression (Tobit type 5): derivatives, two-step covariance,
recovery, published results (R sampleSelection), predictions, treatment
effects, global search, weights, bad input."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.tools.numdiff import approx_fprime
from statsmodels.tools.sm_exceptions import CollinearityWarning

from econderiv import SwitchingRegression
from econderiv.models import _switching_kernels as K
from econderiv.special import mills_ratio
from econderiv.testing import check_derivatives

DATA = Path(__file__).resolve().parents[2] / "validation" / "data"


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

TRUTH = dict(gamma=(0.2, 0.7, 0.8), beta0=(1.0, 0.5), beta1=(0.5, -0.4, 0.8), rho0=0.6,
             sigma0=1.2, rho1=-0.4, sigma1=0.8)


def simulate(n=1200, seed=0, rho0=0.6, rho1=-0.4, sigma0=1.2, sigma1=0.8, one_column=True):
    """z = (1, x, w); x0 = (1, x); x1 = (1, x, v); w excluded from both outcomes."""
    rng = np.random.default_rng(seed)
    x, w, v = rng.normal(size=(3, n))
    u = rng.normal(size=n)
    e0 = sigma0 * (rho0 * u + np.sqrt(1 - rho0 ** 2) * rng.normal(size=n))
    e1 = sigma1 * (rho1 * u + np.sqrt(1 - rho1 ** 2) * rng.normal(size=n))
    g, b0, b1 = (np.asarray(TRUTH[k]) for k in ("gamma", "beta0", "beta1"))
    s = (g[0] + g[1] * x + g[2] * w + u > 0).astype(float)
    y0 = b0[0] + b0[1] * x + e0
    y1 = b1[0] + b1[1] * x + b1[2] * v + e1
    df = pd.DataFrame({"x": x, "w": w, "v": v, "s": s})
    if one_column:
        df["y"] = np.where(s == 1, y1, y0)
    else:
        df["y0"] = np.where(s == 0, y0, np.nan)
        df["y1"] = np.where(s == 1, y1, np.nan)
    df.index = [f"r{i}" for i in range(n)]
    return df


def truth_params(rho0=0.6, rho1=-0.4, sigma0=1.2, sigma1=0.8):
    return np.r_[TRUTH["gamma"], TRUTH["beta0"], TRUTH["beta1"], np.arctanh(rho0),
                 np.log(sigma0), np.arctanh(rho1), np.log(sigma1)]


@pytest.fixture(scope="module")
def model():
    return SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], simulate(n=1200),
                                            selection="s ~ x + w")


@pytest.fixture(scope="module")
def ml(model):
    return model.fit()


@pytest.fixture(scope="module")
def kernel_data():
    df = simulate(n=150, seed=1)
    Z = np.column_stack([np.ones(150), df.x, df.w])
    X0 = np.column_stack([np.ones(150), df.x])
    X1 = np.column_stack([np.ones(150), df.x, df.v])
    return K.SwitchingData.from_arrays(df.y, X0, df.y, X1, df.s, Z)


# ---------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------

# rho0, rho1 at the truth, near +1 and -1 (athrho +-3: |rho| = 0.995) and mixed
POINTS = [truth_params(),
          truth_params(rho0=0.995, rho1=-0.995),
          truth_params(rho0=-0.995, rho1=0.995),
          truth_params(rho0=0.0, rho1=0.999, sigma0=0.5, sigma1=2.0),
          np.r_[0.0, 0.3, -0.2, 0.5, 0.0, -0.3, 0.2, 0.1, 0.4, 0.3, -1.2, -0.2]]


@pytest.mark.parametrize("point", range(len(POINTS)))
def test_score_and_hessian_match_numerical(kernel_data, point):
    d = kernel_data
    p = POINTS[point]
    chk = check_derivatives(lambda q: K.loglikeobs(q, d).sum(), lambda q: K.score(q, d),
                            lambda q: K.hessian(q, d), [p])
    assert chk.max_error < 1e-6, str(chk)


@pytest.mark.parametrize("point", [0, 1, 2])
def test_weighted_sums(kernel_data, point):
    d = kernel_data
    p = POINTS[point]
    w = np.random.default_rng(2).uniform(0.1, 3.0, size=d.nobs)
    # the weighted score is weights @ per-row scores (unweighted rows)
    np.testing.assert_allclose(K.score(p, d, w), w @ K.score_obs(p, d), rtol=1e-10,
                               atol=1e-8)
    chk = check_derivatives(lambda q: w @ K.loglikeobs(q, d), lambda q: K.score(q, d, w),
                            lambda q: K.hessian(q, d, w), [p])
    assert chk.max_error < 1e-6, str(chk)


def test_per_obs_scores_sum_to_the_score(kernel_data):
    d = kernel_data
    p = POINTS[3]
    np.testing.assert_allclose(K.score_obs(p, d).sum(axis=0), K.score(p, d), rtol=1e-10,
                               atol=1e-8)


def test_model_derivatives_through_the_engine():
    model = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], simulate(n=200, seed=2),
                                             selection="s ~ x + w")
    p = truth_params() + 0.05
    chk = check_derivatives(model.loglike, model.score, model.hessian, [p])
    assert chk.max_error < 1e-6, str(chk)
    np.testing.assert_allclose(model.score_obs(p).sum(axis=0), model.score(p), rtol=1e-9,
                               atol=1e-7)


def test_regime_terms_are_the_bivariate_normal_densities():
    # l = log of f(y_r) P(s = r | y_r): check one row of each regime by
    # integrating the bivariate normal density numerically
    from scipy import integrate, stats

    rho0, s0, rho1, s1, w = 0.7, 1.3, -0.5, 0.6, 0.4
    p = np.r_[w, 0.0, 0.0, np.arctanh(rho0), np.log(s0), np.arctanh(rho1), np.log(s1)]
    d = K.SwitchingData.from_arrays([0.8, -0.3], np.ones((2, 1)), [0.8, -0.3],
                                    np.ones((2, 1)), [0, 1], np.ones((2, 1)))
    ll = K.loglikeobs(p, d)
    for i, (y, rho, sig, lo, hi) in enumerate(((0.8, rho0, s0, -np.inf, -w),
                                               (-0.3, rho1, s1, -w, np.inf))):
        cov = [[1.0, rho * sig], [rho * sig, sig * sig]]
        dens = integrate.quad(lambda u: stats.multivariate_normal.pdf([u, y], cov=cov), lo,
                              hi, epsabs=1e-13)[0]
        assert ll[i] == pytest.approx(np.log(dens), abs=1e-9)


# ---------------------------------------------------------------------------
# two-step
# ---------------------------------------------------------------------------

def _second_steps(df, gamma, fitted=False):
    """OLS of each regime's outcome on [x_r, lambda_r(z'gamma)], by statsmodels
    (``fitted``: also return the fitted values)."""
    import statsmodels.api as sm

    z = np.column_stack([np.ones(len(df)), df.x, df.w]) @ gamma
    s = df.s.to_numpy() == 1
    lam0, lam1 = -mills_ratio(-z[~s]), mills_ratio(z[s])
    X0 = np.column_stack([np.ones((~s).sum()), df.x[~s], lam0])
    X1 = np.column_stack([np.ones(s.sum()), df.x[s], df.v[s], lam1])
    f0 = sm.OLS(df.y[~s].to_numpy(), X0).fit()
    f1 = sm.OLS(df.y[s].to_numpy(), X1).fit()
    b0, b1 = f0.params, f1.params
    out = np.r_[b0[:-1], b1[:-1], b0[-1], b1[-1]]
    return (out, f0.fittedvalues, f1.fittedvalues) if fitted else out


def test_twostep_is_probit_then_ols_with_each_regimes_mills_ratio(model):
    import statsmodels.api as sm

    df = simulate()
    two = model.fit_twostep()
    Z = np.column_stack([np.ones(len(df)), df.x, df.w])
    gamma = sm.Probit(df.s, Z).fit(disp=0).params.to_numpy()
    np.testing.assert_allclose(two.params[:3], gamma, rtol=1e-6)
    np.testing.assert_allclose(two.params[3:], _second_steps(df, gamma), rtol=1e-6)
    assert list(two.params.index[-2:]) == ["lambda0", "lambda1"]


def test_twostep_covariance_carries_the_probit_error(model):
    # the correction terms are G V_g G' with G the derivative of the second-step
    # coefficients in gamma through the inverse Mills ratios (Greene's form: the
    # residuals' part, O(1/sqrt n), left out): compare the analytic G (L_r bread
    # X*'D Z) with a numerical one, regressing the fitted values (zero residuals)
    df = simulate()
    ts = model._twostep()
    kz = 3
    Vg = ts.cov[:kz, :kz]
    _, fit0, fit1 = _second_steps(df, ts.params[:kz], fitted=True)
    noiseless = df.copy()
    noiseless.loc[noiseless.s == 0, "y"] = fit0
    noiseless.loc[noiseless.s == 1, "y"] = fit1
    G = approx_fprime(ts.params[:kz], lambda g: _second_steps(noiseless, g), centered=True)
    # uncorrected (homoskedastic, model-based) second-step blocks
    base = np.zeros_like(ts.cov)
    pos = [np.r_[3:5, 8], np.r_[5:8, 9]]
    for r, reg in enumerate(ts.regimes):
        base[np.ix_(pos[r], pos[r])] = reg.bread @ reg.middle @ reg.bread
    corr = ts.cov - base
    np.testing.assert_allclose(corr[kz:, kz:], (G @ Vg @ G.T), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(corr[kz:, :kz], G @ Vg, rtol=1e-5, atol=1e-9)
    # both regimes' blocks are tied through the probit
    assert np.abs(ts.cov[np.ix_(pos[0], pos[1])]).max() > 0


def test_twostep_keywords(model):
    with pytest.raises(ValueError, match="opg"):
        model.fit_twostep(cov_type="opg")
    with pytest.raises(TypeError, match="maxiter"):
        model.fit_twostep(maxiter=5)
    with pytest.raises(ValueError, match="fit_twostep"):
        model.fit(method="twostep")


def test_twostep_moments_jacobian():
    # the stacked M-estimator's Jacobian against numerical differentiation of
    # the weighted moment sums (lambda recomputed from gamma)
    df = simulate(n=300, seed=11)
    mod = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], df, selection="s ~ x + w")
    sel = mod._sel
    args = (mod._y0[~sel], mod._X0[~sel], mod._y1[sel], mod._X1[sel], mod.endog_select,
            mod._z)
    wt = np.random.default_rng(3).uniform(0.5, 2.0, size=len(df))
    p = mod._twostep().params + 0.05
    G, J = K.twostep_moments(p, *args, weights=wt)
    num = approx_fprime(p, lambda q: wt @ K.twostep_moments(q, *args, weights=wt)[0],
                        centered=True)
    np.testing.assert_allclose(J, num, rtol=1e-6, atol=1e-6)
    # the moments vanish at the two-step estimate (it solves them)
    G0, _ = K.twostep_moments(mod._twostep().params, *args)
    assert np.abs(G0.sum(axis=0)).max() < 1e-7


def test_twostep_robust_covariances(model):
    two = model.fit_twostep()
    hc = model.fit_twostep(cov_type="HC0")
    assert hc.cov_type == "HC0" and two.cov_type == "nonrobust"
    # homoskedastic normal errors: the sandwich estimates the same covariance
    ratio = hc.bse.to_numpy() / two.bse.to_numpy()
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    groups = np.arange(int(model.nobs)) % 60
    cl = model.fit_twostep(cov_type="cluster", cov_kwds={"groups": groups})
    assert cl.n_groups == 60 and np.all(np.isfinite(cl.bse))


def test_twostep_freq_weights_equal_duplicated_rows():
    df = simulate(n=400, seed=12)
    w = np.random.default_rng(1).integers(1, 4, size=len(df))
    big = df.loc[df.index.repeat(w)].reset_index(drop=True)
    kw = dict(selection="s ~ x + w")
    a = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], df, freq_weights=w, **kw)
    b = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], big, **kw)
    for ct in ("nonrobust", "HC0"):  # measured: 1e-14 relative in every quantity
        ta, tb = a.fit_twostep(cov_type=ct), b.fit_twostep(cov_type=ct)
        np.testing.assert_allclose(ta.params, tb.params, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ta.bse, tb.bse, rtol=1e-10)
        ea, eb = ta.treatment_effects(), tb.treatment_effects()
        np.testing.assert_allclose(ea["coef"], eb["coef"], rtol=1e-10)
        np.testing.assert_allclose(ea["std err"], eb["std err"], rtol=1e-10)
    assert ta.rho1 == pytest.approx(tb.rho1, rel=1e-10)


# ---------------------------------------------------------------------------
# recovery, interface
# ---------------------------------------------------------------------------

def test_ml_recovers_the_parameters(ml):
    assert ml.converged
    z = (ml.params.to_numpy() - truth_params()) / ml.bse.to_numpy()
    assert np.abs(z).max() < 4
    assert list(ml.params.index[-4:]) == ["athrho0", "lnsigma0", "athrho1", "lnsigma1"]
    assert ml.params.index[0] == "selection:Intercept"
    assert "outcome0:x" in ml.params.index and "outcome1:v" in ml.params.index
    anc = ml.ancillary
    assert list(anc.index) == ["rho0", "sigma0", "rho1", "sigma1", "lambda0", "lambda1"]
    assert anc.loc["rho0", "coef"] == pytest.approx(np.tanh(ml.params["athrho0"]))
    assert anc.loc["lambda1", "coef"] == pytest.approx(ml.rho1 * ml.sigma1)
    assert ml.hessian_negdef


def test_ml_and_twostep_agree_roughly(model, ml):
    two = model.fit_twostep()
    k = 8
    diff = np.abs(ml.params.to_numpy()[:k] - two.params.to_numpy()[:k])
    assert np.all(diff < 3 * two.bse.to_numpy()[:k])
    assert two.rho0 == pytest.approx(ml.rho0, abs=0.2)


def test_one_outcome_column_or_two(ml):
    df = simulate(one_column=False)
    mod = SwitchingRegression.from_formula(["y0 ~ x", "y1 ~ x + v"], df,
                                           selection="s ~ x + w")
    res = mod.fit()
    np.testing.assert_allclose(res.params, ml.params, rtol=1e-7, atol=1e-9)
    assert res.llf == pytest.approx(ml.llf, rel=1e-12)
    assert (mod.endog0_name, mod.endog1_name) == ("y0", "y1")
    # arrays: a pair, or an (n, 2) array
    X0 = np.column_stack([np.ones(len(df)), df.x])
    X1 = np.column_stack([np.ones(len(df)), df.x, df.v])
    Z = np.column_stack([np.ones(len(df)), df.x, df.w])
    pair = SwitchingRegression((df.y0.to_numpy(), df.y1.to_numpy()), X0, X1, df.s.to_numpy(),
                               Z).fit()
    arr = SwitchingRegression(df[["y0", "y1"]].to_numpy(), X0, X1, df.s.to_numpy(), Z).fit()
    np.testing.assert_allclose(pair.params, ml.params.to_numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(arr.params, ml.params.to_numpy(), rtol=1e-7, atol=1e-9)


def test_single_formula_means_the_same_equation_in_both_regimes():
    df = simulate(n=600, seed=3)
    a = SwitchingRegression.from_formula("y ~ x + v", df, selection="s ~ x + w")
    b = SwitchingRegression.from_formula(outcome=["y ~ x + v", "y ~ x + v"], data=df,
                                         selection="s ~ x + w")
    assert a.param_names == b.param_names
    np.testing.assert_allclose(a.fit().params, b.fit().params)


def test_summary_and_tests(ml):
    text = str(ml.summary())
    for piece in ("Switching regression", "outcome0: y (s=0)", "outcome1: y (s=1)",
                  "selection: s", "rho0", "sigma1", "LL (rho0=rho1=0)", "chi2(2)"):
        assert piece in text
    assert ml.lr_test_rho.df == 2
    assert ml.llf_restricted < ml.llf
    # the restricted model is the probit plus two normal regressions
    import statsmodels.api as sm
    df = simulate()
    s = df.s == 1
    llr = (sm.Probit(df.s, sm.add_constant(df[["x", "w"]])).fit(disp=0).llf
           + sm.OLS(df.y[~s], sm.add_constant(df.x[~s])).fit().llf
           + sm.OLS(df.y[s], sm.add_constant(df[["x", "v"]][s])).fit().llf)
    assert ml.llf_restricted == pytest.approx(llr, abs=1e-6)
    terms = ml.wald_test_terms().table
    assert "outcome1:v" in terms.index and "selection:w" in terms.index
    with pytest.raises(AttributeError, match="rho0 and rho1"):
        ml.rho


def test_covariance_types(model, ml):
    hc = model.fit(cov_type="HC0")
    assert np.all(np.isfinite(hc.bse)) and not np.allclose(hc.bse, ml.bse)
    assert hc.rho_test.kind == "Wald"
    groups = np.arange(int(model.nobs)) % 50
    cl = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert np.all(np.isfinite(cl.bse))


def test_freq_weights_equal_duplicated_rows():
    df = simulate(n=500, seed=4)
    w = np.random.default_rng(0).integers(1, 4, size=len(df))
    big = df.loc[df.index.repeat(w)].reset_index(drop=True)
    a = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], df, selection="s ~ x + w",
                                         freq_weights=w).fit()
    b = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], big,
                                         selection="s ~ x + w").fit()
    # both fits reach the same optimum to rounding (measured: 3e-15 relative)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    assert a.llf == pytest.approx(b.llf, rel=1e-10)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-10)
    # the effects are weighted means (they were unweighted): the same as on
    # the repeated rows, standard errors included; "n" counts rows
    ea, eb = a.treatment_effects(), b.treatment_effects()
    np.testing.assert_allclose(ea["coef"], eb["coef"], rtol=1e-10)
    np.testing.assert_allclose(ea["std err"], eb["std err"], rtol=1e-10)
    assert ea.loc["ATE", "n"] == len(df) and eb.loc["ATE", "n"] == len(big)


def test_weighted_effects_and_their_gradients():
    # prob weights weight the averages too; the analytic gradient of the
    # weighted mean against a numerical one
    df = simulate(n=400, seed=5)
    w = np.random.default_rng(3).uniform(0.2, 3.0, size=len(df))
    res = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], df, selection="s ~ x + w",
                                           prob_weights=w).fit()
    m, te = res.model, res.treatment_effects()
    s = m.endog_select
    for which, name, rows in (("ate", "ATE", s >= 0), ("att", "ATT", s == 1),
                              ("atu", "ATU", s == 0)):
        pred = res.predict(which={"ate": "te", "att": "tt", "atu": "tu"}[which])
        assert te.loc[name, "coef"] == pytest.approx(np.average(pred[rows], weights=w[rows]),
                                                     rel=1e-12)

        def value(p):
            g, b0, b1, L0, L1, _ = res._results._structural(p)
            return K.treatment_effect(which, m._X0, m._X1, m._z, s, g, b0, b1, L0, L1, w)[0]
        grad = approx_fprime(res.params.to_numpy(), value, centered=True)
        se = np.sqrt(grad @ res.cov_params().to_numpy() @ grad)
        assert te.loc[name, "std err"] == pytest.approx(se, rel=1e-5)
    assert te.loc["E[y1]", "coef"] == pytest.approx(np.average(res.predict(which="xb1"),
                                                               weights=w), rel=1e-12)


def test_pickle_keeps_formula_predictions(ml):
    df = simulate().iloc[:5]
    back = pickle.loads(pickle.dumps(ml))
    np.testing.assert_allclose(back.predict(df, which="y1_s0"), ml.predict(df, which="y1_s0"))


# ---------------------------------------------------------------------------
# predictions, treatment effects, margins
# ---------------------------------------------------------------------------

def test_prediction_identities(ml):
    p = ml.predict(which="psel")
    for r in (0, 1):
        total = p * ml.predict(which=f"y{r}_s1") + (1 - p) * ml.predict(which=f"y{r}_s0")
        np.testing.assert_allclose(total, ml.predict(which=f"xb{r}"), atol=1e-10)
    np.testing.assert_allclose(ml.predict(which="tt"),
                               ml.predict(which="y1_s1") - ml.predict(which="y0_s1"))
    np.testing.assert_allclose(ml.predict(which="te"),
                               ml.predict(which="xb1") - ml.predict(which="xb0"))
    assert isinstance(p, pd.Series) and p.index[0] == "r0"


def test_conditional_means_against_simulation():
    # E[y1 | s = 0] (a counterfactual) at the true parameters, by brute force
    rng = np.random.default_rng(7)
    n = 400_000
    w, rho1, sigma1 = 0.3, -0.4, 0.8
    u = rng.normal(size=n)
    e1 = sigma1 * (rho1 * u + np.sqrt(1 - rho1 ** 2) * rng.normal(size=n))
    sim = e1[w + u <= 0].mean()
    one = np.ones((1, 1))
    val = K.prediction("y1_s0", one, one, one, np.r_[w], np.r_[0.0], np.r_[0.0],
                       0.5, rho1 * sigma1)
    assert val[0] == pytest.approx(sim, abs=4 * sigma1 / np.sqrt((w + u <= 0).sum()))


def test_predict_new_data(ml):
    df = simulate(n=30, seed=9)
    a = ml.predict(df, which="y0_s0")
    X0 = np.column_stack([np.ones(30), df.x])
    Z = np.column_stack([np.ones(30), df.x, df.w])
    b = ml.predict(which="y0_s0", exog0=X0, exog_select=Z)
    np.testing.assert_allclose(a.to_numpy(), b)
    with pytest.raises(ValueError, match="exog1"):
        ml.predict(which="y1_s1", exog0=X0, exog_select=Z)
    with pytest.raises(ValueError, match="which"):
        ml.predict(which="ycond")


def test_treatment_effects_and_their_gradients(ml):
    te = ml.treatment_effects()
    assert list(te.index) == ["ATE", "ATT", "ATU", "E[y0]", "E[y1]"]
    m = ml.model
    s = m.endog_select
    np.testing.assert_allclose(te.loc["ATT", "coef"], ml.predict(which="tt")[s == 1].mean())
    np.testing.assert_allclose(te.loc["ATU", "coef"], ml.predict(which="tu")[s == 0].mean())
    np.testing.assert_allclose(te.loc["E[y1]", "coef"] - te.loc["E[y0]", "coef"],
                               te.loc["ATE", "coef"])
    # delta-method standard errors from the analytic gradient vs numerical
    for which, name in (("att", "ATT"), ("atu", "ATU")):
        def value(p):
            g, b0, b1, L0, L1, _ = ml._results._structural(p)
            return K.treatment_effect(which, m._X0, m._X1, m._z, s, g, b0, b1, L0, L1)[0]
        grad = approx_fprime(ml.params.to_numpy(), value, centered=True)
        se = np.sqrt(grad @ ml.cov_params().to_numpy() @ grad)
        assert te.loc[name, "std err"] == pytest.approx(se, rel=1e-5)
    # the ATE's truth: mean of x1'b1 - x0'b0 at the true parameters
    df = simulate()
    b0, b1 = TRUTH["beta0"], TRUTH["beta1"]
    ate = np.mean(b1[0] + b1[1] * df.x + b1[2] * df.v - b0[0] - b0[1] * df.x)
    assert abs(te.loc["ATE", "coef"] - ate) < 4 * te.loc["ATE", "std err"]


def test_margeff(ml):
    me = ml.get_margeff("y1_s1")
    # v enters only regime 1's outcome: its effect is its coefficient
    assert me.margeff["v"] == pytest.approx(ml.params["outcome1:v"])
    assert me.margeff_se["v"] == pytest.approx(ml.bse["outcome1:v"], rel=1e-5)
    # w enters only selection: its effect is rho1 sigma1 mean(lambda'(z'g)) g_w
    w = ml.model._z @ ml.params.to_numpy()[:3]
    from econderiv.special import mills_ratio_deriv
    expect = ml.rho1 * ml.sigma1 * np.mean(mills_ratio_deriv(w, 1)) * ml.params["selection:w"]
    assert me.margeff["w"] == pytest.approx(expect, rel=1e-8)
    # an average effect is the derivative of the average prediction
    df = simulate()
    h = 1e-5
    up, dn = df.copy(), df.copy()
    up["x"] += h
    dn["x"] -= h
    num = (ml.predict(up, which="tt").mean() - ml.predict(dn, which="tt").mean()) / (2 * h)
    assert ml.get_margeff("tt").margeff["x"] == pytest.approx(num, rel=1e-6)
    with pytest.raises(ValueError, match="which"):
        ml.get_margeff("ycond")


# ---------------------------------------------------------------------------
# global search, profile
# ---------------------------------------------------------------------------

def test_global_search_over_both_correlations():
    df = simulate(n=500, seed=5)
    mod = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], df, selection="s ~ x + w")
    local = mod.fit()
    res = mod.fit(global_search=True, grid=[-0.6, 0.0, 0.6])
    table = res.global_search
    assert {"rho0", "rho1", "llf", "chosen"} <= set(table.columns)
    assert res.llf >= local.llf - 1e-8
    prof = res.profile_loglike(("rho0", "rho1"), grid=[-0.6, 0.0, 0.6])
    assert len(prof) == 9 and {"rho0", "rho1"} <= set(prof.columns)
    # the profile never exceeds the maximum, and reaches it near the estimate
    assert prof["llf"].max() <= res.llf + 1e-6


def test_global_search_escapes_a_local_maximum():
    # an optimizer stopped early at a poor point (both rho of the wrong sign):
    # the search over (rho0, rho1) restarts from the profile's maxima and
    # returns the maximum found from the two-step start
    df = simulate(n=600, seed=6)
    mod = SwitchingRegression.from_formula(["y ~ x", "y ~ x + v"], df, selection="s ~ x + w")
    best = mod.fit()
    start = best.params.to_numpy().copy()
    start[[-4, -2]] = [-2.5, 2.5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stuck = mod.fit(start_params=start, maxiter=2)
        res = mod.fit(start_params=start, maxiter=2, global_search=True,
                      grid=[-0.6, 0.0, 0.6])
    assert stuck.llf < best.llf - 1.0
    assert res.llf == pytest.approx(best.llf, abs=1e-6)
    assert res.global_search["chosen"].iloc[0] == False  # noqa: E712
    assert len(res.global_search) > 1


def test_profile_of_one_correlation(ml):
    prof = ml.profile_loglike("rho1", grid=[-0.8, -0.4, 0.0, 0.4])
    assert list(prof["rho1"]) == [-0.8, -0.4, 0.0, 0.4]
    assert prof["llf"].max() <= ml.llf + 1e-6
    # at rho1 fixed at its estimate the profile is the maximum
    top = ml.profile_loglike("rho1", grid=[float(ml.rho1)])
    assert top["llf"].iloc[0] == pytest.approx(ml.llf, abs=1e-6)
    with pytest.raises(ValueError, match="rho0"):
        ml.profile_loglike("rho")


# ---------------------------------------------------------------------------
# published results: R sampleSelection (tests/selection.Rout.save, vignette)
# ---------------------------------------------------------------------------

def test_sampleselection_tobit5_ml():
    # sampleSelection 1.2, tests/selection.Rout.save, testTobit5Ml (ys FALSE = regime 0)
    df = pd.read_csv(DATA / "sampleselection_tests_tobit5.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows dropped for missing outcomes
        mod = SwitchingRegression.from_formula(["yo1 ~ xo1", "yo2 ~ xo2"], df,
                                               selection="ys ~ xs")
    assert (mod.nobs, mod.nobs_regime0, mod.nobs_regime1) == (1483, 472, 1011)
    res = mod.fit()
    printed = {"selection:Intercept": -0.01045, "selection:xs": 1.01595,
               "outcome0:Intercept": -0.02694, "outcome0:xo1": 0.99421,
               "outcome1:Intercept": -0.00607, "outcome1:xo2": 1.01509}
    for name, value in printed.items():
        assert res.params[name] == pytest.approx(value, abs=5e-6)
    anc = res.ancillary
    for name, value, se in (("sigma0", 1.01208, 0.0615), ("rho0", 0.87183, 0.0334),
                            ("sigma1", 1.02363, 0.0455), ("rho1", 0.46491, 0.1501)):
        assert anc.loc[name, "coef"] == pytest.approx(value, abs=5e-6)
        assert anc.loc[name, "std err"] == pytest.approx(se, abs=5e-5)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def test_a_regime_without_observations_is_an_error():
    df = simulate(n=200, seed=8)
    df["s"] = 1.0
    with pytest.raises(ValueError, match="regime 0 has no observations"):
        SwitchingRegression.from_formula(["y ~ x", "y ~ x"], df, selection="s ~ x + w")
    df["s"] = 0.0
    with pytest.raises(ValueError, match="regime 1 has no observations"):
        SwitchingRegression.from_formula(["y ~ x", "y ~ x"], df, selection="s ~ x + w")


def test_missing_outcome_in_its_regime_is_an_error_naming_it():
    df = simulate(n=200, seed=8, one_column=False)
    df.loc[df.index[df.s == 0][:3], "y0"] = np.nan
    with pytest.raises(ValueError, match=r"regime-0 outcome 'y0' for 3 rows of regime 0"):
        SwitchingRegression.from_formula(["y0 ~ x", "y1 ~ x"], df, selection="s ~ x + w",
                                         missing="raise")
    with pytest.warns(RuntimeWarning, match="3 rows have a missing outcome"):
        mod = SwitchingRegression.from_formula(["y0 ~ x", "y1 ~ x"], df,
                                               selection="s ~ x + w")
    assert mod.n_dropped == 3
    # missing in the other regime is fine
    df2 = simulate(n=200, seed=8, one_column=False)
    mod = SwitchingRegression.from_formula(["y0 ~ x", "y1 ~ x"], df2, selection="s ~ x + w",
                                           missing="raise")
    assert mod.n_dropped == 0


def test_missing_regressor_in_its_regime_names_the_column():
    df = simulate(n=200, seed=8)
    df.loc[df.index[df.s == 1][0], "v"] = np.nan
    X0 = np.column_stack([np.ones(200), df.x])
    X1 = pd.DataFrame({"const": 1.0, "x": df.x, "v": df.v})
    Z = np.column_stack([np.ones(200), df.x, df.w])
    with pytest.raises(ValueError, match="regime-1 regressors.*v"):
        SwitchingRegression(df.y, X0, X1, df.s, Z)


def test_non_binary_selection_is_an_error():
    df = simulate(n=200, seed=8)
    df.loc[df.index[0], "s"] = 2.0
    with pytest.raises(ValueError, match="'s'"):
        SwitchingRegression.from_formula(["y ~ x", "y ~ x"], df, selection="s ~ x + w")


def test_formula_shapes():
    df = simulate(n=200, seed=8)
    with pytest.raises(ValueError, match="two formulas"):
        SwitchingRegression.from_formula(["y ~ x"], df, selection="s ~ x + w")
    with pytest.raises(ValueError, match="not both"):
        SwitchingRegression.from_formula("y ~ x", df, selection="s ~ x + w",
                                         outcome="y ~ x")


def test_no_exclusion_warns():
    df = simulate(n=400, seed=8)
    mod = SwitchingRegression.from_formula(["y ~ x + w", "y ~ x + w"], df,
                                           selection="s ~ x + w")
    with pytest.warns(CollinearityWarning, match="no exclusion restriction"):
        mod.fit_twostep()


def test_dask_data_selects_the_distributed_backend():
    # the fits on dask partitions are tested in test_dask_treatment.py
    dd = pytest.importorskip("dask.dataframe")
    data = dd.from_pandas(simulate(n=100, seed=8), npartitions=2)
    mod = SwitchingRegression.from_formula(["y ~ x", "y ~ x"], data, selection="s ~ x + w")
    assert isinstance(mod, SwitchingRegression) and mod._backend.npartitions == 2
