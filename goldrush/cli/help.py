"""Every option's help says its default: added by the formatter where the text does not already.

Several options hid their defaults (`demo --tenants`, `broker --port`, `produce --batch` …);
writing "(default X)" by hand in each help string is how they went missing.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator


def has_default(action: argparse.Action) -> bool:
    return action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0


class DefaultsHelp(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if has_default(action) and "default" not in text.lower() and (action.option_strings or action.nargs == "?"):
            text = f"{text} (default: %(default)s)".strip()
        return text


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """The parser and every subcommand's parser, with their command path."""
    yield path, parser
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk of subparsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def show_defaults(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for _, p in parsers(parser):
        p.formatter_class = DefaultsHelp
    return parser
