"""Method ``"fourier"`` of :class:`econderiv.DerivativeRegression`.

Frequency-domain regression. On a record ``[0, T]`` and at the DFT
frequencies ``omega_k = 2 pi k / T`` (where ``exp(-i omega_k T) = 1``),
integration by parts gives the exact transform of a derivative,

    F[x^(j)](omega) = (i omega)^j X(omega)
                      + sum_{l<j} (i omega)^(j-1-l) (x^(l)(T) - x^(l)(0)),

so the equation becomes

    (i omega)^m X = sum_k theta_k (i omega)^k X + sum_i b_i U_i
                    + sum_nl theta_nl F[f] + P(i omega),

with ``P`` a real polynomial of degree ``m - 1`` whose coefficients are
combinations of the record's boundary values. Those terms are what make a
non-periodic record "leak" across frequencies; modelling them as nuisance
regressors removes the leakage exactly, so no taper (window) is applied: a
taper would instead distort the relation between ``X`` and ``(i omega) X``.
``X`` is the trapezoid-rule transform (the DFT plus an end correction), and
the transform of a held input is exact.

The band is ``k = 1..K``, ``K`` the last frequency before the (running
median of) the power of the input-driven part of ``X`` (from a pilot fit on
the widest band: ``(sum b_i U_i + ...) / A(i omega)``, i.e. without the
leakage terms) falls below ``snr`` times the noise floor, the floor
being ``h^2 N sigma^2`` with ``sigma`` estimated robustly from the third
differences of the data (for white noise their variance is ``20 sigma^2``;
the upper spectrum of a non-periodic record is dominated by leakage, not
by noise); it is capped at ``max_fraction`` of Nyquist so that the
trapezoid transform stays accurate. The errors are ``A(i omega) E(omega)``,
``A(s) = s^m - sum theta_k s^k`` and ``E`` the transform of the noise, so
the regression is weighted by ``1 / |A(i omega)|^2`` and iterated
(Sanathanan and Koerner, 1963). The noise in ``X`` on the right is an
errors-in-variables bias of relative size about ``1/snr``.

A constant input transforms to zero at every ``omega_k != 0``: ``const`` is
recovered from the zero-frequency equation (the equation integrated over
the record), ``x^(m-1)(T) - x^(m-1)(0) = sum_k theta_k int x^(k) + ... + g T``,
whose left side, less the ``theta_k (x^(k-1)(T) - x^(k-1)(0))``, is minus the
transient polynomial's constant coefficient ``c_0``: so
``g = -(c_0 + theta_0 int x + sum_i b_i int u_i + ...)/T``, with its standard
error by the delta method from the band regression.
"""

from __future__ import annotations

import warnings
import numpy as np

from econderiv.models import _derivreg_kernels as K


def fit_fourier(spec, y, t, exog, h, snr=100.0, nfreq=None, max_fraction=0.25,
                iterations=3):
    """Fit ``"fourier"`` (see the module notes) to samples ``y`` at times ``t``
    (uniform step ``h``) with held inputs ``exog`` (one column per input).

    Returns a :class:`~._derivreg_kernels.Estimate` without residuals (the
    adapter takes ``y - x_sim`` of the fitted equation).
    """
    m = spec.order
    n = y.size
    N = n - 1
    T = N * h
    nyq = N // 2
    kmax = max(1, int(np.floor(max_fraction * nyq)))

    # Noise floor h^2 N sigma^2 per bin, sigma from a robust scale of the
    # third differences (20 sigma^2 for white noise); the upper spectrum of a
    # non-periodic record is dominated by leakage, not noise.
    d3 = np.diff(y, 3)
    sigma2 = float((1.4826 * np.median(np.abs(d3 - np.median(d3))))**2 / 20.0)
    noise_power = h * h * N * sigma2

    nd = len(spec.derivs)
    q = exog.shape[1]
    p_band = nd + q + len(spec.nonlinear)  # theta without the constant
    n_band_params = p_band + m
    nl_series = [tm.func(K.differentiate_sampled(y, t, tm.k)) for tm in spec.nonlinear]

    def stack(a):
        return np.concatenate([a.real, a.imag], axis=0)

    def regression(nk):
        """Weighted, iterated frequency-domain regression on k = 1..nk."""
        omega, X, U = K.fourier_transforms(y, exog, h, nk)
        iw = 1j * omega
        nl_cols = [h * np.fft.rfft(fv[:N])[1:nk + 1] + 0.5 * h * (fv[N] - fv[0])
                   for fv in nl_series]
        lhs = iw**m * X
        cols = [iw**k * X for k in spec.derivs] + [U[:, i] for i in range(q)] + nl_cols
        trans = K.transient_columns(omega, m)
        Xc = np.column_stack(cols + [trans[:, j] for j in range(m)])
        weights = 1.0 / np.abs(iw)**(2 * m)
        for _ in range(max(1, iterations)):
            sw = np.sqrt(np.concatenate([weights, weights]))
            A = stack(Xc) * sw[:, None]
            b = stack(lhs) * sw
            coef, *_ = np.linalg.lstsq(A, b, rcond=None)
            Aw = iw**m - sum(c * iw**k for c, k in zip(coef[:nd], spec.derivs))
            weights = 1.0 / np.maximum(np.abs(Aw)**2, 1e-300)
        resid_w = b - A @ coef
        dof = 2 * nk - A.shape[1]
        s2 = float(resid_w @ resid_w) / dof
        cov = s2 * np.linalg.inv(A.T @ A)
        # The part of X driven by the inputs and nonlinear terms (no transient).
        forced = (np.column_stack(cols[nd:]) @ coef[nd:nd + q + len(nl_cols)]
                  if q + len(nl_cols) else np.zeros(nk)) / Aw
        return omega, coef, cov, s2, dof, forced

    if nfreq is None:
        if kmax < n_band_params + 2:
            raise ValueError(f"too few samples ({n}) for method 'fourier' with "
                             f"{n_band_params} coefficients")
        # Pilot on the widest band, then keep the frequencies where the
        # input-driven part of X stands above snr times the noise floor.
        *_, forced = regression(kmax)
        power = np.abs(forced)**2
        win = 9
        pad = np.pad(power, (win // 2, win // 2), mode="edge")
        smooth = np.median(np.lib.stride_tricks.sliding_window_view(pad, win), axis=1)
        below = np.flatnonzero(smooth < snr * noise_power)
        band = int(below[0]) if below.size else kmax
    else:
        band = int(nfreq)
        if band > N // 2:
            raise ValueError(f"nfreq={band} exceeds the Nyquist index {N // 2}")
    if band < n_band_params + 2:
        raise ValueError(f"only {band} frequencies carry the signal above {snr:g} times "
                         f"the noise floor; need at least {n_band_params + 2}. Lower snr, "
                         "give nfreq, or use method='oe'")
    omega, coef, cov_band, s2, dof, _ = regression(band)

    band_params = coef[:p_band]
    # Zero-frequency equation for the constant.
    k_params = spec.n_params
    theta_full = np.zeros(k_params)
    cov_full = np.zeros((k_params, k_params))
    idx_band = list(range(nd + q)) + list(range(nd + q + int(spec.const), k_params))
    theta_full[idx_band] = band_params
    cov_full[np.ix_(idx_band, idx_band)] = cov_band[:p_band, :p_band]
    notes = [f"Band: k = 1..{band} (omega up to {omega[-1]:.4g} rad per time unit), "
             f"noise floor {noise_power:.3g} per bin, snr threshold {snr:g}."]
    if spec.const:
        # Zero-frequency equation: the transient's constant coefficient is
        # c_0 = -(Delta x^(m-1) - sum_{k>=1} theta_k Delta x^(k-1)), so
        #   g T = -c_0 - theta_0 int x - sum_i b_i int u_i - sum theta_nl int f.
        integrals = [np.trapezoid(y, t) if k == 0 else 0.0 for k in spec.derivs]
        integrals += [float(np.sum(exog[:-1, i] * np.diff(t))) for i in range(q)]
        integrals += [np.trapezoid(fv, t) for fv in nl_series]
        a_vec = np.zeros(coef.size)
        a_vec[:p_band] = -np.asarray(integrals) / T
        a_vec[p_band] = -1.0 / T
        g = float(a_vec @ coef)
        ic = nd + q
        theta_full[ic] = g
        cov_full[ic, ic] = a_vec @ cov_band @ a_vec
        cross = cov_band[:p_band] @ a_vec
        cov_full[ic, idx_band] = cov_full[idx_band, ic] = cross
        notes.append("const from the zero-frequency equation: the transient's constant "
                     "coefficient and the integrals of the other regressors.")
    if band >= kmax and nfreq is None:
        warnings.warn(f"the signal dominates the noise up to the cap of {max_fraction:g} "
                      "of Nyquist; the band was capped there (raise max_fraction if the "
                      "sampling is fast enough)", RuntimeWarning, stacklevel=4)
    return K.Estimate(
        theta_full, cov_full, resid=None, scale=s2, df_resid=dof,
        nuisance=([f"transient.(iw)^{j}" for j in range(m)], coef[p_band:],
                  np.sqrt(np.diag(cov_band)[p_band:])),
        info={"band": band, "noise_power": noise_power, "notes": notes})
