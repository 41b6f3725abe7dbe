"""ChoiceLogit on dask partitions (econderiv.models._dask_choice): the fit from
1, 2 and 7 partitions equals the in-memory fit (long and wide data, Böhning and
Newton, weights, HC0/HC1/cluster, missing='drop'); predictions, shares and
elasticities equal the in-memory ones; a case split across partitions, an
undeclared alternative, NaN and empty partitions are errors naming the
partition, the case or the column.

The partitions are summed on dask's synchronous scheduler (the task graph a
cluster runs); one test runs it on a LocalCluster with a worker process
(the partition specification is pickled to the worker).
"""

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")

from econderiv import datasets  # noqa: E402
from econderiv.models.choicelogit import ChoiceLogit  # noqa: E402

RTOL = 1e-10
ALTS = ["bus", "car", "train", "walk"]
FISH = ["beach", "pier", "boat", "charter"]
VARYING = {"price": {a: "p" + a for a in FISH}, "catch": {a: "c" + a for a in FISH}}
FORMULA = "chosen ~ cost + time | income"


def rel(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def long_frame(n_cases=300, seed=0):
    """Long data with unbalanced choice sets (each case offers 2 to 4
    alternatives), case ids not sorted, a case weight and a cluster id per case."""
    rng = np.random.default_rng(seed)
    J = len(ALTS)
    offered = rng.random((n_cases, J)) < 0.75
    offered[np.arange(n_cases), rng.integers(0, J, n_cases)] = True
    offered[np.arange(n_cases), (rng.integers(1, J, n_cases) + offered.argmax(1)) % J] = True
    cost = rng.gamma(2.0, 1.0, (n_cases, J))
    time = rng.normal(size=(n_cases, J))
    income = rng.normal(size=n_cases)
    eta = -0.8 * cost + 0.5 * time + np.array([0, 0.4, -0.3, 0.2]) + np.outer(
        income, [0, 0.5, -0.4, 0.1])
    eta = np.where(offered, eta + rng.gumbel(size=eta.shape), -np.inf)
    choice = eta.argmax(1)
    case_id = rng.permutation(n_cases) + 1000
    i, j = np.nonzero(offered)
    df = pd.DataFrame({"case": case_id[i], "alt": np.array(ALTS)[j], "cost": cost[i, j],
                       "time": time[i, j], "income": income[i],
                       "chosen": (choice[i] == j).astype(float),
                       "w": (1 + case_id % 3)[i].astype(float),
                       "pw": (0.5 + (7 * case_id % 11) / 10)[i],
                       "g": (case_id % 13)[i], "h": (case_id // 13 % 7)[i]})
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="module")
def long_df():
    return long_frame()


@pytest.fixture(scope="module")
def fishing():
    return datasets.load("fishing")


@pytest.fixture(autouse=True)
def synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def by_case(df, npartitions):
    """Each case's rows in one partition: the case id as a sorted index."""
    return dd.from_pandas(df.set_index("case"), npartitions=npartitions)


def _from_parts(frames):
    from dask import delayed

    return dd.from_delayed([delayed(f) for f in frames], meta=frames[0].iloc[:0],
                           verify_meta=False)


def check_equal(dist, mem, model=None):
    assert list(dist.params.index) == list(mem.params.index)
    assert rel(dist.params, mem.params) < RTOL
    assert rel(dist.bse, mem.bse) < RTOL
    assert abs(dist.llf - mem.llf) < RTOL * abs(mem.llf)
    assert dist.nobs == mem.nobs and dist.converged


@pytest.fixture(scope="module")
def long_mem(long_df):
    return ChoiceLogit.from_formula(FORMULA, long_df, case="case", alternative="alt").fit()


# ---------------------------------------------------------------------------
# Equality with the in-memory fit
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("npartitions", [1, 2, 7])
def test_long_data_equals_in_memory(npartitions, long_df, long_mem):
    model = ChoiceLogit.from_formula(FORMULA, by_case(long_df, npartitions), case="case",
                                     alternative="alt", persist=True)
    assert isinstance(model, ChoiceLogit) and type(model).__name__ == "ChoiceLogit"
    assert model._backend.npartitions == npartitions
    dist = model.fit()
    check_equal(dist, long_mem)
    assert model.alternatives == long_mem.model.alternatives
    # Böhning's phase: passes without the Hessian; the bound summed once (summary pass)
    assert dist.mle_retvals["passes"] == model._backend.passes
    kinds = [name for name, _ in model._backend.pass_log]
    assert kinds.count("_choice_score_sums") == dist.mle_retvals["bohning"]["fcalls"]
    assert kinds.count("_choice_score_sums") + kinds.count("_choice_hessian_sums") == \
        model._backend.passes - 2
    assert "Conditional Logit" in str(dist.summary())


@pytest.mark.parametrize("npartitions", [1, 2, 7])
def test_wide_data_equals_in_memory(npartitions, fishing):
    formula = "mode ~ price + catch | income"
    mem = ChoiceLogit.from_formula(formula, fishing, varying=VARYING).fit()
    model = ChoiceLogit.from_formula(formula, dd.from_pandas(fishing, npartitions=npartitions),
                                     varying=VARYING, persist=True)
    dist = model.fit()
    check_equal(dist, mem)
    assert model.base_alternative == "beach" and model.n_long == mem.model.n_long


def test_wide_data_missing_weights_and_clusters(fishing):
    formula = "mode ~ price + catch | income"
    df = fishing.assign(w=1 + np.arange(len(fishing)) % 3, g=np.arange(len(fishing)) % 17)
    df.loc[[5, 600, 1000], "ppier"] = np.nan     # pier not offered in those cases
    mem = ChoiceLogit.from_formula(formula, df, varying=VARYING, freq_weights="w").fit(
        cov_type="cluster", cov_kwds={"groups": "g"})
    dist = ChoiceLogit.from_formula(formula, dd.from_pandas(df, npartitions=7),
                                    varying=VARYING, freq_weights="w").fit(
        cov_type="cluster", cov_kwds={"groups": "g"})
    check_equal(dist, mem)
    assert dist.n_groups == mem.n_groups == 17
    df.loc[7, "income"] = np.nan                 # the case dropped
    mem = ChoiceLogit.from_formula(formula, df, varying=VARYING, missing="drop").fit()
    model = ChoiceLogit.from_formula(formula, dd.from_pandas(df, npartitions=7),
                                     varying=VARYING, missing="drop")
    assert model.n_dropped == mem.model.n_dropped == 1
    check_equal(model.fit(), mem)
    with pytest.raises(ValueError, match=r"partition 0: missing .* 'income' \(4 rows of the "
                                         r"long data\)"):
        ChoiceLogit.from_formula(formula, dd.from_pandas(df, npartitions=7), varying=VARYING)


def test_newton_and_no_constants_equal_in_memory(long_df):
    formula = "chosen ~ 0 + cost + time"
    mem = ChoiceLogit.from_formula(formula, long_df, case="case", alternative="alt",
                                   base="car").fit(method="newton_trust")
    model = ChoiceLogit.from_formula(formula, by_case(long_df, 7), case="case",
                                     alternative="alt", base="car")   # re-reads each pass
    check_equal(model.fit(method="newton_trust"), mem)


def test_unsorted_partitions_holding_whole_cases(long_df, long_mem):
    # cases spread over partitions by id (not sorted): the groupby check passes
    parts = [long_df[long_df.case % 3 == r] for r in range(3)]
    dist = ChoiceLogit.from_formula(FORMULA, _from_parts(parts), case="case",
                                    alternative="alt").fit()
    check_equal(dist, long_mem)


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "cluster"])
def test_robust_covariances_equal_in_memory(cov_type, long_df):
    kw = {"cov_type": cov_type, "cov_kwds": {"groups": "g"} if cov_type == "cluster" else None}
    mem = ChoiceLogit.from_formula(FORMULA, long_df, case="case", alternative="alt").fit(**kw)
    dist = ChoiceLogit.from_formula(FORMULA, by_case(long_df, 7), case="case",
                                    alternative="alt", persist=True).fit(**kw)
    assert dist.cov_type == mem.cov_type == cov_type
    check_equal(dist, mem)
    if cov_type == "cluster":
        assert dist.n_groups == mem.n_groups == 13
        with pytest.raises(ValueError, match=r"partition \d: the cluster column 'time' must "
                                             r"be constant within a case; it varies within "
                                             r"case \d+"):
            dist.model.fit(cov_type="cluster", cov_kwds={"groups": "time"})


def test_two_way_cluster_equals_in_memory(long_df):
    # the core's three groupbys (g, h, g x h) over the cases' score totals; with
    # 7 clusters in h both get CGM's eigenvalue fix (and say so)
    with pytest.warns(RuntimeWarning, match="not positive semi-definite"):
        mem = ChoiceLogit.from_formula(FORMULA, long_df, case="case", alternative="alt").fit(
            cov_type="cluster", cov_kwds={"groups": long_df[["g", "h"]].to_numpy()})
    with pytest.warns(RuntimeWarning, match="not positive semi-definite"):
        dist = ChoiceLogit.from_formula(FORMULA, by_case(long_df, 7), case="case",
                                        alternative="alt", persist=True).fit(
            cov_type="cluster", cov_kwds={"groups": ["g", "h"]})
    check_equal(dist, mem)
    assert tuple(dist.n_groups) == tuple(mem.n_groups) == (13, 7)


@pytest.mark.parametrize("key, col", [("freq_weights", "w"), ("prob_weights", "pw"),
                                      ("importance_weights", "pw")])
def test_weights_equal_in_memory(key, col, long_df):
    mem = ChoiceLogit.from_formula(FORMULA, long_df, case="case", alternative="alt",
                                   **{key: col}).fit()
    model = ChoiceLogit.from_formula(FORMULA, by_case(long_df, 7), case="case",
                                     alternative="alt", persist=True, **{key: col})
    dist = model.fit()
    assert model.weight_type == mem.model.weight_type and dist.cov_type == mem.cov_type
    check_equal(dist, mem)
    assert f"sum {float(np.sum(mem.model.weights)):.6g}" in str(dist.summary())
    shares_mem, shares = mem.predicted_shares(), dist.predicted_shares()
    assert rel(shares, shares_mem) < RTOL


def test_missing_drop_equals_in_memory(long_df):
    df = long_df.copy()
    df.loc[[3, 40, 200], "time"] = np.nan     # those alternatives unavailable (or case lost)
    df.loc[df.case == df.case.iloc[77], "income"] = np.nan   # the case dropped
    mem = ChoiceLogit.from_formula(FORMULA, df, case="case", alternative="alt",
                                   missing="drop").fit()
    model = ChoiceLogit.from_formula(FORMULA, by_case(df, 7), case="case", alternative="alt",
                                     missing="drop")
    assert (model.n_dropped, model.n_unavailable) == (mem.model.n_dropped,
                                                      mem.model.n_unavailable)
    assert model.n_dropped >= 1 and model.n_unavailable >= 1
    check_equal(model.fit(), mem)


# ---------------------------------------------------------------------------
# Predictions, shares, elasticities
# ---------------------------------------------------------------------------

def test_predictions_shares_and_elasticities(long_df, long_mem):
    model = ChoiceLogit.from_formula(FORMULA, by_case(long_df, 7), case="case",
                                     alternative="alt", persist=True)
    dist = model.fit()
    P = dist.probabilities()
    assert isinstance(P, dd.DataFrame)
    P = P.compute()
    ref = long_mem.probabilities().loc[P.index]
    assert list(P.columns) == list(ref.columns)
    assert np.array_equal(np.isnan(P.to_numpy()), np.isnan(ref.to_numpy()))
    ok = ~np.isnan(ref.to_numpy())
    assert rel(P.to_numpy()[ok], ref.to_numpy()[ok]) < RTOL
    assert rel(dist.predicted_shares(), long_mem.predicted_shares()) < RTOL
    for at in ("overall", "mean"):
        E, se = dist.elasticities("cost", at=at, stderr=True)
        E0, se0 = long_mem.elasticities("cost", at=at, stderr=True)
        assert rel(E, E0) < RTOL and rel(se, se0) < RTOL
    assert rel(dist.wtp(cost="cost")["wtp"], long_mem.wtp(cost="cost")["wtp"]) < RTOL
    # new data (a price change) from dask partitions and from pandas
    new = long_df.assign(cost=long_df.cost * np.where(long_df.alt == "car", 1.2, 1.0))
    ref_new = long_mem.predicted_shares(new)
    assert rel(dist.predicted_shares(by_case(new, 3)), ref_new) < RTOL
    assert rel(dist.predicted_shares(new), ref_new) < RTOL
    Pn = dist.probabilities(by_case(new.drop(columns="chosen"), 3)).compute()
    refn = long_mem.probabilities(new).loc[Pn.index].to_numpy()
    ok = ~np.isnan(refn)
    assert rel(Pn.to_numpy()[ok], refn[ok]) < RTOL
    iia, iia_mem = dist.iia_test("walk"), long_mem.iia_test("walk")
    assert iia.df == iia_mem.df and abs(iia.statistic - iia_mem.statistic) < RTOL * max(
        1.0, iia_mem.statistic)
    with pytest.raises(NotImplementedError, match="on the workers"):
        np.asarray(model._X)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

def test_case_split_across_partitions_is_an_error_naming_it(long_df):
    df = long_df.sort_values("case").reset_index(drop=True)
    first = df.case.iloc[0]
    parts = [df.iloc[:1], df.iloc[1:]]     # the first case's rows in partitions 0 and 1
    with pytest.raises(ValueError, match=rf"1 case\(s\) .* case {first}, column 'case', in "
                                         r"partitions 0 and 1.*set_index\('case'\)"):
        ChoiceLogit.from_formula(FORMULA, _from_parts(parts), case="case", alternative="alt")
    # row-based partitioning of long data splits cases
    with pytest.raises(ValueError, match="two or more partitions"):
        ChoiceLogit.from_formula(FORMULA, dd.from_pandas(df, npartitions=7), case="case",
                                 alternative="alt")


def test_undeclared_alternatives_are_errors_naming_partition_and_column(long_df):
    ddf = by_case(long_df, 3)
    with pytest.raises(ValueError, match=r"partition \d: the alternative column 'alt' holds "
                                         r"\d+ row\(s\) of alternatives not declared \('walk'"):
        ChoiceLogit.from_formula(FORMULA, ddf, case="case", alternative="alt",
                                 alternatives=["bus", "car", "train"])
    df = long_df.assign(alt=pd.Categorical(long_df.alt, categories=ALTS + ["tram"]))
    with pytest.raises(ValueError, match=r"\['tram'\] are declared but never available"):
        ChoiceLogit.from_formula(FORMULA, by_case(df, 3), case="case", alternative="alt")


def test_nan_and_bad_choices_are_errors_naming_the_partition(long_df):
    df = long_df.sort_values("case").reset_index(drop=True)
    df.loc[len(df) - 1, "income"] = np.nan
    with pytest.raises(ValueError, match=r"partition 2: missing .* case regressor\(s\) "
                                         r"'income' \(1 rows\)"):
        ChoiceLogit.from_formula(FORMULA, by_case(df, 3), case="case", alternative="alt")
    df = long_df.copy()
    df.loc[df.chosen == 1, "chosen"] = 0.0
    df.loc[0, "chosen"] = 1.0
    with pytest.raises(ValueError, match=r"partition \d: each case must have exactly one "
                                         "chosen alternative"):
        ChoiceLogit.from_formula(FORMULA, by_case(df, 3), case="case", alternative="alt")


def test_zero_row_partition_and_missing_columns_are_errors(long_df, fishing):
    df = long_df.sort_values("case")
    parts = [df.iloc[:400], df.iloc[:0], df.iloc[400:]]
    parts = [parts[0][parts[0].case < df.case.iloc[399]], parts[1],
             df[df.case >= df.case.iloc[399]]]
    with pytest.raises(ValueError, match=r"partition\(s\) \[1\] .* zero rows"):
        ChoiceLogit.from_formula(FORMULA, _from_parts(parts), case="case", alternative="alt")
    # a partition whose columns differ from the collection's
    parts = [df[df.case < 1150], df[df.case >= 1150].drop(columns="income")]
    with pytest.raises(ValueError, match=r"partition 1 lacks the column\(s\) \['income'\]"):
        ChoiceLogit.from_formula(FORMULA, _from_parts(parts), case="case", alternative="alt")
    with pytest.raises(ValueError, match=r"column\(s\) \['price'\]"):
        ChoiceLogit.from_formula("chosen ~ price", by_case(long_df, 2), case="case",
                                 alternative="alt")
    with pytest.raises(ValueError, match=r"varying names column\(s\) \['pbus'\]"):
        ChoiceLogit.from_formula("mode ~ price", dd.from_pandas(fishing, npartitions=2),
                                 varying={"price": {"beach": "pbeach", "bus": "pbus"}})
    wide = fishing.copy()
    wide.loc[700, "mode"] = "boot"
    with pytest.raises(ValueError, match=r"partition 1: the choice column 'mode' holds 1 "
                                         r"value\(s\) that are not declared"):
        ChoiceLogit.from_formula("mode ~ price + catch", dd.from_pandas(wide, npartitions=2),
                                 varying=VARYING, alternatives=FISH)


def test_identification_errors_as_in_memory(long_df):
    df = long_df.assign(flat=1.0 + (long_df.case % 5))  # constant within every case
    with pytest.raises(ValueError, match=r"\['flat'\] do not vary"):
        ChoiceLogit.from_formula("chosen ~ cost + flat", by_case(df, 3), case="case",
                                 alternative="alt")
    df = long_df.assign(inc2=2 * long_df.income)
    with pytest.raises(ValueError, match="not identified.*inc2"):
        ChoiceLogit.from_formula("chosen ~ cost | income + inc2", by_case(df, 3), case="case",
                                 alternative="alt")


# ---------------------------------------------------------------------------
# On worker processes
# ---------------------------------------------------------------------------

def test_partition_spec_pickles_and_rebuilds_the_design(long_df):
    # what a worker process receives: the spec without patsy's design
    # information, rebuilt there from the learning frame
    import pickle

    from econderiv.models._dask_choice import build_choice_partition

    df = long_df.assign(region=np.where(long_df.income > 0, "north", "south"))
    formula = "chosen ~ cost + time | income + C(region)"
    model = ChoiceLogit.from_formula(formula, by_case(df, 2), case="case", alternative="alt")
    spec = model._backend.spec
    again = pickle.loads(pickle.dumps(spec))
    assert again._infos is None and again.key == spec.key
    frame = by_case(df, 2).partitions[1].compute()
    from econderiv.models import _dask_choice

    _dask_choice._INFOS.clear()                 # as in a fresh worker process
    a, b = build_choice_partition(frame, spec, 1), build_choice_partition(frame, again, 1)
    for name in ("X", "Z", "avail", "y"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    mem = ChoiceLogit.from_formula(formula, df, case="case", alternative="alt")
    assert model.param_names == mem.param_names and "car:C(region)[T.south]" in mem.param_names


def test_local_cluster_of_processes(long_df, long_mem):
    distributed = pytest.importorskip("distributed")
    with dask.config.set(scheduler=None), distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0",
            silence_logs=50) as cluster, distributed.Client(cluster):
        dist = ChoiceLogit.from_formula(FORMULA, by_case(long_df, 7), case="case",
                                        alternative="alt").fit(cov_type="cluster",
                                                               cov_kwds={"groups": "g"})
    mem = ChoiceLogit.from_formula(FORMULA, long_df, case="case", alternative="alt").fit(
        cov_type="cluster", cov_kwds={"groups": "g"})
    check_equal(dist, mem)
