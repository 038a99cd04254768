"""The ``ember`` command line (compile, inspect, run, bench) and ``python -m ember_runtime`` without ember."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ember
from ember.cli import main

ROOT = Path(__file__).resolve().parents[1]

MODELS = textwrap.dedent("""
    import ember
    from ember import nn


    def mlp():
        ember.manual_seed(3)
        return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


    def two_outputs():
        def forward(x, y):
            return x * y + 1.0, (x - y).sum(dim=1)
        return forward


    def broken():
        raise RuntimeError("no weights today")


    NOT_A_FACTORY = 3
""")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("cli")
    (directory / "models.py").write_text(MODELS)
    return directory


@pytest.fixture(scope="module")
def mlp_artifact(workdir) -> Path:
    """``ember compile models.py:mlp`` with an example batch of 1 (the batch stays dynamic)."""
    path = workdir / "mlp.ember"
    assert main(["compile", f"{workdir / 'models.py'}:mlp", "--example-shape", "1,6", "-o", str(path)]) == 0
    return path


def test_compile_inspect_run(mlp_artifact, workdir, capsys):
    status, out, _ = run_cli(capsys, "inspect", mlp_artifact)
    assert status == 0
    assert "input  input: float32[N, 6]" in out and "output output: float32[N, 3]" in out
    assert "linear x2" in out and "sha256" in out and "cpu.llvm_ir" in out

    status, out, _ = run_cli(capsys, "inspect", mlp_artifact, "--json")
    summary = json.loads(out)
    assert summary["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["N", 6]}]
    assert summary["graph"]["op_counts"]["linear"] == 2
    assert summary["sizes"]["weights"] == (6 * 16 + 16 + 16 * 3 + 3) * 4
    assert summary["sizes"]["file"] == mlp_artifact.stat().st_size
    assert len(summary["checksums"]["file"]) == 64 and "cpu" in summary["targets"]

    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    np.save(workdir / "x.npy", x)
    status, _, _ = run_cli(capsys, "run", mlp_artifact, "--input", workdir / "x.npy", "--output", workdir / "y.npy")
    assert status == 0
    ember.manual_seed(3)  # the factory's weights
    eager = ember.nn.Sequential(ember.nn.Linear(6, 16), ember.nn.Tanh(), ember.nn.Linear(16, 3))
    np.testing.assert_allclose(np.load(workdir / "y.npy"), eager(ember.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)

    status, out, _ = run_cli(capsys, "run", mlp_artifact, "--input", workdir / "x.npy")  # printed, not written
    assert status == 0 and out.startswith("output: float32[5, 3] = [[")


def test_several_inputs_and_outputs(workdir, capsys):
    path = workdir / "two.ember"
    status, out, _ = run_cli(capsys, "compile", f"{workdir / 'models.py'}:two_outputs", "--example-shape", "4,3",
                             "--example-shape", "4,3", "--dtype", "float64", "-o", path)
    assert status == 0 and "saved" in out
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 7, 3))
    np.save(workdir / "a.npy", x)
    np.savez(workdir / "b.npz", y=y)
    status, _, _ = run_cli(capsys, "run", path, "-i", workdir / "a.npy", "-i", workdir / "b.npz",
                           "-o", workdir / "out.npz")
    assert status == 0
    with np.load(workdir / "out.npz") as out:
        assert out.files == ["output.0", "output.1"]
        np.testing.assert_allclose(out["output.0"], x * y + 1.0, rtol=1e-12)
        np.testing.assert_allclose(out["output.1"], (x - y).sum(axis=1), rtol=1e-12)
    status, _, err = run_cli(capsys, "run", path, "-i", workdir / "a.npy", "-i", workdir / "b.npz",
                             "-o", workdir / "out.npy")
    assert status == 2 and "2 outputs" in err and ".npz" in err


def test_static_compile_fixes_the_batch(workdir, capsys):
    path = workdir / "static.ember"
    assert run_cli(capsys, "compile", f"{workdir / 'models.py'}:mlp", "--example-shape", "2,6", "--static",
                   "-o", path)[0] == 0
    status, out, _ = run_cli(capsys, "inspect", path, "--json")
    assert json.loads(out)["inputs"][0]["shape"] == [2, 6]
    np.save(workdir / "x3.npy", np.ones((3, 6), np.float32))
    status, _, err = run_cli(capsys, "run", path, "-i", workdir / "x3.npy")
    assert status == 2 and "input 'input'" in err and len(err.strip().splitlines()) == 1


def test_bench(mlp_artifact, capsys):
    status, out, _ = run_cli(capsys, "bench", mlp_artifact, "--batch", "1,4", "--iters", "3")
    assert status == 0
    assert "load" in out and "| 1 |" in out and "| 4 |" in out and "first call" in out


@pytest.mark.parametrize("argv, message", [
    (["run", "{dir}/missing.ember", "-i", "{dir}/x.npy"], "no such file"),
    (["inspect", "{dir}/corrupt.ember"], "ChecksumMismatch|SHA-256"),
    (["inspect", "{dir}/models.py"], "not an ember artifact"),
    (["compile", "{dir}/models.py", "--example-shape", "1,6", "-o", "{dir}/o.ember"], "MODULE.py:FACTORY"),
    (["compile", "{dir}/nothere.py:mlp", "--example-shape", "1,6", "-o", "{dir}/o.ember"], "no such file"),
    (["compile", "{dir}/models.py:nope", "--example-shape", "1,6", "-o", "{dir}/o.ember"], "no attribute 'nope'"),
    (["compile", "{dir}/models.py:NOT_A_FACTORY", "--example-shape", "1,6", "-o", "{dir}/o.ember"], "not callable"),
    (["compile", "{dir}/models.py:broken", "--example-shape", "1,6", "-o", "{dir}/o.ember"], "no weights today"),
    (["compile", "{dir}/models.py:mlp", "--example-shape", "1,x", "-o", "{dir}/o.ember"], "bad shape"),
    (["compile", "{dir}/models.py:mlp", "--example-shape", "1,7", "-o", "{dir}/o.ember"], "cannot compile"),
    (["compile", "{dir}/models.py:mlp", "--example-shape", "1,6", "--dtype", "float7", "-o", "{dir}/o.ember"],
     "unknown dtype"),
    (["bench", "{dir}/mlp.ember", "--batch", "0"], "positive"),
    (["run", "{dir}/mlp.ember", "-i", "{dir}/models.py"], "cannot read"),
])
def test_errors_are_one_line_with_status_2(mlp_artifact, workdir, capsys, argv, message):
    data = bytearray(mlp_artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (workdir / "corrupt.ember").write_bytes(bytes(data))
    np.save(workdir / "x.npy", np.zeros((2, 6), np.float32))
    status, _, err = run_cli(capsys, *[a.format(dir=workdir) for a in argv])
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("ember: error: ")
    assert any(m in err for m in message.split("|")), err
    assert not (workdir / "o.ember").exists()


BLOCK_EMBER = "import runpy, sys; sys.modules['ember'] = None; sys.argv[0] = 'ember_runtime'; " \
              "runpy.run_module('ember_runtime', run_name='__main__', alter_sys=True)"


def runtime_cli(*argv: object) -> subprocess.CompletedProcess:
    """``python -m ember_runtime ARGV`` in a fresh process where ``import ember`` fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", BLOCK_EMBER, *map(str, argv)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_python_m_ember_runtime_without_ember(mlp_artifact, workdir):
    x = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    np.save(workdir / "x_rt.npy", x)
    done = runtime_cli("run", mlp_artifact, "--input", workdir / "x_rt.npy", "--output", workdir / "y_rt.npy")
    assert done.returncode == 0, done.stderr
    expected = ember.jit.load(mlp_artifact)(ember.tensor(x)).numpy()
    np.testing.assert_array_equal(np.load(workdir / "y_rt.npy"), expected)

    done = runtime_cli("inspect", mlp_artifact)
    assert done.returncode == 0, done.stderr
    assert "float32[N, 6]" in done.stdout and "linear x2" in done.stdout

    data = bytearray(mlp_artifact.read_bytes())
    data[:8] = b"NOTEMBER"
    (workdir / "bad_magic.ember").write_bytes(bytes(data))
    done = runtime_cli("run", workdir / "bad_magic.ember", "--input", workdir / "x_rt.npy")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("ember_runtime: error: ") and "not an ember artifact" in done.stderr
