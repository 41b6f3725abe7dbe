"""Benchmark: the penalized multinomial logit path (MNLogit.regularization_path:
Böhning MM with a proximal Newton phase) vs scikit-learn LogisticRegression(solver="saga") on the same
element-wise lasso / elastic-net objective and the same penalties.

Objective (both): ``(1/n) sum_i -log P_{i,y_i} + lam [L1_wt ||W||_1 + (1 -
L1_wt)/2 ||W||_F^2]`` over all J categories' coefficients (symmetric
parameterization; scikit-learn's multinomial ``coef_``) with unpenalized
intercepts. scikit-learn states it as ``C sum_i -log P + r(W)``, so ``C =
1 / (n lam)`` and ``l1_ratio = L1_wt``. The regressors are standardized
beforehand (mean 0, variance 1 with divisor n), and econderiv runs with
``standardize=False``, so the two programs minimize the same function.

Data: n = 100,000 rows, p = 200 regressors (AR(1) correlation 0.3), J = 5
categories, 20 regressors with nonzero coefficients N(0, 0.5^2). Path: 100
penalties log-spaced from lambda_max down to 0.01 lambda_max (glmnet's layout).

scikit-learn is run with warm starts along the penalties (``warm_start=True``)
at the loosest ``tol`` of 1e-2, 1e-3, ... that reaches econderiv's objective to
1e-6 (relative) at every penalty it fits. saga costs 10-20 s per penalty here
(a shared 2-core machine), over half an hour for the whole path at each
tolerance tried, so it is timed on a documented subset: every
``--saga-every``-th penalty of the path (default 10: 10 of 100), warm-started
along that subset; econderiv is timed on the same subset too (both are
reported), and on the whole 100-penalty path. The ratio printed is for the
same subset; econderiv's whole-path time against saga's per-penalty time
extrapolated to 100 penalties is printed as well, labelled as an extrapolation:
it favours econderiv, since on the whole path saga's warm starts would be
closer (fewer epochs per penalty) than on the subset. The subset ratio is
the measured one.

Run: python benchmarks/bench_mnlogit_path.py [--n N] [--p P] [--saga-every K]
     [--l1-wt 1.0] [--skip-saga]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def simulate(n=100_000, p=200, n_cat=5, n_true=20, seed=20261128):
    rng = np.random.default_rng(seed)
    x = np.empty((n, p))
    x[:, 0] = rng.standard_normal(n)
    for k in range(1, p):       # AR(1) across columns, correlation 0.3
        x[:, k] = 0.3 * x[:, k - 1] + np.sqrt(1 - 0.09) * rng.standard_normal(n)
    x -= x.mean(axis=0)
    x /= x.std(axis=0)
    beta = np.zeros((p, n_cat))
    beta[rng.choice(p, n_true, replace=False)] = rng.normal(0.0, 0.5, (n_true, n_cat))
    eta = x @ beta
    eta -= eta.max(axis=1, keepdims=True)
    prob = np.exp(eta)
    prob /= prob.sum(axis=1, keepdims=True)
    y = (np.cumsum(prob, axis=1) < rng.random(n)[:, None]).sum(axis=1)
    return x, np.minimum(y, n_cat - 1)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--p", type=int, default=200)
    ap.add_argument("--J", type=int, default=5)
    ap.add_argument("--n-alphas", type=int, default=100)
    ap.add_argument("--saga-every", type=int, default=10)
    ap.add_argument("--l1-wt", type=float, default=1.0)
    ap.add_argument("--skip-saga", action="store_true")
    args = ap.parse_args(argv)

    from econderiv import MNLogit

    x, y = simulate(args.n, args.p, args.J)
    exog = pd.DataFrame(x, columns=[f"x{k + 1}" for k in range(args.p)])
    exog.insert(0, "const", 1.0)
    model = MNLogit(pd.Series(y.astype(float), name="y"), exog)
    n = args.n
    print(f"n = {n:,}, p = {args.p}, J = {args.J}, L1_wt = {args.l1_wt}, "
          f"{args.n_alphas} penalties from lambda_max to 0.01 lambda_max")

    t0 = time.perf_counter()
    path = model.regularization_path(n_alphas=args.n_alphas, alpha_min_ratio=0.01,
                                     L1_wt=args.l1_wt, penalty="elementwise",
                                     standardize=False, tol=1e-7)
    t_path = time.perf_counter() - t0
    print(f"econderiv element-wise path ({args.n_alphas} penalties): {t_path:.1f} s, "
          f"{path.passes.sum()} passes over the data ({path.full_passes.sum()} full width), "
          f"max KKT violation "
          f"{path.kkt.max():.1e}, df at the end {path.df[-1]}")

    t0 = time.perf_counter()
    gpath = model.regularization_path(n_alphas=args.n_alphas, alpha_min_ratio=0.01,
                                      L1_wt=args.l1_wt, penalty="group",
                                      standardize=False, tol=1e-7)
    t_group = time.perf_counter() - t0
    print(f"econderiv group-lasso path ({args.n_alphas} penalties): {t_group:.1f} s, "
          f"{gpath.passes.sum()} passes, max KKT violation {gpath.kkt.max():.1e}, "
          f"df at the end {gpath.df[-1]}")

    subset = path.alphas[args.saga_every - 1::args.saga_every]
    t0 = time.perf_counter()
    sub = model.regularization_path(alphas=subset, L1_wt=args.l1_wt, penalty="elementwise",
                                    standardize=False, tol=1e-7)
    t_sub = time.perf_counter() - t0
    print(f"econderiv on the saga subset ({len(subset)} penalties): {t_sub:.1f} s")
    if args.skip_saga:
        return 0

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def saga_path(tol):
        clf = LogisticRegression(C=1.0, l1_ratio=args.l1_wt, solver="saga", tol=tol,
                                 max_iter=100_000, warm_start=True)
        coefs = []
        for lam in subset:
            clf.set_params(C=1.0 / (n * lam))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(x, y)
            coefs.append(np.vstack([clf.intercept_, clf.coef_.T]))   # (p+1, J)
        return coefs

    for tol in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7):
        t0 = time.perf_counter()
        coefs = saga_path(tol)
        t_saga = time.perf_counter() - t0
        f_saga = np.array([path.objective_at(c, lam) for c, lam in zip(coefs, subset)])
        rel = (f_saga - sub.objective) / np.abs(sub.objective)
        print(f"  saga tol={tol:g}: {t_saga:.1f} s for {len(subset)} penalties; objective "
              f"saga - econderiv: max {rel.max():.1e} (relative), min {rel.min():.1e}")
        if np.abs(rel).max() <= 1e-6:
            break
    print(f"ratio (same {len(subset)} penalties, same objective to "
          f"{np.abs(rel).max():.0e}): saga / econderiv = {t_saga / t_sub:.1f}x")
    print(f"extrapolated (saga's time per penalty x {args.n_alphas}) / econderiv's whole "
          f"path: {t_saga / len(subset) * args.n_alphas / t_path:.1f}x  [extrapolation]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
