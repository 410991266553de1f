"""The append-only results store of a sweep directory.

Every trial that reaches a final state is appended as one JSON line to ``trials.jsonl`` (flushed and
fsynced before the sweep goes on), so a crash or kill loses no finished result. ``trials.parquet``
(DESIGN.md's contract) is rebuilt from the JSONL after each group; on a duplicate trial id the
later line wins (a failed trial retried by ``--resume``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

FINAL_STATUSES = ("done", "failed", "diverged", "pruned")
# Statuses a resumed sweep does not run again: they are the deterministic outcome of the trial.
SETTLED_STATUSES = ("done", "diverged", "pruned")


class ResultsStore:
    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.jsonl = self.sweep_dir / "trials.jsonl"
        self.parquet = self.sweep_dir / "trials.parquet"

    def append(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        for row in rows:
            if row.get("status") not in FINAL_STATUSES:
                raise ValueError(f"trial {row.get('trial_id')}: status {row.get('status')!r} is not final")
        text = "".join(json.dumps(_jsonable(r), sort_keys=True) + "\n" for r in rows)
        with open(self.jsonl, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    def records(self) -> list[dict[str, Any]]:
        if not self.jsonl.exists():
            return []
        latest: dict[str, dict[str, Any]] = {}
        with open(self.jsonl, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash mid-write: that trial is simply not finished
                latest[row["trial_id"]] = row
        return list(latest.values())

    def settled_trial_ids(self) -> set[str]:
        return {r["trial_id"] for r in self.records() if r.get("status") in SETTLED_STATUSES}

    def dataframe(self) -> pd.DataFrame:
        rows = self.records()
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        front = ["trial_id", "group_id", "family", "dataset", "seed", "status"]
        cols = [c for c in front if c in df.columns]
        cols += sorted(c for c in df.columns if c not in cols)
        return df[cols]

    def write_parquet(self) -> Path:
        df = self.dataframe()
        tmp = self.parquet.with_suffix(".parquet.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, self.parquet)  # readers never see a half-written table
        return self.parquet


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None if math.isnan(v) else v  # NaN is not JSON; inf survives via Python's json
        out[k] = v
    return out
