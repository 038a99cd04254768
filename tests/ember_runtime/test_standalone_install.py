"""``pip install ./runtime`` gives a working ember_runtime alone: numpy and llvmlite, no ember.

Slow (it creates a virtual environment and installs numpy and llvmlite from the package index), so it runs with
``-m slow`` only. The runtime's source is copied with its symlink resolved, so the build leaves nothing behind in
the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ember

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_runtime_installs_and_runs_alone(tmp_path):
    source = tmp_path / "runtime-src"
    shutil.copytree(ROOT / "runtime", source, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(source)], capture_output=True,
                             text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                            check=True).stdout.lower()
    names = {line.split("==")[0] for line in listed.splitlines()}
    assert {"ember-runtime", "numpy", "llvmlite"} <= names and "ember" not in names

    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(5, 7), ember.nn.GELU(), ember.nn.Linear(7, 2)).eval()
    traced = ember.jit.trace(model, ember.randn(4, 5))
    traced.save(tmp_path / "model.ember")
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)

    # Run outside the checkout, with no PYTHONPATH: only the installed package can answer.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    check = subprocess.run([str(python), "-c", "import ember"], capture_output=True, text=True, cwd=tmp_path,
                           env=env)
    assert check.returncode != 0 and "No module named 'ember'" in check.stderr
    done = subprocess.run([str(python), "-m", "ember_runtime", "run", "model.ember", "--input", "x.npy", "--output",
                           "y.npy"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model(ember.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    done = subprocess.run([str(python), "-m", "ember_runtime", "inspect", "model.ember"], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0 and "float32[N, 5]" in done.stdout, done.stderr
