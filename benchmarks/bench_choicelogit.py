"""Benchmark: econderiv.ChoiceLogit (Böhning, Newton finish) vs xlogit's
MultinomialLogit (BFGS) and, optionally, biogeme, on the conditional logit.

Simulated data: n = 100,000 cases, J = 10 alternatives (all available),
p = 10 alternative-specific attributes (standard normal), q = 3 case-specific
regressors with alternative-specific constants (k = 10 + 9 x 4 = 46
parameters). Every package fits with standard errors; the log-likelihoods
must agree to 1e-8 (relative). Timings are wall-clock in this one run (the
machine is shared); the ratios are what matter.

``--memory N`` fits N cases alone and prints the bytes per case held by the
model and the peak resident memory (run it in its own process).

``--biogeme-python PATH`` times biogeme in a subprocess with that Python (biogeme
needs pandas < 3, so it lives in its own environment; see
validation/data/choicelogit_biogeme.py).

Run: python benchmarks/bench_choicelogit.py [--n N] [--skip-xlogit]
     [--biogeme-python PATH] [--memory N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
from _timing import timed


def simulate(n=100_000, J=10, p=10, q=3, seed=2024):
    """Long arrays: attributes (n J, p), case regressors (n J, q), case and
    alternative ids, chosen indicator; y drawn from the conditional logit."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, J, p))
    Z = rng.standard_normal((n, q))
    beta = rng.normal(0.0, 0.5, p)
    asc = np.r_[0.0, rng.normal(0.0, 0.5, J - 1)]
    gamma = np.column_stack([np.zeros(q), rng.normal(0.0, 0.2, (q, J - 1))])
    eta = X @ beta + asc + Z @ gamma
    eta -= eta.max(axis=1, keepdims=True)
    P = np.exp(eta)
    P /= P.sum(axis=1, keepdims=True)
    y = np.minimum((np.cumsum(P, axis=1) < rng.random(n)[:, None]).sum(axis=1), J - 1)
    case = np.repeat(np.arange(n), J)
    alt = np.tile(np.arange(J), n)
    chosen = (alt == y[case]).astype(float)
    return dict(xalt=X.reshape(n * J, p), zcase=np.repeat(Z, J, axis=0), case=case, alt=alt,
                chosen=chosen, n=n, J=J, p=p, q=q)


def fit_econderiv(d):
    from econderiv.models.choicelogit import ChoiceLogit

    t0 = time.perf_counter()
    model = ChoiceLogit(d["chosen"], d["xalt"], d["case"], d["alt"], d["zcase"])
    t_build = time.perf_counter() - t0
    t_fit, res = timed(lambda: model.fit())
    _ = np.asarray(res.bse)
    return t_build, t_fit, res


def fit_xlogit(d):
    from xlogit import MultinomialLogit

    p, q = d["p"], d["q"]
    X = np.hstack([d["xalt"], d["zcase"]])
    names = [f"x{k}" for k in range(p)] + [f"z{k}" for k in range(q)]

    def run():
        m = MultinomialLogit()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, d["chosen"], names, d["alt"], d["case"], isvars=names[p:],
                  fit_intercept=True, base_alt=0, verbose=0,
                  tol_opts={"ftol": 1e-12, "gtol": 1e-8})
        return m

    t, m = timed(run)
    return t, m


BIOGEME_CHILD = r"""
import json, sys, time, os, tempfile, warnings
import numpy as np, pandas as pd
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from bench_choicelogit import simulate
d = simulate(int(sys.argv[2]))
n, J, p, q = d["n"], d["J"], d["p"], d["q"]
import biogeme.biogeme as bio, biogeme.database as db
from biogeme import models
from biogeme.expressions import Beta, Variable
X = d["xalt"].reshape(n, J, p); Z = d["zcase"][::J]
y = d["chosen"].reshape(n, J).argmax(axis=1)
cols = {f"x{k}_{j}": X[:, j, k] for j in range(J) for k in range(p)}
cols.update({f"z{k}": Z[:, k] for k in range(q)}); cols["choice"] = y + 1
os.chdir(tempfile.mkdtemp())
database = db.Database("bench", pd.DataFrame(cols))
b = [Beta(f"b{k}", 0, None, None, 0) for k in range(p)]
V = {}
for j in range(J):
    v = sum(b[k] * Variable(f"x{k}_{j}") for k in range(p))
    if j:
        v = v + Beta(f"asc{j}", 0, None, None, 0) + sum(
            Beta(f"g{k}_{j}", 0, None, None, 0) * Variable(f"z{k}") for k in range(q))
    V[j + 1] = v
model = bio.BIOGEME(database, models.loglogit(V, {j + 1: 1 for j in range(J)},
                    Variable("choice")), generate_html=False, generate_yaml=False,
                    save_iterations=False)
t0 = time.perf_counter(); res = model.estimate(); t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "llf": res.final_loglikelihood}))
"""


def fit_biogeme(python, n, timeout):
    from pathlib import Path

    here = str(Path(__file__).parent)
    try:
        out = subprocess.run([python, "-c", BIOGEME_CHILD, here, str(n)], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    line = [s for s in out.stdout.splitlines() if s.startswith("{")]
    if not line:
        print(out.stderr[-2000:])
        return None
    return json.loads(line[-1])


def memory_run(n):
    d = simulate(n)
    raw = sum(v.nbytes for v in d.values() if isinstance(v, np.ndarray))
    t_build, t_fit, res = fit_econderiv(d)
    m = res.model
    held = m._X.nbytes + m._Z.nbytes + m._avail.nbytes + m._y.nbytes
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"n = {n:,} cases, J = {d['J']}, p = {d['p']}, q = {d['q']} (+ constants)")
    print(f"  model arrays: {held / n:.0f} bytes per case ({held / 2**30:.2f} GiB); the long "
          f"input arrays: {raw / n:.0f} bytes per case")
    print(f"  peak resident memory of the process: {peak / 2**30:.2f} GiB "
          f"({peak / n:.0f} bytes per case, input and model together)")
    print(f"  build {t_build:.1f} s, fit with standard errors {t_fit:.1f} s, "
          f"converged {res.converged}, llf {res.llf:.6f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--skip-xlogit", action="store_true")
    ap.add_argument("--biogeme-python", default=None)
    ap.add_argument("--biogeme-timeout", type=float, default=1800)
    ap.add_argument("--memory", type=int, default=None)
    args = ap.parse_args(argv)
    if args.memory:
        memory_run(args.memory)
        return 0
    d = simulate(args.n)
    print(f"n = {args.n:,} cases, J = {d['J']} alternatives, p = {d['p']} attributes, "
          f"q = {d['q']} case regressors + constants")
    t_build, t_ed, res = fit_econderiv(d)
    llf = res.llf
    r = res.mle_retvals
    print(f"econderiv ChoiceLogit: build {t_build:.2f} s, fit + SEs {t_ed:.2f} s "
          f"(Böhning L-BFGS {r['bohning']['iterations']} its, then Newton), llf {llf:.8f}, "
          f"converged {res.converged}")
    if not args.skip_xlogit:
        t_x, mx = fit_xlogit(d)
        same = abs(mx.loglikelihood - llf) <= 1e-8 * abs(llf)
        print(f"xlogit MultinomialLogit:            fit + SEs {t_x:.2f} s, llf "
              f"{mx.loglikelihood:.8f} (|diff| {abs(mx.loglikelihood - llf):.2e}, same to "
              f"1e-8: {same})")
        print(f"  ratio xlogit / econderiv (fit + SEs): {t_x / t_ed:.1f}x; including "
              f"econderiv's build: {t_x / (t_ed + t_build):.1f}x")
        b_ed = np.asarray(res.params)[:d["p"]]
        b_x = dict(zip(mx.coeff_names, mx.coeff_))
        diffs = [abs(b_ed[k] - b_x[f"x{k}"]) for k in range(d["p"])]
        print(f"  max |coef diff| over the attributes: {max(diffs):.2e}")
    if args.biogeme_python:
        out = fit_biogeme(args.biogeme_python, args.n, args.biogeme_timeout)
        if out is None:
            print(f"biogeme: no result within {args.biogeme_timeout:.0f} s")
        else:
            print(f"biogeme:                            fit + SEs {out['seconds']:.2f} s, llf "
                  f"{out['llf']:.8f} (|diff| {abs(out['llf'] - llf):.2e})")
            print(f"  ratio biogeme / econderiv: {out['seconds'] / t_ed:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
