"""Penalized multinomial logit paths (MNLogit.regularization_path) against R
glmnet and statsmodels.

Sources
-------
* R glmnet 4.1-6 (Debian r-cran-glmnet), ``glmnet(x, y, family =
  "multinomial", type.multinomial = "grouped" | "ungrouped", alpha, standardize,
  penalty.factor, nlambda = 30, lambda.min.ratio = 0.02, thresh = 1e-22)``,
  run by ``validation/data/mnlogit_path_glmnet.R`` and stored in
  ``validation/data/mnlogit_path_glmnet.json`` (the script and its output sit
  together; the tests and this script run without R). Data: the simulated
  ``validation/data/mnlogit_path_sim.csv`` (n = 500, 30 correlated regressors
  on different scales, 4 categories; written by ``mnlogit_path_sim.py``) and
  the bundled ``fishing`` data (mode ~ 8 alternative prices and catch rates and
  income/1000; ``ppier`` equals ``pbeach`` in every row and is left out).
  econderiv fits the same objective on the same penalties (glmnet's lambdas),
  symmetric parameterization (glmnet's).

  Compared at every penalty of each path: the objective (glmnet's
  coefficients plugged into econderiv's objective; relative difference, 1e-8),
  the coefficients on the original scale (1e-6; intercepts are compared after
  centring over the categories, their unidentified shift), the fitted
  probabilities (1e-6), glmnet's ``dev.ratio`` (1e-6) and ``df``, and
  econderiv's first penalty (its ``lambda_max``) against glmnet's. With the
  element-wise lasso (``"ungrouped"``, ``alpha = 1``) and an even number of
  categories the symmetric coefficients are not unique (any point between the
  two middle values of a row gives the same penalty): there only the
  contrasts ``beta_j - beta_0`` and the probabilities are compared.
* (``--full`` only, a live re-computation) statsmodels'
  ``MNLogit.fit_regularized(method="l1", alpha=n * lam)`` (its objective
  ``-loglik + sum alpha_i |b_i|`` over the J-1 contrasts) against
  ``fit_regularized(alpha=lam, penalty="elementwise", symmetric=False,
  standardize=False)``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _report import Check, Group, run_groups, script_main  # noqa: E402

HERE = Path(__file__).parent
FISHING_X = ["pbeach", "pboat", "pcharter", "cbeach", "cpier", "cboat", "ccharter"]


def _model(name):
    from econderiv import MNLogit, datasets

    if name == "sim":
        sim = pd.read_csv(HERE / "data" / "mnlogit_path_sim.csv")
        x, y = sim.drop(columns="y"), sim.y.astype(float)
    else:
        fish = datasets.load("fishing")
        x = fish[FISHING_X].copy()
        x["income"] = fish.income / 1000
        y = pd.Series(pd.Categorical(fish["mode"]).codes.astype(float))
    x.insert(0, "const", 1.0)
    return MNLogit(y, x)


def _probs(x, coef):
    eta = x @ coef
    eta -= eta.max(axis=1, keepdims=True)
    p = np.exp(eta)
    return p / p.sum(axis=1, keepdims=True)


def _centred(coef):
    """Intercept row (row 0) shifted to mean zero over the categories."""
    c = np.array(coef, dtype=float)
    c[..., 0, :] -= c[..., 0, :].mean(axis=-1, keepdims=True)
    return c


def _glmnet_run(name, run) -> list[Check]:
    model = _model(run["data"])
    lam = np.asarray(run["lambda"])
    path = model.regularization_path(
        alphas=lam, L1_wt=run["alpha"], standardize=run["standardize"],
        penalty="group" if run["type"] == "grouped" else "elementwise",
        penalty_factor=run["penalty_factor"], tol=1e-11)
    ref = np.asarray(run["coef"])                       # (L, p, J), intercept first
    src = "glmnet " + name.replace("ungrouped", "ungrp").replace("grouped", "grp")
    f_ours = path.objective
    f_ref = np.array([path.objective_at(ref[i], a) for i, a in enumerate(lam)])
    rel = (f_ref - f_ours) / np.abs(f_ref)
    i_obj = int(np.argmax(np.abs(rel)))
    kkt_ref = max(path.kkt_at(ref[i], a) for i, a in enumerate(lam))
    checks = [
        Check(src, "lambda_max (first lambda)", lam[0], path.lambda_max, 1e-8 * lam[0]),
        Check(src, f"objective, worst of {len(lam)} lambdas", f_ref[i_obj], f_ours[i_obj],
              1e-8 * abs(f_ref[i_obj]),
              note=f"glmnet - ours >= {rel.min():.1e} (rel.); KKT violation ours "
                   f"{path.kkt.max():.1e}, glmnet's {kkt_ref:.1e}"),
    ]
    x = model.exog
    p_ours = np.stack([_probs(x, b) for b in path.coefs])
    p_ref = np.stack([_probs(x, b) for b in ref])
    k = np.unravel_index(np.argmax(np.abs(p_ours - p_ref)), p_ref.shape)
    checks.append(Check(src, "fitted probability, worst", p_ref[k], p_ours[k], 1e-6))
    unique = not (run["type"] == "ungrouped" and run["alpha"] == 1.0
                  and path.coefs.shape[2] % 2 == 0)
    if unique:
        ours, theirs = _centred(path.coefs), _centred(ref)
        what = "coefficient, worst"
    else:
        ours = path.coefs[:, :, 1:] - path.coefs[:, :, :1]
        theirs = ref[:, :, 1:] - ref[:, :, :1]
        what = "contrast b_j - b_0, worst"
    k = np.unravel_index(np.argmax(np.abs(ours - theirs)), ours.shape)
    checks.append(Check(src, what, theirs[k], ours[k], 1e-6,
                        note=f"lambda {k[0] + 1}, {path.names[k[1]]}"
                        + ("" if unique else "; symmetric lasso coefficients not unique")))
    dr = np.asarray(run["dev_ratio"])
    k = int(np.argmax(np.abs(dr - path.dev_ratio)))
    checks.append(Check(src, "dev.ratio, worst", dr[k], path.dev_ratio[k], 1e-6))
    # df: glmnet counts a regressor once any coefficient is nonzero; a group
    # whose norm is below 1e-8 at the first lambda (where glmnet's own
    # lambda_max rounds) is not a disagreement about the selection
    norms = np.sqrt((path.coefs_standardized ** 2).sum(axis=2))
    df_ours = ((norms > 1e-8).sum(axis=1))
    checks.append(Check(src, "df mismatches (of the lambdas)", 0.0,
                        float(np.sum(df_ours != np.asarray(run["df"]))), 0.0))
    return checks


def _glmnet_checks() -> list[Check]:
    ref = json.loads((HERE / "data" / "mnlogit_path_glmnet.json").read_text())
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, run in ref["runs"].items():
            out += _glmnet_run(name, run)
    return out


def _statsmodels_checks() -> list[Check]:
    from statsmodels.discrete.discrete_model import MNLogit as SMMNLogit

    model = _model("fishing")
    n, p = model.exog.shape
    out = []
    for lam in (0.02, 0.005):
        path = model.fit_regularized(alpha=lam, penalty="elementwise", symmetric=False,
                                     standardize=False, L1_wt=1.0, tol=1e-11)
        alpha = np.full((p, int(model.J) - 1), n * lam)
        alpha[0] = 0.0                                    # unpenalized intercept
        sm = SMMNLogit(model.endog, model.exog)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.fit_regularized(method="l1", alpha=alpha.ravel(order="F"), disp=False,
                                     maxiter=5000, acc=1e-14, trim_mode="off")
        b_sm = np.asarray(res.params).reshape(p, -1, order="F")
        f_sm = path.objective_at(b_sm, lam)
        trimmed = np.where(np.abs(b_sm) < 1e-8, 0.0, b_sm)   # slsqp leaves ~1e-10 for zeros
        src = f"statsmodels l1 lam={lam:g}"
        out.append(Check(src, "objective (ours <= sm)", f_sm, path.objective[0],
                         1e-8 * abs(f_sm),
                         note=f"KKT violation sm {path.kkt_at(trimmed, lam):.1e} (|b| < 1e-8 "
                              f"set to 0), ours "
                              f"{path.kkt[0]:.1e}"))
        ours = np.asarray(path.params)
        k = np.unravel_index(np.argmax(np.abs(ours - b_sm)), ours.shape)
        out.append(Check(src, "coefficient, worst", b_sm[k], ours[k], 1e-6,
                         note=f"{path.names[k[0]]}"))
        out.append(Check(src, "zero pattern mismatches", 0.0,
                         float(np.sum((np.abs(b_sm) > 1e-6) != (ours != 0))), 0.0))
    return out


GROUPS = [
    Group("R glmnet multinomial paths, grouped and ungrouped (validation/data/"
          "mnlogit_path_glmnet.json)", _glmnet_checks),
    Group("live statsmodels MNLogit.fit_regularized(method='l1') on fishing",
          _statsmodels_checks, full_only=True, cost="about 20 s"),
]


def run(full: bool = False, skipped: list | None = None) -> list[Check]:
    return run_groups(GROUPS, full=full, skipped=skipped)


if __name__ == "__main__":
    sys.exit(script_main(GROUPS))
