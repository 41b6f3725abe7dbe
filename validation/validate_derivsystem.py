"""DerivativeSystem: the lynx and hare pelts against a published Lotka-Volterra
fit, and a Monte Carlo study of a linear two-state system.

1. Lotka-Volterra on the Hudson's Bay Company hare and lynx pelts,
   1900-1920 (``datasets.lynx_hare``), against the Stan case study
   "Predator-Prey Population Dynamics: the Lotka-Volterra model in Stan"
   (B. Carpenter, 28 January 2018; github stan-dev/example-models,
   knitr/lotka-volterra/lotka-volterra-predator-prey.Rmd, section "Comparing
   the fitted model to data", commit 2847a61): posterior means alpha = 0.55,
   beta = 0.028, gamma = 0.80, delta = 0.024 (the mean and median agree
   to within MCMC error, it says) and sigma = 0.25 for both species, from the
   model in lotka-volterra.stan: hare' = (alpha - beta lynx) hare,
   lynx' = (-gamma + delta hare) lynx, log y ~ N(log z(t), sigma_k), the
   initial state a parameter measured by the 1900 counts, priors
   alpha, gamma ~ N(1, 0.5), beta, delta ~ N(0.05, 0.05) (all > 0),
   sigma ~ lognormal(-1, 1), z_init ~ lognormal(log 10, 1).

   DerivativeSystem fits the same measurement model by maximum likelihood
   (``fit("oe", measurement="log")``: the ODE in levels, the error on the
   log scale). That is the posterior *mode* under flat priors, not the
   posterior *mean* the case study prints, so the like-with-like check
   computes the case study's posterior mean with DerivativeSystem's solver:
   self-normalised importance sampling from a multivariate t (5 df) centred
   at the posterior mode on the log scale of the eight positive parameters
   with the Laplace covariance (inflated 1.2^2). The checks compare those
   posterior means with the printed ones at the printed precision; the ML
   estimate, the posterior mode with the priors (MAP) and the mean are
   printed side by side, which splits the ML-to-published difference into
   the priors' pull (ML -> MAP) and the skew of the posterior (MAP -> mean).
   The case study's 80% intervals are printed too (its text swaps the
   labels of gamma and delta and drops a 0 in beta's: 0.23-0.33 is
   0.023-0.033).

2. Monte Carlo (``--full`` only; an independent re-computation, not a
   published number): x' = -0.5 x + y + 0.8 u + 0.2, y' = -x - 0.3 y + 0.1,
   simulated exactly (block matrix exponential, u held between samples),
   x measured at 201 times on [0, 20] with noise sd 0.03 and y at every
   other time (101) with sd 0.06, the initial state drawn per replication.
   Methods ``"oe"`` and ``"integral"``: bias, RMSE, mean SE against the
   replication sd and the coverage of nominal 95% intervals per parameter;
   the issue's target is coverage within 93-97% over at least 200
   replications. ``--full`` runs 1000 (about 35 s; the Monte Carlo error of a
   coverage is then 0.7 points); ``--reps`` changes that. With 200 replications
   the Monte Carlo standard error of a coverage is 1.5 points, so the 93-97%
   band is +-1.3 MC sd: one of 14 parameters outside it is expected by chance
   about as often as not. Recorded runs (28 Nov 2026): 200 replications (the
   default seed): oe 93.0-96.0%, integral 94.5-98.0% (D1.y:y 98.0%, the one
   check outside the band); 1000 replications (``monte_carlo(1000,
   seed=777)``): oe 94.3-96.6%, integral 95.0-96.5%, RMSE oe 0.004-0.016,
   integral 0.005-0.034 (the integral form's RMSE is 1.2-3.4 times oe's);
   1000 replications with the default seed (the ``--full`` run): oe
   93.7-95.4%, integral 94.8-96.0%, all 14 inside the band.

3. Parametric bootstrap of the lynx-hare fit (``--full`` only, printed, no
   pass/fail): lognormal data simulated from the fitted system and refitted,
   the coverage of the 95% Wald intervals of the nonlinear, log-scale path
   with 21 samples per species.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, main, run_groups  # noqa: E402

from econderiv import datasets  # noqa: E402
from econderiv.models import _derivsys_kernels as KS  # noqa: E402
from econderiv.models.derivsystem import DerivativeSystem  # noqa: E402

CS = "Carpenter 2018 (Stan LV)"
LV_FORMULAS = ["D1(hare) ~ hare + hare:lynx - 1", "D1(lynx) ~ lynx + hare:lynx - 1"]
#: published posterior means, as printed (Rmd "Comparing the fitted model to data")
PUBLISHED = {"alpha": "0.55", "beta": "0.028", "gamma": "0.80", "delta": "0.024"}
PUBLISHED_SIGMA = "0.25"
#: published 80% posterior intervals (labels of gamma/delta and beta's digits corrected)
PUBLISHED_80 = {"alpha": (0.47, 0.63), "beta": (0.023, 0.033), "gamma": (0.69, 0.91),
                "delta": (0.020, 0.029)}
RATES = ["alpha", "beta", "gamma", "delta"]
SIGN = np.array([1.0, -1.0, -1.0, 1.0])   # alpha = theta_1, beta = -theta_2, ...


# ---------------------------------------------------------------------------
# 1. lynx and hare
def lynx_hare_model():
    df = datasets.load("lynx_hare")
    return df, DerivativeSystem.from_formula(LV_FORMULAS, df, time="year")


def case_study_log_posterior(mod, logy):
    """The case study's log posterior in q = log(alpha, beta, gamma, delta,
    z_hare, z_lynx, sigma_hare, sigma_lynx), with the log-transform's Jacobian
    (``jac=False`` gives the density on the natural scale, whose mode is the
    MAP Stan's optimizer reports)."""
    w = KS.held_inputs(None, mod.time.size)

    def logpost(q, jac=True):
        p = np.exp(q)
        try:
            states, _ = KS.simulate_nonlinear(mod.spec, SIGN * p[:4], p[4:6], mod.time, w,
                                              rtol=1e-7, atol=1e-9)
        except FloatingPointError:
            return -np.inf
        if np.any(states <= 0):
            return -np.inf
        r = logy - np.log(states)
        s = p[6:8]
        ll = np.sum(-np.log(s) - 0.5 * (r / s)**2)
        prior = (stats.norm.logpdf(p[[0, 2]], 1, 0.5).sum()
                 + stats.norm.logpdf(p[[1, 3]], 0.05, 0.05).sum()
                 + stats.lognorm.logpdf(s, 1, scale=np.exp(-1)).sum()
                 + stats.lognorm.logpdf(p[4:6], 1, scale=10).sum())
        return ll + prior + (q.sum() if jac else 0.0)

    return logpost


def numerical_hessian(f, x, h=1e-4):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h, h
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * h * h)
    return H


def lynx_hare_fits(draws=8000, seed=2018):
    """ML (DerivativeSystem), MAP and posterior mean under the case study's model."""
    df, mod = lynx_hare_model()
    t0 = time.perf_counter()
    res = mod.fit("oe", measurement="log")
    t_fit = time.perf_counter() - t0
    ml = SIGN * res.params.to_numpy()
    logy = np.log(np.column_stack([df.hare, df.lynx]))
    logpost = case_study_log_posterior(mod, logy)
    q_ml = np.log(np.r_[ml, res.nuisance["coef"].to_numpy(), res.sigma.to_numpy()])
    # MAP on the natural scale (the mode Stan's optimizer would report)
    map_nat = optimize.minimize(lambda q: -logpost(q, jac=False), q_ml, method="BFGS",
                                options={"gtol": 1e-8}).x
    # importance sampling around the mode of the log-scale density
    mode = optimize.minimize(lambda q: -logpost(q), q_ml, method="BFGS",
                             options={"gtol": 1e-8}).x
    cov = np.linalg.inv(-numerical_hessian(logpost, mode))
    proposal = stats.multivariate_t(loc=mode, shape=cov * 1.2**2, df=5,
                                    seed=np.random.default_rng(seed))
    Q = proposal.rvs(draws)
    lw = np.array([logpost(q) for q in Q]) - proposal.logpdf(Q)
    wt = np.exp(lw - lw.max())
    wt /= wt.sum()
    P = np.exp(Q)
    mean = wt @ P
    sd = np.sqrt(wt @ (P - mean)**2)
    ess = 1.0 / np.sum(wt**2)

    def wquantile(x, q):
        o = np.argsort(x)
        return x[o][min(np.searchsorted(np.cumsum(wt[o]), q), x.size - 1)]

    q80 = np.array([[wquantile(P[:, i], 0.1), wquantile(P[:, i], 0.9)] for i in range(8)])
    return {"res": res, "ml": ml, "ml_se": res.bse.to_numpy(), "ml_sigma": res.sigma.to_numpy(),
            "map": np.exp(map_nat), "mean": mean, "sd": sd, "ess": ess, "q80": q80,
            "draws": draws, "t_fit": t_fit}


def lynx_hare_checks(draws=8000, verbose=True):
    f = lynx_hare_fits(draws)
    mcse = f["sd"] / np.sqrt(f["ess"])
    checks = []
    for i, nm in enumerate(RATES):
        checks.append(Check.printed(CS, f"{nm}: posterior mean", PUBLISHED[nm], f["mean"][i],
                                    note=f"MC se {mcse[i]:.1g}; ML {f['ml'][i]:.4g}"))
    for i, sp in enumerate(["hare", "lynx"]):
        checks.append(Check.printed(CS, f"sigma {sp}: posterior mean", PUBLISHED_SIGMA,
                                    f["mean"][6 + i], note=f"MC se {mcse[6 + i]:.1g}"))
    if verbose:
        rows = []
        for i, nm in enumerate(RATES):
            lo, hi = PUBLISHED_80[nm]
            rows.append({"rate": nm, "ML (oe, log)": f["ml"][i], "ML se": f["ml_se"][i],
                         "MAP (priors)": f["map"][i], "post. mean": f["mean"][i],
                         "post. sd": f["sd"][i], "published mean": float(PUBLISHED[nm]),
                         "80% int.": f"{f['q80'][i, 0]:.3g}-{f['q80'][i, 1]:.3g}",
                         "published 80%": f"{lo:g}-{hi:g}"})
        table = pd.DataFrame(rows)
        with pd.option_context("display.width", 160, "display.precision", 4):
            print(f"Lotka-Volterra on the lynx and hare pelts 1900-1920 (ML fit "
                  f"{f['t_fit']:.2f} s; importance sampling {f['draws']} draws, "
                  f"ESS {f['ess']:.0f}):")
            print(table.to_string(index=False))
            print(f"  sigma (hare, lynx): ML leverage-corrected {f['ml_sigma'].round(3)}, "
                  f"MAP {f['map'][6:].round(3)}, posterior mean {f['mean'][6:].round(3)}; "
                  f"published {PUBLISHED_SIGMA} both")
            print("  ML -> MAP is the priors' pull, MAP -> mean the skew of the posterior;")
            print("  the ML estimates differ from the published means by "
                  + ", ".join(f"{nm} {f['ml'][i] - float(PUBLISHED[nm]):+.3g} "
                              f"({(f['ml'][i] - float(PUBLISHED[nm])) / f['sd'][i]:+.2f} post. sd)"
                              for i, nm in enumerate(RATES)))
            print()
    return checks


# ---------------------------------------------------------------------------
# 2. Monte Carlo of a linear two-state system
A_TRUE = np.array([[-0.5, 1.0], [-1.0, -0.3]])
B_TRUE = np.array([0.8, 0.0])
C_TRUE = np.array([0.2, 0.1])
MC_FORMULAS = ["D1(x) ~ x + y + u", "D1(y) ~ x + y"]
MC_TRUE = np.array([-0.5, 1.0, 0.8, 0.2, -1.0, -0.3, 0.1])
MC_NAMES = ["D1.x:x", "D1.x:y", "D1.x:u", "D1.x:const", "D1.y:x", "D1.y:y", "D1.y:const"]
MC_METHODS = ["oe", "integral"]


def simulate_two_state(rng, n=201, T=20.0, sd=(0.03, 0.06)):
    """Exact ZOH simulation (block matrix exponential) and ragged measurements."""
    t = np.linspace(0, T, n)
    u = np.repeat(rng.uniform(-1, 1, n // 20 + 1), 20)[:n]
    M = np.zeros((4, 4))
    M[:2, :2], M[:2, 2], M[:2, 3] = A_TRUE, B_TRUE, C_TRUE
    E = linalg.expm(M * (t[1] - t[0]))
    s = np.empty((n, 2))
    s[0] = rng.uniform(-2, 2, 2)
    for i in range(n - 1):
        s[i + 1] = E[:2, :2] @ s[i] + E[:2, 2] * u[i] + E[:2, 3]
    x = s[:, 0] + sd[0] * rng.standard_normal(n)
    y = s[:, 1] + sd[1] * rng.standard_normal(n)
    y[1::2] = np.nan                      # y measured at every other time
    return pd.DataFrame({"t": t, "x": x, "y": y, "u": u})


def monte_carlo(reps=200, seed=20261128):
    rng = np.random.default_rng(seed)
    est = {m: [] for m in MC_METHODS}
    se = {m: [] for m in MC_METHODS}
    secs = {m: 0.0 for m in MC_METHODS}
    for _ in range(reps):
        df = simulate_two_state(rng)
        mod = DerivativeSystem.from_formula(MC_FORMULAS, df, time="t")
        for m in MC_METHODS:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                res = mod.fit(m)
            secs[m] += time.perf_counter() - t0
            est[m].append(res.params.to_numpy())
            se[m].append(res.bse.to_numpy())
    rows = []
    for m in MC_METHODS:
        P, S = np.array(est[m]), np.array(se[m])
        cover = (np.abs(P - MC_TRUE) <= 1.959964 * S).mean(axis=0)
        for j, nm in enumerate(MC_NAMES):
            rows.append({"method": m, "param": nm, "true": MC_TRUE[j],
                         "bias": P[:, j].mean() - MC_TRUE[j],
                         "rmse": np.sqrt(np.mean((P[:, j] - MC_TRUE[j])**2)),
                         "sd/mean_se": P[:, j].std(ddof=1) / S[:, j].mean(),
                         "cover95": cover[j], "sec_per_fit": secs[m] / reps})
    return pd.DataFrame(rows)


def mc_checks(reps=200, verbose=True):
    table = monte_carlo(reps)
    if verbose:
        with pd.option_context("display.width", 140, "display.precision", 4):
            print(f"Monte Carlo, {reps} replications, linear two-state system "
                  "(x: 201 samples, sd 0.03; y: 101 samples, sd 0.06):")
            print(table.to_string(index=False))
            print()
    checks = []
    for _, r in table.iterrows():
        checks.append(Check(f"MC 2-state ({reps} reps)", f"{r['method']} {r['param']}: "
                            "95% coverage", 0.95, r["cover95"], 0.02,
                            note="target 93-97%"))
    return checks


def lv_bootstrap(reps=200, seed=1921, verbose=True):
    """Parametric bootstrap of the lynx-hare ML fit: data simulated from the
    fitted Lotka-Volterra system with lognormal noise (the fitted sigmas),
    refitted; coverage of the nominal 95% Wald intervals with 21 samples per
    species. Information on the nonlinear path's small-sample intervals
    (printed, no pass/fail: Wald intervals need not be exact at n = 21)."""
    df, mod = lynx_hare_model()
    res = mod.fit("oe", measurement="log")
    theta, s0 = res.params.to_numpy(), res.nuisance["coef"].to_numpy()
    sig = res.sigma.to_numpy()
    path = res.simulate().to_numpy()
    rng = np.random.default_rng(seed)
    est, se, fails = [], [], 0
    for _ in range(reps):
        sim = df.copy()
        sim["hare"] = path[:, 0] * np.exp(sig[0] * rng.standard_normal(len(df)))
        sim["lynx"] = path[:, 1] * np.exp(sig[1] * rng.standard_normal(len(df)))
        m = DerivativeSystem.from_formula(LV_FORMULAS, sim, time="year")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                r = m.fit("oe", measurement="log", start_params=theta, x0=s0)
        except ValueError:
            fails += 1
            continue
        est.append(r.params.to_numpy())
        se.append(r.bse.to_numpy())
    P, S = np.array(est), np.array(se)
    table = pd.DataFrame({"true": theta, "bias": P.mean(0) - theta,
                          "rmse": np.sqrt(((P - theta)**2).mean(0)),
                          "sd/mean_se": P.std(0, ddof=1) / S.mean(0),
                          "cover95": (np.abs(P - theta) <= 1.959964 * S).mean(0)},
                         index=mod.param_names)
    if verbose:
        with pd.option_context("display.width", 140, "display.precision", 4):
            print(f"Parametric bootstrap of the lynx-hare fit, {len(P)} refits "
                  f"({fails} failed):")
            print(table.to_string())
            print()
    return []


def groups(reps=1000, draws=8000):
    return [
        Group("Lotka-Volterra, lynx and hare 1900-1920 vs the Stan case study",
              lambda: lynx_hare_checks(draws)),
        Group(f"Monte Carlo linear two-state system, {reps} replications",
              lambda: mc_checks(reps), full_only=True, cost="a few minutes"),
        Group("Parametric bootstrap of the lynx-hare fit (coverage, printed)",
              lambda: lv_bootstrap(reps), full_only=True, cost="about a minute"),
    ]


GROUPS = groups()


def run(full: bool = False, skipped: list | None = None, reps: int = 1000) -> list[Check]:
    return run_groups(groups(reps, draws=20000 if full else 8000), full, skipped)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true",
                    help="also run the Monte Carlo study (and 20000 importance draws)")
    ap.add_argument("--reps", type=int, default=1000)
    args = ap.parse_args()
    sys.exit(main(run(args.full, reps=args.reps)))
