"""One optimizer registry for every likelihood family.

Every family's ``fit(method=...)`` names an optimizer from this module or one
of statsmodels' (``"newton"``, ``"bfgs"``, ...). The convergence rule is the
same everywhere and free of the parameters' scale:

* the **Newton decrement** ``lambda^2 = g' (-H)^{-1} g`` of the total
  log-likelihood (twice the gain a Newton step predicts; every coefficient
  is then within about ``sqrt(tol)`` standard errors of the maximum) is at
  most ``tol`` with ``-H`` positive definite; the last Newton step is then
  taken as well, so the estimate sits at Newton precision (its error is of
  order ``lambda^4``);
* or, when no step can increase the log-likelihood at working precision,
  the **relative gradient** ``max_i |g_i| max(|x_i|, 1) / max(|llf|, 1)`` is
  at most ``gtol``.

One Armijo backtracking line search (:func:`backtrack`) serves every
optimizer of the package.
"""

from __future__ import annotations

import difflib
import warnings
from typing import Callable, Iterable

import numpy as np
from scipy import linalg, optimize

from econderiv.models._data import user_stacklevel

__all__ = [
    "backtrack",
    "newton_direction",
    "newton_linesearch",
    "newton_trust",
    "FIT_FUNCS",
    "DEFAULT_METHOD",
    "STATSMODELS_METHODS",
    "STATSMODELS_METHOD_KWARGS",
    "OPTIMIZER_KWARGS",
    "check_keywords",
    "closest",
    "check_method",
    "check_maxiter",
    "inverse_information",
    "relative_gradient",
]

DEFAULT_METHOD = "newton_trust"
DEFAULT_TOL = 1e-12
DEFAULT_GTOL = 1e-8

#: statsmodels' optimizers and the keywords each takes (statsmodels.base.optimizer)
STATSMODELS_METHOD_KWARGS: dict[str, tuple[str, ...]] = {
    "newton": ("tol", "ridge_factor"),
    "nm": ("xtol", "ftol", "maxfun"),
    "bfgs": ("gtol", "norm", "epsilon"),
    "lbfgs": ("m", "pgtol", "factr", "maxfun", "epsilon", "approx_grad", "bounds",
              "loglike_and_score", "iprint"),
    "cg": ("gtol", "norm", "epsilon"),
    "ncg": ("fhess_p", "avextol", "epsilon"),
    "powell": ("xtol", "ftol", "maxfun", "start_direc"),
    "basinhopping": ("niter", "niter_success", "T", "stepsize", "interval", "minimizer",
                     "seed"),
    "minimize": ("min_method", "bounds", "constraints", "tol", "options"),
}
STATSMODELS_METHODS = tuple(STATSMODELS_METHOD_KWARGS)

#: econderiv's own optimizers and their keywords
OPTIMIZER_KWARGS: dict[str, tuple[str, ...]] = {
    "newton_trust": ("tol", "gtol"),
    "newton_linesearch": ("tol", "gtol"),
}


# ---------------------------------------------------------------------------
# Keyword and method checks
# ---------------------------------------------------------------------------

def closest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else ""


def check_keywords(given: Iterable[str], valid: Iterable[str], where: str) -> None:
    """Raise ``TypeError`` for keywords outside ``valid``, listing the valid
    ones and suggesting the closest (a silently ignored ``weights=`` would
    give a Stata user unweighted estimates without a word)."""
    valid = sorted(set(valid))
    bad = [k for k in given if k not in valid]
    if bad:
        listing = (f"Valid keywords: {', '.join(valid)}." if valid else "It takes no keywords.")
        hint = closest(bad[0], valid) or "."
        raise TypeError(f"{where} got unexpected keyword(s) {bad}{hint} {listing}")


def check_method(method: str, own: Iterable[str] = ("newton_trust", "newton_linesearch"),
                 other_entry_points: dict[str, str] | None = None) -> str:
    """Validate an optimizer name; ``other_entry_points`` maps estimator names
    that are not optimizers (``"twostep"``) to the entry point to use."""
    own = tuple(own)
    if not isinstance(method, str):
        raise TypeError(f"method must be an optimizer name (str), got {type(method).__name__}")
    m = method.lower()
    if other_entry_points and m in other_entry_points:
        raise ValueError(f"method names the optimizer; {method!r} is an estimator: use "
                         f"{other_entry_points[m]}")
    valid = own + STATSMODELS_METHODS
    if m not in valid:
        raise ValueError(f"unknown method {method!r}{closest(m, valid) or '.'} Optimizers: "
                         f"{', '.join(valid)}.")
    return m


def check_maxiter(maxiter) -> int:
    """``maxiter`` as a positive integer, or a ``ValueError`` saying what is wrong."""
    if isinstance(maxiter, bool) or not isinstance(maxiter, (int, np.integer)):
        raise TypeError(f"maxiter must be a positive integer, got {maxiter!r}")
    if maxiter < 1:
        raise ValueError(f"maxiter must be at least 1, got {maxiter}: the optimizer needs "
                         "one iteration to check convergence at the start values")
    return int(maxiter)


# ---------------------------------------------------------------------------
# Line search and Newton direction
# ---------------------------------------------------------------------------

def backtrack(phi: Callable[[float], tuple], f0: float, slope: float, c1: float = 1e-4,
              shrink: float = 0.5, max_steps: int = 60, slack: float = 0.0):
    """Armijo backtracking for a *minimisation*: the first ``t = 1, shrink,
    shrink^2, ...`` with a finite ``phi(t)[0] <= f0 + c1 t slope + slack``.

    ``phi(t)`` returns ``(value, payload)`` (the payload, for example the
    gradient at the trial point, is handed back so nothing is computed
    twice); ``slope`` is the directional derivative at ``t = 0`` (negative).
    Returns ``(t, value, payload)`` or ``None`` when no step is accepted.
    """
    t = 1.0
    for _ in range(max_steps):
        with np.errstate(all="ignore"):
            out = phi(t)
        value = out[0]
        if np.isfinite(value) and value <= f0 + c1 * t * slope + slack:
            return t, value, out[1]
        t *= shrink
    return None


def newton_direction(g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, bool]:
    """Descent direction ``-H^{-1} g`` for a minimisation, and whether ``H`` is
    positive definite.

    When it is not, the eigenvalues of ``H`` are replaced by their absolute
    values, floored at ``1e-8`` times the largest: the Newton step is kept
    where the curvature is right and the uphill components are reversed.
    """
    h = 0.5 * (h + h.T)
    try:
        c = linalg.cho_factor(h, check_finite=True)
        return -linalg.cho_solve(c, g), True
    except (linalg.LinAlgError, ValueError):
        pass
    if not np.all(np.isfinite(h)):
        return -g, False
    w, v = np.linalg.eigh(h)
    floor = 1e-8 * max(np.max(np.abs(w)), 1e-300)
    w = np.maximum(np.abs(w), floor)
    return -(v @ ((v.T @ g) / w)), False


def relative_gradient(g, x, f) -> float:
    """``max_i |g_i| max(|x_i|, 1) / max(|f|, 1)``: the gradient in units free
    of the parameters' and the objective's scale."""
    g = np.asarray(g, float)
    x = np.asarray(x, float)
    return float(np.max(np.abs(g) * np.maximum(np.abs(x), 1.0)) / max(abs(float(f)), 1.0))


# ---------------------------------------------------------------------------
# Optimizers (statsmodels' extra_fit_funcs signature; they minimise f)
# ---------------------------------------------------------------------------

def newton_linesearch(f: Callable, score: Callable, start_params, fargs=(), kwargs=None,
                      disp: bool = False, maxiter: int = 100, callback=None,
                      retall: bool = False, full_output: bool = True,
                      hess: Callable | None = None):
    """Minimise ``f`` by modified Newton steps with the exact Hessian and
    :func:`backtrack`.

    Convergence (module docstring): the decrement of the total
    log-likelihood ``nobs g'H^{-1}g <= tol`` (default 1e-12) with ``H``
    positive definite, after which the final Newton step is taken; or, when
    no decrease is possible at working precision, a relative gradient below
    ``gtol`` (default 1e-8). ``f``, ``score``, ``hess`` are the objective,
    gradient and Hessian; ``kwargs`` may hold ``tol``, ``gtol`` and ``nobs``
    (the objective is the total divided by ``nobs``, as statsmodels'
    ``LikelihoodModel.fit`` minimises ``-loglike / nobs``; default 1).
    """
    kwargs = {} if kwargs is None else kwargs
    tol = float(kwargs.get("tol", DEFAULT_TOL)) / float(kwargs.get("nobs", 1.0))
    gtol = float(kwargs.get("gtol", DEFAULT_GTOL))
    if hess is None:
        raise ValueError("newton_linesearch needs the analytic Hessian")
    x = np.asarray(start_params, dtype=float).copy()
    fx = f(x, *fargs)
    if not np.isfinite(fx):
        raise ValueError("the log-likelihood is not finite at the start values; give "
                         "start_params where every observation has positive probability")
    history = [x.copy()]
    converged = False
    iterations = 0
    g = np.asarray(score(x, *fargs), dtype=float)
    h = None
    for _ in range(maxiter + 1):
        h = np.asarray(hess(x, *fargs), dtype=float)
        d, pd_ok = newton_direction(g, h)
        slope = float(g @ d)
        if pd_ok and -slope <= tol:
            converged = True
            if -slope > 0:  # the final Newton step: precision of order decrement^2
                step = backtrack(lambda t: (f(x + t * d, *fargs), None), fx, slope,
                                 max_steps=1, slack=64 * np.finfo(float).eps * abs(fx))
                if step is not None:
                    # h stays the Hessian before this step, as in statsmodels'
                    # newton: it differs from the one at x by O(decrement)
                    x, fx = x + d, step[1]
                    g = np.asarray(score(x, *fargs), dtype=float)
            break
        if iterations >= maxiter:
            break
        if slope >= 0:  # not a descent direction (numerical trouble)
            d, slope = -g, -float(g @ g)
        step = backtrack(lambda t: (f(x + t * d, *fargs), None), fx, slope)
        if step is None:
            # no decrease at working precision: at the optimum if the gradient
            # is small relative to the scales, else stuck
            converged = pd_ok and relative_gradient(g, x, fx) <= gtol
            break
        t, fx, _ = step
        x = x + t * d
        iterations += 1
        g = np.asarray(score(x, *fargs), dtype=float)
        history.append(x.copy())
        if callback is not None:
            callback(x)
    if disp:
        state = "converged" if converged else "did NOT converge"
        print(f"newton_linesearch {state}: f = {fx:.10g}, iterations = {iterations}")
    retvals = None
    if full_output:
        if h is None:
            h = np.asarray(hess(x, *fargs), dtype=float)
        retvals = {"fopt": fx, "iterations": iterations, "score": g, "Hessian": h,
                   "warnflag": 0 if converged else 1, "converged": converged}
        if retall:
            retvals["allvecs"] = history
    return x, retvals


def newton_trust(f: Callable, score: Callable, start_params, fargs=(), kwargs=None,
                 disp: bool = False, maxiter: int = 100, callback=None, retall: bool = False,
                 full_output: bool = True, hess: Callable | None = None):
    """Trust-region Newton with the exact Hessian, finished by Newton steps.

    scipy's ``trust-exact`` (More-Sorensen subproblem) copes with the
    indefinite Hessians met far from the maximum (poor starts, outcomes in
    levels) in a few iterations where a line-searched modified Newton
    crawls; :func:`newton_linesearch` then applies the package's convergence
    rule. The default optimizer of every family.
    """
    kwargs = {} if kwargs is None else dict(kwargs)
    if hess is None:
        raise ValueError("newton_trust needs the analytic Hessian")
    x0 = np.asarray(start_params, dtype=float)
    f0 = f(x0, *fargs)
    if not np.isfinite(f0):
        raise ValueError("the log-likelihood is not finite at the start values; give "
                         "start_params where every observation has positive probability")
    nit = 0
    allvecs = [x0.copy()]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = optimize.minimize(f, x0, args=fargs, jac=score, hess=hess, method="trust-exact",
                                  callback=callback,
                                  options={"maxiter": maxiter, "gtol": 1e-9})
        if np.all(np.isfinite(r.x)) and np.isfinite(r.fun) and r.fun <= f0:
            x0 = r.x
            nit = int(r.nit)
            allvecs.append(x0.copy())
    except (np.linalg.LinAlgError, ValueError):
        pass
    x, info = newton_linesearch(f, score, x0, fargs=fargs, kwargs=kwargs, disp=False,
                                maxiter=max(maxiter - nit, 1), callback=callback, hess=hess)
    info["iterations"] += nit
    if retall:
        info["allvecs"] = allvecs + [x.copy()]
    if disp:
        state = "converged" if info["converged"] else "did NOT converge"
        print(f"newton_trust {state}: f = {info['fopt']:.10g}, iterations = {info['iterations']}")
    return x, info


FIT_FUNCS = {"newton_trust": newton_trust, "newton_linesearch": newton_linesearch}
"""Pass as ``extra_fit_funcs`` to statsmodels' ``LikelihoodModel.fit``."""


# ---------------------------------------------------------------------------
# Covariance from the Hessian
# ---------------------------------------------------------------------------

def inverse_information(hessian, stacklevel: int | None = None):
    """``(-H)^{-1}``, symmetrised, or ``None`` with a warning when ``-H`` is not
    positive definite (the one Hessian inversion of the package)."""
    from statsmodels.tools.sm_exceptions import HessianInversionWarning

    neg = -np.asarray(hessian, dtype=float)
    if np.all(np.isfinite(neg)):
        try:
            c = linalg.cho_factor(neg)
            inv = linalg.cho_solve(c, np.eye(neg.shape[0]))
            return 0.5 * (inv + inv.T)
        except linalg.LinAlgError:
            pass
    warnings.warn("the Hessian is not negative definite at the estimate, so it cannot be "
                  "inverted: no standard errors (NaN). See the model's other warnings for "
                  "the likely cause.", HessianInversionWarning,
                  stacklevel=user_stacklevel() if stacklevel is None else stacklevel)
    return None


# ===========================================================================
# Böhning's bound: MM, L-BFGS on the bound, Newton finish
# (appended for the multinomial logit; generic over a bound object)
# ===========================================================================

def bohning_lbfgs_direction(g, s_hist, y_hist, bound):
    """Two-loop recursion: ``H_k g`` with ``H_k`` the L-BFGS inverse of the
    negative Hessian built on the initial matrix ``gamma B^{-1}``
    (``gamma = s'y / y'B^{-1}y`` of the last pair; ``bound.solve`` applies
    ``B^{-1}``). ``g`` and the pairs have the shape of the parameters."""
    q = g.copy()
    alphas = []
    for s_k, y_k in zip(reversed(s_hist), reversed(y_hist)):
        a = np.sum(s_k * q) / np.sum(s_k * y_k)
        alphas.append(a)
        q -= a * y_k
    r = bound.solve(q)
    if s_hist:
        s_k, y_k = s_hist[-1], y_hist[-1]
        r *= np.sum(s_k * y_k) / np.sum(y_k * bound.solve(y_k))
    for (s_k, y_k), a in zip(zip(s_hist, y_hist), reversed(alphas)):
        b = np.sum(y_k * r) / np.sum(s_k * y_k)
        r += (a - b) * s_k
    return r


def fit_bohning(loglike_score, bound, beta0, *, hessian=None, hessian_approx=None,
                accelerate: bool = True, maxiter: int | None = None, tol: float = 1e-12,
                gtol: float = DEFAULT_GTOL, switch_tol: float = 0.1, memory: int = 10,
                max_newton: int = 50, callback=None):
    """Maximise a log-likelihood with a fixed curvature bound ``B >= -H``.

    Parameters
    ----------
    loglike_score : callable
        ``beta -> (loglike, grad)``, ``grad`` shaped like ``beta``.
    bound : object
        ``bound.solve(g)`` applies ``B^{-1}`` to a gradient shaped like
        ``beta`` (for the multinomial logit Böhning's ``A kron X'X``).
    beta0 : ndarray
        Start.
    hessian : callable, optional
        ``beta -> H`` (square, in the order of ``beta.ravel(order="F")``):
        certifies convergence and gives the Newton steps of the accelerated
        method. Without it the L-BFGS phase runs until ``g'B^{-1}g <= tol``.
    hessian_approx : callable, optional
        A cheaper approximation of ``H`` (e.g. from a row subsample) for the
        first Newton/chord steps; convergence is always certified with
        ``hessian``.
    accelerate : bool
        False: plain MM ``beta <- beta + B^{-1} g`` (monotone, linear
        convergence; a lower value by rounding stops the iteration).
        True: L-BFGS with initial inverse Hessian ``gamma B^{-1}`` and
        :func:`backtrack` (restarting from the MM direction when the
        quasi-Newton direction does not ascend); once ``g'B^{-1}g <=
        switch_tol``, Newton steps with the exact Hessian (later steps reuse
        its factorisation while they shrink the decrement fourfold). When the
        Newton decrement ``g'(-H)^{-1}g`` at a fresh exact Hessian is at most
        ``tol``, the final Newton step is taken as well (the factorisation is
        at hand), so the estimate sits at Newton precision (error of order
        ``decrement^2``), as the module's convergence rule says.
    maxiter : int
        Iterations (default 500 accelerated, 10000 plain MM).
    tol : float
        Bound on the decrement (plain MM: on ``g'B^{-1}g``, a lower bound).
    gtol : float
        When no step increases the log-likelihood at working precision, the
        fit has converged if the relative gradient is at most ``gtol``.
    switch_tol, memory, max_newton, callback
        Newton switch point (``g'B^{-1}g``; 1 saves a pass on the 200,000-row
        benchmark but costs Newton/chord steps on small data), L-BFGS memory,
        cap on Newton/chord steps, ``callback(beta)`` after every iteration.

    Returns
    -------
    dict
        ``params``, ``llf``, ``grad``, ``iterations``, ``fcalls``, ``hcalls``,
        ``hcalls_approx``, ``converged``, ``criterion`` (the certified
        decrement), ``gradient_norm``, ``llf_path``, ``message``,
        ``phase_iterations``, ``hessian``/``hessian_at`` (the last exact
        Hessian and where it was evaluated).
    """
    if maxiter is None:
        maxiter = 500 if accelerate else 10000
    calls = [0]

    def ls(b):
        calls[0] += 1
        return loglike_score(b)

    def trial(direction):
        def phi(t):
            b = beta + t * direction
            ll_t, g_t = ls(b)
            return -ll_t, (b, ll_t, g_t)
        return phi

    beta = np.array(beta0, dtype=float)
    ll, g = ls(beta)
    if not np.isfinite(ll):
        raise ValueError("log-likelihood is not finite at the start values")
    path = [float(ll)]
    converged = False
    message = "maximum number of iterations reached"
    it = hcalls = 0
    crit = float(np.sum(g * bound.solve(g)))
    hess_val, hess_at = None, None

    def stalled_ok(pd_ok=True):
        return pd_ok and (crit <= 1e2 * tol or relative_gradient(g, beta, ll) <= gtol)

    def result(**extra):
        out = dict(params=beta, llf=float(ll), grad=g, iterations=it, fcalls=calls[0],
                   hcalls=hcalls, converged=bool(converged), criterion=float(crit),
                   gradient_norm=float(np.max(np.abs(g))), llf_path=path, message=message,
                   hessian=hess_val, hessian_at=hess_at)
        out.update(extra)
        return out

    if not accelerate:
        while True:
            if crit <= tol:
                converged, message = True, "converged (MM step length g'B^-1 g <= tol)"
                break
            if it >= maxiter:
                break
            beta_new = beta + bound.solve(g)
            ll_new, g_new = ls(beta_new)
            # the bound guarantees ll_new >= ll in exact arithmetic; a smaller
            # value is rounding at the optimum: stop so the path never decreases
            if not ll_new >= ll:
                message = "no further increase possible (rounding level)"
                converged = stalled_ok()
                break
            it += 1
            beta, ll, g = beta_new, ll_new, g_new
            path.append(float(ll))
            crit = float(np.sum(g * bound.solve(g)))
            if callback is not None:
                callback(beta)
        return result(phase_iterations={"mm": it, "newton": 0})

    s_hist: list = []
    y_hist: list = []
    n_lbfgs = n_newton = 0
    target = max(switch_tol, tol) if hessian is not None else tol
    stalled = False
    flat = 0
    rounding = 8 * np.finfo(float).eps
    while it < maxiter and crit > target:
        direction = bohning_lbfgs_direction(g, s_hist, y_hist, bound)
        slope = float(np.sum(g * direction))
        if not (slope > 0 and np.isfinite(slope)):
            direction = bound.solve(g)
            slope = float(np.sum(g * direction))
            s_hist.clear()
            y_hist.clear()
        step = backtrack(trial(direction), -ll, -slope, max_steps=20)
        if step is not None:
            beta_new, ll_new, g_new = step[2]
        else:
            # the MM step cannot decrease the log-likelihood; if it does not
            # increase it either we are at rounding level
            beta_new = beta + bound.solve(g)
            ll_new, g_new = ls(beta_new)
            s_hist.clear()
            y_hist.clear()
            if not ll_new > ll:
                stalled = True
                message = "no increase possible at rounding level"
                break
        it += 1
        n_lbfgs += 1
        # gains at rounding level for a few iterations: nothing more to win
        flat = flat + 1 if ll_new - ll <= rounding * abs(ll) else 0
        if flat >= 3:
            stalled = True
            message = "log-likelihood flat at rounding level"
        s_k = beta_new - beta
        y_k = g - g_new                      # change in the gradient of -logL
        sy = float(np.sum(s_k * y_k))
        if sy > 1e-12 * np.sqrt(float(np.sum(s_k * s_k) * np.sum(y_k * y_k))):
            s_hist.append(s_k)
            y_hist.append(y_k)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        beta, ll, g = beta_new, ll_new, g_new
        path.append(float(ll))
        crit = float(np.sum(g * bound.solve(g)))
        if callback is not None:
            callback(beta)
        if stalled:
            break

    if hessian is None:
        converged = crit <= tol or (stalled and stalled_ok())
        if converged:
            message = "converged (g'B^-1 g <= tol)"
        return result(phase_iterations={"lbfgs": n_lbfgs, "newton": 0})

    if it >= maxiter and not stalled:
        return result(phase_iterations={"lbfgs": n_lbfgs, "newton": 0})

    eps_ll = 64 * np.finfo(float).eps * max(1.0, abs(ll))

    def newton_accepted(step):
        """Count an accepted Newton step and report it; returns (beta, ll, g)."""
        nonlocal it, n_newton
        b, ll_b, g_b = step[2]
        it += 1
        n_newton += 1
        path.append(float(ll_b))
        if callback is not None:
            callback(b)
        return b, ll_b, g_b
    chol, fresh, exact, lam2_prev = None, False, False, np.inf
    n_approx = 0
    use_approx = hessian_approx is not None
    while True:
        if chol is None:
            exact = not use_approx
            hess_new = hessian(beta) if exact else hessian_approx(beta)
            n_approx += 0 if exact else 1
            if exact:
                hess_val, hess_at = hess_new, beta.copy()
                hcalls += 1
            fresh = True
            try:
                chol = linalg.cho_factor(-hess_new, check_finite=True)
            except (linalg.LinAlgError, ValueError):
                if not exact:
                    use_approx = False
                    continue
                crit = float(np.sum(g * bound.solve(g)))
                converged = False
                message = ("Hessian not negative definite at the last iterate: the "
                           "maximum may not exist (separation?)")
                break
        dv = linalg.cho_solve(chol, g.ravel(order="F"))
        lam2 = float(g.ravel(order="F") @ dv)
        d = dv.reshape(beta.shape, order="F")
        if exact and fresh and lam2 <= tol:
            crit = lam2
            converged, message = True, "converged (Newton decrement g'(-H)^-1 g <= tol)"
            # the final Newton step: precision of order lam2^2
            step = backtrack(trial(d), -ll, -lam2, max_steps=1, slack=eps_ll)
            if step is not None and lam2 > 0:
                beta, ll, g = newton_accepted(step)
            break
        crit = lam2
        if not (exact and fresh) and lam2 <= 0.1 * tol:
            # (nearly) converged by chord steps or on an approximate Hessian:
            # an exact Hessian here certifies convergence or restarts Newton
            chol, use_approx = None, False
            continue
        if not fresh and lam2 > 0.25 * lam2_prev:
            # chord steps stopped contracting: refresh the Hessian
            chol, use_approx = None, False
            continue
        if n_newton >= max_newton or it >= maxiter:
            message = f"no convergence after {n_newton} Newton steps"
            break
        step = backtrack(trial(d), -ll, -lam2, max_steps=30, slack=eps_ll)
        if step is None:
            if not exact:
                chol, use_approx = None, False
                continue
            message = "Newton step failed to increase the log-likelihood"
            converged = fresh and stalled_ok()
            break
        beta, ll, g = newton_accepted(step)
        # later steps reuse this factorisation (chord steps: one pass each)
        fresh, lam2_prev = False, lam2
    return result(phase_iterations={"lbfgs": n_lbfgs, "newton": n_newton},
                  hcalls_approx=n_approx)
