"""`--address` joins a running multi-node Ray cluster (two local nodes) and ships the code to its
workers with Ray's runtime env (py_modules), not through the driver's sys.path."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import sweep_dir_of, write_space

pytestmark = pytest.mark.slow


def test_sweep_joins_a_two_node_cluster_and_uses_both_nodes(tmp_path, monkeypatch):
    import ray
    from ray.cluster_utils import Cluster

    from sweepbed.cli import main

    # Workers must not find our code through an inherited PYTHONPATH: only the runtime env ships it.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        space = write_space(tmp_path / "s.yaml", budget={"steps": 6, "eval_every": 6, "checkpoint_every": 6})
        out = tmp_path / "out"
        assert main(["--space", str(space), "--out", str(out), "--address", cluster.address]) == 0
    finally:
        ray.shutdown()
        cluster.shutdown()
    sweep = sweep_dir_of(out)
    df = pd.read_parquet(sweep / "trials.parquet")
    assert len(df) == 4 and set(df["status"]) == {"done"}
    nodes = set()
    for path in (sweep / "ray").rglob("result.json"):
        nodes |= {json.loads(line)["node_id"] for line in path.read_text().splitlines()}
    assert len(nodes) == 2  # one CPU per node, two concurrent one-CPU groups: both nodes worked
