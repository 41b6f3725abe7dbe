"""Time every DerivativeRegression method at 4000 and 400,000 samples.

Simulated DC motor x'' = -4 x' + 10 u - 2 (200 Hz, held voltage steps of
0.4-1.2 s, position noise sd 2e-3). The peer, at 4000 samples, is what a
user would write with scipy alone for the output-error fit: ZOH
discretisation with ``scipy.signal.cont2discrete``, simulation with
``scipy.signal.dlsim`` and ``scipy.optimize.least_squares`` with a
finite-difference Jacobian (at 400,000 samples dlsim's Python loop makes
the peer impractically slow, so it is not run there).

    python benchmarks/bench_derivreg.py [--sizes 4000 400000] [--skip-arimax-large]

At 400,000 samples "arimax" used to stop at its start values (the
Kalman-filter likelihood on shift coefficients was too imprecise there);
it now fits on the delta-form recursion and agrees with "oe".
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import optimize, signal

from econderiv import DerivativeRegression
from econderiv.datasets import simulate_motor

METHODS = ["fd", "integral", "oe", "arimax", "fourier"]


def make_motor(n, seed=0, fs=200.0, a=-4.0, b=10.0, g=-2.0, sd=2e-3):
    df = simulate_motor(n=n, fs=fs, a=a, b=b, g=g, noise_sd=sd, x0=(0.3, 0.5), seed=seed)
    return df.t.to_numpy(), df.x.to_numpy(), df.u.to_numpy()


def peer_oe(t, y, u, start):
    """Output error with scipy only: dlsim simulation, 2-point Jacobian."""
    h = t[1] - t[0]
    w = np.column_stack([u, np.ones_like(u)])

    def resid(v):
        a, b, g, x0, v0 = v
        A = np.array([[0, 1.0], [0, a]])
        B = np.array([[0, 0.0], [b, g]])
        sysd = signal.cont2discrete((A, B, np.array([[1.0, 0]]), np.zeros((1, 2))), h,
                                    method="zoh")
        _, yout, _ = signal.dlsim(sysd, w, x0=np.array([x0, v0]))
        return y - yout[:, 0]

    sol = optimize.least_squares(resid, start, method="lm", x_scale="jac")
    return sol.x


def time_it(fn, repeat=1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 400000])
    ap.add_argument("--skip-arimax-large", action="store_true")
    args = ap.parse_args()
    # Warm up numba's compiled recursion (cached on disk after the first run).
    t, y, u = make_motor(400)
    DerivativeRegression(y, t, exog=u).fit("oe")
    print(f"{'n':>8} {'method':>9} {'seconds':>9} {'D1.x':>10} {'u':>10} {'const':>10}")
    for n in args.sizes:
        t, y, u = make_motor(n)
        mod = DerivativeRegression(y, t, exog=u)
        results = {}
        for m in METHODS:
            if m == "arimax" and n > 100000 and args.skip_arimax_large:
                continue
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    sec, res = time_it(lambda m=m: mod.fit(m),
                                       repeat=3 if n <= 10000 else 1)
            except (FloatingPointError, ValueError) as exc:
                print(f"{n:>8} {m:>9} {time.perf_counter() - t0:>9.3f}   failed: "
                      f"{str(exc)[:90]}")
                continue
            results[m] = sec
            p = res.params
            print(f"{n:>8} {m:>9} {sec:>9.3f} {p['D1.x']:>10.5f} {p['u']:>10.5f} "
                  f"{p['const']:>10.5f}")
        if n <= 10000:
            start = np.r_[mod.fit("integral").params.to_numpy(), y[0], 0.0]
            sec, v = time_it(lambda: peer_oe(t, y, u, start))
            print(f"{n:>8} {'peer oe':>9} {sec:>9.3f} {v[0]:>10.5f} {v[1]:>10.5f} "
                  f"{v[2]:>10.5f}   (scipy dlsim + least_squares, numerical Jacobian)")
            print(f"{'':>8} ratio peer/econderiv 'oe' (incl. its integral start): "
                  f"{sec / results['oe']:.1f}")


if __name__ == "__main__":
    main()
