"""Weights and covariance estimators, shared by every likelihood family.

The defining property of frequency weights (Stata's fweight) is checked on
every family: the weighted fit equals the fit on the data with each row
repeated ``w_i`` times, in parameters and in every covariance.
"""

import numpy as np
import pandas as pd
import pytest
from test_core import RHO_FAMILIES, _biprobit_data, _mnlogit_data, _selection_data
from test_core import make_model as _make_core_model

from econderiv import BivariateProbit, EndogenousTreatment, Heckman, MNLogit
from econderiv.models import _inference
from econderiv.testing import check_derivatives

TOL = 1e-10


def _weights(n, seed=11):
    return np.random.default_rng(seed).integers(1, 4, size=n).astype(float)


def _treatment_data(n=800, seed=6):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "z": rng.normal(size=n)})
    u = rng.normal(size=n)
    df["d"] = (0.2 + 0.5 * df.x1 + 0.8 * df.z + u > 0).astype(float)
    df["y"] = 1.0 + 0.5 * df.x1 - 0.3 * df.x2 + 0.8 * df.d + 0.4 * u + rng.normal(size=n)
    df.index = [f"r{i}" for i in range(n)]
    return df


def _switching_data(n=800, seed=7):
    """Selection data with a noisy outcome in both regimes (rho0 = 0.3, rho1 = -0.5)."""
    df = _selection_data(n, seed)
    rng = np.random.default_rng(seed + 1)
    y0 = 0.5 - 0.4 * df.x1 + 0.3 * df.x2 + rng.normal(size=n)
    df["y"] = np.where(df.s == 1, df.y, y0)
    return df


def make_model(family, df=None, **kw):
    if family == "SwitchingRegression" and df is None:
        df = _switching_data()
    if family == "EndogenousTreatment":
        df = _treatment_data() if df is None else df
        return EndogenousTreatment.from_formula("y ~ x1 + x2 + d", df,
                                                treatment="d ~ x1 + z", **kw)
    return _make_core_model(family, df, **kw)


#: every family whose rows are observations (ChoiceLogit's cases span several
#: rows; its weights are tested with the model)
LIKELIHOOD_FAMILIES = ["BivariateProbit", "HeckProbit", "Heckman", "MNLogit",
                       "SwitchingRegression", "EndogenousTreatment"]


def _data_of(family):
    return {"BivariateProbit": _biprobit_data, "HeckProbit": lambda: _selection_data(
        binary=True), "Heckman": _selection_data, "MNLogit": _mnlogit_data,
        "SwitchingRegression": _switching_data,
        "EndogenousTreatment": _treatment_data}[family]()


def _pair(family, **cov):
    """(weighted model, model on the expanded data, weights, groups, expanded groups)."""
    df = _data_of(family).copy()
    w = _weights(len(df))
    df["w"] = w
    df["g"] = np.random.default_rng(2).integers(0, 25, size=len(df))
    df["h"] = np.random.default_rng(3).integers(0, 6, size=len(df))
    big = df.loc[df.index.repeat(w.astype(int))].reset_index(drop=True)
    return make_model(family, df, freq_weights="w"), make_model(family, big), df, big


def _close(a, b, what):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.maximum(1.0, np.abs(b))
    assert np.max(np.abs(a - b) / scale) < TOL, (what, np.max(np.abs(a - b) / scale))


COVS = [(None, None), ("opg", None), ("HC0", None), ("HC1", None), ("cluster", "g"),
        ("cluster2", ("g", "h"))]


@pytest.mark.filterwarnings("ignore:the two-way cluster covariance")  # the same fix on both sides
@pytest.mark.parametrize("family", LIKELIHOOD_FAMILIES)
def test_frequency_weights_equal_repeated_rows(family):
    m, big, df, bigdf = _pair(family)
    assert m.weight_type == "freq"
    assert (m.wnobs if family == "MNLogit" else m.nobs) == len(bigdf)
    for ct, groups in COVS:
        kw, kw_big = {}, {}
        if groups is not None:
            cols = list(groups) if isinstance(groups, tuple) else groups
            kw = {"groups": df[cols].to_numpy()}
            kw_big = {"groups": bigdf[cols].to_numpy()}
        ct_ = "cluster" if ct == "cluster2" else ct
        a = m.fit(cov_type=ct_, cov_kwds=kw or None)
        b = big.fit(cov_type=ct_, cov_kwds=kw_big or None)
        _close(a.params, b.params, (family, ct, "params"))
        _close(a.bse, b.bse, (family, ct, "bse"))
        assert a.llf == pytest.approx(b.llf, rel=1e-12, abs=1e-9)
        assert a.cov_type == b.cov_type


def test_heckman_twostep_frequency_weights_equal_repeated_rows():
    m, big, df, bigdf = _pair("Heckman")
    for ct, kw, kwb in [(None, None, None), ("HC0", None, None), ("HC1", None, None),
                        ("cluster", {"groups": df.g.to_numpy()},
                         {"groups": bigdf.g.to_numpy()})]:
        a, b = m.fit_twostep(cov_type=ct, cov_kwds=kw), big.fit_twostep(cov_type=ct,
                                                                          cov_kwds=kwb)
        _close(a.params, b.params, ct)
        _close(a.bse, b.bse, ct)
    assert m.llf_restricted == pytest.approx(big.llf_restricted, rel=1e-12)


@pytest.mark.parametrize("family", LIKELIHOOD_FAMILIES)
def test_weighted_margins_equal_repeated_rows(family):
    m, big, _, _ = _pair(family)
    a, b = m.fit().get_margeff(), big.fit().get_margeff()
    _close(a.margeff, b.margeff, "margeff")
    _close(a.margeff_se, b.margeff_se, "margeff se")


@pytest.mark.parametrize("family", RHO_FAMILIES + ["SwitchingRegression",
                                                  "EndogenousTreatment"])
def test_weighted_derivatives_and_kernel_sums(family):
    model = make_model(family)
    w = np.random.default_rng(8).uniform(0.2, 3.0, size=model._nrows)
    wm = make_model(family, importance_weights=w)
    p0 = np.asarray(model.fit().params, float)
    points = [p0, p0 + 0.05 * np.random.default_rng(1).normal(size=len(p0))]
    chk = check_derivatives(wm.loglike, wm.score, wm.hessian, points)
    assert chk.grad_error < 1e-7 and chk.hess_error < 1e-6, chk
    for p in points:
        # sums are weighted, per-row outputs are the weighted contributions
        assert np.allclose(wm.score_obs(p).sum(axis=0), wm.score(p), rtol=1e-10, atol=1e-9)
        assert np.allclose(wm.score_obs_unweighted(p), model.score_obs(p), rtol=1e-12)
        assert wm.loglike(p) == pytest.approx(w @ model.loglikeobs(p), rel=1e-12)


def test_mnlogit_weighted_derivatives():
    model = make_model("MNLogit")
    w = np.random.default_rng(8).uniform(0.2, 3.0, size=int(model.exog.shape[0]))
    wm = make_model("MNLogit", importance_weights=w)
    p0 = np.asarray(model.fit().params, float).ravel(order="F")
    chk = check_derivatives(wm.loglike, wm.score, wm.hessian, [p0, p0 + 0.1])
    assert chk.grad_error < 1e-7 and chk.hess_error < 1e-6, chk
    assert np.allclose(wm.score_obs(p0).sum(axis=0), wm.score(p0), atol=1e-9)
    # Böhning's bound holds for the weighted Hessian
    B = wm.bohning_bound()
    assert np.linalg.eigvalsh(B + wm.hessian(p0 + 0.1)).min() > -1e-9


@pytest.mark.parametrize("family", LIKELIHOOD_FAMILIES)
def test_sampling_weights_give_stata_robust_by_default(family):
    df = _data_of(family).copy()
    df["w"] = _weights(len(df)) * 1.7
    fw = make_model(family, df, importance_weights="w").fit()
    pw_model = make_model(family, df, prob_weights="w")
    pw = pw_model.fit()
    _close(pw.params, fw.params, "params equal under any weight kind")
    assert pw.cov_type == "HC1" and pw.cov_kwds["correction"] == "stata"
    n = len(df) if family != "MNLogit" else pw_model.exog.shape[0]
    assert pw.nobs == n
    hc0 = pw_model.fit(cov_type="HC0")
    _close(np.asarray(pw.bse), np.asarray(hc0.bse) * np.sqrt(n / (n - 1.0)), "N/(N-1)")
    with pytest.warns(RuntimeWarning, match="not a valid covariance"):
        pw_model.fit(cov_type="nonrobust")
    with pytest.raises(ValueError, match="opg.*not valid with prob_weights"):
        pw_model.fit(cov_type="opg")
    text = str(pw.summary())
    assert "sampling" in text and "Stata" in text


def _psd(V):
    """Cameron-Gelbach-Miller's fix: negative eigenvalues set to zero."""
    vals, vecs = np.linalg.eigh(0.5 * (V + V.T))
    return (vecs * np.maximum(vals, 0.0)) @ vecs.T


@pytest.mark.filterwarnings("ignore:the two-way cluster covariance")
def test_cluster_small_sample_factors_and_two_way():
    model = make_model("Heckman")
    df = model._formula_frame
    g, h = df.g.to_numpy(), (np.arange(len(df)) % 7)
    sm = model.fit(cov_type="cluster", cov_kwds={"groups": g})
    st = model.fit(cov_type="cluster", cov_kwds={"groups": g, "correction": "stata"})
    no = model.fit(cov_type="cluster", cov_kwds={"groups": g, "correction": "none"})
    n, k, G = model.nobs, len(sm.params), len(np.unique(g))
    _close(np.asarray(st.bse) ** 2, np.asarray(no.bse) ** 2 * G / (G - 1), "stata")
    _close(np.asarray(sm.bse) ** 2, np.asarray(no.bse) ** 2 * G / (G - 1) * (n - 1) / (n - k),
           "statsmodels")
    # two-way: V_g + V_h - V_gh (Cameron, Gelbach and Miller), each uncorrected here
    two = model.fit(cov_type="cluster", cov_kwds={"groups": np.c_[g, h], "correction": "none"})
    one = lambda c: np.asarray(model.fit(cov_type="cluster", cov_kwds={  # noqa: E731
        "groups": c, "correction": "none"}).cov_params())
    inter = pd.factorize(pd.Series(list(zip(g, h))))[0]
    _close(np.asarray(two.cov_params()), _psd(one(g) + one(h) - one(inter)), "two-way")
    assert two.n_groups == (G, 7)
    assert "two-way" in str(two.summary())


@pytest.mark.filterwarnings("ignore:the two-way cluster covariance")
def test_two_way_cluster_matches_statsmodels_mnlogit():
    import statsmodels.api as sm

    m = make_model("MNLogit")
    X, y = m.exog, m.endog
    rng = np.random.default_rng(0)
    groups = np.c_[rng.integers(0, 20, len(y)), rng.integers(0, 9, len(y))]
    ours = m.fit(cov_type="cluster", cov_kwds={"groups": groups})
    theirs = sm.MNLogit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    # statsmodels keeps a two-way matrix that is not positive semi-definite
    assert np.allclose(np.asarray(ours.cov_params()), _psd(np.asarray(theirs.cov_params())),
                       rtol=1e-7, atol=1e-12)


def test_expected_information_of_the_bivariate_probit():
    """E[-H] over the four outcome cells equals the weighted expected
    information: the Hessian of cell c with the cell probabilities as weights."""
    from econderiv.models._bvprobit_kernels import biprobit_loglike_derivs

    m = make_model("BivariateProbit")
    p = np.asarray(m.fit().params, float)
    x1, x2, n = m._x1, m._x2, m._nrows
    total = 0.0
    for a in (0.0, 1.0):
        for b in (0.0, 1.0):
            ll = biprobit_loglike_derivs(p, np.full(n, a), np.full(n, b), x1, x2, 0)[0]
            H = biprobit_loglike_derivs(p, np.full(n, a), np.full(n, b), x1, x2, 2, None,
                                        False, np.exp(ll))[2]
            total = total - H
    assert np.allclose(m._expected_information(p), total, rtol=1e-9, atol=1e-9)
    r = m.fit(cov_type="eim")
    assert r.cov_type == "eim"
    assert np.allclose(np.asarray(r.cov_params()), np.linalg.inv(total), rtol=1e-8)
    with pytest.raises(ValueError, match="expected information in closed form"):
        make_model("Heckman").fit(cov_type="eim")


# ---------------------------------------------------------------------------
# Bad weights
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("family", LIKELIHOOD_FAMILIES)
def test_bad_weights_are_clear_errors(family):
    df = _data_of(family).copy()
    n = len(df)
    w = np.ones(n)
    bad = w.copy()
    bad[3] = -1
    with pytest.raises(ValueError, match="freq_weights is negative in 1 rows"):
        make_model(family, df, freq_weights=bad)
    bad = w.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="prob_weights is NaN or infinite in 1"):
        make_model(family, df, prob_weights=bad)
    with pytest.raises(ValueError, match="zero in all"):
        make_model(family, df, importance_weights=np.zeros(n))
    with pytest.raises(ValueError, match=f"has {n - 3} entries but the model has {n}"):
        make_model(family, df, freq_weights=np.ones(n - 3))
    with pytest.raises(ValueError, match="freq_weights must be integers"):
        make_model(family, df, freq_weights=np.full(n, 1.5))
    with pytest.raises(TypeError, match="not weights="):
        make_model(family, df, weights=w)
    with pytest.raises(ValueError, match="one kind of weights"):
        make_model(family, df, freq_weights=w, prob_weights=w)
    with pytest.raises(KeyError, match="no such column"):
        make_model(family, df, freq_weights="wieght")


def test_pandas_weights_are_aligned_by_label():
    df = _selection_data()
    w = pd.Series(_weights(len(df)), index=df.index)
    a = Heckman.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + z",
                             freq_weights=w.sample(frac=1, random_state=0)).fit()
    b = Heckman.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + z", freq_weights=w).fit()
    _close(a.params, b.params, "aligned")
    other = pd.Series(w.to_numpy(), index=[f"q{i}" for i in range(len(df))])
    with pytest.raises(ValueError, match="no entry for"):
        Heckman.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + z", freq_weights=other)


def test_weights_survive_dropped_rows():
    df = _selection_data()
    df.loc[df.index[:5], "x1"] = np.nan
    w = _weights(len(df))
    m = Heckman.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + z", freq_weights=w)
    assert len(m.weights) == len(df) - 5
    assert np.array_equal(m.weights, w[5:])


def test_weighted_summary_names_weights_and_covariance():
    df = _biprobit_data()
    df["w"] = _weights(len(df))
    res = BivariateProbit.from_formula(["y1 ~ x1 + x2", "y2 ~ x1 + x2"], df,
                                       freq_weights="w").fit(cov_type="opg")
    text = str(res.summary())
    assert "frequency" in text and "opg" in text
    assert f"{int(df.w.sum())}" in text  # No. Observations = sum of frequency weights


def test_covariance_rejects_bad_requests():
    with pytest.raises(ValueError, match="correction"):
        _inference.check_cov_type("HC1", {"correction": "wrong"})
    with pytest.raises(ValueError, match="unknown cov_type"):
        _inference.check_cov_type("HC3", None)
    with pytest.raises(ValueError, match="two"):
        _inference.cluster_codes(np.zeros((10, 3)), 10)
    m = MNLogit(np.r_[np.zeros(5), np.ones(5), 2 * np.ones(5)],
                np.c_[np.ones(15), np.arange(15.0)], freq_weights=np.arange(1, 16))
    assert m.wnobs == 120


def test_two_way_cluster_that_is_not_positive_semidefinite_warns_and_is_fixed():
    m = make_model("Heckman")
    rng = np.random.default_rng(0)
    g = np.c_[rng.integers(0, 3, m._nrows), rng.integers(0, 3, m._nrows)]
    with pytest.warns(RuntimeWarning, match="not positive semi-definite"):
        res = m.fit(cov_type="cluster", cov_kwds={"groups": g, "correction": "none"})
    assert np.all(np.isfinite(np.asarray(res.bse)))
    assert np.linalg.eigvalsh(np.asarray(res.cov_params())).min() >= -1e-12
    assert "negative eigenvalues set to zero" in res.cov_kwds["description"]


def test_heckman_twostep_moment_jacobian_is_the_numerical_one():
    """The Jacobian of the stacked two-step moments (the bread of the robust
    two-step covariances) against central differences, with weights."""
    from statsmodels.tools.numdiff import approx_fprime

    from econderiv.models import _heckman_kernels as K
    from econderiv.special import mills_ratio

    m = make_model("Heckman", importance_weights=np.random.default_rng(4).uniform(
        0.5, 2.0, size=_selection_data().shape[0]))
    sel, w, Z, s = m._sel, m._w, m._z, m.endog_select
    y1, X1 = m._y0[sel], m._x0[sel]
    ts = m._twostep()
    kz = Z.shape[1]

    def summed_moments(theta):
        gamma, b = theta[:kz], theta[kz:]
        q = 2.0 * s - 1.0
        probit = Z.T @ (w * q * mills_ratio(q * (Z @ gamma)))
        Xs = np.column_stack([X1, mills_ratio(Z[sel] @ gamma)])
        return np.r_[probit, Xs.T @ (w[sel] * (y1 - Xs @ b))]

    G, J = K.twostep_moments(ts, y1, X1, s, Z, w)
    assert np.allclose(G.T @ w, summed_moments(ts.params), atol=1e-8)
    num = approx_fprime(ts.params, summed_moments, centered=True)
    assert np.allclose(J, num, rtol=1e-6, atol=1e-6 * np.abs(num).max())
