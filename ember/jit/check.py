"""``check_inputs``: run a traced graph and the eager forward on other inputs and report any divergence."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd import no_grad
from ..tensor import dtypes
from .pytree import flatten, leaf_names
from .tracer import TracingError

__all__ = ["check_trace"]

# (rtol, atol) per dtype: the graph runs the eager kernels, but passes may reorder float arithmetic (BatchNorm
# folded into a convolution's weights rounds differently). Integer and bool results must match exactly.
_TOLERANCES = {dtypes.float64: (1e-7, 1e-9), dtypes.float32: (1e-4, 1e-5), dtypes.float16: (1e-2, 1e-3),
               dtypes.bfloat16: (5e-2, 1e-2)}


def check_trace(traced: Any, reference: Callable, check_inputs: Sequence[Any]) -> None:
    """Raise :class:`TracingError` if ``traced`` and ``reference`` disagree on any of ``check_inputs``.

    Args:
        traced: the :class:`~ember.jit.TracedModule`.
        reference: the module or function it was traced from (run eagerly, without gradients).
        check_inputs: argument tuples, or single tensors.
    """
    for case, example in enumerate(check_inputs):
        args = example if isinstance(example, tuple) else (example,)
        with no_grad():
            expected, out_spec = flatten(reference(*args))
        try:
            got, _ = flatten(traced(*args))
        except (RuntimeError, TypeError, ValueError, IndexError) as error:
            raise TracingError(f"check_inputs[{case}]: the traced graph cannot run these inputs, which eager "
                               f"execution runs: {error}") from error
        if len(got) != len(expected):
            raise TracingError(f"check_inputs[{case}]: the graph returned {len(got)} tensors, eager execution "
                               f"{len(expected)}; the trace followed a different path through the Python code")
        for name, g, e in zip(leaf_names(out_spec, "output"), got, expected, strict=True):
            _compare(f"check_inputs[{case}]: {name}", g, e)


def _compare(where: str, got: Any, expected: Any) -> None:
    if tuple(got.shape) != tuple(expected.shape) or got.dtype is not expected.dtype:
        raise TracingError(f"{where} is {got.dtype}{list(got.shape)} from the graph but {expected.dtype}"
                           f"{list(expected.shape)} in eager execution; the trace specialised on its example")
    rtol, atol = _TOLERANCES.get(got.dtype, (0.0, 0.0))
    a, b = np.asarray(got.numpy(), dtype=np.float64), np.asarray(expected.numpy(), dtype=np.float64)
    if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True):
        worst = float(np.nanmax(np.abs(a - b))) if a.size else 0.0
        raise TracingError(f"{where} diverges from eager execution (max abs difference {worst:.3g}); the trace "
                           "baked in something that depends on the example inputs (a Python branch or loop on a "
                           "size or value, or a size turned into a plain number)")
