r"""Derivative kernels of the switching regression (Tobit type 5) model.

Plain functions of arrays, no statsmodels; :mod:`econderiv.models.switching`
adapts them.

Model
-----
Selection ``s* = z'gamma + u``, ``s = 1[s* > 0]`` chooses the regime::

    s = 0:  y0 = x0'beta0 + e0 observed
    s = 1:  y1 = x1'beta1 + e1 observed

``(u, e0)`` and ``(u, e1)`` bivariate normal, ``var(u) = 1``,
``var(e_r) = sigma_r**2``, ``corr(u, e_r) = rho_r``. (``corr(e0, e1)`` never
enters the likelihood: the two outcomes are never observed together.)

Parameters on the estimation scale, in this order::

    theta = (gamma [k_z], beta0 [k_0], beta1 [k_1],
             athrho0, lnsigma0, athrho1, lnsigma1)

Log-likelihood of one observation, ``w = z'gamma``, ``u_r = (y_r -
x_r'beta_r) / sigma_r``, ``c_r = cosh(athrho_r)``, ``s_r = sinh(athrho_r)``::

    s = 1:  l = log Phi(A1) - u1**2/2 - lnsigma1 - log(2 pi)/2,
            A1 = (w + rho1 u1) / sqrt(1 - rho1**2) = c1 w + s1 u1
    s = 0:  l = log Phi(A0) - u0**2/2 - lnsigma0 - log(2 pi)/2,
            A0 = -(w + rho0 u0) / sqrt(1 - rho0**2) = c0 (-w) + sinh(-athrho0) u0

(``P(s = 0 | e0) = P(u < -w | e0)`` with ``u | e0 ~ N(rho0 u0, 1 - rho0**2)``.)

Each regime's term is the Heckman selected-row term
(:mod:`econderiv.models._heckman_kernels`): regime 1 as it stands, regime 0
with the selection index and the correlation's parameter mirrored,
``w -> -w`` and ``athrho0 -> -athrho0``. The index derivatives of regime 0
are therefore Heckman's with a factor ``-1`` for each of ``w`` and ``a``
among the differentiation variables (``l_w``, ``l_a``, ``l_wm``, ``l_wt``,
``l_ma``, ``l_at`` change sign; ``l_ww``, ``l_wa``, ``l_aa`` and the rest do
not).

Score and Hessian in ``theta`` follow through the linear indices, each
regime over its own rows::

    score = [Z0'l_w0 + Z1'l_w1, X0'l_m0, X1'l_m1, sum l_a0, sum l_t0, sum l_a1, sum l_t1]
    H_gg = Z0' diag(l_ww0) Z0 + Z1' diag(l_ww1) Z1
    H_g b_r = Z_r' diag(l_wm_r) X_r,  H_g a_r = Z_r' l_wa_r,  H_g t_r = Z_r' l_wt_r
    H_b_r b_r = X_r' diag(l_mm_r) X_r,  H_b_r a_r = X_r' l_ma_r,  H_b_r t_r = X_r' l_mt_r
    H_a_r a_r, H_a_r t_r, H_t_r t_r: sums;  blocks coupling regime 0 and 1: zero

With row weights ``omega`` every per-row factor above is multiplied by
``omega_i`` before the reductions (the per-row ``llobs`` and score rows
stay unweighted).

Two-step (Lee 1978; Maddala 1983, sec. 8.3)
-------------------------------------------
Probit of ``s`` on ``z``; then in each regime OLS of ``y_r`` on
``[x_r, lambda_r]`` with its own inverse Mills ratio::

    lambda1 =  phi(w) / Phi(w)          (rows s = 1; coefficient rho1 sigma1)
    lambda0 = -phi(w) / (1 - Phi(w))    (rows s = 0; coefficient rho0 sigma0)

Both have ``d lambda_r / d w = -delta_r`` with ``delta_r = lambda_r (lambda_r
+ w)`` in (0, 1), ``var(y_r | s) = sigma_r**2 (1 - rho_r**2 delta_r)``, so
each regime takes Heckman's corrected covariance (Greene's form)::

    V_r = sigma_r^2 (X_r*'X_r*)^-1 [X_r*'(I - rho_r^2 D_r) X_r*
          + rho_r^2 (X_r*'D_r Z_r) V_g (Z_r'D_r X_r*)] (X_r*'X_r*)^-1

and the blocks are tied through the probit's estimation error:
``cov(b_r, gamma) = L_r (X_r*'X_r*)^-1 X_r*'D_r Z_r V_g`` and
``cov(b_0, b_1) = L_0 L_1 (X_0*'X_0*)^-1 X_0*'D_0 Z_0 V_g Z_1'D_1 X_1*
(X_1*'X_1*)^-1`` (``L_r`` the coefficient on ``lambda_r``; the outcome errors
of the two regimes are on different rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr

from econderiv.models import _heckman_kernels as HK
from econderiv.special import mills_ratio, mills_ratio_deriv

__all__ = ["SwitchingData", "split_params", "loglike_derivs", "loglikeobs", "score",
           "score_obs", "hessian", "RegimeTwoStep", "SwitchingTwoStep",
           "switching_twostep", "twostep_moments", "prediction", "treatment_effect", "PREDICTIONS",
           "EFFECTS"]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class SwitchingData:
    """A block of rows split by regime.

    ``Z0``, ``X0``, ``y0``: selection design, outcome design and outcome of
    the rows with ``s = 0``; ``Z1``, ``X1``, ``y1``: the rows with ``s = 1``;
    ``sel`` (n,) boolean ``s == 1`` in the original row order.
    """

    Z0: np.ndarray
    X0: np.ndarray
    y0: np.ndarray
    Z1: np.ndarray
    X1: np.ndarray
    y1: np.ndarray
    sel: np.ndarray

    @classmethod
    def from_arrays(cls, y0, X0, y1, X1, s, Z) -> "SwitchingData":
        """Split full-length arrays (``y0, X0`` are read only where ``s = 0``,
        ``y1, X1`` only where ``s = 1``)."""
        sel = np.asarray(s).astype(bool)
        Z, X0, X1 = (np.asarray(a, dtype=float) for a in (Z, X0, X1))
        y0, y1 = np.asarray(y0, dtype=float), np.asarray(y1, dtype=float)
        c = np.ascontiguousarray
        return cls(c(Z[~sel]), c(X0[~sel]), c(y0[~sel]), c(Z[sel]), c(X1[sel]), c(y1[sel]),
                   sel)

    @property
    def k_select(self) -> int:
        return self.Z1.shape[1]

    @property
    def nobs(self) -> int:
        return self.sel.shape[0]


def split_params(params, k_select: int, k0: int, k1: int):
    """``theta -> (gamma, beta0, beta1, (athrho0, lnsigma0), (athrho1, lnsigma1))``."""
    p = np.asarray(params, dtype=float)
    expected = k_select + k0 + k1 + 4
    if p.shape != (expected,):
        raise ValueError(f"params must have {expected} elements (k_select={k_select}, "
                         f"k0={k0}, k1={k1}, athrho0, lnsigma0, athrho1, lnsigma1), got "
                         f"shape {p.shape}")
    return (p[:k_select], p[k_select:k_select + k0], p[k_select + k0:k_select + k0 + k1],
            (float(p[-4]), float(p[-3])), (float(p[-2]), float(p[-1])))


def _regime_terms(w, y, X, beta, athrho, lnsigma, sign):
    """Heckman's selected-row indices for one regime, mirrored by ``sign``
    (-1 for regime 0): ``(None, sign w, u, c, s, A, 1/sigma, lnsigma)`` with
    ``s = sinh(sign athrho)`` (the tuple of ``_heckman_kernels._terms``)."""
    inv_sigma = np.exp(-lnsigma)
    u = (y - X @ beta) * inv_sigma
    c, s = np.cosh(athrho), np.sinh(sign * athrho)
    ws = sign * w
    return (None, ws, u, c, s, c * ws + s * u, inv_sigma, lnsigma)


def _regime_llobs(t):
    _, _, u, _, _, A, _, lnsigma = t
    return log_ndtr(A) - 0.5 * u * u - lnsigma - _HALF_LOG_2PI


def _regime_first(t, lam, sign):
    """``(l_w, l_m, l_a, l_t)`` per row of one regime."""
    _, lw, lm, la, lt = HK._index_first(t, 0.0, lam)
    return sign * lw, lm, sign * la, lt


def _regime_second(t, lam, dlam, sign):
    """Second index derivatives of one regime (Heckman's, mirrored)."""
    h = HK._index_second(t, lam, dlam)
    if sign < 0:
        for key in ("wm", "wt", "ma", "at"):  # one mirrored variable: odd
            h[key] = -h[key]
    return h


def loglike_derivs(params, d: SwitchingData, order: int = 2, llobs=None,
                   per_obs: bool = False, weights=None):
    """The row-block kernel: ``(llobs, score, hessian)`` of the rows in ``d``.

    Parameters
    ----------
    params : (k_z + k0 + k1 + 4,) array
        ``theta`` in the module's order.
    d : SwitchingData
        The block (``k0``, ``k1``: columns of ``X0``, ``X1``).
    order : {0, 1, 2}
    llobs : (n,) array, optional
        The block's log-likelihood at ``params`` if already known.
    per_obs : bool
        Return the per-row score ``(n, k)`` (unweighted) instead of the sum.
    weights : (n,) array, optional
        Row weights: the summed score and Hessian are ``sum_i w_i s_i`` and
        ``sum_i w_i H_i``; ``llobs`` and per-row scores are unweighted.

    Returns
    -------
    llobs : (n,) per-row log-likelihood in the original row order
    score : (k,) gradient (or (n, k) rows), None for ``order == 0``
    hessian : (k, k), None for ``order < 2`` (blocks in the module notes)
    """
    k0, k1 = d.X0.shape[1], d.X1.shape[1]
    gamma, beta0, beta1, (a0, t0), (a1, t1) = split_params(params, d.k_select, k0, k1)
    T0 = _regime_terms(d.Z0 @ gamma, d.y0, d.X0, beta0, a0, t0, -1.0)
    T1 = _regime_terms(d.Z1 @ gamma, d.y1, d.X1, beta1, a1, t1, 1.0)
    sel = d.sel
    if llobs is None:
        llobs = np.empty(d.nobs)
        llobs[~sel] = _regime_llobs(T0)
        llobs[sel] = _regime_llobs(T1)
    if order == 0:
        return llobs, None, None
    (lam0, dlam0), (lam1, dlam1) = HK._lam_dlam(T0[5]), HK._lam_dlam(T1[5])
    f0, f1 = _regime_first(T0, lam0, -1.0), _regime_first(T1, lam1, 1.0)
    kz = d.k_select
    k = kz + k0 + k1 + 4
    g, b0, b1 = slice(0, kz), slice(kz, kz + k0), slice(kz + k0, kz + k0 + k1)
    if per_obs:
        sc = np.zeros((d.nobs, k))
        for rows, Z, X, (lw, lm, la, lt), bi, ai in ((~sel, d.Z0, d.X0, f0, b0, k - 4),
                                                     (sel, d.Z1, d.X1, f1, b1, k - 2)):
            part = np.zeros((Z.shape[0], k))
            part[:, g] = Z * lw[:, None]
            part[:, bi] = X * lm[:, None]
            part[:, ai] = la
            part[:, ai + 1] = lt
            sc[rows] = part
        return llobs, sc, None
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        om0, om1 = weights[~sel], weights[sel]
        f0 = tuple(om0 * v for v in f0)
        f1 = tuple(om1 * v for v in f1)
    sc = np.concatenate([d.Z0.T @ f0[0] + d.Z1.T @ f1[0], d.X0.T @ f0[1], d.X1.T @ f1[1],
                         [f0[2].sum(), f0[3].sum(), f1[2].sum(), f1[3].sum()]])
    if order < 2:
        return llobs, sc, None
    h0 = _regime_second(T0, lam0, dlam0, -1.0)
    h1 = _regime_second(T1, lam1, dlam1, 1.0)
    if weights is not None:
        h0 = {key: om0 * v for key, v in h0.items()}
        h1 = {key: om1 * v for key, v in h1.items()}
    H = np.zeros((k, k))
    H[g, g] = (d.Z0.T * h0["ww"]) @ d.Z0 + (d.Z1.T * h1["ww"]) @ d.Z1
    for Z, X, h, bi, ai in ((d.Z0, d.X0, h0, b0, k - 4), (d.Z1, d.X1, h1, b1, k - 2)):
        ti = ai + 1
        H[g, bi] = (Z.T * h["wm"]) @ X
        H[g, ai] = Z.T @ h["wa"]
        H[g, ti] = Z.T @ h["wt"]
        H[bi, bi] = (X.T * h["mm"]) @ X
        H[bi, ai] = X.T @ h["ma"]
        H[bi, ti] = X.T @ h["mt"]
        H[ai, ai] = h["aa"].sum()
        H[ai, ti] = h["at"].sum()
        H[ti, ti] = h["tt"].sum()
    iu = np.triu_indices_from(H, 1)  # the lower triangle from the upper one
    H[(iu[1], iu[0])] = H[iu]
    return llobs, sc, H


def loglikeobs(params, d: SwitchingData) -> np.ndarray:
    """Per-row log-likelihood ``l_i`` (module notes), shape (n,)."""
    return loglike_derivs(params, d, 0)[0]


def score(params, d: SwitchingData, weights=None) -> np.ndarray:
    """Gradient ``sum_i w_i dl_i/dtheta``, shape (k,), in ``theta`` order."""
    return loglike_derivs(params, d, 1, np.empty(d.nobs), weights=weights)[1]


def score_obs(params, d: SwitchingData) -> np.ndarray:
    """Per-row score ``dl_i/dtheta``, shape (n, k)."""
    return loglike_derivs(params, d, 1, np.empty(d.nobs), per_obs=True)[1]


def hessian(params, d: SwitchingData, weights=None) -> np.ndarray:
    """Hessian ``sum_i w_i d^2 l_i / dtheta dtheta'``, shape (k, k)."""
    return loglike_derivs(params, d, 2, np.empty(d.nobs), weights=weights)[2]


# ---------------------------------------------------------------------------
# Two-step
# ---------------------------------------------------------------------------

@dataclass
class RegimeTwoStep:
    """One regime's second step: ``coef = (beta_r, L_r)`` on ``[X_r, lambda_r]``,
    ``L_r = rho_r sigma_r``; ``sigma``, ``rho`` the consistent estimators
    (``rho`` truncated to [-1, 1], then ``sigma = |L_r|``, as Stata's heckman
    does); ``bread = (X*'X*)^-1``, ``XDZ = X*'D Z_r``."""

    coef: np.ndarray
    sigma: float
    rho: float
    rho_untruncated: float
    bread: np.ndarray
    XDZ: np.ndarray
    middle: np.ndarray
    resid: np.ndarray
    imr_r2: float


@dataclass
class SwitchingTwoStep:
    """Two-step estimates: ``params = (gamma, beta0, beta1, L0, L1)`` and the
    corrected covariance ``cov`` (module notes)."""

    params: np.ndarray
    cov: np.ndarray
    probit_llf: float
    probit_converged: bool
    regimes: tuple


def _regime_twostep(y, X, Z, w, imr, wt) -> RegimeTwoStep:
    """(Weighted) least squares of ``y`` on ``[X, imr]`` over one regime's rows
    (``Z``, ``w = Z gamma``, row weights ``wt``)."""
    delta = imr * (imr + w)
    Xs = np.column_stack([X, imr])
    bread = np.linalg.inv((Xs.T * wt) @ Xs)
    coef = bread @ (Xs.T @ (wt * y))
    resid = y - Xs @ coef
    L = coef[-1]
    n_r = float(wt.sum())
    sigma = float(np.sqrt((wt * resid) @ resid / n_r + L * L * (wt @ delta) / n_r))
    rho_raw = float(L / sigma)
    rho = float(np.clip(rho_raw, -1.0, 1.0))
    if rho != rho_raw:
        sigma = abs(float(L))
    middle = sigma ** 2 * ((Xs.T * (wt * (1.0 - rho * rho * delta))) @ Xs)
    fit = X @ np.linalg.lstsq(X, imr, rcond=None)[0]
    tss = ((imr - imr.mean()) ** 2).sum()
    r2 = 1.0 - ((imr - fit) ** 2).sum() / tss if tss > 0 else 1.0
    return RegimeTwoStep(coef, sigma, rho, rho_raw, bread, (Xs.T * (wt * delta)) @ Z, middle,
                         resid, float(r2))


def switching_twostep(y0, X0, y1, X1, s, Z, probit=None, weights=None) -> SwitchingTwoStep:
    """Lee's (1978) two-step estimator with the corrected covariance.

    Parameters
    ----------
    y0, X0 : (n0,), (n0, k0) arrays
        Outcome and design of the rows with ``s = 0``.
    y1, X1 : (n1,), (n1, k1) arrays
        Outcome and design of the rows with ``s = 1``.
    s : (n,) 0/1 array
    Z : (n, k_z) array
        Selection design of all rows.
    probit : tuple, optional
        ``(gamma, cov, llf, converged)`` of a probit already fitted.
    weights : (n,) array, optional
        Row weights (all rows): a weighted probit, then weighted least squares
        in each regime; ``sigma_r^2 = e'We / n_r + L_r^2 mean_W(delta_r)`` and
        every ``X*'X*``, ``X*'D Z`` of the module notes with ``W`` inside (with
        frequency weights: the formulas on the expanded data).

    Returns
    -------
    SwitchingTwoStep
        ``params = (gamma, beta0, beta1, L0, L1)``, ``L_r = rho_r sigma_r``
        the coefficients on ``lambda_r``, and their covariance (module notes).
    """
    s = np.asarray(s, dtype=float)
    Z = np.asarray(Z, dtype=float)
    sel = s == 1
    wt = np.ones(len(s)) if weights is None else np.asarray(weights, dtype=float)
    gamma, Vg, probit_llf, probit_conv = (HK.probit_fit(s, Z, weights=weights)
                                          if probit is None else probit)
    Z0, Z1 = Z[~sel], Z[sel]
    w0, w1 = Z0 @ gamma, Z1 @ gamma
    lam0, lam1 = -mills_ratio(-w0), mills_ratio(w1)
    r0 = _regime_twostep(np.asarray(y0, float), np.asarray(X0, float), Z0, w0, lam0, wt[~sel])
    r1 = _regime_twostep(np.asarray(y1, float), np.asarray(X1, float), Z1, w1, lam1, wt[sel])
    return assemble_twostep(gamma, Vg, probit_llf, probit_conv, r0, r1)


def assemble_twostep(gamma, Vg, probit_llf, probit_conv, r0, r1) -> "SwitchingTwoStep":
    """Lee's two-step parameters and corrected covariance from the probit
    (``gamma``, ``Vg``) and the two regimes' least-squares pieces.

    The probit's estimation error moves each regime's inverse Mills ratio:
    ``b_r - beta_r ~ bread_r X_r*'W[v_r + L_r D_r Z_r (g_hat - g)]``, so
    ``d b_r / d gamma = L_r bread_r X_r*'D_r Z_r`` enters each regime's block,
    the cross-covariance with the probit and that between the regimes.
    """
    kz, k0, k1 = len(gamma), len(r0.coef) - 1, len(r1.coef) - 1
    G = [r.coef[-1] * r.bread @ r.XDZ for r in (r0, r1)]  # d b_r / d gamma
    V = [r.bread @ (r.middle + r.rho ** 2 * r.sigma ** 2 * r.XDZ @ Vg @ r.XDZ.T) @ r.bread
         for r in (r0, r1)]
    pos = _twostep_positions(kz, k0, k1)
    k = kz + k0 + k1 + 2
    cov = np.zeros((k, k))
    cov[:kz, :kz] = Vg
    for r in (0, 1):
        cov[np.ix_(pos[r], pos[r])] = 0.5 * (V[r] + V[r].T)
        cross = G[r] @ Vg
        cov[np.ix_(pos[r], np.arange(kz))] = cross
        cov[np.ix_(np.arange(kz), pos[r])] = cross.T
    c01 = G[0] @ Vg @ G[1].T
    cov[np.ix_(pos[0], pos[1])] = c01
    cov[np.ix_(pos[1], pos[0])] = c01.T
    params = np.concatenate([gamma, r0.coef[:-1], r1.coef[:-1], [r0.coef[-1], r1.coef[-1]]])
    return SwitchingTwoStep(params, cov, probit_llf, probit_conv, (r0, r1))


def _twostep_positions(kz: int, k0: int, k1: int):
    """Positions of ``(beta_r, L_r)`` in ``(gamma, beta0, beta1, L0, L1)``."""
    return [np.r_[kz:kz + k0, kz + k0 + k1], np.r_[kz + k0:kz + k0 + k1, kz + k0 + k1 + 1]]


def twostep_moments(params, y0, X0, y1, X1, s, Z, weights=None):
    """The two-step estimator as a stacked M-estimator, for robust covariances.

    Moments (per row, unweighted): the probit score ``q_i lambda(q_i w_i) z_i``
    (``q = 2 s - 1``, all rows) and each regime's normal equations ``x*_ri
    (y_ri - x*_ri'b_r)`` on its rows, ``x*_r = (x_r, lambda_r(w))``. With
    ``d lambda_r / d w = -delta_r`` the Jacobian of the weighted sums is block
    lower triangular::

        d/d gamma (probit)      = Z' W diag(lambda'(q w)) Z
        d/d b_r   (regime r)    = -X_r*' W X_r*
        d/d gamma (regime r)    = X_r*' W diag(L_r delta_r) Z_r  - e_L (W delta_r e_r)' Z_r

    (``e_L`` the row of ``L_r``). Returns ``(G, J)``: per-row moments ``(n, k)``
    in ``params`` order and ``J`` ``(k, k)``; the sandwich is ``J^-1 M J^-T``.
    """
    s = np.asarray(s, dtype=float)
    Z = np.asarray(Z, dtype=float)
    sel = s == 1
    n, kz = Z.shape
    X0, X1 = np.asarray(X0, float), np.asarray(X1, float)
    k0, k1 = X0.shape[1], X1.shape[1]
    p = np.asarray(params, dtype=float)
    gamma = p[:kz]
    wt = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    q = 2.0 * s - 1.0
    w = Z @ gamma
    lam_q, dlam_q = HK._lam_dlam(q * w)
    k = kz + k0 + k1 + 2
    G = np.zeros((n, k))
    G[:, :kz] = Z * (q * lam_q)[:, None]
    J = np.zeros((k, k))
    J[:kz, :kz] = (Z.T * (wt * dlam_q)) @ Z
    pos = _twostep_positions(kz, k0, k1)
    for r, rows, X, y in ((0, ~sel, X0, y0), (1, sel, X1, y1)):
        wr, Zr, wtr = w[rows], Z[rows], wt[rows]
        lam = -mills_ratio(-wr) if r == 0 else mills_ratio(wr)
        delta = lam * (lam + wr)
        Xs = np.column_stack([X, lam])
        b = p[pos[r]]
        e = np.asarray(y, float) - Xs @ b
        G[np.ix_(np.flatnonzero(rows), pos[r])] = Xs * e[:, None]
        J[np.ix_(pos[r], pos[r])] = -(Xs.T * wtr) @ Xs
        block = (Xs.T * (wtr * delta * b[-1])) @ Zr
        block[-1] -= (wtr * delta * e) @ Zr
        J[np.ix_(pos[r], np.arange(kz))] = block
    return G, J


# ---------------------------------------------------------------------------
# Predictions and treatment effects
# ---------------------------------------------------------------------------

#: which= of :func:`prediction`
PREDICTIONS = ("xb0", "xb1", "xbsel", "psel", "y0_s0", "y0_s1", "y1_s0", "y1_s1", "te", "tt",
               "tu")
#: the averages of :func:`treatment_effect`
EFFECTS = ("ate", "att", "atu")


def _mills_parts(w):
    """``m1 = lambda(w)`` (E[u | u > -w]) and ``m0 = -lambda(-w)`` (E[u | u < -w])
    with their derivatives in ``w`` (``lambda'`` by :func:`mills_ratio_deriv`)."""
    return (mills_ratio(w), -mills_ratio(-w), mills_ratio_deriv(w, 1),
            mills_ratio_deriv(-w, 1))


def prediction(which: str, X0, X1, Z, gamma, beta0, beta1, L0: float, L1: float,
               grad: bool = False):
    """Per-row predictions (``L_r = rho_r sigma_r``, ``w = z'gamma``)::

        xb0 = x0'beta0,  xb1 = x1'beta1,  xbsel = w,  psel = Phi(w)
        y1_s1 = E[y1 | s = 1] = xb1 + L1 lambda(w)
        y1_s0 = E[y1 | s = 0] = xb1 - L1 lambda(-w)
        y0_s1 = E[y0 | s = 1] = xb0 + L0 lambda(w)
        y0_s0 = E[y0 | s = 0] = xb0 - L0 lambda(-w)
        te = xb1 - xb0,  tt = y1_s1 - y0_s1,  tu = y1_s0 - y0_s0

    (``xb0``, ``xb1`` are the unconditional means ``E[y0]``, ``E[y1]``.)

    With ``grad``, also the derivatives in the indices and ``(L0, L1)``:
    ``(value, [d/dw, d/dxb0, d/dxb1], [d/dL0, d/dL1])`` (arrays per row).
    Designs not used by ``which`` may be ``None``.
    """
    if which not in PREDICTIONS:
        raise ValueError(f"which must be one of {PREDICTIONS}, got {which!r}")
    with np.errstate(invalid="ignore"):
        w = None if Z is None else Z @ gamma
        xb0 = None if X0 is None else X0 @ beta0
        xb1 = None if X1 is None else X1 @ beta1
        zero = 0.0
        if which in ("xb0", "xb1", "te"):
            val = {"xb0": xb0, "xb1": xb1,
                   "te": None if xb0 is None or xb1 is None else xb1 - xb0}[which]
            d = {"xb0": (zero, 1.0, zero), "xb1": (zero, zero, 1.0),
                 "te": (zero, -1.0, 1.0)}[which]
            return (val, list(d), [zero, zero]) if grad else val
        if which == "xbsel":
            return (w, [1.0, zero, zero], [zero, zero]) if grad else w
        if which == "psel":
            val = ndtr(w)
            return (val, [np.exp(-0.5 * w * w) / np.sqrt(2 * np.pi), zero, zero],
                    [zero, zero]) if grad else val
        m1, m0, dm1, dlm = _mills_parts(w)
        dm0 = dlm  # d/dw of -lambda(-w) is lambda'(-w)
        # (outcome r, conditioning regime c): value, and derivatives
        parts = {}
        for r, xb, L in ((0, xb0, L0), (1, xb1, L1)):
            for c, m, dm in ((0, m0, dm0), (1, m1, dm1)):
                if xb is not None:
                    dL = [m, zero] if r == 0 else [zero, m]
                    dx = [L * dm, 1.0, zero] if r == 0 else [L * dm, zero, 1.0]
                    parts[(r, c)] = (xb + L * m, dx, dL)
        if which.startswith("y"):
            val, dx, dL = parts[(int(which[1]), int(which[-1]))]
            return (val, dx, dL) if grad else val
        c = 1 if which == "tt" else 0
        v1, dx1, dL1 = parts[(1, c)]
        v0, dx0, dL0 = parts[(0, c)]
        val = v1 - v0
        return (val, [a - b for a, b in zip(dx1, dx0)],
                [a - b for a, b in zip(dL1, dL0)]) if grad else val


def treatment_effect(which: str, X0, X1, Z, s, gamma, beta0, beta1, L0: float, L1: float,
                     weights=None):
    """Average treatment effect and its gradient in ``(gamma, beta0, beta1, L0, L1)``.

    * ``"ate"``: ``mean(x1'beta1 - x0'beta0)`` over all rows;
    * ``"att"``: ``mean(E[y1 - y0 | s = 1])`` over the rows with ``s = 1``,
      ``(x1'beta1 - x0'beta0) + (L1 - L0) lambda(w)``;
    * ``"atu"``: over the rows with ``s = 0``,
      ``(x1'beta1 - x0'beta0) - (L1 - L0) lambda(-w)``.

    ``weights`` (n,), optional: the means are weighted, ``sum_i w_i v_i /
    sum_i w_i`` over the averaged rows (every weight type, as Stata's
    ``margins``), and so is the gradient.

    Returns ``(value, gradient)``.
    """
    if which not in EFFECTS:
        raise ValueError(f"which must be one of {EFFECTS}, got {which!r}")
    s = np.asarray(s).astype(bool)
    rows = {"ate": np.ones(len(s), bool), "att": s, "atu": ~s}[which]
    if not rows.any():
        raise ValueError(f"no rows to average {which!r} over")
    X0, X1, Z = X0[rows], X1[rows], Z[rows]
    pred = {"ate": "te", "att": "tt", "atu": "tu"}[which]
    val, (dw, dx0, dx1), (dL0, dL1) = prediction(pred, X0, X1, Z, gamma, beta0, beta1, L0,
                                                 L1, grad=True)
    n = X0.shape[0]
    a = (np.full(n, 1.0 / n) if weights is None
         else np.asarray(weights, float)[rows] / np.sum(np.asarray(weights, float)[rows]))

    def avg(v, M=None):
        v = np.broadcast_to(v, (n,))
        return a @ v if M is None else (a * v) @ M

    g = np.concatenate([avg(dw, Z), avg(dx0, X0), avg(dx1, X1), [avg(dL0), avg(dL1)]])
    return float(avg(val)), g
