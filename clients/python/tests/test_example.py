"""The align example, run as a user runs it, prints the master's verified line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import PYTHON_ROOT


def test_the_align_example_prints_verified_ok(snowflock_home: Path) -> None:
    env = {**os.environ, "SNOWFLOCK_HOME": str(snowflock_home)}
    for name in ("SNOWFLOCK_URL", "SNOWFLOCK_TOKEN"):
        env.pop(name, None)
    run = subprocess.run(
        [sys.executable, str(PYTHON_ROOT / "examples" / "align_cluster.py")], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr + run.stdout
    lines = run.stdout.splitlines()
    assert lines[-1].startswith("align result digest=0x") and lines[-1].endswith("items=12 verified OK"), run.stdout
    assert sum(1 for line in lines if line.startswith("clone ") and ": exited(" in line) == 2, run.stdout
