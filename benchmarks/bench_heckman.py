"""Benchmark: Heckman ML with analytic derivatives vs the same likelihood with
numerical derivatives (statsmodels GenericLikelihoodModel).

Simulated Tobit-2 data, n = 100,000 (about 60% selected): selection on a
constant, two regressors shared with the outcome and one excluded
regressor; rho = 0.5, sigma = 1.5.

* econderiv: ``Heckman(...).fit()`` -- the whole fit: probit and two-step
  start, trust-region/Newton iterations with the exact score and Hessian,
  covariance from the exact Hessian. Timed also from the same start as the
  peer (``start_params=``), to separate the optimizer from the start.
* peer: a ``GenericLikelihoodModel`` subclass with the *same* per-observation
  log-likelihood (econderiv's kernel) and no derivatives, so statsmodels
  differentiates numerically (``approx_fprime`` for the score, ``approx_hess``
  for the covariance), started from the same two-step values, with
  ``method="bfgs"`` (statsmodels' usual choice for such models) and, for
  reference, ``method="newton"`` (numerical Hessian at every iteration).

The ratios are what matter (the machine is shared); both sides run here,
in one process, one after the other.

Run: python benchmarks/bench_heckman.py [--n N] [--repeat R] [--skip-newton]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from statsmodels.base.model import GenericLikelihoodModel

from econderiv import Heckman
from econderiv.models import _heckman_kernels as K
from _timing import timed


def simulate(n=100_000, rho=0.5, sigma=1.5, seed=2024):
    rng = np.random.default_rng(seed)
    x1, x2, excl = rng.standard_normal((3, n))
    Z = np.column_stack([np.ones(n), x1, x2, excl])
    X = np.column_stack([np.ones(n), x1, x2])
    u = rng.standard_normal(n)
    e = sigma * (rho * u + np.sqrt(1 - rho ** 2) * rng.standard_normal(n))
    s = (Z @ [0.3, 0.8, -0.6, 1.0] + u > 0).astype(float)
    y = X @ [1.0, 0.5, -0.7] + e
    y[s == 0] = np.nan
    return y, X, s, Z


class NumericalHeckman(GenericLikelihoodModel):
    """The Heckman likelihood with statsmodels' numerical derivatives."""

    def __init__(self, y, X, s, Z, **kwds):
        self._sd = K.SelectionData.from_arrays(y, X, s, Z)
        exog = np.column_stack([Z, X])  # only for statsmodels' bookkeeping
        super().__init__(s, exog, extra_params_names=["athrho", "lnsigma"], **kwds)

    def loglikeobs(self, params):
        return K.loglikeobs(params, self._sd)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-newton", action="store_true")
    args = ap.parse_args(argv)

    y, X, s, Z = simulate(args.n)
    print(f"n = {args.n:,}, selected = {int(s.sum()):,}, parameters = "
          f"{Z.shape[1] + X.shape[1] + 2}")

    t_full, res = timed(lambda: Heckman(y, X, s, Z).fit(), args.repeat)
    mod = Heckman(y, X, s, Z)
    start = mod.start_params
    t_ml, res2 = timed(lambda: mod.fit(start_params=start), args.repeat)
    t_2s, _ = timed(lambda: Heckman(y, X, s, Z).fit_twostep(), args.repeat)
    print(f"econderiv  ML, whole fit (two-step start incl.): {t_full:8.3f} s  "
          f"llf {res.llf:.6f}  iterations {res.mle_retvals['iterations']}")
    print(f"econderiv  ML from the two-step start          : {t_ml:8.3f} s  llf {res2.llf:.6f}")
    print(f"econderiv  two-step                           : {t_2s:8.3f} s")

    peer = NumericalHeckman(y, X, s, Z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_bfgs, rb = timed(lambda: peer.fit(start_params=start, method="bfgs", maxiter=1000,
                                            disp=False), 1)
    print(f"statsmodels numerical derivatives, bfgs        : {t_bfgs:8.3f} s  llf {rb.llf:.6f}  "
          f"converged {rb.mle_retvals['converged']}")
    dp = np.max(np.abs(np.asarray(rb.params) - np.asarray(res.params)) / np.asarray(res.bse))
    dse = np.max(np.abs(np.asarray(rb.bse) / np.asarray(res.bse) - 1))
    print(f"  max |param diff| / se = {dp:.2e}; max relative se diff = {dse:.2e}")
    print(f"RATIO bfgs-numerical / econderiv (whole fit): {t_bfgs / t_full:7.1f}x   "
          f"(same start: {t_bfgs / t_ml:.1f}x)")
    if not args.skip_newton:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_newt, rn = timed(lambda: peer.fit(start_params=start, method="newton",
                                                maxiter=100, disp=False), 1)
        print(f"statsmodels numerical derivatives, newton      : {t_newt:8.3f} s  "
              f"llf {rn.llf:.6f}  converged {rn.mle_retvals['converged']}")
        print(f"RATIO newton-numerical / econderiv (whole fit): {t_newt / t_full:7.1f}x")


if __name__ == "__main__":
    main()
