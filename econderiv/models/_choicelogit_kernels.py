"""Conditional (McFadden) logit kernels: plain array functions, no statsmodels.

Model
-----
Case ``i`` (a choice situation) offers the alternatives ``j`` with
``avail_ij = 1`` out of ``J`` known alternatives; exactly one, ``y_i``, is
chosen. Utilities

    eta_ij = x_ij' beta + z_i' gamma_j,     gamma_base = 0,

with ``x_ij`` the ``p`` alternative-specific attributes (one coefficient each)
and ``z_i`` the ``q`` case-specific regressors (alternative-specific
constants are a column of ones in ``z``), one coefficient vector ``gamma_j``
per non-base alternative. With ``A_i`` the available set

    P_ij = exp(eta_ij) / sum_{k in A_i} exp(eta_ik),
    l_i  = eta_{i,y_i} - log sum_{k in A_i} exp(eta_ik).

Stacking, case ``i`` has a ``J_i x k`` design ``X_i`` (row ``j``:
``[x_ij', e_j' kron z_i']``, ``k = p + (J-1) q``), so that ``eta_i = X_i theta``
and, with ``d_ij = 1{j = y_i}``,

    score_i   = X_i' (d_i - P_i),
    Hessian_i = -X_i' (diag(P_i) - P_i P_i') X_i.

In blocks (``xbar_i = sum_j P_ij x_ij``, ``j, l`` non-base)::

    d2 l_i / d beta d beta'     = -[sum_j P_ij x_ij x_ij' - xbar_i xbar_i']
    d2 l_i / d beta d gamma_l'  = -P_il (x_il - xbar_i) z_i'
    d2 l_i / d gamma_j d gamma_l' = -(1{j=l} P_ij - P_ij P_il) z_i z_i'

Parameter layout: ``theta = [beta; gamma_{j_1}; gamma_{j_2}; ...]`` over the
non-base alternatives in their order; the score is 1-D in that order and the
Hessian square in that order.

Böhning's bound (Böhning 1992): on the simplex ``diag(P) - P P' <= A_J =
(I - 1 1'/J) / 2`` (Loewner order) for ``J`` alternatives, so with ``J_i``
the size of case ``i``'s choice set

    -H(theta) <= B = sum_i w_i X_i' A_{J_i} X_i,

a fixed matrix. Since ``A_J = (J/2) (diag(u) - u u')`` with ``u = 1/J`` on the
available alternatives, ``B`` is the information of the block formulas above
at the uniform probabilities, each case weighted by ``w_i J_i / 2``. ``B`` is
singular exactly when the model is not identified (an attribute that does
not vary within any case, a case-specific regressor collinear with others).

Weights (the package's kernel contract): the per-case log-likelihood and
per-case scores are returned unweighted; the summed score and Hessian are
``sum_i w_i s_i`` and ``sum_i w_i H_i``.

Data of a block of ``m`` cases: ``X (m, J, p)`` (zero where unavailable),
``Z (m, q)``, ``avail (m, J)`` bool, ``y (m,)`` int (the chosen alternative's
position ``0..J-1``; ``-1`` for prediction-only data), ``base`` (position of
the base alternative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

__all__ = ["nonbase", "utilities", "probabilities", "choicelogit_loglike_derivs",
           "information", "bohning_matrix", "ChoiceBound", "elasticities",
           "mean_elasticities", "constant_within_cases"]


def nonbase(n_alt: int, base: int) -> np.ndarray:
    """Positions of the non-base alternatives, in order."""
    return np.array([j for j in range(n_alt) if j != base], dtype=int)


def _split(params, p: int, q: int, n_alt: int, base: int):
    """``beta (p,)`` and ``Gamma (q, J)`` (base column zero) from ``theta``."""
    params = np.asarray(params)
    beta = params[:p]
    gamma = np.zeros((q, n_alt), dtype=params.dtype)
    if q:
        gamma[:, nonbase(n_alt, base)] = params[p:].reshape(n_alt - 1, q).T
    return beta, gamma


def utilities(params, X, Z, base: int) -> np.ndarray:
    """``eta (m, J)``: ``x_ij' beta + z_i' gamma_j`` (also at unavailable slots)."""
    m, n_alt, p = X.shape
    q = Z.shape[1]
    beta, gamma = _split(params, p, q, n_alt, base)
    eta = (X.reshape(m * n_alt, p) @ beta).reshape(m, n_alt) if p else np.zeros((m, n_alt))
    if q:
        eta = eta + Z @ gamma
    return eta


def _log_probabilities(eta, avail):
    """``(log-sum-exp over available (m,), P (m, J))``; the shift uses the
    real part (complex-step safe) and only available alternatives."""
    masked = np.where(avail, eta.real, -np.inf)
    shift = masked.max(axis=1)
    e = np.where(avail, np.exp(eta - shift[:, None]), 0.0)
    denom = e.sum(axis=1)
    e /= denom[:, None]
    return shift + np.log(denom), e


def probabilities(params, X, Z, avail, base: int) -> np.ndarray:
    """Choice probabilities ``P (m, J)``, zero for unavailable alternatives."""
    return _log_probabilities(utilities(params, X, Z, base), avail)[1]


def information(X, Z, P, w, base: int) -> np.ndarray:
    """``sum_i w_i X_i' (diag(P_i) - P_i P_i') X_i`` in params order (the
    negative Hessian when ``P`` are the choice probabilities; Böhning's bound
    with the uniform probabilities and ``w_i J_i / 2``), from the block
    formulas of the module docstring."""
    m, n_alt, p = X.shape
    q = Z.shape[1]
    nb = nonbase(n_alt, base)
    jb = len(nb)
    k = p + jb * q
    wP = P * w[:, None]
    out = np.empty((k, k), dtype=np.result_type(X, P))
    if p:
        xbar = np.einsum("mj,mjp->mp", P, X)
        Xf = X.reshape(m * n_alt, p)
        bb = (Xf * wP.reshape(-1, 1)).T @ Xf - (xbar * w[:, None]).T @ xbar
        out[:p, :p] = bb
    if q:
        if p:
            E = wP[:, nb, None] * (X[:, nb, :] - xbar[:, None, :])      # (m, J', p)
            bg = (E.reshape(m, jb * p).T @ Z).reshape(jb, p, q)
            out[:p, p:] = bg.transpose(1, 0, 2).reshape(p, jb * q)
            out[p:, :p] = out[:p, p:].T
        Pn = P[:, nb]
        W = -(Pn[:, :, None] * Pn[:, None, :] * w[:, None, None])        # (m, J', J')
        idx = np.arange(jb)
        W[:, idx, idx] += wP[:, nb]
        ZZ = (Z[:, :, None] * Z[:, None, :]).reshape(m, q * q)
        gg = (W.reshape(m, jb * jb).T @ ZZ).reshape(jb, jb, q, q)
        out[p:, p:] = gg.transpose(0, 2, 1, 3).reshape(jb * q, jb * q)
    return out


def _scores(X, Z, R, base: int) -> np.ndarray:
    """Per-case scores ``X_i' r_i`` (``(m, k)``) for residuals ``R (m, J)``."""
    m, n_alt, p = X.shape
    nb = nonbase(n_alt, base)
    parts = []
    if p:
        parts.append(np.einsum("mj,mjp->mp", R, X))
    if Z.shape[1]:
        parts.append((R[:, nb, None] * Z[:, None, :]).reshape(m, -1))
    return np.hstack(parts) if parts else np.zeros((m, 0))


def _score_sum(X, Z, R, base: int) -> np.ndarray:
    """``sum_i X_i' r_i`` (residuals already weighted)."""
    m, n_alt, p = X.shape
    nb = nonbase(n_alt, base)
    parts = []
    if p:
        parts.append(X.reshape(m * n_alt, p).T @ R.reshape(-1))
    if Z.shape[1]:
        parts.append((Z.T @ R[:, nb]).T.reshape(-1))
    return np.concatenate(parts)


def choicelogit_loglike_derivs(params, X, Z, avail, y, base: int, order: int = 2,
                               llobs=None, per_obs: bool = False, weights=None):
    """Per-case log-likelihood, score and Hessian of a block of cases.

    Parameters
    ----------
    params : ndarray (k,)
        ``[beta; gamma_j for non-base j]`` (module docstring).
    X, Z, avail, y, base
        The block's data (module docstring); every case's chosen
        alternative must be available.
    order : {0, 1, 2}
        0: log-likelihood only; 1: and the score; 2: and the Hessian.
    llobs : ndarray (m,), optional
        Not used for the value (it is as cheap as the probabilities it
        needs); accepted for the kernel contract.
    per_obs : bool
        Return the per-case scores ``(m, k)`` (unweighted) instead of their sum.
    weights : ndarray (m,), optional
        Case weights: the summed score and Hessian are weighted sums.

    Returns
    -------
    (llobs (m,), score or None, hessian or None)
    """
    eta = utilities(params, X, Z, base)
    lse, P = _log_probabilities(eta, avail)
    rows = np.arange(len(y))
    ll = eta[rows, y] - lse
    if order == 0:
        return ll, None, None
    R = -P
    R[rows, y] += 1.0
    if per_obs:
        score = _scores(X, Z, R, base)
    else:
        score = _score_sum(X, Z, R if weights is None else R * weights[:, None], base)
    hess = None
    if order >= 2:
        w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
        hess = -information(X, Z, P, w, base)
    return ll, score, hess


def bohning_matrix(X, Z, avail, base: int, weights=None) -> np.ndarray:
    """Böhning's bound ``sum_i w_i X_i' A_{J_i} X_i`` of a block (module docstring)."""
    n_i = avail.sum(axis=1).astype(float)
    U = avail / np.maximum(n_i, 1.0)[:, None]
    w = 0.5 * n_i if weights is None else 0.5 * n_i * np.asarray(weights, float)
    return information(X, Z, U, w, base)


@dataclass
class ChoiceBound:
    """Böhning's fixed bound ``B >= -H(theta)`` of the conditional logit,
    factored once; :meth:`solve` applies ``B^{-1}`` (the interface
    :func:`econderiv.models._optim.fit_bohning` needs)."""

    bound: np.ndarray
    _chol: tuple = field(init=False, repr=False)

    def __post_init__(self):
        self._chol = linalg.cho_factor(self.bound, lower=False, check_finite=True)

    @property
    def n_params(self) -> int:
        return self.bound.shape[0]

    def matrix(self) -> np.ndarray:
        return self.bound

    def solve(self, grad: np.ndarray) -> np.ndarray:
        return linalg.cho_solve(self._chol, grad, check_finite=False)


def elasticities(P, X_attr, coef: float, avail) -> np.ndarray:
    """Elasticities of the choice probabilities with respect to one
    alternative-specific attribute, per case.

    ``E_ijk = d log P_ij / d log x_ik = coef * x_ik * (1{j=k} - P_ik)``:
    own (``j = k``) and cross (the same for every ``j != k``: IIA).
    ``P``, ``X_attr`` and ``avail`` are ``(m, J)``; returns ``(m, J, J)``
    (rows: probability of ``j``, columns: attribute of ``k``), NaN where
    ``j`` or ``k`` is unavailable.
    """
    m, n_alt = P.shape
    E = -(coef * X_attr * P)[:, None, :] * np.ones((1, n_alt, 1))
    idx = np.arange(n_alt)
    E[:, idx, idx] += coef * X_attr
    both = avail[:, :, None] & avail[:, None, :]
    return np.where(both, E, np.nan)


def mean_elasticities(params, X, Z, avail, base: int, attr: int):
    """Elasticities with respect to attribute ``attr`` averaged over the cases
    (where both alternatives are available) and their Jacobian in ``params``.

    With ``b = beta_attr``, ``x_ik`` the attribute and ``Xt_ik`` the full
    design row of alternative ``k`` in case ``i`` (module docstring),
    ``dP_ik/dtheta = P_ik (Xt_ik - sum_l P_il Xt_il)`` and

        dE_ijk/dtheta = x_ik (1{j=k} - P_ik) e_attr - b x_ik dP_ik/dtheta.

    Returns ``(E (J, J), jacobian (J, J, k))``; NaN where no case offers both.
    """
    m, n_alt, _ = X.shape
    P = probabilities(params, X, Z, avail, base)
    coef = float(np.asarray(params)[attr])
    x = X[:, :, attr]
    E = elasticities(P, x, coef, avail)
    both = avail[:, :, None] & avail[:, None, :]
    count = both.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_E = np.where(count > 0, np.nansum(E, axis=0) / count, np.nan)
    k = len(np.asarray(params))
    jac = np.zeros((n_alt, n_alt, k))
    for c in range(n_alt):
        R = -P * P[:, [c]]
        R[:, c] += P[:, c]
        dP = _scores(X, Z, R, base)                       # (m, k): dP_ic / dtheta
        for j in range(n_alt):
            w = both[:, j, c].astype(float)
            if not w.any():
                continue
            d = -coef * (w * x[:, c]) @ dP
            d[attr] += (w * x[:, c] * ((j == c) - P[:, c])).sum()
            jac[j, c] = d / w.sum()
    jac[count == 0] = np.nan
    return mean_E, jac


def constant_within_cases(X, avail) -> np.ndarray:
    """Columns of ``X (n, J, p)`` that do not vary over the available
    alternatives of any case (their coefficient is not identified)."""
    n = X.shape[0]
    varies = np.zeros(X.shape[2], dtype=bool)
    first = avail.argmax(axis=1)
    step = 1 << 14
    for lo in range(0, n, step):  # blocks; usually the first one settles every column
        sl = slice(lo, min(n, lo + step))
        ref = X[sl][np.arange(sl.stop - sl.start), first[sl]]
        diff = (X[sl] != ref[:, None, :]) & avail[sl][:, :, None]
        varies |= diff.any(axis=(0, 1))
        if varies.all():
            break
    return ~varies
