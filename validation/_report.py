"""Side-by-side comparison rows for the validation report.

Each ``validation/validate_*.py`` script defines ``GROUPS`` (a list of
:class:`Group`) and ``run(full=False, skipped=None) -> list[Check]``;
``run_all.py`` collects them, prints one table and exits non-zero if any
check fails. A script can also be run alone (``python validation/x.py
[--full]``).

Two kinds of group:

* the default run compares econderiv only with **published numbers** (a
  paper's table, a manual, a peer's recorded output), each cited to its
  table, example or file;
* ``full_only`` groups are **independent re-computations** (a reference fit
  with numerical derivatives, a Monte Carlo study, a live statsmodels fit, a
  global search): slower, and not published numbers, so they run only with
  ``--full``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Check:
    """One published (or reference) number beside econderiv's.

    ``ok`` is ``abs(computed - published) <= tol``. Use :meth:`printed` for a
    number published rounded to some digits: the tolerance is then half a unit
    in the last printed digit, i.e. econderiv's value rounds to the printed one.
    """

    source: str
    quantity: str
    published: float
    computed: float
    tol: float
    shown: str = ""
    note: str = ""

    @classmethod
    def printed(cls, source: str, quantity: str, published: str, computed: float,
                note: str = "") -> "Check":
        """Compare with a value printed as the string ``published`` (e.g. "-0.971")."""
        text = published.strip().lower()
        mantissa, _, exp = text.partition("e")
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        unit = 10.0 ** (-decimals + (int(exp) if exp else 0))
        return cls(source, quantity, float(published), float(computed),
                   0.5 * unit * (1 + 1e-9), shown=published.strip(), note=note)

    @property
    def ok(self) -> bool:
        return bool(math.isfinite(self.computed)
                    and abs(self.computed - self.published) <= self.tol)


def format_table(checks: list[Check]) -> str:
    """Fixed-width table: source, quantity, published, econderiv, diff, ok."""
    head = f"{'source':<28} {'quantity':<34} {'published':>14} {'econderiv':>22} {'|diff|':>10} {'tol':>9}  ok"
    lines = [head, "-" * len(head)]
    for c in checks:
        pub = c.shown or f"{c.published:.10g}"
        lines.append(
            f"{c.source[:28]:<28} {c.quantity[:34]:<34} {pub:>14} {c.computed:>22.12g} "
            f"{abs(c.computed - c.published):>10.2e} {c.tol:>9.1e}  {'yes' if c.ok else 'NO'}"
            + (f"  ({c.note})" if c.note else ""))
    return "\n".join(lines)


@dataclass
class Group:
    """A named group of checks: ``func()`` returns a list of :class:`Check`.

    ``full_only`` groups (independent re-computations, not published
    numbers) run only with ``--full``; ``cost`` says roughly how long they
    take, for the message that lists them when skipped.
    """

    name: str
    func: Callable[[], list]
    full_only: bool = False
    cost: str = ""


def progress(text: str) -> None:
    """Print a progress line at once (the report is long-running)."""
    print(text, flush=True)


def run_groups(groups: list[Group], full: bool = False,
               skipped: list | None = None) -> list[Check]:
    """Run the groups in order, announcing each as it starts.

    Groups that are ``full_only`` are skipped unless ``full``; their names
    are appended to ``skipped`` (if given).
    """
    checks: list[Check] = []
    for g in groups:
        if g.full_only and not full:
            progress(f"  skipped (needs --full): {g.name}" + (f" [{g.cost}]" if g.cost else ""))
            if skipped is not None:
                skipped.append(g.name + (f" [{g.cost}]" if g.cost else ""))
            continue
        progress(f"  running: {g.name} ...")
        t0 = time.perf_counter()
        out = g.func()
        progress(f"    {len(out)} checks in {time.perf_counter() - t0:.1f} s")
        checks += out
    return checks


def script_main(groups: list[Group], argv: list[str] | None = None) -> int:
    """Command line of a single script: ``[--full]``."""
    argv = sys.argv[1:] if argv is None else argv
    full = "--full" in argv
    return main(run_groups(groups, full=full))


def main(checks: list[Check]) -> int:
    print(format_table(checks))
    bad = [c for c in checks if not c.ok]
    print(f"\n{len(checks) - len(bad)} of {len(checks)} checks agree")
    return 1 if bad else 0
