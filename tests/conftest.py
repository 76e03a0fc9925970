"""Shared fixtures, and the markers that sort tests by kind.

A test's kind is its folder: `unit/`, `properties/` (hypothesis), `kafka/` (an embedded
broker), `e2e/` (the installed command, a browser, whole workers). A test in any folder
that asks for a broker is marked `kafka` too. `python -m pytest` runs all of them;
`python -m pytest -m "not kafka and not e2e"` is the fast path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from goldrush.kafka.broker import BrokerUnavailable, EmbeddedBroker

KINDS = ("unit", "properties", "kafka", "e2e")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(item.path)
        if path.is_relative_to(HERE) and path.relative_to(HERE).parts[0] in KINDS:
            item.add_marker(path.relative_to(HERE).parts[0])
        if {"broker", "fresh_broker"} & set(getattr(item, "fixturenames", ())):
            item.add_marker("kafka")


@pytest.fixture(scope="session")
def broker():
    """A tansu broker for the whole session (memory storage, loopback, free port)."""
    try:
        b = EmbeddedBroker().start()
    except BrokerUnavailable as exc:  # the dev extra installs it; say so rather than skip silently
        pytest.fail(f"embedded broker unavailable: {exc}")
    yield b
    b.stop()


@pytest.fixture
def fresh_broker():
    """A broker of its own, for tests whose topics and groups must not meet another test's."""
    try:
        b = EmbeddedBroker().start()
    except BrokerUnavailable as exc:
        pytest.fail(f"embedded broker unavailable: {exc}")
    yield b
    b.stop()
