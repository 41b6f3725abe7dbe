"""Independent fits of the conditional logit on the Fishing data with biogeme.

Writes ``validation/data/choicelogit_biogeme.csv`` (estimates, Rao-Cramer
standard errors, log-likelihood, biogeme's version), read by
``validation/validate_choicelogit.py`` so that its default run needs no
biogeme. biogeme pins ``pandas<3`` (and, through pytensor, an older numba),
so run it in its own environment::

    python3 -m venv /tmp/venv-biogeme
    /tmp/venv-biogeme/bin/pip install biogeme
    /tmp/venv-biogeme/bin/python validation/data/choicelogit_biogeme.py

(from the repository root). Specifications as Cameron and Trivedi's
Table 15.2: CL (price, catch), MNL (constants and income/1000), Mixed
(price, catch, constants, income); base alternative beach. biogeme 3.3.2 needs
``tomlkit<0.13.3`` to write its default parameter file (a newer tomlkit rejects
the line breaks in its comments).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
ALTS = {"beach": 1, "pier": 2, "boat": 3, "charter": 4}


def fit(spec: str, df: pd.DataFrame):
    import biogeme.biogeme as bio
    import biogeme.database as db
    from biogeme import models
    from biogeme.expressions import Beta, Variable

    database = db.Database(f"fishing_{spec}", df)
    price, catch = Beta("price", 0, None, None, 0), Beta("catch", 0, None, None, 0)
    V = {}
    names = {}
    for alt, code in ALTS.items():
        v = 0
        if spec in ("CL", "Mixed"):
            v = price * Variable("p" + alt) + catch * Variable("c" + alt)
        if spec in ("MNL", "Mixed") and alt != "beach":
            # income enters in $1000 in both; for Mixed (income in dollars) the
            # coefficients and standard errors are divided by 1000 below, an
            # exact reparametrization: with income in dollars biogeme's
            # optimizers stop short (simple_bounds, the default, about 1e-6
            # from the maximum even at tolerance 1e-12) or fail (TR-newton)
            inc = Variable("income") / 1000
            tname = "income" if spec == "Mixed" else "I(income / 1000)"
            asc = Beta(f"asc_{alt}", 0, None, None, 0)
            b_inc = Beta(f"inc_{alt}", 0, None, None, 0)
            names[f"asc_{alt}"] = f"{alt}:Intercept"
            names[f"inc_{alt}"] = f"{alt}:{tname}"
            v = v + asc + b_inc * inc
        V[code] = v
    av = {code: 1 for code in ALTS.values()}
    logprob = models.loglogit(V, av, Variable("choice"))
    # biogeme's default tolerance (relative gradient 6e-6) stops about 1e-7
    # relative from the maximum: tightened
    model = bio.BIOGEME(database, logprob, generate_html=False, generate_yaml=False,
                        save_iterations=False, tolerance=1e-12)
    model.model_name = f"fishing_{spec}"
    t0 = time.perf_counter()
    res = model.estimate()
    seconds = time.perf_counter() - t0
    from biogeme.results_processing.variance_covariance import EstimateVarianceCovariance

    rows = []
    for name in res.get_beta_values():
        scale = 1e-3 if spec == "Mixed" and name.startswith("inc_") else 1.0
        rows.append(dict(
            spec=spec, term=names.get(name, name), estimate=scale * res.get_parameter_value(name),
            se=scale * res.get_parameter_std_err(name, EstimateVarianceCovariance.RAO_CRAMER),
            robust_se=scale * res.get_parameter_std_err(name, EstimateVarianceCovariance.ROBUST),
            loglik=res.final_loglikelihood, converged=res.algorithm_has_converged,
            seconds=seconds, note="fitted per $1000, divided by 1000" if scale != 1 else ""))
    return rows


def main() -> int:
    wide = pd.read_csv(ROOT / "econderiv" / "datasets" / "data" / "fishing.csv.gz")
    df = wide.drop(columns=["mode"]).assign(choice=wide["mode"].map(ALTS))
    rows = []
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # biogeme writes its output files to the working directory
        try:
            for spec in ("CL", "MNL", "Mixed"):
                rows += fit(spec, df)
        finally:
            os.chdir(cwd)
    out = pd.DataFrame(rows)
    out["biogeme"] = metadata.version("biogeme")
    path = ROOT / "validation" / "data" / "choicelogit_biogeme.csv"
    out.to_csv(path, index=False, float_format="%.15g")
    print(out.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
