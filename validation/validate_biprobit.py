"""BivariateProbit and HeckProbit against an independent implementation.

No published bivariate-probit or probit-with-selection estimates whose data
ship with econderiv were found (Stata's manual examples use ``school.dta``,
Greene's use data sets not bundled here), so the references are independent
fits made here:

* ``k401ksubs`` (Wooldridge): bivariate probit of ``pira`` (has an IRA) and
  ``p401k`` (participates in a 401(k)) on ``inc + incsq + age + agesq +
  marr + fsize``.
* ``k401ksubs``: probit with selection of ``p401k`` (participation, observed
  for the eligible) with selection ``e401k`` (eligibility); ``male`` is the
  exclusion restriction.

The reference is statsmodels' ``GenericLikelihoodModel`` on scipy's
bivariate normal (``scipy.stats.multivariate_normal.cdf``, Genz's
algorithm, ``abseps = releps = 1e-12``): same likelihood, written
independently, with statsmodels' numerical score and Hessian and a
BFGS optimizer, on standardized regressors (mapped back; see
:class:`_Unscaled` for its numerical Hessian). Agreement is to the accuracy
of those numerical derivatives. The reference fits take minutes (thousands
of evaluations of scipy's CDF); econderiv's take well under a second.

Being independent re-computations, not published numbers, both groups run
only with ``--full`` (``run_all.py --full``, or this file with ``--full``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, run_groups, script_main  # noqa: E402

from econderiv import datasets  # noqa: E402
from econderiv.models.biprobit import BivariateProbit  # noqa: E402
from econderiv.models.heckprobit import HeckProbit  # noqa: E402

REGS = "inc + incsq + age + agesq + marr + fsize"
SRC_BP = "k401k biprobit vs GLM+scipy"
SRC_HP = "k401k heckprobit vs GLM+scipy"


def _scipy_logphi2(a, b, r):
    """log Phi2(a, b, r) with scipy, r a scalar (one call per sign of r)."""
    pts = np.column_stack([a, b])
    p = stats.multivariate_normal.cdf(pts, mean=[0.0, 0.0], cov=[[1.0, r], [r, 1.0]],
                                      abseps=1e-12, releps=1e-12)
    return np.log(np.atleast_1d(p))


def _reference_biprobit(y1, y2, x):
    """Independent bivariate probit: GenericLikelihoodModel with numerical derivatives."""
    from statsmodels.base.model import GenericLikelihoodModel
    from statsmodels.discrete.discrete_model import Probit

    x, sx = _standardized(x)
    q1, q2 = 2 * y1 - 1, 2 * y2 - 1
    same = q1 * q2 > 0
    k = x.shape[1]

    class RefBiprobit(GenericLikelihoodModel):
        def loglikeobs(self, params):
            rho = np.tanh(params[-1])
            a = q1 * (x @ params[:k])
            b = q2 * (x @ params[k:2 * k])
            out = np.empty(len(a))
            out[same] = _scipy_logphi2(a[same], b[same], rho)
            out[~same] = _scipy_logphi2(a[~same], b[~same], -rho)
            return out

    start = np.concatenate([Probit(y1, x).fit(disp=0).params,
                            Probit(y2, x).fit(disp=0).params, [0.0]])
    mod = RefBiprobit(y1, x, extra_params_names=["athrho"])
    mod.exog_names[:] = [f"p{j}" for j in range(2 * k)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mod.fit(start_params=start, method="bfgs", maxiter=2000, gtol=1e-7, disp=0,
                      skip_hessian=True)
    return _Unscaled(res, np.concatenate([sx, sx, [1.0]]), mod)


def _reference_heckprobit(s, y, z, x):
    from statsmodels.base.model import GenericLikelihoodModel
    from statsmodels.discrete.discrete_model import Probit

    z, sz = _standardized(z)
    x, sx = _standardized(np.where(np.isfinite(x), x, 0.0))
    sel = s == 1
    q = np.where(sel, 2 * np.nan_to_num(y) - 1, 0.0)
    pos = sel & (q > 0)
    neg = sel & (q < 0)
    kz, kx = z.shape[1], x.shape[1]

    class RefHeckprobit(GenericLikelihoodModel):
        def loglikeobs(self, params):
            rho = np.tanh(params[-1])
            zg = z @ params[:kz]
            xb = x @ params[kz:kz + kx]
            out = np.empty(len(zg))
            out[~sel] = special.log_ndtr(-zg[~sel])
            out[pos] = _scipy_logphi2(zg[pos], xb[pos], rho)
            out[neg] = _scipy_logphi2(zg[neg], -xb[neg], -rho)
            return out

    start = np.concatenate([Probit(s, z).fit(disp=0).params,
                            Probit(y[sel], x[sel]).fit(disp=0).params, [0.0]])
    mod = RefHeckprobit(s, z, extra_params_names=["athrho"])
    mod.exog_names[:] = [f"p{j}" for j in range(kz + kx)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mod.fit(start_params=start, method="bfgs", maxiter=2000, gtol=1e-7, disp=0,
                      skip_hessian=True)
    return _Unscaled(res, np.concatenate([sz, sx, [1.0]]), mod)


def _standardized(x):
    """Scale the non-constant columns to unit standard deviation.

    The reference optimizes ``b_j * scale_j``; the MLE is equivariant, so
    ``params = params_scaled / scale`` and ``cov = D cov_scaled D`` with
    ``D = diag(1/scale)``. Without this the numerical derivatives of the
    reference are poor for ``incsq`` (values ~ 1e4, coefficient ~ 1e-5).
    """
    sd = x.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    return x / scale, scale


class _Unscaled:
    """A reference fit mapped back from standardized regressors.

    Its covariance is the inverse of a numerical Hessian of the reference
    log-likelihood: central differences (statsmodels ``approx_hess3``) at
    steps 1e-3 and 3e-3 in the standardized parameters, combined by
    Richardson extrapolation ``(9 H(h) - H(3h)) / 8``. (statsmodels' default
    step is dominated by the noise of the CDF, about 0.3% error in some
    standard errors here; a single step of 1e-3 by its O(h^2) truncation
    error, 0.1%; the extrapolation removes the latter.)
    """

    def __init__(self, res, scale, model):
        from statsmodels.tools.numdiff import approx_hess3

        d = 1.0 / scale
        self.scale = scale
        self.model = model
        p = np.asarray(res.params)
        h1 = approx_hess3(p, model.loglike, epsilon=1e-3)
        h3 = approx_hess3(p, model.loglike, epsilon=3e-3)
        hess = (9.0 * h1 - h3) / 8.0
        self.params = p * d
        self.cov = np.linalg.inv(-hess) * np.outer(d, d)
        self.bse = np.sqrt(np.diag(self.cov))
        self.llf = res.llf
        self.converged = res.mle_retvals.get("converged", False)

    def loglike(self, params):
        """The reference log-likelihood at parameters on the original scale."""
        return self.model.loglike(np.asarray(params) * self.scale)


def _compare(source, ours, ref, names) -> list[Check]:
    checks = []
    p_ref, b_ref = np.asarray(ref.params), np.asarray(ref.bse)
    p, b = np.asarray(ours.params), np.asarray(ours.bse)
    for j, name in enumerate(names):
        checks.append(Check(source, f"coef {name}", p_ref[j], p[j],
                            1e-5 * max(1.0, abs(p_ref[j])) + 1e-3 * b_ref[j]))
    for j, name in enumerate(names):
        checks.append(Check(source, f"se {name}", b_ref[j], b[j], 1e-4 * b_ref[j]))
    checks.append(Check(source, "log-likelihood", ref.llf, ours.llf, 1e-5,
                        note="reference llf at its own optimum"))
    # The independent likelihood evaluated at econderiv's estimate: it must be
    # at least as high as at the reference's own optimum (same maximum).
    at_ours = ref.loglike(p)
    checks.append(Check(source, "ref. llf(ours) - ref. llf(ref)", 0.0,
                        min(0.0, at_ours - ref.llf), 1e-6,
                        note=f"difference {at_ours - ref.llf:+.2e}"))
    rho_ref = np.tanh(p_ref[-1])
    checks.append(Check(source, "rho", rho_ref, ours.rho, 2e-4))
    return checks


def biprobit() -> list[Check]:
    df = datasets.load("k401ksubs")
    formulas = [f"pira ~ {REGS}", f"p401k ~ {REGS}"]
    BivariateProbit.from_formula(formulas, df).fit()  # warm-up: numba kernels load
    t0 = time.perf_counter()
    mod = BivariateProbit.from_formula(formulas, df)
    res = mod.fit()
    t_ours = time.perf_counter() - t0
    x = mod._x1
    t0 = time.perf_counter()
    ref = _reference_biprobit(mod._y1, mod._y2, x)
    t_ref = time.perf_counter() - t0
    checks = _compare(SRC_BP, res, ref, mod.param_names)
    checks.append(Check(SRC_BP, "our llf >= reference llf", 0.0,
                        max(0.0, ref.llf - res.llf), 1e-6,
                        note=f"fit {t_ours:.2f} s vs reference {t_ref:.1f} s"))
    return checks


def heckprobit() -> list[Check]:
    df = datasets.load("k401ksubs")
    df["p401k_obs"] = np.where(df.e401k == 1, df.p401k, np.nan)
    mod = HeckProbit.from_formula(f"p401k_obs ~ {REGS}", df,
                                  selection=f"e401k ~ {REGS} + male")
    res = mod.fit()
    ref = _reference_heckprobit(mod.endog_select, np.asarray(mod.endog, float),
                                mod.exog_select, mod._x)
    return _compare(SRC_HP, res, ref, mod.param_names)


GROUPS = [
    Group("bivariate probit, k401ksubs, vs GenericLikelihoodModel + scipy CDF", biprobit,
          full_only=True, cost="minutes: reference fit with numerical derivatives"),
    Group("probit with selection, k401ksubs, vs GenericLikelihoodModel + scipy CDF",
          heckprobit, full_only=True,
          cost="minutes: reference fit with numerical derivatives"),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
