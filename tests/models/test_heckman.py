"""Heckman sample selection model: derivatives, recovery, published results,
bad input, warnings and the statsmodels-style interface."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.tools.sm_exceptions import CollinearityWarning, ConvergenceWarning

from econderiv import datasets
from econderiv.models import _heckman_kernels as K
from econderiv.models.heckman import Heckman, ProfileLikelihood
from econderiv.testing import assert_derivatives, check_derivatives, numerical_jacobian


# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------

def simulate(n=2000, rho=0.5, sigma=1.5, seed=0, exclusion=True, gamma=(0.3, 0.8, -0.6, 1.0),
             beta=(1.0, 0.5, -0.7)):
    """Tobit-2 data: z = (1, x1, x2, excl), x = (1, x1, x2)."""
    rng = np.random.default_rng(seed)
    x1, x2, excl = rng.normal(size=(3, n))
    Z = np.column_stack([np.ones(n), x1, x2, excl]) if exclusion else \
        np.column_stack([np.ones(n), x1, x2])
    g = np.asarray(gamma if exclusion else gamma[:3])
    X = np.column_stack([np.ones(n), x1, x2])
    cov = [[1.0, rho * sigma], [rho * sigma, sigma ** 2]]
    u, e = rng.multivariate_normal([0, 0], cov, size=n).T
    s = (Z @ g + u > 0).astype(float)
    y = X @ np.asarray(beta) + e
    y[s == 0] = np.nan
    return y, X, s, Z


@pytest.fixture(scope="module")
def greene():
    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    return Heckman.from_formula("wage ~ exper + I(exper**2) + educ + city", df,
                                selection="lfp ~ age + I(age**2) + faminc + kids + educ")


@pytest.fixture(scope="module")
def greene_ml(greene):
    return greene.fit()


@pytest.fixture(scope="module")
def wooldridge():
    df = datasets.load("mroz")
    return Heckman.from_formula(
        "lwage ~ educ + exper + expersq", df,
        selection="inlf ~ educ + exper + expersq + nwifeinc + age + kidslt6 + kidsge6")


def printed(value, text):
    """``value`` rounds to the printed ``text`` (half a unit of the last digit)."""
    mant = text.split("e")[0]
    dec = len(mant.split(".")[1]) if "." in mant else 0
    exp = int(text.split("e")[1]) if "e" in text else 0
    return abs(value - float(text)) <= 0.5 * 10.0 ** (exp - dec) * (1 + 1e-9)


# ---------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_data():
    y, X, s, Z = simulate(n=400, seed=1)
    return K.SelectionData.from_arrays(y, X, s, Z)


def _points(rng, athrhos, scale=1.0):
    pts = []
    for a in athrhos:
        gamma = rng.normal(size=4) * scale
        beta = rng.normal(size=3)
        pts.append(np.concatenate([gamma, beta, [a, rng.normal(0, 0.5)]]))
    return pts


@pytest.mark.parametrize("athrhos,scale", [
    ((0.0, 0.4, -0.9), 1.0),           # ordinary points
    ((3.0, -3.0), 1.0),                # rho = +-0.995
    ((3.0, -3.0, 0.2), 4.0),           # large selection indices (|z'g| ~ 10)
])
def test_score_and_hessian_match_numerical(small_data, athrhos, scale):
    rng = np.random.default_rng(len(athrhos) + int(scale))
    d = small_data
    pts = _points(rng, athrhos, scale)
    res = assert_derivatives(lambda p: K.loglike(p, d), lambda p: K.score(p, d),
                             lambda p: K.hessian(p, d), pts, rtol=1e-6)
    assert res.max_error < 1e-6


def _mp_loglike(p, d):
    """The log-likelihood in 40-digit arithmetic (mpmath)."""
    import mpmath as mp

    gamma, beta = p[:4], p[4:7]
    a, t = p[7], p[8]
    total = mp.mpf(0)
    for z in d.Z0:
        w = mp.fsum(mp.mpf(float(zi)) * g for zi, g in zip(z, gamma))
        total += mp.log(mp.ncdf(-w))
    for z, x, y in zip(d.Z1, d.X1, d.y1):
        w = mp.fsum(mp.mpf(float(zi)) * g for zi, g in zip(z, gamma))
        u = (mp.mpf(float(y)) - mp.fsum(mp.mpf(float(xi)) * b for xi, b in zip(x, beta))) \
            * mp.exp(-t)
        A = mp.cosh(a) * w + mp.sinh(a) * u
        total += mp.log(mp.ncdf(A)) - u * u / 2 - t - mp.log(2 * mp.pi) / 2
    return total


def test_score_and_hessian_at_extreme_indices_against_mpmath():
    # |z'gamma| ~ 30 and rho = +-0.995: the log-likelihood is ~ -1e4, so a
    # double-precision difference quotient loses ~1e-7 to rounding in small
    # score components. The reference gradient is therefore the 40-digit
    # derivative of the log-likelihood (mpmath); the Hessian is checked
    # against the numerical Jacobian of the analytic score as usual.
    import mpmath as mp

    y, X, s, Z = simulate(n=60, seed=7)
    d = K.SelectionData.from_arrays(y, X, s, Z)
    rng = np.random.default_rng(8)
    pts = _points(rng, (3.0, -3.0, 0.2), 12.0)
    with mp.workdps(40):
        for p in pts:
            g = K.score(p, d)
            ref = np.array([float(mp.diff(lambda v, k=k: _mp_loglike(
                [mp.mpf(float(q)) if j != k else v for j, q in enumerate(p)], d),
                mp.mpf(float(p[k])))) for k in range(len(p))])
            assert np.max(np.abs(g - ref) / np.maximum(np.abs(ref), 1e-12)) < 1e-9
            assert float(_mp_loglike([mp.mpf(float(q)) for q in p], d)) == pytest.approx(
                K.loglike(p, d), rel=1e-13)
    chk = check_derivatives(lambda p: K.loglike(p, d), lambda p: K.score(p, d),
                            lambda p: K.hessian(p, d), pts)
    assert chk.hess_error < 1e-6


def test_extreme_outcome_residuals_derivatives(small_data):
    # tiny sigma makes |u| huge and A far in both tails for rho = +-0.995
    d = small_data
    pts = [np.concatenate([[0.3, 0.8, -0.6, 1.0], [1.0, 0.5, -0.7], [a, np.log(0.05)]])
           for a in (3.0, -3.0)]
    for p in pts:
        assert np.isfinite(K.loglike(p, d))
    assert_derivatives(lambda p: K.loglike(p, d), lambda p: K.score(p, d),
                       lambda p: K.hessian(p, d), pts, rtol=1e-6)


def test_score_obs_sums_to_score_and_loglikeobs_to_loglike(small_data):
    d = small_data
    p = _points(np.random.default_rng(3), (0.7,))[0]
    assert K.score_obs(p, d).sum(axis=0) == pytest.approx(K.score(p, d), rel=1e-12, abs=1e-10)
    assert K.loglikeobs(p, d).sum() == pytest.approx(K.loglike(p, d), rel=1e-14)
    # unselected rows contribute to the selection block only
    so = K.score_obs(p, d)
    assert np.all(so[~d.sel, 4:] == 0)


def test_kernels_accept_full_arrays():
    y, X, s, Z = simulate(n=200, seed=2)
    d = K.SelectionData.from_arrays(y, X, s, Z)
    p = _points(np.random.default_rng(4), (0.3,))[0]
    assert K.loglike(p, y, X, s, Z) == K.loglike(p, d)
    np.testing.assert_array_equal(K.hessian(p, y, X, s, Z), K.hessian(p, d))


def test_loglikelihood_is_the_bivariate_normal_probability():
    # independent check of the formula: P(s=0) = Phi(-w); selected: density of e
    # times P(u > -w | e)
    y, X, s, Z = simulate(n=50, seed=5)
    p = np.array([0.2, 0.5, -0.4, 0.9, 1.1, 0.4, -0.5, 0.6, 0.3])
    rho, sigma = np.tanh(0.6), np.exp(0.3)
    w = Z @ p[:4]
    ll = np.where(s == 0, stats.norm.logcdf(-w), 0.0)
    e = y - X @ p[4:7]
    sel = s == 1
    cond_mean = rho * e[sel] / sigma
    cond_sd = np.sqrt(1 - rho ** 2)
    ll[sel] = (stats.norm.logpdf(e[sel], scale=sigma)
               + stats.norm.logsf(-w[sel], loc=cond_mean, scale=cond_sd))
    assert K.loglikeobs(p, y, X, s, Z) == pytest.approx(ll, rel=1e-12)


def test_probit_derivatives():
    y, X, s, Z = simulate(n=300, seed=6)
    pts = [np.array([0.1, 0.5, -0.2, 0.3]), np.array([3.0, -8.0, 5.0, 10.0])]
    assert_derivatives(lambda g: K.probit_loglike(g, s, Z), lambda g: K.probit_score(g, s, Z),
                       lambda g: K.probit_hessian(g, s, Z), pts, rtol=1e-6)


# ---------------------------------------------------------------------------
# recovery on simulated data
# ---------------------------------------------------------------------------

def test_ml_recovers_known_parameters():
    y, X, s, Z = simulate(n=20000, rho=0.6, sigma=1.5, seed=11)
    res = Heckman(y, X, s, Z).fit()
    truth = np.array([0.3, 0.8, -0.6, 1.0, 1.0, 0.5, -0.7, np.arctanh(0.6), np.log(1.5)])
    z = (np.asarray(res.params) - truth) / np.asarray(res.bse)
    assert np.all(np.abs(z) < 4), z
    assert res.converged
    assert res.rho == pytest.approx(0.6, abs=0.05)
    assert res.sigma == pytest.approx(1.5, abs=0.05)


def test_twostep_recovers_known_parameters():
    y, X, s, Z = simulate(n=20000, rho=-0.5, sigma=2.0, seed=12)
    res = Heckman(y, X, s, Z).fit_twostep()
    truth = np.array([0.3, 0.8, -0.6, 1.0, 1.0, 0.5, -0.7, -1.0])
    z = (np.asarray(res.params) - truth) / np.asarray(res.bse)
    assert np.all(np.abs(z) < 4), z
    assert res.rho == pytest.approx(-0.5, abs=0.08)
    assert res.sigma == pytest.approx(2.0, abs=0.08)


def test_twostep_covariance_agrees_with_monte_carlo():
    # the corrected standard error of lambda against its sampling spread
    lams, ses = [], []
    for seed in range(40):
        y, X, s, Z = simulate(n=800, rho=0.7, sigma=1.0, seed=100 + seed)
        r = Heckman(y, X, s, Z).fit_twostep()
        lams.append(r.params.iloc[-1])
        ses.append(r.bse.iloc[-1])
    ratio = np.std(lams, ddof=1) / np.mean(ses)
    assert 0.75 < ratio < 1.3


# ---------------------------------------------------------------------------
# published results (see validation/validate_heckman.py for the full table)
# ---------------------------------------------------------------------------

def test_greene_2002_example_22_8_twostep(greene):
    res = greene.fit_twostep()
    p, b = res.params, res.bse
    published = {"Intercept": ("-0.971", "2.06"), "exper": ("0.0211", "0.0625"),
                 "I(exper ** 2)": ("0.000137", "0.00188"), "educ": ("0.417", "0.100"),
                 "city": ("0.444", "0.316")}
    for term, (coef, se) in published.items():
        assert printed(p[f"outcome:{term}"], coef), term
        assert printed(b[f"outcome:{term}"], se), term
    assert printed(p["lambda"], "-1.10") and printed(b["lambda"], "1.27")
    assert printed(res.sigma, "3.20") and printed(res.rho, "-0.343")


def test_greene_2002_example_22_8_ml(greene_ml):
    res = greene_ml
    p, b = res.params, res.bse
    published = {"Intercept": ("-1.96", "1.20"), "exper": ("0.0279", "0.0616"),
                 "I(exper ** 2)": ("-0.000104", "0.00184"), "educ": ("0.457", "0.0732"),
                 "city": ("0.447", "0.316")}
    for term, (coef, se) in published.items():
        assert printed(p[f"outcome:{term}"], coef), term
        assert printed(b[f"outcome:{term}"], se), term
    anc = res.ancillary
    assert printed(anc.loc["sigma", "coef"], "3.11") and printed(anc.loc["sigma", "std err"], "0.114")
    assert printed(anc.loc["rho", "coef"], "-0.132") and printed(anc.loc["rho", "std err"], "0.165")
    assert printed(res.llf, "-1581.26")


def test_wooldridge_example_17_5(wooldridge):
    res = wooldridge.fit_twostep()
    p, b = res.params, res.bse
    for term, coef, se in [("Intercept", "-.578", ".305"), ("educ", ".109", ".0155"),
                           ("exper", ".0439", ".0163"), ("expersq", "-.000859", ".000439")]:
        assert printed(p[f"outcome:{term}"], coef) and printed(b[f"outcome:{term}"], se), term
    assert printed(p["lambda"], ".0323") and printed(b["lambda"], ".134")
    assert res.nobs == 753 and res.nobs_selected == 428


def test_cameron_trivedi_table_16_1():
    df = datasets.load("randhie")
    df = df[(df.year == 2) & df.educdec.notna()]
    rhs = "logc + idp + lpi + fmde + physlm + disea + hlthg + hlthf + hlthp"
    with pytest.warns(CollinearityWarning):  # no exclusion restriction in C&T's model
        mod = Heckman.from_formula("lnmeddol ~ " + rhs, df, selection="binexp ~ " + rhs)
        ml = mod.fit()
    assert mod.nobs == 5574
    anc = ml.ancillary
    assert printed(anc.loc["rho", "coef"], "0.776") and printed(anc.loc["rho", "std err"], "0.026")
    assert printed(anc.loc["sigma", "coef"], "1.67") and printed(anc.loc["sigma", "std err"], "0.029")
    assert printed(ml.llf, "-10471.3")
    with pytest.warns(CollinearityWarning):
        ts = mod.fit_twostep()
    assert printed(ts.params["lambda"], "1.35") and printed(ts.bse["lambda"], "0.824")


# ---------------------------------------------------------------------------
# poor starts, multimodality, profile likelihood
# ---------------------------------------------------------------------------

def test_poor_start_reaches_a_genuine_maximum(greene):
    # R's sampleSelection stops at rho = 1 with llf -24127 from this start
    start = np.zeros(greene.k_params)
    start[-2], start[-1] = np.arctanh(0.5), np.log(0.9)
    res = greene.fit(start_params=start)
    assert res.converged
    p = np.asarray(res.params)
    assert np.max(np.abs(greene.score(p))) < 1e-3
    assert np.linalg.eigvalsh(greene.hessian(p)).max() < 0
    assert abs(res.rho) < 0.999
    # it is the highest maximum (see test_global_search_finds_higher_maximum)
    assert res.llf == pytest.approx(-1479.6539, abs=1e-3)


def test_global_search_finds_higher_maximum_than_published(greene, greene_ml):
    with pytest.warns(RuntimeWarning, match="not the highest"):
        res = greene.fit(global_search=True)
    assert res.llf > greene_ml.llf + 100
    assert res.llf == pytest.approx(-1479.6539, abs=1e-3)
    assert res.rho == pytest.approx(0.9931, abs=1e-3)
    table = res.global_search
    assert table["chosen"].sum() == 1
    assert table.loc[table["chosen"], "llf"].iloc[0] == pytest.approx(res.llf)
    assert table["llf"].min() == pytest.approx(greene_ml.llf, abs=1e-6)


def test_global_search_keeps_the_maximum_when_it_is_global(wooldridge):
    local = wooldridge.fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = wooldridge.fit(global_search=True)
    assert res.llf == pytest.approx(local.llf, abs=1e-8)
    assert len(res.global_search) == 1


def test_profile_loglike(wooldridge):
    res = wooldridge.fit()
    prof = res.profile_loglike("rho", grid=[-0.5, 0.0, res.rho, 0.5])
    assert isinstance(prof, ProfileLikelihood)
    assert list(prof.columns[:3]) == ["rho", "llf", "converged"]
    assert prof["converged"].all()
    assert prof["llf"].max() == pytest.approx(res.llf, abs=1e-7)
    assert (prof["llf"] <= res.llf + 1e-7).all()
    # at rho = 0 the profile is the independent probit + OLS likelihood
    at0 = prof.loc[prof["rho"] == 0.0, "llf"].iloc[0]
    assert at0 == pytest.approx(res.llf_restricted, abs=1e-6)
    import matplotlib
    matplotlib.use("Agg")
    ax = prof.plot()
    assert ax.get_xlabel() == "rho"
    with pytest.raises(ValueError, match="rho"):
        res.profile_loglike("sigma")


# ---------------------------------------------------------------------------
# interface
# ---------------------------------------------------------------------------

def test_parameter_names_and_ancillary(greene_ml):
    res = greene_ml
    names = list(res.params.index)
    assert names[0] == "selection:Intercept" and names[6] == "outcome:Intercept"
    assert names[-2:] == ["athrho", "lnsigma"]
    anc = res.ancillary
    assert list(anc.index) == ["rho", "sigma", "lambda"]
    a, ls = res.params["athrho"], res.params["lnsigma"]
    assert anc.loc["rho", "coef"] == pytest.approx(np.tanh(a))
    assert anc.loc["lambda", "coef"] == pytest.approx(np.tanh(a) * np.exp(ls))
    # delta method: se(rho) = (1 - rho^2) se(athrho)
    assert anc.loc["rho", "std err"] == pytest.approx((1 - np.tanh(a) ** 2) * res.bse["athrho"])
    assert anc.loc["sigma", "std err"] == pytest.approx(np.exp(ls) * res.bse["lnsigma"])


def test_twostep_names_and_ancillary(greene):
    res = greene.fit_twostep()
    assert list(res.params.index)[-1] == "lambda"
    assert list(res.params.index)[0] == "selection:Intercept"
    assert res.ancillary.loc["lambda", "coef"] == res.params["lambda"]
    assert np.isnan(res.ancillary.loc["rho", "std err"])
    assert res.lambda_ == pytest.approx(res.rho * res.sigma)
    assert np.isnan(res.llf)
    tt = res.t_test("lambda = 0")
    assert float(np.squeeze(tt.tvalue)) == pytest.approx(res.params["lambda"] / res.bse["lambda"])
    assert list(res.conf_int().index)[-1] == "lambda"
    with pytest.raises(ValueError, match="not available with fit_twostep"):
        greene.fit_twostep(cov_type="opg")
    # the model's ML names are untouched by the two-step fit
    assert greene.fit().params.index[-1] == "lnsigma"


def test_summary_blocks_and_lr_test(greene_ml, greene):
    text = str(greene_ml.summary())
    for piece in ("outcome: wage", "selection: lfp", "athrho", "lnsigma", "rho", "sigma",
                  "lambda", "LR test of rho = 0", "Selected:", "Log-Likelihood"):
        assert piece in text, piece
    lr = greene_ml.lr_test_rho
    assert lr.statistic == pytest.approx(2 * (greene_ml.llf - greene_ml.llf_restricted))
    assert lr.df == 1
    assert f"chi2(1) = {lr.statistic:.2f}" in text
    ts_text = str(greene.fit_twostep().summary())
    assert "Two-step" in ts_text and "mills" in ts_text


def test_robust_and_cluster_covariances(greene):
    nonrobust = greene.fit()
    hc0 = greene.fit(cov_type="HC0")
    np.testing.assert_allclose(hc0.params, nonrobust.params)
    assert hc0.cov_type == "HC0"
    p = np.asarray(hc0.params)
    sc = greene.score_obs(p)
    Hinv = np.linalg.inv(greene.hessian(p))
    np.testing.assert_allclose(np.asarray(hc0.cov_params()), Hinv @ sc.T @ sc @ Hinv, rtol=1e-8)
    groups = np.arange(int(greene.nobs)) // 3
    cl = greene.fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert cl.cov_type == "cluster"
    assert not np.allclose(cl.bse, hc0.bse)
    # robust ancillary standard errors follow the robust covariance
    assert hc0.ancillary.loc["rho", "std err"] == pytest.approx(
        (1 - hc0.rho ** 2) * hc0.bse["athrho"])


def test_t_test_and_wald_test_with_names(greene_ml):
    tt = greene_ml.t_test("outcome:educ = 0")
    assert float(np.squeeze(tt.tvalue)) == pytest.approx(greene_ml.tvalues["outcome:educ"])
    wt = greene_ml.wald_test("outcome:exper = 0, outcome:city = 0", scalar=True)
    assert wt.df_denom is None or wt.df_denom > 0
    assert 0 <= float(wt.pvalue) <= 1
    ci = greene_ml.conf_int()
    assert list(ci.index) == list(greene_ml.params.index)


def test_array_input_names_and_pandas_output():
    y, X, s, Z = simulate(n=500, seed=21)
    res = Heckman(y, X, s, Z).fit()
    assert list(res.params.index) == [
        "selection:const", "selection:z1", "selection:z2", "selection:z3",
        "outcome:const", "outcome:x1", "outcome:x2", "athrho", "lnsigma"]
    assert isinstance(res.bse, pd.Series)
    assert res.aic == pytest.approx(-2 * res.llf + 2 * 9)
    assert res.bic == pytest.approx(-2 * res.llf + np.log(500) * 9)


def test_predict_relations(greene_ml):
    res = greene_ml
    xb = res.predict(which="xb")
    psel = res.predict(which="psel")
    mills = res.predict(which="mills")
    ycond = res.predict(which="ycond")
    yexp = res.predict(which="yexpected")
    assert len(xb) == 753
    np.testing.assert_allclose(ycond, xb + res.lambda_ * mills, rtol=1e-12)
    np.testing.assert_allclose(yexp, psel * ycond, rtol=1e-12)
    w = greene_ml.model.exog_select @ np.asarray(res.params)[:6]
    np.testing.assert_allclose(res.predict(which="xbsel"), w, rtol=1e-12)
    np.testing.assert_allclose(psel, stats.norm.cdf(w), rtol=1e-12)
    np.testing.assert_allclose(mills, stats.norm.pdf(w) / stats.norm.cdf(w), rtol=1e-12)
    with pytest.raises(ValueError, match="which"):
        res.predict(which="mean")


def test_predict_new_data_through_formulas(greene, greene_ml):
    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    new = df.iloc[:5]
    for which in ("xb", "ycond", "yexpected", "psel", "mills", "xbsel"):
        out = greene_ml.predict(new, which=which)
        np.testing.assert_allclose(out, greene_ml.predict(which=which).iloc[:5], rtol=1e-12)
        assert list(out.index) == list(new.index)
    # raw design matrices work too
    X = greene.exog[:5]
    np.testing.assert_allclose(greene_ml.predict(X, which="xb", transform=False),
                               greene_ml.predict(which="xb").iloc[:5])
    with pytest.raises(ValueError, match="needs exog_select"):
        greene_ml.predict(X, which="ycond", transform=False)


def test_margeff_matches_numerical_derivatives_of_predictions():
    # x1 is in both equations: its effect on E[y|s=1] has a selection channel
    y, X, s, Z = simulate(n=1500, rho=0.6, seed=31)
    Xd = pd.DataFrame(X, columns=["const", "x1", "x2"])
    Zd = pd.DataFrame(Z, columns=["const", "x1", "x2", "excl"])
    res = Heckman(y, Xd, s, Zd).fit()
    h = 1e-6
    for which in ("ycond", "yexpected", "psel", "xb"):
        me = res.get_margeff(which=which)
        for v in me.margeff.index:
            Xp, Zp, Xm, Zm = Xd.copy(), Zd.copy(), Xd.copy(), Zd.copy()
            for frame_p, frame_m in ((Xp, Xm), (Zp, Zm)):
                if v in frame_p:
                    frame_p[v] += h
                    frame_m[v] -= h
            num = ((res.predict(Xp, Zp, which=which) - res.predict(Xm, Zm, which=which))
                   / (2 * h)).mean()
            assert me.margeff[v] == pytest.approx(num, rel=1e-6, abs=1e-9), (which, v)
    me = res.get_margeff("ycond")
    dec = me.decomposition
    assert dec.loc["x1", "selection"] != 0 and dec.loc["x2", "selection"] != 0
    assert dec.loc["excl", "direct"] == 0
    np.testing.assert_allclose(dec.sum(axis=1), me.margeff, rtol=1e-12)


@pytest.mark.parametrize("method", ["mle", "twostep"])
@pytest.mark.parametrize("which,at", [("ycond", "overall"), ("yexpected", "overall"),
                                      ("psel", "mean"), ("ycond", "mean")])
def test_margeff_jacobian_matches_numerical(greene, method, which, at):
    res = greene.fit() if method == "mle" else greene.fit_twostep()
    base = res._results
    me = base.get_margeff(which=which, at=at)

    def effects(p):
        r = copy.copy(base)
        r.params = p
        return r.get_margeff(which=which, at=at).margeff.to_numpy()

    # step each coefficient on the scale of its regressor (faminc ~ 2e4, age^2 ~ 2e3)
    p0 = np.asarray(base.params)
    scale = np.ones_like(p0)
    regressors = np.column_stack([greene.exog_select, greene.exog])
    scale[:regressors.shape[1]] = 1 / np.abs(regressors[np.isfinite(regressors).all(axis=1)]).mean(0)
    num = numerical_jacobian(lambda q: effects(p0 + scale * q), np.zeros_like(p0),
                             method="richardson") / scale
    np.testing.assert_allclose(me.jacobian, num, rtol=1e-6, atol=1e-9 * np.abs(num).max())
    frame = me.summary_frame()
    assert {"dy/dx", "std err", "z", "P>|z|"} <= set(frame.columns)
    assert (frame["std err"] > 0).all()


def test_boolean_selection_and_missing_outcome_for_unselected():
    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    df["works"] = df.lfp == 1
    df.loc[df.lfp == 0, "wage"] = np.nan
    mod = Heckman.from_formula("wage ~ exper + educ + city", df,
                               selection="works ~ age + faminc + kids + educ")
    assert mod.nobs == 753 and mod.nobs_selected == 428 and mod.n_dropped == 0
    assert np.isfinite(mod.fit().llf)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def test_non_binary_selection_indicator():
    y, X, s, Z = simulate(n=100, seed=41)
    s = s.copy()
    s[:3] = 2
    with pytest.raises(ValueError, match=r"binary.*3 rows"):
        Heckman(y, X, s, Z)
    with pytest.raises(ValueError, match=r"'sel' must be numeric.*'no', 'yes'"):
        Heckman(y, X, pd.Series(np.where(s == 1, "yes", "no"), name="sel"), Z)


def test_outcome_missing_for_selected_rows():
    y, X, s, Z = simulate(n=100, seed=42)
    y = pd.Series(y, name="wage")
    first_sel = np.flatnonzero(s == 1)[:2]
    y.iloc[first_sel] = np.nan
    with pytest.raises(ValueError, match=r"outcome 'wage' for 2 selected rows"):
        Heckman(y, X, s, Z)
    with pytest.warns(RuntimeWarning, match="2 selected rows"):
        mod = Heckman(y, X, s, Z, missing="drop")
    assert mod.n_dropped == 2 and mod.nobs == 98


def test_nan_in_selection_regressors_named():
    y, X, s, Z = simulate(n=100, seed=43)
    Zd = pd.DataFrame(Z, columns=["const", "age", "educ", "kids"])
    Zd.loc[5, "kids"] = np.nan
    with pytest.raises(ValueError, match=r"kids \(1 rows\)"):
        Heckman(y, X, s, Zd)


def test_no_selected_or_no_unselected_rows():
    y, X, s, Z = simulate(n=100, seed=44)
    with pytest.raises(ValueError, match="no selected rows.*100 rows"):
        Heckman(y, X, np.zeros(100), Z)
    with pytest.raises(ValueError, match="no unselected rows.*100 rows"):
        Heckman(np.ones(100), X, np.ones(100), Z)


def test_rank_deficient_designs_name_the_columns():
    y, X, s, Z = simulate(n=200, seed=45)
    Zd = pd.DataFrame(Z, columns=["const", "age", "educ", "kids"])
    Zd["age2"] = 2 * Zd["age"]
    with pytest.raises(ValueError, match=r"selection design.*\['age', 'age2'\]"):
        Heckman(y, X, s, Zd)
    Xd = pd.DataFrame(X, columns=["const", "exper", "city"])
    # collinear only on the selected rows
    Xd["urban"] = np.where(s == 1, Xd["city"], 0.0)
    with pytest.raises(ValueError, match=r"outcome design.*selected rows.*\['city', 'urban'\]"):
        Heckman(y, Xd, s, Z)


def test_mismatched_lengths():
    y, X, s, Z = simulate(n=100, seed=46)
    with pytest.raises(ValueError, match="same number of rows.*exog_select 99"):
        Heckman(y, X, s, Z[:99])


def test_bad_options(greene):
    with pytest.raises(ValueError, match="method"):
        greene.fit(method="gmm")
    with pytest.raises(ValueError, match="missing"):
        Heckman(*simulate(n=50, seed=47), missing="ignore")
    with pytest.raises(ValueError, match="start_params must have 13"):
        greene.fit(start_params=np.zeros(3))


# ---------------------------------------------------------------------------
# warnings
# ---------------------------------------------------------------------------

def test_warns_when_imr_collinear_without_exclusion_restriction():
    y, X, s, Z = simulate(n=2000, seed=51, exclusion=False)
    mod = Heckman(y, X, s, Z)
    with pytest.warns(CollinearityWarning, match="no exclusion restriction"):
        mod.fit_twostep()


def test_no_collinearity_warning_with_exclusion_restriction():
    y, X, s, Z = simulate(n=2000, seed=52)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Heckman(y, X, s, Z).fit()
        Heckman(y, X, s, Z).fit_twostep()


def test_warns_when_rho_runs_to_the_boundary():
    # e = sigma u exactly: the likelihood increases all the way to rho = 1
    rng = np.random.default_rng(53)
    n = 1500
    x1, excl = rng.normal(size=(2, n))
    Z = np.column_stack([np.ones(n), x1, excl])
    X = np.column_stack([np.ones(n), x1])
    u = rng.normal(size=n)
    s = (Z @ [0.2, 0.5, 1.0] + u > 0).astype(float)
    y = X @ [1.0, 0.5] + 1.3 * u
    with pytest.warns(RuntimeWarning, match="boundary"), \
            pytest.warns(ConvergenceWarning, match="Try"):
        res = Heckman(y, X, s, Z).fit()
    assert res.rho > 0.999


def test_warns_on_non_convergence_with_advice(greene):
    start = np.zeros(greene.k_params)
    start[-2], start[-1] = np.arctanh(0.5), np.log(0.9)
    with pytest.warns(ConvergenceWarning, match="did not converge.*Try maxiter"):
        res = greene.fit(start_params=start, maxiter=2)
    assert not res.converged


def test_warns_when_twostep_rho_outside_unit_interval():
    # small sample, strong correlation: b_lambda / sigma can exceed 1
    for seed in range(200):
        y, X, s, Z = simulate(n=60, rho=0.95, sigma=0.5, seed=seed)
        ts = K.heckman_twostep(y[s == 1], X[s == 1], s, Z)
        if abs(ts.rho_untruncated) > 1:
            break
    else:
        pytest.fail("no simulated sample gives a two-step |rho| > 1: the test would check nothing")
    with pytest.warns(RuntimeWarning, match="outside"):
        res = Heckman(y, X, s, Z).fit_twostep()
    assert abs(res.rho) == 1.0
    assert res.sigma == pytest.approx(abs(res.params["lambda"]))


def test_misaligned_pandas_indexes():
    y, X, s, Z = simulate(n=100, seed=48)
    Xd = pd.DataFrame(X, index=np.arange(100) + 1)
    with pytest.raises(ValueError, match="indexes of endog and exog hold different labels"):
        Heckman(pd.Series(y), Xd, pd.Series(s), pd.DataFrame(Z))
    # labelled, aligned inputs keep their labels in predictions
    idx = [f"r{i}" for i in range(100)]
    res = Heckman(pd.Series(y, index=idx), pd.DataFrame(X, index=idx),
                  pd.Series(s, index=idx), pd.DataFrame(Z, index=idx)).fit()
    assert list(res.predict(which="psel").index) == idx


@pytest.mark.parametrize("optimizer", ["newton_linesearch", "newton", "bfgs"])
def test_other_optimizers_reach_the_same_maximum(wooldridge, optimizer):
    ref = wooldridge.fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        res = wooldridge.fit(method=optimizer, maxiter=500)
    assert res.converged
    assert res.llf == pytest.approx(ref.llf, abs=1e-5)
    # distance in standard errors: Newton-type methods reach the same point,
    # BFGS stops at statsmodels' gradient tolerance, well inside sampling error
    dist = np.max(np.abs(np.asarray(res.params) - np.asarray(ref.params)) / np.asarray(ref.bse))
    assert dist < (1e-2 if optimizer == "bfgs" else 1e-5)


# ---------------------------------------------------------------------------
# defects of issue 9 (each failed before the move onto the shared core)
# ---------------------------------------------------------------------------

def _mroz87():
    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    return df


GREENE_OUT = "wage ~ exper + I(exper**2) + educ + city"
GREENE_SEL = "lfp ~ age + I(age**2) + faminc + kids + educ"


def test_wald_test_terms_labels_match_the_tested_parameters(greene_ml):
    # defect 1: the row "educ" reported selection:faminc's chi2 (1.65)
    table = greene_ml.wald_test_terms().table
    t = greene_ml.tvalues
    assert list(table.index[:6]) == ["selection:Intercept", "selection:age",
                                     "selection:I(age ** 2)", "selection:faminc",
                                     "selection:kids", "selection:educ"]
    assert list(table.index[6:]) == ["outcome:Intercept", "outcome:exper",
                                     "outcome:I(exper ** 2)", "outcome:educ", "outcome:city"]
    for name in table.index:
        assert table.loc[name, "statistic"] == pytest.approx(t[name] ** 2, rel=1e-10), name
    assert table.loc["outcome:educ", "statistic"] == pytest.approx(38.9, abs=0.05)
    assert table.loc["selection:faminc", "statistic"] == pytest.approx(1.65, abs=0.05)


def test_twostep_wald_test_terms_by_equation(greene):
    two = greene.fit_twostep()
    table = two.wald_test_terms().table
    assert len(table) == 11 and "lambda" not in " ".join(table.index)
    for name in table.index:
        assert table.loc[name, "statistic"] == pytest.approx(two.tvalues[name] ** 2, rel=1e-10)


def test_wald_test_terms_groups_the_levels_of_a_categorical():
    df = _mroz87()
    df["educ_c"] = pd.cut(df.educ, [0, 11, 12, 20], labels=["lt12", "12", "gt12"])
    res = Heckman.from_formula("wage ~ exper + C(educ_c)", df, selection=GREENE_SEL).fit()
    table = res.wald_test_terms().table
    assert table.loc["outcome:C(educ_c)", "df_constraint"] == 2
    wt = res.wald_test("outcome:C(educ_c)[T.12] = 0, outcome:C(educ_c)[T.gt12] = 0",
                       scalar=True)
    assert table.loc["outcome:C(educ_c)", "statistic"] == pytest.approx(float(wt.statistic))


def test_subset_is_by_index_label():
    # defect 2: subset= was applied by position
    df = _mroz87().sample(frac=1.0, random_state=3)   # labels no longer positions
    labels = [i for i in range(753) if i % 4]
    mod = Heckman.from_formula(GREENE_OUT, df, selection=GREENE_SEL, subset=labels)
    ref = Heckman.from_formula(GREENE_OUT, df[df.index.isin(labels)], selection=GREENE_SEL)
    assert mod.nobs == len(labels) == ref.nobs
    assert sorted(mod.row_labels) == labels
    res = mod.fit()
    assert res.converged and res.llf == pytest.approx(ref.fit().llf, rel=1e-12)
    # a boolean Series is aligned by label too
    mask = pd.Series(df.index.isin(labels), index=df.index).sort_index()
    by_mask = Heckman.from_formula(GREENE_OUT, df, selection=GREENE_SEL, subset=mask)
    assert sorted(by_mask.row_labels) == labels
    with pytest.raises(ValueError, match="not in the index"):
        Heckman.from_formula(GREENE_OUT, df, selection=GREENE_SEL, subset=[0, 10_000])


def test_rho_interval_is_tanh_of_the_athrho_interval():
    # defect 3: the interval rho +- 1.96 se reached past 1 (here to 1.10)
    y, X, s, Z = simulate(n=250, rho=0.85, sigma=1.0, seed=13)
    res = Heckman(y, X, s, Z).fit()
    assert res.converged and res.hessian_negdef
    anc = res.ancillary
    lo, hi = anc.loc["rho", "[0.025"], anc.loc["rho", "0.975]"]
    se = anc.loc["rho", "std err"]
    assert res.rho + 1.96 * se > 1            # the symmetric interval leaves [-1, 1]
    a_lo, a_hi = np.asarray(res.conf_int().loc["athrho"])
    assert (lo, hi) == pytest.approx((np.tanh(a_lo), np.tanh(a_hi)), rel=1e-12)
    assert -1 < lo < res.rho < hi < 1
    s_lo, s_hi = np.asarray(res.conf_int().loc["lnsigma"])
    assert (anc.loc["sigma", "[0.025"], anc.loc["sigma", "0.975]"]) == pytest.approx(
        (np.exp(s_lo), np.exp(s_hi)), rel=1e-12)


def test_robust_and_cluster_fits_report_a_wald_test_of_rho_and_the_clusters(greene):
    # defect 4: the summary printed the LR test and no number of clusters
    groups = np.arange(int(greene.nobs)) // 3
    cl = greene.fit(cov_type="cluster", cov_kwds={"groups": groups})
    test = cl.rho_test
    assert test.kind == "Wald"
    assert test.statistic == pytest.approx((cl.params["athrho"] / cl.bse["athrho"]) ** 2)
    text = str(cl.summary())
    assert "Wald test of rho = 0" in text and "LR test" not in text
    assert "No. Clusters:" in text and f"{int(np.ceil(greene.nobs / 3))}" in text
    assert cl.n_groups == 251
    hc0 = greene.fit(cov_type="HC0")
    assert hc0.rho_test.kind == "Wald" and "Wald test" in str(hc0.summary())
    assert greene.fit().rho_test.kind == "LR"


def test_outcome_regressor_missing_where_unselected_is_accepted():
    # defect 5: statsmodels' MissingDataError
    df = _mroz87()
    unsel = np.flatnonzero(df.lfp == 0)[:50]
    holed = df.copy()
    holed.loc[holed.index[unsel], "city"] = np.nan
    holed.loc[holed.index[unsel[:10]], "exper"] = np.nan
    mod = Heckman.from_formula(GREENE_OUT, holed, selection=GREENE_SEL)
    ref = Heckman.from_formula(GREENE_OUT, df, selection=GREENE_SEL)
    assert mod.nobs == 753 and mod.n_dropped == 0
    res, r0 = mod.fit(), ref.fit()
    np.testing.assert_allclose(res.params, r0.params, rtol=1e-10)
    np.testing.assert_allclose(res.bse, r0.bse, rtol=1e-8)
    xb = res.predict(which="xb")
    assert xb.iloc[unsel].isna().all() and xb.notna().sum() == 753 - 50
    me = res.get_margeff("ycond")
    assert me.n_used == 753 - 50
    # arrays, with the default missing="none"
    y, X, s, Z = simulate(n=400, seed=61)
    X[np.flatnonzero(s == 0)[:5], 1] = np.nan
    assert Heckman(y, X, s, Z).nobs == 400
    X[np.flatnonzero(s == 1)[:1], 1] = np.nan
    with pytest.raises(ValueError, match=r"outcome regressors of selected rows: x1 \(1 rows\)"):
        Heckman(y, X, s, Z)


def test_formula_results_pickle_and_save(greene, greene_ml, tmp_path):
    # defect 6: patsy's NotImplementedError
    import pickle

    df = _mroz87()
    back = pickle.loads(pickle.dumps(greene_ml))
    np.testing.assert_array_equal(back.params, greene_ml.params)
    np.testing.assert_allclose(back.predict(df.iloc[:4], which="ycond"),
                               greene_ml.predict(df.iloc[:4], which="ycond"), rtol=1e-13)
    assert back.llf == pytest.approx(greene_ml.llf, rel=1e-14)
    assert list(back.wald_test_terms().table.index) == list(
        greene_ml.wald_test_terms().table.index)
    path = tmp_path / "heckman.pickle"
    greene_ml.save(str(path))
    from statsmodels.iolib.smpickle import load_pickle
    loaded = load_pickle(str(path))
    assert "outcome: wage" in str(loaded.summary())
    two = pickle.loads(pickle.dumps(greene.fit_twostep()))
    assert two.params.index[-1] == "lambda"
    assert two.predict(df.iloc[:3], which="psel").shape == (3,)


def test_cluster_groups_given_for_all_rows_are_aligned_after_dropping():
    # defect 7: "The weights and list don't have the same length"
    df = _mroz87()
    df.index = [f"w{i}" for i in range(len(df))]
    df.loc[df.index[[3, 40, 500]], "faminc"] = np.nan    # dropped: selection regressor
    groups = pd.Series(np.arange(len(df)) // 4, index=df.index)
    mod = Heckman.from_formula(GREENE_OUT, df, selection=GREENE_SEL)
    assert mod.nobs == 750
    kept = groups.loc[mod.row_labels]
    ref = mod.fit(cov_type="cluster", cov_kwds={"groups": kept.to_numpy()})
    for g in (groups, groups.to_numpy(), groups.sample(frac=1.0, random_state=1)):
        res = mod.fit(cov_type="cluster", cov_kwds={"groups": g})
        np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-12)
        assert res.n_groups == ref.n_groups == kept.nunique()
    with pytest.raises(ValueError, match="needs the cluster of every row"):
        mod.fit(cov_type="cluster")
    with pytest.raises(ValueError, match="at least two clusters"):
        mod.fit(cov_type="cluster", cov_kwds={"groups": np.zeros(750)})
    with pytest.raises(ValueError, match="groups has 10 entries"):
        mod.fit(cov_type="cluster", cov_kwds={"groups": np.arange(10)})


def test_huge_values_say_what_is_wrong_with_the_data():
    # defect 9: "log-likelihood not finite at start_params" and "rank deficient"
    df = _mroz87()
    df["faminc"] = df["faminc"].astype(float)
    bad_y = df.copy()
    bad_y.loc[bad_y.index[np.flatnonzero(df.lfp == 1)[0]], "wage"] = 1e300
    with pytest.raises(ValueError, match=r"outcome has values too large.*wage"):
        Heckman.from_formula(GREENE_OUT, bad_y, selection=GREENE_SEL)
    bad_x = df.copy()
    bad_x.loc[bad_x.index[5], "faminc"] = 1e300
    with pytest.raises(ValueError, match=r"too large.*faminc") as info:
        Heckman.from_formula(GREENE_OUT, bad_x, selection=GREENE_SEL)
    assert "rank deficient" not in str(info.value) and "start_params" not in str(info.value)


def test_selected_rows_dropped_for_a_missing_outcome_warn_with_the_count():
    # defect 10: dropped silently under missing="drop"
    df = _mroz87()
    df.loc[df.index[np.flatnonzero(df.lfp == 1)[:3]], "wage"] = np.nan
    with pytest.warns(RuntimeWarning, match=r"3 selected rows \(lfp = 1\) have a missing "
                                            r"outcome 'wage'"):
        mod = Heckman.from_formula(GREENE_OUT, df, selection=GREENE_SEL)
    assert mod.nobs == 750 and mod.n_dropped == 3
    df2 = _mroz87()
    df2.loc[df2.index[np.flatnonzero(df2.lfp == 0)[:3]], "wage"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Heckman.from_formula(GREENE_OUT, df2, selection=GREENE_SEL).nobs == 753


def test_fit_keywords_are_checked(greene):
    # defect 11: maxiter=0 ran, and weights=, foo=1 were silently ignored
    for bad in (0, -3):
        with pytest.raises(ValueError, match="maxiter must be at least 1"):
            greene.fit(maxiter=bad)
    with pytest.raises(TypeError, match=r"\['weights'\].*Valid keywords:.*start_params"):
        greene.fit(weights=np.ones(753))
    with pytest.raises(TypeError, match=r"\['foo'\]"):
        greene.fit(foo=1)
    with pytest.raises(TypeError, match=r"\['optimizer'\]"):
        greene.fit(optimizer="bfgs")
    for name in ("twostep", "two-step"):
        with pytest.raises(ValueError, match=r"fit_twostep\(\)"):
            greene.fit(method=name)
    with pytest.raises(ValueError, match=r"fit\(\) \(ML is the default"):
        greene.fit(method="mle")
    # the two-step estimator has no optimizer: its keywords are errors too
    for kw in ({"maxiter": 10}, {"start_params": np.zeros(13)}, {"method": "bfgs"},
               {"weights": np.ones(753)}):
        with pytest.raises(TypeError, match=r"fit_twostep\(\).*unexpected keyword"):
            greene.fit_twostep(**kw)
    for ct in ("opg", "eim"):
        with pytest.raises(ValueError, match=r"not available with fit_twostep\(\)"):
            greene.fit_twostep(cov_type=ct)
    assert "fit_twostep" in Heckman.fit.__doc__ and "tol" in Heckman.fit.__doc__


def test_margeff_is_the_core_class_with_statsmodels_conf_int(greene_ml):
    from econderiv.models._inference import MarginalEffects

    me = greene_ml.get_margeff("ycond", variables=["educ", "kids"])
    assert isinstance(me, MarginalEffects)
    ci = me.conf_int()
    assert list(ci.columns) == [0, 1]
    np.testing.assert_allclose(ci[0], me.margeff - stats.norm.ppf(0.975) * me.margeff_se)
    assert list(me.decomposition.columns) == ["direct", "selection"]
    assert me.decomposition.loc["kids", "direct"] == 0
    assert "E[wage | lfp = 1]" in me.summary()


def test_predict_returns_series_for_pandas_and_arrays_for_arrays():
    y, X, s, Z = simulate(n=300, seed=62)
    res = Heckman(y, X, s, Z).fit()
    assert isinstance(res.predict(which="ycond"), pd.Series)
    out = res.predict(X[:4], Z[:4], which="ycond")
    assert isinstance(out, np.ndarray) and out.shape == (4,)
    frame = pd.DataFrame(X[:4], columns=["const", "x1", "x2"], index=list("abcd"))
    zframe = pd.DataFrame(Z[:4], columns=["const", "z1", "z2", "z3"], index=list("abcd"))
    out = res.predict(frame, zframe, which="ycond")
    assert isinstance(out, pd.Series) and list(out.index) == list("abcd")
