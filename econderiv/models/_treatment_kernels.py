r"""Derivative kernels of the treatment-effects model (endogenous binary regressor).

Plain functions of arrays, no statsmodels; :mod:`econderiv.models.treatment`
adapts them to statsmodels. This is where "the treatment-effects Hessian" lives.

Model
-----
Treatment ``d* = z'gamma + u``, ``d = 1[d* > 0]``; outcome ``y = x'beta + e``
observed on every row, where ``x`` holds the treatment indicator ``d`` (its
coefficient is the treatment effect ``delta``) and possibly its interactions;
``(u, e)`` bivariate normal with ``var(u) = 1``, ``var(e) = sigma**2`` and
correlation ``rho`` (Maddala 1983, sec. 5.7; Stata's ``etregress``; R
sampleSelection's ``treatReg``).

Parameters are on the estimation scale, in this order::

    theta = (gamma [k_z], beta [k_x], athrho, lnsigma)
    rho = tanh(athrho),   sigma = exp(lnsigma)

Log-likelihood of one row, with ``w = z'gamma``, ``r = (y - x'beta) / sigma``,
``q = 2 d - 1``, ``c = cosh(athrho)``, ``s = sinh(athrho)``::

    l = log Phi(q B) - r**2 / 2 - lnsigma - log(2 pi) / 2,
    B = (w + rho r) / sqrt(1 - rho**2) = c w + s r

(the density of ``e`` times ``P(d | e)``; ``1/sqrt(1 - rho^2) = cosh`` and
``rho/sqrt(1 - rho^2) = sinh``, so nothing cancels as ``rho -> +-1``).
``log Phi`` is ``scipy.special.log_ndtr``; its derivatives are the inverse
Mills ratio ``lambda(A) = phi(A)/Phi(A)`` and ``lambda'(A)``, accurate in the
far tails (:mod:`econderiv.special`).

Derivatives (index form)
------------------------
``l`` depends on the parameters through ``w``, ``m = x'beta``, ``a =
athrho``, ``t = lnsigma``. The derivatives of ``B``::

    B_w = c,   B_m = -s / sigma,   B_a = s w + c r,   B_t = -s r
    B_wa = s,  B_ma = -c / sigma,  B_mt = s / sigma,  B_aa = B,
    B_at = -c r,  B_tt = s r   (the others are zero)

With ``L1 = q lambda(q B)`` and ``L2 = lambda'(q B)`` (``q**2 = 1``)::

    l_i  = L1 B_i + Q_i
    l_ij = L2 B_i B_j + L1 B_ij + Q_ij

where ``Q = -r**2/2 - t`` has ``Q_m = r / sigma``, ``Q_t = r**2 - 1``,
``Q_mm = -1/sigma**2``, ``Q_mt = -2 r / sigma``, ``Q_tt = -2 r**2``. The score
is ``[Z'l_w, X'l_m, sum l_a, sum l_t]`` and the Hessian has blocks
``Z' diag(l_ww) Z``, ``Z' diag(l_wm) X``, ``Z'l_wa``, ``Z'l_wt``,
``X' diag(l_mm) X``, ``X'l_ma``, ``X'l_mt``, ``sum l_aa``, ``sum l_at``,
``sum l_tt``; with row weights ``v_i`` every reduction is weighted
(``Z' diag(v l_ww) Z``, ...).

Two-step estimator
------------------
:func:`treatment_twostep` (Maddala 1983, eq. 5.57-5.60; Stata's ``etregress,
twostep``): probit of ``d`` on ``Z``, then OLS of ``y`` on ``X* = [X, h]``
with the signed hazard::

    h_i = lambda(w_i) if d_i = 1,   h_i = -lambda(-w_i) if d_i = 0

(``E[u | d] = h``). Its coefficient estimates ``b_h = rho sigma``. With
``delta_i = h_i (h_i + w_i)`` (``var(u | d) = 1 - delta_i`` and ``dh/dw =
-delta_i`` for both values of ``d``) the corrected covariance has Heckman's
form over all rows::

    sigma^2 = e'e / n + b_h^2 mean(delta),   rho = b_h / sigma
    V = sigma^2 (X*'X*)^-1 [X*'(I - rho^2 D) X* + rho^2 (X*'D Z) V_g (Z'D X*)] (X*'X*)^-1

Treatment effects
-----------------
With ``x_i(1)`` and ``x_i(0)`` the outcome design with the treatment set to 1
and to 0 and ``L = rho sigma`` (:func:`effects`)::

    E[y(1) | x] = x(1)'beta,   E[y(0) | x] = x(0)'beta
    E[y(j) | d = 1, x, z] = x(j)'beta + L lambda(w)
    E[y(j) | d = 0, x, z] = x(j)'beta - L lambda(-w)

so the individual effect ``x(1)'beta - x(0)'beta`` (``= delta`` without
interactions) is the same whichever group the row is in: the model has one
error ``e`` for both potential outcomes, and the selection terms cancel in
ATE, ATET and ATENT; they enter the potential-outcome means of the treated
and untreated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr

from econderiv.models._probit import _lam_dlam, probit_fit
from econderiv.special import mills_ratio, mills_ratio_deriv

__all__ = [
    "TreatmentData",
    "split_params",
    "loglike_derivs",
    "loglikeobs",
    "score_obs",
    "score",
    "hessian",
    "signed_hazard",
    "TwoStep",
    "treatment_twostep",
    "twostep_moments",
    "prediction",
    "EFFECTS",
    "effects",
]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class TreatmentData:
    """A block of rows: ``y`` (m,), ``X`` (m, k_x) outcome design (with the
    treatment column), ``Z`` (m, k_z) treatment design, ``q`` (m,) ``= 2 d - 1``."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    q: np.ndarray

    @classmethod
    def from_arrays(cls, y, X, d, Z) -> "TreatmentData":
        return cls(np.ascontiguousarray(y, dtype=float), np.ascontiguousarray(X, dtype=float),
                   np.ascontiguousarray(Z, dtype=float), 2.0 * np.asarray(d, dtype=float) - 1.0)

    @property
    def k_treat(self) -> int:
        return self.Z.shape[1]

    @property
    def k_outcome(self) -> int:
        return self.X.shape[1]


def split_params(params, k_treat: int, k_outcome: int):
    """``theta -> (gamma, beta, athrho, lnsigma)``."""
    params = np.asarray(params, dtype=float)
    expected = k_treat + k_outcome + 2
    if params.shape != (expected,):
        raise ValueError(f"params must have {expected} elements (k_treat={k_treat}, "
                         f"k_outcome={k_outcome}, athrho, lnsigma), got shape {params.shape}")
    return (params[:k_treat], params[k_treat:k_treat + k_outcome], float(params[-2]),
            float(params[-1]))


def loglike_derivs(params, d: TreatmentData, order: int = 2, llobs=None,
                   per_obs: bool = False, weights=None):
    """The row-block kernel: ``(llobs, score, hessian)`` of the rows in ``d``.

    ``llobs`` (m,): each row's log-likelihood (taken as given when passed),
    unweighted. For ``order >= 1`` the score ``[Z'(v l_w), X'(v l_m),
    sum v l_a, sum v l_t]`` (``(k,)``; ``v`` the row weights, 1 when
    ``weights`` is None) or, with ``per_obs``, the unweighted rows ``[z_i l_w,
    x_i l_m, l_a, l_t]`` (``(m, k)``); for ``order >= 2`` the weighted Hessian
    (blocks ``g`` gamma, ``b`` beta, ``a`` athrho, ``t`` lnsigma)::

        H_gg = Z' diag(v l_ww) Z,  H_gb = Z' diag(v l_wm) X,
        H_ga = Z'(v l_wa),  H_gt = Z'(v l_wt),
        H_bb = X' diag(v l_mm) X,  H_ba = X'(v l_ma),  H_bt = X'(v l_mt),
        H_aa = sum v l_aa,  H_at = sum v l_at,  H_tt = sum v l_tt

    with the index derivatives of the module notes (else ``None``).
    """
    gamma, beta, athrho, lnsigma = split_params(params, d.k_treat, d.k_outcome)
    w = d.Z @ gamma
    inv_sigma = np.exp(-lnsigma)
    r = (d.y - d.X @ beta) * inv_sigma
    c, s = np.cosh(athrho), np.sinh(athrho)
    B = c * w + s * r
    A = d.q * B
    if llobs is None:
        llobs = log_ndtr(A) - 0.5 * r * r - lnsigma - _HALF_LOG_2PI
    if order == 0:
        return llobs, None, None
    lam, dlam = _lam_dlam(A)
    L1 = d.q * lam
    B_a, B_t = s * w + c * r, -s * r
    lw = L1 * c
    lm = (r - L1 * s) * inv_sigma
    la = L1 * B_a
    lt = r * r - 1.0 + L1 * B_t
    kz, kx = d.k_treat, d.k_outcome
    v = None if weights is None else np.asarray(weights, dtype=float)
    if per_obs:
        sc = np.empty((len(r), kz + kx + 2))
        sc[:, :kz] = d.Z * lw[:, None]
        sc[:, kz:kz + kx] = d.X * lm[:, None]
        sc[:, -2] = la
        sc[:, -1] = lt
    elif v is None:
        sc = np.concatenate([d.Z.T @ lw, d.X.T @ lm, [la.sum(), lt.sum()]])
    else:
        sc = np.concatenate([d.Z.T @ (v * lw), d.X.T @ (v * lm), [v @ la, v @ lt]])
    if order < 2:
        return llobs, sc, None
    B_w, B_m = c, -s * inv_sigma
    L2 = dlam
    h = {"ww": L2 * (B_w * B_w), "wm": L2 * (B_w * B_m),
         "wa": L2 * B_w * B_a + L1 * s, "wt": L2 * B_w * B_t,
         "mm": (L2 * s * s - 1.0) * inv_sigma * inv_sigma,
         "ma": L2 * B_m * B_a - L1 * c * inv_sigma,
         "mt": L2 * B_m * B_t + (L1 * s - 2.0 * r) * inv_sigma,
         "aa": L2 * B_a * B_a + L1 * B, "at": L2 * B_a * B_t - L1 * c * r,
         "tt": L2 * B_t * B_t + L1 * s * r - 2.0 * r * r}
    if v is not None:
        h = {key: v * val for key, val in h.items()}
    gi, bi = slice(0, kz), slice(kz, kz + kx)
    H = np.empty((kz + kx + 2, kz + kx + 2))
    Z, X = d.Z, d.X
    H[gi, gi] = (Z.T * h["ww"]) @ Z
    H[gi, bi] = (Z.T * h["wm"]) @ X
    H[gi, -2] = Z.T @ h["wa"]
    H[gi, -1] = Z.T @ h["wt"]
    H[bi, bi] = (X.T * h["mm"]) @ X
    H[bi, -2] = X.T @ h["ma"]
    H[bi, -1] = X.T @ h["mt"]
    H[-2, -2] = h["aa"].sum()
    H[-2, -1] = h["at"].sum()
    H[-1, -1] = h["tt"].sum()
    iu = np.triu_indices_from(H, 1)  # the lower triangle from the upper one
    H[(iu[1], iu[0])] = H[iu]
    return llobs, sc, H


def _data(y, X, d, Z) -> TreatmentData:
    return y if isinstance(y, TreatmentData) else TreatmentData.from_arrays(y, X, d, Z)


def loglikeobs(params, y, X=None, d=None, Z=None) -> np.ndarray:
    """Log-likelihood of each row, (n,): ``log Phi(q (c w + s r)) - r^2/2 -
    lnsigma - log(2 pi)/2`` (module notes). Pass ``y, X, d, Z`` or a
    :class:`TreatmentData` as ``y``."""
    return loglike_derivs(params, _data(y, X, d, Z), 0)[0]


def score_obs(params, y, X=None, d=None, Z=None) -> np.ndarray:
    """Per-row score, (n, k), in params order (:func:`loglike_derivs`)."""
    data = _data(y, X, d, Z)
    return loglike_derivs(params, data, 1, np.empty(len(data.y)), per_obs=True)[1]


def score(params, y, X=None, d=None, Z=None, weights=None) -> np.ndarray:
    """Gradient of ``sum_i v_i l_i``, (k,), in params order."""
    data = _data(y, X, d, Z)
    return loglike_derivs(params, data, 1, np.empty(len(data.y)), weights=weights)[1]


def hessian(params, y, X=None, d=None, Z=None, weights=None) -> np.ndarray:
    """Hessian of ``sum_i v_i l_i``, (k, k), in params order."""
    data = _data(y, X, d, Z)
    return loglike_derivs(params, data, 2, np.empty(len(data.y)), weights=weights)[2]


# ---------------------------------------------------------------------------
# Two-step
# ---------------------------------------------------------------------------

def signed_hazard(w, d) -> tuple[np.ndarray, np.ndarray]:
    """``(h, delta)``: ``h = lambda(w)`` where ``d = 1`` and ``-lambda(-w)``
    where ``d = 0`` (``E[u | d]``), and ``delta = h (h + w) = -dh/dw``
    (``1 - var(u | d)``), in (0, 1)."""
    w = np.asarray(w, dtype=float)
    q = 2.0 * np.asarray(d, dtype=float) - 1.0
    lam, dlam = _lam_dlam(q * w)  # one evaluation of the ratio for both
    return q * lam, -dlam  # -lambda'(qw) = lambda(qw)(lambda(qw) + qw) = h (h + w)


@dataclass
class TwoStep:
    """Two-step estimates: ``params = (gamma, beta, b_h)`` with the corrected
    covariance ``cov``; ``sigma`` and ``rho`` the consistent estimators
    (``rho`` truncated to [-1, 1], then ``sigma = |b_h|``, as Stata);
    ``rho_untruncated = b_h / sigma`` before truncation."""

    params: np.ndarray
    cov: np.ndarray
    gamma_cov: np.ndarray
    probit_llf: float
    probit_converged: bool
    sigma: float
    rho: float
    rho_untruncated: float
    hazard: np.ndarray
    resid: np.ndarray


def treatment_twostep(y, X, d, Z, probit=None, weights=None) -> TwoStep:
    """Maddala's two-step estimator with the corrected covariance (module notes).

    Parameters
    ----------
    y : (n,) outcome;  X : (n, k_x) outcome design with the treatment column;
    d : (n,) 0/1 treatment;  Z : (n, k_z) treatment design.
    probit : tuple, optional
        ``(gamma, cov, llf, converged)`` of a probit already fitted.
    weights : (n,) array, optional
        Row weights: a weighted probit, then weighted least squares; the
        corrected covariance is then the formula on the data expanded by
        frequency weights (``X*'WX*`` for ``X*'X*``, ``mean_W`` for ``mean``).
    """
    y, X, Z = (np.asarray(a, dtype=float) for a in (y, X, Z))
    d = np.asarray(d, dtype=float)
    v = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    gamma, Vg, probit_llf, probit_conv = (probit_fit(d, Z, weights=weights) if probit is None
                                          else probit)
    w = Z @ gamma
    h, delta = signed_hazard(w, d)
    Xs = np.column_stack([X, h])
    XtX_inv = np.linalg.inv((Xs.T * v) @ Xs)
    coef = XtX_inv @ (Xs.T @ (v * y))
    resid = y - Xs @ coef
    n = float(v.sum())
    b_h = float(coef[-1])
    sigma = float(np.sqrt(((v * resid) @ resid + b_h ** 2 * (v @ delta)) / n))
    rho_raw = b_h / sigma
    rho = float(np.clip(rho_raw, -1.0, 1.0))
    if rho != rho_raw:
        sigma = abs(b_h)
    rho2 = rho * rho
    XDZ = (Xs.T * (v * delta)) @ Z
    middle = (Xs.T * (v * (1.0 - rho2 * delta))) @ Xs + rho2 * XDZ @ Vg @ XDZ.T
    V_out = sigma ** 2 * XtX_inv @ middle @ XtX_inv
    # cov(outcome block, gamma): the outcome estimates move with gamma through
    # h, d b / d gamma = b_h (X*'WX*)^-1 X*'W D Z
    V_cross = b_h * XtX_inv @ XDZ @ Vg
    kz = Z.shape[1]
    k = kz + Xs.shape[1]
    cov = np.empty((k, k))
    cov[:kz, :kz] = Vg
    cov[kz:, kz:] = 0.5 * (V_out + V_out.T)
    cov[kz:, :kz] = V_cross
    cov[:kz, kz:] = V_cross.T
    return TwoStep(np.concatenate([gamma, coef]), cov, Vg, probit_llf, probit_conv, sigma,
                   rho, float(rho_raw), h, resid)


def twostep_moments(ts: TwoStep, y, X, d, Z, weights=None):
    """The two-step estimator as a stacked M-estimator, for robust covariances.

    Moments: the probit score ``q_i lambda(q_i z_i'gamma) z_i`` and the
    normal equations ``x*_i (y_i - x*_i'b)``, ``x*_i = (x_i, h_i)``. Returns
    ``(G, J)``: the per-row moments ``(n, k)`` (unweighted) and the Jacobian
    ``J = d sum_i w_i g_i / d theta'`` (block lower triangular; ``dh_i/dgamma
    = -delta_i z_i``), so that the sandwich is ``J^-1 M J^-T``.
    """
    Z = np.asarray(Z, dtype=float)
    d = np.asarray(d, dtype=float)
    n, kz = Z.shape
    gamma, b = ts.params[:kz], ts.params[kz:]
    v = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    q = 2.0 * d - 1.0
    lam_q, dlam_q = _lam_dlam(q * (Z @ gamma))
    h, delta = q * lam_q, -dlam_q
    Xs = np.column_stack([np.asarray(X, float), h])
    e = np.asarray(y, float) - Xs @ b
    kx = Xs.shape[1]
    G = np.empty((n, kz + kx))
    G[:, :kz] = Z * (q * lam_q)[:, None]
    G[:, kz:] = Xs * e[:, None]
    J = np.zeros((kz + kx, kz + kx))
    J[:kz, :kz] = (Z.T * (v * dlam_q)) @ Z
    J[kz:, :kz] = (Xs.T * (v * delta * b[-1])) @ Z  # through e_i
    J[-1, :kz] -= (v * delta * e) @ Z  # through the h column of x*_i
    J[kz:, kz:] = -(Xs.T * v) @ Xs
    return G, J


# ---------------------------------------------------------------------------
# Predictions and treatment effects
# ---------------------------------------------------------------------------

def prediction(which: str, X, X1, X0, Z, d, gamma, beta, L: float) -> np.ndarray:
    """Row predictions, ``w = z'gamma``, ``L = rho sigma``:

    * ``"xb"`` ``x'beta`` (observed treatment); ``"y1"``, ``"y0"`` ``x(1)'beta``,
      ``x(0)'beta`` (potential-outcome means); ``"te"`` ``x(1)'beta - x(0)'beta``;
    * ``"yctrt"`` ``E[y | d = 1] = x(1)'beta + L lambda(w)``; ``"ycntrt"``
      ``E[y | d = 0] = x(0)'beta - L lambda(-w)``; ``"ycond"`` ``E[y | d]`` at
      the observed ``d`` (``x'beta + L h``);
    * ``"psel"`` ``Phi(w)``; ``"xbtrt"`` ``w``.

    Arrays a prediction does not use may be ``None``.
    """
    with np.errstate(invalid="ignore"):
        if which == "xb":
            return X @ beta
        if which == "y1":
            return X1 @ beta
        if which == "y0":
            return X0 @ beta
        if which == "te":
            return (X1 - X0) @ beta
        w = Z @ gamma
        if which == "xbtrt":
            return w
        if which == "psel":
            return ndtr(w)
        if which == "yctrt":
            return X1 @ beta + L * mills_ratio(w)
        if which == "ycntrt":
            return X0 @ beta - L * mills_ratio(-w)
        if which == "ycond":
            return X @ beta + L * signed_hazard(w, d)[0]
    raise ValueError(f"unknown prediction {which!r}")


#: the averages :func:`effects` returns, in order
EFFECTS = ("ATE", "ATET", "ATENT", "E[y(1)]", "E[y(0)]", "E[y(1) | d=1]", "E[y(0) | d=1]",
           "E[y(1) | d=0]", "E[y(0) | d=0]")


def effects(X1, X0, Z, d, gamma, beta, L: float, weights=None):
    """Average treatment effects and potential-outcome means, with their
    Jacobian in ``(gamma, beta, L)``.

    With ``T`` the treated rows (``d = 1``) and ``U`` the untreated::

        ATE   = mean_all (x(1) - x(0))'beta,  ATET = mean_T (...),  ATENT = mean_U (...)
        E[y(j)]         = mean_all x(j)'beta
        E[y(j) | d = 1] = mean_T  x(j)'beta + L mean_T lambda(w)
        E[y(j) | d = 0] = mean_U  x(j)'beta - L mean_U lambda(-w)

    Jacobian rows: ``d/dbeta`` the design means; ``d/dgamma`` of the selection
    terms ``L mean_T lambda'(w) z`` and ``L mean_U lambda'(-w) z`` (``d/dw
    [-lambda(-w)] = lambda'(-w)``); ``d/dL`` ``mean_T lambda(w)`` or ``-mean_U
    lambda(-w)``. With ``weights`` every mean is the weighted mean. Returns
    ``(values (9,), jacobian (9, k_z + k_x + 1))`` in the order of
    :data:`EFFECTS`.
    """
    d = np.asarray(d, dtype=float) == 1
    if not d.any() or d.all():
        raise ValueError("effects need treated and untreated rows")
    kz, kx = len(gamma), len(beta)
    w = Z @ gamma
    D = X1 - X0
    v = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=float)

    def mean(a, rows):
        return np.average(a[rows], axis=0, weights=v[rows])

    vals, jac = [], []

    def row(val, jb=None, jg=None, jl=0.0):
        J = np.zeros(kz + kx + 1)
        if jb is not None:
            J[kz:kz + kx] = jb
        if jg is not None:
            J[:kz] = jg
        J[-1] = jl
        vals.append(float(val))
        jac.append(J)

    for rows in (slice(None), d, ~d):
        m = mean(D, rows)
        row(m @ beta, m)
    for Xj in (X1, X0):
        m = mean(Xj, slice(None))
        row(m @ beta, m)
    lam = np.where(d, mills_ratio(w), mills_ratio(-w))
    dlam = np.where(d, mills_ratio_deriv(w, 1), mills_ratio_deriv(-w, 1))
    lamT, lamU = mean(lam, d), mean(lam, ~d)
    gT, gU = L * mean(dlam[:, None] * Z, d), L * mean(dlam[:, None] * Z, ~d)
    for Xj in (X1, X0):
        m = mean(Xj, d)
        row(m @ beta + L * lamT, m, gT, lamT)
    for Xj in (X1, X0):
        m = mean(Xj, ~d)
        row(m @ beta - L * lamU, m, gU, -lamU)
    return np.array(vals), np.array(jac)
