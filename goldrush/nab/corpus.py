"""Load the NAB corpus (58 CSV series plus labelled windows) into plain arrays.

The data directory is optional: `default_data_dir()` looks in `GOLDRUSH_NAB_DATA`, then
in the checkout's sibling `../shared/data/nab`; callers skip or fail clearly when absent.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROBATION_FRACTION = 0.15
PROBATION_CAP = 750


class CorpusMissing(FileNotFoundError):
    """The NAB data directory is absent or incomplete."""


@dataclass(frozen=True)
class Series:
    """One NAB file: `name` is `category/file.csv`, windows are inclusive row ranges."""

    name: str
    timestamps: tuple[str, ...]
    values: np.ndarray
    windows: tuple[tuple[int, int], ...]

    @property
    def category(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def file(self) -> str:
        return self.name.split("/", 1)[1]

    @property
    def probation(self) -> int:
        return probation_rows(len(self.values))


def probation_rows(n: int) -> int:
    return min(int(PROBATION_FRACTION * n), PROBATION_CAP)


def default_data_dir() -> Path:
    env = os.environ.get("GOLDRUSH_NAB_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    return here.parent / "shared" / "data" / "nab"


def _timestamp_key(ts: str) -> str:
    # Labels carry microseconds ("2014-02-19 10:50:00.000000"), the CSVs do not.
    return ts[:-7] if ts.endswith(".000000") else ts


def load_corpus(data_dir: Path | str | None = None) -> list[Series]:
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    labels = root / "labels" / "combined_windows.json"
    if not labels.is_file() or not (root / "data").is_dir():
        raise CorpusMissing(
            f"NAB data not found under {root} (need data/ and labels/combined_windows.json); "
            "pass --data DIR or set GOLDRUSH_NAB_DATA. The corpus is Numenta's NAB repository: "
            "git clone https://github.com/numenta/NAB and pass --data NAB")
    windows = json.loads(labels.read_text())
    corpus = []
    for name in sorted(windows):
        path = root / "data" / name
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        if rows[0] != ["timestamp", "value"]:
            raise CorpusMissing(f"{path}: expected header timestamp,value, got {rows[0]}")
        stamps = tuple(r[0] for r in rows[1:])
        index = {ts: i for i, ts in enumerate(stamps)}
        spans = []
        for start, end in windows[name]:
            try:
                spans.append((index[_timestamp_key(start)], index[_timestamp_key(end)]))
            except KeyError as exc:
                raise CorpusMissing(f"{name}: window bound {exc.args[0]} is not a timestamp in the file") from None
        values = np.array([float(r[1]) for r in rows[1:]], dtype=np.float64)
        corpus.append(Series(name, stamps, values, tuple(spans)))
    return corpus
