"""A regular install (`pip install .`, the Dockerfile) holds every package of the checkout.

`[tool.setuptools] packages` is an explicit list (it maps `patterns/`, `models/`
and `agents/` under `goldrush.`), so a new sub-package is left out of wheels
unless it is listed; an editable install, which the tests run from, hides that.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_in_the_checkout_is_installed():
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    dirs = setup["package-dir"]
    assert set(dirs) <= listed
    found = set()
    for name, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            sub = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *sub)))
    missing = sorted(found - listed)
    assert not missing, f"packages missing from pyproject.toml [tool.setuptools] packages: {missing}"
