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

The reference is the same likelihood written independently on scipy's
bivariate normal (``scipy.stats.multivariate_normal.cdf``, Genz's
algorithm, ``abseps = releps = 1e-12``), maximized by Newton's method with
numerical derivatives: each observation's log-likelihood is differentiated
numerically in its indices and athrho, and chained to the parameters (see
:class:`_IndexReference`). Agreement is to the accuracy of those numerical
derivatives. (Until issue 9 the reference was statsmodels'
``GenericLikelihoodModel`` with numerical derivatives in the 15 parameters
and BFGS: the same numbers to within its looser convergence, but 3-4
minutes of scipy CDF evaluations; this one needs a few hundred.)

Being independent re-computations, not published numbers, both groups run
only with ``--full`` (``run_all.py --full``, or this file with ``--full``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, run_groups, script_main  # noqa: E402

from econderiv import datasets  # noqa: E402
from econderiv.models.biprobit import BivariateProbit  # noqa: E402
from econderiv.models.heckprobit import HeckProbit  # noqa: E402

REGS = "inc + incsq + age + agesq + marr + fsize"
SRC_BP = "k401k biprobit vs scipy ref"
SRC_HP = "k401k heckprobit vs scipy ref"


def _scipy_logphi2(a, b, r):
    """log Phi2(a, b, r) with scipy, r a scalar (one call per sign of r)."""
    pts = np.column_stack([a, b])
    p = stats.multivariate_normal.cdf(pts, mean=[0.0, 0.0], cov=[[1.0, r], [r, 1.0]],
                                      abseps=1e-12, releps=1e-12)
    return np.log(np.atleast_1d(p))


class _IndexReference:
    """An independent maximum-likelihood fit with numerical derivatives.

    The log-likelihood is ``sum_i l(v_i1, ..., v_im, t)`` with indices
    ``v_ij = D_j[i] @ beta_j`` (one design per equation) and one scalar
    ``t`` (athrho); ``l`` (``lobs``) is written here on scipy's CDF. Its
    derivatives with respect to the ``m`` indices and ``t`` are taken
    numerically for every observation at once (central differences at steps
    ``h`` and ``h/2``, ``h = 1e-3``, Richardson-extrapolated, error
    ``O(h^4)``; 1 + 2(m+1) + 4 C(m+1, 2) evaluations per step) and chained
    to the parameters exactly (``X' diag(l_jk) X`` blocks). That is
    ``~40`` evaluations of scipy's CDF per score and Hessian, where
    differencing in the 15 parameters took ~1,000 (statsmodels'
    ``approx_hess3``) and BFGS with a numerical score ~1,300. Newton's method
    with step halving from the single-equation probits maximizes it; the
    covariance is the inverse of minus that numerical Hessian.
    """

    H = 1e-3

    def __init__(self, lobs, designs, start):
        self.lobs = lobs
        self.designs = [np.asarray(d, float) for d in designs]
        self.sizes = [d.shape[1] for d in self.designs]
        self.nevals = 0
        p = np.asarray(start, float)
        llf = self.loglike(p)
        for _ in range(100):
            g, h = self._derivs(p)
            step = np.linalg.solve(h, g)
            dec = float(g @ step)          # Newton decrement (h negative definite)
            lam = 1.0
            while True:
                cand = p - lam * step
                new = self.loglike(cand)
                if np.isfinite(new) and new >= llf - 1e-12 or lam < 1e-6:
                    break
                lam /= 2
            p, llf = cand, new
            if abs(dec) < 1e-12:
                break
        g, h = self._derivs(p)
        self.params = p
        self.llf = self.loglike(p)
        self.grad = g
        self.cov = np.linalg.inv(-h)
        self.bse = np.sqrt(np.diag(self.cov))

    def _split(self, params):
        out, j = [], 0
        for k in self.sizes:
            out.append(np.asarray(params[j:j + k]))
            j += k
        return out, float(params[j])

    def _indices(self, params):
        betas, t = self._split(params)
        return np.column_stack([d @ b for d, b in zip(self.designs, betas)]), t

    def _l(self, v, t):
        self.nevals += 1
        return self.lobs(v, t)

    def loglike(self, params):
        v, t = self._indices(np.asarray(params, float))
        return float(np.sum(self._l(v, t)))

    def _local(self, v, t, h):
        """Per-observation gradient and Hessian in (v_1..v_m, t), step h."""
        m = v.shape[1]
        d = m + 1

        def at(shift):
            return self._l(v + shift[:m], t + shift[m])

        e = np.eye(d) * h
        l0 = at(np.zeros(d))
        plus = [at(e[j]) for j in range(d)]
        minus = [at(-e[j]) for j in range(d)]
        g = np.empty((len(l0), d))
        hh = np.empty((len(l0), d, d))
        for j in range(d):
            g[:, j] = (plus[j] - minus[j]) / (2 * h)
            hh[:, j, j] = (plus[j] - 2 * l0 + minus[j]) / h**2
            for k in range(j):
                c = (at(e[j] + e[k]) - at(e[j] - e[k]) - at(e[k] - e[j])
                     + at(-e[j] - e[k])) / (4 * h * h)
                hh[:, j, k] = hh[:, k, j] = c
        return g, hh

    def _derivs(self, params):
        v, t = self._indices(params)
        g1, h1 = self._local(v, t, self.H)
        g2, h2 = self._local(v, t, self.H / 2)
        g = (4 * g2 - g1) / 3
        hh = (4 * h2 - h1) / 3
        m = len(self.designs)
        # chain rule: v_j = D_j beta_j, t = t
        blocks = self.designs + [np.ones((len(v), 1))]
        grad = np.concatenate([blocks[j].T @ g[:, j] for j in range(m + 1)])
        hess = np.block([[blocks[j].T @ (blocks[k] * hh[:, j, k][:, None])
                          for k in range(m + 1)] for j in range(m + 1)])
        return grad, 0.5 * (hess + hess.T)


def _reference_biprobit(y1, y2, x):
    """Independent bivariate probit: scipy's CDF, numerical derivatives."""
    from statsmodels.discrete.discrete_model import Probit

    q1, q2 = 2 * y1 - 1, 2 * y2 - 1
    same = q1 * q2 > 0

    def lobs(v, t):
        rho = np.tanh(t)
        a, b = q1 * v[:, 0], q2 * v[:, 1]
        out = np.empty(len(a))
        out[same] = _scipy_logphi2(a[same], b[same], rho)
        out[~same] = _scipy_logphi2(a[~same], b[~same], -rho)
        return out

    start = np.concatenate([Probit(y1, x).fit(disp=0).params,
                            Probit(y2, x).fit(disp=0).params, [0.0]])
    return _IndexReference(lobs, [x, x], start)


def _reference_heckprobit(s, y, z, x):
    """Independent probit with selection: scipy's CDF, numerical derivatives."""
    from statsmodels.discrete.discrete_model import Probit

    x = np.where(np.isfinite(x), x, 0.0)
    sel = s == 1
    q = np.where(sel, 2 * np.nan_to_num(y) - 1, 0.0)
    pos = sel & (q > 0)
    neg = sel & (q < 0)

    def lobs(v, t):
        rho = np.tanh(t)
        zg, xb = v[:, 0], v[:, 1]
        out = np.empty(len(zg))
        out[~sel] = special.log_ndtr(-zg[~sel])
        out[pos] = _scipy_logphi2(zg[pos], xb[pos], rho)
        out[neg] = _scipy_logphi2(zg[neg], -xb[neg], -rho)
        return out

    start = np.concatenate([Probit(s, z).fit(disp=0).params,
                            Probit(y[sel], x[sel]).fit(disp=0).params, [0.0]])
    return _IndexReference(lobs, [z, x], start)


def _compare(source, ours, ref, names) -> list[Check]:
    checks = []
    p_ref, b_ref = np.asarray(ref.params), np.asarray(ref.bse)
    p, b = np.asarray(ours.params), np.asarray(ours.bse)
    # Tolerances: the reference's numerical derivatives (O(h^4) = 1e-12 with
    # the CDF accurate to 1e-12) agree with econderiv to ~1e-12 relative in
    # the standard errors and ~1e-13 in the coefficients; the tolerances
    # leave a margin of 1e5 for other platforms' scipy.
    for j, name in enumerate(names):
        checks.append(Check(source, f"coef {name}", p_ref[j], p[j],
                            1e-7 * max(1.0, abs(p_ref[j])) + 1e-5 * b_ref[j]))
    for j, name in enumerate(names):
        checks.append(Check(source, f"se {name}", b_ref[j], b[j], 1e-6 * b_ref[j],
                            note="relative 1e-6"))
    checks.append(Check(source, "log-likelihood", ref.llf, ours.llf, 1e-7,
                        note="reference llf at its own optimum"))
    # The independent likelihood evaluated at econderiv's estimate: it must be
    # at least as high as at the reference's own optimum (same maximum).
    at_ours = ref.loglike(p)
    checks.append(Check(source, "ref. llf(ours) - ref. llf(ref)", 0.0,
                        min(0.0, at_ours - ref.llf), 1e-6,
                        note=f"difference {at_ours - ref.llf:+.2e}"))
    rho_ref = np.tanh(p_ref[-1])
    checks.append(Check(source, "rho", rho_ref, ours.rho, 1e-6))
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
                        note=f"fit {t_ours:.2f} s vs reference {t_ref:.1f} s, "
                        f"{ref.nevals} evaluations of scipy's CDF"))
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
    Group("bivariate probit, k401ksubs, vs scipy CDF + numerical derivatives", biprobit,
          full_only=True, cost="reference fit with numerical derivatives, ~20 s CPU"),
    Group("probit with selection, k401ksubs, vs scipy CDF + numerical derivatives",
          heckprobit, full_only=True,
          cost="reference fit with numerical derivatives, ~20 s CPU"),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
