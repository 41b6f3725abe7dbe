"""Penalized multinomial logit on Böhning's bound: plain array functions.

Objective
---------
Categories ``j = 0..J-1``, regressors standardized as glmnet does
(``z_ik = (x_ik - mu_k) / s_k``, ``mu_k`` the column mean and ``s_k`` the
population standard deviation; ``s_k = 1`` with ``standardize=False``), an
unpenalized intercept ``a`` (``J``-vector) and coefficients ``theta``
(``m x J``, one row per non-constant regressor) on the standardized scale::

    eta_ij = a_j + sum_k z_ik theta_kj
    F(a, theta) = -(1/n) sum_i log P_{i,y_i}
                  + lam * sum_k pf_k [ L1_wt * R1(theta_k) + (1 - L1_wt)/2 ||theta_k||_2^2 ]

with ``R1(theta_k) = ||theta_k||_2`` (group penalty: a regressor is in or out
of every equation at once) or ``||theta_k||_1`` (element-wise). This is
glmnet's multinomial objective (``type.multinomial = "grouped"`` or
``"ungrouped"``, ``lambda = lam``, ``alpha = L1_wt``, ``penalty.factor = pf``
without glmnet's rescaling of ``pf`` to sum to the number of regressors). On
the original scale the coefficient of regressor ``k`` is ``theta_k / s_k``
and the penalty is ``lam pf_k [L1_wt R1(s_k beta_k) + (1-L1_wt)/2 s_k^2
||beta_k||^2]``.

Parameterizations. ``symmetric=True`` (glmnet's): all ``J`` columns are free;
the likelihood does not change when a vector ``c 1'`` is added to a row
``theta_k``, and the penalty picks the representative (mean-zero rows for the
group and ridge penalties, a median-centred row for the element-wise lasso).
The estimator then does not depend on which category is called the base.
``symmetric=False`` (statsmodels' ``MNLogit`` layout): column 0 is fixed at
zero and the penalty acts on the ``J-1`` contrasts with the base category
(what statsmodels' ``fit_regularized`` penalizes); its selection changes when
the categories are relabelled.

Böhning's bound and the MM step
-------------------------------
With ``C = Z'Z/n`` (the standardized, centred Gram; ``C_kk = 1`` when
standardized, and the intercept is orthogonal to the centred columns) the
Hessian of the smooth part obeys ``H <= 1/2 I_J kron diag(1, C)`` for every
``(a, theta)`` (Böhning 1992: ``diag(P_i) - P_i P_i' <= 1/2 (I - 11'/J)``).
One MM step from ``(a^y, theta^y)`` with loss gradient ``(g_a, G)`` minimizes
the majorizer::

    G'(theta - theta^y) + 1/4 tr[(theta - theta^y)' C (theta - theta^y)] + penalty(theta)

(``a = a^y - 2 g_a`` exactly); the objective never increases (Krishnapuram
et al. 2005). The majorizer is solved by block coordinate descent over the
regressors (:func:`_cd_majorizer`, numba): with ``L_k = C_kk / 2`` and
``q_k`` the majorizer's gradient at the current row, the row update is the
closed form

    v = theta_k - q_k / L_k
    group:        theta_k <- v (1 - lam L1_wt pf_k / (L_k ||v||_2))_+ * L_k / (L_k + lam (1-L1_wt) pf_k)
    element-wise: theta_kj <- S(v_j, lam L1_wt pf_k / L_k) * L_k / (L_k + lam (1-L1_wt) pf_k)

(block soft-thresholding; ``S`` the soft-threshold). Each MM step costs one
pass over the data (:func:`econderiv.models._mnlogit_kernels.mnlogit_loglike_score`,
the row-block kernel of the unpenalized fit: O(block) memory, threads);
the coordinate descent works on ``C`` only (``m x m``) and costs no pass.
``accelerate=True`` adds Nesterov momentum (FISTA in the metric of the
bound) with O'Donoghue-Candès gradient restarts; the objective of the plain
MM (``accelerate=False``) decreases monotonically.

Where the bound is loose (probabilities far from 1/2, ill-conditioned
regressors) the MM needs many passes. So while the strong set is small
(intercepts and strong rows times free categories at most
``NEWTON_MAX_PARAMS``), ``accelerate=True`` first takes proximal Newton
steps (:func:`_newton_phase`): the quadratic model uses the exact Hessian on
those rows (:meth:`StandardizedDesign.hessian_rows`, the kernel's
``mnlogit_hessian`` on the strong columns, on a strided subsample above 50,000
rows), plus Böhning's curvature along the directions ``c 1'`` of a row on
which the symmetric likelihood is flat; the model is minimized by the same
closed-form row updates (each row's block majorized by its largest
eigenvalue, :func:`_cd_quadratic`) finished by Newton's method on the active
part (:func:`_refine_active`); and an Armijo line search on the exact
objective accepts the step, so the objective still decreases at every step.
The MM finishes whatever the Newton phase leaves (a large strong set, a
failed line search), and the certificate is the same.

Certificate
-----------
:func:`kkt_violation`: the largest violation of the optimality conditions,
in the units of the objective's gradient on the standardized scale::

    |g_a,j|                                             intercepts
    group, theta_k != 0:  max_j |G_kj + lam(1-L1_wt) pf_k theta_kj + lam L1_wt pf_k theta_kj / ||theta_k||_2|
    group, theta_k == 0:  (||G_k||_2 - lam L1_wt pf_k)_+
    element-wise, theta_kj != 0: |G_kj + lam(1-L1_wt) pf_k theta_kj + lam L1_wt pf_k sign(theta_kj)|
    element-wise, theta_kj == 0: (|G_kj| - lam L1_wt pf_k)_+

computed from the loss gradient at the returned point (one full pass), for
every regressor, also those the strong rule screened out.

Screening
---------
Sequential strong rule (Tibshirani et al. 2012, JRSS-B 74:245-266): at
``lam_new`` after ``lam_old``, a regressor not yet active is left out of the
coordinate descent when ``||G_k|| < L1_wt pf_k (2 lam_new - lam_old)``
(``||.||_2`` for the group penalty, ``max_j |.|`` element-wise); the KKT check
over all regressors then adds any violator back and the fit continues.
Screening shrinks the coordinate descent; the passes over the data are
always full width (the kernel's products need every column for the check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from econderiv.models._mnlogit_kernels import (DEFAULT_CHUNK_ROWS, gram, mnlogit_block,
                                               mnlogit_hessian, mnlogit_loglike_score)

__all__ = ["PenaltySpec", "StandardizedDesign", "check_penalty", "lambda_max",
           "lambda_sequence", "kkt_violation", "solve_penalty", "fit_path", "cv_folds",
           "heldout_deviance", "cross_validate", "penalty_value"]


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

@dataclass
class PenaltySpec:
    """Penalty shape: ``kind`` ("group" or "elementwise"), ``l1_wt`` in [0, 1],
    ``factors`` (one per non-constant regressor, >= 0), ``symmetric``."""

    kind: str
    l1_wt: float
    factors: np.ndarray
    symmetric: bool = True

    @property
    def first_free(self) -> int:
        """First free category column (0 symmetric, 1 base-category)."""
        return 0 if self.symmetric else 1


def check_penalty(alpha, l1_wt, penalty, factors, names):
    """Validated ``(alphas, l1_wt, kind, factors)``; clear errors otherwise.

    ``alpha``: a penalty or a sequence of penalties (finite, >= 0, strictly
    decreasing when several) or None; ``names``: the penalized regressors'
    names (for the factor-length error).
    """
    if penalty not in ("group", "elementwise"):
        raise ValueError(f"penalty must be 'group' or 'elementwise', got {penalty!r}")
    try:
        l1 = float(l1_wt)
    except (TypeError, ValueError):
        raise ValueError(f"L1_wt must be a number in [0, 1], got {l1_wt!r}") from None
    if not (0.0 <= l1 <= 1.0):
        raise ValueError(f"L1_wt must be in [0, 1] (1: lasso, 0: ridge), got {l1_wt!r}")
    m = len(names)
    if factors is None:
        pf = np.ones(m)
    else:
        if hasattr(factors, "index") and hasattr(factors, "reindex"):  # Series by name
            missing = [k for k in names if k not in factors.index]
            extra = [k for k in factors.index if k not in names]
            if missing or extra:
                raise ValueError(
                    "penalty_factor (a Series) must be indexed by the penalized regressors "
                    f"{names}; missing: {missing}, unknown: {extra}")
            factors = factors.reindex(names)
        pf = np.asarray(factors, dtype=float).ravel()
        if pf.size != m:
            raise ValueError(
                f"penalty_factor has {pf.size} entries, expected one per penalized "
                f"regressor ({m}: {', '.join(names)}); the intercept is never penalized")
        bad = [names[k] for k in np.flatnonzero(~np.isfinite(pf) | (pf < 0))]
        if bad:
            raise ValueError(f"penalty_factor must be finite and >= 0; bad for {bad}")
    alphas = None
    if alpha is not None:
        alphas = np.atleast_1d(np.asarray(alpha, dtype=float))
        if alphas.ndim != 1 or alphas.size == 0:
            raise ValueError("alpha must be a number or a 1-D sequence of numbers")
        if not np.all(np.isfinite(alphas)):
            raise ValueError(f"alpha must be finite; got {alphas[~np.isfinite(alphas)][:3]}")
        if np.any(alphas < 0):
            raise ValueError(f"alpha must be >= 0; got {alphas[alphas < 0][:3]}")
        if alphas.size > 1 and np.any(np.diff(alphas) >= 0):
            raise ValueError("a sequence of alphas must be strictly decreasing (the path "
                             "is computed from the largest penalty down, with warm starts)")
    return alphas, l1, penalty, pf


class StandardizedDesign:
    """The data of a penalized fit: ``X`` (n x p, as the model holds it), the
    codes ``y``, the intercept column (``const``, or None), the penalized
    columns ``cols``, their means ``mu`` and scales ``sd`` and the
    standardized centred Gram ``C = Z'Z/n`` (from ``X'X``, no copy of ``X``).

    Parameters
    ----------
    exog : ndarray (n, p)
    y : ndarray of int (n,)
    n_categories : int
    const : int or None
        Column holding the intercept (a constant column), or None (no intercept:
        nothing is centred and ``sd`` is the root mean square, as glmnet).
    standardize : bool
    xtx : ndarray (p, p), optional
        ``X'X`` if already known.
    """

    def __init__(self, exog, y, n_categories, const=None, standardize=True, xtx=None,
                 chunksize=None, names=None):
        self.X = exog
        self.y = np.asarray(y)
        self.n, p = exog.shape
        self.J = int(n_categories)
        self.const = const
        self.chunksize = chunksize
        self.cols = np.array([k for k in range(p) if k != const], dtype=np.intp)
        xtx = gram(exog, chunksize) if xtx is None else np.asarray(xtx, dtype=float)
        n = float(self.n)
        if const is not None:
            cval = float(exog[0, const])
            self.const_value = cval
            mu = xtx[const, self.cols] / (n * cval)
        else:
            self.const_value = None
            mu = np.zeros(len(self.cols))
        cov = xtx[np.ix_(self.cols, self.cols)] / n - np.outer(mu, mu)
        var = np.diag(cov).copy()
        names = names or [f"x{k}" for k in range(p)]
        flat = [names[self.cols[k]] for k in np.flatnonzero(~(var > 1e-14 * (1 + mu ** 2)))]
        if flat:
            raise ValueError(f"regressor(s) {flat} are constant besides the intercept "
                             "column; drop them (a penalized fit needs variation)")
        self.mu = mu
        self.sd = np.sqrt(var) if standardize else np.ones(len(self.cols))
        self.C = cov / np.outer(self.sd, self.sd)
        self.standardize = standardize

    @property
    def m(self) -> int:
        return len(self.cols)

    def to_original(self, theta, a, symmetric=False) -> np.ndarray:
        """``(p, J)`` coefficients on the scale of ``X`` (the intercept in row
        ``const``; with ``symmetric``, shifted to mean zero over the categories,
        which changes no probability)."""
        beta = np.zeros((self.X.shape[1], self.J))
        scaled = theta / self.sd[:, None]
        beta[self.cols] = scaled
        if self.const is not None:
            b0 = a - self.mu @ scaled
            if symmetric:  # unidentified shift: mean-zero intercepts on this scale, as glmnet
                b0 = b0 - b0.mean()
            beta[self.const] = b0 / self.const_value
        return beta

    def from_original(self, beta):
        """``(theta, a)`` of ``(p, J)`` coefficients on the scale of ``X``
        (inverse of :meth:`to_original` up to the intercepts' shift)."""
        beta = np.asarray(beta, dtype=float)
        theta = beta[self.cols] * self.sd[:, None]
        if self.const is None:
            return theta, np.zeros(self.J)
        return theta, beta[self.const] * self.const_value + self.mu @ beta[self.cols]

    def _columns(self, rows):
        """Contiguous copy of the intercept column and the penalized columns
        ``cols[rows]`` (cached for the last ``rows``)."""
        key = rows.tobytes()
        if getattr(self, "_sub_key", None) != key:
            take = ([self.const] if self.const is not None else []) + list(self.cols[rows])
            self._sub_x = np.ascontiguousarray(self.X[:, take])
            self._sub_key = key
        return self._sub_x

    def hessian_rows(self, theta, a, rows, max_rows=50_000):
        """Exact Hessian of ``f = -loglik/n`` in the intercepts and the rows
        ``rows`` of ``theta`` (all others zero), as an array ``H[r, l, i, j]``
        (``r, l``: the intercept first, then ``rows``; ``i, j``: categories).

        The kernel's Hessian in the base-category contrasts of the columns,
        ``Hc``, is mapped by ``M = D' kron A`` (``A``: standardized rows to
        the columns of ``X``; ``D'``: all J columns to contrasts):
        ``H = -M' Hc M / n``. Above ``max_rows`` rows an evenly strided
        subsample is used (scaled to n): it is only the metric of the
        proximal Newton steps, whose line search is on the exact objective.
        """
        xs = self._columns(rows)
        ps = xs.shape[1]
        off = 0 if self.const is None else 1
        scaled = theta[rows] / self.sd[rows, None]
        beta = np.zeros((ps, self.J))
        beta[off:] = scaled
        if self.const is not None:
            beta[0] = (a - self.mu[rows] @ scaled) / self.const_value
        stride = max(1, self.n // max_rows)
        xh, yh = (xs, self.y) if stride == 1 else (xs[::stride], self.y[::stride])
        hc = mnlogit_hessian(xh, yh, beta[:, 1:] - beta[:, :1]) * (self.n / len(yh))
        R = off + len(rows)
        A = np.zeros((ps, R))
        if self.const is not None:
            A[0, 0] = 1.0 / self.const_value
            A[0, 1:] = -self.mu[rows] / (self.sd[rows] * self.const_value)
        A[np.arange(off, ps), np.arange(off, R)] = 1.0 / self.sd[rows]
        Dt = np.hstack((-np.ones((self.J - 1, 1)), np.eye(self.J - 1)))
        M = np.kron(Dt, A)
        H = -(M.T @ hc @ M) / self.n
        H = 0.5 * (H + H.T)
        return np.ascontiguousarray(H.reshape(self.J, R, self.J, R).transpose(1, 3, 0, 2))

    def loss_grad(self, theta, a, rows=None):
        """``f = -loglik/n`` and its gradient in ``theta`` (m x J) and ``a`` (J).

        With ``rows`` (indices of the penalized regressors), every other row of
        ``theta`` must be zero: the pass then reads only those columns (a
        cached copy of them) and the gradient's other rows are NaN.
        """
        if rows is not None:
            xs = self._columns(rows)
            scaled = theta[rows] / self.sd[rows, None]
            beta = np.zeros((xs.shape[1], self.J))
            off = 0 if self.const is None else 1
            beta[off:] = scaled
            if self.const is not None:
                beta[0] = (a - self.mu[rows] @ scaled) / self.const_value
            ll, grad = mnlogit_loglike_score(xs, self.y, beta[:, 1:] - beta[:, :1],
                                             chunksize=self.chunksize)
            gb = np.empty((xs.shape[1], self.J))
            gb[:, 1:] = grad
            gb[:, 0] = -grad.sum(axis=1)
            gb /= -float(self.n)
            g = np.full((self.m, self.J), np.nan)
            if self.const is not None:
                ga = gb[0] * (1.0 / self.const_value)
                g[rows] = (gb[1:] - self.mu[rows, None] * ga[None, :]) / self.sd[rows, None]
            else:
                ga = np.zeros(self.J)
                g[rows] = gb / self.sd[rows, None]
            return -ll / self.n, g, ga
        beta = self.to_original(theta, a)
        contrasts = beta[:, 1:] - beta[:, :1]
        if self.n <= (self.chunksize or DEFAULT_CHUNK_ROWS):
            # one block: the kernel itself, without the thread pool's overhead
            ll, grad, _ = mnlogit_block(self.X, self.y, contrasts)
        else:
            ll, grad = mnlogit_loglike_score(self.X, self.y, contrasts,
                                             chunksize=self.chunksize)
        gb = np.empty((beta.shape[0], self.J))
        gb[:, 1:] = grad
        gb[:, 0] = -grad.sum(axis=1)  # d ll / d beta_0: residuals sum to zero over j
        gb /= -float(self.n)
        if self.const is not None:
            ga = gb[self.const] * (1.0 / self.const_value)
            g = (gb[self.cols] - self.mu[:, None] * ga[None, :]) / self.sd[:, None]
        else:
            ga = np.zeros(self.J)
            g = gb[self.cols] / self.sd[:, None]
        return -ll / self.n, g, ga


# ---------------------------------------------------------------------------
# The penalty, its certificate and the inner coordinate descent
# ---------------------------------------------------------------------------

#: proximal Newton steps while (intercept + strong rows) x free categories is at most this
NEWTON_MAX_PARAMS = 240
#: at most this many proximal Newton steps per penalty before the MM finishes
NEWTON_MAX_STEPS = 50
#: passes read only the strong set's columns when it holds at most this share
#: of the regressors (and the data are large)
SUBSET_FRACTION = 0.5


def _lams(lam, spec):
    """Per-regressor L1 and L2 penalty weights."""
    return lam * spec.l1_wt * spec.factors, lam * (1.0 - spec.l1_wt) * spec.factors


def penalty_value(theta, lam, spec) -> float:
    """``lam sum_k pf_k [L1_wt R1(theta_k) + (1-L1_wt)/2 ||theta_k||^2]``."""
    l1, l2 = _lams(lam, spec)
    th = theta[:, spec.first_free:]
    r1 = (np.sqrt((th ** 2).sum(axis=1)) if spec.kind == "group"
          else np.abs(th).sum(axis=1))
    return float(l1 @ r1 + 0.5 * (l2 @ (th ** 2).sum(axis=1)))


def kkt_violation(theta, grad, grad_a, lam, spec, per_regressor=False):
    """Largest violation of the optimality conditions (formulas in the module
    docstring); with ``per_regressor`` also the ``(m,)`` violations of the
    regressors (the intercept's is the first return value's floor)."""
    j0 = spec.first_free
    l1, l2 = _lams(lam, spec)
    th = theta[:, j0:]
    gg = grad[:, j0:] + l2[:, None] * th
    if spec.kind == "group":
        nrm = np.sqrt((th ** 2).sum(axis=1))
        nz = nrm > 0
        safe = np.where(nz, nrm, 1.0)
        v_nz = np.abs(gg + l1[:, None] * th / safe[:, None]).max(axis=1)
        v_z = np.maximum(np.sqrt((gg ** 2).sum(axis=1)) - l1, 0.0)
        per = np.where(nz, v_nz, v_z)
    else:
        v = np.where(th != 0, np.abs(gg + l1[:, None] * np.sign(th)),
                     np.maximum(np.abs(gg) - l1[:, None], 0.0))
        per = v.max(axis=1) if v.shape[1] else np.zeros(len(th))
    worst = max(float(per.max()) if per.size else 0.0,
                float(np.abs(grad_a[j0:]).max()) if grad_a.size > j0 else 0.0)
    return (worst, per) if per_regressor else worst


@njit(cache=True, nogil=True)
def _cd_majorizer(C, grad, theta_y, theta, lam_l1, lam_l2, group, j0, tol, max_sweeps):
    """Minimize the Böhning majorizer over the rows of ``theta`` (in place)
    by block coordinate descent; returns the number of sweeps.

    ``sum_k grad_k'(t_k - y_k) + 1/4 tr[(t - y)' C (t - y)] + penalty(t)``
    over columns ``j0..J-1`` (closed-form row updates, module docstring).
    Sweeps cycle over all rows, then over the nonzero rows until they settle,
    and stop when a full sweep moves no row by more than ``tol`` (in
    ``sqrt(C_kk) |delta|``).
    """
    m, J = theta.shape
    q = grad.copy()
    for k in range(m):  # q = grad + 1/2 C (theta - theta_y)
        for l in range(m):
            c = 0.5 * C[k, l]
            if c != 0.0:
                for j in range(j0, J):
                    q[k, j] += c * (theta[l, j] - theta_y[l, j])
    v = np.empty(J)
    delta = np.empty(J)
    full = True
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        biggest = 0.0
        for k in range(m):
            nonzero = False
            for j in range(j0, J):
                if theta[k, j] != 0.0:
                    nonzero = True
            if not full and not nonzero:
                continue
            L = 0.5 * C[k, k]
            shrink = L / (L + lam_l2[k])
            if group:
                nrm = 0.0
                for j in range(j0, J):
                    v[j] = theta[k, j] - q[k, j] / L
                    nrm += v[j] * v[j]
                nrm = math.sqrt(nrm)
                scale = 0.0
                if nrm > 0.0:
                    scale = 1.0 - lam_l1[k] / (L * nrm)
                    if scale < 0.0:
                        scale = 0.0
                scale *= shrink
                for j in range(j0, J):
                    delta[j] = v[j] * scale - theta[k, j]
            else:
                thr = lam_l1[k] / L
                for j in range(j0, J):
                    vj = theta[k, j] - q[k, j] / L
                    if vj > thr:
                        u = (vj - thr) * shrink
                    elif vj < -thr:
                        u = (vj + thr) * shrink
                    else:
                        u = 0.0
                    delta[j] = u - theta[k, j]
            change = 0.0
            for j in range(j0, J):
                if delta[j] != 0.0:
                    a = abs(delta[j])
                    if a > change:
                        change = a
            if change == 0.0:
                continue
            change *= math.sqrt(C[k, k])
            if change > biggest:
                biggest = change
            for j in range(j0, J):
                theta[k, j] += delta[j]
            for l in range(m):
                c = 0.5 * C[l, k]
                if c != 0.0:
                    for j in range(j0, J):
                        q[l, j] += c * delta[j]
        if biggest <= tol:
            if full:
                break
            full = True
        else:
            full = False
    return sweeps


@njit(cache=True, nogil=True)
def _cd_quadratic(H, grad, theta_y, theta, L, lam_l1, lam_l2, group, j0, tol, max_sweeps):
    """Minimize ``grad'(t - y) + 1/2 (t - y)' H (t - y) + penalty(t)`` over the
    rows of ``theta`` (in place) by block coordinate descent, each row's block
    ``H[k, k]`` majorized by ``L[k] I`` (its largest eigenvalue): the same
    closed-form row updates as :func:`_cd_majorizer`. ``H`` is
    ``(R, R, J, J)``; a row with zero penalty weights (the intercepts) is
    updated without shrinkage."""
    R, J = theta.shape
    q = grad.copy()
    for k in range(R):
        for l in range(R):
            for i in range(j0, J):
                acc = 0.0
                for j in range(j0, J):
                    acc += H[k, l, i, j] * (theta[l, j] - theta_y[l, j])
                q[k, i] += acc
    v = np.empty(J)
    delta = np.empty(J)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        biggest = 0.0
        for k in range(R):
            Lk = L[k]
            if Lk <= 0.0:
                continue
            shrink = Lk / (Lk + lam_l2[k])
            if group:
                nrm = 0.0
                for j in range(j0, J):
                    v[j] = theta[k, j] - q[k, j] / Lk
                    nrm += v[j] * v[j]
                nrm = math.sqrt(nrm)
                scale = 0.0
                if nrm > 0.0:
                    scale = 1.0 - lam_l1[k] / (Lk * nrm)
                    if scale < 0.0:
                        scale = 0.0
                scale *= shrink
                for j in range(j0, J):
                    delta[j] = v[j] * scale - theta[k, j]
            else:
                thr = lam_l1[k] / Lk
                for j in range(j0, J):
                    vj = theta[k, j] - q[k, j] / Lk
                    if vj > thr:
                        u = (vj - thr) * shrink
                    elif vj < -thr:
                        u = (vj + thr) * shrink
                    else:
                        u = 0.0
                    delta[j] = u - theta[k, j]
            change = 0.0
            for j in range(j0, J):
                a = abs(delta[j])
                if a > change:
                    change = a
            if change == 0.0:
                continue
            change *= math.sqrt(Lk)
            if change > biggest:
                biggest = change
            for j in range(j0, J):
                theta[k, j] += delta[j]
            for l in range(R):
                for i in range(j0, J):
                    acc = 0.0
                    for j in range(j0, J):
                        acc += H[l, k, i, j] * delta[j]
                    q[l, i] += acc
        if biggest <= tol:
            break
    return sweeps


@njit(cache=True, nogil=True)
def _recenter_rows(theta, lam_l1, lam_l2, group):
    """Shift each penalized row of ``theta`` (in place) by the ``c 1'`` that
    minimizes its penalty. The symmetric likelihood does not change along
    ``c 1'`` (nor its gradient), so this lowers the objective for free:
    the group and ridge penalties centre the row at its mean; the element-wise
    ``l1 sum_j |t_j + c| + l2/2 sum_j (t_j + c)^2`` is minimized at the root of
    the piecewise-linear ``l1 sum_j sign(t_j + c) + l2 sum_j (t_j + c)`` (a
    median when ``l2 = 0``; the middle of the median interval for even J).
    Without this step the iterations creep along the flat direction."""
    m, J = theta.shape
    srt = np.empty(J)
    for k in range(m):
        if lam_l1[k] == 0.0 and lam_l2[k] == 0.0:
            continue
        allzero = True
        for j in range(J):
            if theta[k, j] != 0.0:
                allzero = False
        if allzero:
            continue
        mean = 0.0
        for j in range(J):
            mean += theta[k, j]
        mean /= J
        if group or lam_l1[k] == 0.0:
            c = -mean
        else:
            for j in range(J):
                srt[j] = -theta[k, j]
            srt.sort()
            # h(c) = l1 * sum sign(t_j + c) + l2 * sum (t_j + c), nondecreasing in c
            c = 0.0
            found = False
            for i in range(J):
                # value at the breakpoint srt[i] with sign(0) in [-1, 1]: below / above
                below = lam_l1[k] * (2.0 * i - J) + lam_l2[k] * J * (srt[i] + mean)
                above = lam_l1[k] * (2.0 * (i + 1) - J) + lam_l2[k] * J * (srt[i] + mean)
                if below <= 0.0 <= above:
                    c = srt[i]
                    # a flat stretch (l2 = 0, J even): the middle of the interval
                    if lam_l2[k] == 0.0 and above == 0.0 and i + 1 < J:
                        c = 0.5 * (srt[i] + srt[i + 1])
                    found = True
                    break
                if i + 1 < J:
                    # linear piece between srt[i] and srt[i+1]
                    slope_const = lam_l1[k] * (2.0 * (i + 1) - J)
                    lo = slope_const + lam_l2[k] * J * (srt[i] + mean)
                    hi = slope_const + lam_l2[k] * J * (srt[i + 1] + mean)
                    if lo < 0.0 < hi:
                        c = -slope_const / (lam_l2[k] * J) - mean
                        found = True
                        break
            if not found:
                c = -mean if lam_l2[k] > 0.0 else 0.0
        for j in range(J):
            theta[k, j] += c
    return theta


# ---------------------------------------------------------------------------
# One penalty: MM (optionally accelerated) with screening and a certificate
# ---------------------------------------------------------------------------

def _intercept_start(design, spec):
    """Intercepts of the model with every penalized coefficient at zero."""
    counts = np.bincount(design.y, minlength=design.J).astype(float)
    a = np.log(np.maximum(counts, 0.5))
    if design.const is None:
        return np.zeros(design.J)
    return a - (a.mean() if spec.symmetric else a[0])


def solve_penalty(design, lam, spec, theta, a, grad=None, strong=None, tol=1e-9,
                  maxiter=5000, accelerate=True, inner_tol=None, trace=None,
                  restricted=False, newton=True):
    """Minimize ``F`` at penalty ``lam`` from ``(theta, a)``.

    Parameters
    ----------
    grad : tuple ``(f, G, g_a)`` at ``(theta, a)``, optional (saves a pass).
    strong : bool array (m,), optional
        Rows the coordinate descent may move (strong set); rows outside are
        zero and stay zero unless the KKT check finds them violated.
    tol : float
        Stop when :func:`kkt_violation` at the iterate is at most ``tol``.
    restricted : bool
        Solve over the ``strong`` rows only, the others fixed at zero (no KKT
        check or additions outside them): the null fit of the path.
    trace : list, optional
        Appended ``F`` at every point where the gradient was evaluated and
        no momentum was applied (every MM iterate when ``accelerate=False``).

    Returns
    -------
    dict with ``theta``, ``a``, ``f`` (loss), ``grad``, ``grad_a``, ``kkt``,
    ``passes``, ``converged``, ``strong`` (final set) and ``kkt_additions``
    (rows the KKT check added to the strong set).
    """
    j0 = spec.first_free
    m = design.m
    theta = np.array(theta, dtype=float)
    a = np.array(a, dtype=float)
    if strong is None:
        strong = np.ones(m, dtype=bool)
    strong = strong | np.any(theta[:, j0:] != 0, axis=1) | (spec.factors == 0)
    theta[~strong] = 0.0
    l1, l2 = _lams(lam, spec)
    adaptive = inner_tol is None
    if adaptive:
        inner_tol = 1e-3 * tol
    step = np.inf
    passes = 0
    if grad is None:
        grad = design.loss_grad(theta, a)
        passes += 1
    f, g, ga = grad
    full_grad = not np.isnan(g).any()  # the gradient covers every row
    full_passes = 0
    x_theta, x_a = theta, a          # current iterate
    y_theta, y_a = theta, a          # where the gradient was taken
    pure = True                      # y == x: the gradient certifies x
    t = 1.0
    additions = 0
    kkt = np.inf
    converged = False
    idx = np.flatnonzero(strong)
    Cs = np.ascontiguousarray(design.C[np.ix_(idx, idx)])
    # passes over the strong columns only, when they are few and the data large;
    # the certificate always comes from a full pass
    big = design.n > 4 * (design.chunksize or DEFAULT_CHUNK_ROWS)

    def narrow():
        return big and idx.size <= SUBSET_FRACTION * m

    hcalls = 0
    if newton and accelerate and not restricted:
        state = _newton_phase(design, lam, spec, x_theta, x_a, f, g, ga, strong, tol,
                              maxiter - passes, narrow, l1, l2)
        x_theta, x_a, f, g, ga = (state[k] for k in ("theta", "a", "f", "g", "ga"))
        y_theta, y_a = x_theta, x_a
        full_grad, strong = state["full_grad"], state["strong"]
        passes += state["passes"]
        full_passes += state["full_passes"]
        additions += state["additions"]
        hcalls = state["hcalls"]
        kkt = state["kkt"]
        converged = state["converged"]
        idx = np.flatnonzero(strong)
        Cs = np.ascontiguousarray(design.C[np.ix_(idx, idx)])

    while not converged:
        if pure:
            gs = np.where(np.isnan(g), 0.0, g)
            kkt, per = kkt_violation(x_theta, gs, ga, lam, spec, per_regressor=True)
            kkt_strong = max(float(per[strong].max()) if strong.any() else 0.0,
                             float(np.abs(ga[spec.first_free:]).max()))
            if restricted:
                kkt = kkt_strong
            elif not full_grad and kkt_strong <= tol:
                f, g, ga = design.loss_grad(x_theta, x_a)   # full pass: certify
                passes += 1
                full_passes += 1
                full_grad = True
                kkt, per = kkt_violation(x_theta, g, ga, lam, spec, per_regressor=True)
            if trace is not None:
                trace.append(f + penalty_value(x_theta, lam, spec))
            if kkt <= tol and (full_grad or restricted):
                converged = True
                break
            outside = (~strong) & (per > tol) & (not restricted) & full_grad
            if outside.any():
                strong = strong | outside
                additions += int(outside.sum())
                idx = np.flatnonzero(strong)
                Cs = np.ascontiguousarray(design.C[np.ix_(idx, idx)])
        if passes >= maxiter:
            break
        # MM step from y: the majorizer's minimizer on the strong rows
        new_theta = np.zeros_like(x_theta)
        sub = np.ascontiguousarray(y_theta[idx])
        new_sub = sub.copy()
        # the inner solve need only be accurate relative to the outer step (any
        # number of sweeps decreases the majorizer: the MM stays monotone)
        tol_now = max(inner_tol, 1e-2 * step) if adaptive else inner_tol
        _cd_majorizer(Cs, np.ascontiguousarray(g[idx]), sub, new_sub, l1[idx], l2[idx],
                      spec.kind == "group", j0, tol_now, 100000)
        new_theta[idx] = new_sub
        if j0 == 0:
            _recenter_rows(new_theta, l1, l2, spec.kind == "group")
        new_a = y_a.copy()
        if design.const is not None:
            new_a[j0:] -= 2.0 * ga[j0:]
        # size of the step in gradient units: B (new - y)
        d = new_theta - y_theta
        step = max(float(np.abs(0.5 * (Cs @ d[idx])).max())
                   if idx.size else 0.0, float(np.abs(new_a - y_a).max()) * 0.5)
        if not accelerate or step <= 0.25 * tol:
            # plain MM step (also the final, certified steps of the accelerated fit)
            x_theta, x_a = new_theta, new_a
            y_theta, y_a = new_theta, new_a
            pure = True
            t = 1.0
        else:
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            # gradient restart: the step from y opposes the last move
            restart = float(np.sum((y_theta - new_theta) * (new_theta - x_theta))
                            + np.sum((y_a - new_a) * (new_a - x_a))) > 0
            x_prev_theta, x_prev_a = x_theta, x_a
            x_theta, x_a = new_theta, new_a
            if restart or t == 1.0:
                y_theta, y_a = x_theta, x_a
                pure = True
                t = 1.0 if restart else t_new
            else:
                mom = (t - 1.0) / t_new
                y_theta = x_theta + mom * (x_theta - x_prev_theta)
                y_a = x_a + mom * (x_a - x_prev_a)
                pure = False
                t = t_new
        if narrow():
            f, g, ga = design.loss_grad(y_theta, y_a, rows=idx)
            full_grad = False
        else:
            f, g, ga = design.loss_grad(y_theta, y_a)
            full_grad = True
            full_passes += 1
        passes += 1
    if not (pure and full_grad):
        # stopped by maxiter after a momentum step or a narrow pass (or the
        # restricted null fit): the full gradient at the returned point
        f, g, ga = design.loss_grad(x_theta, x_a)
        passes += 1
        full_passes += 1
        if not restricted:
            kkt = kkt_violation(x_theta, g, ga, lam, spec)
    return {"theta": x_theta, "a": x_a, "f": f, "grad": g, "grad_a": ga, "kkt": kkt,
            "passes": passes, "full_passes": full_passes, "converged": converged,
            "strong": strong, "kkt_additions": additions, "hessians": hcalls}


def _refine_active(H, gext, ext, z, lam1, lam2, group, j0, tol):
    """Newton's method on the quadratic model restricted to its active part
    (in place on ``z``): the rows with a nonzero (group) or the nonzero
    coefficients with their signs (element-wise), where the penalty is
    smooth. Leaves ``z`` unchanged when a row would reach zero or a sign
    would flip (coordinate descent then carries on)."""
    R, J = z.shape
    jf = J - j0
    Hm = H[:, :, j0:, j0:].transpose(0, 2, 1, 3).reshape(R * jf, R * jf)
    g0 = gext[:, j0:].ravel()
    x0 = ext[:, j0:].ravel()
    zf = z[:, j0:].ravel().copy()
    rows = np.repeat(np.arange(R), jf)
    l1, l2 = lam1[rows], lam2[rows]
    if group:
        norms = np.sqrt((z[:, j0:] ** 2).sum(axis=1))
        act = (norms > 0) | (lam1 == 0)
        sel = act[rows]
        for _ in range(30):
            zz = zf.reshape(R, jf)
            nr = np.sqrt((zz ** 2).sum(axis=1))
            if np.any(nr[act & (lam1 > 0)] <= 0):
                return
            grad = g0 + Hm @ (zf - x0) + l2 * zf
            hess = Hm + np.diag(l2)
            for r in np.flatnonzero(act & (lam1 > 0)):
                sl = slice(r * jf, (r + 1) * jf)
                u = zz[r] / nr[r]
                grad[sl] += lam1[r] * u
                hess[sl, sl] += lam1[r] / nr[r] * (np.eye(jf) - np.outer(u, u))
            gs = grad[sel]
            if np.abs(gs).max() <= tol:
                break
            try:
                step = np.linalg.solve(hess[np.ix_(sel, sel)], -gs)
            except np.linalg.LinAlgError:
                return
            full = np.zeros_like(zf)
            full[sel] = step
            # stay away from a row's zero (the norm's kink)
            t = 1.0
            for _ls in range(30):
                nz = np.sqrt(((zf + t * full).reshape(R, jf) ** 2).sum(axis=1))
                if np.all(nz[act & (lam1 > 0)] > 0.1 * nr[act & (lam1 > 0)]):
                    break
                t *= 0.5
            zf = zf + t * full
    else:
        sel = (zf != 0) | (l1 == 0)
        sign = np.sign(zf)
        grad = g0 + Hm @ (zf - x0) + l2 * zf + l1 * sign
        hess = Hm + np.diag(l2)
        # least squares: a row with every entry active and no ridge is flat
        # along c 1' (the minimum-norm step does not move along it)
        step = np.linalg.lstsq(hess[np.ix_(sel, sel)], -grad[sel], rcond=1e-12)[0]
        new = zf.copy()
        new[sel] += step
        if np.any((np.sign(new) != sign)[sel & (l1 > 0)]):
            return
        zf = new
    z[:, j0:] = zf.reshape(R, jf)


def _newton_phase(design, lam, spec, theta, a, f, g, ga, strong, tol, maxiter, narrow,
                  l1, l2):
    """Proximal Newton steps while the strong set is small: the quadratic model
    uses the exact Hessian on the intercepts and the strong rows
    (:meth:`StandardizedDesign.hessian_rows`, one per penalty unless the
    strong set changes or a step is shortened), the model is minimized by
    :func:`_cd_quadratic`, and the step is accepted by an Armijo line search
    on the exact objective (one pass per trial), so the objective decreases at
    every step. Stops converged (full-width KKT certificate), or hands over to
    the Böhning MM steps when the strong set is too large
    (``NEWTON_MAX_PARAMS``), a line search fails, or after ``NEWTON_MAX_STEPS``.
    """
    j0 = spec.first_free
    J = design.J
    off = 0 if design.const is None else 1
    st = {"theta": theta, "a": a, "f": f, "g": g, "ga": ga, "strong": strong,
          "full_grad": not np.isnan(g).any(), "passes": 0, "full_passes": 0,
          "additions": 0, "hcalls": 0, "kkt": np.inf, "converged": False}
    H = None
    for _ in range(NEWTON_MAX_STEPS):
        theta, a, g, ga, strong = st["theta"], st["a"], st["g"], st["ga"], st["strong"]
        idx = np.flatnonzero(strong)
        gs = np.where(np.isnan(g), 0.0, g)
        kkt, per = kkt_violation(theta, gs, ga, lam, spec, per_regressor=True)
        kkt_strong = max(float(per[strong].max()) if strong.any() else 0.0,
                         float(np.abs(ga[j0:]).max()))
        if not st["full_grad"] and kkt_strong <= tol:
            st["f"], st["g"], st["ga"] = design.loss_grad(theta, a)
            g, ga = st["g"], st["ga"]
            st["passes"] += 1
            st["full_passes"] += 1
            st["full_grad"] = True
            kkt, per = kkt_violation(theta, g, ga, lam, spec, per_regressor=True)
        st["kkt"] = kkt
        if st["full_grad"] and kkt <= tol:
            st["converged"] = True
            return st
        if st["full_grad"]:
            outside = (~strong) & (per > tol)
            if outside.any():
                strong = strong | outside
                st["strong"] = strong
                st["additions"] += int(outside.sum())
                idx = np.flatnonzero(strong)
                H = None
        R = off + idx.size
        if R * (J - j0) > NEWTON_MAX_PARAMS or st["passes"] >= maxiter:
            return st
        if H is None:
            H = design.hessian_rows(theta, a, idx)
            st["hcalls"] += 1
            if j0 == 0:
                # symmetric parameterization: the loss is flat along c 1' in each
                # row. The unpenalized intercepts and (group penalty) the rows get
                # Böhning's curvature (C_kk / 2) there, so the model has a unique
                # minimizer (any positive definite metric has the same fixed
                # point; the line search keeps descent). Element-wise rows get
                # none: their optimal shift is a median, set exactly by
                # _recenter_rows, and a curvature there would only slow it.
                ones = np.full((J, J), 1.0 / J)
                diag = np.concatenate((np.ones(off), np.diag(design.C)[idx]))
                for r in range(R if spec.kind == "group" else off):
                    H[r, r] += 0.5 * diag[r] * ones
            Lr = np.array([np.linalg.eigvalsh(H[r, r, j0:, j0:]).max() for r in range(R)])
            Lr = np.maximum(Lr, 1e-12 * max(Lr.max(), 1e-300))
            lam1 = np.concatenate((np.zeros(off), l1[idx]))
            lam2 = np.concatenate((np.zeros(off), l2[idx]))
        ext = np.vstack((a[None, :], theta[idx])) if off else theta[idx].copy()
        gext = np.vstack((ga[None, :], gs[idx])) if off else gs[idx].copy()
        z = ext.copy()
        # inexact inner solves (Dembo-Steihaug style): accurate relative to the
        # current violation, and to a tenth of the target at the end
        inner = max(0.1 * tol, 1e-3 * min(kkt, kkt_strong))
        gext = np.ascontiguousarray(gext)
        ext = np.ascontiguousarray(ext)
        for _round in range(8):
            # coordinate descent finds the active rows; on an ill-conditioned
            # Gram it then converges slowly, so Newton on the smooth problem
            # restricted to them finishes, and coordinate descent checks
            sweeps = _cd_quadratic(H, gext, ext, z, Lr, lam1, lam2, spec.kind == "group",
                                   j0, inner, 300)
            if sweeps < 300:
                break
            _refine_active(H, gext, ext, z, lam1, lam2, spec.kind == "group", j0, inner)
        d = z - ext
        pen_x = penalty_value(theta, lam, spec)
        zt = np.zeros_like(theta)
        zt[idx] = z[off:]
        delta = float(np.sum(gext[:, j0:] * d[:, j0:])) + penalty_value(zt, lam, spec) - pen_x
        if not delta < 0:
            return st     # no descent left at model precision: MM finishes
        F = st["f"] + pen_x
        t = 1.0
        for _ls in range(30):
            tt = theta.copy()
            tt[idx] = theta[idx] + t * d[off:]
            ta = a + t * d[0] if off else a
            if narrow():
                ft, gt, gat = design.loss_grad(tt, ta, rows=idx)
                full = False
            else:
                ft, gt, gat = design.loss_grad(tt, ta)
                full = True
                st["full_passes"] += 1
            st["passes"] += 1
            if ft + penalty_value(tt, lam, spec) <= F + 1e-4 * t * delta:
                break
            t *= 0.5
        else:
            return st     # line search failed: MM finishes
        if j0 == 0:
            _recenter_rows(tt, l1, l2, spec.kind == "group")
        st.update(theta=tt, a=ta, f=ft, g=gt, ga=gat, full_grad=full)
        if t < 1.0:
            H = None      # far from the model's validity: a fresh Hessian
    return st


# ---------------------------------------------------------------------------
# The path
# ---------------------------------------------------------------------------

def _null_fit(design, spec, tol, maxiter, accelerate):
    """The fit with every penalized coefficient at zero (intercepts and the
    regressors with ``pf_k = 0`` free): the start of the path."""
    theta = np.zeros((design.m, design.J))
    a = _intercept_start(design, spec)
    free = spec.factors == 0
    if not free.any():
        f, g, ga = design.loss_grad(theta, a)
        return {"theta": theta, "a": a, "f": f, "grad": g, "grad_a": ga, "passes": 1,
                "full_passes": 1, "hessians": 0}
    return solve_penalty(design, 0.0, spec, theta, a, strong=free, tol=tol, maxiter=maxiter,
                         accelerate=accelerate, restricted=True)


def _dual_norm(grad, spec):
    g = grad[:, spec.first_free:]
    return np.sqrt((g ** 2).sum(axis=1)) if spec.kind == "group" else np.abs(g).max(axis=1)


def lambda_max(grad, spec) -> float:
    """Smallest penalty at which every penalized row is zero:
    ``max_k ||G_k|| / (L1_wt pf_k)`` over ``pf_k > 0`` (the dual norm of
    the penalty at the null fit; ``L1_wt`` floored at 1e-3 as glmnet does,
    so a ridge path also starts somewhere finite)."""
    pen = spec.factors > 0
    if not pen.any():
        return 0.0
    return float((_dual_norm(grad, spec)[pen] / spec.factors[pen]).max()
                 / max(spec.l1_wt, 1e-3))


def lambda_sequence(lam_max, n_alphas=100, min_ratio=None, n=None, m=None):
    """``n_alphas`` penalties log-spaced from ``lam_max`` down to
    ``min_ratio * lam_max`` (glmnet's default ratio: 1e-4 when n > m, else
    1e-2)."""
    if min_ratio is None:
        min_ratio = 1e-4 if (n is None or m is None or n > m) else 1e-2
    if not (0 < min_ratio < 1):
        raise ValueError(f"alpha_min_ratio must be in (0, 1), got {min_ratio!r}")
    if n_alphas < 1:
        raise ValueError(f"n_alphas must be >= 1, got {n_alphas!r}")
    return lam_max * np.geomspace(1.0, min_ratio, int(n_alphas))


def fit_path(design, spec, alphas=None, n_alphas=100, min_ratio=None, tol=1e-9,
             maxiter=5000, accelerate=True, screen=True, on_penalty=None):
    """The penalized fits along a decreasing sequence of penalties.

    Warm starts (each fit starts at the previous solution, with its loss
    gradient: no extra pass), the sequential strong rule (``screen``) with the
    KKT check over every regressor, and a certificate per penalty.

    Returns
    -------
    dict of arrays over the penalties: ``alphas``, ``theta`` (n_alphas, m, J),
    ``a`` (n_alphas, J), ``beta`` (n_alphas, p, J) on the scale of ``X``,
    ``loss`` (``-loglik/n``), ``objective``, ``kkt``, ``passes``,
    ``converged``, ``kkt_additions``, ``strong_size``; and ``lambda_max``,
    ``null_loss`` (intercepts only, or with the unpenalized regressors).
    """
    null = _null_fit(design, spec, tol, maxiter, accelerate)
    lam_max = lambda_max(null["grad"], spec)
    if alphas is None:
        if lam_max <= 0:
            raise ValueError("every regressor has penalty_factor 0: nothing to penalize")
        alphas = lambda_sequence(lam_max, n_alphas, min_ratio, design.n, design.m)
    alphas = np.asarray(alphas, dtype=float)
    k = len(alphas)
    out = {"alphas": alphas, "theta": np.zeros((k, design.m, design.J)),
           "a": np.zeros((k, design.J)), "beta": np.zeros((k, design.X.shape[1], design.J)),
           "loss": np.zeros(k), "objective": np.zeros(k), "kkt": np.zeros(k),
           "passes": np.zeros(k, dtype=int), "full_passes": np.zeros(k, dtype=int),
           "hessians": np.zeros(k, dtype=int),
           "converged": np.zeros(k, dtype=bool),
           "kkt_additions": np.zeros(k, dtype=int), "strong_size": np.zeros(k, dtype=int),
           "lambda_max": lam_max, "null_passes": int(null["passes"])}
    theta, a = null["theta"], null["a"]
    grad = (null["f"], null["grad"], null["grad_a"])
    lam_prev = max(lam_max, alphas[0])
    for i, lam in enumerate(alphas):
        strong = None
        if screen:
            active = np.any(theta[:, spec.first_free:] != 0, axis=1)
            keep = _dual_norm(grad[1], spec) >= spec.l1_wt * spec.factors * (2 * lam - lam_prev)
            strong = active | keep | (spec.factors == 0)
        res = solve_penalty(design, lam, spec, theta, a, grad=grad, strong=strong, tol=tol,
                            maxiter=maxiter, accelerate=accelerate)
        theta, a = res["theta"], res["a"]
        grad = (res["f"], res["grad"], res["grad_a"])
        out["theta"][i], out["a"][i] = theta, a
        out["beta"][i] = design.to_original(theta, a, spec.symmetric)
        out["loss"][i] = res["f"]
        out["objective"][i] = res["f"] + penalty_value(theta, lam, spec)
        out["kkt"][i] = res["kkt"]
        out["passes"][i] = res["passes"]
        out["full_passes"][i] = res["full_passes"]
        out["hessians"][i] = res["hessians"]
        out["converged"][i] = res["converged"]
        out["kkt_additions"][i] = res["kkt_additions"]
        out["strong_size"][i] = int(res["strong"].sum())
        lam_prev = lam
        if on_penalty is not None:
            on_penalty(i, res)
    return out


# ---------------------------------------------------------------------------
# Cross-validation
# ---------------------------------------------------------------------------

def cv_folds(n, n_folds, seed=None, y=None):
    """Fold labels ``0..K-1`` for ``n`` rows: a random permutation dealt
    round-robin (sizes differ by at most one)."""
    if not (isinstance(n_folds, (int, np.integer)) and 2 <= n_folds <= n):
        raise ValueError(f"cv (the number of folds) must be an integer in [2, n={n}], "
                         f"got {n_folds!r}")
    rng = np.random.default_rng(seed)
    folds = np.empty(n, dtype=np.intp)
    folds[rng.permutation(n)] = np.arange(n) % n_folds
    return folds


def heldout_deviance(exog, y, betas, chunksize=None):
    """``-2 sum_i log P_{i,y_i}`` on the rows of ``exog`` for each ``(p, J)``
    coefficient matrix of ``betas`` (one pass per penalty, row blocks)."""
    return np.array([-2.0 * mnlogit_loglike_score(exog, y, b[:, 1:] - b[:, :1],
                                                  chunksize=chunksize)[0] for b in betas])


def cross_validate(exog, y, n_categories, const, spec, alphas, folds, standardize=True,
                   tol=1e-9, maxiter=5000, accelerate=True, screen=True, chunksize=None,
                   names=None):
    """K-fold cross-validated deviance of the penalties ``alphas`` (the
    full-data sequence, as glmnet's ``cv.glmnet``).

    Each fold's path is fitted on the other folds (standardized with their
    own means and scales) and scored by the held-out deviance per row.
    Returns ``(deviance, sizes)``: ``deviance`` is ``(K, n_alphas)``, the mean
    held-out deviance per row of each fold; ``sizes`` the fold sizes. The
    training rows are copied (one ``(n - n/K) x p`` array at a time).
    """
    n_folds = int(folds.max()) + 1
    dev = np.zeros((n_folds, len(alphas)))
    sizes = np.zeros(n_folds, dtype=int)
    for f in range(n_folds):
        test = folds == f
        train = ~test
        xtr = np.ascontiguousarray(exog[train])
        ytr = y[train]
        missing = np.setdiff1d(np.arange(n_categories), np.unique(ytr))
        if missing.size:
            raise ValueError(f"fold {f}: category code(s) {missing.tolist()} do not occur "
                             "in the training rows; use fewer folds")
        design = StandardizedDesign(xtr, ytr, n_categories, const, standardize,
                                    chunksize=chunksize, names=names)
        path = fit_path(design, spec, alphas=alphas, tol=tol, maxiter=maxiter,
                        accelerate=accelerate, screen=screen)
        sizes[f] = int(test.sum())
        dev[f] = heldout_deviance(np.ascontiguousarray(exog[test]), y[test], path["beta"],
                                  chunksize) / sizes[f]
    return dev, sizes
