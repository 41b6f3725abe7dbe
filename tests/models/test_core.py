"""The shared core: one API across the likelihood families, the layering of
the package, and the defects of issue 9 that live in shared code."""

import ast
import inspect
import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import econderiv
from econderiv import BivariateProbit, Heckman, HeckProbit, MNLogit
from econderiv import SwitchingRegression
from econderiv.models import _data, _inference, _optim
from econderiv.testing import check_derivatives

PACKAGE = Path(econderiv.__file__).parent


# ---------------------------------------------------------------------------
# Layering: kernels -> core -> family; no family imports another; no circle
# ---------------------------------------------------------------------------

def _module_imports():
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        mods[name] = path
    graph = {}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                out.add(mod)
                out.update(f"{mod}.{a.name}" for a in node.names)
        graph[name] = {m for m in out if m in mods and m != name}
    return mods, graph


def _cross_family(graph):
    """Imports of a public family module by any other module of econderiv.models."""
    families = {m for m in graph if m.startswith("econderiv.models.")
                and not m.rsplit(".", 1)[1].startswith("_")}
    return families, [f"{a} -> {b}" for a in graph if a.startswith("econderiv.models.")
                      for b in graph[a] if b in families]


def test_no_family_module_imports_another():
    _, graph = _module_imports()
    families, bad = _cross_family(graph)
    assert len(families) >= 5
    assert not bad, bad


def test_no_import_circle():
    mods, graph = _module_imports()
    graph = {a: {b for b in bs if mods[b].name != "__init__.py"}
             for a, bs in graph.items() if mods[a].name != "__init__.py"}
    state = {}

    def visit(v, path):
        state[v] = 1
        for w in graph.get(v, ()):
            if state.get(w) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [v, w]))
            if w not in state:
                visit(w, path + [v])
        state[v] = 2

    for v in graph:
        if v not in state:
            visit(v, [])


def test_layering_check_sees_a_family_import():
    # the check above can fail: a kernel module importing a family is caught
    fake = {"econderiv.models.heckman": set(),
            "econderiv.models._x_kernels": {"econderiv.models.heckman"}}
    assert _cross_family(fake)[1] == ["econderiv.models._x_kernels -> econderiv.models.heckman"]


# ---------------------------------------------------------------------------
# Data for the families
# ---------------------------------------------------------------------------

def _biprobit_data(n=600, seed=3):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "g": rng.integers(0, 30, size=n)})
    e1 = rng.normal(size=n)
    e2 = 0.4 * e1 + np.sqrt(1 - 0.16) * rng.normal(size=n)
    df["y1"] = (0.2 + 0.6 * df.x1 + e1 > 0).astype(float)
    df["y2"] = (-0.1 + 0.5 * df.x2 - 0.3 * df.x1 + e2 > 0).astype(float)
    df.index = [f"r{i}" for i in range(n)]
    return df


def _selection_data(n=800, seed=4, binary=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "z": rng.normal(size=n), "g": rng.integers(0, 40, size=n)})
    u = rng.normal(size=n)
    e = -0.5 * u + np.sqrt(0.75) * rng.normal(size=n)
    df["s"] = (0.3 + 0.5 * df.x1 + 0.8 * df.z + u > 0).astype(float)
    y = -0.2 + 0.6 * df.x1 - 0.5 * df.x2 + e
    df["y"] = np.where(df.s == 1, (y > 0).astype(float) if binary else y, np.nan)
    df.index = [f"r{i}" for i in range(n)]
    return df


def _mnlogit_data(n=500, seed=5):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    eta = np.column_stack([np.zeros(n), 0.5 + df.x1, -0.3 + df.x2 - df.x1])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    df["y"] = (p.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1)
    return df


def make_model(family, df=None, **kw):
    if family == "BivariateProbit":
        df = _biprobit_data() if df is None else df
        return BivariateProbit.from_formula(["y1 ~ x1 + x2", "y2 ~ x1 + x2"], df, **kw)
    if family == "HeckProbit":
        df = _selection_data(binary=True) if df is None else df
        return HeckProbit.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + z", **kw)
    if family == "Heckman":
        df = _selection_data() if df is None else df
        return Heckman.from_formula("y ~ x1 + x2", df, selection="s ~ x1 + z", **kw)
    if family == "SwitchingRegression":
        df = _selection_data() if df is None else df
        df = df.assign(y=df.y.fillna(0.4 * df.x1 + df.x2))  # an outcome in both regimes
        return SwitchingRegression.from_formula(["y ~ x1 + x2", "y ~ x1 + x2"], df,
                                                selection="s ~ x1 + z", **kw)
    if family == "MNLogit":
        df = _mnlogit_data() if df is None else df
        return MNLogit.from_formula("y ~ x1 + x2", df, **kw)
    if family == "ChoiceLogit":
        from econderiv.models.choicelogit import ChoiceLogit

        df = _mnlogit_data() if df is None else df  # y: the chosen of 3 alternatives
        long = df.loc[df.index.repeat(3)].assign(alt=np.tile([0, 1, 2], len(df)),
                                                 case=np.repeat(np.arange(len(df)), 3))
        long = long.assign(chosen=(long.y == long.alt) * 1.0,
                           cost=np.random.default_rng(3).normal(size=len(long)))
        return ChoiceLogit.from_formula("chosen ~ cost | x1 + x2", long, case="case",
                                        alternative="alt", **kw)
    raise ValueError(family)


LIKELIHOOD_FAMILIES = ["BivariateProbit", "HeckProbit", "Heckman", "MNLogit",
                       "SwitchingRegression", "ChoiceLogit"]
RHO_FAMILIES = ["BivariateProbit", "HeckProbit", "Heckman"]


@pytest.fixture(scope="module", params=LIKELIHOOD_FAMILIES)
def family_model(request):
    return request.param, make_model(request.param)


# ---------------------------------------------------------------------------
# One API
# ---------------------------------------------------------------------------

SHARED_FIT = ("start_params", "method", "maxiter", "disp", "callback", "cov_type", "cov_kwds")


def test_fit_signature_is_shared(family_model):
    name, model = family_model
    sig = inspect.signature(type(model).fit)
    for kw in SHARED_FIT:
        assert kw in sig.parameters, (name, kw)
    assert sig.parameters["disp"].default in (False, 0), name
    # econderiv's docstring (not statsmodels'), naming the default optimizer
    doc = inspect.getdoc(type(model).fit)
    default = sig.parameters["method"].default
    assert default in ("newton_trust", "bohning"), name
    assert f'"{default}"' in doc, name
    assert not doc.startswith("Fit method for likelihood based models"), name


@pytest.mark.parametrize("bad", [{"weights": np.ones(3)}, {"foo": 1}])
def test_unknown_fit_keyword_is_an_error(family_model, bad):
    name, model = family_model
    with pytest.raises(TypeError, match=r"unexpected keyword.*Valid keywords"):
        model.fit(**bad)


def test_unknown_method_suggests_the_closest(family_model):
    name, model = family_model
    with pytest.raises(ValueError, match="did you mean 'newton_trust'"):
        model.fit(method="newton_trst")


@pytest.mark.parametrize("maxiter", [0, -3])
def test_maxiter_must_be_positive(family_model, maxiter):
    name, model = family_model
    with pytest.raises(ValueError, match="maxiter must be at least 1"):
        model.fit(maxiter=maxiter)


@pytest.mark.parametrize("family", RHO_FAMILIES)
def test_cluster_errors_are_clear(family):
    model = make_model(family)
    with pytest.raises(ValueError, match="needs the cluster of every row"):
        model.fit(cov_type="cluster")
    with pytest.raises(ValueError, match="at least two clusters"):
        model.fit(cov_type="cluster", cov_kwds={"groups": np.zeros(int(model.nobs))})
    with pytest.raises(ValueError, match="unknown cov_type 'HC9'"):
        model.fit(cov_type="HC9")


@pytest.mark.parametrize("family", RHO_FAMILIES)
def test_cluster_groups_for_all_rows_are_aligned_after_dropping(family):
    df = _biprobit_data() if family == "BivariateProbit" else _selection_data(
        binary=family == "HeckProbit")
    df.loc[df.index[[3, 10, 20]], "x1"] = np.nan
    model = make_model(family, df)
    assert model.nobs == len(df) - 3
    kept = df.drop(index=df.index[[3, 10, 20]])
    ref = make_model(family, kept).fit(cov_type="cluster", cov_kwds={"groups": kept.g})
    for groups in (df.g, df.g.to_numpy(), df.g.sample(frac=1, random_state=1)):
        res = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
        np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-10)
        assert res.n_groups == kept.g.nunique()
    text = str(res.summary())
    assert f"No. Clusters:" in text and str(kept.g.nunique()) in text
    # under a cluster covariance the test of rho = 0 is a Wald test (defect 4)
    assert "Wald test of rho = 0" in text and "LR test" not in text


@pytest.mark.parametrize("family", RHO_FAMILIES)
def test_rho_interval_is_the_transformed_athrho_interval(family):
    res = make_model(family).fit()
    anc = res.ancillary
    a = np.asarray(res.params)[list(res.model.param_names).index("athrho")]
    se = np.asarray(res.bse)[list(res.model.param_names).index("athrho")]
    lo, hi = anc.loc["rho"].iloc[4:6]
    np.testing.assert_allclose([lo, hi], np.tanh([a - 1.959963984540054 * se,
                                                  a + 1.959963984540054 * se]), rtol=1e-12)
    assert -1 < lo < hi < 1


def test_rho_interval_stays_inside_when_athrho_is_imprecise():
    # a weakly identified rho: the delta-method interval would leave [-1, 1]
    frame = _inference.ancillary_frame({"rho": (0, "tanh")}, [1.2], [[1.0]])
    lo, hi = frame.iloc[0, 4:6]
    assert -1 < lo < hi < 1
    assert frame.loc["rho", "std err"] == pytest.approx(1 - np.tanh(1.2) ** 2)


@pytest.mark.parametrize("family", ["HeckProbit", "Heckman"])
def test_wald_test_terms_tests_the_labelled_parameters(family):
    res = make_model(family).fit()
    table = res.wald_test_terms().table
    names = list(res.model.param_names)
    for term in ("selection:z", "outcome:x2", "outcome:x1", "selection:x1"):
        j = names.index(term)
        z2 = float(np.asarray(res.tvalues)[j]) ** 2
        assert table.loc[term, "statistic"] == pytest.approx(z2, rel=1e-10), term


@pytest.mark.parametrize("family", RHO_FAMILIES)
def test_subset_is_by_index_label(family):
    df = _biprobit_data() if family == "BivariateProbit" else _selection_data(
        binary=family == "HeckProbit")
    df = df.iloc[::-1]                          # labels and positions disagree
    labels = list(df.index[:400])
    by_label = make_model(family, df, subset=labels)
    direct = make_model(family, df.loc[labels])
    assert list(by_label.row_labels) == list(direct.row_labels)
    mask = df.index.isin(labels)
    by_mask = make_model(family, df, subset=pd.Series(mask, index=df.index).sample(frac=1))
    assert sorted(by_mask.row_labels) == sorted(labels)


@pytest.mark.parametrize("family", RHO_FAMILIES)
def test_formula_results_pickle(family, tmp_path):
    res = make_model(family).fit()
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_allclose(back.params, res.params)
    path = tmp_path / "res.pickle"
    res.save(str(path))
    loaded = type(res).load(str(path))
    np.testing.assert_allclose(loaded.bse, res.bse)
    df = _biprobit_data() if family == "BivariateProbit" else _selection_data(
        binary=family == "HeckProbit")
    np.testing.assert_allclose(np.asarray(loaded.predict(df.iloc[:5])),
                               np.asarray(res.predict(df.iloc[:5])))


@pytest.mark.parametrize("family", ["BivariateProbit", "HeckProbit"])
def test_huge_regressor_is_named_not_rank_deficient(family):
    df = _biprobit_data() if family == "BivariateProbit" else _selection_data(binary=True)
    df.loc[df.index[7], "x2"] = 1e300
    with pytest.raises(ValueError, match=r"too large.*x2 \(up to 1e\+300\).*rescale"):
        make_model(family, df)


def test_blocks_sum_to_the_one_block_derivatives():
    model = make_model("HeckProbit")
    p = model.start_params + 0.05
    ll, sc, h = model._run(p, 2, None, False)
    blocked = make_model("HeckProbit")
    blocked.block_rows = 97
    assert len(blocked._blocks()) > 5
    ll_b, sc_b, h_b = blocked._run(p, 2, None, False)
    np.testing.assert_allclose(ll_b, ll, rtol=1e-13)
    np.testing.assert_allclose(sc_b, sc, rtol=1e-11)
    np.testing.assert_allclose(h_b, h, rtol=1e-11)
    np.testing.assert_allclose(blocked.score_obs(p), model.score_obs(p), rtol=1e-13)
    res = check_derivatives(blocked.loglike, blocked.score, blocked.hessian, [p],
                            method="richardson")
    assert res.grad_error < 1e-6 and res.hess_error < 1e-6, res


# ---------------------------------------------------------------------------
# Core pieces
# ---------------------------------------------------------------------------

def test_align_inputs_matches_labels_and_refuses_mismatch():
    idx = pd.Index(["a", "b", "c"])
    x = np.array([1.0, 2.0, 3.0])
    out, index = _data.align_inputs([("y", x, idx), ("x", x[::-1], idx[::-1])])
    np.testing.assert_array_equal(out[1], x)
    with pytest.raises(ValueError, match="different labels"):
        _data.align_inputs([("y", x, idx), ("x", x, pd.Index(["a", "b", "d"]))])


def test_array_regressors_are_named_like_statsmodels():
    arr = np.column_stack([np.ones(4), np.arange(4.0), np.arange(4.0) ** 2])
    assert _data.as_matrix(arr, "exog")[1] == ["const", "x1", "x2"]
    assert _data.as_matrix(arr, "exog_select", "z")[1] == ["const", "z1", "z2"]


def test_backtrack_accepts_the_first_armijo_step():
    calls = []

    def phi(t):
        calls.append(t)
        return (1.0 - t) ** 2, t

    t, value, payload = _optim.backtrack(phi, 1.0, -2.0)
    assert t == 1.0 and value == 0.0 and calls == [1.0]
    assert _optim.backtrack(lambda t: (np.inf, None), 1.0, -1.0, max_steps=5) is None


def test_newton_ends_at_newton_precision():
    # f = sum cosh(x_i) - x_i: minimum where sinh(x) = 1
    f = lambda x: float(np.sum(np.cosh(x) - x))
    g = lambda x: np.sinh(x) - 1
    h = lambda x: np.diag(np.cosh(x))
    x, info = _optim.newton_linesearch(f, g, np.full(3, 2.0), hess=h)
    assert info["converged"]
    np.testing.assert_allclose(x, np.arcsinh(1.0), rtol=0, atol=1e-15)


@pytest.mark.parametrize("how", ["formula", "arrays"])
def test_warnings_point_at_the_users_line(how):
    df = _selection_data(binary=True)
    df.loc[df.index[df.s == 1][:2], "y"] = np.nan
    with pytest.warns(RuntimeWarning, match="2 selected rows") as record:
        if how == "formula":
            make_model("HeckProbit", df)
        else:
            HeckProbit(df.y, df[["x1", "x2"]].assign(c=1.0), df.s,
                       df[["x1", "z"]].assign(c=1.0), missing="drop")
    assert {Path(w.filename).name for w in record} == {Path(__file__).name}


@pytest.mark.parametrize("family", RHO_FAMILIES)
def test_get_margeff_signature_is_shared(family):
    res = make_model(family).fit()
    params = list(inspect.signature(res._results.get_margeff).parameters)
    assert params[:4] == ["which", "at", "dummy", "variables"], params
    me = res.get_margeff(at="mean")
    assert list(me.conf_int().columns) == [0, 1]
    frame = me.summary_frame()
    assert list(frame.columns[:6]) == ["dy/dx", "std err", "z", "P>|z|", "[0.025", "0.975]"]


def test_heckman_dummy_margin_is_the_discrete_change():
    df = _selection_data()
    df["d"] = (df.x2 > 0).astype(float)
    res = Heckman.from_formula("y ~ x1 + d", df, selection="s ~ x1 + z + d").fit()
    me = res.get_margeff("ycond", dummy=True, variables=["d", "x1"])
    hi, lo = df.assign(d=1.0), df.assign(d=0.0)
    change = np.mean(res.predict(hi, which="ycond") - res.predict(lo, which="ycond"))
    assert me.margeff["d"] == pytest.approx(change, rel=1e-12)
    assert me.dummies == ["d"]
    cont = res.get_margeff("ycond", variables=["x1"])
    assert me.margeff["x1"] == pytest.approx(cont.margeff["x1"], rel=1e-12)
    assert np.isfinite(me.margeff_se).all() and (me.margeff_se > 0).all()


def test_heckprobit_margins_over_the_selected_rows():
    res = make_model("HeckProbit").fit()
    all_rows = res.get_margeff("pcond")
    sel = res.get_margeff("pcond", sample="selected")
    assert sel.n_used == res.model.nobs_selected < all_rows.n_used
    assert not np.allclose(sel.margeff, all_rows.margeff)


def test_heckman_ancillary_gradients_match_numerical():
    # the delta-method gradients of rho, sigma and lambda = rho sigma
    from econderiv.testing import numerical_jacobian

    res = make_model("Heckman").fit()
    p = np.asarray(res.params, float)
    cov = np.asarray(res.cov_params())
    natural = lambda q: np.array([np.tanh(q[-2]), np.exp(q[-1]), np.tanh(q[-2]) * np.exp(q[-1])])
    jac = numerical_jacobian(natural, p)
    se = np.sqrt(np.einsum("ij,jk,ik->i", jac, cov, jac))
    np.testing.assert_allclose(res.ancillary["std err"].to_numpy(), se, rtol=1e-7)
