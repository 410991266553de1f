"""cluster.yaml validated offline by Ray's own launcher code, plus the ordering rules it must keep.

`ray up` itself needs boto3 and AWS credentials (it bootstraps IAM roles, security groups, subnets).
`prepare_config` does not: for provider type aws it only merges ray/autoscaler/aws/defaults.yaml,
folds setup_commands into head/worker setup commands and fills per-type min/max workers, all locally.
`validate_config` then checks Ray's JSON schema (additionalProperties: false, so a misspelled key is an
error) and the head/worker-count rules. That pair is exactly what `ray up` runs before bootstrapping.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


@pytest.fixture(scope="module")
def prepared(raw) -> dict:
    cfg = prepare_config(copy.deepcopy(raw))
    validate_config(cfg)
    return cfg


def test_validates_with_rays_own_schema(prepared):
    assert prepared["provider"]["type"] == "aws" and prepared["provider"]["region"] == "us-west-2"
    assert prepared["docker"] == {}  # docker-free: commands run on the host
    head = prepared["available_node_types"][prepared["head_node_type"]]
    assert "GPU" not in head["resources"] and head["max_workers"] == 0
    gpu_types = {k: v for k, v in prepared["available_node_types"].items() if v["resources"].get("GPU")}
    assert len(gpu_types) == 1
    (worker,) = gpu_types.values()
    assert worker["resources"]["GPU"] == 1 and worker["min_workers"] == 0 and worker["max_workers"] == 8
    assert prepared["max_workers"] == 8


def test_repo_is_shipped_and_requirements_installed(prepared):
    assert prepared["file_mounts"]["~/sweepbed"] == "."
    assert ".venv" in prepared["rsync_exclude"]
    for key in ("head_setup_commands", "worker_setup_commands"):  # prepare_config merged setup_commands in
        cmds = prepared[key]
        venv = next(i for i, c in enumerate(cmds) if "venv" in c and "sweepbed-venv" in c)
        install = next(i for i, c in enumerate(cmds) if "pip install -r ~/sweepbed/requirements.txt" in c)
        assert venv < install, key


def _index(cmds: list[str], needle: str) -> int:
    hits = [i for i, c in enumerate(cmds) if needle in c]
    assert hits, f"no command contains {needle!r}: {cmds}"
    return hits[0]


def test_mps_daemon_starts_before_ray_on_workers_only(prepared):
    workers = prepared["worker_start_ray_commands"]
    assert _index(workers, "nvidia-cuda-mps-control -d") < _index(workers, "ray start --address=$RAY_HEAD_IP:6379")
    assert not any("mps" in c for c in prepared["head_start_ray_commands"])
    head_start = prepared["head_start_ray_commands"][_index(prepared["head_start_ray_commands"], "ray start")]
    assert "--head --port=6379" in head_start and "--autoscaling-config=~/ray_bootstrap_config.yaml" in head_start
    # every ray start sees the environment file (venv on PATH, Train's report interval)
    for c in prepared["head_start_ray_commands"] + workers:
        assert c.startswith("source ~/sweepbed-env.sh && ")


def test_misspelled_keys_are_rejected(raw):
    for mutate, bad_key in (
        (lambda c: c.__setitem__("setup_command", c.pop("setup_commands")), "setup_command"),
        (lambda c: c["available_node_types"]["ray.worker.gpu"].__setitem__("min_worker", 0), "min_worker"),
        (lambda c: c.__setitem__("worker_start_commands", c.pop("worker_start_ray_commands")),
         "worker_start_commands"),
    ):
        cfg = copy.deepcopy(raw)
        mutate(cfg)
        with pytest.raises(jsonschema.ValidationError, match=bad_key):
            validate_config(prepare_config(cfg))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_env_file_and_start_commands_behave_in_a_shell(prepared, tmp_path):
    """Run the environment-file setup commands twice against a scratch HOME (idempotent, .bashrc gets one
    line at the top), and the MPS command on this GPU-less machine (skipped, exit 0)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("case $- in *i*) ;; *) return;; esac\n")
    setup = prepared["worker_setup_commands"]
    env_cmds = setup[_index(setup, "> ~/sweepbed-env.sh"):]
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    for _ in range(2):
        for cmd in env_cmds:
            subprocess.run(["bash", "-c", cmd], env=env, check=True, timeout=30)
    bashrc = (home / ".bashrc").read_text().splitlines()
    assert bashrc[0] == "source ~/sweepbed-env.sh" and bashrc.count("source ~/sweepbed-env.sh") == 1
    shown = subprocess.run(
        ["bash", "-c", "source ~/sweepbed-env.sh && echo $RAY_TRAIN_HEALTH_CHECK_INTERVAL_S $CUDA_MPS_PIPE_DIRECTORY"
                       " && echo $PATH"],
        env=env, check=True, capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert shown[0] == "0.1 /tmp/nvidia-mps"
    assert shown[1].startswith(f"{home}/sweepbed-venv/bin:")
    if shutil.which("nvidia-smi") is None:
        mps = prepared["worker_start_ray_commands"][_index(prepared["worker_start_ray_commands"], "mps-control -d")]
        done = subprocess.run(["bash", "-c", mps], env=env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
