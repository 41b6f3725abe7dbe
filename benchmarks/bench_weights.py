"""The cost of weights: each family fitted with and without weights, same run.

The sizes are those of the families' own benchmarks (Heckman, bivariate
probit and probit with selection at n = 100,000; MNLogit at n = 200,000,
p = 20, J = 10). Each fit includes its standard errors. The weights are
frequency weights 1, 2, 3 (the fit takes the same number of iterations as
unweighted only by chance, so the time per iteration is printed too); the
target is at most 15% more time per fit.

    python benchmarks/bench_weights.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402
from bench_biprobit import simulate_biprobit, simulate_heckprobit  # noqa: E402
from bench_heckman import simulate as simulate_heckman  # noqa: E402
from bench_mnlogit import simulate as simulate_mnlogit  # noqa: E402

from econderiv import BivariateProbit, HeckProbit, Heckman, MNLogit  # noqa: E402


def _iterations(res) -> int:
    r = res.mle_retvals if hasattr(res, "mle_retvals") else res._results.mle_retvals
    return int(r.get("iterations", 0)) or 1


def cases():
    y, X, s, Z = simulate_heckman()
    yield "Heckman ML (n = 100,000)", lambda **w: Heckman(y, X, s, Z, **w), len(y)
    yb, xb = simulate_biprobit(100_000)
    yield "BivariateProbit (n = 100,000)", lambda **w: BivariateProbit(yb, xb, **w), len(yb)
    yh, xh, sh, zh = simulate_heckprobit(100_000)
    yield "HeckProbit (n = 100,000)", lambda **w: HeckProbit(yh, xh, sh, zh, **w), len(yh)
    Xm, ym, _ = simulate_mnlogit()
    yield "MNLogit (n = 200,000, p = 20, J = 10)", lambda **w: MNLogit(ym, Xm, **w), len(ym)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"{'family':40s} {'unweighted':>11s} {'weighted':>10s} {'ratio':>7s} "
          f"{'iter (u/w)':>11s} {'per-iter ratio':>15s}")
    for name, build, n in cases():
        w = 1.0 + np.arange(n) % 3
        m0, m1 = build(), build(freq_weights=w)
        t0, r0 = timed(lambda: m0.fit(), args.repeat)
        t1, r1 = timed(lambda: m1.fit(), args.repeat)
        i0, i1 = _iterations(r0), _iterations(r1)
        print(f"{name:40s} {t0:10.3f}s {t1:9.3f}s {t1 / t0:7.2f} {i0:5d}/{i1:<5d} "
              f"{(t1 / i1) / (t0 / i0):15.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
