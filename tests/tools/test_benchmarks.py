"""The benchmark scripts run end to end (quick mode) and every row agrees with PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.mark.parametrize("script", ["bench_eager.py", "bench_autograd.py"])
def test_benchmark_runs_and_every_case_succeeds(script):
    run = subprocess.run([sys.executable, str(TOOLS / script), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and not line.startswith("| op |")
            and not line.startswith("| case |")]
    assert len(rows) >= 6
    assert not any("n/a" in row or "differ from torch" in row for row in rows), run.stdout
