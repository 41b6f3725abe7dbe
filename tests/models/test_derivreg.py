"""DerivativeRegression: recovery on simulated motors, sensitivities, bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from econderiv import datasets
from econderiv.datasets import simulate_motor
from econderiv.models import _derivreg_kernels as K
from econderiv.models._derivreg_arimax import delta_map
from econderiv.models.derivreg import DerivativeRegression
from econderiv.testing import check_derivatives, numerical_jacobian

TRUE = {"D1.x": -4.0, "u": 10.0, "const": -2.0}


def make_motor(seed=0, n=4000, fs=200.0, a=-4.0, b=10.0, g=-2.0, sd=2e-3, s0=(0.3, 0.5)):
    """DC motor x'' = a x' + b u + g with random held voltage steps of 0.4-1.2 s,
    simulated exactly (econderiv.datasets.simulate_motor, independent of the
    estimation kernels), position noise of sd ``sd``."""
    df = simulate_motor(n=n, fs=fs, a=a, b=b, g=g, noise_sd=sd, x0=s0, seed=seed)
    return (df.t.to_numpy(), df.x.to_numpy(), df.u.to_numpy(),
            df[["x_true", "v_true"]].to_numpy())


@pytest.fixture(scope="module")
def motor():
    t, y, u, s = make_motor(seed=20261125)
    return DerivativeRegression(y, t, order=2, derivs=(1,), exog=u), s


@pytest.fixture(scope="module")
def fits(motor):
    mod, _ = motor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {m: mod.fit(m) for m in ("fd", "integral", "oe", "arimax", "fourier")}


# ---------------------------------------------------------------------------
# Recovery on the simulated motor (the accuracy bands)

@pytest.mark.parametrize("method, band", [("oe", 0.01), ("integral", 0.03),
                                          ("arimax", 0.05), ("fourier", 0.10)])
def test_recovery_bands(fits, method, band):
    res = fits[method]
    for name, truth in TRUE.items():
        assert abs(res.params[name] - truth) <= band * abs(truth), (method, name,
                                                                    res.params[name])


def test_recovery_is_much_tighter_than_bands_for_efficient_methods(fits):
    # With 4000 samples the ML methods are accurate to about 0.1%.
    for m in ("oe", "arimax"):
        rel = (fits[m].params - pd.Series(TRUE)).abs() / pd.Series(TRUE).abs()
        assert rel.max() < 2e-3, (m, rel)


def test_fd_is_biased(fits):
    # Regression dilution: the noisy D1.x attenuates its coefficient.
    assert abs(fits["fd"].params["D1.x"] - TRUE["D1.x"]) > 0.1 * 4.0
    assert "dilution" in str(fits["fd"].summary())


def test_oe_and_arimax_agree(fits):
    # Same Gaussian likelihood, two parameterisations: estimates coincide
    # up to the discrete model's extra freedom.
    d = (fits["oe"].params - fits["arimax"].params).abs()
    assert (d < 0.5 * fits["oe"].bse).all(), d
    ratio = fits["arimax"].bse / fits["oe"].bse
    assert ((ratio > 0.8) & (ratio < 1.25)).all(), ratio


def test_oe_interval_covers_truth_and_initial_state(fits, motor):
    _, s = motor
    res = fits["oe"]
    ci = res.conf_int()
    for name, truth in TRUE.items():
        assert ci.loc[name, "lower"] < truth < ci.loc[name, "upper"]
    assert res.nuisance["coef"].to_numpy() == pytest.approx(s[0], abs=5e-3)
    assert res.scale == pytest.approx(2e-3**2, rel=0.1)


def test_integral_se_matches_replication_sd():
    # 40 replications: the sandwich SE under white measurement noise agrees
    # with the spread of the estimates (HAC with the default lags does not).
    est, se, se_hac = [], [], []
    for r in range(40):
        t, y, u, _ = make_motor(seed=500 + r, n=1000)
        mod = DerivativeRegression(y, t, exog=u)
        fit = mod.fit("integral")
        est.append(fit.params.to_numpy())
        se.append(fit.bse.to_numpy())
        se_hac.append(mod.fit("integral", cov_type="HAC").bse.to_numpy())
    ratio = np.std(est, axis=0) / np.mean(se, axis=0)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
    ratio_hac = np.std(est, axis=0) / np.mean(se_hac, axis=0)
    assert np.all(ratio_hac > 1.5), ratio_hac


def test_simulate_reproduces_true_path(fits, motor):
    mod, s = motor
    # The fits track the noise-free path to a small fraction of the noise
    # sd (2e-3); a constant error would drift the position by dg/|a| per
    # unit time, so this also checks "fourier"'s zero-frequency constant.
    for m, tol in (("oe", 2e-4), ("integral", 2e-4), ("arimax", 2e-4), ("fourier", 2e-4)):
        sim = fits[m].simulate()
        assert list(sim.columns) == ["x", "D1.x"]
        err = np.sqrt(np.mean((sim["x"].to_numpy() - s[:, 0])**2))
        assert err < tol, (m, err)
    # Given state and inputs on another grid.
    res = fits["oe"]
    t2 = np.linspace(0, 2, 401)
    sim2 = res.simulate(exog=np.ones(401), x0=[0.0, 0.0], time=t2)
    # x' -> (b + g)/(-a) = 2 with time constant 1/4.
    v = (10 - 2) / 4.0 * (1 - np.exp(-4 * t2))
    assert sim2["D1.x"].to_numpy() == pytest.approx(v, abs=2e-3)


def test_results_api(fits):
    res = fits["oe"]
    assert list(res.params.index) == ["D1.x", "u", "const"]
    assert list(res.bse.index) == list(res.params.index)
    assert res.cov_params().shape == (3, 3)
    assert np.all(res.bse > 0)
    assert list(res.conf_int(0.1).columns) == ["lower", "upper"]
    assert len(res.resid) == 4000
    text = str(res.summary())
    assert "oe" in text and "Output error" in text and "x(t0)" in text
    for m, r in fits.items():
        assert f"Method '{m}'" in str(r.summary())
    integral_text = str(fits["integral"].summary())
    assert "sandwich" in integral_text and "HAC" in integral_text
    assert list(fits["arimax"].discrete.index) == ["ar.L1", "ar.L2", "u.L1", "u.L2",
                                                   "const"]


def test_plot_fit(fits):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    fig = fits["oe"].plot_fit()
    assert fig.axes[0].get_lines()
    import matplotlib.pyplot as plt
    plt.close(fig)


# ---------------------------------------------------------------------------
# Exact derivatives: sensitivities, discretisation, noise operator

def _oe_objective(mod):
    def f(v):
        r, _ = mod.output_error(v)
        return 0.5 * float(r @ r)

    def grad(v):
        r, J = mod.output_error(v)
        return J.T @ r

    return f, grad


def test_linear_sensitivities_match_numerical():
    t, y, u, _ = make_motor(seed=3, n=300)
    mod = DerivativeRegression(y, t, order=2, derivs=(1,), exog=u)
    f, grad = _oe_objective(mod)
    pts = [np.array([-4.0, 10.0, -2.0, 0.3, 0.5]), np.array([-1.0, 3.0, 0.5, -0.2, 1.0])]
    res = check_derivatives(f, grad, points=pts, method="richardson")
    assert res.grad_error < 1e-6, res
    # The Jacobian itself, column by column.
    v = pts[1]
    J = mod.output_error(v)[1]
    Jn = numerical_jacobian(lambda p: mod.output_error(p)[0], v, method="richardson")
    assert np.max(np.abs(J - Jn)) < 1e-7 * max(1.0, np.max(np.abs(Jn)))


def test_third_order_with_level_term_sensitivities():
    # x''' = a0 x + a2 x'' + b u, non-uniform sampling.
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 5, 60))
    u = np.sign(np.sin(t))
    mod = DerivativeRegression(np.zeros(60), t, order=3, derivs=(0, 2), exog=u,
                               trend="n")
    f, grad = _oe_objective(mod)
    v = np.array([-1.0, -2.0, 1.5, 0.1, 0.0, -0.3])
    mod.endog = 0.1 * np.cos(t)
    res = check_derivatives(f, grad, points=[v], method="richardson")
    assert res.grad_error < 1e-6, res


def _tight_path(mod, v):
    """x_sim at tolerance 1e-12, so that differences of it are a reference
    far more accurate than the integrator's default tolerance (1e-9)."""
    p = mod.k_params
    states, _ = K.simulate_nonlinear(mod.spec, v[:p], v[p:], mod.time, mod.inputs,
                                     rtol=1e-12, atol=1e-14)
    return states[:, 0]


def _relative_step_jacobian(fun, v, rel=1e-4):
    """Central differences with steps relative to each parameter (the
    logistic's x^2 coefficient is -1.6e-4: an absolute step of 1e-3 would
    make the solution blow up)."""
    cols = []
    for k in range(v.size):
        hk = rel * max(abs(v[k]), 1e-8)
        e = np.zeros_like(v)
        e[k] = hk
        cols.append((fun(v + e) - fun(v - e)) / (2 * hk))
    return np.column_stack(cols)


def test_nonlinear_sensitivities_match_numerical():
    # Logistic x' = r x + c x^2 and a motor with drag and x^2 terms: the
    # integrated sensitivity equations against differences of the solution.
    t = np.linspace(0, 100, 21)
    mod = DerivativeRegression(10 + 0.8 * t, t, order=1, derivs=(0,), trend="n",
                               nonlinear=["x^2"])
    v = np.array([0.03, -1.5e-4, 5.0])
    J = -mod.output_error(v)[1]
    Jn = _relative_step_jacobian(lambda p: _tight_path(mod, p), v)
    assert np.max(np.abs(J - Jn)) < 1e-6 * np.abs(Jn).max()
    tt, y, u, _ = make_motor(seed=4, n=400)
    mod2 = DerivativeRegression(y, tt, exog=u, nonlinear=["D1.x*abs(D1.x)", "x^2"])
    v2 = np.array([-4.0, 10.0, -2.0, -0.1, 0.05, 0.3, 0.5])
    J2 = -mod2.output_error(v2)[1]
    J2n = _relative_step_jacobian(lambda p: _tight_path(mod2, p), v2)
    assert np.max(np.abs(J2 - J2n)) < 1e-6 * np.abs(J2n).max()


def test_discretisation_matches_scipy_zoh():
    spec = K.EquationSpec(2, (0, 1), 1, True)
    theta = np.array([-3.0, -0.7, 2.0, 0.4])  # x'' = -3x - 0.7x' + 2u + 0.4
    h = 0.05
    d = K.discrete_coefficients(spec, theta, h)
    A = np.array([[0, 1], [-3.0, -0.7]])
    for col, gain in ((2, 2.0), (None, 0.4)):
        B = np.array([[0.0], [gain]])
        num, den = signal.cont2discrete((A, B, np.array([[1.0, 0.0]]), np.zeros((1, 1))),
                                        h, method="zoh")[:2], None
        Ad, Bd = num
        tf_num, tf_den = signal.ss2tf(Ad, Bd, np.array([[1.0, 0.0]]), np.zeros((1, 1)))
        assert -tf_den[1:] == pytest.approx(d[:2], rel=1e-10)
        if col is not None:
            assert tf_num[0, 1:] == pytest.approx(d[2:4], rel=1e-8)
        else:
            assert tf_num[0, 1:].sum() == pytest.approx(d[4], rel=1e-8)


def test_delta_operator_map():
    h = 0.005
    spec = K.EquationSpec(2, (1,), 1, True)
    d_fix, G = delta_map(2, 1, True, h)
    d = K.discrete_coefficients(spec, np.array([-4.0, 10.0, -2.0]), h)
    p = np.linalg.solve(G, d - d_fix)
    # Delta-operator coefficients approach the continuous ones as h -> 0:
    # A(s) = s^2 + 4 s, B(s) = 10, const -2.
    assert p[0] == pytest.approx(4.0, rel=0.02)
    assert abs(p[1]) < 1e-8
    assert p[3] == pytest.approx(10.0, rel=0.02)
    assert p[4] == pytest.approx(-2.0, rel=0.02)


def test_integral_noise_operator_matches_dense():
    rng = np.random.default_rng(2)
    n = 30
    t = np.cumsum(rng.uniform(0.5, 1.5, n))
    y = rng.standard_normal(n)
    X = rng.standard_normal((n, 3))
    spec = K.EquationSpec(2, (0, 1), 0, False,
                          [K.NonlinearTerm("x^2", 0, lambda v: v**2, lambda v: 2 * v)])
    theta = np.array([-1.3, 0.4, 0.25])
    Q = np.array([K.cumtrapz0(np.eye(n)[j], t) for j in range(n)]).T
    L = np.eye(n) - theta[0] * Q @ Q - theta[1] * Q - theta[2] * Q @ Q @ np.diag(2 * y)
    got = K.integral_noise_adjoint(spec, theta, y, t, X)
    assert got == pytest.approx(L.T @ X, rel=1e-12, abs=1e-12)


def test_fornberg_weights():
    W = K.fornberg_weights([-1, 0, 1], 2)
    assert W[1] == pytest.approx([-0.5, 0, 0.5])
    assert W[2] == pytest.approx([1, -2, 1])
    W4 = K.fornberg_weights([-2, -1, 0, 1, 2], 3)
    assert W4[3] == pytest.approx([-0.5, 1, 0, -1, 0.5])


# ---------------------------------------------------------------------------
# Logistic growth, formulas, non-uniform sampling

def test_logistic_us_population_near_pearl_reed():
    df = datasets.load("us_population")
    df = df[df.year <= 1910]
    x = pd.Series(df.population.to_numpy() / 1e6, name="pop")
    res = DerivativeRegression(x, df.year.to_numpy(), order=1, derivs=(0,), trend="n",
                               nonlinear=["x^2"]).fit("oe")
    assert list(res.params.index) == ["pop", "pop^2"]
    r, c = res.params
    assert r == pytest.approx(0.0313, rel=0.02)
    assert -r / c == pytest.approx(197.27, rel=0.02)


def test_from_formula_matches_direct(motor):
    mod, _ = motor
    df = pd.DataFrame({"x": mod.endog, "volt": mod.exog[:, 0], "t": mod.time})
    fmod = DerivativeRegression.from_formula("D2(x) ~ D1(x) + volt", data=df, time="t")
    assert fmod.param_names == ["D1.x", "volt", "const"]
    a = fmod.fit("integral").params.to_numpy()
    b = mod.fit("integral").params.to_numpy()
    assert a == pytest.approx(b, rel=1e-12)
    f2 = DerivativeRegression.from_formula("D1(x) ~ x + x^2 - 1", data=df, time="t")
    assert f2.param_names == ["x", "x^2"] and f2.order == 1


def test_nonuniform_sampling_oe_and_integral():
    t, y, u, _ = make_motor(seed=11)
    keep = np.sort(np.random.default_rng(0).choice(4000, 2500, replace=False))
    # Held inputs on the thinned grid: the input between kept samples is the
    # one applied at the earlier kept sample only if it did not change; use a
    # grid where it does not, by keeping every sample where u changes.
    changes = np.flatnonzero(np.diff(u)) + 1
    keep = np.union1d(keep, np.concatenate([changes - 1, changes]))
    # A kept sample's input must hold until the next kept sample.
    mod = DerivativeRegression(y[keep], t[keep], exog=u[keep])
    res = mod.fit("oe")
    for name, truth in TRUE.items():
        assert abs(res.params[name] - truth) <= 0.01 * abs(truth)
    with pytest.raises(ValueError, match="uniform sampling"):
        mod.fit("fd")
    with pytest.raises(ValueError, match="uniform sampling"):
        mod.fit("arimax")
    with pytest.raises(ValueError, match="uniform sampling"):
        mod.fit("fourier")


def test_friction_recovery_oe():
    # x'' = a x' + b u + f sign(x'): Coulomb friction, simulated by the
    # package's integrator at tight tolerance. Voltages of magnitude 0.5-1
    # keep |b u| > |f|, so the motor passes through x' = 0 without sticking
    # (a sliding regime would make any ODE integrator chatter).
    rng = np.random.default_rng(8)
    n, fs = 500, 200.0
    t = np.arange(n) / fs
    u = np.empty(n)
    i = 0
    while i < n:
        hold = int(round(rng.uniform(0.4, 1.2) * fs))
        u[i:i + hold] = rng.choice([-1, 1]) * rng.uniform(0.5, 1.0)
        i += hold
    spec_mod = DerivativeRegression(np.zeros(n), t, exog=u, trend="n",
                                    nonlinear=["sign(D1.x)"])
    theta = np.array([-4.0, 10.0, -1.5])
    states, _ = K.simulate(spec_mod.spec, theta, np.array([0.0, 0.3]), t,
                           spec_mod.inputs)
    y = states[:, 0] + 2e-3 * rng.standard_normal(n)
    mod = DerivativeRegression(y, t, exog=u, trend="n", nonlinear=["sign(D1.x)"])
    assert mod.param_names == ["D1.x", "u", "sign(D1.x)"]
    res = mod.fit("oe")
    assert res.params.to_numpy() == pytest.approx(theta, rel=0.01)


# ---------------------------------------------------------------------------
# Bad input

def test_bad_time():
    y = np.arange(10.0)
    with pytest.raises(ValueError, match="repeated"):
        DerivativeRegression(y, [0, 1, 2, 2, 3, 4, 5, 6, 7, 8], order=1, derivs=(0,))
    with pytest.raises(ValueError, match="not increasing"):
        DerivativeRegression(y, [0, 1, 3, 2, 4, 5, 6, 7, 8, 9], order=1, derivs=(0,))
    with pytest.raises(ValueError, match="endog 10, time 9"):
        DerivativeRegression(y, np.arange(9.0), order=1, derivs=(0,))


def test_nan_and_shapes():
    t = np.arange(20.0)
    y = np.sin(t)
    y[4] = np.nan
    with pytest.raises(ValueError, match="endog .* 1 missing"):
        DerivativeRegression(y, t)
    u = pd.DataFrame({"volt": np.ones(20)})
    u.loc[7, "volt"] = np.nan
    with pytest.raises(ValueError, match="'volt'"):
        DerivativeRegression(np.sin(t), t, exog=u)
    with pytest.raises(ValueError, match="time 20, exog 19"):
        DerivativeRegression(np.sin(t), t, exog=np.ones(19))
    tt = t.copy()
    tt[3] = np.inf
    with pytest.raises(ValueError, match="time has 1"):
        DerivativeRegression(np.sin(t), tt)


def test_too_few_samples_and_bad_spec():
    with pytest.raises(ValueError, match="too few samples"):
        DerivativeRegression(np.arange(5.0), np.arange(5.0), order=2, derivs=(0, 1),
                             exog=np.ones(5))
    with pytest.raises(ValueError, match="derivs"):
        DerivativeRegression(np.arange(50.0), np.arange(50.0), order=2, derivs=(2,))
    with pytest.raises(ValueError, match="cannot parse"):
        DerivativeRegression(np.arange(50.0), np.arange(50.0), nonlinear=["cos(x)"])
    with pytest.raises(ValueError, match="trend"):
        DerivativeRegression(np.arange(50.0), np.arange(50.0), trend="ct")
    mod = DerivativeRegression(np.arange(50.0)**2, np.arange(50.0), order=1,
                               derivs=(0,), nonlinear=["x^2"])
    with pytest.raises(ValueError, match="linear equation"):
        mod.fit("arimax")
    with pytest.raises(ValueError, match="method must be"):
        mod.fit("ols")


def test_constant_input_is_not_identified():
    t = np.arange(200) * 0.01
    with pytest.raises(ValueError, match="collinear"):
        DerivativeRegression(np.sin(t), t, exog=np.ones(200)).fit("integral")


def test_arimax_noise_option_and_fourier_band_errors(motor):
    mod, _ = motor
    with pytest.raises(ValueError, match="equation noise is not supported"):
        mod.fit("arimax", noise="both")
    t = np.arange(40) * 0.1
    small = DerivativeRegression(np.sin(t) + 0.01 * np.cos(7 * t), t,
                                 exog=np.sign(np.sin(3 * t)))
    with pytest.raises(ValueError, match="frequencies|too few samples"):
        small.fit("fourier")


def test_oe_survives_blow_up_trial_steps(monkeypatch):
    # Logistic data, a poor start (K = 60 million) from which some trial
    # steps give solutions that explode within the record: they are
    # rejected instead of raising.
    failures = []
    original = K.simulate_nonlinear

    def counting(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except FloatingPointError:
            failures.append(1)
            raise

    monkeypatch.setattr(K, "simulate_nonlinear", counting)
    df = datasets.load("us_population")
    df = df[df.year <= 1910]
    x = pd.Series(df.population.to_numpy() / 1e6, name="pop")
    mod = DerivativeRegression(x, df.year.to_numpy(), order=1, derivs=(0,), trend="n",
                               nonlinear=["x^2"])
    res = mod.fit("oe", start_params=[0.06, -1e-3])
    assert failures
    assert res.params["pop"] == pytest.approx(0.03135, rel=0.01)
    assert res.params["pop^2"] == pytest.approx(-1.5975e-4, rel=0.01)


def test_arimax_recursion_sensitivities_and_information(motor):
    from econderiv.models import _derivreg_arimax as A
    mod, _ = motor
    n = 600
    u = mod.exog[:n]
    phi = np.array([1.98, -0.9801])
    beta = np.array([[1.2e-4, 1.3e-4]])
    x_init = np.array([0.3, 0.302])

    def path(v):
        return A._deterministic_sensitivities(v[:2], v[2:4].reshape(1, 2), v[4], v[5:],
                                              u, True)[0]

    v = np.r_[phi, beta.ravel(), -5e-5, x_init]
    J = A._deterministic_sensitivities(phi, beta, -5e-5, x_init, u, True)[1]
    # The path is strongly curved in the AR coefficients (root near 1):
    # their differences need much smaller steps to reach the O(h^2) regime.
    Jn_phi = _relative_step_jacobian(path, v, rel=1e-8)[:, :2]
    Jn_rest = _relative_step_jacobian(path, v, rel=1e-5)[:, 2:]
    Jn = np.column_stack([Jn_phi, Jn_rest])
    col_err = np.abs(J - Jn).max(axis=0) / np.abs(Jn).max(axis=0)
    assert np.all(col_err < 2e-6), col_err
    # The exact (profiled, expected) information against finite differences
    # of the Kalman-filter (diffuse, observed) log-likelihood at the ML point
    # of the 4000-sample record: they differ by terms of relative order 1/n
    # (at 600 samples by about 10%, here by under 1%).
    h = mod.time[1] - mod.time[0]
    d_fix, G = A.delta_map(2, 1, True, h)
    ss = A.ArmaxStateSpace(mod.endog, mod.exog, 2, True, dmap=(d_fix, G))
    d = K.discrete_coefficients(mod.spec, np.array([-4.0, 10.0, -2.0]), h)
    x = np.r_[np.linalg.solve(G, d - d_fix), np.log(4e-6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, *_ = A._newton_ml(ss, x, hessian=A._fisher_information)
    H_exact = A._fisher_information(ss, x)
    H_num = A._hessian(ss, x)
    se_exact = np.sqrt(np.diag(np.linalg.inv(-H_exact)))
    se_num = np.sqrt(np.diag(np.linalg.inv(-H_num)))
    assert se_exact == pytest.approx(se_num, rel=0.02)


def test_arimax_delta_form_path_score_and_coefficients(motor):
    # The delta-operator recursion, its score and the delta coefficients
    # against the shift form and finite differences (they carry the fit on
    # long records, where the shift form is too imprecise).
    from econderiv.models import _derivreg_arimax as A
    mod, _ = motor
    h = mod.time[1] - mod.time[0]
    d_fix, G = delta_map(2, 1, True, h)
    for theta in ([-4.0, 10.0, -2.0], [-3.1, 8.0, 0.7]):
        theta = np.array(theta)
        p_shift = np.linalg.solve(G, K.discrete_coefficients(mod.spec, theta, h) - d_fix)
        p_delta = A.delta_coefficients(mod.spec, theta, h)
        # alpha_2 is 0 exactly (the position integrates the velocity); the
        # shift form gets it to about eps / h^2 only.
        assert p_delta[1] == 0.0
        assert np.abs(p_delta - p_shift).max() < 1e-10
    n = 600
    u = np.ascontiguousarray(mod.exog[:n])
    p = np.array([3.9, 0.02, 0.025, 9.9, -1.98])
    x_init = np.array([0.3, 0.302])
    d = d_fix + G @ p
    x_s, J_s = A._deterministic_sensitivities(d[:2], d[2:4].reshape(1, 2).copy(), d[4],
                                              x_init, u, True)
    x_d, J_d = A._delta_path_sensitivities(p[:2], p[2:4].reshape(1, 2).copy(), p[4],
                                           x_init, u, True, h)
    assert np.abs(x_d - x_s).max() < 1e-9 * np.abs(x_s).max()
    Jp = np.column_stack([J_s[:, :5] @ G, J_s[:, 5:]])
    assert np.all(np.abs(J_d - Jp).max(axis=0) < 1e-7 * np.abs(Jp).max(axis=0))
    # Score of the profiled log-likelihood against central differences.
    ss = A.ArmaxStateSpace(mod.endog[:n], u, 2, True, dmap=(d_fix, G), h=h)
    x = np.r_[A.delta_coefficients(mod.spec, np.array([-4.0, 10.0, -2.0]), h),
              np.log(4e-6)]
    x[1] = 1e-3
    _, g = A._profile_loglike_score(ss, x)
    g_num = _relative_step_jacobian(lambda v: np.atleast_1d(A._profile_loglike_score(ss, v)[0]),
                                    x, rel=1e-6).ravel()
    assert g == pytest.approx(g_num, rel=1e-4, abs=1e-4 * np.abs(g_num).max())


# ---------------------------------------------------------------------------
# fit keywords and layering (issue 9)

@pytest.mark.parametrize("method, bad, valid, hint", [
    ("oe", {"cov_type": "HC0"}, "maxiter, start_params, x0", None),
    ("integral", {"cov_tpye": "HAC"}, "cov_type, maxlags", "did you mean 'cov_type'"),
    ("arimax", {"maxiters": 5}, "maxiter, noise", "did you mean 'maxiter'"),
    ("fourier", {"weights": np.ones(3)}, "iterations, max_fraction, nfreq, snr", None),
])
def test_fit_rejects_unknown_keywords(motor, method, bad, valid, hint):
    mod, _ = motor
    with pytest.raises(TypeError, match=f"method='{method}'.*Valid keywords: {valid}") as err:
        mod.fit(method, **bad)
    assert "_fit_" not in str(err.value)
    if hint:
        assert hint in str(err.value)


def test_fit_fd_takes_no_keywords(motor):
    mod, _ = motor
    with pytest.raises(TypeError, match="method='fd'.*maxiter"):
        mod.fit("fd", maxiter=10)


@pytest.mark.parametrize("method", ["oe", "arimax"])
@pytest.mark.parametrize("maxiter", [0, -3])
def test_fit_rejects_maxiter_below_one(motor, method, maxiter):
    mod, _ = motor
    with pytest.raises(ValueError, match="maxiter must be at least 1"):
        mod.fit(method, maxiter=maxiter)


def test_method_modules_do_not_import_the_family_module():
    # Data flow one way: kernels -> method modules -> derivreg.py (adapter and
    # results); a method module importing derivreg.py closes an import circle.
    import ast
    from pathlib import Path

    import econderiv.models as models
    for path in sorted(Path(models.__file__).parent.glob("_derivreg_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.endswith("models.derivreg") or n == "derivreg" for n in names), \
                f"{path.name} imports the family module derivreg.py"
