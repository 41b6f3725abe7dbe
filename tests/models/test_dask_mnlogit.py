"""The multinomial logit on dask partitions with weights
(econderiv.models._dask_mnlogit): every weighted distributed fit equals the
in-memory weighted fit, in parameters, standard errors and the rest.

The equality runs on dask's synchronous scheduler (the same task graph, the
partitions summed by the same tree, in this process).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

from econderiv import MNLogit  # noqa: E402
from econderiv.testing import check_derivatives  # noqa: E402

RTOL = 1e-10
FORMULA = "mode ~ x1 + x2 + C(c)"
KINDS = ["freq_weights", "prob_weights", "importance_weights"]


def rel(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def weighted_frame(n=1200, seed=4):
    """Four categories (string labels), a categorical regressor, clusters in
    two dimensions, integer weights 1-3 (``wf``) and non-integer ones 0.3-4
    (``wp``)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "g": rng.integers(0, 30, n), "c": rng.choice(["a", "b"], n)})
    eta = np.column_stack([np.zeros(n), 0.5 + df.x1, -0.3 + 0.8 * df.x2,
                           0.2 * df.x1 - df.x2 + (df.c == "b")])
    p = np.exp(eta)
    p /= p.sum(1, keepdims=True)
    df["mode"] = np.array(["car", "bus", "walk", "bike"])[(p.cumsum(1) > rng.random(n)[:, None])
                                                            .argmax(1)]
    df["h"] = rng.integers(0, 40, n)  # a second cluster dimension
    df["wf"] = rng.integers(1, 4, n).astype(float)
    df["wp"] = rng.uniform(0.3, 4.0, n)
    return df


@pytest.fixture(scope="module")
def df():
    return weighted_frame()


@pytest.fixture
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def column_of(key):
    return "wf" if key == "freq_weights" else "wp"


def both(df, key, npartitions, cov_type, method="bohning", formula=FORMULA):
    """(in-memory results, distributed results, distributed model)."""
    col = column_of(key)
    groups = {"groups": df["g"].to_numpy()} if cov_type == "cluster" else None
    mem_model = MNLogit.from_formula(formula, df, **{key: df[col]})
    model = MNLogit.from_formula(formula, dd.from_pandas(df, npartitions=npartitions),
                                 persist=True, **{key: col})
    with warnings.catch_warnings():
        # nonrobust with prob_weights warns on both sides (tested below)
        warnings.filterwarnings("ignore", message="cov_type='nonrobust' with prob_weights")
        mem = mem_model.fit(method=method, cov_type=cov_type, cov_kwds=groups)
        dist = model.fit(method=method, cov_type=cov_type,
                         cov_kwds={"groups": "g"} if groups else None)
    return mem, dist, model


# ---------------------------------------------------------------------------
# Equality with the in-memory weighted fit
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("npartitions", [1, 2, 7])
@pytest.mark.parametrize("key", KINDS)
def test_weighted_fit_equals_in_memory(key, npartitions, df, synchronous):
    col = column_of(key)
    mem_model = MNLogit.from_formula(FORMULA, df, **{key: df[col]})
    model = MNLogit.from_formula(FORMULA, dd.from_pandas(df, npartitions=npartitions),
                                 persist=True, **{key: col})
    assert model.weight_type == mem_model.weight_type == key.split("_")[0]
    assert model._backend.npartitions == npartitions
    start = None
    for cov_type in ("nonrobust", "HC1", "cluster"):
        groups = df["g"].to_numpy() if cov_type == "cluster" else None
        with warnings.catch_warnings():
            # nonrobust with prob_weights warns on both sides (tested below)
            warnings.filterwarnings("ignore", message="cov_type='nonrobust' with prob_weights")
            # the first fits from zero; the others (the covariance is all that
            # changes) from the first estimate, on both sides, to keep the test short
            mem = mem_model.fit(start_params=start, cov_type=cov_type,
                                cov_kwds=None if groups is None else {"groups": groups})
            dist = model.fit(start_params=start, cov_type=cov_type,
                             cov_kwds=None if groups is None else {"groups": "g"})
        start = np.asarray(mem.params).ravel(order="F") if start is None else start
        assert dist.cov_type == mem.cov_type == cov_type
        assert list(dist.params.columns) == list(mem.params.columns)
        assert list(dist.params.index) == list(mem.params.index)
        assert rel(dist.params, mem.params) < RTOL, cov_type
        assert rel(dist.bse, mem.bse) < RTOL, cov_type
        assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
        assert abs(dist.llnull - mem.llnull) < RTOL * abs(mem.llnull)
        # nobs: the sum of frequency / importance weights, the rows for sampling weights
        assert dist.nobs == mem.nobs == (len(df) if key == "prob_weights" else df[col].sum())
        assert dist.df_resid == mem.df_resid
        assert dist.converged and mem.converged
        if cov_type == "cluster":
            assert dist.n_groups == mem.n_groups == 30
            assert dist.df_resid_inference == mem.df_resid_inference == 29


@pytest.mark.filterwarnings("ignore:the two-way cluster covariance")  # the same fix on both sides
def test_weighted_newton_and_covariance_options(df, synchronous):
    # the Newton optimizer, and the small-sample factors of the core's covariance
    mem, dist, _ = both(df, "importance_weights", 7, "HC0", method="newton_trust")
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    start = np.asarray(mem.params).ravel(order="F")
    for key in KINDS:
        col = column_of(key)
        mem_model = MNLogit.from_formula(FORMULA, df, **{key: df[col]})
        model = MNLogit.from_formula(FORMULA, dd.from_pandas(df, npartitions=3), persist=True,
                                     **{key: col})
        for cov_type, kw, kw_dist in [
                ("HC1", {"correction": "stata"}, {"correction": "stata"}),
                ("cluster", {"groups": df["g"].to_numpy(), "correction": "stata"},
                 {"groups": "g", "correction": "stata"}),
                ("cluster", {"groups": df["g"].to_numpy(), "use_correction": False},
                 {"groups": "g", "use_correction": False}),
                # two-way (Cameron-Gelbach-Miller): the core's three groupbys
                ("cluster", {"groups": df[["g", "h"]].to_numpy()}, {"groups": ["g", "h"]})]:
            a = mem_model.fit(start_params=start, cov_type=cov_type, cov_kwds=kw)
            b = model.fit(start_params=start, cov_type=cov_type, cov_kwds=kw_dist)
            assert rel(b.params, a.params) < RTOL and rel(b.bse, a.bse) < RTOL, (key, cov_type)
            assert b.cov_kwds["details"] == a.cov_kwds["details"]
            assert np.all(np.asarray(b.n_groups if cov_type == "cluster" else 0)
                          == np.asarray(a.n_groups if cov_type == "cluster" else 0))


def test_sampling_weights_default_to_statas_hc1(df, synchronous):
    model = MNLogit.from_formula(FORMULA, dd.from_pandas(df, npartitions=2), persist=True,
                                 prob_weights="wp")
    mem = MNLogit.from_formula(FORMULA, df, prob_weights=df["wp"]).fit()
    res = model.fit()
    assert res.cov_type == mem.cov_type == "HC1"
    assert res.cov_kwds["correction"] == "stata"
    assert rel(res.bse, mem.bse) < RTOL
    start = np.asarray(mem.params).ravel(order="F")
    with pytest.warns(RuntimeWarning, match="not a valid covariance"):
        model.fit(start_params=start, cov_type="nonrobust")
    with pytest.raises(ValueError, match="opg.*not valid with prob_weights"):
        model.fit(start_params=start, cov_type="opg")
    text = str(res.summary())
    assert "sampling" in text and "Stata" in text


def test_frequency_weights_equal_repeated_rows_on_dask(df, synchronous):
    # Stata's fweight: the weighted fit on the partitions equals the fit on the
    # partitions of the data with row i repeated w_i times, in every covariance
    small = df.iloc[:500]
    big = small.loc[small.index.repeat(small["wf"].astype(int))].reset_index(drop=True)
    weighted = MNLogit.from_formula(FORMULA, dd.from_pandas(small, npartitions=3),
                                    persist=True, freq_weights="wf")
    repeated = MNLogit.from_formula(FORMULA, dd.from_pandas(big, npartitions=5), persist=True)
    assert weighted.wnobs == repeated.wnobs == len(big)
    for cov_type, kw in [("nonrobust", None), ("opg", None), ("HC0", None), ("HC1", None),
                         ("cluster", {"groups": "g"})]:
        a = weighted.fit(cov_type=cov_type, cov_kwds=kw)
        b = repeated.fit(cov_type=cov_type, cov_kwds=kw)
        assert rel(a.params, b.params) < 1e-9, cov_type
        assert rel(a.bse, b.bse) < 1e-9, cov_type
        assert a.llf == pytest.approx(b.llf, rel=1e-12)
        assert a.llnull == pytest.approx(b.llnull, rel=1e-12)
        assert a.nobs == b.nobs == len(big)


def test_weighted_bohning_subsample_hessian(synchronous):
    # n >= 40,000: the first Newton steps use the Hessian of every stride-th row
    # scaled by the weights' total over the subsample's (as in memory)
    n = 40000
    rng = np.random.default_rng(9)
    big = pd.DataFrame({"x": rng.normal(size=n), "w": rng.uniform(0.2, 3.0, n)})
    eta = np.column_stack([np.zeros(n), 0.3 + big.x, -0.2 - 0.5 * big.x])
    p = np.exp(eta) / np.exp(eta).sum(1, keepdims=True)
    big["y"] = (p.cumsum(1) > rng.random(n)[:, None]).argmax(1)
    mem = MNLogit.from_formula("y ~ x", big, importance_weights=big["w"]).fit()
    model = MNLogit.from_formula("y ~ x", dd.from_pandas(big, npartitions=7), persist=True,
                                 importance_weights="w")
    dist = model.fit()
    assert mem.mle_retvals["hcalls_subsample"] >= 1
    assert dist.mle_retvals["hcalls_subsample"] == mem.mle_retvals["hcalls_subsample"]
    assert dist.mle_retvals["iterations"] == mem.mle_retvals["iterations"]
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL


def test_weighted_derivatives_on_the_partitions(df, synchronous):
    # the sums over the partitions are the weighted log-likelihood's derivatives
    model = MNLogit.from_formula("mode ~ x1 + x2", dd.from_pandas(df.iloc[:400], npartitions=3),
                                 persist=True, importance_weights="wp")
    mem = MNLogit.from_formula("mode ~ x1 + x2", df.iloc[:400], importance_weights="wp")
    p0 = 0.1 * np.arange(9.0) - 0.3
    chk = check_derivatives(model.loglike, model.score, model.hessian, [p0])
    assert chk.grad_error < 1e-7 and chk.hess_error < 1e-6, chk
    assert model.loglike(p0) == pytest.approx(mem.loglike(p0), rel=1e-13)
    assert rel(model.score(p0), mem.score(p0)) < 1e-12
    assert rel(model.hessian(p0), mem.hessian(p0)) < 1e-12
    # Böhning's bound is built from X'WX and bounds the weighted Hessian
    assert rel(model.bohning_bound(), mem.bohning_bound()) < 1e-12
    assert np.linalg.eigvalsh(model.bohning_bound() + model.hessian(p0)).min() > -1e-9


@pytest.mark.parametrize("key", ["freq_weights", "prob_weights"])
def test_weighted_average_marginal_effects(key, df, synchronous):
    mem, dist, _ = both(df, key, 7, "HC1")
    for method in ("dydx", "eyex"):
        a, b = mem.get_margeff(method=method), dist.get_margeff(method=method)
        assert rel(b.margeff, a.margeff) < RTOL and rel(b.margeff_se, a.margeff_se) < RTOL
    # statsmodels' dummy and count effects average unweighted: refused on both sides
    for res in (mem, dist):
        with pytest.raises(NotImplementedError, match="weighted averages"):
            res.get_margeff(dummy=True)


# ---------------------------------------------------------------------------
# Bad weight columns: errors naming the column or the partition
# ---------------------------------------------------------------------------

def test_bad_weight_columns_are_errors_naming_them(df, synchronous):
    ddf = dd.from_pandas(df, npartitions=3)     # 400 rows a partition
    with pytest.raises(ValueError, match="weights column 'wt' is not in the dask DataFrame"):
        MNLogit.from_formula(FORMULA, ddf, freq_weights="wt")
    with pytest.raises(ValueError, match="freq_weights names a column"):
        MNLogit.from_formula(FORMULA, ddf, freq_weights=df["wf"])
    with pytest.raises(ValueError, match="at most one of"):
        MNLogit.from_formula(FORMULA, ddf, freq_weights="wf", prob_weights="wp")
    with pytest.raises(ValueError, match=r"freq_weights must be integers.*'wp'.*partition\(s\) "
                                         r"\[0, 1, 2\]"):
        MNLogit.from_formula(FORMULA, ddf, freq_weights="wp")
    bad = df.copy()
    bad.loc[850, "wp"] = -1.0
    bad.loc[900, "wf"] = np.nan
    bad_ddf = dd.from_pandas(bad, npartitions=3)
    with pytest.raises(ValueError, match=r"partition 2: the weights 'wp' are missing or "
                                         r"negative in 1 estimation rows"):
        MNLogit.from_formula(FORMULA, bad_ddf, prob_weights="wp")
    with pytest.raises(ValueError, match=r"partition 2: the weights 'wf' are missing"):
        MNLogit.from_formula(FORMULA, bad_ddf, importance_weights="wf")
    with pytest.raises(ValueError, match=r"the weights 'z' are zero in all 1200"):
        MNLogit.from_formula(FORMULA, dd.from_pandas(df.assign(z=0.0), npartitions=3),
                             importance_weights="z")
    with pytest.raises(ValueError, match=r"prob_weights 'ws' must be numeric \(dtype "):
        MNLogit.from_formula(FORMULA, dd.from_pandas(df.assign(ws="heavy"), npartitions=3),
                             prob_weights="ws")


def test_dask_arrays_with_weights(synchronous):
    # MNLogit(y, X, prob_weights=w) with dask arrays: the same weighted model
    import dask.array as da

    rng = np.random.default_rng(2)
    n = 900
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.integers(0, 3, n).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    mem = MNLogit(y, X, prob_weights=w).fit()
    dist = MNLogit(da.from_array(y, chunks=300), da.from_array(X, chunks=(300, 3)),
                   prob_weights=da.from_array(w, chunks=300)).fit()
    assert dist.cov_type == mem.cov_type == "HC1"
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    assert dist.nobs == mem.nobs == n
