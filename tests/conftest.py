"""Shared fixtures. Tests that need Kafka start the embedded broker on a free port."""

from __future__ import annotations

import pytest

from goldrush.broker import BrokerUnavailable, EmbeddedBroker


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
