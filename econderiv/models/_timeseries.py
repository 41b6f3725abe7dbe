"""Core pieces of the derivative-relation families: time axes and results.

Shared by :class:`~econderiv.models.derivreg.DerivativeRegression` (one
equation) and the system-of-equations sibling, which must not import each
other (one family per module):

* :class:`TimeAxis` and :func:`as_seconds`: sample times given as numbers,
  pandas/numpy datetimes or timedeltas become float seconds (datetimes: since
  the first sample), and the axis remembers what it was given so that the
  summary can say so, with the time span in the original units;
* :func:`model_data`: statsmodels' data object (``model.data``) for a model
  whose parameters are not columns of a design matrix, so that statsmodels'
  results machinery labels ``params``, ``cov_params()``, ``conf_int()``;
* :class:`DerivativeResults` and :class:`DerivativeResultsWrapper`: results on
  statsmodels' ``LikelihoodModelResults`` (``t_test``, ``wald_test``,
  ``f_test``, ``conf_int``, ``cov_params``, ``save``/``load``,
  ``remove_data``, ``summary()`` as a statsmodels ``Summary`` that
  ``summary_col`` also understands), with ``llf``/``aic``/``bic`` where the
  method has a likelihood; :func:`equation_text` writes an equation with its
  coefficient names or values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModelResults, LikelihoodResultsWrapper
from statsmodels.iolib.summary import Summary

__all__ = ["TimeAxis", "as_seconds", "model_data", "equation_text", "DerivativeResults",
           "DerivativeResultsWrapper"]


# ---------------------------------------------------------------------------
# Time axes
# ---------------------------------------------------------------------------

@dataclass
class TimeAxis:
    """What the user gave as time, and how it became seconds.

    ``kind`` is ``"numeric"`` (used as given, in the user's unit),
    ``"datetime"`` (seconds since ``origin``, the first sample's timestamp) or
    ``"timedelta"`` (seconds). ``first`` and ``last`` are the first and last
    sample times in the original type (``Timestamp``, ``Timedelta`` or float).
    """

    kind: str
    origin: object = None
    first: object = None
    last: object = None

    @property
    def unit(self) -> str:
        """The unit of the model's time (and of its coefficients' 1/time)."""
        return "time unit of the data" if self.kind == "numeric" else "seconds"

    def span(self) -> str:
        """The record's span in the original units, e.g. ``"0 days 00:20:00"``."""
        if self.kind == "numeric":
            return f"{self.first:.6g} .. {self.last:.6g}"
        return f"{self.last - self.first} ({self.first} .. {self.last})"

    def values(self, seconds):
        """Seconds on this axis back in the original type (Timestamps,
        Timedeltas or floats)."""
        secs = np.asarray(seconds, dtype=float)
        if self.kind == "datetime":
            return self.origin + pd.to_timedelta(secs, unit="s")
        if self.kind == "timedelta":
            return pd.to_timedelta(secs, unit="s")
        return secs

    def describe(self) -> str:
        """One sentence for the summary: the conversion, if any, and the span."""
        if self.kind == "datetime":
            return (f"Time: datetimes converted to seconds since {self.origin} (the "
                    f"first sample); span {self.last - self.first}, from {self.first} to "
                    f"{self.last}. Rates are per second.")
        if self.kind == "timedelta":
            return (f"Time: timedeltas converted to seconds; span {self.last - self.first}, "
                    f"from {self.first} to {self.last}. Rates are per second.")
        return ""

    def to_seconds(self, time, what: str = "time") -> np.ndarray:
        """New times (same kind as the model's) as float seconds on this axis."""
        secs, axis, _ = as_seconds(time, what, origin=self.origin if self.kind ==
                                   "datetime" else None)
        if axis.kind != self.kind:
            raise ValueError(f"{what} holds {axis.kind} values but the model's time holds "
                             f"{self.kind} values; give {what} as the model's time was given")
        return secs


def _time_values(time) -> pd.Index:
    """Any time input as a flat pandas Index (keeps datetime/timedelta dtypes, tz)."""
    if isinstance(time, pd.DataFrame):
        if time.shape[1] != 1:
            raise ValueError(f"time must be one column, got {time.shape[1]}")
        time = time.iloc[:, 0]
    if isinstance(time, (pd.Series, pd.Index)):
        return pd.Index(time)
    arr = np.asarray(time)
    if arr.ndim > 1:
        if arr.squeeze().ndim != 1:
            raise ValueError(f"time must be one-dimensional, got shape {arr.shape}")
        arr = arr.squeeze()
    return pd.Index(np.atleast_1d(arr))


def as_seconds(time, what: str = "time", origin=None):
    """Sample times as float seconds, the :class:`TimeAxis`, and the input's
    pandas index (a Series's index, for alignment) or ``None``.

    Numbers are used as given. Datetimes (numpy ``datetime64``, pandas, with
    or without a time zone) become seconds since ``origin`` (default: the
    first sample); timedeltas become seconds. Nanosecond integers are never
    used silently. Missing times are an error naming the first position.
    """
    index = time.index if isinstance(time, pd.Series) else None
    vals = _time_values(time)
    if isinstance(vals, pd.DatetimeIndex):
        bad = np.flatnonzero(vals.isna())
        if bad.size:
            raise ValueError(f"{what} has {bad.size} missing values (NaT), first at "
                             f"position {bad[0]}")
        start = vals[0] if origin is None else origin
        try:
            secs = np.asarray((vals - start).total_seconds(), dtype=float)
        except TypeError as exc:  # tz-aware against naive
            raise ValueError(f"{what}: {exc}; give times with the model's time zone") from None
        return secs, TimeAxis("datetime", start, vals[0], vals[-1]), index
    if isinstance(vals, pd.TimedeltaIndex):
        bad = np.flatnonzero(vals.isna())
        if bad.size:
            raise ValueError(f"{what} has {bad.size} missing values (NaT), first at "
                             f"position {bad[0]}")
        secs = np.asarray(vals.total_seconds(), dtype=float)
        return secs, TimeAxis("timedelta", None, vals[0], vals[-1]), index
    if not (pd.api.types.is_numeric_dtype(vals.dtype) or pd.api.types.is_bool_dtype(vals.dtype)):
        raise ValueError(f"{what} must hold numbers, datetimes or timedeltas, got dtype "
                         f"{vals.dtype} (e.g. {vals[0]!r}); convert strings with "
                         "pandas.to_datetime or pandas.to_timedelta")
    secs = np.asarray(vals, dtype=float)
    bad = np.flatnonzero(~np.isfinite(secs))
    if bad.size:
        raise ValueError(f"{what} has {bad.size} missing or non-finite values (first at "
                         f"position {bad[0]})")
    first, last = (float(secs[0]), float(secs[-1])) if secs.size else (np.nan, np.nan)
    return secs, TimeAxis("numeric", None, first, last), index


def check_increasing(t: np.ndarray, what: str = "time") -> None:
    """Strictly increasing sample times, or an error at the first offence."""
    dt = np.diff(t)
    if np.any(dt == 0):
        i = int(np.flatnonzero(dt == 0)[0])
        raise ValueError(f"{what} has repeated values: {what}[{i}] = {what}[{i + 1}] = "
                         f"{t[i]!r}")
    if np.any(dt < 0):
        i = int(np.flatnonzero(dt < 0)[0])
        raise ValueError(f"{what} is not increasing: {what}[{i}] = {t[i]!r} > {what}[{i + 1}]"
                         f" = {t[i + 1]!r}; sort the data by time")


# ---------------------------------------------------------------------------
# statsmodels' data object and equations
# ---------------------------------------------------------------------------

def model_data(endog: pd.Series, param_names: Sequence[str]):
    """statsmodels' ``PandasData`` for ``endog`` with ``param_names``.

    The parameters of a derivative relation are not columns of a design
    matrix, so the names are set explicitly; the results wrapper then labels
    ``params``, ``bse``, ``cov_params()`` and ``conf_int()`` with them (for
    array input too: ``endog`` is always a Series).
    """
    from statsmodels.base.data import handle_data

    data = handle_data(endog, None, missing="none", hasconst=None)
    data.param_names = list(param_names)
    return data


def _number(v: float) -> str:
    return f"{v:.6g}"


def equation_text(lhs: str, terms: Sequence[tuple[str, str]], values=None) -> str:
    """``lhs = theta[a]*a + theta[b]*b + theta[const]``, or with ``values``
    (a mapping from parameter name to value) ``lhs = -4*a + 10*b - 2``.

    ``terms`` are ``(parameter name, regressor)`` pairs; an empty regressor
    is a constant.
    """
    parts = []
    for k, (name, reg) in enumerate(terms):
        if values is None:
            coef = f"theta[{name}]"
            sign = "" if k == 0 else " + "
        else:
            v = float(values[name])
            coef = _number(abs(v))
            sign = ("-" if v < 0 else "") if k == 0 else (" - " if v < 0 else " + ")
        parts.append(f"{sign}{coef}*{reg}" if reg else f"{sign}{coef}")
    return f"{lhs} = {''.join(parts) or '0'}"


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

class _Summary(Summary):
    """statsmodels' ``Summary`` whose ``as_latex`` writes one tabular per table
    (statsmodels merges the tables into one tabular, which fails on tables
    with different column counts)."""

    def as_latex(self):
        latex = "\n".join(t.as_latex_tabular() for t in self.tables)
        if self.extra_txt is not None:
            latex += "\n\n" + self.extra_txt.replace("\n", " \\newline\n ")
        return latex


class DerivativeResults(LikelihoodModelResults):
    """statsmodels results of a derivative-relation fit (one equation or a system).

    Built by the family's ``fit`` from the method's estimate; wrap it in
    :class:`DerivativeResultsWrapper` (pandas out, labelled by
    ``model.data.param_names``).

    Parameters
    ----------
    model : a statsmodels ``Model`` (see *Model hooks*)
    method : str
        The estimator (``"oe"``, ``"integral"``, ...).
    params, cov : ndarray
        The coefficients ``theta`` and their covariance (any method: model
        based, sandwich or delta method; ``cov_type`` says which).
    scale : float
        Residual variance; ``cov_params()`` is ``normalized_cov_params *
        scale`` as in statsmodels (``normalized_cov_params = cov / scale``).
    df_resid : float
    resid : Series, optional
        The method's own residuals, already labelled.
    llf : float, optional
        Gaussian log-likelihood where the method has one (NaN otherwise);
        ``k_llf`` is the number of free parameters behind it, for ``aic``
        and ``bic``.
    nuisance : (names, values, std errs), optional
        Initial states, integration constants, ...: shown in the summary and
        as ``results.nuisance``.
    info : dict, optional
        Method details; ``info["notes"]`` are printed under the summary and
        ``info["converged"]`` (default True) is reported.
    cov_type, cov_description : str
        E.g. ``"nonrobust"`` / ``"measurement"`` / ``"HAC"`` / ``"delta method"``.

    Model hooks
    -----------
    ``model.data`` (:func:`model_data`), ``model.nobs``,
    ``model.endog_names``, ``model.time_axis`` (:class:`TimeAxis`),
    ``model.equation_terms()`` (list of ``(lhs, [(param name, regressor),
    ...])``, one per equation, regressor ``""`` for a constant) and
    ``model.method_note(method)`` (the method's assumptions, one paragraph).

    Notes
    -----
    Tests are normal (``use_t=False``): ``t_test`` reports z, ``f_test``
    uses ``df_resid``. ``conf_int()`` has columns ``lower`` and ``upper``
    (econderiv's derivative families always had them; statsmodels' other
    results use 0 and 1).
    """

    def __init__(self, model, method: str, params, cov, *, scale: float = np.nan,
                 df_resid: float = np.nan, resid=None, llf: float = np.nan,
                 k_llf: int | None = None, nuisance=None, info: dict | None = None,
                 cov_type: str = "nonrobust", cov_description: str = ""):
        params = np.asarray(params, dtype=float)
        cov = np.asarray(cov, dtype=float)
        norm = np.isfinite(scale) and scale > 0
        self.method = method
        self.nobs = model.nobs
        self.df_resid = df_resid
        self.df_model = params.size
        self.resid = resid
        self._llf = float(llf) if llf is not None else np.nan
        self.k_llf = params.size if k_llf is None else int(k_llf)
        self.info = dict(info or {})
        if nuisance is not None:
            nn, nv, ns = nuisance
            self.nuisance = pd.DataFrame({"coef": np.asarray(nv, float),
                                          "std err": np.asarray(ns, float)}, index=list(nn))
        else:
            self.nuisance = pd.DataFrame({"coef": [], "std err": []})
        super().__init__(model, params, cov / scale if norm else cov,
                         scale=float(scale) if norm else 1.0)
        self.residual_variance = float(scale)
        self.cov_type = cov_type
        self.cov_kwds = {"description": cov_description or cov_type}
        self._data_attr = list(getattr(self, "_data_attr", [])) + ["resid"]

    # -- likelihood ---------------------------------------------------------
    @property
    def llf(self) -> float:
        """Gaussian log-likelihood (``"oe"``, ``"arimax"``); NaN for methods without one."""
        return self._llf

    @property
    def aic(self) -> float:
        """``-2 llf + 2 k_llf`` (NaN without a likelihood)."""
        return -2.0 * self.llf + 2.0 * self.k_llf

    @property
    def bic(self) -> float:
        """``-2 llf + k_llf log(nobs)`` (NaN without a likelihood)."""
        return -2.0 * self.llf + np.log(self.nobs) * self.k_llf

    @property
    def converged(self) -> bool:
        return bool(self.info.get("converged", True))

    # -- statsmodels accessors --------------------------------------------------
    def conf_int(self, alpha: float = 0.05):
        """Normal-approximation intervals, columns ``lower`` and ``upper``."""
        ci = super().conf_int(alpha=alpha)
        return pd.DataFrame(np.asarray(ci), index=self.model.data.param_names,
                            columns=["lower", "upper"])

    # -- summary --------------------------------------------------------------
    def _param_dict(self) -> dict:
        return dict(zip(self.model.data.param_names, np.asarray(self.params, float)))

    def equations(self, values: bool = False) -> list[str]:
        """The model's equations with coefficient names (``values=False``) or the
        fitted values."""
        vals = self._param_dict() if values else None
        return [equation_text(lhs, terms, vals) for lhs, terms in self.model.equation_terms()]

    def _header(self) -> tuple[list, list]:
        mod = self.model

        def fmt(v, spec=".4f"):
            return format(v, spec) if np.isfinite(v) else "n/a"

        ynames = mod.endog_names
        left = [("Dep. Variable:", [", ".join(ynames) if isinstance(ynames, list)
                                    else str(ynames)]),
                ("Model:", [type(mod).__name__]),
                ("Method:", [self.method]),
                ("Covariance Type:", [str(self.cov_type)]),
                ("Converged:", [str(self.converged)])]
        ax = mod.time_axis
        span = (f"{ax.last - ax.first}" if ax.kind != "numeric" else
                f"{ax.first:.5g} .. {ax.last:.5g}")
        right = [("No. Samples:", [str(int(self.nobs))]),
                 ("Time span:", [span]),
                 ("Residual sd:", [fmt(np.sqrt(self.residual_variance), ".4g")]),
                 ("Log-Likelihood:", [fmt(self.llf)]),
                 ("AIC:", [fmt(self.aic)]),
                 ("BIC:", [fmt(self.bic)])]
        # equal lengths: statsmodels' LaTeX output needs them
        left += [(" ", [" "])] * (len(right) - len(left))
        right += [(" ", [" "])] * (len(left) - len(right))
        return left, right

    def summary(self, alpha: float = 0.05, title: str | None = None):
        """statsmodels ``Summary``: header (method, covariance, samples, time
        span, log-likelihood, AIC, BIC), the equations with their coefficient
        names and fitted, the coefficients (z tests and intervals), the
        nuisance parameters, and notes (the method's assumptions, the time
        conversion, method details). ``as_text()``, ``as_latex()``,
        ``as_html()`` as for any statsmodels summary.
        """
        from statsmodels.iolib.summary import summary_params
        from statsmodels.iolib.table import SimpleTable

        smry = _Summary()
        left, right = self._header()
        smry.add_table_2cols(self, gleft=left, gright=right,
                             title=title or "Derivative-relation regression results")
        rows = []
        for named, fitted in zip(self.equations(False), self.equations(True)):
            rows += [["Equation:", named], ["Fitted:", fitted]]
        smry.tables.append(SimpleTable([[r[1]] for r in rows], stubs=[r[0] for r in rows],
                                       txt_fmt={"data_aligns": "l"}))
        names = list(self.model.data.param_names)
        p = np.asarray(self.params, float)
        ci = np.asarray(self.conf_int(alpha), float)
        tab = summary_params((self, p, np.asarray(self.bse, float),
                              np.asarray(self.tvalues, float),
                              np.asarray(self.pvalues, float), ci),
                             yname=None, xname=names, alpha=alpha, use_t=False)
        smry.tables.append(tab)
        if len(self.nuisance):
            nuis = self.nuisance
            se = nuis["std err"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = nuis["coef"].to_numpy(dtype=float) / se
            q = stats.norm.ppf(1 - alpha / 2)
            tab = summary_params((self, nuis["coef"].to_numpy(dtype=float), se, z,
                                  2 * stats.norm.sf(np.abs(z)),
                                  np.column_stack([nuis["coef"] - q * se,
                                                   nuis["coef"] + q * se])),
                                 yname=None, xname=list(nuis.index), alpha=alpha,
                                 use_t=False)
            tab[0][0].data = "nuisance"
            smry.tables.append(tab)
        details = self.info.get("details") or {}
        detail = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                           for k, v in details.items())
        notes = [f"Method '{self.method}': " + self.model.method_note(self.method),
                 self.model.time_axis.describe(), f"Details: {detail}." if detail else ""]
        notes += list(self.info.get("notes", []))
        smry.add_extra_txt([n for n in notes if n])
        return smry


class DerivativeResultsWrapper(LikelihoodResultsWrapper):
    """pandas out: ``params``, ``bse``, ``tvalues``, ``pvalues`` labelled by
    parameter name, ``cov_params()`` as a DataFrame. ``resid`` is already a
    Series (the residuals of some methods cover part of the samples)."""

    _attrs = {"params": "columns", "bse": "columns", "pvalues": "columns",
              "tvalues": "columns", "normalized_cov_params": "cov"}
    _wrap_attrs = _attrs
    _wrap_methods = {"cov_params": "cov"}

    def conf_int(self, alpha: float = 0.05):
        return self._results.conf_int(alpha)

    conf_int.__doc__ = DerivativeResults.conf_int.__doc__


wrap.populate_wrapper(DerivativeResultsWrapper, DerivativeResults)
