"""The switching regression and the endogenous treatment model on dask
partitions (econderiv.models._dask_treatment) equal the in-memory fits.

Equality over 1, 2 and 7 partitions on dask's synchronous scheduler (the same
task graph, summed in this process): ML and two-step estimates, standard
errors, the likelihood with the correlations at zero, weights of the three
kinds, robust and cluster covariances, treatment effects and predictions;
then bad input.
"""

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

from econderiv import EndogenousTreatment, SwitchingRegression  # noqa: E402

RTOL = 1e-10


def rel(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def frame(n=800, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "z": rng.normal(size=n), "g": rng.integers(0, 25, n),
                       "c": rng.choice(["a", "b", "c"], n)})
    u = rng.normal(size=n)
    e0 = 0.5 * u + 0.8 * rng.normal(size=n)
    e1 = -0.4 * u + 0.9 * rng.normal(size=n)
    df["s"] = (0.2 + 0.5 * df.x1 + df.z + u > 0).astype(float)
    df["y"] = np.where(df.s == 1, 0.5 + df.x1 - 0.3 * df.x2 + (df.c == "b") + e1,
                       1 + 0.5 * df.x2 + e0)
    # two outcome columns, each read only in its regime (NaN elsewhere)
    df["y0"] = np.where(df.s == 0, df.y, np.nan)
    df["y1"] = np.where(df.s == 1, df.y, np.nan)
    df["d"] = df["s"]
    df["db"] = df["s"] == 1
    df["b"] = (df.x2 > 0).astype(float)
    df["yt"] = 1 + df.x1 + 1.5 * df.d - 0.5 * df.d * df.x2 + 0.7 * u + 0.7 * rng.normal(size=n)
    return df


SWITCHING = (SwitchingRegression, ["y ~ x1 + x2 + C(c)", "y ~ x1 + x2 + C(c)"],
             {"selection": "s ~ x1 + z"})
TREATMENT = (EndogenousTreatment, "yt ~ x1 + d", {"treatment": "d ~ x1 + z"})
FAMILIES = {"switching": SWITCHING, "treatment": TREATMENT}


@pytest.fixture(scope="module")
def df():
    return frame()


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def both(cls, formula, kw, df, npartitions=7, **build):
    """The in-memory model and the model on ``npartitions`` dask partitions."""
    mem = cls.from_formula(formula, df, **kw, **build)
    build = {k: ("w" if k.endswith("_weights") else v) for k, v in build.items()}
    dist = cls.from_formula(formula, dd.from_pandas(df, npartitions=npartitions), **kw,
                            persist=True, **build)
    return mem, dist


# ---------------------------------------------------------------------------
# Equality with the in-memory fits
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("npartitions", [1, 2, 7])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_ml_equals_in_memory(family, npartitions, df):
    cls, formula, kw = FAMILIES[family]
    mem_model, model = both(cls, formula, kw, df, npartitions)
    mem, dist = mem_model.fit(), model.fit()
    assert isinstance(model, cls) and type(model).__name__ == cls.__name__
    assert model._backend.npartitions == npartitions
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
    assert abs(dist.llf_restricted - mem.llf_restricted) < RTOL * abs(mem.llf_restricted)
    assert dist.converged and dist.nobs == mem.nobs
    assert rel(dist.ancillary.iloc[:, :2], mem.ancillary.iloc[:, :2]) < RTOL
    assert str(dist.summary()).count("coef") >= 3


@pytest.mark.parametrize("npartitions", [1, 2, 7])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_twostep_equals_in_memory(family, npartitions, df):
    cls, formula, kw = FAMILIES[family]
    mem_model, model = both(cls, formula, kw, df, npartitions)
    mem, dist = mem_model.fit_twostep(), model.fit_twostep()
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert rel(dist.ancillary["coef"], mem.ancillary["coef"]) < RTOL
    assert dist.cov_type == "nonrobust" and dist.converged
    assert "two-step" in str(dist.summary())


def test_switching_two_outcome_columns_and_missing_rows(df):
    # y0 is NaN where s = 1 and y1 where s = 0 (allowed); x2 is missing in a few
    # rows of each regime: those rows drop only where the regime needs x2
    d = df.copy()
    d.loc[[3, 40, 41], "x2"] = np.nan
    d.loc[[7, 8], "z"] = np.nan
    formulas = ["y0 ~ x1 + x2", "y1 ~ x1"]
    kw = {"selection": "s ~ x1 + z"}
    mem_model = SwitchingRegression.from_formula(formulas, d, **kw)
    model = SwitchingRegression.from_formula(formulas, dd.from_pandas(d, npartitions=7),
                                             persist=True, **kw)
    assert model.n_dropped == mem_model.n_dropped > 0
    assert (model.nobs_regime0, model.nobs_regime1) == (mem_model.nobs_regime0,
                                                         mem_model.nobs_regime1)
    mem, dist = mem_model.fit(), model.fit()
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    assert model.endog0_name == "y0" and model.endog1_name == "y1"


@pytest.mark.parametrize("family, key", [("switching", "freq_weights"),
                                         ("switching", "prob_weights"),
                                         ("treatment", "importance_weights"),
                                         ("treatment", "prob_weights")])
def test_weights_equal_in_memory(family, key, df):
    cls, formula, kw = FAMILIES[family]
    d = df.assign(w=(1 + np.arange(len(df)) % 3) if key == "freq_weights"
                  else 0.5 + (7 * np.arange(len(df)) % 11) / 10)
    mem_model, model = both(cls, formula, kw, d, 7, **{key: "w"})
    assert model.weight_type == mem_model.weight_type and model.nobs == mem_model.nobs
    mem, dist = mem_model.fit(), model.fit()
    assert dist.cov_type == mem.cov_type  # prob_weights: HC1 with Stata's factor
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
    ts_mem, ts = mem_model.fit_twostep(), model.fit_twostep()
    assert ts.cov_type == ts_mem.cov_type
    assert rel(ts.params, ts_mem.params) < RTOL and rel(ts.bse, ts_mem.bse) < RTOL
    te_mem, te = mem.treatment_effects(), dist.treatment_effects()
    assert rel(te.iloc[:, :2], te_mem.iloc[:, :2]) < RTOL
    # the effects are weighted means over the rows (both families; the
    # switching twin's were unweighted), the two-step's too
    assert te.loc["ATE", "coef"] == pytest.approx(
        np.average(mem.predict(which="te"), weights=d.w), rel=1e-10)
    if family == "switching":
        assert list(te["n"]) == list(te_mem["n"])
        att = np.average(mem.predict(which="tt")[d.s == 1], weights=d.w[d.s == 1])
        assert te.loc["ATT", "coef"] == pytest.approx(att, rel=1e-10)
    te_mem, te = ts_mem.treatment_effects(), ts.treatment_effects()
    assert rel(te.iloc[:, :2], te_mem.iloc[:, :2]) < RTOL


@pytest.mark.parametrize("cov_type", ["opg", "HC1", "cluster"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_robust_covariances_equal_in_memory(family, cov_type, df):
    cls, formula, kw = FAMILIES[family]
    mem_model, model = both(cls, formula, kw, df, 7)
    cov_mem = {"groups": df["g"].to_numpy()} if cov_type == "cluster" else None
    cov_dist = {"groups": "g"} if cov_type == "cluster" else None
    mem = mem_model.fit(cov_type=cov_type, cov_kwds=cov_mem)
    dist = model.fit(cov_type=cov_type, cov_kwds=cov_dist)
    assert dist.cov_type == cov_type
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    if cov_type in ("HC1", "cluster"):  # the two-step's stacked-moment sandwich
        ts_mem = mem_model.fit_twostep(cov_type=cov_type, cov_kwds=cov_mem)
        ts = model.fit_twostep(cov_type=cov_type, cov_kwds=cov_dist)
        assert ts.cov_type == cov_type
        assert rel(ts.bse, ts_mem.bse) < RTOL
        assert rel(np.asarray(ts.cov_params()), np.asarray(ts_mem.cov_params())) < 1e-9
    if cov_type == "cluster":
        assert dist.n_groups == mem.n_groups == 25


def test_switching_effects_and_predictions(df):
    cls, formula, kw = SWITCHING
    mem_model, model = both(cls, formula, kw, df, 7)
    fits = {}
    for how in ("fit_twostep", "fit"):
        mem, dist = fits[how] = getattr(mem_model, how)(), getattr(model, how)()
        a, b = mem.treatment_effects(), dist.treatment_effects()
        assert list(b.index) == list(a.index) == ["ATE", "ATT", "ATU", "E[y0]", "E[y1]"]
        assert rel(b.iloc[:, :2], a.iloc[:, :2]) < RTOL and list(b["n"]) == list(a["n"])
        for which in ("tt", "y0_s1", "psel", "te"):
            pred = dist.predict(which=which)
            assert isinstance(pred, dd.Series)
            assert rel(pred.compute().to_numpy(), mem.predict(which=which).to_numpy()) < 1e-9
    # new pandas data go through the formulas in memory
    new = df.iloc[:50]
    assert rel(dist.predict(new, which="y1_s0"), mem.predict(new, which="y1_s0")) < 1e-9
    mem, dist = fits["fit"]
    a, b = mem.get_margeff("tt"), dist.get_margeff("tt")
    assert list(b.summary_frame().index) == list(a.summary_frame().index)
    assert rel(b.margeff, a.margeff) < RTOL
    # both Jacobians are central differences (statsmodels' steps, ~3e-7 for
    # parameters below 0.1): sums added in another order differ by ~1e-16
    # relative, which those steps turn into ~1e-10 in the standard errors
    assert rel(b.margeff_se, a.margeff_se) < 1e-8
    with pytest.raises(NotImplementedError, match="at='overall'"):
        dist.get_margeff(at="mean")


@pytest.mark.parametrize("formula", ["yt ~ x1 + d", "yt ~ x1 + x2 + b + d + d:x2"])
def test_treatment_effects_and_predictions(formula, df):
    # with an interaction the potential outcomes are rebuilt through the formula
    cls, _, kw = TREATMENT
    mem_model, model = both(cls, formula, kw, df, 7)
    assert (model._rebuild_spec is None) == ("d:x2" not in formula)
    mem, dist = mem_model.fit(), model.fit()
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    a, b = mem.treatment_effects(), dist.treatment_effects()
    assert list(b.index) == list(a.index)
    assert rel(b.iloc[:, :2], a.iloc[:, :2]) < RTOL
    assert abs(dist.atet - mem.atet) < RTOL * abs(mem.atet)
    for which in ("xb", "te", "yctrt", "ycntrt", "ycond", "psel"):
        pred = dist.predict(which=which).compute().to_numpy()
        assert rel(pred, mem.predict(which=which).to_numpy()) < 1e-9
    assert rel(dist.wald_outcome.statistic, mem.wald_outcome.statistic) < 1e-9
    for which in ("yctrt", "ycond"):
        dummy = which == "yctrt" and "b" in formula  # b is 0/1: a discrete change
        a, b = mem.get_margeff(which, dummy=dummy), dist.get_margeff(which, dummy=dummy)
        assert list(b.summary_frame().index) == list(a.summary_frame().index)
        assert b.dummies == a.dummies == (["b"] if dummy else [])
        assert rel(b.margeff, a.margeff) < RTOL
        assert rel(b.margeff_se, a.margeff_se) < 1e-8  # central differences (see above)


@pytest.mark.parametrize("formula, tcol_name", [("yt ~ x1", "d"), ("yt ~ x1 + db", "db[T.True]")])
def test_treatment_column_found_or_added_as_in_memory(formula, tcol_name, df):
    # "yt ~ x1": the indicator is appended as the last regressor, named d;
    # a boolean treatment column: patsy's db[T.True] is the treatment column
    dname = tcol_name.split("[")[0]
    kw = {"treatment": f"{dname} ~ x1 + z"}
    mem_model, model = both(EndogenousTreatment, formula, kw, df, 3)
    assert model.treatment_added == mem_model.treatment_added == (formula == "yt ~ x1")
    assert model._tcol == mem_model._tcol
    assert model.exog_names[model._tcol] == tcol_name
    mem, dist = mem_model.fit(), model.fit()
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL and rel(dist.bse, mem.bse) < RTOL
    assert rel(dist.treatment_effects().iloc[:, :2],
               mem.treatment_effects().iloc[:, :2]) < RTOL
    te = dist.treatment_effects()
    assert abs(te.loc["ATE", "coef"] - mem.params[f"outcome:{tcol_name}"]) < RTOL
    assert abs(te.loc["ATE", "std err"] - mem.bse[f"outcome:{tcol_name}"]) < RTOL


# ---------------------------------------------------------------------------
# Bad input: errors naming the partition, column or count at fault
# ---------------------------------------------------------------------------

def _from_parts(frames, meta):
    from dask import delayed

    return dd.from_delayed([delayed(f) for f in frames], meta=meta, verify_meta=False)


def test_non_binary_indicators_are_errors(df):
    d = df.copy()
    d.loc[400, "s"] = 2.0
    d.loc[400, "d"] = 0.5
    ddf = dd.from_pandas(d, npartitions=3)   # row 400 is in partition 1
    with pytest.raises(ValueError, match=r"selection indicator 's' must be binary .*"
                                         r"partition 1: 1 rows, e.g. 2"):
        SwitchingRegression.from_formula(["y ~ x1", "y ~ x1"], ddf, selection="s ~ x1 + z")
    with pytest.raises(ValueError, match=r"treatment 'd' must be binary .*partition 1.*0.5"):
        EndogenousTreatment.from_formula("yt ~ x1 + d", ddf, treatment="d ~ x1 + z")


def test_one_regime_or_group_only_is_an_error(df):
    ddf = dd.from_pandas(df.assign(s=1.0, d=0.0), npartitions=2)
    with pytest.raises(ValueError, match=r"regime 0 has no observations.*'s' is 1 in all 800"):
        SwitchingRegression.from_formula(["y ~ x1", "y ~ x1"], ddf, selection="s ~ x1 + z")
    with pytest.raises(ValueError, match=r"no treated rows: the treatment 'd' is 0 in all 800"):
        EndogenousTreatment.from_formula("yt ~ x1 + d", ddf, treatment="d ~ x1 + z")


def test_partition_and_column_errors(df):
    d = df.copy()
    d.loc[700, "z"] = np.nan
    ddf = dd.from_pandas(d, npartitions=3)   # rows 534-799 are partition 2
    with pytest.raises(ValueError, match=r"partition 2: missing .*'z' \(1 rows\)"):
        EndogenousTreatment.from_formula("yt ~ x1 + d", ddf, treatment="d ~ x1 + z",
                                         missing="raise")
    # regime 0's outcome may be missing where s = 1, not where s = 0
    d = df.copy()
    row = int(np.flatnonzero(df.s.to_numpy() == 0)[-1])
    d.loc[row, "y0"] = np.nan
    with pytest.raises(ValueError, match=r"partition 2: missing .*'y0' \(1 rows\)"):
        SwitchingRegression.from_formula(["y0 ~ x1", "y1 ~ x1"],
                                         dd.from_pandas(d, npartitions=3),
                                         selection="s ~ x1 + z", missing="raise")
    with pytest.raises(ValueError, match=r"column\(s\) \['income'\]"):
        SwitchingRegression.from_formula(["y ~ x1 + income", "y ~ x1"],
                                         dd.from_pandas(df, npartitions=2),
                                         selection="s ~ x1 + z")
    parts = [df.iloc[:400], df.iloc[:0], df.iloc[400:]]
    with pytest.raises(ValueError, match=r"partition\(s\) \[1\] .* zero rows"):
        EndogenousTreatment.from_formula("yt ~ x1 + d", _from_parts(parts, df.iloc[:0]),
                                         treatment="d ~ x1 + z")
    parts = [df.iloc[:400], df.iloc[400:].drop(columns="z")]
    with pytest.raises(ValueError, match=r"partition 1 lacks the column\(s\) \['z'\]"):
        SwitchingRegression.from_formula(["y ~ x1", "y ~ x1"], _from_parts(parts, df.iloc[:0]),
                                         selection="s ~ x1 + z")
    with pytest.raises(ValueError, match=r"rank deficient.*'x3'"):
        EndogenousTreatment.from_formula("yt ~ x1 + x3 + d",
                                         dd.from_pandas(df.assign(x3=2 * df.x1), npartitions=2),
                                         treatment="d ~ x1 + z")
    with pytest.raises(ValueError, match=r"treatment's left-hand side must be a column"):
        EndogenousTreatment.from_formula("yt ~ x1", dd.from_pandas(df, npartitions=2),
                                         treatment="I(d > 0) ~ x1 + z")


def test_rows_stay_on_the_workers(df):
    cls, formula, kw = TREATMENT
    model = cls.from_formula(formula, dd.from_pandas(df, npartitions=2), **kw)
    with pytest.raises(NotImplementedError, match="on the workers"):
        model.loglikeobs(model.start_params)
    with pytest.raises(NotImplementedError, match="on the workers"):
        np.asarray(model._X)
    with pytest.raises(ValueError, match="not available with fit_twostep"):
        model.fit_twostep(cov_type="opg")
