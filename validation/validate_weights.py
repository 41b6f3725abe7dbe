"""Weighted fits against R, and the frequency-weight replication identity.

References (numbers in ``validation/data/weights_reference.csv``, made by
``validation/data/weights_reference.R`` with R 4.2, sampleSelection 1.2-12,
VGAM 1.1-7 and nnet 7.3-18; the weights are deterministic functions of the
row number, ``w_freq = 1 + (i mod 3)`` and ``w_imp = 0.5 + ((7 i) mod 11) / 10``):

* sampleSelection ``selection(..., method = "ml", weights = w)``: Heckman ML
  on Mroz87 with Greene's (2002, Ex. 22.8) equations. R multiplies each
  observation's log-likelihood by its weight and reports the inverse
  Hessian: econderiv's ``freq_weights`` / ``importance_weights`` with the
  default covariance.
* VGAM ``vglm(cbind(pira, p401k) ~ ..., binom2.rho, weights = w)`` on
  k401ksubs: the bivariate probit by Fisher scoring, standard errors from the
  expected information: econderiv's ``cov_type="eim"``. VGAM's third
  intercept is ``rhobit(rho) = 2 atanh(rho)``, so its coefficient and
  standard error are twice econderiv's ``athrho``.
* nnet ``multinom(mode ~ income, weights = w, Hess = TRUE)`` on the fishing
  data (base category beach), standard errors from nnet's Hessian.

Tolerances: coefficients and standard errors to 1e-6 relative, the
log-likelihood to 1e-9 relative (every optimizer runs to reltol 1e-12 or
tighter; sampleSelection and nnet in fact agree to 1e-10 or better). VGAM is
the exception, and we measured why: its bivariate normal CDF
(``VGAM::pbinorm``) differs from econderiv's ``bvn_cdf`` (checked against
mpmath in the tests) by up to 3.5e-5 relative (median 1.3e-7) on 2,000
random points with rho = 0.11, so VGAM maximises a slightly perturbed
likelihood: its coefficients agree to about 1.3e-6 relative and its
log-likelihood to about 3e-9 relative, while its standard errors agree to
1e-8. The VGAM coefficient and log-likelihood tolerances are therefore 5e-6
and 1e-8 relative.

The replication identity (an identity, not a published number; a few
seconds, so it runs by default): with frequency weights every
family's fit equals the fit on the data with each row repeated ``w_i``
times, in parameters and in standard errors under every covariance type,
to 1e-10 (the unit tests check the same on small data). Stata's manuals
print formulas, not numbers, for ``vce(opg)``, ``vce(robust)`` with
pweights and ``vce(cluster)`` on ML commands; those formulas are what
:func:`econderiv.models._inference.covariance` implements (its docstring
gives them), and with frequency weights the replication identity is the
check that Stata's own documentation states (fweights "produce the same
answers as if" each row were repeated).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, run_groups, script_main  # noqa: E402

from econderiv import BivariateProbit, HeckProbit, Heckman, MNLogit, datasets  # noqa: E402

REF = Path(__file__).parent / "data" / "weights_reference.csv"


def _weights(n: int, kind: str) -> np.ndarray:
    i = np.arange(n)
    return 1.0 + i % 3 if kind == "freq" else 0.5 + ((7 * i) % 11) / 10.0


def _ref(model: str, kind: str) -> pd.DataFrame:
    ref = pd.read_csv(REF, dtype={"value": float}, keep_default_na=False)
    return ref[(ref.model == model) & (ref.weights == kind)]


def _rel(source, quantity, ref, ours, rel):
    return Check(source, quantity, float(ref), float(ours), rel * max(abs(float(ref)), 1e-300))


def _kw(kind, w):
    return {"freq_weights": w} if kind == "freq" else {"importance_weights": w}


def heckman_checks() -> list[Check]:
    df = datasets.load("mroz87")
    df["kids"] = ((df.kids5 + df.kids618) > 0).astype(float)
    checks = []
    for kind in ("freq", "imp"):
        w = _weights(len(df), kind)
        res = Heckman.from_formula(
            "wage ~ exper + I(exper**2) + educ + city", df,
            selection="lfp ~ age + I(age**2) + faminc + kids + educ", **_kw(kind, w)).fit()
        ref = _ref("heckman_ml", kind)
        src = f"sampleSelection selection(weights={kind}) Mroz87"
        values = np.r_[np.asarray(res.params)[:-2], res.ancillary.loc[["sigma", "rho"], "coef"]]
        ses = np.r_[np.asarray(res.bse)[:-2], res.ancillary.loc[["sigma", "rho"], "std err"]]
        names = list(res.params.index[:-2]) + ["sigma", "rho"]
        coef, se = ref[ref.what == "coef"], ref[ref.what == "se"]
        for j, name in enumerate(names):
            checks.append(_rel(src, f"{name} coef", coef.value.iloc[j], values[j], 1e-6))
            checks.append(_rel(src, f"{name} se", se.value.iloc[j], ses[j], 1e-6))
        checks.append(_rel(src, "llf", ref[ref.what == "llf"].value.iloc[0], res.llf, 1e-9))
    return checks


#: VGAM's pbinorm is accurate to ~1e-5 relative, econderiv's bvn_cdf to ~1e-15 (see above)
VGAM_COEF_TOL = 5e-6
BP_REGS = ["(Intercept)", "inc", "incsq", "age", "agesq", "marr", "fsize"]


def biprobit_checks() -> list[Check]:
    df = datasets.load("k401ksubs")
    rhs = "inc + incsq + age + agesq + marr + fsize"
    checks = []
    for kind in ("freq", "imp"):
        w = _weights(len(df), kind)
        res = BivariateProbit.from_formula([f"pira ~ {rhs}", f"p401k ~ {rhs}"], df,
                                           **_kw(kind, w)).fit(cov_type="eim")
        ref = _ref("biprobit", kind).set_index(["term", "what"]).value
        src = f"VGAM binom2.rho(weights={kind}) k401k, eim"
        p, b = res.params, res.bse
        for eq, suffix in (("pira", 1), ("p401k", 2)):
            for t in BP_REGS:
                name = f"{eq}:{'Intercept' if t == '(Intercept)' else t}"
                checks.append(_rel(src, f"{name} coef", ref[(f"{t}:{suffix}", "coef")], p[name],
                                   VGAM_COEF_TOL))
                checks.append(_rel(src, f"{name} se", ref[(f"{t}:{suffix}", "se")], b[name],
                                   1e-6))
        checks.append(_rel(src, "athrho coef (rhobit/2)", ref[("(Intercept):3", "coef")] / 2,
                           p["athrho"], VGAM_COEF_TOL))
        checks.append(_rel(src, "athrho se (rhobit/2)", ref[("(Intercept):3", "se")] / 2,
                           b["athrho"], 1e-6))
        checks.append(_rel(src, "llf", ref[("", "llf")], res.llf, 1e-8))
    return checks


def mnlogit_checks() -> list[Check]:
    df = datasets.load("fishing")
    checks = []
    for kind in ("freq", "imp"):
        w = _weights(len(df), kind)
        res = MNLogit.from_formula("mode ~ income", df, **_kw(kind, w)).fit()
        ref = _ref("mnlogit", kind).set_index(["term", "what"]).value
        src = f"nnet multinom(weights={kind}) fishing"
        params, bse = res.params, res.bse
        for j, cat in enumerate(params.columns):
            label = res.model._ynames_map[j + 1]  # column j is category j + 1 (base first)
            for term in params.index:
                rterm = "(Intercept)" if term == "Intercept" else term
                key = f"{label}:{rterm}"
                checks.append(_rel(src, f"{key} coef", ref[(key, "coef")],
                                   params.loc[term, cat], 1e-6))
                checks.append(_rel(src, f"{key} se", ref[(key, "se")], bse.loc[term, cat],
                                   1e-6))
        checks.append(_rel(src, "llf", ref[("", "llf")], res.llf, 1e-9))
    return checks


def _replicate(name, build, fit_kw_list, df, w):
    big = df.loc[df.index.repeat(w.astype(int))].reset_index(drop=True)
    weighted, expanded = build(df, w), build(big, None)
    checks = []
    for label, kw, kw_big in fit_kw_list(df, big):
        a, b = weighted.fit(**kw), expanded.fit(**kw_big)
        pa, pb = np.ravel(np.asarray(a.params)), np.ravel(np.asarray(b.params))
        sa, sb = np.ravel(np.asarray(a.bse)), np.ravel(np.asarray(b.bse))
        d_p = float(np.max(np.abs(pa - pb) / np.maximum(1, np.abs(pb))))
        d_s = float(np.max(np.abs(sa - sb) / np.maximum(1, np.abs(sb))))
        src = f"{name}: freq weights vs repeated rows"
        checks.append(Check(src, f"{label}: max rel diff params", 0.0, d_p, 1e-10))
        checks.append(Check(src, f"{label}: max rel diff std err", 0.0, d_s, 1e-10))
    return checks


def replication_checks() -> list[Check]:
    def covs(df, big):
        out = [("nonrobust", {}, {}), ("opg", {"cov_type": "opg"}, {"cov_type": "opg"}),
               ("HC1", {"cov_type": "HC1"}, {"cov_type": "HC1"})]
        out.append(("cluster", {"cov_type": "cluster", "cov_kwds": {"groups": df.g.to_numpy()}},
                    {"cov_type": "cluster", "cov_kwds": {"groups": big.g.to_numpy()}}))
        return out

    checks = []
    mroz = datasets.load("mroz87")
    mroz["kids"] = ((mroz.kids5 + mroz.kids618) > 0).astype(float)
    mroz["g"] = np.arange(len(mroz)) % 40
    w = _weights(len(mroz), "freq")
    checks += _replicate("Heckman ML", lambda d, w: Heckman.from_formula(
        "wage ~ exper + I(exper**2) + educ + city", d,
        selection="lfp ~ age + I(age**2) + faminc + kids + educ",
        **({} if w is None else {"freq_weights": w})), covs, mroz, w)
    k = datasets.load("k401ksubs").iloc[:3000].copy()
    k["g"] = np.arange(len(k)) % 50
    w = _weights(len(k), "freq")
    rhs = "inc + incsq + age + agesq + marr + fsize"
    checks += _replicate("BivariateProbit", lambda d, w: BivariateProbit.from_formula(
        [f"pira ~ {rhs}", f"p401k ~ {rhs}"], d, **({} if w is None else {"freq_weights": w})),
        covs, k, w)
    checks += _replicate("HeckProbit", lambda d, w: HeckProbit.from_formula(
        f"p401k ~ {rhs}", d, selection=f"e401k ~ {rhs} + male",
        **({} if w is None else {"freq_weights": w})), covs, k, w)
    f = datasets.load("fishing")
    f["g"] = np.arange(len(f)) % 30
    f["income"] = f.income / 1000.0
    w = _weights(len(f), "freq")
    checks += _replicate("MNLogit", lambda d, w: MNLogit.from_formula(
        "mode ~ income", d, **({} if w is None else {"freq_weights": w})), covs, f, w)
    return checks


GROUPS = [
    Group("Heckman ML with weights vs R sampleSelection", heckman_checks),
    Group("BivariateProbit with weights, expected information, vs R VGAM", biprobit_checks),
    Group("MNLogit with weights vs R nnet", mnlogit_checks),
    Group("identity, not a published number: frequency weights = repeated rows, every "
          "family and covariance", replication_checks),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
