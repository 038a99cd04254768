"""``ember.jit``: trace a model's forward into a static graph IR, optimise it, and run it.

``trace`` records a module or function into a :class:`Graph` (printable, verified), runs the ``passes`` on it
and wraps it as a :class:`TracedModule`, which runs through the reference interpreter.
"""

from . import passes
from .ir import Graph, Node, Value
from .trace import TensorSpec, TracedModule, trace
from .tracer import TracingError
from .verifier import GraphError, verify

__all__ = ["Graph", "GraphError", "Node", "TensorSpec", "TracedModule", "TracingError", "Value", "passes", "trace",
           "verify"]
