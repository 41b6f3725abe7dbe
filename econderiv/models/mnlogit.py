"""Multinomial logit with exact chunked derivatives and Böhning's bound.

Model
-----
Outcome ``y_i`` takes one of ``J`` categories ``0, ..., J-1``; category 0 is
the base. With regressors ``x_i`` (length ``p``) and coefficients
``beta = [beta_1, ..., beta_{J-1}]`` (a ``p x (J-1)`` matrix, ``beta_0 = 0``)
the linear predictors are ``eta_ij = x_i' beta_j`` (``eta_i0 = 0``) and

    P_ij = exp(eta_ij) / sum_k exp(eta_ik),
    log L = sum_i [eta_{i,y_i} - log sum_k exp(eta_ik)].

Derivatives (``d_ij = 1{y_i = j}``, ``j, l = 1..J-1``)::

    d log L / d beta_j          =  sum_i (d_ij - P_ij) x_i
    d2 log L / d beta_j d beta_l' = -sum_i P_ij (1{j=l} - P_il) x_i x_i'

Layout (as statsmodels' ``MNLogit``): the flat parameter vector is
``beta.ravel(order="F")``, i.e. ``[beta_1; beta_2; ...]``, the score is a 1-D
array in that order and the Hessian is square in that order (block ``(j, l)``
is ``p x p``).

Böhning's bound (Böhning 1992, Ann. Inst. Statist. Math. 44:197-200)
-------------------------------------------------------------------
For every ``beta``::

    -H(beta) <= B = A kron X'X,   A = 1/2 (I_{J-1} - 1 1' / J)

(Loewner order), and ``B^{-1} = 2 (I + 1 1') kron (X'X)^{-1}``. The MM step
``beta <- beta + B^{-1} g`` never decreases the log-likelihood. It costs two
``n x p x (J-1)`` products per iteration and a ``p x p`` triangular solve.

Numerics and memory
-------------------
The softmax subtracts the row maximum (including the base category's 0), so
linear predictors of any size are safe (statsmodels' ``cdf`` overflows
beyond ~709). Everything is a sum over blocks of rows: :func:`mnlogit_block`
returns the block's log-likelihood, gradient and (packed) Hessian, and the
chunked drivers add blocks, so memory beyond the data is O(chunk x (J-1)) for
the score and O(chunk x p^2) for the Hessian. The same block kernel can be
mapped over dask partitions and the results summed.

The row range is split into one contiguous part per CPU (module setting
``N_THREADS``), each summed by a Python thread with BLAS pinned to one thread
(threadpoolctl): numpy releases the GIL, and many small multi-threaded BLAS
calls are slow, badly so on a shared machine.

The Hessian of a block is assembled from "packed" Gram products: with
``Q_i = vech(x_i x_i')`` (``p(p+1)/2`` products per row) and weights
``w_i,(j,l) = P_ij P_il - 1{j=l} P_ij`` for the ``J(J-1)/2`` pairs ``j <= l``,
all blocks are ``W' Q``: one matrix product, symmetric by construction.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg
from statsmodels.base.model import LikelihoodModel, LikelihoodModelResults
from statsmodels.discrete import discrete_model as smd
from statsmodels.tools._decorators import cache_readonly
from statsmodels.tools.sm_exceptions import (ConvergenceWarning, HessianInversionWarning,
                                             PerfectSeparationWarning)

__all__ = [
    "MNLogit",
    "MNLogitResults",
    "BohningBound",
    "bohning_bound",
    "mnlogit_block",
    "mnlogit_loglike_score",
    "mnlogit_hessian",
    "mnlogit_score_outer",
    "mnlogit_cluster_meat",
    "fit_bohning",
]

#: rows per block for the log-likelihood and score
DEFAULT_CHUNK_ROWS = 4096
#: bytes targeted for the per-block temporaries of the Hessian
_HESS_BLOCK_BYTES = 8 * 2**20


# ----------------------------------------------------------------------------
# Kernels: plain array functions
# ----------------------------------------------------------------------------

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


def mnlogit_block(exog, y, beta, hessian: bool = False):
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
    ll = eta[cats, rows].sum() - (shift.sum() + np.log(denom).sum())
    prob /= denom
    hp = None
    if hessian:
        xt = np.ascontiguousarray(exog.T)
        hp = _packed_gram(xt, _pair_weights(prob, diag=prob))
    resid = np.negative(prob, out=prob)
    resid[cats, rows] += 1.0
    grad = exog.T @ resid.T
    return ll, grad, hp


def _chunks(n: int, rows: int, start: int = 0):
    rows = max(1, int(rows))
    for lo in range(start, n, rows):
        yield slice(lo, min(n, lo + rows))


# Parallelism: the row range is split into one contiguous part per thread;
# each thread sums its blocks with single-threaded BLAS. (Multi-threaded
# OpenBLAS inside many small products is slow, and catastrophically so when
# the cores are shared with other processes.) Needs threadpoolctl to pin
# BLAS to one thread; without it the blocks run sequentially.
try:  # pragma: no cover - depends on the environment
    from threadpoolctl import ThreadpoolController as _TPC
except ImportError:  # pragma: no cover
    _TPC = None

_CONTROLLER = None
_EXECUTOR = None
#: worker threads for the chunked kernels (None: number of CPUs, at most 8)
N_THREADS: int | None = None


def _n_threads() -> int:
    if _TPC is None:
        return 1
    if N_THREADS is not None:
        return max(1, int(N_THREADS))
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        ncpu = os.cpu_count() or 1
    return max(1, min(8, ncpu))


@contextmanager
def _blas_single_thread():
    """Pin BLAS to one thread while the block threads run."""
    global _CONTROLLER
    if _TPC is None:
        yield
        return
    if _CONTROLLER is None:
        _CONTROLLER = _TPC()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


def _parallel_sum(part, n: int):
    """``sum(part(lo, hi))`` over contiguous row ranges, one per thread."""
    global _EXECUTOR
    k = min(_n_threads(), max(1, n // 4096))
    if k <= 1:
        with _blas_single_thread() if _TPC is not None else nullcontext():
            return part(0, n)
    edges = np.linspace(0, n, k + 1).astype(int)
    if _EXECUTOR is None or _EXECUTOR._max_workers < k:
        _EXECUTOR = ThreadPoolExecutor(max_workers=k, thread_name_prefix="econderiv")
    with _blas_single_thread():
        futures = [_EXECUTOR.submit(part, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        parts = [f.result() for f in futures]
    total = parts[0]
    for other in parts[1:]:
        total = tuple(x + y for x, y in zip(total, other))
    return total


def _hessian_rows(p: int, m: int) -> int:
    per_row = 8 * (p * (p + 1) // 2 + m * (m + 1) // 2 + 3 * (m + p))
    return int(min(65536, max(512, _HESS_BLOCK_BYTES // per_row)))


def mnlogit_loglike_score(exog, y, beta, chunksize: int | None = None):
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
        for sl in _chunks(hi, rows, lo):
            llc, gc, _ = mnlogit_block(exog[sl], y[sl], beta)
            ll += llc
            grad += gc
        return ll, grad

    return _parallel_sum(part, n)


def mnlogit_hessian(exog, y, beta, chunksize: int | None = None):
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
        for sl in _chunks(hi, rows, lo):
            xt = np.ascontiguousarray(exog[sl].T)
            eta = beta.T @ xt
            shift = np.maximum(eta.real.max(axis=0), 0.0)
            e = np.exp(eta - shift)
            e /= np.exp(-shift) + e.sum(axis=0)
            acc += _packed_gram(xt, _pair_weights(e, diag=e))
        return (acc,)

    (acc,) = _parallel_sum(part, n)
    # weights were P_j P_l - 1{j=l} P_j, i.e. already the Hessian's sign
    return _unpack_blocks(acc, p, m)


def _resid_t(xt, y, beta):
    """``(J-1, c)`` residuals ``d_ij - P_ij`` of a transposed block."""
    eta = beta.T @ xt
    shift = np.maximum(eta.max(axis=0), 0.0)
    e = np.exp(eta - shift)
    e /= np.exp(-shift) + e.sum(axis=0)
    r = -e
    cols = np.flatnonzero(y > 0)
    r[y[cols] - 1, cols] += 1.0
    return r


def mnlogit_score_outer(exog, y, beta, chunksize: int | None = None):
    """Outer product of the per-observation scores, ``sum_i s_i s_i'``.

    ``s_i = (d_i - P_i) kron x_i`` in params order, so block ``(j, l)`` is
    ``sum_i r_ij r_il x_i x_i'`` with ``r_ij = d_ij - P_ij``: the same packed
    products as the Hessian, never forming the ``n x p(J-1)`` score matrix.
    This is the "meat" of the HC0 sandwich.
    """
    n, p = exog.shape
    m = beta.shape[1]
    rows = chunksize or _hessian_rows(p, m)

    def part(lo, hi):
        acc = np.zeros((m * (m + 1) // 2, p * (p + 1) // 2))
        for sl in _chunks(hi, rows, lo):
            xt = np.ascontiguousarray(exog[sl].T)
            r = _resid_t(xt, y[sl], beta)
            acc += _packed_gram(xt, _pair_weights(r))
        return (acc,)

    (acc,) = _parallel_sum(part, n)
    return _unpack_blocks(acc, p, m)


def mnlogit_cluster_meat(exog, y, beta, groups, chunksize: int | None = None):
    """``sum_g S_g S_g'`` with ``S_g`` the sum of the scores in cluster ``g``.

    ``groups`` are integer codes ``0..G-1`` (one per row). Memory is
    O(G x p(J-1)) for the cluster sums plus one block of scores.
    """
    n, p = exog.shape
    m = beta.shape[1]
    n_groups = int(groups.max()) + 1 if n else 0
    sums = np.zeros((n_groups, m * p))
    rows = chunksize or max(256, min(DEFAULT_CHUNK_ROWS, _HESS_BLOCK_BYTES // (8 * m * p)))
    for sl in _chunks(n, rows):
        xc = exog[sl]
        r = _resid_t(np.ascontiguousarray(xc.T), y[sl], beta)
        s = (r.T[:, :, None] * xc[:, None, :]).reshape(len(xc), m * p)
        g = groups[sl]
        order = np.argsort(g, kind="stable")
        gs = g[order]
        starts = np.flatnonzero(np.r_[True, gs[1:] != gs[:-1]])
        sums[gs[starts]] += np.add.reduceat(s[order], starts, axis=0)
    return sums.T @ sums


def _gram(exog, chunksize: int | None = None) -> np.ndarray:
    """``X'X`` summed over row blocks."""
    n, p = exog.shape
    xtx = np.zeros((p, p))
    for sl in _chunks(n, chunksize or 4 * DEFAULT_CHUNK_ROWS):
        xc = exog[sl]
        xtx += xc.T @ xc
    return xtx


def _collinear_columns(xtx: np.ndarray, rtol: float = 1e-10) -> list[int]:
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
        try:
            self._chol = linalg.cho_factor(self.xtx, lower=False, check_finite=True)
            ok = True
        except linalg.LinAlgError:
            ok = False
        bad = _collinear_columns(self.xtx)
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
    return np.kron(a, _gram(x))


# ----------------------------------------------------------------------------
# Optimizers
# ----------------------------------------------------------------------------

def _lbfgs_direction(g, s_hist, y_hist, bound):
    """Two-loop recursion: ``H_k g`` with ``H_k`` the L-BFGS inverse of the
    negative Hessian built on the initial matrix ``gamma B^{-1}``."""
    q = g.copy()
    alphas = []
    for s_k, y_k in zip(reversed(s_hist), reversed(y_hist)):
        a = np.sum(s_k * q) / np.sum(s_k * y_k)
        alphas.append(a)
        q -= a * y_k
    r = bound.solve(q)
    if s_hist:
        # scale B^{-1} to the curvature seen along the last step
        s_k, y_k = s_hist[-1], y_hist[-1]
        r *= np.sum(s_k * y_k) / np.sum(y_k * bound.solve(y_k))
    for (s_k, y_k), a in zip(zip(s_hist, y_hist), reversed(alphas)):
        b = np.sum(y_k * r) / np.sum(s_k * y_k)
        r += (a - b) * s_k
    return r


def fit_bohning(loglike_score, bound: BohningBound, beta0, *, hessian=None,
                hessian_approx=None,
                accelerate: bool = True, maxiter: int | None = None, tol: float = 1e-12,
                switch_tol: float = 0.1, memory: int = 10, max_newton: int = 50,
                callback=None):
    """Maximise the multinomial logit log-likelihood with Böhning's bound.

    Parameters
    ----------
    loglike_score : callable
        ``beta -> (loglike, grad)`` with ``grad`` shaped like ``beta``
        ``(p, J-1)``; a sum over rows (e.g. :func:`mnlogit_loglike_score`).
    bound : BohningBound
        The fixed curvature bound ``B``.
    beta0 : ndarray, (p, J-1)
        Start.
    hessian : callable, optional
        ``beta -> H`` (square, params order): used to certify convergence
        and for the final Newton steps of the accelerated method. Without
        it the L-BFGS phase runs until ``g'B^{-1}g <= tol``.
    hessian_approx : callable, optional
        A cheaper approximation of the Hessian (e.g. from a subsample of the
        rows, scaled up) used for the first Newton/chord steps; convergence is
        always certified with ``hessian``.
    accelerate : bool
        False: plain MM ``beta <- beta + B^{-1} g`` (monotone, linear
        convergence; an iterate whose log-likelihood is lower by rounding
        stops the iteration, so the path never decreases).
        True: L-BFGS whose initial inverse Hessian is ``gamma_k B^{-1}``
        (``gamma_k = s'y / y'B^{-1}y``), with Armijo backtracking (each
        accepted step increases the log-likelihood) and a restart from the
        MM direction when the quasi-Newton direction is not an ascent
        direction. Once ``g'B^{-1}g <= switch_tol`` the exact Hessian is
        computed: if the score statistic ``g'(-H)^{-1}g <= tol`` the fit has
        converged, and that Hessian (at the final estimate) serves the
        standard errors. Otherwise Newton steps follow (backtracking, each
        increasing the log-likelihood); later steps reuse the factorised
        Hessian (chord steps, one pass each) while they shrink the score
        statistic at least fourfold, and when its chord estimate falls below
        ``tol / 10`` the Hessian is recomputed there to certify convergence.
        Typically two Hessians in all.
    maxiter : int
        Iterations (default 500 accelerated, 10000 plain MM).
    tol : float
        Convergence when the score statistic ``g'(-H)^{-1}g`` (twice the
        predicted remaining gain in log-likelihood; every coefficient is then
        within about ``sqrt(tol)`` standard errors of the MLE) is at most
        ``tol`` (default 1e-12; Stata's ``nrtolerance`` default for the same
        quantity is 1e-5). The plain MM iteration measures ``g'B^{-1}g``
        instead, a lower bound (``B^{-1} <= (-H)^{-1}``).
    switch_tol : float
        ``g'B^{-1}g`` below which the accelerated method turns to Newton
        (default 0.1: the quasi-Newton phase does the global work, Newton
        the local convergence).
    memory : int
        L-BFGS memory.
    max_newton : int
        Maximum number of Newton and chord steps.
    callback : callable, optional
        ``callback(beta)`` after every iteration.

    Returns
    -------
    dict
        ``params`` (p, J-1), ``llf``, ``grad``, ``iterations``, ``fcalls``,
        ``hcalls`` (full Hessians), ``hcalls_approx`` (approximate ones),
        ``converged``, ``criterion`` (final ``g' C g``),
        ``gradient_norm`` (max abs of the score), ``llf_path``
        (log-likelihood after each iteration, start first), ``message``,
        ``phase_iterations``, and ``hessian``/``hessian_at`` (the last exact
        Hessian and the point where it was evaluated).
    """
    if maxiter is None:
        maxiter = 500 if accelerate else 10000
    beta = np.array(beta0, dtype=float)
    ll, g = loglike_score(beta)
    fcalls, hcalls = 1, 0
    if not np.isfinite(ll):
        raise ValueError("log-likelihood is not finite at the start values")
    path = [float(ll)]
    converged = False
    message = "maximum number of iterations reached"
    it = 0
    crit = float(np.sum(g * bound.solve(g)))
    hess_val, hess_at = None, None

    def result(**extra):
        out = dict(params=beta, llf=float(ll), grad=g, iterations=it, fcalls=fcalls,
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
            ll_new, g_new = loglike_score(beta_new)
            fcalls += 1
            # the bound guarantees ll_new >= ll in exact arithmetic; a smaller
            # value is rounding at the optimum: stop there, so that the path
            # of accepted iterates never decreases
            if not ll_new >= ll:
                message = "no further increase possible (rounding level)"
                converged = crit <= 1e2 * tol
                break
            it += 1
            beta, ll, g = beta_new, ll_new, g_new
            path.append(float(ll))
            crit = float(np.sum(g * bound.solve(g)))
            if callback is not None:
                callback(beta)
        return result(phase_iterations={"mm": it, "newton": 0})

    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    n_lbfgs = n_newton = 0
    target = max(switch_tol, tol) if hessian is not None else tol
    stalled = False
    flat = 0
    rounding = 8 * np.finfo(float).eps
    while it < maxiter and crit > target:
        direction = _lbfgs_direction(g, s_hist, y_hist, bound)
        slope = float(np.sum(g * direction))
        if not (slope > 0 and np.isfinite(slope)):
            direction = bound.solve(g)
            slope = float(np.sum(g * direction))
            s_hist.clear()
            y_hist.clear()
        step = 1.0
        accepted = False
        for _ in range(20):
            beta_new = beta + step * direction
            ll_new, g_new = loglike_score(beta_new)
            fcalls += 1
            if np.isfinite(ll_new) and ll_new >= ll + 1e-4 * step * slope:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            # the MM step cannot decrease the log-likelihood; if it does not
            # increase it either we are at rounding level
            beta_new = beta + bound.solve(g)
            ll_new, g_new = loglike_score(beta_new)
            fcalls += 1
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
        if sy > 1e-12 * math.sqrt(float(np.sum(s_k * s_k) * np.sum(y_k * y_k))):
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
        converged = crit <= tol
        if converged:
            message = "converged (g'B^-1 g <= tol)"
        return result(phase_iterations={"lbfgs": n_lbfgs, "newton": 0})

    if it >= maxiter and not stalled:
        return result(phase_iterations={"lbfgs": n_lbfgs, "newton": 0})

    eps_ll = 64 * np.finfo(float).eps * max(1.0, abs(ll))
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
        gv = g.ravel(order="F")
        dv = linalg.cho_solve(chol, gv)
        lam2 = float(gv @ dv)
        crit = lam2
        if exact and fresh and lam2 <= tol:
            converged, message = True, "converged (score statistic g'(-H)^-1 g <= tol)"
            break
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
        d = dv.reshape(beta.shape, order="F")
        step = 1.0
        accepted = False
        for _ in range(30):
            beta_new = beta + step * d
            ll_new, g_new = loglike_score(beta_new)
            fcalls += 1
            if np.isfinite(ll_new) and ll_new >= ll + 1e-4 * step * lam2 - eps_ll:
                accepted = True
                break
            step *= 0.5
        if not accepted:
            if not exact:
                chol, use_approx = None, False
                continue
            message = "Newton step failed to increase the log-likelihood"
            converged = fresh and crit <= 1e2 * tol
            break
        it += 1
        n_newton += 1
        beta, ll, g = beta_new, ll_new, g_new
        path.append(float(ll))
        if callback is not None:
            callback(beta)
        # later steps reuse this factorisation (chord steps: one pass each)
        fresh, lam2_prev = False, lam2
    return result(phase_iterations={"lbfgs": n_lbfgs, "newton": n_newton},
                  hcalls_approx=n_approx)


# ----------------------------------------------------------------------------
# statsmodels adapter
# ----------------------------------------------------------------------------

_ROBUST_DESCRIPTIONS = {
    "HC0": "Standard Errors are heteroscedasticity robust (HC0)",
    "HC1": "Standard Errors are heteroscedasticity robust (HC1)",
    "cluster": "Standard Errors are robust to cluster correlation (CRV1)",
}


class MNLogitResults(smd.MultinomialResults):
    """statsmodels' ``MultinomialResults`` with a closed-form ``llnull``.

    The constant-only multinomial logit is maximised by the sample shares,
    so ``llnull = sum_j n_j log(n_j / n)`` exactly (statsmodels refits a
    null model numerically, which at 1e7 rows costs minutes and gigabytes).
    """

    @cache_readonly
    def llnull(self):
        counts = np.bincount(self.model.endog, minlength=int(self.model.J)).astype(float)
        counts = counts[counts > 0]
        return float(np.sum(counts * np.log(counts / counts.sum())))


class MNLogit(smd.MNLogit):
    __doc__ = """Multinomial logit: statsmodels' ``MNLogit`` with exact chunked
    derivatives and Böhning's bound.

    A drop-in replacement for :class:`statsmodels.discrete.discrete_model.MNLogit`:
    same constructor, ``from_formula``, params layout ``p x (J-1)`` (first
    category is the base), and statsmodels' ``MultinomialResults``
    (``summary``, ``get_margeff``, ``predict``, ``cov_params``, ``t_test``...).

    What changes
    ------------
    * ``loglike``, ``score``, ``hessian``, ``loglike_and_score``, ``cdf``
      (so ``predict``), ``loglikeobs`` and ``score_obs`` use a stable
      softmax (no overflow for large linear predictors); ``loglike``,
      ``score`` and ``hessian`` are sums over row blocks (``chunksize``),
      the Hessian built from symmetric packed ``X' diag(w) X`` products.
      Every ``method`` of ``fit`` benefits ("newton" included).
    * ``fit(method="bohning")`` (the default): Böhning's bound as the
      curvature model of an L-BFGS method, finished by exact Newton steps;
      ``accelerate=False`` gives the plain monotone MM iteration.
    * ``cov_type`` "HC0", "HC1" and "cluster" are computed block by block
      without the ``n x p(J-1)`` score matrix. HC0 and cluster (CRV1, with
      statsmodels' small-sample factors) equal statsmodels' values; HC1 is
      HC0 times ``n / (n - k)`` (statsmodels' discrete models return the HC0
      matrix under the name "HC1").
    * ``llnull`` is exact (closed form).
    * ``from_formula`` also accepts a string or categorical outcome.
    * Bad input (NaN/inf, a constant outcome, collinear regressors) raises a
      ``ValueError`` naming the columns or counts at fault; non-convergence
      and (quasi-)separation give warnings with advice.

    Parameters
    ----------
    endog, exog, check_rank, missing : as statsmodels' MNLogit
    chunksize : int, optional
        Rows per block for the log-likelihood and score (default 4096).
        The Hessian uses blocks sized for about 8 MB of temporaries per thread.

    Notes
    -----
    ``loglikeobs`` keeps statsmodels' layout: an ``n x J`` array
    ``d_ij log P_ij`` (sum over axis 1 for per-observation values).
    """

    def __init__(self, endog, exog, check_rank=True, chunksize=None, **kwargs):
        self.chunksize = chunksize
        if kwargs.get("missing", "none") in (None, "none"):
            _precheck(endog, exog)
        super().__init__(endog, exog, check_rank=check_rank, **kwargs)
        self._init_keys.append("chunksize")
        self._validate()

    def initialize(self):
        """As statsmodels' ``MultinomialModel.initialize``, with the rank of
        ``exog`` from the chunked ``X'X`` (statsmodels runs a full-size QR,
        slow and memory-hungry for millions of rows). ``X'X`` is kept for
        Böhning's bound. With ``check_rank`` a rank-deficient ``exog`` is an
        error naming the dependent columns."""
        self._xtx = _gram(self.exog)
        p = self.exog.shape[1]
        if self._check_rank:
            bad = _collinear_columns(self._xtx)
            if bad:
                names = list(self.exog_names) if self.exog_names is not None else None
                which = ", ".join(repr(names[k]) if names else str(k) for k in bad)
                raise ValueError(
                    f"exog is rank deficient (rank {p - len(bad)} < {p} columns): "
                    f"column(s) {which} are linear combinations of earlier columns or "
                    "all zero; the coefficients are not identified. Drop them.")
        rank = p
        self.df_model = float(rank - 1)
        self.df_resid = float(self.exog.shape[0] - rank)
        self.endog = self.endog.argmax(1)
        self.J = self.wendog.shape[1]
        self.K = self.exog.shape[1]
        self.df_model *= self.J - 1
        self.df_resid = self.exog.shape[0] - self.df_model - (self.J - 1)

    @classmethod
    def from_formula(cls, formula, data, subset=None, drop_cols=None, *args, **kwargs):
        """As statsmodels' ``from_formula``; the outcome may also be a string or
        categorical column (statsmodels needs numeric codes). Its categories are
        ordered as ``pd.Categorical`` orders them (sorted, or the declared order
        of an ordered categorical); the first is the base. The category labels
        appear in the parameter names."""
        lhs = formula.split("~", 1)[0].strip() if isinstance(formula, str) else None
        labels = None
        if (lhs is not None and isinstance(data, pd.DataFrame) and lhs in data.columns
                and not pd.api.types.is_numeric_dtype(data[lhs])):
            cat = pd.Categorical(data[lhs])
            codes = cat.codes.astype(float)
            codes[codes < 0] = np.nan
            data = data.copy()
            data[lhs] = codes
            labels = [str(c) for c in cat.categories]
        mod = super().from_formula(formula, data, subset, drop_cols, *args, **kwargs)
        if labels is not None:
            mod._ynames_map = {k: labels[int(v)] for k, v in mod._ynames_map.items()}
            ynames = [mod._ynames_map[k] for k in range(int(mod.J))]
            mod.data.cov_names = pd.MultiIndex.from_product(
                (ynames[1:], mod.data.xnames), names=(mod.endog_names, None))
        return mod

    # -- input checks --------------------------------------------------------
    def _validate(self):
        x = self.exog
        if x is None or x.ndim != 2:
            raise ValueError("exog must be a 2-D array (n observations x p regressors)")
        if x.shape[0] != self.wendog.shape[0]:
            raise ValueError(f"endog has {self.wendog.shape[0]} rows but exog has "
                             f"{x.shape[0]}")
        rowsum = self.wendog.sum(axis=1)
        nbad = int(np.sum(rowsum != 1))
        if nbad:
            raise ValueError(f"endog is missing (NaN) or not a single category in {nbad} "
                             "row(s); drop those rows or use missing='drop'")
        if self.J < 2:
            raise ValueError(f"endog has {int(self.J)} distinct value(s); a multinomial "
                             "logit needs at least 2 categories")

    # -- the bound -----------------------------------------------------------
    @property
    def bohning(self) -> BohningBound:
        """The fixed Böhning bound of this design (X'X factored once)."""
        if getattr(self, "_bohning", None) is None:
            xtx = getattr(self, "_xtx", None)
            self._bohning = BohningBound(_gram(self.exog) if xtx is None else xtx,
                                         int(self.J), names=list(self.exog_names))
        return self._bohning

    def bohning_bound(self) -> np.ndarray:
        """Böhning's bound ``B`` (square, params order): ``-hessian(b) <= B``."""
        return self.bohning.matrix()

    # -- derivatives ---------------------------------------------------------
    def _beta(self, params):
        return _as_beta(params, int(self.K), int(self.J))

    def cdf(self, X):
        """Category probabilities from the ``(n, J-1)`` linear predictors.

        ``P_ij = exp(eta_ij) / sum_k exp(eta_ik)`` with ``eta_i0 = 0``,
        computed with the row maximum subtracted (no overflow).
        """
        x = np.asarray(X)
        if x.ndim == 1:
            x = x[None, :]
        shift = np.maximum(x.max(axis=1), 0.0)
        e = np.exp(x - shift[:, None])
        base = np.exp(-shift)
        denom = base + e.sum(axis=1)
        return np.column_stack((base / denom, e / denom[:, None]))

    def loglike(self, params):
        """Log-likelihood ``sum_i [eta_{i,y_i} - log sum_k exp(eta_ik)]``."""
        return self.loglike_and_score(params)[0]

    def score(self, params):
        """Score ``d log L / d beta_j = sum_i (d_ij - P_ij) x_i``, flat params order."""
        return self.loglike_and_score(params)[1]

    def loglike_and_score(self, params):
        """Log-likelihood and score in one pass over the data (block by block)."""
        beta = self._beta(params)
        ll, grad = mnlogit_loglike_score(self.exog, self.endog, beta, self.chunksize)
        return ll, grad.ravel(order="F")

    def hessian(self, params):
        """Exact Hessian, ``-sum_i P_ij (1{j=l} - P_il) x_i x_i'`` per block (j, l).

        Square ``(p(J-1), p(J-1))`` in params order; symmetric by construction;
        summed over row blocks.
        """
        return mnlogit_hessian(self.exog, self.endog, self._beta(params))

    def loglikeobs(self, params):
        """``d_ij log P_ij``, an ``n x J`` array as in statsmodels (stable)."""
        beta = self._beta(params)
        eta = self.exog @ beta
        lse, _ = _log_softmax_rest(eta)
        logp = np.column_stack((np.zeros(len(eta)), eta)) - lse[:, None]
        return self.wendog * logp

    def score_obs(self, params):
        """Per-observation scores ``(d_ij - P_ij) x_i``, ``n x p(J-1)`` (stable).

        The robust covariances of :meth:`fit` never form this matrix.
        """
        beta = self._beta(params)
        eta = self.exog @ beta
        _, prob = _log_softmax_rest(eta)
        resid = self.wendog[:, 1:] - prob
        return (resid[:, :, None] * self.exog[:, None, :]).reshape(len(eta), -1)

    # -- fitting -------------------------------------------------------------
    def fit(self, start_params=None, method="bohning", maxiter=None, full_output=1, disp=1,
            callback=None, accelerate=True, tol=1e-12, skip_hessian=False, **kwargs):
        # small dense algebra (p(J-1) square) is fastest on one BLAS thread;
        # the row-block kernels run in their own threads
        with _blas_single_thread():
            return self._fit(start_params, method, maxiter, full_output, disp, callback,
                             accelerate, tol, skip_hessian, **kwargs)

    def _fit(self, start_params=None, method="bohning", maxiter=None, full_output=1, disp=1,
             callback=None, accelerate=True, tol=1e-12, skip_hessian=False, **kwargs):
        """Fit by maximum likelihood.

        Parameters
        ----------
        start_params : array_like, optional
            Flat (statsmodels order) or ``p x (J-1)``; default zeros.
        method : str
            "bohning" (default): Böhning's bound; see ``accelerate``. Any
            statsmodels method ("newton", "bfgs", "lbfgs", ...) also works and
            uses this class's exact, chunked derivatives.
        maxiter : int, optional
            Default 500 (accelerated Böhning), 10000 (plain MM), 35 (others,
            as statsmodels).
        accelerate : bool
            Only for "bohning". True: L-BFGS preconditioned by the bound
            (initial inverse Hessian ``gamma B^{-1}``) with a monotone line
            search, then exact Newton steps near the optimum. False: plain MM
            ``beta <- beta + B^{-1} g`` (the log-likelihood never decreases;
            linear convergence, can need thousands of iterations).
        tol : float
            Only for "bohning": converged when the score statistic
            ``g'(-H)^{-1}g`` at the estimate is at most ``tol`` (default 1e-12:
            the log-likelihood is within 5e-13 of its maximum and every
            coefficient within about 1e-6 standard errors of the MLE; Stata's
            default ``nrtolerance`` is 1e-5). Plain MM measures ``g'B^{-1}g``,
            a lower bound. See :func:`fit_bohning`.
        cov_type : {"nonrobust", "HC0", "HC1", "cluster", ...}
            "cluster" needs ``cov_kwds={"groups": codes}`` (and accepts
            ``use_correction``, ``df_correction`` as statsmodels). HC0, HC1
            and cluster are computed block by block; other statsmodels types
            go through statsmodels (which forms the score matrix).
        disp, callback, full_output, skip_hessian, **kwargs
            As in statsmodels; ``retall=True`` stores the iterates in
            ``mle_retvals["allvecs"]``.

        Returns
        -------
        MNLogitResults (wrapped like statsmodels' MultinomialResults)
            ``mle_retvals`` has ``iterations``, ``converged``,
            ``gradient_norm``, ``criterion``, ``fcalls``, ``hcalls``,
            ``hcalls_subsample``,
            ``llf_path`` and ``message``.
        """
        cov_type = kwargs.pop("cov_type", "nonrobust")
        cov_kwds = kwargs.pop("cov_kwds", None) or {}
        use_t = kwargs.pop("use_t", None)
        warn_convergence = kwargs.pop("warn_convergence", True)
        k = int(self.K) * (int(self.J) - 1)
        if start_params is None:
            start_params = np.zeros(k)
        else:
            start_params = np.asarray(start_params, dtype=float)
            if start_params.ndim == 2:
                start_params = self._beta(start_params).ravel(order="F")
            if start_params.size != k:
                raise ValueError(f"start_params has {start_params.size} entries, expected "
                                 f"p * (J - 1) = {k}")
        if method == "bohning":
            mlefit = self._fit_bohning(start_params, maxiter, disp, callback, accelerate,
                                       tol, skip_hessian, warn_convergence, kwargs)
        else:
            if accelerate is not True:
                raise ValueError("accelerate applies only to method='bohning'")
            mlefit = LikelihoodModel.fit(
                self, start_params=start_params, method=method,
                maxiter=35 if maxiter is None else maxiter, full_output=full_output,
                disp=disp, callback=callback if callback is not None else (lambda *a: None),
                skip_hessian=skip_hessian, warn_convergence=warn_convergence, **kwargs)
        mlefit.params = mlefit.params.reshape(int(self.K), -1, order="F")
        res = MNLogitResults(self, mlefit)
        if use_t is not None:
            res.use_t = use_t
        self._set_cov(res, cov_type, cov_kwds, use_t)
        self._check_separation(res)
        return smd.MultinomialResultsWrapper(res)

    def _fit_bohning(self, start, maxiter, disp, callback, accelerate, tol, skip_hessian,
                     warn_convergence, kwargs):
        retall = kwargs.pop("retall", False)
        kwargs.pop("full_output", None)
        if kwargs:
            raise TypeError(f"unexpected keyword(s) for method='bohning': {sorted(kwargs)}")
        bound = self.bohning
        X, y, chunk = self.exog, self.endog, self.chunksize
        allvecs = [start.copy()] if retall else None

        def cb(beta):
            flat = beta.ravel(order="F")
            if allvecs is not None:
                allvecs.append(flat.copy())
            if callback is not None:
                callback(flat)

        # for large n the first Newton/chord steps use the Hessian of an
        # evenly strided subsample (>= 20,000 rows and 100 per parameter),
        # scaled to n; convergence is certified with the full Hessian
        n = X.shape[0]
        stride = n // max(20000, 100 * bound.n_params)
        approx = None
        if stride >= 2:
            n_sub = len(range(0, n, stride))

            def approx(b):
                return mnlogit_hessian(X[::stride], y[::stride], b) * (n / n_sub)

        out = fit_bohning(lambda b: mnlogit_loglike_score(X, y, b, chunk), bound,
                          self._beta(start), hessian=lambda b: mnlogit_hessian(X, y, b),
                          hessian_approx=approx, accelerate=accelerate, maxiter=maxiter,
                          tol=tol, callback=cb)
        beta = out["params"]
        xopt = beta.ravel(order="F")
        nobs = self.exog.shape[0]
        cov = None
        if not skip_hessian:
            if out["hessian_at"] is not None and np.array_equal(out["hessian_at"], beta):
                hess = out["hessian"]
            else:
                hess = mnlogit_hessian(X, y, beta)
                out["hcalls"] += 1
            cov = _inverse_neg_hessian(hess)
        retvals = {
            "fopt": -out["llf"] / nobs,
            "iterations": out["iterations"],
            "fcalls": out["fcalls"],
            "hcalls": out["hcalls"],
            "hcalls_subsample": out.get("hcalls_approx", 0),
            "converged": out["converged"],
            "warnflag": 0 if out["converged"] else 1,
            "gradient_norm": out["gradient_norm"],
            "score": out["grad"].ravel(order="F"),
            "criterion": out["criterion"],
            "llf_path": np.asarray(out["llf_path"]),
            "phase_iterations": out["phase_iterations"],
            "message": out["message"],
        }
        if allvecs is not None:
            retvals["allvecs"] = allvecs
        settings = {"optimizer": "bohning", "accelerate": accelerate, "tol": tol,
                    "maxiter": maxiter, "start_params": start, "disp": disp,
                    "callback": callback, "chunksize": chunk}
        mlefit = LikelihoodModelResults(self, xopt, cov, scale=1.0)
        mlefit.mle_retvals = retvals
        mlefit.mle_settings = settings
        if disp:
            state = "converged" if out["converged"] else "did NOT converge"
            print(f"Böhning ({'accelerated' if accelerate else 'plain MM'}) {state}: "
                  f"{out['message']}\n         Current function value: {retvals['fopt']:.6f}"
                  f"\n         Iterations: {out['iterations']}  (log-likelihood/score "
                  f"evaluations: {out['fcalls']}, Hessians: {out['hcalls']})")
        if warn_convergence and not out["converged"]:
            hint = ("raise maxiter, or use accelerate=True" if not accelerate else
                    "raise maxiter, rescale regressors with very different magnitudes, "
                    "or check for separation (coefficients drifting to +-infinity)")
            warnings.warn(f"Böhning multinomial logit did not converge after "
                          f"{out['iterations']} iterations ({out['message']}; criterion "
                          f"{out['criterion']:.2e} > tol {tol:.1e}); {hint}. Check "
                          "mle_retvals.", ConvergenceWarning, stacklevel=4)
        return mlefit

    # -- covariance ----------------------------------------------------------
    def _set_cov(self, res, cov_type, cov_kwds, use_t):
        ct = "nonrobust" if cov_type is None else str(cov_type)
        if ct.lower() == "nonrobust":
            res.cov_type = "nonrobust"
            res.cov_kwds = {"description": "Standard Errors assume that the covariance "
                            "matrix of the errors is correctly specified."}
            return
        key = {"hc0": "HC0", "hc1": "HC1", "cluster": "cluster"}.get(ct.lower())
        if key is None:
            from statsmodels.base.covtype import get_robustcov_results
            get_robustcov_results(res, cov_type=ct, use_self=True, use_t=use_t, **cov_kwds)
            return
        if res.normalized_cov_params is None:
            raise ValueError(f"cov_type={ct!r} needs the inverse Hessian, which is not "
                             "available (skip_hessian=True or a singular Hessian)")
        kw = dict(cov_kwds)
        beta = np.asarray(res.params).reshape(int(self.K), -1, order="F")
        bread = np.asarray(res.normalized_cov_params)  # (-H)^{-1}
        nobs, k = self.exog.shape[0], bread.shape[0]
        res.cov_type = key
        use_t_now = res.use_t if use_t is None else use_t
        res.cov_kwds = {"use_t": use_t_now}
        adjust_df = False
        if key in ("HC0", "HC1"):
            if kw:
                raise ValueError("heteroscedasticity robust covariance does not use keywords")
            meat = mnlogit_score_outer(self.exog, self.endog, beta)
            cov = bread @ meat @ bread
            if key == "HC1":
                cov *= nobs / float(nobs - k)
        else:
            if "groups" not in kw:
                raise ValueError("cov_type='cluster' needs cov_kwds={'groups': ...}")
            groups = kw.pop("groups")
            use_correction = kw.pop("use_correction", True)
            df_correction = kw.pop("df_correction", None)
            if kw:
                raise ValueError(f"unknown cov_kwds for cluster: {sorted(kw)}")
            g = np.asarray(groups)
            if g.ndim > 1:
                g = g.squeeze()
            if g.ndim != 1:
                raise ValueError("only one-way clustering is computed block by block; "
                                 f"groups has shape {np.shape(groups)}")
            if len(g) != nobs:
                raise ValueError(f"groups has {len(g)} entries but the model has {nobs} rows")
            _, codes = np.unique(g, return_inverse=True)
            n_groups = int(codes.max()) + 1
            meat = mnlogit_cluster_meat(self.exog, self.endog, beta, codes)
            cov = bread @ meat @ bread
            if use_correction:
                cov *= n_groups / (n_groups - 1.0) * ((nobs - 1.0) / float(nobs - k))
            res.cov_kwds.update(groups=groups, use_correction=use_correction)
            adjust_df = df_correction is not False
            res.n_groups = n_groups
            if adjust_df:
                res.df_resid_inference = n_groups - 1
        res.cov_kwds["adjust_df"] = adjust_df
        res.cov_kwds["scaling_factor"] = None
        res.cov_kwds["description"] = _ROBUST_DESCRIPTIONS[key]
        res.cov_params_default = 0.5 * (cov + cov.T)
        res.use_t = use_t_now

    # -- diagnostics ---------------------------------------------------------
    def _check_separation(self, res):
        """Warn when the data look (quasi-)separated.

        Two signals: observations whose fitted probability of the observed
        category is within 1e-8 of 1 or of some other category within 1e-10
        of 0 with coefficients growing, and (the decisive one) a negative
        Hessian that is nearly singular relative to Böhning's bound (smallest
        generalised eigenvalue of (-H, B) below 1e-7): along the separating
        direction the curvature vanishes as the coefficients diverge.
        """
        try:
            bound = self.bohning
        except ValueError:
            return
        beta = np.asarray(res.params).reshape(int(self.K), -1, order="F")
        cov = res.normalized_cov_params
        if cov is None:
            # no Hessian (skip_hessian=True, or it was singular: warned already)
            lam_min = np.inf
        else:
            # generalised eigenvalues of (-H, B): 1 / eigenvalues of ((-H)^-1, B^-1)
            try:
                ev = linalg.eigh(np.asarray(cov), linalg.inv(bound.matrix()),
                                 eigvals_only=True)
                lam_min = 1.0 / float(np.max(ev))
            except (linalg.LinAlgError, ValueError):
                lam_min = 0.0
        retvals = getattr(res, "mle_retvals", {}) or {}
        if lam_min >= 1e-7 and retvals.get("converged", True):
            return
        n_certain = 0
        for sl in _chunks(self.exog.shape[0], DEFAULT_CHUNK_ROWS):
            eta = self.exog[sl] @ beta
            lse, _ = _log_softmax_rest(eta)
            yc = self.endog[sl]
            eta_obs = np.where(yc > 0, eta[np.arange(len(yc)), np.maximum(yc - 1, 0)], 0.0)
            n_certain += int(np.sum(eta_obs - lse > -1e-8))
        if lam_min < 1e-7 or n_certain > 0:
            flat = beta.ravel(order="F")
            idx = np.argsort(-np.abs(flat))[:5]
            names = self._param_labels()
            big = ", ".join(f"{names[i]} = {flat[i]:.3g}" for i in idx)
            curv = ("not computed" if cov is None else f"{lam_min:.1e}")
            warnings.warn(
                "The multinomial logit looks (quasi-)separated: "
                f"{n_certain} observation(s) have a fitted probability of their observed "
                "category within 1e-8 of 1, and the smallest curvature of the "
                f"log-likelihood relative to Böhning's bound is {curv}; some "
                "coefficients drift to +-infinity and the MLE may not exist. Largest "
                f"coefficients: {big}. Try: merging sparse categories, dropping the "
                "regressor(s) that predict a category perfectly, or "
                "fit_regularized(alpha=...).", PerfectSeparationWarning, stacklevel=4)

    def _param_labels(self):
        ynames = smd.MultinomialResults._maybe_convert_ynames_int(dict(self._ynames_map))
        ynames = [ynames[key] for key in range(int(self.J))]
        return [f"{yn}:{xn}" for yn in ynames[1:] for xn in self.exog_names]


def _precheck(endog, exog):
    """Clear errors for NaN/inf, length mismatches and a constant outcome
    before statsmodels' data handling (whose messages name no column)."""
    names = list(exog.columns) if isinstance(exog, pd.DataFrame) else None
    x = np.asarray(exog)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(endog)
    if len(y) != len(x):
        raise ValueError(f"endog has {len(y)} rows but exog has {len(x)}")
    if x.ndim == 2 and x.dtype.kind in "fc":
        bad = np.zeros(x.shape[1], dtype=np.int64)
        for sl in _chunks(x.shape[0], 4 * DEFAULT_CHUNK_ROWS):
            bad += (~np.isfinite(x[sl])).sum(axis=0)
        if bad.any():
            cols = ", ".join(f"{names[k]!r} ({bad[k]} rows)" if names else
                             f"column {k} ({bad[k]} rows)" for k in np.flatnonzero(bad))
            raise ValueError(f"exog has NaN or infinite values in {cols}; drop those rows "
                             "or pass missing='drop'")
    if y.ndim == 1:
        if y.dtype.kind in "fc":
            nnan = int(np.sum(~np.isfinite(y)))
            if nnan:
                raise ValueError(f"endog is NaN or infinite in {nnan} row(s); drop those "
                                 "rows or pass missing='drop'")
        n_values = len(pd.unique(y))
        if n_values < 2:
            raise ValueError(f"endog has {n_values} distinct value(s); a multinomial logit "
                             "needs at least 2 categories")


def _inverse_neg_hessian(hess: np.ndarray):
    """``(-H)^{-1}``, symmetric, or None with statsmodels' warning."""
    neg = -np.asarray(hess)
    if np.all(np.isfinite(neg)):
        try:
            c = linalg.cho_factor(neg)
            inv = linalg.cho_solve(c, np.eye(neg.shape[0]))
            return 0.5 * (inv + inv.T)
        except linalg.LinAlgError:
            pass
    warnings.warn("Inverting hessian failed, no bse or cov_params available",
                  HessianInversionWarning, stacklevel=5)
    return None
