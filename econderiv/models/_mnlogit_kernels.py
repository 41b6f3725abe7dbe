"""Multinomial logit kernels: plain array functions, no statsmodels.

Model
-----
Outcome ``y_i`` takes one of ``J`` categories ``0, ..., J-1``; category 0 is
the base. With regressors ``x_i`` (length ``p``) and coefficients
``beta = [beta_1, ..., beta_{J-1}]`` (a ``p x (J-1)`` matrix, ``beta_0 = 0``)
the linear predictors are ``eta_ij = x_i' beta_j`` (``eta_i0 = 0``) and

    P_ij = exp(eta_ij) / sum_k exp(eta_ik),
    log L = sum_i [eta_{i,y_i} - log sum_k exp(eta_ik)].

Derivatives (``d_ij = 1{y_i = j}``, ``j, l = 1..J-1``)::

    d log L / d beta_j            =  sum_i (d_ij - P_ij) x_i
    d2 log L / d beta_j d beta_l' = -sum_i P_ij (1{j=l} - P_il) x_i x_i'

Layout (as statsmodels' ``MNLogit``): the flat parameter vector is
``beta.ravel(order="F")``, i.e. ``[beta_1; beta_2; ...]``, the score is a 1-D
array in that order and the Hessian is square in that order (block ``(j, l)``
is ``p x p``).

Böhning's bound (Böhning 1992, Ann. Inst. Statist. Math. 44:197-200)::

    -H(beta) <= B = A kron X'X,   A = 1/2 (I_{J-1} - 1 1' / J)

(Loewner order), ``B^{-1} = 2 (I + 1 1') kron (X'X)^{-1}``.

Marginal effects (:func:`mnlogit_margins`): with ``beta_0 = 0`` and
``bbar_i = sum_l P_il beta_l``, ``D_ijk = beta_jk - bbar_ik``::

    dP_ij / dx_ik = P_ij D_ijk,      d log P_ij / dx_ik = D_ijk,

and their derivatives with respect to ``beta_lm`` (``l = 1..J-1``)::

    d(P_ij D_ijk)/d beta_lm = x_im [1{j=l} P_ij D_ijk - P_ij P_il (D_ijk + D_ilk)]
                              + 1{k=m} P_ij (1{j=l} - P_il)
    d D_ijk / d beta_lm     = -x_im P_il D_ilk + 1{k=m} (1{j=l} - P_il)

(``ex`` variants multiply both by ``x_ik``): the exact Jacobian of the delta
method, summed over row blocks.

Numerics and memory
-------------------
The softmax subtracts the row maximum (including the base category's 0), so
linear predictors of any size are safe (statsmodels' ``cdf`` overflows
beyond ~709). Everything is a sum over blocks of rows: :func:`mnlogit_block`
returns the block's log-likelihood, gradient and (packed) Hessian, and the
drivers add blocks with :func:`econderiv.models._likelihood.block_sum` (one
contiguous row range per thread, BLAS pinned to one thread), so memory beyond
the data is O(block). The Hessian of a block is assembled from "packed" Gram
products: with ``Q_i = vech(x_i x_i')`` and weights
``w_i,(j,l) = P_ij P_il - 1{j=l} P_ij`` for the pairs ``j <= l``, all blocks
are ``W' Q``: one matrix product, symmetric by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from econderiv.models._likelihood import block_sum, row_blocks

__all__ = [
    "BohningBound",
    "bohning_bound",
    "mnlogit_block",
    "mnlogit_loglike_score",
    "mnlogit_loglikeobs",
    "mnlogit_hessian",
    "mnlogit_score_outer",
    "mnlogit_cluster_meat",
    "mnlogit_margins",
    "gram",
    "collinear_columns",
    "column_scale_problems",
]

#: rows per block for the log-likelihood and score
DEFAULT_CHUNK_ROWS = 4096
#: bytes targeted for the per-block temporaries of the Hessian and margins
_HESS_BLOCK_BYTES = 8 * 2**20


def _as_beta(params, p: int, n_cat: int) -> np.ndarray:
    """Flat params (statsmodels order) or a ``p x (J-1)`` matrix -> matrix."""
    b = np.asarray(params)
    if b.ndim == 1:
        if b.size != p * (n_cat - 1):
            raise ValueError(f"params has {b.size} entries, expected p * (J - 1) = "
                             f"{p} * {n_cat - 1} = {p * (n_cat - 1)}")
        return b.reshape(p, n_cat - 1, order="F")
    if b.shape != (p, n_cat - 1):
        raise ValueError(f"params has shape {b.shape}, expected ({p}, {n_cat - 1})")
    return b


def _log_softmax_rest(eta):
    """Stable ``log sum_k exp(eta_ik)`` and ``P_ij`` for j >= 1.

    ``eta`` is ``(c, J-1)``, the base category's predictor is 0. The shift
    uses the real part only, so complex-step differentiation still works.
    """
    shift = np.maximum(eta.real.max(axis=1), 0.0)
    e = np.exp(eta - shift[:, None])
    denom = np.exp(-shift) + e.sum(axis=1)
    lse = shift + np.log(denom)
    e /= denom[:, None]
    return lse, e


def _packed_gram(xt: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """``sum_i w_im vech(x_i x_i')`` for every weight row ``m``.

    ``xt`` is ``(p, c)``, ``wt`` is ``(m, c)``; returns ``(m, p(p+1)/2)`` in
    the row-major upper-triangle order of ``np.triu_indices(p)``. Built
    from contiguous row products and one BLAS product (the transposed layout
    is several times faster than ``X[:, iu] * X[:, ju]``).
    """
    p, c = xt.shape
    q = np.empty((p * (p + 1) // 2, c), dtype=np.result_type(xt, wt))
    k = 0
    for a in range(p):
        np.multiply(xt[a], xt[a:], out=q[k:k + p - a])
        k += p - a
    return wt @ q.T


def _pair_weights(pt: np.ndarray, diag=None) -> np.ndarray:
    """Rows ``P_j P_l`` (j <= l, row-major triangle) minus ``diag_j`` on j == l."""
    m = pt.shape[0]
    wt = np.empty((m * (m + 1) // 2, pt.shape[1]), dtype=pt.dtype)
    k = 0
    for j in range(m):
        np.multiply(pt[j], pt[j:], out=wt[k:k + m - j])
        if diag is not None:
            wt[k] -= diag[j]
        k += m - j
    return wt


def _unpack_blocks(packed: np.ndarray, p: int, m: int) -> np.ndarray:
    """Packed ``(m(m+1)/2, p(p+1)/2)`` sums -> symmetric ``(m p, m p)`` matrix."""
    iu, ju = np.triu_indices(p)
    full = np.empty((m, p, m, p), dtype=packed.dtype)
    blk = np.empty((p, p), dtype=packed.dtype)
    k = 0
    for j in range(m):
        for l in range(j, m):
            blk[iu, ju] = packed[k]
            blk[ju, iu] = packed[k]
            full[j, :, l, :] = blk
            if l != j:
                full[l, :, j, :] = blk.T  # blk is symmetric; .T for clarity
            k += 1
    return full.reshape(m * p, m * p)


def mnlogit_block(exog, y, beta, hessian: bool = False, weights=None):
    """Log-likelihood, gradient and packed Hessian of one block of rows.

    Parameters
    ----------
    exog : ndarray, (c, p)
        Regressors of the block.
    y : ndarray of int, (c,)
        Category codes ``0..J-1`` (0 is the base).
    beta : ndarray, (p, J-1)
        Coefficients of categories ``1..J-1``.
    hessian : bool
        Also return the packed Hessian sums.
    weights : ndarray, (c,), optional
        Row weights: every sum below becomes ``sum_i w_i (...)``.

    Returns
    -------
    loglike : float
        ``sum_i eta_{i,y_i} - log sum_k exp(eta_ik)`` over the block.
    grad : ndarray, (p, J-1)
        ``sum_i x_i (d_ij - P_ij)``; ``grad.ravel(order="F")`` is the score.
    hess_packed : ndarray, (J(J-1)/2, p(p+1)/2) or None
        ``sum_i w_i,(j,l) vech(x_i x_i')`` with
        ``w_i,(j,l) = P_ij P_il - 1{j=l} P_ij`` (pairs ``j <= l``); the
        blocks of the Hessian. Sums over blocks are the full-data sums;
        :func:`_unpack_blocks` gives the square Hessian.
    """
    # category-major layout (J-1, c): reductions over categories then run
    # along contiguous rows (2x faster than axis-1 reductions of (c, J-1))
    eta = beta.T @ exog.T
    shift = np.maximum(eta.real.max(axis=0), 0.0)   # includes the base's 0
    prob = np.exp(eta - shift)
    denom = np.exp(-shift) + prob.sum(axis=0)
    rows = np.flatnonzero(y > 0)
    cats = y[rows] - 1
    if weights is None:
        ll = eta[cats, rows].sum() - (shift.sum() + np.log(denom).sum())
    else:
        ll = weights[rows] @ eta[cats, rows] - weights @ (shift + np.log(denom))
    prob /= denom
    hp = None
    if hessian:
        xt = np.ascontiguousarray(exog.T)
        pw = _pair_weights(prob, diag=prob)
        hp = _packed_gram(xt, pw if weights is None else pw * weights)
    resid = np.negative(prob, out=prob)
    resid[cats, rows] += 1.0
    grad = exog.T @ (resid.T if weights is None else resid.T * weights[:, None])
    return ll, grad, hp


def _hessian_rows(p: int, m: int) -> int:
    per_row = 8 * (p * (p + 1) // 2 + m * (m + 1) // 2 + 3 * (m + p))
    return int(min(65536, max(512, _HESS_BLOCK_BYTES // per_row)))


def mnlogit_loglike_score(exog, y, beta, chunksize: int | None = None, weights=None):
    """Log-likelihood and gradient matrix, summed block by block.

    Returns ``(loglike, grad)`` with ``grad`` of shape ``(p, J-1)``
    (``grad.ravel(order="F")`` is statsmodels' score). Memory beyond the
    data is O(chunksize x (J-1)) per thread.
    """
    n, p = exog.shape
    dtype = np.result_type(exog, beta)
    rows = chunksize or DEFAULT_CHUNK_ROWS

    def part(lo, hi):
        ll = dtype.type(0)
        grad = np.zeros((p, beta.shape[1]), dtype=dtype)
        for sl in row_blocks(hi, rows, lo):
            llc, gc, _ = mnlogit_block(exog[sl], y[sl], beta,
                                       weights=None if weights is None else weights[sl])
            ll += llc
            grad += gc
        return ll, grad

    return block_sum(part, n)


def mnlogit_hessian(exog, y, beta, chunksize: int | None = None, weights=None):
    """Exact Hessian ``d2 log L / d vec(beta) d vec(beta)'`` (negative definite).

    ``H[(j, a), (l, b)] = -sum_i P_ij (1{j=l} - P_il) x_ia x_ib`` in the flat
    params order (category-major). Assembled from packed symmetric blocks,
    chunked over rows (``chunksize`` rows; default sized for ~8 MB of
    temporaries per thread).
    """
    n, p = exog.shape
    m = beta.shape[1]
    rows = chunksize or _hessian_rows(p, m)
    dtype = np.result_type(exog, beta)

    def part(lo, hi):
        acc = np.zeros((m * (m + 1) // 2, p * (p + 1) // 2), dtype=dtype)
        for sl in row_blocks(hi, rows, lo):
            xt = np.ascontiguousarray(exog[sl].T)
            e = _prob_t(xt, beta)
            pw = _pair_weights(e, diag=e)
            acc += _packed_gram(xt, pw if weights is None else pw * weights[sl])
        return (acc,)

    (acc,) = block_sum(part, n)
    # weights were P_j P_l - 1{j=l} P_j, i.e. already the Hessian's sign
    return _unpack_blocks(acc, p, m)


def _prob_t(xt, beta):
    """``(J-1, c)`` probabilities ``P_ij`` (j >= 1) of a transposed block
    ``xt`` ``(p, c)``, the row maximum (with the base's 0) subtracted."""
    eta = beta.T @ xt
    shift = np.maximum(eta.real.max(axis=0), 0.0)
    e = np.exp(eta - shift)
    e /= np.exp(-shift) + e.sum(axis=0)
    return e


def _resid_t(xt, y, beta):
    """``(J-1, c)`` residuals ``d_ij - P_ij`` of a transposed block."""
    r = -_prob_t(xt, beta)
    cols = np.flatnonzero(y > 0)
    r[y[cols] - 1, cols] += 1.0
    return r


def mnlogit_score_outer(exog, y, beta, chunksize: int | None = None, weights=None):
    """Outer product of the per-observation scores, ``sum_i s_i s_i'``.

    ``s_i = (d_i - P_i) kron x_i`` in params order, so block ``(j, l)`` is
    ``sum_i r_ij r_il x_i x_i'`` with ``r_ij = d_ij - P_ij``: the same packed
    products as the Hessian, never forming the ``n x p(J-1)`` score matrix.
    This is the "meat" of the HC0 sandwich; with ``weights`` the sum is
    ``sum_i w_i s_i s_i'`` (pass ``w**2`` for the scores ``w_i s_i``).
    """
    n, p = exog.shape
    m = beta.shape[1]
    rows = chunksize or _hessian_rows(p, m)

    def part(lo, hi):
        acc = np.zeros((m * (m + 1) // 2, p * (p + 1) // 2))
        for sl in row_blocks(hi, rows, lo):
            xt = np.ascontiguousarray(exog[sl].T)
            r = _resid_t(xt, y[sl], beta)
            pw = _pair_weights(r)
            acc += _packed_gram(xt, pw if weights is None else pw * weights[sl])
        return (acc,)

    (acc,) = block_sum(part, n)
    return _unpack_blocks(acc, p, m)


def mnlogit_cluster_meat(exog, y, beta, groups, chunksize: int | None = None,
                         weights=None):
    """``sum_g S_g S_g'`` with ``S_g`` the sum of the scores in cluster ``g``
    (the weighted scores ``w_i s_i`` with ``weights``).

    ``groups`` are integer codes ``0..G-1`` (one per row). Memory is
    O(G x p(J-1)) for the cluster sums plus one block of scores.
    """
    n, p = exog.shape
    m = beta.shape[1]
    n_groups = int(groups.max()) + 1 if n else 0
    sums = np.zeros((n_groups, m * p))
    rows = chunksize or max(256, min(DEFAULT_CHUNK_ROWS, _HESS_BLOCK_BYTES // (8 * m * p)))
    for sl in row_blocks(n, rows):
        xc = exog[sl]
        r = _resid_t(np.ascontiguousarray(xc.T), y[sl], beta)
        if weights is not None:
            r = r * weights[sl]
        s = (r.T[:, :, None] * xc[:, None, :]).reshape(len(xc), m * p)
        g = groups[sl]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        sums[gs[starts]] += np.add.reduceat(s[order], starts, axis=0)
    return sums.T @ sums


def gram(exog, chunksize: int | None = None, weights=None) -> np.ndarray:
    """``X'X`` (``X'WX`` with ``weights``) summed over row blocks (an overflow
    gives ``inf`` silently: :func:`column_scale_problems` names the column)."""
    n, p = exog.shape
    xtx = np.zeros((p, p))
    with np.errstate(over="ignore", invalid="ignore"):
        for sl in row_blocks(n, chunksize or 4 * DEFAULT_CHUNK_ROWS):
            xc = exog[sl]
            xtx += xc.T @ (xc if weights is None else xc * weights[sl, None])
    return xtx


def collinear_columns(xtx: np.ndarray, rtol: float = 1e-10) -> list[int]:
    """Indices of columns that are (numerically) combinations of earlier ones.

    Sequential Gram-Schmidt on ``X'X``: column ``k`` is dependent when its
    squared residual on the kept earlier columns is below
    ``rtol * ||x_k||^2``.
    """
    p = xtx.shape[0]
    kept: list[int] = []
    bad: list[int] = []
    for k in range(p):
        diag = xtx[k, k]
        if diag <= 0:
            bad.append(k)
            continue
        if kept:
            g = xtx[np.ix_(kept, kept)]
            v = xtx[kept, k]
            try:
                coef = linalg.solve(g, v, assume_a="pos")
            except (linalg.LinAlgError, ValueError):
                coef = np.linalg.lstsq(g, v, rcond=None)[0]
            res = diag - v @ coef
        else:
            res = diag
        if res <= rtol * diag:
            bad.append(k)
        else:
            kept.append(k)
    return bad


@dataclass
class BohningBound:
    """Böhning's fixed bound ``B = A kron X'X``, ``A = (I - 1 1'/J) / 2``.

    ``-H(beta) <= B`` for every ``beta`` (Loewner order). ``X'X`` is factored
    once (Cholesky); :meth:`solve` applies ``B^{-1} = 2 (I + 1 1') kron
    (X'X)^{-1}`` to a ``p x (J-1)`` gradient matrix ``G``::

        B^{-1} vec(G) = vec(2 (X'X)^{-1} (G + G 1 1')).

    Parameters
    ----------
    xtx : ndarray, (p, p)
        ``X'X``.
    n_categories : int
        ``J``, including the base category.
    names : list of str, optional
        Regressor names, used in the error for a singular ``X'X``.
    """

    xtx: np.ndarray
    n_categories: int
    names: list | None = None
    _chol: tuple = field(init=False, repr=False)

    def __post_init__(self):
        self.xtx = np.asarray(self.xtx, dtype=float)
        if self.n_categories < 2:
            raise ValueError(f"need at least 2 categories, got {self.n_categories}")
        if not np.all(np.isfinite(self.xtx)):
            raise ValueError("X'X is not finite: a regressor has NaN, infinite or too "
                             "large values (see column_scale_problems); rescale it")
        try:
            self._chol = linalg.cho_factor(self.xtx, lower=False, check_finite=True)
            ok = True
        except linalg.LinAlgError:
            ok = False
        bad = collinear_columns(self.xtx)
        if not ok or bad:
            names = self.names or [f"x{k}" for k in range(self.xtx.shape[0])]
            which = ", ".join(repr(names[k]) for k in bad) or "(not located)"
            raise ValueError(
                "exog is rank deficient: X'X is singular, so the coefficients are not "
                f"identified. Column(s) {which} are linear combinations of earlier "
                "columns (or all zero); drop them.")

    @property
    def n_params(self) -> int:
        return self.xtx.shape[0] * (self.n_categories - 1)

    def matrix(self) -> np.ndarray:
        """The bound ``B`` as a square matrix in params order."""
        m = self.n_categories - 1
        a = 0.5 * (np.eye(m) - np.ones((m, m)) / self.n_categories)
        return np.kron(a, self.xtx)

    def solve(self, grad: np.ndarray) -> np.ndarray:
        """``B^{-1} g`` for a gradient matrix ``g`` of shape ``(p, J-1)``."""
        rhs = 2.0 * (grad + grad.sum(axis=1, keepdims=True))
        return linalg.cho_solve(self._chol, rhs, check_finite=False)


def bohning_bound(exog, n_categories: int) -> np.ndarray:
    """Böhning's bound on the negative Hessian of the multinomial logit.

    Parameters
    ----------
    exog : array_like, (n, p)
        Regressors.
    n_categories : int
        Number of categories ``J`` (base included).

    Returns
    -------
    ndarray, (p(J-1), p(J-1))
        ``B = 1/2 (I_{J-1} - 1 1'/J) kron X'X`` in statsmodels' params order;
        ``B + H(beta)`` is positive semi-definite for every ``beta``.
    """
    x = np.asarray(exog, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"exog must be 2-D, got {x.ndim} dimension(s)")
    m = int(n_categories) - 1
    if m < 1:
        raise ValueError(f"need at least 2 categories, got {n_categories}")
    a = 0.5 * (np.eye(m) - np.ones((m, m)) / (m + 1))
    return np.kron(a, gram(x))




def column_scale_problems(exog, xtx, names=None,
                          chunksize: int | None = None) -> list[str]:
    """Descriptions of the columns whose values are too large for ``X'X``.

    A column whose sum of squares (the diagonal of ``xtx = X'X``) is not
    finite or beyond 1e300 overflows ``X'X``, and every product of the
    likelihood loses all precision before that:
    ``"column 'x' has values up to 1e+300"``. Empty (and no pass over the
    data) when every column is usable.
    """
    diag = np.diag(np.asarray(xtx))
    bad = np.flatnonzero(~(diag <= 1e300))
    if not len(bad):
        return []
    amax = np.zeros(len(bad))
    for sl in row_blocks(exog.shape[0], chunksize or 4 * DEFAULT_CHUNK_ROWS):
        with np.errstate(invalid="ignore"):
            np.maximum(amax, np.abs(exog[sl, bad]).max(axis=0), out=amax)
    names = names or [f"x{k}" for k in range(exog.shape[1])]
    return [f"column {names[k]!r} has values up to {a:.3g}" for k, a in zip(bad, amax)]


def mnlogit_loglikeobs(exog, y, beta, chunksize: int | None = None):
    """``d_ij log P_ij`` as an ``(n, J)`` array (statsmodels' layout), filled
    block by block: memory is the output plus one block."""
    n, _ = exog.shape
    m = beta.shape[1]
    out = np.zeros((n, m + 1), dtype=np.result_type(exog, beta))
    rows = np.arange(n)
    for sl in row_blocks(n, chunksize or DEFAULT_CHUNK_ROWS):
        eta = exog[sl] @ beta
        lse, _ = _log_softmax_rest(eta)
        yc = y[sl]
        pick = np.where(yc > 0, eta[np.arange(len(yc)), np.maximum(yc - 1, 0)], 0.0)
        out[rows[sl], yc] = pick - lse
    return out


def _margins_rows(p: int, n_cat: int) -> int:
    per_row = 8 * (4 * p * n_cat * (n_cat - 1) + 4 * p * n_cat)
    return int(min(8192, max(16, _HESS_BLOCK_BYTES // per_row)))


def _margins_block(xb, beta, ey: bool, ex: bool, w=None):
    """Sums over the rows of ``xb`` of the marginal effects ``(p, J)`` and of
    their Jacobian ``(p, J, J-1, p)`` (indices ``k, j, l-1, m``; formulas in
    the module docstring); weighted sums with the row weights ``w``."""
    c, p = xb.shape
    zb = np.column_stack((np.zeros(p), beta))            # (p, J), base first
    eta = xb @ beta
    lse, prest = _log_softmax_rest(eta)
    prob = np.column_stack((np.exp(-lse), prest))         # (c, J)
    dev = zb[None, :, :] - (prob @ zb.T)[:, :, None]      # D_ikj, (c, p, J)
    pl = prob[:, 1:]                                      # (c, J-1)
    dl = dev[:, :, 1:]                                    # (c, p, J-1)
    cats = np.arange(1, beta.shape[1] + 1)
    if ey:
        eff = dev
        a = np.broadcast_to(-(pl[:, None, :] * dl)[:, :, None, :],
                            (c, p, zb.shape[1], beta.shape[1])).copy()
        cm = -np.broadcast_to(pl[:, None, :], (c, zb.shape[1], beta.shape[1])).copy()
        cm[:, cats, cats - 1] += 1.0                      # 1{j=l} - P_il
    else:
        eff = prob[:, None, :] * dev
        pp = prob[:, :, None] * pl[:, None, :]            # P_ij P_il, (c, J, J-1)
        a = -pp[:, None, :, :] * (dev[:, :, :, None] + dl[:, :, None, :])
        a[:, :, cats, cats - 1] += eff[:, :, 1:]
        cm = -pp
        cm[:, cats, cats - 1] += pl                       # P_ij (1{j=l} - P_il)
    if ex:
        eff = eff * xb[:, :, None]
        a *= xb[:, :, None, None]
    xw = xb if w is None else xb * w[:, None]
    if ex:
        ctab = np.einsum("ik,ijl->kjl", xw, cm)           # (p, J, J-1)
    else:
        csum = cm.sum(axis=0) if w is None else np.einsum("i,ijl->jl", w, cm)
        ctab = np.broadcast_to(csum, (p,) + cm.shape[1:])
    jac = (a.reshape(c, -1).T @ xw).reshape(p, zb.shape[1], beta.shape[1], p)
    idx = np.arange(p)
    jac[idx, :, :, idx] += ctab
    return (eff.sum(axis=0) if w is None else np.einsum("i,ikj->kj", w, eff)), jac


def mnlogit_margins(exog, beta, method: str = "dydx", chunksize: int | None = None,
                    weights=None):
    """Average marginal effects over the rows of ``exog`` and their exact
    Jacobian with respect to the parameters, summed block by block.

    Parameters
    ----------
    exog : ndarray, (n, p)
        Rows at which the effects are averaged (one row for effects at the
        mean, median, ...).
    beta : ndarray, (p, J-1)
    method : {"dydx", "eydx", "dyex", "eyex"}
        statsmodels' transforms: ``dP/dx``, ``dlogP/dx``, ``dP/dlogx``,
        ``dlogP/dlogx``, applied to each row before averaging.
    weights : ndarray, (n,), optional
        Weights of the average (Stata's ``margins`` with weights):
        ``sum_i w_i e_i / sum_i w_i``.

    Returns
    -------
    effects : ndarray, (p, J)
        Average effect of regressor ``k`` on ``P_j`` (column ``j`` is
        category ``j``, base first) in statsmodels' layout.
    jacobian : ndarray, (p J, p (J-1))
        ``d vec(effects) / d params`` with ``vec`` in column-major order
        (effect index ``k + p j``) and params in statsmodels' flat order
        (``m + p (l-1)``); ``jacobian @ cov_params @ jacobian.T`` is the
        delta-method covariance. Memory is O(block x p^2 J^2 / p).
    """
    n, p = exog.shape
    m = beta.shape[1]
    ey, ex = method.startswith("ey"), method.endswith("ex")
    rows = chunksize or _margins_rows(p, m + 1)

    def part(lo, hi):
        eff = np.zeros((p, m + 1))
        jac = np.zeros((p, m + 1, m, p))
        for sl in row_blocks(hi, rows, lo):
            e, j = _margins_block(exog[sl], beta, ey, ex,
                                  None if weights is None else weights[sl])
            eff += e
            jac += j
        return eff, jac

    eff, jac = block_sum(part, n, min_rows=max(rows, 256))
    total = n if weights is None else float(np.sum(weights))
    eff /= total
    jac /= total
    return eff, jac.transpose(1, 0, 2, 3).reshape((m + 1) * p, m * p)
