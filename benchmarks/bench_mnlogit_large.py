"""Large multinomial logit: n = 10,000,000, p = 20, J = 10, with standard errors.

The data alone are 1.6 GB (float64 regressors). Reports wall time per phase
(simulation, model construction, fit, standard errors, HC0 covariance) and
the peak resident memory of the process (``resource.getrusage``), plus the
convergence record. statsmodels' MNLogit is not run: its Hessian and score
matrices are ``n x`` sized (the n x p(J-1) score matrix alone is 14 GB here)
and it needs minutes per Newton iteration.

Run: python benchmarks/bench_mnlogit_large.py [--n N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def simulate_inplace(n, p, n_cat, seed=2026, scale=0.3, block=1_000_000):
    """Like bench_mnlogit.simulate, generated block by block (no n x J temporaries)."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    y = np.empty(n, dtype=np.int64)
    beta = rng.normal(0.0, scale, (p, n_cat - 1))
    for start in range(0, n, block):
        stop = min(n, start + block)
        xb = X[start:stop]
        xb[:, 0] = 1.0
        xb[:, 1:] = rng.standard_normal((stop - start, p - 1))
        eta = np.column_stack([np.zeros(stop - start), xb @ beta])
        eta -= eta.max(axis=1, keepdims=True)
        prob = np.exp(eta)
        prob /= prob.sum(axis=1, keepdims=True)
        u = rng.random(stop - start)[:, None]
        y[start:stop] = np.minimum((np.cumsum(prob, axis=1) < u).sum(axis=1), n_cat - 1)
    return X, y, beta


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--J", type=int, default=10)
    args = ap.parse_args(argv)

    from econderiv.models.mnlogit import MNLogit

    t0 = time.perf_counter()
    X, y, beta = simulate_inplace(args.n, args.p, args.J)
    t_sim = time.perf_counter() - t0
    print(f"n = {args.n:,}, p = {args.p}, J = {args.J}: data {X.nbytes / 2**30:.2f} GiB; "
          f"simulated in {t_sim:.1f} s; peak so far {peak_gib():.2f} GiB", flush=True)

    t0 = time.perf_counter()
    model = MNLogit(y, X)
    t_model = time.perf_counter() - t0
    print(f"model construction (statsmodels data handling, X'X, checks): {t_model:.1f} s; "
          f"peak {peak_gib():.2f} GiB", flush=True)

    t0 = time.perf_counter()
    res = model.fit(disp=0, skip_hessian=False)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    bse = np.asarray(res.bse)
    t_bse = time.perf_counter() - t0
    rv = res.mle_retvals
    print(f"fit (Böhning accelerated, incl. the Hessian for the standard errors): "
          f"{t_fit:.1f} s; peak {peak_gib():.2f} GiB", flush=True)
    print(f"  iterations {rv['iterations']} {rv['phase_iterations']}, {rv['fcalls']} "
          f"log-likelihood/score passes, {rv['hcalls']} full Hessian(s) + "
          f"{rv['hcalls_subsample']} on a row subsample, converged "
          f"{rv['converged']}, score statistic {rv['criterion']:.1e}, "
          f"max |score| {rv['gradient_norm']:.1e}")
    print(f"  llf {res.llf:.6f}, llnull {res.llnull:.6f}; bse extraction {t_bse:.2f} s")
    z = (np.asarray(res.params) - beta) / bse
    print(f"  recovery: max |estimate - truth| / se = {np.max(np.abs(z)):.2f} over "
          f"{z.size} coefficients (mean |z| {np.mean(np.abs(z)):.2f})")

    t0 = time.perf_counter()
    model._set_cov(res._results, "HC0", {}, None)
    t_hc0 = time.perf_counter() - t0
    robust_se = np.sqrt(np.diag(res._results.cov_params_default))
    ratio = robust_se.reshape(bse.shape, order="F") / bse
    print(f"HC0 (chunked sandwich): {t_hc0:.1f} s; robust/model se ratio in "
          f"[{ratio.min():.3f}, {ratio.max():.3f}]; peak {peak_gib():.2f} GiB", flush=True)

    t0 = time.perf_counter()
    text = res.summary().as_text()
    t_sum = time.perf_counter() - t0
    print(f"summary(): {t_sum:.2f} s ({len(text.splitlines())} lines)")
    total = t_model + t_fit + t_bse
    print(f"\nTOTAL model + fit + standard errors: {total:.1f} s; "
          f"peak resident memory {peak_gib():.2f} GiB (data {X.nbytes / 2**30:.2f} GiB)")


if __name__ == "__main__":
    main()
