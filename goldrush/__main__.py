"""`python -m goldrush` runs the `goldrush` command."""

from goldrush.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
