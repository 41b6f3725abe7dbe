"""Results of the penalized multinomial logit: the regularization path, its
cross-validation, predictions and the post-selection refit.

The algorithm (objective, Böhning MM steps, KKT certificate, strong rule) is
in :mod:`econderiv.models._mnlogit_penalty`; :func:`penalized_path` is the
driver that ``MNLogit.fit_regularized`` and ``MNLogit.regularization_path``
call. This module never imports the family module (it receives the model).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from econderiv.models._mnlogit_kernels import _log_softmax_rest
from econderiv.models._mnlogit_penalty import (PenaltySpec, StandardizedDesign,
                                               check_penalty, cross_validate, cv_folds,
                                               fit_path, kkt_violation, penalty_value)

__all__ = ["MNLogitPath", "MNLogitCV", "penalized_path", "POST_SELECTION_NOTE"]

POST_SELECTION_NOTE = (
    "POST-SELECTION refit: the regressors were chosen by a penalized fit on the same "
    "data. These standard errors, tests and intervals treat that choice as fixed in "
    "advance and ignore it, so they are too optimistic (intervals too narrow, p-values "
    "too small) and not valid inference after selection.")


def _intercept_column(model):
    const = getattr(model.data, "const_idx", None)
    if const is None or not getattr(model, "k_constant", 0):
        return None
    const = int(np.atleast_1d(const)[0])
    col = model.exog[:, const]
    return const if col[0] != 0 and np.all(col == col[0]) else None


def _category_labels(model):
    ymap = getattr(model, "_ynames_map", None) or {}
    return [str(ymap.get(k, k)) for k in range(int(model.J))]


def penalized_path(model, alphas=None, n_alphas=100, alpha_min_ratio=None, L1_wt=1.0,
                   penalty="group", symmetric=True, standardize=True, penalty_factor=None,
                   cv=None, seed=0, tol=1e-7, maxiter=10000, accelerate=True, screen=True):
    """Fit the path of a ``MNLogit`` model and return a :class:`MNLogitPath`
    (arguments as ``MNLogit.regularization_path``)."""
    names = list(model.exog_names)
    const = _intercept_column(model)
    pen_names = [nm for k, nm in enumerate(names) if k != const]
    alphas, l1, kind, pf = check_penalty(alphas, L1_wt, penalty, penalty_factor, pen_names)
    for key, value in (("tol", tol), ("maxiter", maxiter)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{key} must be a positive number, got {value!r}")
    spec = PenaltySpec(kind, l1, pf, bool(symmetric))
    y = np.asarray(model.endog, dtype=np.intp)
    design = StandardizedDesign(model.exog, y, int(model.J), const, bool(standardize),
                                xtx=getattr(model, "_xtx", None),
                                chunksize=getattr(model, "chunksize", None), names=names)
    out = fit_path(design, spec, alphas=alphas, n_alphas=n_alphas,
                   min_ratio=alpha_min_ratio, tol=tol, maxiter=int(maxiter),
                   accelerate=accelerate, screen=screen)
    path = MNLogitPath(model, out, spec, design, names, pen_names, const,
                       settings=dict(tol=tol, maxiter=maxiter, accelerate=accelerate,
                                     screen=screen, standardize=bool(standardize)))
    bad = np.flatnonzero(~out["converged"])
    if bad.size:
        warnings.warn(
            f"the penalized fit did not reach the KKT tolerance {tol:g} at {bad.size} of "
            f"{len(out['alphas'])} penalties (largest violation {out['kkt'][bad].max():.2e} "
            f"at alpha = {out['alphas'][bad[0]]:.4g}); raise maxiter (passes per penalty, "
            f"now {maxiter}), loosen tol, or standardize the regressors. See "
            "path.summary_frame()['kkt'].", ConvergenceWarning, stacklevel=3)
    if cv is not None:
        folds = cv_folds(design.n, cv, seed)
        dev, sizes = cross_validate(model.exog, y, int(model.J), const, spec, out["alphas"],
                                    folds, bool(standardize), tol, int(maxiter), accelerate,
                                    screen, getattr(model, "chunksize", None), names)
        path.cv = MNLogitCV(out["alphas"], dev, sizes, folds)
    return path


class MNLogitCV:
    """K-fold cross-validated deviance of a penalty path (as ``cv.glmnet``
    with ``type.measure = "deviance"``).

    Attributes
    ----------
    alphas : ndarray
    fold_deviance : ndarray (K, n_alphas)
        Mean held-out deviance ``-2 log P_{i,y_i}`` per row of each fold.
    cvm : ndarray
        The fold means weighted by fold size (= mean over all held-out rows).
    cvsd : ndarray
        Standard error of ``cvm``: ``sqrt(sum_f w_f (d_f - cvm)^2 / (K - 1))``
        with ``w_f`` the fold shares (glmnet's formula).
    alpha_min, alpha_1se : float
        Penalty with the smallest ``cvm``; the largest penalty whose ``cvm`` is
        within one ``cvsd`` of that minimum.
    folds : ndarray
        The fold of every estimation row.
    """

    def __init__(self, alphas, fold_deviance, sizes, folds):
        self.alphas = np.asarray(alphas)
        self.fold_deviance = fold_deviance
        self.sizes = sizes
        self.folds = folds
        w = sizes / sizes.sum()
        self.cvm = w @ fold_deviance
        k = len(sizes)
        self.cvsd = np.sqrt((w @ (fold_deviance - self.cvm) ** 2) / max(k - 1, 1))
        i = int(np.argmin(self.cvm))
        self.index_min = i
        ok = np.flatnonzero(self.cvm <= self.cvm[i] + self.cvsd[i])
        self.index_1se = int(ok.min())
        self.alpha_min = float(self.alphas[i])
        self.alpha_1se = float(self.alphas[self.index_1se])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"alpha": self.alphas, "cvm": self.cvm, "cvsd": self.cvsd})

    def plot(self, ax=None):
        """Cross-validated deviance against log(alpha), with one-SE bars and the
        two selected penalties marked."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        x = np.log(self.alphas)
        ax.errorbar(x, self.cvm, yerr=self.cvsd, fmt="o", ms=3, color="firebrick",
                    ecolor="lightgray", capsize=2)
        for a, style, name in ((self.alpha_min, ":", "alpha_min"),
                               (self.alpha_1se, "--", "alpha_1se")):
            ax.axvline(np.log(a), color="k", ls=style, lw=0.8, label=name)
        ax.legend(fontsize="small")
        ax.set_xlabel("log(alpha)")
        ax.set_ylabel("cross-validated deviance per row")
        ax.invert_xaxis()
        return ax


class MNLogitPath:
    """Penalized multinomial logit fits along a sequence of penalties.

    Coefficients are stored on the scale of the model's ``exog``, for all
    ``J`` categories: ``coefs[i]`` is ``(p, J)``. With the symmetric
    parameterization (glmnet's) every column is free; with
    ``symmetric=False`` column 0 (the base category) is zero. Predictions
    and deviances depend only on the contrasts ``beta_j - beta_0``, which
    :meth:`coef` returns in statsmodels' layout with ``layout="base"``.

    Attributes
    ----------
    alphas : ndarray
        The penalties, decreasing (glmnet's ``lambda``).
    coefs : ndarray (n_alphas, p, J)
    loss, objective : ndarray
        ``-loglik/n`` and the penalized objective (the module docstring of
        :mod:`econderiv.models._mnlogit_penalty`).
    deviance, null_deviance, dev_ratio : ndarray, float, ndarray
        ``-2 loglik``; the intercept-only deviance; ``1 - deviance/null``.
    df : ndarray of int
        Selected regressors (any nonzero coefficient; glmnet's ``df``).
    n_nonzero : ndarray of int
        Nonzero penalized coefficients (in the stored parameterization).
    kkt : ndarray
        Largest violation of the optimality conditions at each penalty,
        checked over every regressor (the certificate).
    passes, full_passes, hessians, converged : ndarray
        Passes over the data (those reading only the strong set's columns
        included), full-width passes, Hessians of the proximal Newton phase,
        and convergence (``kkt <= tol``) per penalty.
    lambda_max : float
        The smallest penalty with every penalized coefficient zero.
    cv : MNLogitCV or None
    """

    def __init__(self, model, out, spec, design, names, pen_names, const, settings):
        self.model = model
        self._design = design
        self.spec = spec
        self.names = names
        self.penalized_names = pen_names
        self.const = const
        self.categories = _category_labels(model)
        self.settings = settings
        self.alphas = out["alphas"]
        self.coefs = out["beta"]
        self.coefs_standardized = out["theta"]
        self.intercepts_standardized = out["a"]
        self.loss = out["loss"]
        self.objective = out["objective"]
        self.kkt = out["kkt"]
        self.passes = out["passes"]
        self.full_passes = out["full_passes"]
        self.hessians = out["hessians"]
        self.converged = out["converged"]
        self.kkt_additions = out["kkt_additions"]
        self.strong_size = out["strong_size"]
        self.lambda_max = out["lambda_max"]
        self.nobs = design.n
        self.sd = design.sd
        self.mu = design.mu
        self.deviance = 2.0 * design.n * self.loss
        counts = np.bincount(design.y, minlength=design.J).astype(float)
        counts = counts[counts > 0]
        self.null_deviance = float(-2.0 * np.sum(counts * np.log(counts / counts.sum())))
        self.dev_ratio = 1.0 - self.deviance / self.null_deviance
        th = out["theta"][:, :, spec.first_free:]
        self.selected_mask = np.any(th != 0, axis=2)
        self.df = self.selected_mask.sum(axis=1)
        self.n_nonzero = (th != 0).sum(axis=(1, 2))
        self.cv = None

    # -- choosing a penalty ------------------------------------------------
    def _index(self, alpha=None) -> int:
        if alpha is None:
            if len(self.alphas) == 1:
                return 0
            if self.cv is not None:
                return self.cv.index_min
            raise ValueError("give alpha (a penalty on the path; see path.alphas), or "
                             "cross-validate (cv=K) to choose one")
        if isinstance(alpha, str):
            if self.cv is None:
                raise ValueError(f"alpha={alpha!r} needs a cross-validated path (cv=K)")
            if alpha == "min":
                return self.cv.index_min
            if alpha == "1se":
                return self.cv.index_1se
            raise ValueError(f"alpha must be a number, 'min' or '1se', got {alpha!r}")
        hit = np.flatnonzero(np.isclose(self.alphas, float(alpha), rtol=1e-10, atol=0))
        if not hit.size:
            near = self.alphas[np.argsort(np.abs(np.log(self.alphas + 1e-300)
                                                 - np.log(max(float(alpha), 1e-300))))[:2]]
            raise ValueError(f"alpha={alpha!r} is not on the path; nearest: "
                             f"{', '.join(f'{a:.6g}' for a in near)} (fit it with "
                             "fit_regularized(alpha=...) or pass alphas=[...])")
        return int(hit[0])

    # -- coefficients ------------------------------------------------------
    def coef(self, alpha=None, layout="symmetric") -> pd.DataFrame:
        """Coefficients at one penalty on the scale of ``exog``.

        ``layout="symmetric"``: ``p x J`` as stored (glmnet's ``coef``);
        ``"base"``: ``p x (J-1)`` contrasts with category 0, statsmodels'
        ``MNLogit`` layout (what ``predict`` uses).
        """
        b = self.coefs[self._index(alpha)]
        if layout == "symmetric":
            return pd.DataFrame(b, index=self.names, columns=self.categories)
        if layout == "base":
            return pd.DataFrame(b[:, 1:] - b[:, :1], index=self.names,
                                columns=self.categories[1:])
        raise ValueError(f"layout must be 'symmetric' or 'base', got {layout!r}")

    @property
    def params(self) -> pd.DataFrame:
        """``coef(layout="base")`` at the only penalty, or at ``cv.alpha_min``."""
        return self.coef(None, layout="base")

    def selected(self, alpha=None) -> list:
        """Names of the regressors with a nonzero coefficient at ``alpha``."""
        mask = self.selected_mask[self._index(alpha)]
        return [nm for nm, s in zip(self.penalized_names, mask) if s]

    @property
    def selected_groups(self) -> pd.DataFrame:
        """Boolean table: penalties x penalized regressors (selected or not)."""
        return pd.DataFrame(self.selected_mask, index=pd.Index(self.alphas, name="alpha"),
                            columns=self.penalized_names)

    def summary_frame(self) -> pd.DataFrame:
        """One row per penalty: df, nonzero coefficients, deviance, deviance
        ratio, objective, KKT violation, passes over the data, Hessians,
        converged."""
        return pd.DataFrame({
            "alpha": self.alphas, "df": self.df, "n_nonzero": self.n_nonzero,
            "deviance": self.deviance, "dev_ratio": self.dev_ratio,
            "objective": self.objective, "kkt": self.kkt, "passes": self.passes,
            "hessians": self.hessians, "converged": self.converged})

    # -- the objective and certificate at any coefficients -----------------
    def _coef_array(self, coef):
        b = np.asarray(coef, dtype=float)
        if b.shape == (len(self.names), len(self.categories) - 1):
            b = np.column_stack((np.zeros(len(self.names)), b))
        if b.shape != (len(self.names), len(self.categories)):
            raise ValueError(f"coef must be (p, J) = ({len(self.names)}, "
                             f"{len(self.categories)}) or (p, J-1), got {b.shape}")
        return b

    def objective_at(self, coef, alpha) -> float:
        """The penalized objective at coefficients ``coef`` (``(p, J)`` on the
        scale of ``exog``, e.g. another program's, or ``(p, J-1)`` contrasts)
        and penalty ``alpha``: one pass over the data."""
        theta, a = self._design.from_original(self._coef_array(coef))
        f, _, _ = self._design.loss_grad(theta, a)
        return float(f + penalty_value(theta, float(alpha), self.spec))

    def kkt_at(self, coef, alpha) -> float:
        """Largest violation of the optimality conditions at ``coef`` and
        ``alpha`` (the certificate of :attr:`kkt`, for any coefficients)."""
        theta, a = self._design.from_original(self._coef_array(coef))
        _, g, ga = self._design.loss_grad(theta, a)
        return float(kkt_violation(theta, g, ga, float(alpha), self.spec))

    # -- predictions -------------------------------------------------------
    def _exog(self, exog):
        model = self.model
        if exog is None:
            return model.exog, getattr(model.data, "row_labels", None)
        if isinstance(exog, pd.DataFrame) and getattr(model, "formula", None) is not None:
            from statsmodels.formula._manager import FormulaManager

            spec = getattr(model, "model_spec", None) or model.data.model_spec
            mat = FormulaManager().get_matrices(spec, exog, pandas=True, prediction=True)
            return np.asarray(mat, dtype=float), mat.index
        index = exog.index if isinstance(exog, (pd.DataFrame, pd.Series)) else None
        if isinstance(exog, pd.DataFrame) and set(self.names) <= set(exog.columns):
            exog = exog[self.names]
        x = np.asarray(exog, dtype=float)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != len(self.names):
            raise ValueError(f"exog has {x.shape[1]} columns, expected {len(self.names)} "
                             f"({', '.join(self.names)})")
        return x, index

    def predict(self, exog=None, alpha=None) -> pd.DataFrame:
        """Category probabilities ``(n, J)`` at one penalty (columns: the
        categories). ``exog``: the estimation rows (default), an array or
        DataFrame with the model's columns, or new data for a formula model."""
        x, index = self._exog(exog)
        b = self.coefs[self._index(alpha)]
        eta = x @ (b[:, 1:] - b[:, :1])
        lse, rest = _log_softmax_rest(eta)
        prob = np.column_stack((np.exp(-lse), rest))
        return pd.DataFrame(prob, index=index, columns=self.categories)

    # -- post-selection refit ----------------------------------------------
    def refit(self, alpha=None, **fit_kwargs):
        """Unpenalized maximum-likelihood refit on the regressors selected at
        ``alpha`` (plus the intercept), with the usual ``MNLogit`` standard
        errors, labelled POST-SELECTION.

        Those standard errors are conditional on the selected set as if it had
        been fixed before seeing the data. It was not: the same data chose it,
        so the refit's coefficients are biased away from zero for the
        regressors that survived, their sampling distribution is not the
        normal one the standard errors describe, and intervals and p-values
        are too optimistic (Leeb and Pötscher 2005, Econometric Theory
        21:21-59; Berk et al. 2013, Annals of Statistics 41:802-837). Use them
        descriptively, or select on one part of the data and refit on another
        (sample splitting).

        Returns
        -------
        MNLogit results (``fit(**fit_kwargs)`` of a new model with the selected
        columns) with ``post_selection`` (a dict: alpha, selected, note); its
        ``summary()`` carries the note.
        """
        i = self._index(alpha)
        keep = [nm for nm, s in zip(self.penalized_names, self.selected_mask[i]) if s]
        cols = ([self.names[self.const]] if self.const is not None else []) + keep
        if not cols:
            raise ValueError(f"nothing selected at alpha = {self.alphas[i]:.6g} and no "
                             "intercept: no model to refit")
        idx = [self.names.index(c) for c in cols]
        model = self.model
        exog = pd.DataFrame(model.exog[:, idx], columns=cols)
        endog = pd.Series(np.asarray(model.endog, dtype=float),
                          name=getattr(model, "endog_names", "y") or "y")
        sub = type(model)(endog, exog, chunksize=getattr(model, "chunksize", None))
        sub._ynames_map = dict(getattr(model, "_ynames_map", {}) or sub._ynames_map)
        res = sub.fit(**fit_kwargs)
        note = {"alpha": float(self.alphas[i]), "selected": keep,
                "note": POST_SELECTION_NOTE}
        res._results.post_selection = note
        res._results.post_selection_note = (
            POST_SELECTION_NOTE + f" Selected at alpha = {self.alphas[i]:.6g}: "
            f"{', '.join(keep) or 'none'}.")
        return res

    # -- plots -------------------------------------------------------------
    def plot(self, ax=None, alpha=None, n_labels=12, standardized=True):
        """Coefficient path: for each penalized regressor the norm of its
        coefficients (``||theta_k||_2`` over the free categories, on the
        standardized scale when ``standardized``) against log(alpha); the
        regressors selected at ``alpha`` (default: the CV choice, else the
        smallest penalty) are named at the right edge, at most ``n_labels``."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        j0 = self.spec.first_free
        coefs = (self.coefs_standardized if standardized
                 else self.coefs[:, [k for k in range(len(self.names)) if k != self.const]])
        norms = np.sqrt((coefs[:, :, j0:] ** 2).sum(axis=2))
        x = np.log(self.alphas)
        if alpha is None:
            i = self.cv.index_min if self.cv is not None else len(self.alphas) - 1
        else:
            i = self._index(alpha)
        chosen = np.flatnonzero(self.selected_mask[i])
        order = chosen[np.argsort(-norms[-1, chosen])][:n_labels]
        palette = plt.get_cmap("tab20").colors     # distinct colours for up to 20 names
        rank = {int(k): r for r, k in enumerate(order)}
        for k in range(norms.shape[1]):
            named = k in rank
            ax.plot(x, norms[:, k], lw=1.4 if named else 0.6,
                    color=palette[rank[k] % 20] if named else "0.75",
                    label=self.penalized_names[k] if named else None,
                    zorder=3 if named else 1)
        ax.axvline(x[i], color="k", ls="--", lw=0.8)
        ax.set_xlabel("log(alpha)")
        ax.set_ylabel("||coefficients||" + (" (standardized)" if standardized else ""))
        ax.invert_xaxis()
        if order.size:
            ax.legend(fontsize="small", loc="upper left", title=f"selected at "
                      f"alpha={self.alphas[i]:.3g}", title_fontsize="small")
        return ax

    def __repr__(self):
        return (f"MNLogitPath({self.spec.kind}, L1_wt={self.spec.l1_wt}, "
                f"{'symmetric' if self.spec.symmetric else 'base-category'}, "
                f"{len(self.alphas)} penalties, max KKT violation {self.kkt.max():.1e})")
