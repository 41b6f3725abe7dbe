"""Every Python example in README.md runs as written (the examples are the
first thing a new user copies)."""

import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = re.findall(r"^### (.+?)\n(.*?)(?=^#{2,3} |\Z)", README.read_text(), flags=re.S | re.M)
EXAMPLES = [(title, block) for title, body in SECTIONS
            for block in re.findall(r"```python\n(.*?)```", body, flags=re.S)]


def test_readme_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("title,code", EXAMPLES, ids=[t for t, _ in EXAMPLES])
def test_readme_example_runs(title, code):
    namespace: dict = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        exec(compile(code, f"README.md:{title}", "exec"), namespace)
