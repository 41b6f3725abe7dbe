"""Special functions against closed forms and published relations.

Bivariate normal CDF:

* Sheppard (1898): ``Phi2(0, 0, rho) = 1/4 + asin(rho) / (2 pi)``;
* independence: ``Phi2(a, b, 0) = Phi(a) Phi(b)``;
* Owen (1956), "Tables for computing bivariate normal probabilities",
  Ann. Math. Statist. 27: the relation ``Phi2(h, k, rho) = (Phi(h) + Phi(k))/2
  - T(h, a_h) - T(k, a_k) - beta`` with ``T(h, 1) = Phi(h) Phi(-h) / 2`` gives
  ``Phi2(h, 0, -1/sqrt 2) = Phi(h)^2 / 2`` and
  ``Phi2(h, 0, 1/sqrt 2) = Phi(h) (2 - Phi(h)) / 2`` for every ``h``: closed
  forms that reach far into the lower tail (``h = -20`` gives 3.8e-178);
* the degenerate limits ``rho = +-1``;
* issue 2's example ``Phi2(-8, -9, -0.7) = 6.1e-109`` (to the printed digits,
  and to 1e-10 relative against the 50-digit mpmath value of
  ``tests/special/make_bvn_reference.py``, where two independent quadratures
  agree to 1e-48).

Inverse Mills ratio: ``lambda(0) = sqrt(2/pi)``, ``lambda'(0) = -2/pi``, the
asymptotic series ``lambda(x) = -x - 1/x + 2/x^3 - 10/x^5 + ...`` at
``x = -1e4`` (truncation error below 1e-24), and ``phi(x)/Phi(x)`` for
``x >= 0`` where the naive formula is exact to rounding.

Tail values are compared as logarithms with a relative tolerance of 1e-10,
the accuracy econderiv promises there.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy import special as sc

sys.path.insert(0, str(Path(__file__).parent))

from _report import Check, Group, run_groups, script_main  # noqa: E402

from econderiv.special import (bvn_cdf, bvn_logcdf, mills_ratio,  # noqa: E402
                               mills_ratio_deriv)

SHEPPARD = "Sheppard (1898)"
OWEN = "Owen (1956) T(h,1) relation"
ISSUE = "issue 2 / mpmath 50 digits"

# log Phi2(-8, -9, -0.7) and Phi2 itself from make_bvn_reference.py (mpmath,
# 50 digits; the x-integral and the Plackett rho-integral agree to 1e-48).
_ISSUE_LOG = -249.17611339962620077465981632
_ISSUE_VALUE = 6.0839961204031606439046384530e-109


def _rel(source, quantity, published, computed, rtol, note=""):
    return Check(source, quantity, published, computed, rtol * abs(published), note=note)


def bvn_checks() -> list[Check]:
    out = []
    for rho in (-0.9999, -0.5, 0.3, 0.5, 0.95):
        ref = 0.25 + math.asin(rho) / (2 * math.pi)
        out.append(Check(SHEPPARD, f"Phi2(0, 0, {rho})", ref, bvn_cdf(0.0, 0.0, rho), 1e-15))
    out.append(Check.printed(SHEPPARD, "Phi2(0, 0, 0.5) = 1/3", "0.333333333333333",
                             bvn_cdf(0.0, 0.0, 0.5)))
    for a, b in ((-1.5, 0.7), (-10.0, -12.0)):
        ref = sc.log_ndtr(a) + sc.log_ndtr(b)
        out.append(_rel("independence", f"log Phi2({a}, {b}, 0)", ref,
                        bvn_logcdf(a, b, 0.0), 1e-12))
    r = 1 / math.sqrt(2)
    for h in (1.5, -3.0, -20.0):
        ref = 2 * sc.log_ndtr(h) - math.log(2)
        out.append(_rel(OWEN, f"log Phi2({h}, 0, -1/sqrt2)", ref,
                        bvn_logcdf(h, 0.0, -r), 1e-10, note="= log(Phi(h)^2 / 2)"))
        ref = sc.log_ndtr(h) + math.log1p(-0.5 * sc.ndtr(h))
        out.append(_rel(OWEN, f"log Phi2({h}, 0, 1/sqrt2)", ref,
                        bvn_logcdf(h, 0.0, r), 1e-10, note="= log(Phi(h)(2 - Phi(h))/2)"))
    out.append(Check("degenerate rho = 1", "Phi2(-2, 1, 1) = Phi(-2)", float(sc.ndtr(-2.0)),
                     bvn_cdf(-2.0, 1.0, 1.0), 1e-16))
    out.append(_rel("degenerate rho = -1", "log Phi2(-30, 31, -1)",
                    float(sc.log_ndtr(-30.0) + np.log1p(-np.exp(sc.log_ndtr(-31.0) - sc.log_ndtr(-30.0)))),
                    bvn_logcdf(-30.0, 31.0, -1.0), 1e-10, note="log(Phi(-30) - Phi(-31))"))
    out.append(Check.printed("issue 2", "Phi2(-8, -9, -0.7)", "6.1e-109", bvn_cdf(-8.0, -9.0, -0.7),
                             note="Genz's absolute scheme gives 6e-39"))
    out.append(_rel(ISSUE, "Phi2(-8, -9, -0.7)", _ISSUE_VALUE, bvn_cdf(-8.0, -9.0, -0.7), 1e-10))
    out.append(_rel(ISSUE, "log Phi2(-8, -9, -0.7)", _ISSUE_LOG, bvn_logcdf(-8.0, -9.0, -0.7), 1e-10))
    return out


def mills_checks() -> list[Check]:
    out = [Check("closed form", "lambda(0) = sqrt(2/pi)", math.sqrt(2 / math.pi),
                  mills_ratio(0.0), 1e-15),
           Check("closed form", "lambda'(0) = -2/pi", -2 / math.pi,
                 mills_ratio_deriv(0.0, 1), 1e-14)]
    x = -1e4
    series = -x - 1 / x + 2 / x**3 - 10 / x**5
    out.append(_rel("asymptotic series", "lambda(-1e4)", series, mills_ratio(x), 1e-14))
    # lambda' = -lambda (x + lambda) = -lambda (1/|x| ...) ~ -1 + 1/x^2 - 6/x^4
    out.append(_rel("asymptotic series", "1 + lambda'(-1e4)", 1 / x**2 - 6 / x**4,
                    1 + mills_ratio_deriv(x, 1), 1e-6,
                    note="relative to the small quantity 1 + lambda'"))
    for v in (0.5, 3.0, 8.0):
        ref = float(np.exp(-0.5 * v * v) / np.sqrt(2 * np.pi) / sc.ndtr(v))
        out.append(_rel("phi/Phi, x >= 0", f"lambda({v})", ref, mills_ratio(v), 1e-14))
    return out


GROUPS = [
    Group("bivariate normal CDF: Sheppard, Owen, limits, issue 2", bvn_checks),
    Group("inverse Mills ratio: closed forms, asymptotic series", mills_checks),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
