"""``ember_runtime.load(path)``: a verified artifact compiled for this CPU, callable with NumPy arrays.

Loading reads and verifies the container (:func:`~ember_runtime.format.read_artifact`), checks that the CPU
target's kernel ABI is this runtime's and that the host has every feature the code requires, checks the LLVM IR
(:func:`~ember_runtime.verify_ir.verify_ir`), compiles it (the engine caches the machine code per user, keyed by
the IR, the host CPU and the LLVM version, so a second load skips the compiler) and binds the memory-mapped
weights to an :class:`~ember_runtime.cpu.executor.Executor`. Nothing of ember is imported.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .cpu import compile_module, host_target
from .cpu.executor import Executor, Program, TensorSpec
from .cpu.kernels import KERNEL_ABI, library_config
from .errors import MalformedManifest, MalformedSection, MissingCpuFeatures, UnsupportedVersion
from .format import Artifact, read_artifact
from .verify_ir import verify_ir

__all__ = ["ENTRY_TYPE", "Model", "TensorInfo", "load"]

# The LLVM type of a program's entry functions (the calling convention of ember_runtime.cpu.executor).
ENTRY_TYPE = "i64 (ptr, ptr)"


class TensorInfo(NamedTuple):
    """A model input or output: name, NumPy dtype, and shape (ints, and size expressions such as ``"N"`` or
    ``"4*N"`` as strings)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | str, ...]


def _info(spec: TensorSpec) -> TensorInfo:
    return TensorInfo(spec.name, spec.dtype, tuple(d if isinstance(d, int) else str(d) for d in spec.shape))


class Model:
    """A loaded artifact: ``model(x)`` or ``model.run([x, ...])``; safe to call from many threads at once.

    Attributes:
        path: the artifact file.
        manifest: its manifest (a dict, as ``docs/artifact-format.md`` describes).
        program: the calling convention (:class:`~ember_runtime.cpu.executor.Program`).
        from_cache: whether the machine code came from the per-user cache (no compile).

    Example::

        >>> model = ember_runtime.load("digits.ember")
        >>> model.inputs
        [TensorInfo(name='x', dtype=dtype('float32'), shape=('N', 784))]
        >>> logits = model(np.zeros((8, 784), np.float32))
    """

    def __init__(self, artifact: Artifact, program: Program, executor: Executor, from_cache: bool):
        self.artifact = artifact
        self.path = artifact.path
        self.manifest = artifact.manifest
        self.program = program
        self.from_cache = from_cache
        self._executor = executor

    @property
    def inputs(self) -> list[TensorInfo]:
        return [_info(spec) for spec in self.program.inputs]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [_info(spec) for spec in self.program.outputs]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The outputs (new arrays) for ``inputs``, in :attr:`inputs` order.

        Raises:
            TypeError: a wrong number of inputs, or an input of the wrong dtype.
            RuntimeError: a rank, static size or symbolic size that disagrees with the signature (the message
                names the input); IndexError and friends as the eager op raises them on bad data.
        """
        if isinstance(inputs, np.ndarray):
            raise TypeError("Model.run takes a list of arrays (one per input); call the model for a single array")
        return self._executor.run(inputs)

    def __call__(self, *arrays: np.ndarray) -> np.ndarray | tuple[np.ndarray, ...]:
        """``run(arrays)``: one output as an array, several as a tuple."""
        outputs = self._executor.run(arrays)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def save(self, path: str | os.PathLike) -> None:
        """Write the artifact again (the same bytes as the file it was loaded from)."""
        self.artifact.save(path)

    def __repr__(self) -> str:
        def show(infos: list[TensorInfo]) -> str:
            return ", ".join(f"{i.name}: {i.dtype.name}[{', '.join(map(str, i.shape))}]" for i in infos)

        return f"Model({self.path}: ({show(self.inputs)}) -> ({show(self.outputs)}))"


def _cpu_target(artifact: Artifact) -> dict:
    """The manifest's CPU target, checked against this runtime and this host."""
    path = artifact.path
    target = artifact.manifest.get("targets", {}).get("cpu") if isinstance(artifact.manifest.get("targets"),
                                                                            dict) else None
    schema = {"code": str, "kernel_abi": int, "required_features": list}
    if not isinstance(target, dict) or any(not isinstance(target.get(k), t) for k, t in schema.items()) \
            or not all(isinstance(f, str) for f in target["required_features"]):
        raise MalformedManifest(path, "manifest", "targets.cpu is missing or malformed",
                                expected="{code, kernel_abi, required_features, ...}", found=target)
    if target["kernel_abi"] != KERNEL_ABI:
        raise UnsupportedVersion(path, "targets.cpu", "the code was built for another kernel library ABI",
                                 expected=KERNEL_ABI, found=target["kernel_abi"])
    host = host_target()
    missing = sorted(f for f in target["required_features"] if f not in host.feature_set)
    if missing:
        raise MissingCpuFeatures(path, "targets.cpu", f"this CPU ({host.cpu}, {host.triple}) lacks features the code "
                                 f"requires: {missing}", expected=sorted(target["required_features"]),
                                 found=f"a CPU without {missing}")
    library = target.get("kernel_library")
    if library is not None and library != dataclasses.asdict(library_config()):
        raise MissingCpuFeatures(path, "targets.cpu", "the weights were packed for the kernel library of another "
                                 "vector width than this CPU's", expected=library,
                                 found=dataclasses.asdict(library_config()))
    return target


def _program(artifact: Artifact, ir_text: str) -> Program:
    try:
        program = Program.from_json(artifact.manifest.get("program"), ir_text)
    except (ValueError, RecursionError) as error:
        raise MalformedManifest(artifact.path, "manifest", f"the program is missing or malformed: {error}") from None
    if program.n_weights != len(artifact.tensors):
        raise MalformedManifest(artifact.path, "manifest", "the tensor table does not hold the program's weights",
                                expected=f"{program.n_weights} tensors", found=len(artifact.tensors))
    for spec, (name, tensor) in zip(program.weights, artifact.tensors.items(), strict=False):
        if tensor.dtype != spec.dtype or tuple(tensor.shape) != spec.shape:
            raise MalformedManifest(artifact.path, f"tensor '{name}'", "the tensor table does not match the program's "
                                    f"weight '{spec.name}'", expected=f"{spec.dtype.name}{list(spec.shape)}",
                                    found=f"{tensor.dtype.name}{list(tensor.shape)}")
    return program


def load(path: str | os.PathLike, device: str = "cpu") -> Model:
    """Load, verify and compile the artifact at ``path`` for ``device``.

    Args:
        path: an ``.ember`` file (``TracedModule.save`` or ``ember compile`` wrote it).
        device: ``"cpu"`` (CUDA code comes with the CUDA runtime; other devices raise ``ValueError``).

    Returns:
        A :class:`Model`.

    Raises:
        ArtifactError: a subclass naming what failed (bad magic, unsupported version, checksum, truncation,
            offsets, malformed manifest or section, missing CPU features, forbidden symbol, inline assembly).
        ValueError: a device other than the CPU.
        OSError: the file cannot be read.
    """
    if not isinstance(device, str) or device.split(":")[0] != "cpu":
        raise ValueError(f"ember_runtime.load: device {device!r} is not supported by this runtime; only 'cpu' is "
                         "(artifacts reserve sections for CUDA code, which the CUDA runtime will load)")
    artifact = read_artifact(path)
    target = _cpu_target(artifact)
    entry = next((e for e in artifact.manifest["sections"] if e["name"] == target["code"]), None)
    if entry is None or entry["kind"] != "cpu.llvm_ir":
        raise MalformedManifest(artifact.path, "targets.cpu", "the code section is missing or not LLVM IR",
                                expected="a section of kind 'cpu.llvm_ir'", found=entry)
    part = f"section '{entry['name']}'"
    ir_text = artifact.text(entry["name"])
    defined = verify_ir(ir_text, path=artifact.path, part=part, offset=entry["offset"])
    program = _program(artifact, ir_text)
    for name in (program.entry, *([] if program.prepare is None else [program.prepare])):
        # asking MCJIT for a missing or empty name aborts the process, and a call of another type would read
        # garbage arguments: check before compiling
        if defined.get(name) != ENTRY_TYPE:
            raise MalformedSection(artifact.path, part, f"the program's entry @{name} is not defined as it must be",
                                   offset=entry["offset"], expected=f"{ENTRY_TYPE} @{name}",
                                   found=defined.get(name, "no such function"))
    try:
        module = compile_module(ir_text)
        executor = Executor(program, list(artifact.tensors.values()), module)
    except (ValueError, KeyError) as error:
        raise MalformedSection(artifact.path, part, f"the code does not compile or lacks an entry: {error}",
                               offset=entry["offset"]) from None
    return Model(artifact, program, executor, module.from_cache)
