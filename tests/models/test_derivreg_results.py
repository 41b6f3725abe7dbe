"""DerivativeRegression as a statsmodels citizen (issue 10, part A): results on
statsmodels' machinery, predict(), time axes, pandas alignment, input errors,
the shared exponentials of irregular sampling and arimax's convergence."""

import io
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.iolib.summary import Summary
from statsmodels.iolib.summary2 import summary_col
from statsmodels.iolib.smpickle import load_pickle

from econderiv.datasets import simulate_motor
from econderiv.models import _derivreg_kernels as K
from econderiv.models._timeseries import as_seconds, equation_text
from econderiv.models.derivreg import DerivativeRegression

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "derivative_regression.ipynb"


@pytest.fixture(scope="module")
def motor():
    return simulate_motor(n=600, seed=11)


@pytest.fixture(scope="module")
def fits(motor):
    mod = DerivativeRegression(motor.x, motor.t, exog=motor.u)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {m: mod.fit(m) for m in ("fd", "integral", "oe", "arimax", "fourier")}


# ---------------------------------------------------------------------------
# 1. statsmodels results

def test_results_are_statsmodels_results(fits):
    res = fits["oe"]
    assert isinstance(res._results, LikelihoodModelResults)
    assert list(res.params.index) == ["D1.x", "u", "const"]
    assert isinstance(res.cov_params(), pd.DataFrame)
    assert list(res.cov_params().columns) == ["D1.x", "u", "const"]
    np.testing.assert_allclose(res.bse, np.sqrt(np.diag(res.cov_params())))
    ci = res.conf_int(0.1)
    q = stats.norm.ppf(0.95)
    np.testing.assert_allclose(ci["upper"], res.params + q * res.bse)
    # residual variance kept as statsmodels' scale
    r = res.resid.to_numpy()
    assert res.scale == pytest.approx(r @ r / (len(r) - 3 - 2))


def test_t_wald_f_tests_against_hand_computation(fits):
    res = fits["oe"]
    p, V = res.params.to_numpy(), res.cov_params().to_numpy()
    tt = res.t_test("D1.x = -4")
    assert float(np.squeeze(tt.tvalue)) == pytest.approx((p[0] + 4) / np.sqrt(V[0, 0]))
    R = np.array([[1.0, 0, 0], [0, 1, 0]])
    d = R @ p - np.array([-4.0, 10.0])
    chi2 = float(d @ np.linalg.solve(R @ V @ R.T, d))
    wt = res.wald_test("D1.x = -4, u = 10", scalar=True)
    assert float(wt.statistic) == pytest.approx(chi2, rel=1e-8)
    assert float(wt.pvalue) == pytest.approx(stats.chi2.sf(chi2, 2), rel=1e-6)
    ft = res.f_test("D1.x = -4, u = 10")
    assert float(np.squeeze(ft.fvalue)) == pytest.approx(chi2 / 2, rel=1e-8)
    assert ft.df_denom == pytest.approx(res.df_resid)


def test_llf_aic_bic_where_there_is_a_likelihood(fits):
    oe = fits["oe"]
    r = oe.resid.to_numpy()
    n = r.size
    # Gaussian log-likelihood at the ML variance, computed independently
    llf = stats.norm.logpdf(r, scale=np.sqrt(r @ r / n)).sum()
    assert oe.llf == pytest.approx(llf, rel=1e-10)
    k = 3 + 2 + 1  # theta, initial state, variance
    assert oe.aic == pytest.approx(-2 * llf + 2 * k)
    assert oe.bic == pytest.approx(-2 * llf + np.log(n) * k)
    ar = fits["arimax"]
    assert np.isfinite(ar.llf) and ar.llf == pytest.approx(ar.info["llf"])
    assert ar.aic == pytest.approx(-2 * ar.llf + 2 * (len(ar.discrete) + 1))
    for m in ("fd", "integral", "fourier"):
        assert np.isnan(fits[m].llf) and np.isnan(fits[m].aic) and np.isnan(fits[m].bic)


def test_summary_is_a_statsmodels_summary_with_the_named_equation(fits):
    smry = fits["oe"].summary()
    assert isinstance(smry, Summary)
    text = smry.as_text()
    assert "D2.x = theta[D1.x]*D1.x + theta[u]*u + theta[const]" in text
    p = fits["oe"].params
    assert f"D2.x = {p['D1.x']:.6g}*D1.x + {p['u']:.6g}*u - {abs(p['const']):.6g}" in text
    assert "Log-Likelihood" in text and "AIC" in text and "nonrobust" in text
    latex, html = smry.as_latex(), smry.as_html()
    assert "\\begin{tabular}" in latex and "theta[D1.x]" in latex
    assert "<table" in html and "theta[D1.x]" in html
    # covariance type named per method
    assert "measurement" in fits["integral"].summary().as_text()
    assert "delta method" in fits["arimax"].summary().as_text()


def test_equation_text_signs_and_constants():
    terms = [("a", "x"), ("c", "")]
    assert equation_text("D1.x", terms) == "D1.x = theta[a]*x + theta[c]"
    assert equation_text("D1.x", terms, {"a": -2.0, "c": 0.5}) == "D1.x = -2*x + 0.5"


def test_summary_col_over_several_fits(fits):
    table = summary_col([fits["oe"], fits["arimax"], fits["integral"]],
                        model_names=["oe", "arimax", "integral"])
    text = str(table)
    assert "oe" in text and "arimax" in text and "D1.x" in text
    assert f"{fits['arimax'].params['u']:.4f}" in text


def test_save_load_and_remove_data(fits, tmp_path):
    res = fits["oe"]
    path = tmp_path / "oe.pickle"
    res.save(str(path))
    back = load_pickle(str(path))
    pd.testing.assert_series_equal(back.params, res.params)
    pd.testing.assert_series_equal(back.predict(), res.predict())
    size = len(pickle.dumps(back))
    back.remove_data()
    assert len(pickle.dumps(back)) < size / 3
    pd.testing.assert_series_equal(back.params, res.params)
    # predicting on new inputs needs no data
    t2 = np.linspace(0, 1, 11)
    np.testing.assert_allclose(back.predict(exog=np.ones(11), time=t2),
                               res.predict(exog=np.ones(11), time=t2))
    with pytest.raises(ValueError, match="remove_data"):
        back.predict()


def test_nonlinear_model_pickles():
    rng = np.random.default_rng(3)
    t = np.linspace(0, 60, 200)
    y = 100 / (1 + 20 * np.exp(-0.1 * t)) + rng.normal(0, 0.5, t.size)
    mod = DerivativeRegression(pd.Series(y, name="pop"), t, order=1, derivs=(0,),
                               trend="n", nonlinear=["x^2"])
    res = mod.fit("oe")
    buf = io.BytesIO()
    res.save(buf)
    buf.seek(0)
    back = load_pickle(buf)
    np.testing.assert_allclose(back.predict(), res.predict())
    assert "D1.pop = theta[pop]*pop + theta[pop^2]*pop^2" in str(back.summary())


def test_old_attributes_still_work(fits):
    res = fits["oe"]
    assert res.nuisance.index.tolist() == ["x(t0)", "D1.x(t0)"]
    assert list(res.initial_state.index) == ["x", "D1.x"]
    assert isinstance(res.resid, pd.Series) and len(res.resid) == res.nobs
    assert list(res.simulate().columns) == ["x", "D1.x"]
    assert res.sim_rmse == pytest.approx(np.sqrt(np.mean(res.resid**2)), rel=1e-6)
    assert list(fits["arimax"].discrete.index)[:2] == ["ar.L1", "ar.L2"]
    assert len(fits["fd"].resid) == res.nobs - 2  # the centred stencil drops the ends


# ---------------------------------------------------------------------------
# 2. predict

def test_predict_at_the_sample_is_the_fitted_path(fits, motor):
    res = fits["oe"]
    pred = res.predict()
    assert isinstance(pred, pd.Series) and pred.index.equals(motor.index)
    np.testing.assert_allclose(pred, res.simulate()["x"])
    pd.testing.assert_series_equal(res.fittedvalues, pred)
    # oe residuals are y - x_sim
    np.testing.assert_allclose(res.resid, motor.x - pred, atol=1e-12)


def test_predict_new_inputs_against_the_closed_form(fits):
    res = fits["oe"]
    a, b, g = res.params
    t2 = np.linspace(0, 3, 61)
    path = res.predict(exog=np.full(61, 0.5), time=t2, x0=[0.0, 0.0])
    assert isinstance(path, np.ndarray)
    # x'' = a x' + c from rest, c = 0.5 b + g: x = (c/-a) (t - (1 - e^{a t}) / -a)
    c = 0.5 * b + g
    exact = c / -a * (t2 - (1 - np.exp(a * t2)) / -a)
    np.testing.assert_allclose(path, exact, rtol=1e-9, atol=1e-12)


def test_predict_pandas_inputs_give_a_series_with_their_index(fits):
    res = fits["oe"]
    idx = pd.date_range("2025-01-01", periods=41, freq="50ms")
    u = pd.Series(np.ones(41), index=idx, name="u")
    time = pd.Series(np.arange(41) * 0.05, index=idx)
    out = res.predict(exog=u, time=time, x0=[0.0, 0.0])
    assert isinstance(out, pd.Series) and out.index.equals(idx) and out.name == "x"
    # label matching: the same inputs shuffled give the same path
    perm = np.random.default_rng(0).permutation(41)
    out2 = res.predict(exog=u.iloc[perm], time=time, x0=[0.0, 0.0])
    pd.testing.assert_series_equal(out2, out)
    with pytest.raises(ValueError, match="give exog"):
        res.predict(time=np.arange(5.0))


# ---------------------------------------------------------------------------
# 3. time as datetimes / timedeltas

def test_datetime_time_in_seconds_with_the_span_in_the_summary(motor):
    base = DerivativeRegression(motor.x, motor.t, exog=motor.u).fit("oe")
    stamps = pd.Timestamp("2026-03-01 12:00") + pd.to_timedelta(motor.t, "s")
    res = DerivativeRegression(motor.x, stamps, exog=motor.u).fit("oe")
    np.testing.assert_allclose(res.params, base.params, rtol=1e-7)
    text = res.summary().as_text()
    assert "datetimes converted to seconds" in text
    assert str(stamps.iloc[-1] - stamps.iloc[0]) in text  # span in the original units
    assert "2026-03-01 12:00:00" in text
    # timedeltas, tz-aware datetimes and a time-indexed Series (time=None)
    td = DerivativeRegression(motor.x, pd.to_timedelta(motor.t, "s"), exog=motor.u)
    np.testing.assert_allclose(td.fit("oe").params, base.params, rtol=1e-7)
    assert "timedeltas converted to seconds" in td.fit("integral").summary().as_text()
    tz = DerivativeRegression(motor.x, stamps.dt.tz_localize("Europe/Paris"), exog=motor.u)
    np.testing.assert_allclose(tz.fit("oe").params, base.params, rtol=1e-7)
    xs = pd.Series(motor.x.to_numpy(), index=stamps, name="x")
    us = pd.Series(motor.u.to_numpy(), index=stamps, name="u")
    byindex = DerivativeRegression(xs, exog=us).fit("oe")
    np.testing.assert_allclose(byindex.params, base.params, rtol=1e-7)
    assert byindex.predict().index.equals(xs.index)
    with pytest.raises(ValueError, match="give time"):
        DerivativeRegression(motor.x, exog=motor.u)  # a RangeIndex is not a clock


def test_datetime_predict_and_bad_times():
    secs, axis, _ = as_seconds(pd.to_datetime(["2026-01-01 00:00:00", "2026-01-01 00:00:02"]))
    np.testing.assert_allclose(secs, [0.0, 2.0])
    assert axis.kind == "datetime"
    with pytest.raises(ValueError, match="numbers, datetimes or timedeltas"):
        as_seconds(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="NaT"):
        as_seconds(pd.to_datetime(["2026-01-01", None]))
    with pytest.raises(ValueError, match="datetime values"):
        axis.to_seconds(np.arange(3.0))


# ---------------------------------------------------------------------------
# 4. pandas alignment

def test_shuffled_exog_is_aligned_by_label(motor):
    base = DerivativeRegression(motor.x, motor.t, exog=motor.u).fit("oe")
    shuffled = motor.u.sample(frac=1, random_state=1)
    res = DerivativeRegression(motor.x, motor.t, exog=shuffled).fit("oe")
    np.testing.assert_allclose(res.params, base.params, rtol=1e-10)
    # time as a shuffled Series too
    res2 = DerivativeRegression(motor.x, motor.t.sample(frac=1, random_state=2),
                                exog=shuffled).fit("oe")
    np.testing.assert_allclose(res2.params, base.params, rtol=1e-10)


def test_misaligned_or_duplicated_indexes_are_errors(motor):
    u = motor.u.copy()
    u.index = u.index + 1000
    with pytest.raises(ValueError, match="different labels"):
        DerivativeRegression(motor.x, motor.t, exog=u)
    dup_x = motor.x.copy()
    dup_x.index = np.repeat(np.arange(300), 2)
    dup_u = motor.u.copy()
    dup_u.index = np.tile(np.arange(300), 2)
    with pytest.raises(ValueError, match="duplicate labels"):
        DerivativeRegression(dup_x, motor.t.to_numpy(), exog=dup_u)


def test_formula_keeps_the_data_index(motor):
    df = motor.copy()
    df.index = pd.Index([f"s{i}" for i in range(len(df))])
    mod = DerivativeRegression.from_formula("D2(x) ~ D1(x) + u", data=df, time="t")
    res = mod.fit("oe")
    assert res.predict().index.equals(df.index)


# ---------------------------------------------------------------------------
# 5. messages

def test_fit_keyword_and_start_errors(motor):
    mod = DerivativeRegression(motor.x, motor.t, exog=motor.u)
    with pytest.raises(TypeError, match="Valid keywords: maxiter, start_params, x0"):
        mod.fit("oe", cov_type="HC0")
    with pytest.raises(ValueError, match="maxiter must be at least 1"):
        mod.fit("oe", maxiter=0)
    with pytest.raises(ValueError, match=r"non-finite values for \['D1.x'\]"):
        mod.fit("oe", start_params=[np.nan, 10, -2])
    with pytest.raises(ValueError, match=r"non-finite values for \['D1.x'\]"):
        mod.fit("oe", x0=[0.0, np.inf])
    with pytest.raises(ValueError, match="unstable.*real part 40"):
        mod.fit("oe", start_params=[40.0, 10, -2])


def test_too_few_samples_messages(motor):
    with pytest.raises(ValueError, match="too few samples: 6 .* need at least 7"):
        DerivativeRegression(motor.x[:6], motor.t[:6], exog=motor.u[:6])
    mod = DerivativeRegression(motor.x[:8], motor.t[:8], exog=motor.u[:8] + np.arange(8))
    with pytest.raises(ValueError, match="too few samples for method 'arimax': 8"):
        mod.fit("arimax")


# ---------------------------------------------------------------------------
# 6. irregular sampling on shared exponentials; arimax's convergence

def _per_step(M, N, steps):
    return [K.zoh_discretise(M, N, h) for h in steps]


@pytest.mark.parametrize("steps", [
    5e-3 * (1 + np.random.default_rng(0).uniform(-0.3, 0.3, 60)),
    # clusters, a gap and tiny steps: several bins
    np.concatenate([5e-3 * (1 + np.random.default_rng(1).uniform(-0.3, 0.3, 40)),
                    [0.3, 0.31, 2.0], 1e-6 * np.arange(1, 40)]),
])
def test_shared_exponentials_match_one_expm_per_step(steps):
    spec = K.EquationSpec(2, (1,), 1, True, [])
    M, N = K.sensitivity_system(spec, np.array([-4.0, 10.0, -2.0]))
    assert K.zoh_taylor_plan(M, N, steps) is not None
    F, G = K.zoh_discretise_steps(M, N, steps)
    # rounding relative to exp(Z h), whose norm is about 1 here
    for i, (Fi, Gi) in enumerate(_per_step(M, N, steps)):
        np.testing.assert_allclose(F[i], Fi, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(G[i], Gi, rtol=1e-12, atol=1e-15)


def test_irregular_simulation_uses_few_exponentials_and_is_exact(monkeypatch):
    rng = np.random.default_rng(5)
    n = 800
    t = np.concatenate([[0.0], np.cumsum(5e-3 * (1 + rng.uniform(-0.3, 0.3, n - 1)))])
    u = np.repeat(rng.uniform(-1, 1, n // 100), 100)
    spec = K.EquationSpec(2, (1,), 1, True, [])
    theta, s0 = np.array([-4.0, 10.0, -2.0]), np.array([0.3, 0.5])
    w = K.build_inputs(u, n, True)
    calls = []
    real_expm = linalg.expm
    monkeypatch.setattr(K.linalg, "expm", lambda a: calls.append(1) or real_expm(a))
    states, jac = K.simulate_linear(spec, theta, s0, t, w, sensitivities=True)
    assert len(calls) <= 2  # 799 distinct steps, one bin
    monkeypatch.setattr(K.linalg, "expm", real_expm)
    # the exact recursion with one exponential per step
    M, N = K.sensitivity_system(spec, theta)
    z = np.zeros(M.shape[0])
    z[:2] = s0
    z[(1 + 3) * 2] = 1.0
    z[(1 + 4) * 2 + 1] = 1.0
    ref = [z]
    for k in range(n - 1):
        F, G = K.zoh_discretise(M, N, t[k + 1] - t[k])
        z = F @ z + G @ w[k]
        ref.append(z)
    ref = np.array(ref)
    np.testing.assert_allclose(states, ref[:, :2], rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(jac, ref[:, 2::2][:, :5], rtol=1e-10, atol=1e-11)


def test_oe_on_jittered_times_recovers_the_motor():
    rng = np.random.default_rng(8)
    n = 2000
    t = np.concatenate([[0.0], np.cumsum(5e-3 * (1 + rng.uniform(-0.3, 0.3, n - 1)))])
    u = np.repeat(rng.uniform(-1, 1, n // 100), 100)
    spec = K.EquationSpec(2, (1,), 1, True, [])
    truth = np.array([-4.0, 10.0, -2.0])
    x = K.simulate_linear(spec, truth, np.array([0.3, 0.5]), t, K.build_inputs(u, n, True))[0]
    y = x[:, 0] + 2e-3 * rng.standard_normal(n)
    res = DerivativeRegression(y, t, exog=u).fit("oe")
    z = (res.params.to_numpy() - truth) / res.bse.to_numpy()
    assert np.all(np.abs(z) < 4), z


def test_arimax_converges_in_few_likelihood_evaluations(monkeypatch):
    from econderiv.models import _derivreg_arimax as A
    df = simulate_motor(n=20000, seed=4)
    count = []
    real = A._profile_loglike_score
    monkeypatch.setattr(A, "_profile_loglike_score",
                        lambda model, x: count.append(1) or real(model, x))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no non-convergence warning
        res = DerivativeRegression(df.x, df.t, exog=df.u).fit("arimax")
    assert res.converged
    assert len(count) <= 12, len(count)


# ---------------------------------------------------------------------------
# 7. the notebook keeps its figures

def test_notebook_saves_its_figures():
    nb = json.loads(NOTEBOOK.read_text())
    source = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert 'matplotlib.use("Agg")' not in source
    images = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # measured vs fitted, residuals, estimates, logistic
    for key in ("predict(", "resid", "conf_int("):
        assert key in source


def test_newton_stops_at_the_rounding_floor_of_a_noisy_likelihood():
    # A quadratic log-likelihood (information of a long record) whose values
    # carry rounding noise of 1e-4 and whose score carries noise that puts
    # the Newton decrement's floor near 1e-5, above tol: the optimizer must
    # stop there in a few evaluations, not line-search in the noise.
    from econderiv.models import _derivreg_arimax as A
    info = np.diag([1e6, 1e4])
    best = np.array([0.3, -1.2])
    calls = []

    def noise(x, scale):
        return scale * np.sin(1e9 * (x @ np.array([1.0, np.pi])) + np.arange(2))

    def loglike(x):
        calls.append(1)
        d = x - best
        return -0.5 * d @ info @ d + noise(x, 1e-4)[0]

    def score(x):
        return -info @ (x - best) + noise(x, 0.3)

    x, f, converged, it, H = A._newton_ml(None, best + [0.01, 0.1], maxiter=50,
                                          hessian=lambda model, x: -info,
                                          loglike=loglike, score=score)
    assert converged
    assert len(calls) <= 10, len(calls)
    se = 1 / np.sqrt(np.diag(info))
    assert np.all(np.abs(x - best) < 0.01 * se)
