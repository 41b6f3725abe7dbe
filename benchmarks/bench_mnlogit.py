"""Benchmark: econderiv.MNLogit (Böhning) vs statsmodels MNLogit (Newton) and
scikit-learn LogisticRegression (lbfgs, multinomial, no penalty).

scikit-learn gives no standard errors; it is run at the loosest of the
tolerances 1e-4, 1e-5, ..., 1e-10 that reaches the same optimum (relative
log-likelihood gap <= 1e-10 and coefficients within 1e-6).

Simulated data: n = 200,000 rows, p = 20 regressors (constant + 19 standard
normal), J = 10 categories, true coefficients N(0, 0.3^2). econderiv and
statsmodels fit with standard errors. All timings are wall-clock in this one run;
the ratios are what matter (the machine is shared).

Run: python benchmarks/bench_mnlogit.py [--n N] [--repeat R] [--skip-statsmodels]
     [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from _timing import timed


def simulate(n=200_000, p=20, n_cat=10, seed=12345, scale=0.3):
    """Constant + (p-1) N(0,1) regressors; y drawn from the multinomial logit."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    X[:, 0] = 1.0
    X[:, 1:] = rng.standard_normal((n, p - 1))
    beta = rng.normal(0.0, scale, (p, n_cat - 1))
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, 1_000_000):
        sl = slice(start, min(n, start + 1_000_000))
        eta = np.column_stack([np.zeros(sl.stop - sl.start), X[sl] @ beta])
        eta -= eta.max(axis=1, keepdims=True)
        prob = np.exp(eta)
        prob /= prob.sum(axis=1, keepdims=True)
        u = rng.random(sl.stop - sl.start)[:, None]
        y[sl] = (np.cumsum(prob, axis=1) < u).sum(axis=1)
    return X, np.minimum(y, n_cat - 1), beta


def sklearn_loglike(clf, X, y):
    """Log-likelihood of a fitted LogisticRegression (stable log-softmax)."""
    eta = X @ clf.coef_.T + clf.intercept_
    eta -= eta.max(axis=1, keepdims=True)
    logp = eta - np.log(np.exp(eta).sum(axis=1, keepdims=True))
    return float(logp[np.arange(len(y)), y].sum())


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--p", type=int, default=20)
    ap.add_argument("--J", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-statsmodels", action="store_true")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="limit BLAS threads for all three libraries (threadpoolctl); "
                         "on a shared machine multi-threaded OpenBLAS can be very slow")
    args = ap.parse_args(argv)
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits
        import scipy.linalg  # noqa: F401  (load scipy's BLAS before limiting)
        threadpool_limits(args.blas_threads, user_api="blas")

    import statsmodels.api as sm
    from sklearn.linear_model import LogisticRegression

    from econderiv.models.mnlogit import MNLogit

    X, y, _ = simulate(args.n, args.p, args.J)
    print(f"n = {args.n:,}, p = {args.p}, J = {args.J}; "
          f"{args.p * (args.J - 1)} parameters")

    def fit_ed():
        res = MNLogit(y, X).fit(disp=0)
        res.bse  # standard errors are part of the timing
        return res

    def fit_ed_newton():
        res = MNLogit(y, X).fit(method="newton", disp=0)
        res.bse
        return res

    def fit_mm():
        return MNLogit(y, X).fit(accelerate=False, disp=0, skip_hessian=True)

    def fit_sm():
        res = sm.MNLogit(y, X).fit(method="newton", disp=0)
        res.bse
        return res

    def fit_sk(tol):
        # no penalty; X has its own constant column, so no intercept
        clf = LogisticRegression(C=np.inf, solver="lbfgs", fit_intercept=False,
                                 tol=tol, max_iter=10_000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return clf.fit(X, y)

    t_ed, r_ed = timed(fit_ed, args.repeat)
    rv = r_ed.mle_retvals
    print(f"econderiv bohning (accelerated) : {t_ed:7.3f} s  llf = {r_ed.llf:.10f}  "
          f"iterations {rv['iterations']} ({rv['phase_iterations']}), "
          f"{rv['fcalls']} loglike/score passes, {rv['hcalls']} full Hessian(s) + "
          f"{rv['hcalls_subsample']} on a row subsample, "
          f"converged {rv['converged']}")

    # scikit-learn at the loosest tolerance that reaches the same optimum
    # (relative llf gap <= 1e-10 and coefficients, in the base-category
    # parametrisation, within 1e-6 of econderiv's)
    beta_ed = np.asarray(r_ed.params)
    for sk_tol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10):
        clf = fit_sk(sk_tol)
        gap = (r_ed.llf - sklearn_loglike(clf, X, y)) / abs(r_ed.llf)
        dpar = np.max(np.abs((clf.coef_[1:] - clf.coef_[0]).T - beta_ed))
        if gap <= 1e-10 and dpar <= 1e-6:
            break
    t_sk, clf = timed(lambda: fit_sk(sk_tol), args.repeat)
    ll_sk = sklearn_loglike(clf, X, y)
    dpar = np.max(np.abs((clf.coef_[1:] - clf.coef_[0]).T - beta_ed))
    print(f"scikit-learn lbfgs (no SEs)     : {t_sk:7.3f} s  llf = {ll_sk:.10f}  "
          f"iterations {int(np.max(clf.n_iter_))} (tol={sk_tol:g}, the loosest reaching "
          f"the optimum; max |coef diff| {dpar:.1e})")

    t_en, r_en = timed(fit_ed_newton, 1)
    print(f"econderiv newton (statsmodels' loop, chunked exact Hessian): {t_en:7.3f} s  "
          f"llf = {r_en.llf:.10f}  iterations {r_en.mle_retvals['iterations']}")

    t_mm, r_mm = timed(fit_mm, 1)
    print(f"econderiv plain MM (no SEs)     : {t_mm:7.3f} s  llf = {r_mm.llf:.10f}  "
          f"iterations {r_mm.mle_retvals['iterations']}")

    if not args.skip_statsmodels:
        t_sm, r_sm = timed(fit_sm, 1)
        print(f"statsmodels MNLogit newton      : {t_sm:7.3f} s  llf = {r_sm.llf:.10f}  "
              f"iterations {r_sm.mle_retvals['iterations']}")
        dparams = np.max(np.abs(np.asarray(r_ed.params) - np.asarray(r_sm.params)))
        dbse = np.max(np.abs(np.asarray(r_ed.bse) / np.asarray(r_sm.bse) - 1))
        print(f"\nspeed-up vs statsmodels newton : {t_sm / t_ed:6.1f}x  (target >= 8)")
        print(f"  econderiv's newton vs statsmodels' newton: {t_sm / t_en:6.1f}x")
        print(f"  relative llf difference      : {abs(r_ed.llf - r_sm.llf) / abs(r_sm.llf):.2e}")
        print(f"  max |params difference|      : {dparams:.2e}")
        print(f"  max relative bse difference  : {dbse:.2e}")
    print(f"speed-up vs scikit-learn lbfgs : {t_sk / t_ed:6.1f}x  (target >= 1.5; "
          "econderiv includes standard errors)")
    print(f"  relative llf difference      : {abs(r_ed.llf - ll_sk) / abs(r_ed.llf):.2e} "
          f"(scikit-learn {'below' if ll_sk < r_ed.llf else 'above'} econderiv)")
    print(f"plain MM / accelerated time    : {t_mm / t_ed:6.1f}x")


if __name__ == "__main__":
    main()
