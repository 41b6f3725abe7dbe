"""Method ``"arimax"`` of :class:`econderiv.DerivativeRegression`.

For a linear time-invariant equation with inputs held between samples
(zero-order hold) and uniform step ``h``, the sampled solution obeys exactly

    x_n = sum_{l=1}^m phi_l x_{n-l} + sum_i sum_{l=1}^m beta_{i,l} u_{i,n-l} + c,

and the data are ``y_n = x_n + e_n`` (white measurement noise, variance
``s2_meas``). (The state-space class can also carry an equation noise
``eta_n`` in the recursion, variance ``s2_eq``, but that option is not
validated and :func:`fit_arimax` does not offer it.) In reduced form this is the
transfer-function (ARMAX) model ``A(L) y = B(L) u + c + C(L) eps`` with an MA
polynomial ``C`` of order ``m``; here the noise is kept in its structural form
as a state-space model (statsmodels' :class:`MLEModel`, Harvey's
representation of the ARMA recursion with the input terms as a time-varying
state intercept, diffuse initial state), which gives the reported
log-likelihood and residuals. The estimate maximises the same Gaussian
likelihood with the initial values profiled out (it lacks only the diffuse
log-det term, of relative order 1/n), by Fisher scoring with the exact score
and information from the path recursion written in the delta operator
(:func:`_profile_loglike_score`): the Kalman filter's likelihood, built on
the shift coefficients, is too imprecise on long records (no step was
accepted at 400,000 samples).

The discrete coefficients ``d = (phi, beta, c)`` are then mapped to
``theta`` by minimum distance,

    theta = argmin (d_hat - d(theta))' V^-1 (d_hat - d(theta)),

``V`` the ML covariance of ``d_hat`` and ``d(theta)`` the exact
discretisation (:func:`discrete_coefficients`); the delta method gives
``cov(theta) = (D' V^-1 D)^-1``, ``D = dd/dtheta``, and the minimised
distance is a chi-squared test (``m (q+1) + 1 - p`` degrees of freedom) of
the restrictions the continuous-time equation puts on the discrete model.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
from scipy import linalg, optimize, stats
from statsmodels.tsa.statespace.mlemodel import MLEModel

from econderiv.models import _derivreg_kernels as K
from econderiv.models._optim import backtrack


def delta_map(order, n_inputs, const, h):
    """Affine map ``d = d_fix + G p`` from delta-operator to shift coefficients.

    Fast sampling puts the roots of ``A(z)`` near 1 and makes the shift
    coefficients ``d`` nearly collinear (the likelihood's Hessian in ``d``
    has a condition number near 1e20 on the motor). The same model written
    in the delta operator ``delta = (z - 1)/h`` (Middleton and Goodwin,
    1990) has coefficients of order one:

        A(z) = (z-1)^m + sum_j alpha_j h^j (z-1)^(m-j),
        B_i(z) = sum_j gamma_{i,j} h^j (z-1)^(m-j),   c = gamma_c h^m.

    ``p = (alpha, gamma_1, ..., gamma_c)``; ``d = (phi, beta, c)`` with
    ``phi_l = -[z^(m-l)] A`` and ``beta_{i,l} = [z^(m-l)] B_i``.
    """
    from numpy.polynomial import polynomial as P
    m = order
    zm1 = [P.polypow([-1.0, 1.0], k) for k in range(m + 1)]  # (z-1)^k, low first

    def high_first(coefs, deg):
        out = np.zeros(deg + 1)
        out[:len(coefs)] = coefs
        return out[::-1]

    lead = high_first(zm1[m], m)  # (z-1)^m
    d_fix = np.zeros(m + n_inputs * m + int(const))
    d_fix[:m] = -lead[1:]
    cols = []
    for j in range(1, m + 1):  # alpha_j
        col = np.zeros_like(d_fix)
        col[:m] = -high_first(zm1[m - j], m)[1:] * h**j
        cols.append(col)
    for i in range(n_inputs):
        for j in range(1, m + 1):
            col = np.zeros_like(d_fix)
            col[m + i * m: m + (i + 1) * m] = high_first(zm1[m - j], m)[1:] * h**j
            cols.append(col)
    if const:
        col = np.zeros_like(d_fix)
        col[-1] = h**m
        cols.append(col)
    return d_fix, np.column_stack(cols)


def delta_coefficients(spec, theta, h):
    """Delta-operator coefficients ``p = (alpha, gamma_1, ..., gamma_c)`` of
    the exact discretisation, computed without passing through the shift
    coefficients.

    With ``Omega = (1/h) int_0^h exp(A s) ds`` (one block ``expm``), the
    delta-form system matrices are ``Phi_d = (exp(A h) - I)/h = A Omega``
    and ``Gamma_d = Omega B``; ``A(z) = h^m det(delta I - Phi_d)``, so the
    ``alpha_j`` are the characteristic-polynomial coefficients of
    ``Phi_d``, and ``gamma_i`` those of
    ``det(delta I - Phi_d + Gamma_d,i C) - det(delta I - Phi_d)``
    (``gamma_c`` is the last one: ``c = B_c(1) = gamma_c h^m``). Going
    through ``d`` instead (``G^-1 (d - d_fix)``) loses the coefficients
    that set the roots near 1 to rounding: ``alpha_m = -(sum phi - 1)/h^m``
    carries an error of about ``eps/h^m`` (9e-12 at 200 Hz), which at
    400,000 samples is large against its standard error along the
    likelihood's steep directions.
    """
    m = spec.order
    A, B = spec.system_matrices(theta)
    big = np.zeros((2 * m, 2 * m), dtype=np.result_type(A, float))
    big[:m, :m] = A * h
    big[:m, m:] = np.eye(m) * h
    Omega = linalg.expm(big)[:m, m:] / h
    Phi_d = A @ Omega
    Gam_d = Omega @ B
    C = np.zeros(m)
    C[0] = 1.0
    den = np.poly(Phi_d)
    out = [den[1:]]
    for i in range(spec.n_inputs):
        num = (np.poly(Phi_d - np.outer(Gam_d[:, i], C)) - den)[1:]
        out.append(num[-1:] if spec.const and i == spec.n_inputs - 1 else num)
    return np.real(np.concatenate(out))


class ArmaxStateSpace(MLEModel):
    """``y_n = x_n + e_n`` with ``x`` following the discrete ARMAX recursion.

    State (Harvey form, dimension ``m``): ``z_n[0] = x_n`` and
    ``z_{n+1}[i] = phi_{i+1} z_n[0] + z_n[i+1] + sum_j beta_{j,i+1} u_{j,n}
    (+ c if i = 0) (+ eta_{n+1} if i = 0)``, which unrolls to the recursion
    above. Parameters: ``phi_1..phi_m``, ``beta`` (per input, lags 1..m),
    ``c``, ``log s2_meas`` and, with ``noise="both"``, ``log s2_eq``.
    """

    def __init__(self, endog, exog_inputs, order, const, noise="measurement",
                 names=None, dmap=None, h=None):
        super().__init__(endog, k_states=order, k_posdef=1, initialization="diffuse")
        self.h = h  # sampling step (for the delta-form recursion)
        self.m = order
        self.u = np.asarray(exog_inputs, float).reshape(len(endog), -1)
        self.q = self.u.shape[1]
        self.const = bool(const)
        self.noise = noise
        self.k_disc = order + order * self.q + int(self.const)
        self._names = names
        # Parameters are delta-operator coefficients p; d = d_fix + G p.
        self.d_fix, self.G = dmap
        self["design", 0, 0] = 1.0
        self["selection", 0, 0] = 1.0
        T = np.zeros((order, order))
        T[np.arange(order - 1), np.arange(1, order)] = 1.0
        self["transition"] = T
        self.ssm["state_intercept"] = np.zeros((order, self.nobs))

    @property
    def param_names(self):
        names = self._names or [f"d{i}" for i in range(self.k_disc)]
        out = list(names) + ["log.s2_meas"]
        if self.noise == "both":
            out.append("log.s2_eq")
        return out

    @property
    def start_params(self):  # pragma: no cover - always given explicitly
        return np.zeros(len(self.param_names))

    def update(self, params, **kwargs):
        params = super().update(params, **kwargs)
        m, q = self.m, self.q
        d = self.d_fix + self.G @ params[:self.k_disc]
        phi = d[:m]
        beta = d[m:m + m * q].reshape(q, m)
        c = d[m + m * q] if self.const else 0.0
        dtype = np.result_type(params.dtype, float)
        T = np.zeros((m, m), dtype=dtype)
        T[np.arange(m - 1), np.arange(1, m)] = 1.0
        T[:, 0] = phi
        self["transition"] = T
        intercept = (beta.T @ self.u.T).astype(dtype) if q else np.zeros((m, self.nobs),
                                                                          dtype)
        intercept[0] = intercept[0] + c
        self.ssm["state_intercept"] = intercept
        self["obs_cov", 0, 0] = np.exp(params[self.k_disc])
        self["state_cov", 0, 0] = (np.exp(params[self.k_disc + 1])
                                   if self.noise == "both" else 0.0)


def _hessian(model, x):
    """Hessian of ``model.loglike`` by central differences (statsmodels'
    ``approx_hess3``); ``MLEModel.hessian`` is scaled by ``1/nobs``.

    Not used by :func:`fit_arimax`, which uses the exact information
    (:func:`_fisher_information`): on long records the curvature along the
    coefficients that set the AR roots near 1 grows like ``n^3`` (about
    1e20 at 400,000 samples) while the Kalman-filter log-likelihood is
    accurate to about 1e-10 relative, so finite differences fail there.
    """
    from statsmodels.tools.numdiff import approx_hess3
    H = approx_hess3(x, model.loglike)
    return 0.5 * (H + H.T)


@numba.njit(cache=True)
def _deterministic_sensitivities(phi, beta, c, x_init, u, const):
    """Path ``x_n`` of the discrete recursion and its Jacobian.

    ``x_n = x_init[n]`` for ``n < m``, else
    ``x_n = sum_l phi_l x_{n-l} + sum_i sum_l beta_{i,l} u_{i,n-l} + c``.
    Columns: ``phi_1..phi_m``, ``beta`` (input by input, lags 1..m), ``c``
    (if ``const``), ``x_init``. Each column obeys the same recursion with
    its direct term (``x_{n-l}``, ``u_{i,n-l}``, 1, or 0).
    """
    m = phi.shape[0]
    N, q = u.shape
    k = m + q * m + (1 if const else 0) + m
    x = np.zeros(N)
    J = np.zeros((N, k))
    for n in range(min(m, N)):
        x[n] = x_init[n]
        J[n, k - m + n] = 1.0
    for n in range(m, N):
        acc = c
        for l in range(1, m + 1):
            acc += phi[l - 1] * x[n - l]
            for i in range(q):
                acc += beta[i, l - 1] * u[n - l, i]
        x[n] = acc
        for j in range(k):
            s = 0.0
            for l in range(1, m + 1):
                s += phi[l - 1] * J[n - l, j]
            J[n, j] = s
        for l in range(1, m + 1):
            J[n, l - 1] += x[n - l]
            for i in range(q):
                J[n, m + i * m + l - 1] += u[n - l, i]
        if const:
            J[n, m + q * m] += 1.0
    return x, J


def _fisher_information(model, x):
    """Minus the expected Hessian of the log-likelihood, exactly.

    With white measurement noise the observations are ``y = x(d, x_init) + e``
    with a deterministic path, so the information on the mean parameters is
    ``J'J / s2`` (``J`` from :func:`_deterministic_sensitivities`, mapped to
    the delta-operator parameters by ``G``); the initial values are
    profiled out by a Schur complement (they play the part of the diffuse
    initial state), and ``log s2`` has information ``n/2`` and is
    orthogonal to the rest. Unlike finite differences of the Kalman-filter
    likelihood this stays accurate on long records, where the curvature
    along the near-unit AR roots grows like ``n^3``. Returned with a minus
    sign, in the role of the Hessian.
    """
    m, q, kd = model.m, model.q, model.k_disc
    d = model.d_fix + model.G @ x[:kd]
    phi = d[:m]
    beta = d[m:m + m * q].reshape(q, m) if q else np.zeros((0, m))
    c = d[m + m * q] if model.const else 0.0
    y = np.asarray(model.endog, float).ravel()
    # Initial values: the first m observations (their effect is profiled out).
    _, J = _deterministic_sensitivities(phi, np.ascontiguousarray(beta), float(c),
                                        y[:m].copy(), np.ascontiguousarray(model.u),
                                        model.const)
    s2 = float(np.exp(x[kd]))
    Jp = np.column_stack([J[:, :kd] @ model.G, J[:, kd:]])
    info = Jp.T @ Jp / s2
    A = info[:kd, :kd]
    B = info[:kd, kd:]
    C = info[kd:, kd:]
    prof = A - B @ np.linalg.solve(C, B.T)
    H = np.zeros((x.size, x.size))
    H[:kd, :kd] = -0.5 * (prof + prof.T)
    H[kd, kd] = -0.5 * y.size
    return H


def _delta_path_sensitivities(alpha, gamma, gamma_c, x_init, u, const, h, out=None):
    """:func:`_delta_path_into` into new arrays, or into ``out = (x, J)`` (reused
    between likelihood evaluations: arrays above glibc's mmap threshold,
    32 MB, are otherwise mapped and zero-filled by the kernel at every call,
    which made a record of 10^6 samples cost 4 times one of 4 x 10^5)."""
    N = u.shape[0]
    k = alpha.shape[0] * (2 + u.shape[1]) + (1 if const else 0)
    if out is None or out[0].shape[0] != N or out[1].shape != (N, k):
        out = (np.empty(N), np.empty((N, k)))
    _delta_path_into(alpha, gamma, gamma_c, x_init, u, const, h, out[0], out[1])
    return out


@numba.njit(cache=True)
def _delta_path_into(alpha, gamma, gamma_c, x_init, u, const, h, x_out, J_out):
    """Path and Jacobian of the recursion written in the delta operator.

    Same path as :func:`_deterministic_sensitivities` but computed from the
    backward differences ``D_k x_n = (1 - L)^k x_n``:

        D_m x_n = -sum_j alpha_j h^j D_(m-j) x_(n-j)
                  + sum_i sum_j gamma_ij h^j D_(m-j) u_i,(n-j) + gamma_c h^m,

    then ``D_k x_n = D_k x_(n-1) + D_(k+1) x_n`` down to ``x_n``. A root of
    ``A(z)`` at exactly 1 (``alpha_m = 0``, the motor's position) is then
    exact; in the shift form it is not representable (``sum phi - 1`` is
    ``-alpha_m h^m``, about 1e-14 here, near the rounding of ``phi``), so at
    400,000 samples the shift-form likelihood moves in steps of about 0.02
    per ulp of ``phi_m``, a few per cent of a standard error of ``alpha_m``.
    Columns: ``alpha``, ``gamma`` (input by input), ``gamma_c`` (if
    ``const``), ``x_init``.
    """
    m = alpha.shape[0]
    N, q = u.shape
    k = m + q * m + (1 if const else 0) + m
    # Only the last m + 1 samples of every difference level are read: ring
    # buffers (slot n % (m + 1)) instead of (m + 1) x N arrays keep the
    # memory at the output's and the cost linear in N.
    w = m + 1
    D = np.zeros((m + 1, w))
    S = np.zeros((m + 1, w, k))
    Du = np.zeros((m + 1, w, q))
    hp = np.empty(m + 1)
    for j in range(m + 1):
        hp[j] = h ** j
    for n in range(N):
        c = n % w
        p = (n - 1) % w
        # differences of the inputs: Du[r] = (1 - L)^r u
        for i in range(q):
            Du[0, c, i] = u[n, i]
        for r in range(1, m + 1):
            for i in range(q):
                Du[r, c, i] = Du[r - 1, c, i] - Du[r - 1, p, i] if n >= r else 0.0
        if n < m:
            for r in range(m + 1):
                D[r, c] = 0.0
                for col in range(k):
                    S[r, c, col] = 0.0
            D[0, c] = x_init[n]
            S[0, c, k - m + n] = 1.0
            for r in range(1, n + 1):
                D[r, c] = D[r - 1, c] - D[r - 1, p]
                for col in range(k):
                    S[r, c, col] = S[r - 1, c, col] - S[r - 1, p, col]
        else:
            acc = gamma_c * hp[m] if const else 0.0
            for j in range(1, m + 1):
                sj = (n - j) % w
                acc -= alpha[j - 1] * hp[j] * D[m - j, sj]
                for i in range(q):
                    acc += gamma[i, j - 1] * hp[j] * Du[m - j, sj, i]
            D[m, c] = acc
            for col in range(k):
                s = 0.0
                for j in range(1, m + 1):
                    s -= alpha[j - 1] * hp[j] * S[m - j, (n - j) % w, col]
                S[m, c, col] = s
            for j in range(1, m + 1):
                sj = (n - j) % w
                S[m, c, j - 1] -= hp[j] * D[m - j, sj]
                for i in range(q):
                    S[m, c, m + i * m + j - 1] += hp[j] * Du[m - j, sj, i]
            if const:
                S[m, c, m + q * m] += hp[m]
            for r in range(m - 1, -1, -1):
                D[r, c] = D[r, p] + D[r + 1, c]
                for col in range(k):
                    S[r, c, col] = S[r, p, col] + S[r + 1, c, col]
        x_out[n] = D[0, c]
        for col in range(k):
            J_out[n, col] = S[0, c, col]


def _profile_loglike_score(model, x):
    """Log-likelihood and exact score with the initial values profiled out.

    The model with white measurement noise is ``y = x(d, x_init) + e``, a
    deterministic path plus noise; with the initial values ``x_init`` (the
    first ``m`` path values) profiled out by least squares,

        l(p, s2) = -0.5 [(n - m) log(2 pi s2) + r'r / s2],
        dl/dp = G' J_d' r / s2,   dl/dlog s2 = -(n - m)/2 + r'r / (2 s2),

    ``r`` the residuals at the profiled ``x_init`` and ``G' J_d`` the path's
    sensitivities to ``p``, computed in the delta form
    (:func:`_delta_path_sensitivities`; the path is affine in ``x_init``, so
    one least-squares correction profiles it exactly).
    This is the Kalman filter's diffuse likelihood without its log-det
    term for the initial state (a shift of relative order 1/n). It is used
    for the optimisation because on long records the Kalman filter, with a
    deterministic state and AR roots near 1, is not precise enough: at
    400,000 samples its log-likelihood is noisy at about 1e-2 and its
    complex-step score at about one standard error, so the Newton steps
    wander and the line search cannot tell better from worse (its transition
    matrix holds the shift coefficients, which cannot represent the root at
    1 exactly; see :func:`_delta_path_sensitivities`). The delta-form
    recursion and the residual sums stay smooth and precise there.
    """
    m, q, kd = model.m, model.q, model.k_disc
    alpha = x[:m].copy()
    gamma = np.ascontiguousarray(x[m:m + m * q].reshape(q, m) if q else np.zeros((0, m)))
    gamma_c = float(x[m + m * q]) if model.const else 0.0
    h = model.h
    y = np.asarray(model.endog, float).ravel()
    u = np.ascontiguousarray(model.u)
    x_init = y[:m].copy()
    bufs = getattr(model, "_path_buffers", None)
    path, J = bufs = _delta_path_sensitivities(alpha, gamma, gamma_c, x_init, u,
                                               model.const, h, bufs)
    x_init = x_init + np.linalg.lstsq(J[:, kd:], y - path, rcond=None)[0]
    path, J = model._path_buffers = _delta_path_sensitivities(
        alpha, gamma, gamma_c, x_init, u, model.const, h, bufs)
    r = y - path
    s2 = float(np.exp(x[kd]))
    rss = float(r @ r)
    n_eff = y.size - m
    ll = -0.5 * (n_eff * (np.log(2 * np.pi) + x[kd]) + rss / s2)
    g = np.zeros(x.size)
    g[:kd] = J[:, :kd].T @ r / s2
    g[kd] = -0.5 * n_eff + 0.5 * rss / s2
    return ll, g


#: Newton decrement below which the full Newton step is taken (see :func:`_newton_ml`)
QUADRATIC_REGIME = 1e-2


def _newton_ml(model, start, maxiter=50, tol=1e-7, hessian=None, loglike=None,
               score=None):
    """Maximise ``model.loglike`` by Newton's method with numerical derivatives.

    The score is statsmodels' complex-step score; the Hessian (``hessian``:
    a function of ``(model, x)``; :func:`fit_arimax` passes the exact
    information, i.e. Fisher scoring) is recomputed at the start, whenever a
    step fails, and at the end. Newton's method is affine invariant, which
    matters because the coefficients differ in scale by orders of magnitude.
    ``loglike``/``score`` default to the model's Kalman-filter ones.
    Returns ``(x, loglike, converged, iterations, hessian)``.

    Near the maximum (Newton decrement ``g'H^-1 g`` below
    :data:`QUADRATIC_REGIME`, a step of a tenth of a standard error) the
    full Newton step is taken: the quadratic model is exact there to far
    below a standard error, and a line search would compare values that
    differ by less than the evaluation's rounding. Newton's method then
    converges quadratically; when the decrement stops falling (by less than
    4x from one step to the next, under a freshly computed Hessian) the
    estimate has met the rounding floor of the likelihood evaluation and the
    loop stops, converged. On records of millions of samples that floor is
    about 1e-5 (the delta-form recursion accumulates rounding over the
    record; a few thousandths of a standard error), above ``tol``: before
    this rule the optimizer line-searched in that noise (30 halvings a
    time): 112 likelihood evaluations at 2.5 million samples, 7 with it.
    """
    _hessian_fn = hessian or _hessian
    _loglike = loglike or model.loglike
    _score = score or model.score
    x = np.asarray(start, float)
    f = _loglike(x)
    H = _hessian_fn(model, x)
    fresh = True
    converged = False
    it = 0
    prev_gain = np.inf
    while it < maxiter:
        it += 1
        g = _score(x)
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(-H, g, rcond=None)[0]
        gain = float(g @ step)
        if not np.isfinite(gain) or gain < 0:
            if fresh:
                break
            H, fresh = _hessian_fn(model, x), True
            continue
        if gain < tol:
            if fresh:
                converged = True
                break
            H, fresh = _hessian_fn(model, x), True
            continue
        if gain < QUADRATIC_REGIME and gain > 0.25 * prev_gain:
            # quadratic convergence has stalled: the rounding floor
            if fresh:
                converged = True
                break
            H, fresh = _hessian_fn(model, x), True
            continue
        prev_gain = gain
        if gain < QUADRATIC_REGIME:
            x = x + step
            f = _loglike(x)
            fresh = False
            continue
        # Accept the first of 1, 1/2, 1/4, ... that does not lower the
        # log-likelihood (Armijo with c1 = 0 on -loglike).
        accepted = backtrack(lambda t: (-_loglike(x + t * step), None), -f, -gain,
                             c1=0.0, max_steps=30)
        if accepted is None:
            if fresh:
                converged = gain < 1e-4
                break
            H, fresh = _hessian_fn(model, x), True
            continue
        lam, neg_f, _ = accepted
        x, f = x + lam * step, -neg_f
        fresh = False
    if not fresh:
        H = _hessian_fn(model, x)
    return x, f, converged, it, H


def _numeric_jacobian(fun, x, rel=1e-6):
    f0 = fun(x)
    J = np.empty((f0.size, x.size))
    for k in range(x.size):
        hk = rel * max(1.0, abs(x[k]))
        e = np.zeros_like(x)
        e[k] = hk
        J[:, k] = (fun(x + e) - fun(x - e)) / (2 * hk)
    return J


def discrete_names(order, exog_names, const):
    """Names of the shift-operator coefficients ``(phi, beta, c)``."""
    names = [f"ar.L{l}" for l in range(1, order + 1)]
    for nm in exog_names:
        names += [f"{nm}.L{l}" for l in range(1, order + 1)]
    if const:
        names.append("const")
    return names


def check_noise(noise):
    """Only white measurement noise is offered."""
    if noise != "measurement":
        # The state-space class can carry an equation-noise variance, but on
        # data without process noise that variance runs to its boundary and
        # the fit does not converge; it is not validated, so not offered.
        raise ValueError(f"noise must be 'measurement' (white measurement noise; "
                         f"equation noise is not supported yet), got {noise!r}")


def fit_arimax(spec, endog, exog, exog_names, h, theta0, s2_start, noise="measurement",
               maxiter=50):
    """Fit ``"arimax"`` (see the module notes) on uniform step ``h``.

    ``theta0`` and ``s2_start`` (start values of theta and of the noise
    variance) come from method ``"integral"``. Returns a
    :class:`~._derivreg_kernels.Estimate` whose ``extra["discrete"]`` is
    ``(names, coefficients, covariance)`` of the shift-operator (ARMAX)
    coefficients ``d = d_fix + G p``.
    """
    check_noise(noise)
    order, nobs = spec.order, endog.size
    names = discrete_names(order, exog_names, spec.const)
    d_fix, G = delta_map(order, exog.shape[1], spec.const, h)

    def p_of_theta(theta):
        return delta_coefficients(spec, theta, h)

    d0 = p_of_theta(theta0)
    ss = ArmaxStateSpace(endog, exog, order, spec.const, noise=noise,
                         names=[f"delta.{nm}" for nm in names], dmap=(d_fix, G),
                         h=h)
    s2 = max(s2_start, 1e-12 * max(1.0, np.var(endog)))
    start = np.concatenate([d0, [np.log(s2)]])
    if noise == "both":
        start = np.append(start, np.log(s2 * 1e-2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Fisher scoring on the profiled likelihood with its exact score
        # (see _profile_loglike_score for why not the Kalman filter's).
        # the optimizer asks for the log-likelihood of an accepted point and
        # then for its score: one recursion pass serves both
        last = {}

        def both(v):
            key = v.tobytes()
            if key not in last:
                last.clear()
                last[key] = _profile_loglike_score(ss, v)
            return last[key]

        xhat, _, converged, nit, H = _newton_ml(
            ss, start, maxiter=maxiter, hessian=_fisher_information,
            loglike=lambda v: both(v)[0], score=lambda v: both(v)[1])
        # one Kalman-filter pass gives the reported log-likelihood and the
        # residuals (no OPG covariance; only the forecast errors are stored)
        from statsmodels.tsa.statespace import kalman_filter as kf
        res_ss = ss.filter(xhat, cov_type="none", conserve_memory=(
            kf.MEMORY_CONSERVE | kf.MEMORY_NO_STD_FORECAST) & ~kf.MEMORY_NO_LIKELIHOOD)
    llf = float(res_ss.llf)
    if not converged:
        warnings.warn("arimax ML did not converge (the input may not excite the "
                      "system enough, or the start is poor); try a larger maxiter, "
                      "or method='oe'",
                      RuntimeWarning, stacklevel=3)
    cov_all = np.linalg.inv(-H)
    kd = ss.k_disc
    d_hat = xhat[:kd]
    V = 0.5 * (cov_all[:kd, :kd] + cov_all[:kd, :kd].T)
    if noise == "both" and np.exp(xhat[kd + 1]) < 1e-6 * np.exp(xhat[kd]):
        warnings.warn("the equation-noise variance is at its lower boundary (about 0): "
                      "the data show no process noise; use noise='measurement'",
                      RuntimeWarning, stacklevel=3)

    # Minimum distance from d_hat to the exact discretisation d(theta).
    try:
        Lc = linalg.cholesky(V, lower=True)
    except linalg.LinAlgError as exc:
        raise FloatingPointError("the ML covariance of the discrete coefficients is not "
                                 "positive definite: the input may not excite the "
                                 "system enough; use method='oe'"
                                 ) from exc

    def dist(theta):
        return linalg.solve_triangular(Lc, d_hat - p_of_theta(theta), lower=True)

    sol = optimize.least_squares(dist, theta0, method="lm", x_scale="jac",
                                 xtol=1e-14, ftol=1e-14, gtol=1e-12)
    theta = sol.x
    D = _numeric_jacobian(p_of_theta, theta)
    Dw = linalg.solve_triangular(Lc, D, lower=True)
    cov_theta = np.linalg.inv(Dw.T @ Dw)
    md_stat = float(sol.fun @ sol.fun)
    md_df = kd - theta.size
    resid = np.asarray(res_ss.forecasts_error[0])
    notes = [f"Discrete model: log-likelihood {llf:.6g}, {nit} Fisher-scoring iterations; "
             f"measurement noise sd {np.sqrt(np.exp(xhat[kd])):.4g}"
             + (f", equation noise sd {np.sqrt(np.exp(xhat[kd + 1])):.4g}"
                if noise == "both" else "") + ".",
             f"Minimum-distance test of the continuous-time restrictions: chi2({md_df}) = "
             f"{md_stat:.3f}, p = {stats.chi2.sf(md_stat, md_df) if md_df > 0 else np.nan:.3f}."]
    return K.Estimate(
        theta, cov_theta, resid=resid, scale=float(np.exp(xhat[kd])),
        df_resid=nobs - kd - 1,
        info={"llf": llf, "md_stat": md_stat, "md_df": md_df, "converged": converged,
              "noise": noise, "notes": notes},
        # the shift-operator (ARMAX) coefficients d = d_fix + G p, reported too
        extra={"discrete": (names, d_fix + G @ d_hat, G @ V @ G.T)})
