"""Tests of econderiv.models.mnlogit: derivatives, Böhning's bound, the
optimizers, agreement with statsmodels and with Stata (as recorded in
statsmodels' test suite), robust covariances, bad input and separation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

import econderiv.models._likelihood as likelihood
import econderiv.models._mnlogit_kernels as kernels
from econderiv import datasets
from econderiv.models.mnlogit import (BohningBound, MNLogit, bohning_bound, fit_bohning,
                                      mnlogit_block, mnlogit_hessian, mnlogit_loglike_score)
from econderiv.testing import check_derivatives

# ---------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def anes():
    data = sm.datasets.anes96.load()
    exog = sm.add_constant(np.asarray(data.exog, dtype=float), prepend=False)
    return np.asarray(data.endog), exog


@pytest.fixture(scope="module")
def anes_sm(anes):
    endog, exog = anes
    return sm.MNLogit(endog, exog).fit(method="newton", disp=0, maxiter=100)


@pytest.fixture(scope="module")
def anes_ed(anes):
    endog, exog = anes
    return MNLogit(endog, exog).fit(disp=0)


def simulate(n, p, n_cat, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.standard_normal((n, p - 1))])
    beta = rng.normal(0.0, scale, (p, n_cat - 1))
    eta = np.column_stack([np.zeros(n), X @ beta])
    prob = np.exp(eta - eta.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    y = (np.cumsum(prob, axis=1) < rng.random(n)[:, None]).sum(axis=1)
    return X, np.minimum(y, n_cat - 1), beta


def codes(series):
    return pd.Categorical(series).codes


# ---------------------------------------------------------------------------
# derivatives
# ---------------------------------------------------------------------------


def test_score_and_hessian_numerically_anes(anes, anes_sm):
    endog, exog = anes
    model = MNLogit(endog, exog)
    rng = np.random.default_rng(0)
    mle = np.asarray(anes_sm.params).ravel(order="F")
    # (not at the MLE itself: there the gradient is ~0 and relative errors
    # measure rounding)
    points = [np.zeros_like(mle), mle + 0.01 * rng.standard_normal(mle.size),
              mle + 0.05 * rng.standard_normal(mle.size), 0.1 * rng.standard_normal(mle.size)]
    res = check_derivatives(model.loglike, model.score, model.hessian, points,
                            method="complex")
    assert res.grad_error < 1e-10, res
    assert res.hess_error < 1e-10, res


def test_derivatives_fishing_raw_income():
    # income in raw units (~4000): finite differences with unit-scaled steps
    # break down here, the complex step does not
    f = datasets.load("fishing")
    model = MNLogit.from_formula("mode ~ income", f)
    rng = np.random.default_rng(1)
    k = int(model.K) * (int(model.J) - 1)
    points = [np.zeros(k), np.tile([0.5, 1e-4], 3), rng.normal(0, [1, 1e-4] * 3)]
    res = check_derivatives(model.loglike, model.score, model.hessian, points,
                            method="complex")
    assert res.max_error < 1e-10, res


def test_derivatives_large_linear_predictors():
    # linear predictors of several hundred: statsmodels' exp overflows
    X, y, _ = simulate(60, 3, 4, seed=2)
    model = MNLogit(y, X)
    rng = np.random.default_rng(3)
    points = [rng.normal(0, 300, 9), rng.normal(0, 800, 9)]
    for pt in points:
        assert np.isfinite(model.loglike(pt))
    res = check_derivatives(model.loglike, model.score, model.hessian, points,
                            method="complex")
    assert res.max_error < 1e-8, res
    with np.errstate(all="ignore"):
        assert not np.isfinite(sm.MNLogit(y, X).loglike(points[1]))
    prob = model.predict(points[1].reshape(3, 3, order="F"))
    assert np.all(np.isfinite(prob)) and np.allclose(prob.sum(axis=1), 1.0)


def test_block_kernel_adds_over_partitions():
    X, y, beta = simulate(500, 4, 5, seed=4)
    ll, g, hp = mnlogit_block(X, y, beta, hessian=True)
    parts = [mnlogit_block(X[s], y[s], beta, hessian=True)
             for s in (slice(0, 123), slice(123, 400), slice(400, 500))]
    assert np.isclose(sum(p[0] for p in parts), ll, rtol=1e-13)
    np.testing.assert_allclose(sum(p[1] for p in parts), g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sum(p[2] for p in parts), hp, rtol=1e-12, atol=1e-12)
    H = kernels._unpack_blocks(hp, 4, 4)
    np.testing.assert_allclose(H, mnlogit_hessian(X, y, beta), rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(H, H.T)


def test_chunks_and_threads_do_not_change_results(monkeypatch):
    X, y, beta = simulate(9000, 3, 4, seed=5)
    ll1, g1 = mnlogit_loglike_score(X, y, beta, chunksize=7)
    h1 = mnlogit_hessian(X, y, beta, chunksize=11)
    monkeypatch.setattr(likelihood, "N_THREADS", 2)
    ll2, g2 = mnlogit_loglike_score(X, y, beta)
    h2 = mnlogit_hessian(X, y, beta)
    assert np.isclose(ll1, ll2, rtol=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(h1, h2, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(h2, sm.MNLogit(y, X).hessian(beta.ravel(order="F")),
                               rtol=1e-10, atol=1e-8)


# ---------------------------------------------------------------------------
# Böhning's bound
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_cat", [2, 3, 6])
def test_bound_dominates_negative_hessian(n_cat):
    X, y, _ = simulate(400, 4, n_cat, seed=10 + n_cat)
    B = bohning_bound(X, n_cat)
    model = MNLogit(y, X)
    np.testing.assert_allclose(B, model.bohning_bound(), rtol=1e-12)
    rng = np.random.default_rng(n_cat)
    scale = np.linalg.eigvalsh(B).max()
    for spread in (0.0, 0.5, 3.0, 30.0):
        for _ in range(3):
            beta = rng.normal(0, spread, (4, n_cat - 1))
            H = model.hessian(beta.ravel(order="F"))
            # B - (-H) is positive semi-definite
            assert np.linalg.eigvalsh(B + H).min() >= -1e-10 * scale
    # the bound is attained in the limit of equal probabilities only for J = 2
    # (beta = 0): then -H = B exactly
    if n_cat == 2:
        np.testing.assert_allclose(-model.hessian(np.zeros(4)), B, rtol=1e-12)


def test_bound_solve_is_inverse():
    X, _, _ = simulate(100, 3, 5, seed=20)
    bb = BohningBound(X.T @ X, 5)
    g = np.random.default_rng(0).standard_normal((3, 4))
    np.testing.assert_allclose(bb.solve(g).ravel(order="F"),
                               np.linalg.solve(bb.matrix(), g.ravel(order="F")), rtol=1e-10)


# ---------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------


def test_plain_mm_is_monotone_and_converges(anes, anes_sm):
    endog, exog = anes
    res = MNLogit(endog, exog).fit(accelerate=False, disp=0, tol=1e-14)
    path = res.mle_retvals["llf_path"]
    assert res.mle_retvals["converged"]
    assert res.mle_retvals["iterations"] == len(path) - 1 > 50
    assert np.all(np.diff(path) >= 0)
    assert abs(res.llf - anes_sm.llf) <= 1e-10 * abs(anes_sm.llf)


def test_plain_mm_monotone_from_far_start():
    X, y, _ = simulate(2000, 5, 4, seed=21)
    model = MNLogit(y, X)
    start = np.random.default_rng(0).normal(0, 3, 15)
    res = model.fit(start_params=start, accelerate=False, maxiter=100, disp=0,
                    warn_convergence=False)
    path = res.mle_retvals["llf_path"]
    assert path[0] < -5000 and len(path) == 101
    assert np.all(np.diff(path) >= 0)


def test_accelerated_retvals_and_fewer_iterations(anes, anes_ed):
    rv = anes_ed.mle_retvals
    for key in ("iterations", "converged", "gradient_norm", "criterion", "fcalls", "hcalls",
                "llf_path", "message"):
        assert key in rv
    assert rv["converged"] and rv["criterion"] <= 1e-12
    assert rv["gradient_norm"] == pytest.approx(np.max(np.abs(rv["score"])))
    assert rv["iterations"] < 40
    assert anes_ed.mle_settings["optimizer"] == "bohning"
    assert np.all(np.diff(rv["llf_path"]) >= -1e-12 * abs(rv["llf_path"][-1]))


def test_subsample_hessian_path_reaches_the_same_optimum():
    # n >= 40,000 rows: the first Newton steps use a strided-subsample Hessian
    X, y, _ = simulate(50000, 3, 3, seed=23)
    model = MNLogit(y, X)
    res = model.fit(disp=0)
    assert res.mle_retvals["converged"] and res.mle_retvals["criterion"] <= 1e-12
    exact = fit_bohning(lambda b: mnlogit_loglike_score(X, model.endog, b), model.bohning,
                        np.zeros((3, 2)), hessian=lambda b: mnlogit_hessian(X, model.endog, b))
    assert exact["converged"]
    assert abs(res.llf - exact["llf"]) <= 1e-12 * abs(exact["llf"])
    np.testing.assert_allclose(np.asarray(res.params), exact["params"], atol=1e-7)
    # the reported covariance is the inverse of the full Hessian at the last
    # Newton iterate (before the final step, as statsmodels' newton), within
    # the order of that step of the Hessian at the estimate
    H0 = model.hessian(res.mle_retvals["hessian_at"])
    np.testing.assert_allclose(res.cov_params(), np.linalg.inv(-H0), rtol=1e-10)
    H = model.hessian(np.asarray(res.params).ravel(order="F"))
    np.testing.assert_allclose(np.asarray(res.bse).ravel(order="F"),
                               np.sqrt(np.diag(np.linalg.inv(-H))), rtol=1e-6)


def test_fit_bohning_without_hessian(anes):
    endog, exog = anes
    model = MNLogit(endog, exog)
    out = fit_bohning(lambda b: mnlogit_loglike_score(exog, model.endog, b), model.bohning,
                      np.zeros((6, 6)), tol=1e-12)
    assert out["converged"] and out["hcalls"] == 0
    full = model.fit(disp=0)
    assert abs(out["llf"] - full.llf) < 1e-9


# ---------------------------------------------------------------------------
# agreement with statsmodels and Stata
# ---------------------------------------------------------------------------


def test_anes_matches_statsmodels_newton(anes_ed, anes_sm):
    assert abs(anes_ed.llf - anes_sm.llf) <= 1e-10 * abs(anes_sm.llf)
    np.testing.assert_allclose(anes_ed.params, anes_sm.params, rtol=0, atol=1e-6)
    np.testing.assert_allclose(anes_ed.bse, anes_sm.bse, rtol=1e-6)
    np.testing.assert_allclose(anes_ed.predict(), anes_sm.predict(), atol=1e-8)
    np.testing.assert_allclose(anes_ed.get_margeff().margeff,
                               anes_sm.get_margeff().margeff, atol=1e-8)
    np.testing.assert_allclose(anes_ed.get_margeff().margeff_se,
                               anes_sm.get_margeff().margeff_se, rtol=1e-5)
    assert anes_ed.params.shape == (6, 6)
    text = anes_ed.summary().as_text()
    assert "MNLogit Regression Results" in text and "y=6" in text
    tt = anes_ed.t_test(np.eye(36)[:3])
    np.testing.assert_allclose(tt.sd.ravel(), anes_ed.bse.ravel(order="F")[:3], rtol=1e-12)
    np.testing.assert_allclose(anes_ed.conf_int(), anes_sm.conf_int(), atol=1e-5)


def test_anes_matches_stata_recorded_in_statsmodels(anes):
    """Stata 'mlogit ..., baseoutcome(0)' results recorded in statsmodels'
    test suite (statsmodels/discrete/tests/results/results_discrete.py)."""
    results = pytest.importorskip("statsmodels.discrete.tests.results.results_discrete")
    stata = results.Anes.mnlogit_basezero
    endog, exog = anes
    res = MNLogit(endog, exog).fit(disp=0, tol=1e-20)
    np.testing.assert_allclose(res.params, stata.params, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res.bse, stata.bse, rtol=1e-7)
    np.testing.assert_allclose(res.tvalues, stata.z, atol=1e-7)
    # Stata's margins differentiates numerically: its last outcome's effects
    # differ from the analytic ones by up to 1.6e-7 (the others by < 1e-8)
    np.testing.assert_allclose(res.get_margeff().margeff[:, :6],
                               stata.margeff_dydx_overall[:, :6], atol=1e-8)
    np.testing.assert_allclose(res.get_margeff().margeff, stata.margeff_dydx_overall,
                               atol=5e-7)
    np.testing.assert_allclose(res.get_margeff().margeff_se,
                               stata.margeff_dydx_overall_se, atol=1e-8)
    assert res.llnull == pytest.approx(stata.llnull, abs=1e-8)
    # Stata stores the regressor logpopul in single precision: with the data
    # rounded to float32 the recorded log-likelihood is matched to 1e-10
    # (with statsmodels' float64 data it differs by 6.4e-8)
    assert res.llf == pytest.approx(stata.llf, abs=1e-7)
    res32 = MNLogit(endog, exog.astype(np.float32).astype(float)).fit(disp=0, tol=1e-20)
    assert res32.llf == pytest.approx(stata.llf, abs=1e-9)
    assert res32.aic == pytest.approx(stata.aic, abs=1e-8)
    assert res32.bic == pytest.approx(stata.bic, abs=1e-8)


def test_womenlf_matches_statsmodels():
    w = datasets.load("womenlf")
    res = MNLogit.from_formula("partic ~ hincome + children", w).fit(disp=0)
    ref = sm.MNLogit.from_formula("partic ~ hincome + children",
                                  w.assign(partic=codes(w.partic))).fit(disp=0)
    assert abs(res.llf - ref.llf) <= 1e-10 * abs(ref.llf)
    np.testing.assert_allclose(np.asarray(res.params), np.asarray(ref.params), atol=1e-6)
    np.testing.assert_allclose(np.asarray(res.bse), np.asarray(ref.bse), rtol=1e-6)
    # string outcome: category labels in the names, first (sorted) is the base;
    # params frame laid out as statsmodels'
    pd.testing.assert_index_equal(res.params.columns, ref.params.columns)
    pd.testing.assert_index_equal(res.params.index, ref.params.index)
    assert res.cov_params().index[0] == ("not.work", "Intercept")
    assert "partic=parttime" in res.summary().as_text()


def test_fishing_raw_income_matches_statsmodels_newton():
    f = datasets.load("fishing")
    res = MNLogit.from_formula("mode ~ income", f).fit(disp=0)
    ref = sm.MNLogit.from_formula("mode ~ income", f.assign(mode=codes(f["mode"]))).fit(
        method="newton", disp=0)
    assert abs(res.llf - ref.llf) <= 1e-10 * abs(ref.llf)
    np.testing.assert_allclose(np.asarray(res.params), np.asarray(ref.params), rtol=1e-6,
                               atol=1e-10)
    np.testing.assert_allclose(np.asarray(res.bse), np.asarray(ref.bse), rtol=1e-6)
    assert res.mle_retvals["iterations"] < 30


def test_other_methods_use_exact_derivatives(anes, anes_sm):
    endog, exog = anes
    model = MNLogit(endog, exog)
    res = model.fit(method="newton", disp=0)
    assert abs(res.llf - anes_sm.llf) < 1e-9
    np.testing.assert_allclose(res.bse, anes_sm.bse, rtol=1e-7)
    res2 = model.fit(method="bfgs", disp=0, maxiter=2000, gtol=1e-6)
    assert res2.mle_retvals["converged"]
    assert abs(res2.llf - anes_sm.llf) < 1e-6


def test_recovers_simulated_parameters():
    X, y, beta = simulate(20000, 3, 4, seed=30)
    res = MNLogit(y, X).fit(disp=0)
    z = (np.asarray(res.params) - beta) / np.asarray(res.bse)
    assert np.max(np.abs(z)) < 4.0


def test_llnull_closed_form(anes_ed):
    counts = np.bincount(anes_ed.model.endog)
    assert anes_ed.llnull == pytest.approx(np.sum(counts * np.log(counts / counts.sum())),
                                           rel=1e-14)


# ---------------------------------------------------------------------------
# robust covariances
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", ["HC0", "cluster"])
def test_robust_covariances_match_statsmodels(anes, cov_type):
    endog, exog = anes
    kw = {}
    if cov_type == "cluster":
        kw = {"cov_kwds": {"groups": np.arange(len(endog)) % 41}}
    res = MNLogit(endog, exog, chunksize=100).fit(disp=0, cov_type=cov_type, **kw)
    ref = sm.MNLogit(endog, exog).fit(method="newton", disp=0, maxiter=100,
                                      cov_type=cov_type, **kw)
    assert res.cov_type == ref.cov_type
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-6)
    assert res.cov_kwds["description"] == ref.cov_kwds["description"]
    if cov_type == "cluster":
        assert res.df_resid_inference == ref.df_resid_inference == 40
    assert cov_type in res.summary().as_text()


def test_hc1_is_hc0_with_small_sample_factor(anes):
    # statsmodels labels HC0 values as "HC1" for discrete models; here HC1 is
    # HC0 * n / (n - k), as for statsmodels' OLS
    endog, exog = anes
    hc0 = MNLogit(endog, exog).fit(disp=0, cov_type="HC0")
    hc1 = MNLogit(endog, exog).fit(disp=0, cov_type="HC1")
    np.testing.assert_allclose(np.asarray(hc1.cov_params()),
                               np.asarray(hc0.cov_params()) * 944 / (944 - 36), rtol=1e-12)


def test_cluster_with_string_groups_and_errors(anes):
    endog, exog = anes
    groups = np.array([f"g{k % 7}" for k in range(len(endog))])
    res = MNLogit(endog, exog).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    assert res.n_groups == 7
    with pytest.raises(ValueError, match="groups"):
        MNLogit(endog, exog).fit(disp=0, cov_type="cluster")
    with pytest.raises(ValueError, match="5 entries but the model has 944"):
        MNLogit(endog, exog).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups[:5]})


# ---------------------------------------------------------------------------
# bad input and warnings
# ---------------------------------------------------------------------------


def test_nan_in_exog_names_the_column():
    X, y, _ = simulate(50, 3, 3, seed=40)
    df = pd.DataFrame(X, columns=["const", "age", "inc"])
    df.loc[[3, 7], "inc"] = np.nan
    with pytest.raises(ValueError, match=r"'inc' \(2 rows\)"):
        MNLogit(y, df)
    # statsmodels' missing="drop" still works
    res = MNLogit(y, df, missing="drop").fit(disp=0)
    assert res.nobs == 48


def test_nan_in_endog():
    X, y, _ = simulate(50, 3, 3, seed=41)
    yf = y.astype(float)
    yf[[1, 2, 3]] = np.nan
    with pytest.raises(ValueError, match="3 row"):
        MNLogit(yf, X)
    with pytest.raises(ValueError, match="3 row"):
        MNLogit(yf.astype(np.float32), X)


def test_single_category_and_rank_deficiency():
    X, y, _ = simulate(50, 3, 3, seed=42)
    with pytest.raises(ValueError, match="1 distinct value"):
        MNLogit(np.zeros(50), X)
    df = pd.DataFrame(X, columns=["const", "a", "b"]).assign(c=lambda d: d.a + 2 * d.b)
    with pytest.raises(ValueError, match="'c'"):
        MNLogit(y, df)
    with pytest.raises(ValueError, match="rows but exog"):
        MNLogit(y[:40], X)


def test_bad_params_and_options(anes):
    endog, exog = anes
    model = MNLogit(endog, exog)
    with pytest.raises(ValueError, match="36"):
        model.loglike(np.zeros(35))
    with pytest.raises(ValueError, match="start_params"):
        model.fit(start_params=np.zeros(10), disp=0)
    with pytest.raises(ValueError, match="accelerate"):
        model.fit(method="newton", accelerate=False, disp=0)
    with pytest.raises(TypeError, match="unexpected"):
        model.fit(disp=0, weights=np.ones(944))


def test_nonconvergence_warning(anes):
    endog, exog = anes
    with pytest.warns(ConvergenceWarning, match="raise maxiter"):
        res = MNLogit(endog, exog).fit(maxiter=3, disp=0)
    assert not res.mle_retvals["converged"]
    assert res.mle_retvals["iterations"] == 3


def test_separation_warning():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    y = rng.integers(0, 2, 300)
    y[x > 1] = 2  # x > 1 predicts category 2 perfectly
    X = np.column_stack([np.ones(300), x])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        MNLogit(y, X).fit(disp=0)
    sep = [w for w in caught if issubclass(w.category, PerfectSeparationWarning)]
    assert sep and "separated" in str(sep[0].message)
    assert "2:x1" in str(sep[0].message)


def test_no_separation_warning_on_regular_data(anes):
    endog, exog = anes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MNLogit(endog, exog).fit(disp=0)
        MNLogit(endog, exog).fit(disp=0, skip_hessian=True, accelerate=False)


def test_pandas_in_pandas_out(anes_sm):
    data = sm.datasets.anes96.load_pandas()
    exog = sm.add_constant(data.exog, prepend=False)
    res = MNLogit(data.endog, exog).fit(disp=0)
    ref = sm.MNLogit(data.endog, exog).fit(disp=0)
    assert isinstance(res.params, pd.DataFrame)
    pd.testing.assert_index_equal(res.params.index, ref.params.index)
    pd.testing.assert_index_equal(res.params.columns, ref.params.columns)
    pd.testing.assert_index_equal(res.cov_params().index, ref.cov_params().index)
    assert isinstance(res.predict(exog.iloc[:5]), pd.DataFrame)


# ---------------------------------------------------------------------------
# issue 9: one fit API (method = optimizer, shared keywords), defects 8, 9,
# 11, 12, 13
# ---------------------------------------------------------------------------


def test_help_shows_econderivs_fit_docstring():
    import pydoc

    text = pydoc.render_doc(MNLogit.fit, renderer=pydoc.plaintext)
    assert "bohning" in text and "(default)" in text
    assert "newton_trust" in text and "accelerate" in text
    # statsmodels' docstring names newton as the default
    assert "default is Newton" not in text and "'newton' for Newton-Raphson" not in text
    assert MNLogit.fit.__doc__ is not None
    assert MNLogit.fit.__doc__ != sm.MNLogit.fit.__doc__


def test_unknown_keyword_and_method_name_the_valid_ones(anes):
    endog, exog = anes
    model = MNLogit(endog, exog)
    with pytest.raises(TypeError, match=r"\['weights'\].*accelerate.*start_params"):
        model.fit(weights=np.ones(944))
    with pytest.raises(TypeError, match="did you mean 'maxiter'"):
        model.fit(maxitr=5)
    with pytest.raises(ValueError, match="did you mean 'newton'.*bohning"):
        model.fit(method="newtn")
    # an lbfgs keyword is valid for lbfgs only
    with pytest.raises(TypeError, match="pgtol"):
        model.fit(pgtol=1e-8)
    with pytest.raises(ValueError, match="tol does not apply to method='nm'"):
        model.fit(method="nm", tol=1e-8)
    with pytest.raises(ValueError, match="unknown cov_type"):
        model.fit(cov_type="HC9")


@pytest.mark.parametrize("maxiter", [0, -1])
@pytest.mark.parametrize("method", ["bohning", "newton", "newton_trust"])
def test_maxiter_must_be_positive(anes, maxiter, method):
    endog, exog = anes
    with pytest.raises(ValueError, match="maxiter must be at least 1"):
        MNLogit(endog, exog).fit(method=method, maxiter=maxiter)


def test_disp_defaults_to_false(anes, capsys):
    endog, exog = anes
    MNLogit(endog, exog).fit()
    MNLogit(endog, exog).fit(method="newton")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("method", ["newton_trust", "newton_linesearch"])
def test_econderiv_newton_methods(anes, anes_sm, method):
    endog, exog = anes
    res = MNLogit(endog, exog).fit(method=method)
    assert res.mle_retvals["converged"]
    np.testing.assert_allclose(res.params, anes_sm.params, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(res.bse, anes_sm.bse, rtol=1e-8)


def test_summary_after_remove_data(anes, anes_ed):
    res = MNLogit(*anes).fit()
    res.remove_data()
    text = res.summary().as_text()
    assert "MNLogit Regression Results" in text
    assert res.llnull == pytest.approx(anes_ed.llnull, rel=1e-14)


def test_huge_regressor_says_what_is_wrong(capfd):
    X, y, _ = simulate(200, 3, 3, seed=50)
    df = pd.DataFrame(X, columns=["const", "age", "x"])
    df.loc[7, "x"] = 1e300
    with pytest.raises(ValueError, match=r"column 'x' has values up to 1e\+300.*rescale") as e:
        MNLogit(y, df)
    assert "rank deficient" not in str(e.value) and "'age'" not in str(e.value)
    with pytest.raises(ValueError, match="column 'x'"):
        MNLogit(y, df, check_rank=False)
    err = capfd.readouterr().err
    assert "DLASCL" not in err and "illegal value" not in err


def test_default_fit_reaches_newton_precision(anes):
    endog, exog = anes
    model = MNLogit(endog, exog)
    ref = model.fit(method="newton_linesearch", tol=1e-30, maxiter=200)
    res = model.fit()
    rel = np.max(np.abs(np.asarray(res.params) - np.asarray(ref.params))
                 / np.asarray(ref.bse))
    assert rel < 1e-9, rel            # was ~1e-6 standard errors (1e-7 relative)
    assert np.max(np.abs(np.asarray(res.params) / np.asarray(ref.params) - 1)) < 1e-9
    # llf is the sum of loglikeobs to the last bit, as in statsmodels
    assert model.loglikeobs(res.params).sum() == res.llf


def test_cluster_errors_are_clear(anes):
    endog, exog = anes
    model = MNLogit(endog, exog)
    with pytest.raises(ValueError, match="needs the cluster of every row"):
        model.fit(cov_type="cluster")
    with pytest.raises(ValueError, match="at least two clusters"):
        model.fit(cov_type="cluster", cov_kwds={"groups": np.zeros(944)})
    with pytest.raises(ValueError, match="3 entries but the model has 944"):
        model.fit(cov_type="cluster", cov_kwds={"groups": [1, 2, 3]})


def test_cluster_groups_for_all_rows_before_missing_were_dropped():
    X, y, _ = simulate(300, 3, 3, seed=51)
    df = pd.DataFrame(X, columns=["const", "a", "b"])
    df.loc[[4, 9], "b"] = np.nan
    groups = np.arange(300) % 13
    res = MNLogit(y, df, missing="drop").fit(cov_type="cluster",
                                             cov_kwds={"groups": groups})
    keep = df.notna().all(axis=1).to_numpy()
    ref = MNLogit(y[keep], df[keep]).fit(cov_type="cluster",
                                         cov_kwds={"groups": groups[keep]})
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-12)


def _sm_margins(res, **kw):
    """statsmodels' own get_margeff on econderiv's fitted results."""
    from statsmodels.discrete.discrete_margins import DiscreteMargins

    return DiscreteMargins(res._results, (), kw)


@pytest.mark.parametrize("at", ["overall", "mean", "median", "zero"])
@pytest.mark.parametrize("method", ["dydx", "eydx"])
def test_margins_by_blocks_equal_statsmodels(anes_ed, at, method):
    me = anes_ed.get_margeff(at=at, method=method)
    ref = _sm_margins(anes_ed, at=at, method=method)
    assert type(me).__name__ == "MNLogitMargins"
    np.testing.assert_allclose(me.margeff, ref.margeff, rtol=1e-10, atol=1e-14)
    # statsmodels differentiates by complex step: the same Jacobian
    np.testing.assert_allclose(me.margeff_se, ref.margeff_se, rtol=1e-9)
    np.testing.assert_allclose(me.margeff_cov, ref.margeff_cov, rtol=1e-8, atol=1e-18)
    pd.testing.assert_frame_equal(me.summary_frame(), ref.summary_frame(), rtol=1e-8)
    assert me.summary().as_text() == ref.summary().as_text()


@pytest.mark.parametrize("method", ["dyex", "eyex"])
def test_margins_elasticities_against_numerical_jacobian(method):
    from statsmodels.tools.numdiff import approx_fprime_cs

    X, y, _ = simulate(400, 3, 4, seed=52)
    X[:, 1] += 3.0
    res = MNLogit(y, X).fit()
    beta = np.asarray(res.params)
    base = sm.MNLogit(y, X)   # statsmodels' dydx per row, transformed by hand

    def effects(b):
        b = b.reshape(3, 3, order="F")
        d = base._derivative_exog(b, X, "dydx").reshape(400, 3, 4, order="F")
        if method.startswith("ey"):
            d = d / base.predict(b, X)[:, None, :]
        return (d * X[:, :, None]).mean(0)[1:].ravel(order="F")

    me = res.get_margeff(method=method)
    flat = beta.ravel(order="F")
    np.testing.assert_allclose(me.margeff.ravel(order="F"), effects(flat), rtol=1e-12)
    jac = approx_fprime_cs(flat, effects)
    np.testing.assert_allclose(me.margeff_cov, jac @ res.cov_params() @ jac.T, rtol=1e-9)


def test_margins_memory_is_block_sized():
    import tracemalloc

    def peak(n):
        X, y, _ = simulate(n, 6, 5, seed=53)
        res = MNLogit(y, X).fit()
        tracemalloc.start()
        me = res.get_margeff()
        me.summary_frame()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert me.margeff.shape == (5, 5)
        return top, X.nbytes

    small, _ = peak(40000)
    large, data = peak(160000)
    # statsmodels' code holds complex n x p x J arrays per parameter (many
    # times the data); by blocks the peak does not grow with n
    assert large < 1.3 * small and large < 24 * 2**20, (small, large, data)


def test_margins_fall_back_to_statsmodels_for_dummies(anes_ed):
    me = anes_ed.get_margeff(dummy=True)
    ref = _sm_margins(anes_ed, dummy=True)
    np.testing.assert_allclose(me.margeff, ref.margeff, rtol=1e-12)
