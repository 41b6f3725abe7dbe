"""Conditional logit: econderiv.ChoiceLogit (Böhning fit) on the Fishing data.

Sources
-------
* Cameron and Trivedi (2005), Microeconometrics, Table 15.2 (p. 493), the
  "Mixed" column (conditional logit on price and catch with
  alternative-specific constants and income, base beach): price -0.0251,
  catch 0.358, as quoted in issue 14. The other printed numbers of that table
  (its CL and MNL columns) were not available to this session; those
  specifications are compared with the R and biogeme fits below instead.
* broom's documentation of its ``mlogit`` tidiers (reference pages
  ``tidy.mlogit`` / ``glance.mlogit``, example output of
  ``mlogit(mode ~ price + catch | income, data = Fish)`` on mlogit's
  ``Fishing``): the eight coefficients and standard errors (3 significant
  digits), the log-likelihood, AIC, McFadden's rho2 (against the
  constants-only model) and rho20 (against equal shares), and the fitted
  probabilities and utilities of the first three cases, each compared to the
  digits printed.
* R ``survival::clogit`` (survival 3.5.3, R 4.2.2; the Cox model stratified
  by case), the three specifications of Table 15.2 (CL: price and catch; MNL:
  constants and income/1000; Mixed), computed by
  ``validation/data/choicelogit_clogit.R`` and stored in
  ``validation/data/choicelogit_clogit.csv``: coefficients to 1e-6 x
  max(|coef|, se), standard errors to 1e-4 relative, log-likelihood to 1e-8.
* biogeme 3.3.2 (``validation/data/choicelogit_biogeme.py``, stored in
  ``validation/data/choicelogit_biogeme.csv``; biogeme needs pandas < 3, so
  it runs in its own environment): the same three fits, Rao-Cramer standard
  errors (the inverse Hessian), same tolerances. biogeme is run at tolerance
  1e-12 (its default, a relative gradient of 6e-6, stops about 1e-6 x se from
  the maximum; at 1e-12 it reports "not converged" for the MNL fit, which
  nevertheless agrees to 1e-7) and with income in $1000 in the Mixed fit, its
  income coefficients and standard errors divided by 1000 (with income in
  dollars its default optimizer stopped about 1e-6 x se short even at 1e-12,
  and its TR-newton failed far from the maximum, llf -1351.97).
  ``--full`` re-runs biogeme when it can be imported.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, progress, run_groups, script_main  # noqa: E402

DATA = Path(__file__).parent / "data"
ALTS = ["beach", "pier", "boat", "charter"]
VARYING = {"price": {a: "p" + a for a in ALTS}, "catch": {a: "c" + a for a in ALTS}}
FORMULAS = {"CL": "mode ~ 0 + price + catch", "MNL": "mode ~ 1 | I(income / 1000)",
            "Mixed": "mode ~ price + catch | income"}

_FITS: dict = {}


def _fit(spec: str):
    from econderiv import datasets
    from econderiv.models.choicelogit import ChoiceLogit

    if spec not in _FITS:
        f = datasets.load("fishing")
        _FITS[spec] = ChoiceLogit.from_formula(FORMULAS[spec], f, varying=VARYING).fit(tol=1e-20)
    return _FITS[spec]


def cameron_trivedi() -> list[Check]:
    res = _fit("Mixed")
    src = "Cameron-Trivedi T15.2 Mixed"
    return [Check.printed(src, "price", "-0.0251", res.params["price"]),
            Check.printed(src, "catch", "0.358", res.params["catch"])]


def broom_mlogit() -> list[Check]:
    from econderiv import datasets
    from econderiv.models._choicelogit_kernels import utilities
    from econderiv.models.choicelogit import ChoiceLogit

    res = _fit("Mixed")
    src = "broom doc: mlogit Fishing"
    printed = {  # term: (estimate, std.error) as printed
        "boat:Intercept": ("0.527", "0.223"), "charter:Intercept": ("1.69", "0.224"),
        "pier:Intercept": ("0.778", "0.220"), "price": ("-0.0251", "0.00173"),
        "catch": ("0.358", "0.110"), "boat:income": ("0.0000894", "0.0000501"),
        "charter:income": ("-0.0000333", "0.0000503"),
        "pier:income": ("-0.000128", "0.0000506")}
    checks = []
    for term, (est, se) in printed.items():
        checks.append(Check.printed(src, f"coef {term}", est, res.params[term]))
        checks.append(Check.printed(src, f"se {term}", se, res.bse[term]))
    checks.append(Check.printed(src, "logLik", "-1215.", res.llf))
    checks.append(Check.printed(src, "AIC", "2446.", res.aic))
    f = datasets.load("fishing")
    shares = ChoiceLogit.from_formula("mode ~ 1", f, varying=VARYING).fit(tol=1e-20)
    checks.append(Check.printed(src, "rho2 (vs constants only)", "0.189",
                                1 - res.llf / shares.llf))
    equal = -len(f) * np.log(len(ALTS))
    checks.append(Check.printed(src, "rho20 (vs equal shares)", "0.258", 1 - res.llf / equal))
    P = res.probabilities()
    m = res.model
    U = utilities(np.asarray(res.params), m._X, m._Z, m.base)   # broom's .fitted
    probs = [(0, "beach", "0.125"), (0, "boat", "0.427"), (0, "charter", "0.339"),
             (0, "pier", "0.109"), (1, "beach", "0.116"), (1, "boat", "0.251"),
             (1, "charter", "0.423"), (1, "pier", "0.210"), (2, "beach", "0.00689"),
             (2, "boat", "0.465")]
    for i, alt, val in probs:
        checks.append(Check.printed(src, f"P case {i + 1} {alt}", val, P.iloc[i][alt]))
    fitted = [(0, "beach", "-3.94"), (0, "boat", "-2.71"), (0, "charter", "-2.94"),
              (0, "pier", "-4.07"), (1, "beach", "-0.342"), (1, "boat", "0.431"),
              (1, "charter", "0.952"), (1, "pier", "0.255"), (2, "beach", "-3.87"),
              (2, "boat", "0.338")]
    for i, alt, val in fitted:
        checks.append(Check.printed(src, f"utility case {i + 1} {alt}", val,
                                    U[i, m.alternatives.index(alt)]))
    return checks


def _vs_table(source: str, table: pd.DataFrame) -> list[Check]:
    checks = []
    for spec, rows in table.groupby("spec", sort=False):
        res = _fit(spec)
        ll = float(rows["loglik"].iloc[0])
        checks.append(Check(source, f"{spec} loglik", ll, res.llf, 1e-8 * abs(ll),
                            note="relative 1e-8"))
        for _, r in rows.iterrows():
            term = r["term"].strip()
            coef, se = float(r["estimate"]), float(r["se"])
            checks.append(Check(source, f"{spec} coef {term}", coef, res.params[term],
                                1e-6 * max(abs(coef), se), note="1e-6 x max(|coef|, se)"))
            checks.append(Check(source, f"{spec} se {term}", se, res.bse[term], 1e-4 * se,
                                note="relative 1e-4"))
    return checks


def r_clogit() -> list[Check]:
    table = pd.read_csv(DATA / "choicelogit_clogit.csv", skipinitialspace=True)
    return _vs_table("R survival::clogit (stored)", table)


def biogeme_stored() -> list[Check]:
    table = pd.read_csv(DATA / "choicelogit_biogeme.csv")
    return _vs_table(f"biogeme {table['biogeme'].iloc[0]} (stored)", table)


def biogeme_live() -> list[Check]:
    try:
        import biogeme  # noqa: F401
    except ImportError:
        progress("    biogeme is not importable here (it needs pandas < 3): see "
                 "validation/data/choicelogit_biogeme.py; the stored fits are compared "
                 "in the default run")
        return []
    sys.path.insert(0, str(DATA))
    import choicelogit_biogeme as cb

    wide = pd.read_csv(Path(__file__).parents[1] / "econderiv" / "datasets" / "data"
                       / "fishing.csv.gz")
    df = wide.drop(columns=["mode"]).assign(choice=wide["mode"].map(cb.ALTS))
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for spec in ("CL", "MNL", "Mixed"):
            rows += cb.fit(spec, df)
    return _vs_table("biogeme (live)", pd.DataFrame(rows))


GROUPS = [
    Group("Cameron and Trivedi (2005) Table 15.2, Mixed column (price, catch)",
          cameron_trivedi),
    Group("broom documentation: mlogit on Fishing (tidy/glance/augment example output)",
          broom_mlogit),
    Group("R survival::clogit, Table 15.2's CL, MNL and Mixed specifications "
          "(validation/data/choicelogit_clogit.csv)", r_clogit),
    Group("biogeme 3.3.2, the same three fits (validation/data/choicelogit_biogeme.csv)",
          biogeme_stored),
    Group("live biogeme fits (if importable)", biogeme_live, full_only=True,
          cost="about 2 minutes"),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
