"""Benchmark: switching regression (Tobit 5) ML with analytic derivatives vs the
same likelihood with numerical derivatives (statsmodels GenericLikelihoodModel).

Simulated data, n = 100,000 (about 60% in regime 1): selection on a constant,
one regressor shared with the outcomes and one excluded regressor; regime 0
outcome on (1, x), regime 1 on (1, x, v); rho0 = 0.6, sigma0 = 1.2,
rho1 = -0.4, sigma1 = 0.8 (12 parameters).

* econderiv: ``SwitchingRegression(...).fit()`` -- the whole fit (probit and
  two-step start, Newton iterations with the exact score and Hessian,
  covariance from the exact Hessian), and from the same start as the peer.
* peer: a ``GenericLikelihoodModel`` with the *same* per-observation
  log-likelihood (econderiv's kernel) and no derivatives, so statsmodels
  differentiates numerically, started from the same two-step values with
  ``method="bfgs"`` and, for reference, ``method="newton"``.

Both run here, in one process, one after the other; the ratios matter (the
machine is shared).

Run: python benchmarks/bench_switching.py [--n N] [--repeat R] [--skip-newton]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from statsmodels.base.model import GenericLikelihoodModel

from econderiv import SwitchingRegression
from econderiv.models import _switching_kernels as K
from _timing import timed


def simulate(n=100_000, seed=2026):
    rng = np.random.default_rng(seed)
    x, w, v, u = rng.standard_normal((4, n))
    e0 = 1.2 * (0.6 * u + np.sqrt(1 - 0.36) * rng.standard_normal(n))
    e1 = 0.8 * (-0.4 * u + np.sqrt(1 - 0.16) * rng.standard_normal(n))
    one = np.ones(n)
    Z = np.column_stack([one, x, w])
    X0 = np.column_stack([one, x])
    X1 = np.column_stack([one, x, v])
    s = (Z @ [0.2, 0.7, 0.8] + u > 0).astype(float)
    y = np.where(s == 1, X1 @ [0.5, -0.4, 0.8] + e1, X0 @ [1.0, 0.5] + e0)
    return y, X0, X1, s, Z


class NumericalSwitching(GenericLikelihoodModel):
    """The switching-regression likelihood with statsmodels' numerical derivatives."""

    def __init__(self, y, X0, X1, s, Z, **kwds):
        self._sd = K.SwitchingData.from_arrays(y, X0, y, X1, s, Z)
        exog = np.column_stack([Z, X0, X1])  # only for statsmodels' bookkeeping
        super().__init__(s, exog, extra_params_names=["athrho0", "lnsigma0", "athrho1",
                                                      "lnsigma1"], **kwds)

    def loglikeobs(self, params):
        return K.loglikeobs(params, self._sd)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-newton", action="store_true")
    args = ap.parse_args(argv)

    y, X0, X1, s, Z = simulate(args.n)
    print(f"n = {args.n:,}, regime 1 = {int(s.sum()):,}, parameters = "
          f"{Z.shape[1] + X0.shape[1] + X1.shape[1] + 4}")

    t_full, res = timed(lambda: SwitchingRegression(y, X0, X1, s, Z).fit(), args.repeat)
    mod = SwitchingRegression(y, X0, X1, s, Z)
    start = mod.start_params
    t_ml, res2 = timed(lambda: mod.fit(start_params=start), args.repeat)
    t_2s, _ = timed(lambda: SwitchingRegression(y, X0, X1, s, Z).fit_twostep(), args.repeat)
    print(f"econderiv  ML, whole fit (two-step start incl.): {t_full:8.3f} s  "
          f"llf {res.llf:.6f}  iterations {res.mle_retvals['iterations']}")
    print(f"econderiv  ML from the two-step start          : {t_ml:8.3f} s  llf {res2.llf:.6f}")
    print(f"econderiv  two-step                           : {t_2s:8.3f} s")

    peer = NumericalSwitching(y, X0, X1, s, Z)
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
        print(f"RATIO newton-numerical / econderiv (whole fit): {t_newt / t_full:7.1f}x   "
              f"(same start: {t_newt / t_ml:.1f}x)")


if __name__ == "__main__":
    main()
