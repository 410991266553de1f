"""Guards of the layout DESIGN.md fixes: platform/ must never shadow the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Top-level modules that a file directly in platform/ (or in trainables/) would shadow for every import.
LIBRARY_NAMES = {"ray", "yaml", "mlflow", "logging", "torch", "optuna", "numpy", "pandas", "json", "typing",
                 "platform", "random", "copy", "types", "os", "io", "uuid", "queue", "signal", "select", "test"}


def test_platform_has_no_init_and_stdlib_platform_works():
    assert not (REPO / "platform" / "__init__.py").exists()
    out = subprocess.run([sys.executable, "-c", "import platform, uuid; print(platform.system()); uuid.uuid4()"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip()


def test_nothing_in_platform_is_named_like_a_library():
    names = {p.stem for p in (REPO / "platform").iterdir() if p.suffix == ".py" or p.is_dir()}
    names |= {p.stem for p in (REPO / "platform" / "sweepbed").glob("*.py")}
    assert not names & (LIBRARY_NAMES | set(sys.stdlib_module_names)), names & LIBRARY_NAMES


def test_sweep_help_documents_every_flag():
    out = subprocess.run([sys.executable, "platform/sweep.py", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0
    for flag in ("--space", "--local", "--out", "--address", "--tracking-uri", "--resume", "--set", "--dry-run",
                 "--data-dir"):
        assert flag in out.stdout
