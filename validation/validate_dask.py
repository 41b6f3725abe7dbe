"""The distributed backend (dask) against published results and the in-memory fits.

* Published numbers, fitted from a dask DataFrame of 7 partitions: Greene,
  Econometric Analysis (5th ed., 2002), Example 22.8 (Mroz87, Heckman
  two-step and ML; the same printed values as ``validate_heckman.py``), and
  Stata's ``mlogit`` on the ANES 1996 data as recorded in statsmodels' test
  suite (``statsmodels/discrete/tests/results/results_discrete.py``,
  ``Anes.mnlogit_basezero``; the same numbers as ``validate_mnlogit.py``),
  once from a dask DataFrame with a formula and once from dask arrays
  (``MNLogit(y, X)``, 7 chunks);
  R sampleSelection's Tobit-5 ML test (``tests/selection.Rout.save``) and
  treatReg vignette (pp. 5-6): the checks of ``validate_switching.tests_ml``
  and ``validate_treatment.vignette_simulated`` run with the model fitted
  from 7 partitions (their data and printed numbers imported, not copied);
  the conditional logit's Fishing references of ``validate_choicelogit``
  (Cameron and Trivedi 2005, Table 15.2; broom's printed ``mlogit`` output),
  the model fitted from 7 partitions of the wide data.
* Equality checks (identities, not published numbers): the fit on the
  partitions equals the in-memory fit of the same family to 1e-10 relative
  in every parameter and standard error. The default run uses n = 20,000
  rows in 7 partitions; ``--full`` uses n = 10^6 in 2 and 7 partitions
  (about 8 minutes, 3 of them the switching and treatment cases). The
  partitions are summed on dask's threaded scheduler in this process: the
  task graph is the one a cluster runs (the unit tests also run it on a
  LocalCluster of worker processes).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, run_groups, script_main  # noqa: E402

from econderiv import (  # noqa: E402
    BivariateProbit,
    EndogenousTreatment,
    Heckman,
    HeckProbit,
    MNLogit,
    SwitchingRegression,
    datasets,
)

GREENE = "Greene 2002 Ex 22.8 (dask)"
STATA = "Stata mlogit anes96 (dask)"
EQUAL = "equality, not published"


def _dd():
    import dask.dataframe as dd

    return dd


def greene_on_dask() -> list[Check]:
    df = datasets.load("mroz87")
    df["kids"] = (df.kids5 + df.kids618 > 0).astype(float)
    ddf = _dd().from_pandas(df, npartitions=7)
    mod = Heckman.from_formula("wage ~ exper + I(exper**2) + educ + city", ddf,
                               selection="lfp ~ age + I(age**2) + faminc + kids + educ")
    ts = mod.fit_twostep()
    checks = []
    for term, coef, se in [("Intercept", "-0.971", "2.06"), ("exper", "0.0211", "0.0625"),
                           ("I(exper ** 2)", "0.000137", "0.00188"), ("educ", "0.417", "0.100"),
                           ("city", "0.444", "0.316")]:
        checks.append(Check.printed(GREENE, f"2step {term}", coef, ts.params[f"outcome:{term}"]))
        checks.append(Check.printed(GREENE, f"2step se {term}", se, ts.bse[f"outcome:{term}"]))
    checks += [Check.printed(GREENE, "2step lambda", "-1.10", ts.params["lambda"]),
               Check.printed(GREENE, "2step se lambda", "1.27", ts.bse["lambda"]),
               Check.printed(GREENE, "2step rho", "-0.343", ts.rho)]
    ml = mod.fit()
    for term, coef, se in [("Intercept", "-1.96", "1.20"), ("exper", "0.0279", "0.0616"),
                           ("I(exper ** 2)", "-0.000104", "0.00184"), ("educ", "0.457", "0.0732"),
                           ("city", "0.447", "0.316")]:
        checks.append(Check.printed(GREENE, f"ML {term}", coef, ml.params[f"outcome:{term}"]))
        checks.append(Check.printed(GREENE, f"ML se {term}", se, ml.bse[f"outcome:{term}"]))
    anc = ml.ancillary
    checks += [Check.printed(GREENE, "ML sigma", "3.11", anc.loc["sigma", "coef"]),
               Check.printed(GREENE, "ML rho", "-0.132", anc.loc["rho", "coef"]),
               Check.printed(GREENE, "ML se rho", "0.165", anc.loc["rho", "std err"]),
               Check.printed(GREENE, "ML log-likelihood", "-1581.26", ml.llf)]
    return checks


def stata_mlogit_on_dask(arrays: bool = False) -> list[Check]:
    """``arrays``: the model built from dask arrays, ``MNLogit(y, X)`` (X with
    a column of ones: statsmodels' names ``const, x1, ..., x5``)."""
    import statsmodels.api as sm

    try:
        from statsmodels.discrete.tests.results.results_discrete import Anes
    except ImportError:  # pragma: no cover - statsmodels without its tests
        return []
    stata = Anes.mnlogit_basezero
    src = STATA if not arrays else "Stata mlogit anes96 (dask arrays)"
    data = sm.datasets.anes96.load_pandas().data
    df = data[["PID", "logpopul", "selfLR", "age", "educ", "income"]].astype(float)
    df["logpopul"] = df["logpopul"].astype(np.float32).astype(float)  # Stata's float
    xnames = ["logpopul", "selfLR", "age", "educ", "income", "Intercept"]
    if arrays:
        import dask.array as da

        X = np.column_stack([np.ones(len(df)), df[xnames[:-1]].to_numpy()])
        chunk = -(-len(df) // 7)
        res = MNLogit(da.from_array(df["PID"].to_numpy(), chunks=chunk),
                      da.from_array(X, chunks=(chunk, 6))).fit(tol=1e-20)
        # statsmodels' array names const, x1..x5 stand for the regressors
        shown = dict(zip(["const", "x1", "x2", "x3", "x4", "x5"], xnames[-1:] + xnames[:-1]))
    else:
        shown = {}
        ddf = _dd().from_pandas(df, npartitions=7)
        res = MNLogit.from_formula("PID ~ logpopul + selfLR + age + educ + income", ddf).fit(
            tol=1e-20)
    params, bse = np.asarray(res.params), np.asarray(res.bse)
    rows = [shown.get(r, r) for r in res.params.index]
    checks = []
    for j in range(6):
        for k, name in enumerate(xnames):
            r = rows.index(name)
            q = f"PID={j + 1}:{name}"
            checks.append(Check.printed(src, f"coef {q}", repr(float(stata.params[k, j])),
                                        params[r, j]))
            checks.append(Check(src, f"se {q}", stata.bse[k, j], bse[r, j],
                                1e-8 * stata.bse[k, j], shown=repr(float(stata.bse[k, j])),
                                note="rel 1e-8"))
    checks.append(Check.printed(src, "llf", repr(float(stata.llf)), res.llf))
    checks.append(Check.printed(src, "llnull", repr(float(stata.llnull)), res.llnull))
    return checks


class _OnDaskPartitions:
    """Stands for a family class inside another validation module: its
    ``from_formula`` fits the same pandas data from 7 dask partitions."""

    def __init__(self, cls):
        self.cls = cls

    def from_formula(self, formula, data, *args, **kwargs):
        return self.cls.from_formula(formula, _dd().from_pandas(data, npartitions=7), *args,
                                     **kwargs)


def _printed_on_dask(module, family, group, source):
    """The checks of ``module.group()`` (its data loaders and printed
    references, not copied here) with ``family`` fitted from 7 dask partitions."""
    import functools
    import importlib

    mod = importlib.import_module(module)
    saved = {name: getattr(mod, name) for name in (family.__name__, "_tests_ml")
             if hasattr(mod, name)}
    try:
        setattr(mod, family.__name__, _OnDaskPartitions(family))
        if "_tests_ml" in saved:  # a fresh cache: not the in-memory fit of validate_switching
            mod._tests_ml = functools.cache(saved["_tests_ml"].__wrapped__)
        checks = getattr(mod, group)()
    finally:
        for name, value in saved.items():
            setattr(mod, name, value)
    for c in checks:
        c.source = source
    return checks


def switching_on_dask() -> list[Check]:
    """validate_switching.tests_ml: sampleSelection's Tobit-5 ML (tests/selection.Rout.save,
    coefficients, s.e., llf and every row's predictions) from 7 partitions."""
    return _printed_on_dask("validate_switching", SwitchingRegression, "tests_ml",
                            "sampleSelection Rout (dask)")


def treatment_on_dask() -> list[Check]:
    """validate_treatment.vignette_simulated: sampleSelection's treatReg vignette
    (inst/doc/treatReg.pdf pp. 5-6) from 7 partitions."""
    return _printed_on_dask("validate_treatment", EndogenousTreatment, "vignette_simulated",
                            "treatReg.pdf p5-6 (dask)")


def choicelogit_on_dask() -> list[Check]:
    """validate_choicelogit's printed Fishing references (its data, formula and
    printed numbers imported, not copied): Cameron and Trivedi (2005) Table
    15.2 and broom's printed ``mlogit`` output, with the conditional logit
    fitted from 7 dask partitions of the wide data. broom's checks are taken
    from ``validate_choicelogit.broom_mlogit()`` (their printed strings) and
    re-evaluated on the dask fit; its fitted utilities (per-case linear
    predictors) have no dask counterpart and are left out."""
    import importlib

    from econderiv import ChoiceLogit

    vc = importlib.import_module("validate_choicelogit")
    fish = datasets.load("fishing")
    ddf = _dd().from_pandas(fish, npartitions=7)
    dist = ChoiceLogit.from_formula(vc.FORMULAS["Mixed"], ddf, varying=vc.VARYING).fit(tol=1e-20)
    saved = dict(vc._FITS)
    try:
        vc._FITS.clear()
        vc._FITS["Mixed"] = dist
        checks = vc.cameron_trivedi()
    finally:
        vc._FITS.clear()
        vc._FITS.update(saved)
    for c in checks:
        c.source = "Cameron-Trivedi T15.2 (dask)"
    shares = ChoiceLogit.from_formula("mode ~ 1", ddf, varying=vc.VARYING).fit(tol=1e-20)
    P = dist.probabilities().head(3)      # the first cases, from the first partition
    values = {"logLik": dist.llf, "AIC": dist.aic,
              "rho2 (vs constants only)": 1 - dist.llf / shares.llf,
              "rho20 (vs equal shares)": 1 - dist.llf / (-dist.nobs * np.log(len(vc.ALTS)))}
    for ref in vc.broom_mlogit():         # its printed strings, with the in-memory fit
        q = ref.quantity
        if q.startswith("utility"):
            continue
        if q.startswith(("coef ", "se ")):
            kind, term = q.split(" ", 1)
            value = (dist.params if kind == "coef" else dist.bse)[term]
        elif q.startswith("P case "):
            _, _, i, alt = q.split(" ")
            value = P.iloc[int(i) - 1][alt]
        else:
            value = values[q]
        checks.append(Check.printed("broom doc: mlogit Fishing (dask)", q, ref.shown, value))
    return checks


# ---------------------------------------------------------------------------
# Equality with the in-memory fits
# ---------------------------------------------------------------------------

def _selection_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "z": rng.normal(size=n), "c": rng.choice(["a", "b", "c"], n)})
    u, e = rng.multivariate_normal([0, 0], [[1, .5], [.5, 1]], n).T
    df["s"] = (0.3 + 0.5 * df.x1 + df.z + u > 0).astype(float)
    df["y"] = np.where(df.s == 1, 1 + df.x1 - 0.5 * df.x2 + (df.c == "b") + e, np.nan)
    df["yb"] = np.where(df.s == 1, (0.2 + df.x1 - 0.5 * df.x2 + e > 0).astype(float), np.nan)
    df["y1"] = (0.1 + df.x1 + e > 0).astype(float)
    df["y2"] = (0.1 + df.x2 + 0.5 * df.z + u > 0).astype(float)
    df["yc"] = 1 + df.x1 - 0.5 * df.x2 + df.s + e  # every row: switching, treatment
    return df


def _mnlogit_frame(n, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    beta = rng.normal(scale=0.5, size=(5, 5))
    eta = np.column_stack([np.zeros(n), beta[0] + X @ beta[1:]])
    p = np.exp(eta - eta.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    df = pd.DataFrame(X, columns=["x1", "x2", "x3", "x4"])
    df["mode"] = np.array(list("abcdef"))[(p.cumsum(1) > rng.random(n)[:, None]).argmax(1)]
    return df


CASES = [
    ("Heckman ML", Heckman, "y ~ x1 + x2 + C(c)", {"selection": "s ~ x1 + z"}, "fit", {}),
    ("Heckman two-step", Heckman, "y ~ x1 + x2 + C(c)", {"selection": "s ~ x1 + z"},
     "fit_twostep", {}),
    ("HeckProbit", HeckProbit, "yb ~ x1 + x2", {"selection": "s ~ x1 + z"}, "fit", {}),
    ("BivariateProbit", BivariateProbit, ["y1 ~ x1 + C(c)", "y2 ~ x2 + z"], {}, "fit", {}),
    ("Switching ML", SwitchingRegression, ["yc ~ x1 + x2", "yc ~ x1"],
     {"selection": "s ~ x1 + z"}, "fit", {}),
    ("Switching 2-step", SwitchingRegression, ["yc ~ x1 + x2", "yc ~ x1"],
     {"selection": "s ~ x1 + z"}, "fit_twostep", {}),
    ("Treatment ML", EndogenousTreatment, "yc ~ x1 + x2 + s",
     {"treatment": "s ~ x1 + z"}, "fit", {}),
    ("Treatment 2-step", EndogenousTreatment, "yc ~ x1 + x2 + s",
     {"treatment": "s ~ x1 + z"}, "fit_twostep", {}),
    ("MNLogit Bohning", MNLogit, "mode ~ x1 + x2 + x3 + x4", {}, "fit", {"method": "bohning"}),
    ("MNLogit Newton", MNLogit, "mode ~ x1 + x2 + x3 + x4", {}, "fit",
     {"method": "newton_trust"}),
]


def _equality(n, partitions) -> list[Check]:
    sel, mn = _selection_frame(n), _mnlogit_frame(n)
    checks = []
    for name, cls, formula, kw, how, fit_kw in CASES:
        df = mn if cls is MNLogit else sel
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mem = getattr(cls.from_formula(formula, df, **kw), how)(**fit_kw)
            for npart in partitions:
                ddf = _dd().from_pandas(df, npartitions=npart)
                model = cls.from_formula(formula, ddf, persist=True, **kw)
                dist = getattr(model, how)(**fit_kw)
                for what in ("params", "bse"):
                    a = np.asarray(getattr(mem, what), float).ravel()
                    b = np.asarray(getattr(dist, what), float).ravel()
                    diff = float(np.max(np.abs(b - a) / np.abs(a)))
                    checks.append(Check(EQUAL, f"n={n:.0e} {npart} parts {name} {what}",
                                        0.0, diff, 1e-10, shown="0",
                                        note="max rel diff vs in-memory"))
    return checks


def _choice_equality(n_cases, partitions, seed=2) -> list[Check]:
    """ChoiceLogit from dask partitions (long data, cases kept whole by
    ``set_index("case")``) against the in-memory fit; unbalanced choice sets."""
    from econderiv import ChoiceLogit

    rng = np.random.default_rng(seed)
    J = 5
    offered = rng.random((n_cases, J)) < 0.7
    offered[:, 0] = offered[:, 1] = True
    attrs = rng.normal(size=(3, n_cases, J))
    income = rng.normal(size=n_cases)
    eta = attrs.T.swapaxes(0, 1) @ np.array([-1.0, 0.5, 0.3]) + np.outer(income, np.linspace(
        0, 0.8, J)) + rng.gumbel(size=(n_cases, J))
    choice = np.where(offered, eta, -np.inf).argmax(1)
    i, j = np.nonzero(offered)
    df = pd.DataFrame({"case": rng.permutation(n_cases)[i], "alt": np.array(list("abcde"))[j],
                       "x1": attrs[0][i, j], "x2": attrs[1][i, j], "x3": attrs[2][i, j],
                       "income": income[i], "chosen": (choice[i] == j).astype(float)})
    formula = "chosen ~ x1 + x2 + x3 | income"
    mem = ChoiceLogit.from_formula(formula, df, case="case", alternative="alt").fit()
    checks = []
    for npart in partitions:
        ddf = _dd().from_pandas(df.set_index("case"), npartitions=npart)
        dist = ChoiceLogit.from_formula(formula, ddf, case="case", alternative="alt",
                                        persist=True).fit()
        for what in ("params", "bse"):
            a = np.asarray(getattr(mem, what), float)
            diff = float(np.max(np.abs(np.asarray(getattr(dist, what), float) - a) / np.abs(a)))
            checks.append(Check(EQUAL, f"{len(df):.0e} rows {npart} parts ChoiceLogit {what}",
                                0.0, diff, 1e-10, shown="0", note="max rel diff vs in-memory"))
    return checks


GROUPS = [
    Group("Greene 2002 Example 22.8 (Mroz87) fitted from 7 dask partitions", greene_on_dask),
    Group("Stata mlogit on anes96 fitted from 7 dask partitions", stata_mlogit_on_dask),
    Group("Stata mlogit on anes96 fitted from dask arrays (7 chunks): MNLogit(y, X)",
          lambda: stata_mlogit_on_dask(arrays=True)),
    Group("sampleSelection Tobit-5 ML (tests/selection.Rout.save) fitted from 7 dask "
          "partitions", switching_on_dask),
    Group("sampleSelection treatReg vignette (ML, pp. 5-6) fitted from 7 dask partitions",
          treatment_on_dask),
    Group("Cameron-Trivedi Table 15.2 and broom's mlogit output (Fishing, conditional "
          "logit) fitted from 7 dask partitions", choicelogit_on_dask),
    Group("equality, not a published number: dask fits = in-memory fits, n = 20,000, "
          "7 partitions", lambda: _equality(20_000, [7])),
    Group("equality, not a published number: ChoiceLogit from dask partitions = in-memory, "
          "6,000 cases (~23,000 rows), 7 partitions", lambda: _choice_equality(6_000, [7])),
    Group("equality, not a published number: ChoiceLogit from dask partitions = in-memory, "
          "260,000 cases (~10^6 rows), 2 and 7 partitions",
          lambda: _choice_equality(260_000, [2, 7]), full_only=True,
          cost="about 30 s (max rel diff 1.3e-14 params, 5e-16 SEs when measured)"),
    Group("equality, not a published number: dask fits = in-memory fits, n = 10^6, "
          "2 and 7 partitions", lambda: _equality(1_000_000, [2, 7]), full_only=True,
          cost="about 8 minutes on a loaded 2-core machine (switching and treatment: 170 s)"),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        if skipped is not None:
            skipped.extend(f"{g.name} [needs dask: pip install \".[dask]\"]" for g in GROUPS)
        return []
    return run_groups(GROUPS, full, skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
