"""Time DerivativeSystem's output-error fits against a scipy-only peer.

Two problems:

* the Lotka-Volterra system on the lynx and hare pelts 1900-1920 (21
  samples per species, lognormal measurement: log y = log x + e);
* a linear two-state system x' = -0.5 x + y + 0.8 u + 0.2,
  y' = -x - 0.3 y + 0.1 with n jittered (irregular) sample times.

The peer is what a user would write with scipy alone: ``solve_ivp``
(DOP853, rtol 1e-9) for the states and ``least_squares`` (Levenberg-Marquardt)
with a 2-point finite-difference Jacobian, from the same start values
(econderiv's ``"integral"`` estimate and initial state). econderiv integrates
the states with their exact sensitivities in a compiled Dormand-Prince scheme
and iterates the per-state noise variances (one weighted LM fit per pass); the
peer fits equal weights once. Both reach the same optimum on the lynx and hare
(the noise scales are nearly equal there).

    python benchmarks/bench_derivsystem.py [--n 400]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from _timing import timed
from scipy import linalg, optimize
from scipy.integrate import solve_ivp

from econderiv import DerivativeSystem, datasets

LV = ["D1(hare) ~ hare + hare:lynx - 1", "D1(lynx) ~ lynx + hare:lynx - 1"]
LIN = ["D1(x) ~ x + y + u", "D1(y) ~ x + y"]


def peer_fit(rhs, t, Y, start, log_scale, u=None):
    """least_squares on scipy's solve_ivp with a finite-difference Jacobian."""
    k = Y.shape[1]
    p = start.size - k

    def resid(v):
        th, s0 = v[:p], v[p:]
        if u is None:
            sol = solve_ivp(lambda tt, s: rhs(s, th, 0.0), (t[0], t[-1]), s0,
                            method="DOP853", t_eval=t, rtol=1e-9, atol=1e-11)
            X = sol.y.T
        else:  # inputs held between samples: integrate piece by piece
            X = np.empty((t.size, k))
            X[0] = s0
            for i in range(t.size - 1):
                sol = solve_ivp(lambda tt, s: rhs(s, th, u[i]), (t[i], t[i + 1]), X[i],
                                method="DOP853", rtol=1e-9, atol=1e-11)
                X[i + 1] = sol.y[:, -1]
        if X.shape[0] != t.size or not np.all(np.isfinite(X)) or (log_scale and
                                                                  np.any(X <= 0)):
            return np.full(Y.size, 1e6)
        r = (np.log(Y) - np.log(X)) if log_scale else (Y - X)
        return r.ravel()

    return optimize.least_squares(resid, start, method="lm", x_scale="jac", xtol=1e-10,
                                  ftol=1e-10)


def lv_rhs(s, th, _u):
    h, l_ = s
    return np.array([th[0] * h + th[1] * h * l_, th[2] * l_ + th[3] * h * l_])


def lin_rhs(s, th, u):
    x, y = s
    return np.array([th[0] * x + th[1] * y + th[2] * u + th[3], th[4] * x + th[5] * y + th[6]])


def linear_data(n, seed=0):
    rng = np.random.default_rng(seed)
    T = 20.0
    t = np.sort(np.linspace(0, T, n) + rng.uniform(-0.3, 0.3, n) * T / n)
    u = np.repeat(rng.uniform(-1, 1, n // 20 + 1), 20)[:n]
    M = np.zeros((4, 4))
    M[:2, :2] = [[-0.5, 1.0], [-1.0, -0.3]]
    M[0, 2], M[:2, 3] = 0.8, [0.2, 0.1]
    s = np.empty((n, 2))
    s[0] = [1.5, -0.5]
    for i in range(n - 1):
        E = linalg.expm(M * (t[i + 1] - t[i]))
        s[i + 1] = E[:2, :2] @ s[i] + E[:2, 2] * u[i] + E[:2, 3]
    return pd.DataFrame({"t": t, "x": s[:, 0] + 0.03 * rng.standard_normal(n),
                         "y": s[:, 1] + 0.06 * rng.standard_normal(n), "u": u})


def run(n):
    rows = []
    df = datasets.load("lynx_hare")
    mod = DerivativeSystem.from_formula(LV, df, time="year")
    mod.fit("oe", measurement="log")                    # compile the kernels
    start_res = mod.fit("integral")
    start = np.r_[start_res.params.to_numpy(), start_res.initial_state.to_numpy()]
    t_ed, res = timed(lambda: mod.fit("oe", measurement="log"), repeat=3)
    Y = df[["hare", "lynx"]].to_numpy(float)
    t_peer, sol = timed(lambda: peer_fit(lv_rhs, df.year.to_numpy(float), Y, start, True),
                        repeat=1)
    rows.append(("Lotka-Volterra, lynx-hare (21 x 2)", t_ed, t_peer,
                 np.max(np.abs(res.params.to_numpy() - sol.x[:4]) / res.bse.to_numpy())))

    df = linear_data(n)
    mod = DerivativeSystem.from_formula(LIN, df, time="t")
    start_res = mod.fit("integral")
    start = np.r_[start_res.params.to_numpy(), start_res.initial_state.to_numpy()]
    t_ed, res = timed(lambda: mod.fit("oe"), repeat=3)
    t_peer, sol = timed(lambda: peer_fit(lin_rhs, df.t.to_numpy(), df[["x", "y"]].to_numpy(),
                                         start, False, u=df.u.to_numpy()), repeat=1)
    rows.append((f"linear 2-state, jittered times ({n} x 2)", t_ed, t_peer,
                 np.max(np.abs(res.params.to_numpy() - sol.x[:7]) / res.bse.to_numpy())))
    print(f"{'problem':<42} {'econderiv s':>12} {'scipy peer s':>13} {'ratio':>8} "
          f"{'max |diff|/se':>14}")
    for name, a, b, d in rows:
        print(f"{name:<42} {a:>12.3f} {b:>13.3f} {b / a:>8.1f} {d:>14.2g}")
    print("(the linear problem's peer fits equal weights, econderiv per-state variances: "
          "their optima differ by sampling noise, hence the difference column)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run(args.n)
