"""Derivative kernels shared by the bivariate probit and the probit with selection.

Both likelihoods are sums of cells of the form

.. math::

    \\ell_i = \\log \\Phi_2(a_i, b_i, r_i), \\qquad
    a_i = q_{1i}\\, x_{1i}'\\beta_1, \\quad b_i = q_{2i}\\, x_{2i}'\\beta_2, \\quad
    r_i = q_{1i} q_{2i}\\, \\rho, \\quad \\rho = \\tanh(\\alpha),

with signs ``q = 2 y - 1`` in {-1, +1} and ``alpha = athrho`` the estimation
scale of the correlation. Everything here is a plain function of arrays; the
model classes only assemble regressor matrices around them.

Derivatives of ``log Phi2``
---------------------------
With ``g_a, g_b, g_r`` the first derivatives of ``L = log Phi2(a, b, r)``
(``g_a = phi(a) Phi((b - r a)/s) / Phi2``, ``g_r = phi2(a, b, r) / Phi2``,
``s^2 = 1 - r^2``, all formed in log space by
:func:`econderiv.special.bvn.bvn_logcdf_grad`), the second derivatives
follow in closed form from the identities ``d Phi2/d r = phi2`` and
``d phi2/d a = -u_a phi2`` with ``u_a = (a - r b)/(1 - r^2)``::

    L_aa = -a g_a - r g_r - g_a^2          L_ab = g_r - g_a g_b
    L_bb = -b g_b - r g_r - g_b^2          L_ar = -g_r (u_a + g_a)
    L_rr = g_r (u_a u_b + r/(1 - r^2)) - g_r^2
                                           L_br = -g_r (u_b + g_b)

so the Hessian never forms ``Phi2`` itself or a ratio of two tiny numbers:
only the log-space ratios ``g`` enter. (These are the formulas of
``bvn_logcdf_hess``, against which the tests check them; forming them here
from the gradient saves one more evaluation of ``log Phi2`` per observation
and Newton step.) ``1 - r^2 = sech(alpha)^2`` is
formed from ``alpha`` directly, without the cancellation of ``1 - tanh^2``.

Chain rule to the indices and ``alpha``
---------------------------------------
With ``q12 = q1 q2`` and ``c = 1 - rho^2 = d rho / d alpha``::

    d l/d xb1 = q1 g_a          d l/d xb2 = q2 g_b      d l/d alpha = q12 c g_r
    d2 l/d xb1^2 = L_aa         d2 l/d xb1 d xb2 = q12 L_ab
    d2 l/d xb1 d alpha = q2 c L_ar
    d2 l/d xb2^2 = L_bb         d2 l/d xb2 d alpha = q1 c L_br
    d2 l/d alpha^2 = c^2 L_rr - 2 rho c q12 g_r

(``d2 rho / d alpha^2 = -2 rho c``). The coefficient blocks are then
``X1' diag(w) X2`` etc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special as sc

from econderiv.models._probit import probit_fit
from econderiv.special.normal import mills_ratio, mills_ratio_deriv

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)

__all__ = [
    "athrho_terms",
    "logphi2_derivatives",
    "BivariateCells",
    "bivariate_cells",
    "univariate_probit_cells",
    "biprobit_loglike_derivs",
    "heckprobit_loglike_derivs",
    "cell_probability",
    "PREDICT_KINDS",
    "probit_residual",
    "scoring_athrho",
    "bivariate_prediction",
]


def _bvn():
    # Imported at call time so that this module (and the package) imports
    # even where the special functions are being rebuilt.
    from econderiv.special import bvn
    return bvn


def athrho_terms(athrho: float) -> tuple[float, float]:
    """``rho = tanh(athrho)`` and ``1 - rho^2 = sech(athrho)^2`` without cancellation."""
    athrho = float(athrho)
    rho = float(np.tanh(athrho))
    with np.errstate(over="ignore"):
        c = float(1.0 / np.cosh(athrho) ** 2)  # 0 once cosh overflows
    return rho, c


def logphi2_derivatives(a, b, r, one_minus_r2, order: int = 2, logp=None):
    """``log Phi2(a, b, r)`` and its derivatives in ``(a, b, r)``.

    Parameters
    ----------
    a, b : ndarray
        Upper limits.
    r : float or ndarray
        Correlation, strictly inside (-1, 1).
    one_minus_r2 : float or ndarray
        ``1 - r^2``, passed separately so that callers can form it without
        cancellation (``sech(athrho)^2``).
    order : {0, 1, 2}
    logp : ndarray, optional
        ``log Phi2(a, b, r)`` if already known (saves its evaluation).

    Returns
    -------
    logp : ndarray
        ``log Phi2(a, b, r)``, finite wherever the probability is positive in
        exact arithmetic (computed by ``bvn_logcdf``, never ``log(bvn_cdf)``).
    grad : tuple ``(g_a, g_b, g_r)`` (order >= 1)
        First derivatives of ``log Phi2``.
    hess : tuple ``(L_aa, L_ab, L_ar, L_bb, L_br, L_rr)`` (order 2)
        Second derivatives of ``log Phi2`` (formulas in the module notes).
    """
    bvn = _bvn()
    if logp is None:
        logp = bvn.bvn_logcdf(a, b, r)
    if order == 0:
        return logp, None, None
    ga, gb, gr = bvn.bvn_logcdf_grad(a, b, r)
    if order == 1:
        return logp, (ga, gb, gr), None
    omr2 = one_minus_r2
    with np.errstate(invalid="ignore", over="ignore"):
        ua = (a - r * b) / omr2
        ub = (b - r * a) / omr2
        # g_r underflows to exactly 0 far from the diagonal, where u may be
        # huge; the product is then 0, not nan.
        gr_ua = np.where(gr == 0.0, 0.0, gr * ua)
        gr_ub = np.where(gr == 0.0, 0.0, gr * ub)
        l_aa = -a * ga - r * gr - ga * ga
        l_ab = gr - ga * gb
        l_ar = -(gr_ua + gr * ga)
        l_bb = -b * gb - r * gr - gb * gb
        l_br = -(gr_ub + gr * gb)
        l_rr = np.where(gr == 0.0, 0.0, gr_ua * ub + gr * (r / omr2 - gr))
    return logp, (ga, gb, gr), (l_aa, l_ab, l_ar, l_bb, l_br, l_rr)


@dataclass
class BivariateCells:
    """Per-observation log-likelihood and its derivatives in the two indices and alpha.

    ``d1, d2, dt`` are ``d l_i/d xb1``, ``d l_i/d xb2``, ``d l_i/d alpha``;
    ``w11 ... wtt`` the second derivatives (module notes). Entries are
    ``None`` beyond the requested order.
    """

    ll: np.ndarray
    d1: np.ndarray | None = None
    d2: np.ndarray | None = None
    dt: np.ndarray | None = None
    w11: np.ndarray | None = None
    w12: np.ndarray | None = None
    w1t: np.ndarray | None = None
    w22: np.ndarray | None = None
    w2t: np.ndarray | None = None
    wtt: np.ndarray | None = None

    def weighted(self, weights, fields) -> "BivariateCells":
        """A copy with ``fields`` multiplied by the row ``weights``."""
        out = BivariateCells(**{f: getattr(self, f) for f in self.__dataclass_fields__})
        for f in fields:
            setattr(out, f, weights * getattr(self, f))
        return out


def bivariate_cells(xb1, xb2, q1, q2, athrho: float, order: int = 2,
                    logp=None) -> BivariateCells:
    """Cells ``log Phi2(q1 xb1, q2 xb2, q1 q2 tanh(athrho))`` and derivatives.

    Parameters
    ----------
    xb1, xb2 : ndarray (n,)
        Linear predictors of the two equations.
    q1, q2 : ndarray (n,) or scalar
        Signs ``2 y - 1`` of the two outcomes.
    athrho : float
        ``atanh(rho)``.
    order : {0, 1, 2}
        Highest derivative to return.
    logp : ndarray, optional
        The cells' log-likelihood if already known.
    """
    rho, c = athrho_terms(athrho)
    q12 = q1 * q2
    a = q1 * xb1
    b = q2 * xb2
    r = q12 * rho
    logp, g, h = logphi2_derivatives(a, b, r, c, order, logp)
    out = BivariateCells(ll=logp)
    if order == 0:
        return out
    ga, gb, gr = g
    out.d1 = q1 * ga
    out.d2 = q2 * gb
    out.dt = q12 * c * gr
    if order == 1:
        return out
    l_aa, l_ab, l_ar, l_bb, l_br, l_rr = h
    out.w11 = l_aa
    out.w12 = q12 * l_ab
    out.w1t = q2 * c * l_ar
    out.w22 = l_bb
    out.w2t = q1 * c * l_br
    out.wtt = c * c * l_rr - 2.0 * rho * c * q12 * gr
    return out


def univariate_probit_cells(xb, q, order: int = 2):
    """``log Phi(q xb)`` with its first and second derivatives in ``xb``.

    ``d/dxb = q lambda(q xb)`` and ``d2/dxb2 = lambda'(q xb)`` with
    ``lambda = phi/Phi`` the inverse Mills ratio (accurate in both tails).
    """
    u = q * xb
    ll = sc.log_ndtr(u)
    if order == 0:
        return ll, None, None
    d = q * mills_ratio(u)
    if order == 1:
        return ll, d, None
    return ll, d, mills_ratio_deriv(u, 1)


def _wxx(xa, w, xb=None):
    """``Xa' diag(w) Xb``."""
    xb = xa if xb is None else xb
    return xa.T @ (xb * w[:, None])


def biprobit_loglike_derivs(params, y1, y2, x1, x2, order: int = 2, llobs=None,
                            per_obs: bool = True, weights=None):
    """Log-likelihood of the bivariate probit with its score and Hessian.

    .. math::

        \\ell_i = \\log\\Phi_2\\big(q_{1i} x_{1i}'\\beta_1,\\;
        q_{2i} x_{2i}'\\beta_2,\\; q_{1i} q_{2i} \\tanh\\alpha\\big),
        \\qquad q_{ji} = 2 y_{ji} - 1.

    Parameters
    ----------
    params : ndarray (k1 + k2 + 1,)
        ``[beta_1, beta_2, alpha]`` with ``alpha = athrho``.
    y1, y2 : ndarray (n,)
        0/1 outcomes.
    x1, x2 : ndarray (n, k1), (n, k2)
        Regressors of the two equations.
    order : {0, 1, 2}
    llobs : ndarray (n,), optional
        The per-observation log-likelihood at ``params`` if already known
        (the derivatives then need no new evaluation of ``log Phi2``).
    per_obs : bool
        Return the per-observation score (n, k); if False, only its sum
        (k,), which avoids forming the (n, k) array.
    weights : ndarray (n,), optional
        Row weights of the summed score and the Hessian (``sum_i w_i s_i``,
        ``sum_i w_i H_i``); ``llobs`` and the per-observation score stay
        unweighted.

    Returns
    -------
    llobs : ndarray (n,)
        Per-observation log-likelihood.
    score : ndarray (n, k) or (k,) or None
        Rows are per-observation gradients in params order (their sum if
        ``per_obs`` is False).
    hessian : ndarray (k, k) or None
        Hessian of the total log-likelihood, params order.
    """
    k1, k2 = x1.shape[1], x2.shape[1]
    params = np.asarray(params, dtype=float)
    xb1 = x1 @ params[:k1]
    xb2 = x2 @ params[k1:k1 + k2]
    q1 = 2.0 * y1 - 1.0
    q2 = 2.0 * y2 - 1.0
    cells = bivariate_cells(xb1, xb2, q1, q2, params[-1], order, llobs)
    if order == 0:
        return cells.ll, None, None
    if per_obs:
        score_obs = np.column_stack([x1 * cells.d1[:, None], x2 * cells.d2[:, None],
                                     cells.dt])
    else:
        c = cells if weights is None else cells.weighted(weights, ("d1", "d2", "dt"))
        score_obs = np.concatenate([x1.T @ c.d1, x2.T @ c.d2, [c.dt.sum()]])
    if order == 1:
        return cells.ll, score_obs, None
    if weights is not None:
        cells = cells.weighted(weights, ("w11", "w12", "w22", "w1t", "w2t", "wtt"))
    k = k1 + k2 + 1
    hess = np.empty((k, k))
    s1, s2, t = slice(0, k1), slice(k1, k1 + k2), k - 1
    hess[s1, s1] = _wxx(x1, cells.w11)
    hess[s1, s2] = _wxx(x1, cells.w12, x2)
    hess[s2, s1] = hess[s1, s2].T
    hess[s2, s2] = _wxx(x2, cells.w22)
    hess[s1, t] = hess[t, s1] = x1.T @ cells.w1t
    hess[s2, t] = hess[t, s2] = x2.T @ cells.w2t
    hess[t, t] = cells.wtt.sum()
    return cells.ll, score_obs, hess


def heckprobit_loglike_derivs(params, select, y_sel, z, x_sel, order: int = 2, llobs=None,
                              per_obs: bool = True, weights=None):
    """Log-likelihood of the probit with sample selection, score and Hessian.

    Three cells, with ``z'gamma`` the selection index and ``x'beta`` the
    outcome index::

        s = 0:          log Phi(-z'gamma)
        s = 1, y = 0:   log Phi2(z'gamma, -x'beta, -rho)
        s = 1, y = 1:   log Phi2(z'gamma,  x'beta,  rho)

    Parameters
    ----------
    params : ndarray (kz + kx + 1,)
        ``[gamma, beta, alpha]`` (selection first), ``rho = tanh(alpha)``.
    select : ndarray of bool (n,)
        Selection indicator.
    y_sel : ndarray (n_sel,)
        0/1 outcome of the selected rows.
    z : ndarray (n, kz)
        Selection regressors, all rows.
    x_sel : ndarray (n_sel, kx)
        Outcome regressors of the selected rows.
    order : {0, 1, 2}
    llobs : ndarray (n,), optional
        The per-observation log-likelihood if already known.
    per_obs : bool
        Per-observation score (n, k), or only its sum (k,) if False.
    weights : ndarray (n,), optional
        Row weights of the summed score and the Hessian; ``llobs`` and the
        per-observation score stay unweighted.

    Returns
    -------
    llobs : ndarray (n,)
    score : ndarray (n, k) or (k,) or None
        Zero in the outcome and ``alpha`` columns for unselected rows.
    hessian : ndarray (k, k) or None
    """
    kz, kx = z.shape[1], x_sel.shape[1]
    params = np.asarray(params, dtype=float)
    zg = z @ params[:kz]
    xb = x_sel @ params[kz:kz + kx]
    unsel = ~select
    n = z.shape[0]
    known = llobs
    llobs = np.empty(n)
    ll0, d0, w0 = univariate_probit_cells(zg[unsel], -1.0, order)
    q = 2.0 * y_sel - 1.0
    cells = bivariate_cells(zg[select], xb, 1.0, q, params[-1], order,
                            None if known is None else known[select])
    llobs[unsel] = ll0
    llobs[select] = cells.ll
    if order == 0:
        return llobs, None, None
    k = kz + kx + 1
    z_sel = z[select]
    wt0 = wt1 = None
    if weights is not None:
        wt = np.asarray(weights, dtype=float)
        wt0, wt1 = wt[unsel], wt[select]
        if not per_obs:  # the per-row score stays unweighted
            d0 = wt0 * d0
            cells = cells.weighted(wt1, ("d1", "d2", "dt"))
    if per_obs:
        score_obs = np.zeros((n, k))
        score_obs[unsel, :kz] = z[unsel] * d0[:, None]
        score_obs[select, :kz] = z_sel * cells.d1[:, None]
        score_obs[select, kz:kz + kx] = x_sel * cells.d2[:, None]
        score_obs[select, -1] = cells.dt
    else:
        score_obs = np.concatenate([z[unsel].T @ d0 + z_sel.T @ cells.d1,
                                    x_sel.T @ cells.d2, [cells.dt.sum()]])
    if order == 1:
        return llobs, score_obs, None
    if wt1 is not None:
        w0 = wt0 * w0
        cells = cells.weighted(wt1, ("w11", "w12", "w22", "w1t", "w2t", "wtt"))
    hess = np.empty((k, k))
    sz, sx, t = slice(0, kz), slice(kz, kz + kx), k - 1
    hess[sz, sz] = _wxx(z[unsel], w0) + _wxx(z_sel, cells.w11)
    hess[sz, sx] = _wxx(z_sel, cells.w12, x_sel)
    hess[sx, sz] = hess[sz, sx].T
    hess[sx, sx] = _wxx(x_sel, cells.w22)
    hess[sz, t] = hess[t, sz] = z_sel.T @ cells.w1t
    hess[sx, t] = hess[t, sx] = x_sel.T @ cells.w2t
    hess[t, t] = cells.wtt.sum()
    return llobs, score_obs, hess


def cell_probability(xb1, xb2, q1, q2, rho: float, with_index_grad: bool = False):
    """``P(y1 = (q1+1)/2, y2 = (q2+1)/2) = Phi2(q1 xb1, q2 xb2, q1 q2 rho)``.

    With ``with_index_grad`` also returns ``dP/dxb1 = q1 phi(xb1)
    Phi(q2 (xb2 - rho xb1)/s)`` and ``dP/dxb2 = q2 phi(xb2) Phi(q1 (xb1 -
    rho xb2)/s)`` with ``s = sqrt(1 - rho^2)``.
    """
    bvn = _bvn()
    p = bvn.bvn_cdf(q1 * xb1, q2 * xb2, q1 * q2 * rho)
    if not with_index_grad:
        return p
    s = np.sqrt((1.0 - rho) * (1.0 + rho))
    dp1 = q1 * _phi(xb1) * sc.ndtr(q2 * (xb2 - rho * xb1) / s)
    dp2 = q2 * _phi(xb2) * sc.ndtr(q1 * (xb1 - rho * xb2) / s)
    return p, dp1, dp2


def _phi(x):
    return np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def fit_probit(y, x, maxiter: int = 100, weights=None):
    """Univariate probit MLE (:func:`econderiv.models._probit.probit_fit`).

    Used for start values and for the rho = 0 restricted model.

    Returns
    -------
    params : ndarray (k,)
    llf : float
    converged : bool
    """
    params, _, llf, converged = probit_fit(y, x, maxiter, weights)
    return params, llf, converged


def probit_residual(y, xb):
    """The probit's generalized residual ``q lambda(q xb)``, ``q = 2y - 1``: the
    derivative of the observation's log-likelihood in its index."""
    q = 2.0 * np.asarray(y, dtype=float) - 1.0
    return q * mills_ratio(q * xb)


def scoring_athrho(e1, e2, bound: float = 0.9) -> float:
    """One scoring step for athrho from rho = 0, given the two equations'
    generalized residuals on the rows where both are observed.

    At rho = 0 the score of rho is ``sum e1 e2`` and its information
    ``sum (e1 e2)^2`` (outer product), so ``rho_0 = sum e1 e2 / sum (e1 e2)^2``,
    clipped to ``+-bound``. Returns ``atanh(rho_0)``.
    """
    prod = np.asarray(e1) * np.asarray(e2)
    den = float(prod @ prod)
    rho0 = float(np.clip(prod.sum() / den, -bound, bound)) if den > 0 else 0.0
    return float(np.arctanh(rho0))


# ---------------------------------------------------------------------------
# Predicted probabilities on the bivariate normal
# ---------------------------------------------------------------------------

PREDICT_KINDS = ("p11", "p10", "p01", "p00", "pmarg1", "pmarg2", "pcond1", "pcond2",
                 "xb1", "xb2")


def _logphi(x):
    return -0.5 * x * x - _LOG_SQRT_2PI


def bivariate_prediction(which: str, xb1, xb2, rho: float, grad: bool = False):
    """A probability of the bivariate probit and its derivatives in the indices.

    Parameters
    ----------
    which : str
        ``"p11" = P(y1=1, y2=1) = Phi2(xb1, xb2, rho)``, ``"p10"``, ``"p01"``,
        ``"p00"`` (``P(y1=j, y2=k) = Phi2(q1 xb1, q2 xb2, q1 q2 rho)``),
        ``"pmarg1" = Phi(xb1)``, ``"pmarg2" = Phi(xb2)``,
        ``"pcond1" = P(y1=1 | y2=1) = Phi2(xb1, xb2, rho) / Phi(xb2)``,
        ``"pcond2" = P(y2=1 | y1=1)``, ``"xb1"``, ``"xb2"``.
    xb1, xb2 : ndarray
        Linear predictors.
    rho : float
    grad : bool
        Also return ``dP/dxb1`` and ``dP/dxb2``.

    Returns
    -------
    p or (p, dp_dxb1, dp_dxb2)
        The joint cell derivative is ``dP/dxb1 = q1 phi(xb1)
        Phi(q2 (xb2 - rho xb1)/s)``, ``s = sqrt(1 - rho^2)``; the conditional
        probabilities are formed as differences of logs.
    """
    bvn = _bvn()
    xb1 = np.asarray(xb1, dtype=float)
    xb2 = np.asarray(xb2, dtype=float)
    s = np.sqrt((1.0 - rho) * (1.0 + rho))
    zero = np.zeros(np.broadcast(xb1, xb2).shape)
    if which in ("xb1", "xb2"):
        p = xb1 + zero if which == "xb1" else xb2 + zero
        return (p, zero + (which == "xb1"), zero + (which == "xb2")) if grad else p
    if which in ("pmarg1", "pmarg2"):
        x = xb1 if which == "pmarg1" else xb2
        p = sc.ndtr(x) + zero
        if not grad:
            return p
        d = np.exp(_logphi(x)) + zero
        return (p, d, zero) if which == "pmarg1" else (p, zero, d)
    if which in ("p11", "p10", "p01", "p00"):
        q1 = 1.0 if which[1] == "1" else -1.0
        q2 = 1.0 if which[2] == "1" else -1.0
        p = bvn.bvn_cdf(q1 * xb1, q2 * xb2, q1 * q2 * rho)
        if not grad:
            return p
        d1 = q1 * np.exp(_logphi(xb1) + sc.log_ndtr(q2 * (xb2 - rho * xb1) / s))
        d2 = q2 * np.exp(_logphi(xb2) + sc.log_ndtr(q1 * (xb1 - rho * xb2) / s))
        return p, d1, d2
    if which in ("pcond1", "pcond2"):
        # P(y_a = 1 | y_b = 1) with a the target equation and b the condition.
        xa, xc = (xb1, xb2) if which == "pcond1" else (xb2, xb1)
        log_den = sc.log_ndtr(xc)
        p = np.exp(bvn.bvn_logcdf(xa, xc, rho) - log_den)
        if not grad:
            return p
        da = np.exp(_logphi(xa) + sc.log_ndtr((xc - rho * xa) / s) - log_den)
        dc = np.exp(_logphi(xc) + sc.log_ndtr((xa - rho * xc) / s) - log_den) \
            - p * mills_ratio(xc)
        return (p, da, dc) if which == "pcond1" else (p, dc, da)
    raise ValueError(f"which must be one of {PREDICT_KINDS}, got {which!r}")
