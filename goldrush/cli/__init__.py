"""The `goldrush` command: one module per subcommand family; `main` is the entry point."""

from goldrush.cli.main import main

__all__ = ["main"]
