r"""Derivative kernels of the Heckman (Tobit type 2) sample selection model.

This module is where "the Heckman Hessian" lives: plain functions of arrays,
no statsmodels. :mod:`econderiv.models.heckman` adapts them to statsmodels.

Model
-----
Selection ``s* = z'gamma + u``, ``s = 1[s* > 0]``; outcome ``y = x'beta + e``
observed only when ``s = 1``; ``(u, e)`` bivariate normal with ``var(u) = 1``,
``var(e) = sigma**2`` and correlation ``rho``.

Parameters are on the estimation scale, in this order::

    theta = (gamma [k_z], beta [k_x], athrho, lnsigma)
    rho = tanh(athrho),   sigma = exp(lnsigma)

Log-likelihood of one observation, with ``w = z'gamma``,
``u = (y - x'beta) / sigma``, ``c = cosh(athrho)``, ``s = sinh(athrho)``::

    s = 0:  l = log Phi(-w)
    s = 1:  l = log Phi(A) - u**2 / 2 - lnsigma - log(2 pi) / 2,
            A = (w + rho u) / sqrt(1 - rho**2) = c w + s u

(``1 / sqrt(1 - rho**2) = cosh(athrho)`` and ``rho / sqrt(1 - rho**2) =
sinh(athrho)``, so ``A`` has no cancellation as ``rho -> +-1``.)
``log Phi`` is ``scipy.special.log_ndtr`` and its derivatives are the inverse
Mills ratio ``lambda(A) = phi(A) / Phi(A)`` and ``lambda'(A)``
(:mod:`econderiv.special`), so nothing is formed from an underflowed
probability.

Derivatives (index form)
------------------------
``l`` depends on the parameters through four scalars per observation: the
selection index ``w``, the outcome index ``m = x'beta``, ``a = athrho`` and
``t = lnsigma``. With ``lam = lambda(A)``, ``dlam = lambda'(A)`` and the
derivatives of ``A``::

    A_w = c,   A_m = -s / sigma,   A_a = s w + c u,   A_t = -s u
    A_wa = s,  A_ma = -c / sigma,  A_mt = s / sigma,  A_aa = A,
    A_at = -c u,  A_tt = s u   (the others are zero)

the first and second derivatives of ``l`` for ``s = 1`` are::

    l_i  = lam A_i + Q_i
    l_ij = dlam A_i A_j + lam A_ij + Q_ij

where ``Q = -u**2/2 - t`` has ``Q_m = u / sigma``, ``Q_t = u**2 - 1``,
``Q_mm = -1 / sigma**2``, ``Q_mt = -2 u / sigma``, ``Q_tt = -2 u**2``. For
``s = 0``: ``l_w = -lambda(-w)``, ``l_ww = lambda'(-w)``.

The score and Hessian in ``theta`` follow by the chain rule through the linear
indices: the score is ``[Z'l_w, X'l_m, sum l_a, sum l_t]`` and the Hessian has
blocks ``Z' diag(l_ww) Z``, ``Z' diag(l_wm) X``, ``Z'l_wa``, ``Z'l_wt``,
``X' diag(l_mm) X``, ``X'l_ma``, ``X'l_mt``, ``sum l_aa``, ``sum l_at``,
``sum l_tt`` (the ``X`` and ``a``, ``t`` blocks over selected rows only).

Two-step estimator
------------------
:func:`heckman_twostep`: probit of ``s`` on ``Z`` (:func:`probit_fit`), then
OLS of ``y`` on ``[X, lambda(z'gamma_hat)]`` over the selected rows, with
Heckman's (1979) corrected covariance in Greene's form (Econometric Analysis,
5th ed., eq. 22-22 and the 2006 corrections)::

    V = sigma^2 (X*'X*)^-1 [X*'(I - rho^2 D) X* + rho^2 (X*'D Z) V_g (Z'D X*)] (X*'X*)^-1

with ``X* = [X, lambda]``, ``D = diag(delta_i)``, ``delta_i = lambda_i (lambda_i
+ w_i)``, ``V_g`` the probit covariance, ``sigma^2 = e'e / n_1 + b_lambda^2
mean(delta)`` and ``rho = b_lambda / sigma``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr
from scipy.stats import norm

from econderiv.models._probit import (_lam_dlam, probit_fit, probit_hessian,  # noqa: F401
                                      probit_loglike, probit_score)
from econderiv.special import mills_ratio, mills_ratio_deriv

__all__ = [
    "split_params",
    "loglike_derivs",
    "loglikeobs",
    "loglike",
    "score_obs",
    "score",
    "hessian",
    "SelectionData",
    "probit_loglike",
    "probit_score",
    "probit_hessian",
    "probit_fit",
    "TwoStep",
    "heckman_twostep",
    "twostep_moments",
    "prediction",
    "margin",
]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


# ---------------------------------------------------------------------------
# Data layout
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SelectionData:
    """The model's arrays (or a block of its rows) split into unselected and
    selected rows.

    ``Z0`` (n0, k_z): selection design of the rows with ``s = 0``;
    ``Z1`` (n1, k_z), ``X1`` (n1, k_x), ``y1`` (n1,): the rows with ``s = 1``;
    ``sel`` (n,) boolean: ``s == 1`` in the original row order.
    """

    Z0: np.ndarray
    Z1: np.ndarray
    X1: np.ndarray
    y1: np.ndarray
    sel: np.ndarray

    @classmethod
    def from_arrays(cls, endog, exog, endog_select, exog_select) -> "SelectionData":
        """Split full-length arrays (``endog``/``exog`` may hold anything where s = 0)."""
        sel = np.asarray(endog_select).astype(bool)
        Z = np.asarray(exog_select, dtype=float)
        X = np.asarray(exog, dtype=float)
        y = np.asarray(endog, dtype=float)
        return cls(np.ascontiguousarray(Z[~sel]), np.ascontiguousarray(Z[sel]),
                   np.ascontiguousarray(X[sel]), np.ascontiguousarray(y[sel]), sel)

    @property
    def k_select(self) -> int:
        return self.Z1.shape[1]

    @property
    def k_outcome(self) -> int:
        return self.X1.shape[1]

    @property
    def nobs(self) -> int:
        return self.sel.shape[0]


def split_params(params, k_select: int, k_outcome: int):
    """``theta -> (gamma, beta, athrho, lnsigma)``."""
    params = np.asarray(params, dtype=float)
    expected = k_select + k_outcome + 2
    if params.shape != (expected,):
        raise ValueError(f"params must have {expected} elements (k_select={k_select}, "
                         f"k_outcome={k_outcome}, athrho, lnsigma), got shape {params.shape}")
    gamma = params[:k_select]
    beta = params[k_select:k_select + k_outcome]
    return gamma, beta, float(params[-2]), float(params[-1])


def _data(d, args) -> SelectionData:
    if isinstance(d, SelectionData):
        return d
    return SelectionData.from_arrays(d, *args)


# ---------------------------------------------------------------------------
# Log-likelihood and derivatives with respect to the indices
# ---------------------------------------------------------------------------

def _terms(params, d: SelectionData):
    """Indices at ``params``: ``(-w0, w, u, c, s, A, 1/sigma, lnsigma)``."""
    gamma, beta, athrho, lnsigma = split_params(params, d.k_select, d.k_outcome)
    w = d.Z1 @ gamma
    inv_sigma = np.exp(-lnsigma)
    u = (d.y1 - d.X1 @ beta) * inv_sigma
    c, s = np.cosh(athrho), np.sinh(athrho)
    return -(d.Z0 @ gamma), w, u, c, s, c * w + s * u, inv_sigma, lnsigma


def _index_first(t, lam0, lam):
    """First derivatives of l with respect to (w, m, a, t), per observation.

    Returns ``(lw0, lw1, lm, la, lt)``: ``lw0`` over unselected rows, the rest
    over selected rows.
    """
    _, w, u, c, s, _, inv_sigma, _ = t
    return -lam0, lam * c, (u - lam * s) * inv_sigma, lam * (s * w + c * u), \
        u * u - 1.0 - lam * s * u


def _index_second(t, lam, dlam):
    """Second derivatives of l with respect to (w, m, a, t) over the selected
    rows: a dict with ``ww, wm, wa, wt, mm, ma, mt, aa, at, tt``."""
    _, w, u, c, s, A, inv_sigma, _ = t
    A_w, A_m, A_a, A_t = c, -s * inv_sigma, s * w + c * u, -s * u
    return {"ww": dlam * (A_w * A_w), "wm": dlam * (A_w * A_m),
            "wa": dlam * A_w * A_a + lam * s, "wt": dlam * A_w * A_t,
            "mm": (dlam * s * s - 1.0) * inv_sigma * inv_sigma,
            "ma": dlam * A_m * A_a - lam * c * inv_sigma,
            "mt": dlam * A_m * A_t + (lam * s - 2.0 * u) * inv_sigma,
            "aa": dlam * A_a * A_a + lam * A, "at": dlam * A_a * A_t - lam * c * u,
            "tt": dlam * A_t * A_t + lam * s * u - 2.0 * u * u}


def loglike_derivs(params, d: SelectionData, order: int = 2, llobs=None,
                   per_obs: bool = False, weights=None):
    """The row-block kernel: ``(llobs, score, hessian)`` of the rows in ``d``.

    ``llobs`` (n,) is the log-likelihood of each row in the original order
    (taken as given when passed); for ``order >= 1`` the score is the
    gradient ``[Z0'l_w0 + Z1'l_w1, X1'l_m, sum l_a, sum l_t]`` (``(k,)``), or
    with ``per_obs`` the rows ``[z_i l_w, x_i l_m, l_a, l_t]`` (``(n, k)``;
    outcome, athrho and lnsigma columns zero where ``s = 0``); for ``order
    >= 2`` the Hessian (blocks ``g`` gamma, ``b`` beta, ``a`` athrho, ``t``
    lnsigma)::

        H_gg = Z0' diag(l_ww0) Z0 + Z1' diag(l_ww) Z1
        H_gb = Z1' diag(l_wm) X1,  H_ga = Z1' l_wa,  H_gt = Z1' l_wt
        H_bb = X1' diag(l_mm) X1,  H_ba = X1' l_ma,  H_bt = X1' l_mt
        H_aa = sum l_aa,  H_at = sum l_at,  H_tt = sum l_tt

    with the index derivatives of the module notes (else ``None``).

    ``weights`` (n,), optional, weight the summed score and the Hessian
    (``sum_i w_i s_i``, ``sum_i w_i H_i``); ``llobs`` and the per-row score
    stay unweighted.
    """
    t = _terms(params, d)
    mw0, _, u, _, _, A, _, lnsigma = t
    if llobs is None:
        llobs = np.empty(d.nobs)
        llobs[~d.sel] = log_ndtr(mw0)
        llobs[d.sel] = log_ndtr(A) - 0.5 * u * u - lnsigma - _HALF_LOG_2PI
    if order == 0:
        return llobs, None, None
    (lam0, dlam0), (lam, dlam) = _lam_dlam(mw0), _lam_dlam(A)
    lw0, lw1, lm, la, lt = _index_first(t, lam0, lam)
    Z0, Z1, X1 = d.Z0, d.Z1, d.X1
    kz, kx = d.k_select, d.k_outcome
    w0 = w1 = None
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        w0, w1 = w[~d.sel], w[d.sel]
    if per_obs:
        sc = np.zeros((d.nobs, kz + kx + 2))
        sc[~d.sel, :kz] = Z0 * lw0[:, None]
        rows = np.empty((Z1.shape[0], kz + kx + 2))
        rows[:, :kz] = Z1 * lw1[:, None]
        rows[:, kz:kz + kx] = X1 * lm[:, None]
        rows[:, -2] = la
        rows[:, -1] = lt
        sc[d.sel] = rows
    elif w0 is None:
        sc = np.concatenate([Z0.T @ lw0 + Z1.T @ lw1, X1.T @ lm, [la.sum(), lt.sum()]])
    else:
        sc = np.concatenate([Z0.T @ (w0 * lw0) + Z1.T @ (w1 * lw1), X1.T @ (w1 * lm),
                             [w1 @ la, w1 @ lt]])
    if order < 2:
        return llobs, sc, None
    h = _index_second(t, lam, dlam)
    if w0 is not None:
        h = {key: w1 * v for key, v in h.items()}
        dlam0 = w0 * dlam0
    gi, bi = slice(0, kz), slice(kz, kz + kx)
    H = np.empty((kz + kx + 2, kz + kx + 2))
    H[gi, gi] = (Z0.T * dlam0) @ Z0 + (Z1.T * h["ww"]) @ Z1
    H[gi, bi] = (Z1.T * h["wm"]) @ X1
    H[gi, -2] = Z1.T @ h["wa"]
    H[gi, -1] = Z1.T @ h["wt"]
    H[bi, bi] = (X1.T * h["mm"]) @ X1
    H[bi, -2] = X1.T @ h["ma"]
    H[bi, -1] = X1.T @ h["mt"]
    H[-2, -2] = h["aa"].sum()
    H[-2, -1] = h["at"].sum()
    H[-1, -1] = h["tt"].sum()
    iu = np.triu_indices_from(H, 1)  # the lower triangle from the upper one
    H[(iu[1], iu[0])] = H[iu]
    return llobs, sc, H


# ---------------------------------------------------------------------------
# Public kernels in theta
# ---------------------------------------------------------------------------

def loglikeobs(params, endog, exog=None, endog_select=None, exog_select=None) -> np.ndarray:
    """Log-likelihood of each observation, shape (n,), in the original row order.

    ``l_i = log Phi(-w_i)`` if ``s_i = 0``, else
    ``log Phi(c w_i + s u_i) - u_i^2/2 - lnsigma - log(2 pi)/2`` (module notes).

    Parameters
    ----------
    params : (k_z + k_x + 2,) array
        ``(gamma, beta, athrho, lnsigma)``.
    endog, exog, endog_select, exog_select : arrays
        ``y`` (n,), ``X`` (n, k_x), ``s`` (n,) 0/1, ``Z`` (n, k_z); ``y`` and
        ``X`` are ignored where ``s = 0``. Alternatively pass a
        :class:`SelectionData` as ``endog`` and nothing else.
    """
    return loglike_derivs(params, _data(endog, (exog, endog_select, exog_select)), 0)[0]


def loglike(params, endog, exog=None, endog_select=None, exog_select=None) -> float:
    """Total log-likelihood, ``sum_i l_i``."""
    return float(loglikeobs(params, endog, exog, endog_select, exog_select).sum())


def score_obs(params, endog, exog=None, endog_select=None, exog_select=None) -> np.ndarray:
    """Per-observation score, shape (n, k): row i is ``d l_i / d theta``
    (:func:`loglike_derivs` with ``per_obs``)."""
    d = _data(endog, (exog, endog_select, exog_select))
    return loglike_derivs(params, d, 1, np.empty(d.nobs), per_obs=True)[1]


def score(params, endog, exog=None, endog_select=None, exog_select=None) -> np.ndarray:
    """Gradient of the total log-likelihood, shape (k,), in params order
    (:func:`loglike_derivs`)."""
    d = _data(endog, (exog, endog_select, exog_select))
    return loglike_derivs(params, d, 1, np.empty(d.nobs))[1]


def hessian(params, endog, exog=None, endog_select=None, exog_select=None) -> np.ndarray:
    """Hessian of the total log-likelihood, shape (k, k), in params order
    (blocks in :func:`loglike_derivs`)."""
    d = _data(endog, (exog, endog_select, exog_select))
    return loglike_derivs(params, d, 2, np.empty(d.nobs))[2]


# ---------------------------------------------------------------------------
# Two-step
# ---------------------------------------------------------------------------

@dataclass
class TwoStep:
    """Heckman two-step estimates.

    ``params = (gamma, beta, b_lambda)`` with covariance ``cov`` (probit block,
    corrected outcome block, and their cross-covariance
    ``b_lambda (X*'X*)^-1 X*'D Z1 V_g``). ``sigma`` and ``rho`` are the
    consistent estimators of the module notes (``rho`` truncated to [-1, 1],
    then ``sigma = |b_lambda|``, as Stata does); ``rho_untruncated`` is
    ``b_lambda / sigma`` before truncation.
    """

    params: np.ndarray
    cov: np.ndarray
    gamma_cov: np.ndarray
    probit_llf: float
    probit_converged: bool
    sigma: float
    rho: float
    rho_untruncated: float
    imr: np.ndarray
    delta: np.ndarray
    resid: np.ndarray
    imr_r2: float


def heckman_twostep(y1, X1, s, Z, probit=None, weights=None) -> TwoStep:
    """Heckman's two-step estimator with the corrected covariance (Greene's form).

    Parameters
    ----------
    y1 : (n1,) array
        Outcomes of the selected rows.
    X1 : (n1, k_x) array
        Outcome design of the selected rows.
    s : (n,) 0/1 array
        Selection indicator.
    Z : (n, k_z) array
        Selection design (all rows).
    probit : tuple, optional
        ``(gamma, cov, llf, converged)`` of a probit already fitted.
    weights : (n,) array, optional
        Row weights (all rows): a weighted probit, then weighted least squares.

    Notes
    -----
    With ``w_i = z_i'gamma``, ``lambda_i = phi(w_i)/Phi(w_i)`` and
    ``delta_i = lambda_i (lambda_i + w_i)`` on the selected rows, the outcome
    regression is least squares of ``y`` on ``X* = [X, lambda]`` (weighted by
    ``W = diag(weights)``) giving ``(beta, b_lambda)`` and residuals ``e``; then
    ``sigma^2 = e'We/n1 + b_lambda^2 mean_W(delta)`` (``n1`` the weighted
    count of selected rows), ``rho = b_lambda / sigma`` and ``V = sigma^2
    (X*'WX*)^-1 [X*'W(I - rho^2 D)X* + rho^2 (X*'WDZ) V_g (Z'DWX*)]
    (X*'WX*)^-1``: with frequency weights, the formula on the expanded data.
    """
    s = np.asarray(s, dtype=float)
    Z = np.asarray(Z, dtype=float)
    X1 = np.asarray(X1, dtype=float)
    y1 = np.asarray(y1, dtype=float)
    sel = s == 1
    wt = None if weights is None else np.asarray(weights, dtype=float)
    wt1 = np.ones(len(y1)) if wt is None else wt[sel]
    gamma, Vg, probit_llf, probit_conv = (probit_fit(s, Z, weights=wt) if probit is None
                                          else probit)
    Z1 = Z[sel]
    w = Z1 @ gamma
    imr = mills_ratio(w)
    delta = -mills_ratio_deriv(w, 1)  # = lambda (lambda + w), in (0, 1)
    Xs = np.column_stack([X1, imr])
    XtX_inv = np.linalg.inv((Xs.T * wt1) @ Xs)
    coef = XtX_inv @ (Xs.T @ (wt1 * y1))
    resid = y1 - Xs @ coef
    n1 = float(wt1.sum())
    b_lambda = coef[-1]
    sigma2 = (wt1 * resid) @ resid / n1 + b_lambda ** 2 * (wt1 @ delta) / n1
    sigma = float(np.sqrt(sigma2))
    rho_raw = b_lambda / sigma
    rho = float(np.clip(rho_raw, -1.0, 1.0))
    if rho != rho_raw:
        sigma = abs(float(b_lambda))
    rho2 = rho * rho
    XDZ = (Xs.T * (wt1 * delta)) @ Z1
    middle = (Xs.T * (wt1 * (1.0 - rho2 * delta))) @ Xs + rho2 * XDZ @ Vg @ XDZ.T
    V_out = sigma ** 2 * XtX_inv @ middle @ XtX_inv
    V_cross = rho * sigma * XtX_inv @ XDZ @ Vg  # cov(outcome block, gamma)
    kz = Z.shape[1]
    k = kz + Xs.shape[1]
    cov = np.empty((k, k))
    cov[:kz, :kz] = Vg
    cov[kz:, kz:] = 0.5 * (V_out + V_out.T)
    cov[kz:, :kz] = V_cross
    cov[:kz, kz:] = V_cross.T
    # collinearity of the inverse Mills ratio with the outcome regressors
    fit_l = X1 @ np.linalg.lstsq(X1, imr, rcond=None)[0]
    tss = ((imr - imr.mean()) ** 2).sum()
    r2 = 1.0 - ((imr - fit_l) ** 2).sum() / tss if tss > 0 else 1.0
    return TwoStep(np.concatenate([gamma, coef]), cov, Vg, probit_llf, probit_conv, sigma,
                   rho, float(rho_raw), imr, delta, resid, float(r2))


def twostep_moments(ts: TwoStep, y1, X1, s, Z, weights=None):
    """The two-step estimator as a stacked M-estimator, for robust covariances.

    The moments are the probit score ``q_i lambda(q_i z_i'gamma) z_i`` (all
    rows) and the normal equations ``s_i x*_i (y_i - x*_i'b)`` of the second
    step, ``x*_i = (x_i, lambda(z_i'gamma))``. Returns ``(G, J)``: the
    per-row moments ``(n, k)`` (unweighted) and the Jacobian ``J = d sum_i
    w_i g_i / d theta'`` (``(k, k)``, block lower triangular), so that the
    sandwich is ``J^-1 M J^-T`` with the meat ``M`` of the weighted moments.
    """
    s = np.asarray(s, dtype=float)
    Z = np.asarray(Z, dtype=float)
    sel = s == 1
    n, kz = Z.shape
    gamma, b = ts.params[:kz], ts.params[kz:]
    wt = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    q = 2.0 * s - 1.0
    lam_q, dlam_q = _lam_dlam(q * (Z @ gamma))
    Xs = np.column_stack([np.asarray(X1, float), ts.imr])
    e = np.asarray(y1, float) - Xs @ b
    kx = Xs.shape[1]
    G = np.zeros((n, kz + kx))
    G[:, :kz] = Z * (q * lam_q)[:, None]
    G[sel, kz:] = Xs * e[:, None]
    J = np.zeros((kz + kx, kz + kx))
    J[:kz, :kz] = (Z.T * (wt * dlam_q)) @ Z
    # d lambda_i / d gamma = -delta_i z_i on the selected rows
    Z1, w1, d1 = Z[sel], wt[sel], ts.delta
    J[kz:, :kz] = (Xs.T * (w1 * d1 * b[-1])) @ Z1
    J[-1, :kz] -= (w1 * d1 * e) @ Z1
    J[kz:, kz:] = -(Xs.T * w1) @ Xs
    return G, J


# ---------------------------------------------------------------------------
# Predictions and marginal effects
# ---------------------------------------------------------------------------

def prediction(which: str, X, Z, gamma, beta, L: float) -> np.ndarray:
    """Predictions with ``w = z'gamma``, ``L = rho sigma``, ``lambda`` the
    inverse Mills ratio: ``"xb"`` ``x'beta``; ``"xbsel"`` ``w``; ``"psel"``
    ``Phi(w)``; ``"mills"`` ``lambda(w)``; ``"ycond"`` ``E[y | s = 1] = x'beta
    + L lambda(w)``; ``"yexpected"`` ``Phi(w) E[y | s = 1]``. ``X`` (``Z``) may be
    ``None`` when ``which`` does not use it."""
    with np.errstate(invalid="ignore"):
        if which == "xb":
            return X @ beta
        w = Z @ gamma
        if which in ("xbsel", "psel", "mills"):
            return {"xbsel": w, "psel": ndtr(w), "mills": mills_ratio(w)}[which]
        ycond = X @ beta + L * mills_ratio(w)
        return ycond if which == "ycond" else ndtr(w) * ycond


def margin(which: str, X, Z, gamma, beta, L: float, kb, kg, weights=None):
    """Average effect of one regressor on a prediction, with its gradient.

    The regressor is column ``kb`` of ``X`` and ``kg`` of ``Z`` (``None`` where
    absent). With ``b = beta_kb``, ``g = gamma_kg`` (0 where absent), ``w =
    z'gamma``, ``delta(w) = lambda(w)(lambda(w) + w) = -lambda'(w)``:

    * ``"ycond"``: ``b - L g delta(w)`` (direct effect + selection channel);
    * ``"yexpected"``: ``Phi(w) b + phi(w) g (x'beta - L w)`` (conditional part
      ``Phi(w)(b - L g delta)`` + participation part);
    * ``"psel"``: ``phi(w) g``;  ``"xb"``: ``b``.

    Returns ``(effect, jac, (part1, part2))``: the mean over the rows, its
    gradient in ``(gamma, beta, L)`` (``delta' = -lambda''``), and the two
    channels that add up to it. ``weights`` make the mean a weighted one
    (Stata's ``margins`` with weights).
    """

    def mean(a, axis=None):
        return np.average(a, axis=axis, weights=weights)

    kz, kx = len(gamma), len(beta)
    w = Z @ gamma
    b = beta[kb] if kb is not None else 0.0
    g = gamma[kg] if kg is not None else 0.0
    J = np.zeros(kz + kx + 1)
    if kb is not None and which in ("xb", "ycond"):
        J[kz + kb] = 1.0
    if which == "xb":
        return b, J, (b, 0.0)
    phi = norm.pdf(w)
    if which == "psel":
        eff = mean(phi * g)
        J[:kz] = mean((-g * w * phi)[:, None] * Z, axis=0)
        J[kg] += mean(phi)
        return eff, J, (0.0, eff)
    delta = -mills_ratio_deriv(w, 1)
    if which == "ycond":
        sel_part = -L * g * mean(delta)
        J[:kz] = L * g * mean(mills_ratio_deriv(w, 2)[:, None] * Z, axis=0)
        if kg is not None:
            J[kg] += -L * mean(delta)
        J[-1] = -g * mean(delta)
        return b + sel_part, J, (b, sel_part)
    Phi = ndtr(w)
    c = X @ beta - L * w
    cond_part = mean(Phi * (b - L * g * delta))
    eff = mean(Phi * b + phi * g * c)
    if kb is not None:
        J[kz + kb] += mean(Phi)
    J[kz:kz + kx] += g * mean(phi[:, None] * X, axis=0)
    J[:kz] += mean((phi * b - g * phi * (w * c + L))[:, None] * Z, axis=0)
    if kg is not None:
        J[kg] += mean(phi * c)
    J[-1] = -g * mean(phi * w)
    return eff, J, (cond_part, eff - cond_part)
