"""Tests of econderiv.models.choicelogit: derivatives on unbalanced choice sets,
weighted sums, Böhning's bound, recovery, long/wide data, elasticities, WTP,
the IIA test, prediction, covariances and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from econderiv import datasets
from econderiv.models import _choicelogit_kernels as K
from econderiv.models.choicelogit import ChoiceLogit, wide_to_long
from econderiv.testing import check_derivatives

ALTS = ["a", "b", "c", "d"]


def simulate_long(n, seed, beta=(-1.0, 0.5), gamma=None, p_avail=0.7):
    """Long data with unbalanced choice sets (each alternative available with
    probability ``p_avail``, at least two per case), two attributes, one
    case regressor and alternative-specific constants (base 'a')."""
    rng = np.random.default_rng(seed)
    J = len(ALTS)
    if gamma is None:
        gamma = np.array([[0.0, 0.3, -0.2, 0.5],     # constants
                          [0.0, 0.4, -0.3, 0.1]])    # income
    avail = rng.random((n, J)) < p_avail
    few = avail.sum(axis=1) < 2
    avail[few, :2] = True
    x1 = rng.normal(size=(n, J))
    x2 = rng.gamma(2.0, 1.0, size=(n, J))
    inc = rng.normal(size=n)
    eta = beta[0] * x1 + beta[1] * x2 + gamma[0] + np.outer(inc, gamma[1])
    eta = np.where(avail, eta, -np.inf)
    P = np.exp(eta - eta.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    y = (np.cumsum(P, axis=1) < rng.random(n)[:, None]).sum(axis=1)
    y = np.minimum(y, J - 1)
    ii, jj = np.nonzero(avail)
    long = pd.DataFrame({"case": ii + 100, "alt": np.array(ALTS)[jj], "x1": x1[ii, jj],
                         "x2": x2[ii, jj], "income": inc[ii], "chosen": (y[ii] == jj) * 1})
    return long.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def sim():
    return simulate_long(600, 1)


@pytest.fixture(scope="module")
def sim_model(sim):
    return ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", sim, case="case",
                                    alternative="alt")


def _funcs(model, weights=None):
    data = model._block_data(slice(0, model._nrows))
    w = None if weights is None else np.asarray(weights, float)

    def f(p):
        ll = ChoiceLogit._kernel(p, data, 0, None, False, w)[0]
        return ll.sum() if w is None else w @ ll

    def g(p):
        return ChoiceLogit._kernel(p, data, 1, None, False, w)[1]

    def h(p):
        return ChoiceLogit._kernel(p, data, 2, None, False, w)[2]

    return f, g, h


# ---------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------

def test_unbalanced_choice_sets(sim_model):
    sizes = sim_model._avail.sum(axis=1)
    assert sizes.min() == 2 and sizes.max() == 4 and len(np.unique(sizes)) == 3


@pytest.fixture(scope="module")
def small_model():
    return ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", simulate_long(250, 9),
                                    case="case", alternative="alt")


@pytest.mark.parametrize("weighted", [False, True])
def test_derivatives_random_points(small_model, weighted):
    sim_model = small_model
    assert len(np.unique(sim_model._avail.sum(axis=1))) == 3   # unbalanced choice sets
    rng = np.random.default_rng(5)
    w = rng.uniform(0.2, 3.0, sim_model._nrows) if weighted else None
    f, g, h = _funcs(sim_model, w)
    points = [rng.normal(0, 0.7, sim_model.k_params) for _ in range(2)]
    res = check_derivatives(f, g, h, points)
    assert res.max_error < 1e-7, res


def test_derivatives_without_case_regressors_or_attributes():
    sim = simulate_long(250, 9)
    rng = np.random.default_rng(2)
    for formula in ("chosen ~ 0 + x1 + x2", "chosen ~ 1 | income"):
        m = ChoiceLogit.from_formula(formula, sim, case="case", alternative="alt")
        f, g, h = _funcs(m)
        res = check_derivatives(f, g, h, [rng.normal(0, 0.5, m.k_params) for _ in range(2)])
        assert res.max_error < 1e-7, (formula, res)


def test_weighted_sums_against_per_case(sim_model):
    rng = np.random.default_rng(7)
    w = rng.uniform(0.1, 2.0, sim_model._nrows)
    data = sim_model._block_data(slice(0, sim_model._nrows))
    p = rng.normal(0, 0.5, sim_model.k_params)
    ll, S, _ = ChoiceLogit._kernel(p, data, 1, None, True, w)
    ll_w, g_w, H_w = ChoiceLogit._kernel(p, data, 2, None, False, w)
    np.testing.assert_allclose(ll, ll_w)              # per-case values unweighted
    np.testing.assert_allclose(g_w, w @ S, rtol=1e-12, atol=1e-10)
    # the weighted Hessian is the sum of w_i times each case's Hessian
    H_sum = sum(w[i] * ChoiceLogit._kernel(p, tuple(a[i:i + 1] if isinstance(a, np.ndarray)
                                                     else a for a in data), 2, None,
                                            False)[2] for i in range(40))
    part = tuple(a[:40] if isinstance(a, np.ndarray) else a for a in data)
    np.testing.assert_allclose(ChoiceLogit._kernel(p, part, 2, None, False, w[:40])[2], H_sum,
                               rtol=1e-10, atol=1e-10)


def test_score_obs_sum_to_score(sim_model):
    p = np.random.default_rng(3).normal(0, 0.4, sim_model.k_params)
    np.testing.assert_allclose(sim_model.score_obs(p).sum(axis=0), sim_model.score(p),
                               rtol=1e-10, atol=1e-9)


def test_bohning_bound_dominates_hessian(sim_model):
    B = sim_model.bohning_bound()
    rng = np.random.default_rng(4)
    for _ in range(4):
        H = sim_model.hessian(rng.normal(0, 1.5, sim_model.k_params))
        assert np.linalg.eigvalsh(B + H).min() > -1e-9 * np.abs(B).max()
    # and it is the uniform-probability information times J_i / 2
    n_i = sim_model._avail.sum(axis=1)
    U = sim_model._avail / n_i[:, None]
    B2 = K.information(sim_model._X, sim_model._Z, U, 0.5 * n_i, sim_model.base)
    np.testing.assert_allclose(B, B2, rtol=1e-12)


def test_block_sums_match_one_block(sim_model):
    p = np.random.default_rng(6).normal(0, 0.5, sim_model.k_params)
    f, g, h = _funcs(sim_model)
    m = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", simulate_long(600, 1),
                                 case="case", alternative="alt")
    m.block_rows = 37
    m._reset_blocks()
    np.testing.assert_allclose(m.loglike(p), f(p), rtol=1e-12)
    np.testing.assert_allclose(m.score(p), g(p), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(m.hessian(p), h(p), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------

def test_recovery_on_simulated_data():
    data = simulate_long(8000, 11)
    res = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", data, case="case",
                                   alternative="alt").fit()
    assert res.converged
    truth = pd.Series({"x1": -1.0, "x2": 0.5, "b:Intercept": 0.3, "b:income": 0.4,
                       "c:Intercept": -0.2, "c:income": -0.3, "d:Intercept": 0.5,
                       "d:income": 0.1})
    z = (res.params[truth.index] - truth) / res.bse[truth.index]
    assert np.abs(z).max() < 4.0, z


def test_bohning_newton_and_plain_mm_agree(sim_model):
    r1 = sim_model.fit()
    r2 = sim_model.fit(method="newton_trust")
    r3 = sim_model.fit(accelerate=False)
    np.testing.assert_allclose(r1.params, r2.params, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(r1.params, r3.params, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(r1.bse, r2.bse, rtol=1e-7)
    assert r1.method == "bohning" and r1.mle_retvals["bohning"]["iterations"] > 0
    g = sim_model.score(np.asarray(r1.params))
    assert np.abs(g).max() < 1e-8


def test_long_wide_and_fishing_against_mnlogit():
    from econderiv import MNLogit

    f = datasets.load("fishing")
    alts = ["beach", "pier", "boat", "charter"]
    varying = {"price": {a: "p" + a for a in alts}, "catch": {a: "c" + a for a in alts}}
    wide = ChoiceLogit.from_formula("mode ~ price + catch | income", f, varying=varying).fit()
    long = wide_to_long(f, "mode", varying)
    res_long = ChoiceLogit.from_formula("chosen ~ price + catch | income", long, case="case",
                                        alternative="alternative").fit()
    np.testing.assert_allclose(wide.params, res_long.params, rtol=1e-10)
    assert list(wide.params.index[:2]) == ["price", "catch"]
    assert wide.model.base_alternative == "beach"
    # case-specific regressors only: the multinomial logit
    inc = ChoiceLogit.from_formula("mode ~ 1 | income", f, varying=varying).fit()
    codes = pd.Categorical(f["mode"], categories=sorted(alts)).codes
    mnl = MNLogit(codes, np.column_stack([np.ones(len(f)), f["income"]])).fit()
    assert abs(inc.llf - mnl.llf) < 1e-8
    np.testing.assert_allclose(np.asarray(inc.params),
                               np.asarray(mnl.params).ravel(order="F"), rtol=1e-6)


def test_base_choice_changes_constants_not_fit(sim):
    r_a = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", sim, case="case",
                                   alternative="alt").fit()
    r_c = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", sim, case="case",
                                   alternative="alt", base="c").fit()
    assert abs(r_a.llf - r_c.llf) < 1e-8
    np.testing.assert_allclose(r_a.params[["x1", "x2"]], r_c.params[["x1", "x2"]], rtol=1e-8)
    np.testing.assert_allclose(r_c.params["a:Intercept"], -r_a.params["c:Intercept"], rtol=1e-8)


def test_freq_weights_equal_duplicated_cases(sim):
    rng = np.random.default_rng(8)
    cases = sim["case"].unique()
    reps = pd.Series(rng.integers(1, 4, len(cases)), index=cases)
    w_rows = sim["case"].map(reps).to_numpy()
    res_w = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", sim, case="case",
                                     alternative="alt", freq_weights=w_rows).fit()
    parts = [sim[sim["case"].map(reps) >= k].assign(case=lambda d, k=k: d["case"] * 10 + k)
             for k in (1, 2, 3)]
    dup = pd.concat(parts, ignore_index=True)
    res_d = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", dup, case="case",
                                     alternative="alt").fit()
    np.testing.assert_allclose(res_w.params, res_d.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res_w.bse, res_d.bse, rtol=1e-7)
    assert abs(res_w.llf - res_d.llf) < 1e-7


def test_robust_and_cluster_covariances(sim_model):
    p = np.asarray(sim_model.fit().params)
    res = sim_model.fit(cov_type="HC0")
    S = sim_model.score_obs(p)
    A = np.linalg.inv(-sim_model.hessian(p))
    np.testing.assert_allclose(res.cov_params(), A @ (S.T @ S) @ A, rtol=1e-6)
    groups = np.arange(sim_model._nrows) % 40
    resc = sim_model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    G = np.zeros((40, S.shape[1]))
    np.add.at(G, groups, S)
    n, k = sim_model._nrows, len(p)
    fac = 40 / 39 * (n - 1) / (n - k)
    np.testing.assert_allclose(resc.cov_params(), fac * A @ (G.T @ G) @ A, rtol=1e-6)


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim_res(sim_model):
    return sim_model.fit()


def test_probabilities_and_shares(sim_res, sim):
    P = sim_res.probabilities()
    assert np.allclose(P.sum(axis=1), 1.0)
    assert P.isna().to_numpy().sum() == (~sim_res.model._avail).sum()
    np.testing.assert_allclose(sim_res.probabilities(sim).to_numpy(), P.to_numpy(),
                               equal_nan=True)
    shares = sim_res.predicted_shares()
    # at the maximum with constants, predicted shares equal observed shares
    observed = sim[sim["chosen"] == 1]["alt"].value_counts(normalize=True)
    np.testing.assert_allclose(shares[ALTS], observed[ALTS], atol=1e-8)
    cheaper = sim.assign(x1=np.where(sim["alt"] == "c", sim["x1"] - 0.5, sim["x1"]))
    new = sim_res.predicted_shares(cheaper)
    assert new["c"] > shares["c"] and (new.drop("c") < shares.drop("c")).all()


def test_elasticities_against_numerical(sim_res, sim):
    E = sim_res.elasticities("x2", at="overall")
    assert E.shape == (4, 4)
    rel = 1e-6
    base = sim_res.probabilities(sim)
    for k in ("b", "d"):
        bumped = sim.assign(x2=np.where(sim["alt"] == k, sim["x2"] * (1 + rel), sim["x2"]))
        new = sim_res.probabilities(bumped)
        num = (np.log(new) - np.log(base)) / rel
        both = base.notna() & base[k].notna().to_numpy()[:, None]
        expected = num.where(both).mean()
        np.testing.assert_allclose(E[k], expected, rtol=1e-4)
    Em = sim_res.elasticities("x2", at="mean")
    # IIA: the cross elasticities are the same for every row j != k
    for k in ALTS:
        col = Em[k].drop(k)
        assert np.ptp(col.to_numpy()) < 1e-12


def test_wtp_delta_method(sim_res):
    w = sim_res.wtp("x2", cost="x1")
    b = sim_res.params
    assert abs(w.loc["x2", "wtp"] + b["x2"] / b["x1"]) < 1e-14
    V = sim_res.cov_params().loc[["x2", "x1"], ["x2", "x1"]].to_numpy()
    eps = 1e-7
    f = lambda a, c: -a / c  # noqa: E731
    g = np.array([(f(b["x2"] + eps, b["x1"]) - f(b["x2"] - eps, b["x1"])) / (2 * eps),
                  (f(b["x2"], b["x1"] + eps) - f(b["x2"], b["x1"] - eps)) / (2 * eps)])
    assert abs(w.loc["x2", "std err"] - np.sqrt(g @ V @ g)) < 1e-6 * w.loc["x2", "std err"]


def test_iia_test(sim_res):
    t = sim_res.iia_test("c")
    assert t.df > 0 and 0.0 <= t.pvalue <= 1.0 and np.isfinite(t.statistic)
    with pytest.raises(ValueError, match="base alternative"):
        sim_res.iia_test("a")
    with pytest.raises(ValueError, match="not an alternative"):
        sim_res.iia_test("zz")


def test_iia_rejected_when_violated():
    # two near-identical alternatives (a nested structure): IIA fails
    rng = np.random.default_rng(21)
    n = 3000
    x = rng.normal(size=(n, 3))
    common = rng.gumbel(size=n) * 2.0
    u = np.column_stack([-1.0 * x[:, 0] + rng.gumbel(size=n),
                         -1.0 * x[:, 1] + 0.5 + common + 0.2 * rng.gumbel(size=n),
                         -1.0 * x[:, 2] + 0.5 + common + 0.2 * rng.gumbel(size=n)])
    y = u.argmax(axis=1)
    long = pd.DataFrame({"case": np.repeat(np.arange(n), 3), "alt": np.tile(["o", "r", "s"], n),
                         "x": x.ravel(), "chosen": (np.arange(3)[None] == y[:, None]).ravel()})
    res = ChoiceLogit.from_formula("chosen ~ x", long, case="case", alternative="alt").fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # V_r - V_f indefinite: said, not tested
        assert res.iia_test("s").pvalue < 0.01


def test_summary_and_names(sim_res):
    text = str(sim_res.summary())
    for word in ("Conditional Logit", "alternative-specific", "income", "Base:"):
        assert word in text
    assert sim_res.model.param_names[:2] == ["x1", "x2"]
    assert "d:income" in sim_res.params.index


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

def _fit_formula(data, formula="chosen ~ x1 + x2 | income"):
    return ChoiceLogit.from_formula(formula, data, case="case", alternative="alt")


def test_case_without_choice_is_an_error(sim):
    bad = sim.copy()
    bad.loc[bad["case"] == bad["case"].iloc[0], "chosen"] = 0
    with pytest.raises(ValueError, match=r"exactly one chosen.*1 case\(s\) have none"):
        _fit_formula(bad)


def test_case_with_two_choices_is_an_error(sim):
    bad = sim.copy()
    bad.loc[bad["case"] == bad["case"].iloc[0], "chosen"] = 1
    with pytest.raises(ValueError, match=r"exactly one chosen.*1 have two or more"):
        _fit_formula(bad)


def test_duplicate_alternative_is_an_error(sim):
    bad = pd.concat([sim, sim.iloc[[0]]], ignore_index=True)
    bad.loc[len(bad) - 1, "chosen"] = 0
    with pytest.raises(ValueError, match=rf"alternative {sim['alt'].iloc[0]!r} appears 2 times "
                                         rf"in case {sim['case'].iloc[0]}"):
        _fit_formula(bad)


def test_attribute_constant_within_cases_is_named(sim):
    bad = sim.assign(size=sim["income"] * 2.0 + 1.0)
    with pytest.raises(ValueError, match=r"\['size'\] do not vary over the alternatives"):
        _fit_formula(bad, "chosen ~ x1 + size | income")


def test_case_regressor_varying_within_case_is_named(sim):
    with pytest.raises(ValueError, match=r"\['x1'\] vary within a case"):
        _fit_formula(sim, "chosen ~ x2 | x1")


def test_non_binary_choice_and_nan_are_errors(sim):
    bad = sim.assign(chosen=sim["chosen"] * 2)
    with pytest.raises(ValueError, match="0/1"):
        _fit_formula(bad)
    bad = sim.copy()
    bad.loc[3, "x2"] = np.nan
    with pytest.raises(ValueError, match="x2"):
        _fit_formula(bad)


def test_collinear_case_regressor_is_named(sim):
    bad = sim.assign(inc2=sim["income"] * 3.0)
    with pytest.raises(ValueError, match=r"not identified.*b:inc2"):
        _fit_formula(bad, "chosen ~ x1 + x2 | income + inc2")


def test_formula_errors(sim):
    with pytest.raises(ValueError, match="case= and alternative="):
        ChoiceLogit.from_formula("chosen ~ x1", sim)
    with pytest.raises(ValueError, match="more than one"):
        _fit_formula(sim, "chosen ~ x1 | income | x2")


def test_cluster_groups_per_row_or_per_case(sim_model, sim):
    per_case = np.arange(sim_model._nrows) % 25
    ref = sim_model.fit(cov_type="cluster", cov_kwds={"groups": per_case})
    codes = pd.Series(per_case, index=sim_model.row_labels)
    per_row = sim["case"].map(codes).to_numpy()
    res = sim_model.fit(cov_type="cluster", cov_kwds={"groups": per_row})
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-12)
    assert res.n_groups == 25
    bad = per_row.copy()
    bad[0] = 99                                   # not constant within its case
    with pytest.raises(ValueError, match="constant within each case"):
        sim_model.fit(cov_type="cluster", cov_kwds={"groups": bad})


def test_two_way_cluster_groups_per_row_or_per_case(sim_model, sim):
    # two columns per long row failed with a bare numpy broadcast error; the
    # covariance is Cameron-Gelbach-Miller's V_1 + V_2 - V_12
    rng = np.random.default_rng(0)  # clusters for which V_1 + V_2 - V_12 is PSD
    c1, c2 = rng.integers(0, 60, sim_model._nrows), rng.integers(0, 50, sim_model._nrows)
    at_row = pd.Index(sim_model.row_labels).get_indexer(sim["case"])
    per_row = np.c_[c1[at_row], c2[at_row]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # positive definite here: no eigenvalue fix
        two = sim_model.fit(cov_type="cluster", cov_kwds={"groups": per_row,
                                                          "correction": "none"})
    G1, G2 = len(np.unique(c1)), len(np.unique(c2))
    assert two.n_groups == (G1, G2) and "two-way" in str(two.summary())
    p = np.asarray(two.params)
    A_inv = np.linalg.inv(-sim_model.hessian(p))
    S = sim_model.score_obs(p)

    def V(codes):
        codes = pd.factorize(codes)[0]
        G = np.zeros((codes.max() + 1, S.shape[1]))
        np.add.at(G, codes, S)
        return A_inv @ G.T @ G @ A_inv

    c12 = pd.Series(list(zip(c1, c2)))
    np.testing.assert_allclose(two.cov_params(), V(c1) + V(c2) - V(c12), rtol=1e-10,
                               atol=1e-14)
    per_case = sim_model.fit(cov_type="cluster", cov_kwds={"groups": np.c_[c1, c2],
                                                           "correction": "none"})
    np.testing.assert_allclose(per_case.bse, two.bse, rtol=1e-12)
    # the default small-sample factors, each dimension its own
    dflt = sim_model.fit(cov_type="cluster", cov_kwds={"groups": per_row})
    n, k = sim_model.nobs, len(p)
    f = [G / (G - 1) * (n - 1) / (n - k) for G in (G1, G2, c12.nunique())]
    np.testing.assert_allclose(dflt.cov_params(),
                               f[0] * V(c1) + f[1] * V(c2) - f[2] * V(c12), rtol=1e-10,
                               atol=1e-14)
    bad = per_row.copy()
    bad[0, 1] += 1                                 # not constant within its case
    with pytest.raises(ValueError, match=r"groups \(column 2\) given per row must be constant"):
        sim_model.fit(cov_type="cluster", cov_kwds={"groups": bad})


def test_wide_data_missing_drop_weights_and_groups_by_name():
    # a case dropped by missing='drop': weights and groups named as columns of
    # the wide data (or given per wide row) failed: "has 1182 entries; give one
    # per case (1181)"
    f = datasets.load("fishing").iloc[:300].copy()
    alts = ["beach", "pier", "boat", "charter"]
    varying = {"price": {a: "p" + a for a in alts}, "catch": {a: "c" + a for a in alts}}
    f["w"] = 1 + np.arange(len(f)) % 3
    f["region"] = np.arange(len(f)) % 15
    f.loc[f.index[5], "income"] = np.nan
    formula = "mode ~ price + catch | income"
    m = ChoiceLogit.from_formula(formula, f, varying=varying, missing="drop", freq_weights="w")
    assert m.n_dropped == 1 and m._nrows == len(f) - 1
    clean = f.drop(index=f.index[5])
    ref = ChoiceLogit.from_formula(formula, clean, varying=varying, freq_weights="w")
    by_array = ChoiceLogit.from_formula(formula, f, varying=varying, missing="drop",
                                        freq_weights=f["w"].to_numpy())
    assert m.nobs == ref.nobs == by_array.nobs == clean["w"].sum()
    kw = dict(cov_type="cluster", cov_kwds={"groups": "region"})
    r, rr, ra = m.fit(**kw), ref.fit(**kw), by_array.fit(**kw)
    for a in (r, ra):
        np.testing.assert_allclose(a.params, rr.params, rtol=1e-9)
        np.testing.assert_allclose(a.bse, rr.bse, rtol=1e-8)
    assert r.n_groups == 15
    per_wide_row = m.fit(cov_type="cluster", cov_kwds={"groups": f["region"].to_numpy()})
    np.testing.assert_allclose(per_wide_row.bse, r.bse, rtol=1e-12)


def test_prediction_needs_the_formula_and_known_alternatives(sim, sim_res):
    m = ChoiceLogit(sim["chosen"], sim[["x1", "x2"]], sim["case"], sim["alt"])
    with pytest.raises(ValueError, match="from_formula"):
        m.probabilities(np.zeros(m.k_params), sim)
    with pytest.raises(ValueError, match=r"\['zz'\] are not among the model's alternatives"):
        sim_res.probabilities(sim.assign(alt=sim["alt"].replace("d", "zz")))


def test_iia_test_ignores_robust_cov_and_keeps_freq_weights(sim_model, sim_res, sim):
    import warnings as w_

    with w_.catch_warnings():
        w_.simplefilter("ignore", RuntimeWarning)
        t = sim_res.iia_test("b")
        t_robust = sim_model.fit(cov_type="HC0").iia_test("b")
        assert abs(t.statistic - t_robust.statistic) < 1e-8 * max(1.0, t.statistic)
        ones = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", sim, case="case",
                                        alternative="alt",
                                        freq_weights=np.ones(len(sim))).fit()
        assert abs(ones.iia_test("b").statistic - t.statistic) < 1e-8 * max(1.0, t.statistic)


def test_cluster_groups_by_column_name(sim):
    sim = sim.assign(region=sim["case"] % 7)
    m = _fit_formula(sim)
    by_name = m.fit(cov_type="cluster", cov_kwds={"groups": "region"})
    by_array = m.fit(cov_type="cluster", cov_kwds={"groups": sim["region"].to_numpy()})
    np.testing.assert_allclose(by_name.bse, by_array.bse, rtol=1e-12)
    with pytest.raises(ValueError, match="name of a column"):
        m.fit(cov_type="cluster", cov_kwds={"groups": "nope"})


@pytest.mark.parametrize("at", ["overall", "mean"])
def test_elasticity_jacobian_against_numerical(sim_res, at):
    from econderiv.testing import numerical_jacobian

    m = sim_res.model
    p0 = np.asarray(sim_res.params) + 0.05
    if at == "mean":
        cnt = m._avail.sum(axis=0)
        X = (m._X.sum(axis=0) / cnt[:, None])[None]
        Z, avail = m._Z.mean(axis=0, keepdims=True), (cnt > 0)[None]
    else:
        X, Z, avail = m._X, m._Z, m._avail
    E, jac = K.mean_elasticities(p0, X, Z, avail, m.base, 1)
    num = numerical_jacobian(lambda p: K.mean_elasticities(p, X, Z, avail, m.base, 1)[0].ravel(),
                             p0, method="richardson")
    np.testing.assert_allclose(jac.reshape(16, -1), num, rtol=1e-6, atol=1e-9)
    E2, se = sim_res.elasticities("x2", at=at, stderr=True)
    assert (se.to_numpy() > 0).all() and np.allclose(E2, sim_res.elasticities("x2", at=at))


def test_missing_drop(sim):
    bad = sim.copy()
    cases = bad["case"].unique()
    not_chosen = bad.index[(bad["case"] == cases[0]) & (bad["chosen"] == 0)][0]
    chosen_row = bad.index[(bad["case"] == cases[1]) & (bad["chosen"] == 1)][0]
    inc_row = bad.index[bad["case"] == cases[2]][0]
    bad.loc[not_chosen, "x1"] = np.nan      # that alternative becomes unavailable
    bad.loc[chosen_row, "x2"] = np.nan      # the case is dropped
    bad.loc[inc_row, "income"] = np.nan     # the case is dropped
    with pytest.raises(ValueError, match="x1"):
        _fit_formula(bad)
    w = np.random.default_rng(1).integers(1, 3, len(cases))
    w_rows = bad["case"].map(pd.Series(w, index=cases)).to_numpy()
    m = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", bad, case="case",
                                 alternative="alt", missing="drop", freq_weights=w_rows)
    assert (m.n_dropped, m.n_unavailable) == (2, 1)
    clean = bad.drop(index=[not_chosen])
    clean = clean[~clean["case"].isin([cases[1], cases[2]])]
    ref = ChoiceLogit.from_formula("chosen ~ x1 + x2 | income", clean, case="case",
                                   alternative="alt",
                                   freq_weights=clean["case"].map(pd.Series(w, index=cases))
                                   .to_numpy())
    r, rr = m.fit(), ref.fit()
    np.testing.assert_allclose(r.params, rr.params, rtol=1e-10)
    assert m.nobs == rr.model.nobs
