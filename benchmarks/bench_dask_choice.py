"""ChoiceLogit (conditional logit, long data) on dask partitions read from parquet.

The script writes long data (one row per case and alternative) as parquet
files, each holding whole cases (the cases of a file are consecutive), starts
a LocalCluster of two worker processes, fits the model from
``dd.read_parquet`` with the partitions re-read on every pass
(``persist=False``) and reports

* the in-memory fit of the same data: wall time, and the largest relative
  difference of the dask fit's params and SEs from it (the peer here is the
  in-memory fit: the same estimator on one process);
* the dask fit: the time to build the model (the case check and the summary
  pass), the fit's wall time, the passes by kind (Böhning's score-only
  passes, Newton's passes with the Hessian) and their median time;
* the time to read the formula's columns once (no model), to compare a pass
  with.

Usage::

    python benchmarks/bench_dask_choice.py --cases 500000          # 2 x 10^6 rows
    python benchmarks/bench_dask_choice.py --cases 2500000 --no-in-memory

Sizes: J = 4 alternatives (all offered), 3 alternative-specific attributes, one
case-specific regressor with alternative-specific constants (p = 3 + 3 x 2).

Measured (default size, a 2-core machine shared with other jobs, load ~7):
in-memory fit 3.6 s; dask model 7.3 s (a pass collecting the alternatives, the
case check reading the case column, the summary pass), fit 20.2 s in 13
passes: 7 Böhning passes of 1.6 s (1.9 x the 0.85 s read of the columns) and
4 Newton passes of 2.0 s (2.4 x); params equal to 2e-15, SEs to 6e-16.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import pandas as pd

J = 4
FORMULA = "chosen ~ x1 + x2 + x3 | income"
COLUMNS = ["case", "alt", "chosen", "x1", "x2", "x3", "income"]


def long_data(n_cases, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3, n_cases, J))
    income = rng.normal(size=n_cases)
    eta = (np.einsum("kij,k->ij", X, [-1.0, 0.5, 0.3]) + np.outer(income, np.linspace(0, .8, J))
           + rng.gumbel(size=(n_cases, J)))
    choice = eta.argmax(1)
    return pd.DataFrame({"case": np.repeat(np.arange(n_cases), J) + seed * 10**9,
                         "alt": np.tile(np.array(list("abcd")), n_cases),
                         "x1": X[0].ravel(), "x2": X[1].ravel(), "x3": X[2].ravel(),
                         "income": np.repeat(income, J),
                         "chosen": (np.tile(np.arange(J), n_cases)
                                    == np.repeat(choice, J)).astype(float)})


def write(path, n_cases, cases_per_file):
    for i, lo in enumerate(range(0, n_cases, cases_per_file)):
        m = min(cases_per_file, n_cases - lo)
        long_data(m, i).to_parquet(os.path.join(path, f"part-{i:05d}.parquet"), index=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=500_000)
    ap.add_argument("--cases-per-file", type=int, default=25_000)
    ap.add_argument("--no-in-memory", action="store_true")
    ap.add_argument("--dir", default=None, help="where to write the parquet files")
    args = ap.parse_args(argv)

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from econderiv import ChoiceLogit

    path = tempfile.mkdtemp(prefix="bench_dask_choice_", dir=args.dir)
    try:
        write(path, args.cases, args.cases_per_file)
        n_files = len(os.listdir(path))
        print(f"{args.cases * J:,} rows ({args.cases:,} cases x {J} alternatives) in {n_files} "
              f"parquet files; LocalCluster of 2 worker processes x 1 thread")
        mem = None
        if not args.no_in_memory:
            df = pd.read_parquet(path)
            t = time.perf_counter()
            mem = ChoiceLogit.from_formula(FORMULA, df, case="case", alternative="alt").fit()
            t_mem = time.perf_counter() - t
            del df
            print(f"in-memory fit: {t_mem:.1f} s")
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=":0", silence_logs=50) as cluster, Client(cluster):
            ddf = dd.read_parquet(path)
            cols = [c for c in COLUMNS if c != "case"] + ["case"]
            ddf[cols].map_partitions(len).compute()      # warm the file cache
            reads = []
            for _ in range(3):
                t = time.perf_counter()
                ddf[cols].map_partitions(len).compute()
                reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            model = ChoiceLogit.from_formula(FORMULA, ddf, case="case", alternative="alt")
            t_model = time.perf_counter() - t
            t = time.perf_counter()
            res = model.fit()
            t_fit = time.perf_counter() - t
            log = model._backend.pass_log
        read = float(np.median(reads))
        print(f"read the columns once: {read:.2f} s (median of 3)")
        print(f"dask model (case check + summary pass): {t_model:.1f} s; fit: {t_fit:.1f} s, "
              f"{res.mle_retvals['passes']} passes in all, converged {res.converged}")
        for kind, label in (("_choice_score_sums", "Böhning, score only"),
                            ("_choice_hessian_sums", "Newton, with Hessian")):
            times = [s for name, s in log if name == kind]
            if times:
                med = float(np.median(times))
                print(f"  {label}: {len(times)} passes, median {med:.2f} s = "
                      f"{med / read:.1f} x the read time")
        if mem is not None:
            dp = np.max(np.abs(np.asarray(res.params) - np.asarray(mem.params))
                        / np.abs(np.asarray(mem.params)))
            ds = np.max(np.abs(np.asarray(res.bse) - np.asarray(mem.bse))
                        / np.abs(np.asarray(mem.bse)))
            print(f"dask / in-memory fit time: {t_fit / t_mem:.1f}; max rel diff params "
                  f"{dp:.1e}, SEs {ds:.1e}")
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
