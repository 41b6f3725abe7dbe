"""The switching regression and the endogenous treatment model on dask
partitions (see :mod:`econderiv.models._dask`).

Both are sums over rows with the row-block kernels of
:mod:`econderiv.models._switching_kernels` and
:mod:`econderiv.models._treatment_kernels`; the ML fit sums the kernel's
log-likelihood, score and Hessian over the partitions in one pass per
iteration (:class:`~econderiv.models._dask._DaskLikelihood`). The rest:

* start values: the two-step estimators on the partitions, a distributed
  probit (:func:`~econderiv.models._dask.probit_fit`, the in-memory probit's
  twin) and then two passes of least-squares sums (the coefficients, then the
  residual sums of squares that give sigma and the corrected covariance),
  as :func:`~econderiv.models._dask.heckman_twostep`;
* ``fit_twostep()``: the same, with the corrected (``"nonrobust"``)
  covariance, or the robust ones from the stacked moments of the two steps
  (their Jacobian and meat summed on the partitions; clusters by the
  backend's groupby reduction);
* the rows of regime 0 of the switching regression (``s = 0``) are those
  where an extra equation ``I(1 - (s)) ~ 1`` is 1, so that the partitions'
  missing-value rule needs regime 0's outcome and regressors only there, as
  in memory;
* the treatment indicator of the treatment model is found in the outcome
  design as in memory (the column named like it and equal to it, else any
  column equal to it: one pass counting the rows where each column differs),
  else added to the outcome formula as ``I(d + 0)`` under the name ``d``.
  Potential outcomes switch that column, or rebuild the partition's design
  through the formula with ``d`` set to 1 and 0 when the formula interacts
  the treatment with other terms (then the partition's raw columns are read
  again);
* ``treatment_effects()`` (ATE, ATT/ATET, ...): averages over rows, summed
  on the partitions with their delta-method Jacobians; ``predict()`` on the
  estimation data returns a dask Series; ``get_margeff()`` (``at="overall"``)
  averages the in-memory effects over the partitions, its central-difference
  Jacobian evaluated at all of statsmodels' step points in one pass
  (:func:`dask_index_margins`).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np
import pandas as pd

from econderiv.models._dask import (
    DaskBackend,
    Partition,
    _apply,
    _describe_designs,
    _gather,
    _margin_sums,
    _reduce_describe,
    dask_index_margins,
    _DaskLikelihood,
    _OnWorkers,
    _template_data,
    _weights_setup,
    build_partition,
    check_binary_eq,
    check_rank_gram,
    constant_from_range,
    dask_class,
    is_dask,
    partition_spec,
    probit_fit,
    summarize,
    tree_sum,
    twostep_robust_cov,
)

__all__ = ["switching_model", "switching_twostep", "treatment_model", "treatment_twostep"]


def _family_module(cls):
    """The family's module, looked up without importing it (layering rule)."""
    for c in cls.__mro__:
        if c.__name__ in ("SwitchingRegression", "EndogenousTreatment"):
            return sys.modules[c.__module__]
    raise NotImplementedError(f"no dask adapter for {cls.__name__}")


def _twostep_request(model, cov_type, cov_kwds):
    """The two-step covariance request, as the in-memory ``_cov_request``
    (without cluster codes: on dask ``groups`` names a column)."""
    from econderiv.models import _inference

    if cov_type is None and model.weight_type == "prob":
        cov_type, cov_kwds = "HC1", dict(cov_kwds or {}, correction="stata")
    cov_type, cov_kwds = _inference.check_cov_type(cov_type, cov_kwds)
    if cov_type in ("opg", "eim"):
        raise ValueError(f"cov_type={cov_type!r} is not available with fit_twostep() (it "
                         "is not a likelihood estimator); use 'nonrobust', 'HC0', 'HC1' "
                         "or 'cluster'")
    return cov_type, cov_kwds


# ===========================================================================
# Switching regression (Tobit type 5)
# ===========================================================================

def _switching_block(ys, Xs):
    """The kernel's data of a partition (regime 0, regime 1, selection, s = 0)."""
    from econderiv.models._switching_kernels import SwitchingData

    (y0, y1, s, _), (X0, X1, Z, _) = ys, Xs
    return SwitchingData.from_arrays(y0, X0, y1, X1, s == 1, Z)


def _regime_rows(part: Partition):
    """``[(rows, y, X), (rows, y, X)]`` of regimes 0 and 1 and ``Z``."""
    (y0, y1, s, _), (X0, X1, Z, _) = part.ys, part.Xs
    sel = s == 1
    return [(~sel, y0, X0), (sel, y1, X1)], Z


def _regime_mills(r, w):
    from econderiv.special import mills_ratio

    return -mills_ratio(-w) if r == 0 else mills_ratio(w)


def _switching_first(part: Partition, gamma):
    """Per regime: ``X*'WX*``, ``X*'Wy``, ``X*'WDX*``, ``X*'WDZ``, ``sum w
    delta``, ``sum w``, ``X'lambda``, ``sum lambda``, rows (``X* = [X,
    lambda_r]``)."""
    regimes, Z = _regime_rows(part)
    out = []
    for r, (rows, y, X) in enumerate(regimes):
        Zr, Xr, yr = Z[rows], X[rows], y[rows]
        v = np.ones(len(yr)) if part.w is None else part.w[rows]
        w = Zr @ gamma
        lam = _regime_mills(r, w)
        delta = lam * (lam + w)
        Xs = np.column_stack([Xr, lam])
        vd = v * delta
        out += [(Xs.T * v) @ Xs, Xs.T @ (v * yr), (Xs.T * vd) @ Xs, (Xs.T * vd) @ Zr,
                np.array(vd.sum()), np.array(v.sum()), Xr.T @ lam, np.array(lam.sum()),
                np.array(float(len(lam)))]
    return tuple(out)


def _switching_second(part: Partition, gamma, coefs, c_imrs, imr_means):
    """Per regime: ``e'We``, ``sum e``, ``e'e``, the inverse Mills ratio's
    residual and total sums of squares on ``X`` (unweighted, as in memory)."""
    regimes, Z = _regime_rows(part)
    out = []
    for r, (rows, y, X) in enumerate(regimes):
        Zr, Xr, yr = Z[rows], X[rows], y[rows]
        v = np.ones(len(yr)) if part.w is None else part.w[rows]
        lam = _regime_mills(r, Zr @ gamma)
        e = yr - np.column_stack([Xr, lam]) @ coefs[r]
        f = lam - Xr @ c_imrs[r]
        out += [np.array((v * e) @ e), np.array(e.sum()), np.array(e @ e), np.array(f @ f),
                np.array(((lam - imr_means[r]) ** 2).sum())]
    return tuple(out)


def switching_twostep(backend: DaskBackend, n_probit: float, kx: tuple, xtx: tuple):
    """Lee's two-step on the partitions, the twin of
    :func:`econderiv.models._switching_kernels.switching_twostep`: a
    distributed probit, then two passes (least-squares sums, then residual
    sums). ``xtx``: each regime's unweighted ``X'X`` (from the summary pass)
    for the inverse Mills ratio's R-squared. Returns ``(SwitchingTwoStep,
    residual standard deviations)``; the regimes' ``resid`` are ``None``."""
    from econderiv.models import _switching_kernels as K

    gamma, Vg, probit_llf, probit_conv = probit_fit(backend, 2, None, n_probit)
    first = backend.map_sum(_switching_first, gamma)
    pieces = [first[:9], first[9:]]
    coefs, c_imrs, means = [], [], []
    for r, (XtX, Xty, *_rest) in enumerate(pieces):
        coefs.append(np.linalg.inv(XtX) @ Xty)
        Xlam, slam, cnt = _rest[4], _rest[5], _rest[6]
        c_imrs.append(np.linalg.solve(xtx[r], Xlam))
        means.append(float(slam) / float(cnt))
    second = backend.map_sum(_switching_second, gamma, coefs, c_imrs, means)
    regimes, resid_sd = [], []
    for r, (XtX, Xty, XDX, XDZ, sdelta, n_r, _, _, cnt) in enumerate(pieces):
        rss, sum_e, sum_e2, lss, tss = second[5 * r:5 * r + 5]
        bread = np.linalg.inv(XtX)
        coef = bread @ Xty
        L = coef[-1]
        n_r = float(n_r)
        sigma = float(np.sqrt(float(rss) / n_r + L * L * float(sdelta) / n_r))
        rho_raw = float(L / sigma)
        rho = float(np.clip(rho_raw, -1.0, 1.0))
        if rho != rho_raw:
            sigma = abs(float(L))
        middle = sigma ** 2 * (XtX - rho * rho * XDX)
        r2 = 1.0 - float(lss) / float(tss) if float(tss) > 0 else 1.0
        regimes.append(K.RegimeTwoStep(coef, sigma, rho, rho_raw, bread, XDZ, middle, None,
                                       float(r2)))
        m = float(cnt)
        resid_sd.append(float(np.sqrt(max(float(sum_e2) / m - (float(sum_e) / m) ** 2, 0.0))))
    r0, r1 = regimes
    return K.assemble_twostep(gamma, Vg, probit_llf, probit_conv, r0, r1), resid_sd


def _switching_moments(part: Partition, params):
    from econderiv.models._switching_kernels import twostep_moments

    (y0, y1, s, _), (X0, X1, Z, _) = part.ys, part.Xs
    sel = s == 1
    return twostep_moments(params, y0[~sel], X0[~sel], y1[sel], X1[sel], s, Z, part.w)


def _switching_effect_sums(part: Partition, gamma, b0, b1, L0, L1):
    """Per effect the row count, the weight total and the weighted sums of the
    effect and of its gradient rows (over the rows with ``x0`` and ``x1``
    finite); then the row count, weight total and weighted sums of ``x0``,
    ``x1`` (weights 1 without weights)."""
    from econderiv.models._switching_kernels import treatment_effect

    (_, _, s, _), (X0, X1, Z, _) = part.ys, part.Xs
    ok = np.isfinite(X0).all(axis=1) & np.isfinite(X1).all(axis=1)
    X0, X1, Z, s = X0[ok], X1[ok], Z[ok], s[ok]
    w = np.ones(len(s)) if part.w is None else np.asarray(part.w, float)[ok]
    k = len(gamma) + len(b0) + len(b1) + 2
    out = []
    for which, rows in (("ate", np.ones(len(s), bool)), ("att", s == 1), ("atu", s == 0)):
        count, total = float(rows.sum()), float(w[rows].sum())
        if total == 0:  # no rows here (or zero weights only): they add nothing
            out += [np.array(count), np.array(0.0), np.array(0.0), np.zeros(k)]
            continue
        # the kernel's weighted mean times the weight total: the weighted sum
        val, grad = treatment_effect(which, X0, X1, Z, s, gamma, b0, b1, L0, L1, w)
        out += [np.array(count), np.array(total), np.array(total * val),
                total * np.asarray(grad, float)]
    out += [np.array(float(len(s))), np.array(float(w.sum())), w @ X0, w @ X1]
    return tuple(out)


def _switching_margin_designs(part: Partition, uses):
    """``[Z, X0, X1]`` over the rows where the used designs are finite, and
    their weights (as the in-memory ``get_margeff``)."""
    (X0, X1, Z, _) = part.Xs
    designs = [Z, X0, X1]
    rows = np.ones(len(Z), bool)
    for used, X in zip(uses, designs):
        if used:
            rows &= np.isfinite(X).all(axis=1)
    return [X[rows] for X in designs], None if part.w is None else part.w[rows]


def _switching_margin_predict(which, struct, ds, grad):
    from econderiv.models._switching_kernels import prediction

    g, b0, b1, L0, L1 = struct
    Z, X0, X1 = ds
    if not grad:
        return prediction(which, X0, X1, Z, g, b0, b1, L0, L1)
    val, (dw, dx0, dx1), _ = prediction(which, X0, X1, Z, g, b0, b1, L0, L1, grad=True)
    return val, [dw, dx0, dx1]


def _switching_describe(part: Partition, uses):
    return tuple(_describe_designs(_switching_margin_designs(part, uses)[0], uses))


def _switching_margins(part: Partition, uses, which, points, spec):
    designs, w = _switching_margin_designs(part, uses)
    return _margin_sums(designs, w, _switching_margin_predict, which, points, spec)


class _DaskSwitching(_DaskLikelihood):
    """Distributed hooks of the switching regression."""

    _partition_block_data = staticmethod(_switching_block)
    _resid_sd = None

    def _twostep(self):
        if self._twostep_cache is None:
            self._twostep_cache, self._resid_sd = switching_twostep(
                self._backend, self._n_probit, (self.k_outcome0, self.k_outcome1),
                self._regime_xtx)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        """ML start: the two-step estimates, each rho clamped into (-0.95, 0.95)."""
        ts = self._twostep()
        anc = []
        for reg, sd in zip(ts.regimes, self._resid_sd):
            rho = float(np.clip(reg.rho_untruncated, -0.95, 0.95))
            sigma = reg.sigma if np.isfinite(reg.sigma) and reg.sigma > 0 else sd
            anc += [np.arctanh(rho), np.log(sigma)]
        return np.concatenate([ts.params[:-2], anc])

    def fit_twostep(self, cov_type=None, cov_kwds=None, **kwargs):
        """Lee's two-step estimator on the partitions (as in memory: the
        corrected covariance, or the robust ones of the stacked moments)."""
        from statsmodels.tools.sm_exceptions import ConvergenceWarning

        from econderiv.models import _data, _optim

        _optim.check_keywords(kwargs, (), "SwitchingRegression.fit_twostep() (closed form; "
                              "optimizer keywords belong to fit())")
        cov_type, cov_kwds = _twostep_request(self, cov_type, cov_kwds)
        ts = self._twostep()
        self._warn_collinear_imr(ts)
        for r, reg in enumerate(ts.regimes):
            if reg.rho != reg.rho_untruncated:
                warnings.warn(
                    f"the two-step estimate of rho{r}, {reg.rho_untruncated:.4f}, is outside "
                    f"[-1, 1]; it is truncated to {reg.rho:.0f} and sigma{r} set to "
                    f"|lambda{r}| = {reg.sigma:.4g} (as Stata does). Compare with fit() (ML).",
                    RuntimeWarning, stacklevel=_data.user_stacklevel())
        if not ts.probit_converged:
            warnings.warn("the first-step probit did not converge (separation?): check the "
                          "selection regressors", ConvergenceWarning,
                          stacklevel=_data.user_stacklevel())
        return _twostep_results(self, ts, self.param_names[:-4] + ["lambda0", "lambda1"],
                                "SwitchingTwoStepResults", _DaskSwitchingResults,
                                "two-step covariance corrected for the estimated inverse "
                                "Mills ratios (Heckman/Greene, per regime)",
                                _switching_moments, cov_type, cov_kwds)

    def _prediction_context(self):
        return (self.k_select, self.k_outcome0, self.k_outcome1)

    @staticmethod
    def _partition_prediction(part, params, which, ctx):
        from econderiv.models._switching_kernels import prediction

        kz, k0, k1 = ctx
        p = np.asarray(params)
        k = kz + k0 + k1
        if len(p) == k + 4:   # ML: lambda_r = rho_r sigma_r
            L0, L1 = np.tanh(p[-4]) * np.exp(p[-3]), np.tanh(p[-2]) * np.exp(p[-1])
        else:                 # two-step: lambda0, lambda1 are the last parameters
            L0, L1 = p[-2], p[-1]
        (X0, X1, Z, _) = part.Xs
        return pd.Series(np.asarray(prediction(which, X0, X1, Z, p[:kz], p[kz:kz + k0],
                                               p[kz + k0:k], L0, L1), float), name=which)


class _DaskSwitchingResults:
    """Switching regression results on dask: predictions as dask Series,
    treatment effects and average marginal effects summed over the partitions."""

    def get_margeff(self, which: str = "y1_s1", at: str = "overall", dummy: bool = False,
                    variables=None):
        """As in memory (``at="overall"``): average marginal effects on a
        prediction, weighted as the fit, summed over the partitions."""
        from dask import delayed

        m = self.model
        family = _family_module(type(m))
        if which not in family._MARGINS:
            raise ValueError(f"which must be one of {family._MARGINS}, got {which!r}")
        uses = [e in family._NEEDS[which] for e in (2, 0, 1)]  # designs: z, x0, x1
        backend = m._backend

        def run(kind, *args):
            if kind == "describe":
                leaves = [delayed(_apply, pure=False)(_switching_describe, p, (uses,))
                          for p in backend.parts]
                backend.passes += 1
                return _reduce_describe(_gather(leaves), 3)
            return backend.map_sum(_switching_margins, uses, which, *args)

        def structural(p):
            g, b0, b1, L0, L1, _ = self._structural(p)
            return (g, b0, b1, L0, L1)

        y0, y1, s = m.endog0_name, m.endog1_name, m.endog_select_name
        desc = {"y1_s1": f"E[{y1} | {s} = 1]", "y1_s0": f"E[{y1} | {s} = 0]",
                "y0_s0": f"E[{y0} | {s} = 0]", "y0_s1": f"E[{y0} | {s} = 1]",
                "xb0": f"E[{y0}]", "xb1": f"E[{y1}]", "psel": f"P({s} = 1)",
                "te": f"E[{y1} - {y0}]", "tt": f"E[{y1} - {y0} | {s} = 1]",
                "tu": f"E[{y1} - {y0} | {s} = 0]"}[which]
        return dask_index_margins(
            self, run, [m.exog_select_names, m.exog0_names, m.exog1_names], uses, structural,
            lambda p: list(structural(p)[:3]), which, at, dummy, desc, variables)

    def predict(self, exog=None, which: str = "y1_s1", transform: bool = True, *,
                exog0=None, exog1=None, exog_select=None):
        """As in memory; with no new data (or a dask DataFrame) a dask Series
        computed partition by partition."""
        from econderiv.models import _switching_kernels as K

        if which not in K.PREDICTIONS:
            raise ValueError(f"which must be one of {K.PREDICTIONS}, got {which!r}")
        if exog is None and exog0 is None and exog1 is None and exog_select is None:
            return self.model.predict_dask(np.asarray(self.params), which)
        if is_dask(exog):
            return self.model.predict_dask(np.asarray(self.params), which, data=exog)
        return super().predict(exog, which, transform, exog0=exog0, exog1=exog1,
                               exog_select=exog_select)

    def treatment_effects(self, alpha: float = 0.05) -> pd.DataFrame:
        """ATE, ATT, ATU and ``E[y0]``, ``E[y1]`` as in memory (averages over
        the rows with ``x0`` and ``x1`` finite, weighted with weights), the
        weighted sums of the effects and their gradients summed over the
        partitions."""
        from econderiv.models import _inference

        m = self.model
        gamma, b0, b1, L0, L1, J = self._structural()
        sums = m._backend.map_sum(_switching_effect_sums, gamma, b0, b1, L0, L1)
        n_ok, w_ok = float(sums[12]), float(sums[13])
        if n_ok == 0:
            raise ValueError("no rows with both regimes' regressors finite: treatment effects "
                             "need x0 and x1 at the same rows")
        entries, counts = {}, []
        for i, name in enumerate(("ATE", "ATT", "ATU")):
            cnt, wsum, total, grad = sums[4 * i:4 * i + 4]
            if float(cnt) == 0:
                continue
            entries[name] = (float(total) / float(wsum), (grad / float(wsum)) @ J)
            counts.append(int(cnt))
        kz, k0 = m.k_select, m.k_outcome0
        for r, mean_x, sl, b in ((0, sums[14] / w_ok, slice(kz, kz + k0), b0),
                                 (1, sums[15] / w_ok, slice(kz + k0, kz + k0 + len(b1)), b1)):
            g = np.zeros(J.shape[0])
            g[sl] = mean_x
            entries[f"E[y{r}]"] = (float(mean_x @ b), g @ J)
            counts.append(int(n_ok))
        frame = _inference.ancillary_frame(entries, self.params, self.cov_params(), alpha)
        frame["n"] = counts
        return frame


def switching_model(cls, formula, ddf, selection=None, missing="drop", persist=False,
                    weights=None, weight_kind=None, **kwargs):
    """The switching regression on the dask DataFrame ``ddf`` (``from_formula``)."""
    from econderiv.models import _data

    if kwargs:
        raise ValueError(f"unknown keyword(s) for dask input: {sorted(kwargs)}")
    formulas = [formula, formula] if isinstance(formula, str) else list(formula)
    if len(formulas) != 2 or not all(isinstance(f, str) for f in formulas):
        raise ValueError("formula must be a list of two formulas (regime 0, regime 1) or "
                         f"one formula for both regimes, got {formula!r}")
    if not isinstance(selection, str) or "~" not in selection:
        raise ValueError("the selection formula is needed (selection='s ~ z1 + z2')")
    slhs = selection.split("~", 1)[0].strip()
    Sub = dask_class(cls, _DaskSwitching)
    # regime 0's rows: where I(1 - s) is 1 (the partitions need y0, x0 only there)
    spec = partition_spec(Sub, formulas + [selection, f"I(1 - ({slhs})) ~ 1"], ddf, missing,
                          required_where=(3, 2, None, None), weights=weights)
    backend = DaskBackend(ddf, spec, persist)
    stats = summarize(backend, [False, False, True, False], [3, 2, None, None])
    e0, e1, es, _ = spec.equations
    st0, st1, sts, _ = stats["eqs"]
    sname = es.lhs
    check_binary_eq(sts, f"the selection indicator {sname!r}")
    n, n1 = stats["n"], sts["n1"]
    for r, nr in ((0, n - n1), (1, n1)):
        if nr == 0:
            raise ValueError(
                f"regime {r} has no observations: the selection indicator {sname!r} is "
                f"{1 - r} in all {n} rows, so the regime-{r} outcome equation cannot be "
                "estimated (a switching regression needs both regimes)")
    check_rank_gram(sts["xtx"], es.xnames, "the selection design (exog_select)")
    for r, st, eq in ((0, st0, e0), (1, st1, e1)):
        nr, k = st["n"], len(eq.xnames)
        if nr <= k + 1:
            raise ValueError(f"only {nr} rows in regime {r} for {k} outcome regressors plus "
                             "the selection correction")
        check_rank_gram(st["xtx"], eq.xnames,
                        f"the regime-{r} outcome design over its {nr} rows")
    m = Sub.__new__(Sub)
    m._backend = backend
    yname = e0.lhs if e0.lhs == e1.lhs else f"{e0.lhs}|{e1.lhs}"
    kz, k0, k1 = len(es.xnames), len(e0.xnames), len(e1.xnames)
    m.param_names = (_data.prefixed("selection", es.xnames) + _data.prefixed("outcome0", e0.xnames)
                     + _data.prefixed("outcome1", e1.xnames)
                     + ["athrho0", "lnsigma0", "athrho1", "lnsigma1"])
    _template_data(m, yname, m.param_names)
    m.data.param_names = m.param_names
    m.exog = None
    m.endog = _OnWorkers((n,), "endog")
    for name, shape in (("_sel", (n,)), ("_z", (n, kz)), ("_X0", (n, k0)), ("_X1", (n, k1)),
                        ("_y0", (n,)), ("_y1", (n,)), ("endog_select", (n,)),
                        ("exog_select", (n, kz)), ("exog0", (n, k0)), ("exog1", (n, k1))):
        setattr(m, name, _OnWorkers(shape, name))
    m.endog0_name, m.endog1_name, m.endog_select_name = e0.lhs, e1.lhs, sname
    m.exog0_names, m.exog1_names = list(e0.xnames), list(e1.xnames)
    m.exog_select_names = list(es.xnames)
    m.row_labels, m.n_dropped, m._kept = None, stats["n_dropped"], None
    m.k_select, m.k_outcome0, m.k_outcome1 = kz, k0, k1
    # an exclusion restriction by name (in memory: a selection regressor outside
    # the span of the regime's outcome regressors)
    m._excluded = tuple(any(z not in eq.xnames for z in es.xnames) for eq in (e0, e1))
    m.k_params = len(m.param_names)
    m._athrho_indices = (kz + k0 + k1, kz + k0 + k1 + 2)
    m.nobs, m._nrows = float(n), n
    m.nobs_regime0, m.nobs_regime1 = int(n - n1), int(n1)
    m.df_model = float(k0 + k1 - 2)
    m._design_infos = list(spec.rhs_infos[:3])
    m._formula_rhs = [f.split("~", 1)[1] for f in formulas + [selection]]
    m._formula_frame = None
    m.formula, m.formula_select = list(formulas), selection
    m._twostep_cache = None
    m._regime_xtx = (st0["xtx"], st1["xtx"])
    _weights_setup(m, weight_kind, stats, weights)
    m.df_resid = m.nobs - m.k_params
    m._n_probit = float(n if sts["w"] is None else sts["w"])
    m._restricted_cache = m._derivs_cache = m._blocks_cache = None
    m._results_class = dask_class(cls._results_class, _DaskSwitchingResults)
    return m


# ===========================================================================
# Endogenous treatment
# ===========================================================================

def _treatment_block(ys, Xs):
    from econderiv.models._treatment_kernels import TreatmentData

    (y, d), (X, Z) = ys, Xs
    return TreatmentData.from_arrays(y, X, d, Z)


def _treatment_first(part: Partition, gamma):
    """``X*'WX*``, ``X*'Wy``, ``X*'WDX*``, ``X*'WDZ``, ``sum w delta``,
    ``sum w`` (``X* = [X, h]``, ``h`` the signed hazard)."""
    from econderiv.models._treatment_kernels import signed_hazard

    (y, d), (X, Z) = part.ys, part.Xs
    v = np.ones(len(y)) if part.w is None else part.w
    h, delta = signed_hazard(Z @ gamma, d)
    Xs = np.column_stack([X, h])
    vd = v * delta
    return ((Xs.T * v) @ Xs, Xs.T @ (v * y), (Xs.T * vd) @ Xs, (Xs.T * vd) @ Z,
            np.array(vd.sum()), np.array(v.sum()))


def _treatment_second(part: Partition, gamma, coef):
    """``e'We``, ``sum e``, ``e'e``."""
    from econderiv.models._treatment_kernels import signed_hazard

    (y, d), (X, Z) = part.ys, part.Xs
    v = np.ones(len(y)) if part.w is None else part.w
    h, _ = signed_hazard(Z @ gamma, d)
    e = y - np.column_stack([X, h]) @ coef
    return np.array((v * e) @ e), np.array(e.sum()), np.array(e @ e)


def treatment_twostep(backend: DaskBackend, n_probit: float):
    """Maddala's two-step on the partitions, the twin of
    :func:`econderiv.models._treatment_kernels.treatment_twostep`. Returns
    ``(TwoStep, residual standard deviation)``; ``hazard`` and ``resid`` are
    ``None``."""
    from econderiv.models._treatment_kernels import TwoStep

    gamma, Vg, probit_llf, probit_conv = probit_fit(backend, 1, None, n_probit)
    XtX, Xty, XDX, XDZ, sdelta, n = backend.map_sum(_treatment_first, gamma)
    XtX_inv = np.linalg.inv(XtX)
    coef = XtX_inv @ Xty
    rss, sum_e, sum_e2 = backend.map_sum(_treatment_second, gamma, coef)
    n = float(n)
    b_h = float(coef[-1])
    sigma = float(np.sqrt((float(rss) + b_h ** 2 * float(sdelta)) / n))
    rho_raw = b_h / sigma
    rho = float(np.clip(rho_raw, -1.0, 1.0))
    if rho != rho_raw:
        sigma = abs(b_h)
    rho2 = rho * rho
    middle = (XtX - rho2 * XDX) + rho2 * XDZ @ Vg @ XDZ.T
    V_out = sigma ** 2 * XtX_inv @ middle @ XtX_inv
    V_cross = b_h * XtX_inv @ XDZ @ Vg
    kz = len(gamma)
    k = kz + len(coef)
    cov = np.empty((k, k))
    cov[:kz, :kz] = Vg
    cov[kz:, kz:] = 0.5 * (V_out + V_out.T)
    cov[kz:, :kz] = V_cross
    cov[:kz, kz:] = V_cross.T
    ts = TwoStep(np.concatenate([gamma, coef]), cov, Vg, probit_llf, probit_conv, sigma, rho,
                 float(rho_raw), None, None)
    return ts, (float(sum_e), float(sum_e2))


def _treatment_moments(part: Partition, params):
    from econderiv.models._treatment_kernels import TwoStep, twostep_moments

    (y, d), (X, Z) = part.ys, part.Xs
    ts = TwoStep(np.asarray(params, float), None, None, None, None, None, None, None, None,
                 None)
    return twostep_moments(ts, y, X, d, Z, part.w)


def _set_treatment(frame, dname, value):
    out = frame.copy()
    out[dname] = bool(value) if out[dname].dtype == bool else value
    return out


def _potential_designs(frame, part: Partition, ctx):
    """``(X(1), X(0))``: the outcome design of the partition's rows with the
    treatment set to 1 and 0 (the column switched, or the design rebuilt
    through the formula when it interacts the treatment)."""
    tcol, dname, spec = ctx
    X = part.Xs[0]
    if spec is None:
        X1, X0 = X.copy(), X.copy()
        X1[:, tcol], X0[:, tcol] = 1.0, 0.0
        return X1, X0
    out = []
    for value in (1, 0):
        # every row of the frame (the missing rule as "drop": the rows kept
        # here include the partition's), then the partition's rows
        p = build_partition(_set_treatment(frame, dname, value), spec, part.number)
        out.append(p.Xs[0][part.kept[p.kept]])
    return tuple(out)


def _on_frames(fn, frame, part: Partition, ctx, args):
    if part.n == 0:
        return None
    return fn(frame, part, ctx, *args)


def _treatment_effect_sums(frame, part: Partition, ctx, gamma, beta, L):
    """The weighted sums behind :func:`econderiv.models._treatment_kernels.effects`."""
    from econderiv.special import mills_ratio, mills_ratio_deriv

    X1, X0 = _potential_designs(frame, part, ctx)
    (_, d), (_, Z) = part.ys, part.Xs
    v = np.ones(len(d)) if part.w is None else part.w
    T = d == 1
    w = Z @ gamma
    D = X1 - X0
    lam = np.where(T, mills_ratio(w), mills_ratio(-w))
    dlam = np.where(T, mills_ratio_deriv(w, 1), mills_ratio_deriv(-w, 1))
    out = []
    for rows in (np.ones(len(d), bool), T, ~T):
        vr = v[rows]
        out += [np.array(vr.sum()), vr @ D[rows]]
    out += [v @ X1, v @ X0]
    for rows in (T, ~T):
        vr = v[rows]
        out += [vr @ X1[rows], vr @ X0[rows], np.array(vr @ lam[rows]),
                (vr * dlam[rows]) @ Z[rows]]
    return tuple(out)


def _treatment_prediction(frame, part: Partition, ctx, params, which, ks):
    from econderiv.models._treatment_kernels import prediction

    kz, kx = ks
    p = np.asarray(params)
    L = np.tanh(p[-2]) * np.exp(p[-1]) if len(p) == kz + kx + 2 else p[-1]
    (_, d), (X, Z) = part.ys, part.Xs
    X1 = X0 = None
    if which in ("y1", "y0", "te", "yctrt", "ycntrt"):
        X1, X0 = _potential_designs(frame, part, ctx)
    return pd.Series(np.asarray(prediction(which, X, X1, X0, Z, d, p[:kz], p[kz:kz + kx], L),
                                float), name=which)


def _empty_prediction(which):
    return pd.Series([], dtype=float, name=which)


def _or_empty(series, which):
    return _empty_prediction(which) if series is None else series


def _treatment_margin_designs(frame, part: Partition, ctx, which):
    """The designs of the in-memory ``get_margeff``: ``[X (at the observed,
    1 or 0 treatment; Z for "psel"), Z, q]``, and ``(X(1), X(0))`` when built."""
    (_, d), (X, Z) = part.ys, part.Xs
    potential = None
    if which in ("yctrt", "ycntrt"):
        potential = _potential_designs(frame, part, ctx)
        X = potential[0] if which == "yctrt" else potential[1]
    elif which == "psel":
        X = Z
    return [X, Z, (2.0 * d - 1.0)[:, None]], potential


def _treatment_margin_predict(which, struct, ds, grad):
    """The in-memory ``get_margeff``'s prediction and its index derivatives."""
    from scipy import stats

    from econderiv.special import mills_ratio, mills_ratio_deriv

    gamma, beta, L = struct
    xb = ds[0] @ (gamma if which == "psel" else beta)
    w = ds[1] @ gamma
    if which == "xb":
        val, dx, dw = xb, np.ones_like(xb), np.zeros_like(xb)
    elif which == "psel":
        val, dx, dw = stats.norm.cdf(w), np.zeros_like(w), stats.norm.pdf(w)
    else:
        sign = {"yctrt": np.ones_like(w), "ycntrt": -np.ones_like(w)}.get(which, ds[2][:, 0])
        lam = sign * mills_ratio(sign * w)
        val = xb + L * lam
        dx, dw = np.ones_like(xb), L * mills_ratio_deriv(sign * w, 1)
    return (val, [dx, dw, np.zeros_like(w)]) if grad else val


def _treatment_describe(frame, part: Partition, ctx, which, uses):
    designs, potential = _treatment_margin_designs(frame, part, ctx, which)
    if potential is None:
        potential = _potential_designs(frame, part, ctx)
    moves = (potential[0] != potential[1]).sum(axis=0).astype(float)
    return tuple(_describe_designs(designs, uses)) + (moves,)


def _treatment_margins(frame, part: Partition, ctx, which, points, spec):
    designs, _ = _treatment_margin_designs(frame, part, ctx, which)
    return _margin_sums(designs, part.w, _treatment_margin_predict, which, points, spec)


class _DaskTreatment(_DaskLikelihood):
    """Distributed hooks of the endogenous treatment model."""

    _partition_block_data = staticmethod(_treatment_block)
    _resid_sums = None

    def _twostep(self):
        if self._twostep_cache is None:
            self._twostep_cache, self._resid_sums = treatment_twostep(self._backend,
                                                                      self._n_probit)
        return self._twostep_cache

    @property
    def start_params(self) -> np.ndarray:
        """ML start: the two-step estimates, rho clamped into (-0.95, 0.95)."""
        ts = self._twostep()
        rho = float(np.clip(ts.rho_untruncated, -0.95, 0.95))
        if np.isfinite(ts.sigma) and ts.sigma > 0:
            sigma = ts.sigma
        else:
            s, s2 = self._resid_sums
            sigma = float(np.sqrt(max(s2 / self._nrows - (s / self._nrows) ** 2, 0.0)))
        return np.concatenate([ts.params[:-1], [np.arctanh(rho), np.log(sigma)]])

    def fit_twostep(self, cov_type=None, cov_kwds=None, **kwargs):
        """Maddala's two-step estimator on the partitions (as in memory)."""
        from statsmodels.tools.sm_exceptions import ConvergenceWarning

        from econderiv.models import _data, _optim

        _optim.check_keywords(kwargs, (), "EndogenousTreatment.fit_twostep() (closed form; "
                              "optimizer keywords belong to fit())")
        cov_type, cov_kwds = _twostep_request(self, cov_type, cov_kwds)
        ts = self._twostep()
        if ts.rho != ts.rho_untruncated:
            warnings.warn(
                f"the two-step estimate of rho, {ts.rho_untruncated:.4f}, is outside "
                f"[-1, 1]; it is truncated to {ts.rho:.0f} and sigma set to |lambda| "
                f"= {ts.sigma:.4g} (as Stata does). The model may be misspecified; compare "
                "with fit() (ML).", RuntimeWarning, stacklevel=_data.user_stacklevel())
        if not ts.probit_converged:
            warnings.warn("the first-step probit did not converge (separation?): check the "
                          "treatment regressors", ConvergenceWarning,
                          stacklevel=_data.user_stacklevel())
        return _twostep_results(self, ts, self.param_names[:-2] + ["lambda"],
                                "EndogenousTreatmentTwoStepResults", _DaskTreatmentResults,
                                "Maddala's two-step covariance, corrected for the hazard",
                                _treatment_moments, cov_type, cov_kwds)

    def _map_frames(self, fn, args, data=None):
        """Delayed ``fn(frame, partition, ctx, *args)`` over the partitions of
        ``data`` (default: the estimation data); the raw frames are read only
        when the potential outcomes need the formula."""
        from dask import delayed

        backend = self._backend
        rebuild = self._rebuild_spec
        ctx = (self._tcol, self.endog_treatment_name, rebuild)
        if data is None:
            parts = backend.parts
            frames = (backend.frames if rebuild is not None
                      else [None] * backend.npartitions)
        else:
            source = data.to_delayed()
            parts = [delayed(build_partition, pure=True)(f, backend.spec, i)
                     for i, f in enumerate(source)]
            frames = source if rebuild is not None else [None] * len(parts)
        return [delayed(_on_frames, pure=False)(fn, f, p, ctx, args)
                for f, p in zip(frames, parts)]

    def predict_dask(self, params, which="xb", data=None):
        """Predictions on the partitions of ``data`` (default: the estimation
        data) as a dask Series (``which`` as ``predict``)."""
        import dask.dataframe as dd
        from dask import delayed

        pieces = self._map_frames(_treatment_prediction,
                                  (np.asarray(params, float), which,
                                   (self.k_treat, self.k_outcome)), data)
        pieces = [delayed(_or_empty, pure=False)(p, which) for p in pieces]
        return dd.from_delayed(pieces, meta=_empty_prediction(which), verify_meta=False)


class _DaskTreatmentResults:
    """Endogenous treatment results on dask: treatment effects and average
    marginal effects summed over the partitions, predictions as dask Series."""

    def get_margeff(self, which: str = "yctrt", at: str = "overall", dummy: bool = False,
                    variables=None):
        """As in memory (``at="overall"``): average marginal effects of the
        regressors other than the treatment, summed over the partitions."""
        m = self.model
        family = _family_module(type(m))
        if which not in family._MARGINS:
            raise ValueError(f"which must be one of {family._MARGINS}, got {which!r}")
        xnames, znames = list(m.exog_names), list(m.exog_treatment_names)
        names = [znames if which == "psel" else xnames, znames, ["_q"]]
        uses = {"xb": [True, False, False], "psel": [False, True, False]}.get(
            which, [True, True, False])

        moved = []  # rows where each outcome column differs between X(1) and X(0)

        def run(kind, *args):
            if kind == "describe":
                out = _reduce_describe(
                    _gather(m._map_frames(_treatment_describe, (which, uses))), 3)
                moved.append(out[-1])
                return out
            return tree_sum(m._map_frames(_treatment_margins, (which,) + args)).compute()

        def default_variables(where, stats):
            # every non-constant term but the treatment and its interactions
            moves = {xnames[j] for j in np.flatnonzero(moved[0] > 0)}
            out = []
            for e in (0, 1):
                if uses[e]:
                    lo, hi, _ = stats[e]
                    out += [n for j, n in enumerate(names[e]) if lo[j] != hi[j]
                            and n not in moves and n not in out]
            return out

        def structural(p):
            gamma, beta, L, _ = self._structural(p)
            return (gamma, beta, L)

        def index_params(p):
            gamma, beta, _ = structural(p)
            return [gamma if which == "psel" else beta, gamma, np.zeros(1)]

        y, dn = m.endog_name, m.endog_treatment_name
        desc = {"xb": f"x'beta ({y})", "ycond": f"E[{y} | {dn}]",
                "yctrt": f"E[{y} | {dn} = 1]", "ycntrt": f"E[{y} | {dn} = 0]",
                "psel": f"P({dn} = 1)"}[which]
        out = dask_index_margins(self, run, names, uses, structural, index_params,
                                 which, at, dummy, desc, variables, default_variables)
        m._backend.passes += 2
        return out

    @property
    def wald_outcome(self):
        """Wald test that all outcome slopes (the treatment's included) are zero."""
        from econderiv.models import _inference

        m = self.model
        idx = [m.k_treat + j for j in range(m.k_outcome) if not m._x_constant[j]]
        return _inference.wald_test_zero(self.params, self.cov_params(), idx,
                                         "outcome slopes = 0")

    def predict(self, exog=None, exog_treatment=None, which: str = "xb",
                transform: bool = True):
        """As in memory; with no new data (or a dask DataFrame) a dask Series
        computed partition by partition."""
        from econderiv.models import _treatment_kernels as K  # noqa: F401

        allowed = ("xb", "y1", "y0", "te", "ycond", "yctrt", "ycntrt", "psel", "xbtrt")
        if which not in allowed:
            raise ValueError(f"which must be one of {allowed}, got {which!r}")
        if exog is None and exog_treatment is None:
            return self.model.predict_dask(np.asarray(self.params), which)
        if is_dask(exog):
            return self.model.predict_dask(np.asarray(self.params), which, data=exog)
        return super().predict(exog, exog_treatment, which, transform)

    def treatment_effects(self, alpha: float = 0.05) -> pd.DataFrame:
        """As in memory (:func:`econderiv.models._treatment_kernels.effects`):
        ATE, ATET, ATENT and the potential-outcome means, weighted means summed
        over the partitions, delta-method standard errors."""
        from scipy import stats

        from econderiv.models import _treatment_kernels as K

        m = self.model
        gamma, beta, L, Jp = self._structural()
        leaves = m._map_frames(_treatment_effect_sums, (gamma, beta, L))
        sums = tree_sum(leaves).compute()
        m._backend.passes += 1
        vals, J = _effects_from_sums(sums, len(gamma), len(beta), beta, L)
        cov = J @ Jp @ np.asarray(self.cov_params(), float) @ (J @ Jp).T
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        z = vals / se
        q = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"coef": vals, "std err": se, "z": z,
                             "P>|z|": 2 * stats.norm.sf(np.abs(z)),
                             f"[{alpha / 2:g}": vals - q * se,
                             f"{1 - alpha / 2:g}]": vals + q * se}, index=list(K.EFFECTS))


def _effects_from_sums(sums, kz, kx, beta, L):
    """:func:`econderiv.models._treatment_kernels.effects` from the partition
    sums of :func:`_treatment_effect_sums` (the same rows, the same order)."""
    (n_all, D_all, n_T, D_T, n_U, D_U, X1_all, X0_all,
     X1_T, X0_T, lam_T, dZ_T, X1_U, X0_U, lam_U, dZ_U) = sums
    n_all, n_T, n_U = float(n_all), float(n_T), float(n_U)
    if n_T == 0 or n_U == 0:
        raise ValueError("effects need treated and untreated rows")
    vals, jac = [], []

    def row(val, jb=None, jg=None, jl=0.0):
        Jr = np.zeros(kz + kx + 1)
        if jb is not None:
            Jr[kz:kz + kx] = jb
        if jg is not None:
            Jr[:kz] = jg
        Jr[-1] = jl
        vals.append(float(val))
        jac.append(Jr)

    for total, cnt in ((D_all, n_all), (D_T, n_T), (D_U, n_U)):
        mean = total / cnt
        row(mean @ beta, mean)
    for total in (X1_all, X0_all):
        mean = total / n_all
        row(mean @ beta, mean)
    lamT, lamU = float(lam_T) / n_T, float(lam_U) / n_U
    gT, gU = L * dZ_T / n_T, L * dZ_U / n_U
    for total in (X1_T, X0_T):
        mean = total / n_T
        row(mean @ beta + L * lamT, mean, gT, lamT)
    for total in (X1_U, X0_U):
        mean = total / n_U
        row(mean @ beta - L * lamU, mean, gU, -lamU)
    return np.array(vals), np.array(jac)


def _column_mismatches(part: Partition):
    """Rows where each outcome column differs from the treatment indicator."""
    (_, d), (X, _) = part.ys, part.Xs
    return ((X != d[:, None]).sum(axis=0).astype(float),)


def _moving_columns(spec, dname) -> list:
    """Outcome columns whose terms involve the treatment (they move with it)."""
    from patsy.eval import ast_names

    info = spec.rhs_infos[0]
    out = []
    for term, sl in info.term_slices.items():
        if any(dname in ast_names(f.code) for f in term.factors):
            out += list(range(sl.start, sl.stop))
    return out


def treatment_model(cls, formula, ddf, selection=None, missing="drop", persist=False,
                    weights=None, weight_kind=None, treatment=None, **kwargs):
    """The endogenous treatment model on the dask DataFrame ``ddf``."""
    from econderiv.models import _data

    if kwargs:
        raise ValueError(f"unknown keyword(s) for dask input: {sorted(kwargs)}")
    treatment = treatment if treatment is not None else selection
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be one outcome formula 'y ~ x + d', got {formula!r}")
    if not isinstance(treatment, str) or "~" not in treatment:
        raise ValueError("the treatment formula is needed (treatment='d ~ x + z')")
    dname = treatment.split("~", 1)[0].strip()
    if dname not in ddf.columns:
        raise ValueError(f"on dask input the treatment's left-hand side must be a column of "
                         f"the dask DataFrame; {dname!r} is not (compute it first, e.g. with "
                         "ddf.assign)")
    Sub = dask_class(cls, _DaskTreatment)
    outcome = formula
    for attempt in (0, 1):
        spec = partition_spec(Sub, [outcome, treatment], ddf, missing, weights=weights)
        backend = DaskBackend(ddf, spec, persist)
        stats = summarize(backend, [False, True], [None, None])
        ex, ez = spec.equations
        st_x, st_d = stats["eqs"]
        check_binary_eq(st_d, f"the treatment {dname!r}")
        n, n1 = stats["n"], st_d["n1"]
        if n1 == 0:
            raise ValueError(f"no treated rows: the treatment {dname!r} is 0 in all {n} rows")
        if n1 == n:
            raise ValueError(f"no untreated rows: the treatment {dname!r} is 1 in all {n} "
                             "rows; there is no comparison group")
        xnames = list(ex.xnames)
        if attempt == 1:
            tcol = len(xnames) - 1
            xnames[tcol] = dname
            break
        (differ,) = backend.map_sum(_column_mismatches)
        equal = [j for j in range(len(xnames)) if differ[j] == 0]
        named = [j for j in equal if xnames[j] == dname or xnames[j].startswith(dname + "[")]
        found = (named or equal or [None])[0]
        if found is not None:
            tcol = found
            break
        # as in memory: the indicator appended as the last outcome regressor
        outcome = f"{formula} + I({dname} + 0)"
    added = attempt == 1
    check_rank_gram(st_d["xtx"], ez.xnames, "the treatment design (exog_treatment)")
    check_rank_gram(st_x["xtx"], xnames, "the outcome design (exog, with the treatment)")
    moving = _moving_columns(spec, dname)
    m = Sub.__new__(Sub)
    m._backend = backend
    m.treatment_added = added
    m._tcol = tcol
    # interactions with the treatment: potential outcomes through the formula
    # (every row rebuilt; weights are not read there)
    m._rebuild_spec = (None if moving in ([], [tcol])
                       else dataclasses.replace(spec, weights=None, missing="drop",
                                                _infos=None))
    yname = ex.lhs
    kz, kx = len(ez.xnames), len(xnames)
    _template_data(m, yname, xnames)
    m.endog = _OnWorkers((n,), "endog")
    m.exog = _OnWorkers((n, kx), "exog", (st_x["min"], st_x["max"]))
    for name, shape in (("_y", (n,)), ("_X", (n, kx)), ("_d", (n,)), ("_Z", (n, kz)),
                        ("endog_treatment", (n,)), ("exog_treatment", (n, kz))):
        setattr(m, name, _OnWorkers(shape, name))
    m.endog_name, m.endog_treatment_name = yname, dname
    m.exog_treatment_names = list(ez.xnames)
    m.row_labels, m.n_dropped, m._kept = None, stats["n_dropped"], None
    m.k_treat, m.k_outcome = kz, kx
    others = [nm for j, nm in enumerate(xnames) if j != tcol]
    # an exclusion restriction by name (in memory: a treatment regressor outside
    # the span of the other outcome regressors)
    m.has_exclusion = bool(not others or any(z not in others for z in ez.xnames))
    m.param_names = (_data.prefixed("treatment", ez.xnames) + _data.prefixed("outcome", xnames)
                     + ["athrho", "lnsigma"])
    m.data.param_names = m.param_names
    m.k_params = len(m.param_names)
    m._rho_index = kz + kx
    m.nobs, m._nrows = float(n), n
    m.nobs_treated, m.nobs_untreated = int(n1), int(n - n1)
    m._x_constant = constant_from_range(st_x["min"], st_x["max"])
    m.df_model = float(kx - int(m._x_constant.any()))
    m._design_infos = list(spec.rhs_infos)
    m._formula_rhs = [outcome.split("~", 1)[1], treatment.split("~", 1)[1]]
    m._formula_frame = None
    m.formula, m.formula_treatment = formula, treatment
    m._twostep_cache = None
    _weights_setup(m, weight_kind, stats, weights)
    m.df_resid = m.nobs - m.k_params
    m._n_probit = float(n if st_d["w"] is None else st_d["w"])
    m._restricted_cache = m._derivs_cache = m._blocks_cache = None
    m._results_class = dask_class(cls._results_class, _DaskTreatmentResults)
    return m


# ===========================================================================
# Shared: two-step results
# ===========================================================================

def _twostep_results(model, ts, names, results_name, mixin, description, moments, cov_type,
                     cov_kwds):
    """The family's two-step results (with the dask results hooks) under the
    two-step parameter names; robust covariances from the stacked moments."""
    import copy

    module = _family_module(type(model))
    base = getattr(module, results_name)
    wrapper = getattr(module, results_name + "Wrapper")
    view = copy.copy(model)
    view._design_infos = model._design_infos  # copy drops them (rebuilt from a frame in memory)
    view.data = copy.copy(model.data)
    view.param_names = view.data.param_names = list(names)
    cov, n_groups = ts.cov, None
    if cov_type != "nonrobust":
        cov, description, n_groups = twostep_robust_cov(model, moments, ts.params, cov_type,
                                                        cov_kwds)
        if cov is None:
            cov = np.full((len(ts.params),) * 2, np.nan)
    res = dask_class(base, mixin)(view, ts.params, cov, ts)
    res.cov_type = cov_type
    res.cov_kwds = dict(cov_kwds, description=description)
    res.n_groups = n_groups
    return wrapper(res)

