"""Replay throughput vs json.loads (issue: engine core). Same as `goldrush bench replay`.

    python benchmarks/replay.py [--events 300000] [--tenants 1000] [--repeat 3]
"""

import sys

from goldrush.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", "replay", *sys.argv[1:]]))
