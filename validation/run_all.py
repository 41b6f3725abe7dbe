"""Validation report: econderiv against published results.

Runs every ``validation/validate_*.py`` (each defines ``run()`` returning a
list of :class:`_report.Check`), prints one side-by-side table per script,
published value beside econderiv's, and exits non-zero on any mismatch.

    python validation/run_all.py            # everything
    python validation/run_all.py heckman    # scripts whose name contains "heckman"
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _report import Check, format_table  # noqa: E402


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("validate_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.stem for a in argv)]
    if not scripts:
        print("no validation scripts selected")
        return 1
    total, failed, broken = 0, 0, []
    for path in scripts:
        print(f"\n=== {path.stem} ===")
        start = time.perf_counter()
        try:
            checks: list[Check] = _load(path).run()
        except Exception:
            traceback.print_exc()
            broken.append(path.stem)
            continue
        print(format_table(checks))
        bad = sum(not c.ok for c in checks)
        total += len(checks)
        failed += bad
        print(f"{len(checks) - bad} of {len(checks)} agree ({time.perf_counter() - start:.1f} s)")
    print(f"\nSUMMARY: {total - failed} of {total} checks agree across {len(scripts)} scripts"
          + (f"; scripts that raised: {', '.join(broken)}" if broken else ""))
    return 1 if failed or broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
