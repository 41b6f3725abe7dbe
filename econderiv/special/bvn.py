r"""The standard bivariate normal distribution: CDF, log-CDF, density and derivatives.

.. math::

    \Phi_2(a, b, \rho) = P(X \le a, Y \le b)
      = \int_{-\infty}^{a} \phi(x)\,
        \Phi\!\Big(\frac{b - \rho x}{\sqrt{1-\rho^2}}\Big)\,dx,

for a standard bivariate normal pair ``(X, Y)`` with correlation ``rho``.

All functions broadcast ``a``, ``b`` and ``rho`` like a ufunc; scalar input
gives a scalar, NaN in any argument gives NaN, ``|rho| > 1`` gives NaN.
``rho = 1`` and ``rho = -1`` are the degenerate limits
``Phi2(a, b, 1) = Phi(min(a, b))`` and
``Phi2(a, b, -1) = max(0, Phi(a) + Phi(b) - 1)``, and infinite ``a`` or
``b`` give the marginal (``Phi2(a, inf, rho) = Phi(a)``) or zero.

Derivatives
-----------
With ``s = sqrt(1 - rho^2)``, ``c_a = (b - rho a)/s``, ``c_b = (a - rho b)/s``
and ``phi2`` the bivariate density:

* ``d/da Phi2 = phi(a) Phi(c_a)``, ``d/db Phi2 = phi(b) Phi(c_b)``,
  ``d/drho Phi2 = phi2(a, b, rho)`` (Plackett 1954);
* ``d2/da2 = -a d_a - rho phi2``, ``d2/da db = phi2``,
  ``d2/da drho = phi2 (rho b - a)/s^2`` (and symmetrically in ``b``),
  ``d2/drho2 = phi2 ((a - rho b)(b - rho a) + rho s^2)/s^4``.

The log versions divide by ``Phi2`` in log space:
``d/da log Phi2 = exp(log phi(a) + log Phi(c_a) - log Phi2)`` etc., and
``d2 log Phi2 = H / Phi2 - g g^T`` with ``g`` the log-gradient.

Numerics
--------
The kernels are compiled with numba on first use (and cached on disk); every
function flattens its broadcast arguments to float64 arrays, so each kernel
has a single compiled signature.

* Bulk: the Gauss-Legendre scheme of Genz (2004) (Drezner and Wesolowsky
  1990 in ``theta = asin(r)``, 6/12/20 nodes by ``|rho|``, and Genz's
  expansion about ``|rho| = 1`` for ``|rho| >= 0.925``), absolute error
  about 1e-16. It is used where its value is at least 1e-5, where that means
  a relative error below ~1e-11. The node terms are formed in loops without
  calls or branches (a polynomial ``sin``, an inlined ``exp`` within one ulp)
  that the compiler vectorises, and ``bvn_cdf`` runs this scheme over all
  points before it revisits the few below 1e-5; everything is single-threaded.
* Below 1e-5 (and for ``bvn_logcdf`` wherever the value is small):
  ``Phi2 = int_{-inf}^{min(a,b)} phi(x) Phi((b - rho x)/s) dx`` in log space.
  The log-integrand is concave; its maximum on the range and the distances
  at which it has dropped by 1 and by 40 are found by Newton steps, and the
  integral is done by 32-point Gauss-Legendre in ``u`` with
  ``x = x* -+ w sinh(u)`` on each side of the maximum. Two identities keep
  the integrand single-scaled: for ``rho < 0`` and ``a + b > 0``,
  ``Phi2(a, b, rho) = [Phi(a) - Phi(-b)] + Phi2(-a, -b, rho)``; for
  ``rho -> 1`` with a sharp conditional step,
  ``Phi2 = Phi(a) - P(X <= a, Y > b)``. ``b - rho x`` is formed as
  ``(b - x) + (1 - rho) x`` (or with ``1 + rho``) so that nothing cancels as
  ``|rho| -> 1``. The result keeps a relative error of about 1e-13 down to
  the underflow of ``Phi2`` and beyond (``log Phi2`` of minus several
  thousands and lower).
* ``bvn_logcdf`` near 1 is ``log1p(-(Phi(-a) + Phi(-b) - Phi2(-a, -b, rho)))``.
* ``rho = -1``: ``Phi(a) - Phi(-b)`` formed without cancellation (a short
  interval is integrated directly).
* The derivatives of ``Phi2`` are closed forms in ``phi``, ``Phi`` and
  ``phi2`` with the conditional arguments formed as above (relative error
  about 1e-13). The log-derivatives inherit the absolute error of
  ``log Phi2`` (about 1e-16 ``|log Phi2|``), and the log-Hessian the
  cancellation of ``H/Phi2 - g g^T`` (error about 1e-16 ``(1 + |g|)^2`` times
  a modest factor).

Accuracy against 50-digit mpmath references is tested in
``tests/special/test_bvn.py``; speed against scipy and, when R is
installed, against Genz's Fortran (R package pbivnorm) in the same run is
measured in ``benchmarks/bench_special.py``.

References
----------
Drezner, Z. and Wesolowsky, G. O. (1990). On the computation of the bivariate
normal integral. J. Statist. Comput. Simul. 35, 101-107.
Genz, A. (2004). Numerical computation of rectangular bivariate and
trivariate normal and t probabilities. Statistics and Computing 14, 251-260.
Plackett, R. L. (1954). A reduction formula for normal multivariate
integrals. Biometrika 41, 351-360.
Sheppard, W. F. (1898). On the application of the theory of error to cases of
normal distribution and normal correlation. Phil. Trans. R. Soc. A 192.
"""

from __future__ import annotations

import numpy as np

from econderiv.special import _bvn_kernels as _k

__all__ = ["bvn_cdf", "bvn_logcdf", "bvn_pdf", "bvn_cdf_grad", "bvn_cdf_hess",
           "bvn_logcdf_grad", "bvn_logcdf_hess"]


def _flatten(a, b, rho):
    a, b, rho = np.broadcast_arrays(np.asarray(a, dtype=np.float64),
                                    np.asarray(b, dtype=np.float64),
                                    np.asarray(rho, dtype=np.float64))
    shape = a.shape
    flat = tuple(np.ascontiguousarray(x).ravel() for x in (a, b, rho))
    return shape, flat


def _shaped(x, shape):
    x = x.reshape(shape)
    return x[()] if x.ndim == 0 else x


def _unary(loop, a, b, rho):
    shape, (fa, fb, fr) = _flatten(a, b, rho)
    out = np.empty(fa.shape[0])
    loop(fa, fb, fr, out)
    return _shaped(out, shape)


def _triple(loop, a, b, rho):
    shape, (fa, fb, fr) = _flatten(a, b, rho)
    n = fa.shape[0]
    da, db, dr = np.empty(n), np.empty(n), np.empty(n)
    loop(fa, fb, fr, da, db, dr)
    return tuple(_shaped(x, shape) for x in (da, db, dr))


def _six(loop, a, b, rho):
    shape, (fa, fb, fr) = _flatten(a, b, rho)
    h = np.empty((6, fa.shape[0]))
    loop(fa, fb, fr, h)
    return tuple(_shaped(h[j].copy(), shape) for j in range(6))


def bvn_cdf(a, b, rho):
    r"""Standard bivariate normal CDF :math:`\Phi_2(a, b, \rho) = P(X \le a, Y \le b)`.

    Parameters
    ----------
    a, b : array_like
        Upper limits (``+-inf`` allowed).
    rho : array_like
        Correlation in ``[-1, 1]``; outside gives NaN.

    Returns
    -------
    ndarray or float
        Broadcast shape of the inputs.

    Examples
    --------
    >>> from econderiv.special import bvn_cdf
    >>> float(bvn_cdf(0.0, 0.0, 0.5))  # 1/4 + asin(1/2)/(2 pi) = 1/3
    0.3333333333333333
    """
    return _unary(_k.loop_cdf, a, b, rho)


def bvn_logcdf(a, b, rho):
    r"""Logarithm of the standard bivariate normal CDF, :math:`\log\Phi_2(a, b, \rho)`.

    Same arguments and broadcasting as :func:`bvn_cdf`; ``-inf`` where the
    probability is exactly zero (``a`` or ``b`` is ``-inf``, or ``rho = -1``
    with ``a <= -b``).
    """
    return _unary(_k.loop_logcdf, a, b, rho)


def bvn_pdf(a, b, rho):
    r"""Standard bivariate normal density.

    .. math::

        \phi_2(a, b, \rho) = \frac{1}{2\pi\sqrt{1-\rho^2}}
        \exp\Big(-\frac{a^2 - 2\rho a b + b^2}{2(1-\rho^2)}\Big).

    At ``rho = +-1`` the distribution is singular: 0 off the line
    ``b = +-a`` and ``inf`` on it.
    """
    return _unary(_k.loop_pdf, a, b, rho)


def bvn_cdf_grad(a, b, rho):
    r"""Gradient of :math:`\Phi_2(a, b, \rho)`: ``(d_a, d_b, d_rho)``.

    .. math::

        \partial_a \Phi_2 = \phi(a)\,\Phi\Big(\frac{b-\rho a}{\sqrt{1-\rho^2}}\Big),\quad
        \partial_b \Phi_2 = \phi(b)\,\Phi\Big(\frac{a-\rho b}{\sqrt{1-\rho^2}}\Big),\quad
        \partial_\rho \Phi_2 = \phi_2(a, b, \rho).

    At ``rho = +-1`` the one-sided limits are returned (``d_rho`` is 0 off
    the singular line and ``inf`` on it).

    Returns
    -------
    tuple of three ndarrays (or floats)

    Examples
    --------
    The seed case: ``X ~ N(mu, s1^2)`` and ``Y ~ N(mu, s2^2)`` with correlation
    ``rho`` and a common mean ``mu``. Then
    ``P(X <= x, Y <= y) = Phi2((x - mu)/s1, (y - mu)/s2, rho)`` and by the
    chain rule ``d/dmu P = -(d_a/s1 + d_b/s2)``:

    >>> import numpy as np
    >>> from econderiv.special import bvn_cdf, bvn_cdf_grad
    >>> mu, s1, s2, rho, x, y = 0.3, 1.5, 0.8, 0.6, 1.0, 0.5
    >>> a, b = (x - mu) / s1, (y - mu) / s2
    >>> d_a, d_b, d_rho = bvn_cdf_grad(a, b, rho)
    >>> dP_dmu = -(d_a / s1 + d_b / s2)
    >>> P = lambda m: bvn_cdf((x - m) / s1, (y - m) / s2, rho)
    >>> h = 1e-6
    >>> bool(abs(dP_dmu - (P(mu + h) - P(mu - h)) / (2 * h)) < 1e-8)
    True
    """
    return _triple(_k.loop_grad, a, b, rho)


def bvn_cdf_hess(a, b, rho):
    r"""Second partial derivatives of :math:`\Phi_2(a, b, \rho)`.

    Returns ``(aa, ab, arho, bb, brho, rhorho)``:

    .. math::

        \partial_{aa} = -a\,\partial_a\Phi_2 - \rho\,\phi_2,\quad
        \partial_{ab} = \phi_2,\quad
        \partial_{a\rho} = \phi_2\,\frac{\rho b - a}{1-\rho^2},

        \partial_{bb} = -b\,\partial_b\Phi_2 - \rho\,\phi_2,\quad
        \partial_{b\rho} = \phi_2\,\frac{\rho a - b}{1-\rho^2},\quad
        \partial_{\rho\rho} = \phi_2\,
            \frac{(a-\rho b)(b-\rho a) + \rho(1-\rho^2)}{(1-\rho^2)^2}.

    At ``rho = +-1`` the limits off the singular line are returned (NaN on it).
    """
    return _six(_k.loop_hess, a, b, rho)


def bvn_logcdf_grad(a, b, rho):
    r"""Gradient of :math:`\log\Phi_2(a, b, \rho)`: ``(d_a, d_b, d_rho)``.

    ``d_a = phi(a) Phi(c_a) / Phi2`` etc., evaluated as
    ``exp(log phi(a) + log Phi(c_a) - log Phi2)`` so that it stays finite and
    accurate where ``Phi2`` underflows. NaN where ``Phi2 = 0`` exactly.
    """
    return _triple(_k.loop_loggrad, a, b, rho)


def bvn_logcdf_hess(a, b, rho):
    r"""Second partials of :math:`\log\Phi_2(a, b, \rho)`: ``(aa, ab, arho, bb, brho, rhorho)``.

    ``H_log = H / Phi2 - g g^T`` with ``g`` from :func:`bvn_logcdf_grad` and
    ``H / Phi2`` written in terms of ``g`` (``H_aa / Phi2 = -a g_a - rho g_rho``,
    ``H_ab / Phi2 = g_rho``, ``H_arho / Phi2 = g_rho (rho b - a)/(1 - rho^2)``, ...).
    """
    return _six(_k.loop_loghess, a, b, rho)
