"""The benchmark scripts run end to end (quick mode) and every row agrees with PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.mark.parametrize("script", ["bench_eager.py", "bench_autograd.py", "bench_train.py"])
def test_benchmark_runs_and_every_case_succeeds(script):
    run = subprocess.run([sys.executable, str(TOOLS / script), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and not line.startswith("| op |")
            and not line.startswith("| case |")]
    assert len(rows) >= 6
    assert not any("n/a" in row or "differ from torch" in row for row in rows), run.stdout


def test_bench_trace_times_every_model_and_checks_it_against_eager():
    run = subprocess.run([sys.executable, str(TOOLS / "bench_trace.py"), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and not line.startswith("| model |")]
    assert [row.split(" | ")[0] for row in rows] == ["| mlp", "| cnn", "| residual", "| attention",
                                                     "| transformer_layer"]
    assert all("matches eager" in row for row in rows), run.stdout


def test_bench_gemm_quick_rows_match_torch():
    run = subprocess.run([sys.executable, str(TOOLS / "bench_gemm.py"), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and not line.startswith("| size |")]
    assert [row.split(" | ")[0] for row in rows] == ["| 64", "| 96"]
    assert all("matches torch" in row for row in rows), run.stdout


def test_bench_jit_quick_rows_match_torch():
    run = subprocess.run([sys.executable, str(TOOLS / "bench_jit.py"), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    tables = {}  # title -> the rows' cells, header and rule left out
    for section in run.stdout.split("### ")[1:]:
        title, *lines = section.splitlines()
        tables[title] = [line.split(" | ") for line in lines if line.startswith("| ")][1:]
    models = ["mlp", "cnn", "residual", "attention"]
    runtimes = ["| ember compiled", "| ember interpreter", "| torch eager", "| TorchScript", "| ONNX Runtime"]
    for model in models:
        assert [(row[0], row[1]) for row in tables[model]] == [(r, b) for b in ("1", "8") for r in runtimes]
        assert not any("n/a" in " ".join(row) for row in tables[model]), run.stdout
        assert all("results match torch" in row[-1] for row in tables[model] if row[0] != "| torch eager")
    compile_times = next(rows for title, rows in tables.items() if title.startswith("Compile time"))
    assert [row[0] for row in compile_times] == [f"| {model}" for model in models]
    gemm = next(rows for title, rows in tables.items() if title.startswith("sgemm"))
    assert [row[0] for row in gemm] == ["| 64", "| 96"] and all("matches torch" in row[-1] for row in gemm)
