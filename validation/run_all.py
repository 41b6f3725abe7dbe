"""Validation report: econderiv against published results.

Runs every ``validation/validate_*.py`` (each defines ``run(full, skipped)``
returning a list of :class:`_report.Check`), prints one side-by-side table
per script, published value beside econderiv's, and exits non-zero on any
mismatch. Progress (each script, each group of checks) is printed as it
starts.

    python validation/run_all.py              # published numbers only (well under a minute)
    python validation/run_all.py --full       # also the slow independent re-computations
    python validation/run_all.py heckman      # scripts whose name contains "heckman"

The default run compares only with published numbers (papers' tables,
manuals, a peer's recorded output), each cited to its table, example or
file. ``--full`` adds the independent re-computations: the bivariate-probit
and probit-with-selection reference fits with numerical derivatives
(minutes), the derivative-regression Monte Carlo study, live statsmodels
fits, and the local-maximum and global-search checks of the Heckman ML
estimates.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import Check, format_table, progress  # noqa: E402


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    full = "--full" in argv
    names = [a for a in argv if not a.startswith("-")]
    unknown = [a for a in argv if a.startswith("-") and a != "--full"]
    if unknown:
        print(f"unknown option(s): {' '.join(unknown)} (the only option is --full)")
        return 2
    scripts = sorted(HERE.glob("validate_*.py"))
    if names:
        scripts = [s for s in scripts if any(a in s.stem for a in names)]
    if not scripts:
        print("no validation scripts selected")
        return 1
    progress("econderiv validation report: "
             + ("published numbers and independent re-computations (--full)" if full
                else "published numbers (add --full for the slow independent re-computations)"))
    t_all = time.perf_counter()
    total, failed, broken, skipped = 0, 0, [], {}
    for path in scripts:
        progress(f"\n=== {path.stem} ===")
        start = time.perf_counter()
        missed: list[str] = []
        try:
            checks: list[Check] = _load(path).run(full=full, skipped=missed)
        except Exception:
            traceback.print_exc()
            sys.stdout.flush()
            broken.append(path.stem)
            continue
        if missed:
            skipped[path.stem] = missed
        if checks:
            print(format_table(checks))
        bad = sum(not c.ok for c in checks)
        total += len(checks)
        failed += bad
        progress((f"{len(checks) - bad} of {len(checks)} agree" if checks
                  else "no checks run here without --full")
                 + f" ({time.perf_counter() - start:.1f} s)")
    if skipped:
        print("\nSkipped (independent re-computations, not published numbers; "
              "run them with `python validation/run_all.py --full`):")
        for stem, groups in skipped.items():
            for g in groups:
                print(f"  {stem}: {g}")
    print(f"\nSUMMARY: {total - failed} of {total} checks agree across {len(scripts)} scripts"
          + (" (--full)" if full else "")
          + (f"; scripts that raised: {', '.join(broken)}" if broken else "")
          + f"; {time.perf_counter() - t_all:.0f} s")
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
