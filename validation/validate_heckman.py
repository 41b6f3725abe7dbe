"""Heckman selection model against published results.

* Greene, Econometric Analysis (5th ed., 2002), Example 22.8, with the
  corrections Greene published in 2006: Mroz87, two-step and ML.
* Wooldridge, Introductory Econometrics, Example 17.5: heckit for log wage.
* Cameron and Trivedi, Microeconometrics (2005), Table 16.1: RAND HIE
  medical expenditure, ML and two-step.

Specifications and printed values: ``shared/data/PROVENANCE.md``. Every
published ML estimate is also checked for being a genuine local maximum
(score ~ 0, negative definite Hessian), and a global search over the
profile likelihood of rho reports beside it whether a higher maximum exists;
these two are re-computations, not published numbers, and run only with
``--full``. Each model is fitted once and shared by the groups.
"""

from __future__ import annotations

import functools
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, run_groups, script_main  # noqa: E402

from econderiv import Heckman, datasets  # noqa: E402

GREENE = "Greene 2002 Ex 22.8"
WOOLD = "Wooldridge Ex 17.5"
CT = "Cameron-Trivedi T16.1"


def _global_note(mod, res) -> str:
    """Run the global search from the estimate and describe what it found."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = mod.fit(global_search=True)
    n_grid = len(best.profile_loglike("rho"))
    if best.llf > res.llf + 1e-4:
        return (f"global search: a HIGHER maximum exists, llf {best.llf:.3f} "
                f"(+{best.llf - res.llf:.2f}) at rho {best.rho:.4f}, sigma {best.sigma:.4f}; "
                "the published estimate is a local maximum")
    return f"global search over {n_grid} values of rho: no higher maximum"


def _local_max_check(source, mod, res) -> Check:
    p = np.asarray(res.params, float)
    g = float(np.max(np.abs(mod.score(p))))
    negdef = bool(np.linalg.eigvalsh(mod.hessian(p)).max() < 0)
    note = _global_note(mod, res)
    return Check(source, "ML local max: max|score|, H<0", 0.0,
                 g if negdef else np.inf, 1e-3, note=note)


@functools.cache
def _greene_model():
    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    return Heckman.from_formula("wage ~ exper + I(exper**2) + educ + city", df,
                                selection="lfp ~ age + I(age**2) + faminc + kids + educ")


@functools.cache
def _greene_ml():
    return _greene_model().fit()


def greene() -> list[Check]:
    mod = _greene_model()
    checks = []
    ts = mod.fit_twostep()
    rows = [("Intercept", "-0.971", "2.06"), ("exper", "0.0211", "0.0625"),
            ("I(exper ** 2)", "0.000137", "0.00188"), ("educ", "0.417", "0.100"),
            ("city", "0.444", "0.316")]
    for term, coef, se in rows:
        checks.append(Check.printed(GREENE, f"2step {term}", coef, ts.params[f"outcome:{term}"]))
        checks.append(Check.printed(GREENE, f"2step se {term}", se, ts.bse[f"outcome:{term}"]))
    checks += [
        Check.printed(GREENE, "2step lambda", "-1.10", ts.params["lambda"]),
        Check.printed(GREENE, "2step se lambda", "1.27", ts.bse["lambda"],
                      note="Heckman/Greene corrected covariance"),
        Check.printed(GREENE, "2step sigma", "3.20", ts.sigma,
                      note="sigma^2 = e'e/n1 + b_lambda^2 mean(delta)"),
        Check.printed(GREENE, "2step rho", "-0.343", ts.rho, note="b_lambda / sigma"),
    ]
    ml = _greene_ml()
    rows = [("Intercept", "-1.96", "1.20"), ("exper", "0.0279", "0.0616"),
            ("I(exper ** 2)", "-0.000104", "0.00184"), ("educ", "0.457", "0.0732"),
            ("city", "0.447", "0.316")]
    for term, coef, se in rows:
        checks.append(Check.printed(GREENE, f"ML {term}", coef, ml.params[f"outcome:{term}"]))
        checks.append(Check.printed(GREENE, f"ML se {term}", se, ml.bse[f"outcome:{term}"]))
    anc = ml.ancillary
    checks += [
        Check.printed(GREENE, "ML sigma", "3.11", anc.loc["sigma", "coef"]),
        Check.printed(GREENE, "ML se sigma", "0.114", anc.loc["sigma", "std err"],
                      note="delta method from lnsigma"),
        Check.printed(GREENE, "ML rho", "-0.132", anc.loc["rho", "coef"]),
        Check.printed(GREENE, "ML se rho", "0.165", anc.loc["rho", "std err"],
                      note="delta method from athrho"),
        Check.printed(GREENE, "ML log-likelihood", "-1581.26", ml.llf,
                      note="ML started from the two-step estimates"),
    ]
    return checks


def wooldridge() -> list[Check]:
    df = datasets.load("mroz")
    mod = Heckman.from_formula(
        "lwage ~ educ + exper + expersq", df,
        selection="inlf ~ educ + exper + expersq + nwifeinc + age + kidslt6 + kidsge6")
    ts = mod.fit_twostep()
    checks = []
    for term, coef, se in [("Intercept", "-.578", ".305"), ("educ", ".109", ".0155"),
                           ("exper", ".0439", ".0163"), ("expersq", "-.000859", ".000439")]:
        checks.append(Check.printed(WOOLD, f"heckit {term}", coef, ts.params[f"outcome:{term}"]))
        checks.append(Check.printed(WOOLD, f"heckit se {term}", se, ts.bse[f"outcome:{term}"]))
    checks += [
        Check.printed(WOOLD, "heckit lambda", ".0323", ts.params["lambda"]),
        Check.printed(WOOLD, "heckit se lambda", ".134", ts.bse["lambda"],
                      note="corrected two-step covariance"),
        Check(WOOLD, "n", 753, ts.nobs, 0),
        Check(WOOLD, "selected", 428, ts.nobs_selected, 0),
    ]
    return checks


@functools.cache
def _ct_fits():
    df = datasets.load("randhie")
    df = df[(df.year == 2) & df.educdec.notna()]
    rhs = "logc + idp + lpi + fmde + physlm + disea + hlthg + hlthf + hlthp"
    with warnings.catch_warnings():
        # same regressors in both equations: econderiv warns (as it should)
        warnings.simplefilter("ignore")
        mod = Heckman.from_formula("lnmeddol ~ " + rhs, df, selection="binexp ~ " + rhs)
        return mod, mod.fit()


def cameron_trivedi() -> list[Check]:
    mod, ml = _ct_fits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = mod.fit_twostep()
    anc = ml.ancillary
    return [
        Check(CT, "n (year 2, educdec present)", 5574, mod.nobs, 0),
        Check.printed(CT, "ML rho", "0.776", anc.loc["rho", "coef"]),
        Check.printed(CT, "ML se rho", "0.026", anc.loc["rho", "std err"]),
        Check.printed(CT, "ML sigma", "1.67", anc.loc["sigma", "coef"]),
        Check.printed(CT, "ML se sigma", "0.029", anc.loc["sigma", "std err"]),
        Check.printed(CT, "ML log-likelihood", "-10471.3", ml.llf),
        Check.printed(CT, "2step lambda", "1.35", ts.params["lambda"]),
        Check.printed(CT, "2step se lambda", "0.824", ts.bse["lambda"]),
    ]


def local_max_checks() -> list[Check]:
    """Score, Hessian and a global search at the ML estimates (re-computation)."""
    mod, ml = _ct_fits()
    return [_local_max_check(GREENE, _greene_model(), _greene_ml()),
            _local_max_check(CT, mod, ml)]


GROUPS = [
    Group("Greene 2002 Example 22.8 (Mroz87): two-step and ML", greene),
    Group("Wooldridge Example 17.5 (mroz): heckit", wooldridge),
    Group("Cameron-Trivedi Table 16.1 (RandHIE): ML and two-step", cameron_trivedi),
    Group("local maximum and global search over rho at the ML estimates (Greene, C-T)",
          local_max_checks, full_only=True, cost="about 5 s"),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
