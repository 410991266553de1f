"""Shared fixtures: a real `mlflow server` on 127.0.0.1, tiny real spaces, helpers to run the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# the read-only data every checkout has beside it (../shared/data: MNIST, Fashion-MNIST IDX files)
SHARED_DATA = REPO.parent / "shared" / "data"
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server (SQLite backend, proxied artifacts), stopped with SIGTERM."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [str(mlflow_bin), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'server.db'}", "--artifacts-destination", str(root / "artifacts")],
        env=env, stdout=open(root / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("mlflow server did not start:\n" + (root / "server.log").read_text()[-3000:])
        time.sleep(0.5)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def rest(url: str, path: str, body: dict | None = None) -> dict:
    """Call MLflow's REST API (GET with query string when body is None)."""
    if body is None:
        with urllib.request.urlopen(f"{url}{path}", timeout=30) as r:
            return json.loads(r.read())
    req = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


TINY_SPACE = {
    "study": "tiny",
    "family": "beta_vae",
    "fixed": {"dataset": "dsprites_procedural", "batch_size": 16, "eval_train_samples": 300,
              "eval_test_samples": 150, "eval_batch_size": 150, "latent_dim": 4},
    "parameters": {"beta": {"values": [1, 8]}},
    "seeds": [0, 1],
    "metric": {"name": "mig", "goal": "maximize"},
    "method": "grid",
    "resources": {"cpu": 1, "gpu": 0},
    "max_concurrent_trials": 2,
    "budget": {"steps": 12, "eval_every": 6, "checkpoint_every": 3},
}


def write_space(path: Path, **changes) -> Path:
    space = json.loads(json.dumps(TINY_SPACE))
    for key, value in changes.items():
        space[key] = value
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def run_cli(*args: str, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(REPO / "platform" / "sweep.py"), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=kw.get("cwd", REPO))


def sweep_dir_of(out: Path, study: str = "tiny") -> Path:
    dirs = [p for p in (out / study).iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]
