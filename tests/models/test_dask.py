"""The distributed backend (econderiv.models._dask): every family fitted on the
partitions of a dask DataFrame equals the in-memory fit.

Equality over 1, 2 and 7 partitions runs on dask's synchronous scheduler (the
same task graph, the partitions summed by the same tree, in this process);
the tests marked ``cluster`` run on a LocalCluster of two worker processes:
equality, robust and cluster covariances, predictions, and a fit that loses
a worker process in the middle.
"""

import os
import signal
import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from econderiv import BivariateProbit, Heckman, HeckProbit, MNLogit  # noqa: E402

RTOL = 1e-10


def rel(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def selection_frame(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "z": rng.normal(size=n), "g": rng.integers(0, 25, n),
                       "c": rng.choice(["a", "b", "c"], n)})
    u, e = rng.multivariate_normal([0, 0], [[1, .5], [.5, 1]], n).T
    df["s"] = (0.3 + 0.5 * df.x1 + df.z + u > 0).astype(float)
    df["y"] = np.where(df.s == 1, 1 + df.x1 - 0.5 * df.x2 + (df.c == "b") + e, np.nan)
    df["yb"] = np.where(df.s == 1, (0.2 + df.x1 - 0.5 * df.x2 + e > 0).astype(float), np.nan)
    df["y1"] = (0.1 + df.x1 + e > 0).astype(float)
    df["y2"] = (0.1 + df.x2 + 0.5 * df.z + u > 0).astype(float)
    df["h"] = rng.integers(0, 12, n)  # a second cluster dimension
    return df


def mnlogit_frame(n=3000, seed=1):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "g": rng.integers(0, 30, n), "c": rng.choice(["a", "b"], n)})
    eta = np.column_stack([np.zeros(n), 0.5 + df.x1, -0.3 + 0.8 * df.x2,
                           0.2 * df.x1 - df.x2 + (df.c == "b")])
    p = np.exp(eta)
    p /= p.sum(1, keepdims=True)
    df["y"] = (p.cumsum(1) > rng.random(n)[:, None]).argmax(1)
    df["mode"] = np.array(["car", "bus", "walk", "bike"])[df.y]
    df["h"] = rng.integers(0, 12, n)
    return df


FAMILIES = {
    "Heckman": (Heckman, "y ~ x1 + x2 + C(c)", {"selection": "s ~ x1 + z"}),
    "HeckProbit": (HeckProbit, "yb ~ x1 + x2", {"selection": "s ~ x1 + z"}),
    "BivariateProbit": (BivariateProbit, ["y1 ~ x1 + C(c)", "y2 ~ x2 + z"], {}),
}


@pytest.fixture(scope="module")
def sel_df():
    return selection_frame()


@pytest.fixture(scope="module")
def mn_df():
    return mnlogit_frame()


@pytest.fixture
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def fit_pair(cls, formula, kw, df, npartitions, fit_kw=None, dask_fit_kw=None, **build):
    fit_kw = fit_kw or {}
    mem = cls.from_formula(formula, df, **kw).fit(**fit_kw)
    build.setdefault("persist", True)
    model = cls.from_formula(formula, dd.from_pandas(df, npartitions=npartitions), **kw,
                             **build)
    dist = model.fit(**(fit_kw if dask_fit_kw is None else dask_fit_kw))
    return mem, dist, model


# ---------------------------------------------------------------------------
# Equality with the in-memory fit, 1, 2 and 7 partitions
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("npartitions", [1, 2, 7])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_ml_equals_in_memory(family, npartitions, sel_df, synchronous):
    cls, formula, kw = FAMILIES[family]
    mem, dist, model = fit_pair(cls, formula, kw, sel_df, npartitions)
    assert isinstance(model, cls) and type(model).__name__ == cls.__name__
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
    assert abs(dist.llf_restricted - mem.llf_restricted) < RTOL * abs(mem.llf_restricted)
    assert dist.converged and dist.nobs == mem.nobs
    assert model._backend.npartitions == npartitions
    assert str(dist.summary()).count("coef") >= 2


@pytest.mark.parametrize("npartitions", [1, 2, 7])
def test_heckman_twostep_equals_in_memory(npartitions, sel_df, synchronous):
    cls, formula, kw = FAMILIES["Heckman"]
    mem = cls.from_formula(formula, sel_df, **kw).fit_twostep()
    dist = cls.from_formula(formula, dd.from_pandas(sel_df, npartitions=npartitions),
                            **kw).fit_twostep()
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert rel(dist.ancillary["coef"], mem.ancillary["coef"]) < RTOL
    assert "two-step" in str(dist.summary())


@pytest.mark.parametrize("cov_type, weights", [("HC1", None), ("HC0", "freq_weights"),
                                              ("cluster", None), ("cluster", "prob_weights"),
                                              ("two-way", None)])
def test_heckman_twostep_robust_equals_in_memory(cov_type, weights, sel_df, synchronous):
    # the stacked-moment sandwich: moments and Jacobian summed on the partitions
    cls, formula, kw = FAMILIES["Heckman"]
    df = sel_df.assign(w=np.random.default_rng(9).integers(1, 4, len(sel_df)).astype(float))
    mem_kw, dist_kw = {}, {}
    if weights:
        mem_kw[weights], dist_kw[weights] = df["w"].to_numpy(), "w"
    ct, mem_cov, dist_cov = cov_type, None, None
    if cov_type == "cluster":
        mem_cov, dist_cov = {"groups": df["g"].to_numpy()}, {"groups": "g"}
    elif cov_type == "two-way":
        ct = "cluster"
        mem_cov, dist_cov = {"groups": df[["g", "h"]].to_numpy()}, {"groups": ["g", "h"]}
    mem = cls.from_formula(formula, df, **kw, **mem_kw).fit_twostep(cov_type=ct,
                                                                    cov_kwds=mem_cov)
    dist = cls.from_formula(formula, dd.from_pandas(df, npartitions=7), **kw,
                            **dist_kw).fit_twostep(cov_type=ct, cov_kwds=dist_cov)
    assert dist.cov_type == mem.cov_type == ct
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert dist.cov_kwds["description"] == mem.cov_kwds["description"]
    if ct == "cluster":
        assert np.all(np.asarray(dist.n_groups) == np.asarray(mem.n_groups))


@pytest.mark.parametrize("method, npartitions, outcome",
                         [("bohning", 1, "mode"), ("bohning", 2, "mode"), ("bohning", 7, "mode"),
                          ("newton_trust", 1, "mode"), ("newton_trust", 2, "y"),
                          ("newton_trust", 7, "mode"), ("bohning", 7, "y")])
def test_mnlogit_equals_in_memory(method, npartitions, outcome, mn_df, synchronous):
    formula = f"{outcome} ~ x1 + x2 + C(c)"
    mem, dist, model = fit_pair(MNLogit, formula, {}, mn_df, npartitions,
                                {"method": method})
    assert isinstance(model, MNLogit)
    assert list(dist.params.columns) == list(mem.params.columns)
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
    assert abs(dist.llnull - mem.llnull) < RTOL * abs(mem.llnull)
    assert "MNLogit" in str(dist.summary())


def test_mnlogit_bohning_subsample_hessian(synchronous):
    # n >= 40,000: the first Newton steps use the Hessian of every stride-th
    # row of the whole sample; the partitions pick the same rows
    df = mnlogit_frame(n=42000, seed=3)
    mem, dist, model = fit_pair(MNLogit, "y ~ x1 + x2", {}, df, 7)
    assert mem.mle_retvals["hcalls_subsample"] >= 1
    assert dist.mle_retvals["hcalls_subsample"] == mem.mle_retvals["hcalls_subsample"]
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL


@pytest.mark.parametrize("cov_type", ["HC1", "cluster"])
@pytest.mark.parametrize("family", list(FAMILIES) + ["MNLogit"])
def test_robust_covariances_equal_in_memory(family, cov_type, sel_df, mn_df, synchronous):
    if family == "MNLogit":
        cls, formula, kw, df = MNLogit, "y ~ x1 + x2", {}, mn_df
    else:
        (cls, formula, kw), df = FAMILIES[family], sel_df
    groups = {"groups": df["g"].to_numpy()} if cov_type == "cluster" else None
    mem, dist, _ = fit_pair(cls, formula, kw, df, 7, {"cov_type": cov_type, "cov_kwds": groups},
                            {"cov_type": cov_type,
                             "cov_kwds": {"groups": "g"} if groups else None})
    assert dist.cov_type == cov_type
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    if cov_type == "cluster":
        assert dist.n_groups == mem.n_groups == 25 or dist.n_groups == mem.n_groups == 30


@pytest.mark.parametrize("family", list(FAMILIES) + ["MNLogit"])
def test_two_way_cluster_equals_in_memory(family, sel_df, mn_df, synchronous):
    # the three groupbys (g, h, g x h) of one pass equal the in-memory CGM matrix
    if family == "MNLogit":
        cls, formula, kw, df = MNLogit, "y ~ x1 + x2", {}, mn_df
    else:
        (cls, formula, kw), df = FAMILIES[family], sel_df
    cov_kwds = {"correction": "stata"}
    mem, dist, model = fit_pair(
        cls, formula, kw, df, 7,
        {"cov_type": "cluster", "cov_kwds": {"groups": df[["g", "h"]].to_numpy(), **cov_kwds}},
        {"cov_type": "cluster", "cov_kwds": {"groups": ["g", "h"], **cov_kwds}})
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert tuple(dist.n_groups) == tuple(mem.n_groups) == (int(df.g.nunique()), 12)
    if family != "MNLogit":
        assert "two-way" in str(dist.summary())


def test_cluster_columns_checked(sel_df, synchronous):
    cls, formula, kw = FAMILIES["HeckProbit"]
    model = cls.from_formula(formula, dd.from_pandas(sel_df, npartitions=2), **kw)
    with pytest.raises(ValueError, match="'nope'"):
        model.fit(cov_type="cluster", cov_kwds={"groups": ["g", "nope"]})
    with pytest.raises(ValueError, match="two columns for two-way"):
        model.fit(cov_type="cluster", cov_kwds={"groups": ["g", "h", "c"]})


@pytest.mark.parametrize("family, key", [("Heckman", "freq_weights"),
                                         ("HeckProbit", "importance_weights"),
                                         ("BivariateProbit", "prob_weights")])
def test_weights_equal_in_memory(family, key, sel_df, synchronous):
    # each partition carries its weight column; prob_weights default to HC1 (Stata)
    cls, formula, kw = FAMILIES[family]
    df = sel_df.assign(w=(1 + np.arange(len(sel_df)) % 3) if key == "freq_weights"
                       else 0.5 + (7 * np.arange(len(sel_df)) % 11) / 10)
    mem = cls.from_formula(formula, df, **kw, **{key: df["w"]}).fit()
    model = cls.from_formula(formula, dd.from_pandas(df, npartitions=7), persist=True, **kw,
                             **{key: "w"})
    dist = model.fit()
    assert dist.cov_type == mem.cov_type
    assert dist.nobs == mem.nobs and model.weight_type == mem.model.weight_type
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
    # the summary's weight line (kind and sum) from the summary pass's total
    weight_line = [ln for ln in str(mem.summary()).splitlines() if "eights" in ln]
    assert weight_line and weight_line == [ln for ln in str(dist.summary()).splitlines()
                                           if "eights" in ln]
    if family == "Heckman":
        ts_mem = cls.from_formula(formula, df, **kw, **{key: df["w"]}).fit_twostep()
        ts = model.fit_twostep()
        assert rel(ts.params, ts_mem.params) < RTOL and rel(ts.bse, ts_mem.bse) < RTOL


def test_missing_drop_equals_in_memory(sel_df, synchronous):
    df = sel_df.copy()
    df.loc[[3, 500, 1200], "x2"] = np.nan      # outcome regressor: selected rows dropped
    df.loc[[10, 900], "z"] = np.nan            # selection regressor: always dropped
    cls, formula, kw = FAMILIES["Heckman"]
    mem, dist, model = fit_pair(cls, formula, kw, df, 7)
    assert model.n_dropped == mem.model.n_dropped > 0
    assert dist.nobs == mem.nobs
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL


def test_categorical_metadata_gives_the_levels(sel_df, synchronous):
    # declared categories (one never observed in the first partition) come from
    # the dask metadata; the design equals the in-memory one
    df = sel_df.sort_values("c").reset_index(drop=True)
    df["c"] = df["c"].astype(pd.CategoricalDtype(["a", "b", "c"]))
    cls, formula, kw = FAMILIES["Heckman"]
    mem, dist, _ = fit_pair(cls, formula, kw, df, 7)
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL


def test_predict_returns_a_dask_series(sel_df, synchronous):
    cls, formula, kw = FAMILIES["Heckman"]
    mem, dist, model = fit_pair(cls, formula, kw, sel_df, 7)
    pred = model.predict_dask(dist.params, which="psel")
    assert isinstance(pred, dd.Series)
    assert rel(pred.compute().to_numpy(), mem.predict(which="psel").to_numpy()) < RTOL
    pred = dist.predict(which="ycond")
    assert isinstance(pred, dd.Series)
    assert rel(pred.compute().to_numpy(), mem.predict(which="ycond").to_numpy()) < RTOL
    for which in ("ycond", "yexpected", "psel"):
        a, b = mem.get_margeff(which), dist.get_margeff(which)
        assert list(b.summary_frame().index) == list(a.summary_frame().index)
        assert rel(b.margeff, a.margeff) < RTOL and rel(b.margeff_se, a.margeff_se) < RTOL
    with pytest.raises(NotImplementedError, match="at='overall'"):
        dist.get_margeff(at="mean")


@pytest.mark.parametrize("family, which", [("HeckProbit", "pcond"),
                                           ("BivariateProbit", "p11")])
def test_model_predict_dask(family, which, sel_df, synchronous):
    cls, formula, kw = FAMILIES[family]
    mem, dist, model = fit_pair(cls, formula, kw, sel_df, 7)
    pred = model.predict_dask(dist.params, which=which).compute().to_numpy()
    ref = np.asarray(mem.predict(which=which), float)
    ok = np.isfinite(ref)
    assert ok.sum() > 100 and np.array_equal(ok, np.isfinite(pred))
    assert rel(pred[ok], ref[ok]) < RTOL


@pytest.mark.parametrize("family, whiches", [("HeckProbit", ("pmargin", "pcond", "psel")),
                                             ("BivariateProbit", ("p11", "pmarg2", "pcond1"))])
def test_bivariate_index_margins_and_predict(family, whiches, sel_df, synchronous):
    # the effects agree to rounding; their standard errors come from a central
    # difference Jacobian (statsmodels' steps, ~6e-6 relative) that amplifies
    # the rounding of sums taken in another order by 1/step: hence 1e-8
    cls, formula, kw = FAMILIES[family]
    mem, dist, _ = fit_pair(cls, formula, kw, sel_df, 7)
    for which in whiches:
        for at in ("overall", "mean"):
            a, b = mem.get_margeff(which=which, at=at), dist.get_margeff(which=which, at=at)
            assert list(b.summary_frame().index) == list(a.summary_frame().index)
            assert rel(b.margeff, a.margeff) < RTOL
            assert rel(b.margeff_se, a.margeff_se) < 1e-8
    if family == "HeckProbit":
        a, b = mem.get_margeff(sample="selected"), dist.get_margeff(sample="selected")
        assert rel(b.margeff, a.margeff) < RTOL and rel(b.margeff_se, a.margeff_se) < 1e-8
        assert b.n_used == a.n_used == int(sel_df.s.sum())
    pred = dist.predict(which=whiches[0])
    assert isinstance(pred, dd.Series)
    ref = np.asarray(mem.predict(which=whiches[0]), float)
    ok = np.isfinite(ref)
    assert rel(pred.compute().to_numpy()[ok], ref[ok]) < RTOL
    # discrete changes of the 0/1 regressors (BivariateProbit: C(c)), as in memory
    a, b = mem.get_margeff(dummy=True), dist.get_margeff(dummy=True)
    assert a.dummies == b.dummies and (family == "HeckProbit" or len(b.dummies) == 2)
    assert rel(b.margeff, a.margeff) < RTOL and rel(b.margeff_se, a.margeff_se) < 1e-8


def test_mnlogit_average_marginal_effects(mn_df, synchronous):
    mem, dist, _ = fit_pair(MNLogit, "mode ~ x1 + x2 + C(c)", {}, mn_df, 7)
    for method in ("dydx", "eyex"):
        a, b = mem.get_margeff(method=method), dist.get_margeff(method=method)
        assert rel(b.margeff, a.margeff) < RTOL and rel(b.margeff_se, a.margeff_se) < RTOL
    assert "dy/dx" in str(dist.get_margeff().summary())


# ---------------------------------------------------------------------------
# Bad input: errors naming the partition or column; no model, no result
# ---------------------------------------------------------------------------

def _from_parts(frames, meta=None):
    from dask import delayed

    return dd.from_delayed([delayed(f) for f in frames], meta=meta if meta is not None
                           else frames[0].iloc[:0], verify_meta=False)


def test_nan_in_a_partition_is_an_error_naming_it(sel_df, synchronous):
    df = sel_df.copy()
    df.loc[1000, "z"] = np.nan
    ddf = dd.from_pandas(df, npartitions=3)   # rows 1000-1499 are partition 2
    with pytest.raises(ValueError, match=r"partition 2: missing .*'z' \(1 rows\)"):
        Heckman.from_formula("y ~ x1 + x2", ddf, selection="s ~ x1 + z", missing="raise")


def test_undeclared_category_is_an_error_naming_partition_and_column(sel_df, synchronous):
    df = sel_df.copy()
    df["c"] = df["c"].astype(pd.CategoricalDtype(["a", "b", "c"]))
    parts = [df.iloc[:700].copy(), df.iloc[700:].copy()]
    parts[1]["c"] = parts[1]["c"].cat.add_categories(["d"])
    parts[1].iloc[5, parts[1].columns.get_loc("c")] = "d"
    with pytest.raises(ValueError, match=r"partition 1: column 'c' holds 1 value\(s\) outside "
                                         r"its declared categories \('d'\)"):
        Heckman.from_formula("y ~ x1 + C(c)", _from_parts(parts, df.iloc[:0]),
                             selection="s ~ x1 + z")


def test_zero_row_partition_is_an_error_naming_it(sel_df, synchronous):
    parts = [sel_df.iloc[:700], sel_df.iloc[:0], sel_df.iloc[700:]]
    with pytest.raises(ValueError, match=r"partition\(s\) \[1\] .* zero rows"):
        BivariateProbit.from_formula(["y1 ~ x1", "y2 ~ x2"], _from_parts(parts))


def test_missing_column_is_an_error_naming_it(sel_df, synchronous):
    ddf = dd.from_pandas(sel_df, npartitions=2)
    with pytest.raises(ValueError, match=r"column\(s\) \['income'\]"):
        Heckman.from_formula("y ~ x1 + income", ddf, selection="s ~ x1 + z")
    # a partition whose columns differ from the collection's metadata
    parts = [sel_df.iloc[:700], sel_df.iloc[700:].drop(columns="z")]
    with pytest.raises(ValueError, match=r"partition 1 lacks the column\(s\) \['z'\]"):
        Heckman.from_formula("y ~ x1", _from_parts(parts), selection="s ~ x1 + z")


def test_bad_outcomes_and_designs_are_errors(sel_df, mn_df, synchronous):
    df = sel_df.copy()
    df.loc[5, "s"] = 2.0
    with pytest.raises(ValueError, match=r"selection indicator 's' must be binary .*partition 0"):
        Heckman.from_formula("y ~ x1", dd.from_pandas(df, npartitions=3),
                             selection="s ~ x1 + z")
    df = sel_df.assign(x3=2 * sel_df.x1)
    with pytest.raises(ValueError, match=r"rank deficient.*'x3'"):
        BivariateProbit.from_formula(["y1 ~ x1 + x3", "y2 ~ x2"],
                                     dd.from_pandas(df, npartitions=3))
    df = mn_df.copy()
    df["mode"] = pd.Categorical(df["mode"], categories=["bike", "bus", "car", "walk", "tram"])
    with pytest.raises(ValueError, match=r"declared but absent: \['tram'\]"):
        MNLogit.from_formula("mode ~ x1", dd.from_pandas(df, npartitions=3))


def test_mnlogit_separation_is_a_warning_not_a_converged_result(synchronous):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=600)})
    df["y"] = np.where(df.x > 0.5, 2, rng.integers(0, 2, 600))
    model = MNLogit.from_formula("y ~ x", dd.from_pandas(df, npartitions=3), persist=True)
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    with pytest.warns(PerfectSeparationWarning, match="separated"), \
            pytest.warns(ConvergenceWarning):
        res = model.fit(maxiter=50)
    assert not res.mle_retvals["converged"]


def test_rows_stay_on_the_workers(sel_df, synchronous):
    model = Heckman.from_formula("y ~ x1", dd.from_pandas(sel_df, npartitions=2),
                                 selection="s ~ x1 + z")
    with pytest.raises(NotImplementedError, match="on the workers"):
        model.loglikeobs(model.start_params)
    with pytest.raises(NotImplementedError, match="on the workers"):
        np.asarray(model.exog)


# ---------------------------------------------------------------------------
# On a LocalCluster of worker processes
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=50)
    c = distributed.Client(cluster)
    c.run(__import__, "econderiv.models.heckman")  # the workers import the package once
    yield c
    c.close()
    cluster.close()


def test_cluster_of_processes_equals_in_memory(client, mn_df):
    cls, formula, kw, df = MNLogit, "mode ~ x1 + x2", {}, mn_df
    groups = df["g"].to_numpy()
    mem, dist, model = fit_pair(cls, formula, kw, df, 7,
                                {"cov_type": "cluster", "cov_kwds": {"groups": groups}},
                                {"cov_type": "cluster", "cov_kwds": {"groups": "g"}})
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL


def test_fit_survives_a_killed_worker(client, sel_df):
    cls, formula, kw = FAMILIES["Heckman"]
    ddf = dd.from_pandas(sel_df, npartitions=7)
    mem = cls.from_formula(formula, sel_df, **kw).fit()
    calm = cls.from_formula(formula, ddf, persist=True, **kw)
    calm_res = calm.fit()
    model = cls.from_formula(formula, ddf, persist=True, **kw)
    pids = client.run(os.getpid)
    killed = []

    def kill_one_worker(params):
        if not killed:  # after the first Newton step
            addr, pid = sorted(pids.items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(addr)

    with distributed.get_task_stream(client) as stream, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(callback=kill_one_worker)
    rebuilt = sum("build_partition" in str(t["key"]) for t in stream.data)
    assert killed
    assert res.converged
    assert rel(res.params, mem.params) < RTOL and rel(res.bse, mem.bse) < RTOL
    assert rel(res.params, calm_res.params) < RTOL
    # the lost partitions were rebuilt from their lineage; the fit took the
    # same number of passes over the data as the undisturbed one
    assert 1 <= rebuilt <= 7
    assert model._backend.passes == calm._backend.passes


# ---------------------------------------------------------------------------
# Dask arrays as endog / exog
# ---------------------------------------------------------------------------

def array_inputs(n=1200, seed=5):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    Z = np.column_stack([np.ones(n), X[:, 1], rng.normal(size=n)])
    u = rng.normal(size=n)
    s = (Z @ [0.2, 1.0, 1.0] + u > 0).astype(float)
    y = np.where(s == 1, X @ [1.0, 1.0, -0.5] + 0.5 * u + rng.normal(size=n), np.nan)
    yb = np.where(s == 1, (X @ [0.2, 1.0, -1.0] + 0.5 * u + rng.normal(size=n) > 0)
                  .astype(float), np.nan)
    Y = np.column_stack([s, X[:, 1] + u > 0]).astype(float)
    ym = (np.column_stack([np.zeros(n), 0.3 + X[:, 1], -0.2 + X[:, 2]])
          + rng.gumbel(size=(n, 3))).argmax(1)
    w = rng.integers(1, 4, n).astype(float)
    return {"X": X, "Z": Z, "s": s, "y": y, "yb": yb, "Y": Y, "ym": ym, "w": w}


ARRAY_CASES = {
    "Heckman": (Heckman, ("y", "X", "s", "Z")),
    "HeckProbit": (HeckProbit, ("yb", "X", "s", "Z")),
    "BivariateProbit": (BivariateProbit, ("Y", "X", "Z")),
    "BivariateProbit, one exog": (BivariateProbit, ("Y", "X")),
    "MNLogit": (MNLogit, ("ym", "X")),
}


@pytest.mark.parametrize("case, nchunks", [(c, k) for c in ARRAY_CASES for k in (1, 7)]
                         + [("Heckman", 2), ("MNLogit", 2)])
def test_dask_arrays_equal_in_memory(case, nchunks, synchronous):
    import dask.array as da

    data = array_inputs()
    cls, keys = ARRAY_CASES[case]
    n = len(data["X"])
    chunk = -(-n // nchunks)
    args = [data[k] for k in keys]
    dargs = [da.from_array(a, chunks=(chunk,) + a.shape[1:]) for a in args]
    mem = cls(*args).fit()
    model = cls(*dargs)
    assert type(model).__name__ == cls.__name__ and model._backend.npartitions == nchunks
    dist = model.fit()
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert dist.nobs == mem.nobs
    if cls is MNLogit:
        assert list(dist.params.index) == mem.model.data.xnames == ["const", "x1", "x2"]
    else:
        # statsmodels' names for array columns: const, x1, ... (z1, ... for selection)
        assert model.param_names == mem.model.param_names


def test_dask_arrays_with_weights(synchronous):
    import dask.array as da

    d = array_inputs()
    mem = Heckman(d["y"], d["X"], d["s"], d["Z"], freq_weights=d["w"]).fit()
    dist = Heckman(*(da.from_array(d[k], chunks=300) for k in ("y", "X", "s", "Z")),
                   freq_weights=da.from_array(d["w"], chunks=300)).fit()
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    assert dist.nobs == mem.nobs == d["w"].sum()


def test_dask_arrays_bad_input(synchronous):
    import dask.array as da

    d = array_inputs()
    X = da.from_array(d["X"], chunks=300)
    with pytest.raises(ValueError, match="exog is not a dask array"):
        MNLogit(da.from_array(d["ym"], chunks=300), d["X"])
    with pytest.raises(ValueError, match="different numbers of rows"):
        MNLogit(da.from_array(d["ym"][:-5], chunks=300), X)
    with pytest.raises(ValueError, match="endog must have two columns"):
        BivariateProbit(da.from_array(d["s"], chunks=300), X)
    bad = d["X"].copy()
    bad[700, 2] = np.nan
    with pytest.raises(ValueError, match="partition 2.*'x2'"):
        MNLogit(da.from_array(d["ym"], chunks=300), da.from_array(bad, chunks=300),
                missing="raise")
    unknown = X[X[:, 1] > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        MNLogit(unknown[:, 0], unknown)
