"""Penalized multinomial logit (MNLogit.fit_regularized / regularization_path):
KKT certificate, monotone MM, a direct convex solver on tiny problems,
screening, parameterizations, results and bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from econderiv import MNLogit
from econderiv.models import _mnlogit_penalty
from econderiv.models._mnlogit_path import POST_SELECTION_NOTE
from econderiv.models._mnlogit_penalty import (PenaltySpec, StandardizedDesign,
                                               penalty_value, solve_penalty)


def _data(n=300, p=6, J=3, seed=0, scale=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p))
    if scale:
        x = x * np.linspace(0.5, 4.0, p) + np.linspace(-1.0, 2.0, p)
    beta = np.zeros((p, J))
    beta[:2] = rng.standard_normal((2, J))
    z = (x - x.mean(0)) / x.std(0)
    eta = z @ beta
    prob = np.exp(eta - eta.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    y = (prob.cumsum(1) > rng.uniform(size=(n, 1))).argmax(1)
    exog = pd.DataFrame(x, columns=[f"v{k}" for k in range(p)])
    exog.insert(0, "const", 1.0)
    return pd.Series(y.astype(float), name="y"), exog


@pytest.fixture(scope="module")
def model():
    y, x = _data()
    return MNLogit(y, x)


def _full_loss_grad(model, coef):
    """-loglik/n and its gradient for all J columns of ``coef`` (p, J), from
    the model's own (unpenalized) score: an independent code path."""
    n = model.exog.shape[0]
    contrasts = coef[:, 1:] - coef[:, :1]
    ll = model.loglike(contrasts.ravel(order="F"))
    g = model.score(contrasts.ravel(order="F")).reshape(coef.shape[0], -1, order="F")
    full = np.column_stack((-g.sum(axis=1), g))
    return -ll / n, -full / n


@pytest.mark.parametrize("penalty, l1_wt, symmetric",
                         [("group", 1.0, True), ("elementwise", 1.0, True),
                          ("group", 0.4, False), ("elementwise", 0.7, False)])
def test_kkt_conditions_hold_at_every_penalty(model, penalty, l1_wt, symmetric):
    path = model.regularization_path(n_alphas=8, alpha_min_ratio=0.05, penalty=penalty,
                                     L1_wt=l1_wt, symmetric=symmetric, tol=1e-9)
    assert path.converged.all() and path.kkt.max() <= 1e-9
    x = model.exog
    sd = x[:, 1:].std(axis=0)
    j0 = 0 if symmetric else 1
    worst = 0.0
    for lam, coef in zip(path.alphas, path.coefs):
        _, grad = _full_loss_grad(model, coef)
        # standardized scale: theta_k = sd_k beta_k, gradient / sd_k
        th = coef[1:, j0:] * sd[:, None]
        g = grad[1:, j0:] / sd[:, None] + lam * (1 - l1_wt) * th
        worst = max(worst, np.abs(grad[0, j0:]).max())    # unpenalized intercepts
        for k in range(th.shape[0]):
            if penalty == "group":
                nrm = np.linalg.norm(th[k])
                v = (np.abs(g[k] + lam * l1_wt * th[k] / nrm).max() if nrm > 0
                     else max(np.linalg.norm(g[k]) - lam * l1_wt, 0.0))
            else:
                v = np.where(th[k] != 0, np.abs(g[k] + lam * l1_wt * np.sign(th[k])),
                             np.maximum(np.abs(g[k]) - lam * l1_wt, 0.0)).max()
            worst = max(worst, v)
    assert worst < 1e-8
    # the path starts where everything is zero and selects something later
    assert path.df[0] == 0 and path.df[-1] > 0


def test_lambda_max_is_the_smallest_penalty_with_nothing_selected(model):
    path = model.regularization_path(n_alphas=3, alpha_min_ratio=0.5)
    lmax = path.lambda_max
    assert path.alphas[0] == pytest.approx(lmax)
    just_below = model.fit_regularized(alpha=0.995 * lmax)
    assert just_below.df[0] >= 1
    at = model.fit_regularized(alpha=1.0001 * lmax)
    assert at.df[0] == 0


@pytest.mark.parametrize("penalty", ["group", "elementwise"])
def test_plain_mm_objective_never_increases(model, penalty):
    x, y = model.exog, np.asarray(model.endog, dtype=int)
    design = StandardizedDesign(x, y, int(model.J), const=0)
    spec = PenaltySpec(penalty, 0.8, np.ones(design.m), True)
    trace = []
    res = solve_penalty(design, 0.02, spec, np.zeros((design.m, design.J)),
                        np.zeros(design.J), tol=1e-10, maxiter=5000, accelerate=False,
                        trace=trace)
    assert res["converged"]
    f = np.asarray(trace)
    assert len(f) > 20
    assert np.all(np.diff(f) <= 1e-15 * np.abs(f[1:]))
    assert f[-1] < f[0]


def _direct_objective(model, lam, l1_wt, penalty, symmetric):
    """The objective as a function of the flat (p, J) coefficients on the
    original scale (free columns only), for scipy."""
    x = model.exog
    n, p = x.shape
    J = int(model.J)
    sd = x[:, 1:].std(axis=0)
    j0 = 0 if symmetric else 1
    y = np.asarray(model.endog, dtype=int)

    def unpack(v):
        coef = np.zeros((p, J))
        coef[:, j0:] = v.reshape(p, J - j0)
        return coef

    def smooth(coef):
        eta = x @ coef
        m = eta.max(axis=1, keepdims=True)
        lse = (m[:, 0] + np.log(np.exp(eta - m).sum(axis=1)))
        th = coef[1:, j0:] * sd[:, None]
        return (lse - eta[np.arange(n), y]).sum() / n + 0.5 * lam * (1 - l1_wt) * (th ** 2).sum()

    return unpack, smooth, sd, j0


def test_agrees_with_a_direct_convex_solver_elementwise():
    # elementwise lasso on a smooth reformulation: theta = u - v, u, v >= 0 (L-BFGS-B)
    y, x = _data(n=150, p=3, J=3, seed=3)
    model = MNLogit(y, x)
    lam, l1_wt = 0.03, 0.6
    unpack, smooth, sd, j0 = _direct_objective(model, lam, l1_wt, "elementwise", False)
    p, J = model.exog.shape[1], int(model.J)
    k = p * (J - 1)
    w = np.zeros((p, J - 1))
    w[1:] = lam * l1_wt * sd[:, None]           # L1 weight per coefficient (orig. scale)
    w = w.ravel()

    def fun(uv):
        b = uv[:k] - uv[k:]
        coef = unpack(b)
        eps = 1e-7
        f0 = smooth(coef) + w @ (uv[:k] + uv[k:])
        grad = np.empty_like(uv)
        for i in range(k):               # central differences: tiny problem
            e = np.zeros(k)
            e[i] = eps
            d = (smooth(unpack(b + e)) - smooth(unpack(b - e))) / (2 * eps)
            grad[i], grad[k + i] = d + w[i], -d + w[i]
        return f0, grad

    best = optimize.minimize(fun, np.full(2 * k, 0.01), jac=True, method="L-BFGS-B",
                             bounds=[(0, None)] * (2 * k),
                             options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    path = model.fit_regularized(alpha=lam, L1_wt=l1_wt, penalty="elementwise",
                                 symmetric=False, tol=1e-11)
    assert path.objective[0] <= best.fun + 1e-12
    assert path.objective[0] == pytest.approx(best.fun, rel=1e-8)
    b_direct = (best.x[:k] - best.x[k:]).reshape(p, J - 1)
    np.testing.assert_allclose(np.asarray(path.params), b_direct, atol=2e-4)


def test_agrees_with_a_direct_convex_solver_group():
    # group lasso as a smooth problem with cone constraints: t_k >= ||theta_k|| (SLSQP)
    y, x = _data(n=150, p=3, J=3, seed=5)
    model = MNLogit(y, x)
    lam, l1_wt = 0.04, 0.8
    unpack, smooth, sd, j0 = _direct_objective(model, lam, l1_wt, "group", True)
    p, J = model.exog.shape[1], int(model.J)
    k = p * J
    m = p - 1

    def fun(v):
        return smooth(unpack(v[:k])) + lam * l1_wt * v[k:].sum()

    def cone(v):
        coef = unpack(v[:k])
        th = coef[1:] * sd[:, None]
        return v[k:] ** 2 - (th ** 2).sum(axis=1)

    path = model.fit_regularized(alpha=lam, L1_wt=l1_wt, penalty="group", tol=1e-11)
    start = np.concatenate([np.full(k, 0.1), np.ones(m)])   # independent of ours
    for _ in range(2):   # SLSQP restarted from its own result (one row is near the kink)
        best = optimize.minimize(fun, start, method="SLSQP",
                                 constraints=[{"type": "ineq", "fun": cone}],
                                 bounds=[(None, None)] * k + [(0, None)] * m,
                                 options={"ftol": 1e-15, "maxiter": 5000})
        start = best.x
    assert best.success
    assert path.objective[0] <= best.fun + 1e-12
    assert path.objective[0] == pytest.approx(best.fun, rel=1e-10)
    np.testing.assert_allclose(path.objective_at(unpack(best.x[:k]), lam), best.fun,
                               rtol=1e-12)


def test_strong_rule_and_chunks_do_not_change_the_solution(monkeypatch):
    y, x = _data(n=400, p=8, J=4, seed=2)
    a = MNLogit(y, x).regularization_path(n_alphas=6, alpha_min_ratio=0.05, tol=1e-11)
    b = MNLogit(y, x, chunksize=37).regularization_path(alphas=a.alphas, tol=1e-11,
                                                        screen=False, accelerate=False,
                                                        maxiter=100000)
    np.testing.assert_allclose(a.coefs, b.coefs, atol=1e-7)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-12)
    # many blocks and screening: passes that read only the strong columns,
    # certified by full passes (here whatever the strong set's size)
    monkeypatch.setattr(_mnlogit_penalty, "SUBSET_FRACTION", 1.0)
    c = MNLogit(y, x, chunksize=37).regularization_path(alphas=a.alphas, tol=1e-11)
    assert (c.full_passes < c.passes).any() and c.converged.all()
    np.testing.assert_allclose(a.coefs, c.coefs, atol=1e-7)


def test_symmetric_fit_does_not_depend_on_the_base_category():
    y, x = _data(n=300, p=5, J=3, seed=4)
    relabelled = (2 - y).rename("y")                 # category 2 becomes the base
    lam = 0.03
    a = MNLogit(y, x).fit_regularized(alpha=lam, tol=1e-11)
    b = MNLogit(relabelled, x).fit_regularized(alpha=lam, tol=1e-11)
    np.testing.assert_allclose(a.predict().to_numpy(), b.predict().to_numpy()[:, ::-1],
                               atol=1e-8)
    assert a.selected() == b.selected()
    base_a = MNLogit(y, x).fit_regularized(alpha=lam, symmetric=False, tol=1e-11)
    base_b = MNLogit(relabelled, x).fit_regularized(alpha=lam, symmetric=False, tol=1e-11)
    assert not np.allclose(base_a.predict().to_numpy(), base_b.predict().to_numpy()[:, ::-1],
                           atol=1e-6)


def test_penalty_factors_zero_leave_a_regressor_unpenalized(model):
    pf = pd.Series(1.0, index=[f"v{k}" for k in range(6)])
    pf["v4"] = 0.0
    path = model.regularization_path(n_alphas=4, alpha_min_ratio=0.5, penalty_factor=pf)
    assert all("v4" in path.selected(a) for a in path.alphas)
    assert path.df[0] == 1


def test_results_predict_refit_and_cv(model):
    path = model.regularization_path(n_alphas=6, alpha_min_ratio=0.05, cv=3, seed=1)
    prob = path.predict(alpha="min")
    assert prob.shape == (model.exog.shape[0], 3)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0)
    assert path.cv.fold_deviance.shape == (3, 6)
    assert path.cv.alpha_1se >= path.cv.alpha_min
    frame = path.summary_frame()
    assert list(frame.columns[:3]) == ["alpha", "df", "n_nonzero"]
    np.testing.assert_allclose(frame.deviance, 2 * model.exog.shape[0] * path.loss)
    assert path.coef(path.alphas[2], layout="base").shape == (7, 2)
    refit = path.refit("min")
    assert refit.post_selection["note"] == POST_SELECTION_NOTE
    assert "POST-SELECTION" in str(refit.summary())
    names = list(refit.model.exog_names)
    assert names[0] == "const" and names[1:] == path.selected("min")


def test_statsmodels_l1_is_still_available():
    y, x = _data(n=80, p=2, J=3, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = MNLogit(y, x).fit_regularized(method="l1", alpha=1.0, disp=False)
    assert np.asarray(res.params).shape == (3, 2)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": -0.1}, "alpha must be >= 0"),
    ({"alpha": np.nan}, "alpha must be finite"),
    ({"alpha": np.inf}, "alpha must be finite"),
    ({"alpha": [0.1, 0.2]}, "strictly decreasing"),
    ({"alpha": 0.1, "L1_wt": 1.5}, r"L1_wt must be in \[0, 1\]"),
    ({"alpha": 0.1, "L1_wt": -0.2}, r"L1_wt must be in \[0, 1\]"),
    ({"alpha": 0.1, "penalty_factor": [1.0, 1.0]}, "penalty_factor has 2 entries, expected "
                                                   "one per penalized regressor \\(6"),
    ({"alpha": 0.1, "penalty_factor": [1, 1, 1, -1, 1, 1]}, "finite and >= 0; bad for"),
    ({"alpha": 0.1, "penalty_factor": [1, 1, 1, np.nan, 1, 1]}, r"\['v3'\]"),
    ({"alpha": 0.1, "penalty": "fused"}, "penalty must be 'group' or 'elementwise'"),
    ({"alpha": 0.1, "method": "saga"}, "method must be 'bohning'"),
    ({}, "alpha \\(the penalty\\) is required"),
])
def test_bad_input_is_a_clear_error(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.fit_regularized(**kwargs)


def test_unknown_keyword_and_bad_path_options(model):
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.fit_regularized(alpha=0.1, l1_wt=0.5)
    with pytest.raises(ValueError, match="alpha_min_ratio"):
        model.regularization_path(alpha_min_ratio=2.0)
    with pytest.raises(ValueError, match="cv"):
        model.regularization_path(n_alphas=3, cv=1)
    path = model.regularization_path(n_alphas=3)
    with pytest.raises(ValueError, match="not on the path"):
        path.coef(0.123456)
    with pytest.raises(ValueError, match="cross-validate"):
        path.predict()


def test_penalty_value_matches_the_stated_objective():
    rng = np.random.default_rng(0)
    th = rng.standard_normal((4, 3))
    th[1] = 0
    spec = PenaltySpec("group", 0.3, np.array([1.0, 2.0, 0.0, 0.5]), True)
    want = sum(f * (0.3 * np.linalg.norm(r) + 0.35 * (r ** 2).sum())
               for f, r in zip(spec.factors, th))
    assert penalty_value(th, 1.0, spec) == pytest.approx(want)
    spec = PenaltySpec("elementwise", 1.0, np.ones(4), False)   # base column not penalized
    assert penalty_value(th, 2.0, spec) == pytest.approx(2.0 * np.abs(th[:, 1:]).sum())


@pytest.mark.parametrize("l1, l2", [(1.0, 0.0), (0.7, 0.3), (0.0, 1.0), (0.2, 2.0)])
@pytest.mark.parametrize("J", [4, 5])
def test_recentering_minimizes_the_row_penalty_along_the_flat_direction(l1, l2, J):
    from econderiv.models._mnlogit_penalty import _recenter_rows

    rng = np.random.default_rng(J)
    theta = rng.standard_normal((6, J)) * rng.uniform(0.1, 3, (6, 1))

    def pen(row):
        return l1 * np.abs(row).sum(axis=-1) + 0.5 * l2 * (row ** 2).sum(axis=-1)

    out = _recenter_rows(theta.copy(), np.full(6, l1), np.full(6, l2), False)
    grid = np.linspace(-6, 6, 24001)
    for before, after in zip(theta, out):
        best = pen(before[None, :] + grid[:, None]).min()
        assert pen(after) <= best + 1e-9
        np.testing.assert_allclose(np.diff(after - before), 0.0, atol=1e-12)   # a c 1' shift
    group = _recenter_rows(theta.copy(), np.full(6, l1), np.full(6, l2), True)
    np.testing.assert_allclose(group.mean(axis=1), 0.0, atol=1e-12)


def test_weighted_models_are_refused_with_a_clear_error():
    y, x = _data(n=100, p=2, J=3, seed=7)
    model = MNLogit(y, x, freq_weights=np.ones(len(y)) * 2)
    with pytest.raises(NotImplementedError, match="weights"):
        model.fit_regularized(alpha=0.1)
