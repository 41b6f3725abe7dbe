"""Derivative-relation regression: ODE coefficients from sampled, noisy data.

:class:`DerivativeRegression` estimates ``theta`` in

    x^(m)(t) = sum_j theta_j g_j(t)

from samples ``y_n = x(t_n) + e_n`` of ``x`` with measurement noise, where
the terms ``g_j`` are lower derivatives of ``x`` (``x`` itself included),
exogenous inputs held constant between samples, a constant, and known
nonlinear functions of one derivative (``x^2``, ``sign(D1.x)``, ...).

Methods (``fit(method=...)``):

``"fd"``
    Central finite differences and OLS. The naive baseline: biased.
``"integral"``
    The equation integrated ``m`` times, initial conditions as nuisance
    regressors, OLS with Newey-West (HAC) standard errors.
``"oe"``
    Output error: nonlinear least squares of ``y - x_sim(theta, s0)`` by
    Gauss-Newton/Levenberg-Marquardt with exact sensitivities. Efficient
    under white measurement noise.
``"arimax"``
    Exact discretisation as a transfer-function (ARMAX) model estimated by
    exact Gaussian ML (delta-operator recursion, initial values profiled
    out; Kalman filter for the reported likelihood), mapped back to ``theta`` by
    minimum distance with delta-method standard errors. Linear equations,
    uniform sampling.
``"fourier"``
    Regression in the frequency domain, where differentiation is
    multiplication by ``i omega``, with the record's boundary (leakage)
    terms modelled exactly, on the band where the signal dominates the noise.

The kernels (simulation, sensitivities, discretisation, transforms) are in
:mod:`econderiv.models._derivreg_kernels`.
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from math import factorial

import numpy as np
import pandas as pd
from scipy import linalg, optimize

from statsmodels.base import wrapper as wrap
from statsmodels.base.model import Model

from econderiv.models import _data, _derivreg_fourier
from econderiv.models._likelihood import single_thread_blas
from econderiv.models import _derivreg_kernels as K
from econderiv.models._optim import check_keywords, check_maxiter, closest
from econderiv.models._timeseries import (DerivativeResults, DerivativeResultsWrapper,
                                          as_seconds, check_increasing)

__all__ = ["DerivativeRegression", "DerivativeRegressionResults"]

METHODS = ("fd", "integral", "oe", "arimax", "fourier")
UNIFORM_METHODS = ("fd", "arimax", "fourier")

METHOD_NOTES = {
    "fd": (
        "Central finite differences of the sampled x regressed by OLS. "
        "Differencing amplifies the measurement noise by about 1/h^k in the "
        "k-th derivative, on both sides of the equation: the noisy regressors "
        "attenuate their coefficients (regression dilution) and the "
        "standard errors ignore the moving-average structure of differenced "
        "noise. Biased unless the noise is negligible against h^m x^(m); "
        "kept as the naive baseline."),
    "integral": (
        "The equation integrated m times from t0 (trapezoid rule; held "
        "inputs integrated exactly), so only integrals of the data appear; "
        "the unknown initial conditions enter as polynomial nuisance "
        "regressors (t-t0)^i/i!. OLS. The error is L e, e the white "
        "measurement noise and L = I - sum theta_k Q^(m-k) (Q the cumulative "
        "integral): autocorrelated and not stationary (it contains integrated "
        "noise, a random walk), so Newey-West (HAC) standard errors with the "
        "usual lag rule are far too small (95% intervals cover about 30% of "
        "the time on the motor); the default cov_type='measurement' uses the "
        "exact sandwich s^2 (X'X)^-1 X'LL'X (X'X)^-1 instead, s^2 from the "
        "simulated path's residuals; cov_type='HAC' is available. Consistent "
        "for small measurement noise; a slight errors-in-variables and "
        "quadrature bias remains."),
    "oe": (
        "Output error: theta and the initial state minimise sum (y - "
        "x_sim)^2, x_sim the exact solution with inputs held between samples. "
        "Gauss-Newton (Levenberg-Marquardt) with sensitivities from the "
        "matrix exponential (linear equations) or integrated sensitivity "
        "equations (nonlinear terms). ML and efficient when the measurement "
        "noise is white Gaussian and the model has no process noise; "
        "standard errors from the Gauss-Newton information s^2 (J'J)^-1."),
    "arimax": (
        "Exact discretisation of the linear time-invariant equation with "
        "zero-order-hold inputs: A(L) x_n = B(L) u_n + c, observed with white "
        "noise, a transfer-function (ARMAX) "
        "model with MA noise of order m. Exact Gaussian ML (initial values "
        "profiled out; Fisher scoring on the delta-operator recursion; the "
        "Kalman filter with diffuse initial state gives the reported "
        "log-likelihood and residuals), then theta by minimum distance from "
        "the discrete coefficients with delta-method standard errors. Needs "
        "uniform sampling and a linear equation."),
    "fourier": (
        "Frequency-domain regression at omega_k = 2 pi k / T: differentiation "
        "is multiplication by i omega; the record's boundary values (the "
        "source of leakage for a non-periodic record) enter exactly as a "
        "polynomial of degree m-1 in i omega with nuisance coefficients, so "
        "no taper is used. Weighted least squares (weights 1/|A(i omega)|^2, "
        "iterated) on the band where the input-driven part of |X|^2 exceeds snr "
        "times the noise floor; the constant is not identified away from omega=0 and is "
        "recovered from the zero-frequency equation through the transient's constant "
        "coefficient."),
}


def _deriv_name(k, name):
    return name if k == 0 else f"D{k}.{name}"


_POWER = re.compile(r"^(?:D(\d+)\.)?(\w+)\^(\d+)$")
_FUNC = re.compile(r"^(sign|abs)\((?:D(\d+)\.)?(\w+)\)$")
_DRAG = re.compile(r"^(?:D(\d+)\.)?(\w+)\*abs\((?:D(\d+)\.)?(\w+)\)$")


# module-level functions (not lambdas), so that models and results pickle
def _power(v, p):
    return v**p


def _power_deriv(v, p):
    return p * v**(p - 1)


def _drag(v):
    return v * np.abs(v)


def _drag_deriv(v):
    return 2 * np.abs(v)


def parse_nonlinear(term, endog_name, order):
    """Turn a nonlinear term into a :class:`NonlinearTerm`.

    Accepted strings (``x`` may also be the endog name): ``"x^p"`` or
    ``"Dk.x^p"`` (integer ``p >= 2``), ``"sign(Dk.x)"``, ``"abs(Dk.x)"``,
    ``"Dk.x*abs(Dk.x)"`` (quadratic drag). Or a tuple
    ``(name, k, func, deriv)`` with ``deriv = d func / d x^(k)``.
    """
    if isinstance(term, K.NonlinearTerm):
        return term
    if isinstance(term, tuple):
        name, k, func, deriv = term
        return K.NonlinearTerm(str(name), int(k), func, deriv)
    s = str(term).replace(" ", "")
    names = ("x", endog_name)

    def kk(d):
        k = int(d) if d else 0
        if k >= order:
            raise ValueError(f"nonlinear term {term!r}: derivative D{k} is not below "
                             f"the order {order}")
        return k

    mt = _POWER.match(s)
    if mt and mt.group(2) in names:
        k, p = kk(mt.group(1)), int(mt.group(3))
        if p < 2:
            raise ValueError(f"nonlinear term {term!r}: power must be >= 2")
        return K.NonlinearTerm(f"{_deriv_name(k, endog_name)}^{p}", k,
                               functools.partial(_power, p=p),
                               functools.partial(_power_deriv, p=p))
    mt = _FUNC.match(s)
    if mt and mt.group(3) in names:
        k = kk(mt.group(2))
        nm = f"{mt.group(1)}({_deriv_name(k, endog_name)})"
        if mt.group(1) == "sign":
            return K.NonlinearTerm(nm, k, np.sign, np.zeros_like)
        return K.NonlinearTerm(nm, k, np.abs, np.sign)
    mt = _DRAG.match(s)
    if mt and mt.group(2) in names and mt.group(4) in names and mt.group(1) == mt.group(3):
        k = kk(mt.group(1))
        dn = _deriv_name(k, endog_name)
        return K.NonlinearTerm(f"{dn}*abs({dn})", k, _drag, _drag_deriv)
    raise ValueError(f"cannot parse nonlinear term {term!r}; use 'x^2', 'D1.x^3', "
                     "'sign(D1.x)', 'abs(x)', 'D1.x*abs(D1.x)' or a tuple "
                     "(name, k, func, deriv)")


class DerivativeRegression(Model):
    """Estimate the coefficients of ``x^(m) = sum_j theta_j g_j`` from samples of x.

    Parameters
    ----------
    endog : array_like or pandas.Series
        Sampled ``x(t_n)``, measured with noise.
    time : array_like or pandas.Series, optional
        Sample times, strictly increasing: numbers (used as given),
        datetimes (converted to seconds since the first sample) or
        timedeltas (seconds); the summary states the conversion and the
        record's span in the original units. Default: the index of
        ``endog`` (a Series indexed by its times).
    order : int
        ``m``, the order of the derivative on the left.
    derivs : sequence of int
        Which derivatives of ``x`` appear on the right (0 = ``x`` itself),
        each below ``order``.
    exog : array_like or pandas.DataFrame, optional
        Inputs ``u``; the value at sample ``n`` is held over
        ``[t_n, t_{n+1})`` (zero-order hold), as a digital controller does.
    trend : {"c", "n"}
        ``"c"`` adds a constant term, ``"n"`` none.
    nonlinear : sequence, optional
        Known nonlinear terms, e.g. ``["x^2"]`` or ``["sign(D1.x)"]``; see
        :func:`parse_nonlinear`.

    Notes
    -----
    pandas inputs (``endog``, ``time``, ``exog``) are matched by index
    label, as in the other families: the same labels in another order are
    reordered, different or duplicated labels are an error; arrays are
    taken by position. Sampling may be irregular for ``"oe"`` and
    ``"integral"`` (``"oe"`` shares one matrix exponential between nearby
    steps: :func:`._derivreg_kernels.zoh_taylor_plan`).

    Parameters are ordered: the ``derivs`` terms in the order given (named
    ``x``, ``D1.x``, ...), the exog columns, ``const``, then the nonlinear
    terms. Nuisance parameters (initial state, integration constants,
    transients) are kept apart in ``results.nuisance``.

    Examples
    --------
    >>> mod = DerivativeRegression(y, t, order=2, derivs=(1,), exog=u)
    >>> res = mod.fit(method="oe")
    >>> res.params          # D1.x, u, const
    """

    def __init__(self, endog, time=None, order=2, derivs=(1,), exog=None, trend="c",
                 nonlinear=None):
        y, endog_name, y_index = _data.as_vector(endog, "endog", "x")
        self.endog_name = endog_name
        if time is None:
            # a RangeIndex holds row numbers, not times: never taken as a clock
            if y_index is None or isinstance(y_index, pd.RangeIndex) or not (
                    isinstance(y_index, (pd.DatetimeIndex, pd.TimedeltaIndex))
                    or pd.api.types.is_numeric_dtype(y_index.dtype)):
                raise ValueError("give time (the sample times), or endog as a pandas Series "
                                 "indexed by its times (numbers, datetimes or timedeltas; "
                                 "not row numbers)")
            time = y_index.to_series(index=y_index)
        t, axis, t_index = as_seconds(time, "time")
        if exog is None:
            u, exog_names, u_index = np.zeros((y.size, 0)), [], None
        elif isinstance(exog, (pd.Series, pd.DataFrame)):
            if isinstance(exog, pd.Series) and exog.name is None:
                exog = exog.rename("u")
            u, exog_names, u_index = _data.as_matrix(exog, "exog")
        else:
            u = np.asarray(exog, dtype=float)
            u = u[:, None] if u.ndim == 1 else u
            if u.ndim != 2:
                raise ValueError(f"exog must be 1-D or 2-D, got shape {np.shape(exog)}")
            exog_names = ["u"] if u.shape[1] == 1 else [f"u{i + 1}" for i in
                                                         range(u.shape[1])]
            u_index = None
        # pandas inputs are matched by index label, never paired by position
        inputs = [("endog", y, y_index), ("time", t, t_index)]
        if exog is not None:
            inputs.append(("exog", u, u_index))
        aligned, index = _data.align_inputs(inputs)
        y, t = aligned[:2]
        if exog is not None:
            u = aligned[2]
        n = y.size
        bad = np.flatnonzero(~np.isfinite(y))
        if bad.size:
            raise ValueError(f"endog ({self.endog_name}) has {bad.size} missing or "
                             f"non-finite values (first at position {bad[0]}); drop "
                             "or interpolate them first")
        for j, nm in enumerate(exog_names):
            badj = np.flatnonzero(~np.isfinite(u[:, j]))
            if badj.size:
                raise ValueError(f"exog column {nm!r} has {badj.size} missing or "
                                 f"non-finite values (first at position {badj[0]})")
        check_increasing(t)
        if axis.kind == "datetime" and n:
            # seconds since the (aligned) first sample
            axis.origin = axis.first = axis.origin + pd.Timedelta(seconds=float(t[0]))
            t = t - t[0]
            axis.last = axis.origin + pd.Timedelta(seconds=float(t[-1]))
        elif axis.kind == "timedelta" and n:
            axis.first = pd.Timedelta(seconds=float(t[0]))
            axis.last = pd.Timedelta(seconds=float(t[-1]))
        elif n:
            axis.first, axis.last = float(t[0]), float(t[-1])
        order = int(order)
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        derivs = tuple(int(k) for k in derivs)
        for k in derivs:
            if not 0 <= k < order:
                raise ValueError(f"derivs must lie in 0..{order - 1} (below the order "
                                 f"{order}), got {k}")
        if len(set(derivs)) != len(derivs):
            raise ValueError(f"derivs has repeated entries: {derivs}")
        if trend not in ("c", "n"):
            raise ValueError(f"trend must be 'c' or 'n', got {trend!r}")
        nl = [parse_nonlinear(tm, self.endog_name, order) for tm in (nonlinear or [])]

        self.time = t
        self.time_axis = axis
        self.exog_names_ = list(exog_names)
        self.order = order
        self.derivs = derivs
        self.trend = trend
        self.spec = K.EquationSpec(order, derivs, u.shape[1], trend == "c", nl)
        self.inputs = K.build_inputs(u if u.shape[1] else None, n, trend == "c")
        self.param_names = ([_deriv_name(k, self.endog_name) for k in derivs]
                            + list(exog_names) + (["const"] if trend == "c" else [])
                            + [tm.name for tm in nl])
        if len(set(self.param_names)) != len(self.param_names):
            raise ValueError(f"parameter names clash: {self.param_names}; rename the "
                             "exog columns")
        self.state_names = [_deriv_name(k, self.endog_name) for k in range(order)]
        self.nobs = n
        self.k_params = len(self.param_names)
        need = self.k_params + order + 2
        if n < need:
            raise ValueError(f"too few samples: {n} for an order-{order} equation with "
                             f"{self.k_params} coefficients and {order} initial "
                             f"conditions; need at least {need}")
        if index is not None:
            self._index = index
        elif axis.kind == "numeric":
            self._index = pd.Index(t, name="time")
        else:
            self._index = pd.Index(axis.values(t), name="time")
        # statsmodels' model (data, names): results are statsmodels results
        super().__init__(pd.Series(y, index=self._index, name=self.endog_name), None)
        self.data.param_names = list(self.param_names)
        self.endog = y
        self.exog = u
        self._data_attr.extend(["time", "inputs"])

    @property
    def exog_names(self):
        """Names of the input columns (held between samples)."""
        return self.exog_names_

    def equation_terms(self):
        """``[(lhs, [(parameter name, regressor), ...])]``: the one equation, the
        constant's regressor empty (:func:`._timeseries.equation_text`)."""
        regs = list(self.param_names)
        if self.spec.const:
            regs[len(self.derivs) + len(self.exog_names_)] = ""
        return [(_deriv_name(self.order, self.endog_name), list(zip(self.param_names, regs)))]

    @staticmethod
    def method_note(method):
        """The method's assumptions (printed under the summary)."""
        return METHOD_NOTES[method]

    # ------------------------------------------------------------------
    @classmethod
    def from_formula(cls, formula, data, time, nonlinear=None):
        """Build the model from ``"D2(x) ~ D1(x) + u"``.

        The left side is ``Dm(x)`` (``m`` the order; ``x`` alone means order
        0 and is rejected). On the right: ``Dk(x)`` or ``x`` for derivative
        terms, column names of ``data`` for inputs, nonlinear terms such as
        ``x^2``, ``sign(D1(x))`` or ``D1(x)*abs(D1(x))``, and ``- 1`` or
        ``0`` to drop the constant. ``time`` is a column name or an array.
        """
        lhs, sep, rhs = formula.partition("~")
        if not sep:
            raise ValueError(f"formula {formula!r} has no '~'")
        mt = re.fullmatch(r"\s*D(\d+)\((\w+)\)\s*", lhs)
        if not mt:
            raise ValueError(f"left side {lhs.strip()!r} must be Dm(name), e.g. D2(x)")
        order, name = int(mt.group(1)), mt.group(2)
        if name not in data:
            raise ValueError(f"column {name!r} (left side of the formula) is not in data")
        trend = "c"
        derivs, exog_cols, nl = [], [], list(nonlinear or [])
        rhs = rhs.replace("-1", "+ -1").replace("- 1", "+ -1")
        for raw in rhs.split("+"):
            term = raw.strip().replace(" ", "")
            if not term:
                continue
            if term in ("-1", "0"):
                trend = "n"
                continue
            if term == "1":
                continue
            term_x = re.sub(r"D(\d+)\((\w+)\)", r"D\1.\2", term)
            md = re.fullmatch(r"D(\d+)\.(\w+)", term_x)
            if md and md.group(2) == name:
                derivs.append(int(md.group(1)))
            elif term_x == name:
                derivs.append(0)
            elif term in data:
                exog_cols.append(term)
            else:
                nl.append(term_x)
        # columns keep the data's index (aligned by label with the other inputs)
        t = data[time] if isinstance(time, str) else time
        endog = data[name].rename(name)
        exog = data[exog_cols] if exog_cols else None
        mod = cls(endog, t, order=order, derivs=derivs, exog=exog, trend=trend,
                  nonlinear=nl)
        mod.formula = formula
        return mod

    # ------------------------------------------------------------------
    def _uniform_step(self, method):
        h = np.diff(self.time)
        h0 = float(np.median(h))
        dev = float(np.max(np.abs(h - h0)))
        if dev > 1e-6 * h0:
            i = int(np.argmax(np.abs(h - h0)))
            raise ValueError(f"method {method!r} needs uniform sampling, but the step "
                             f"t[{i + 1}] - t[{i}] = {h[i]:.6g} differs from the median "
                             f"step {h0:.6g}; use method='oe' or 'integral', or resample")
        return h0

    def fit(self, method="oe", **kwargs):
        """Estimate the coefficients.

        Parameters
        ----------
        method : {"oe", "integral", "arimax", "fourier", "fd"}
            See the module notes; each results' ``summary()`` states the
            method's assumptions.
        **kwargs
            ``"integral"``: ``cov_type`` (``"measurement"``, default: exact
            sandwich when the data carry white measurement noise, the
            integrated errors being ``L e``; ``"HAC"``: Newey-West, with
            ``maxlags``, default ``floor(4 (n/100)^(2/9))`` -- too small for
            the random-walk part of integrated noise, see the notes).
            ``"oe"``: ``start_params`` (theta), ``x0`` (initial state),
            ``maxiter``; starts from the ``"integral"`` estimate.
            ``"arimax"``: ``maxiter``, ``noise`` (only ``"measurement"``:
            white measurement noise; equation noise is not supported).
            ``"fourier"``: ``snr`` (band: ``|X|^2`` above ``snr`` times the
            noise floor, default 100), ``nfreq`` (fix the band to
            ``k = 1..nfreq``), ``max_fraction`` (cap as a fraction of the
            Nyquist frequency, default 0.25), ``iterations`` (of the
            weighted regression, default 3).
            ``"fd"``: none. Another keyword is a ``TypeError`` that lists
            the method's keywords; ``maxiter`` must be a positive integer.

        Returns
        -------
        DerivativeRegressionResults
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}"
                             f"{closest(method, METHODS)}")
        fitter = getattr(self, f"_fit_{method}")
        check_keywords(kwargs, _fit_keywords(method),
                       f"DerivativeRegression.fit(method={method!r})")
        if "maxiter" in kwargs:
            kwargs["maxiter"] = check_maxiter(kwargs["maxiter"])
        if method in UNIFORM_METHODS:
            self._uniform_step(method)
        # small matrices and tall-thin products: BLAS threads only stall
        with single_thread_blas():
            return DerivativeRegressionResultsWrapper(fitter(**kwargs))

    # ------------------------------------------------------------------
    # fd
    def _fit_fd(self):
        import statsmodels.api as sm
        spec, m = self.spec, self.order
        h = self._uniform_step("fd")
        D, idx = K.central_differences(self.endog, h, m)
        cols = [D[:, k] for k in spec.derivs]
        w = self.inputs[idx]
        cols += [w[:, i] for i in range(w.shape[1])]
        cols += [tm.func(D[:, tm.k]) for tm in spec.nonlinear]
        X = np.column_stack(cols)
        ols = sm.OLS(D[:, m], X).fit()
        return DerivativeRegressionResults(
            self, "fd", ols.params, ols.cov_params(), scale=ols.scale,
            df_resid=ols.df_resid, resid=self._resid(ols.resid, self._index[idx]),
            info={"details": {"h": h, "stencil": f"-{(m + 1) // 2}..{(m + 1) // 2}"}},
            cov_description="OLS on the differenced data (ignores the moving-average "
                            "structure of differenced noise)")

    # ------------------------------------------------------------------
    # integral
    def integral_design(self):
        """Dependent variable, regressors and nuisance columns of ``"integral"``.

        Integrating ``x^(m) = sum theta_j g_j`` ``m`` times from ``t0``:

            x(t) = sum_j theta_j I^m[g_j](t) + sum_{i<m} c_i (t-t0)^i / i!

        with ``I^m[x^(k)] = I^(m-k)[x]`` up to a polynomial absorbed in the
        ``c_i``, ``I^m[1] = (t-t0)^m / m!`` and ``I^m[u]`` for held inputs.
        Nonlinear terms in a derivative ``k > 0`` use central differences of
        the data for ``x^(k)``. Returns ``(y, X, Z)``.
        """
        spec, m, t, y = self.spec, self.order, self.time, self.endog
        cols = [K.integrate_sampled(y, t, m - k) for k in spec.derivs]
        for i in range(self.exog.shape[1]):
            cols.append(K.integrate_held(self.exog[:, i], t, m))
        if spec.const:
            cols.append((t - t[0])**m / factorial(m))
        if spec.nonlinear:
            deriv_cache = {}
            for tm in spec.nonlinear:
                if tm.k == 0:
                    v = y
                else:
                    if tm.k not in deriv_cache:
                        deriv_cache[tm.k] = K.differentiate_sampled(y, t, tm.k)
                    v = deriv_cache[tm.k]
                cols.append(K.integrate_sampled(tm.func(v), t, m))
        X = np.column_stack(cols)
        Z = K.poly_columns(t, m)
        return y, X, Z

    def _fit_integral(self, cov_type="measurement", maxlags=None):
        import statsmodels.api as sm
        if cov_type not in ("measurement", "HAC"):
            raise ValueError(f"cov_type must be 'measurement' or 'HAC', got {cov_type!r}")
        y, X, Z = self.integral_design()
        n = y.size
        p = X.shape[1]
        XZ = np.column_stack([X, Z])
        _check_rank(XZ, self.param_names + [f"(t-t0)^{i}/{i}!" for i in range(self.order)])
        info = {"cov_type": cov_type, "details": {}}
        if cov_type == "HAC":
            if maxlags is None:
                maxlags = int(np.floor(4 * (n / 100.0)**(2.0 / 9.0)))
            ols = sm.OLS(y, XZ).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags})
            cov = ols.cov_params()
            info["details"]["maxlags"] = maxlags
            scale = ols.scale
        else:
            # QR: a tall design, no pseudo-inverse needed (the rank is checked above)
            ols = sm.OLS(y, XZ).fit(method="qr")
            theta = ols.params[:p]
            # The error is L e with e the white measurement noise: sandwich
            # with L'XZ; sigma^2 from the simulated path's residuals.
            s0 = self.fit_initial_state(theta)
            states, _ = K.simulate(self.spec, theta, s0, self.time, self.inputs)
            r = y - states[:, 0]
            scale = float(r @ r) / (n - p - self.order)
            LX = K.integral_noise_adjoint(self.spec, theta, y, self.time, XZ)
            bread = _inv_psd(XZ.T @ XZ)
            cov = scale * bread @ (LX.T @ LX) @ bread
        return DerivativeRegressionResults(
            self, "integral", ols.params[:p], cov[:p, :p], scale=scale,
            df_resid=ols.df_resid, resid=self._resid(ols.resid, self._index),
            # NaN where rounding made a nuisance variance negative (very long
            # records: the polynomial columns are nearly collinear)
            nuisance=([f"ic.(t-t0)^{i}/{i}!" for i in range(self.order)], ols.params[p:],
                      np.sqrt(np.where(np.diag(cov)[p:] >= 0, np.diag(cov)[p:], np.nan))),
            info=info, cov_type=cov_type,
            cov_description=("exact sandwich for white measurement noise" if cov_type ==
                             "measurement" else f"Newey-West, {maxlags} lags"))

    # ------------------------------------------------------------------
    # oe
    def output_error(self, params_full):
        """Residuals ``y - x_sim`` and their Jacobian at ``(theta, s0)``.

        ``params_full`` is theta followed by the initial state
        ``(x, x', ..., x^(m-1))`` at ``t0``. The Jacobian has one row per
        sample and one column per parameter: ``-d x_sim(t_n) / d params``.
        """
        p = self.k_params
        theta, s0 = params_full[:p], params_full[p:]
        states, jac = K.simulate(self.spec, theta, s0, self.time, self.inputs,
                                 sensitivities=True)
        return self.endog - states[:, 0], -jac

    def _guarded_output_error(self, v):
        """:meth:`output_error`, or a huge residual if the solution blows up.

        Levenberg-Marquardt then rejects the trial step that caused it.
        """
        try:
            return self.output_error(v)
        except FloatingPointError:
            big = 1e8 * (np.std(self.endog) + 1.0)
            return np.full(self.nobs, big), np.zeros((self.nobs, v.size))

    def fit_initial_state(self, theta):
        """Least-squares initial state for given ``theta`` (path closest to data)."""
        p, m = self.k_params, self.order
        theta = np.asarray(theta, float)
        s0 = _initial_guess(self.endog, self.time, m)
        if self.spec.is_linear:
            # x_sim is affine in s0: one Gauss-Newton step is exact.
            r, J = self.output_error(np.concatenate([theta, s0]))
            step = np.linalg.lstsq(-J[:, p:], r, rcond=None)[0]
            return s0 + step

        def fun(s):
            return self._guarded_output_error(np.concatenate([theta, s]))[0]

        def jac(s):
            return self._guarded_output_error(np.concatenate([theta, s]))[1][:, p:]

        sol = optimize.least_squares(fun, s0, jac=jac, method="lm", x_scale="jac")
        return sol.x

    def _check_stable_start(self, theta):
        """A linear equation whose solution grows by more than e^50 over the record
        at the start values: Gauss-Newton cannot recover from there (the path and
        its sensitivities are dominated by the exploding mode)."""
        if not self.spec.is_linear:
            return
        A, _ = self.spec.system_matrices(theta)
        lam = np.linalg.eigvals(A)
        span = float(self.time[-1] - self.time[0])
        growth = float(np.max(lam.real)) * span
        if growth > 50:
            raise ValueError(
                f"the start values make the equation unstable: its state matrix has an "
                f"eigenvalue with real part {np.max(lam.real):.4g} (1/time), so the "
                f"simulated path grows by about e^{growth:.0f} over the record "
                f"({span:.4g} time units) and output error cannot recover from there. "
                "Pass start_params from another method (e.g. fit('integral').params) or "
                "with the expected signs")

    def _fit_oe(self, start_params=None, x0=None, maxiter=200):
        p, m, n = self.k_params, self.order, self.nobs
        if start_params is None:
            try:
                start_params = np.asarray(self._fit_integral().params)
            except Exception as exc:  # pragma: no cover - depends on data
                raise ValueError("could not get starting values from method "
                                 f"'integral' ({exc}); pass start_params") from exc
        theta0 = np.asarray(start_params, float).ravel()
        if theta0.size != p:
            raise ValueError(f"start_params has {theta0.size} values, expected {p} "
                             f"({self.param_names})")
        _check_finite_start(theta0, self.param_names, "start_params")
        self._check_stable_start(theta0)
        if x0 is not None:
            s0 = np.asarray(x0, float).ravel()
            if s0.size != m:
                raise ValueError(f"x0 has {s0.size} values, expected {m} "
                                 f"({self.state_names})")
            _check_finite_start(s0, self.state_names, "x0")
        else:
            try:
                s0 = self.fit_initial_state(theta0)
            except FloatingPointError as exc:
                raise ValueError(f"the equation at start_params cannot be solved over the "
                                 f"record ({exc}); pass start_params from another method, "
                                 "e.g. fit('integral').params") from None
        start = np.concatenate([theta0, s0])

        cache = {}

        def both(v):
            key = v.tobytes()
            if key not in cache:
                cache.clear()
                cache[key] = self._guarded_output_error(v)
            return cache[key]

        sol = optimize.least_squares(lambda v: both(v)[0], start,
                                     jac=lambda v: both(v)[1], method="lm",
                                     x_scale="jac", max_nfev=maxiter * (p + m + 1),
                                     xtol=1e-12, ftol=1e-12, gtol=1e-10)
        if sol.status <= 0:
            warnings.warn(f"output-error fit did not converge ({sol.message}); try "
                          "start_params from another method or a larger maxiter",
                          RuntimeWarning, stacklevel=3)
        r, J = self.output_error(sol.x)
        dof = n - p - m
        rss = float(r @ r)
        scale = rss / dof
        cov = scale * _inv_psd(J.T @ J)
        # Gaussian log-likelihood at the ML variance rss/n
        llf = -0.5 * n * (np.log(2 * np.pi * rss / n) + 1.0)
        return DerivativeRegressionResults(
            self, "oe", sol.x[:p], cov[:p, :p], scale=scale, df_resid=dof,
            resid=self._resid(r, self._index), llf=llf, k_llf=p + m + 1,
            nuisance=([f"{s}(t0)" for s in self.state_names], sol.x[p:],
                      np.sqrt(np.diag(cov)[p:])),
            initial_state=sol.x[p:],
            info={"nfev": sol.nfev, "status": sol.status, "cov_full": cov,
                  "converged": sol.status > 0},
            cov_description="Gauss-Newton information s^2 (J'J)^-1")

    # ------------------------------------------------------------------
    # arimax and fourier: their modules return a plain estimate
    def _results(self, method, est, **kwargs):
        """The results object of a :class:`~._derivreg_kernels.Estimate`."""
        return DerivativeRegressionResults(
            self, method, est.params, est.cov, scale=est.scale, df_resid=est.df_resid,
            resid=None if est.resid is None else self._resid(est.resid, self._index),
            nuisance=est.nuisance, info=est.info, **kwargs)

    @staticmethod
    def _resid(values, index):
        values = np.asarray(values, dtype=float)
        return pd.Series(values, index=index if len(index) == len(values) else None,
                         name="resid")

    def _fit_arimax(self, noise="measurement", maxiter=50):
        # imported here: statsmodels' state-space module is slow to import
        from econderiv.models import _derivreg_arimax
        if not self.spec.is_linear:
            raise ValueError("method 'arimax' needs a linear equation (the exact "
                             "discretisation of nonlinear terms is not an ARMAX "
                             "model); use 'oe' or 'integral'")
        _derivreg_arimax.check_noise(noise)
        k_disc = self.order * (1 + self.spec.n_inputs - int(self.spec.const)) + int(
            self.spec.const)
        need = k_disc + self.order + 2
        if self.nobs < need:
            raise ValueError(f"too few samples for method 'arimax': {self.nobs}; its discrete "
                             f"model has {k_disc} coefficients, {self.order} initial values "
                             f"and a variance, so it needs at least {need}")
        start = self._fit_integral()
        est = _derivreg_arimax.fit_arimax(
            self.spec, self.endog, self.exog, self.exog_names, self._uniform_step("arimax"),
            np.asarray(start.params), start.residual_variance, noise=noise, maxiter=maxiter)
        names, coef, cov = est.extra["discrete"]
        res = self._results("arimax", est, llf=est.info["llf"], k_llf=len(names) + 1,
                            cov_type="delta method",
                            cov_description="minimum distance from the discrete ML "
                                            "estimate, delta method")
        res.discrete = pd.DataFrame({"coef": coef, "std err": np.sqrt(np.diag(cov))},
                                    index=names)
        res.discrete_cov = pd.DataFrame(cov, index=names, columns=names)
        return res

    def _fit_fourier(self, snr=100.0, nfreq=None, max_fraction=0.25, iterations=3):
        est = _derivreg_fourier.fit_fourier(
            self.spec, self.endog, self.time, self.exog, self._uniform_step("fourier"),
            snr=snr, nfreq=nfreq, max_fraction=max_fraction, iterations=iterations)
        est.info.setdefault("details", {})["band"] = est.info.get("band")
        res = self._results("fourier", est, cov_type="weighted LS",
                            cov_description="iterated weighted least squares in the band")
        try:  # residuals: y - x_sim
            sim = res.simulate().iloc[:, 0].to_numpy()
            res.resid = self._resid(self.endog - sim, self._index)
        except Exception:  # pragma: no cover - e.g. an unstable fitted equation
            pass
        return res


@functools.cache
def _fit_keywords(method):
    """The keywords of ``fit(method)``: the parameters of its ``_fit_<method>``."""
    fitter = getattr(DerivativeRegression, f"_fit_{method}")
    return tuple(inspect.signature(fitter).parameters)[1:]  # drop self


def _check_finite_start(values, names, what):
    bad = [nm for nm, v in zip(names, values) if not np.isfinite(v)]
    if bad:
        raise ValueError(f"{what} has non-finite values for {bad}; give finite start "
                         "values")


def _initial_guess(y, t, m):
    """Initial state from a local polynomial fit to the first samples."""
    n = min(y.size, max(2 * m + 4, y.size // 20))
    deg = min(m + 1, n - 1)
    tt = t[:n] - t[0]
    coef = np.polynomial.polynomial.polyfit(tt, y[:n], deg)
    return np.array([factorial(k) * coef[k] if k <= deg else 0.0 for k in range(m)])


def _inv_psd(a):
    try:
        c = linalg.cho_factor(a)
        return linalg.cho_solve(c, np.eye(a.shape[0]))
    except linalg.LinAlgError:
        warnings.warn("information matrix is singular: the coefficients are not "
                      "identified by these data (is an input constant?)",
                      RuntimeWarning, stacklevel=3)
        return np.linalg.pinv(a)


def _check_rank(X, names):
    s = np.linalg.svd(X / np.maximum(np.linalg.norm(X, axis=0), 1e-300),
                      compute_uv=False)
    if s[-1] < 1e-10 * s[0]:
        raise ValueError(f"the regressors ({', '.join(names)}) are collinear: the "
                         "coefficients are not identified (is an input constant or "
                         "zero?)")


class DerivativeRegressionResults(DerivativeResults):
    """Results of :meth:`DerivativeRegression.fit`, on statsmodels' results.

    statsmodels' interface (:class:`~._timeseries.DerivativeResults`):
    ``params``, ``bse``, ``tvalues``, ``pvalues`` (normal), ``conf_int()``
    (columns ``lower``, ``upper``), ``cov_params()``, ``t_test``,
    ``wald_test``, ``f_test``, ``summary()`` (a statsmodels ``Summary``:
    ``as_text``, ``as_latex``, ``as_html``; ``summary_col`` takes several
    fits), ``save``/``load``, ``remove_data``; ``llf``, ``aic``, ``bic`` for
    ``"oe"`` and ``"arimax"`` (NaN for the other methods, which have no
    likelihood).

    Attributes
    ----------
    params : pandas.Series
        Estimated ``theta`` (derivative terms, exog, const, nonlinear).
    nuisance : pandas.DataFrame
        Nuisance parameters (initial state, integration constants,
        transient coefficients) with standard errors where available.
    resid : pandas.Series
        The method's own residuals: ``x^(m)`` equation errors for ``"fd"``,
        integrated-equation errors for ``"integral"``, ``y - x_sim`` for
        ``"oe"`` and ``"fourier"``, one-step prediction errors for
        ``"arimax"``.
    fittedvalues : pandas.Series
        The simulated path at the sample times (:meth:`predict`).
    scale : float
        Residual variance (``residual_variance``).
    method : str
    discrete, discrete_cov : pandas.DataFrame
        ``"arimax"`` only: the discrete (ARMAX) coefficients.
    """

    def __init__(self, model, method, params, cov, *, initial_state=None, **kwargs):
        super().__init__(model, method, params, cov, **kwargs)
        self._initial_state = None if initial_state is None else np.asarray(
            initial_state, float)

    @property
    def initial_state(self):
        """Initial state ``(x, x', ...)`` at ``t0`` used by :meth:`simulate`.

        Estimated jointly for ``"oe"``; for the other methods the state whose
        solution, with ``params`` fixed, is closest to the data in least
        squares.
        """
        if self._initial_state is None:
            self._initial_state = self.model.fit_initial_state(np.asarray(self.params))
        return pd.Series(self._initial_state, index=self.model.state_names)

    def _new_path_inputs(self, exog, time):
        """``(t seconds, inputs u, output index or None)`` for new inputs/times;
        pandas inputs are matched by index label."""
        mod = self.model
        if time is None and mod.time is None:
            raise ValueError("the data were removed (remove_data()): give exog and time")
        if time is None:
            if exog is None:
                return mod.time, mod.exog, mod._index
            n = len(exog)
            if n != mod.nobs:
                raise ValueError(f"exog has {n} rows but the model has {mod.nobs} samples; "
                                 "give time for another grid")
            time = mod.time
            t_index, axis_kind = None, "numeric"
            t = time
        else:
            t = mod.time_axis.to_seconds(time, "time")
            t_index = time.index if isinstance(time, pd.Series) else None
            axis_kind = mod.time_axis.kind
        n = t.size
        q = mod.spec.n_exog
        if exog is None:
            if q:
                raise ValueError(f"give exog ({', '.join(mod.exog_names)}) for a time grid "
                                 "other than the model's")
            u, u_index = np.zeros((n, 0)), None
        elif isinstance(exog, pd.DataFrame):
            lack = [c for c in mod.exog_names if c not in exog.columns]
            if lack and exog.shape[1] == q:
                u = exog.to_numpy(dtype=float)
            elif lack:
                raise ValueError(f"exog lacks the column(s) {lack}")
            else:
                u = exog[mod.exog_names].to_numpy(dtype=float)
            u_index = exog.index
        else:
            u_index = exog.index if isinstance(exog, pd.Series) else None
            u = np.asarray(exog, dtype=float)
            u = u[:, None] if u.ndim == 1 else u
        if u.ndim != 2 or u.shape[1] != q:
            raise ValueError(f"exog must have {q} column(s) ({', '.join(mod.exog_names)}), "
                             f"got shape {u.shape}")
        (t, u), index = _data.align_inputs([("time", t, t_index), ("exog", u, u_index)])
        check_increasing(t)
        bad = np.flatnonzero(~np.all(np.isfinite(u), axis=1))
        if bad.size:
            raise ValueError(f"exog has {bad.size} rows with missing or non-finite values "
                             f"(first at position {bad[0]})")
        if index is None and axis_kind != "numeric":
            index = pd.Index(mod.time_axis.values(t), name="time")
        return t, u, index

    def simulate(self, exog=None, x0=None, time=None):
        """Integrate the fitted equation: the whole state.

        Parameters
        ----------
        exog : array_like, Series or DataFrame, optional
            Inputs (held between samples); default the model's.
        x0 : array_like, optional
            Initial state ``(x, x', ..., x^(m-1))`` at ``time[0]``; default
            :attr:`initial_state` (the state at the model's first sample).
        time : array_like or Series, optional
            Sample times, given as the model's were (numbers, datetimes or
            timedeltas); default the model's. Needed with ``exog`` of another
            length. pandas ``time`` and ``exog`` are matched by index label.

        Returns
        -------
        pandas.DataFrame
            The state ``x, D1.x, ...`` at each time (index: the pandas input's,
            the times in their original type, or the times in seconds).
        """
        mod = self.model
        t, u, index = self._new_path_inputs(exog, time)
        states = self._path(t, u, x0)
        if index is None:
            index = pd.Index(t, name="time")
        return pd.DataFrame(states, index=index, columns=mod.state_names)

    def _path(self, t, u, x0):
        mod = self.model
        w = K.build_inputs(u if u.shape[1] else None, t.size, mod.spec.const)
        s0 = self.initial_state.to_numpy() if x0 is None else np.asarray(x0, float).ravel()
        if s0.size != mod.order:
            raise ValueError(f"x0 needs {mod.order} values ({mod.state_names})")
        states, _ = K.simulate(mod.spec, np.asarray(self.params, float), s0, t, w)
        return states

    def predict(self, exog=None, time=None, x0=None):
        """The fitted path ``x_sim``: at the sample times, or for new inputs and times.

        Without arguments, the solution of the fitted equation from
        :attr:`initial_state` at the sample times (``fittedvalues``). With
        ``exog`` and/or ``time``, the simulated path for those inputs (held
        between samples) from ``x0`` (default :attr:`initial_state`) at
        ``time[0]``, as :meth:`simulate` (which returns every state).

        Returns
        -------
        pandas.Series named like ``endog``, indexed by the sample index (the
        estimation sample), by the pandas input's index, or by the times when
        they were datetimes/timedeltas; an ndarray for new array inputs with
        numeric times.
        """
        t, u, index = self._new_path_inputs(exog, time)
        path = self._path(t, u, x0)[:, 0]
        if index is None:
            return path
        return pd.Series(path, index=index, name=self.model.endog_name)

    @property
    def fittedvalues(self):
        """The simulated path at the sample times (a Series)."""
        return self.predict()

    @property
    def sim_rmse(self):
        """Root mean square of ``y - x_sim``, the fit users look at."""
        sim = self.predict().to_numpy()
        return float(np.sqrt(np.mean((self.model.endog - sim)**2)))

    def plot_fit(self, ax=None, **kwargs):
        """Plot the data and the simulated path of the fitted equation.

        Needs matplotlib (an optional dependency). Returns the figure.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover
            raise ImportError("plot_fit needs matplotlib: pip install matplotlib") from exc
        if ax is None:
            fig, ax = plt.subplots(figsize=kwargs.pop("figsize", (8, 3.5)))
        else:
            fig = ax.figure
        mod = self.model
        times = mod.time_axis.values(mod.time)
        ax.plot(times, mod.endog, ".", ms=3, color="0.6", label="data")
        ax.plot(times, self.predict().to_numpy(), "-", lw=1.5,
                label=f"simulated ({self.method})", **kwargs)
        ax.set_xlabel("time" if mod.time_axis.kind == "numeric" else "time (s)"
                      if mod.time_axis.kind == "timedelta" else "time")
        ax.set_ylabel(mod.endog_name)
        ax.legend(loc="best")
        return fig

    def __repr__(self):
        return (f"<DerivativeRegressionResults method={self.method!r} "
                f"params={dict(zip(self.model.param_names, np.round(self.params, 6)))}>")


class DerivativeRegressionResultsWrapper(DerivativeResultsWrapper):
    pass


wrap.populate_wrapper(DerivativeRegressionResultsWrapper, DerivativeRegressionResults)
