"""``ember_runtime.load``: running a real artifact, the load-time checks (CPU target, LLVM IR), threads, and
running without ember importable at all."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import ember
import ember_runtime
from ember_runtime import errors
from ember_runtime.format import Section, read_artifact, write_artifact

REPO = Path(__file__).resolve().parents[2]


class _Net(ember.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = ember.nn.Linear(12, 24)
        self.fc2 = ember.nn.Linear(24, 5)

    def forward(self, x):
        hidden = ember.tanh(self.fc1(x))
        return self.fc2(hidden), hidden.sum(dim=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[Path, ember.nn.Module]:
    ember.manual_seed(0)
    net = _Net().eval()
    path = tmp_path_factory.mktemp("artifact") / "net.ember"
    ember.jit.trace(net, ember.randn(4, 12), backend="llvm").save(path)
    return path, net


def _inputs(batch: int) -> np.ndarray:
    return np.random.default_rng(batch).standard_normal((batch, 12)).astype(np.float32)


def _expected(net, x: np.ndarray) -> list[np.ndarray]:
    with ember.no_grad():
        return [t.numpy() for t in net(ember.tensor(x))]


def test_load_and_run_matches_eager(saved):
    path, net = saved
    model = ember_runtime.load(path)
    assert [(i.name, i.dtype, i.shape) for i in model.inputs] == [("x", np.dtype("float32"), ("N", 12))]
    assert [i.shape for i in model.outputs] == [("N", 5), ("N",)]
    for batch in (1, 3, 17):
        x = _inputs(batch)
        logits, sums = model(x)
        ref = _expected(net, x)
        np.testing.assert_allclose(logits, ref[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sums, ref[1], rtol=1e-5, atol=1e-5)
        run = model.run([x])
        assert isinstance(run, list) and len(run) == 2
        np.testing.assert_array_equal(run[0], logits)
    assert "Model(" in repr(model) and "x: float32[N, 12]" in repr(model)


def test_call_errors_name_the_input(saved):
    model = ember_runtime.load(saved[0])
    with pytest.raises(TypeError, match="takes 1 inputs"):
        model(_inputs(2), _inputs(2))
    with pytest.raises(TypeError, match="input 'x' must have dtype float32"):
        model(_inputs(2).astype(np.float64))
    with pytest.raises(RuntimeError, match="input 'x'"):
        model(np.zeros((2, 13), np.float32))
    with pytest.raises(TypeError, match="list of arrays"):
        model.run(_inputs(2))


def test_only_the_cpu_device(saved):
    with pytest.raises(ValueError, match="device 'cuda' is not supported"):
        ember_runtime.load(saved[0], device="cuda")


def _craft(source: Path, tmp_path: Path, edit_manifest=None, edit_ir=None) -> Path:
    """A copy of ``source`` with its manifest or IR edited and every checksum recomputed (a consistent file
    whose content the load-time checks must refuse)."""
    artifact = read_artifact(source)
    manifest = copy.deepcopy(artifact.manifest)
    sections = artifact.to_sections()
    if edit_manifest is not None:
        edit_manifest(manifest)
    if edit_ir is not None:
        sections = [Section(s.kind, s.name, edit_ir(bytes(s.data).decode()).encode(), s.attributes)
                    if s.kind == "cpu.llvm_ir" else s for s in sections]
    path = tmp_path / "crafted.ember"
    write_artifact(path, manifest, sections)
    return path


def _code_offset(path: Path) -> int:
    return next(s["offset"] for s in read_artifact(path).manifest["sections"] if s["kind"] == "cpu.llvm_ir")


def _cpu(edit):
    return lambda manifest: edit(manifest["targets"]["cpu"])


@pytest.mark.parametrize("edit, error, fragment", [
    (_cpu(lambda cpu: cpu.update(required_features=["avx512f", "ember-imaginary-feature"])),
     errors.MissingCpuFeatures, "ember-imaginary-feature"),
    (_cpu(lambda cpu: cpu.update(kernel_library={**cpu.get("kernel_library", {}), "nr": 999})),
     errors.MissingCpuFeatures, "kernel library of another vector width"),
    (_cpu(lambda cpu: cpu.update(kernel_abi=cpu["kernel_abi"] + 1)), errors.UnsupportedVersion, "kernel library ABI"),
    (_cpu(lambda cpu: cpu.update(code="nowhere")), errors.MalformedManifest, "code section is missing"),
    (lambda m: m.pop("targets"), errors.MalformedManifest, "targets.cpu is missing"),
    (lambda m: m["program"].update(arena_size="N+"), errors.MalformedManifest, "program is missing or malformed"),
    (lambda m: m["program"].update(n_weights=1), errors.MalformedManifest, "4 weight specs for 1 weights"),
    (lambda m: (m["program"].update(n_weights=1), m["program"].update(weights=m["program"]["weights"][:1])),
     errors.MalformedManifest, "does not hold the program's weights"),
    (lambda m: m["program"]["weights"][0].update(shape=[2, 2]), errors.MalformedManifest,
     "does not match the program's weight"),
    (lambda m: m["program"].update(prepare=None), errors.MalformedManifest, "needs a prepare entry"),
    (lambda m: m["program"].update(entry="no_such_entry"), errors.MalformedSection, "no_such_entry"),
])
def test_target_and_program_checks(saved, tmp_path, edit, error, fragment):
    path = _craft(saved[0], tmp_path, edit_manifest=edit)
    with pytest.raises(error, match=fragment) as info:
        ember_runtime.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("edit, error, fragment", [
    (lambda ir: ir + "\ndeclare void @system(ptr)\n", errors.ForbiddenSymbol, "@system"),
    (lambda ir: ir + "\ndeclare i64 @llvm.read_register.i64(metadata)\n", errors.ForbiddenSymbol,
     "@llvm.read_register.i64"),
    (lambda ir: ir + "\ndeclare float @ember_rt_not_in_this_runtime(float)\n", errors.ForbiddenSymbol,
     "outside the runtime's allow-list"),
    (lambda ir: ir + "\ndeclare void @ember_set_num_threads(i64)\n", errors.ForbiddenSymbol,
     "@ember_set_num_threads.*ember_parallel_for, ember_rt_pack_a"),
    (lambda ir: ir + "\n@environ = external global ptr\n", errors.ForbiddenSymbol, "@environ"),
    (lambda ir: ir + '\ndefine void @evil() {\n  call void asm sideeffect "syscall", ""()\n  ret void\n}\n',
     errors.InlineAssembly, "@evil calls inline assembly"),
    (lambda ir: ir + '\nmodule asm "nop"\n', errors.InlineAssembly, "module-level assembly"),
    (lambda ir: ir[: len(ir) // 2], errors.MalformedSection, "does not parse"),
])
def test_ir_checks(saved, tmp_path, edit, error, fragment):
    path = _craft(saved[0], tmp_path, edit_ir=edit)
    with pytest.raises(error, match=fragment) as info:
        ember_runtime.load(path)
    assert info.value.offset == _code_offset(path) and "section 'cpu.llvm_ir'" in str(info.value)


def test_eight_threads_share_one_model(saved):
    model = ember_runtime.load(saved[0])
    batches = [1, 2, 3, 5, 8, 13, 21, 34]
    inputs = {b: _inputs(b) for b in batches}
    expected = {b: model(inputs[b]) for b in batches}
    start = threading.Barrier(len(batches))
    failures: list[str] = []

    def worker(batch: int) -> None:
        start.wait()
        for _ in range(50):
            got = model(inputs[batch])
            if not all(np.array_equal(g, e) for g, e in zip(got, expected[batch], strict=True)):
                failures.append(f"batch {batch}")
                return

    threads = [threading.Thread(target=worker, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


ISOLATED = textwrap.dedent("""
    import sys

    class BlockEmber:
        def find_spec(self, name, path=None, target=None):
            if name == "ember" or name.startswith("ember."):
                raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, BlockEmber())
    import numpy as np
    import ember_runtime

    model = ember_runtime.load(sys.argv[1])
    np.save(sys.argv[3], model(np.load(sys.argv[2]))[0])
    try:
        import ember  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("ember was importable")
    assert not any(m == "ember" or m.startswith("ember.") for m in sys.modules), sorted(sys.modules)
    print("isolated ok")
""")


def test_runs_without_ember(saved, tmp_path):
    path, net = saved
    x = _inputs(6)
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", ISOLATED, str(path), str(tmp_path / "x.npy"),
                             str(tmp_path / "y.npy")], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "isolated ok" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), _expected(net, x)[0], rtol=1e-5, atol=1e-5)
