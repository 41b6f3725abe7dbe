"""Inference shared by every likelihood family.

* covariances: :func:`check_cov_type`, :func:`cluster_codes` (groups
  aligned to the estimation rows, with messages that say what is wrong) and
  :func:`covariance` (observed and expected information, OPG, HC0/HC1,
  one- and two-way cluster, with frequency, sampling or importance weights);
* the ancillary-parameter table (delta method, natural-scale intervals as the
  transform of the estimation-scale ones): :func:`ancillary_frame`;
* tests: :func:`lr_test`, :func:`wald_test_params`;
* the profile likelihood and global search over a correlation
  (:func:`profile_correlation`, :class:`ProfileLikelihood`);
* marginal effects with delta-method standard errors
  (:class:`MarginalEffects`);
* the summary builder (:func:`build_summary`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from econderiv.models._data import constant_columns, user_stacklevel

__all__ = [
    "COV_TYPES",
    "CORRECTIONS",
    "check_cov_type",
    "cluster_codes",
    "covariance",
]

#: covariance types every likelihood family accepts (statsmodels' names, plus
#: "opg" and "eim" for Stata's vce(opg) and the expected information)
COV_TYPES = ("nonrobust", "opg", "eim", "HC0", "HC1", "cluster")

#: small-sample factors of the robust covariances (``cov_kwds={"correction": ...}``)
CORRECTIONS = ("statsmodels", "stata", "none")

_COV_KWDS = {"nonrobust": (), "opg": (), "eim": (), "HC0": (), "HC1": ("correction",),
             "cluster": ("groups", "correction", "use_correction", "df_correction")}

_DESCRIPTIONS = {
    "nonrobust": "inverse of the observed information (negative Hessian)",
    "opg": "inverse of the outer product of the scores (BHHH, Stata's vce(opg))",
    "eim": "inverse of the expected information",
    "HC0": "sandwich with the analytic scores, no small-sample factor",
    "HC1": "sandwich with the analytic scores",
    "cluster": "cluster-robust sandwich"}


def check_cov_type(cov_type, cov_kwds) -> tuple[str, dict]:
    """Normalise ``cov_type`` (case-insensitive statsmodels names) and check
    ``cov_kwds``; returns ``(cov_type, cov_kwds)`` or raises saying what is
    wrong."""
    ct = "nonrobust" if cov_type is None else str(cov_type)
    canon = {c.lower(): c for c in COV_TYPES}
    if ct.lower() not in canon:
        raise ValueError(f"unknown cov_type {cov_type!r}; valid: {', '.join(COV_TYPES)}")
    ct = canon[ct.lower()]
    kw = dict(cov_kwds or {})
    valid = _COV_KWDS[ct]
    bad = [k for k in kw if k not in valid]
    if bad:
        raise ValueError(f"cov_kwds {bad} do not apply to cov_type={ct!r}"
                         + (f"; it takes {list(valid)}" if valid else "; it takes none"))
    if ct == "cluster" and kw.get("groups") is None:
        raise ValueError("cov_type='cluster' needs the cluster of every row: "
                         "cov_kwds={'groups': ...} (an array, Series or column of codes; two "
                         "columns for two-way clustering)")
    corr = kw.get("correction")
    if corr is not None and corr not in CORRECTIONS:
        raise ValueError(f"cov_kwds['correction'] must be one of {CORRECTIONS}, got {corr!r}")
    return ct, kw


def _one_cluster_codes(g: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    if pd.isna(g).any():
        raise ValueError(f"{what} is missing (NaN) for {int(pd.isna(g).sum())} estimation rows")
    _, codes = np.unique(g, return_inverse=True)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    if n_groups < 2:
        raise ValueError(f"cov_type='cluster' needs at least two clusters; {what} has "
                         f"{n_groups}")
    return codes.astype(np.intp).ravel(), n_groups


def cluster_codes(groups, nobs: int, kept=None, row_labels=None):
    """Integer cluster codes ``0..G-1`` for the ``nobs`` estimation rows.

    ``groups`` may be given for the estimation rows (length ``nobs``), or for
    all rows of the data before rows with missing values were dropped: a
    pandas Series (or DataFrame) is then aligned by index label to
    ``row_labels``, an array by the boolean mask ``kept`` (rows kept). Two
    columns give two-way clustering. Raises when the length fits neither,
    when a group is missing for an estimation row, or when a dimension has
    fewer than two clusters. Returns ``(codes, n_groups)``: ``codes`` is
    ``(nobs,)`` and ``n_groups`` an int for one-way clustering, ``(nobs, 2)``
    and a tuple for two-way.
    """
    if isinstance(groups, (pd.Series, pd.DataFrame)) and row_labels is not None \
            and len(groups) != nobs:
        if not groups.index.is_unique:
            raise ValueError("the index of groups has duplicate labels; give groups for the "
                             f"{nobs} estimation rows")
        missing_labels = pd.Index(row_labels).difference(groups.index)
        if len(missing_labels):
            raise ValueError(f"groups has no entry for {len(missing_labels)} estimation rows "
                             f"(e.g. index {list(missing_labels[:3])})")
        groups = groups.reindex(row_labels)
    g = np.asarray(groups, dtype=object) if isinstance(groups, pd.DataFrame) \
        else np.asarray(groups)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g[:, 0]
    if g.ndim not in (1, 2) or (g.ndim == 2 and g.shape[1] != 2):
        raise ValueError("groups must be one column (one-way clustering) or two (two-way), "
                         f"got shape {np.shape(groups)}")
    if len(g) != nobs:
        if kept is not None and len(g) == len(kept):
            g = g[np.asarray(kept, dtype=bool)]
        else:
            extra = (f" or the {len(kept)} rows of the data before missing rows were dropped"
                     if kept is not None and len(kept) != nobs else "")
            raise ValueError(f"groups has {len(g)} entries but the model has {nobs} "
                             f"estimation rows{extra}")
    if g.ndim == 1:
        return _one_cluster_codes(g, "groups")
    c1, g1 = _one_cluster_codes(g[:, 0], "groups (first column)")
    c2, g2 = _one_cluster_codes(g[:, 1], "groups (second column)")
    return np.column_stack([c1, c2]), (g1, g2)


def _group_sums(scores: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups, scores.shape[1]))
    np.add.at(out, codes, scores)
    return out


def covariance(hessian, scores, weights, weight_kind, cov_type: str, cov_kwds: dict,
               nobs: float, k_params: int, expected_information=None, bread=None,
               meat=None, cluster_meat=None):
    """The covariance of the estimates, for every ``cov_type`` and weight kind.

    Parameters
    ----------
    hessian : (k, k)
        Hessian of the (weighted) log-likelihood, ``H = sum_i w_i H_i``.
    scores : (n, k) or None
        Per-row scores of the unweighted contributions, ``s_i``.
    weights : (n,) or None
    weight_kind : {"freq", "prob", "importance", None}
    cov_type, cov_kwds :
        From :func:`check_cov_type`; for "cluster", ``cov_kwds["groups"]`` are
        codes from :func:`cluster_codes`.
    nobs : float
        ``N``: the rows, or the sum of frequency / importance weights.
    expected_information : callable, optional
        ``() -> I`` (weighted expected information) for ``"eim"``.
    bread : (k, k), optional
        For an M-estimator other than ML (the two-step estimators): ``-J^-1``
        with ``J`` the Jacobian of the summed weighted moments, whose rows are
        then ``scores``; the sandwiches are ``bread M bread'``.
    meat : callable, optional
        ``meat(codes)`` in place of ``scores`` (a model that never forms the
        ``(n, k)`` score matrix): the meat of the rows (``codes`` None, with
        the weight rule below) or of the clusters with integer ``codes``.
    cluster_meat : (M, G) or list of three, optional
        For ``"cluster"`` when the cluster sums were formed elsewhere (the
        distributed backend): the one-way meat ``M`` and the number of
        clusters ``G``, or for two-way clustering ``[(M1, G1), (M2, G2),
        (M12, G12)]`` (the two dimensions and their intersections);
        ``cov_kwds["groups"]`` is then not used.

    Notes
    -----
    With ``A = -H`` and score contributions ``g_i = w_i s_i``:

    * ``nonrobust``: ``A^-1``; ``eim``: ``E[A]^-1``;
    * ``opg``: ``M^-1``; sandwiches ``A^-1 M A^-1``, with the meat ``M =
      sum_i w_i s_i s_i'`` for frequency weights (each row stands for
      ``w_i`` identical rows, so the fit on the expanded data gives the same
      matrix) and ``sum_i g_i g_i'`` otherwise (sampling and importance
      weights scale each contribution);
    * ``HC1`` multiplies ``HC0`` by ``N/(N-k)`` (statsmodels) or ``N/(N-1)``
      (``correction="stata"``: Stata's ``vce(robust)`` for ML commands);
    * ``cluster``: the meat ``sum_g G_g G_g'`` with ``G_g`` the sum of
      ``g_i`` over cluster ``g``, times ``G/(G-1) (N-1)/(N-k)`` (statsmodels'
      default), ``G/(G-1)`` (``correction="stata"``) or 1 (``"none"``, or
      ``use_correction=False``). Two-way clustering (Cameron, Gelbach and
      Miller 2011): ``V_1 + V_2 - V_12`` with ``V_12`` clustered on the
      intersections, each with its own factor.

    Returns ``(cov or None, description)``; ``None`` when the information is
    singular.
    """
    from econderiv.models._optim import inverse_information

    desc = _DESCRIPTIONS[cov_type]
    if cov_type == "eim":
        if expected_information is None:
            raise ValueError("cov_type='eim' needs the expected information in closed form, "
                             "which this model does not have; use 'nonrobust' (observed "
                             "information) or 'opg'")
        return inverse_information(-expected_information()), desc
    if cov_type == "nonrobust":
        return (inverse_information(hessian) if bread is None else np.asarray(bread, float)), desc
    w = None if weights is None else np.asarray(weights, float)
    if meat is None:
        contrib = scores if w is None else scores * w[:, None]

        def meat(codes):
            if codes is not None:
                sums = _group_sums(contrib, codes, int(codes.max()) + 1)
                return sums.T @ sums
            if w is not None and weight_kind == "freq":
                return (scores.T * w) @ scores
            return contrib.T @ contrib

    def meat_rows():
        return meat(None)

    if cov_type == "opg":
        if weight_kind == "prob":
            raise ValueError("cov_type='opg' is not valid with prob_weights (as in Stata): the "
                             "outer product of the scores estimates the information only for "
                             "an unweighted or frequency-weighted sample; use 'HC0', 'HC1' "
                             "or 'cluster'")
        return inverse_information(-meat_rows()), desc
    A_inv = inverse_information(hessian) if bread is None else np.asarray(bread, float)
    if A_inv is None:
        return None, desc
    k = k_params
    corr = cov_kwds.get("correction")
    if cov_type in ("HC0", "HC1"):
        V = A_inv @ meat_rows() @ A_inv.T
        if cov_type == "HC1":
            if corr == "stata":
                factor, what = nobs / (nobs - 1.0), "N/(N-1), Stata's vce(robust)"
            elif corr == "none":
                factor, what = 1.0, "no small-sample factor"
            else:
                factor, what = nobs / (nobs - k), "N/(N-k), statsmodels"
            V, desc = V * factor, f"{desc} times {what}"
        return 0.5 * (V + V.T), desc
    # cluster-robust
    if corr is None:
        corr = "none" if cov_kwds.get("use_correction", True) is False else "statsmodels"

    def one_way(M, G):
        V = A_inv @ M @ A_inv.T
        if corr == "statsmodels":
            V *= G / (G - 1.0) * (nobs - 1.0) / (nobs - k)
        elif corr == "stata":
            V *= G / (G - 1.0)
        return V

    def meat_of(c):
        c = np.unique(c, return_inverse=True)[1].ravel().astype(np.intp)
        return meat(c), int(c.max()) + 1

    if cluster_meat is not None:  # (M, G), or [(M1, G1), (M2, G2), (M12, G12)] for two-way
        meats = list(cluster_meat) if isinstance(cluster_meat, list) else [cluster_meat]
    else:
        codes = np.asarray(cov_kwds["groups"])
        if codes.ndim == 1:
            meats = [meat_of(codes)]
        else:
            inter = codes[:, 0].astype(np.int64) * (int(codes[:, 1].max()) + 1) + codes[:, 1]
            meats = [meat_of(codes[:, 0]), meat_of(codes[:, 1]), meat_of(inter)]
    if len(meats) == 1:
        V = one_way(*meats[0])
    else:
        V = one_way(*meats[0]) + one_way(*meats[1]) - one_way(*meats[2])
        desc += " (two-way, Cameron-Gelbach-Miller)"
        V = 0.5 * (V + V.T)
        vals, vecs = np.linalg.eigh(V)
        if vals.min() < 0:
            # CGM (2011, sec. 2.3): with few clusters the difference of the
            # three matrices need not be positive semi-definite; they zero
            # the negative eigenvalues
            warnings.warn(
                f"the two-way cluster covariance is not positive semi-definite (smallest "
                f"eigenvalue {vals.min():.3g}; {int((vals < 0).sum())} negative), which happens "
                "with few clusters in a dimension; its negative eigenvalues were set to zero "
                "(Cameron, Gelbach and Miller 2011). Standard errors may be too small: "
                "prefer one-way clustering on the coarser dimension.", RuntimeWarning,
                stacklevel=user_stacklevel())
            V = (vecs * np.maximum(vals, 0.0)) @ vecs.T
            desc += ", negative eigenvalues set to zero"
    factor = {"statsmodels": "G/(G-1) (N-1)/(N-k), statsmodels",
              "stata": "G/(G-1), Stata", "none": "no small-sample factor"}[corr]
    return 0.5 * (V + V.T), f"{desc} times {factor}"


# ---------------------------------------------------------------------------
# Ancillary parameters
# ---------------------------------------------------------------------------

#: transforms from the estimation scale to the natural scale: (f, f' as a
#: function of the estimation-scale value)
TRANSFORMS = {"tanh": (np.tanh, lambda v: 1.0 - np.tanh(v) ** 2),
              "exp": (np.exp, np.exp),
              "identity": (lambda v: v, lambda v: 1.0)}


def ancillary_frame(entries: Mapping[str, tuple], params, cov, alpha: float = 0.05
                    ) -> pd.DataFrame:
    """Ancillary parameters on their natural scale (delta method).

    Parameters
    ----------
    entries : mapping name -> spec
        ``(i, transform)``: the natural-scale value is ``transform(params[i])``
        (``transform`` one of :data:`TRANSFORMS`' names); its interval is the
        transform of the estimation-scale interval ``params[i] +- z se_i``, as
        Stata reports ``rho = tanh(athrho)`` and ``sigma = exp(lnsigma)``, so it
        stays inside the parameter space. ``(value, gradient)``: a function of
        several parameters (``lambda = rho sigma``) with its gradient in params
        order; the interval is ``value +- z se``. A gradient of NaN gives no
        standard error.
    params, cov
        Estimation-scale parameters and their covariance.
    alpha : float
        ``1 - alpha`` intervals.

    Returns
    -------
    DataFrame indexed by name: ``coef``, ``std err`` (delta method), ``z``,
    ``P>|z|``, and the interval (labels follow ``alpha``).
    """
    params = np.asarray(params, dtype=float)
    cov = np.asarray(cov, dtype=float)
    q = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for name, spec in entries.items():
        if isinstance(spec[1], str):
            i, (f, df) = int(spec[0]), TRANSFORMS[spec[1]]
            est, se_est = params[i], np.sqrt(cov[i, i]) if cov[i, i] >= 0 else np.nan
            value = float(f(est))
            se = abs(float(df(est))) * se_est
            lo, hi = sorted((float(f(est - q * se_est)), float(f(est + q * se_est))))
        else:
            value, grad = float(spec[0]), np.asarray(spec[1], dtype=float)
            var = float(grad @ cov @ grad)
            se = np.sqrt(var) if var >= 0 else np.nan
            lo, hi = value - q * se, value + q * se
        z = value / se if se > 0 else np.nan
        p = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan
        rows.append((value, se, z, p, lo, hi))
    return pd.DataFrame(rows, index=list(entries),
                        columns=["coef", "std err", "z", "P>|z|", f"[{alpha / 2:g}",
                                 f"{1 - alpha / 2:g}]"])


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

@dataclass
class ChiSquareTest:
    """A chi-squared test: likelihood ratio (``kind="LR"``) or Wald."""

    statistic: float
    df: int
    pvalue: float
    description: str = ""
    kind: str = "LR"

    def __str__(self) -> str:
        return (f"{self.kind} test of {self.description}: chi2({self.df}) = "
                f"{self.statistic:.2f}, Prob > chi2 = {self.pvalue:.4f}")


LRTest = ChiSquareTest


def lr_test(llf_full: float, llf_restricted: float, df: int, description: str = ""
            ) -> ChiSquareTest:
    """``2 (llf_full - llf_restricted) ~ chi2(df)`` under the restriction."""
    stat = max(0.0, 2.0 * (llf_full - llf_restricted))
    return ChiSquareTest(stat, df, float(stats.chi2.sf(stat, df)), description, "LR")


def wald_test_zero(params, cov, idx: Sequence[int], description: str = "") -> ChiSquareTest:
    """Wald test that ``params[idx] = 0``: ``b' V^{-1} b ~ chi2(len(idx))``."""
    idx = list(idx)
    if not idx:
        return ChiSquareTest(np.nan, 0, np.nan, description, "Wald")
    b = np.asarray(params, dtype=float)[idx]
    V = np.asarray(cov, dtype=float)[np.ix_(idx, idx)]
    try:
        stat = float(b @ np.linalg.solve(V, b))
    except np.linalg.LinAlgError:
        stat = np.nan
    p = float(stats.chi2.sf(stat, len(idx))) if np.isfinite(stat) else np.nan
    return ChiSquareTest(stat, len(idx), p, description, "Wald")


def correlation_test(results, llf_restricted: float, idx: int, description: str
                     ) -> ChiSquareTest:
    """The test of a correlation's being zero that the covariance type allows:
    the LR test under the model-based covariance, the Wald test (with the
    fit's robust or cluster covariance) otherwise, as Stata does."""
    if results.cov_type == "nonrobust":
        return lr_test(results.llf, llf_restricted, 1, description)
    return wald_test_zero(results.params, results.cov_params(), [idx], description)


def wald_test_terms(results, blocks, scalar: bool = True):
    """Wald tests that each term of each equation is zero.

    ``blocks`` are ``(prefix, offset, design_info or None, names)``: a term
    of an equation built by a formula covers its columns (``C(x)`` all its
    levels), otherwise each column is a term. Rows are labelled
    ``"prefix:term"`` and test the parameters of that equation.
    """
    from statsmodels.stats.contrast import WaldTestResults

    k = len(results.params)
    eye = np.eye(k)
    rows, index = [], []
    for prefix, offset, info, names in blocks:
        if info is not None:
            terms = [(info.term_names[i], info.slice(t)) for i, t in enumerate(info.terms)]
        else:
            terms = [(n, slice(j, j + 1)) for j, n in enumerate(names)]
        for name, sl in terms:
            cols = np.arange(k)[offset:][sl]
            wt = results.wald_test(eye[cols], scalar=scalar)
            rows.append([float(np.squeeze(wt.statistic)), float(wt.pvalue), len(cols)])
            index.append(f"{prefix}:{name}")
    table = pd.DataFrame(rows, index=index, columns=["statistic", "pvalue", "df_constraint"])
    return WaldTestResults(None, "chi2", None, table=table)


# ---------------------------------------------------------------------------
# Profile likelihood and global search over a correlation
# ---------------------------------------------------------------------------

def default_rho_grid() -> np.ndarray:
    """Every 0.05 in [-0.95, 0.95], plus +-0.975, +-0.99, +-0.995."""
    core = np.round(np.linspace(-0.95, 0.95, 39), 10)
    edge = np.array([0.975, 0.99, 0.995])
    return np.unique(np.concatenate([core, edge, -edge]))


class ProfileLikelihood(pd.DataFrame):
    """Profile log-likelihood table (a DataFrame) with a :meth:`plot` method.

    Columns: ``rho``, ``llf`` (the maximum over the other parameters at that
    rho), ``converged``, and the maximising parameters (the correlation's
    parameter fixed). ``attrs`` may hold ``mle_rho`` and ``mle_llf``.
    """

    def plot(self, ax=None, level: float = 0.95, **kwargs):
        """Plot llf against rho, marking the ML estimate and the LR interval
        cut-off ``max llf - chi2_1(level) / 2`` (where the profile meets it are
        the ends of the likelihood-ratio interval). Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        frame = pd.DataFrame(self)
        ok = np.isfinite(frame["llf"].to_numpy(float))
        kwargs.setdefault("marker", ".")
        ax.plot(frame["rho"][ok], frame["llf"][ok], **kwargs)
        top = float(frame["llf"][ok].max())
        mle_llf = self.attrs.get("mle_llf")
        if mle_llf is not None and np.isfinite(mle_llf):
            top = max(top, mle_llf)
            ax.plot([self.attrs["mle_rho"]], [mle_llf], "o", color="C3", label="ML estimate")
        ax.axhline(top - stats.chi2.ppf(level, 1) / 2, color="0.5", ls="--", lw=0.8,
                   label=f"{level:.0%} LR cut-off")
        ax.set_xlabel("rho")
        ax.set_ylabel("profile log-likelihood")
        ax.legend(loc="best")
        return ax


def fit_with_fixed(model, index, value, start, maxiter: int = 100):
    """Maximise ``model.loglike`` over every parameter but ``params[index] =
    value`` (``index`` and ``value`` may be sequences: several fixed);
    returns ``(params, llf, converged)``."""
    from econderiv.models._optim import newton_trust

    k = len(start)
    index = np.atleast_1d(np.asarray(index, dtype=int))
    value = np.broadcast_to(np.asarray(value, dtype=float), index.shape)
    free = np.setdiff1d(np.arange(k), index)

    def full(p):
        x = np.empty(k)
        x[free] = p
        x[index] = value
        return x

    f = lambda p: -model.loglike(full(p))
    g = lambda p: -model.score(full(p))[free]
    h = lambda p: -model.hessian(full(p))[np.ix_(free, free)]
    p0 = np.asarray(start, float)[free]
    with np.errstate(all="ignore"):
        if not np.isfinite(f(p0)):
            return full(p0), -np.inf, False
        try:
            p, info = newton_trust(f, g, p0, maxiter=maxiter, hess=h)
        except (ValueError, np.linalg.LinAlgError):
            return full(p0), -np.inf, False
    x = full(p)
    return x, model.loglike(x), bool(info["converged"])


def profile_correlation(model, index, center, grid=None, maxiter: int = 100,
                        cold_start=None) -> ProfileLikelihood:
    """Profile log-likelihood of ``rho = tanh(params[index])`` on a grid.

    Each grid point is maximised over the other parameters from its
    neighbour's solution, sweeping outwards from ``center`` (the estimate),
    and also from ``cold_start`` when given (e.g. the two-step estimates),
    keeping the better: this finds other modes of a multimodal likelihood.
    With several correlations (``index`` a sequence), see
    :func:`profile_correlations`.
    """
    if np.ndim(index) and len(index) > 1:
        return profile_correlations(model, index, center, grid, maxiter, cold_start)
    index = int(np.ravel(index)[0])
    grid = np.unique(np.asarray(default_rho_grid() if grid is None else grid, float))
    if grid.size == 0 or np.any(np.abs(grid) >= 1):
        raise ValueError("the rho grid must lie strictly inside (-1, 1)")
    center = np.asarray(center, dtype=float)
    rho_c = float(np.tanh(center[index]))
    up = [i for i in range(grid.size) if grid[i] >= rho_c]
    down = [i for i in range(grid.size) if grid[i] < rho_c][::-1]
    rows: dict[int, tuple] = {}
    for path in (up, down):
        warm = center.copy()
        for i in path:
            a = float(np.arctanh(grid[i]))
            best = None
            for start in (warm,) if cold_start is None else (warm, cold_start):
                x, llf, ok = fit_with_fixed(model, index, a, start, maxiter)
                if best is None or llf > best[1]:
                    best = (x, llf, ok)
            rows[i] = best
            if np.isfinite(best[1]):
                warm = best[0]
    recs = [[grid[i], rows[i][1], rows[i][2], *rows[i][0]] for i in range(grid.size)]
    return ProfileLikelihood(recs, columns=["rho", "llf", "converged"]
                             + list(model.param_names))


def default_rho_grid_multi() -> np.ndarray:
    """The grid of each correlation when several are profiled jointly:
    0, +-0.2, +-0.4, +-0.6, +-0.8, +-0.95 (11 points; 121 for two)."""
    return np.array([-0.95, -0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 0.95])


def _rho_labels(model, indices) -> list[str]:
    """``rho0, rho1, ...`` from the parameter names ``athrho0, athrho1, ...``."""
    names = list(model.param_names)
    return [str(names[i]).replace("athrho", "rho") for i in indices]


def profile_correlations(model, indices, center, grid=None, maxiter: int = 100,
                         cold_start=None) -> ProfileLikelihood:
    """Joint profile log-likelihood of several correlations on the product grid
    (``grid`` of each, default :func:`default_rho_grid_multi`).

    Grid points are visited by their distance from ``center`` (the estimate);
    each is maximised over the other parameters from the best solution at an
    adjacent point already visited (else ``center``), and from
    ``cold_start`` when given, keeping the better. Columns: one ``rho...`` per
    correlation, ``llf``, ``converged``, the maximising parameters.
    """
    import itertools

    indices = [int(i) for i in indices]
    grid = np.unique(np.asarray(default_rho_grid_multi() if grid is None else grid, float))
    if grid.size == 0 or np.any(np.abs(grid) >= 1):
        raise ValueError("the rho grid must lie strictly inside (-1, 1)")
    center = np.asarray(center, dtype=float)
    rho_c = np.tanh(center[indices])
    cells = list(itertools.product(range(grid.size), repeat=len(indices)))
    cells.sort(key=lambda c: float(np.sum((grid[list(c)] - rho_c) ** 2)))
    done: dict[tuple, tuple] = {}
    for cell in cells:
        near = [done[n] for n in done if max(abs(a - b) for a, b in zip(n, cell)) == 1
                and np.isfinite(done[n][1])]
        warm = max(near, key=lambda r: r[1])[0] if near else center
        a = np.arctanh(grid[list(cell)])
        best = None
        for start in (warm,) if cold_start is None else (warm, cold_start):
            x, llf, ok = fit_with_fixed(model, indices, a, start, maxiter)
            if best is None or llf > best[1]:
                best = (x, llf, ok)
        done[cell] = best
    order = sorted(done)
    recs = [[*grid[list(c)], done[c][1], done[c][2], *done[c][0]] for c in order]
    prof = ProfileLikelihood(recs, columns=_rho_labels(model, indices) + ["llf", "converged"]
                             + list(model.param_names))
    prof.attrs["grid_shape"] = (grid.size,) * len(indices)
    return prof


def _profile_peaks(prof, labels) -> list[int]:
    """Rows of a profile table that are local maxima among their grid
    neighbours (adjacent in every direction, diagonals included)."""
    llf = prof["llf"].to_numpy(float)
    pts = prof[labels].to_numpy(float)
    axes = [np.unique(pts[:, j]) for j in range(len(labels))]
    pos = np.column_stack([np.searchsorted(axes[j], pts[:, j]) for j in range(len(labels))])
    peaks = []
    for i in range(len(llf)):
        if not np.isfinite(llf[i]):
            continue
        near = np.max(np.abs(pos - pos[i]), axis=1) == 1
        if np.all(llf[i] >= llf[near][np.isfinite(llf[near])]):
            peaks.append(i)
    return peaks


def global_search(model, res, index, refit: Callable, grid=None, maxiter: int = 100,
                  cold_start=None):
    """The highest maximum: profile the correlation, restart the full fit
    (``refit(start) -> results``) from every local maximum of the profile
    above ``res.llf``, and keep the highest genuine maximum (converged, with a
    negative definite Hessian).

    Returns ``(best, table, profile)``; ``table`` lists the maxima examined.
    With several correlations (``index`` a sequence) the profile is joint
    (:func:`profile_correlations`) and its local maxima are those of the grid.
    """
    multi = bool(np.ndim(index)) and len(index) > 1
    idx = [int(i) for i in np.ravel(index)]
    labels = _rho_labels(model, idx) if multi else ["rho"]
    prof = profile_correlation(model, idx if multi else idx[0], np.asarray(res.params, float),
                               grid, maxiter, cold_start)
    llf = prof["llf"].to_numpy()
    if multi:
        peaks = _profile_peaks(prof, labels)
    else:
        peaks = [i for i in range(len(llf)) if (i == 0 or llf[i] >= llf[i - 1])
                 and (i == len(llf) - 1 or llf[i] >= llf[i + 1])]
    candidates = [([np.nan] * len(idx), res)]
    for i in peaks:
        if not llf[i] > res.llf + 1e-6:
            continue
        start = prof.iloc[i][list(model.param_names)].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                r = refit(start)
            except (ValueError, np.linalg.LinAlgError):
                continue
        candidates.append((list(prof[labels].iloc[i].to_numpy(float)), r))

    def negdef(r):
        H = model.hessian(np.asarray(r.params, float))
        return bool(np.all(np.isfinite(H)) and np.linalg.eigvalsh(H).max() < 0)

    rows = []
    for s, r in candidates:
        rhos = np.tanh(np.asarray(r.params, float)[idx])
        row = {f"start_{n}": v for n, v in zip(labels, s)}
        row.update({n: float(v) for n, v in zip(labels, rhos)})
        row.update(llf=r.llf, converged=bool(r.converged),
                   max_abs_score=float(np.max(np.abs(model.score(np.asarray(r.params,
                                                                            float))))),
                   hessian_negdef=negdef(r))
        rows.append(row)
    table = pd.DataFrame(rows)
    ok = table["converged"] & table["hessian_negdef"]
    pick = int(table["llf"].where(ok, -np.inf).idxmax() if ok.any() else table["llf"].idxmax())
    table["chosen"] = table.index == pick
    best = candidates[pick][1]
    best_rhos = np.tanh(np.asarray(best.params, float)[idx])
    prof.attrs.update(mle_llf=best.llf, **({"mle_rho": float(best_rhos[0])} if not multi else
                                          {"mle_" + n: float(v)
                                           for n, v in zip(labels, best_rhos)}))
    if pick != 0:
        def at(row):
            return ", ".join(f"{n} {row[n]:.4f}" for n in labels)
        warnings.warn(
            f"global_search: the local maximum reached from the start (llf {res.llf:.4f}, "
            f"{at(rows[0])}) is not the highest; returning the maximum with llf "
            f"{best.llf:.4f}, {at(rows[pick])}. See res.global_search.",
            RuntimeWarning, stacklevel=user_stacklevel())
    return best, table, prof


# ---------------------------------------------------------------------------
# Marginal effects
# ---------------------------------------------------------------------------

class MarginalEffects:
    """Marginal effects with delta-method standard errors.

    Attributes
    ----------
    margeff : Series
        The effects (``dy/dx``), averaged over the rows (``at="overall"``) or
        at the regressor means (``at="mean"``).
    margeff_se : Series
        ``sqrt(diag(J V J'))`` with ``J`` the Jacobian of the effects in the
        parameters and ``V`` the fit's covariance.
    margeff_cov : DataFrame
    jacobian : ndarray
        ``d margeff / d params``, one row per effect.
    decomposition : DataFrame or None
        Channels that add up to the effect (for example the direct and the
        selection channel of a selection model).
    which, at, description : str
    dummies : list of str
        Variables whose effect is a discrete change ``P(x=1) - P(x=0)``.
    n_used : int
        Rows averaged over.
    """

    def __init__(self, names, values, jacobian, cov, which: str, at: str,
                 description: str = "", dummies=(), decomposition=None, n_used=None):
        names = list(names)
        self.which = which
        self.at = at
        self.description = description or which
        self.dummies = list(dummies)
        self.jacobian = np.atleast_2d(np.asarray(jacobian, dtype=float))
        mcov = self.jacobian @ np.asarray(cov, dtype=float) @ self.jacobian.T
        self.margeff_cov = pd.DataFrame(mcov, index=names, columns=names)
        self.margeff = pd.Series(np.asarray(values, dtype=float), index=names, name="dy/dx")
        self.margeff_se = pd.Series(np.sqrt(np.clip(np.diag(mcov), 0, None)), index=names,
                                    name="std err")
        self.decomposition = decomposition
        self.n_used = n_used

    @property
    def tvalues(self) -> pd.Series:
        return self.margeff / self.margeff_se

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.margeff.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Lower and upper bounds in columns ``0`` and ``1``, as statsmodels'
        ``conf_int()``."""
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({0: self.margeff - q * self.margeff_se,
                             1: self.margeff + q * self.margeff_se})

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """dy/dx, std err, z, P>|z|, the interval and any decomposition."""
        ci = self.conf_int(alpha)
        frame = pd.DataFrame({
            "dy/dx": self.margeff, "std err": self.margeff_se, "z": self.tvalues,
            "P>|z|": self.pvalues, f"[{alpha / 2:g}": ci[0], f"{1 - alpha / 2:g}]": ci[1]})
        if self.decomposition is not None:
            frame = frame.join(self.decomposition)
        return frame

    def summary(self, alpha: float = 0.05) -> str:
        where = ("average over " + (f"{self.n_used} rows" if self.n_used else "the sample")
                 if self.at == "overall" else "at the means of the regressors")
        lines = [f"Marginal effects on {self.description}", f"at: {where}"
                 + (f"; discrete change for {self.dummies}" if self.dummies else ""),
                 "Delta-method standard errors", "",
                 self.summary_frame(alpha).to_string(float_format=lambda v: f"{v:.6g}")]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

def _label_table(table, label: str):
    """Put the block's name in the empty top-left cell of a parameter table."""
    cell = table[0][0]
    cell.data = label
    cell.datatype = "header"
    return table


def cov_lines(results) -> list[tuple[str, list[str]]]:
    """Header rows that say which covariance was used (and the clusters)."""
    ct = str(results.cov_type)
    corr = (getattr(results, "cov_kwds", None) or {}).get("correction")
    if corr == "stata" and ct in ("HC1", "cluster"):
        ct += " (Stata)"
    rows = [("Covariance Type:", [ct])]
    n_groups = getattr(results, "n_groups", None)
    if results.cov_type == "cluster" and n_groups is not None:
        text = (f"{int(n_groups)}" if np.ndim(n_groups) == 0
                else " x ".join(str(int(g)) for g in n_groups) + " (two-way)")
        rows.append(("No. Clusters:", [text]))
    kind = getattr(results.model, "weight_type", None)
    if kind is not None:
        label = {"freq": "frequency", "prob": "sampling (prob)",
                 "importance": "importance"}[kind]
        w = results.model.weights
        rows.append(("Weights:", [f"{label}, sum {float(np.sum(w)):.6g}"]))
    return rows


def build_summary(results, title: str, top_left, top_right, blocks, ancillary=None,
                  ancillary_title: str = "natural scale", notes=(), alpha: float = 0.05):
    """statsmodels ``Summary``: header, one parameter table per equation block
    (``(label, slice of params, term names)``), the ancillary table and notes."""
    from statsmodels.iolib.summary import Summary, summary_params

    smry = Summary()
    smry.add_table_2cols(results, gleft=top_left, gright=top_right, title=title)
    p = np.asarray(results.params, float)
    bse = np.asarray(results.bse, float)
    tv = np.asarray(results.tvalues, float)
    pv = np.asarray(results.pvalues, float)
    ci = np.asarray(results.conf_int(alpha), float)
    for label, sl, names in blocks:
        tab = summary_params((results, p[sl], bse[sl], tv[sl], pv[sl], ci[sl]), yname=label,
                             xname=list(names), alpha=alpha, use_t=False)
        smry.tables.append(_label_table(tab, label))
    if ancillary is not None and len(ancillary):
        tab = summary_params((results, ancillary["coef"].to_numpy(),
                              ancillary["std err"].to_numpy(), ancillary["z"].to_numpy(),
                              ancillary["P>|z|"].to_numpy(), ancillary.iloc[:, 4:6].to_numpy()),
                             yname="ancillary", xname=list(ancillary.index), alpha=alpha,
                             use_t=False)
        smry.tables.append(_label_table(tab, ancillary_title))
    notes = [n for n in notes if n]
    if notes:
        smry.add_extra_txt(notes)
    return smry


def index_margins(params, cov, designs, names, index_params, predict, which: str, at: str,
                  dummy: bool, description: str, uses=None, variables=None, weights=None
                  ) -> MarginalEffects:
    """Average (or at-means) marginal effects for a prediction that depends on
    the linear indices ``xb_e = X_e beta_e`` of several equations.

    ``index_params(params) -> [beta_e]``; ``predict(params, designs, grad) ->
    (p, [dp/dxb_e])``. A variable in several equations moves each index:
    ``dP/dv = sum_e dP/dxb_e beta_e,v`` (matched by name). ``uses[e]`` says
    whether the prediction depends on equation ``e``. With ``dummy=True``
    (and ``at="overall"``) 0/1 regressors get the discrete change
    ``P(v=1) - P(v=0)``. The Jacobian in the parameters, for the delta
    method, is by central differences of the analytic effect. ``weights``
    (one per row of the designs) make the averages and means weighted, as
    Stata's ``margins`` with weights.
    """
    from statsmodels.tools.numdiff import approx_fprime

    if at not in ("overall", "mean"):
        raise ValueError(f"at must be 'overall' or 'mean', got {at!r}")
    n_eq = len(designs)
    uses = [True] * n_eq if uses is None else list(uses)
    where: dict[str, list] = {}
    for e, (x, nm) in enumerate(zip(designs, names)):
        if not uses[e]:
            continue
        const = constant_columns(x)
        for j, n in enumerate(nm):
            if not const[j]:
                where.setdefault(n, [None] * n_eq)[e] = j
    if not where:
        raise ValueError("the model has no regressors other than constants")
    n_used = len(designs[0])
    if at == "mean":
        designs = [np.average(x, axis=0, weights=weights)[None, :] for x in designs]
        weights = None
    report = list(where)
    if variables is not None:
        variables = [variables] if isinstance(variables, str) else list(variables)
        unknown = [v for v in variables if v not in where]
        if unknown:
            raise ValueError(f"no marginal effect for {unknown}: the target {which!r} "
                             f"depends on {report}")
        report = variables
    is_dummy = {}
    for v in report:
        e = next(i for i, j in enumerate(where[v]) if j is not None)
        col = designs[e][:, where[v][e]]
        is_dummy[v] = bool(dummy) and at == "overall" and bool(np.isin(col, (0.0, 1.0)).all())

    def effects(p):
        betas = index_params(p)
        _, derivs = predict(p, designs, True)
        out = np.empty(len(report))
        for i, v in enumerate(report):
            if is_dummy[v]:
                hi = [x.copy() for x in designs]
                lo = [x.copy() for x in designs]
                for e, j in enumerate(where[v]):
                    if j is not None:
                        hi[e][:, j], lo[e][:, j] = 1.0, 0.0
                out[i] = np.average(predict(p, hi, False) - predict(p, lo, False),
                                    weights=weights)
                continue
            eff = 0.0
            for e, j in enumerate(where[v]):
                if j is not None:
                    eff = eff + derivs[e] * betas[e][j]
            # a constant derivative (a linear index) broadcasts over the rows
            eff = np.broadcast_to(eff, (len(designs[0]),))
            out[i] = np.average(eff, weights=weights)
        return out

    params = np.asarray(params, dtype=float)
    values = effects(params)
    jac = np.atleast_2d(approx_fprime(params, effects, centered=True))
    return MarginalEffects(report, values, jac, cov, which, at, description,
                           [v for v in report if is_dummy[v]], None, n_used)
