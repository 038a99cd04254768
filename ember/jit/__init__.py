"""``ember.jit``: trace a model's forward into a static graph IR, optimise it, and run it.

``trace`` records a module or function into a :class:`Graph` (printable, verified), runs the ``passes`` on it
and wraps it as a :class:`TracedModule`, which runs through the reference interpreter or compiled machine code;
``TracedModule.save`` writes an ``.ember`` artifact and ``load`` reads one back (:mod:`ember.jit.artifact`).
"""

from . import passes
from .artifact import LoadedModule, load
from .ir import Graph, Node, Value
from .trace import TensorSpec, TracedModule, trace
from .tracer import TracingError
from .verifier import GraphError, verify

__all__ = ["Graph", "GraphError", "LoadedModule", "Node", "TensorSpec", "TracedModule", "TracingError", "Value",
           "load", "passes", "trace", "verify"]
