"""The examples in the public modules' docstrings run, and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

FACADE = ["goldrush", "goldrush.actions", "goldrush.dsl.expr", "goldrush.engine.replay", "goldrush.testing",
          "goldrush.explainer", "goldrush.models.checks"]


@pytest.mark.parametrize("name", FACADE)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
