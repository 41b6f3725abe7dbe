"""Benchmark: EndogenousTreatment ML with analytic derivatives vs the same
likelihood with numerical derivatives (statsmodels GenericLikelihoodModel).

Simulated data, n = 100,000: treatment on a constant, two regressors shared
with the outcome and one excluded regressor (about 45% treated); outcome on a
constant, the two regressors and the treatment; rho = 0.5, sigma = 1.5.

* econderiv: ``EndogenousTreatment(...).fit()``, the whole fit (probit and
  two-step start, Newton iterations with the exact score and Hessian,
  covariance from the exact Hessian), and the ML part alone from the two-step
  start.
* peer: a ``GenericLikelihoodModel`` subclass with the *same* per-row
  log-likelihood (econderiv's kernel) and no derivatives, so statsmodels
  differentiates numerically, started from the same two-step values, with
  ``method="bfgs"`` and, for reference, ``method="newton"``.

Both run here, in one process, one after the other; the ratio is what matters.

Run: python benchmarks/bench_treatment.py [--n N] [--repeat R] [--skip-newton]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from statsmodels.base.model import GenericLikelihoodModel

from econderiv import EndogenousTreatment
from econderiv.models import _treatment_kernels as K
from _timing import timed


def simulate(n=100_000, rho=0.5, sigma=1.5, seed=2024):
    rng = np.random.default_rng(seed)
    x1, x2, excl = rng.standard_normal((3, n))
    Z = np.column_stack([np.ones(n), x1, x2, excl])
    u = rng.standard_normal(n)
    e = sigma * (rho * u + np.sqrt(1 - rho ** 2) * rng.standard_normal(n))
    d = (Z @ [-0.2, 0.8, -0.6, 1.0] + u > 0).astype(float)
    X = np.column_stack([np.ones(n), x1, x2, d])
    y = X @ [1.0, 0.5, -0.7, 2.0] + e
    return y, X, d, Z


class NumericalTreatment(GenericLikelihoodModel):
    """The treatment-effects likelihood with statsmodels' numerical derivatives."""

    def __init__(self, y, X, d, Z, **kwds):
        self._td = K.TreatmentData.from_arrays(y, X, d, Z)
        exog = np.column_stack([Z, X])  # only for statsmodels' bookkeeping
        super().__init__(y, exog, extra_params_names=["athrho", "lnsigma"], **kwds)

    def loglikeobs(self, params):
        return K.loglikeobs(params, self._td)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-newton", action="store_true")
    args = ap.parse_args(argv)

    y, X, d, Z = simulate(args.n)
    print(f"n = {args.n:,}, treated = {int(d.sum()):,}, parameters = "
          f"{Z.shape[1] + X.shape[1] + 2}")
    t_full, res = timed(lambda: EndogenousTreatment(y, X, d, Z).fit(), args.repeat)
    mod = EndogenousTreatment(y, X, d, Z)
    start = mod.start_params
    t_ml, res2 = timed(lambda: mod.fit(start_params=start), args.repeat)
    t_2s, _ = timed(lambda: EndogenousTreatment(y, X, d, Z).fit_twostep(), args.repeat)
    print(f"econderiv  ML, whole fit (two-step start incl.): {t_full:8.3f} s  "
          f"llf {res.llf:.6f}  iterations {res.mle_retvals['iterations']}")
    print(f"econderiv  ML from the two-step start          : {t_ml:8.3f} s  llf {res2.llf:.6f}")
    print(f"econderiv  two-step                           : {t_2s:8.3f} s")

    peer = NumericalTreatment(y, X, d, Z)
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
