"""DerivativeSystem: exact sensitivities, integral-form operators, recovery, bad input."""

import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import linalg
from statsmodels.iolib.summary import Summary

from econderiv import datasets
from econderiv.models import _derivsys_kernels as KS
from econderiv.models.derivsystem import DerivativeSystem, parse_system

A_TRUE = np.array([[-0.5, 1.0], [-1.0, -0.3]])
B_TRUE = np.array([[0.8], [0.0]])          # input u into x
C_TRUE = np.array([0.2, 0.1])              # constants
S0_TRUE = np.array([2.0, 0.0])


def exact_path(t, u, A=A_TRUE, B=B_TRUE, c=C_TRUE, s0=S0_TRUE):
    """ds/dt = A s + B u + c, u held between samples: block matrix exponential
    (independent of the package's kernels)."""
    M = np.zeros((4, 4))
    M[:2, :2], M[:2, 2:3], M[:2, 3] = A, B, c
    s = np.empty((t.size, 2))
    s[0] = s0
    for i in range(t.size - 1):
        E = linalg.expm(M * (t[i + 1] - t[i]))
        s[i + 1] = E[:2, :2] @ s[i] + E[:2, 2] * u[i] + E[:2, 3]
    return s


def linear_data(n=161, T=16.0, sd=(0.03, 0.06), seed=0, jitter=False):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, T, n)
    if jitter:
        t = np.sort(t + rng.uniform(-0.3, 0.3, n) * T / n)
    u = np.repeat(rng.uniform(-1, 1, n // 20 + 1), 20)[:n]
    s = exact_path(t, u)
    return pd.DataFrame({"t": t, "x": s[:, 0] + sd[0] * rng.standard_normal(n),
                         "y": s[:, 1] + sd[1] * rng.standard_normal(n), "u": u})


FORMULAS = ["D1(x) ~ x + y + u", "D1(y) ~ x + y"]
TRUTH = np.array([-0.5, 1.0, 0.8, 0.2, -1.0, -0.3, 0.1])


def numerical_jacobian(f, v, rel=1e-6):
    J = np.empty((f(v).size, v.size))
    for j in range(v.size):
        h = rel * max(1.0, abs(v[j]))
        e = np.zeros_like(v)
        e[j] = h
        J[:, j] = (f(v + e) - f(v - e)) / (2 * h)
    return J


# ---------------------------------------------------------------------------
# parsing and names
def test_parameter_names_and_orders():
    df = linear_data(n=40)
    mod = DerivativeSystem.from_formula(FORMULAS, df, time="t")
    assert mod.param_names == ["D1.x:x", "D1.x:y", "D1.x:u", "D1.x:const", "D1.y:x",
                               "D1.y:y", "D1.y:const"]
    spec, names, eqs = parse_system(["D2(p) ~ D1(p) + p:q + sign(D1(p)) + p^3 - 1",
                                     "D1(q) ~ q + D1(p)*abs(D1(p))"], [])
    assert names == ["D2.p:D1.p", "D2.p:p:q", "D2.p:sign(D1.p)", "D2.p:p^3", "D1.q:q",
                     "D1.q:D1.p:abs(D1.p)", "D1.q:const"]
    assert spec.n_states == 3 and not spec.is_linear and eqs == ["D2.p", "D1.q"]


# ---------------------------------------------------------------------------
# exact sensitivities against a numerical Jacobian
@pytest.mark.parametrize("jitter", [False, True])
def test_linear_sensitivities_match_numerical(jitter):
    df = linear_data(n=60, jitter=jitter)
    mod = DerivativeSystem.from_formula(FORMULAS, df, time="t")
    v = np.concatenate([TRUTH + 0.05, [1.5, 0.3]])
    r, J = mod.output_error(v)
    Jn = numerical_jacobian(lambda w: mod.output_error(w)[0], v)
    np.testing.assert_allclose(J, Jn, rtol=1e-6, atol=1e-8 * np.abs(Jn).max())


@pytest.mark.parametrize("log_scale", [False, True])
def test_nonlinear_sensitivities_match_numerical(log_scale):
    # Lotka-Volterra with a power and an abs term, ragged sampling
    rng = np.random.default_rng(3)
    th = np.array([0.6, -0.03, -0.002, -0.8, 0.025, 0.01])
    t_h = np.sort(rng.uniform(0, 12, 30))
    t_l = np.sort(rng.uniform(0, 12, 25))
    spec, _, _ = parse_system(["D1(h) ~ h + h:l + h^2 - 1", "D1(l) ~ l + h:l + abs(l) - 1"],
                              [])
    grid = np.unique(np.r_[0.0, t_h, t_l])
    s_all, _ = KS.simulate_nonlinear(spec, th, np.array([30.0, 5.0]), grid,
                                     KS.held_inputs(None, grid.size))
    hs = np.interp(t_h, grid, s_all[:, 0]) * np.exp(0.1 * rng.standard_normal(t_h.size))
    ls = np.interp(t_l, grid, s_all[:, 1]) * np.exp(0.1 * rng.standard_normal(t_l.size))
    mod = DerivativeSystem({"h": pd.Series(hs, index=t_h), "l": pd.Series(ls, index=t_l)},
                           formulas=["D1(h) ~ h + h:l + h^2 - 1",
                                     "D1(l) ~ l + h:l + abs(l) - 1"])
    v = np.concatenate([th * 1.02, [29.0, 5.5]])
    r, J = mod.output_error(v, log_scale=log_scale)
    Jn = numerical_jacobian(lambda w: mod.output_error(w, log_scale=log_scale)[0], v,
                            rel=1e-5)
    np.testing.assert_allclose(J, Jn, rtol=2e-5, atol=2e-6 * np.abs(Jn).max())


def test_compiled_integrator_matches_matrix_exponential():
    # a linear system through both simulators: exact (expm) and the compiled RK
    df = linear_data(n=80, jitter=True)
    mod = DerivativeSystem.from_formula(FORMULAS, df, time="t")
    s0 = np.array([1.0, -0.5])
    lin, jl = KS.simulate_linear(mod.spec, TRUTH, s0, mod.time, mod.inputs, True)
    rk, jr = KS.simulate_nonlinear(mod.spec, TRUTH, s0, mod.time, mod.inputs, True)
    np.testing.assert_allclose(rk, lin, atol=1e-8)
    np.testing.assert_allclose(jr, jl, atol=1e-7)
    # and the test's own block exponential
    s = exact_path(mod.time, mod.exog[:, 0], s0=s0)
    np.testing.assert_allclose(lin, s, atol=1e-10)


# ---------------------------------------------------------------------------
# integral-form operators
def test_operators_match_numpy():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 5, 40))
    f = np.sin(t) + t**2
    np.testing.assert_allclose(KS.gradient_matrix(t) @ f, np.gradient(f, t), rtol=1e-12)
    to = np.sort(rng.uniform(0.5, 4.5, 15))
    yo = np.cos(to)
    np.testing.assert_allclose(KS.interpolation_matrix(to, t) @ yo, np.interp(t, to, yo),
                               atol=1e-14)


@pytest.mark.parametrize("formulas", [FORMULAS, ["D1(x) ~ x + x:y + u", "D1(y) ~ x + y^2"]])
def test_noise_adjoint_matches_numerical(formulas):
    # L_k: d(integrated-equation residual)/d(data) at fixed theta, numerically
    df = linear_data(n=50, jitter=True)
    df.loc[df.index % 3 == 0, "y"] = np.nan          # ragged sampling
    mod = DerivativeSystem.from_formula(formulas, df, time="t")
    parts, interp, grad = mod._integral_parts()
    rng = np.random.default_rng(2)
    theta = rng.uniform(-1, 1, mod.k_params)
    y0 = mod.obs_y.copy()
    start = 0
    for k, part in enumerate(parts):
        p_k = len(mod.spec.terms[k])
        th_k = theta[start:start + p_k]
        start += p_k

        def resid(yv, k=k, th_k=th_k):
            mod.obs_y = yv
            rows, y, X, Z, _ = mod._integral_parts()[0][k]
            mod.obs_y = y0
            return y - X @ th_k

        Ln = numerical_jacobian(resid, y0.copy(), rel=1e-6)
        W = rng.standard_normal((part[1].size, 3))
        got = mod._noise_adjoint(k, part, th_k, W, interp, grad)
        np.testing.assert_allclose(got, Ln.T @ W, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# recovery
@pytest.mark.parametrize("method", ["oe", "integral"])
def test_recovers_linear_two_state_system(method):
    df = linear_data(n=201, T=20.0, seed=5)
    mod = DerivativeSystem.from_formula(FORMULAS, df, time="t")
    res = mod.fit(method)
    z = (np.asarray(res.params) - TRUTH) / np.asarray(res.bse)
    assert np.all(np.abs(z) < 4), dict(zip(mod.param_names, z.round(2)))
    np.testing.assert_allclose(res.sigma, [0.03, 0.06], rtol=0.2)
    if method == "oe":
        np.testing.assert_allclose(res.nuisance["coef"], S0_TRUE, atol=0.1)
        assert np.isfinite(res.llf) and res.aic > -2 * res.llf


def test_ragged_times_and_dict_input():
    df = linear_data(n=241, T=20.0, seed=8)
    ix = df.t.index
    xs = pd.Series(df.x.to_numpy()[ix % 2 == 0], index=df.t.to_numpy()[ix % 2 == 0])
    ys = pd.Series(df.y.to_numpy()[ix % 3 == 1], index=df.t.to_numpy()[ix % 3 == 1])
    exog = pd.DataFrame({"u": df.u.to_numpy()}, index=df.t.to_numpy())
    mod = DerivativeSystem({"x": xs, "y": ys}, formulas=FORMULAS, exog=exog)
    assert mod.nobs_state.tolist() == [len(xs), len(ys)]
    res = mod.fit("oe")
    z = (np.asarray(res.params) - TRUTH) / np.asarray(res.bse)
    assert np.all(np.abs(z) < 4)


def test_results_statsmodels_tools_and_predict():
    df = linear_data(n=121, T=12.0, seed=4)
    mod = DerivativeSystem.from_formula(FORMULAS, df, time="t")
    res = mod.fit("oe")
    assert list(res.params.index) == mod.param_names
    ci = res.conf_int()
    assert ci.shape == (7, 2) and list(ci.index) == mod.param_names
    tt = res.t_test("D1.x:x = -0.5")
    np.testing.assert_allclose(tt.effect, res.params["D1.x:x"])
    np.testing.assert_allclose(tt.sd, res.bse["D1.x:x"])
    wt = res.wald_test("D1.x:x = -0.5, D1.y:y = -0.3", scalar=True)
    assert 0 <= wt.pvalue <= 1
    assert isinstance(res.summary(), Summary)
    text = str(res.summary())
    assert "Fitted:   D1.x = " in text and "Log-Likelihood" in text and "Noise sd" in text
    assert "tabular" in res.summary().as_latex()
    from statsmodels.iolib.summary2 import summary_col
    assert "D1.y:const" in str(summary_col([res, mod.fit("integral")]))
    buf = io.BytesIO()
    res.save(buf)
    buf.seek(0)
    again = pickle.load(buf)
    pd.testing.assert_series_equal(again.params, res.params)
    pred = res.predict()
    assert list(pred.columns) == ["x", "y"] and len(pred) == 121
    np.testing.assert_allclose(res.fittedvalues.to_numpy() + res.resid.to_numpy(),
                               np.r_[df.x, df.y])
    new_t = np.linspace(0, 3, 7)
    sim = res.simulate(time=new_t, exog=np.zeros(7), x0=[1.0, 0.0])
    assert sim.shape == (7, 2)
    with pytest.raises(ValueError, match="give exog"):
        res.simulate(time=new_t)


def test_datetime_time_in_seconds():
    df = linear_data(n=81, T=8.0, seed=2)
    stamps = pd.Timestamp("2024-01-01 12:00") + pd.to_timedelta(df.t, unit="s")
    a = DerivativeSystem.from_formula(FORMULAS, df, time="t").fit("oe")
    b = DerivativeSystem.from_formula(FORMULAS, df.assign(t=stamps), time="t").fit("oe")
    np.testing.assert_allclose(b.params, a.params, rtol=1e-6)
    assert "converted to seconds" in str(b.summary())
    assert isinstance(b.predict().index[0], pd.Timestamp)


def test_lynx_hare_log_fit_runs():
    df = datasets.load("lynx_hare")
    mod = DerivativeSystem.from_formula(["D1(hare) ~ hare + hare:lynx - 1",
                                         "D1(lynx) ~ lynx + hare:lynx - 1"], df, time="year")
    res = mod.fit("oe", measurement="log")
    assert list(res.params.index) == ["D1.hare:hare", "D1.hare:hare:lynx", "D1.lynx:lynx",
                                      "D1.lynx:hare:lynx"]
    # signs of a predator-prey cycle; the published comparison is in validation/
    assert np.all(np.sign(res.params.to_numpy()) == [1, -1, -1, 1])


# ---------------------------------------------------------------------------
# bad input
def test_unknown_state_in_formula():
    df = linear_data(n=40)
    with pytest.raises(ValueError, match="unknown name 'z': it is neither a state with an equation \\(x, y\\)"):
        DerivativeSystem.from_formula(["D1(x) ~ x + z", "D1(y) ~ x + y"], df, time="t")
    with pytest.raises(ValueError, match="column 'w'.*not in data"):
        DerivativeSystem.from_formula(["D1(w) ~ x"], df, time="t")
    with pytest.raises(ValueError, match=r"D1\(x\) is not below the order 1"):
        DerivativeSystem.from_formula(["D1(x) ~ D1(x) + y", "D1(y) ~ x"], df, time="t")
    with pytest.raises(ValueError, match="more than one equation"):
        DerivativeSystem.from_formula(["D1(x) ~ x", "D1(x) ~ y"], df, time="t")


def test_too_few_samples():
    df = linear_data(n=40)
    df.loc[2:, "y"] = np.nan
    with pytest.raises(ValueError, match="too few samples of 'y': 2; an order-1 equation "
                                         "needs at least 3"):
        DerivativeSystem.from_formula(FORMULAS, df, time="t")
    small = linear_data(n=5)
    with pytest.raises(ValueError, match="too few samples: 10 measurements for 7 coefficients, 2 initial conditions and 2 noise variances"):
        DerivativeSystem.from_formula(FORMULAS, small, time="t")


def test_mismatched_times():
    df = linear_data(n=40)
    with pytest.raises(ValueError, match="time has 39 values but endog has 40 rows"):
        DerivativeSystem(df[["x", "y"]], df.t.to_numpy()[:-1], ["D1(x) ~ x", "D1(y) ~ y"])
    with pytest.raises(ValueError, match="state 'x': 40 times but 39 values"):
        DerivativeSystem({"x": (df.t, df.x[:-1]), "y": (df.t, df.y)},
                         formulas=["D1(x) ~ x", "D1(y) ~ y"])
    bad = df.t.to_numpy().copy()
    bad[[5, 6]] = bad[[6, 5]]
    with pytest.raises(ValueError, match="not increasing: t\\[5\\]"):
        DerivativeSystem({"x": (bad, df.x), "y": (df.t, df.y)},
                         formulas=["D1(x) ~ x", "D1(y) ~ y"])
    shuffled = df.u.sample(frac=1, random_state=0).to_frame()
    with pytest.raises(ValueError, match="different indexes"):
        DerivativeSystem(df[["x", "y"]], df.t, FORMULAS, exog=shuffled.reset_index(drop=True)
                         .set_axis(shuffled.index))


def test_methods_and_keywords():
    df = linear_data(n=40)
    mod = DerivativeSystem.from_formula(FORMULAS, df, time="t")
    with pytest.raises(ValueError, match="'arimax' is available for one equation only.*'oe'"):
        mod.fit("arimax")
    with pytest.raises(ValueError, match="method must be one of.*did you mean 'oe'"):
        mod.fit("eo")
    with pytest.raises(TypeError, match="unexpected keyword.*measurement"):
        mod.fit("oe", measurment="log")
    with pytest.raises(ValueError, match="measurement='log' needs positive data"):
        mod.fit("oe", measurement="log")
    with pytest.raises(ValueError, match="start_params has 3 values, expected 7"):
        mod.fit("oe", start_params=[1, 2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mod.fit("integral")


def test_nonconvergence_warns_and_unstable_start_is_an_error():
    lv = DerivativeSystem.from_formula(["D1(hare) ~ hare + hare:lynx - 1",
                                        "D1(lynx) ~ lynx + hare:lynx - 1"],
                                       datasets.load("lynx_hare"), time="year")
    with pytest.warns(RuntimeWarning) as record:
        lv.fit("oe", maxiter=1, start_params=[0.3, -0.01, -0.5, 0.01], x0=[30.0, 4.0])
    messages = " | ".join(str(w.message) for w in record)
    assert "did not converge" in messages and "larger maxiter" in messages
    assert "noise variances did not settle" in messages
    with pytest.raises(ValueError, match="cannot be simulated from the start values"):
        lv.fit("oe", start_params=[50.0, 0.0, 50.0, 0.0], x0=[30.0, 4.0])
