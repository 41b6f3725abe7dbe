"""Time BivariateProbit and HeckProbit at n = 100,000 against numerical derivatives.

The peer is the *same* log-likelihood (econderiv's ``loglikeobs``, i.e. the
same ``bvn_logcdf``) in statsmodels' ``GenericLikelihoodModel``, which
differentiates it numerically: BFGS with a forward-difference score from the
same start values, then the numerical Hessian for the standard errors. Both
are timed in the same run; the ratio is what matters (the machine is shared).

Usage: ``python benchmarks/bench_biprobit.py [n]``. Most of econderiv's
time is the bivariate normal itself (``bvn_logcdf`` and ``bvn_logcdf_grad``,
about 4 + 4 calls at n per fit) and the two univariate probits for the start
values.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from statsmodels.base.model import GenericLikelihoodModel

from econderiv.models.biprobit import BivariateProbit
from econderiv.models.heckprobit import HeckProbit


def simulate_biprobit(n, rho=0.5, seed=0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 6))])
    b1 = np.array([0.3, 0.5, -0.4, 0.2, 0.0, 0.3, 0.1])
    b2 = np.array([-0.2, 0.6, 0.0, 0.3, -0.3, 0.2, 0.0])
    e1 = rng.normal(size=n)
    e2 = rho * e1 + np.sqrt(1 - rho**2) * rng.normal(size=n)
    y = np.column_stack([x @ b1 + e1 > 0, x @ b2 + e2 > 0]).astype(float)
    return y, x


def simulate_heckprobit(n, rho=-0.5, seed=1):
    rng = np.random.default_rng(seed)
    z = np.column_stack([np.ones(n), rng.normal(size=(n, 5))])
    x = z[:, :5]
    g = np.array([0.3, 0.5, -0.3, 0.2, 0.1, 0.7])
    b = np.array([-0.2, 0.6, 0.4, -0.3, 0.2])
    u = rng.normal(size=n)
    e = rho * u + np.sqrt(1 - rho**2) * rng.normal(size=n)
    s = (z @ g + u > 0).astype(float)
    y = np.where(s == 1, (x @ b + e > 0).astype(float), np.nan)
    return y, x, s, z


class NumericalPeer(GenericLikelihoodModel):
    """The econderiv log-likelihood with statsmodels' numerical derivatives."""

    def __init__(self, model):
        self.ed_model = model
        super().__init__(np.zeros(int(model.nobs)), np.ones((int(model.nobs), 1)))
        self.exog_names[:] = list(model.param_names)
        self.k_extra = 0

    def loglikeobs(self, params):
        # Fresh evaluation each time (no cache hits across numerical steps).
        self.ed_model._cache = None
        return self.ed_model.loglikeobs(params)


def _time(f, repeat=1):
    """Best wall time and the CPU time of that run (process_time: all threads)."""
    best, cpu = np.inf, np.inf
    out = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = f()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    return best, cpu, out


def bench(name, make_model):
    model = make_model()
    model.fit()  # warm-up: numba kernels compiled or loaded from cache
    t_ed, c_ed, res = _time(lambda: make_model().fit(), repeat=3)
    start = make_model().start_params
    peer = NumericalPeer(make_model())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_peer, c_peer, res_peer = _time(lambda: peer.fit(start_params=start, method="bfgs",
                                                          maxiter=1000, disp=0))
    dp = np.max(np.abs(np.asarray(res.params) - res_peer.params))
    dse = np.max(np.abs(np.asarray(res.bse) / res_peer.bse - 1))
    print(f"{name:<16} n={int(model.nobs):,}  k={model.k_params:>2}  "
          f"econderiv {t_ed:6.3f} s wall, {c_ed:6.3f} s cpu "
          f"({res.mle_retvals['iterations']} Newton iterations)  "
          f"numerical {t_peer:6.1f} s wall, {c_peer:6.1f} s cpu  "
          f"ratio {t_peer / t_ed:5.1f}x wall, {c_peer / c_ed:5.1f}x cpu\n"
          f"{'':<16} max|dparams| {dp:.1e}  max rel dse {dse:.1e}  "
          f"llf {res.llf:.3f} vs {res_peer.llf:.3f}")
    return t_peer / t_ed


def main(n=100_000):
    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')} "
          "(econderiv pins BLAS to one thread inside fit; the peer runs with this setting)")
    y, x = simulate_biprobit(n)
    ratio_bp = bench("BivariateProbit", lambda: BivariateProbit(y, x))
    yy, xx, s, z = simulate_heckprobit(n)
    ratio_hp = bench("HeckProbit", lambda: HeckProbit(yy, xx, s, z))
    return ratio_bp, ratio_hp


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
