"""ember_runtime: load and run compiled ember artifacts with numpy and llvmlite only (it never imports ember).

``ember_runtime.load(path)`` reads a ``.ember`` file (``docs/artifact-format.md``), verifies it (checksums,
version, offsets, the LLVM IR's external symbols, no inline assembly, the host's CPU features), compiles its
LLVM IR for this CPU (machine code cached per user) and returns a :class:`Model` callable with NumPy arrays::

    import numpy as np, ember_runtime
    model = ember_runtime.load("model.ember")
    print(model.inputs, model.outputs)
    y = model(np.zeros((1, 3, 32, 32), np.float32))

Every verification failure raises an :class:`ArtifactError` subclass (``ember_runtime.errors``).
``ember_runtime.format`` reads and writes the container; ``ember_runtime.cpu`` is the CPU engine.
"""

from .errors import (
                     ArtifactError,
                     BadMagic,
                     ChecksumMismatch,
                     ForbiddenSymbol,
                     InlineAssembly,
                     MalformedManifest,
                     MalformedSection,
                     MissingCpuFeatures,
                     OffsetOutOfRange,
                     Truncated,
                     UnsupportedVersion,
)
from .format import Artifact, read_artifact, write_artifact
from .model import Model, TensorInfo, load

__all__ = ["Artifact", "ArtifactError", "BadMagic", "ChecksumMismatch", "ForbiddenSymbol", "InlineAssembly",
           "MalformedManifest", "MalformedSection", "MissingCpuFeatures", "Model", "OffsetOutOfRange", "TensorInfo",
           "Truncated", "UnsupportedVersion", "load", "read_artifact", "write_artifact"]
