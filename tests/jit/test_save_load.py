"""``TracedModule.save`` and ``ember.jit.load``: the five models of tests/jit/models.py round-trip through an
artifact (eager == traced == ember_runtime == ember.jit.load), and the bytes are stable."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember_runtime
from ember.jit.llvm import codegen
from tests.jit.models import MODELS, randomise_batchnorm

TOLERANCE = 1e-5


def _model(case):
    ember.manual_seed(0)
    model = case.build(ember)
    randomise_batchnorm(model, ember)
    return model.eval()


@pytest.mark.parametrize("case", MODELS, ids=[c.name for c in MODELS])
def test_round_trip(case, tmp_path):
    model = _model(case)
    traced = ember.jit.trace(model, case.make(ember, 4, 6), dynamic_dims=case.dynamic_dims, backend="llvm")
    path = tmp_path / f"{case.name}.ember"
    traced.save(path)

    runtime_model = ember_runtime.load(path)
    loaded = ember.jit.load(path)
    assert [i.name for i in loaded.inputs] == [s.name for s in traced.inputs]
    for batch, length in ((3, 7), (1, 2)):
        x = case.make(ember, batch, length)
        with ember.no_grad():
            eager = model(x).numpy()
        from_traced = traced(x).numpy()
        from_runtime = runtime_model(x.numpy())
        from_loaded = loaded(x)
        assert isinstance(from_loaded, ember.Tensor) and tuple(from_loaded.shape) == from_runtime.shape
        np.testing.assert_allclose(from_traced, eager, rtol=TOLERANCE, atol=TOLERANCE)
        np.testing.assert_allclose(from_runtime, eager, rtol=TOLERANCE, atol=TOLERANCE)
        np.testing.assert_array_equal(from_loaded.numpy(), from_runtime)

    # save -> load -> save, and saving the same traced model again, give the same bytes
    loaded.save(tmp_path / "again.ember")
    traced.save(tmp_path / "twice.ember")
    assert (tmp_path / "again.ember").read_bytes() == path.read_bytes()
    assert (tmp_path / "twice.ember").read_bytes() == path.read_bytes()

    manifest = runtime_model.manifest
    assert manifest["producer"] == {"name": "ember", "version": ember.__version__}
    assert manifest["graph"]["nodes"] == len(traced.graph.nodes) and manifest["graph"]["text"] == str(traced.graph)
    assert [t["name"] for t in manifest["tensors"]] == [v.name for v in traced.graph.params] + \
        [f"constant{i}" for i in range(len(traced.graph.constants))]


def test_an_interpreted_trace_compiles_for_saving(tmp_path):
    case = MODELS[0]
    model = _model(case)
    example = case.make(ember, 4, 6)
    interpreted = ember.jit.trace(model, example, backend="interpreter")
    assert interpreted.backend == "interpreter" and interpreted._compiled is None
    interpreted.save(tmp_path / "interpreted.ember")
    ember.jit.trace(model, example, backend="llvm").save(tmp_path / "compiled.ember")
    assert (tmp_path / "interpreted.ember").read_bytes() == (tmp_path / "compiled.ember").read_bytes()
    x = case.make(ember, 2, 6)
    np.testing.assert_allclose(ember.jit.load(tmp_path / "interpreted.ember")(x).numpy(), interpreted(x).numpy(),
                               rtol=TOLERANCE, atol=TOLERANCE)


def test_an_op_without_lowering_cannot_be_saved(tmp_path, monkeypatch):
    traced = ember.jit.trace(lambda x: ember.tanh(x) * 2, ember.randn(3, 4), backend="interpreter")
    monkeypatch.delitem(codegen.LOWERINGS, traced.graph.nodes[0].op)
    with pytest.raises(NotImplementedError, match=f"cannot be saved.*{traced.graph.nodes[0].op}"):
        traced.save(tmp_path / "never.ember")
    assert not (tmp_path / "never.ember").exists()


def test_loaded_module_returns_tuples_for_several_outputs(tmp_path):
    def two(x, y):
        return x + y, (x * y).sum(dim=1)

    x, y = ember.randn(5, 3), ember.randn(5, 3)
    ember.jit.trace(two, (x, y)).save(tmp_path / "two.ember")
    loaded = ember.jit.load(tmp_path / "two.ember")
    total, product = loaded(x, y)
    np.testing.assert_allclose(total.numpy(), (x + y).numpy(), rtol=TOLERANCE)
    np.testing.assert_allclose(product.numpy(), (x * y).sum(dim=1).numpy(), rtol=TOLERANCE, atol=TOLERANCE)
    assert "LoadedModule(" in repr(loaded)
    (tmp_path / "broken.ember").write_bytes((tmp_path / "two.ember").read_bytes()[:-1])
    with pytest.raises(ember_runtime.Truncated):
        ember.jit.load(tmp_path / "broken.ember")
