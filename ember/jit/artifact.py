"""Saving a traced model as an ``.ember`` artifact, and loading one back as a callable on ember tensors.

``TracedModule.save(path)`` compiles the graph for the CPU if it is not compiled yet (an artifact always carries
CPU code), then writes the manifest (producer, graph summary and printed IR, signature, the program's calling
convention, memory plan, CPU target) and two sections: the weights (the graph's parameters then constants, as
compiled) and the LLVM IR. ``ember.jit.load(path)`` runs the artifact through ``ember_runtime`` (the same
verification and executor a deployment uses) and wraps it as a :class:`LoadedModule`. The format itself is
``docs/artifact-format.md``; the container code is :mod:`ember_runtime.format`.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tensor.creation import from_numpy
from ..tensor.tensor import Tensor

if TYPE_CHECKING:
    import ember_runtime
    from ember_runtime.format import Section

    from .trace import TracedModule

__all__ = ["IR_SECTION", "LoadedModule", "WEIGHTS_SECTION", "artifact_contents", "load", "save"]

WEIGHTS_SECTION = "weights"
IR_SECTION = "cpu.llvm_ir"


def _required_features(vector_bits: int) -> list[str]:
    """The CPU features of a kernel library blocked for ``vector_bits`` (the rest of the IR is target-independent
    LLVM: its vector width only tunes it)."""
    return {512: ["avx512f"], 256: ["avx2", "fma"]}.get(vector_bits, [])


def artifact_contents(traced: TracedModule) -> tuple[dict, list[Section]]:
    """The manifest (all but ``format`` and ``sections``) and the sections of ``traced``'s artifact.

    Raises:
        NotImplementedError: the graph has an op without an LLVM lowering (the message names it).
    """
    # ember_runtime's CPU engine and kernel library load with the LLVM backend, not with ``import ember``
    from ember_runtime.cpu import host_target
    from ember_runtime.cpu.kernels import DECLARES_LIBRARY, KERNEL_ABI, library_config
    from ember_runtime.format import Section, pack_tensors

    from .. import __version__
    from .llvm.compiled import compile_graph, graph_program

    compiled = traced._compiled
    if compiled is None:
        try:
            compiled = compile_graph(traced.graph, traced.params)
        except NotImplementedError as error:
            raise NotImplementedError(f"{traced.name} cannot be saved: an artifact carries compiled CPU code, and "
                                      f"{error}") from None
    graph = compiled.graph
    program = graph_program(graph, compiled.lowered, [spec.name for spec in traced.outputs])
    weights, tensors = pack_tensors(list(zip(compiled.weight_names, compiled.weights, strict=True)),
                                    WEIGHTS_SECTION)
    host = host_target()
    cpu = {"code": IR_SECTION, "triple": host.triple, "cpu": host.cpu, "llvm_version": host.llvm_version,
           "tuned_features": sorted(host.feature_set), "vector_bits": host.vector_bits, "kernel_abi": KERNEL_ABI,
           "required_features": []}
    if DECLARES_LIBRARY.search(program.ir_text):
        # Weights pre-packed for the kernel library follow its blocking, which follows the vector width: a host
        # must have that width's features and build the same blocking.
        library = library_config()
        cpu["kernel_library"] = dataclasses.asdict(library)
        cpu["required_features"] = _required_features(library.vector_bits)
    described = program.to_json()
    manifest = {
        "producer": {"name": "ember", "version": __version__},
        "graph": {"name": traced.name, "nodes": len(graph.nodes), "ops": dict(sorted(Counter(
            n.op for n in graph.nodes).items())), "text": str(graph)},
        "signature": {"inputs": described["inputs"], "outputs": described["outputs"],
                      "symbols": {name: {"min": low, "max": high}
                                  for name, (low, high) in sorted(program.symbol_ranges.items())}},
        "program": described,
        "memory": {"arena_size": str(program.arena_size), "packed_size": program.packed_size,
                   "weights_bytes": sum(t["nbytes"] for t in tensors)},
        "tensors": tensors,
        "targets": {"cpu": cpu},
    }
    return manifest, [Section("weights", WEIGHTS_SECTION, weights), Section("cpu.llvm_ir", IR_SECTION,
                                                                             program.ir_text.encode())]


def save(traced: TracedModule, path: str | os.PathLike) -> None:
    """Write ``traced`` as an artifact at ``path`` (atomically; the same model gives the same bytes)."""
    from ember_runtime.format import write_artifact

    manifest, sections = artifact_contents(traced)
    write_artifact(path, manifest, sections)


class LoadedModule:
    """An artifact loaded with ``ember.jit.load``: call it with ember tensors (one per input, in order); one output
    comes back as a tensor, several as a tuple. Safe to call from many threads at once.

    Attributes:
        model: the :class:`ember_runtime.Model` that runs it.
        inputs / outputs: :class:`ember_runtime.TensorInfo` (name, NumPy dtype, shape with symbolic dims as str).
    """

    def __init__(self, model: ember_runtime.Model):
        self.model = model
        self.inputs = model.inputs
        self.outputs = model.outputs

    def __call__(self, *tensors: Any) -> Tensor | tuple[Tensor, ...]:
        arrays = [t.detach().numpy() if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
        results = [from_numpy(array) for array in self.model.run(arrays)]
        return results[0] if len(results) == 1 else tuple(results)

    forward = __call__

    def save(self, path: str | os.PathLike) -> None:
        """Write the artifact again: the same bytes as the file it came from."""
        self.model.save(path)

    def __repr__(self) -> str:
        return f"LoadedModule({self.model!r})"


def load(path: str | os.PathLike) -> LoadedModule:
    """Load an artifact written by :meth:`TracedModule.save` (verified and compiled by ``ember_runtime.load``).

    Raises:
        ember_runtime.ArtifactError: the file fails verification (the subclass and message say how).

    Example::

        >>> traced.save("model.ember")
        >>> model = ember.jit.load("model.ember")
        >>> model(ember.randn(3, 784)).shape
        ember.Size([3, 10])
    """
    import ember_runtime

    return LoadedModule(ember_runtime.load(path))
